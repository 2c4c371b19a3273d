-- validate_license maps a licence's status by its whole name: each known
-- status gives its own code, and a value outside the four (possible only
-- once the table's check is gone) is an error, never read by its first
-- letter.
BEGIN;
SELECT plan(6);

CREATE TEMP TABLE lic AS
SELECT s.status, l.license_id AS id, l.license_key AS key
  FROM unnest(ARRAY['active', 'suspended', 'revoked', 'expired']) AS s(status),
       LATERAL (SELECT jobspy.create_user('lic.status.' || s.status || '@example.com') AS u) u,
       LATERAL jobspy.issue_license(u.u, 'pro') l;
UPDATE jobspy.licenses l SET status = lic.status FROM lic WHERE l.id = lic.id;

SELECT is((SELECT code FROM lic, jobspy.validate_license(key, 'fp-1') WHERE status = 'active'), 'VALID',
          'an active licence validates');
SELECT is((SELECT code FROM lic, jobspy.validate_license(key, 'fp-1') WHERE status = 'suspended'), 'SUSPENDED',
          'suspended is SUSPENDED');
SELECT is((SELECT code FROM lic, jobspy.validate_license(key, 'fp-1') WHERE status = 'revoked'), 'REVOKED',
          'revoked is REVOKED');
SELECT is((SELECT code FROM lic, jobspy.validate_license(key, 'fp-1') WHERE status = 'expired'), 'EXPIRED',
          'expired is EXPIRED');

-- 'surrendered' and 'radioactive' begin with the letters of suspended and revoked.
ALTER TABLE jobspy.licenses DROP CONSTRAINT licenses_status_check;
UPDATE jobspy.licenses l SET status = 'radioactive' FROM lic WHERE l.id = lic.id AND lic.status = 'active';
SELECT throws_ok($$SELECT code FROM lic, jobspy.validate_license(key, 'fp-1') WHERE status = 'active'$$,
                 '22000', NULL, 'an unknown status is an error, not read by its first letter');
SELECT throws_like($$SELECT code FROM lic, jobspy.validate_license(key, 'fp-1') WHERE status = 'active'$$,
                   '%unknown status "radioactive"', 'the message names the value');

SELECT * FROM finish();
ROLLBACK;
