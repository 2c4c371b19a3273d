\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- identity: users, sessions, one-time tokens.
-- Per-user tables lead their keys with user_id (the tenancy key).

-- Configuration keys of identity (the registry: core.sql).
INSERT INTO jobspy.config_defaults (key, value, description, value_type, nullable, min_value, max_value, choices) VALUES
    ('identity.login_max_failures',       '5',            'failed logins within identity.login_failure_window that lock an account', 'integer', false, 1, 1000, NULL),
    ('identity.login_failure_window',     '"15 minutes"', 'window in which failed logins are counted', 'interval', false, NULL, NULL, NULL),
    ('identity.lockout_duration',         '"15 minutes"', 'how long an account stays locked after too many failed logins', 'interval', false, NULL, NULL, NULL),
    ('identity.session_absolute_timeout', '"30 days"',    'a session ends this long after its login, however often it is refreshed', 'interval', false, NULL, NULL, NULL),
    ('identity.session_idle_timeout',     '"7 days"',     'a session ends when unused this long', 'interval', false, NULL, NULL, NULL),
    ('identity.email_verification_ttl',   '"48 hours"',   'how long an email verification token stays valid', 'interval', false, NULL, NULL, NULL),
    ('identity.password_reset_ttl',       '"1 hour"',     'how long a password reset token stays valid', 'interval', false, NULL, NULL, NULL);

CREATE TABLE jobspy.users (
    id                 uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    email              text CHECK (length(email) BETWEEN 3 AND 254 AND email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
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
    locked_until       timestamptz,
    nostr_public_key   bytea UNIQUE CHECK (octet_length(nostr_public_key) = 32),
    CHECK (email_verified OR email_verified_at IS NULL),
    CONSTRAINT users_email_or_nostr_key CHECK (email IS NOT NULL OR nostr_public_key IS NOT NULL)
);
COMMENT ON TABLE jobspy.users IS 'accounts; email unique without regard to case, password as an Argon2id PHC string; a Nostr user may have no email';
COMMENT ON COLUMN jobspy.users.nostr_public_key IS 'the user''s Nostr (BIP-340 x-only) public key, 32 bytes; jobspy.nostr_npub() shows it as npub';
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
    family_id          uuid,
    PRIMARY KEY (user_id, id),
    CHECK (expires_at > created_at)
);
COMMENT ON TABLE jobspy.user_sessions IS 'login sessions; tokens stored only as keyed hashes';
CREATE INDEX user_sessions_family_idx ON jobspy.user_sessions (user_id, family_id);
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

-- ---------------------------------------------------------------------------
-- 0.2.0: organizations, passwords, login, sessions, one-time tokens, RLS.
-- ---------------------------------------------------------------------------

CREATE TABLE jobspy.organizations (
    id          uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200 AND name = btrim(name)),
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    created_by  uuid REFERENCES jobspy.users (id) ON DELETE SET NULL,
    metadata    jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT jobspy.now(),
    updated_at  timestamptz NOT NULL DEFAULT jobspy.now()
);
COMMENT ON TABLE jobspy.organizations IS 'organizations (teams, companies); members and their roles in organization_members';
CREATE TRIGGER organizations_updated_at BEFORE UPDATE ON jobspy.organizations
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
CREATE TRIGGER organizations_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.organizations
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
SELECT pg_catalog.pg_extension_config_dump('jobspy.organizations', '');

CREATE TABLE jobspy.organization_members (
    organization_id uuid NOT NULL REFERENCES jobspy.organizations (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES jobspy.users (id) ON DELETE CASCADE,
    role            text NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'admin', 'billing', 'member')),
    created_at      timestamptz NOT NULL DEFAULT jobspy.now(),
    updated_at      timestamptz NOT NULL DEFAULT jobspy.now(),
    PRIMARY KEY (organization_id, user_id)
);
COMMENT ON TABLE jobspy.organization_members IS 'who belongs to which organization, as owner, admin, billing or member; every organization keeps an owner';
CREATE INDEX organization_members_user_idx ON jobspy.organization_members (user_id);
CREATE TRIGGER organization_members_updated_at BEFORE UPDATE ON jobspy.organization_members
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
CREATE TRIGGER organization_members_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.organization_members
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
SELECT pg_catalog.pg_extension_config_dump('jobspy.organization_members', '');

-- Refuses to remove or demote an organization's last owner.  The
-- organization row is locked first, so two concurrent demotions of two
-- owners cannot both pass.  Deleting the organization itself removes its
-- members by cascade; by then the organization row is gone and the check
-- does not apply.
CREATE FUNCTION jobspy.organization_members_keep_owner() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF OLD.role <> 'owner' OR (TG_OP = 'UPDATE' AND NEW.role = 'owner'
                               AND NEW.organization_id = OLD.organization_id) THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    PERFORM 1 FROM jobspy.organizations o WHERE o.id = OLD.organization_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM jobspy.organization_members m
                    WHERE m.organization_id = OLD.organization_id
                      AND m.role = 'owner' AND m.user_id <> OLD.user_id) THEN
        RAISE EXCEPTION 'an organization must keep at least one owner'
            USING ERRCODE = 'JS104',
                  DETAIL = 'This member is the organization''s only owner.',
                  HINT = 'Make another member owner first, or delete the organization.';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
