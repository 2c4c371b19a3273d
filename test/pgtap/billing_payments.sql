-- Payments: record_payment once per provider payment id, statuses forward
-- only, fee and net, invoices paid by payments, bad input refused with
-- nothing written; refunds that never exceed their payment; payments_net.
BEGIN;
SELECT plan(74);

SET LOCAL TimeZone = 'UTC';
SET LOCAL jobspy.clock_override = '2031-05-10 12:00:00+00';
INSERT INTO jobspy.users (id, email) VALUES
    ('b8000000-0000-4000-8000-000000000001', 'pay@example.com'),
    ('b8000000-0000-4000-8000-000000000002', 'other@example.com');
SELECT jobspy.create_customer('b8000000-0000-4000-8000-000000000001') AS c \gset
SELECT jobspy.create_customer('b8000000-0000-4000-8000-000000000002') AS c2 \gset
SELECT jobspy.create_provider('stripe', 'Stripe');
SELECT jobspy.create_provider('paypal', 'PayPal', 'hmac_sha256');
SELECT count(*) AS events0 FROM jobspy.outbox_events \gset

-- Bad input: a clear SQLSTATE and nothing written.
SELECT throws_ok(format($$SELECT jobspy.record_payment('stripe', 'ch_0', %L, 0, 'USD', 'succeeded')$$, :'c'),
                 '22023', NULL, 'an amount of 0');
SELECT throws_ok(format($$SELECT jobspy.record_payment('stripe', 'ch_0', %L, -5, 'USD', 'succeeded')$$, :'c'),
                 '22023', NULL, 'a negative amount');
SELECT throws_ok(format($$SELECT jobspy.record_payment('nope', 'ch_0', %L, 100, 'USD', 'succeeded')$$, :'c'),
                 '22023', NULL, 'an unknown provider');
SELECT throws_ok($$SELECT jobspy.record_payment('stripe', 'ch_0', gen_random_uuid(), 100, 'USD', 'succeeded')$$,
                 '22023', NULL, 'an unknown customer');
SELECT throws_ok(format($$SELECT jobspy.record_payment('stripe', 'ch_0', %L, 100, 'XXX', 'succeeded')$$, :'c'),
                 '22023', NULL, 'an unknown currency');
SELECT throws_ok(format($$SELECT jobspy.record_payment('stripe', 'ch_0', %L, 100, 'USD', 'paid')$$, :'c'),
                 '22023', NULL, 'an unknown status');
SELECT throws_ok(format($$SELECT jobspy.record_payment('stripe', 'ch_0', %L, 100, 'USD', 'refunded')$$, :'c'),
                 '22023', NULL, 'a refund status is for refund_payment');
SELECT throws_ok(format($$SELECT jobspy.record_payment('stripe', 'ch_0', %L, 100, 'USD', 'succeeded', fee => 101)$$, :'c'),
                 '22023', NULL, 'a fee above the amount');
SELECT throws_ok(format($$SELECT jobspy.record_payment('stripe', 'ch_0', %L, 100, 'USD', 'succeeded', fee => -1)$$, :'c'),
                 '22023', NULL, 'a negative fee');
SELECT throws_ok(format($$SELECT jobspy.record_payment('stripe', '4242 4242 4242 4242', %L, 100, 'USD', 'succeeded')$$, :'c'),
                 'JS502', NULL, 'a provider payment id that looks like a card number');
SELECT throws_ok(format($$SELECT jobspy.record_payment('stripe', NULL, %L, 100, 'USD', 'succeeded')$$, :'c'),
                 '22023', NULL, 'a NULL provider payment id');
SELECT is((SELECT count(*) FROM jobspy.payments), 0::bigint, 'refused payments left no row');
SELECT is((SELECT count(*) FROM jobspy.outbox_events), :'events0'::bigint, 'and no event');

-- Idempotent on (provider, provider payment id).
SELECT jobspy.record_payment('stripe', 'ch_1', :'c', 1999, 'USD', 'succeeded', fee => 88) AS p1 \gset
SELECT is(jobspy.record_payment('stripe', 'ch_1', :'c', 1999, 'USD', 'succeeded', fee => 88), :'p1'::uuid,
          'the same call returns the same id');
