-- Rule-based limit: the user's licence type, every matching rule of
-- rate_limit_rules (two here, four windows) checked at once, for one of
-- :scale users (bench.users maps n to the user id).
-- compare: select1 >= 0.85
-- compare: redis_incr_expire >= 1.0
\set n random(1, :scale)
SELECT c.* FROM bench.users u, jobspy.check_rate_limit(u.user_id, '/api/search/jobs') c WHERE u.n = :n;
