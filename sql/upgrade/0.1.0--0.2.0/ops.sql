\echo Use "ALTER EXTENSION jobspy_core UPDATE TO '0.2.0'" to load this file. \quit
-- ops: maintain() also runs every module's jobspy.maintain_<module>() step;
-- system_config.updated_by names any actor, not only a user.

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
