-- Seed 000's "User retention analysis" (30-day retention by registration
-- month), from the per-user rollup.
-- compare: analytics_raw_cohorts >= 100
SELECT * FROM jobspy.cohort_retention ORDER BY registration_month;
