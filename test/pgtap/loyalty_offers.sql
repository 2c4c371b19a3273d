-- Loyalty: coupons and promotion codes, cross-promotion chains, referral
-- codes, prepaid credits, community events, RFM snapshots.
BEGIN;
SELECT plan(74);

SET LOCAL jobspy.clock_override = '2031-03-01 12:00:00+00';
INSERT INTO jobspy.users (id, email) VALUES
    ('c0000000-0000-4000-8000-000000000001', 'o1@example.com'),
    ('c0000000-0000-4000-8000-000000000002', 'o2@example.com'),
    ('c0000000-0000-4000-8000-000000000003', 'o3@example.com'),
    ('c0000000-0000-4000-8000-000000000004', 'o4@example.com');
DO $$
BEGIN
    PERFORM jobspy.create_business('o-cafe', 'Cafe');
    PERFORM jobspy.create_business('o-gym', 'Gym');
END
$$;

-- Coupons.
SELECT isnt(jobspy.create_coupon('SPRING10', percent_off => 10), NULL, 'a percent-off coupon');
SELECT throws_ok($$SELECT jobspy.create_coupon('spring10', percent_off => 5)$$, '23505', NULL, 'codes are unique in any case');
SELECT throws_ok($$SELECT jobspy.create_coupon('X1', percent_off => 10, amount_off => 100, currency => 'RUB')$$, '22023', NULL, 'not both kinds');
SELECT throws_ok($$SELECT jobspy.create_coupon('X1', amount_off => 100)$$, '22023', NULL, 'an amount off needs a currency');
SELECT throws_ok($$SELECT jobspy.create_coupon('X1', percent_off => 101)$$, '22023', NULL, 'percent_off at most 100');
SELECT throws_ok($$SELECT jobspy.create_coupon('X1', percent_off => 10, duration => 'repeating')$$, '22023', NULL, 'repeating needs months');
SELECT throws_ok($$SELECT jobspy.create_coupon('X1', percent_off => 10, expires_at => '2030-01-01')$$, '22023', NULL, 'an expiry in the past');
SELECT throws_ok($$SELECT jobspy.create_coupon('bad code', percent_off => 10)$$, '22023', NULL, 'a malformed code');
SELECT is((SELECT (allowed, code, discount)::text FROM jobspy.redeem_coupon('Spring10', 'c0000000-0000-4000-8000-000000000001', 1999, 'RUB', 'k1')),
          '(t,REDEEMED,199)', '10% of 1999 rounded down, code in any case');
SELECT is((SELECT (allowed, code, discount)::text FROM jobspy.redeem_coupon('SPRING10', 'c0000000-0000-4000-8000-000000000001', 1999, 'RUB', 'k1')),
          '(t,REDEEMED,199)', 'a replayed key answers as the first time');
SELECT is((SELECT times_redeemed FROM jobspy.loyalty_coupons WHERE code = 'SPRING10'), 1, 'and counts once');
SELECT throws_ok($$SELECT jobspy.redeem_coupon('SPRING10', 'c0000000-0000-4000-8000-000000000001', 500, 'RUB', 'k1')$$,
                 'JS706', NULL, 'a replayed key with another amount raises');
SELECT is((SELECT code FROM jobspy.redeem_coupon('NOPE', 'c0000000-0000-4000-8000-000000000001', 100, 'RUB', 'k2')), 'NOT_FOUND', 'unknown code');
SELECT lives_ok($$SELECT jobspy.create_coupon('FIXED', amount_off => 500, currency => 'RUB', max_redemptions => 2, max_per_user => 1,
                                             min_amount => 1000, expires_at => '2031-04-01')$$, 'an amount-off coupon with limits');
