#!/usr/bin/env bash
# The demo tools/run shows (examples/demo.sql) runs to its end, twice (it
# says it is safe to run again), in a database of its own.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.bash"
db=jobspy_demo_check
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
q "CREATE EXTENSION jobspy_core" >/dev/null
echo "1..2"
for run in 1 2; do
    out=$(psql -X -q -v ON_ERROR_STOP=1 -d $db -f "$here/../../examples/demo.sql" 2>&1)
    check "$?" 0 "examples/demo.sql runs to its end (run $run)"
    [ "$(echo "$out" | grep -c ERROR)" -eq 0 ] || echo "$out" | grep -B2 ERROR | sed 's/^/# /'
done
psql -X -q -d postgres -c "DROP DATABASE $db" >/dev/null
