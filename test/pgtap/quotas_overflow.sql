-- An amount larger than what remains is denied whole, however large: the
-- check must not overflow bigint once something has been used (it raised
-- 22003 instead of answering).
BEGIN;
SELECT plan(13);

SET LOCAL jobspy.clock_override = '2031-06-10 12:00:00+00';
INSERT INTO jobspy.users (id, email, timezone) VALUES
    ('a0000000-0000-4000-8000-0000000000f1', 'qo1@example.com', 'UTC');
SELECT jobspy.create_plan('t_ovf', 'Overflow');
SELECT jobspy.set_plan_quota('t_ovf', 'posts', 'day', 100);
SELECT jobspy.set_user_plan('a0000000-0000-4000-8000-0000000000f1', 't_ovf');

SELECT is((SELECT row(c.allowed, c.used, c.remaining)::text
             FROM jobspy.consume_quota('a0000000-0000-4000-8000-0000000000f1', 'posts', 1) c),
          '(t,1,99)', 'one unit is granted');
-- Without a key (the C fast path, then quota_take).
SELECT is((SELECT row(c.allowed, c.used, c.remaining)::text
             FROM jobspy.consume_quota('a0000000-0000-4000-8000-0000000000f1', 'posts', 9223372036854775807) c),
          '(f,1,99)', 'the largest bigint amount is denied, not an overflow');
SELECT is((SELECT row(c.allowed, c.used, c.remaining)::text
             FROM jobspy.consume_quota('a0000000-0000-4000-8000-0000000000f1', 'posts', 9223372036854775800) c),
          '(f,1,99)', 'a near-largest amount is denied');
-- With a key (quota_take only).
SELECT is((SELECT row(c.allowed, c.used, c.remaining)::text
             FROM jobspy.consume_quota('a0000000-0000-4000-8000-0000000000f1', 'posts', 9223372036854775807, 'ovf-1') c),
          '(f,1,99)', 'with an idempotency key: denied too');
-- With a cost (the six-argument form).
SELECT is((SELECT row(c.allowed, c.used, c.remaining)::text
             FROM jobspy.consume_quota('a0000000-0000-4000-8000-0000000000f1', 'posts', 9223372036854775807, NULL, 1.5) c),
          '(f,1,99)', 'with a cost: denied too');
-- A reservation.
SELECT is((SELECT row(r.reservation_id IS NULL, r.allowed, r.used, r.remaining)::text
             FROM jobspy.reserve_quota('a0000000-0000-4000-8000-0000000000f1', 'posts', 9223372036854775807) r),
          '(t,f,1,99)', 'reserve_quota of the largest amount is denied');
SELECT is((SELECT row(r.reservation_id IS NULL, r.allowed, r.used, r.remaining)::text
             FROM jobspy.reserve_quota('a0000000-0000-4000-8000-0000000000f1', 'posts', 10) r),
          '(f,t,1,89)', 'a reservation that fits is held');
SELECT is((SELECT row(c.allowed, c.used, c.remaining)::text
             FROM jobspy.consume_quota('a0000000-0000-4000-8000-0000000000f1', 'posts', 9223372036854775807) c),
          '(f,1,89)', 'with something reserved: still denied');
SELECT is((SELECT row(c.used, c.reserved)::text FROM jobspy.quota_counters c
            WHERE c.user_id = 'a0000000-0000-4000-8000-0000000000f1' AND c.metric = 'posts'),
          '(1,10)', 'the denials consumed nothing');

-- Settling records the actual amount even past the limit, but never past
-- the largest bigint (it raised 22003 from inside its UPDATE).
CREATE TEMP TABLE ovf_held AS
SELECT r.reservation_id AS id
  FROM jobspy.reserve_quota('a0000000-0000-4000-8000-0000000000f1', 'posts', 5) r;
SELECT throws_ok($$SELECT jobspy.settle_reservation((SELECT id FROM ovf_held), 9223372036854775797)$$,
                 '22023', 'actual_amount 9223372036854775797 would take the counter past the largest bigint',
                 'settling with one more than fits is refused with 22023, not an overflow');
SELECT is((SELECT row(c.used, c.reserved)::text FROM jobspy.quota_counters c
            WHERE c.user_id = 'a0000000-0000-4000-8000-0000000000f1' AND c.metric = 'posts'),
          '(1,15)', 'and nothing was settled');
SELECT is((SELECT row(s.allowed, s.used, s.remaining)::text
             FROM jobspy.settle_reservation((SELECT id FROM ovf_held), 9223372036854775796) s),
          '(f,9223372036854775797,0)', 'the most that fits beside the other reservation is recorded');
SELECT is((SELECT row(c.used, c.reserved)::text FROM jobspy.quota_counters c
            WHERE c.user_id = 'a0000000-0000-4000-8000-0000000000f1' AND c.metric = 'posts'),
          '(9223372036854775797,10)', 'used and reserved sum to the largest bigint');

SELECT * FROM finish();
ROLLBACK;
