-- Seed 000's "Daily Active Users" over the last 30 days, from the rollup.
-- compare: analytics_raw_dau >= 100
SELECT day, users FROM jobspy.daily_active_users
 WHERE day >= (jobspy.now() AT TIME ZONE 'UTC')::date - 30
 ORDER BY day;
