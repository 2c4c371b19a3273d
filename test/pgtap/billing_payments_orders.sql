-- Orders (seed 001): items and totals, numbers, statuses that follow the
-- order's payments and refunds, fulfilment and cancellation, bad input.
BEGIN;
SELECT plan(36);

SET LOCAL TimeZone = 'UTC';
SET LOCAL jobspy.clock_override = '2031-05-10 12:00:00+00';
INSERT INTO jobspy.users (id, email) VALUES
    ('b9000000-0000-4000-8000-000000000001', 'order@example.com'),
    ('b9000000-0000-4000-8000-000000000002', 'order2@example.com');
SELECT jobspy.create_customer('b9000000-0000-4000-8000-000000000001') AS c \gset
SELECT jobspy.create_customer('b9000000-0000-4000-8000-000000000002') AS c2 \gset
SELECT jobspy.create_provider('stripe', 'Stripe');
SELECT jobspy.create_product('ebook', 'E-book', 'one_time');
SELECT jobspy.create_price('ebook', 'ebook-usd', 1500, 'USD');
SELECT jobspy.create_price('ebook', 'ebook-eur', 1400, 'EUR');

-- Bad input.
SELECT throws_ok($$SELECT jobspy.create_order(gen_random_uuid(), '[{"price_code": "ebook-usd"}]', 'USD')$$,
                 '22023', NULL, 'an unknown customer');
SELECT throws_ok(format($$SELECT jobspy.create_order(%L, '[]', 'USD')$$, :'c'), '22023', NULL, 'no items');
SELECT throws_ok(format($$SELECT jobspy.create_order(%L, '{"price_code": "ebook-usd"}', 'USD')$$, :'c'), '22023', NULL,
                 'items that are not an array');
SELECT throws_ok(format($$SELECT jobspy.create_order(%L, '[{"price_code": "ebook-usd"}]', 'XXX')$$, :'c'), '22023', NULL,
                 'an unknown currency');
SELECT throws_ok(format($$SELECT jobspy.create_order(%L, '[{"price_code": "nope"}]', 'USD')$$, :'c'), '22023', NULL,
                 'an unknown price');
SELECT throws_ok(format($$SELECT jobspy.create_order(%L, '[{"price_code": "ebook-eur"}]', 'USD')$$, :'c'), 'JS501', NULL,
                 'a price in another currency');
SELECT throws_ok(format($$SELECT jobspy.create_order(%L, '[{"price_code": "ebook-usd", "quantity": 0}]', 'USD')$$, :'c'),
                 '22023', NULL, 'quantity 0');
SELECT throws_ok(format($$SELECT jobspy.create_order(%L, '[{"price_code": "ebook-usd", "quantity": 1.5}]', 'USD')$$, :'c'),
                 '22023', NULL, 'a fractional quantity');
SELECT throws_ok(format($$SELECT jobspy.create_order(%L, '[{"description": "fee", "unit_amount": -1}]', 'USD')$$, :'c'),
                 '22023', NULL, 'a negative unit amount');
SELECT throws_ok(format($$SELECT jobspy.create_order(%L, '[{"description": "fee"}]', 'USD')$$, :'c'),
                 '22023', NULL, 'a free-form item without a unit amount');
SELECT throws_ok(format($$SELECT jobspy.create_order(%L, '[{"price_code": "ebook-usd", "unit_amount": 1}]', 'USD')$$, :'c'),
                 '22023', NULL, 'a price''s item at another unit amount');
SELECT throws_ok(format($$SELECT jobspy.create_order(%L, '[{"price_code": "ebook-usd", "colour": "red"}]', 'USD')$$, :'c'),
                 '22023', NULL, 'an unknown key');
SELECT throws_ok(format($$SELECT jobspy.create_order(%L, '[{"description": "x", "unit_amount": 9223372036854775807, "quantity": 2}]', 'USD')$$, :'c'),
                 '22003', NULL, 'an amount out of range');
SELECT is((SELECT count(*) FROM jobspy.orders), 0::bigint, 'refused orders left no row');

-- An order, its items and total.
SELECT jobspy.create_order(:'c', '[{"price_code": "ebook-usd", "quantity": 2}, {"description": "gift wrap", "unit_amount": 250}]',
                           'USD') AS o1 \gset
SELECT is((SELECT row(status, total_cents, currency)::text FROM jobspy.orders WHERE id = :'o1'), '(pending,3250,USD)',
          'a pending order totalling its items');
SELECT results_eq(format('SELECT description, quantity, unit_amount, amount FROM jobspy.order_items WHERE order_id = %L ORDER BY amount', :'o1'),
                  $$VALUES ('gift wrap', 1::bigint, 250::bigint, 250::bigint), ('E-book', 2, 1500, 3000)$$,
                  'items: a price''s (described by its product) and a free-form one');
SELECT matches((SELECT order_number FROM jobspy.orders WHERE id = :'o1'), '^ORD-[0-9]{8}$', 'a readable order number');
SELECT jobspy.create_order(:'c', '[{"price_code": "ebook-usd"}]', 'USD') AS o2 \gset
SELECT isnt((SELECT order_number FROM jobspy.orders WHERE id = :'o2'),
            (SELECT order_number FROM jobspy.orders WHERE id = :'o1'), 'each order has its own number');
