-- jobspy_core 0.1.0--0.2.0, as released (frozen; built from the module files of 0.2.0).
\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit

-- ==== sql/upgrade/0.1.0--0.2.0/core.sql
-- core: no change from 0.1.0.

-- ==== sql/upgrade/0.1.0--0.2.0/keys.sql
-- keys: rotation refuses a 17th live key instead of letting backends drop one.

CREATE OR REPLACE FUNCTION jobspy.rotate_hash_key() RETURNS integer
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
    -- Every backend keeps the live keys in a fixed array of 16.
    IF (SELECT count(*) FROM jobspy.hash_keys WHERE state <> 'retired') >= 16 THEN
        RAISE EXCEPTION 'jobspy.hash_keys already holds 16 keys that are not retired'
            USING ERRCODE = '55000',
                  HINT = 'Retire keys no longer needed with jobspy.retire_hash_key(), then rotate.';
    END IF;
    UPDATE jobspy.hash_keys SET state = 'verify' WHERE state = 'active';
    INSERT INTO jobspy.hash_keys (secret) VALUES (jobspy.random_bytes(32))
    RETURNING key_id INTO new_id;
    RETURN new_id;
END
$$;

-- ==== sql/upgrade/0.1.0--0.2.0/identity.sql
-- identity: login locks on users, session families, organizations, password
-- hashing, login and sessions, one-time tokens, row-level security.

ALTER TABLE jobspy.users ADD COLUMN locked_until timestamptz;
ALTER TABLE jobspy.user_sessions ADD COLUMN family_id uuid;
CREATE INDEX user_sessions_family_idx ON jobspy.user_sessions (user_id, family_id);

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
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    e text;
BEGIN
    IF email IS NULL THEN
        RAISE EXCEPTION 'email must not be null' USING ERRCODE = '22004';
    END IF;
    e := lower(btrim(email, E' \t\r\n'));
    IF length(e) > 254 OR e !~ '^[a-z0-9.!#$%&''*+/=?^_`{|}~-]{1,64}@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$'
       OR e ~ '^\.|\.\.|\.@' THEN
        RAISE EXCEPTION 'email address is not valid'
            USING ERRCODE = '22023',
                  DETAIL = 'An address is local@domain.tld in ASCII, at most 254 characters.',
                  HINT = 'Give an internationalised domain in its punycode (xn--) form.';
    END IF;
    RETURN e;
END
$$;
COMMENT ON FUNCTION jobspy.normalize_email(text) IS
    'an email address trimmed and lower-cased whole; raises 22023 when it is not a valid ASCII address';

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

-- Accounts.

CREATE FUNCTION jobspy.create_user(email text, password text DEFAULT NULL,
                                   first_name text DEFAULT NULL, last_name text DEFAULT NULL,
                                   phone text DEFAULT NULL, country_code text DEFAULT NULL,
                                   timezone text DEFAULT 'UTC', language text DEFAULT 'en')
    RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    e   text := jobspy.normalize_email(email);
    uid uuid;
    h   text;
BEGIN
    IF timezone IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_timezone_names z WHERE z.name = timezone) THEN
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
                                  country_code, timezone, language)
        VALUES (e, h, first_name, last_name, phone, country_code, timezone, language)
        RETURNING id INTO uid;
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION 'a user with this email address already exists'
            USING ERRCODE = '23505',
                  DETAIL = 'Email addresses are unique without regard to case.';
    END;
    RETURN uid;
END
$$;
COMMENT ON FUNCTION jobspy.create_user(text, text, text, text, text, text, text, text) IS
    'creates an account: email trimmed and lower-cased, unique (23505); password hashed with Argon2id; time zone from pg_timezone_names (22023)';

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
    jobspy.identity_seconds(text),
    jobspy.create_user(text, text, text, text, text, text, text, text),
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
    jobspy.create_user(text, text, text, text, text, text, text, text),
    jobspy.login(text, text, inet, text), jobspy.session_user_id(text), jobspy.refresh_session(text),
    jobspy.revoke_session(text), jobspy.revoke_all_sessions(uuid),
    jobspy.issue_email_verification(uuid), jobspy.verify_email(text),
    jobspy.issue_password_reset(text), jobspy.reset_password(text, text),
    jobspy.create_organization(text, uuid, text), jobspy.add_organization_member(uuid, uuid, text),
    jobspy.set_organization_member_role(uuid, uuid, text), jobspy.remove_organization_member(uuid, uuid)
  TO jobspy_app, jobspy_admin;
GRANT EXECUTE ON FUNCTION jobspy.unlock_user(uuid), jobspy.maintain_identity() TO jobspy_admin;
GRANT EXECUTE ON FUNCTION jobspy.current_row_user() TO jobspy_app, jobspy_analyst, jobspy_admin;

-- ==== sql/upgrade/0.1.0--0.2.0/licensing.sql
-- licensing: machines, validation with shared-memory counters, the validation
-- log, licence management and Ed25519-signed offline licence tokens.
-- Validation counts live in shared memory and reach these columns in
-- batches (flush_license_validations(), run by maintain()): the day's count
-- is kept so that a restart resumes it instead of starting the day over.
ALTER TABLE jobspy.licenses
    ADD COLUMN validation_day     date,
    ADD COLUMN validations_on_day integer NOT NULL DEFAULT 0 CHECK (validations_on_day >= 0);
COMMENT ON COLUMN jobspy.licenses.validation_count IS
    'validations answered VALID, as of the last flush of the shared-memory counters';
COMMENT ON COLUMN jobspy.licenses.validation_day IS
    'UTC day of validations_on_day, as of the last flush';
COMMENT ON COLUMN jobspy.licenses.validations_on_day IS
    'validations counted against max_validations_per_day on validation_day, as of the last flush';

-- Counter flushes are bookkeeping, not changes: updated_at stays and the
-- audit log leaves them out.
DROP TRIGGER licenses_updated_at ON jobspy.licenses;
CREATE TRIGGER licenses_updated_at BEFORE UPDATE ON jobspy.licenses
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at(
        'ignore:validation_count', 'ignore:last_validated_at', 'ignore:validation_day',
        'ignore:validations_on_day');
DROP TRIGGER licenses_audit ON jobspy.licenses;
CREATE TRIGGER licenses_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.licenses
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger(
        'ignore:validation_count', 'ignore:last_validated_at', 'ignore:validation_day',
        'ignore:validations_on_day');

-- Machines (activations): the fingerprints a licence is bound to.
CREATE TABLE jobspy.license_machines (
    user_id       uuid NOT NULL,
    license_id    uuid NOT NULL,
    id            uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
    fingerprint   text NOT NULL CHECK (octet_length(fingerprint) BETWEEN 1 AND 255),
    device_name   text CHECK (octet_length(device_name) <= 255),
    os            text CHECK (octet_length(os) <= 100),
    app_version   text CHECK (octet_length(app_version) <= 64),
    first_seen_at timestamptz NOT NULL DEFAULT jobspy.now(),
    last_seen_at  timestamptz NOT NULL DEFAULT jobspy.now(),
    metadata      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    PRIMARY KEY (user_id, id),
    UNIQUE (user_id, license_id, fingerprint),
    FOREIGN KEY (user_id, license_id) REFERENCES jobspy.licenses (user_id, id) ON DELETE CASCADE
);
COMMENT ON TABLE jobspy.license_machines IS
    'machines a licence is activated on, one row per (licence, fingerprint); at most the licence''s max_machines';
CREATE UNIQUE INDEX license_machines_id_idx ON jobspy.license_machines (id);
CREATE INDEX license_machines_license_idx ON jobspy.license_machines (license_id);
CREATE TRIGGER license_machines_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.license_machines
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger('ignore:last_seen_at');
SELECT pg_catalog.pg_extension_config_dump('jobspy.license_machines', '');

-- The validation log: failures always, successes when
-- jobspy.licensing_log_successes is on.  Never the key.
CREATE TABLE jobspy.license_validations (
    id          uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
    license_id  uuid,
    user_id     uuid,
    result      text NOT NULL CHECK (result IN ('VALID', 'MALFORMED', 'NOT_FOUND', 'REVOKED', 'SUSPENDED',
                                                'EXPIRED', 'USER_SUSPENDED', 'FINGERPRINT_REQUIRED',
                                                'TOO_MANY_MACHINES', 'RATE_LIMITED')),
    fingerprint text CHECK (octet_length(fingerprint) <= 255),
    app_version text CHECK (octet_length(app_version) <= 64),
    ip_address  inet,
    created_at  timestamptz NOT NULL DEFAULT jobspy.now()
) PARTITION BY RANGE (created_at);
COMMENT ON TABLE jobspy.license_validations IS
    'validation log (seed 000''s license_validations): failures always, successes when jobspy.licensing_log_successes is on; partitioned by month';
-- Keys and indexes on the default partition; maintain() copies them onto
-- each month (see analytics.sql).
CREATE TABLE jobspy.license_validations_default PARTITION OF jobspy.license_validations
    (PRIMARY KEY (id, created_at)) DEFAULT;
CREATE INDEX license_validations_default_license_idx
    ON jobspy.license_validations_default (license_id, created_at) WHERE license_id IS NOT NULL;
CREATE INDEX license_validations_default_created_idx ON jobspy.license_validations_default (created_at);
SELECT pg_catalog.pg_extension_config_dump('jobspy.license_validations_default', '');

-- Ed25519 keys of the offline licence tokens.  The earliest active key
-- signs; 'verify' keys still verify what they signed; 'retired' ones do
-- not.  Readable only by the extension owner; dumped with the data.
CREATE TABLE jobspy.license_signing_keys (
    key_id      text PRIMARY KEY DEFAULT pg_catalog.encode(jobspy.random_bytes(8), 'hex')
                CHECK (key_id ~ '^[0-9a-f]{16}$'),
    public_key  bytea NOT NULL CHECK (octet_length(public_key) = 32),
    secret_key  bytea NOT NULL CHECK (octet_length(secret_key) = 64),
    state       text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'verify', 'retired')),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    retired_at  timestamptz,
    CHECK ((state = 'retired') = (retired_at IS NOT NULL))
);
COMMENT ON TABLE jobspy.license_signing_keys IS
    'Ed25519 keys of offline licence tokens: the earliest active key signs, verify keys still verify, retired keys do not';
REVOKE ALL ON jobspy.license_signing_keys FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('jobspy.license_signing_keys', '');

CREATE FUNCTION jobspy.ed25519_keypair(OUT public_key bytea, OUT secret_key bytea)
    LANGUAGE c VOLATILE STRICT
    AS 'MODULE_PATHNAME', 'jobspy_ed25519_keypair';
COMMENT ON FUNCTION jobspy.ed25519_keypair() IS 'a new Ed25519 key pair from libsodium';
CREATE FUNCTION jobspy.ed25519_sign(message bytea, secret_key bytea) RETURNS bytea
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_ed25519_sign';
COMMENT ON FUNCTION jobspy.ed25519_sign(bytea, bytea) IS 'the 64-byte Ed25519 signature of message';
CREATE FUNCTION jobspy.ed25519_verify(message bytea, signature bytea, public_key bytea) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_ed25519_verify';
COMMENT ON FUNCTION jobspy.ed25519_verify(bytea, bytea, bytea) IS
    'true when signature is a valid Ed25519 signature of message under public_key';

INSERT INTO jobspy.license_signing_keys (public_key, secret_key)
SELECT public_key, secret_key FROM jobspy.ed25519_keypair();

-- A new signing key; the one in use keeps verifying (state verify).
CREATE FUNCTION jobspy.rotate_license_signing_key() RETURNS text
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    new_id text;
BEGIN
    LOCK TABLE jobspy.license_signing_keys IN SHARE ROW EXCLUSIVE MODE;
    -- Later active keys were never used (made by CREATE EXTENSION during a
    -- restore): the earliest is the one clients know.
    DELETE FROM jobspy.license_signing_keys
     WHERE state = 'active'
       AND key_id <> (SELECT key_id FROM jobspy.license_signing_keys WHERE state = 'active'
                       ORDER BY created_at LIMIT 1);
    UPDATE jobspy.license_signing_keys SET state = 'verify' WHERE state = 'active';
    INSERT INTO jobspy.license_signing_keys (public_key, secret_key)
    SELECT k.public_key, k.secret_key FROM jobspy.ed25519_keypair() k
    RETURNING key_id INTO new_id;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION jobspy.rotate_license_signing_key() IS
    'makes a new Ed25519 key sign offline licence tokens; the previous key keeps verifying until retired';

CREATE FUNCTION jobspy.retire_license_signing_key(key_id text) RETURNS void
    LANGUAGE plpgsql VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    UPDATE jobspy.license_signing_keys k SET state = 'retired', retired_at = pg_catalog.clock_timestamp()
     WHERE k.key_id = retire_license_signing_key.key_id AND k.state = 'verify';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'signing key % is not a verify key', retire_license_signing_key.key_id
            USING ERRCODE = '22023',
                  HINT = 'Only a key replaced by rotate_license_signing_key() can be retired.';
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.retire_license_signing_key(text) IS
    'stops a replaced signing key from verifying: tokens it signed are refused from now on';

-- The signing key in use, or JS205.
CREATE FUNCTION jobspy.license_signing_key() RETURNS jobspy.license_signing_keys
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    k jobspy.license_signing_keys;
BEGIN
    SELECT * INTO k FROM jobspy.license_signing_keys WHERE state = 'active' ORDER BY created_at LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'there is no active licence signing key' USING ERRCODE = 'JS205',
            HINT = 'Run SELECT jobspy.rotate_license_signing_key() as the extension owner.';
    END IF;
    RETURN k;
END
$$;
COMMENT ON FUNCTION jobspy.license_signing_key() IS 'the signing key in use (JS205 when there is none)';

