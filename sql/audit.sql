\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- audit: the updated_at trigger, the audit trigger and the audit log.

CREATE FUNCTION jobspy.set_updated_at() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'jobspy_set_updated_at';
COMMENT ON FUNCTION jobspy.set_updated_at() IS
    'BEFORE UPDATE trigger: sets updated_at to jobspy.now()';

-- SECURITY DEFINER so that the log is written whoever changes the row,
-- while nobody but the owner can write the log directly.
CREATE FUNCTION jobspy.audit_trigger() RETURNS trigger
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'jobspy_audit_trigger';
COMMENT ON FUNCTION jobspy.audit_trigger() IS
    'AFTER row trigger: writes the change to jobspy.audit_logs; arguments name extra secret columns to leave out (columns ending in _hash always are)';

-- Partitioned by month on created_at; the key includes the partition key,
-- and the default partition takes any row no monthly partition covers yet.
-- No foreign key on actor_id: the log outlives the users it names.
CREATE TABLE jobspy.audit_logs (
    id            uuid NOT NULL DEFAULT jobspy.uuid_v7(),
    actor_id      uuid,
    action        text NOT NULL CHECK (action IN ('INSERT', 'UPDATE', 'DELETE') OR action ~ '^[a-z][a-z0-9_.]{0,99}$'),
    resource_type text NOT NULL CHECK (length(resource_type) BETWEEN 1 AND 63),
    resource_id   text CHECK (length(resource_id) <= 255),
    old_values    jsonb,
    new_values    jsonb,
    ip_address    inet,
    user_agent    text CHECK (length(user_agent) <= 1000),
    created_at    timestamptz NOT NULL DEFAULT jobspy.now()
) PARTITION BY RANGE (created_at);
COMMENT ON TABLE jobspy.audit_logs IS
    'who changed what and when: one row per audited change, partitioned by month';
-- Keys and indexes on the partitions, as for api_usage (see ops.sql).
CREATE TABLE jobspy.audit_logs_default PARTITION OF jobspy.audit_logs
    (PRIMARY KEY (created_at, id)) DEFAULT;
CREATE INDEX audit_logs_default_resource_idx ON jobspy.audit_logs_default (resource_type, resource_id, created_at);
CREATE INDEX audit_logs_default_actor_idx ON jobspy.audit_logs_default (actor_id, created_at) WHERE actor_id IS NOT NULL;
SELECT pg_catalog.pg_extension_config_dump('jobspy.audit_logs_default', '');
