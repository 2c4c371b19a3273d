#!/usr/bin/env bash
# Exactness under concurrency: 64 pgbench clients race for one key (and for
# one user's rule windows) on a fixed clock; exactly the limit is admitted,
# every round.
set -euo pipefail
db=jobspy_rl_race
rounds=5
echo "1..$((rounds * 2 + 2))"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<'SQL'
CREATE EXTENSION jobspy_core;
CREATE TABLE admitted (round int, ok boolean);
CREATE TABLE checked (round int, ok boolean, rule text);
SELECT jobspy.set_rate_limit_rule('race-hour', '/race/*', 'free', 3600, 100000, 40);
SELECT jobspy.set_rate_limit_rule('race-day', '/race/*', 'free', 100000, 30, 100000);
INSERT INTO jobspy.users (id, email)
SELECT ('00000000-0000-0000-0000-0000000000' || lpad(r::text, 2, '0'))::uuid, 'race' || r || '@ratelimit.test'
  FROM generate_series(1, 9) r;
SQL
psql -X -q -d $db -c "ALTER DATABASE $db SET jobspy.clock_override = '2030-06-01 00:00:00+00'"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=1
for r in $(seq 1 $rounds); do
    # rate_limit: limit 100 (max_burst 99), 64 clients x 4 calls = 256 tries.
    echo "INSERT INTO admitted SELECT $r, allowed FROM jobspy.rate_limit('race:$r', 99, 1, '1 hour');" >"$tmp/rl.sql"
    pgbench -n -c 64 -j 4 -t 4 -f "$tmp/rl.sql" $db >"$tmp/out" 2>&1 || { cat "$tmp/out" | sed 's/^/# /'; }
    got=$(psql -X -Atq -d $db -c "SELECT count(*) FILTER (WHERE ok) || '/' || count(*) FROM admitted WHERE round = $r")
    [ "$got" = "100/256" ] && echo "ok $n - round $r: rate_limit admitted exactly 100 of 256 racing calls" \
                          || echo "not ok $n - round $r: rate_limit admitted/tried = $got, want 100/256"
    n=$((n + 1))
    # check_rate_limit: two rules, the day window (30) binds before the
    # hour burst (40); a refusal must consume nothing from the hour window.
    echo "INSERT INTO checked SELECT $r, allowed, rule FROM jobspy.check_rate_limit('00000000-0000-0000-0000-00000000000$r', '/race/x');" >"$tmp/ck.sql"
    pgbench -n -c 64 -j 4 -t 2 -f "$tmp/ck.sql" $db >"$tmp/out" 2>&1 || { cat "$tmp/out" | sed 's/^/# /'; }
    got=$(psql -X -Atq -d $db -c "SELECT count(*) FILTER (WHERE ok) || '/' || count(*) FROM checked WHERE round = $r")
    day=$(psql -X -Atq -d $db -c "SELECT remaining FROM jobspy.check_rate_limit('00000000-0000-0000-0000-00000000000$r', '/race/x', 0) WHERE rule = 'race-day:day'")
    left=$(psql -X -Atq -d $db -c "SELECT allowed FROM jobspy.rate_limit_keys WHERE rule = 'race-hour' AND \"window\" = 'hour' AND user_id = '00000000-0000-0000-0000-00000000000$r'")
    [ "$got" = "30/128" ] && [ "$left" = "30" ] \
        && echo "ok $n - round $r: check_rate_limit admitted exactly 30 of 128, the hour window counted only those" \
        || echo "not ok $n - round $r: check_rate_limit admitted/tried = $got (want 30/128), hour window admitted $left (want 30), day remaining $day"
    n=$((n + 1))
done
# The last unit: 99 of 100 taken, then 64 clients race for the one left.
psql -X -q -d $db -c "SELECT count(*) FROM generate_series(1, 99) n, LATERAL jobspy.rate_limit('race:last', 99, 1, '1 hour', 1 + 0 * n) r" >/dev/null
echo "INSERT INTO admitted SELECT 0, allowed FROM jobspy.rate_limit('race:last', 99, 1, '1 hour');" >"$tmp/last.sql"
pgbench -n -c 64 -j 4 -t 1 -f "$tmp/last.sql" $db >"$tmp/out" 2>&1 || { cat "$tmp/out" | sed 's/^/# /'; }
got=$(psql -X -Atq -d $db -c "SELECT count(*) FILTER (WHERE ok) || '/' || count(*) FROM admitted WHERE round = 0")
[ "$got" = "1/64" ] && echo "ok $n - 64 clients racing for the last unit: exactly one wins" \
                     || echo "not ok $n - last unit: admitted/tried = $got, want 1/64"
n=$((n + 1))
over=$(psql -X -Atq -d $db -c "SELECT count(*) FROM jobspy.rate_limit_keys WHERE key LIKE 'race:%' AND key <> 'race:last' AND allowed <> 100")
[ "$over" = "0" ] && echo "ok $n - the store's own counters agree: 100 admitted per key" || echo "not ok $n - $over keys with a count other than 100"
psql -X -q -d postgres -c "DROP DATABASE $db"
