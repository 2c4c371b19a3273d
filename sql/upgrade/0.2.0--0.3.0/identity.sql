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

-- @create FUNCTION jobspy.schnorr_verify(

-- @create FUNCTION jobspy.nostr_verify_event(

-- @create FUNCTION jobspy.nostr_public_key(

-- @create FUNCTION jobspy.nostr_npub(

-- @create FUNCTION jobspy.nostr_user_id(

-- create_user checks a time zone without reading every zone file.
-- @create FUNCTION jobspy.timezone_known(
REVOKE ALL ON FUNCTION jobspy.timezone_known(text) FROM PUBLIC;

-- create_user takes an optional Nostr public key and no longer needs an email with one.
DROP FUNCTION jobspy.create_user(text, text, text, text, text, text, text, text);
-- @create FUNCTION jobspy.create_user(

-- A user without an email has nothing to verify.
-- @replace FUNCTION jobspy.issue_email_verification(


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

-- normalize_email is C (src/identity_email.c): the same addresses, found
-- without a regular expression, and refused when not ASCII before lower-casing.
-- @replace FUNCTION jobspy.normalize_email(