CREATE FUNCTION jobspy.license_public_key(key_id text DEFAULT NULL) RETURNS text
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    pk bytea;
BEGIN
    IF key_id IS NULL THEN
        pk := (jobspy.license_signing_key()).public_key;
    ELSE
        SELECT k.public_key INTO pk FROM jobspy.license_signing_keys k
         WHERE k.key_id = license_public_key.key_id AND k.state <> 'retired';
    END IF;
    RETURN encode(pk, 'base64');
END
$$;
COMMENT ON FUNCTION jobspy.license_public_key(text) IS
    'base64 of the 32-byte Ed25519 public key that signs offline licence tokens (or of key_id''s, NULL when unknown or retired)';

-- base64url without padding, as in JWS (RFC 7515).
CREATE FUNCTION jobspy.base64url_encode(data bytea) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN pg_catalog.rtrim(pg_catalog.translate(pg_catalog.encode(data, 'base64'), E'+/\n', '-_'), '=');
COMMENT ON FUNCTION jobspy.base64url_encode(bytea) IS 'base64url without padding (RFC 4648 section 5)';

CREATE FUNCTION jobspy.base64url_decode(data text) RETURNS bytea
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF data !~ '^[A-Za-z0-9_-]*$' OR length(data) % 4 = 1 THEN
        RETURN NULL;
    END IF;
    RETURN decode(translate(data, '-_', '+/') || repeat('=', (4 - length(data) % 4) % 4), 'base64');
END
$$;
COMMENT ON FUNCTION jobspy.base64url_decode(text) IS 'bytes of unpadded base64url, NULL when it is not base64url';

-- ---- licences ----------------------------------------------------------

CREATE FUNCTION jobspy.issue_license(user_id uuid, license_type text, expires_at timestamptz DEFAULT NULL,
                                     max_machines integer DEFAULT 1, features jsonb DEFAULT '[]',
                                     max_validations_per_day integer DEFAULT 1000,
                                     metadata jsonb DEFAULT '{}')
    RETURNS TABLE (license_id uuid, license_key text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    key text := jobspy.generate_license_key();
BEGIN
    IF $1 IS NULL OR $2 IS NULL THEN
        RAISE EXCEPTION 'user_id and license_type must not be null' USING ERRCODE = '22004';
    END IF;
    IF $2 NOT IN ('free', 'pro', 'enterprise') THEN
        RAISE EXCEPTION 'license_type must be free, pro or enterprise' USING ERRCODE = '22023';
    END IF;
    IF $3 IS NOT NULL AND $3 <= jobspy.now() THEN
        RAISE EXCEPTION 'expires_at must be in the future' USING ERRCODE = '22023';
    END IF;
    IF $4 IS NULL OR $4 NOT BETWEEN 1 AND 10000 THEN
        RAISE EXCEPTION 'max_machines must be from 1 to 10000' USING ERRCODE = '22023';
    END IF;
    IF $6 IS NULL OR $6 < 1 THEN
        RAISE EXCEPTION 'max_validations_per_day must be at least 1' USING ERRCODE = '22023';
    END IF;
    IF jsonb_typeof(coalesce($5, '[]')) <> 'array' OR jsonb_typeof(coalesce($7, '{}')) <> 'object' THEN
        RAISE EXCEPTION 'features must be a json array and metadata a json object' USING ERRCODE = '22023';
    END IF;
    IF NOT EXISTS (SELECT FROM jobspy.users u WHERE u.id = $1) THEN
        RAISE EXCEPTION 'user does not exist' USING ERRCODE = '22023';
    END IF;
    INSERT INTO jobspy.licenses AS l (user_id, license_key_hash, license_key_hint, license_type, expires_at,
                                      max_machines, features, max_validations_per_day, metadata)
    VALUES ($1, jobspy.secret_hash('license', key), right(key, 4), $2, $3, $4, coalesce($5, '[]'), $6,
            coalesce($7, '{}'))
    RETURNING l.id INTO license_id;
    license_key := key;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION jobspy.issue_license(uuid, text, timestamptz, integer, jsonb, integer, jsonb) IS
    'issues a licence; the plaintext key is returned this once and stored only as a keyed hash and its last four characters';

-- The licence row for a management call, locked; 22023 when unknown.
CREATE FUNCTION jobspy.license_for_update(license_id uuid) RETURNS jobspy.licenses
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    l jobspy.licenses;
BEGIN
    IF license_id IS NULL THEN
        RAISE EXCEPTION 'license_id must not be null' USING ERRCODE = '22004';
    END IF;
    SELECT * INTO l FROM jobspy.licenses li WHERE li.id = license_for_update.license_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'licence % does not exist', license_id USING ERRCODE = '22023';
    END IF;
    IF l.status = 'revoked' THEN
        RAISE EXCEPTION 'licence % is revoked', license_id USING ERRCODE = 'JS201',
            DETAIL = 'Revocation is final.', HINT = 'Issue a new licence.';
    END IF;
    RETURN l;
END
$$;
COMMENT ON FUNCTION jobspy.license_for_update(uuid) IS
    'locks and returns a licence that may still change: 22023 when unknown, JS201 when revoked';

-- A licence's new status, with the reason (when given) kept in metadata.
CREATE FUNCTION jobspy.license_set_status(license_id uuid, status text, reason_key text, reason text)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM jobspy.license_for_update(license_id);
    UPDATE jobspy.licenses l
       SET status = license_set_status.status,
           metadata = CASE WHEN reason IS NULL THEN l.metadata
                           ELSE l.metadata || jsonb_build_object(reason_key, reason) END
     WHERE l.id = license_set_status.license_id;
END
$$;
COMMENT ON FUNCTION jobspy.license_set_status(uuid, text, text, text) IS
    'sets a licence''s status (locked, not revoked) and keeps a reason in metadata under reason_key';

CREATE FUNCTION jobspy.suspend_license(license_id uuid, reason text DEFAULT NULL) RETURNS void
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    RETURN jobspy.license_set_status(license_id, 'suspended', 'suspension_reason', reason);
COMMENT ON FUNCTION jobspy.suspend_license(uuid, text) IS
    'suspends a licence: validations answer SUSPENDED from the next one after commit until reinstate_license';

CREATE FUNCTION jobspy.reinstate_license(license_id uuid) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    l jobspy.licenses := jobspy.license_for_update(license_id);
BEGIN
    IF l.status <> 'suspended' THEN
        RAISE EXCEPTION 'licence % is not suspended', license_id USING ERRCODE = '55000';
    END IF;
    UPDATE jobspy.licenses li
       SET status = CASE WHEN li.expires_at IS NOT NULL AND li.expires_at <= jobspy.now()
                         THEN 'expired' ELSE 'active' END,
           metadata = li.metadata - 'suspension_reason'
     WHERE li.id = reinstate_license.license_id;
END
$$;
COMMENT ON FUNCTION jobspy.reinstate_license(uuid) IS 'lifts a suspension (the licence is expired if its time ran out meanwhile)';

CREATE FUNCTION jobspy.revoke_license(license_id uuid, reason text DEFAULT NULL) RETURNS void
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    RETURN jobspy.license_set_status(license_id, 'revoked', 'revocation_reason', reason);
COMMENT ON FUNCTION jobspy.revoke_license(uuid, text) IS 'revokes a licence, finally: validations answer REVOKED from the next one after commit';

CREATE FUNCTION jobspy.renew_license(license_id uuid, expires_at timestamptz) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    l jobspy.licenses := jobspy.license_for_update(license_id);
BEGIN
    IF expires_at IS NOT NULL AND expires_at <= jobspy.now() THEN
        RAISE EXCEPTION 'expires_at must be in the future' USING ERRCODE = '22023';
    END IF;
    UPDATE jobspy.licenses li
       SET expires_at = renew_license.expires_at,
           status = CASE WHEN li.status = 'expired' THEN 'active' ELSE li.status END
     WHERE li.id = renew_license.license_id;
END
$$;
COMMENT ON FUNCTION jobspy.renew_license(uuid, timestamptz) IS
    'sets a new expiry (NULL: never) and makes an expired licence active again; a suspension stays';

-- ---- machines ----------------------------------------------------------

-- Binds a fingerprint to a licence while seats remain.  The licence row is
-- locked first, so concurrent activations of one licence are counted one
-- at a time and never exceed max_machines.  Returns the machine id, or NULL
-- (with no change) when every seat is taken.
CREATE FUNCTION jobspy.license_machine_bind(license_id uuid, fingerprint text, device_name text,
                                            os text, app_version text) RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    l          jobspy.licenses := jobspy.license_for_update(license_id);
    machine_id uuid;
BEGIN
    IF fingerprint IS NULL OR octet_length(fingerprint) NOT BETWEEN 1 AND 255 THEN
        RAISE EXCEPTION 'fingerprint must be from 1 to 255 bytes' USING ERRCODE = '22023';
    END IF;
    SELECT m.id INTO machine_id FROM jobspy.license_machines m
     WHERE m.user_id = l.user_id AND m.license_id = l.id AND m.fingerprint = license_machine_bind.fingerprint;
    IF FOUND THEN
        UPDATE jobspy.license_machines m
           SET device_name = coalesce(license_machine_bind.device_name, m.device_name),
               os = coalesce(license_machine_bind.os, m.os),
               app_version = coalesce(license_machine_bind.app_version, m.app_version),
               last_seen_at = greatest(m.last_seen_at, jobspy.now())
         WHERE m.user_id = l.user_id AND m.id = machine_id
           AND (m.device_name, m.os, m.app_version) IS DISTINCT FROM
               (coalesce(license_machine_bind.device_name, m.device_name),
                coalesce(license_machine_bind.os, m.os),
                coalesce(license_machine_bind.app_version, m.app_version));
        RETURN machine_id;
    END IF;
    IF (SELECT count(*) FROM jobspy.license_machines m WHERE m.user_id = l.user_id AND m.license_id = l.id)
       >= l.max_machines THEN
        RETURN NULL;
    END IF;
    INSERT INTO jobspy.license_machines AS m (user_id, license_id, fingerprint, device_name, os, app_version)
    VALUES (l.user_id, l.id, fingerprint, device_name, os, app_version)
    RETURNING m.id INTO machine_id;
    RETURN machine_id;
END
$$;
COMMENT ON FUNCTION jobspy.license_machine_bind(uuid, text, text, text, text) IS
    'binds a fingerprint to a licence while seats remain (the licence row locked); the machine id, or NULL when every seat is taken';

CREATE FUNCTION jobspy.activate_machine(license_id uuid, fingerprint text, device_name text DEFAULT NULL,
                                        os text DEFAULT NULL, app_version text DEFAULT NULL) RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    machine_id uuid;
BEGIN
    IF octet_length(device_name) > 255 OR octet_length(os) > 100 OR octet_length(app_version) > 64 THEN
        RAISE EXCEPTION 'device_name, os or app_version is too long' USING ERRCODE = '22023',
            DETAIL = 'At most 255, 100 and 64 bytes.';
    END IF;
    machine_id := jobspy.license_machine_bind(license_id, fingerprint, device_name, os, app_version);
    IF machine_id IS NULL THEN
        RAISE EXCEPTION 'licence % has no machine seat left', license_id USING ERRCODE = 'JS202',
            HINT = 'Deactivate a machine with jobspy.deactivate_machine(), or raise max_machines.';
    END IF;
    RETURN machine_id;
END
$$;
COMMENT ON FUNCTION jobspy.activate_machine(uuid, text, text, text, text) IS
    'activates a licence on a machine (idempotent per fingerprint, details updated); JS202 when every seat is taken';

CREATE FUNCTION jobspy.deactivate_machine(license_id uuid, fingerprint text) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    l jobspy.licenses := jobspy.license_for_update(license_id);
BEGIN
    DELETE FROM jobspy.license_machines m
     WHERE m.user_id = l.user_id AND m.license_id = l.id AND m.fingerprint = deactivate_machine.fingerprint;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION jobspy.deactivate_machine(uuid, text) IS
    'frees the seat of a machine; false when the fingerprint was not activated';

-- ---- the validation cache's invalidation (src/license_cache.c) -----------

-- Each backend caches what validation reads; a commit that changes a user's
-- status, a licence or a machine ends the cached entries of that user in
-- every backend.  Changes to other columns (last_login_at, counters) do not.
-- The rate limiter's licence types and the quota windows (sql/quotas.sql
-- adds the triggers they need) follow the same generations; for them a
-- user's time zone and a licence's issue time count too.
CREATE FUNCTION jobspy.license_cache_touch() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'jobspy_license_cache_touch';
COMMENT ON FUNCTION jobspy.license_cache_touch() IS
    'trigger: the users whose licence facts a transaction changes; their cached validation facts end when it commits';
CREATE TRIGGER users_license_cache AFTER INSERT OR DELETE OR UPDATE OF id, status, timezone ON jobspy.users
    FOR EACH ROW EXECUTE FUNCTION jobspy.license_cache_touch('id');
CREATE TRIGGER users_license_cache_truncate AFTER TRUNCATE ON jobspy.users
    FOR EACH STATEMENT EXECUTE FUNCTION jobspy.license_cache_touch();
CREATE TRIGGER licenses_license_cache AFTER INSERT OR DELETE
    OR UPDATE OF user_id, id, license_key_hash, license_type, status, issued_at, expires_at,
                 max_machines, max_validations_per_day, features ON jobspy.licenses
    FOR EACH ROW EXECUTE FUNCTION jobspy.license_cache_touch('user_id');
CREATE TRIGGER licenses_license_cache_truncate AFTER TRUNCATE ON jobspy.licenses
    FOR EACH STATEMENT EXECUTE FUNCTION jobspy.license_cache_touch();
CREATE TRIGGER license_machines_license_cache AFTER INSERT OR DELETE
    OR UPDATE OF user_id, license_id, fingerprint ON jobspy.license_machines
    FOR EACH ROW EXECUTE FUNCTION jobspy.license_cache_touch('user_id');
CREATE TRIGGER license_machines_license_cache_truncate AFTER TRUNCATE ON jobspy.license_machines
    FOR EACH STATEMENT EXECUTE FUNCTION jobspy.license_cache_touch();

