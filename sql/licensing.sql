\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- licensing: licences.  The key itself is never stored: a keyed hash finds
-- it, and a hint of its last four characters lets a person recognise it.

CREATE TABLE jobspy.licenses (
    user_id                 uuid NOT NULL REFERENCES jobspy.users (id) ON DELETE CASCADE,
    id                      uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
    license_key_hash        bytea NOT NULL UNIQUE CHECK (octet_length(license_key_hash) = 32),
    license_key_hint        text NOT NULL CHECK (license_key_hint ~ '^[0-9A-Z]{4}$'),
    license_type            text NOT NULL CHECK (license_type IN ('free', 'pro', 'enterprise')),
    status                  text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'revoked', 'expired')),
    issued_at               timestamptz NOT NULL DEFAULT jobspy.now(),
    expires_at              timestamptz,
    last_validated_at       timestamptz,
    validation_count        bigint NOT NULL DEFAULT 0 CHECK (validation_count >= 0),
    max_validations_per_day integer NOT NULL DEFAULT 1000 CHECK (max_validations_per_day > 0),
    max_machines            integer NOT NULL DEFAULT 1 CHECK (max_machines BETWEEN 1 AND 10000),
    features                jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(features) = 'array'),
    metadata                jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    created_at              timestamptz NOT NULL DEFAULT jobspy.now(),
    updated_at              timestamptz NOT NULL DEFAULT jobspy.now(),
    PRIMARY KEY (user_id, id),
    CHECK (expires_at IS NULL OR expires_at > issued_at)
);
COMMENT ON TABLE jobspy.licenses IS 'licences; the key is stored only as a keyed hash plus a four-character hint';
CREATE UNIQUE INDEX licenses_id_idx ON jobspy.licenses (id);
CREATE INDEX licenses_status_idx ON jobspy.licenses (status) WHERE status <> 'active';
CREATE INDEX licenses_expires_at_idx ON jobspy.licenses (expires_at) WHERE status = 'active' AND expires_at IS NOT NULL;
CREATE INDEX licenses_features_idx ON jobspy.licenses USING gin (features jsonb_path_ops);
CREATE TRIGGER licenses_updated_at BEFORE UPDATE ON jobspy.licenses
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
CREATE TRIGGER licenses_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.licenses
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
SELECT pg_catalog.pg_extension_config_dump('jobspy.licenses', '');
