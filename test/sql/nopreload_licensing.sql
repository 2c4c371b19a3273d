-- Without shared_preload_libraries, validation (its counters live in shared
-- memory) refuses with 55000 and a hint; issuing and managing licences,
-- machines, offline-token verification and maintain() still work.
\set VERBOSITY default
INSERT INTO jobspy.users (id, email) VALUES ('00000000-0000-4000-8000-00000000a0a0', 'np@licensing.test');
CREATE TEMP TABLE np AS
SELECT * FROM jobspy.issue_license('00000000-0000-4000-8000-00000000a0a0', 'pro', max_machines => 1);
SELECT license_key ~ '^[0-9A-Z]{4}(-[0-9A-Z]{4}){3}$' AS issued FROM np;
SELECT * FROM jobspy.validate_license((SELECT license_key FROM np), 'fp');
SELECT jobspy.check_license_rate_limit((SELECT license_id FROM np), 10);
SELECT jobspy.flush_license_validations();
SELECT jobspy.license_token((SELECT license_key FROM np), 'fp');
\set VERBOSITY sqlstate
SELECT * FROM jobspy.validate_license((SELECT license_key FROM np), 'fp');
\set VERBOSITY default
SELECT jobspy.activate_machine(license_id, 'fp') IS NOT NULL AS activated FROM np;
SELECT jobspy.suspend_license(license_id) FROM np;
SELECT status FROM jobspy.licenses l JOIN np ON np.license_id = l.id;
SELECT jobspy.verify_license_token('jsl1.e30.AAAA') ->> 'code' AS token_code;
-- maintain() runs its licensing step (no flush without the library).
UPDATE jobspy.licenses l SET status = 'active', issued_at = now() - interval '2 days',
       expires_at = now() - interval '1 day'
  FROM np WHERE l.id = np.license_id;
SELECT action, object FROM jobspy.maintain() WHERE action = 'expired';
