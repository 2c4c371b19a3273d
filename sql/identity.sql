\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- identity: users, sessions, one-time tokens.
-- Per-user tables lead their keys with user_id (the tenancy key).

CREATE TABLE jobspy.users (
    id                 uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    email              text NOT NULL CHECK (length(email) BETWEEN 3 AND 254 AND email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
    password_hash      text CHECK (password_hash LIKE '$argon2id$%'),
    first_name         text CHECK (length(first_name) <= 100),
    last_name          text CHECK (length(last_name) <= 100),
    phone              text CHECK (phone ~ '^\+?[0-9 ()-]{3,20}$'),
    country_code       text CHECK (country_code ~ '^[A-Z]{2}$'),
    timezone           text NOT NULL DEFAULT 'UTC' CHECK (length(timezone) BETWEEN 1 AND 64),
    language           text NOT NULL DEFAULT 'en' CHECK (language ~ '^[a-z]{2}(-[A-Z]{2})?$'),
    status             text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'deleted')),
    email_verified     boolean NOT NULL DEFAULT false,
    email_verified_at  timestamptz,
    two_factor_enabled boolean NOT NULL DEFAULT false,
    last_login_at      timestamptz,
    metadata           jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    created_at         timestamptz NOT NULL DEFAULT jobspy.now(),
    updated_at         timestamptz NOT NULL DEFAULT jobspy.now(),
    CHECK (email_verified OR email_verified_at IS NULL)
);
COMMENT ON TABLE jobspy.users IS 'accounts; email unique without regard to case, password as an Argon2id PHC string';
CREATE UNIQUE INDEX users_email_key ON jobspy.users (lower(email));
CREATE INDEX users_status_idx ON jobspy.users (status) WHERE status <> 'active';
CREATE INDEX users_created_at_idx ON jobspy.users (created_at);
CREATE INDEX users_metadata_idx ON jobspy.users USING gin (metadata jsonb_path_ops);
CREATE TRIGGER users_updated_at BEFORE UPDATE ON jobspy.users
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
CREATE TRIGGER users_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.users
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
SELECT pg_catalog.pg_extension_config_dump('jobspy.users', '');

CREATE TABLE jobspy.user_sessions (
    user_id            uuid NOT NULL REFERENCES jobspy.users (id) ON DELETE CASCADE,
    id                 uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
    session_token_hash bytea NOT NULL UNIQUE CHECK (octet_length(session_token_hash) = 32),
    refresh_token_hash bytea UNIQUE CHECK (octet_length(refresh_token_hash) = 32),
    device_fingerprint text CHECK (length(device_fingerprint) <= 255),
    user_agent         text CHECK (length(user_agent) <= 1000),
    ip_address         inet,
    country_code       text CHECK (country_code ~ '^[A-Z]{2}$'),
    city               text CHECK (length(city) <= 100),
    expires_at         timestamptz NOT NULL,
    last_activity_at   timestamptz NOT NULL DEFAULT jobspy.now(),
    created_at         timestamptz NOT NULL DEFAULT jobspy.now(),
    revoked_at         timestamptz,
    revocation_reason  text CHECK (length(revocation_reason) <= 100),
    PRIMARY KEY (user_id, id),
    CHECK (expires_at > created_at)
);
COMMENT ON TABLE jobspy.user_sessions IS 'login sessions; tokens stored only as keyed hashes';
CREATE INDEX user_sessions_expires_at_idx ON jobspy.user_sessions (expires_at) WHERE revoked_at IS NULL;
SELECT pg_catalog.pg_extension_config_dump('jobspy.user_sessions', '');

CREATE TABLE jobspy.email_verification_tokens (
    user_id     uuid NOT NULL REFERENCES jobspy.users (id) ON DELETE CASCADE,
    id          uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
    token_hash  bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    email       text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT jobspy.now(),
    PRIMARY KEY (user_id, id),
    CHECK (expires_at > created_at)
);
COMMENT ON TABLE jobspy.email_verification_tokens IS 'one-time email verification tokens, stored as keyed hashes';
CREATE INDEX email_verification_tokens_expires_at_idx ON jobspy.email_verification_tokens (expires_at) WHERE used_at IS NULL;
SELECT pg_catalog.pg_extension_config_dump('jobspy.email_verification_tokens', '');

CREATE TABLE jobspy.password_reset_tokens (
    user_id     uuid NOT NULL REFERENCES jobspy.users (id) ON DELETE CASCADE,
    id          uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
    token_hash  bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT jobspy.now(),
    PRIMARY KEY (user_id, id),
    CHECK (expires_at > created_at)
);
COMMENT ON TABLE jobspy.password_reset_tokens IS 'one-time password reset tokens, stored as keyed hashes';
CREATE INDEX password_reset_tokens_expires_at_idx ON jobspy.password_reset_tokens (expires_at) WHERE used_at IS NULL;
SELECT pg_catalog.pg_extension_config_dump('jobspy.password_reset_tokens', '');