SELECT throws_ok(format($$UPDATE jobspy.orders SET total_cents = 1 WHERE id = %L; SET CONSTRAINTS ALL IMMEDIATE$$, :'o2'),
                 '23514', NULL, 'a total that differs from the items is refused at commit, whoever writes it');
SELECT throws_ok(format($$UPDATE jobspy.order_items SET order_id = %L WHERE order_id = %L;
                          UPDATE jobspy.orders SET total_cents = total_cents + 3250 WHERE id = %L;
                          SET CONSTRAINTS ALL IMMEDIATE$$, :'o2', :'o1', :'o2'),
                 '23514', NULL, 'so is moving items to another order, which leaves the first without them');

-- Payments pay orders; refunds follow.
SELECT throws_ok(format($$SELECT jobspy.record_payment('stripe', 'ch_o0', %L, 3250, 'EUR', 'succeeded', order_id => %L)$$, :'c', :'o1'),
                 'JS501', NULL, 'a payment in another currency than the order''s');
SELECT throws_ok(format($$SELECT jobspy.record_payment('stripe', 'ch_o0', %L, 3250, 'USD', 'succeeded', order_id => %L)$$, :'c2', :'o1'),
                 '22023', NULL, 'a payment of another customer''s order');
SELECT throws_ok(format($$SELECT jobspy.fulfill_order(%L)$$, :'o1'), '55000', NULL, 'an unpaid order is not fulfilled');
SELECT jobspy.record_payment('stripe', 'ch_o1', :'c', 1000, 'USD', 'succeeded', order_id => :'o1') AS po1 \gset
SELECT is((SELECT row(status, amount_paid_cents)::text FROM jobspy.orders WHERE id = :'o1'), '(pending,1000)',
          'a partial payment leaves the order pending');
SELECT throws_ok(format($$SELECT jobspy.cancel_order(%L)$$, :'o1'), '55000', NULL,
                 'an order with money paid is not canceled');
SELECT jobspy.record_payment('stripe', 'ch_o2', :'c', 2250, 'USD', 'pending', order_id => :'o1') AS po2 \gset
SELECT jobspy.record_payment('stripe', 'ch_o2', :'c', 2250, 'USD', 'succeeded', order_id => :'o1');
SELECT jobspy.record_payment('stripe', 'ch_o2', :'c', 2250, 'USD', 'succeeded', order_id => :'o1');
SELECT is((SELECT row(status, amount_paid_cents, paid_at)::text FROM jobspy.orders WHERE id = :'o1'),
          '(paid,3250,"2031-05-10 12:00:00+00")', 'paid in full, once: the order is paid');
SELECT lives_ok(format($$SELECT jobspy.fulfill_order(%L)$$, :'o1'), 'a paid order is fulfilled');
SELECT is((SELECT status FROM jobspy.orders WHERE id = :'o1'), 'fulfilled', 'fulfilled');
SELECT jobspy.refund_payment(:'po1', 250, 'gift wrap missing');
SELECT is((SELECT row(status, refunded_amount_cents)::text FROM jobspy.orders WHERE id = :'o1'), '(partially_refunded,250)',
          'a partial refund: partially_refunded');
SELECT jobspy.refund_payment(:'po1', 750);
SELECT jobspy.refund_payment(:'po2', 2250);
SELECT is((SELECT row(status, refunded_amount_cents, amount_paid_cents)::text FROM jobspy.orders WHERE id = :'o1'),
          '(refunded,3250,3250)', 'everything refunded: refunded');
SELECT throws_ok(format($$SELECT jobspy.record_payment('stripe', 'ch_o3', %L, 100, 'USD', 'succeeded', order_id => %L)$$, :'c', :'o1'),
                 '55000', NULL, 'a refunded order takes no more payments');
SELECT throws_ok(format($$UPDATE jobspy.orders SET status = 'pending' WHERE id = %L$$, :'o1'), 'JS522', NULL,
                 'an illegal order transition raises, whoever writes it');

-- Cancellation.
SELECT lives_ok(format($$SELECT jobspy.cancel_order(%L)$$, :'o2'), 'an unpaid pending order is canceled');
SELECT is((SELECT row(status, canceled_at)::text FROM jobspy.orders WHERE id = :'o2'), '(canceled,"2031-05-10 12:00:00+00")',
          'canceled, with the time');
SELECT throws_ok(format($$SELECT jobspy.record_payment('stripe', 'ch_o4', %L, 1500, 'USD', 'succeeded', order_id => %L)$$, :'c', :'o2'),
                 '55000', NULL, 'a canceled order takes no payment');

SELECT ok(has_function_privilege('jobspy_app', 'jobspy.create_order(uuid, jsonb, text)', 'EXECUTE')
          AND NOT has_table_privilege('jobspy_app', 'jobspy.orders', 'INSERT, UPDATE, DELETE')
          AND NOT has_table_privilege('jobspy_app', 'jobspy.order_items', 'INSERT, UPDATE, DELETE'),
          'jobspy_app creates orders through the function only');

SELECT * FROM finish();
ROLLBACK;
