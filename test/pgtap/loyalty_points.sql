-- Loyalty: businesses and rules, members, purchases and their replays, the
-- points ledger (FIFO spending, expiry, refunds and debt), tiers.
BEGIN;
SELECT plan(84);

SET LOCAL jobspy.clock_override = '2031-03-01 12:00:00+00';
INSERT INTO jobspy.users (id, email) VALUES
    ('b0000000-0000-4000-8000-000000000001', 'l1@example.com'),
    ('b0000000-0000-4000-8000-000000000002', 'l2@example.com'),
    ('b0000000-0000-4000-8000-000000000003', 'l3@example.com'),
    ('b0000000-0000-4000-8000-000000000004', 'l4@example.com');

-- Businesses and rules.
SELECT isnt(jobspy.create_business('cafe', 'Cafe Krug'), NULL, 'create_business returns an id');
SELECT is((SELECT (earn_bp, min_purchase, points_lifetime)::text FROM jobspy.loyalty_businesses WHERE code = 'cafe'),
          '(500,0,"365 days")', 'a new business earns 500 bp, from any amount, points living 365 days');
SELECT throws_ok($$SELECT jobspy.create_business('cafe', 'Again')$$, '23505', NULL, 'a business code is unique');
SELECT throws_ok($$SELECT jobspy.create_business('bad code', 'X')$$, '22023', NULL, 'a malformed code is refused');
SELECT throws_ok($$SELECT jobspy.create_business('shop', '')$$, '22023', NULL, 'a business needs a name');
SELECT isnt(jobspy.create_business('shop', 'Shop'), NULL, 'a second business');
SELECT lives_ok($$SELECT jobspy.set_business_rules('shop', min_purchase => 1000, points_lifetime => '30 days')$$,
                'set_business_rules sets a minimum and a lifetime');
SELECT throws_ok($$SELECT jobspy.set_business_rules('shop', earn_bp => -1)$$, '22023', NULL, 'a negative rate is refused');
SELECT throws_ok($$SELECT jobspy.set_business_rules('nowhere', earn_bp => 100)$$, '22023', NULL, 'an unknown business is refused');
SELECT lives_ok($$SELECT jobspy.set_category_multiplier('cafe', 'coffee', 20000)$$, 'a category multiplier (x2)');
SELECT throws_ok($$SELECT jobspy.set_category_multiplier('cafe', 'Bad Cat', 20000)$$, '22023', NULL, 'a malformed category is refused');

