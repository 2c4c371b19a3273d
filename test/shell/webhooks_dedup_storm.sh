#!/usr/bin/env bash
# 16 deliveries of one Stripe event arrive at once (held behind a lock on
# the webhook table, then let go together), three times over: each time
# exactly one is ACCEPTED and applied, fifteen answer DUPLICATE, and one row
# is stored.  Then twice more in REPEATABLE READ transactions, applied
# inline and queued: the copy a concurrent delivery committed after their
# snapshot is a DUPLICATE too, never a serialization error.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.bash"
db=jobspy_webhooks_storm
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
clock='2030-01-01T00:00:00+00'

echo "1..9"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<SQL
CREATE EXTENSION jobspy_core;
CREATE EXTENSION pgcrypto;
SELECT jobspy.create_provider('stripe', 'Stripe');
SELECT jobspy.set_provider_secret('stripe', 'whsec_storm');
CREATE TABLE public.answers (round integer, code text);
SQL

for round in 1 2 3 4 5; do
    isolation='read committed'
    [ "$round" -ge 4 ] && isolation='repeatable read'
    [ "$round" = 5 ] && q "SELECT jobspy.config_set('webhooks.mode', '\"queued\"')" >/dev/null
    payload="{\"id\": \"evt_storm_$round\", \"object\": \"event\", \"type\": \"customer.created\", \"created\": 1893456000, \"data\": {\"object\": {\"id\": \"cus_storm\", \"object\": \"customer\"}}}"
    header="t=1893456000,v1=$(q "SELECT encode(hmac('1893456000.' || '$payload', 'whsec_storm', 'sha256'), 'hex')")"
    cat >"$tmp/deliver.sql" <<SQL
INSERT INTO public.answers SELECT $round, (jobspy.receive_webhook('stripe', '$header', '$payload')).code;
SQL
    # The gate: a lock every delivery's insert waits behind.
    psql -X -q -d $db -c "BEGIN; LOCK TABLE jobspy.payment_webhooks IN EXCLUSIVE MODE; SELECT pg_sleep(2); COMMIT;" >/dev/null &
    gate=$!
    sleep 0.5
    rc=0
    PGOPTIONS="-c jobspy.clock_override=$clock -c default_transaction_isolation=${isolation// /\\ }" pgbench -n -c 16 -j 4 -t 1 -f "$tmp/deliver.sql" $db >"$tmp/pgbench.log" 2>&1 || rc=$?
    wait $gate
    [ "$rc" = 0 ] || sed 's/^/# /' "$tmp/pgbench.log" | tail -5
    check "$(q "SELECT string_agg(code || ':' || n, ' ' ORDER BY code) FROM (SELECT code, count(*) n FROM public.answers WHERE round = $round GROUP BY code) c")" \
          "ACCEPTED:1 DUPLICATE:15" "round $round ($isolation): 16 simultaneous deliveries, one ACCEPTED, fifteen DUPLICATE"
done
check "$(q "SELECT count(*) FROM jobspy.payment_webhooks")" 5 "one stored row per event"
check "$(q "SELECT count(*) FROM jobspy.payment_webhooks WHERE processed AND attempts = 1")" 4 \
      "each event applied inline was processed once (the queued one waits for a worker)"
check "$(q "SELECT count(*) FROM pg_stat_activity WHERE datname = '$db' AND wait_event_type = 'Lock'")" 0 "no delivery is left waiting"
check "$(stat -c %a "$(q "SELECT current_setting('data_directory')")/jobspy_webhook.key" 2>/dev/null || echo missing)" 600 \
      "the webhook key file is readable by the server's owner only"
psql -X -q -d postgres -c "DROP DATABASE $db" >/dev/null 2>&1 || true
