-- Rate limiter: one GCRA decision (redis-cell's CL.THROTTLE) on one of
-- :scale keys, in shared memory.  Redis baseline: bench/external/redis_incr_expire.sh.
-- compare: select1 >= 0.85
-- compare: redis_incr_expire >= 1.0
\set n random(1, :scale)
SELECT * FROM jobspy.rate_limit('bench:' || :n, 99, 1000, '1 hour');
