-- Payments, refunds and orders at their edges: a payment names one invoice
-- or one order; text that breaks a column's limits is 22023 before anything
-- is written; an order canceled while its payment was pending takes the
-- refund of that payment; free orders are paid at once; refunds written
-- directly keep to their payment; revenue sums cannot overflow.
BEGIN;
SELECT plan(38);

SET LOCAL TimeZone = 'UTC';
SET LOCAL jobspy.clock_override = '2031-07-01 12:00:00+00';
INSERT INTO jobspy.users (id, email) VALUES ('b9100000-0000-4000-8000-000000000001', 'guards@example.com');
SELECT jobspy.create_customer('b9100000-0000-4000-8000-000000000001') AS c \gset
SELECT jobspy.create_provider('stripe', 'Stripe');
SELECT jobspy.create_product('ebook', 'E-book', 'one_time');
SELECT jobspy.create_price('ebook', 'ebook-usd', 1500, 'USD');
SELECT jobspy.create_order(:'c', '[{"price_code": "ebook-usd"}]', 'USD') AS o \gset
SELECT jobspy.create_invoice(:'c', 'USD') AS i \gset
SELECT jobspy.add_invoice_line(:'i', 'Support', 1, 1000);
SELECT jobspy.finalize_invoice(:'i');

-- Refused before anything is written.
SELECT throws_ok(format($$SELECT jobspy.record_payment('stripe', 'ch_both', %L, 1500, 'USD', 'succeeded', %L, %L)$$,
                        :'c', :'i', :'o'),
                 '22023', 'a payment pays an invoice or an order, not both', 'an invoice and an order');
SELECT throws_ok(format($$SELECT jobspy.record_payment('stripe', '', %L, 1500, 'USD', 'succeeded')$$, :'c'),
                 '22023', NULL, 'an empty provider payment id');
SELECT throws_ok(format($$SELECT jobspy.record_payment('stripe', %L, %L, 1500, 'USD', 'succeeded')$$, repeat('x', 256), :'c'),
                 '22023', NULL, 'a provider payment id over 255 characters');
SELECT is((SELECT count(*) FROM jobspy.payments), 0::bigint, 'no payment row');
SELECT is((SELECT row(status, amount_paid_cents)::text FROM jobspy.orders WHERE id = :'o'), '(pending,0)',
          'the order is untouched');
SELECT is((SELECT row(status, amount_paid_cents)::text FROM jobspy.invoices WHERE id = :'i'), '(open,0)',
          'the invoice is untouched');

-- A fee known later above the amount is refused, not a check violation.
SELECT jobspy.record_payment('stripe', 'ch_fee', :'c', 700, 'USD', 'succeeded') AS pfee \gset
SELECT throws_ok(format($$SELECT jobspy.record_payment('stripe', 'ch_fee', %L, 700, 'USD', 'succeeded', fee => 701)$$, :'c'),
                 '22023', NULL, 'a replay with a fee above the amount');
SELECT is((SELECT fee_cents FROM jobspy.payments WHERE id = :'pfee'), 0::bigint, 'the fee stays unknown');

-- Refund text at its limits.
SELECT throws_ok(format($$SELECT jobspy.refund_payment(%L, 100, '')$$, :'pfee'), '22023', NULL, 'an empty reason');
SELECT throws_ok(format($$SELECT jobspy.refund_payment(%L, 100, %L)$$, :'pfee', repeat('r', 501)), '22023', NULL,
                 'a reason over 500 characters');
SELECT throws_ok(format($$SELECT jobspy.refund_payment(%L, 100, NULL, '')$$, :'pfee'), '22023', NULL,
                 'an empty provider refund id');
SELECT throws_ok(format($$SELECT jobspy.refund_payment(%L, 100, NULL, %L)$$, :'pfee', repeat('x', 256)), '22023', NULL,
                 'a provider refund id over 255 characters');
