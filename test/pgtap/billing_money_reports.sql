-- The money reports at their edges: MRR months stay UTC months in any
-- session TimeZone; a payment of a subscription's invoice is that
-- subscription's revenue; a payment counts in the month it was collected;
-- days overdue do not depend on the TimeZone; credit notes number past 99
-- and refuse hostile amounts and reasons with clear codes.
BEGIN;
SELECT plan(15);
SET LOCAL TimeZone = 'UTC';

SELECT set_config('jobspy.clock_override', '2031-05-10 00:00:00+00', true);
INSERT INTO jobspy.users (id, email) VALUES
    ('c9000000-0000-4000-8000-000000000001', 'mr1@example.com'),
    ('c9000000-0000-4000-8000-000000000002', 'mr2@example.com');
SELECT jobspy.create_customer('c9000000-0000-4000-8000-000000000001') AS c1 \gset
SELECT jobspy.create_customer('c9000000-0000-4000-8000-000000000002') AS c2 \gset
SELECT jobspy.create_provider('stripe', 'Stripe');
SELECT jobspy.create_plan('mr-pro', 'Pro');
SELECT jobspy.create_product('mr-pro', 'Pro', plan_code => 'mr-pro');
SELECT jobspy.create_price('mr-pro', 'mr-pro-m', 3000, 'USD', 'month');

-- A subscription paid through record_payment: its plan, in its month.
SELECT jobspy.subscribe(:'c1', 'mr-pro-m') AS s \gset
SELECT id AS i FROM jobspy.invoices WHERE subscription_id = :'s' \gset
SELECT jobspy.record_payment('stripe', 'ch_mr1', :'c1', 3000, 'USD', 'succeeded', invoice_id => :'i');
SELECT is((SELECT subscription_id FROM jobspy.payments WHERE provider_payment_id = 'ch_mr1'), :'s'::uuid,
          'a payment of a subscription''s invoice is that subscription''s');
SELECT is((SELECT row(month, plan_type, gross_revenue_cents)::text FROM jobspy.revenue_monthly),
          row('2031-05-01 00:00:00+00'::timestamptz, 'mr-pro', 3000::bigint)::text,
          'and its revenue is filed under the subscription''s plan');

-- MRR months are UTC months whatever the session's TimeZone.
SELECT set_config('jobspy.clock_override', '2031-09-15 10:00:00+00', true);
SET LOCAL TimeZone = 'America/New_York';
SELECT is(ARRAY(SELECT to_char(month AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM jobspy.customer_mrr_monthly ORDER BY month),
          ARRAY['2031-05-01', '2031-06-01', '2031-07-01', '2031-08-01', '2031-09-01'],
          'customer_mrr_monthly steps through UTC months in New York');
SELECT is(ARRAY(SELECT to_char(month AT TIME ZONE 'UTC', 'YYYY-MM-DD') || ':' || mrr FROM jobspy.mrr_monthly ORDER BY month),
          ARRAY['2031-05-01:3000', '2031-06-01:3000', '2031-07-01:3000', '2031-08-01:3000', '2031-09-01:3000'],
          'and so does mrr_monthly');
SET LOCAL TimeZone = 'UTC';

-- A payment recorded pending at a month's end and collected in the next
-- counts in the month it was collected.
SELECT set_config('jobspy.clock_override', '2031-10-31 23:50:00+00', true);
SELECT jobspy.create_invoice(:'c2', 'USD', jobspy.now() + interval '1 hour') AS i2 \gset
SELECT jobspy.add_invoice_line(:'i2', 'Setup', 1, 5000);
SELECT jobspy.finalize_invoice(:'i2');
SELECT jobspy.record_payment('stripe', 'ch_mr2', :'c2', 5000, 'USD', 'pending', invoice_id => :'i2');
SELECT set_config('jobspy.clock_override', '2031-11-02 08:00:00+00', true);
SELECT jobspy.record_payment('stripe', 'ch_mr2', :'c2', 5000, 'USD', 'succeeded', invoice_id => :'i2');
SELECT is((SELECT collected_at FROM jobspy.payments WHERE provider_payment_id = 'ch_mr2'),
          '2031-11-02 08:00:00+00'::timestamptz, 'collected_at is when the collected status was reported');
SELECT is((SELECT collected_cents FROM jobspy.cash_flow_monthly WHERE month = '2031-11-01 00:00:00+00' AND currency = 'USD'),
          5000::bigint, 'cash_flow_monthly counts it in November');
SELECT is((SELECT gross_revenue_cents FROM jobspy.revenue_monthly WHERE month = '2031-11-01 00:00:00+00'),
          5000::bigint, 'and so does revenue_monthly');

-- Days overdue do not depend on the session's TimeZone.
SELECT set_config('jobspy.clock_override', '2031-12-01 22:00:00+00', true);
SELECT jobspy.create_invoice(:'c2', 'USD', jobspy.now()) AS i3 \gset
SELECT jobspy.add_invoice_line(:'i3', 'Late', 1, 700);
SELECT jobspy.finalize_invoice(:'i3');
SELECT set_config('jobspy.clock_override', '2031-12-03 01:00:00+00', true);
SELECT is((SELECT days_overdue FROM jobspy.overdue_invoices WHERE invoice_id = :'i3'), 1, 'one whole day overdue in UTC');
SET LOCAL TimeZone = 'Asia/Tokyo';
SELECT is((SELECT days_overdue FROM jobspy.overdue_invoices WHERE invoice_id = :'i3'), 1, 'and in Tokyo');
SET LOCAL TimeZone = 'UTC';

-- Hostile amounts and reasons.
SELECT throws_ok(format($$SELECT jobspy.record_payment('stripe', 'ch_mr3', %L, 1000000000000001, 'USD', 'succeeded')$$, :'c2'),
                 '22023', NULL, 'a payment over 10^15 minor units is refused');
SELECT throws_ok(format('SELECT jobspy.create_credit_note(%L, 9223372036854775807)', :'i3'), 'JS509', NULL,
                 'a credit note beyond any total is JS509, not an overflow');
SELECT jobspy.create_credit_note(:'i3', 1);
SELECT throws_ok(format('SELECT jobspy.create_credit_note(%L, 9223372036854775807)', :'i3'), 'JS509', NULL,
                 'also once the invoice has a note');
SELECT throws_ok(format('SELECT jobspy.create_credit_note(%L, 1, %L)', :'i3', ''), '22023', NULL,
                 'an empty reason is refused');
SELECT throws_ok(format('SELECT jobspy.create_credit_note(%L, 1, %L)', :'i3', repeat('x', 1001)), '22023', NULL,
                 'so is one over 1000 characters');

-- The hundredth note of an invoice.
SELECT jobspy.create_invoice(:'c2', 'USD') AS i4 \gset
SELECT jobspy.add_invoice_line(:'i4', 'Many notes', 1, 1000);
SELECT jobspy.finalize_invoice(:'i4');
SELECT count(jobspy.create_credit_note(:'i4', 1)) FROM generate_series(1, 100);
SELECT is((SELECT count(*) FROM jobspy.credit_notes n JOIN jobspy.invoices i ON i.id = n.invoice_id
            WHERE n.invoice_id = :'i4' AND n.credit_note_number = i.invoice_number || '-CN-100'),
          1::bigint, 'the hundredth note is -CN-100');

SELECT * FROM finish();
ROLLBACK;
