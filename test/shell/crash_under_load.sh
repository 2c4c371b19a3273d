#!/usr/bin/env bash
# Crash under load: clients run a mixed load (licence validations, rate
# limits, quota consumption, purchases and point spends, payments with a
# refund, invoice finalizations in one series, webhook intake) and note every
# commit acknowledged to them; the postmaster and all its processes are
# killed with SIGKILL at a random moment, the server is restarted (crash
# recovery), and every acknowledged commit must be there, the ledgers must
# reconcile (points, quota usage, refunds within their payments, invoice
# numbers without a gap) and the shared-memory state must come back as
# documented (the rate-limit store empty after a crash).  Three rounds,
# three kill points.
. ../../tools/lib.sh
. ./tap.bash
set +e
db=jobspy_crash
clients=4 rounds=3
work=$(mktemp -d /tmp/jobspy-crash.XXXXXX)
trap 'rm -rf "$work"' EXIT
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<SQL
CREATE EXTENSION jobspy_core;
CREATE EXTENSION pgcrypto;
SELECT jobspy.create_plan('crash', 'Crash');
SELECT jobspy.create_provider('crashpay', 'Crash Pay', 'hmac_sha256');
SELECT jobspy.set_provider_secret('crashpay', 'whsec_crash');
SELECT jobspy.create_invoice_series('crash');
SELECT jobspy.set_plan_quota('crash', 'units', 'lifetime', -1);
SELECT jobspy.create_business('crash-shop', 'Crash Shop');
CREATE TABLE public.c AS
SELECT g AS client, u AS user_id, l.license_key
  FROM generate_series(1, $clients) g, jobspy.create_user(format('c%s@crash.test', g)) u,
       jobspy.issue_license(u, 'pro', max_validations_per_day => 1000000) l;
SELECT jobspy.set_user_plan(user_id, 'crash') FROM public.c;
ALTER TABLE public.c ADD COLUMN customer_id uuid;
UPDATE public.c SET customer_id = jobspy.create_customer(user_id, currency => 'USD');
-- An invoice of one line finalized in the one series: its number.
CREATE FUNCTION public.crash_invoice(customer uuid) RETURNS text LANGUAGE plpgsql AS \$\$
DECLARE inv uuid := jobspy.create_invoice(customer, 'USD', series => 'crash');
BEGIN
    PERFORM jobspy.add_invoice_line(inv, 'crash', 1, 500);
    RETURN jobspy.finalize_invoice(inv);
END \$\$;
-- A provider event with its signature, received: its answer's code.
CREATE FUNCTION public.crash_webhook(event_id text) RETURNS text LANGUAGE sql AS \$\$
    SELECT (jobspy.receive_webhook('crashpay', encode(hmac(p, 'whsec_crash', 'sha256'), 'hex'), p)).code
      FROM format('{"id": "%s", "type": "crash.test", "created": 1893456000, "data": {"object": {"id": "x"}}}', event_id) p
\$\$;
SQL

# script ROUND CLIENT: the client's statements; each prints "<kind> <key>"
# only once its transaction has committed.
script() {
    local r=$1 i=$2 uid key cust j k
    uid=$(q "SELECT user_id FROM public.c WHERE client = $i")
    cust=$(q "SELECT customer_id FROM public.c WHERE client = $i")
    key=$(q "SELECT license_key FROM public.c WHERE client = $i")
    for j in $(seq 1 4000); do
        k="r$r-c$i-$j"
        case $((j % 8)) in
            0) echo "SELECT 'Q', '$k' FROM jobspy.consume_quota('$uid', 'units', 1, '$k') WHERE allowed;" ;;
            1) echo "SELECT 'P', '$k' FROM jobspy.record_purchase('crash-shop', '$k', '$uid', 1000, 'USD');" ;;
            2) echo "SELECT 'S', '$k' FROM jobspy.spend_points('$uid', 1, '$k') WHERE allowed;" ;;
            3) echo "SELECT 'V', code FROM jobspy.validate_license('$key', 'fp-$i', '1.0') WHERE code <> 'VALID';" ;;
            4) echo "SELECT 'R', '$k' FROM jobspy.rate_limit('crash-$i', 1000, 1000, '1 second') WHERE false;" ;;
            5) echo "SELECT 'Y', '$k' FROM jobspy.refund_payment(jobspy.record_payment('crashpay', 'pay-$k', '$cust', 1000, 'USD', 'succeeded'), 400, NULL, 're-$k');" ;;
            6) echo "SELECT 'I', public.crash_invoice('$cust');" ;;
            7) echo "SELECT 'W', '$k' FROM public.crash_webhook('$k') c WHERE c = 'ACCEPTED';" ;;
        esac
    done
}

