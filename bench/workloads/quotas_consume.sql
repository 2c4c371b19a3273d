-- consume_quota: one unit over :scale users, each on a plan whose daily
-- limit never runs out, so every call is a counted, durable grant with its
-- usage record.
-- compare: quotas_bare_update >= 0.8
\set n random(1, :scale)
SELECT * FROM jobspy.consume_quota(bench.user_id(:n), 'bench.calls');