-- ---- validation (src/licensing.c) ---------------------------------------

-- A row type rather than RETURNS TABLE: the executor then finds the result's
-- shape in the type cache instead of building it from pg_proc on every call.
CREATE TYPE jobspy.license_validation AS (valid boolean, code text, license_id uuid, user_id uuid,
                                          license_type text, features jsonb, expires_at timestamptz,
                                          validations_remaining integer);
COMMENT ON TYPE jobspy.license_validation IS 'the answer of validate_license';

CREATE FUNCTION jobspy.validate_license(license_key text, fingerprint text DEFAULT NULL,
                                        app_version text DEFAULT NULL)
    RETURNS jobspy.license_validation
    LANGUAGE c VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'jobspy_validate_license';
COMMENT ON FUNCTION jobspy.validate_license(text, text, text) IS
    'validates a licence key for a machine: a code (VALID, MALFORMED, NOT_FOUND, REVOKED, SUSPENDED, EXPIRED, USER_SUSPENDED, FINGERPRINT_REQUIRED, TOO_MANY_MACHINES, RATE_LIMITED), never an error';

CREATE FUNCTION jobspy.check_license_rate_limit(p_license_id uuid, p_max_validations integer DEFAULT 1000)
    RETURNS boolean
    LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'jobspy_check_license_rate_limit';
COMMENT ON FUNCTION jobspy.check_license_rate_limit(uuid, integer) IS
    'seed 000''s check: true while the licence''s validations this UTC day are fewer than p_max_validations; O(1), from shared memory';

CREATE FUNCTION jobspy.flush_license_validations() RETURNS bigint
    LANGUAGE c VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'jobspy_flush_license_validations';
COMMENT ON FUNCTION jobspy.flush_license_validations() IS
    'writes the validation counters kept in shared memory to licenses and license_machines; returns the rows updated';

CREATE FUNCTION jobspy.maintain_licensing() RETURNS TABLE (action text, object text)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n bigint;
BEGIN
    -- Licences whose time ran out read 'expired' (validation already
    -- answers EXPIRED from expires_at alone).
    UPDATE jobspy.licenses SET status = 'expired'
     WHERE status = 'active' AND expires_at IS NOT NULL AND expires_at <= jobspy.now();
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        action := 'expired'; object := format('%s licences', n);
        RETURN NEXT;
    END IF;
    IF jobspy.library_preloaded() THEN
        n := jobspy.flush_license_validations();
        IF n > 0 THEN
            action := 'flushed'; object := format('validation counters of %s licences and machines', n);
            RETURN NEXT;
        END IF;
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.maintain_licensing() IS
    'maintain() step: marks licences past expires_at expired and flushes the shared-memory validation counters';

-- ---- offline licence tokens ---------------------------------------------

-- token = "jsl1." || base64url(payload) || "." || base64url(signature), the
-- Ed25519 signature covering the ASCII text before the second dot
-- (docs/licensing.md has the format byte for byte).
CREATE FUNCTION jobspy.license_token(license_key text, fingerprint text, ttl interval DEFAULT '30 days')
    RETURNS text
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v       record;
    k       jobspy.license_signing_keys := jobspy.license_signing_key();
    issued  bigint := floor(extract(epoch FROM jobspy.now()));
    expires bigint;
    payload text;
    signed  text;
BEGIN
    IF ttl IS NULL OR ttl <= interval '0' OR ttl > interval '3660 days' THEN
        RAISE EXCEPTION 'ttl must be positive and at most 3660 days' USING ERRCODE = '22023';
    END IF;
    IF fingerprint IS NULL OR fingerprint = '' THEN
        RAISE EXCEPTION 'an offline licence token is bound to a machine: fingerprint must not be empty'
            USING ERRCODE = '22023';
    END IF;
    SELECT * INTO v FROM jobspy.validate_license(license_key, fingerprint, NULL);
    IF NOT v.valid THEN
        RAISE EXCEPTION 'licence cannot be used: %', v.code USING ERRCODE = 'JS203',
            DETAIL = 'validate_license answered ' || v.code || ' for this key and fingerprint.';
    END IF;
    expires := floor(extract(epoch FROM least(jobspy.now() + ttl, v.expires_at)));
    payload := jsonb_build_object('v', 1, 'kid', k.key_id, 'lid', v.license_id, 'typ', v.license_type,
                                  'feat', v.features, 'fp', fingerprint, 'iat', issued, 'exp', expires)::text;
    signed := 'jsl1.' || jobspy.base64url_encode(convert_to(payload, 'UTF8'));
    RETURN signed || '.' || jobspy.base64url_encode(jobspy.ed25519_sign(convert_to(signed, 'UTF8'), k.secret_key));
END
$$;
COMMENT ON FUNCTION jobspy.license_token(text, text, interval) IS
    'an Ed25519-signed offline licence for one machine, valid for ttl (never past the licence''s expiry); the key must validate for the fingerprint';

CREATE FUNCTION jobspy.verify_license_token(token text, fingerprint text DEFAULT NULL) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    parts   text[];
    payload jsonb;
    sig     bytea;
    k       jobspy.license_signing_keys;
BEGIN
    IF token IS NULL OR length(token) > 8192 THEN
        RETURN jsonb_build_object('valid', false, 'code', 'MALFORMED');
    END IF;
    parts := string_to_array(token, '.');
    IF cardinality(parts) <> 3 OR parts[1] <> 'jsl1' THEN
        RETURN jsonb_build_object('valid', false, 'code', 'MALFORMED');
    END IF;
    sig := jobspy.base64url_decode(parts[3]);
    -- Only the canonical encoding: unused low bits of the last character
    -- set would give one signature many spellings.
    IF sig IS NULL OR jobspy.base64url_encode(sig) <> parts[3] THEN
        RETURN jsonb_build_object('valid', false, 'code', 'MALFORMED');
    END IF;
    BEGIN
        payload := convert_from(jobspy.base64url_decode(parts[2]), 'UTF8')::jsonb;
    EXCEPTION WHEN invalid_text_representation OR character_not_in_repertoire
                   OR untranslatable_character THEN
        RETURN jsonb_build_object('valid', false, 'code', 'MALFORMED');
    END;
    IF sig IS NULL OR octet_length(sig) <> 64 OR payload IS NULL
       OR jsonb_typeof(payload) IS DISTINCT FROM 'object'
       OR jsonb_typeof(payload -> 'kid') IS DISTINCT FROM 'string'
       OR jsonb_typeof(payload -> 'exp') IS DISTINCT FROM 'number' THEN
        RETURN jsonb_build_object('valid', false, 'code', 'MALFORMED');
    END IF;
    SELECT * INTO k FROM jobspy.license_signing_keys WHERE key_id = payload ->> 'kid';
    IF NOT FOUND THEN
        RETURN jsonb_build_object('valid', false, 'code', 'UNKNOWN_KEY');
    END IF;
    IF NOT jobspy.ed25519_verify(convert_to(parts[1] || '.' || parts[2], 'UTF8'), sig, k.public_key) THEN
        RETURN jsonb_build_object('valid', false, 'code', 'BAD_SIGNATURE');
    END IF;
    IF k.state = 'retired' THEN
        RETURN jsonb_build_object('valid', false, 'code', 'KEY_RETIRED', 'claims', payload);
    END IF;
    IF (payload ->> 'exp')::numeric <= extract(epoch FROM jobspy.now()) THEN
        RETURN jsonb_build_object('valid', false, 'code', 'EXPIRED', 'claims', payload);
    END IF;
    IF fingerprint IS NOT NULL AND fingerprint IS DISTINCT FROM payload ->> 'fp' THEN
        RETURN jsonb_build_object('valid', false, 'code', 'FINGERPRINT_MISMATCH', 'claims', payload);
    END IF;
    RETURN jsonb_build_object('valid', true, 'code', 'VALID', 'claims', payload);
END
$$;
COMMENT ON FUNCTION jobspy.verify_license_token(text, text) IS
    'checks an offline licence token: {"valid", "code" (VALID, MALFORMED, UNKNOWN_KEY, BAD_SIGNATURE, KEY_RETIRED, EXPIRED, FINGERPRINT_MISMATCH), "claims"}';

-- ---- privileges -----------------------------------------------------------

REVOKE ALL ON FUNCTION
    jobspy.ed25519_keypair(),
    jobspy.ed25519_sign(bytea, bytea),
    jobspy.ed25519_verify(bytea, bytea, bytea),
    jobspy.rotate_license_signing_key(),
    jobspy.retire_license_signing_key(text),
    jobspy.license_signing_key(),
    jobspy.license_public_key(text),
    jobspy.base64url_encode(bytea),
    jobspy.base64url_decode(text),
    jobspy.issue_license(uuid, text, timestamptz, integer, jsonb, integer, jsonb),
    jobspy.license_for_update(uuid),
    jobspy.license_set_status(uuid, text, text, text),
    jobspy.suspend_license(uuid, text),
    jobspy.reinstate_license(uuid),
    jobspy.revoke_license(uuid, text),
    jobspy.renew_license(uuid, timestamptz),
    jobspy.license_machine_bind(uuid, text, text, text, text),
    jobspy.license_cache_touch(),
    jobspy.activate_machine(uuid, text, text, text, text),
    jobspy.deactivate_machine(uuid, text),
    jobspy.validate_license(text, text, text),
    jobspy.check_license_rate_limit(uuid, integer),
    jobspy.flush_license_validations(),
    jobspy.maintain_licensing(),
    jobspy.license_token(text, text, interval),
    jobspy.verify_license_token(text, text)
  FROM PUBLIC;
REVOKE ALL ON jobspy.license_machines, jobspy.license_validations,
    jobspy.license_validations_default FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    jobspy.validate_license(text, text, text),
    jobspy.check_license_rate_limit(uuid, integer),
    jobspy.license_token(text, text, interval),
    jobspy.verify_license_token(text, text),
    jobspy.license_public_key(text),
    jobspy.activate_machine(uuid, text, text, text, text),
    jobspy.deactivate_machine(uuid, text),
    jobspy.issue_license(uuid, text, timestamptz, integer, jsonb, integer, jsonb)
  TO jobspy_app, jobspy_admin;
GRANT EXECUTE ON FUNCTION
    jobspy.suspend_license(uuid, text),
    jobspy.reinstate_license(uuid),
    jobspy.revoke_license(uuid, text),
    jobspy.renew_license(uuid, timestamptz),
    jobspy.flush_license_validations()
  TO jobspy_admin;
GRANT SELECT ON jobspy.license_machines, jobspy.license_validations TO jobspy_admin;
GRANT SELECT (key_id, public_key, state, created_at, retired_at) ON jobspy.license_signing_keys TO jobspy_admin;

-- ==== sql/upgrade/0.1.0--0.2.0/ratelimit.sql
-- ratelimit: the shared-memory limiter (rate_limit, check_rate_limit), rule
-- management and the view of tracked keys; rules are cached per backend.

-- The hour window's bucket must refill within the limiter's range (2^62 ns,
-- about 146 years; src/gcra.h), or check_rate_limit could not apply the rule.
ALTER TABLE jobspy.rate_limit_rules ADD CONSTRAINT rate_limit_rules_hour_window_check
    CHECK (CASE WHEN requests_per_hour > 0
               THEN (3600000000000 / requests_per_hour)::numeric * burst_limit <= 4611686018427387904 END);

-- The rules cache of every backend is dropped when a change to the rules
-- commits.
CREATE FUNCTION jobspy.rate_limit_rules_changed() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'jobspy_rate_limit_rules_changed';
COMMENT ON FUNCTION jobspy.rate_limit_rules_changed() IS
    'statement trigger on rate_limit_rules: every backend reloads its cached rules once the change commits';
CREATE TRIGGER rate_limit_rules_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON jobspy.rate_limit_rules
    FOR EACH STATEMENT EXECUTE FUNCTION jobspy.rate_limit_rules_changed();

-- The limiter: GCRA over a key in shared memory, redis-cell's CL.THROTTLE.
-- Answers are row types rather than RETURNS TABLE: the executor then finds
-- the result's shape in the type cache instead of building it from pg_proc
-- on every call, a seventh of a call's cost.
CREATE TYPE jobspy.rate_limit_result AS (allowed boolean, "limit" integer, remaining integer,
                                         retry_after_ms bigint, reset_after_ms bigint);
COMMENT ON TYPE jobspy.rate_limit_result IS 'the answer of rate_limit and rate_limit_peek';
CREATE TYPE jobspy.rate_limit_check AS (allowed boolean, rule text, "limit" integer, remaining integer,
                                        retry_after_ms bigint, reset_after_ms bigint);
COMMENT ON TYPE jobspy.rate_limit_check IS 'the answer of check_rate_limit';

CREATE FUNCTION jobspy.rate_limit(key text, max_burst integer, count integer, period interval,
                                  quantity integer DEFAULT 1)
    RETURNS jobspy.rate_limit_result
    LANGUAGE c VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'jobspy_rate_limit';
COMMENT ON FUNCTION jobspy.rate_limit(text, integer, integer, interval, integer) IS
    'GCRA rate limit of key: count per period with bursts of max_burst + 1; quantity 0 only reads (CL.THROTTLE semantics)';

CREATE FUNCTION jobspy.rate_limit_peek(key text, max_burst integer, count integer, period interval)
    RETURNS jobspy.rate_limit_result
    LANGUAGE c VOLATILE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_rate_limit_peek';
COMMENT ON FUNCTION jobspy.rate_limit_peek(text, integer, integer, interval) IS
    'the state of a rate-limit key under these parameters, consuming nothing and tracking nothing new';

CREATE FUNCTION jobspy.rate_limit_reset(key text) RETURNS boolean
    LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'jobspy_rate_limit_reset';
COMMENT ON FUNCTION jobspy.rate_limit_reset(text) IS
    'forget a rate-limit key (it is full again); false when it was not tracked';

