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
