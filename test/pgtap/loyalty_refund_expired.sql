-- A refund of a purchase whose points partly expired unused takes back
-- only what the member got to use: the expired part counts as given back,
-- whether maintain() has written the expiry off yet or not, and over
-- several partial refunds.
BEGIN;
SELECT plan(9);

SELECT set_config('jobspy.clock_override', '2031-01-01 00:00:00+00', true);
INSERT INTO jobspy.users (id, email) VALUES
    ('ca000000-0000-4000-8000-000000000001', 're1@example.com'),
    ('ca000000-0000-4000-8000-000000000002', 're2@example.com');
SELECT jobspy.create_business('re-cafe', 'Refund Cafe');
-- 500 points each (5% of 10000), expiring on 2032-01-01.
SELECT points_earned FROM jobspy.record_purchase('re-cafe', 're-a1', 'ca000000-0000-4000-8000-000000000001', 10000, 'RUB');
SELECT points_earned FROM jobspy.record_purchase('re-cafe', 're-b1', 'ca000000-0000-4000-8000-000000000002', 10000, 'RUB');
SELECT allowed FROM jobspy.spend_points('ca000000-0000-4000-8000-000000000001', 200, 're-spend-a');
SELECT allowed FROM jobspy.spend_points('ca000000-0000-4000-8000-000000000002', 200, 're-spend-b');
-- A later purchase each: 500 more, expiring on 2032-07-01.
SELECT set_config('jobspy.clock_override', '2031-07-01 00:00:00+00', true);
SELECT points_earned FROM jobspy.record_purchase('re-cafe', 're-a2', 'ca000000-0000-4000-8000-000000000001', 10000, 'RUB');
SELECT points_earned FROM jobspy.record_purchase('re-cafe', 're-b2', 'ca000000-0000-4000-8000-000000000002', 10000, 'RUB');

-- The first purchase's 300 unspent points expire.
SELECT set_config('jobspy.clock_override', '2032-02-01 00:00:00+00', true);
SELECT is(jobspy.points_balance('ca000000-0000-4000-8000-000000000001'), 500::bigint, 'A: 300 expired, 500 left');

-- B: before maintain() has written the expiry off (the points are read as
-- expired all the same); two refunds of half each.
SELECT is((SELECT (points_clawed, balance, debt)::text FROM jobspy.refund_purchase('re-cafe', 're-b1', 5000, 're-rb1')),
          '(250,500,0)', 'B: the first half is covered by the expired points');
SELECT is((SELECT (points_clawed, balance, debt)::text FROM jobspy.refund_purchase('re-cafe', 're-b1', 5000, 're-rb2')),
          '(250,300,0)', 'B: the second half takes the 200 that were spent, once');
SELECT is((SELECT (points_clawed, balance, debt)::text FROM jobspy.refund_purchase('re-cafe', 're-b1', 5000, 're-rb2')),
          '(250,300,0)', 'a replayed refund takes nothing more');
SELECT is((SELECT -sum(points) FROM jobspy.loyalty_ledger l JOIN jobspy.loyalty_purchases p ON p.id = l.purchase_id
            WHERE p.external_id = 're-b1' AND l.kind = 'clawback'), 200::numeric, 'B: 200 clawed in the ledger in all');

-- A: after maintain() has written the expiry off; refunded in full.
SELECT count(*) FROM jobspy.maintain();
SELECT is((SELECT (points_clawed, balance, debt)::text FROM jobspy.refund_purchase('re-cafe', 're-a1', 10000, 're-ra')),
          '(500,300,0)', 'A: the 200 spent are taken back, not the 300 that expired');

-- Before expiry nothing changes: the points come from the purchase's grant.
SELECT set_config('jobspy.clock_override', '2032-02-03 00:00:00+00', true);
SELECT points_earned FROM jobspy.record_purchase('re-cafe', 're-a3', 'ca000000-0000-4000-8000-000000000001', 10000, 'RUB');
SELECT is((SELECT (points_clawed, balance, debt)::text FROM jobspy.refund_purchase('re-cafe', 're-a3', 10000, 're-ra3')),
          '(500,300,0)', 'a live grant gives its points back itself');

SELECT count(*) FROM jobspy.maintain();
SELECT is((SELECT count(*) FROM jobspy.loyalty_check()), 0::bigint, 'the ledger, grants, balances and debts agree');
SELECT is(jobspy.points_balance('ca000000-0000-4000-8000-000000000002'), 300::bigint, 'B keeps what it did not use');

SELECT * FROM finish();
ROLLBACK;