SELECT lives_ok(format($$SELECT jobspy.refund_payment(%L, 100, %L, 're_1')$$, :'pfee', repeat('r', 500)),
                'a reason of 500 characters is taken');
SELECT is((SELECT row(status, refunded_amount_cents)::text FROM jobspy.payments WHERE id = :'pfee'),
          '(partially_refunded,100)', 'only the valid refund was applied');

-- Refunds written directly keep to their payment.
SELECT throws_ok(format($$INSERT INTO jobspy.refunds (user_id, payment_id, amount_cents, currency)
                          VALUES ('b9100000-0000-4000-8000-000000000001', %L, 601, 'USD')$$, :'pfee'),
                 '23514', NULL, 'a direct refund beyond what is left of the payment');
SELECT throws_ok(format($$INSERT INTO jobspy.refunds (user_id, payment_id, amount_cents, currency)
                          VALUES ('b9100000-0000-4000-8000-000000000001', %L, 10, 'EUR')$$, :'pfee'),
                 'JS501', NULL, 'a direct refund in another currency');
SELECT throws_ok(format($$UPDATE jobspy.refunds SET amount_cents = 701 WHERE payment_id = %L$$, :'pfee'),
                 '23514', NULL, 'a refund raised directly beyond its payment');
SELECT is((SELECT sum(amount_cents) FROM jobspy.refunds WHERE payment_id = :'pfee'), 100::numeric,
          'the refunds of the payment are unchanged');

-- Order items: descriptions checked like every other column.
SELECT throws_ok(format($$SELECT jobspy.create_order(%L, '[{"description": "", "unit_amount": 100}]', 'USD')$$, :'c'),
                 '22023', NULL, 'an empty item description');
SELECT throws_ok(format($$SELECT jobspy.create_order(%L, '[{"description": null, "unit_amount": 100}]', 'USD')$$, :'c'),
                 '22023', NULL, 'a null item description');
SELECT throws_ok(format($$SELECT jobspy.create_order(%L, %L, 'USD')$$, :'c',
                        jsonb_build_array(jsonb_build_object('description', repeat('d', 501), 'unit_amount', 100))),
                 '22023', NULL, 'an item description over 500 characters');
SELECT throws_ok(format($$SELECT jobspy.create_order(%L, '[{"description": "card 4242 4242 4242 4242", "unit_amount": 100}]', 'USD')$$,
                        :'c'),
                 'JS502', NULL, 'an item description holding a card number');
SELECT throws_ok(format($$UPDATE jobspy.order_items SET description = 'paid with 4242424242424242' WHERE order_id = %L$$, :'o'),
                 'JS502', NULL, 'a card number written into an item directly');
SELECT is((SELECT count(*) FROM jobspy.orders), 1::bigint, 'no order was left behind');

-- An order of free items has nothing to wait for.
SELECT jobspy.create_order(:'c', '[{"description": "sample chapter", "unit_amount": 0}]', 'USD') AS ofree \gset
SELECT is((SELECT row(status, paid_at IS NOT NULL)::text FROM jobspy.orders WHERE id = :'ofree'), '(paid,t)',
          'a zero-total order is paid at once');
SELECT lives_ok(format($$SELECT jobspy.fulfill_order(%L)$$, :'ofree'), 'and can be fulfilled');

-- Canceled while its payment was pending: the money collected later is
-- refunded and the order stays canceled.
SELECT jobspy.record_payment('stripe', 'ch_late', :'c', 1500, 'USD', 'pending', order_id => :'o') AS plate \gset
SELECT jobspy.cancel_order(:'o');
SELECT jobspy.record_payment('stripe', 'ch_late', :'c', 1500, 'USD', 'succeeded', order_id => :'o');
SELECT is((SELECT row(status, amount_paid_cents)::text FROM jobspy.orders WHERE id = :'o'), '(canceled,1500)',
          'a payment collected after the cancellation stays on the canceled order');
