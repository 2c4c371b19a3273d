-- The clock, the GUCs and the roles.
BEGIN;
SELECT plan(16);

SELECT is(jobspy.now(), now(), 'jobspy.now() is transaction time by default');
SET LOCAL jobspy.clock_override = '2031-02-03 04:05:06+00';
SELECT is(jobspy.now(), '2031-02-03 04:05:06+00'::timestamptz, 'clock_override fixes jobspy.now()');
SET LOCAL jobspy.clock_override = '';
SELECT is(jobspy.now(), now(), 'an empty clock_override gives the real clock back');
SELECT throws_ok($$SET jobspy.clock_override = 'next tuesday-ish'$$, '22023', NULL,
                 'a clock_override that is not a timestamp is refused');
SELECT throws_ok($$SET jobspy.clock_override = 'infinity'$$, '22023', NULL, 'an infinite clock is refused');

CREATE ROLE jobspy_test_plain NOLOGIN;
SET LOCAL ROLE jobspy_test_plain;
SELECT throws_ok($$SET jobspy.clock_override = '2030-01-01'$$, '42501', NULL,
                 'only a superuser may move the clock');
RESET ROLE;

SELECT throws_ok($$SET jobspy.actor_id = 'not-a-uuid'$$, '22023', NULL, 'actor_id must be a uuid');
SELECT throws_ok($$SET jobspy.actor_id = '0000000-00000-0000-0000-000000000000'$$, '22023', NULL,
                 'actor_id with 32 hex digits but dashes out of place is refused (uuid_in would fail later)');
SELECT throws_ok($$SET jobspy.actor_id = '00000000-0000-0000-0000-0000000000000'$$, '22023', NULL,
                 'actor_id one digit too long is refused');
SELECT lives_ok($$SET LOCAL jobspy.actor_id = '8d5a4c3e-1b2a-4f0e-9c7d-6e5f4a3b2c1d'$$, 'a uuid actor_id is taken');
SELECT throws_ok($$SET jobspy.no_such_setting = 'x'$$, '42602', NULL, 'the jobspy. prefix is reserved');

SELECT ok(EXISTS (SELECT FROM pg_roles WHERE rolname = 'jobspy_app' AND NOT rolcanlogin), 'jobspy_app exists, NOLOGIN');
SELECT ok(EXISTS (SELECT FROM pg_roles WHERE rolname = 'jobspy_analyst' AND NOT rolcanlogin), 'jobspy_analyst exists, NOLOGIN');
SELECT ok(EXISTS (SELECT FROM pg_roles WHERE rolname = 'jobspy_admin' AND NOT rolcanlogin), 'jobspy_admin exists, NOLOGIN');
SELECT is((SELECT count(*) FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
            WHERE p.pronamespace = 'jobspy'::regnamespace AND a.grantee = 0), 0::bigint,
          'PUBLIC may execute no jobspy function');
SELECT is((SELECT count(*) FROM pg_proc p
            WHERE p.pronamespace = 'jobspy'::regnamespace AND p.prosecdef
              AND NOT coalesce(p.proconfig::text[] && ARRAY['search_path=pg_catalog, pg_temp'], false)), 0::bigint,
          'every SECURITY DEFINER function pins search_path');

SELECT * FROM finish();
ROLLBACK;
