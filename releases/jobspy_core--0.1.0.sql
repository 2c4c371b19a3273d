-- jobspy_core 0.1.0: released install script, frozen. Later versions are reached through upgrade scripts.
\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit

-- ==== sql/core.sql
-- core: the clock and the library's state.

COMMENT ON SCHEMA jobspy IS 'jobspy_core: business rules of a subscription software product';

CREATE FUNCTION jobspy.now() RETURNS timestamptz
    LANGUAGE c STABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_now_sql';
COMMENT ON FUNCTION jobspy.now() IS
    'the time jobspy_core''s rules see: transaction time, or jobspy.clock_override when set';

CREATE FUNCTION jobspy.library_preloaded() RETURNS boolean
    LANGUAGE c STABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_preloaded_sql';
COMMENT ON FUNCTION jobspy.library_preloaded() IS
    'true when jobspy_core was loaded through shared_preload_libraries';

-- ==== sql/keys.sql
-- keys: licence keys, random tokens, keyed hashing of secrets.

CREATE FUNCTION jobspy.generate_license_key() RETURNS text
    LANGUAGE c VOLATILE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_generate_license_key';
COMMENT ON FUNCTION jobspy.generate_license_key() IS
    'a new licence key XXXX-XXXX-XXXX-XXXX: 70 random bits from libsodium and a checksum';

CREATE FUNCTION jobspy.license_key_is_valid(text) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_license_key_is_valid';
COMMENT ON FUNCTION jobspy.license_key_is_valid(text) IS
    'true when the text is a well-formed licence key with a correct checksum (no lookup); case, spaces, dashes and look-alike letters are forgiven';

CREATE FUNCTION jobspy.normalize_license_key(text) RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_normalize_license_key';
COMMENT ON FUNCTION jobspy.normalize_license_key(text) IS
    'the canonical form XXXX-XXXX-XXXX-XXXX of a licence key, or NULL when it is not valid';

CREATE FUNCTION jobspy.random_token(nbytes integer DEFAULT 32) RETURNS text
    LANGUAGE c VOLATILE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_random_token';
COMMENT ON FUNCTION jobspy.random_token(integer) IS
    'nbytes (16 to 64) random bytes from libsodium, base64url without padding';

CREATE FUNCTION jobspy.random_bytes(integer) RETURNS bytea
    LANGUAGE c VOLATILE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_random_bytes';
COMMENT ON FUNCTION jobspy.random_bytes(integer) IS
    'n (1 to 1024) random bytes from libsodium';

-- The keys of the keyed hash.  Readable by the extension owner only; the
-- C code reads it directly.  key_id is random so that a restored key never
-- collides with the one CREATE EXTENSION made before the data came back.
CREATE TABLE jobspy.hash_keys (
    key_id      integer PRIMARY KEY
                DEFAULT (('x' || encode(jobspy.random_bytes(4), 'hex'))::bit(32)::integer),
    secret      bytea NOT NULL CHECK (octet_length(secret) = 32),
    state       text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'verify', 'retired')),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    retired_at  timestamptz,
    CHECK ((state = 'retired') = (retired_at IS NOT NULL))
);
COMMENT ON TABLE jobspy.hash_keys IS
    'keys of the keyed hash (BLAKE2b) under which secrets are stored; the earliest active key hashes, verify keys still match';
REVOKE ALL ON jobspy.hash_keys FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('jobspy.hash_keys', '');

INSERT INTO jobspy.hash_keys (secret) VALUES (jobspy.random_bytes(32));

CREATE FUNCTION jobspy.hash_keys_changed() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'jobspy_hash_keys_changed';
COMMENT ON FUNCTION jobspy.hash_keys_changed() IS
    'trigger: every backend forgets its cached hash keys when jobspy.hash_keys changes';
CREATE TRIGGER hash_keys_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON jobspy.hash_keys
    FOR EACH STATEMENT EXECUTE FUNCTION jobspy.hash_keys_changed();

CREATE FUNCTION jobspy.secret_hash(purpose text, secret text) RETURNS bytea
    LANGUAGE c STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_secret_hash';
COMMENT ON FUNCTION jobspy.secret_hash(text, text) IS
    'keyed hash of a secret for a purpose, under the active hash key';

