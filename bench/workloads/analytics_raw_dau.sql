-- Baseline: uniq(user_id) per date over the raw events.
SELECT (e.occurred_at AT TIME ZONE 'UTC')::date AS day, count(DISTINCT e.user_id) AS users
  FROM jobspy.events e
 WHERE e.occurred_at >= ((jobspy.now() AT TIME ZONE 'UTC')::date - 30) AT TIME ZONE 'UTC'
 GROUP BY 1
 ORDER BY 1;
