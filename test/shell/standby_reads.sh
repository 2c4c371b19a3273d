#!/usr/bin/env bash
# Reads scale out on hot standbys: rate limits, quota status, points
# balances and every view the analyst role reads answer on a streaming
# replica (rate-limit state lives in the standby's own memory), while what
# must write (a quota consumption, a purchase) is refused there with 25006.
# Licence validation on a standby has its own test (licensing_standby.sh).
. ../../tools/lib.sh
. ./tap.bash
set +e
db=jobspy_standby_reads
standby=$(mktemp -d /tmp/jobspy-standby.XXXXXX)
chmod 755 "$standby"
[ "$(id -u)" -eq 0 ] && chown "$(server_user)" "$standby"
sport=$((PGPORT + 2))
sq() { psql -X -Atq -h "$standby" -p $sport -d $db -c "$1" 2>&1; }
sqlstate() { printf '%s\n' '\set VERBOSITY sqlstate' "$1" | psql -X -Atq -h "$standby" -p $sport -d $db 2>&1; }
finish() { as_server "$PG_BINDIR/pg_ctl" -D "$standby/data" -m immediate -w stop >/dev/null 2>&1; rm -rf "$standby"; }
trap finish EXIT

echo "1..8"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<'SQL'
CREATE EXTENSION jobspy_core;
CREATE TABLE public.u AS SELECT jobspy.create_user('standby@reads.test') AS id;
SELECT jobspy.create_plan('standby', 'Standby');
SELECT jobspy.set_plan_quota('standby', 'posts', 'day', 5);
SELECT jobspy.set_user_plan(id, 'standby') FROM public.u;
SELECT allowed FROM public.u, jobspy.consume_quota(id, 'posts', 2);
SELECT jobspy.create_business('standby-shop', 'Standby Shop');
SELECT balance FROM public.u, jobspy.record_purchase('standby-shop', 'order-1', id, 10000, 'USD');
SQL

as_server "$PG_BINDIR/pg_basebackup" -D "$standby/data" -R -X stream -c fast -h "$PGHOST" -p "$PGPORT" -U postgres \
    >/dev/null 2>&1
as_server "$PG_BINDIR/pg_ctl" -D "$standby/data" -l "$standby/server.log" -w \
    -o "-p $sport -k $standby" start >/dev/null 2>&1
check "$(sq "SELECT pg_is_in_recovery()")" t "a hot standby of the cluster is running"

rl() { sq "SELECT allowed FROM jobspy.rate_limit('standby-key', 1, 10, '1 hour')"; }
check "$(rl),$(rl),$(rl)" \
    t,t,f "rate_limit answers on the standby: a burst of 2, then refused (state in the standby's memory)"
check "$(sq "SELECT used || '/' || remaining FROM public.u, jobspy.quota_status(id, 'posts')")" 2/3 \
    "quota_status answers on the standby with the primary's count"
check "$(sq "SELECT jobspy.points_balance(id) FROM public.u")" \
    "$(q "SELECT jobspy.points_balance(id) FROM public.u")" "points_balance answers on the standby as on the primary"
# Every view jobspy_analyst reads, found in the catalogue, so new reports are
# tried without being listed.
views=$(q "SELECT string_agg(c.oid::regclass::text, ' ') FROM pg_class c
            WHERE c.relnamespace = 'jobspy'::regnamespace AND c.relkind IN ('v', 'm')
              AND has_table_privilege('jobspy_analyst', c.oid, 'SELECT')")
bad=""
for v in $views; do
    out=$(sq "SET ROLE jobspy_analyst; SELECT count(*) >= 0 FROM $v")
    [ "$out" = t ] || bad="$bad $v: $out;"
done
check "$bad" "" "every view jobspy_analyst reads answers on the standby ($(echo $views | wc -w) views)"
check "$(sqlstate "SELECT allowed FROM public.u, jobspy.consume_quota(id, 'posts', 1);" | grep -o 25006 | head -1)" 25006 \
    "consume_quota, which must write, is refused on the standby: 25006"
check "$(sqlstate "SELECT balance FROM public.u, jobspy.record_purchase('standby-shop', 'order-2', id, 500, 'USD');" | grep -o 25006 | head -1)" 25006 \
    "record_purchase is refused on the standby: 25006"
check "$(q "SELECT used FROM public.u, jobspy.quota_status(id, 'posts')")" 2 "the primary's count is unchanged"
psql -X -q -d postgres -c "DROP DATABASE $db" >/dev/null 2>&1
