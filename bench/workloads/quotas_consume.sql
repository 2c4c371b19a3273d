-- consume_quota: one unit over :scale users, each on a plan whose daily
-- limit never runs out, so every call is a counted, durable grant with its
-- usage record.
-- compare: quotas_bare_update >= 0.8
\set n random(1, :scale)
SELECT c.* FROM bench.users u, jobspy.consume_quota(u.user_id, 'bench.calls') c WHERE u.n = :n;
