#!/usr/bin/env bash
# Upgrade path: install the oldest released version, update through every
# version in turn with ALTER EXTENSION ... UPDATE TO, and prove the result
# has the same objects and definitions as a fresh install of the newest.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
share=$(pg_config --sharedir)/extension
newest=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$here/../../jobspy_core.control")
# The oldest full install script, then each version the upgrade scripts lead
# to, in turn, up to the newest.
versions=("$(ls "$share" | sed -n 's/^jobspy_core--\([0-9.]*\)\.sql$/\1/p' | sort -V | head -1)")
while next=$(ls "$share" | sed -n "s/^jobspy_core--${versions[-1]//./\\.}--\([0-9.]*\)\.sql\$/\1/p" | sort -V | tail -1)
      [ -n "$next" ]; do
    versions+=("$next")
done

echo "1..4"
psql -X -q -d postgres -c 'DROP DATABASE IF EXISTS jobspy_fresh' -c 'DROP DATABASE IF EXISTS jobspy_upgraded' \
     -c 'CREATE DATABASE jobspy_fresh' -c 'CREATE DATABASE jobspy_upgraded'
psql -X -q -v ON_ERROR_STOP=1 -d jobspy_fresh -c 'CREATE EXTENSION jobspy_core'

path="${versions[0]}"
# The oldest version gets partitions and rows before it is updated, so the
# update must carry existing data along.
if psql -X -q -v ON_ERROR_STOP=1 -d jobspy_upgraded -c "CREATE EXTENSION jobspy_core VERSION '${versions[0]}'" \
        -c "SELECT count(*) FROM jobspy.maintain()" \
        -c "INSERT INTO jobspy.users (id, email) VALUES ('55555555-5555-4555-8555-555555555555', 'old@example.com')" \
        -c "INSERT INTO jobspy.api_usage (user_id, endpoint, method) VALUES ('55555555-5555-4555-8555-555555555555', '/old', 'GET')" \
        >/dev/null 2>&1; then
    ok=1
    for v in "${versions[@]:1}"; do
        psql -X -q -v ON_ERROR_STOP=1 -d jobspy_upgraded -c "ALTER EXTENSION jobspy_core UPDATE TO '$v'" || ok=0
        path="$path -> $v"
    done
    [ $ok = 1 ] && echo "ok 1 - installed ${versions[0]} and updated: $path" || echo "not ok 1 - update failed: $path"
else
    echo "not ok 1 - CREATE EXTENSION VERSION '${versions[0]}' failed"
fi

got=$(psql -X -q -d jobspy_upgraded -Atc "SELECT extversion FROM pg_extension WHERE extname = 'jobspy_core'")
[ "$got" = "$newest" ] && echo "ok 2 - upgraded install is at $newest" || echo "not ok 2 - upgraded install is at '$got', not $newest"

tmp=$(mktemp -d)
psql -X -q -d jobspy_fresh -f "$here/extension_objects.sql" >"$tmp/fresh"
psql -X -q -d jobspy_upgraded -f "$here/extension_objects.sql" >"$tmp/upgraded"
if [ -s "$tmp/fresh" ] && diff -u "$tmp/fresh" "$tmp/upgraded" >"$tmp/diff"; then
    echo "ok 3 - upgraded and fresh installs are identical ($(grep -c '^member ' "$tmp/fresh") member objects)"
else
    echo "not ok 3 - upgraded and fresh installs differ"
    sed 's/^/# /' "$tmp/diff" | head -100
fi

# Partitions are not extension members: compare their keys and indexes after
# a maintenance run on each side.
partition_indexes="SELECT tablename, indexname, indexdef FROM pg_indexes
                    WHERE schemaname = 'jobspy' AND tablename ~ '_(default|p[0-9]{4}_[0-9]{2})$' ORDER BY 1, 2"
for db in fresh upgraded; do
    psql -X -q -At -d jobspy_$db -c "SELECT count(*) FROM jobspy.maintain()" >/dev/null
    psql -X -q -At -d jobspy_$db -c "$partition_indexes" >"$tmp/$db"
done
if [ "$(wc -l <"$tmp/fresh")" -gt 4 ] && diff -u "$tmp/fresh" "$tmp/upgraded" >"$tmp/diff"; then
    echo "ok 4 - partitions made before and after the update have the same keys and indexes ($(wc -l <"$tmp/fresh") lines)"
else
    echo "not ok 4 - partition keys and indexes differ"
    sed 's/^/# /' "$tmp/diff" | head -40
fi
rm -rf "$tmp"
psql -X -q -d postgres -c 'DROP DATABASE jobspy_fresh' -c 'DROP DATABASE jobspy_upgraded'
