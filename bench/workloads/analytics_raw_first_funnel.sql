-- Baseline: the funnel by users over the raw events: each user's first
-- occurrence of each step, each step no earlier than the one before.
WITH firsts AS (
    SELECT e.user_id,
           min(e.occurred_at) FILTER (WHERE e.event_type = 'registration') AS s1,
           min(e.occurred_at) FILTER (WHERE e.event_type = 'first_search') AS s2,
           min(e.occurred_at) FILTER (WHERE e.event_type = 'export_data') AS s3,
           min(e.occurred_at) FILTER (WHERE e.event_type = 'upgrade_to_pro') AS s4
      FROM jobspy.events e
     WHERE e.event_type IN ('registration', 'first_search', 'export_data', 'upgrade_to_pro')
     GROUP BY e.user_id)
SELECT count(s1) AS step1, count(*) FILTER (WHERE s2 >= s1) AS step2,
       count(*) FILTER (WHERE s2 >= s1 AND s3 >= s2) AS step3,
       count(*) FILTER (WHERE s2 >= s1 AND s3 >= s2 AND s4 >= s3) AS step4
  FROM firsts;
