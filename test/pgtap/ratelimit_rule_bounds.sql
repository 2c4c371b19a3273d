-- Rate-limit rules whose hour window the limiter cannot represent (a burst
-- that takes over 146 years to refill) are refused when written, rather than
-- skipped by check_rate_limit, which would drop the rule's day window too
-- and admit without limit.  Shared memory is not rolled back: the user and
-- rules here are this file's own.
BEGIN;
SELECT plan(9);

SET LOCAL jobspy.clock_override = '2031-05-01 00:00:00+00';
SET LOCAL jobspy.ratelimit_default_license_type = 'rb-free';

CREATE TEMP TABLE rb (id uuid);
INSERT INTO rb VALUES (gen_random_uuid());
INSERT INTO jobspy.users (id, email) SELECT id, 'rb.' || id || '@ratelimit.test' FROM rb;

-- 1 request an hour with a burst of 2,000,000: 2,000,000 hours to refill.
SELECT throws_ok($$SELECT jobspy.set_rate_limit_rule('rb-huge', '/rb/*', 'rb-free', 1, 1, 2000000)$$,
                 '23514', NULL, 'a burst that takes over 146 years to refill is refused (23514)');
SELECT throws_ok($$INSERT INTO jobspy.rate_limit_rules (name, endpoint_pattern, license_type,
                                                        requests_per_hour, requests_per_day, burst_limit)
                   VALUES ('rb-huge2', '/rb/*', 'rb-free', 1, 1, 2147483647)$$,
                 '23514', NULL, 'the table refuses it too');
SELECT is((SELECT count(*) FROM jobspy.rate_limit_rules WHERE name LIKE 'rb-huge%'), 0::bigint,
          'nothing was written');

-- The largest burst that fits is accepted and enforced: its day window of 1
-- admits one call, then refuses.
SELECT lives_ok($$SELECT jobspy.set_rate_limit_rule('rb-big', '/rb/*', 'rb-free', 1, 1, 1000000)$$,
                'a burst of 1,000,000 at 1 an hour fits and is accepted');
SELECT is((SELECT row(c.allowed, c.rule)::text FROM rb, jobspy.check_rate_limit(rb.id, '/rb/x') c),
          '(t,rb-big:day)', 'the rule applies: first call admitted by its day window');
SELECT is((SELECT row(c.allowed, c.rule)::text FROM rb, jobspy.check_rate_limit(rb.id, '/rb/x') c),
          '(f,rb-big:day)', 'second call refused by its day window');

-- Every argument is required; a NULL is 22004 with a message of its own, not
-- the table's not-null violation naming an internal relation.
SELECT throws_ok($$SELECT jobspy.set_rate_limit_rule(NULL, '/x', 'rb-free', 10, 10, 1)$$, '22004',
                 'a rate-limit rule needs every argument', 'a NULL name is refused with 22004');
SELECT throws_ok($$SELECT jobspy.set_rate_limit_rule('rb-null', '/x', 'rb-free', 10, 10, 1, NULL)$$, '22004',
                 'a rate-limit rule needs every argument', 'a NULL enabled is refused with 22004');
SELECT is(jobspy.set_rate_limit_rule('rb-twice', '/x', 'rb-free', 10, 10, 1),
          jobspy.set_rate_limit_rule('rb-twice', '/y', 'rb-free', 20, 20, 2), 'a rule set again by name keeps its id');
SELECT * FROM finish();
ROLLBACK;
