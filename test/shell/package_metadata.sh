#!/usr/bin/env bash
# The control file is the one source of the version: META.json, the built
# install script and the CHANGELOG must agree with it.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$root/jobspy_core.control")
echo "1..4"
meta=$(python3 -c 'import json, sys; m = json.load(open(sys.argv[1])); print(m["version"], m["provides"]["jobspy_core"]["version"], m["provides"]["jobspy_core"]["file"])' "$root/META.json" 2>&1)
[ "$meta" = "$version $version sql/jobspy_core--$version.sql" ] \
    && echo "ok 1 - META.json's versions and file agree with the control file ($version)" \
    || echo "not ok 1 - META.json says '$meta', the control file $version"
installed=$(psql -X -q -Atd postgres -c "SELECT default_version FROM pg_available_extensions WHERE name = 'jobspy_core'")
[ "$installed" = "$version" ] && echo "ok 2 - the installed extension's default version is $version" \
    || echo "not ok 2 - installed default version '$installed'"
grep -q "^## $version\b" "$root/CHANGELOG.md" && echo "ok 3 - CHANGELOG.md has a section for $version" \
    || echo "not ok 3 - CHANGELOG.md lacks '## $version'"
# Every released version (a frozen script in releases/) reaches the newest
# through upgrade scripts, frozen or built from sql/upgrade/.
steps=$( { ls "$root"/releases; ls "$root"/sql/upgrade | sed 's/^/jobspy_core--/; s/$/.sql/'; } |
         sed -n 's/^jobspy_core--\([0-9.]*\)--\([0-9.]*\)\.sql$/\1 \2/p')
missing=""
for v in $(ls "$root"/releases | sed -n 's/^jobspy_core--\([0-9.]*\)\(--[0-9.]*\)\{0,1\}\.sql$/\1/p' | sort -uV); do
    at=$v
    while [ "$at" != "$version" ]; do
        next=$(echo "$steps" | awk -v a="$at" '$1 == a {print $2}' | sort -V | tail -1)
        [ -n "$next" ] || { missing="$missing $v"; break; }
        at=$next
    done
done
[ -z "$missing" ] && echo "ok 4 - every released version has an upgrade path to $version" || echo "not ok 4 - no upgrade path from:$missing"
