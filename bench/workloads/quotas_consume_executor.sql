-- consume_quota as quotas_consume, its counter row updated through
-- ExecSimpleRelationUpdate() (the row locked first, as logical
-- replication's apply worker does) instead of heap_update().
-- options: -c jobspy.quota_counter_update=executor
-- against: quotas_consume
-- against: quotas_bare_update
\set n random(1, :scale)
SELECT * FROM jobspy.consume_quota(bench.user_id(:n), 'bench.calls');