CREATE FUNCTION jobspy.rate_limit_reset_user(user_id uuid) RETURNS bigint
    LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'jobspy_rate_limit_reset_user';
COMMENT ON FUNCTION jobspy.rate_limit_reset_user(uuid) IS
    'forget every rule window of a user (all full again); returns how many were tracked';

CREATE FUNCTION jobspy.rate_limit_pattern_match(pattern text, endpoint text) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_rate_limit_pattern_match';
COMMENT ON FUNCTION jobspy.rate_limit_pattern_match(text, text) IS
    'true when an endpoint matches a rule''s endpoint_pattern (* matches any run of characters)';

-- Rules applied per user and endpoint.
CREATE FUNCTION jobspy.check_rate_limit(user_id uuid, endpoint text, cost integer DEFAULT 1)
    RETURNS jobspy.rate_limit_check
    LANGUAGE c VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'jobspy_check_rate_limit';
COMMENT ON FUNCTION jobspy.check_rate_limit(uuid, text, integer) IS
    'apply every matching rate_limit_rules window for the user''s licence type to endpoint at once; a refusal consumes nothing';

CREATE FUNCTION jobspy.set_rate_limit_rule(name text, endpoint_pattern text, license_type text,
                                           requests_per_hour integer, requests_per_day integer,
                                           burst_limit integer, enabled boolean DEFAULT true)
    RETURNS uuid
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    INSERT INTO jobspy.rate_limit_rules AS r
           (name, endpoint_pattern, license_type, requests_per_hour, requests_per_day, burst_limit, enabled)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (name) DO UPDATE
       SET endpoint_pattern = EXCLUDED.endpoint_pattern,
           license_type = EXCLUDED.license_type,
           requests_per_hour = EXCLUDED.requests_per_hour,
           requests_per_day = EXCLUDED.requests_per_day,
           burst_limit = EXCLUDED.burst_limit,
           enabled = EXCLUDED.enabled
    RETURNING r.id
$$;
COMMENT ON FUNCTION jobspy.set_rate_limit_rule(text, text, text, integer, integer, integer, boolean) IS
    'create or replace the rate-limit rule of this name; returns its id';

CREATE FUNCTION jobspy.drop_rate_limit_rule(name text) RETURNS boolean
    LANGUAGE sql VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    WITH d AS (DELETE FROM jobspy.rate_limit_rules r WHERE r.name = $1 RETURNING 1)
    SELECT count(*) > 0 FROM d
$$;
COMMENT ON FUNCTION jobspy.drop_rate_limit_rule(text) IS
    'delete the rate-limit rule of this name; false when there was none';

-- Observing the store, in the spirit of pg_stat_statements.
CREATE FUNCTION jobspy.rate_limit_entries(OUT key text, OUT key_digest bytea, OUT rule_id uuid,
                                          OUT user_id uuid, OUT "window" text,
                                          OUT full_at timestamptz, OUT active boolean,
                                          OUT allowed bigint, OUT denied bigint)
    RETURNS SETOF record
    LANGUAGE c VOLATILE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_rate_limit_entries';
COMMENT ON FUNCTION jobspy.rate_limit_entries() IS
    'every key the rate limiter tracks, with its counters of admitted and refused calls';

CREATE VIEW jobspy.rate_limit_keys AS
    SELECT e.key, e.key_digest, e.rule_id, r.name AS rule, e.user_id, e."window",
           e.full_at, e.active, e.allowed, e.denied
      FROM jobspy.rate_limit_entries() e
      LEFT JOIN jobspy.rate_limit_rules r ON r.id = e.rule_id;
COMMENT ON VIEW jobspy.rate_limit_keys IS
    'tracked rate-limit keys: plain key, or digest of a long key, or rule window (rule, user, hour/day); full_at is when the bucket is full again';

CREATE FUNCTION jobspy.rate_limit_store(OUT max_keys bigint, OUT partitions integer,
                                        OUT tracked_keys bigint, OUT active_keys bigint,
                                        OUT shared_bytes bigint, OUT bytes_per_key integer,
                                        OUT evictions bigint, OUT full_allowed bigint,
                                        OUT full_denied bigint, OUT stats_reset timestamptz)
    RETURNS record
    LANGUAGE c VOLATILE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_rate_limit_store';
COMMENT ON FUNCTION jobspy.rate_limit_store() IS
    'size and counters of the rate limiter''s shared-memory store (bytes_per_key includes every overhead)';

CREATE FUNCTION jobspy.rate_limit_stats_reset() RETURNS void
    LANGUAGE c VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'jobspy_rate_limit_stats_reset';
COMMENT ON FUNCTION jobspy.rate_limit_stats_reset() IS
    'zero the admitted and refused counters of every key and of the store';

REVOKE ALL ON FUNCTION
    jobspy.rate_limit_rules_changed(),
    jobspy.rate_limit(text, integer, integer, interval, integer),
    jobspy.rate_limit_peek(text, integer, integer, interval),
    jobspy.rate_limit_reset(text),
    jobspy.rate_limit_reset_user(uuid),
    jobspy.rate_limit_pattern_match(text, text),
    jobspy.check_rate_limit(uuid, text, integer),
    jobspy.set_rate_limit_rule(text, text, text, integer, integer, integer, boolean),
    jobspy.drop_rate_limit_rule(text),
    jobspy.rate_limit_entries(),
    jobspy.rate_limit_store(),
    jobspy.rate_limit_stats_reset()
  FROM PUBLIC;
REVOKE ALL ON jobspy.rate_limit_keys FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    jobspy.rate_limit(text, integer, integer, interval, integer),
    jobspy.rate_limit_peek(text, integer, integer, interval),
    jobspy.check_rate_limit(uuid, text, integer)
  TO jobspy_app, jobspy_admin;
GRANT EXECUTE ON FUNCTION
    jobspy.rate_limit_reset(text),
    jobspy.rate_limit_reset_user(uuid),
    jobspy.rate_limit_pattern_match(text, text),
    jobspy.set_rate_limit_rule(text, text, text, integer, integer, integer, boolean),
    jobspy.drop_rate_limit_rule(text),
    jobspy.rate_limit_entries(),
    jobspy.rate_limit_store(),
    jobspy.rate_limit_stats_reset()
  TO jobspy_admin;
GRANT SELECT ON jobspy.rate_limit_keys TO jobspy_admin;

-- ==== sql/upgrade/0.1.0--0.2.0/quotas.sql
-- quotas: plans and their quotas, consumption with idempotency keys, reservations,
-- the usage ledger, entitlements and feature flag evaluation.

CREATE TABLE jobspy.plans (
    id            uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    code          text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$'),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    description   text CHECK (length(description) <= 1000),
    price_monthly bigint NOT NULL DEFAULT 0 CHECK (price_monthly >= 0),
    price_yearly  bigint CHECK (price_yearly >= 0),
    currency      text NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
    features      jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(features) IN ('array', 'object')),
    is_active     boolean NOT NULL DEFAULT true,
    is_public     boolean NOT NULL DEFAULT true,
    sort_order    integer NOT NULL DEFAULT 100,
    created_at    timestamptz NOT NULL DEFAULT jobspy.now(),
    updated_at    timestamptz NOT NULL DEFAULT jobspy.now()
);
COMMENT ON TABLE jobspy.plans IS
    'plans: prices in minor units, features (array of names or object of name -> boolean), quotas in plan_quotas';
CREATE TRIGGER plans_updated_at BEFORE UPDATE ON jobspy.plans
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
CREATE TRIGGER plans_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.plans
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
SELECT pg_catalog.pg_extension_config_dump('jobspy.plans', '');

-- A quota's period kind, and the amounts a counter holds.  Domains rather
-- than CHECK constraints of the tables: PostgreSQL reads and plans a
-- table's CHECK constraints afresh for every UPDATE statement, which was
-- most of the cost of consume_quota's counter update, while a domain's
-- check is planned once per backend and runs only when a value is assigned.
CREATE DOMAIN jobspy.quota_period AS text
    CHECK (VALUE IN ('day', 'week', 'month', 'year', 'lifetime'));
COMMENT ON DOMAIN jobspy.quota_period IS 'a quota''s period: day, week, month, year or lifetime';
CREATE DOMAIN jobspy.quota_amount AS bigint CHECK (VALUE >= 0);
COMMENT ON DOMAIN jobspy.quota_amount IS 'an amount used or reserved: never negative';

CREATE TABLE jobspy.plan_quotas (
    plan_id     uuid NOT NULL REFERENCES jobspy.plans (id) ON DELETE CASCADE,
    metric      text NOT NULL CHECK (metric ~ '^[a-z][a-z0-9_.:-]{0,99}$'),
    period      jobspy.quota_period NOT NULL,
    quota_limit bigint NOT NULL CHECK (quota_limit >= -1),
    created_at  timestamptz NOT NULL DEFAULT jobspy.now(),
    updated_at  timestamptz NOT NULL DEFAULT jobspy.now(),
    PRIMARY KEY (plan_id, metric)
);
COMMENT ON TABLE jobspy.plan_quotas IS
    'a plan''s limit on a metric per period (day, week, month, year, lifetime); -1 is unlimited (still counted)';
CREATE INDEX plan_quotas_metric_idx ON jobspy.plan_quotas (metric);
CREATE TRIGGER plan_quotas_updated_at BEFORE UPDATE ON jobspy.plan_quotas
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
CREATE TRIGGER plan_quotas_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.plan_quotas
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
SELECT pg_catalog.pg_extension_config_dump('jobspy.plan_quotas', '');

CREATE TABLE jobspy.user_plans (
    user_id    uuid PRIMARY KEY REFERENCES jobspy.users (id) ON DELETE CASCADE,
    plan_id    uuid NOT NULL REFERENCES jobspy.plans (id),
    created_at timestamptz NOT NULL DEFAULT jobspy.now(),
    updated_at timestamptz NOT NULL DEFAULT jobspy.now()
);
COMMENT ON TABLE jobspy.user_plans IS
    'the plan set for a user with set_user_plan; a live subscription''s plan takes precedence';
CREATE INDEX user_plans_plan_idx ON jobspy.user_plans (plan_id);
CREATE TRIGGER user_plans_updated_at BEFORE UPDATE ON jobspy.user_plans
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
CREATE TRIGGER user_plans_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.user_plans
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
SELECT pg_catalog.pg_extension_config_dump('jobspy.user_plans', '');

-- consume_quota's per-backend quota windows (src/quotas.c) follow the
-- licence cache's per-user generations (sql/licensing.sql): a committed
-- change of a user's subscription or plan ends that user's windows in every
-- backend; a change of any plan or quota ends everyone's.
CREATE TRIGGER subscriptions_quota_cache AFTER INSERT OR DELETE
    OR UPDATE OF user_id, plan_type, status, current_period_start ON jobspy.subscriptions
    FOR EACH ROW EXECUTE FUNCTION jobspy.license_cache_touch('user_id');
CREATE TRIGGER subscriptions_quota_cache_truncate AFTER TRUNCATE ON jobspy.subscriptions
    FOR EACH STATEMENT EXECUTE FUNCTION jobspy.license_cache_touch();
CREATE TRIGGER user_plans_quota_cache AFTER INSERT OR DELETE OR UPDATE ON jobspy.user_plans
    FOR EACH ROW EXECUTE FUNCTION jobspy.license_cache_touch('user_id');
CREATE TRIGGER user_plans_quota_cache_truncate AFTER TRUNCATE ON jobspy.user_plans
    FOR EACH STATEMENT EXECUTE FUNCTION jobspy.license_cache_touch();
CREATE TRIGGER plans_quota_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON jobspy.plans
    FOR EACH STATEMENT EXECUTE FUNCTION jobspy.license_cache_touch();
CREATE TRIGGER plan_quotas_quota_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON jobspy.plan_quotas
    FOR EACH STATEMENT EXECUTE FUNCTION jobspy.license_cache_touch();

-- One row per (user, metric, period kind, period start): the running total
-- that consume_quota checks and bumps under its row lock.  Lifetime
-- counters start at -infinity.  Updates touch no indexed column, so they
-- stay HOT; the fill factor leaves room for that.
CREATE TABLE jobspy.quota_counters (
    user_id      uuid NOT NULL REFERENCES jobspy.users (id) ON DELETE CASCADE,
    metric       text NOT NULL,
    period       jobspy.quota_period NOT NULL,
    period_start timestamptz NOT NULL,
    period_end   timestamptz NOT NULL,
    used         jobspy.quota_amount NOT NULL DEFAULT 0,
    reserved     jobspy.quota_amount NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, metric, period, period_start)
) WITH (fillfactor = 70);
COMMENT ON TABLE jobspy.quota_counters IS
    'per user, metric and period: the amount used and the amount held by reservations';

-- A period ends after it starts.  A constraint trigger on those columns
-- rather than a CHECK constraint, for the reason the domains above give:
-- consumption updates used only, and a trigger on other columns costs it
-- nothing.
CREATE FUNCTION jobspy.quota_counters_period_check() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NOT (NEW.period_end > NEW.period_start) THEN
        RAISE EXCEPTION 'new row for relation "quota_counters" violates its period check'
            USING ERRCODE = '23514', DETAIL = 'period_end must be after period_start.',
                  SCHEMA = 'jobspy', TABLE = 'quota_counters';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION jobspy.quota_counters_period_check() IS
    'constraint trigger on quota_counters: period_end after period_start (23514)';
CREATE CONSTRAINT TRIGGER quota_counters_period_check
    AFTER INSERT OR UPDATE OF period_start, period_end ON jobspy.quota_counters
    FOR EACH ROW EXECUTE FUNCTION jobspy.quota_counters_period_check();
SELECT pg_catalog.pg_extension_config_dump('jobspy.quota_counters', '');