SELECT is((SELECT code FROM jobspy.redeem_coupon('FIXED', 'c0000000-0000-4000-8000-000000000001', 999, 'RUB', 'f1')), 'MIN_AMOUNT', 'below the minimum');
SELECT is((SELECT code FROM jobspy.redeem_coupon('FIXED', 'c0000000-0000-4000-8000-000000000001', 1000, 'EUR', 'f1')), 'CURRENCY_MISMATCH', 'another currency');
SELECT is((SELECT (allowed, discount)::text FROM jobspy.redeem_coupon('FIXED', 'c0000000-0000-4000-8000-000000000001', 1000, 'RUB', 'f1')), '(t,500)', 'amount off');
SELECT is((SELECT code FROM jobspy.redeem_coupon('FIXED', 'c0000000-0000-4000-8000-000000000001', 1000, 'RUB', 'f2')), 'USER_LIMIT', 'once per member');
SELECT is((SELECT code FROM jobspy.redeem_coupon('FIXED', 'c0000000-0000-4000-8000-000000000002', 1000, 'RUB', 'f3')), 'REDEEMED', 'another member');
SELECT is((SELECT code FROM jobspy.redeem_coupon('FIXED', 'c0000000-0000-4000-8000-000000000003', 1000, 'RUB', 'f4')), 'EXHAUSTED', 'two in total');
SELECT lives_ok($$SELECT jobspy.create_coupon('GYMONLY', percent_off => 20, business_code => 'o-gym', products => ARRAY['yoga'])$$, 'limited to a business and products');
SELECT is((SELECT code FROM jobspy.redeem_coupon('GYMONLY', 'c0000000-0000-4000-8000-000000000001', 1000, 'RUB', 'g1', 'o-cafe', 'yoga')), 'WRONG_BUSINESS', 'another business');
SELECT is((SELECT code FROM jobspy.redeem_coupon('GYMONLY', 'c0000000-0000-4000-8000-000000000001', 1000, 'RUB', 'g1', 'o-gym', 'spa')), 'WRONG_PRODUCT', 'another product');
SELECT is((SELECT code FROM jobspy.redeem_coupon('GYMONLY', 'c0000000-0000-4000-8000-000000000001', 1000, 'RUB', 'g1', 'o-gym', 'yoga')), 'REDEEMED', 'the right ones');
SELECT lives_ok($$SELECT jobspy.create_coupon('WELCOME', percent_off => 50, first_purchase_only => true)$$, 'a first-purchase coupon');
SELECT is((SELECT (points_earned, balance)::text FROM jobspy.record_purchase('o-cafe', 'w-1', 'c0000000-0000-4000-8000-000000000004', 2000, 'RUB', 'welcome')),
          '(50,50)', 'a purchase with a coupon earns on what was paid');
SELECT is((SELECT (discount, purchase_id IS NOT NULL)::text FROM jobspy.loyalty_coupon_redemptions WHERE idempotency_key LIKE 'purchase:%'),
          '(1000,t)', 'the redemption is tied to its purchase');
SELECT is((SELECT replayed FROM jobspy.record_purchase('o-cafe', 'w-1', 'c0000000-0000-4000-8000-000000000004', 2000, 'RUB', 'WELCOME')),
          true, 'a replayed purchase with its coupon does not redeem again');
SELECT throws_ok($$SELECT jobspy.record_purchase('o-cafe', 'w-2', 'c0000000-0000-4000-8000-000000000004', 2000, 'RUB', 'welcome')$$,
                 'JS703', NULL, 'a coupon that cannot be redeemed refuses the purchase (not the first)');
SET LOCAL jobspy.clock_override = '2031-04-02 12:00:00+00';
SELECT is((SELECT code FROM jobspy.redeem_coupon('FIXED', 'c0000000-0000-4000-8000-000000000004', 1000, 'RUB', 'f5')), 'EXPIRED', 'after its expiry');
SELECT isnt(jobspy.create_coupon('fixed', percent_off => 5), NULL, 'an expired coupon''s code can be used again');

-- Cross-promotion chains.
SELECT isnt(jobspy.create_promo_chain('o-cafe', 'o-gym', percent_off => 15, min_amount => 1000), NULL, 'a chain from the cafe to the gym');
SELECT throws_ok($$SELECT jobspy.create_promo_chain('o-cafe', 'o-cafe', percent_off => 15)$$, '22023', NULL, 'not to itself');
SELECT lives_ok($$SELECT jobspy.record_purchase('o-cafe', 'x-1', 'c0000000-0000-4000-8000-000000000002', 1500, 'RUB')$$, 'a purchase at the cafe');
SELECT is((SELECT count(*) FROM jobspy.loyalty_coupons WHERE user_id = 'c0000000-0000-4000-8000-000000000002' AND chain_id IS NOT NULL),
          1::bigint, 'issues one coupon for the gym');
SELECT is((SELECT r.code FROM jobspy.loyalty_coupons c, jobspy.redeem_coupon(c.code, 'c0000000-0000-4000-8000-000000000003', 1000, 'RUB', 'xp', 'o-gym') r
            WHERE c.user_id = 'c0000000-0000-4000-8000-000000000002'), 'WRONG_MEMBER', 'which only that member can use');