CREATE FUNCTION jobspy.secret_hash_candidates(purpose text, secret text) RETURNS bytea[]
    LANGUAGE c STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_secret_hash_candidates';
COMMENT ON FUNCTION jobspy.secret_hash_candidates(text, text) IS
    'keyed hashes of a secret under every live key, active first: what a lookup must try';

REVOKE ALL ON FUNCTION jobspy.secret_hash(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION jobspy.secret_hash_candidates(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION jobspy.random_bytes(integer) FROM PUBLIC;

-- Rotation: a new active key for new secrets; the old active key keeps
-- verifying what it hashed until retire_hash_key() is called for it.
CREATE FUNCTION jobspy.rotate_hash_key() RETURNS integer
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    new_id integer;
BEGIN
    LOCK TABLE jobspy.hash_keys IN SHARE ROW EXCLUSIVE MODE;
    -- The earliest active key is the one in use; later active ones were
    -- never used (left by a restore) and can go.
    DELETE FROM jobspy.hash_keys
     WHERE state = 'active'
       AND key_id <> (SELECT key_id FROM jobspy.hash_keys WHERE state = 'active'
                       ORDER BY created_at LIMIT 1);
    UPDATE jobspy.hash_keys SET state = 'verify' WHERE state = 'active';
    INSERT INTO jobspy.hash_keys (secret) VALUES (jobspy.random_bytes(32))
    RETURNING key_id INTO new_id;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION jobspy.rotate_hash_key() IS
    'makes a new hash key active; the previous key keeps verifying (state verify) until retired';
REVOKE ALL ON FUNCTION jobspy.rotate_hash_key() FROM PUBLIC;

CREATE FUNCTION jobspy.retire_hash_key(key_id integer) RETURNS void
    LANGUAGE plpgsql VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    UPDATE jobspy.hash_keys k SET state = 'retired', retired_at = pg_catalog.clock_timestamp()
     WHERE k.key_id = retire_hash_key.key_id AND k.state = 'verify';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'hash key % is not a verify key', retire_hash_key.key_id
            USING ERRCODE = '55000',
                  HINT = 'Only a key replaced by rotate_hash_key() can be retired; the active key cannot.';
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.retire_hash_key(integer) IS
    'stops a replaced hash key from verifying: secrets hashed under it stop matching';
REVOKE ALL ON FUNCTION jobspy.retire_hash_key(integer) FROM PUBLIC;

-- ==== sql/audit.sql
-- audit: the updated_at trigger, the audit trigger and the audit log.

CREATE FUNCTION jobspy.set_updated_at() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'jobspy_set_updated_at';
COMMENT ON FUNCTION jobspy.set_updated_at() IS
    'BEFORE UPDATE trigger: sets updated_at to jobspy.now()';

-- SECURITY DEFINER so that the log is written whoever changes the row,
-- while nobody but the owner can write the log directly.
CREATE FUNCTION jobspy.audit_trigger() RETURNS trigger
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'jobspy_audit_trigger';
COMMENT ON FUNCTION jobspy.audit_trigger() IS
    'AFTER row trigger: writes the change to jobspy.audit_logs; arguments name extra secret columns to leave out (columns ending in _hash always are)';

-- Partitioned by month on created_at; the key includes the partition key,
-- and the default partition takes any row no monthly partition covers yet.
-- No foreign key on actor_id: the log outlives the users it names.
CREATE TABLE jobspy.audit_logs (
    id            uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
    actor_id      uuid,
    action        text NOT NULL CHECK (action IN ('INSERT', 'UPDATE', 'DELETE') OR action ~ '^[a-z][a-z0-9_.]{0,99}$'),
    resource_type text NOT NULL CHECK (length(resource_type) BETWEEN 1 AND 63),
    resource_id   text CHECK (length(resource_id) <= 255),
    old_values    jsonb,
    new_values    jsonb,
    ip_address    inet,
    user_agent    text CHECK (length(user_agent) <= 1000),
    created_at    timestamptz NOT NULL DEFAULT jobspy.now(),
    PRIMARY KEY (created_at, id)
) PARTITION BY RANGE (created_at);
COMMENT ON TABLE jobspy.audit_logs IS
    'who changed what and when: one row per audited change, partitioned by month';
CREATE TABLE jobspy.audit_logs_default PARTITION OF jobspy.audit_logs DEFAULT;
CREATE INDEX audit_logs_resource_idx ON jobspy.audit_logs (resource_type, resource_id, created_at);
CREATE INDEX audit_logs_actor_idx ON jobspy.audit_logs (actor_id, created_at) WHERE actor_id IS NOT NULL;
SELECT pg_catalog.pg_extension_config_dump('jobspy.audit_logs_default', '');

-- ==== sql/identity.sql
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

-- ==== sql/licensing.sql
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

-- ==== sql/billing.sql
-- billing: subscriptions and payments.  Amounts are integers in minor units.

CREATE TABLE jobspy.subscriptions (
    user_id                uuid NOT NULL REFERENCES jobspy.users (id) ON DELETE CASCADE,
    id                     uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
    stripe_subscription_id text UNIQUE CHECK (length(stripe_subscription_id) BETWEEN 1 AND 255),
    stripe_customer_id     text CHECK (length(stripe_customer_id) BETWEEN 1 AND 255),
    plan_type              text NOT NULL CHECK (plan_type IN ('basic', 'professional', 'enterprise')),
    plan_interval          text CHECK (plan_interval IN ('month', 'year')),
    status                 text NOT NULL CHECK (status IN ('active', 'past_due', 'canceled', 'unpaid', 'trialing')),
    current_period_start   timestamptz,
    current_period_end     timestamptz,
    trial_start            timestamptz,
    trial_end              timestamptz,
    cancel_at_period_end   boolean NOT NULL DEFAULT false,
    canceled_at            timestamptz,
    billing_cycle_anchor   timestamptz,
    price_amount           bigint CHECK (price_amount >= 0),
    price_currency         text NOT NULL DEFAULT 'USD' CHECK (price_currency ~ '^[A-Z]{3}$'),
    discount_percentage    integer NOT NULL DEFAULT 0 CHECK (discount_percentage BETWEEN 0 AND 100),
    metadata               jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    created_at             timestamptz NOT NULL DEFAULT jobspy.now(),
    updated_at             timestamptz NOT NULL DEFAULT jobspy.now(),
    PRIMARY KEY (user_id, id),
    CHECK (current_period_end > current_period_start),
    CHECK (trial_end >= trial_start),
    CHECK (status <> 'canceled' OR canceled_at IS NOT NULL)
);
COMMENT ON TABLE jobspy.subscriptions IS 'recurring subscriptions; at most one live (active, trialing or past_due) per user';
CREATE UNIQUE INDEX subscriptions_id_idx ON jobspy.subscriptions (id);
CREATE UNIQUE INDEX subscriptions_one_live_idx ON jobspy.subscriptions (user_id)
    WHERE status IN ('active', 'trialing', 'past_due');
CREATE INDEX subscriptions_stripe_customer_idx ON jobspy.subscriptions (stripe_customer_id) WHERE stripe_customer_id IS NOT NULL;
CREATE INDEX subscriptions_period_end_idx ON jobspy.subscriptions (current_period_end) WHERE status IN ('active', 'trialing', 'past_due');
CREATE TRIGGER subscriptions_updated_at BEFORE UPDATE ON jobspy.subscriptions
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
CREATE TRIGGER subscriptions_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.subscriptions
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
SELECT pg_catalog.pg_extension_config_dump('jobspy.subscriptions', '');

CREATE TABLE jobspy.payments (
    user_id                  uuid NOT NULL REFERENCES jobspy.users (id) ON DELETE CASCADE,
    id                       uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
    subscription_id          uuid,
    stripe_payment_intent_id text UNIQUE CHECK (length(stripe_payment_intent_id) BETWEEN 1 AND 255),
    stripe_charge_id         text CHECK (length(stripe_charge_id) BETWEEN 1 AND 255),
    amount_cents             bigint NOT NULL CHECK (amount_cents >= 0),
    currency                 text NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
    status                   text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'canceled', 'refunded')),
    payment_method_type      text CHECK (length(payment_method_type) <= 50),
    payment_method_last4     text CHECK (payment_method_last4 ~ '^[0-9]{4}$'),
    payment_method_brand     text CHECK (length(payment_method_brand) <= 20),
    failure_code             text CHECK (length(failure_code) <= 50),
    failure_message          text CHECK (length(failure_message) <= 1000),
    description              text CHECK (length(description) <= 1000),
    receipt_email            text CHECK (length(receipt_email) <= 254),
    receipt_url              text CHECK (length(receipt_url) <= 2000),
    refunded_amount_cents    bigint NOT NULL DEFAULT 0 CHECK (refunded_amount_cents >= 0),
    metadata                 jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    created_at               timestamptz NOT NULL DEFAULT jobspy.now(),
    updated_at               timestamptz NOT NULL DEFAULT jobspy.now(),
    PRIMARY KEY (user_id, id),
    FOREIGN KEY (user_id, subscription_id) REFERENCES jobspy.subscriptions (user_id, id),
    CHECK (refunded_amount_cents <= amount_cents),
    CHECK (status <> 'refunded' OR refunded_amount_cents > 0)
);
COMMENT ON TABLE jobspy.payments IS 'payment attempts and their outcome; amounts in minor units';
CREATE UNIQUE INDEX payments_id_idx ON jobspy.payments (id);
CREATE INDEX payments_subscription_idx ON jobspy.payments (user_id, subscription_id) WHERE subscription_id IS NOT NULL;
CREATE INDEX payments_created_at_idx ON jobspy.payments (created_at) WHERE status = 'succeeded';
CREATE TRIGGER payments_updated_at BEFORE UPDATE ON jobspy.payments
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
CREATE TRIGGER payments_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.payments
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
SELECT pg_catalog.pg_extension_config_dump('jobspy.payments', '');

