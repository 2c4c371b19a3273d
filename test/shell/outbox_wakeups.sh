#!/usr/bin/env bash
# The outbox notifies only a worker that waits, and never misses one: a
# worker and a producer take turns one event at a time
# (test/c/outbox_pingpong.c), the producer's commits falling at random
# points of the worker's claim.  Each event must wake the worker by its
# notification; a wait that runs out (3 s) with an event there to claim is
# a lost wake-up.  The second run pauses each commit up to 20 ms after it
# decided whether to notify (test/c/slow_commit.c), so that a worker often
# starts waiting while such a commit is still landing: the case
# claim_events covers by claiming again.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.bash"
db=jobspy_outbox_wakeups
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"

echo "1..5"
pgc=${PG_CONFIG:-pg_config}
cp "$here"/../c/*.c "$here/../c/Makefile" "$tmp/"
rc=0; { make -C "$tmp" -s JOBSPY_SRC="$here/../../src" PG_CONFIG="$pgc" &&
        cc -O1 -Wall -Werror -I"$($pgc --includedir)" -o "$tmp/pingpong" "$tmp/outbox_pingpong.c" \
           -L"$($pgc --libdir)" -lpq; } >"$tmp/build.log" 2>&1 || rc=$?
check "$rc" 0 "the ping-pong client and the slow-commit module build"
[ "$rc" = 0 ] || sed 's/^/# /' "$tmp/build.log" | tail -5
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<SQL
CREATE EXTENSION jobspy_core;
CREATE FUNCTION public.test_slow_commit(integer) RETURNS void LANGUAGE c AS '$tmp/slow_commit', 'test_slow_commit';
SQL

out=$(timeout 600 "$tmp/pingpong" "dbname=$db" 400 2>&1) || true
check "$out" "rounds 400 late 0" "400 events, each claimed after its own notification (none late)"
out=$(timeout 600 "$tmp/pingpong" "dbname=$db" 200 20000 2>&1) || true
check "$out" "rounds 200 late 0" "200 events with commits pausing after their pre-commit step: none late"
check "$(q "SELECT count(*) FROM jobspy.outbox_events WHERE consumed_at IS NULL")" 0 "every event was consumed"
check "$(q "SELECT count(*) FROM jobspy.outbox_events")" 602 "and each was emitted once"
psql -X -q -d postgres -c "DROP DATABASE $db" >/dev/null 2>&1 || true
