#!/usr/bin/env bash
# Restarts: the rate limiter's state survives a clean restart (written at
# shutdown, read at start) and is gone after a crash or an immediate stop.
. ../../tools/lib.sh
. ./tap.bash
db=jobspy_rl_restart
echo "1..6"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" 2>/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d $db -c "CREATE EXTENSION jobspy_core" \
     -c "ALTER DATABASE $db SET jobspy.clock_override = '2030-07-01 00:00:00+00'"
q() { psql -X -Atq -d $db -c "$1"; }
# limit 5, one unit back per hour; take three.
take3() { q "SELECT count(*) FILTER (WHERE allowed) FROM generate_series(1, 3) n, LATERAL jobspy.rate_limit('$1', 4, 5, '5 hours', 1 + 0 * n)" >/dev/null; }
left() { q "SELECT remaining FROM jobspy.rate_limit_peek('$1', 4, 5, '5 hours')"; }
take3 restart:a
cluster_restart "$JOBSPY_TEST_CLUSTER"
got=$(left restart:a)
[ "$got" = "2" ] && echo "ok 1 - a key's state survives a clean restart" || echo "not ok 1 - remaining after a clean restart is '$got', want 2"
got=$(q "SELECT allowed FROM jobspy.rate_limit_keys WHERE key = 'restart:a'")
[ "$got" = "3" ] && echo "ok 2 - its counters survive too" || echo "not ok 2 - allowed counter after restart is '$got', want 3"

# A crash: a backend killed with SIGKILL makes the postmaster reinitialise
# shared memory; nothing is written, and the file read at the last start
# was removed then, so nothing comes back.
take3 restart:b
psql -X -q -d $db -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
sleeper=$!
pid=""
for _ in $(seq 1 40); do
    pid=$(q "SELECT pid FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)' LIMIT 1")
    [ -n "$pid" ] && break
    sleep 0.25
done
[ -n "$pid" ] && kill -9 "$pid"
wait "$sleeper" 2>/dev/null || true
wait_ready || true
a=$(left restart:a); b=$(left restart:b)
[ "$a/$b" = "5/5" ] && echo "ok 3 - after a crash the store starts empty" || echo "not ok 3 - after a crash remaining is $a/$b, want 5/5"

# An immediate stop is a crash too.
take3 restart:c
cluster_stop "$JOBSPY_TEST_CLUSTER" immediate
cluster_start "$JOBSPY_TEST_CLUSTER"
wait_ready || true
got=$(left restart:c)
[ "$got" = "5" ] && echo "ok 4 - after an immediate stop the store starts empty" || echo "not ok 4 - after an immediate stop remaining is '$got', want 5"

# jobspy.ratelimit_save = off: a clean restart forgets too.
take3 restart:d
psql -X -q -d $db -c "ALTER SYSTEM SET jobspy.ratelimit_save = off" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
cluster_restart "$JOBSPY_TEST_CLUSTER"
got=$(left restart:d)
psql -X -q -d $db -c "ALTER SYSTEM RESET jobspy.ratelimit_save" -c "SELECT pg_reload_conf()" >/dev/null
[ "$got" = "5" ] && echo "ok 5 - with jobspy.ratelimit_save off nothing is kept" || echo "not ok 5 - with save off remaining is '$got', want 5"
# A damaged state file is ignored (and logged), never trusted.
take3 restart:e
cluster_stop "$JOBSPY_TEST_CLUSTER"
file="$JOBSPY_TEST_CLUSTER/data/pg_stat/jobspy_ratelimit.stat"
if [ -f "$file" ]; then truncate -s 100 "$file"; fi
cluster_start "$JOBSPY_TEST_CLUSTER"
wait_ready || true
got=$(left restart:e)
if [ "$got" = "5" ] && grep -q 'ignoring damaged rate-limit state file' "$JOBSPY_TEST_CLUSTER/server.log"; then
    echo "ok 6 - a damaged state file is ignored and logged"
else
    echo "not ok 6 - after a damaged file remaining is '$got', want 5 and a log line"
fi
psql -X -q -d postgres -c "DROP DATABASE $db"
