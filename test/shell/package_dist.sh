#!/usr/bin/env bash
# make dist builds the PGXN release: one zip whose entries all sit under
# jobspy_core-<version>/ (version from the control file), with the built
# install script META.json names, and a META.json that passes the PGXN Meta
# Spec 1.0.0 check (tools/pgxn_meta_check, which also refuses a broken one).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/test/shell/tap.bash"
version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$root/jobspy_core.control")
zipfile=$root/dist/jobspy_core-$version.zip
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
echo "1..7"
make -s -C "$root" dist >"$work/make.log" 2>&1; rc=$?
check "$rc $( [ -f "$zipfile" ] && echo made)" "0 made" "make dist makes dist/jobspy_core-$version.zip"
unzip -Z1 "$zipfile" >"$work/list" 2>/dev/null
check "$(grep -vc "^jobspy_core-$version/" "$work/list")" 0 "every entry sits under jobspy_core-$version/"
for f in META.json jobspy_core.control Makefile README.md "sql/jobspy_core--$version.sql" src/core.c; do
    grep -qx "jobspy_core-$version/$f" "$work/list" || missing="${missing:-} $f"
done
check "${missing:-none}" none "the release has META.json, the control file, the Makefile, the README, the built script and the sources"
unzip -q -d "$work" "$zipfile" "jobspy_core-$version/META.json"
meta=$work/jobspy_core-$version/META.json
check "$("$root/tools/pgxn_meta_check" "$meta" 2>&1; echo "exit $?")" "exit 0" "its META.json passes the PGXN Meta Spec 1.0.0 check"
check "$(python3 -c 'import json, sys; m = json.load(open(sys.argv[1])); print(m["version"], m["provides"]["jobspy_core"]["version"])' "$meta")" \
      "$version $version" "its versions are the control file's ($version)"
# The checker itself fails on what the spec forbids.
python3 - "$meta" "$work/broken.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
del m["version"]; m["license"] = "proprietary-ish"; m["provides"]["jobspy_core"]["version"] = "3"; m["colour"] = 1
json.dump(m, open(sys.argv[2], "w"))
PY
got=$("$root/tools/pgxn_meta_check" "$work/broken.json" 2>&1); rc=$?
check "$rc $(echo "$got" | wc -l)" "1 4" "the checker refuses a META.json without a version, with an unknown licence, a bad version and an unknown key"
unzip -q -o -d "$work" "$zipfile"
check "$(make -s -C "$work/jobspy_core-$version" -n PG_CONFIG="$PG_CONFIG" all >/dev/null 2>&1; echo $?)" 0 \
      "the unpacked release's Makefile reads (make -n)"