SELECT lives_ok(format($$SELECT jobspy.refund_payment(%L, 1500)$$, :'plate'), 'and can be refunded');
SELECT is((SELECT row(o.status, o.amount_paid_cents, p.status)::text
             FROM jobspy.orders o, jobspy.payments p WHERE o.id = :'o' AND p.id = :'plate'),
          '(canceled,0,refunded)', 'the order stays canceled with nothing paid; the payment is refunded');

-- A payment pending when its order was refunded, collected after: the
-- order holds money again and a part of it can be refunded.
SELECT jobspy.create_order(:'c', '[{"price_code": "ebook-usd"}]', 'USD') AS o2 \gset
SELECT jobspy.record_payment('stripe', 'pi_ra', :'c', 1500, 'USD', 'pending', order_id => :'o2') AS pra \gset
SELECT jobspy.record_payment('stripe', 'pi_rb', :'c', 1500, 'USD', 'pending', order_id => :'o2') AS prb \gset
SELECT jobspy.record_payment('stripe', 'pi_ra', :'c', 1500, 'USD', 'succeeded', order_id => :'o2');
SELECT jobspy.refund_payment(:'pra', 1500);
SELECT jobspy.record_payment('stripe', 'pi_rb', :'c', 1500, 'USD', 'succeeded', order_id => :'o2');
SELECT is((SELECT status FROM jobspy.orders WHERE id = :'o2'), 'partially_refunded',
          'money collected on a refunded order makes it partially refunded');
SELECT lives_ok(format('SELECT jobspy.refund_payment(%L, 100)', :'prb'), 'and part of it can be refunded');

-- Orders sell active one-time prices; numbers widen past eight digits.
SELECT jobspy.create_product('club', 'Reading club', 'subscription');
SELECT jobspy.create_price('club', 'ebook-monthly', 300, 'USD', 'month');
SELECT throws_ok(format($$SELECT jobspy.create_order(%L, '[{"price_code": "ebook-monthly"}]', 'USD')$$, :'c'),
                 '22023', NULL, 'a recurring price is not ordered');
UPDATE jobspy.prices SET is_active = false WHERE code = 'ebook-usd';
SELECT throws_ok(format($$SELECT jobspy.create_order(%L, '[{"price_code": "ebook-usd"}]', 'USD')$$, :'c'),
                 '22023', NULL, 'nor a retired one');
SELECT throws_ok(format($$SELECT jobspy.create_order(%L, '[{"description": {"x": 1}, "unit_amount": 5}]', 'USD')$$, :'c'),
                 '22023', NULL, 'an item description that is not a string');
-- (the sequence itself is not rolled back with the test: the number is
-- checked on the function the column's default calls)
SELECT is(jobspy.order_number(100000000), 'ORD-100000000', 'the 100,000,000th order number has nine digits, not a cut one');
SELECT is(jobspy.order_number(42), 'ORD-00000042', 'and the 42nd eight');

-- Revenue sums in numeric: two payments near bigint's maximum, which
-- record_payment refuses (over 10^15) but a direct writer of the table can make.
INSERT INTO jobspy.payments (user_id, customer_id, provider_id, provider_payment_id, amount_cents, currency, status)
SELECT c.user_id, c.id, (SELECT id FROM jobspy.payment_providers WHERE code = 'stripe'), x, 9223372036854775000, 'USD', 'succeeded'
  FROM jobspy.customers c, unnest(ARRAY['ch_big1', 'ch_big2']) x WHERE c.id = :'c';
SELECT lives_ok($$SELECT * FROM jobspy.payments_net$$, 'payments_net reads huge payments');
SELECT is((SELECT gross_cents FROM jobspy.payments_net WHERE currency = 'USD'),
          2 * 9223372036854775000::numeric + 700 + 1500 + 1500 + 1500, 'and sums them exactly');

SELECT * FROM finish();
ROLLBACK;
