-- Seed 000's "API performance trends" (the last 24 hours per hour and
-- endpoint) from the rollup plus the rows not yet rolled up.
-- compare: analytics_raw_api_hourly >= 100
SELECT * FROM jobspy.api_performance_hourly
 WHERE hour >= date_trunc('hour', jobspy.now() - interval '24 hours')
 ORDER BY hour, endpoint;