-- Members: the same member whatever the spelling of the phone.
SELECT is(jobspy.normalize_phone('+7 (912) 345-67-89'), '+79123456789', 'E.164 from an international number with punctuation');
SELECT is(jobspy.normalize_phone('8 912 345 67 89', '7'), '+79123456789', 'a Russian trunk prefix 8 with country code 7');
SELECT is(jobspy.normalize_phone('0079123456789'), '+79123456789', 'the 00 international prefix');
SELECT is(jobspy.normalize_phone('020 7946 0018', '+44'), '+442079460018', 'a trunk 0 dropped before the country code');
SELECT throws_ok($$SELECT jobspy.normalize_phone('912 345 67 89')$$, '22023', NULL, 'a national number needs a country code');
SELECT throws_ok($$SELECT jobspy.normalize_phone('+7 912 ABC')$$, '22023', NULL, 'letters are refused');
SELECT throws_ok($$SELECT jobspy.normalize_phone('+1234567890123456')$$, '22023', NULL, 'more than 15 digits are refused');
SELECT throws_ok($$SELECT jobspy.normalize_phone('12345', '0')$$, '22023', NULL, 'a country code does not start with 0');
SELECT is(jobspy.normalize_phone('8 800 1234', '7'), '+788001234', 'code 7''s trunk 8 only before the 10 digits of a number');
SELECT is(jobspy.normalize_phone('7 912 345-67-89', '7'), '+79123456789', 'a country code written without + is recognised');
SELECT is(jobspy.normalize_phone('44 20 7946 0958', '44'), '+442079460958', 'so is 44 before a UK number');
SELECT is(jobspy.normalize_phone('393 123 4567', '39'), '+393931234567', 'an Italian mobile starting 39 stays national');
SELECT is(jobspy.normalize_phone('+44 (0)20 7946 0958'), '+442079460958', 'the (0) of an international number is dropped');
SELECT is(jobspy.normalize_phone('(0)20 7946 0958', '44'), '+442079460958', 'and of a national one');
SELECT is(jobspy.normalize_phone('06 6982 1234', '39'), '+390669821234', 'Italy''s leading 0 is part of the number');
SELECT is(jobspy.normalize_phone('+39 06 6982 1234'), '+390669821234', 'also written internationally');
SELECT is(jobspy.normalize_phone('+39 (0)6 6982 1234'), '+390669821234', 'Italy''s (0) is part of the number too');
SELECT is(jobspy.normalize_phone('0039 (0)6 6982 1234'), '+390669821234', 'after the 00 prefix as well');
SELECT is(jobspy.normalize_phone('(0)6 6982 1234', '39'), '+390669821234', 'and opening a national number');
SELECT is(jobspy.normalize_phone('+378 (0)549 882 401'), '+3780549882401', 'so in San Marino');
SELECT is(jobspy.normalize_phone('+379 (0)6 6982 1234'), '+3790669821234', 'and the Vatican''s own code');
SELECT is(jobspy.normalize_phone('0044 (0)20 7946 0958'), '+442079460958', 'the (0) of other codes is still dropped');
SELECT is(jobspy.normalize_phone('+33 (0)1 42 68 53 00'), '+33142685300', 'in France too');
SELECT is(jobspy.normalize_phone('1 212 555 0123', '1'), '+12125550123', 'NANP: the 1 before 10 digits');
SELECT is(jobspy.enroll_member('b0000000-0000-4000-8000-000000000001', '+7 912 345-67-89'),
          'b0000000-0000-4000-8000-000000000001'::uuid, 'enroll_member with a phone');
SELECT is(jobspy.find_member(phone => '8 (912) 3456789', country_code => '7'),
          'b0000000-0000-4000-8000-000000000001'::uuid, 'found by the phone written another way');
SELECT is(jobspy.find_member(email => 'L1@Example.com'), 'b0000000-0000-4000-8000-000000000001'::uuid, 'found by email, any case');
SELECT is(jobspy.find_member(email => 'nobody@example.com'), NULL, 'NULL for no member');
SELECT throws_ok($$SELECT jobspy.enroll_member('b0000000-0000-4000-8000-000000000002', '0079123456789')$$, '23505', NULL,
                 'a phone belongs to one member');
SELECT throws_ok($$SELECT jobspy.enroll_member('b0000000-0000-4000-8000-0000000000ff')$$, '22023', NULL, 'an unknown user is refused');

-- Purchases: earn rate, rounding down, replays.
SELECT is((SELECT (points_earned, balance, replayed)::text FROM jobspy.record_purchase('cafe', 'c-1', 'b0000000-0000-4000-8000-000000000001', 1999, 'RUB')),
          '(99,99,f)', '5% of 1999 rounded down is 99');
SELECT is((SELECT (points_earned, balance, replayed)::text FROM jobspy.record_purchase('cafe', 'c-1', 'b0000000-0000-4000-8000-000000000001', 1999, 'RUB')),
          '(99,99,t)', 'a replay answers as the first call, replayed');
SELECT is((SELECT count(*) FROM jobspy.loyalty_ledger WHERE user_id = 'b0000000-0000-4000-8000-000000000001'), 1::bigint,
          'a replay writes nothing');
SELECT throws_ok($$SELECT * FROM jobspy.record_purchase('cafe', 'c-1', 'b0000000-0000-4000-8000-000000000001', 2000, 'RUB')$$,
                 'JS701', NULL, 'a replay with another amount raises');
SELECT throws_ok($$SELECT * FROM jobspy.record_purchase('cafe', 'c-1', 'b0000000-0000-4000-8000-000000000002', 1999, 'RUB')$$,
                 'JS701', NULL, 'a replay for another member raises');
SELECT is((SELECT points_earned FROM jobspy.record_purchase('shop', 'c-1', 'b0000000-0000-4000-8000-000000000002', 999, 'RUB')),
          0::bigint, 'the same external id at another business is another purchase; below the minimum it earns nothing');