-- ==== sql/ratelimit.sql
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

-- ==== sql/quotas.sql
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

-- ==== sql/ops.sql
-- ops: system configuration, partitions, retention, maintenance.

-- Built-in defaults live apart from the values a DBA sets, so that pg_dump
-- keeps exactly the values set and a restore never collides with defaults.
CREATE TABLE jobspy.config_defaults (
    key         text PRIMARY KEY,
    value       jsonb NOT NULL,
    description text NOT NULL
);
COMMENT ON TABLE jobspy.config_defaults IS 'built-in configuration values; system_config overrides them';
INSERT INTO jobspy.config_defaults (key, value, description) VALUES
    ('partitions.premake_months', '3',            'monthly partitions maintain() keeps ready ahead of the current month'),
    ('retention.api_usage',       '"13 months"',  'how long api_usage rows are kept; null keeps them forever'),
    ('retention.audit_logs',      '"7 years"',    'how long audit_logs rows are kept; null keeps them forever'),
    ('retention.mode',            '"drop"',       'what maintain() does with a partition past retention: "drop" or "detach"');

CREATE TABLE jobspy.system_config (
    key         text PRIMARY KEY CHECK (key ~ '^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$' AND length(key) <= 100),
    value       jsonb NOT NULL,
    description text CHECK (length(description) <= 1000),
    updated_at  timestamptz NOT NULL DEFAULT jobspy.now(),
    updated_by  uuid REFERENCES jobspy.users (id) ON DELETE SET NULL
);
COMMENT ON TABLE jobspy.system_config IS 'configuration set by the operator; config_get() falls back to config_defaults';
CREATE TRIGGER system_config_updated_at BEFORE UPDATE ON jobspy.system_config
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
CREATE TRIGGER system_config_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.system_config
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
SELECT pg_catalog.pg_extension_config_dump('jobspy.system_config', '');

