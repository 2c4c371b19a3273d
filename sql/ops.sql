\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- ops: system configuration, partitions, retention, maintenance.

-- Built-in defaults (the registry in core.sql) live apart from the values a
-- DBA sets, so that pg_dump keeps exactly the values set and a restore
-- never collides with defaults.  The keys of ops itself:
INSERT INTO jobspy.config_defaults (key, value, description, value_type, nullable, min_value, max_value, choices) VALUES
    ('partitions.premake_months', '3',           'monthly partitions maintain() keeps ready ahead of the current month', 'integer', false, 0, 120, NULL),
    ('retention.api_usage',       '"24 months"', 'how long api_usage rows are kept (seed 002: facts 24 months); null keeps them forever', 'interval', true, NULL, NULL, NULL),
    ('retention.audit_logs',      '"7 years"',   'how long audit_logs rows are kept; null keeps them forever', 'interval', true, NULL, NULL, NULL),
    ('retention.mode',            '"drop"',      'what maintain() does with a partition past retention: "drop" or "detach"', 'text', false, NULL, NULL, '["drop", "detach"]');

CREATE TABLE jobspy.system_config (
    key         text PRIMARY KEY CHECK (key ~ '^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$' AND length(key) <= 100),
    value       jsonb NOT NULL,
    description text CHECK (length(description) <= 1000),
    updated_at  timestamptz NOT NULL DEFAULT jobspy.now(),
    updated_by  uuid
);
COMMENT ON TABLE jobspy.system_config IS 'configuration set by the operator; config_get() falls back to config_defaults';
-- updated_by is the acting uuid (jobspy.actor_id), which need not be a user:
-- a service or an operator; hence no foreign key.
CREATE TRIGGER system_config_updated_at BEFORE UPDATE ON jobspy.system_config
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
CREATE TRIGGER system_config_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.system_config
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
SELECT pg_catalog.pg_extension_config_dump('jobspy.system_config', '');

CREATE FUNCTION jobspy.config_get(key text) RETURNS jsonb
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT coalesce((SELECT c.value FROM jobspy.system_config c WHERE c.key = $1),
                    (SELECT d.value FROM jobspy.config_defaults d WHERE d.key = $1))
$$;
COMMENT ON FUNCTION jobspy.config_get(text) IS
    'a configuration value: the one set with config_set, else the built-in default, else NULL';

-- Checks a value against the registry (config_defaults); raises 22023 when
-- it is wrong and JS003 for a key nobody declared.  A key under "app." is
-- the application's own and holds any JSON; "retention.<table>" is known
-- for every range-partitioned table of schema jobspy (maintain() applies
-- it, docs/development.md).
CREATE FUNCTION jobspy.config_check(key text, value jsonb) RETURNS void
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
            -- (a longer one puts now() - it out of timestamptz's range, and
            -- maintain() with it)
            IF NOT jobspy.interval_forward((value #>> '{}')::interval) THEN
                RAISE EXCEPTION 'configuration % must be an interval positive in every part and at most 100 years', key
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
        IF d.pattern IS NOT NULL AND value #>> '{}' !~ d.pattern THEN
            RAISE EXCEPTION 'configuration % is not in its form', key
                USING ERRCODE = '22023', DETAIL = format('%s does not match %s.', left(value::text, 100), d.pattern);
        END IF;
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.config_check(text, jsonb) IS
    'raises 22023 when a value does not suit its key''s entry in config_defaults, JS003 for an unknown key outside app.';

CREATE FUNCTION jobspy.config_set(key text, value jsonb) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF key IS NULL OR value IS NULL THEN
        RAISE EXCEPTION 'configuration key and value must not be NULL'
            USING ERRCODE = '22023', HINT = 'To store JSON null, pass ''null''::jsonb.';
    END IF;
    IF key !~ '^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$' OR length(key) > 100 THEN
        RAISE EXCEPTION 'invalid configuration key "%"', left(key, 100)
            USING ERRCODE = '22023',
                  DETAIL = 'A key is lower-case words of letters, digits and underscores joined by dots, at most 100 characters.';
    END IF;
    PERFORM jobspy.config_check(key, value);
    INSERT INTO jobspy.system_config AS c (key, value, updated_by)
    VALUES (key, value, nullif(current_setting('jobspy.actor_id', true), '')::uuid)
    ON CONFLICT ON CONSTRAINT system_config_pkey
    DO UPDATE SET value = excluded.value, updated_by = excluded.updated_by;
END
$$;
COMMENT ON FUNCTION jobspy.config_set(text, jsonb) IS
    'sets a configuration value (audited), checked against the registry config_defaults; an application''s own keys start with app.';

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

-- Partition arithmetic runs with TimeZone = UTC (set on each function), so
-- months are UTC months whatever the session's zone.
-- One monthly partition [month, month + 1 month) in UTC, named
-- <table>_pYYYY_MM.  Rows already in the default partition for that month
-- move into it, so that no insert ever needed the partition to exist.
CREATE FUNCTION jobspy.create_month_partition(parent regclass, month timestamptz)
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
    -- The parent first, in the mode the new partition needs anyway: a
    -- writer holding the parent and routing its next row to the default
    -- partition would otherwise deadlock with this (default, then parent).
    EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', parent);
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

CREATE FUNCTION jobspy.maintain() RETURNS TABLE (action text, object text)
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

CREATE FUNCTION jobspy.default_partition_months(parent regclass, col text)
    RETURNS SETOF timestamptz
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    SET TimeZone = 'UTC'
    SET DateStyle = 'ISO'
    AS $$
DECLARE
    dflt regclass := to_regclass(format('%s_default', parent));
BEGIN
    IF dflt IS NOT NULL THEN
        RETURN QUERY EXECUTE format('SELECT DISTINCT date_trunc(''month'', %I, ''UTC'') FROM %s', col, dflt);
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.default_partition_months(regclass, text) IS
    'the UTC months that have rows in a table''s default partition';
