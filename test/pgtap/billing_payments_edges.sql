-- Payments at an invoice's edges: a void invoice, a payment that succeeds
-- after its invoice was voided, an uncollectible invoice paid after all,
-- paying more than is due, paying a paid invoice, two partial payments;
-- every replay changes nothing.
BEGIN;
SELECT plan(16);

SET LOCAL TimeZone = 'UTC';
SET LOCAL jobspy.clock_override = '2031-05-10 12:00:00+00';
INSERT INTO jobspy.users (id, email) VALUES ('b9000000-0000-4000-8000-000000000001', 'edge@example.com');
SELECT jobspy.create_customer('b9000000-0000-4000-8000-000000000001') AS c \gset
SELECT jobspy.create_provider('edgepay', 'Edge Pay');
-- An open invoice of 10.00 USD: its id.
CREATE FUNCTION pg_temp.open_invoice(customer uuid) RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE i uuid := jobspy.create_invoice(customer, 'USD');
BEGIN
    PERFORM jobspy.add_invoice_line(i, 'edge', 1, 1000);
    PERFORM jobspy.finalize_invoice(i);
    RETURN i;
END $$;
CREATE FUNCTION pg_temp.invoice(i uuid) RETURNS text LANGUAGE sql AS $$
    SELECT row(status, amount_paid_cents, amount_due_cents)::text FROM jobspy.invoices WHERE id = i
$$;
CREATE FUNCTION pg_temp.paid_events(i uuid) RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM jobspy.outbox_events WHERE topic = 'billing.invoice.paid' AND entity_id = i::text
$$;

-- A void invoice takes no new payment.
SELECT pg_temp.open_invoice(:'c') AS iv \gset
SELECT jobspy.void_invoice(:'iv');
SELECT throws_ok(format($$SELECT jobspy.record_payment('edgepay', 'e-void', %L, 1000, 'USD', 'succeeded', invoice_id => %L)$$,
                        :'c', :'iv'), '55000', NULL, 'a new payment of a void invoice is refused');
SELECT is((SELECT count(*) FROM jobspy.payments WHERE provider_payment_id = 'e-void'), 0::bigint, 'and nothing is written');

-- A payment pending when its invoice was voided, then succeeding: the
-- money was taken, so it is recorded and shows on the void invoice, which
-- stays void and is not paid; refunding it takes it off again.
SELECT pg_temp.open_invoice(:'c') AS ip \gset
SELECT jobspy.record_payment('edgepay', 'e-pend', :'c', 1000, 'USD', 'pending', invoice_id => :'ip') AS pp \gset
SELECT jobspy.void_invoice(:'ip');
SELECT is(jobspy.record_payment('edgepay', 'e-pend', :'c', 1000, 'USD', 'succeeded', invoice_id => :'ip'), :'pp'::uuid,
          'the pending payment succeeds after its invoice was voided');
SELECT is(pg_temp.invoice(:'ip'), '(void,1000,0)', 'the void invoice shows the money taken and stays void');
SELECT is(pg_temp.paid_events(:'ip'), 0::bigint, 'and it is not paid');
SELECT jobspy.refund_payment(:'pp', 1000, 'invoice voided', 're-pend');
SELECT is((SELECT row(status, refunded_amount_cents)::text FROM jobspy.payments WHERE id = :'pp'), '(refunded,1000)',
          'refunded in full');
SELECT is(pg_temp.invoice(:'ip'), '(void,0,1000)', 'and off the void invoice again (its amount due as when voided)');

-- An uncollectible invoice paid after all is paid.
SELECT pg_temp.open_invoice(:'c') AS iu \gset
SELECT jobspy.mark_invoice_uncollectible(:'iu');
SELECT jobspy.record_payment('edgepay', 'e-unc', :'c', 1000, 'USD', 'succeeded', invoice_id => :'iu');
SELECT is(pg_temp.invoice(:'iu'), '(paid,1000,0)', 'an uncollectible invoice paid in full is paid');

-- More than is due: paid, and the record keeps what was taken.
SELECT pg_temp.open_invoice(:'c') AS io \gset
SELECT jobspy.record_payment('edgepay', 'e-over', :'c', 1500, 'USD', 'succeeded', invoice_id => :'io');
SELECT is(pg_temp.invoice(:'io'), '(paid,1500,0)', 'paying 15.00 of 10.00 due: paid, 15.00 recorded, nothing due');
-- A paid invoice paid again: still paid, the extra recorded, one paid event.
SELECT jobspy.record_payment('edgepay', 'e-again', :'c', 200, 'USD', 'succeeded', invoice_id => :'io');
SELECT is(pg_temp.invoice(:'io'), '(paid,1700,0)', 'a second payment of a paid invoice is added to what was paid');
SELECT is(pg_temp.paid_events(:'io'), 1::bigint, 'and the invoice was paid once');

-- Two partial payments: paid by the second, once, whatever is replayed.
SELECT pg_temp.open_invoice(:'c') AS i2 \gset
SELECT jobspy.record_payment('edgepay', 'e-p1', :'c', 400, 'USD', 'succeeded', invoice_id => :'i2');
SELECT is(pg_temp.invoice(:'i2'), '(open,400,600)', 'the first part leaves the invoice open, 6.00 due');
SELECT jobspy.record_payment('edgepay', 'e-p1', :'c', 400, 'USD', 'succeeded', invoice_id => :'i2');
SELECT is(pg_temp.invoice(:'i2'), '(open,400,600)', 'its replay changes nothing');
SELECT jobspy.record_payment('edgepay', 'e-p2', :'c', 600, 'USD', 'succeeded', invoice_id => :'i2');
SELECT jobspy.record_payment('edgepay', 'e-p2', :'c', 600, 'USD', 'succeeded', invoice_id => :'i2');
SELECT is(pg_temp.invoice(:'i2'), '(paid,1000,0)', 'the second part pays it, replayed or not');
SELECT is(pg_temp.paid_events(:'i2'), 1::bigint, 'one billing.invoice.paid');
SELECT is((SELECT count(*) FROM jobspy.payments WHERE invoice_id = :'i2'), 2::bigint, 'two payments, not four');

SELECT * FROM finish();
ROLLBACK;
