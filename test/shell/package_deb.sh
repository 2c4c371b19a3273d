#!/usr/bin/env bash
# The Debian package: debian/ builds a .deb with pg_buildext
# (dpkg-buildpackage -b -us -uc on a copy of the checkout), and the package
# works.  Its files are extracted (dpkg-deb -x) into a scratch private copy
# of the system's PostgreSQL, never into the PostgreSQL the rest of the
# suite tests, and a server of that copy preloading the packaged library
# serves CREATE EXTENSION, the upgrade from 0.1.0 and the rate limiter.
. ../../tools/lib.sh
. ./tap.bash
set +e
root=$JOBSPY_ROOT
for c in dpkg-buildpackage pg_buildext dh; do
    command -v $c >/dev/null || { echo "1..0 # SKIP $c is not installed (debhelper, postgresql-server-dev-all)"; exit 0; }
done
[ -x /usr/lib/postgresql/$PG_MAJOR/bin/postgres ] ||
    { echo "1..0 # SKIP no system PostgreSQL $PG_MAJOR to package for"; exit 0; }
echo "1..8"
version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$root/jobspy_core.control")
suite_lib="$("$PG_CONFIG" --pkglibdir)/jobspy_core.so"
suite_sum=$(md5sum <"$suite_lib")
work=$(mktemp -d /tmp/jobspy-deb.XXXXXX); chmod 755 "$work"
trap 'cluster_stop "$work/cluster" immediate; rm -rf "$work"' EXIT

# Build from a copy of the checkout (tracked and untracked files, no build output).
mkdir "$work/src"
( cd "$root" && git ls-files -co --exclude-standard -z | xargs -0 tar -cf - ) | tar -xf - -C "$work/src"
( cd "$work/src" && DEB_BUILD_OPTIONS="nocheck noddebs parallel=2" MAKEFLAGS=-j2 \
    dpkg-buildpackage -b -us -uc ) >"$work/build.log" 2>&1
rc=$?
deb=$(ls "$work"/postgresql-$PG_MAJOR-jobspy-core_*.deb 2>/dev/null | head -1)
check "$rc $( [ -n "$deb" ] && echo built)" "0 built" "dpkg-buildpackage -b -us -uc builds postgresql-$PG_MAJOR-jobspy-core"
[ $rc -eq 0 ] || tail -20 "$work/build.log" | sed 's/^/# /'
check "$(dpkg-deb -f "$deb" Version 2>&1)" "$version" "the package's version is the control file's"
deps=$(dpkg-deb -f "$deb" Depends 2>&1)
check "$([[ $deps == *postgresql-$PG_MAJOR* && $deps == *libsodium* && $deps == *libsecp256k1* ]] && echo yes)" yes \
      "it depends on postgresql-$PG_MAJOR, libsodium and libsecp256k1 ($deps)"
files=$(dpkg-deb -c "$deb" 2>&1)
missing=""
for f in lib/postgresql/$PG_MAJOR/lib/jobspy_core.so share/postgresql/$PG_MAJOR/extension/jobspy_core.control \
         share/postgresql/$PG_MAJOR/extension/jobspy_core--$version.sql \
         share/postgresql/$PG_MAJOR/extension/jobspy_core--0.1.0.sql; do
    [[ $files == *"./usr/$f"* ]] || missing="$missing $f"
done
check "${missing:-none}" none "it ships the library, the control file, the install script and the released scripts"

# A scratch copy of the system's PostgreSQL without any jobspy_core of its
# own, with the package extracted into it.
pg=$work/pg
mkdir -p "$pg/usr/lib/postgresql" "$pg/usr/share/postgresql"
cp -a /usr/lib/postgresql/$PG_MAJOR "$pg/usr/lib/postgresql/"
cp -a /usr/share/postgresql/$PG_MAJOR "$pg/usr/share/postgresql/"
rm -rf "$pg"/usr/lib/postgresql/$PG_MAJOR/lib/jobspy_core* "$pg"/usr/lib/postgresql/$PG_MAJOR/lib/bitcode/jobspy_core* \
       "$pg"/usr/share/postgresql/$PG_MAJOR/extension/jobspy_core*
dpkg-deb -x "$deb" "$pg"
chmod -R a+rX "$pg"
smoke=$(
    export JOBSPY_PGROOT=$pg
    . "$root/tools/lib.sh"
    set +e
    cluster_init "$work/cluster" "$(pick_port)" >/dev/null 2>&1 && cluster_start "$work/cluster" || exit 1
    psql -X -Atq -d postgres -v ON_ERROR_STOP=1 2>&1 <<'SQL'
CREATE EXTENSION jobspy_core;
SELECT extversion FROM pg_extension WHERE extname = 'jobspy_core';
SELECT jobspy.library_preloaded();
SELECT allowed FROM jobspy.rate_limit('deb:smoke', 0, 1, '1 hour');
SELECT allowed FROM jobspy.rate_limit('deb:smoke', 0, 1, '1 hour');
CREATE DATABASE deb_upgrade;
\c deb_upgrade
CREATE EXTENSION jobspy_core VERSION '0.1.0';
ALTER EXTENSION jobspy_core UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'jobspy_core';
SQL
)
check "$(echo $smoke)" "$version t t f $version" \
      "the packaged library serves CREATE EXTENSION, the rate limiter and the upgrade from 0.1.0"
check "$(cmp -s "$pg/usr/lib/postgresql/$PG_MAJOR/lib/jobspy_core.so" <(dpkg-deb --fsys-tarfile "$deb" |
          tar -xOf - ./usr/lib/postgresql/$PG_MAJOR/lib/jobspy_core.so) && echo same)" same \
      "the server ran the library extracted from the package"
check "$(md5sum <"$suite_lib")" "$suite_sum" "the library the rest of the suite tests is untouched"
check "$(dpkg -l 'postgresql-*-jobspy-core' 2>/dev/null | grep -c '^ii')" 0 \
      "the package was not installed into the system (dpkg knows no jobspy-core package)"
