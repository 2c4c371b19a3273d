\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- ratelimit: the rules (the limiter itself lives in shared memory).

CREATE TABLE jobspy.rate_limit_rules (
    id                uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    name              text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    endpoint_pattern  text NOT NULL CHECK (length(endpoint_pattern) BETWEEN 1 AND 255),
    license_type      text NOT NULL CHECK (length(license_type) BETWEEN 1 AND 20),
    requests_per_hour integer NOT NULL CHECK (requests_per_hour > 0),
    requests_per_day  integer NOT NULL CHECK (requests_per_day > 0),
    burst_limit       integer NOT NULL CHECK (burst_limit > 0),
    enabled           boolean NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL DEFAULT jobspy.now(),
    updated_at        timestamptz NOT NULL DEFAULT jobspy.now()
);
COMMENT ON TABLE jobspy.rate_limit_rules IS
    'rate-limit rules per licence type and endpoint pattern: an hour bucket of burst_limit refilling at requests_per_hour, a day bucket of requests_per_day';
CREATE INDEX rate_limit_rules_license_type_idx ON jobspy.rate_limit_rules (license_type) WHERE enabled;
CREATE TRIGGER rate_limit_rules_updated_at BEFORE UPDATE ON jobspy.rate_limit_rules
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
CREATE TRIGGER rate_limit_rules_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.rate_limit_rules
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
SELECT pg_catalog.pg_extension_config_dump('jobspy.rate_limit_rules', '');
