#!/usr/bin/env bash
# 32 clients at once: report the same provider payment (one row, revenue
# counted once, the invoice paid once); refund one payment in random amounts
# until nothing is left (the refunds never exceed it and agree with the
# payment); report the same provider refund (one refund).
set -euo pipefail
db=jobspy_billing_refunds_race
clock='2031-06-15T12:00:00+00'

echo "1..7"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" 2>/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<SQL
CREATE EXTENSION jobspy_core;
SET jobspy.clock_override = '$clock';
INSERT INTO jobspy.users (id, email) VALUES ('e1000000-0000-4000-8000-000000000001', 'race@example.com');
SELECT jobspy.create_customer('e1000000-0000-4000-8000-000000000001') AS c \gset
SELECT jobspy.create_provider('stripe', 'Stripe');
SELECT jobspy.create_invoice(:'c', 'USD') AS i \gset
SELECT jobspy.add_invoice_line(:'i', 'plan', 1, 1999);
SELECT jobspy.finalize_invoice(:'i');
SELECT jobspy.record_payment('stripe', 'ch_big', :'c', 10000, 'USD', 'succeeded');
SELECT jobspy.record_payment('stripe', 'ch_small', :'c', 500, 'USD', 'succeeded');
CREATE SCHEMA race;
CREATE TABLE race.refunded (amount bigint NOT NULL);
-- A refund refused for want of money left is an answer here, not a failure.
CREATE FUNCTION race.try_refund(amount bigint) RETURNS void LANGUAGE plpgsql AS \$\$
BEGIN
    PERFORM jobspy.refund_payment((SELECT id FROM jobspy.payments WHERE provider_payment_id = 'ch_big'), amount);
    INSERT INTO race.refunded VALUES (amount);
EXCEPTION WHEN check_violation OR object_not_in_prerequisite_state THEN
    NULL;
END
\$\$;
SQL

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true' EXIT
cat >"$tmp/replay.sql" <<'SQL'
SELECT jobspy.record_payment('stripe', 'ch_replayed', c.id, 1999, 'USD', 'succeeded', i.id, fee => 88)
  FROM jobspy.customers c JOIN jobspy.invoices i ON i.customer_id = c.id;
SQL
cat >"$tmp/refund.sql" <<'SQL'
\set a random(1, 150)
SELECT race.try_refund(:a);
SQL
cat >"$tmp/same_refund.sql" <<'SQL'
SELECT jobspy.refund_payment(id, 200, 'duplicate', 're_same') FROM jobspy.payments WHERE provider_payment_id = 'ch_small';
SQL

export PGOPTIONS="-c jobspy.clock_override=$clock"
if pgbench -n -c 32 -j 4 -t 5 -f "$tmp/replay.sql" $db >"$tmp/pgbench.log" 2>&1; then
    echo "ok 1 - 32 clients reported one payment 160 times without an error"
else
    echo "not ok 1 - pgbench failed"; sed 's/^/# /' "$tmp/pgbench.log" | tail -20
fi
read -r rows gross paid status events <<<"$(psql -X -A -t -F ' ' -d $db -c "
    SELECT (SELECT count(*) FROM jobspy.payments WHERE provider_payment_id = 'ch_replayed'),
           (SELECT gross_cents FROM jobspy.payments_net WHERE currency = 'USD'),
           i.amount_paid_cents, i.status,
           (SELECT count(*) FROM jobspy.outbox_events e JOIN jobspy.payments p ON e.entity_id = p.id::text
             WHERE p.provider_payment_id = 'ch_replayed')
      FROM jobspy.invoices i")"
[ "$rows" = 1 ] && [ "$gross" = $((10000 + 500 + 1999)) ] \
    && echo "ok 2 - one payment row; revenue counts the 1999 once ($gross)" || echo "not ok 2 - rows $rows, gross $gross"
[ "$paid" = 1999 ] && [ "$status" = paid ] && [ "$events" = 1 ] \
    && echo "ok 3 - the invoice was paid once and one event written" \
    || echo "not ok 3 - amount_paid $paid, status $status, events $events"

if pgbench -n -c 32 -j 4 -t 20 -f "$tmp/refund.sql" $db >"$tmp/pgbench2.log" 2>&1; then
    echo "ok 4 - 32 clients tried 640 refunds of one payment without an error"
else
    echo "not ok 4 - pgbench failed"; sed 's/^/# /' "$tmp/pgbench2.log" | tail -20
fi
read -r granted rows_sum refunded status <<<"$(psql -X -A -t -F ' ' -d $db -c "
    SELECT (SELECT coalesce(sum(amount), 0) FROM race.refunded),
           (SELECT coalesce(sum(r.amount_cents), 0) FROM jobspy.refunds r WHERE r.payment_id = p.id),
           p.refunded_amount_cents, p.status
      FROM jobspy.payments p WHERE p.provider_payment_id = 'ch_big'")"
[ "$refunded" -le 10000 ] && [ "$granted" = "$refunded" ] && [ "$rows_sum" = "$refunded" ] \
    && echo "ok 5 - refunds ($refunded) never exceed the payment (10000) and agree with the refund rows" \
    || echo "not ok 5 - granted $granted, refund rows $rows_sum, refunded_amount_cents $refunded"
[ $((10000 - refunded)) -lt 150 ] && { [ "$refunded" = 10000 ] && [ "$status" = refunded ] || [ "$status" = partially_refunded ]; } \
    && echo "ok 6 - the payment is $status with $((10000 - refunded)) left, less than a refund's most" \
    || echo "not ok 6 - status $status, refunded $refunded"

pgbench -n -c 32 -j 4 -t 3 -f "$tmp/same_refund.sql" $db >"$tmp/pgbench3.log" 2>&1 || true
read -r n refunded <<<"$(psql -X -A -t -F ' ' -d $db -c "
    SELECT count(*), max(p.refunded_amount_cents) FROM jobspy.refunds r JOIN jobspy.payments p ON p.id = r.payment_id
     WHERE p.provider_payment_id = 'ch_small'")"
if [ "$n" = 1 ] && [ "$refunded" = 200 ] && ! grep -q 'ERROR' "$tmp/pgbench3.log"; then
    echo "ok 7 - 96 reports of one provider refund made one refund of 200, without an error"
else
    echo "not ok 7 - $n refunds, refunded $refunded"; grep ERROR "$tmp/pgbench3.log" | head -5 | sed 's/^/# /'
fi