SELECT is(jobspy.record_payment('stripe', 'ch_1', :'c', 1999, 'USD', 'succeeded'), :'p1'::uuid,
          'and without the fee too');
SELECT is((SELECT count(*) FROM jobspy.payments), 1::bigint, 'one row for the replayed payment');
SELECT is((SELECT row(status, amount_cents, fee_cents, net_cents, refunded_amount_cents)::text
             FROM jobspy.payments WHERE id = :'p1'), '(succeeded,1999,88,1911,0)', 'status, amount, fee and net');
SELECT is((SELECT gross_cents FROM jobspy.payments_net WHERE currency = 'USD'), 1999::numeric,
          'a replayed payment counts once in revenue');
SELECT throws_ok(format($$SELECT jobspy.record_payment('stripe', 'ch_1', %L, 2000, 'USD', 'succeeded')$$, :'c'),
                 'JS521', NULL, 'the same id with another amount');
SELECT throws_ok(format($$SELECT jobspy.record_payment('stripe', 'ch_1', %L, 1999, 'EUR', 'succeeded')$$, :'c'),
                 'JS521', NULL, 'the same id with another currency');
SELECT throws_ok(format($$SELECT jobspy.record_payment('stripe', 'ch_1', %L, 1999, 'USD', 'succeeded')$$, :'c2'),
                 'JS521', NULL, 'the same id with another customer');
SELECT throws_ok(format($$SELECT jobspy.record_payment('stripe', 'ch_1', %L, 1999, 'USD', 'succeeded', fee => 90)$$, :'c'),
                 'JS521', NULL, 'the same id with another fee');
SELECT isnt(jobspy.record_payment('paypal', 'ch_1', :'c', 1999, 'USD', 'succeeded'), :'p1'::uuid,
            'the same id at another provider is another payment');

-- Statuses move forward only.
SELECT jobspy.record_payment('stripe', 'ch_2', :'c', 500, 'USD', 'pending') AS p2 \gset
SELECT is(jobspy.record_payment('stripe', 'ch_2', :'c', 500, 'USD', 'succeeded', fee => 20), :'p2'::uuid,
          'pending -> succeeded, same id');
SELECT is((SELECT row(status, fee_cents)::text FROM jobspy.payments WHERE id = :'p2'), '(succeeded,20)',
          'the status moved forward and a fee known later was filled in');
SELECT is(jobspy.record_payment('stripe', 'ch_2', :'c', 500, 'USD', 'pending'), :'p2'::uuid,
          'a late pending report returns the id');
SELECT is((SELECT status FROM jobspy.payments WHERE id = :'p2'), 'succeeded', 'and changes nothing');
SELECT throws_ok(format($$SELECT jobspy.record_payment('stripe', 'ch_2', %L, 500, 'USD', 'failed')$$, :'c'),
                 'JS520', NULL, 'succeeded -> failed raises');
SELECT jobspy.record_payment('stripe', 'ch_3', :'c', 700, 'USD', 'pending') AS p3 \gset
SELECT jobspy.record_payment('stripe', 'ch_3', :'c', 700, 'USD', 'failed');
SELECT throws_ok(format($$SELECT jobspy.record_payment('stripe', 'ch_3', %L, 700, 'USD', 'succeeded')$$, :'c'),
                 'JS520', NULL, 'failed -> succeeded raises');
SELECT throws_ok(format($$UPDATE jobspy.payments SET status = 'pending' WHERE id = %L$$, :'p2'), 'JS520', NULL,
                 'a backward UPDATE by hand raises too');
SELECT is(jobspy.record_payment('stripe', 'ch_2', :'c', 500, 'USD', 'disputed'), :'p2'::uuid, 'succeeded -> disputed');
SELECT is(jobspy.record_payment('stripe', 'ch_2', :'c', 500, 'USD', 'succeeded'), :'p2'::uuid,
          'a late succeeded report of a disputed payment is a no-op');
