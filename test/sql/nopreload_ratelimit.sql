-- Without shared_preload_libraries the rate limiter refuses with 55000 and
-- a hint; the rules table and the pattern matcher still work.
\set VERBOSITY default
SELECT * FROM jobspy.rate_limit('np:key', 1, 10, '1 minute');
SELECT * FROM jobspy.rate_limit_peek('np:key', 1, 10, '1 minute');
SELECT * FROM jobspy.check_rate_limit('00000000-0000-0000-0000-000000000001', '/api/x');
SELECT * FROM jobspy.rate_limit_store();
SELECT count(*) FROM jobspy.rate_limit_keys;
SELECT jobspy.rate_limit_reset('np:key');
\set VERBOSITY sqlstate
SELECT * FROM jobspy.rate_limit('np:key', 1, 10, '1 minute');
\set VERBOSITY default
SELECT jobspy.rate_limit_pattern_match('/api/*', '/api/x') AS pattern_works;
SELECT count(*) AS rules FROM jobspy.rate_limit_rules;
