-- The running spend on a member's row (loyalty_members.window_spend): a
-- purchase that may reach a higher tier reads it, less the purchases that
-- left the window since, instead of summing the member's history.  A member
-- buys daily: the window's sum must drop the old days (else a tier would be
-- reached too early), follow refunds, a window made shorter, a clock set
-- back and purchases in another currency, and reconcile with the purchases.
BEGIN;
SELECT plan(16);

SET LOCAL jobspy.clock_override = '2032-01-01 00:00:00+00';
SET LOCAL track_functions = 'pl';
INSERT INTO jobspy.users (id, email) VALUES ('c7000000-0000-4000-8000-000000000001', 'daily@example.com');
SELECT jobspy.enroll_member('c7000000-0000-4000-8000-000000000001');
SELECT jobspy.create_business('rs-cafe', 'Running Cafe');
SELECT jobspy.set_loyalty_programme(tier_window => '30 days');
SELECT jobspy.set_tier('silver', 'Silver', 1, 50000, 'RUB');
SELECT jobspy.set_tier('gold', 'Gold', 2, 100000, 'RUB');

CREATE FUNCTION pg_temp.buy(day_ numeric, ext text, amount bigint, currency text DEFAULT 'RUB') RETURNS text
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('jobspy.clock_override', ('2032-01-01 00:00:00+00'::timestamptz + day_ * interval '1 day')::text, true);
    RETURN (SELECT tier FROM jobspy.record_purchase('rs-cafe', ext, 'c7000000-0000-4000-8000-000000000001', amount, currency));
END
$$;
CREATE FUNCTION pg_temp.kept() RETURNS text LANGUAGE sql AS $$
    SELECT (window_spend, window_currency)::text FROM jobspy.loyalty_members
     WHERE user_id = 'c7000000-0000-4000-8000-000000000001'
$$;
CREATE FUNCTION pg_temp.sql_calls() RETURNS bigint LANGUAGE sql AS $$
    SELECT coalesce(pg_stat_get_xact_function_calls(
        'jobspy.loyalty_record_purchase_sql(text, text, uuid, bigint, text, text, text)'::regprocedure), 0)
$$;

-- Day 0 enrols nothing new (the member exists); 3,000 a day for 60 days.
SELECT is(pg_temp.buy(0, 'd0', 3000), NULL, 'the first purchase, no tier yet');
SELECT is(pg_temp.kept(), '(3000,RUB)', 'the running spend is kept from the first purchase that asks');
SELECT is((SELECT min(d) FROM generate_series(1, 59) d WHERE pg_temp.buy(d, 'd' || d, 3000) = 'silver'), 16,
          'silver on the 17th purchase (51,000 in the window)');
SELECT is((SELECT tier FROM jobspy.loyalty_purchases WHERE external_id = 'd59'), 'silver',
          'still silver after 60 days: the days that left the window were taken off (never above 90,000)');
SELECT is(pg_temp.kept(), '(90000,RUB)', 'the last 30 days');
SELECT is((SELECT count(*) FROM jobspy.loyalty_check()), 0::bigint, 'it reconciles with the purchases');
SELECT ok(pg_temp.sql_calls() <= 2, 'the C path answered the daily purchases');

-- Day 60: the window (day 30, day 60] holds days 31 to 59, 87,000.
SELECT is(pg_temp.buy(60, 'x1', 12999), 'silver', '99,999 in the window: not gold');
SELECT is(pg_temp.buy(60.5, 'x2', 1), 'gold', '100,000: gold on the purchase that reaches it');

-- A refund takes its amount off; a purchase in another currency adds nothing.
SELECT jobspy.refund_purchase('rs-cafe', 'x1', 5000, 'r1');
SELECT pg_temp.buy(61, 'eur', 7000, 'EUR');
SELECT is(pg_temp.kept(), (SELECT (sum(amount - refunded), 'RUB')::text FROM jobspy.loyalty_purchases
                            WHERE currency = 'RUB' AND created_at > '2032-01-01'::timestamptz + interval '30 days'),
          'after a refund and a purchase in euros');

-- A shorter window, then the clock set back: still the sum of the window.
SELECT jobspy.set_loyalty_programme(tier_window => '10 days');
SELECT jobspy.set_tier('platinum', 'Platinum', 3, 1000000, 'RUB');
SELECT pg_temp.buy(62, 'short', 100);
SELECT is((SELECT window_spend FROM jobspy.loyalty_members WHERE user_id = 'c7000000-0000-4000-8000-000000000001'),
          (SELECT sum(amount - refunded)::bigint FROM jobspy.loyalty_purchases
            WHERE currency = 'RUB' AND created_at > '2032-01-01'::timestamptz + interval '52 days'),
          'a window made shorter takes off what left it');
SELECT pg_temp.buy(40, 'back', 100);
SELECT is((SELECT window_spend FROM jobspy.loyalty_members WHERE user_id = 'c7000000-0000-4000-8000-000000000001'),
          (SELECT sum(amount - refunded)::bigint FROM jobspy.loyalty_purchases
            WHERE currency = 'RUB' AND created_at > '2032-01-01'::timestamptz + interval '30 days'),
          'a clock set back sums the window again');
SELECT is((SELECT count(*) FROM jobspy.loyalty_check()), 0::bigint, 'and it still reconciles');

UPDATE jobspy.loyalty_members SET window_spend = window_spend + 1
 WHERE user_id = 'c7000000-0000-4000-8000-000000000001';
SELECT is((SELECT count(*) FROM jobspy.loyalty_check() WHERE problem LIKE 'window_spend%'), 1::bigint,
          'loyalty_check() finds a running spend that does not match the purchases');

-- A running spend that would pass bigint's range is dropped, not an error:
-- the top tier reached, two purchases of the largest amount.
INSERT INTO jobspy.users (id, email) VALUES ('c7000000-0000-4000-8000-000000000002', 'huge@example.com');
SELECT jobspy.enroll_member('c7000000-0000-4000-8000-000000000002');
SELECT jobspy.record_purchase('rs-cafe', 'huge0', 'c7000000-0000-4000-8000-000000000002', 10, 'RUB');
SET LOCAL jobspy.clock_override = '2032-03-02 00:00:00+00';
SELECT jobspy.record_purchase('rs-cafe', 'huge1', 'c7000000-0000-4000-8000-000000000002', 9223372036854775797, 'RUB');
SET LOCAL jobspy.clock_override = '2032-03-03 00:00:00+00';
SELECT lives_ok($$SELECT jobspy.record_purchase('rs-cafe', 'huge2', 'c7000000-0000-4000-8000-000000000002',
                                                9223372036854775807, 'RUB')$$,
                'a purchase that would take the running spend past bigint is recorded');
SELECT is((SELECT (tier_id IS NOT NULL, window_spend) FROM jobspy.loyalty_members
            WHERE user_id = 'c7000000-0000-4000-8000-000000000002'),
          ROW(true, NULL::bigint), 'the member keeps the tier and the running spend is dropped');

SELECT * FROM finish();
ROLLBACK;