echo "1..$((rounds * 10))"
for r in $(seq 1 $rounds); do
    for i in $(seq 1 $clients); do script "$r" "$i" >"$work/s$i.sql"; done
    pids=()
    for i in $(seq 1 $clients); do
        psql -X -q -At -F ' ' -d $db -f "$work/s$i.sql" >"$work/ack$r-$i" 2>"$work/err$r-$i" &
        pids+=($!)
    done
    sleep "$(awk -v r=$RANDOM 'BEGIN {printf "%.1f", 1.5 + (r % 25) / 10}')"
    pm=$(head -1 "$JOBSPY_TEST_CLUSTER/data/postmaster.pid")
    kill -9 "$pm" $(pgrep -P "$pm") 2>/dev/null
    wait "${pids[@]}" 2>/dev/null
    while kill -0 "$pm" 2>/dev/null || pgrep -f "postgres:.*$db" >/dev/null; do sleep 0.1; done
    cluster_start "$JOBSPY_TEST_CLUSTER" && wait_ready
    cat "$work"/ack$r-* >"$work/acks$r"
    check "$(q "SELECT pg_postmaster_start_time() > now() - interval '1 minute'")" t \
        "round $r: killed after $(wc -l <"$work/acks$r") acknowledged commits; the server came back through crash recovery"
    # Acknowledged keys of each kind, as a table, to compare with what is stored.
    lost() {  # lost KIND SQL-of-stored-keys: acknowledged keys of KIND that are not stored
        psql -X -Atq -d $db -c "CREATE TEMP TABLE acks (kind text, key text)" \
             -c "\\copy acks FROM '$work/acks$r' WITH (DELIMITER ' ')" \
             -c "SELECT count(*) FROM acks WHERE kind = '$1' AND key NOT IN ($2)" | tail -1
    }
    check "$(lost Q "SELECT idempotency_key FROM jobspy.usage_records WHERE idempotency_key IS NOT NULL")" 0 \
        "round $r: every acknowledged quota consumption is in the usage ledger ($(grep -c '^Q' "$work/acks$r") acknowledged)"
    check "$(lost P "SELECT external_id FROM jobspy.loyalty_purchases")" 0 \
        "round $r: every acknowledged purchase is stored ($(grep -c '^P' "$work/acks$r") acknowledged)"
    check "$(lost S "SELECT idempotency_key FROM jobspy.loyalty_spends")" 0 \
        "round $r: every acknowledged point spend is stored ($(grep -c '^S' "$work/acks$r") acknowledged)"
    check "$(lost Y "SELECT substr(p.provider_payment_id, 5) FROM jobspy.payments p
                       JOIN jobspy.refunds f ON f.payment_id = p.id AND f.provider_refund_id = 're-' || substr(p.provider_payment_id, 5)")" 0 \
        "round $r: every acknowledged payment is stored with its refund ($(grep -c '^Y' "$work/acks$r") acknowledged)"
    check "$(lost I "SELECT invoice_number FROM jobspy.invoices WHERE series = 'crash'")" 0 \
        "round $r: every acknowledged invoice number is stored ($(grep -c '^I' "$work/acks$r") acknowledged)"
    check "$(lost W "SELECT event_id FROM jobspy.payment_webhooks")" 0 \
        "round $r: every acknowledged webhook event is stored ($(grep -c '^W' "$work/acks$r") acknowledged)"
    check "$(q "SELECT count(*) = count(DISTINCT invoice_number)
                   AND coalesce(max(substring(invoice_number FROM '[0-9]+\$')::int), 0) = count(*)
              FROM jobspy.invoices WHERE series = 'crash' AND invoice_number IS NOT NULL")|$(q "SELECT count(*) FROM jobspy.payments p
             WHERE p.refunded_amount_cents > p.amount_cents
                OR p.refunded_amount_cents <> (SELECT coalesce(sum(f.amount_cents), 0) FROM jobspy.refunds f WHERE f.payment_id = p.id)")" \
        "t|0" "round $r: the series' invoice numbers run from 1 without a gap or a duplicate; refunds within their payments and equal to the payments' refunded amounts"
    check "$(q "SELECT (SELECT coalesce(sum(used), 0) FROM jobspy.quota_counters WHERE metric = 'units')
                     = (SELECT coalesce(sum(amount), 0) FROM jobspy.usage_records WHERE metric = 'units')")|$(q "SELECT count(*) FROM jobspy.loyalty_check()")|$(grep -h '^V' "$work"/ack$r-* | sort -u | tr '\n' ' ')" \
        "t|0|" "round $r: quota counters equal the usage ledger, points balances reconcile with their ledger, every validation was VALID"
    check "$(q "SELECT tracked_keys FROM jobspy.rate_limit_store()")" 0 \
        "round $r: the rate-limit store starts empty after a crash, as docs/ratelimit.md says"
done
psql -X -q -d postgres -c "DROP DATABASE $db" >/dev/null 2>&1
