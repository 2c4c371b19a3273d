-- Rule-based limit: the user's licence type, every matching rule of
-- rate_limit_rules (two here, four windows) checked at once, for one of
-- :scale users (bench.user_id(n) is the user id, as the caller knows it).
-- compare: select1 >= 0.85
-- compare: redis_incr_expire >= 1.0
-- against: floor_row
\set n random(1, :scale)
SELECT * FROM jobspy.check_rate_limit(bench.user_id(:n), '/api/search/jobs');
