\echo Use "ALTER EXTENSION jobspy_core UPDATE TO '0.2.0'" to load this file. \quit
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