SELECT is((SELECT points_earned FROM jobspy.record_purchase('cafe', 'c-2', 'b0000000-0000-4000-8000-000000000001', 1000, 'RUB', category => 'coffee')),
          100::bigint, 'a category multiplier doubles the rate');
SELECT throws_ok($$SELECT * FROM jobspy.record_purchase('cafe', 'c-3', 'b0000000-0000-4000-8000-000000000001', -1, 'RUB')$$,
                 '22023', NULL, 'a negative amount is refused');
SELECT throws_ok($$SELECT * FROM jobspy.record_purchase('cafe', 'c-3', 'b0000000-0000-4000-8000-000000000001', 1, 'rub')$$,
                 '22023', NULL, 'a malformed currency is refused');
SELECT throws_ok($$SELECT * FROM jobspy.record_purchase('nowhere', 'c-3', 'b0000000-0000-4000-8000-000000000001', 1, 'RUB')$$,
                 '22023', NULL, 'an unknown business is refused');
SELECT throws_ok($$SELECT * FROM jobspy.record_purchase('cafe', 'c-3', 'b0000000-0000-4000-8000-0000000000ff', 1, 'RUB')$$,
                 '22023', NULL, 'an unknown user is refused');
SELECT is((SELECT points_earned FROM jobspy.record_purchase('cafe', 'big', 'b0000000-0000-4000-8000-000000000003', 9000000000000000000, 'RUB')),
          450000000000000000::bigint, 'exact integer arithmetic near the top of bigint');

-- Spending: oldest expiry first, never below zero, idempotent.
SET LOCAL jobspy.clock_override = '2031-06-01 12:00:00+00';
SELECT is((SELECT points_earned FROM jobspy.record_purchase('cafe', 'c-4', 'b0000000-0000-4000-8000-000000000001', 2000, 'RUB')),
          100::bigint, 'a later grant');
SELECT is(jobspy.points_balance('b0000000-0000-4000-8000-000000000001'), 299::bigint, 'balance is the sum of grants');
SELECT is((SELECT (allowed, balance)::text FROM jobspy.spend_points('b0000000-0000-4000-8000-000000000001', 150, 's-1')),
          '(t,149)', 'a spend within the balance is allowed');
SELECT is(ARRAY(SELECT -points FROM jobspy.loyalty_ledger WHERE user_id = 'b0000000-0000-4000-8000-000000000001' AND kind = 'spend' ORDER BY id),
          ARRAY[99, 51]::bigint[], 'spent from the earliest-expiring grants first (99 of the first, 51 of the second)');
SELECT is((SELECT (allowed, balance)::text FROM jobspy.spend_points('b0000000-0000-4000-8000-000000000001', 150, 's-1')),
          '(t,149)', 'a replayed key returns the first answer');
SELECT throws_ok($$SELECT * FROM jobspy.spend_points('b0000000-0000-4000-8000-000000000001', 10, 's-1')$$,
                 'JS702', NULL, 'a replayed key with other points raises');
SELECT is((SELECT (allowed, balance)::text FROM jobspy.spend_points('b0000000-0000-4000-8000-000000000001', 150, 's-2')),
          '(f,149)', 'a spend beyond the balance is denied');
SELECT is(jobspy.points_balance('b0000000-0000-4000-8000-000000000001'), 149::bigint, 'a denial takes nothing');
SELECT throws_ok($$SELECT * FROM jobspy.spend_points('b0000000-0000-4000-8000-000000000001', 0, 's-3')$$, '22023', NULL, 'points must be positive');
SELECT throws_ok($$SELECT * FROM jobspy.spend_points('b0000000-0000-4000-8000-000000000001', 1, NULL)$$, '22023', NULL, 'a key is required');
SELECT throws_ok($$SELECT * FROM jobspy.spend_points('b0000000-0000-4000-8000-000000000001', 1, repeat('k', 256))$$,
                 '22023', NULL, 'a key longer than 255 characters is refused');
