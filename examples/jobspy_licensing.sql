-- JobSpy desktop (seed 000): a pro licence for two machines, validated by
-- the desktop app at start-up, a third machine refused until one is
-- released, a suspension and its end, an offline token for a laptop
-- without network, and the per-licence API rate limit.  The product's own
-- table records which app build each machine runs.  Runs in a transaction
-- it rolls back.
BEGIN;
SET LOCAL jobspy.clock_override = '2030-03-02 08:00:00+00';
SET LOCAL TimeZone = 'UTC';
SET LOCAL DateStyle = 'ISO';

CREATE SCHEMA desktop;
CREATE TABLE desktop.installs (fingerprint text PRIMARY KEY, app_version text NOT NULL, last_code text NOT NULL);
-- The app's start-up check: validate, and remember what the machine runs.
CREATE FUNCTION desktop.start(p_key text, p_fingerprint text, p_version text) RETURNS text LANGUAGE sql AS $$
    INSERT INTO desktop.installs AS i VALUES (p_fingerprint, p_version,
           (SELECT code FROM jobspy.validate_license(p_key, p_fingerprint, p_version)))
    ON CONFLICT (fingerprint) DO UPDATE SET app_version = excluded.app_version, last_code = excluded.last_code
    RETURNING last_code
$$;

SELECT jobspy.create_user('carol@jobspy.example', 'a long password 1') IS NOT NULL AS carol;
CREATE TEMP TABLE lic ON COMMIT DROP AS
SELECT l.* FROM jobspy.users u,
       jobspy.issue_license(u.id, 'pro', '2031-03-02', max_machines => 2, features => '["export", "ai_match"]') l
 WHERE u.email = 'carol@jobspy.example';
-- The key is shown once; only its keyed hash is stored.
SELECT jobspy.license_key_is_valid(license_key) AS well_formed, length(license_key) AS length,
       (SELECT count(*) FROM jobspy.licenses x WHERE x.id = lic.license_id) AS stored
  FROM lic;

-- Two machines start; a third is refused; the laptop is released and the
-- third machine takes its seat.
SELECT desktop.start(license_key, 'laptop-7f3a', '2.4.1') AS laptop,
       desktop.start(license_key, 'desktop-19c0', '2.4.1') AS desktop,
       desktop.start(license_key, 'office-55e2', '2.4.0') AS office FROM lic;
SELECT jobspy.deactivate_machine(license_id, 'laptop-7f3a') AS released FROM lic;
SELECT desktop.start(license_key, 'office-55e2', '2.4.0') AS office_again FROM lic;
SELECT v.valid, v.code, v.license_type, v.features, v.expires_at
  FROM lic, jobspy.validate_license(lic.license_key, 'office-55e2', '2.4.0') v;

-- A typo the checksum catches, and a well-formed key that was never issued.
SELECT v.code FROM lic, jobspy.validate_license(overlay(lic.license_key placing
       CASE WHEN substr(lic.license_key, 1, 1) = 'A' THEN 'B' ELSE 'A' END from 1 for 1), 'office-55e2') v;
SELECT v.code FROM jobspy.validate_license(jobspy.generate_license_key(), 'office-55e2') v;

-- Support suspends the licence for a chargeback, then reinstates it.
SELECT jobspy.suspend_license(license_id, 'chargeback') FROM lic;
SELECT v.code FROM lic, jobspy.validate_license(lic.license_key, 'office-55e2') v;
SELECT jobspy.reinstate_license(license_id) FROM lic;
SELECT v.code FROM lic, jobspy.validate_license(lic.license_key, 'office-55e2') v;

-- Offline: a signed token for the office machine, checked without the server.
SELECT t->>'code' AS code, t#>>'{claims,typ}' AS type, t#>>'{claims,fp}' AS fingerprint, t#>'{claims,feat}' AS features,
       to_timestamp((t#>>'{claims,exp}')::bigint) AS token_expires
  FROM lic, LATERAL (SELECT jobspy.verify_license_token(jobspy.license_token(lic.license_key, 'office-55e2', '30 days')) AS t) x;

-- What the product's table saw.
SELECT fingerprint, app_version, last_code FROM desktop.installs ORDER BY fingerprint;
ROLLBACK;
