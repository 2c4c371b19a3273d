-- consume_quota as quotas_consume, its counter row updated by the SQL
-- UPDATE through SPI instead of heap_update().
-- options: -c jobspy.quota_counter_update=sql
-- against: quotas_consume
-- against: quotas_bare_update
\set n random(1, :scale)
SELECT * FROM jobspy.consume_quota(bench.user_id(:n), 'bench.calls');
