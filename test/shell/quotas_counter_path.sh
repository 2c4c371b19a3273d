#!/usr/bin/env bash
# Which path consume_quota's counter update takes.  With the user's window
# cached, the executor path finds the counter row where it last left it
# and scans no index; the SQL UPDATE scans the primary key once a call.
# Row security on quota_counters (enabled by the install; its owner, who
# runs consume_quota, is exempt) must not send calls to the SQL UPDATE.
set -euo pipefail
db=jobspy_counter_path
user=e0000000-0000-4000-8000-000000000001

echo "1..4"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -X -q -v ON_ERROR_STOP=1 -d $db <<SQL
CREATE EXTENSION jobspy_core;
INSERT INTO jobspy.users (id, email) VALUES ('$user', 'path@example.com');
SELECT jobspy.create_plan('path', 'Path');
SELECT jobspy.set_plan_quota('path', 'calls', 'day', 100000);
SELECT jobspy.set_user_plan('$user', 'path');
SELECT jobspy.consume_quota('$user', 'calls');
SQL

# scans MODE: primary-key scans of 50 consumptions in one transaction,
# after one that warms the window cache.
scans() {
    psql -X -q -At -v ON_ERROR_STOP=1 -d $db <<SQL
SET jobspy.quota_counter_update = '$1';
BEGIN;
SELECT FROM jobspy.consume_quota('$user', 'calls');
CREATE TEMP TABLE mark ON COMMIT DROP AS
SELECT pg_stat_get_xact_numscans('jobspy.quota_counters_pkey'::regclass) AS n;
SELECT FROM generate_series(1, 50) g, jobspy.consume_quota('$user', 'calls', 1 + 0 * g);
SELECT pg_stat_get_xact_numscans('jobspy.quota_counters_pkey'::regclass) - n FROM mark;
COMMIT;
SQL
}

rls=$(psql -X -At -d $db -c "SELECT relrowsecurity FROM pg_class WHERE oid = 'jobspy.quota_counters'::regclass")
[ "$rls" = t ] && echo "ok 1 - row security is enabled on quota_counters" ||
    echo "not ok 1 - row security is not enabled on quota_counters ($rls)"

n=$(scans executor)
[ "$n" = 0 ] && echo "ok 2 - the executor path made 50 consumptions without an index scan" ||
    echo "not ok 2 - the executor path scanned the primary key $n times for 50 consumptions"

n=$(scans sql)
[ "$n" -ge 50 ] && echo "ok 3 - the SQL UPDATE scanned the primary key for each of 50 ($n)" ||
    echo "not ok 3 - the SQL UPDATE scanned the primary key $n times for 50 consumptions"

used=$(psql -X -At -d $db -c "SELECT used FROM jobspy.quota_counters WHERE user_id = '$user' AND metric = 'calls'")
[ "$used" = 103 ] && echo "ok 4 - every consumption was counted once either way (103)" ||
    echo "not ok 4 - used is $used, not 103"

psql -X -q -d postgres -c "DROP DATABASE $db"
