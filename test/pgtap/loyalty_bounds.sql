-- Loyalty at its edges: referral chains that loop, coupon replays after
-- the coupon was archived, coupons limited to products, amounts near the
-- largest bigint (credits, refunds, RFM and the tier review in maintain()),
-- RFM scores of ties and small groups and the day a snapshot covers,
-- purchase categories in other spellings, and rules with no sane bound.
BEGIN;
SELECT plan(54);

SET LOCAL jobspy.clock_override = '2031-03-01 12:00:00+00';
INSERT INTO jobspy.users (id, email)
SELECT ('b8000000-0000-4000-8000-0000000000' || lpad(i::text, 2, '0'))::uuid, 'bound' || i || '@example.com'
  FROM generate_series(1, 12) i;
SELECT jobspy.create_business('bd-cafe', 'Bounds Cafe');
SELECT jobspy.create_business('bd-shop', 'Bounds Shop');

-- A referral chain that already loops (written behind the API's back) is
-- walked a bounded number of links: an answer, not a call that never ends.
SET LOCAL statement_timeout = '20s';
SELECT jobspy.referral_code(('b8000000-0000-4000-8000-0000000000' || lpad(i::text, 2, '0'))::uuid) FROM generate_series(1, 4) i;
UPDATE jobspy.loyalty_members SET referred_by = 'b8000000-0000-4000-8000-000000000002' WHERE user_id = 'b8000000-0000-4000-8000-000000000001';
UPDATE jobspy.loyalty_members SET referred_by = 'b8000000-0000-4000-8000-000000000003' WHERE user_id = 'b8000000-0000-4000-8000-000000000002';
UPDATE jobspy.loyalty_members SET referred_by = 'b8000000-0000-4000-8000-000000000001' WHERE user_id = 'b8000000-0000-4000-8000-000000000003';
SELECT is(jobspy.apply_referral((SELECT referral_code FROM jobspy.loyalty_members WHERE user_id = 'b8000000-0000-4000-8000-000000000001'),
                                'b8000000-0000-4000-8000-000000000004'),
          false, 'a referral into a chain that loops answers false');
SELECT is((SELECT referred_by FROM jobspy.loyalty_members WHERE user_id = 'b8000000-0000-4000-8000-000000000004'), NULL,
          'and records nothing');
UPDATE jobspy.loyalty_members SET referred_by = NULL WHERE user_id = 'b8000000-0000-4000-8000-000000000003';
SELECT is(jobspy.apply_referral((SELECT referral_code FROM jobspy.loyalty_members WHERE user_id = 'b8000000-0000-4000-8000-000000000001'),
                                'b8000000-0000-4000-8000-000000000004'),
          true, 'a chain that ends is joined');
SELECT is(jobspy.apply_referral((SELECT referral_code FROM jobspy.loyalty_members WHERE user_id = 'b8000000-0000-4000-8000-000000000004'),
                                'b8000000-0000-4000-8000-000000000003'),
          false, 'and a link that would close a loop is refused');
RESET statement_timeout;

-- A redemption replayed after its coupon expired and was archived.
SELECT jobspy.create_coupon('BD-SHORT', percent_off => 10, expires_at => '2031-03-02');
SELECT is((SELECT (allowed, code, discount)::text FROM jobspy.redeem_coupon('BD-SHORT', 'b8000000-0000-4000-8000-000000000005', 1000, 'RUB', 'bd-r1')),
          '(t,REDEEMED,100)', 'a redemption');
SET LOCAL jobspy.clock_override = '2031-03-03 12:00:00+00';
SELECT is((SELECT object FROM jobspy.maintain_loyalty_offers()), '1 expired coupon', 'the coupon expires and is archived');
SELECT is((SELECT (allowed, code, discount)::text FROM jobspy.redeem_coupon('bd-short', 'b8000000-0000-4000-8000-000000000005', 1000, 'RUB', 'bd-r1')),
          '(t,REDEEMED,100)', 'its key replayed answers as the first time');
SELECT throws_ok($$SELECT jobspy.redeem_coupon('BD-SHORT', 'b8000000-0000-4000-8000-000000000005', 999, 'RUB', 'bd-r1')$$,
                 'JS706', NULL, 'the key with another amount still raises');
SELECT jobspy.create_coupon('BD-SHORT', percent_off => 20);
SELECT is((SELECT (allowed, code, discount)::text FROM jobspy.redeem_coupon('BD-SHORT', 'b8000000-0000-4000-8000-000000000005', 1000, 'RUB', 'bd-r1')),
          '(t,REDEEMED,100)', 'also once a new coupon took the code');
SELECT is((SELECT (allowed, code, discount)::text FROM jobspy.redeem_coupon('BD-SHORT', 'b8000000-0000-4000-8000-000000000005', 1000, 'RUB', 'bd-r2')),
          '(t,REDEEMED,200)', 'a new key redeems the new coupon');
SELECT throws_ok($$SELECT jobspy.redeem_coupon('BD-OTHER', 'b8000000-0000-4000-8000-000000000005', 1000, 'RUB', 'bd-r1')$$,
                 'JS706', NULL, 'the key with another code raises');

-- Products: a NULL in the list would let every product through.
SELECT throws_ok($$SELECT jobspy.create_coupon('BD-PROD', percent_off => 10, products => ARRAY['yoga', NULL])$$,
                 '22023', NULL, 'a NULL among the products is refused');
SELECT throws_ok($$SELECT jobspy.create_coupon('BD-PROD', percent_off => 10, products => ARRAY[NULL::text])$$,
                 '22023', NULL, 'so is a list of only NULL');
SELECT is((SELECT count(*) FROM jobspy.loyalty_coupons WHERE code = 'BD-PROD'), 0::bigint, 'nothing is written');

-- Amounts near the largest bigint.
SELECT isnt(jobspy.grant_credits('b8000000-0000-4000-8000-000000000006', 9223372036854775807, 'RUB'), NULL,
            'a grant of the largest amount');
SELECT throws_ok($$SELECT jobspy.grant_credits('b8000000-0000-4000-8000-000000000006', 1, 'RUB')$$,
                 '22023', NULL, 'a grant that would pass the largest balance is refused');
SELECT isnt(jobspy.grant_credits('b8000000-0000-4000-8000-000000000006', 5, 'EUR'), NULL, 'another currency is apart');
SELECT is(jobspy.credit_balance('b8000000-0000-4000-8000-000000000006', 'RUB'), 9223372036854775807, 'the balance is read');
SELECT is((SELECT (allowed, balance)::text FROM jobspy.spend_credits('b8000000-0000-4000-8000-000000000006', 7, 'RUB', 'bd-s1')),
          '(t,9223372036854775800)', 'and spent from');
SELECT isnt(jobspy.grant_credits('b8000000-0000-4000-8000-000000000006', 7, 'RUB'), NULL, 'what was spent can be granted again');
SELECT throws_ok($$SELECT jobspy.grant_credits('b8000000-0000-4000-8000-000000000006', 5, 'RUB', reference => repeat('r', 256))$$,
                 '22023', NULL, 'a reference over 255 characters is refused');

SELECT jobspy.set_tier('bd-base', 'Base', 0, 0, 'RUB');
SELECT jobspy.record_purchase('bd-cafe', 'bd-big1', 'b8000000-0000-4000-8000-000000000007', 9223372036854775807, 'RUB');
SELECT jobspy.record_purchase('bd-cafe', 'bd-big2', 'b8000000-0000-4000-8000-000000000007', 9223372036854775807, 'RUB');
SELECT is((SELECT points_clawed > 0 FROM jobspy.refund_purchase('bd-cafe', 'bd-big1', 9223372036854775000, 'bd-rf1')), true,
          'most of the purchase refunded');
SELECT throws_ok($$SELECT jobspy.refund_purchase('bd-cafe', 'bd-big1', 9223372036854775807, 'bd-rf2')$$, 'JS704', NULL,
                 'a refund of the largest amount beyond what is left is JS704, not an overflow');
UPDATE jobspy.loyalty_members SET tier_review_at = jobspy.now() WHERE user_id = 'b8000000-0000-4000-8000-000000000007';
SET LOCAL jobspy.clock_override = '2031-03-04 12:00:00+00';
SELECT lives_ok($$SELECT jobspy.maintain()$$, 'maintain() runs over members whose purchases pass the largest bigint');
SELECT is((SELECT monetary FROM jobspy.loyalty_rfm_snapshots
            WHERE snapshot_date = '2031-03-03' AND user_id = 'b8000000-0000-4000-8000-000000000007'),
          9223372036854775807, 'their RFM monetary stays at the largest bigint');
SELECT is((SELECT count(*) FROM jobspy.loyalty_rfm_snapshots WHERE snapshot_date = '2031-03-04'), 0::bigint,
          'maintain() snapshots the day before, not today, which is not over');

-- RFM scores: ties score alike, as the first of their tie; the top of a small group scores 5.
SET LOCAL jobspy.clock_override = '2031-03-10 09:00:00+00';
SELECT jobspy.record_purchase('bd-shop', 'bd-t' || i, ('b8000000-0000-4000-8000-0000000000' || lpad(i::text, 2, '0'))::uuid,
                              CASE WHEN i = 10 THEN 900 ELSE 500 END, 'RUB')
  FROM generate_series(8, 10) i;
SELECT jobspy.record_purchase('bd-shop', 'bd-t10b', 'b8000000-0000-4000-8000-000000000010', 100, 'RUB');
SELECT jobspy.record_purchase('bd-shop', 'bd-u11', 'b8000000-0000-4000-8000-000000000011', 500, 'USD');
SET LOCAL jobspy.clock_override = '2031-03-10 20:00:00+00';
SELECT jobspy.record_purchase('bd-shop', 'bd-late', 'b8000000-0000-4000-8000-000000000012', 500, 'RUB');
SET LOCAL jobspy.clock_override = '2031-03-11 00:30:00+00';
SELECT is((SELECT object FROM jobspy.maintain_loyalty_rfm()), 'RFM snapshot of 2031-03-10: 6 rows',
          'the first maintain() of a day snapshots the day before, every purchase of it');
SELECT results_eq(
    $$SELECT right(user_id::text, 2), frequency, monetary, f_score, m_score FROM jobspy.loyalty_rfm_snapshots
       WHERE snapshot_date = '2031-03-10' AND currency = 'RUB'
         AND business_id = jobspy.loyalty_business_id('bd-shop') ORDER BY 1$$,
    $$VALUES ('08', 1, 500::bigint, 2::smallint, 2::smallint), ('09', 1, 500::bigint, 2::smallint, 2::smallint),
             ('10', 2, 1000::bigint, 5::smallint, 5::smallint), ('12', 1, 500::bigint, 2::smallint, 2::smallint)$$,
    'tied members score alike, as the first of their tie (ceil(5 / 4)); the top scores 5');
SELECT is((SELECT (r_score, f_score, m_score)::text FROM jobspy.loyalty_rfm_snapshots
            WHERE snapshot_date = '2031-03-10' AND currency = 'USD'), '(5,5,5)', 'a member alone in a group is its top');
SELECT is((SELECT array_agg(DISTINCT r_score) FROM jobspy.loyalty_rfm_snapshots
            WHERE snapshot_date = '2031-03-10' AND business_id = jobspy.loyalty_business_id('bd-shop')), ARRAY[2::smallint, 5::smallint],
          'buyers of the same day tie on recency (in days): the four in RUB all score ceil(5 / 4), the one in USD 5');

-- Categories are compared trimmed and lower-case, as multipliers are stored.
SELECT jobspy.set_category_multiplier('bd-cafe', ' Coffee', 20000);
SELECT is((SELECT category FROM jobspy.loyalty_category_multipliers m JOIN jobspy.loyalty_businesses b ON b.id = m.business_id
            WHERE b.code = 'bd-cafe'), 'coffee', 'a multiplier''s category is stored trimmed and lower-case');
SELECT is((SELECT points_earned FROM jobspy.record_purchase('bd-cafe', 'bd-c1', 'b8000000-0000-4000-8000-000000000008', 1000, 'RUB', category => 'coffee')),
          100::bigint, 'a category earns its multiplier');
SELECT is((SELECT points_earned FROM jobspy.record_purchase('bd-cafe', 'bd-c2', 'b8000000-0000-4000-8000-000000000008', 1000, 'RUB', category => ' COFFEE ')),
          100::bigint, 'written in another case and with spaces, too');
SELECT is((SELECT category FROM jobspy.loyalty_purchases WHERE external_id = 'bd-c2'), 'coffee', 'and is stored as the multiplier''s');
SELECT is((SELECT replayed FROM jobspy.record_purchase('bd-cafe', 'bd-c2', 'b8000000-0000-4000-8000-000000000008', 1000, 'RUB', category => 'Coffee')),
          true, 'a replay in any spelling is a replay');
SELECT throws_ok($$SELECT jobspy.record_purchase('bd-cafe', 'bd-c3', 'b8000000-0000-4000-8000-000000000008', 1000, 'RUB', category => '')$$,
                 '22023', NULL, 'an empty category is refused');
SELECT throws_ok($$SELECT jobspy.record_purchase('bd-cafe', 'bd-c3', 'b8000000-0000-4000-8000-000000000008', 1000, 'RUB', category => 'hot drinks')$$,
                 '22023', NULL, 'so is one no multiplier could have');

-- Rules bounded up front.
SELECT throws_ok($$SELECT jobspy.set_business_rules('bd-cafe', points_lifetime => '1000000 years')$$, '22023', NULL,
                 'a points lifetime over 100 years is refused');
SELECT throws_ok($$SELECT jobspy.set_loyalty_programme(tier_window => '1000000 years')$$, '22023', NULL,
                 'so is a tier window over 100 years');
SELECT is((SELECT points_earned FROM jobspy.record_purchase('bd-cafe', 'bd-c4', 'b8000000-0000-4000-8000-000000000008', 1000, 'RUB')),
          50::bigint, 'purchases go on earning');

-- RFM: one-time buyers who are more than a fifth of the members score 1
-- (counting the whole tie gave them all 3, and "lost" and "new" could not
-- be reached).  Six bought once long ago, four every week lately.
INSERT INTO jobspy.users (id, email)
SELECT ('b8000000-0000-4000-8000-0000000000' || i)::uuid, 'bound' || i || '@example.com' FROM generate_series(21, 30) i;
SELECT jobspy.create_business('bd-rfm', 'Bounds RFM');
SET LOCAL jobspy.clock_override = '2031-03-12 12:00:00+00';
SELECT jobspy.record_purchase('bd-rfm', 'bd-once' || i, ('b8000000-0000-4000-8000-0000000000' || i)::uuid, 1000, 'USD')
  FROM generate_series(21, 26) i;
DO $$
BEGIN
    FOR w IN 0..9 LOOP
        PERFORM set_config('jobspy.clock_override', (timestamptz '2031-04-01 12:00:00+00' + w * interval '7 days')::text, true);
        PERFORM jobspy.record_purchase('bd-rfm', 'bd-week' || i || '-' || w, ('b8000000-0000-4000-8000-0000000000' || i)::uuid, 5000, 'USD')
           FROM generate_series(27, 30) i;
    END LOOP;
END
$$;
SET LOCAL jobspy.clock_override = '2031-06-11 12:00:00+00';
SELECT jobspy.loyalty_rfm_snapshot('2031-06-10');
SELECT results_eq(
    $$SELECT DISTINCT recency_days, frequency, r_score, f_score, m_score, segment FROM jobspy.loyalty_rfm_snapshots
       WHERE snapshot_date = '2031-06-10' AND business_id = jobspy.loyalty_business_id('bd-rfm')
         AND user_id <= 'b8000000-0000-4000-8000-000000000026'$$,
    $$VALUES (90, 1, 1::smallint, 1::smallint, 1::smallint, 'lost')$$,
    'six one-time buyers of ten tie at the bottom and score 1: lost');
SELECT results_eq(
    $$SELECT DISTINCT recency_days, frequency, r_score, f_score, m_score, segment FROM jobspy.loyalty_rfm_snapshots
       WHERE snapshot_date = '2031-06-10' AND business_id = jobspy.loyalty_business_id('bd-rfm')
         AND user_id > 'b8000000-0000-4000-8000-000000000026'$$,
    $$VALUES (7, 10, 4::smallint, 4::smallint, 4::smallint, 'champions')$$,
    'the four regulars, above six, score ceil(5 * 7 / 10) = 4: champions');

-- A redemption for a user who does not exist uses up nothing.
SELECT jobspy.create_coupon('BD-ONE', percent_off => 10, max_redemptions => 1);
SELECT throws_ok($$SELECT * FROM jobspy.redeem_coupon('BD-ONE', gen_random_uuid(), 1000, 'RUB', 'ghost')$$,
                 '22023', 'unknown user', 'a coupon is not redeemed for a user who does not exist');
SELECT is((SELECT (allowed, code)::text FROM jobspy.redeem_coupon('BD-ONE', 'b8000000-0000-4000-8000-000000000011', 1000, 'RUB', 'real')),
          '(t,REDEEMED)', 'and a member still gets its one redemption');
-- Products are compared as codes are, case-insensitively: a purchase's
-- category arrives in lower case.
SELECT jobspy.create_coupon('BD-COFFEE', percent_off => 5, products => ARRAY['Coffee']);
SELECT jobspy.record_purchase('bd-cafe', 'bd-coffee-1', 'b8000000-0000-4000-8000-000000000012', 5000, 'RUB',
                              coupon => 'BD-COFFEE', category => 'Coffee');
SELECT is((SELECT x.discount FROM jobspy.loyalty_coupon_redemptions x JOIN jobspy.loyalty_coupons c ON c.id = x.coupon_id
            WHERE c.code = 'BD-COFFEE'),
          250::bigint, 'a coupon limited to Coffee applies to a purchase in category Coffee');
-- A registration is canceled only before the event starts.
SELECT jobspy.create_event('BD event', jobspy.now() + interval '1 day', 1) AS ev \gset
SELECT jobspy.register_for_event(:'ev', 'b8000000-0000-4000-8000-000000000011');
SELECT set_config('jobspy.clock_override', (jobspy.now() + interval '2 days')::text, true);
SELECT throws_ok(format('SELECT jobspy.cancel_event_registration(%L, %L)', :'ev', 'b8000000-0000-4000-8000-000000000011'),
                 '55000', NULL, 'a registration is not canceled once the event started');
SELECT throws_ok(format('SELECT jobspy.cancel_event_registration(%L, %L)', gen_random_uuid(), 'b8000000-0000-4000-8000-000000000011'),
                 '22023', NULL, 'nor for an unknown event');

-- Durations added to the clock go forward in every part: '1 mon -29 days'
-- orders as positive, yet from Feb 1 it ends on Jan 31.
SELECT throws_ok($$SELECT jobspy.set_business_rules('bd-cafe', points_lifetime => '1 mon -29 days')$$, '22023', NULL,
                 'a points lifetime going back in one of its parts is refused');
SELECT throws_ok($$SELECT jobspy.set_loyalty_programme(tier_review => '1 mon -29 days')$$, '22023', NULL,
                 'so is such a tier review period');
SELECT throws_ok($$SELECT jobspy.create_promo_chain('bd-cafe', 'bd-shop', percent_off => 5, valid_for => '1 mon -29 days')$$,
                 '22023', NULL, 'and such a promotion chain validity');
SELECT throws_ok($$SELECT jobspy.config_set('retention.audit_logs', '"1 mon -29 days"')$$, '22023', NULL,
                 'and such a configuration interval');
SELECT lives_ok($$SELECT jobspy.set_business_rules('bd-cafe', points_lifetime => '1 mon 2 days')$$,
                'a duration forward in every part is taken');
-- An RFM snapshot of a day past what a timestamp holds.
SELECT throws_ok($$SELECT jobspy.loyalty_rfm_snapshot('5874897-12-31')$$, '22023', NULL,
                 'an RFM snapshot of the last date is refused, not an overflow');
SELECT throws_ok($$SELECT jobspy.loyalty_rfm_snapshot('300000-01-01')$$, '22023', NULL,
                 'and one past the years a timestamp holds');

SELECT * FROM finish();
ROLLBACK;
