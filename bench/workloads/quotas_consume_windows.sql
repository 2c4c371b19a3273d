-- consume_quota on a metric with two windows (a day and a month, limits
-- that never run out): every call takes one unit from both counters.
-- compare: quotas_bare_update_windows >= 0.8
\set n random(1, :scale)
SELECT * FROM jobspy.consume_quota(bench.user_id(:n), 'bench.posts');
