-- Rule-based limit: the user's licence type, every matching rule of
-- rate_limit_rules (two here, four windows) checked at once, for one of
-- :scale users (bench.user_id(n) is the user id, as the caller knows it).
-- Targets (shared/DESIGN.md): >= 0.8 of Redis and >= 0.8 of floor_row; SELECT 1
-- is shown only.
-- compare: redis_incr_expire >= 0.8
-- compare: floor_row >= 0.8
-- against: select1
\set n random(1, :scale)
SELECT * FROM jobspy.check_rate_limit(bench.user_id(:n), '/api/search/jobs');
