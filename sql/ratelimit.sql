\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- ratelimit: the rules, and the limiter in shared memory (src/ratelimit.c,
-- src/ratelimit_store.c, src/gcra.c).

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
    updated_at        timestamptz NOT NULL DEFAULT jobspy.now(),
    -- The hour window's bucket must refill within the limiter's range
    -- (2^62 ns, about 146 years; src/gcra.h), or check_rate_limit could
    -- not apply the rule.
    CONSTRAINT rate_limit_rules_hour_window_check
        CHECK (CASE WHEN requests_per_hour > 0
               THEN (3600000000000 / requests_per_hour)::numeric * burst_limit <= 4611686018427387904 END)
);
COMMENT ON TABLE jobspy.rate_limit_rules IS
    'rate-limit rules per licence type and endpoint pattern: an hour bucket of burst_limit refilling at requests_per_hour, a day bucket of requests_per_day';
CREATE INDEX rate_limit_rules_license_type_idx ON jobspy.rate_limit_rules (license_type) WHERE enabled;
CREATE TRIGGER rate_limit_rules_updated_at BEFORE UPDATE ON jobspy.rate_limit_rules
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
CREATE TRIGGER rate_limit_rules_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.rate_limit_rules
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
SELECT pg_catalog.pg_extension_config_dump('jobspy.rate_limit_rules', '');
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
    'forget a rate-limit key of the current database (it is full again); false when it was not tracked';

CREATE FUNCTION jobspy.rate_limit_reset_user(user_id uuid) RETURNS bigint
    LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'jobspy_rate_limit_reset_user';
COMMENT ON FUNCTION jobspy.rate_limit_reset_user(uuid) IS
    'forget every rule window of a user in the current database (all full again); returns how many were tracked';

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
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    rule_id uuid;
BEGIN
    -- A NULL would otherwise surface as the table's not-null violation.
    IF num_nulls($1, $2, $3, $4, $5, $6, $7) > 0 THEN
        RAISE EXCEPTION 'a rate-limit rule needs every argument' USING ERRCODE = 'null_value_not_allowed',
            DETAIL = 'name, endpoint_pattern, license_type, requests_per_hour, requests_per_day, burst_limit and enabled may not be NULL.';
    END IF;
    INSERT INTO jobspy.rate_limit_rules AS r
           (name, endpoint_pattern, license_type, requests_per_hour, requests_per_day, burst_limit, enabled)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT ON CONSTRAINT rate_limit_rules_name_key DO UPDATE
       SET endpoint_pattern = EXCLUDED.endpoint_pattern,
           license_type = EXCLUDED.license_type,
           requests_per_hour = EXCLUDED.requests_per_hour,
           requests_per_day = EXCLUDED.requests_per_day,
           burst_limit = EXCLUDED.burst_limit,
           enabled = EXCLUDED.enabled
    RETURNING r.id INTO rule_id;
    RETURN rule_id;
END
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
    'every key the rate limiter tracks for the current database, with its counters of admitted and refused calls';

CREATE VIEW jobspy.rate_limit_keys AS
    SELECT e.key, e.key_digest, e.rule_id, r.name AS rule, e.user_id, e."window",
           e.full_at, e.active, e.allowed, e.denied
      FROM jobspy.rate_limit_entries() e
      LEFT JOIN jobspy.rate_limit_rules r ON r.id = e.rule_id;
COMMENT ON VIEW jobspy.rate_limit_keys IS
    'rate-limit keys of the current database: plain key, or digest of a long key, or rule window (rule, user, hour/day); full_at is when the bucket is full again';

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
    'zero the admitted and refused counters of the current database''s keys (and, for a superuser, of the store)';

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