SELECT lives_ok($$SELECT jobspy.record_purchase('o-gym', 'x-2', 'c0000000-0000-4000-8000-000000000002', 1000, 'RUB',
                    (SELECT code FROM jobspy.loyalty_coupons WHERE user_id = 'c0000000-0000-4000-8000-000000000002'))$$,
                'redeemed at the gym');
SELECT is((SELECT (triggers, conversions)::text FROM jobspy.loyalty_promo_conversions), '(1,1)', 'one trigger, one conversion');

-- Referral codes.
SELECT matches(jobspy.referral_code('c0000000-0000-4000-8000-000000000001'), '^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$',
               'a referral code is XXXX-XXXX in the licence-key alphabet');
SELECT is(jobspy.referral_code('c0000000-0000-4000-8000-000000000001'), jobspy.referral_code('c0000000-0000-4000-8000-000000000001'),
          'one code per member');
SELECT is((SELECT count(*) FROM generate_series(1, 8) i, generate_series(0, 31) d,
                  LATERAL (SELECT replace(jobspy.referral_code('c0000000-0000-4000-8000-000000000001'), '-', '') AS c) k
            WHERE substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', d + 1, 1) <> substr(k.c, i, 1)
              AND jobspy.normalize_referral_code(overlay(k.c PLACING substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', d + 1, 1) FROM i FOR 1)) IS NOT NULL),
          0::bigint, 'every single-symbol typo is rejected by the check symbol');
SELECT is((SELECT count(*) FROM generate_series(1, 7) i,
                  LATERAL (SELECT replace(jobspy.referral_code('c0000000-0000-4000-8000-000000000001'), '-', '') AS c) k
            WHERE substr(k.c, i, 1) <> substr(k.c, i + 1, 1)
              AND jobspy.normalize_referral_code(overlay(k.c PLACING substr(k.c, i + 1, 1) || substr(k.c, i, 1) FROM i FOR 2)) IS NOT NULL),
          0::bigint, 'every swap of neighbours is rejected');
SELECT is(jobspy.normalize_referral_code(lower(jobspy.referral_code('c0000000-0000-4000-8000-000000000001'))),
          jobspy.referral_code('c0000000-0000-4000-8000-000000000001'), 'case does not matter');
SELECT ok(NOT jobspy.apply_referral(jobspy.referral_code('c0000000-0000-4000-8000-000000000001'), 'c0000000-0000-4000-8000-000000000001'), 'no self-referral');
SELECT ok(NOT jobspy.apply_referral('0000-0000', 'c0000000-0000-4000-8000-000000000003'), 'an unknown code');
SELECT ok(NOT jobspy.apply_referral(jobspy.referral_code('c0000000-0000-4000-8000-000000000001'), 'c0000000-0000-4000-8000-000000000002'),
          'a member who has bought already cannot be referred');
INSERT INTO jobspy.users (id, email) VALUES ('c0000000-0000-4000-8000-000000000005', 'o5@example.com');
SELECT ok(jobspy.apply_referral(jobspy.referral_code('c0000000-0000-4000-8000-000000000003'), 'c0000000-0000-4000-8000-000000000005'), 'o3 refers o5');
SELECT ok(jobspy.apply_referral(jobspy.referral_code('c0000000-0000-4000-8000-000000000003'), 'c0000000-0000-4000-8000-000000000005'), 'applying it again is true');
SELECT ok(NOT jobspy.apply_referral(jobspy.referral_code('c0000000-0000-4000-8000-000000000001'), 'c0000000-0000-4000-8000-000000000005'), 'a second referrer is refused');
SELECT ok(NOT jobspy.apply_referral(jobspy.referral_code('c0000000-0000-4000-8000-000000000005'), 'c0000000-0000-4000-8000-000000000003'), 'no cycles');
SELECT is((SELECT balance FROM jobspy.record_purchase('o-cafe', 'r-1', 'c0000000-0000-4000-8000-000000000005', 100, 'RUB')),
          505::bigint, 'the referee''s first purchase earns 5 and the 500-point reward');
SELECT is(jobspy.points_balance('c0000000-0000-4000-8000-000000000003'), 500::bigint, 'the referrer is rewarded');
SELECT is((SELECT balance FROM jobspy.record_purchase('o-cafe', 'r-2', 'c0000000-0000-4000-8000-000000000005', 100, 'RUB')),
          510::bigint, 'once only');

-- Prepaid credits.
SELECT isnt(jobspy.grant_credits('c0000000-0000-4000-8000-000000000001', 1000, 'USD', priority => 10, expires_at => '2031-12-01'), NULL, 'a grant');
SELECT isnt(jobspy.grant_credits('c0000000-0000-4000-8000-000000000001', 1000, 'USD', priority => 10, expires_at => '2031-06-01'), NULL, 'an earlier-expiring grant');
SELECT isnt(jobspy.grant_credits('c0000000-0000-4000-8000-000000000001', 1000, 'USD', priority => 0), NULL, 'a first-priority grant');
SELECT isnt(jobspy.grant_credits('c0000000-0000-4000-8000-000000000001', 1000, 'USD', effective_at => '2031-05-01'), NULL, 'a future grant');
SELECT is(jobspy.credit_balance('c0000000-0000-4000-8000-000000000001', 'USD'), 3000::bigint, 'the future grant is not yet spendable');
SELECT is((SELECT (allowed, balance)::text FROM jobspy.spend_credits('c0000000-0000-4000-8000-000000000001', 1500, 'USD', 'c1')), '(t,1500)', 'a spend');
SELECT is(ARRAY(SELECT format('p%s %s: %s', priority, coalesce(expires_at::date::text, 'never'), remaining)
                  FROM jobspy.credit_grants WHERE user_id = 'c0000000-0000-4000-8000-000000000001' ORDER BY priority, expires_at),
          ARRAY['p0 never: 0', 'p10 2031-06-01: 500', 'p10 2031-12-01: 1000', 'p50 never: 1000'],
          'by priority first (all of priority 0), then the earliest expiry; the future grant untouched');
SELECT is((SELECT (allowed, balance)::text FROM jobspy.spend_credits('c0000000-0000-4000-8000-000000000001', 1500, 'USD', 'c1')), '(t,1500)', 'idempotent');
SELECT throws_ok($$SELECT jobspy.spend_credits('c0000000-0000-4000-8000-000000000001', 1, 'USD', 'c1')$$, 'JS702', NULL, 'a key reused with another amount');
SELECT is((SELECT (allowed, balance)::text FROM jobspy.spend_credits('c0000000-0000-4000-8000-000000000001', 1501, 'USD', 'c2')), '(f,1500)', 'denied when short');

-- Community events.
SELECT is((SELECT jobspy.register_for_event(jobspy.create_event('Run', '2031-05-01', 1), 'c0000000-0000-4000-8000-000000000001')), true, 'a seat');
SELECT is((SELECT jobspy.register_for_event(id, 'c0000000-0000-4000-8000-000000000002') FROM jobspy.loyalty_events WHERE title = 'Run'), false, 'full');
SELECT is((SELECT jobspy.cancel_event_registration(id, 'c0000000-0000-4000-8000-000000000001') FROM jobspy.loyalty_events WHERE title = 'Run'), true, 'cancelled');
SELECT is((SELECT jobspy.register_for_event(id, 'c0000000-0000-4000-8000-000000000002') FROM jobspy.loyalty_events WHERE title = 'Run'), true, 'the seat is free again');

-- RFM.
SELECT ok((SELECT jobspy.loyalty_rfm_snapshot('2031-03-31') > 0), 'a snapshot');
SELECT is((SELECT count(*) FROM jobspy.loyalty_rfm_snapshots WHERE snapshot_date = '2031-03-31' AND segment IS NOT NULL
             AND r_score BETWEEN 1 AND 5), (SELECT count(DISTINCT (business_id, user_id)) FROM jobspy.loyalty_purchases WHERE created_at < '2031-04-01'),
          'one row per member and business that bought by the end of the day');
SELECT is(jobspy.rfm_segment(5, 5, 5), 'champions', 'the top scores are champions');
SELECT is(jobspy.rfm_segment(1, 1, 1), 'lost', 'the lowest are lost');
INSERT INTO jobspy.loyalty_rfm_snapshots
SELECT '2030-03-01', business_id, currency, user_id, 1, 1, 1, 1, 1, 1, 'lost' FROM jobspy.loyalty_purchases LIMIT 1;
SELECT is((SELECT count(*) FROM jobspy.maintain_loyalty_rfm() WHERE action IN ('computed', 'deleted')), 2::bigint,
          'maintain takes the snapshot of the day before and deletes those past 12 months');
SELECT is((SELECT count(*) FROM jobspy.maintain_loyalty_rfm()), 0::bigint, 'once a day');
SET LOCAL jobspy.clock_override = '2031-06-01 12:00:00+00';
SELECT is((SELECT object FROM jobspy.maintain_loyalty_offers()), '1 expired coupon', 'maintain archives the expired cross-promotion coupon');

SELECT * FROM finish();
ROLLBACK;