COMMENT ON FUNCTION jobspy.organization_members_keep_owner() IS
    'trigger: refuses to remove or demote the last owner of an organization (JS104)';
CREATE TRIGGER organization_members_keep_owner BEFORE UPDATE OR DELETE ON jobspy.organization_members
    FOR EACH ROW EXECUTE FUNCTION jobspy.organization_members_keep_owner();

-- Passwords (C, libsodium).

CREATE FUNCTION jobspy.hash_password(text) RETURNS text
    LANGUAGE c VOLATILE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_hash_password';
COMMENT ON FUNCTION jobspy.hash_password(text) IS
    'Argon2id PHC string of a password (8 to 1024 bytes), cost from jobspy.password_memory_kib and jobspy.password_iterations';

CREATE FUNCTION jobspy.verify_password(password text, hash text) RETURNS boolean
    LANGUAGE c VOLATILE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_verify_password';
COMMENT ON FUNCTION jobspy.verify_password(text, text) IS
    'true when the password matches the Argon2 PHC string; false for a wrong password or a malformed hash';

CREATE FUNCTION jobspy.password_needs_rehash(hash text) RETURNS boolean
    LANGUAGE c STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_password_needs_rehash';
COMMENT ON FUNCTION jobspy.password_needs_rehash(text) IS
    'true when a hash is not Argon2id at the current cost GUCs, so a login should re-hash the password';

-- Failed logins (C, shared memory: they must survive the error a failed
-- login raises).

CREATE FUNCTION jobspy.login_failure_record(user_id uuid, max_failures integer,
                                            window_seconds integer, lock_seconds integer)
    RETURNS timestamptz
    LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'jobspy_login_failure_record';
COMMENT ON FUNCTION jobspy.login_failure_record(uuid, integer, integer, integer) IS
    'counts a failed login in shared memory; returns the end of the lock it causes, else NULL';

CREATE FUNCTION jobspy.login_locked_until(user_id uuid) RETURNS timestamptz
    LANGUAGE c VOLATILE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_login_locked_until';
COMMENT ON FUNCTION jobspy.login_locked_until(uuid) IS
    'end of the lock the failed-login table holds for a user, or NULL';

CREATE FUNCTION jobspy.login_failures_clear(user_id uuid) RETURNS void
    LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'jobspy_login_failures_clear';
COMMENT ON FUNCTION jobspy.login_failures_clear(uuid) IS
    'forgets a user''s failed logins and lock in shared memory';

CREATE FUNCTION jobspy.login_locks() RETURNS TABLE (user_id uuid, locked_until timestamptz)
    LANGUAGE c VOLATILE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_login_locks';
COMMENT ON FUNCTION jobspy.login_locks() IS
    'every lock the failed-login table holds now';

-- Validation helpers.

CREATE FUNCTION jobspy.normalize_email(email text) RETURNS text
    LANGUAGE c IMMUTABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_normalize_email';
COMMENT ON FUNCTION jobspy.normalize_email(text) IS
    'an email address trimmed and lower-cased whole; raises 22023 when it is not a valid ASCII address';

-- In C (src/identity_timezone.c): pg_timezone_names reads every zone file
-- on each query, about 20 ms; the names are read once per backend.
CREATE FUNCTION jobspy.timezone_known(name text) RETURNS boolean
    LANGUAGE c STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_timezone_known';
COMMENT ON FUNCTION jobspy.timezone_known(text) IS
    'whether a name is one of pg_timezone_names (read once per backend)';

