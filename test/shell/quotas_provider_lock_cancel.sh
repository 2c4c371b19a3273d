#!/usr/bin/env bash
# check_provider_limit holds a per-provider advisory lock for the length of
# one call.  Statements calling it many times are cancelled by
# statement_timeout at arbitrary points, over and over, on one connection:
# afterwards that connection holds no advisory lock, and another
# connection's call goes through at once.  A call cancelled while it waits
# for the lock (another connection holds it) leaves nothing held either.
set -euo pipefail
. "$(dirname "$0")/tap.bash"
db=jobspy_provider_lock
rounds=40

echo "1..5"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<'SQL'
CREATE EXTENSION jobspy_core;
SELECT jobspy.set_ai_provider('lockprov', 'Lock provider', requests_per_minute => 2000000000,
                              tokens_per_minute => 2000000000);
SQL

# Each statement calls the function for many rows and is cancelled after
# a timeout that varies, so the cancels land all through the calls.
script=$(for r in $(seq 1 $rounds); do
    echo "SET statement_timeout = '$((5 + r % 7))ms';"
    echo "SELECT count(*) FROM generate_series(1, 1000000) g CROSS JOIN LATERAL jobspy.check_provider_limit('lockprov', (g % 2)::integer);"
done
echo "RESET statement_timeout;"
echo "SELECT 'held', count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid();")
out=$(printf '%s\n' "$script" | psql -X -At -d $db 2>&1 || true)
check "$(printf '%s\n' "$out" | grep -c 'canceling statement due to statement timeout')" "$rounds" \
    "every one of the $rounds statements was cancelled part-way"
check "$(printf '%s\n' "$out" | grep '^held|' )" "held|0" \
    "the connection holds no advisory lock after the cancels"
check "$(psql -X -At -d $db -c "SET statement_timeout = '5s'" \
         -c "SELECT allowed FROM jobspy.check_provider_limit('lockprov', 1)" 2>&1 | tail -1)" t \
    "another connection's call is not blocked"

key="('x' || left(md5('jobspy.ai_provider:lockprov'), 15))::bit(60)::bigint"
psql -X -q -d $db -c "SELECT pg_advisory_lock($key), pg_sleep(3)" >/dev/null &
holder=$!
sleep 1
out=$(psql -X -At -d $db -c "SET statement_timeout = '300ms'" \
        -c "SELECT allowed FROM jobspy.check_provider_limit('lockprov', 1)" \
        -c "RESET statement_timeout" \
        -c "SELECT 'held', count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()" 2>&1 || true)
wait $holder
check "$(printf '%s\n' "$out" | grep -c 'canceling statement due to statement timeout')|$(printf '%s\n' "$out" | grep -c WARNING)" "1|0" \
    "a call waiting for the provider's lock is cancelled by its timeout, without a warning"
check "$(printf '%s\n' "$out" | grep '^held|')" "held|0" \
    "and its connection holds no advisory lock"
psql -X -q -d postgres -c "DROP DATABASE $db" >/dev/null 2>&1
