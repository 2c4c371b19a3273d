-- With no active signing key (all retired or deleted by hand), issuing an
-- offline token raises JS205 with a hint; verification of tokens signed by a
-- key still in 'verify' state keeps working; rotation brings signing back.
BEGIN;
SELECT plan(6);

INSERT INTO jobspy.users (id, email) VALUES ('00000000-0000-4000-8000-00000000b0b0', 'sk@licensing.test');
CREATE TEMP TABLE sk AS
SELECT * FROM jobspy.issue_license('00000000-0000-4000-8000-00000000b0b0', 'pro', max_machines => 2);
CREATE TEMP TABLE tok AS SELECT jobspy.license_token(license_key, 'fp-1', '1 day') AS t FROM sk;

-- The key in use becomes a verify key, and no active key is left.
UPDATE jobspy.license_signing_keys SET state = 'verify' WHERE state = 'active';

SELECT throws_ok($$ SELECT jobspy.license_token(license_key, 'fp-1') FROM sk $$,
                 'JS205', 'there is no active licence signing key',
                 'license_token without an active key: JS205');
SELECT is((SELECT jobspy.verify_license_token(t) ->> 'code' FROM tok), 'VALID',
          'a token of a verify key still verifies');
SELECT throws_ok($$ SELECT jobspy.license_public_key() $$, 'JS205',
                 'there is no active licence signing key', 'license_public_key without an active key: JS205');

SELECT isnt(jobspy.rotate_license_signing_key(), NULL, 'rotation makes a new active key');
SELECT is((SELECT jobspy.verify_license_token(jobspy.license_token(license_key, 'fp-1')) ->> 'code' FROM sk),
          'VALID', 'tokens are signed again');
SELECT is((SELECT count(*)::int FROM jobspy.license_signing_keys WHERE state = 'active'), 1,
          'one active key');

SELECT * FROM finish();
ROLLBACK;
