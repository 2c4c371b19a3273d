\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- 0.2.0 -> 0.3.0: audit.  Time-ordered ids (jobspy.uuid_v7, docs/schema.md "Ids").
ALTER TABLE jobspy.audit_logs ALTER COLUMN id SET DEFAULT jobspy.uuid_v7();