-- The usage ledger: one row per granted consumption or settled
-- reservation.  No foreign key to users: a key check would lock the user
-- row on every consumption, and billing history outlives accounts until
-- retention removes it.
CREATE TABLE jobspy.usage_records (
    user_id         uuid NOT NULL,
    id              uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
    metric          text NOT NULL CHECK (length(metric) BETWEEN 1 AND 100),
    amount          bigint NOT NULL CHECK (amount >= 0),
    cost            numeric(20, 6) CHECK (cost >= 0),
    currency        text CHECK (currency ~ '^[A-Z]{3}$'),
    idempotency_key text CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    reservation_id  uuid,
    metadata        jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    created_at      timestamptz NOT NULL DEFAULT jobspy.now()
) PARTITION BY RANGE (created_at);
COMMENT ON TABLE jobspy.usage_records IS
    'usage ledger: each granted consumption (amount, cost in minor units, metadata), partitioned by month';
CREATE TABLE jobspy.usage_records_default PARTITION OF jobspy.usage_records
    (PRIMARY KEY (user_id, created_at, id)) DEFAULT;
SELECT pg_catalog.pg_extension_config_dump('jobspy.usage_records_default', '');

-- Idempotency keys of granted calls, kept for as long as the user exists
-- (the ledger is partitioned and expires; this table does not), with the
-- answer given.
CREATE TABLE jobspy.quota_idempotency (
    user_id         uuid NOT NULL REFERENCES jobspy.users (id) ON DELETE CASCADE,
    idempotency_key text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    operation       text NOT NULL CHECK (operation IN ('consume', 'reserve')),
    metric          text NOT NULL,
    amount          bigint NOT NULL,
    reservation_id  uuid,
    allowed         boolean NOT NULL,
    used            bigint,
    quota_limit     bigint,
    remaining       bigint,
    period_start    timestamptz,
    resets_at       timestamptz,
    created_at      timestamptz NOT NULL DEFAULT jobspy.now(),
    PRIMARY KEY (user_id, idempotency_key)
);
COMMENT ON TABLE jobspy.quota_idempotency IS
    'idempotency keys of granted consume_quota and reserve_quota calls with the answer given; unique per user for good';
SELECT pg_catalog.pg_extension_config_dump('jobspy.quota_idempotency', '');

CREATE TABLE jobspy.quota_reservations (
    user_id         uuid NOT NULL REFERENCES jobspy.users (id) ON DELETE CASCADE,
    id              uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
    metric          text NOT NULL,
    period          text NOT NULL,
    period_start    timestamptz NOT NULL,
    quota_limit     bigint NOT NULL,
    amount          bigint NOT NULL CHECK (amount > 0),
    actual_amount   bigint CHECK (actual_amount >= 0),
    status          text NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'settled', 'cancelled', 'expired')),
    idempotency_key text,
    expires_at      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT jobspy.now(),
    updated_at      timestamptz NOT NULL DEFAULT jobspy.now(),
    PRIMARY KEY (user_id, id),
    FOREIGN KEY (user_id, metric, period, period_start)
        REFERENCES jobspy.quota_counters (user_id, metric, period, period_start) ON DELETE CASCADE,
    CHECK ((status = 'settled') = (actual_amount IS NOT NULL))
);
COMMENT ON TABLE jobspy.quota_reservations IS
    'amounts held against a quota until settled with the actual amount, cancelled, or released at expiry';
CREATE UNIQUE INDEX quota_reservations_id_idx ON jobspy.quota_reservations (id);
CREATE INDEX quota_reservations_expires_idx ON jobspy.quota_reservations (expires_at) WHERE status = 'held';
CREATE TRIGGER quota_reservations_updated_at BEFORE UPDATE ON jobspy.quota_reservations
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
SELECT pg_catalog.pg_extension_config_dump('jobspy.quota_reservations', '');

-- ---- plan in force and period arithmetic ------------------------------

