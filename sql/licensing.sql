\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- licensing: licences, machines, validation, offline licence tokens.  The key itself is never stored: a keyed hash finds
-- it, and a hint of its last four characters lets a person recognise it.

-- Configuration keys of licensing (the registry: core.sql).
INSERT INTO jobspy.config_defaults (key, value, description, value_type, nullable, min_value, max_value, choices) VALUES
    ('retention.license_validations', '"13 months"', 'how long license_validations rows are kept; null keeps them forever', 'interval', true, NULL, NULL, NULL);

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
    validation_day          date,
    validations_on_day      integer NOT NULL DEFAULT 0 CHECK (validations_on_day >= 0),
    PRIMARY KEY (user_id, id),
    CHECK (expires_at IS NULL OR expires_at > issued_at)
);
COMMENT ON TABLE jobspy.licenses IS 'licences; the key is stored only as a keyed hash plus a four-character hint';
COMMENT ON COLUMN jobspy.licenses.validation_count IS
    'validations answered VALID, as of the last flush of the shared-memory counters';
COMMENT ON COLUMN jobspy.licenses.validation_day IS
    'UTC day of validations_on_day, as of the last flush';
COMMENT ON COLUMN jobspy.licenses.validations_on_day IS
    'validations counted against max_validations_per_day on validation_day, as of the last flush';
CREATE UNIQUE INDEX licenses_id_idx ON jobspy.licenses (id);
CREATE INDEX licenses_status_idx ON jobspy.licenses (status) WHERE status <> 'active';
CREATE INDEX licenses_expires_at_idx ON jobspy.licenses (expires_at) WHERE status = 'active' AND expires_at IS NOT NULL;
CREATE INDEX licenses_features_idx ON jobspy.licenses USING gin (features jsonb_path_ops);
CREATE TRIGGER licenses_updated_at BEFORE UPDATE ON jobspy.licenses
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at(
        'ignore:validation_count', 'ignore:last_validated_at', 'ignore:validation_day',
        'ignore:validations_on_day');
-- Counter flushes are bookkeeping, not changes: updated_at stays (above) and
-- the audit log leaves them out.
CREATE TRIGGER licenses_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.licenses
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger(
        'ignore:validation_count', 'ignore:last_validated_at', 'ignore:validation_day',
        'ignore:validations_on_day');
SELECT pg_catalog.pg_extension_config_dump('jobspy.licenses', '');

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

-- The validation log: a sample of the failures (every
-- jobspy.licensing_failure_log_every-th; all of them are counted in
-- license_validation_failures), successes when
-- jobspy.licensing_log_successes is on.  Never the key.
CREATE TABLE jobspy.license_validations (
    id          uuid NOT NULL DEFAULT jobspy.uuid_v7(),
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
    'validation log (seed 000''s license_validations): every jobspy.licensing_failure_log_every-th failure, successes when jobspy.licensing_log_successes is on; partitioned by month';
-- Keys and indexes on the default partition; maintain() copies them onto
-- each month (see analytics.sql).
CREATE TABLE jobspy.license_validations_default PARTITION OF jobspy.license_validations
    (PRIMARY KEY (id, created_at)) DEFAULT;
CREATE INDEX license_validations_default_license_idx
    ON jobspy.license_validations_default (license_id, created_at) WHERE license_id IS NOT NULL;
CREATE INDEX license_validations_default_created_idx ON jobspy.license_validations_default (created_at);
SELECT pg_catalog.pg_extension_config_dump('jobspy.license_validations_default', '');

-- Failed validations counted per UTC day, licence, key hint and code: the
-- counts gather in shared memory and flush_license_validations() appends
-- them here, a row per key and flush, so a failure costs no write of its
-- own and a flush takes no row lock a validation could wait for.  Read
-- them summed: sum(failures) ... GROUP BY day, license_id, key_hint, result.
CREATE TABLE jobspy.license_validation_failures (
    day            date NOT NULL,
    license_id     uuid,
    key_hint       text CHECK (key_hint ~ '^[0-9A-Z]{4}$'),
    result         text NOT NULL CHECK (result IN ('MALFORMED', 'NOT_FOUND', 'REVOKED', 'SUSPENDED', 'EXPIRED',
                                                   'USER_SUSPENDED', 'FINGERPRINT_REQUIRED', 'TOO_MANY_MACHINES',
                                                   'RATE_LIMITED')),
    failures       bigint NOT NULL CHECK (failures > 0),
    last_failed_at timestamptz NOT NULL
);
COMMENT ON TABLE jobspy.license_validation_failures IS
    'failed validations per UTC day, licence (NULL: none found), key hint (last four characters of the key; NULL: malformed) and code: a row per flush and key, to be summed';
CREATE INDEX license_validation_failures_day_idx ON jobspy.license_validation_failures (day);
CREATE INDEX license_validation_failures_license_idx
    ON jobspy.license_validation_failures (license_id, day) WHERE license_id IS NOT NULL;
SELECT pg_catalog.pg_extension_config_dump('jobspy.license_validation_failures', '');

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
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_base64url_decode';
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
    'writes the validation counters kept in shared memory to licenses and license_machines, and the failure counts to license_validation_failures; returns the rows written';

CREATE FUNCTION jobspy.maintain_licensing() RETURNS TABLE (action text, object text)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n    bigint;
    keep text;
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
            action := 'flushed'; object := format('validation counters of %s licences, machines and failure counts', n);
            RETURN NEXT;
        END IF;
    END IF;
    -- Failure counts are kept as long as the validation log.
    keep := jobspy.config_get('retention.license_validations') #>> '{}';
    IF keep IS NOT NULL THEN
        DELETE FROM jobspy.license_validation_failures
         WHERE day < (jobspy.now() AT TIME ZONE 'UTC' - keep::interval)::date;
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n > 0 THEN
            action := 'deleted'; object := format('%s failure counts past retention', n);
            RETURN NEXT;
        END IF;
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.maintain_licensing() IS
    'maintain() step: marks licences past expires_at expired, flushes the shared-memory validation counters and failure counts, and deletes failure counts past retention.license_validations';

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
    jobspy.license_validations_default, jobspy.license_validation_failures FROM PUBLIC;
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
GRANT SELECT ON jobspy.license_machines, jobspy.license_validations, jobspy.license_validation_failures
    TO jobspy_admin;
GRANT SELECT (key_id, public_key, state, created_at, retired_at) ON jobspy.license_signing_keys TO jobspy_admin;
