\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- quotas: feature flags (plans and quotas come with the quotas module).

CREATE TABLE jobspy.feature_flags (
    id                 uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    name               text NOT NULL UNIQUE CHECK (name ~ '^[a-z][a-z0-9_.-]{0,99}$'),
    description        text CHECK (length(description) <= 1000),
    enabled            boolean NOT NULL DEFAULT false,
    rollout_percentage integer NOT NULL DEFAULT 0 CHECK (rollout_percentage BETWEEN 0 AND 100),
    user_criteria      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(user_criteria) = 'object'),
    license_types      text[] NOT NULL DEFAULT '{}' CHECK (array_position(license_types, NULL) IS NULL),
    created_by         uuid REFERENCES jobspy.users (id) ON DELETE SET NULL,
    created_at         timestamptz NOT NULL DEFAULT jobspy.now(),
    updated_at         timestamptz NOT NULL DEFAULT jobspy.now()
);
COMMENT ON TABLE jobspy.feature_flags IS
    'feature flags: on/off, a deterministic rollout percentage, licence types and user criteria (jsonb containment)';
CREATE TRIGGER feature_flags_updated_at BEFORE UPDATE ON jobspy.feature_flags
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
CREATE TRIGGER feature_flags_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.feature_flags
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
SELECT pg_catalog.pg_extension_config_dump('jobspy.feature_flags', '');
