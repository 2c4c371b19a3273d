#!/usr/bin/env bash
# Retention by maintain() in simulated time: raw events go after 90 days and
# API calls after 24 months, whole monthly partitions dropped, while the
# rollups keep what the dropped rows counted.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.bash"
db=jobspy_analytics_retention
u=a4000000-0000-4000-8000-000000000001

echo "1..13"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
trap 'psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true' EXIT
q "CREATE EXTENSION jobspy_core" >/dev/null
q "INSERT INTO jobspy.users (id, email) VALUES ('$u', 'retention@example.com')" >/dev/null

# at TIME SQL: a statement at a simulated time, in a transaction of its own.
at() { psql -X -Atq -v ON_ERROR_STOP=1 -d "$db" -c "SET jobspy.clock_override = '$1'" -c "$2"; }

# Rows arrive over two years, each month's maintain() rolls them up.
at '2029-05-20 00:00+00' "SELECT jobspy.record_api_call('$u', '/r', 'GET', 200, 10)" >/dev/null
at '2029-05-20 01:00+00' "SELECT count(*) FROM jobspy.maintain()" >/dev/null
at '2029-07-10 10:00+00' "SELECT jobspy.record_api_call('$u', '/r', 'GET', 200, 20)" >/dev/null
at '2029-07-10 11:00+00' "SELECT count(*) FROM jobspy.maintain()" >/dev/null
at '2031-02-10 10:00+00' "SELECT jobspy.track_event('$u', 'search')" >/dev/null
at '2031-02-10 11:00+00' "SELECT count(*) FROM jobspy.maintain()" >/dev/null
at '2031-05-20 10:00+00' "SELECT jobspy.track_event('$u', 'search'), jobspy.record_api_call('$u', '/r', 'GET', 500, 30)" >/dev/null
at '2031-05-20 11:00+00' "SELECT count(*) FROM jobspy.maintain()" >/dev/null

check "$(q "SELECT jobspy.config_get('retention.api_usage') #>> '{}', jobspy.config_get('retention.events') #>> '{}'")" \
      "24 months|90 days" 'API calls are kept 24 months, raw events 90 days, by default'

# 2031-06-15: the cut-offs are 2029-06-15 (API calls) and 2031-03-17 (events).
dropped=$(at '2031-06-15 00:00+00' "SELECT string_agg(object, ',' ORDER BY object) FROM jobspy.maintain()
                                     WHERE action = 'dropped' AND object ~ '^jobspy\.(api_usage|events)_p'")
check "$dropped" "jobspy.api_usage_p2029_05,jobspy.events_p2031_02" \
      'maintain() drops the partitions wholly past retention, and only those'
check "$(q "SELECT to_regclass('jobspy.api_usage_p2029_07') IS NOT NULL")" "t" \
      'a month of API calls 23 months old stays (13 months, the old default, would have dropped it)'
check "$(q "SELECT count(*) FROM jobspy.api_usage")" "2" 'two raw API calls are left'
check "$(q "SELECT count(*) FROM jobspy.events")" "1" 'one raw event is left'
check "$(q "SELECT string_agg(to_char(hour AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24') || ' ' || requests || ' ' || errors, ',' ORDER BY hour)
              FROM jobspy.api_performance_hourly")" \
      "2029-05-20 00 1 0,2029-07-10 10 1 0,2031-05-20 10 1 1" 'the hourly API report keeps the dropped month'
check "$(q "SELECT string_agg(day || ' ' || users, ',' ORDER BY day) FROM jobspy.daily_active_users")" \
      "2031-02-10 1,2031-05-20 1" 'daily active users keep the dropped events'
check "$(q "SELECT string_agg(registration_month || ' ' || cohort_size || ' ' || retained_30d, ',') FROM jobspy.cohort_retention")" \
      "2031-02-01 1 1" 'the cohort keeps its first event, and its retention'

# A second run finds nothing past retention.
check "$(at '2031-06-15 01:00+00' "SELECT count(*) FROM jobspy.maintain() WHERE action IN ('dropped', 'deleted')")" "0" \
      'a second run drops nothing'

# Restored into another cluster: a stored horizon ahead of this cluster's
# transactions is refused (JS802) rather than miss rows; rebuild_rollups()
# starts again from the raw rows still kept.
q "UPDATE jobspy.rollup_state SET horizon = '999999999999'" >/dev/null
err=$(psql -X -Atq -v VERBOSITY=sqlstate -d "$db" -c "SELECT * FROM jobspy.refresh_rollups()" 2>&1 || true)
check "$(echo "$err" | grep -o 'JS802' | head -1)" "JS802" 'a horizon ahead of the cluster raises JS802'
check "$(q "SELECT string_agg(source, ',' ORDER BY source) FROM jobspy.rebuild_rollups()")" "api_usage,events,token_usage" 'rebuild_rollups() runs for every source'
check "$(q "SELECT string_agg(to_char(hour AT TIME ZONE 'UTC', 'YYYY-MM') || ' ' || requests, ',' ORDER BY hour)
              FROM jobspy.api_performance_hourly")" \
      "2029-07 1,2031-05 1" 'after a rebuild the reports hold the raw rows kept, each once (history past retention is gone)'
q "SELECT count(*) FROM jobspy.refresh_rollups()" >/dev/null
check "$(q "SELECT (SELECT count(*) FROM jobspy.api_performance_rollup) || ' ' || (SELECT sum(requests) FROM jobspy.api_performance_hourly)")" \
      "2 2" 'the next refresh rolls them up, and the report still counts each once'
