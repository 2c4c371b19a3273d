-- Seed 000's "Conversion funnel analysis" from the daily counts per event
-- type (event_counts_daily: rollup and tail), every day summed.
-- compare: analytics_raw_funnel >= 100
SELECT c.event_type, sum(c.events) AS users,
       sum(c.events) / (SELECT sum(r.events) FROM jobspy.event_counts_daily r WHERE r.event_type = 'registration')
           AS conversion_rate
  FROM jobspy.event_counts_daily c
 WHERE c.event_type IN ('registration', 'first_search', 'export_data', 'upgrade_to_pro')
 GROUP BY c.event_type
 ORDER BY users DESC;
