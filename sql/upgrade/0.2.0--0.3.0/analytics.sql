\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- 0.2.0 -> 0.3.0: api_usage rows carry the transaction that wrote them, so
-- that refresh_rollups() (analytics_reports.sql) counts each exactly once.
-- Rows already there get this upgrade's transaction: the first refresh
-- after it rolls them all up.
ALTER TABLE jobspy.api_usage
    ADD COLUMN xact xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id();
CREATE INDEX api_usage_default_xact_idx ON jobspy.api_usage_default (xact);
DO $$
DECLARE
    p record;
BEGIN
    -- Monthly partitions made by maintain() get the index under the name
    -- copy_partition_indexes() gives it.
    FOR p IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'jobspy.api_usage'::regclass AND c.relname <> 'api_usage_default'
         ORDER BY 1
    LOOP
        EXECUTE format('CREATE INDEX %I ON jobspy.%I (xact)', left(p.relname || '_xact_idx', 63), p.relname);
    END LOOP;
END
$$;

-- Collected payments now include the partially refunded and the disputed
-- (billing_payments); they were left out of revenue.
-- @replace VIEW jobspy.revenue_analytics

-- Time-ordered ids (jobspy.uuid_v7, docs/schema.md "Ids").

ALTER TABLE jobspy.api_usage ALTER COLUMN id SET DEFAULT jobspy.uuid_v7();
