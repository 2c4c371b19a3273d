-- Rate limiter: one GCRA decision (redis-cell's CL.THROTTLE) on one of
-- :scale keys, in shared memory, with a generous limit (bursts of 1000,
-- 100000 an hour) so that calls are admitted as in production.  Redis
-- baseline: bench/external/redis_incr_expire.sh.
-- Targets (shared/DESIGN.md): >= Redis and >= 0.9 of floor_row, the do-nothing
-- function with the same arguments and row type; SELECT 1 is shown only.
-- compare: redis_incr_expire >= 1.0
-- compare: floor_row >= 0.9
-- against: select1
\set n random(1, :scale)
SELECT * FROM jobspy.rate_limit('bench:' || :n, 999, 100000, '1 hour');
