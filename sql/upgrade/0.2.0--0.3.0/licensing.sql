\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- 0.2.0 -> 0.3.0: licensing.  Failed validations are counted in shared
-- memory and flushed in batches to license_validation_failures; the
-- validation log keeps only a sample of them
-- (jobspy.licensing_failure_log_every).  base64url_decode, which reads
-- offline licence tokens, is C (src/base64url.c).

-- @create TABLE jobspy.license_validation_failures
CREATE INDEX license_validation_failures_day_idx ON jobspy.license_validation_failures (day);
CREATE INDEX license_validation_failures_license_idx
    ON jobspy.license_validation_failures (license_id, day) WHERE license_id IS NOT NULL;
SELECT pg_catalog.pg_extension_config_dump('jobspy.license_validation_failures', '');
REVOKE ALL ON jobspy.license_validation_failures FROM PUBLIC;
GRANT SELECT ON jobspy.license_validation_failures TO jobspy_admin;
COMMENT ON TABLE jobspy.license_validations IS
    'validation log (seed 000''s license_validations): every jobspy.licensing_failure_log_every-th failure, successes when jobspy.licensing_log_successes is on; partitioned by month';

-- @replace FUNCTION jobspy.flush_license_validations(

-- @replace FUNCTION jobspy.maintain_licensing(

-- @replace FUNCTION jobspy.base64url_decode(

-- Time-ordered ids (jobspy.uuid_v7, docs/schema.md "Ids").

ALTER TABLE jobspy.license_validations ALTER COLUMN id SET DEFAULT jobspy.uuid_v7();
