-- The usage ledger records the currency of every cost: that of the plan
-- in force (consume_quota with a cost, settle_reservation with a cost);
-- a record without a cost has no currency.
BEGIN;
SELECT plan(5);

SET LOCAL jobspy.clock_override = '2031-08-10 12:00:00+00';
SET LOCAL jobspy.quota_usage_records = 'all';
INSERT INTO jobspy.users (id, email, timezone) VALUES
    ('a0000000-0000-4000-8000-0000000000c1', 'qc1@example.com', 'UTC');
SELECT jobspy.create_plan('t_eur', 'Euro plan', currency => 'EUR');
SELECT jobspy.set_plan_quota('t_eur', 'ai.tokens', 'month', 100000);
SELECT jobspy.set_user_plan('a0000000-0000-4000-8000-0000000000c1', 't_eur');

SELECT jobspy.consume_quota('a0000000-0000-4000-8000-0000000000c1', 'ai.tokens', 10, 'cur-1', 12.5);
SELECT is((SELECT row(cost, currency)::text FROM jobspy.usage_records WHERE idempotency_key = 'cur-1'),
          '(12.500000,EUR)', 'a consumption''s cost takes the plan''s currency');

SELECT jobspy.consume_quota('a0000000-0000-4000-8000-0000000000c1', 'ai.tokens', 5);
SELECT is((SELECT row(cost, currency)::text FROM jobspy.usage_records WHERE idempotency_key IS NULL AND amount = 5),
          '(,)', 'a record without a cost has no currency');

SELECT lives_ok($$SELECT jobspy.settle_reservation(
                    (SELECT reservation_id FROM jobspy.reserve_quota('a0000000-0000-4000-8000-0000000000c1', 'ai.tokens', 50)),
                    40, 3.25)$$, 'a reservation is settled with a cost');
SELECT is((SELECT row(cost, currency)::text FROM jobspy.usage_records WHERE reservation_id IS NOT NULL),
          '(3.250000,EUR)', 'a settlement''s cost takes the plan''s currency');
SELECT is((SELECT count(*) FROM jobspy.usage_records WHERE cost IS NOT NULL AND currency IS NULL),
          0::bigint, 'no cost is recorded without a currency');

SELECT * FROM finish();
ROLLBACK;
