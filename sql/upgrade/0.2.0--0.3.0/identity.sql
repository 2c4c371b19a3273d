\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- 0.2.0 -> 0.3.0: identity.  Users identified by a Nostr public key (seed
-- 003), with email optional for them; BIP-340 and NIP-01 verification.

ALTER TABLE jobspy.users
    ALTER COLUMN email DROP NOT NULL,
    ADD COLUMN nostr_public_key bytea
        CONSTRAINT users_nostr_public_key_key UNIQUE
        CONSTRAINT users_nostr_public_key_check CHECK (octet_length(nostr_public_key) = 32),
    ADD CONSTRAINT users_email_or_nostr_key CHECK (email IS NOT NULL OR nostr_public_key IS NOT NULL);
COMMENT ON TABLE jobspy.users IS 'accounts; email unique without regard to case, password as an Argon2id PHC string; a Nostr user may have no email';
COMMENT ON COLUMN jobspy.users.nostr_public_key IS 'the user''s Nostr (BIP-340 x-only) public key, 32 bytes; jobspy.nostr_npub() shows it as npub';
GRANT SELECT (nostr_public_key) ON jobspy.users TO jobspy_admin;

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

-- create_user takes an optional Nostr public key and no longer needs an email with one.
DROP FUNCTION jobspy.create_user(text, text, text, text, text, text, text, text);
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

-- A user without an email has nothing to verify.
CREATE OR REPLACE FUNCTION jobspy.issue_email_verification(user_id uuid) RETURNS text
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


REVOKE ALL ON FUNCTION
    jobspy.create_user(text, text, text, text, text, text, text, text, text),
    jobspy.schnorr_verify(bytea, bytea, bytea), jobspy.nostr_verify_event(jsonb),
    jobspy.nostr_public_key(text), jobspy.nostr_npub(bytea), jobspy.nostr_user_id(text)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    jobspy.create_user(text, text, text, text, text, text, text, text, text),
    jobspy.schnorr_verify(bytea, bytea, bytea), jobspy.nostr_verify_event(jsonb),
    jobspy.nostr_public_key(text), jobspy.nostr_npub(bytea), jobspy.nostr_user_id(text)
  TO jobspy_app, jobspy_admin;
