-- 0.2.0 -> 0.3.0: ratelimit

-- set_rate_limit_rule: a NULL argument is refused with 22004, not the table's not-null violation.
CREATE OR REPLACE FUNCTION jobspy.set_rate_limit_rule(name text, endpoint_pattern text, license_type text,
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

-- Keys belong to the database they are used in;
-- the functions that show and reset them say so.

COMMENT ON FUNCTION jobspy.rate_limit_reset(text) IS
    'forget a rate-limit key of the current database (it is full again); false when it was not tracked';
COMMENT ON FUNCTION jobspy.rate_limit_reset_user(uuid) IS
    'forget every rule window of a user in the current database (all full again); returns how many were tracked';
COMMENT ON FUNCTION jobspy.rate_limit_entries() IS
    'every key the rate limiter tracks for the current database, with its counters of admitted and refused calls';
COMMENT ON VIEW jobspy.rate_limit_keys IS
    'rate-limit keys of the current database: plain key, or digest of a long key, or rule window (rule, user, hour/day); full_at is when the bucket is full again';
COMMENT ON FUNCTION jobspy.rate_limit_stats_reset() IS
    'zero the admitted and refused counters of the current database''s keys (and, for a superuser, of the store)';