CREATE FUNCTION jobspy.quota_default_plan_id() RETURNS uuid
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v jsonb := jobspy.config_get('quotas.default_plan');
BEGIN
    IF v IS NULL OR jsonb_typeof(v) <> 'string' THEN
        RETURN NULL;
    END IF;
    RETURN (SELECT p.id FROM jobspy.plans p WHERE p.code = v #>> '{}');
END
$$;
COMMENT ON FUNCTION jobspy.quota_default_plan_id() IS
    'the plan named by configuration quotas.default_plan, or NULL';

-- The plan in force for a user at a time: the live subscription's plan
-- (by code = subscriptions.plan_type), else the one set with
-- set_user_plan, else the plan named like the most recently issued active
-- licence's type, else the configured default.  anchor is the live
-- subscription's current period start, whichever plan is in force: a
-- subscriber's months follow the billing period.
CREATE FUNCTION jobspy.quota_plan_of(user_id uuid, at timestamptz)
    RETURNS TABLE (user_status text, timezone text, plan_id uuid, source text, anchor timestamptz)
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
-- coalesce() evaluates its arguments in order and stops at the first that
-- is not NULL, so each later lookup runs only when the earlier ones miss;
-- OFFSET 0 keeps the planner from copying the expression (and its
-- lookups) into every place that uses it.
SELECT u.status, u.timezone, pid.plan_id,
       CASE WHEN s.plan_id IS NOT NULL THEN 'subscription'
            WHEN EXISTS (SELECT FROM jobspy.user_plans x WHERE x.user_id = u.id) THEN 'user'
            WHEN EXISTS (SELECT FROM jobspy.licenses li JOIN jobspy.plans p ON p.code = li.license_type
                          WHERE li.user_id = u.id AND li.status = 'active'
                            AND (li.expires_at IS NULL OR li.expires_at > $2)) THEN 'license'
            WHEN pid.plan_id IS NOT NULL THEN 'default' END,
       s.anchor
  FROM jobspy.users u
  LEFT JOIN LATERAL (
        SELECT p.id AS plan_id, sub.current_period_start AS anchor
          FROM jobspy.subscriptions sub LEFT JOIN jobspy.plans p ON p.code = sub.plan_type
         WHERE sub.user_id = u.id AND sub.status IN ('active', 'trialing', 'past_due')
         LIMIT 1) s ON true
  CROSS JOIN LATERAL (
        SELECT coalesce(s.plan_id,
                        (SELECT x.plan_id FROM jobspy.user_plans x WHERE x.user_id = u.id),
                        (SELECT p.id FROM jobspy.licenses li JOIN jobspy.plans p ON p.code = li.license_type
                          WHERE li.user_id = u.id AND li.status = 'active'
                            AND (li.expires_at IS NULL OR li.expires_at > $2)
                          ORDER BY li.issued_at DESC, li.id LIMIT 1),
                        jobspy.quota_default_plan_id()) AS plan_id
        OFFSET 0) pid
 WHERE u.id = $1
$$;
COMMENT ON FUNCTION jobspy.quota_plan_of(uuid, timestamptz) IS
    'internal: a user''s status, time zone, plan in force, where it comes from, and the billing anchor';

-- Periods of a whole number of months counted from a billing anchor, in
-- UTC: the one holding "at".  Counting from the anchor each time keeps
-- month ends right (an anchor on the 31st gives Feb 28, then Mar 31).
CREATE FUNCTION jobspy.quota_anchored_period(anchor timestamptz, at timestamptz, months integer,
                                             OUT period_start timestamptz, OUT period_end timestamptz)
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    a timestamp := anchor AT TIME ZONE 'UTC';
    t timestamp := at AT TIME ZONE 'UTC';
    k integer;
BEGIN
    k := ((extract(year FROM t) - extract(year FROM a)) * 12 + extract(month FROM t) - extract(month FROM a))::integer;
    k := floor(k::numeric / months)::integer * months;
    IF a + make_interval(months => k) > t THEN
        k := k - months;
    END IF;
    period_start := (a + make_interval(months => k)) AT TIME ZONE 'UTC';
    period_end := (a + make_interval(months => k + months)) AT TIME ZONE 'UTC';
END
$$;
COMMENT ON FUNCTION jobspy.quota_anchored_period(timestamptz, timestamptz, integer) IS
    'internal: the period of so many months, counted from a billing anchor, that holds a time';

-- The quota that applies to a user and metric at a time, and its window,
-- read through the tables' keys in C; it follows the rule of
-- quota_plan_of() above.  All NULL for an unknown user; period is NULL when
-- the plan in force does not define the metric.
CREATE FUNCTION jobspy.quota_lookup(user_id uuid, metric text, at timestamptz,
                                    OUT user_status text, OUT plan_id uuid, OUT period text,
                                    OUT quota_limit bigint, OUT period_start timestamptz,
                                    OUT period_end timestamptz)
    LANGUAGE c STABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_quota_lookup';
COMMENT ON FUNCTION jobspy.quota_lookup(uuid, text, timestamptz) IS
    'internal: the plan quota that applies to a user''s metric at a time and the period holding it';

-- ---- consumption ------------------------------------------------------

-- Checks the arguments every quota call shares; raises 22023.
CREATE FUNCTION jobspy.quota_check_args(user_id uuid, metric text, amount bigint, idempotency_key text)
    RETURNS void
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF user_id IS NULL OR metric IS NULL OR amount IS NULL THEN
        RAISE EXCEPTION 'user_id, metric and amount must not be NULL'
            USING ERRCODE = '22023';
    END IF;
    IF amount <= 0 THEN
        RAISE EXCEPTION 'amount must be positive'
            USING ERRCODE = '22023', DETAIL = format('The amount given was %s.', amount);
    END IF;
    IF idempotency_key IS NOT NULL AND length(idempotency_key) NOT BETWEEN 1 AND 255 THEN
        RAISE EXCEPTION 'idempotency key must be 1 to 255 characters'
            USING ERRCODE = '22023';
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.quota_check_args(uuid, text, bigint, text) IS
    'internal: raises 22023 for NULL arguments, an amount <= 0 or a malformed idempotency key';

-- Resolves the window for a call and raises when there is none to use.
-- Returns NULL period when the plan does not define the metric.
CREATE FUNCTION jobspy.quota_resolve(user_id uuid, metric text, at timestamptz)
    RETURNS TABLE (plan_id uuid, period text, quota_limit bigint, period_start timestamptz, period_end timestamptz)
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
#variable_conflict use_column
DECLARE
    w record;
BEGIN
    w := jobspy.quota_lookup($1, $2, $3);
    IF w.user_status IS NULL THEN
        RAISE EXCEPTION 'unknown user %', $1 USING ERRCODE = '22023';
    END IF;
    IF w.user_status <> 'active' THEN
        RAISE EXCEPTION 'user % is %', $1, w.user_status
            USING ERRCODE = 'JS403', DETAIL = 'Only active users consume quota.';
    END IF;
    IF w.plan_id IS NULL THEN
        RAISE EXCEPTION 'user % has no plan in force', $1
            USING ERRCODE = 'JS401',
                  DETAIL = 'The user has no live subscription with a known plan, no plan set, no licence named like a plan, and no default plan is configured.',
                  HINT = 'Call jobspy.set_user_plan(), or configure one with jobspy.config_set(''quotas.default_plan'', ''"code"'').';
    END IF;
    IF w.period IS NULL AND NOT EXISTS (SELECT FROM jobspy.plan_quotas q WHERE q.metric = $2) THEN
        RAISE EXCEPTION 'unknown metric "%"', left($2, 100)
            USING ERRCODE = 'JS402', DETAIL = 'No plan defines a quota for this metric.',
                  HINT = 'Define it with jobspy.set_plan_quota().';
    END IF;
    plan_id := w.plan_id; period := w.period; quota_limit := w.quota_limit;
    period_start := w.period_start; period_end := w.period_end;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION jobspy.quota_resolve(uuid, text, timestamptz) IS
    'internal: the quota window of a call; raises 22023 (unknown user), JS403 (inactive user), JS401 (no plan), JS402 (unknown metric)';

-- The one implementation behind consume_quota and reserve_quota.
-- op 'consume' adds to used and writes a usage record; op 'reserve' adds
-- to reserved and writes a reservation.  Either only when the counter,
-- locked by the UPDATE, has room: used + reserved + amount <= limit.
CREATE FUNCTION jobspy.quota_take(op text, user_id uuid, metric text, amount bigint, idempotency_key text,
                                  ttl interval, cost numeric, metadata jsonb)
    RETURNS TABLE (reservation_id uuid, allowed boolean, used bigint, quota_limit bigint, remaining bigint,
                   period_start timestamptz, resets_at timestamptz)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
#variable_conflict use_column
DECLARE
    v_user   uuid := user_id;
    v_metric text := metric;
    v_amount bigint := amount;
    v_key    text := idempotency_key;
    v_now    timestamptz := jobspy.now();
    w        record;
    k        record;
    c_used   bigint;
    c_res    bigint;
    v_rid    uuid;
    v_ok     boolean;
BEGIN
    PERFORM jobspy.quota_check_args(v_user, v_metric, v_amount, v_key);

    IF v_key IS NOT NULL THEN
        -- Calls with the same key wait for each other here; the one that
        -- comes second then sees the first one's answer.
        PERFORM pg_advisory_xact_lock(1246774341, hashtext(v_user::text || '/' || v_key));
        SELECT * INTO k FROM jobspy.quota_idempotency i
         WHERE i.user_id = v_user AND i.idempotency_key = v_key;
        IF FOUND THEN
            IF k.operation <> op OR k.metric <> v_metric OR k.amount <> v_amount THEN
                RAISE EXCEPTION 'idempotency key reused for another request'
                    USING ERRCODE = 'JS404',
                          DETAIL = format('The key was first used to %s %s of "%s".', k.operation, k.amount, k.metric),
                          HINT = 'Use a new key for a new request.';
            END IF;
            RETURN QUERY SELECT k.reservation_id, k.allowed, k.used, k.quota_limit, k.remaining,
                                k.period_start, k.resets_at;
            RETURN;
        END IF;
    END IF;

    SELECT * INTO w FROM jobspy.quota_resolve(v_user, v_metric, v_now);

    IF w.period IS NULL THEN
        -- The plan in force does not include this metric: none of it.
        v_ok := false; c_used := 0; c_res := 0; w.quota_limit := 0;
    ELSE
        FOR attempt IN 1..2 LOOP
            IF op = 'consume' THEN
                UPDATE jobspy.quota_counters c SET used = c.used + v_amount
                 WHERE c.user_id = v_user AND c.metric = v_metric AND c.period = w.period
                   AND c.period_start = w.period_start
                   AND (w.quota_limit < 0 OR v_amount <= w.quota_limit - c.used - c.reserved)
                RETURNING c.used, c.reserved INTO c_used, c_res;
            ELSE
                UPDATE jobspy.quota_counters c SET reserved = c.reserved + v_amount
                 WHERE c.user_id = v_user AND c.metric = v_metric AND c.period = w.period
                   AND c.period_start = w.period_start
                   AND (w.quota_limit < 0 OR v_amount <= w.quota_limit - c.used - c.reserved)
                RETURNING c.used, c.reserved INTO c_used, c_res;
            END IF;
            v_ok := FOUND;
            EXIT WHEN v_ok OR attempt = 2;
            -- No room, or no counter yet for this period: make it (a
            -- concurrent maker wins quietly) and try once more.
            INSERT INTO jobspy.quota_counters AS c (user_id, metric, period, period_start, period_end)
            VALUES (v_user, v_metric, w.period, w.period_start, w.period_end)
            ON CONFLICT DO NOTHING;
        END LOOP;
        IF NOT v_ok THEN
            SELECT c.used, c.reserved INTO c_used, c_res FROM jobspy.quota_counters c
             WHERE c.user_id = v_user AND c.metric = v_metric AND c.period = w.period
               AND c.period_start = w.period_start;
        ELSIF op = 'consume' THEN
            IF v_key IS NOT NULL OR cost IS NOT NULL OR metadata IS NOT NULL
               OR current_setting('jobspy.quota_usage_records', true) = 'all' THEN
                INSERT INTO jobspy.usage_records (user_id, metric, amount, cost, idempotency_key, metadata, created_at)
                VALUES (v_user, v_metric, v_amount, cost, v_key, coalesce(metadata, '{}'), v_now);
            END IF;
        ELSE
            INSERT INTO jobspy.quota_reservations AS r
                   (user_id, metric, period, period_start, quota_limit, amount, idempotency_key, expires_at)
            VALUES (v_user, v_metric, w.period, w.period_start, w.quota_limit, v_amount, v_key, v_now + ttl)
            RETURNING r.id INTO v_rid;
        END IF;
    END IF;

    reservation_id := v_rid;
    allowed := v_ok;
    used := c_used;
    quota_limit := CASE WHEN w.quota_limit >= 0 THEN w.quota_limit END;
    remaining := CASE WHEN w.quota_limit >= 0 THEN greatest(w.quota_limit - c_used - c_res, 0) END;
    period_start := CASE WHEN w.period IS DISTINCT FROM 'lifetime' THEN w.period_start END;
    resets_at := CASE WHEN w.period IS DISTINCT FROM 'lifetime' THEN w.period_end END;

    -- A key is bound by a grant only: a denial consumed nothing, so the
    -- same request may be tried again (after an upgrade or a reset).
    IF v_key IS NOT NULL AND v_ok THEN
        INSERT INTO jobspy.quota_idempotency AS i
               (user_id, idempotency_key, operation, metric, amount, reservation_id,
                allowed, used, quota_limit, remaining, period_start, resets_at, created_at)
        VALUES (v_user, v_key, op, v_metric, v_amount, v_rid,
                allowed, used, quota_limit, remaining, period_start, resets_at, v_now);
    END IF;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION jobspy.quota_take(text, uuid, text, bigint, text, interval, numeric, jsonb) IS
    'internal: check-and-take for consume_quota (op consume) and reserve_quota (op reserve)';

-- The answer of consume_quota and quota_status, a row type rather than
-- RETURNS TABLE: the executor finds its shape in the type cache instead of
-- building it from pg_proc on every call.
CREATE TYPE jobspy.quota_answer AS (allowed boolean, used bigint, quota_limit bigint, remaining bigint,
                                    period_start timestamptz, resets_at timestamptz);
COMMENT ON TYPE jobspy.quota_answer IS 'the answer of consume_quota and quota_status';

-- In C (src/quotas.c): without an idempotency key, for an active user
-- whose counter has room, the jobspy.quota_lookup() result and one update
-- of the counter's row; everything else is answered by jobspy.quota_take().
-- Not SECURITY DEFINER: the C code runs as the tables' owner itself and
-- pins search_path for the SQL it runs, which costs nothing when no SQL runs.
CREATE FUNCTION jobspy.consume_quota(user_id uuid, metric text, amount bigint DEFAULT 1,
                                     idempotency_key text DEFAULT NULL)
    RETURNS jobspy.quota_answer
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'jobspy_consume_quota';
COMMENT ON FUNCTION jobspy.consume_quota(uuid, text, bigint, text) IS
    'checks and consumes amount of a metric from the user''s plan quota in one atomic step, in the caller''s transaction; a denial consumes nothing; an idempotency key replays the first answer';

CREATE FUNCTION jobspy.consume_quota(user_id uuid, metric text, amount bigint, idempotency_key text,
                                     cost numeric, metadata jsonb DEFAULT NULL)
    RETURNS jobspy.quota_answer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r jobspy.quota_answer;
BEGIN
    IF $5 < 0 THEN
        RAISE EXCEPTION 'cost must not be negative' USING ERRCODE = '22023';
    END IF;
    IF $6 IS NOT NULL AND jsonb_typeof($6) <> 'object' THEN
        RAISE EXCEPTION 'metadata must be a JSON object' USING ERRCODE = '22023';
    END IF;
    SELECT t.allowed, t.used, t.quota_limit, t.remaining, t.period_start, t.resets_at INTO r
      FROM jobspy.quota_take('consume', $1, $2, $3, $4, NULL, $5, $6) t;
    RETURN r;
END
$$;
COMMENT ON FUNCTION jobspy.consume_quota(uuid, text, bigint, text, numeric, jsonb) IS
    'consume_quota that also records a cost (minor units) and metadata on the usage record';

CREATE FUNCTION jobspy.quota_status(user_id uuid, metric text)
    RETURNS jobspy.quota_answer
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r      jobspy.quota_answer;
    w      record;
    c_used bigint := 0;
    c_res  bigint := 0;
BEGIN
    PERFORM jobspy.quota_check_args($1, $2, 1, NULL);
    SELECT * INTO w FROM jobspy.quota_resolve($1, $2, jobspy.now());
    IF w.period IS NULL THEN
        RETURN ROW(false, 0, 0, 0, NULL, NULL)::jobspy.quota_answer;
    END IF;
    SELECT c.used, c.reserved INTO c_used, c_res FROM jobspy.quota_counters c
     WHERE c.user_id = $1 AND c.metric = $2 AND c.period = w.period AND c.period_start = w.period_start;
    c_used := coalesce(c_used, 0);
    c_res := coalesce(c_res, 0);
    r.allowed := w.quota_limit < 0 OR c_used + c_res < w.quota_limit;
    r.used := c_used;
    r.quota_limit := CASE WHEN w.quota_limit >= 0 THEN w.quota_limit END;
    r.remaining := CASE WHEN w.quota_limit >= 0 THEN greatest(w.quota_limit - c_used - c_res, 0) END;
    r.period_start := CASE WHEN w.period <> 'lifetime' THEN w.period_start END;
    r.resets_at := CASE WHEN w.period <> 'lifetime' THEN w.period_end END;
    RETURN r;
END
$$;
COMMENT ON FUNCTION jobspy.quota_status(uuid, text) IS
    'the quota answer for a user''s metric without consuming: allowed is whether one more unit would be granted now';

-- ---- reservations -----------------------------------------------------

CREATE FUNCTION jobspy.reserve_quota(user_id uuid, metric text, amount bigint,
                                     ttl interval DEFAULT interval '15 minutes',
                                     idempotency_key text DEFAULT NULL)
    RETURNS TABLE (reservation_id uuid, allowed boolean, used bigint, quota_limit bigint, remaining bigint,
                   period_start timestamptz, resets_at timestamptz)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF $4 IS NULL OR $4 <= interval '0' OR $4 > interval '30 days' THEN
        RAISE EXCEPTION 'ttl must be more than 0 and at most 30 days'
            USING ERRCODE = '22023';
    END IF;
    RETURN QUERY SELECT * FROM jobspy.quota_take('reserve', $1, $2, $3, $5, $4, NULL, NULL);
END
$$;
COMMENT ON FUNCTION jobspy.reserve_quota(uuid, text, bigint, interval, text) IS
    'holds an estimated amount against the quota until settled, cancelled or expired; reservation_id is NULL when denied';

CREATE FUNCTION jobspy.settle_reservation(reservation_id uuid, actual_amount bigint,
                                          cost numeric DEFAULT NULL, metadata jsonb DEFAULT NULL)
    RETURNS TABLE (allowed boolean, used bigint, quota_limit bigint, remaining bigint,
                   period_start timestamptz, resets_at timestamptz)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
#variable_conflict use_column
DECLARE
    r      record;
    c_used bigint;
    c_res  bigint;
    v_now  timestamptz := jobspy.now();
    v_end  timestamptz;
BEGIN
    IF $1 IS NULL OR $2 IS NULL OR $2 < 0 THEN
        RAISE EXCEPTION 'reservation_id and a non-negative actual_amount are required'
            USING ERRCODE = '22023';
    END IF;
    IF $3 < 0 THEN
        RAISE EXCEPTION 'cost must not be negative' USING ERRCODE = '22023';
    END IF;
    IF $4 IS NOT NULL AND jsonb_typeof($4) <> 'object' THEN
        RAISE EXCEPTION 'metadata must be a JSON object' USING ERRCODE = '22023';
    END IF;
    SELECT * INTO r FROM jobspy.quota_reservations x WHERE x.id = $1 FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown reservation %', $1 USING ERRCODE = '22023';
    END IF;
    IF r.status = 'settled' AND r.actual_amount = $2 THEN
        -- A repeated settlement: nothing more is counted.
        SELECT c.used, c.reserved, c.period_end INTO c_used, c_res, v_end FROM jobspy.quota_counters c
         WHERE c.user_id = r.user_id AND c.metric = r.metric AND c.period = r.period
           AND c.period_start = r.period_start;
    ELSIF r.status <> 'held' THEN
        IF r.status = 'settled' THEN
            RAISE EXCEPTION 'reservation is settled'
                USING ERRCODE = '55000',
                      DETAIL = format('It was settled with %s; a settlement is final.', r.actual_amount);
        END IF;
        RAISE EXCEPTION 'reservation is %', r.status
            USING ERRCODE = '55000', DETAIL = 'Its amount was released.',
                  HINT = 'Record the usage with jobspy.consume_quota().';
    ELSE
        -- The actual amount is recorded even past the limit: the usage
        -- has happened; the reservation was the gate.
        UPDATE jobspy.quota_counters c SET used = c.used + $2, reserved = c.reserved - r.amount
         WHERE c.user_id = r.user_id AND c.metric = r.metric AND c.period = r.period
           AND c.period_start = r.period_start
        RETURNING c.used, c.reserved, c.period_end INTO c_used, c_res, v_end;
        UPDATE jobspy.quota_reservations x SET status = 'settled', actual_amount = $2
         WHERE x.user_id = r.user_id AND x.id = r.id;
        IF $2 > 0 THEN
            INSERT INTO jobspy.usage_records (user_id, metric, amount, cost, idempotency_key, reservation_id,
                                              metadata, created_at)
            VALUES (r.user_id, r.metric, $2, $3, r.idempotency_key, r.id, coalesce($4, '{}'), v_now);
        END IF;
    END IF;
    allowed := r.quota_limit < 0 OR c_used + c_res <= r.quota_limit;
    used := c_used;
    quota_limit := CASE WHEN r.quota_limit >= 0 THEN r.quota_limit END;
    remaining := CASE WHEN r.quota_limit >= 0 THEN greatest(r.quota_limit - c_used - c_res, 0) END;
    period_start := CASE WHEN r.period <> 'lifetime' THEN r.period_start END;
    resets_at := CASE WHEN r.period <> 'lifetime' THEN v_end END;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION jobspy.settle_reservation(uuid, bigint, numeric, jsonb) IS
    'settles a held reservation with the actual amount (recorded even past the limit) and writes the usage record; allowed says whether the counter stays within its limit';

CREATE FUNCTION jobspy.cancel_reservation(reservation_id uuid) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r record;
BEGIN
    IF $1 IS NULL THEN
        RAISE EXCEPTION 'reservation_id must not be NULL' USING ERRCODE = '22023';
    END IF;
    SELECT * INTO r FROM jobspy.quota_reservations x WHERE x.id = $1 FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown reservation %', $1 USING ERRCODE = '22023';
    END IF;
    IF r.status = 'settled' THEN
        RAISE EXCEPTION 'reservation is settled' USING ERRCODE = '55000';
    END IF;
    IF r.status <> 'held' THEN
        RETURN false;
    END IF;
    UPDATE jobspy.quota_counters c SET reserved = c.reserved - r.amount
     WHERE c.user_id = r.user_id AND c.metric = r.metric AND c.period = r.period
       AND c.period_start = r.period_start;
    UPDATE jobspy.quota_reservations x SET status = 'cancelled'
     WHERE x.user_id = r.user_id AND x.id = r.id;
    RETURN true;
END
$$;
COMMENT ON FUNCTION jobspy.cancel_reservation(uuid) IS
    'releases a held reservation; true when released now, false when it was already cancelled or expired';

-- maintain() runs this: releases expired reservations and drops counters
-- of periods that ended longer ago than retention.quota_counters, with
-- their settled, cancelled and expired reservations.
CREATE FUNCTION jobspy.maintain_quotas() RETURNS TABLE (action text, object text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n    bigint;
    keep jsonb := jobspy.config_get('retention.quota_counters');
BEGIN
    WITH expired AS (
        SELECT x.user_id, x.id FROM jobspy.quota_reservations x
         WHERE x.status = 'held' AND x.expires_at <= jobspy.now()
         ORDER BY x.user_id, x.id
           FOR UPDATE SKIP LOCKED),
    released AS (
        UPDATE jobspy.quota_reservations x SET status = 'expired'
          FROM expired e WHERE x.user_id = e.user_id AND x.id = e.id
        RETURNING x.user_id, x.metric, x.period, x.period_start, x.amount),
    totals AS (
        SELECT r.user_id, r.metric, r.period, r.period_start, sum(r.amount) AS amount
          FROM released r GROUP BY 1, 2, 3, 4),
    counted AS (
        UPDATE jobspy.quota_counters c SET reserved = c.reserved - t.amount
          FROM totals t
         WHERE c.user_id = t.user_id AND c.metric = t.metric AND c.period = t.period
           AND c.period_start = t.period_start
        RETURNING 1)
    SELECT count(*) INTO n FROM released;
    IF n > 0 THEN
        action := 'released'; object := format('%s expired quota reservations', n);
        RETURN NEXT;
    END IF;

    IF keep IS NULL OR jsonb_typeof(keep) = 'string' THEN
        DELETE FROM jobspy.quota_counters c
         WHERE c.period_end < jobspy.now() - coalesce((keep #>> '{}')::interval, interval '13 months')
           AND c.reserved = 0;
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n > 0 THEN
            action := 'deleted'; object := format('%s quota counters past retention', n);
            RETURN NEXT;
        END IF;
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.maintain_quotas() IS
    'maintain() step: releases expired reservations; deletes counters of periods ended before retention.quota_counters (13 months unless set; JSON null keeps them)';

-- ---- plan management --------------------------------------------------

CREATE FUNCTION jobspy.create_plan(code text, name text, description text DEFAULT NULL,
                                   price_monthly bigint DEFAULT 0, price_yearly bigint DEFAULT NULL,
                                   currency text DEFAULT 'USD', features jsonb DEFAULT '[]',
                                   is_active boolean DEFAULT true, is_public boolean DEFAULT true,
                                   sort_order integer DEFAULT 100)
    RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_id uuid;
BEGIN
    IF $1 IS NULL OR $2 IS NULL THEN
        RAISE EXCEPTION 'plan code and name must not be NULL' USING ERRCODE = '22023';
    END IF;
    IF $1 !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$' THEN
        RAISE EXCEPTION 'invalid plan code "%"', left($1, 50)
            USING ERRCODE = '22023',
                  DETAIL = 'A plan code is 1 to 50 letters, digits, "_", "." or "-", starting with a letter or digit.';
    END IF;
    IF length($2) NOT BETWEEN 1 AND 100 OR length($3) > 1000 THEN
        RAISE EXCEPTION 'plan name must be 1 to 100 characters and description at most 1000'
            USING ERRCODE = '22023';
    END IF;
    IF coalesce($4, 0) < 0 OR $5 < 0 THEN
        RAISE EXCEPTION 'prices must not be negative' USING ERRCODE = '22023',
            DETAIL = 'Prices are whole numbers of minor units (cents).';
    END IF;
    IF $6 IS NULL OR $6 !~ '^[A-Z]{3}$' THEN
        RAISE EXCEPTION 'currency must be a three-letter ISO 4217 code in capitals' USING ERRCODE = '22023';
    END IF;
    IF $7 IS NOT NULL AND jsonb_typeof($7) NOT IN ('array', 'object') THEN
        RAISE EXCEPTION 'features must be an array of names or an object of name -> boolean'
            USING ERRCODE = '22023';
    END IF;
    IF EXISTS (SELECT FROM jobspy.plans p WHERE p.code = $1) THEN
        RAISE EXCEPTION 'plan "%" already exists', $1 USING ERRCODE = '23505';
    END IF;
    INSERT INTO jobspy.plans AS p (code, name, description, price_monthly, price_yearly, currency, features,
                                   is_active, is_public, sort_order)
    VALUES ($1, $2, $3, coalesce($4, 0), $5, $6, coalesce($7, '[]'), coalesce($8, true), coalesce($9, true),
            coalesce($10, 100))
    RETURNING p.id INTO v_id;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION jobspy.create_plan(text, text, text, bigint, bigint, text, jsonb, boolean, boolean, integer) IS
    'creates a plan (prices in minor units) and returns its id; 23505 when the code is taken';

CREATE FUNCTION jobspy.set_plan_quota(plan_code text, metric text, period text, quota_limit bigint)
    RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_plan uuid;
BEGIN
    IF $1 IS NULL OR $2 IS NULL OR $3 IS NULL OR $4 IS NULL THEN
        RAISE EXCEPTION 'plan_code, metric, period and quota_limit must not be NULL' USING ERRCODE = '22023';
    END IF;
    SELECT p.id INTO v_plan FROM jobspy.plans p WHERE p.code = $1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown plan "%"', left($1, 50) USING ERRCODE = '22023';
    END IF;
    IF $2 !~ '^[a-z][a-z0-9_.:-]{0,99}$' THEN
        RAISE EXCEPTION 'invalid metric "%"', left($2, 100)
            USING ERRCODE = '22023',
                  DETAIL = 'A metric is 1 to 100 lower-case letters, digits, "_", ".", ":" or "-", starting with a letter.';
    END IF;
    IF $3 NOT IN ('day', 'week', 'month', 'year', 'lifetime') THEN
        RAISE EXCEPTION 'invalid period "%"', left($3, 20)
            USING ERRCODE = '22023', HINT = 'Use day, week, month, year or lifetime.';
    END IF;
    IF $4 < -1 THEN
        RAISE EXCEPTION 'quota_limit must be -1 (unlimited) or at least 0' USING ERRCODE = '22023';
    END IF;
    INSERT INTO jobspy.plan_quotas AS q (plan_id, metric, period, quota_limit)
    VALUES (v_plan, $2, $3, $4)
    ON CONFLICT ON CONSTRAINT plan_quotas_pkey DO UPDATE
       SET period = excluded.period, quota_limit = excluded.quota_limit
     WHERE (q.period, q.quota_limit) IS DISTINCT FROM (excluded.period, excluded.quota_limit);
END
$$;
COMMENT ON FUNCTION jobspy.set_plan_quota(text, text, text, bigint) IS
    'sets a plan''s limit on a metric per period (day, week, month, year, lifetime); -1 is unlimited; audited';

CREATE FUNCTION jobspy.remove_plan_quota(plan_code text, metric text) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM jobspy.plans p WHERE p.code = $1) THEN
        RAISE EXCEPTION 'unknown plan "%"', left($1, 50) USING ERRCODE = '22023';
    END IF;
    DELETE FROM jobspy.plan_quotas q USING jobspy.plans p
     WHERE p.code = $1 AND q.plan_id = p.id AND q.metric = $2;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION jobspy.remove_plan_quota(text, text) IS
    'removes a plan''s quota on a metric (the plan then grants none of it); false when there was none';

CREATE FUNCTION jobspy.set_user_plan(user_id uuid, plan_code text) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_plan   uuid;
    v_active boolean;
BEGIN
    IF $1 IS NULL THEN
        RAISE EXCEPTION 'user_id must not be NULL' USING ERRCODE = '22023';
    END IF;
    IF NOT EXISTS (SELECT FROM jobspy.users u WHERE u.id = $1) THEN
        RAISE EXCEPTION 'unknown user %', $1 USING ERRCODE = '22023';
    END IF;
    IF $2 IS NULL THEN
        DELETE FROM jobspy.user_plans x WHERE x.user_id = $1;
        RETURN;
    END IF;
    SELECT p.id, p.is_active INTO v_plan, v_active FROM jobspy.plans p WHERE p.code = $2;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown plan "%"', left($2, 50) USING ERRCODE = '22023';
    END IF;
    IF NOT v_active THEN
        RAISE EXCEPTION 'plan "%" is not active', $2
            USING ERRCODE = '55000', DETAIL = 'Inactive plans keep their current users but take no new ones.';
    END IF;
    INSERT INTO jobspy.user_plans AS x (user_id, plan_id) VALUES ($1, v_plan)
    ON CONFLICT ON CONSTRAINT user_plans_pkey DO UPDATE SET plan_id = excluded.plan_id
     WHERE x.plan_id IS DISTINCT FROM excluded.plan_id;
END
$$;
COMMENT ON FUNCTION jobspy.set_user_plan(uuid, text) IS
    'sets the plan of a user whose plan no subscription drives (NULL plan_code clears it); audited';

CREATE FUNCTION jobspy.plan_in_force(user_id uuid)
    RETURNS TABLE (plan_code text, source text)
    LANGUAGE sql STABLE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
SELECT p.code, r.source
  FROM jobspy.quota_plan_of($1, jobspy.now()) r
  LEFT JOIN jobspy.plans p ON p.id = r.plan_id
$$;
COMMENT ON FUNCTION jobspy.plan_in_force(uuid) IS
    'the code of the user''s plan in force and where it comes from: subscription, user, license or default (no row for an unknown user)';

-- ---- entitlements and feature flags -----------------------------------

CREATE FUNCTION jobspy.features_include(features jsonb, feature text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
SELECT CASE jsonb_typeof($1)
            WHEN 'array' THEN $1 ? $2
            WHEN 'object' THEN coalesce($1 -> $2 NOT IN ('false', 'null', '0', '""'), false)
            ELSE false END
$$;
COMMENT ON FUNCTION jobspy.features_include(jsonb, text) IS
    'true when a features value (array of names, or object of name -> value other than false, null, 0 or "") includes a feature';

CREATE FUNCTION jobspy.has_feature(user_id uuid, feature text) RETURNS boolean
    LANGUAGE sql STABLE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
SELECT coalesce((
    SELECT r.user_status = 'active'
           AND (jobspy.features_include(p.features, $2)
                OR EXISTS (SELECT FROM jobspy.licenses l
                            WHERE l.user_id = $1 AND l.status = 'active'
                              AND (l.expires_at IS NULL OR l.expires_at > jobspy.now())
                              AND jobspy.features_include(l.features, $2)))
      FROM jobspy.quota_plan_of($1, jobspy.now()) r
      LEFT JOIN jobspy.plans p ON p.id = r.plan_id), false)
$$;
COMMENT ON FUNCTION jobspy.has_feature(uuid, text) IS
    'true when the plan in force or an active licence of an active user includes the feature; false for unknown users';

-- The attributes feature_flags.user_criteria is matched against (jsonb
-- containment, @>).
CREATE FUNCTION jobspy.user_attributes(user_id uuid) RETURNS jsonb
    LANGUAGE sql STABLE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
SELECT jsonb_strip_nulls(jsonb_build_object(
           'email_domain', lower(split_part(u.email, '@', 2)),
           'country_code', u.country_code,
           'language', u.language,
           'timezone', u.timezone,
           'status', u.status,
           'email_verified', u.email_verified,
           'two_factor_enabled', u.two_factor_enabled,
           'plan', (SELECT p.code FROM jobspy.quota_plan_of(u.id, jobspy.now()) r
                      JOIN jobspy.plans p ON p.id = r.plan_id),
           'license_types', coalesce((SELECT jsonb_agg(DISTINCT l.license_type)
                                        FROM jobspy.licenses l
                                       WHERE l.user_id = u.id AND l.status = 'active'
                                         AND (l.expires_at IS NULL OR l.expires_at > jobspy.now())), '[]'),
           'metadata', u.metadata))
  FROM jobspy.users u
 WHERE u.id = $1
$$;
COMMENT ON FUNCTION jobspy.user_attributes(uuid) IS
    'a user''s attributes as feature flag criteria see them: email_domain, country_code, language, timezone, status, email_verified, two_factor_enabled, plan, license_types, metadata';

-- Rollout bucket 0..99: the first 32 bits of SHA-256 over "flag:user_id".
-- The same on every server and after every restart; a flag's buckets are
-- independent of another flag's.
CREATE FUNCTION jobspy.rollout_bucket(flag text, user_id uuid) RETURNS integer
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    AS $$
SELECT (('x' || substr(encode(sha256(convert_to($1 || ':' || $2::text, 'UTF8')), 'hex'), 1, 8))::bit(32)::bigint
        % 100)::integer
$$;
COMMENT ON FUNCTION jobspy.rollout_bucket(text, uuid) IS
    'a user''s rollout bucket (0..99) for a flag: SHA-256 of "flag:user_id", first 32 bits, mod 100';

CREATE FUNCTION jobspy.feature_enabled(flag text, user_id uuid) RETURNS boolean
    LANGUAGE plpgsql STABLE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    f record;
BEGIN
    SELECT ff.enabled, ff.rollout_percentage, ff.license_types, ff.user_criteria INTO f
      FROM jobspy.feature_flags ff WHERE ff.name = $1;
    IF NOT FOUND OR NOT f.enabled OR f.rollout_percentage = 0 THEN
        RETURN false;
    END IF;
    IF NOT EXISTS (SELECT FROM jobspy.users u WHERE u.id = $2 AND u.status = 'active') THEN
        RETURN false;
    END IF;
    IF cardinality(f.license_types) > 0 AND NOT EXISTS (
           SELECT FROM jobspy.licenses l
            WHERE l.user_id = $2 AND l.status = 'active' AND l.license_type = ANY (f.license_types)
              AND (l.expires_at IS NULL OR l.expires_at > jobspy.now())) THEN
        RETURN false;
    END IF;
    IF f.user_criteria <> '{}' AND NOT (jobspy.user_attributes($2) @> f.user_criteria) THEN
        RETURN false;
    END IF;
    RETURN f.rollout_percentage = 100 OR jobspy.rollout_bucket($1, $2) < f.rollout_percentage;
END
$$;
COMMENT ON FUNCTION jobspy.feature_enabled(text, uuid) IS
    'true when the flag is enabled, the active user has a listed licence type (if any), matches user_criteria (if any) and falls in the rollout percentage; false for unknown flags and users';

-- ---- privileges ------------------------------------------------------

REVOKE ALL ON FUNCTION
    jobspy.quota_counters_period_check(),
    jobspy.quota_default_plan_id(), jobspy.quota_plan_of(uuid, timestamptz),
    jobspy.quota_anchored_period(timestamptz, timestamptz, integer),
    jobspy.quota_lookup(uuid, text, timestamptz), jobspy.quota_check_args(uuid, text, bigint, text),
    jobspy.quota_resolve(uuid, text, timestamptz),
    jobspy.quota_take(text, uuid, text, bigint, text, interval, numeric, jsonb),
    jobspy.consume_quota(uuid, text, bigint, text),
    jobspy.consume_quota(uuid, text, bigint, text, numeric, jsonb),
    jobspy.quota_status(uuid, text),
    jobspy.reserve_quota(uuid, text, bigint, interval, text),
    jobspy.settle_reservation(uuid, bigint, numeric, jsonb),
    jobspy.cancel_reservation(uuid), jobspy.maintain_quotas(),
    jobspy.create_plan(text, text, text, bigint, bigint, text, jsonb, boolean, boolean, integer),
    jobspy.set_plan_quota(text, text, text, bigint), jobspy.remove_plan_quota(text, text),
    jobspy.set_user_plan(uuid, text), jobspy.plan_in_force(uuid),
    jobspy.features_include(jsonb, text), jobspy.has_feature(uuid, text),
    jobspy.user_attributes(uuid), jobspy.rollout_bucket(text, uuid), jobspy.feature_enabled(text, uuid)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    jobspy.consume_quota(uuid, text, bigint, text),
    jobspy.consume_quota(uuid, text, bigint, text, numeric, jsonb),
    jobspy.quota_status(uuid, text),
    jobspy.reserve_quota(uuid, text, bigint, interval, text),
    jobspy.settle_reservation(uuid, bigint, numeric, jsonb),
    jobspy.cancel_reservation(uuid),
    jobspy.set_user_plan(uuid, text), jobspy.plan_in_force(uuid),
    jobspy.has_feature(uuid, text), jobspy.feature_enabled(text, uuid),
    jobspy.rollout_bucket(text, uuid), jobspy.features_include(jsonb, text)
  TO jobspy_app, jobspy_admin;
GRANT EXECUTE ON FUNCTION
    jobspy.create_plan(text, text, text, bigint, bigint, text, jsonb, boolean, boolean, integer),
    jobspy.set_plan_quota(text, text, text, bigint), jobspy.remove_plan_quota(text, text),
    jobspy.user_attributes(uuid), jobspy.maintain_quotas()
  TO jobspy_admin;
REVOKE ALL ON jobspy.plans, jobspy.plan_quotas, jobspy.user_plans, jobspy.quota_counters,
    jobspy.usage_records, jobspy.usage_records_default, jobspy.quota_idempotency, jobspy.quota_reservations
  FROM PUBLIC;
GRANT SELECT ON jobspy.plans, jobspy.plan_quotas, jobspy.user_plans, jobspy.quota_counters,
    jobspy.usage_records, jobspy.quota_idempotency, jobspy.quota_reservations
  TO jobspy_admin;


-- ==== sql/upgrade/0.1.0--0.2.0/ops.sql
-- ops: maintain() also runs every module's jobspy.maintain_<module>() step;
-- system_config.updated_by names any actor, not only a user; partitioned
-- tables keep their keys and indexes on their partitions, so that pg_dump
-- output restores.

ALTER TABLE jobspy.system_config DROP CONSTRAINT system_config_updated_by_fkey;

CREATE OR REPLACE FUNCTION jobspy.maintain() RETURNS TABLE (action text, object text)
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

    -- Then each module's own step: every function jobspy.maintain_<module>()
    -- returning (action, object), in name order.
    FOR p IN
        SELECT pr.oid::regproc AS fn
          FROM pg_proc pr
         WHERE pr.pronamespace = 'jobspy'::regnamespace AND pr.proname LIKE 'maintain\_%'
           AND pr.pronargs = 0 AND pr.proretset
         ORDER BY pr.proname
    LOOP
        RETURN QUERY EXECUTE format('SELECT * FROM %s()', p.fn);
    END LOOP;
END
$$;
COMMENT ON FUNCTION jobspy.maintain() IS
    'creates monthly partitions ahead, drains default partitions, applies retention, then runs every jobspy.maintain_<module>() step; idempotent, one run at a time';

-- A partitioned table keeps its keys and indexes on its default partition
-- (see analytics.sql); each new partition gets copies named after itself.
CREATE FUNCTION jobspy.copy_partition_indexes(template regclass, target regclass)
    RETURNS integer
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    prefix text := (SELECT relname FROM pg_class WHERE oid = template);
    stem   text := (SELECT relname FROM pg_class WHERE oid = target);
    i      record;
    n      integer := 0;
BEGIN
    FOR i IN
        SELECT ic.relname, x.indisunique, pg_get_indexdef(x.indexrelid) AS def,
               con.contype, pg_get_constraintdef(con.oid) AS condef
          FROM pg_index x
          JOIN pg_class ic ON ic.oid = x.indexrelid
          LEFT JOIN pg_constraint con ON con.conindid = x.indexrelid AND con.conrelid = x.indrelid
         WHERE x.indrelid = template
         ORDER BY ic.relname
    LOOP
        DECLARE
            name text := left(stem || CASE WHEN starts_with(i.relname, prefix)
                                            THEN substr(i.relname, length(prefix) + 1)
                                            ELSE '_' || i.relname END, 63);
        BEGIN
            IF i.contype IS NOT NULL THEN
                EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', target, name, i.condef);
            ELSE
                EXECUTE format('CREATE %sINDEX %I ON %s%s', CASE WHEN i.indisunique THEN 'UNIQUE ' ELSE '' END,
                               name, target, substring(i.def from ' USING .*$'));
            END IF;
            n := n + 1;
        END;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION jobspy.copy_partition_indexes(regclass, regclass) IS
    'gives a partition the keys and indexes of another (the default partition); returns how many';
REVOKE ALL ON FUNCTION jobspy.copy_partition_indexes(regclass, regclass) FROM PUBLIC;

CREATE OR REPLACE FUNCTION jobspy.create_month_partition(parent regclass, month timestamptz)
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
        IF dflt IS NOT NULL THEN
            PERFORM jobspy.copy_partition_indexes(dflt, format('jobspy.%I', name)::regclass);
        END IF;
    ELSE
        -- Fill first, index after, attach last: one pass over the rows.
        EXECUTE format('CREATE TABLE jobspy.%I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name, parent);
        EXECUTE format('WITH moved AS (DELETE FROM %s WHERE %I >= $1 AND %I < $2 RETURNING *)'
                       ' INSERT INTO jobspy.%I SELECT * FROM moved', dflt, col, col, name)
           USING lo, hi;
        PERFORM jobspy.copy_partition_indexes(dflt, format('jobspy.%I', name)::regclass);
        EXECUTE format('ALTER TABLE %s ATTACH PARTITION jobspy.%I FOR VALUES FROM (%L) TO (%L)',
                       parent, name, lo, hi);
    END IF;
    RETURN name;
END
$$;
COMMENT ON FUNCTION jobspy.create_month_partition(regclass, timestamptz) IS
    'creates the monthly partition holding a time, moving its rows out of the default partition; NULL when it exists';

-- Move api_usage's and audit_logs' key and indexes from the parent to each
-- partition: dropping the parent's drops the partitions' copies.
ALTER TABLE jobspy.api_usage DROP CONSTRAINT api_usage_pkey;
DROP INDEX jobspy.api_usage_license_idx, jobspy.api_usage_endpoint_idx;
ALTER TABLE jobspy.api_usage_default ADD PRIMARY KEY (user_id, created_at, id);
CREATE INDEX api_usage_default_license_idx ON jobspy.api_usage_default (license_id, created_at) WHERE license_id IS NOT NULL;
CREATE INDEX api_usage_default_endpoint_idx ON jobspy.api_usage_default (endpoint, created_at);

ALTER TABLE jobspy.audit_logs DROP CONSTRAINT audit_logs_pkey;
DROP INDEX jobspy.audit_logs_resource_idx, jobspy.audit_logs_actor_idx;
ALTER TABLE jobspy.audit_logs_default ADD PRIMARY KEY (created_at, id);
CREATE INDEX audit_logs_default_resource_idx ON jobspy.audit_logs_default (resource_type, resource_id, created_at);
CREATE INDEX audit_logs_default_actor_idx ON jobspy.audit_logs_default (actor_id, created_at) WHERE actor_id IS NOT NULL;

SELECT jobspy.copy_partition_indexes(format('%I.%I', n.nspname, d.relname)::regclass, c.oid::regclass)
  FROM pg_inherits i
  JOIN pg_class c ON c.oid = i.inhrelid
  JOIN pg_class p ON p.oid = i.inhparent AND p.relname IN ('api_usage', 'audit_logs')
  JOIN pg_namespace n ON n.oid = p.relnamespace AND n.nspname = 'jobspy'
  JOIN pg_class d ON d.relname = p.relname || '_default' AND d.relnamespace = n.oid
 WHERE c.oid <> d.oid;

-- Defaults of the quotas module (its tables come before this one).
INSERT INTO jobspy.config_defaults (key, value, description) VALUES
    ('quotas.default_plan',       'null',         'code of the plan in force for users with no other plan; null means none'),
    ('retention.quota_counters',  '"13 months"',  'how long a finished period''s quota counter is kept; null keeps them forever'),
    ('retention.usage_records',   'null',         'how long usage_records rows are kept (idempotency keys live as long); null keeps them forever');

-- Defaults of the licensing module.
INSERT INTO jobspy.config_defaults (key, value, description) VALUES
    ('retention.license_validations', '"13 months"', 'how long license_validations rows are kept; null keeps them forever');

-- quotas.default_plan must name a plan (a string) or be null.
CREATE OR REPLACE FUNCTION jobspy.config_check(key text, value jsonb) RETURNS void
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
    ELSIF key = 'quotas.default_plan' AND jsonb_typeof(value) NOT IN ('string', 'null') THEN
        RAISE EXCEPTION 'configuration quotas.default_plan must be a plan code string or null'
            USING ERRCODE = '22023', HINT = 'For example ''"basic"''::jsonb.';
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

-- ==== sql/upgrade/0.1.0--0.2.0/analytics.sql
-- analytics: revenue is summed per currency, never across currencies.

CREATE OR REPLACE VIEW jobspy.revenue_analytics AS
SELECT date_trunc('month', p.created_at, 'UTC') AS month,
       coalesce(s.plan_type, 'none') AS plan_type,
       count(DISTINCT p.user_id) AS paying_customers,
       count(*) AS total_payments,
       sum(p.amount_cents) AS total_revenue_cents,
       sum(p.refunded_amount_cents) AS refunded_cents,
       sum(p.amount_cents - p.refunded_amount_cents) AS net_revenue_cents,
       round(avg(p.amount_cents)) AS avg_payment_cents,
       p.currency
  FROM jobspy.payments p
  LEFT JOIN jobspy.subscriptions s ON s.user_id = p.user_id AND s.id = p.subscription_id
 WHERE p.status IN ('succeeded', 'refunded')
 GROUP BY 1, 2, p.currency;
COMMENT ON VIEW jobspy.active_licenses IS 'active, unexpired licences with their owner and newest active subscription, one row each';
COMMENT ON VIEW jobspy.user_analytics IS 'one row per active user: newest active licence, newest active subscription, API calls in the last 30 days';
COMMENT ON VIEW jobspy.revenue_analytics IS
    'revenue per UTC month, plan and currency (amounts in that currency''s minor units): collected payments, refunds and net; payments without a subscription under plan none';

-- ==== sql/upgrade/0.1.0--0.2.0/roles.sql
-- roles: identity configuration defaults; the admin reads identity tables but not their secret columns.

-- Identity's configuration defaults (config_defaults is made by ops, which
-- runs after identity).
INSERT INTO jobspy.config_defaults (key, value, description) VALUES
    ('identity.login_max_failures',       '5',              'failed logins within identity.login_failure_window that lock an account'),
    ('identity.login_failure_window',     '"15 minutes"',   'window in which failed logins are counted'),
    ('identity.lockout_duration',         '"15 minutes"',   'how long an account stays locked after too many failed logins'),
    ('identity.session_absolute_timeout', '"30 days"',      'a session ends this long after its login, however often it is refreshed'),
    ('identity.session_idle_timeout',     '"7 days"',       'a session ends when unused this long'),
    ('identity.email_verification_ttl',   '"48 hours"',     'how long an email verification token stays valid'),
    ('identity.password_reset_ttl',       '"1 hour"',       'how long a password reset token stays valid');

-- Identity tables: the admin reads them but not the secret columns.
GRANT SELECT ON jobspy.organizations, jobspy.organization_members TO jobspy_admin;
REVOKE SELECT ON jobspy.users, jobspy.user_sessions, jobspy.email_verification_tokens,
    jobspy.password_reset_tokens FROM jobspy_admin;
GRANT SELECT (id, email, first_name, last_name, phone, country_code, timezone, language, status,
              email_verified, email_verified_at, two_factor_enabled, last_login_at, metadata,
              created_at, updated_at, locked_until)
   ON jobspy.users TO jobspy_admin;
GRANT SELECT (user_id, id, device_fingerprint, user_agent, ip_address, country_code, city, expires_at,
              last_activity_at, created_at, revoked_at, revocation_reason, family_id)
   ON jobspy.user_sessions TO jobspy_admin;
GRANT SELECT (user_id, id, email, expires_at, used_at, created_at)
   ON jobspy.email_verification_tokens TO jobspy_admin;
GRANT SELECT (user_id, id, expires_at, used_at, created_at)
   ON jobspy.password_reset_tokens TO jobspy_admin;