-- One configuration value as an interval in seconds (the keys hold
-- interval strings or numbers of seconds).
CREATE FUNCTION jobspy.identity_seconds(key text) RETURNS integer
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT CASE jsonb_typeof(v)
             WHEN 'number' THEN (v #>> '{}')::numeric::integer
             ELSE extract(epoch FROM (v #>> '{}')::interval)::integer END
      FROM (SELECT jobspy.config_get($1) AS v) c
$$;
COMMENT ON FUNCTION jobspy.identity_seconds(text) IS
    'an identity configuration value (interval string or seconds) in whole seconds';

-- Nostr identity (seed 003): BIP-340 signatures, NIP-01 events, NIP-19 keys.

CREATE FUNCTION jobspy.schnorr_verify(public_key bytea, message bytea, signature bytea) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_schnorr_verify';
COMMENT ON FUNCTION jobspy.schnorr_verify(bytea, bytea, bytea) IS
    'BIP-340: true when signature (64 bytes) signs message (any length) under the x-only public key (32 bytes); false for a key off the curve; 22023 for wrong lengths';

CREATE FUNCTION jobspy.nostr_verify_event(event jsonb) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_nostr_verify_event';
COMMENT ON FUNCTION jobspy.nostr_verify_event(jsonb) IS
    'NIP-01: true when the event''s id is the SHA-256 of its canonical serialisation and sig is its BIP-340 signature by pubkey; 22023 when a field is missing or malformed';

CREATE FUNCTION jobspy.nostr_public_key(key text) RETURNS bytea
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_nostr_public_key';
COMMENT ON FUNCTION jobspy.nostr_public_key(text) IS
    'the 32 bytes of a Nostr public key given as 64 hex digits or NIP-19 npub; 22023 for a bad form, JS105 for a wrong npub checksum';

CREATE FUNCTION jobspy.nostr_npub(public_key bytea) RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_nostr_npub';
COMMENT ON FUNCTION jobspy.nostr_npub(bytea) IS
    'a 32-byte Nostr public key in NIP-19 npub form (bech32)';

CREATE FUNCTION jobspy.nostr_user_id(public_key text) RETURNS uuid
    LANGUAGE sql STABLE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT u.id FROM jobspy.users u
     WHERE u.nostr_public_key = jobspy.nostr_public_key($1) AND u.status <> 'deleted'
$$;
COMMENT ON FUNCTION jobspy.nostr_user_id(text) IS
    'the user whose Nostr public key (hex or npub) this is, or NULL; deleted users are not found';

-- Accounts.

CREATE FUNCTION jobspy.create_user(email text, password text DEFAULT NULL,
                                   first_name text DEFAULT NULL, last_name text DEFAULT NULL,
                                   phone text DEFAULT NULL, country_code text DEFAULT NULL,
                                   timezone text DEFAULT 'UTC', language text DEFAULT 'en',
                                   nostr_public_key text DEFAULT NULL)
    RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    -- A Nostr user may have no email; everyone else must have one.
    e   text := CASE WHEN email IS NULL AND nostr_public_key IS NOT NULL THEN NULL
                     ELSE jobspy.normalize_email(email) END;
    k   bytea := jobspy.nostr_public_key(nostr_public_key);
    uid uuid;
    h   text;
    c   text;
BEGIN
    IF timezone IS NULL OR NOT jobspy.timezone_known(timezone) THEN
        RAISE EXCEPTION 'time zone is not known'
            USING ERRCODE = '22023',
                  DETAIL = 'A time zone must be one of the names in pg_timezone_names.',
                  HINT = 'For example ''Europe/Berlin'' or ''UTC''.';
    END IF;
    IF language IS NULL OR language !~ '^[a-z]{2}(-[A-Z]{2})?$' THEN
        RAISE EXCEPTION 'language must be a code such as en or pt-BR' USING ERRCODE = '22023';
    END IF;
    IF country_code IS NOT NULL AND country_code !~ '^[A-Z]{2}$' THEN
        RAISE EXCEPTION 'country code must be two capital letters (ISO 3166-1 alpha-2)' USING ERRCODE = '22023';
    END IF;
    IF phone IS NOT NULL AND phone !~ '^\+?[0-9 ()-]{3,20}$' THEN
        RAISE EXCEPTION 'phone number is not valid'
            USING ERRCODE = '22023', DETAIL = 'A phone number is 3 to 20 digits, spaces, dashes and parentheses, with an optional leading +.';
    END IF;
    IF length(first_name) > 100 OR length(last_name) > 100 OR first_name = '' OR last_name = '' THEN
        RAISE EXCEPTION 'names must be from 1 to 100 characters' USING ERRCODE = '22023';
    END IF;
    IF password IS NOT NULL THEN
        h := jobspy.hash_password(password);
    END IF;
    BEGIN
        INSERT INTO jobspy.users (email, password_hash, first_name, last_name, phone,
                                  country_code, timezone, language, nostr_public_key)
        VALUES (e, h, first_name, last_name, phone, country_code, timezone, language, k)
        RETURNING id INTO uid;
    EXCEPTION WHEN unique_violation THEN
        GET STACKED DIAGNOSTICS c = CONSTRAINT_NAME;
        IF c = 'users_nostr_public_key_key' THEN
            RAISE EXCEPTION 'a user with this nostr public key already exists' USING ERRCODE = '23505';
        END IF;
        RAISE EXCEPTION 'a user with this email address already exists'
            USING ERRCODE = '23505',
                  DETAIL = 'Email addresses are unique without regard to case.';
    END;
    RETURN uid;
END
$$;
COMMENT ON FUNCTION jobspy.create_user(text, text, text, text, text, text, text, text, text) IS
    'creates an account: email trimmed and lower-cased, unique (23505), optional only with a Nostr public key (hex or npub, unique); password hashed with Argon2id; time zone from pg_timezone_names (22023)';

-- Sessions.

-- Creates a session row and returns its two tokens; internal.
CREATE FUNCTION jobspy.session_open(user_id uuid, family_id uuid, expires_at timestamptz,
                                    ip inet, user_agent text,
                                    OUT session_token text, OUT refresh_token text)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    session_token := jobspy.random_token(32);
    refresh_token := jobspy.random_token(32);
    INSERT INTO jobspy.user_sessions (user_id, session_token_hash, refresh_token_hash,
                                      user_agent, ip_address, expires_at, family_id)
    VALUES (session_open.user_id, jobspy.secret_hash('session', session_token),
            jobspy.secret_hash('refresh', refresh_token), left(session_open.user_agent, 1000),
            ip, session_open.expires_at, session_open.family_id);
END
$$;
COMMENT ON FUNCTION jobspy.session_open(uuid, uuid, timestamptz, inet, text) IS
    'internal: stores a new session as keyed hashes and returns its session and refresh tokens';

CREATE FUNCTION jobspy.login(email text, password text, ip inet DEFAULT NULL, user_agent text DEFAULT NULL)
    RETURNS TABLE (user_id uuid, session_token text, refresh_token text, expires_at timestamptz)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    e      text;
    u      jobspy.users;
    locked timestamptz;
    exp    timestamptz;
    fam    uuid := pg_catalog.gen_random_uuid();
    s      text;
    r      text;
BEGIN
    IF password IS NULL THEN
        RAISE EXCEPTION 'password must not be null' USING ERRCODE = '22004';
    END IF;
    e := jobspy.normalize_email(email);
    SELECT * INTO u FROM jobspy.users x WHERE lower(x.email) = e;
    IF NOT FOUND OR u.password_hash IS NULL OR u.status = 'deleted' THEN
        -- As long as verifying a real hash at the current cost.
        PERFORM jobspy.hash_password('not the password of anyone');
        RAISE EXCEPTION 'invalid email or password' USING ERRCODE = '28P01';
    END IF;
    locked := greatest(jobspy.login_locked_until(u.id),
                       CASE WHEN u.locked_until > jobspy.now() THEN u.locked_until END);
    IF locked IS NOT NULL THEN
        PERFORM jobspy.hash_password('not the password of anyone');
        RAISE EXCEPTION 'account is locked after too many failed logins'
            USING ERRCODE = 'JS101',
                  DETAIL = 'Try again later.',
                  HINT = 'An administrator can unlock it with jobspy.unlock_user().';
    END IF;
    IF NOT jobspy.verify_password(password, u.password_hash) THEN
        PERFORM jobspy.login_failure_record(u.id,
                    (jobspy.config_get('identity.login_max_failures'))::integer,
                    jobspy.identity_seconds('identity.login_failure_window'),
                    jobspy.identity_seconds('identity.lockout_duration'));
        RAISE EXCEPTION 'invalid email or password' USING ERRCODE = '28P01';
    END IF;
    IF u.status <> 'active' THEN
        RAISE EXCEPTION 'account is not active'
            USING ERRCODE = 'JS102', DETAIL = format('The account is %s.', u.status);
    END IF;
    PERFORM jobspy.login_failures_clear(u.id);
    UPDATE jobspy.users x
       SET last_login_at = jobspy.now(),
           locked_until = NULL,
           password_hash = CASE WHEN jobspy.password_needs_rehash(x.password_hash)
                                THEN jobspy.hash_password(password) ELSE x.password_hash END
     WHERE x.id = u.id;
    exp := jobspy.now() + make_interval(secs => jobspy.identity_seconds('identity.session_absolute_timeout'));
    SELECT o.session_token, o.refresh_token INTO s, r
      FROM jobspy.session_open(u.id, fam, exp, ip, user_agent) o;
    RETURN QUERY SELECT u.id, s, r, exp;
END
$$;
COMMENT ON FUNCTION jobspy.login(text, text, inet, text) IS
    'checks email and password (28P01 for either wrong, same message and cost), counts failures, locks after too many (JS101), opens a session';

CREATE FUNCTION jobspy.session_user_id(session_token text) RETURNS uuid
    LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    now  timestamptz := jobspy.now();
    uid  uuid;
    sid  uuid;
    seen timestamptz;
BEGIN
    -- One statement on the hot path: the idle limit is read from the
    -- configuration tables here rather than through config_get().
    SELECT s.user_id, s.id, s.last_activity_at INTO uid, sid, seen
      FROM jobspy.user_sessions s
      JOIN jobspy.users u ON u.id = s.user_id AND u.status = 'active'
     WHERE s.session_token_hash = ANY (jobspy.secret_hash_candidates('session', session_token))
       AND s.revoked_at IS NULL
       AND s.expires_at > now
       AND s.last_activity_at > now - (
             SELECT CASE jsonb_typeof(v) WHEN 'number' THEN make_interval(secs => (v #>> '{}')::double precision)
                                         ELSE (v #>> '{}')::interval END
               FROM (SELECT coalesce((SELECT c.value FROM jobspy.system_config c WHERE c.key = 'identity.session_idle_timeout'),
                                     (SELECT d.value FROM jobspy.config_defaults d WHERE d.key = 'identity.session_idle_timeout')) AS v) k);
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    -- Last activity is written at most once a minute per session.
    IF seen < now - interval '1 minute' THEN
        UPDATE jobspy.user_sessions x SET last_activity_at = now
         WHERE x.user_id = uid AND x.id = sid;
    END IF;
    RETURN uid;
END
$$;
COMMENT ON FUNCTION jobspy.session_user_id(text) IS
    'the user a session token belongs to; NULL when unknown, revoked, expired or idle too long';

-- The work of refresh_session, whose argument and result column share a
-- name that PL/pgSQL cannot tell apart.
CREATE FUNCTION jobspy.session_refresh(token text,
                                       OUT new_session_token text, OUT new_refresh_token text,
                                       OUT new_expires_at timestamptz)
    RETURNS SETOF record
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
#variable_conflict use_column
DECLARE
    old  jobspy.user_sessions;
    now  timestamptz := jobspy.now();
    fam  uuid;
    s    text;
    r    text;
BEGIN
    IF $1 IS NULL OR $1 = '' THEN
        RAISE EXCEPTION 'refresh token is not valid' USING ERRCODE = '28P01';
    END IF;
    SELECT * INTO old FROM jobspy.user_sessions x
     WHERE x.refresh_token_hash = ANY (jobspy.secret_hash_candidates('refresh', $1))
     FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'refresh token is not valid' USING ERRCODE = '28P01';
    END IF;
    fam := coalesce(old.family_id, old.id);
    IF old.revoked_at IS NOT NULL THEN
        IF old.revocation_reason = 'rotated' THEN
            -- A spent refresh token came back: someone holds a copy.  End
            -- every session descended from the same login.  The revocation
            -- is returned as a NULL row rather than raised, so that it is
            -- not rolled back with the error.
            UPDATE jobspy.user_sessions x
               SET revoked_at = now, revocation_reason = 'refresh token reused'
             WHERE x.user_id = old.user_id AND coalesce(x.family_id, x.id) = fam
               AND x.revoked_at IS NULL;
            RETURN;
        END IF;
        RAISE EXCEPTION 'refresh token is not valid' USING ERRCODE = '28P01';
    END IF;
    -- A session idle past identity.session_idle_timeout has ended, as
    -- session_user_id() says; its refresh token does not revive it.
    IF old.expires_at <= now
       OR old.last_activity_at <= now - make_interval(secs => jobspy.identity_seconds('identity.session_idle_timeout'))
       OR NOT EXISTS (SELECT 1 FROM jobspy.users u WHERE u.id = old.user_id AND u.status = 'active') THEN
        RAISE EXCEPTION 'refresh token is not valid' USING ERRCODE = '28P01',
            DETAIL = 'The session has expired.';
    END IF;
    UPDATE jobspy.user_sessions x SET revoked_at = now, revocation_reason = 'rotated'
     WHERE x.user_id = old.user_id AND x.id = old.id;
    SELECT o.session_token, o.refresh_token INTO s, r
      FROM jobspy.session_open(old.user_id, fam, old.expires_at, old.ip_address, old.user_agent) o;
    RETURN QUERY SELECT s, r, old.expires_at;
END
$$;
COMMENT ON FUNCTION jobspy.session_refresh(text) IS
    'internal: the work of refresh_session';

CREATE FUNCTION jobspy.refresh_session(refresh_token text)
    RETURNS TABLE (session_token text, refresh_token text, expires_at timestamptz)
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT r.new_session_token, r.new_refresh_token, r.new_expires_at FROM jobspy.session_refresh($1) r $$;
COMMENT ON FUNCTION jobspy.refresh_session(text) IS
    'rotates a session: new session and refresh tokens, same absolute expiry; a spent refresh token revokes the whole family and returns no row';

CREATE FUNCTION jobspy.revoke_session(session_token text) RETURNS void
    LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    UPDATE jobspy.user_sessions x SET revoked_at = jobspy.now(), revocation_reason = 'logout'
     WHERE x.session_token_hash = ANY (jobspy.secret_hash_candidates('session', session_token))
       AND x.revoked_at IS NULL;
END
$$;
COMMENT ON FUNCTION jobspy.revoke_session(text) IS
    'ends the session a token names (logout); nothing happens for an unknown token';

CREATE FUNCTION jobspy.revoke_all_sessions(user_id uuid) RETURNS void
    LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    UPDATE jobspy.user_sessions x SET revoked_at = jobspy.now(), revocation_reason = 'revoke all'
     WHERE x.user_id = revoke_all_sessions.user_id AND x.revoked_at IS NULL;
END
$$;
COMMENT ON FUNCTION jobspy.revoke_all_sessions(uuid) IS
    'ends every open session of a user';

CREATE FUNCTION jobspy.unlock_user(user_id uuid) RETURNS void
    LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM jobspy.login_failures_clear(unlock_user.user_id);
    UPDATE jobspy.users x SET locked_until = NULL
     WHERE x.id = unlock_user.user_id AND x.locked_until IS NOT NULL;
END
$$;
COMMENT ON FUNCTION jobspy.unlock_user(uuid) IS
    'lifts a login lock and forgets the failed logins of a user';

CREATE FUNCTION jobspy.set_user_status(user_id uuid, status text) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF user_id IS NULL OR status IS NULL THEN
        RAISE EXCEPTION 'user and status must not be null' USING ERRCODE = '22004';
    END IF;
    IF status NOT IN ('active', 'suspended', 'deleted') THEN
        RAISE EXCEPTION 'status must be active, suspended or deleted' USING ERRCODE = '22023';
    END IF;
    UPDATE jobspy.users u SET status = set_user_status.status
     WHERE u.id = set_user_status.user_id AND u.status IS DISTINCT FROM set_user_status.status;
    IF NOT FOUND AND NOT EXISTS (SELECT 1 FROM jobspy.users u WHERE u.id = set_user_status.user_id) THEN
        RAISE EXCEPTION 'user does not exist' USING ERRCODE = '22023';
    END IF;
    IF status <> 'active' THEN
        UPDATE jobspy.user_sessions x SET revoked_at = jobspy.now(), revocation_reason = 'account ' || status
         WHERE x.user_id = set_user_status.user_id AND x.revoked_at IS NULL;
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.set_user_status(uuid, text) IS
    'sets an account active, suspended or deleted; leaving active ends every session';
REVOKE ALL ON FUNCTION jobspy.set_user_status(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION jobspy.set_user_status(uuid, text) TO jobspy_app, jobspy_admin;

-- One-time tokens.

CREATE FUNCTION jobspy.issue_email_verification(user_id uuid) RETURNS text
    LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    u   jobspy.users;
    tok text := jobspy.random_token(32);
BEGIN
    SELECT * INTO u FROM jobspy.users x WHERE x.id = issue_email_verification.user_id;
    IF NOT FOUND OR u.status = 'deleted' THEN
        RAISE EXCEPTION 'user does not exist' USING ERRCODE = '22023';
    END IF;
    IF u.email IS NULL THEN
        RAISE EXCEPTION 'user has no email address to verify' USING ERRCODE = '55000';
    END IF;
    INSERT INTO jobspy.email_verification_tokens (user_id, token_hash, email, expires_at)
    VALUES (u.id, jobspy.secret_hash('email_verification', tok), u.email,
            jobspy.now() + make_interval(secs => jobspy.identity_seconds('identity.email_verification_ttl')));
    RETURN tok;
END
$$;
COMMENT ON FUNCTION jobspy.issue_email_verification(uuid) IS
    'a one-time email verification token for the user''s current address (returned once, stored as a keyed hash)';

CREATE FUNCTION jobspy.verify_email(token text) RETURNS uuid
    LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    t jobspy.email_verification_tokens;
BEGIN
    SELECT * INTO t FROM jobspy.email_verification_tokens x
     WHERE x.token_hash = ANY (jobspy.secret_hash_candidates('email_verification', token))
     FOR UPDATE;
    IF NOT FOUND OR t.used_at IS NOT NULL OR t.expires_at <= jobspy.now() THEN
        RAISE EXCEPTION 'verification token is not valid'
            USING ERRCODE = 'JS103', DETAIL = 'It is unknown, already used or expired.',
                  HINT = 'Ask for a new one.';
    END IF;
    UPDATE jobspy.email_verification_tokens x SET used_at = jobspy.now()
     WHERE x.user_id = t.user_id AND x.id = t.id;
    UPDATE jobspy.users u SET email_verified = true, email_verified_at = jobspy.now()
     WHERE u.id = t.user_id AND lower(u.email) = lower(t.email);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'verification token is not valid'
            USING ERRCODE = 'JS103', DETAIL = 'The account''s address changed since it was issued.';
    END IF;
    RETURN t.user_id;
END
$$;
COMMENT ON FUNCTION jobspy.verify_email(text) IS
    'spends a verification token and marks the address verified; JS103 when unknown, used or expired';

CREATE FUNCTION jobspy.issue_password_reset(email text) RETURNS text
    LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    e   text := jobspy.normalize_email(email);
    uid uuid;
    tok text := jobspy.random_token(32);
    h   bytea := jobspy.secret_hash('password_reset', tok);
BEGIN
    -- The token and its hash are made whether or not the address is known,
    -- so both paths cost the same.
    SELECT u.id INTO uid FROM jobspy.users u WHERE lower(u.email) = e AND u.status = 'active';
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    INSERT INTO jobspy.password_reset_tokens (user_id, token_hash, expires_at)
    VALUES (uid, h, jobspy.now() + make_interval(secs => jobspy.identity_seconds('identity.password_reset_ttl')));
    RETURN tok;
END
$$;
COMMENT ON FUNCTION jobspy.issue_password_reset(text) IS
    'a one-time password reset token, or NULL (same cost) when no active account has the address';

CREATE FUNCTION jobspy.reset_password(token text, new_password text) RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    t jobspy.password_reset_tokens;
    h text;
BEGIN
    IF token IS NULL OR new_password IS NULL THEN
        RAISE EXCEPTION 'token and new password must not be null' USING ERRCODE = '22004';
    END IF;
    h := jobspy.hash_password(new_password);
    SELECT * INTO t FROM jobspy.password_reset_tokens x
     WHERE x.token_hash = ANY (jobspy.secret_hash_candidates('password_reset', token))
     FOR UPDATE;
    IF NOT FOUND OR t.used_at IS NOT NULL OR t.expires_at <= jobspy.now() THEN
        RAISE EXCEPTION 'password reset token is not valid'
            USING ERRCODE = 'JS103', DETAIL = 'It is unknown, already used or expired.',
                  HINT = 'Ask for a new one.';
    END IF;
    UPDATE jobspy.password_reset_tokens x SET used_at = jobspy.now()
     WHERE x.user_id = t.user_id AND (x.id = t.id OR x.used_at IS NULL);
    UPDATE jobspy.users u SET password_hash = h, locked_until = NULL WHERE u.id = t.user_id;
    PERFORM jobspy.revoke_all_sessions(t.user_id);
    PERFORM jobspy.login_failures_clear(t.user_id);
    RETURN t.user_id;
END
$$;
COMMENT ON FUNCTION jobspy.reset_password(text, text) IS
    'spends a reset token, sets the new password, spends the user''s other reset tokens and ends every session';

-- Organizations.

CREATE FUNCTION jobspy.create_organization(name text, owner_id uuid, slug text DEFAULT NULL)
    RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    oid_ uuid;
    sl   text;
BEGIN
    IF name IS NULL OR btrim(name) = '' OR length(btrim(name)) > 200 THEN
        RAISE EXCEPTION 'organization name must be from 1 to 200 characters' USING ERRCODE = '22023';
    END IF;
    IF owner_id IS NULL OR NOT EXISTS (SELECT 1 FROM jobspy.users u WHERE u.id = owner_id AND u.status = 'active') THEN
        RAISE EXCEPTION 'owner must be an active user' USING ERRCODE = '22023';
    END IF;
    sl := coalesce(slug, left(btrim(regexp_replace(lower(btrim(name)), '[^a-z0-9]+', '-', 'g'), '-'), 63));
    IF sl IS NULL OR sl !~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$' THEN
        RAISE EXCEPTION 'organization slug is not valid'
            USING ERRCODE = '22023', DETAIL = 'A slug is 1 to 63 lower-case letters, digits and inner dashes.';
    END IF;
    BEGIN
        INSERT INTO jobspy.organizations (name, slug, created_by)
        VALUES (btrim(name), sl, owner_id) RETURNING id INTO oid_;
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION 'an organization with this slug already exists' USING ERRCODE = '23505';
    END;
    INSERT INTO jobspy.organization_members (organization_id, user_id, role)
    VALUES (oid_, owner_id, 'owner');
    RETURN oid_;
END
$$;
COMMENT ON FUNCTION jobspy.create_organization(text, uuid, text) IS
    'creates an organization whose creator becomes its owner; the slug defaults to one made from the name';

CREATE FUNCTION jobspy.add_organization_member(organization_id uuid, user_id uuid, role text DEFAULT 'member')
    RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF organization_id IS NULL OR user_id IS NULL OR role IS NULL THEN
        RAISE EXCEPTION 'organization, user and role must not be null' USING ERRCODE = '22004';
    END IF;
    IF role NOT IN ('owner', 'admin', 'billing', 'member') THEN
        RAISE EXCEPTION 'role must be owner, admin, billing or member' USING ERRCODE = '22023';
    END IF;
    BEGIN
        INSERT INTO jobspy.organization_members AS m (organization_id, user_id, role)
        VALUES (add_organization_member.organization_id, add_organization_member.user_id,
                add_organization_member.role);
    EXCEPTION
        WHEN unique_violation THEN
            RAISE EXCEPTION 'user is already a member of this organization' USING ERRCODE = '23505';
        WHEN foreign_key_violation THEN
            RAISE EXCEPTION 'organization or user does not exist' USING ERRCODE = '22023';
    END;
END
$$;
COMMENT ON FUNCTION jobspy.add_organization_member(uuid, uuid, text) IS
    'adds a user to an organization with a role (owner, admin, billing, member)';

CREATE FUNCTION jobspy.set_organization_member_role(organization_id uuid, user_id uuid, role text)
    RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF organization_id IS NULL OR user_id IS NULL OR role IS NULL THEN
        RAISE EXCEPTION 'organization, user and role must not be null' USING ERRCODE = '22004';
    END IF;
    IF role NOT IN ('owner', 'admin', 'billing', 'member') THEN
        RAISE EXCEPTION 'role must be owner, admin, billing or member' USING ERRCODE = '22023';
    END IF;
    UPDATE jobspy.organization_members m SET role = set_organization_member_role.role
     WHERE m.organization_id = set_organization_member_role.organization_id
       AND m.user_id = set_organization_member_role.user_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user is not a member of this organization' USING ERRCODE = '22023';
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.set_organization_member_role(uuid, uuid, text) IS
    'changes a member''s role; demoting the last owner raises JS104';

CREATE FUNCTION jobspy.remove_organization_member(organization_id uuid, user_id uuid)
    RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF organization_id IS NULL OR user_id IS NULL THEN
        RAISE EXCEPTION 'organization and user must not be null' USING ERRCODE = '22004';
    END IF;
    DELETE FROM jobspy.organization_members m
     WHERE m.organization_id = remove_organization_member.organization_id
       AND m.user_id = remove_organization_member.user_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user is not a member of this organization' USING ERRCODE = '22023';
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.remove_organization_member(uuid, uuid) IS
    'removes a member; removing the last owner raises JS104';

-- Periodic work: copy locks from shared memory to users.locked_until (the
-- users audit trigger records each), drop spent and expired tokens.
CREATE FUNCTION jobspy.maintain_identity() RETURNS TABLE (action text, object text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n bigint;
BEGIN
    IF jobspy.library_preloaded() THEN
        UPDATE jobspy.users u SET locked_until = l.locked_until
          FROM jobspy.login_locks() l
         WHERE u.id = l.user_id AND u.locked_until IS DISTINCT FROM l.locked_until;
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n > 0 THEN
            action := 'lock accounts'; object := n || ' users'; RETURN NEXT;
        END IF;
    END IF;
    DELETE FROM jobspy.user_sessions s WHERE s.expires_at < jobspy.now() - interval '30 days';
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        action := 'delete expired sessions'; object := n || ' sessions'; RETURN NEXT;
    END IF;
    DELETE FROM jobspy.email_verification_tokens t WHERE t.expires_at < jobspy.now() - interval '30 days';
    DELETE FROM jobspy.password_reset_tokens t WHERE t.expires_at < jobspy.now() - interval '30 days';
END
$$;
COMMENT ON FUNCTION jobspy.maintain_identity() IS
    'maintain() step: records login locks on users.locked_until (audited), deletes sessions and tokens expired over 30 days';

-- Row-level security for deployments whose users query their own rows
-- directly: each policy compares the tenancy key with jobspy.user_id.
-- ENABLE without FORCE: the owner of the tables (the extension owner, under
-- which every SECURITY DEFINER function runs) is not subject to them.
CREATE FUNCTION jobspy.current_row_user() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT nullif(current_setting('jobspy.user_id', true), '')::uuid $$;
COMMENT ON FUNCTION jobspy.current_row_user() IS
    'the user named by the jobspy.user_id setting, or NULL: what the row-level security policies compare with';

ALTER TABLE jobspy.users ENABLE ROW LEVEL SECURITY;
CREATE POLICY users_own ON jobspy.users USING (id = jobspy.current_row_user());
ALTER TABLE jobspy.user_sessions ENABLE ROW LEVEL SECURITY;
CREATE POLICY user_sessions_own ON jobspy.user_sessions USING (user_id = jobspy.current_row_user());
ALTER TABLE jobspy.email_verification_tokens ENABLE ROW LEVEL SECURITY;
CREATE POLICY email_verification_tokens_own ON jobspy.email_verification_tokens USING (user_id = jobspy.current_row_user());
ALTER TABLE jobspy.password_reset_tokens ENABLE ROW LEVEL SECURITY;
CREATE POLICY password_reset_tokens_own ON jobspy.password_reset_tokens USING (user_id = jobspy.current_row_user());
ALTER TABLE jobspy.organization_members ENABLE ROW LEVEL SECURITY;
CREATE POLICY organization_members_own ON jobspy.organization_members USING (user_id = jobspy.current_row_user());
ALTER TABLE jobspy.organizations ENABLE ROW LEVEL SECURITY;
CREATE POLICY organizations_member ON jobspy.organizations USING (
    EXISTS (SELECT 1 FROM jobspy.organization_members m
             WHERE m.organization_id = organizations.id AND m.user_id = jobspy.current_row_user()));
-- The admin reads every row of these tables (its column grants keep the
-- secret columns from it), as it read users and sessions before they had
-- policies.
CREATE POLICY users_admin_read ON jobspy.users FOR SELECT TO jobspy_admin USING (true);
CREATE POLICY user_sessions_admin_read ON jobspy.user_sessions FOR SELECT TO jobspy_admin USING (true);
CREATE POLICY email_verification_tokens_admin_read ON jobspy.email_verification_tokens
    FOR SELECT TO jobspy_admin USING (true);
CREATE POLICY password_reset_tokens_admin_read ON jobspy.password_reset_tokens
    FOR SELECT TO jobspy_admin USING (true);
CREATE POLICY organization_members_admin_read ON jobspy.organization_members FOR SELECT TO jobspy_admin USING (true);
CREATE POLICY organizations_admin_read ON jobspy.organizations FOR SELECT TO jobspy_admin USING (true);

-- Grants.
REVOKE ALL ON FUNCTION
    jobspy.hash_password(text), jobspy.verify_password(text, text), jobspy.password_needs_rehash(text),
    jobspy.login_failure_record(uuid, integer, integer, integer), jobspy.login_locked_until(uuid),
    jobspy.login_failures_clear(uuid), jobspy.login_locks(), jobspy.normalize_email(text),
    jobspy.timezone_known(text), jobspy.identity_seconds(text),
    jobspy.create_user(text, text, text, text, text, text, text, text, text),
    jobspy.schnorr_verify(bytea, bytea, bytea), jobspy.nostr_verify_event(jsonb),
    jobspy.nostr_public_key(text), jobspy.nostr_npub(bytea), jobspy.nostr_user_id(text),
    jobspy.session_open(uuid, uuid, timestamptz, inet, text),
    jobspy.login(text, text, inet, text), jobspy.session_user_id(text), jobspy.refresh_session(text),
    jobspy.revoke_session(text), jobspy.revoke_all_sessions(uuid), jobspy.unlock_user(uuid),
    jobspy.session_refresh(text),
    jobspy.issue_email_verification(uuid), jobspy.verify_email(text),
    jobspy.issue_password_reset(text), jobspy.reset_password(text, text),
    jobspy.create_organization(text, uuid, text), jobspy.add_organization_member(uuid, uuid, text),
    jobspy.set_organization_member_role(uuid, uuid, text), jobspy.remove_organization_member(uuid, uuid),
    jobspy.maintain_identity(), jobspy.organization_members_keep_owner(), jobspy.current_row_user()
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    jobspy.hash_password(text), jobspy.verify_password(text, text), jobspy.normalize_email(text),
    jobspy.create_user(text, text, text, text, text, text, text, text, text),
    jobspy.schnorr_verify(bytea, bytea, bytea), jobspy.nostr_verify_event(jsonb),
    jobspy.nostr_public_key(text), jobspy.nostr_npub(bytea), jobspy.nostr_user_id(text),
    jobspy.login(text, text, inet, text), jobspy.session_user_id(text), jobspy.refresh_session(text),
    jobspy.revoke_session(text), jobspy.revoke_all_sessions(uuid),
    jobspy.issue_email_verification(uuid), jobspy.verify_email(text),
    jobspy.issue_password_reset(text), jobspy.reset_password(text, text),
    jobspy.create_organization(text, uuid, text), jobspy.add_organization_member(uuid, uuid, text),
    jobspy.set_organization_member_role(uuid, uuid, text), jobspy.remove_organization_member(uuid, uuid)
  TO jobspy_app, jobspy_admin;
GRANT EXECUTE ON FUNCTION jobspy.unlock_user(uuid), jobspy.maintain_identity() TO jobspy_admin;
GRANT EXECUTE ON FUNCTION jobspy.current_row_user() TO jobspy_app, jobspy_analyst, jobspy_admin;
