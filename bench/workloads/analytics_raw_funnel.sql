-- Baseline: seed 000's "Conversion funnel analysis" over the raw events
-- (count() per type among the funnel's, against the registrations).
SELECT e.event_type, count(*) AS users,
       count(*)::numeric / (SELECT count(*) FROM jobspy.events r WHERE r.event_type = 'registration') AS conversion_rate
  FROM jobspy.events e
 WHERE e.event_type IN ('registration', 'first_search', 'export_data', 'upgrade_to_pro')
 GROUP BY e.event_type
 ORDER BY users DESC;
