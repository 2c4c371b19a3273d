-- One rule for the user's licence, and one for the plan in force: the rate
-- limiter and quotas (its C lookup and its SQL face) pick the same licence,
-- by the tier ranks in jobspy.license_tiers, then the latest issued, then
-- the smallest id.  Shared memory is not rolled back: the users are new.
BEGIN;
SELECT plan(16);

SET LOCAL jobspy.clock_override = '2032-03-01 00:00:00+00';
SET LOCAL jobspy.ratelimit_default_license_type = 'free';

CREATE TEMP TABLE u (name text PRIMARY KEY, id uuid);
INSERT INTO u VALUES ('mixed', gen_random_uuid()), ('ties', gen_random_uuid()),
                     ('ranked', gen_random_uuid()), ('none', gen_random_uuid());
INSERT INTO jobspy.users (id, email) SELECT id, name || '.' || id || '@licence-rule.test' FROM u;
-- mixed: a pro licence issued before a free one, and an enterprise one that
-- has expired.  ties: two pro licences issued at the same time.
INSERT INTO jobspy.licenses (id, user_id, license_key_hash, license_key_hint, license_type, issued_at, expires_at)
SELECT l.id, u.id, decode(md5(u.name || l.hint) || md5(l.hint || u.name), 'hex'), l.hint, l.t, l.issued, l.expires
  FROM u JOIN (VALUES ('mixed', 'b1000000-0000-4000-8000-000000000001'::uuid, 'MPRO', 'pro', '2032-01-01'::timestamptz, NULL::timestamptz),
                      ('mixed', 'b1000000-0000-4000-8000-000000000002', 'MFRE', 'free', '2032-02-01', NULL),
                      ('mixed', 'b1000000-0000-4000-8000-000000000003', 'MENT', 'enterprise', '2031-01-01', '2032-02-15'),
                      ('ties', 'b1000000-0000-4000-8000-000000000005', 'TIE2', 'pro', '2032-01-01', NULL),
                      ('ties', 'b1000000-0000-4000-8000-000000000004', 'TIE1', 'pro', '2032-01-01', NULL),
                      ('ranked', 'b1000000-0000-4000-8000-000000000006', 'RPRO', 'pro', '2032-01-01', NULL),
                      ('ranked', 'b1000000-0000-4000-8000-000000000007', 'RFRE', 'free', '2032-02-01', NULL))
                AS l(u, id, hint, t, issued, expires)
    ON l.u = u.name;

SELECT jobspy.create_plan('free', 'Free');
SELECT jobspy.create_plan('pro', 'Pro');
SELECT jobspy.set_plan_quota('free', 'calls', 'day', 10);
SELECT jobspy.set_plan_quota('pro', 'calls', 'day', 100);
SELECT jobspy.set_rate_limit_rule('lr-free', '/licence-rule/*', 'free', 10, 20, 2);
SELECT jobspy.set_rate_limit_rule('lr-pro', '/licence-rule/*', 'pro', 100, 200, 5);

CREATE FUNCTION pg_temp.uid(who text) RETURNS uuid LANGUAGE sql AS $$ SELECT id FROM u WHERE name = who $$;
-- What each path says about a user: the licence rule itself, the rate
-- limiter's rule, quotas' SQL plan and quotas' C lookup.
CREATE FUNCTION pg_temp.licence(who text) RETURNS text LANGUAGE sql AS $$
    SELECT l.license_type || ':' || l.license_id FROM jobspy.user_license(pg_temp.uid(who), jobspy.now()) l $$;
CREATE FUNCTION pg_temp.limiter(who text) RETURNS text LANGUAGE sql AS $$
    SELECT split_part(c.rule, ':', 1) FROM jobspy.check_rate_limit(pg_temp.uid(who), '/licence-rule/x', 0) c $$;
CREATE FUNCTION pg_temp.sql_plan(who text) RETURNS text LANGUAGE sql AS $$
    SELECT plan_code FROM jobspy.plan_in_force(pg_temp.uid(who)) $$;
CREATE FUNCTION pg_temp.c_plan(who text) RETURNS text LANGUAGE sql AS $$
    SELECT p.code FROM jobspy.plans p
     WHERE p.id = (jobspy.quota_lookup(pg_temp.uid(who), 'calls', jobspy.now())).plan_id $$;

SELECT is(pg_temp.licence('mixed'), 'pro:b1000000-0000-4000-8000-000000000001',
          'the highest tier wins over a later-issued lower one; an expired licence does not count');
SELECT is(pg_temp.limiter('mixed'), 'lr-pro', 'the rate limiter applies that licence''s rules');
SELECT is(pg_temp.sql_plan('mixed'), 'pro', 'quotas (SQL) take the plan that licence names');
SELECT is(pg_temp.c_plan('mixed'), 'pro', 'quotas (C lookup) agree');
SELECT is((SELECT source FROM jobspy.plan_in_force(pg_temp.uid('mixed'))), 'license', 'and say where it came from');

SELECT is(pg_temp.licence('ties'), 'pro:b1000000-0000-4000-8000-000000000004',
          'same tier, same issue time: the smallest id');

-- Ranks are data: make free outrank pro and every path follows.
UPDATE jobspy.license_tiers SET tier_rank = 10 WHERE license_type = 'free';
SELECT is(pg_temp.licence('ranked'), 'free:b1000000-0000-4000-8000-000000000007',
          'a new rank in license_tiers changes the user''s licence');
SELECT is(pg_temp.limiter('ranked'), 'lr-free', 'the rate limiter follows');
SELECT is(pg_temp.sql_plan('ranked'), 'free', 'quotas (SQL) follow');
SELECT is(pg_temp.c_plan('ranked'), 'free', 'quotas (C lookup) follow');
DELETE FROM jobspy.license_tiers WHERE license_type = 'free';
SELECT is(pg_temp.licence('ranked'), 'pro:b1000000-0000-4000-8000-000000000006',
          'a type missing from license_tiers ranks below every listed one');

SELECT is(pg_temp.licence('none'), NULL, 'no licence: NULL');
SELECT is(pg_temp.limiter('none'), 'lr-free', 'the limiter then applies the default type''s rules');
SELECT is(pg_temp.sql_plan('none'), NULL, 'and quotas have no plan');

SELECT is((SELECT count(*) FROM jobspy.license_tiers), 2::bigint, 'the shipped ranks are rows of license_tiers');
SELECT throws_ok($$INSERT INTO jobspy.license_tiers VALUES ('x', 0)$$, '23514', NULL, 'a rank is positive');

SELECT * FROM finish();
ROLLBACK;
