-- Baseline: seed 000's user_cohorts and the retention query over it, over
-- the raw events.
SELECT date_trunc('month', c.registration_date)::date AS registration_month, count(*) AS cohort_size,
       count(*) FILTER (WHERE c.last_activity_date >= c.registration_date + 30) AS retained_30d,
       (count(*) FILTER (WHERE c.last_activity_date >= c.registration_date + 30))::numeric / count(*) AS retention_rate_30d
  FROM (SELECT e.user_id, min((e.occurred_at AT TIME ZONE 'UTC')::date) AS registration_date,
               max((e.occurred_at AT TIME ZONE 'UTC')::date) AS last_activity_date
          FROM jobspy.events e GROUP BY 1) c
 GROUP BY 1
 ORDER BY 1;