CREATE FUNCTION jobspy.config_get(key text) RETURNS jsonb
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT coalesce((SELECT c.value FROM jobspy.system_config c WHERE c.key = $1),
                    (SELECT d.value FROM jobspy.config_defaults d WHERE d.key = $1))
$$;
COMMENT ON FUNCTION jobspy.config_get(text) IS
    'a configuration value: the one set with config_set, else the built-in default, else NULL';

-- Checks a value against what the key means; raises 22023 when it is wrong.
CREATE FUNCTION jobspy.config_check(key text, value jsonb) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF key LIKE 'retention.%' AND key <> 'retention.mode' THEN
        IF jsonb_typeof(value) = 'null' THEN
            RETURN;
        END IF;
        IF jsonb_typeof(value) <> 'string' THEN
            RAISE EXCEPTION 'configuration % must be an interval string or null', key
                USING ERRCODE = '22023', HINT = 'For example ''"13 months"''::jsonb.';
        END IF;
        BEGIN
            IF (value #>> '{}')::interval <= interval '0' THEN
                RAISE EXCEPTION 'configuration % must be a positive interval', key
                    USING ERRCODE = '22023';
            END IF;
        EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR interval_field_overflow THEN
            RAISE EXCEPTION 'configuration % must be an interval string or null', key
                USING ERRCODE = '22023', DETAIL = format('%s is not an interval.', value);
        END;
    ELSIF key = 'retention.mode' AND value NOT IN ('"drop"', '"detach"') THEN
        RAISE EXCEPTION 'configuration retention.mode must be "drop" or "detach"'
            USING ERRCODE = '22023';
    ELSIF key = 'partitions.premake_months'
          AND (jsonb_typeof(value) <> 'number' OR value::numeric NOT BETWEEN 0 AND 120
               OR value::numeric <> trunc(value::numeric)) THEN
        RAISE EXCEPTION 'configuration partitions.premake_months must be a whole number from 0 to 120'
            USING ERRCODE = '22023';
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.config_check(text, jsonb) IS
    'raises 22023 when a value does not suit its configuration key';

CREATE FUNCTION jobspy.config_set(key text, value jsonb) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF key IS NULL OR value IS NULL THEN
        RAISE EXCEPTION 'configuration key and value must not be NULL'
            USING ERRCODE = '22023', HINT = 'To store JSON null, pass ''null''::jsonb.';
    END IF;
    IF key !~ '^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$' OR length(key) > 100 THEN
        RAISE EXCEPTION 'invalid configuration key "%"', left(key, 100)
            USING ERRCODE = '22023',
                  DETAIL = 'A key is lower-case words of letters, digits and underscores joined by dots, at most 100 characters.';
    END IF;
    PERFORM jobspy.config_check(key, value);
    INSERT INTO jobspy.system_config AS c (key, value, updated_by)
    VALUES (key, value, nullif(current_setting('jobspy.actor_id', true), '')::uuid)
    ON CONFLICT ON CONSTRAINT system_config_pkey
    DO UPDATE SET value = excluded.value, updated_by = excluded.updated_by;
END
$$;
COMMENT ON FUNCTION jobspy.config_set(text, jsonb) IS
    'sets a configuration value (audited); known keys are checked';

-- Partition arithmetic runs with TimeZone = UTC (set on each function), so
-- months are UTC months whatever the session's zone.
-- One monthly partition [month, month + 1 month) in UTC, named
-- <table>_pYYYY_MM.  Rows already in the default partition for that month
-- move into it, so that no insert ever needed the partition to exist.
CREATE FUNCTION jobspy.create_month_partition(parent regclass, month timestamptz)
    RETURNS text
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    SET TimeZone = 'UTC'
    SET DateStyle = 'ISO'
    AS $$
DECLARE
    parent_name text := (SELECT relname FROM pg_class WHERE oid = parent);
    col         text := (SELECT a.attname FROM pg_partitioned_table p
                           JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
                          WHERE p.partrelid = parent);
    lo          timestamptz := date_trunc('month', month, 'UTC');
    hi          timestamptz := date_trunc('month', month, 'UTC') + interval '1 month';
    name        text := format('%s_p%s', parent_name, to_char(lo AT TIME ZONE 'UTC', 'YYYY_MM'));
    dflt        regclass := to_regclass(format('jobspy.%I', parent_name || '_default'));
    moved       bigint := 0;
BEGIN
    IF to_regclass(format('jobspy.%I', name)) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    IF dflt IS NOT NULL THEN
        -- Inserts routed to the default partition wait while rows move.
        EXECUTE format('LOCK TABLE %s IN EXCLUSIVE MODE', dflt);
        EXECUTE format('SELECT count(*) FROM %s WHERE %I >= $1 AND %I < $2', dflt, col, col)
           INTO moved USING lo, hi;
    END IF;
    IF moved = 0 THEN
        EXECUTE format('CREATE TABLE jobspy.%I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                       name, parent, lo, hi);
    ELSE
        EXECUTE format('CREATE TABLE jobspy.%I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name, parent);
        EXECUTE format('WITH moved AS (DELETE FROM %s WHERE %I >= $1 AND %I < $2 RETURNING *)'
                       ' INSERT INTO jobspy.%I SELECT * FROM moved', dflt, col, col, name)
           USING lo, hi;
        EXECUTE format('ALTER TABLE %s ATTACH PARTITION jobspy.%I FOR VALUES FROM (%L) TO (%L)',
                       parent, name, lo, hi);
    END IF;
    RETURN name;
END
$$;
COMMENT ON FUNCTION jobspy.create_month_partition(regclass, timestamptz) IS
    'creates the monthly partition holding a time, moving its rows out of the default partition; NULL when it exists';

CREATE FUNCTION jobspy.maintain() RETURNS TABLE (action text, object text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET TimeZone = 'UTC'
    SET DateStyle = 'ISO'
    AS $$
DECLARE
    t          record;
    p          record;
    m          timestamptz;
    created    text;
    premake    integer := (jobspy.config_get('partitions.premake_months'))::integer;
    mode       text := jobspy.config_get('retention.mode') #>> '{}';
    keep       interval;
    cutoff     timestamptz;
    this_month timestamptz := date_trunc('month', jobspy.now(), 'UTC');
    n          bigint;
BEGIN
    -- One maintenance run at a time; a second caller waits, then finds
    -- nothing left to do.
    PERFORM pg_advisory_xact_lock(hashtext('jobspy.maintain'));

    FOR t IN
        SELECT c.oid::regclass AS rel, c.relname, a.attname AS col
          FROM pg_partitioned_table pt
          JOIN pg_class c ON c.oid = pt.partrelid
          JOIN pg_namespace ns ON ns.oid = c.relnamespace AND ns.nspname = 'jobspy'
          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = pt.partattrs[0]
         WHERE pt.partstrat = 'r' AND NOT c.relispartition
         ORDER BY c.relname
    LOOP
        keep := (jobspy.config_get('retention.' || t.relname)) #>> '{}';
        cutoff := CASE WHEN keep IS NULL THEN '-infinity' ELSE jobspy.now() - keep END;

        -- Rows in the default partition that are already past retention go.
        IF to_regclass(format('jobspy.%I', t.relname || '_default')) IS NOT NULL AND keep IS NOT NULL THEN
            EXECUTE format('DELETE FROM jobspy.%I WHERE %I < $1', t.relname || '_default', t.col)
               USING date_trunc('month', cutoff, 'UTC');
            GET DIAGNOSTICS n = ROW_COUNT;
            IF n > 0 THEN
                action := 'deleted'; object := format('%s rows of %s_default past retention', n, t.relname);
                RETURN NEXT;
            END IF;
        END IF;

        -- Partitions for this month and the months ahead, and for every
        -- month that has rows waiting in the default partition.
        FOR m IN
            SELECT g FROM generate_series(this_month, this_month + make_interval(months => premake),
                                          interval '1 month') g
            UNION
            SELECT * FROM jobspy.default_partition_months(t.rel, t.col)
            ORDER BY 1
        LOOP
            created := jobspy.create_month_partition(t.rel, m);
            IF created IS NOT NULL THEN
                action := 'created'; object := 'jobspy.' || created;
                RETURN NEXT;
            END IF;
        END LOOP;

        -- Retention: monthly partitions that end before the cutoff.
        IF keep IS NOT NULL THEN
            FOR p IN
                SELECT c.relname
                  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                 WHERE i.inhparent = t.rel
                   AND c.relname ~ ('^' || t.relname || '_p[0-9]{4}_[0-9]{2}$')
                   AND to_date(right(c.relname, 7), 'YYYY_MM')::timestamp
                       + interval '1 month' <= (cutoff AT TIME ZONE 'UTC')
                 ORDER BY c.relname
            LOOP
                IF mode = 'detach' THEN
                    EXECUTE format('ALTER TABLE %s DETACH PARTITION jobspy.%I', t.rel, p.relname);
                    action := 'detached';
                ELSE
                    EXECUTE format('DROP TABLE jobspy.%I', p.relname);
                    action := 'dropped';
                END IF;
                object := 'jobspy.' || p.relname;
                RETURN NEXT;
            END LOOP;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION jobspy.maintain() IS
    'creates monthly partitions ahead, drains default partitions, applies retention; idempotent, one run at a time';

CREATE FUNCTION jobspy.default_partition_months(parent regclass, col text)
    RETURNS SETOF timestamptz
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    SET TimeZone = 'UTC'
    SET DateStyle = 'ISO'
    AS $$
DECLARE
    dflt regclass := to_regclass(format('%s_default', parent));
BEGIN
    IF dflt IS NOT NULL THEN
        RETURN QUERY EXECUTE format('SELECT DISTINCT date_trunc(''month'', %I, ''UTC'') FROM %s', col, dflt);
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.default_partition_months(regclass, text) IS
    'the UTC months that have rows in a table''s default partition';

-- ==== sql/analytics.sql
-- analytics: API usage and the views over it.

-- Partitioned by month on created_at; the default partition takes rows no
-- monthly partition covers yet, so an insert never fails for lack of one.
CREATE TABLE jobspy.api_usage (
    user_id             uuid NOT NULL REFERENCES jobspy.users (id) ON DELETE CASCADE,
    id                  uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
    license_id          uuid,
    endpoint            text NOT NULL CHECK (length(endpoint) BETWEEN 1 AND 255),
    method              text NOT NULL CHECK (method ~ '^[A-Z]{3,7}$'),
    status_code         integer CHECK (status_code BETWEEN 100 AND 599),
    response_time_ms    integer CHECK (response_time_ms >= 0),
    request_size_bytes  integer CHECK (request_size_bytes >= 0),
    response_size_bytes integer CHECK (response_size_bytes >= 0),
    user_agent          text CHECK (length(user_agent) <= 1000),
    ip_address          inet,
    country_code        text CHECK (country_code ~ '^[A-Z]{2}$'),
    error_message       text CHECK (length(error_message) <= 2000),
    metadata            jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    created_at          timestamptz NOT NULL DEFAULT jobspy.now(),
    PRIMARY KEY (user_id, created_at, id),
    FOREIGN KEY (user_id, license_id) REFERENCES jobspy.licenses (user_id, id) ON DELETE CASCADE
) PARTITION BY RANGE (created_at);
COMMENT ON TABLE jobspy.api_usage IS 'one row per API call, partitioned by month';
CREATE TABLE jobspy.api_usage_default PARTITION OF jobspy.api_usage DEFAULT;
CREATE INDEX api_usage_license_idx ON jobspy.api_usage (license_id, created_at) WHERE license_id IS NOT NULL;
CREATE INDEX api_usage_endpoint_idx ON jobspy.api_usage (endpoint, created_at);
SELECT pg_catalog.pg_extension_config_dump('jobspy.api_usage_default', '');

-- Seed 000's views, without the row multiplication of its joins: each
-- licence or user appears once, its subscription taken as the latest live one.
CREATE VIEW jobspy.active_licenses AS
SELECT l.user_id, l.id, l.license_key_hint, l.license_type, l.status, l.issued_at, l.expires_at,
       l.last_validated_at, l.validation_count, l.max_validations_per_day, l.max_machines,
       l.features, l.metadata, l.created_at, l.updated_at,
       u.email, u.first_name, u.last_name,
       s.plan_type AS subscription_plan, s.status AS subscription_status
  FROM jobspy.licenses l
  JOIN jobspy.users u ON u.id = l.user_id
  LEFT JOIN LATERAL (
        SELECT sub.plan_type, sub.status
          FROM jobspy.subscriptions sub
         WHERE sub.user_id = l.user_id AND sub.status = 'active'
         ORDER BY sub.created_at DESC
         LIMIT 1) s ON true
 WHERE l.status = 'active'
   AND (l.expires_at IS NULL OR l.expires_at > jobspy.now());
COMMENT ON VIEW jobspy.active_licenses IS 'active, unexpired licences with their owner and subscription, one row each';

CREATE VIEW jobspy.user_analytics AS
SELECT u.id, u.email, u.created_at AS user_created_at,
       l.license_type, l.created_at AS license_created_at,
       s.plan_type AS subscription_plan, s.status AS subscription_status,
       usage.calls AS api_calls_last_30_days, usage.last_call AS last_api_call
  FROM jobspy.users u
  LEFT JOIN LATERAL (
        SELECT lic.license_type, lic.created_at
          FROM jobspy.licenses lic
         WHERE lic.user_id = u.id AND lic.status = 'active'
         ORDER BY lic.created_at DESC
         LIMIT 1) l ON true
  LEFT JOIN LATERAL (
        SELECT sub.plan_type, sub.status
          FROM jobspy.subscriptions sub
         WHERE sub.user_id = u.id AND sub.status = 'active'
         ORDER BY sub.created_at DESC
         LIMIT 1) s ON true
  CROSS JOIN LATERAL (
        SELECT count(*) AS calls, max(a.created_at) AS last_call
          FROM jobspy.api_usage a
         WHERE a.user_id = u.id AND a.created_at > jobspy.now() - interval '30 days') usage
 WHERE u.status = 'active';
COMMENT ON VIEW jobspy.user_analytics IS 'one row per active user: newest licence, live subscription, API calls in the last 30 days';

CREATE VIEW jobspy.revenue_analytics AS
SELECT date_trunc('month', p.created_at, 'UTC') AS month,
       coalesce(s.plan_type, 'none') AS plan_type,
       count(DISTINCT p.user_id) AS paying_customers,
       count(*) AS total_payments,
       sum(p.amount_cents) AS total_revenue_cents,
       sum(p.refunded_amount_cents) AS refunded_cents,
       sum(p.amount_cents - p.refunded_amount_cents) AS net_revenue_cents,
       round(avg(p.amount_cents)) AS avg_payment_cents
  FROM jobspy.payments p
  LEFT JOIN jobspy.subscriptions s ON s.user_id = p.user_id AND s.id = p.subscription_id
 WHERE p.status IN ('succeeded', 'refunded')
 GROUP BY 1, 2;
COMMENT ON VIEW jobspy.revenue_analytics IS
    'revenue per UTC month and plan: collected payments, refunds and net; payments without a subscription under plan none';

-- ==== sql/roles.sql
-- roles: the three privilege tiers.  Roles are cluster-wide and outlive the
-- extension; they are made here only when missing, NOLOGIN, for a DBA to
-- grant to login roles.

DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['jobspy_app', 'jobspy_analyst', 'jobspy_admin'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END
$$;

-- PUBLIC gets nothing; each tier gets what it needs.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA jobspy FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA jobspy FROM PUBLIC;
GRANT USAGE ON SCHEMA jobspy TO jobspy_app, jobspy_analyst, jobspy_admin;

-- Application: the API functions.
GRANT EXECUTE ON FUNCTION
    jobspy.now(),
    jobspy.library_preloaded(),
    jobspy.generate_license_key(),
    jobspy.license_key_is_valid(text),
    jobspy.normalize_license_key(text),
    jobspy.random_token(integer),
    jobspy.config_get(text)
  TO jobspy_app, jobspy_admin;

-- Analyst: the analytics views, read only.
GRANT SELECT ON jobspy.active_licenses, jobspy.user_analytics, jobspy.revenue_analytics
  TO jobspy_analyst, jobspy_admin;
GRANT EXECUTE ON FUNCTION jobspy.now() TO jobspy_analyst;

-- Admin: configuration and maintenance, and reading (not writing) the tables
-- but for the hash keys.
GRANT EXECUTE ON FUNCTION jobspy.config_set(text, jsonb), jobspy.maintain() TO jobspy_admin;
GRANT SELECT ON jobspy.users, jobspy.licenses, jobspy.subscriptions, jobspy.payments,
    jobspy.api_usage, jobspy.user_sessions, jobspy.email_verification_tokens,
    jobspy.password_reset_tokens, jobspy.feature_flags, jobspy.system_config,
    jobspy.config_defaults, jobspy.rate_limit_rules, jobspy.audit_logs
  TO jobspy_admin;
