-- An amount larger than what remains is denied whole, however large: the
-- check must not overflow bigint once something has been used (it raised
-- 22003 instead of answering).
BEGIN;
SELECT plan(9);

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

SELECT * FROM finish();
ROLLBACK;