SELECT is((SELECT status FROM jobspy.payments WHERE id = :'p2'), 'disputed', 'it stays disputed');
SELECT is((SELECT array_agg(topic ORDER BY id)::text FROM jobspy.outbox_events WHERE entity_id = :'p2'),
          '{billing.payment.pending,billing.payment.succeeded,billing.payment.disputed}',
          'an outbox event per status change, none for replays');

-- Invoices paid by payments, partially then fully.
SELECT jobspy.create_invoice(:'c', 'USD') AS i1 \gset
SELECT jobspy.add_invoice_line(:'i1', 'plan', 1, 1000);
SELECT throws_ok(format($$SELECT jobspy.record_payment('stripe', 'ch_i0', %L, 400, 'USD', 'succeeded', %L)$$, :'c', :'i1'),
                 '55000', NULL, 'a draft invoice cannot be paid');
SELECT jobspy.finalize_invoice(:'i1');
SELECT throws_ok(format($$SELECT jobspy.record_payment('stripe', 'ch_i0', %L, 400, 'EUR', 'succeeded', %L)$$, :'c', :'i1'),
                 'JS501', NULL, 'a currency that differs from the invoice''s');
SELECT throws_ok(format($$SELECT jobspy.record_payment('stripe', 'ch_i0', %L, 400, 'USD', 'succeeded', %L)$$, :'c2', :'i1'),
                 '22023', NULL, 'another customer''s invoice');
SELECT jobspy.record_payment('stripe', 'ch_i1', :'c', 400, 'USD', 'pending', :'i1') AS pi1 \gset
SELECT is((SELECT amount_paid_cents FROM jobspy.invoices WHERE id = :'i1'), 0::bigint, 'a pending payment pays nothing');
SELECT jobspy.record_payment('stripe', 'ch_i1', :'c', 400, 'USD', 'succeeded', :'i1');
SELECT jobspy.record_payment('stripe', 'ch_i1', :'c', 400, 'USD', 'succeeded', :'i1');
SELECT is((SELECT row(status, amount_paid_cents, amount_due_cents)::text FROM jobspy.invoices WHERE id = :'i1'),
          '(open,400,600)', 'a partial payment, replayed, adds once and leaves the invoice open');
SELECT jobspy.record_payment('stripe', 'ch_i2', :'c', 600, 'USD', 'succeeded', :'i1') AS pi2 \gset
SELECT is((SELECT row(status, amount_paid_cents, amount_due_cents, paid_at)::text FROM jobspy.invoices WHERE id = :'i1'),
          '(paid,1000,0,"2031-05-10 12:00:00+00")', 'paid in full: the invoice is paid');

-- A credit note counts: the payment that clears what is left due pays the invoice.
SELECT jobspy.create_invoice(:'c', 'USD') AS icn \gset
SELECT jobspy.add_invoice_line(:'icn', 'plan', 1, 1000);
SELECT jobspy.finalize_invoice(:'icn');
SELECT jobspy.create_credit_note(:'icn', 300, 'goodwill');
SELECT jobspy.record_payment('paypal', 'cap_cn', :'c', 700, 'USD', 'succeeded', :'icn');
SELECT is((SELECT row(status, amount_paid_cents, amount_due_cents)::text FROM jobspy.invoices WHERE id = :'icn'),
          '(paid,700,0)', 'a payment of what a credit note left due pays the invoice');

-- Refunds.
SELECT throws_ok($$SELECT jobspy.refund_payment(gen_random_uuid(), 10)$$, '22023', NULL, 'an unknown payment');
SELECT throws_ok(format($$SELECT jobspy.refund_payment(%L, 0)$$, :'p1'), '22023', NULL, 'a refund of 0');
SELECT throws_ok(format($$SELECT jobspy.refund_payment(%L, 10)$$, :'p3'), '55000', NULL, 'a failed payment');
SELECT throws_ok(format($$SELECT jobspy.refund_payment(%L, 2000)$$, :'p1'), '23514', NULL,
                 'a refund over the amount');
