\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- 0.2.0 -> 0.3.0: ops.

-- Checks a value against the registry (config_defaults); raises 22023 when
-- it is wrong and JS003 for a key nobody declared.  A key under "app." is
-- the application's own and holds any JSON; "retention.<table>" is known
-- for every range-partitioned table of schema jobspy (maintain() applies
-- it, docs/development.md).
CREATE OR REPLACE FUNCTION jobspy.config_check(key text, value jsonb) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    d jobspy.config_defaults;
    t text := jsonb_typeof(value);
    n numeric;
BEGIN
    SELECT * INTO d FROM jobspy.config_defaults c WHERE c.key = $1;
    IF NOT FOUND THEN
        IF key LIKE 'app.%' THEN
            RETURN;
        END IF;
        IF key LIKE 'retention.%' AND EXISTS (
               SELECT FROM pg_class r JOIN pg_namespace s ON s.oid = r.relnamespace
                WHERE s.nspname = 'jobspy' AND r.relkind = 'p' AND r.relname = substr($1, 11)) THEN
            d.value_type := 'interval';
            d.nullable := true;
        ELSE
            RAISE EXCEPTION 'unknown configuration key "%"', left(key, 100)
                USING ERRCODE = 'JS003',
                      DETAIL = 'jobspy.config_defaults lists the keys jobspy_core knows.',
                      HINT = 'An application''s own keys start with "app.".';
        END IF;
    END IF;

    IF t = 'null' THEN
        IF NOT d.nullable THEN
            RAISE EXCEPTION 'configuration % must not be null', key USING ERRCODE = '22023';
        END IF;
        RETURN;
    END IF;
    IF d.value_type = 'integer' THEN
        IF t <> 'number' OR value::numeric <> trunc(value::numeric) THEN
            RAISE EXCEPTION 'configuration % must be a whole number', key
                USING ERRCODE = '22023', DETAIL = format('%s is not one.', value);
        END IF;
        n := value::numeric;
        IF n < d.min_value OR n > d.max_value THEN
            RAISE EXCEPTION 'configuration % must be from % to %', key, d.min_value, d.max_value
                USING ERRCODE = '22023', DETAIL = format('%s is out of range.', value);
        END IF;
    ELSIF d.value_type = 'interval' THEN
        IF t <> 'string' THEN
            RAISE EXCEPTION 'configuration % must be an interval string%', key,
                            CASE WHEN d.nullable THEN ' or null' ELSE '' END
                USING ERRCODE = '22023', HINT = 'For example ''"13 months"''::jsonb.';
        END IF;
        BEGIN
            IF (value #>> '{}')::interval <= interval '0' THEN
                RAISE EXCEPTION 'configuration % must be a positive interval', key
                    USING ERRCODE = '22023';
            END IF;
        EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR interval_field_overflow THEN
            RAISE EXCEPTION 'configuration % must be an interval string%', key,
                            CASE WHEN d.nullable THEN ' or null' ELSE '' END
                USING ERRCODE = '22023', DETAIL = format('%s is not an interval.', value);
        END;
    ELSIF d.value_type = 'boolean' AND t <> 'boolean' THEN
        RAISE EXCEPTION 'configuration % must be true or false', key USING ERRCODE = '22023';
    ELSIF d.value_type = 'text' THEN
        IF t <> 'string' THEN
            RAISE EXCEPTION 'configuration % must be a string', key
                USING ERRCODE = '22023', HINT = 'For example ''"basic"''::jsonb.';
        END IF;
        IF d.choices IS NOT NULL AND NOT d.choices @> jsonb_build_array(value) THEN
            RAISE EXCEPTION 'configuration % must be one of %', key, d.choices USING ERRCODE = '22023';
        END IF;
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.config_check(text, jsonb) IS
    'raises 22023 when a value does not suit its key''s entry in config_defaults, JS003 for an unknown key outside app.';
COMMENT ON FUNCTION jobspy.config_set(text, jsonb) IS
    'sets a configuration value (audited), checked against the registry config_defaults; an application''s own keys start with app.';
