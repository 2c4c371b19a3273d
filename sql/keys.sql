\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
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
