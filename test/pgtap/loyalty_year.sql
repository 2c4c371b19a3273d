-- A year and more of one member, with the clock moved (jobspy.clock_override):
-- earns, an upgrade at once, expiries, a refund leaving a debt, the debt
-- settled, and a downgrade only at the periodic review in maintain().
BEGIN;
SELECT plan(21);

INSERT INTO jobspy.users (id, email) VALUES ('b0000000-0000-4000-8000-000000000011', 'year@example.com');
DO $$
BEGIN
    PERFORM jobspy.create_business('year-cafe', 'Year Cafe');
    PERFORM jobspy.set_tier('silver', 'Silver', 1, 0, 'RUB');
    PERFORM jobspy.set_tier('gold', 'Gold', 2, 100000, 'RUB');
    PERFORM jobspy.set_earn_rate('year-cafe', 'gold', 1000);
END
$$;

SET LOCAL jobspy.clock_override = '2031-01-01 10:00:00+00';
SELECT is((SELECT (points_earned, balance, tier)::text FROM jobspy.record_purchase('year-cafe', 'y-1', 'b0000000-0000-4000-8000-000000000011', 50000, 'RUB')),
          '(2500,2500,silver)', 'January: 5% at silver');

SET LOCAL jobspy.clock_override = '2031-03-01 10:00:00+00';
SELECT is((SELECT (points_earned, balance, tier)::text FROM jobspy.record_purchase('year-cafe', 'y-2', 'b0000000-0000-4000-8000-000000000011', 60000, 'RUB')),
          '(6000,8500,gold)', 'March: the purchase that crosses 100000 upgrades at once and earns at gold''s 10%');

SET LOCAL jobspy.clock_override = '2031-04-02 10:00:00+00';
SELECT is((SELECT count(*) FROM jobspy.maintain_loyalty() WHERE action = 'reviewed'), 0::bigint, 'April review: still gold, no change');
SELECT is((SELECT t.code FROM jobspy.loyalty_members m JOIN jobspy.loyalty_tiers t ON t.id = m.tier_id
            WHERE m.user_id = 'b0000000-0000-4000-8000-000000000011'), 'gold', 'gold kept');

SET LOCAL jobspy.clock_override = '2031-12-31 10:00:00+00';
SELECT is(jobspy.points_balance('b0000000-0000-4000-8000-000000000011'), 8500::bigint, 'December: nothing expired yet');

SET LOCAL jobspy.clock_override = '2032-01-02 10:00:00+00';
SELECT is(jobspy.points_balance('b0000000-0000-4000-8000-000000000011'), 6000::bigint, 'January 2032: the first grant expired at once');
SELECT is((SELECT (allowed, balance)::text FROM jobspy.spend_points('b0000000-0000-4000-8000-000000000011', 5000, 'y-s1')),
          '(t,1000)', 'spend 5000 of the 6000 left');
SELECT is((SELECT t.code FROM jobspy.loyalty_members m JOIN jobspy.loyalty_tiers t ON t.id = m.tier_id
            WHERE m.user_id = 'b0000000-0000-4000-8000-000000000011'), 'gold',
          'spend in the window fell under 100000, but no downgrade before the review');
SELECT is((SELECT count(*) FROM jobspy.maintain_loyalty() WHERE action IN ('expired', 'reviewed')), 2::bigint,
          'maintain writes the expiry and reviews the tier');
SELECT is((SELECT t.code FROM jobspy.loyalty_members m JOIN jobspy.loyalty_tiers t ON t.id = m.tier_id
            WHERE m.user_id = 'b0000000-0000-4000-8000-000000000011'), 'silver', 'the review downgrades to silver');
SELECT is(ARRAY(SELECT format('%s>%s:%s', from_tier, to_tier, reason) FROM jobspy.loyalty_tier_changes
                 WHERE user_id = 'b0000000-0000-4000-8000-000000000011' ORDER BY id),
          ARRAY['>silver:purchase', 'silver>gold:purchase', 'gold>silver:review'], 'the tier history');

SELECT is((SELECT (points_clawed, balance, debt)::text FROM jobspy.refund_purchase('year-cafe', 'y-2', 60000, 'y-r1')),
          '(6000,0,5000)', 'refunding March claws back 6000: 1000 left of its grant, 5000 as debt');
SELECT is(jobspy.points_balance('b0000000-0000-4000-8000-000000000011'), 0::bigint, 'never a negative balance');

SET LOCAL jobspy.clock_override = '2032-02-01 10:00:00+00';
SELECT is((SELECT (points_earned, balance, tier)::text FROM jobspy.record_purchase('year-cafe', 'y-3', 'b0000000-0000-4000-8000-000000000011', 200000, 'RUB')),
          '(20000,15000,gold)', 'a big purchase upgrades again, earns at gold and settles the debt first');
SELECT is((SELECT debt FROM jobspy.loyalty_members WHERE user_id = 'b0000000-0000-4000-8000-000000000011'), 0::bigint, 'debt settled');
SELECT is((SELECT -sum(points) FROM jobspy.loyalty_ledger WHERE user_id = 'b0000000-0000-4000-8000-000000000011' AND kind = 'debt'),
          5000::numeric, 'the settlement is in the ledger');

SET LOCAL jobspy.clock_override = '2033-02-01 10:00:01+00';
SELECT is(jobspy.points_balance('b0000000-0000-4000-8000-000000000011'), 0::bigint, 'a year on, the last grant expired');
SELECT is((SELECT count(*) FROM jobspy.maintain_loyalty() WHERE action = 'reviewed'), 1::bigint, 'and the review downgrades');
SELECT is((SELECT t.code FROM jobspy.loyalty_members m JOIN jobspy.loyalty_tiers t ON t.id = m.tier_id
            WHERE m.user_id = 'b0000000-0000-4000-8000-000000000011'), 'silver', 'back to silver');
SELECT is((SELECT count(*) FROM jobspy.loyalty_check()), 0::bigint, 'the ledger reconciles after the year');
SELECT is(ARRAY(SELECT format('%s>%s', payload->>'from_tier', payload->>'to_tier') FROM jobspy.outbox_events
                 WHERE topic = 'loyalty.tier_changed' AND entity_id = 'b0000000-0000-4000-8000-000000000011' ORDER BY id),
          ARRAY['>silver', 'silver>gold', 'gold>silver', 'silver>gold', 'gold>silver'], 'an outbox event per tier change');

SELECT * FROM finish();
ROLLBACK;