SELECT throws_ok($$SELECT * FROM jobspy.spend_points('b0000000-0000-4000-8000-0000000000ff', 1, 'u-1')$$,
                 '22023', 'unknown user', 'a spend by an unknown user is refused');
SELECT throws_ok($$SELECT * FROM jobspy.spend_points(NULL, 1, 'u-1')$$, '22023', 'unknown user', 'a spend by no user is refused');
SELECT is((SELECT (allowed, balance)::text FROM jobspy.spend_points('b0000000-0000-4000-8000-000000000004', 1, 'u-1')),
          '(f,0)', 'a user not yet a member spends nothing');
SELECT ok(EXISTS (SELECT FROM jobspy.loyalty_members WHERE user_id = 'b0000000-0000-4000-8000-000000000004'),
          'and is enrolled by the attempt, as by the SQL rules');

-- Expiry: exact at jobspy.now() before maintain() writes anything.
SET LOCAL jobspy.clock_override = '2032-03-01 12:00:00+00';  -- the March 2031 grants expired
SELECT is(jobspy.points_balance('b0000000-0000-4000-8000-000000000001'), 100::bigint, 'expired points leave the balance at once');
SELECT is((SELECT (allowed, balance)::text FROM jobspy.spend_points('b0000000-0000-4000-8000-000000000001', 101, 's-4')),
          '(f,100)', 'expired points are never spendable');
SELECT ok(EXISTS (SELECT FROM jobspy.maintain_loyalty() WHERE action = 'expired'), 'maintain writes the expiries');
SELECT is((SELECT -sum(points) FROM jobspy.loyalty_ledger WHERE user_id = 'b0000000-0000-4000-8000-000000000001' AND kind = 'expire'),
          49::numeric, 'the expiry rows hold what was left (49)');
SELECT is(jobspy.points_balance('b0000000-0000-4000-8000-000000000001'), 100::bigint, 'the balance is unchanged by writing them');

-- Refunds: claw back from the purchase's grant, then the balance, then debt.
SELECT is((SELECT (points_clawed, balance, debt)::text FROM jobspy.refund_purchase('cafe', 'c-4', 1000, 'r-1')),
          '(50,50,0)', 'half a refund claws back half the points');
SELECT is((SELECT (points_clawed, balance, debt)::text FROM jobspy.refund_purchase('cafe', 'c-4', 1000, 'r-1')),
          '(50,50,0)', 'a replayed refund id changes nothing');
SELECT throws_ok($$SELECT * FROM jobspy.refund_purchase('cafe', 'c-4', 1001, 'r-2')$$, 'JS704', NULL, 'refunds never exceed the purchase');
SELECT lives_ok($$SELECT jobspy.spend_points('b0000000-0000-4000-8000-000000000001', 30, 's-5')$$, 'spend some of what is left');
SELECT is((SELECT (points_clawed, balance, debt)::text FROM jobspy.refund_purchase('cafe', 'c-4', 1000, 'r-3')),
          '(50,0,30)', 'a shortfall becomes debt, never a negative balance');
SELECT is((SELECT (points_earned, balance)::text FROM jobspy.record_purchase('cafe', 'c-5', 'b0000000-0000-4000-8000-000000000001', 1000, 'RUB')),
          '(50,20)', 'later earnings settle the debt first');
SELECT is((SELECT debt FROM jobspy.loyalty_members WHERE user_id = 'b0000000-0000-4000-8000-000000000001'), 0::bigint, 'the debt is settled');
SELECT throws_ok($$UPDATE jobspy.loyalty_ledger SET points = 1$$, 'JS705', NULL, 'the ledger is append-only (update)');
SELECT throws_ok($$DELETE FROM jobspy.loyalty_ledger$$, 'JS705', NULL, 'the ledger is append-only (delete)');
SELECT is((SELECT count(*) FROM jobspy.loyalty_check()), 0::bigint, 'the maintained balances reconcile with the ledger');
UPDATE jobspy.loyalty_members SET balance = balance + 1 WHERE user_id = 'b0000000-0000-4000-8000-000000000001';
SELECT is((SELECT count(*) FROM jobspy.loyalty_check()), 1::bigint, 'a balance out of step with the ledger is reported');

SELECT * FROM finish();
ROLLBACK;