SELECT jobspy.refund_payment(:'p1', 999, 'requested_by_customer', 're_1') AS r1 \gset
SELECT is(jobspy.refund_payment(:'p1', 999, 'requested_by_customer', 're_1'), :'r1'::uuid,
          'the same provider refund id returns the same refund');
SELECT throws_ok(format($$SELECT jobspy.refund_payment(%L, 998, NULL, 're_1')$$, :'p1'), 'JS521', NULL,
                 'the same refund id with another amount');
SELECT is((SELECT row(status, refunded_amount_cents)::text FROM jobspy.payments WHERE id = :'p1'),
          '(partially_refunded,999)', 'partially refunded, once');
SELECT throws_ok(format($$SELECT jobspy.refund_payment(%L, 1001)$$, :'p1'), '23514', NULL,
                 'refunds that would add up to more than the payment');
SELECT is(jobspy.record_payment('stripe', 'ch_1', :'c', 1999, 'USD', 'succeeded'), :'p1'::uuid,
          'a late succeeded report of a refunded payment');
SELECT isnt(jobspy.refund_payment(:'p1', 1000), NULL, 'the rest is refunded');
SELECT is((SELECT row(status, refunded_amount_cents)::text FROM jobspy.payments WHERE id = :'p1'),
          '(refunded,1999)', 'refunded in full');
SELECT is((SELECT sum(amount_cents) FROM jobspy.refunds WHERE payment_id = :'p1'), 1999::numeric,
          'the refund rows add up to the payment');
SELECT throws_ok(format($$SELECT jobspy.refund_payment(%L, 1)$$, :'p1'), '55000', NULL, 'nothing left to refund');
SELECT throws_ok(format($$SELECT jobspy.refund_payment(%L, 1, '4242424242424242')$$, :'p2'), 'JS502', NULL,
                 'a refund reason that looks like a card number');
SELECT jobspy.refund_payment(:'pi2', 100, 'goodwill');
SELECT is((SELECT row(status, amount_paid_cents)::text FROM jobspy.invoices WHERE id = :'i1'), '(paid,1000)',
          'a refund leaves a paid invoice paid with what it collected (a correction is a credit note)');
SELECT jobspy.create_invoice(:'c', 'USD') AS i2 \gset
SELECT jobspy.add_invoice_line(:'i2', 'plan', 1, 1000);
SELECT jobspy.finalize_invoice(:'i2');
SELECT jobspy.record_payment('stripe', 'ch_i3', :'c', 300, 'USD', 'succeeded', :'i2') AS pi3 \gset
SELECT jobspy.refund_payment(:'pi3', 300);
SELECT is((SELECT row(status, amount_paid_cents, amount_due_cents)::text FROM jobspy.invoices WHERE id = :'i2'),
          '(open,0,1000)', 'a refund of a partial payment on an open invoice makes it due again');
SELECT is((SELECT topic FROM jobspy.outbox_events WHERE entity_id = :'pi3' ORDER BY id DESC LIMIT 1),
          'billing.payment.refunded', 'a refund writes billing.payment.refunded');

-- Revenue net of refunds, per currency.
SELECT jobspy.record_payment('stripe', 'ch_eur', :'c', 5000, 'EUR', 'succeeded', fee => 150);
SELECT results_eq($$SELECT currency, payments, gross_cents, refunded_cents, net_cents, fee_cents
                      FROM jobspy.payments_net ORDER BY currency$$,
                  $$VALUES ('EUR', 1::bigint, 5000::numeric, 0::numeric, 5000::numeric, 150::numeric),
                           ('USD', 7, 1999 + 1999 + 500 + 400 + 600 + 300 + 700, 1999 + 100 + 300,
                            1999 + 500 + 400 + 600 + 700 - 100, 88 + 20)$$,
                  'payments_net: collected payments per currency, net of refunds; failed and pending ones left out');

SELECT is((SELECT sum(net_revenue_cents) FROM jobspy.revenue_monthly WHERE currency = 'USD'), 4099::numeric,
          'revenue_monthly counts the same collected payments, partially refunded and disputed ones too');
SELECT is((SELECT sum(net_revenue_cents) FROM jobspy.revenue_analytics WHERE currency = 'USD'), 4099::numeric,
          'and so does seed 000''s revenue_analytics');

