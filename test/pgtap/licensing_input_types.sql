-- validate_license takes text: a fingerprint or key of another type is
-- refused by PostgreSQL's function resolution (42883) before any work,
-- and the text forms of such values are ordinary input.
BEGIN;
SELECT plan(6);

INSERT INTO jobspy.users (id, email) VALUES ('00000000-0000-4000-8000-00000000e0e0', 'types@licensing.test');
CREATE TEMP TABLE lt AS
SELECT * FROM jobspy.issue_license('00000000-0000-4000-8000-00000000e0e0', 'pro', max_machines => 3);

SELECT throws_ok($$ SELECT * FROM jobspy.validate_license((SELECT license_key FROM lt), 42) $$,
                 '42883', NULL, 'an integer fingerprint: no such function');
SELECT throws_ok($$ SELECT * FROM jobspy.validate_license((SELECT license_key FROM lt), '\x00ff'::bytea) $$,
                 '42883', NULL, 'a bytea fingerprint: no such function');
SELECT throws_ok($$ SELECT * FROM jobspy.validate_license(12345678, 'fp') $$,
                 '42883', NULL, 'an integer key: no such function');
SELECT is((SELECT code FROM lt, jobspy.validate_license(license_key, 42::text)), 'VALID',
          'the text of a number is a fingerprint like any other');
SELECT is((SELECT code FROM lt, jobspy.validate_license(license_key, '{"hw": 1}'::jsonb::text)), 'VALID',
          'so is the text of a json value');
SELECT is((SELECT count(*)::int FROM jobspy.license_machines m JOIN lt ON lt.license_id = m.license_id), 2,
          'each became one machine');

SELECT * FROM finish();
ROLLBACK;
