-- An unlimited plan (-1) never locks a user out: an amount that could
-- overflow the counter is refused up front with 22023 (one call takes at
-- most 10^12 units there), a call that would carry the counter past the
-- bigint range too, and the error shows no internal statement.
BEGIN;
SELECT plan(12);

SET LOCAL jobspy.clock_override = '2031-07-10 12:00:00+00';
INSERT INTO jobspy.users (id, email, timezone) VALUES
    ('a0000000-0000-4000-8000-0000000000e1', 'qu1@example.com', 'UTC');
SELECT jobspy.create_plan('t_unl', 'Unlimited');
SELECT jobspy.set_plan_quota('t_unl', 'posts', 'day', -1);
SELECT jobspy.set_user_plan('a0000000-0000-4000-8000-0000000000e1', 't_unl');

-- The SQLSTATE and the CONTEXT an error reaches the caller with.
CREATE FUNCTION pg_temp.failure(sql text, OUT state text, OUT message text, OUT context text)
    LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    state := 'none';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT, context = PG_EXCEPTION_CONTEXT;
END
$$;

SELECT throws_ok($$SELECT jobspy.consume_quota('a0000000-0000-4000-8000-0000000000e1', 'posts', 9223372036854775807)$$,
                 '22023', NULL, 'the largest bigint amount is refused up front on an unlimited plan');
SELECT is((SELECT row(c.allowed, c.used, c.quota_limit, c.remaining)::text
             FROM jobspy.consume_quota('a0000000-0000-4000-8000-0000000000e1', 'posts', 1) c),
          '(t,1,,)', 'a unit is still granted after the refusal');
SELECT is((SELECT s.allowed FROM jobspy.quota_status('a0000000-0000-4000-8000-0000000000e1', 'posts') s),
          true, 'quota_status says allowed');
SELECT is((SELECT c.used FROM jobspy.consume_quota('a0000000-0000-4000-8000-0000000000e1', 'posts', 1000000000000) c),
          1000000000001::bigint, 'one call may take 10^12 units');
SELECT throws_ok($$SELECT jobspy.consume_quota('a0000000-0000-4000-8000-0000000000e1', 'posts', 1000000000001)$$,
                 '22023', NULL, 'one unit more is refused');
SELECT throws_ok($$SELECT jobspy.consume_quota('a0000000-0000-4000-8000-0000000000e1', 'posts', 9223372036854775807, 'unl-1')$$,
                 '22023', NULL, 'with an idempotency key too');
SELECT throws_ok($$SELECT jobspy.reserve_quota('a0000000-0000-4000-8000-0000000000e1', 'posts', 9223372036854775807)$$,
                 '22023', NULL, 'a reservation too');

-- A counter near the top of the range (as if it had been filled): a call
-- that would carry it past is refused, one that fits is granted.
UPDATE jobspy.quota_counters SET used = 9223372036854775800
 WHERE user_id = 'a0000000-0000-4000-8000-0000000000e1' AND metric = 'posts';
SELECT is((SELECT state FROM pg_temp.failure(
              $$SELECT jobspy.consume_quota('a0000000-0000-4000-8000-0000000000e1', 'posts', 10)$$)),
          '22023', 'an amount that would overflow the counter is refused with 22023, not 22003');
SELECT is((SELECT c.used FROM jobspy.consume_quota('a0000000-0000-4000-8000-0000000000e1', 'posts', 7) c),
          9223372036854775807::bigint, 'an amount that fits is granted');

-- What reaches the caller names no internal function or statement.
SELECT is((SELECT f.message FROM pg_temp.failure(
              $$SELECT jobspy.consume_quota('a0000000-0000-4000-8000-0000000000e1', 'posts', 9223372036854775807)$$) f),
          'amount 9223372036854775807 is more than one call may take on an unlimited plan', 'the message says what is wrong');
SELECT unalike((SELECT f.context FROM pg_temp.failure(
              $$SELECT jobspy.consume_quota('a0000000-0000-4000-8000-0000000000e1', 'posts', 9223372036854775807)$$) f),
          '%quota_take%', 'its CONTEXT names no internal helper');
SELECT unalike((SELECT f.context FROM pg_temp.failure(
              $$SELECT jobspy.consume_quota('a0000000-0000-4000-8000-0000000000e1', 'posts', 5)$$) f),
          '%quota_counters%', 'an overflow''s CONTEXT shows no internal statement');

SELECT * FROM finish();
ROLLBACK;
