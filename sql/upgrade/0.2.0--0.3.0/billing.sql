\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- 0.2.0 -> 0.3.0: billing.  Time-ordered ids (jobspy.uuid_v7, docs/schema.md "Ids").
ALTER TABLE jobspy.subscriptions ALTER COLUMN id SET DEFAULT jobspy.uuid_v7();
ALTER TABLE jobspy.payments ALTER COLUMN id SET DEFAULT jobspy.uuid_v7();
