-- conversion_funnel over four steps, from the first occurrences
-- (event_firsts: rollup and tail).
-- compare: analytics_raw_first_funnel >= 100
SELECT * FROM jobspy.conversion_funnel(ARRAY['registration', 'first_search', 'export_data', 'upgrade_to_pro']);
