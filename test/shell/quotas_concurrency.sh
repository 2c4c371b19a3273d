#!/usr/bin/env bash
# 64 clients consume from one user's quota at once, random amounts of 1 to
# 5, far more than the limit in total.  Exactly the limit is granted, the
# counter equals the sum of what was granted, and so does the ledger.  Then
# the same race over two windows of one metric (300 a day, 200 a month),
# half the calls through the SQL path (a key): the month refuses while the
# day has room, and the day's counter must still equal what was granted.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
db=jobspy_quotas_race
clock='2030-06-15T12:00:00+00'
limit=500

echo "1..8"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -X -q -v ON_ERROR_STOP=1 -d $db <<SQL
CREATE EXTENSION jobspy_core;
SET jobspy.clock_override = '$clock';
CREATE SCHEMA race;
CREATE TABLE race.grants (amount bigint NOT NULL);
INSERT INTO jobspy.users (id, email) VALUES ('e0000000-0000-4000-8000-000000000001', 'race@example.com');
SELECT jobspy.create_plan('race', 'Race');
SELECT jobspy.set_plan_quota('race', 'calls', 'day', $limit);
SELECT jobspy.set_plan_quota('race', 'last', 'day', 10);
SELECT jobspy.set_plan_quota('race', 'posts', 'day', 300);
SELECT jobspy.set_plan_quota('race', 'posts', 'month', 200);
CREATE TABLE race.post_grants (amount bigint NOT NULL);
SELECT jobspy.set_user_plan('e0000000-0000-4000-8000-000000000001', 'race');
SQL

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/consume.sql" <<'SQL'
\set a random(1, 5)
INSERT INTO race.grants (amount) SELECT :a FROM jobspy.consume_quota('e0000000-0000-4000-8000-000000000001', 'calls', :a) WHERE allowed;
SQL
cat >"$tmp/windows.sql" <<'SQL'
\set a random(1, 5)
\set k random(1, 9000000000000000)
\set keyed random(0, 1)
INSERT INTO race.post_grants (amount)
SELECT :a FROM jobspy.consume_quota('e0000000-0000-4000-8000-000000000001', 'posts', :a,
                                    CASE WHEN :keyed = 1 THEN 'k' || :k END) WHERE allowed;
SQL
cat >"$tmp/last.sql" <<'SQL'
SELECT allowed FROM jobspy.consume_quota('e0000000-0000-4000-8000-000000000001', 'last');
SQL

# 64 clients x 30 transactions: about 5760 units asked for, 500 available.
if PGOPTIONS="-c jobspy.clock_override=$clock -c jobspy.quota_usage_records=all" \
   pgbench -n -c 64 -j 4 -t 30 -f "$tmp/consume.sql" $db >"$tmp/pgbench.log" 2>&1; then
    echo "ok 1 - 64 clients ran 1920 consume_quota calls without an error"
else
    echo "not ok 1 - pgbench failed"; sed 's/^/# /' "$tmp/pgbench.log" | tail -20
fi

read -r used granted ledger n_granted <<<"$(psql -X -A -t -F ' ' -d $db -c "
    SELECT (SELECT used FROM jobspy.quota_counters WHERE metric = 'calls'),
           (SELECT coalesce(sum(amount), 0) FROM race.grants),
           (SELECT coalesce(sum(amount), 0) FROM jobspy.usage_records WHERE metric = 'calls'),
           (SELECT count(*) FROM race.grants)")"
[ "$used" = "$limit" ] && echo "ok 2 - exactly the limit was granted (used = $used)" \
                       || echo "not ok 2 - used = $used, limit $limit"
[ -n "$used" ] && [ "$granted" = "$used" ] && echo "ok 3 - used equals the sum of granted amounts ($n_granted grants)" \
                         || echo "not ok 3 - granted $granted, used $used"
[ -n "$used" ] && [ "$ledger" = "$used" ] && echo "ok 4 - the ledger holds the same total" \
                        || echo "not ok 4 - ledger $ledger, used $used"

# The race for the last units: 64 clients, 10 units of 1.
PGOPTIONS="-c jobspy.clock_override=$clock" \
    pgbench -n -c 64 -j 4 -t 3 -f "$tmp/last.sql" $db >"$tmp/pgbench2.log" 2>&1 || true
read -r used_last <<<"$(psql -X -A -t -d $db -c "SELECT used FROM jobspy.quota_counters WHERE metric = 'last'")"
[ "$used_last" = 10 ] && echo "ok 5 - 192 calls for 10 units: exactly 10 granted" \
                      || echo "not ok 5 - used $used_last of 10"
status=$(psql -X -q -A -t -d $db -c "SET jobspy.clock_override = '$clock';
    SELECT allowed::text || '/' || remaining FROM jobspy.quota_status('e0000000-0000-4000-8000-000000000001', 'last')")
[ "$status" = "false/0" ] && echo "ok 6 - quota_status agrees: nothing remains" \
                          || echo "not ok 6 - quota_status says $status"

# Two windows: 64 clients x 20 calls, about 3840 units asked for.
PGOPTIONS="-c jobspy.clock_override=$clock" \
    pgbench -n -c 64 -j 4 -t 20 -f "$tmp/windows.sql" $db >"$tmp/pgbench3.log" 2>&1 \
    && echo "ok 7 - 64 clients ran 1280 two-window consumptions without an error" \
    || { echo "not ok 7 - pgbench failed"; sed 's/^/# /' "$tmp/pgbench3.log" | tail -20; }
windows=$(psql -X -A -t -d $db -c "
    SELECT string_agg(period || '=' || used || '/' || reserved, ' ' ORDER BY period)
           || ' granted=' || (SELECT sum(amount) FROM race.post_grants)
      FROM jobspy.quota_counters WHERE metric = 'posts'")
[ "$windows" = "day=200/0 month=200/0 granted=200" ] \
    && echo "ok 8 - both windows hold exactly the 200 granted ($windows)" \
    || echo "not ok 8 - $windows"

psql -X -q -d postgres -c "DROP DATABASE $db"
