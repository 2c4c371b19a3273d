#!/usr/bin/env bash
# consume_quota's per-backend quota windows (src/quotas.c): one connection
# keeps consuming while others change what decides its window (the quota's
# limit, the user's plan, subscription, licence, time zone and status);
# every committed change is seen by its very next consumption, its own
# uncommitted changes at once, a licence's expiry when the clock passes it,
# and changes made without triggers once jobspy.licensing_cache_seconds has
# passed (which shows that the windows are cached at all); and that
# consumption counts exactly when the counter's row moved under A.
. ../../tools/lib.sh
. ./tap.bash
set +e
db=jobspy_quota_cache

echo "1..21"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<'SQL'
CREATE EXTENSION jobspy_core;
SELECT jobspy.create_plan('small', 'Small'), jobspy.create_plan('big', 'Big'),
       jobspy.create_plan('pro', 'Pro'), jobspy.create_plan('enterprise', 'Enterprise');
SELECT jobspy.set_plan_quota('small', 'calls', 'day', 100),
       jobspy.set_plan_quota('big', 'calls', 'day', 1000),
       jobspy.set_plan_quota('pro', 'calls', 'day', 300),
       jobspy.set_plan_quota('enterprise', 'calls', 'month', 7000);
CREATE TABLE public.u AS SELECT jobspy.create_user('cache@quotas.test') AS id;
SELECT jobspy.set_user_plan(id, 'small') FROM public.u;
SQL

session_open $db
limit="SELECT c.quota_limit FROM public.u, jobspy.consume_quota(u.id, 'calls') c;"
start="SELECT c.period_start = date_trunc('day', jobspy.now(), 'UTC') FROM public.u, jobspy.consume_quota(u.id, 'calls') c;"
pid1=$(a "SELECT pg_backend_pid();")
say "SET jobspy.licensing_cache_seconds = 5;"
check "$(a "$limit") $(a "$limit")" "100 100" "A consumes twice on the small plan (the second from its cache)"

q "SELECT jobspy.set_plan_quota('small', 'calls', 'day', 5)" >/dev/null
check "$(a "$limit")" 5 "another session lowers the plan's limit: A's next consumption sees it"

q "SELECT jobspy.set_user_plan(id, 'big') FROM public.u" >/dev/null
check "$(a "$limit")" 1000 "the user moves to the big plan: seen at once"

q "INSERT INTO jobspy.subscriptions (user_id, plan_type, status, current_period_start, current_period_end)
   SELECT id, 'enterprise', 'active', jobspy.now() - interval '3 days', jobspy.now() + interval '27 days' FROM public.u" >/dev/null
check "$(a "$limit")" 7000 "a live subscription takes over: its plan's limit"
q "UPDATE jobspy.subscriptions SET status = 'canceled', canceled_at = jobspy.now()" >/dev/null
check "$(a "$limit")" 1000 "the subscription is cancelled: back to the user's plan"

check "$(a "$start")" t "the day starts at midnight UTC in the user's zone (UTC)"
q "UPDATE jobspy.users SET timezone = 'Pacific/Kiritimati'" >/dev/null
check "$(a "$start")" f "the user's time zone changes: the day's start moves at once"

q "UPDATE jobspy.users SET status = 'suspended'" >/dev/null
answer=$(a "$limit")
check "$(grep -c 'is suspended' <<<"$answer")" 1 "the user is suspended: the next consumption is refused"
q "UPDATE jobspy.users SET status = 'active'" >/dev/null

# A plan chosen by a licence lasts until the licence expires.
q "DELETE FROM jobspy.user_plans" >/dev/null
q "SELECT jobspy.issue_license(id, 'pro', expires_at => jobspy.now() + interval '1 day') FROM public.u" >/dev/null
check "$(a "$limit") $(a "$limit")" "300 300" "the pro licence chooses the pro plan (the second from the cache)"
say "SET jobspy.clock_override = '$(q "SELECT jobspy.now() + interval '2 days'")';"
answer=$(a "$limit")
check "$(grep -c 'no plan in force' <<<"$answer")" 1 "the clock passes the licence's expiry: no plan in force"
say "RESET jobspy.clock_override;"
check "$(a "$limit")" 300 "the clock back: the licence's plan again"

say "BEGIN;"
a "SELECT jobspy.set_user_plan(id, 'small') FROM public.u;" >/dev/null
check "$(a "$limit")" 5 "A's own uncommitted plan change is seen by A at once"
say "ROLLBACK;"
check "$(a "$limit")" 300 "rolled back: the licence's plan again"

# Without triggers (as logical replication applies changes) a window may
# stay until its entry is 5 seconds old.
q "UPDATE jobspy.users SET timezone = 'UTC'" >/dev/null  # A's next consumption reads afresh
check "$(a "$limit")" 300 "a time zone change: A reads its window again"
psql -X -Atq -d $db -c "SET session_replication_role = replica" \
    -c "UPDATE jobspy.plan_quotas SET quota_limit = 301 WHERE metric = 'calls' AND quota_limit = 300" >/dev/null
check "$(a "$limit")" 300 "a change made without triggers is not seen while the entry is young (it is cached)"
sleep 5.5
check "$(a "$limit")" 301 "and is seen once the entry is older than licensing_cache_seconds"

# A remembers where the counter's row was after its last update; when the
# row has moved (another session's update) or been vacuumed, A still counts
# exactly.
used="SELECT c.used FROM public.u, jobspy.consume_quota(u.id, 'calls') c;"
a "$used" >/dev/null
before=$(a "$used")
q "SELECT jobspy.consume_quota(id, 'calls') FROM public.u" >/dev/null
check "$(a "$used")" "$((before + 2))" "another session's consumption moved the counter's row: A counts on from it"
q "VACUUM jobspy.quota_counters" >/dev/null
check "$(a "$used")" "$((before + 3))" "and after a vacuum"
q "VACUUM FULL jobspy.quota_counters" >/dev/null
check "$(a "$used")" "$((before + 4))" "and after the table was rewritten (every row has a new place)"
check "$(q "SELECT sum(used) FROM jobspy.quota_counters WHERE metric = 'calls' AND period_start = date_trunc('day', jobspy.now(), 'UTC')")" \
    "$((before + 4))" "one counter row holds the day's count"

check "$(a "SELECT pg_backend_pid();")" "$pid1" "all on one connection"
session_close
psql -X -q -d postgres -c "DROP DATABASE $db" >/dev/null