-- Privileges: the application calls the functions, writes no table.
SELECT ok(has_function_privilege('jobspy_app', 'jobspy.record_payment(text, text, uuid, bigint, text, text, uuid, uuid, bigint)', 'EXECUTE'),
          'jobspy_app may record payments');
SELECT ok(has_function_privilege('jobspy_app', 'jobspy.refund_payment(uuid, bigint, text, text)', 'EXECUTE'),
          'jobspy_app may refund');
SELECT ok(NOT has_table_privilege('jobspy_app', 'jobspy.payments', 'INSERT, UPDATE, DELETE')
          AND NOT has_table_privilege('jobspy_app', 'jobspy.refunds', 'INSERT, UPDATE, DELETE'),
          'jobspy_app cannot write payments or refunds');
SELECT ok(has_table_privilege('jobspy_analyst', 'jobspy.payments_net', 'SELECT')
          AND NOT has_table_privilege('jobspy_analyst', 'jobspy.payments', 'SELECT'),
          'the analyst reads payments_net, not the table');

-- Read directly, the application sees the payments and refunds of the user
-- in jobspy.user_id only.
SET LOCAL jobspy.user_id = 'b8000000-0000-4000-8000-000000000002';
SET LOCAL ROLE jobspy_app;
SELECT is((SELECT count(*) FROM jobspy.payments) + (SELECT count(*) FROM jobspy.refunds), 0::bigint,
          'jobspy_app as another user reads none of the payments or refunds');
RESET ROLE;
SET LOCAL jobspy.user_id = 'b8000000-0000-4000-8000-000000000001';
SET LOCAL ROLE jobspy_app;
SELECT ok((SELECT count(*) FROM jobspy.payments) = 9 AND (SELECT count(*) FROM jobspy.refunds) > 0,
          'and as the payer reads its own');
RESET ROLE;

-- A writer of the table itself (seed 000's columns, no customer named) gets
-- the user's customer, and no column it writes may hold a card number.
INSERT INTO jobspy.payments (user_id, amount_cents, status, description, stripe_charge_id)
VALUES ('b8000000-0000-4000-8000-000000000002', 500, 'pending', 'order 1234-5678', 'ch_4242424242424242')
RETURNING id AS direct \gset
SELECT is((SELECT customer_id FROM jobspy.payments WHERE id = :'direct'), :'c2'::uuid,
          'a direct insert naming only the user gets the user''s customer');
SELECT throws_ok($$INSERT INTO jobspy.payments (user_id, amount_cents, status, description)
                   VALUES ('b8000000-0000-4000-8000-000000000002', 500, 'pending', 'card 4242424242424242')$$,
                 'JS502', NULL, 'a direct insert with a card number in the description');
SELECT throws_ok($$INSERT INTO jobspy.payments (user_id, amount_cents, status, stripe_charge_id)
                   VALUES ('b8000000-0000-4000-8000-000000000002', 500, 'pending', '4000056655665556')$$,
                 'JS502', NULL, 'a direct insert with a card number as the charge id');
SELECT throws_ok($$INSERT INTO jobspy.payments (user_id, amount_cents, status, metadata)
                   VALUES ('b8000000-0000-4000-8000-000000000002', 500, 'pending', '{"pan": "4111 1111 1111 1111"}')$$,
                 'JS502', NULL, 'a direct insert with a card number in the metadata');
SELECT throws_ok(format($$UPDATE jobspy.payments SET failure_message = 'declined: 5555555555554444' WHERE id = %L$$,
                        :'direct'),
                 'JS502', NULL, 'an update with a card number in the failure message');
SELECT throws_ok(format($$UPDATE jobspy.payments SET description = E'x\n4242-4242-4242-4242' WHERE id = %L$$,
                        :'direct'),
                 'JS502', NULL, 'an update with a grouped card number after a line break');
SELECT is((SELECT description FROM jobspy.payments WHERE id = :'direct'), 'order 1234-5678',
          'and the row kept its values');

SELECT * FROM finish();
ROLLBACK;
