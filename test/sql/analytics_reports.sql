-- The reports against the seeds' own queries over the same raw rows, row for
-- row: first from the real-time tail alone, then with late rows into buckets
-- already rolled up, then from the rollups alone, then after a second
-- refresh that must add nothing.  Rows are committed (the rollups only take
-- rows of ended transactions), and removed at the end.
SET client_min_messages = warning;
SET TimeZone = 'UTC';
SELECT set_config('jobspy.clock_override', '2026-06-30 12:00:00+00', false) IS NOT NULL AS clock_set;
-- Whatever earlier tests left stays out of the comparison.
SELECT count(*) >= 0 AS refreshed FROM jobspy.refresh_rollups();
TRUNCATE jobspy.api_usage, jobspy.events, jobspy.api_performance_rollup, jobspy.daily_user_activity_rollup, jobspy.daily_active_users_rollup,
         jobspy.user_activity_rollup, jobspy.event_firsts_rollup, jobspy.event_counts_rollup, jobspy.token_usage_rollup;

INSERT INTO jobspy.users (id, email, created_at)
SELECT ('a0000000-0000-0000-0000-' || lpad(g::text, 12, '0'))::uuid, 'analytics' || g || '@example.com',
       timestamptz '2026-01-01' + (g * 7 % 170) * interval '1 day' + (g % 24) * interval '1 hour'
  FROM generate_series(1, 300) g;

-- The seed's queries, over the raw rows (ClickHouse translated: toStartOfHour
-- is date_trunc in UTC, quantile is percentile_disc, uniq is count(DISTINCT),
-- sum over no value is 0).
CREATE FUNCTION pg_temp.raw_api_performance() RETURNS TABLE (
    hour timestamptz, endpoint text, requests bigint, errors bigint, error_rate numeric, avg_response_ms numeric,
    p50 integer, p95 integer, p99 integer, request_bytes bigint, response_bytes bigint)
    LANGUAGE sql AS $$
    SELECT date_trunc('hour', a.created_at, 'UTC'), a.endpoint, count(*), count(*) FILTER (WHERE a.status_code >= 400),
           (count(*) FILTER (WHERE a.status_code >= 400))::numeric / count(*), avg(a.response_time_ms),
           percentile_disc(0.50) WITHIN GROUP (ORDER BY a.response_time_ms),
           percentile_disc(0.95) WITHIN GROUP (ORDER BY a.response_time_ms),
           percentile_disc(0.99) WITHIN GROUP (ORDER BY a.response_time_ms),
           coalesce(sum(a.request_size_bytes), 0), coalesce(sum(a.response_size_bytes), 0)
      FROM jobspy.api_usage a
     GROUP BY 1, 2
$$;

CREATE FUNCTION pg_temp.mismatches() RETURNS TABLE (report text, raw_rows bigint, mismatched bigint)
    LANGUAGE sql AS $$
    WITH api_raw AS (SELECT * FROM pg_temp.raw_api_performance()),
    api_view AS (SELECT * FROM jobspy.api_performance_hourly),
    api AS (
        SELECT r.hour IS NULL OR v.hour IS NULL
               OR (r.requests, r.errors, r.error_rate, r.avg_response_ms, r.request_bytes, r.response_bytes)
                  IS DISTINCT FROM (v.requests, v.errors, v.error_rate, v.avg_response_ms, v.request_bytes, v.response_bytes)
               OR abs(v.p50_ms - r.p50) > 0.0091 * r.p50 OR abs(v.p95_ms - r.p95) > 0.0091 * r.p95
               OR abs(v.p99_ms - r.p99) > 0.0091 * r.p99 AS bad, r.hour IS NOT NULL AS in_raw
          FROM api_raw r FULL JOIN api_view v USING (hour, endpoint)),
    -- Daily Active Users: uniq(user_id) per date.
    dau_raw AS (SELECT (e.occurred_at AT TIME ZONE 'UTC')::date AS day, count(DISTINCT e.user_id) AS users
                  FROM jobspy.events e GROUP BY 1),
    dau AS (SELECT r.day IS NULL OR v.day IS NULL OR r.users <> v.users AS bad, r.day IS NOT NULL AS in_raw
              FROM dau_raw r FULL JOIN jobspy.daily_active_users v USING (day)),
    -- user_cohorts, then the retention query over it.
    cohorts AS (SELECT e.user_id, min((e.occurred_at AT TIME ZONE 'UTC')::date) AS registration_date,
                       max((e.occurred_at AT TIME ZONE 'UTC')::date) AS last_activity_date
                  FROM jobspy.events e GROUP BY 1),
    retention_raw AS (SELECT date_trunc('month', registration_date)::date AS registration_month, count(*) AS cohort_size,
                             count(*) FILTER (WHERE last_activity_date >= registration_date + 30) AS retained_30d
                        FROM cohorts GROUP BY 1),
    retention AS (SELECT r.registration_month IS NULL OR v.registration_month IS NULL
                         OR (r.cohort_size, r.retained_30d, r.retained_30d::numeric / r.cohort_size)
                            IS DISTINCT FROM (v.cohort_size, v.retained_30d, v.retention_rate_30d) AS bad,
                         r.registration_month IS NOT NULL AS in_raw
                    FROM retention_raw r FULL JOIN jobspy.cohort_retention v USING (registration_month)),
    -- The funnel query counts events per type among the funnel's types.
    counts_raw AS (SELECT (e.occurred_at AT TIME ZONE 'UTC')::date AS day, e.event_type, count(*) AS events
                     FROM jobspy.events e GROUP BY 1, 2),
    counts AS (SELECT r.day IS NULL OR v.day IS NULL OR r.events <> v.events AS bad, r.day IS NOT NULL AS in_raw
                 FROM counts_raw r FULL JOIN jobspy.event_counts_daily v USING (day, event_type)),
    signups_raw AS (SELECT (u.created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS signups FROM jobspy.users u GROUP BY 1),
    -- (the days of this test's users only: other tests make users too)
    signups AS (SELECT r.day IS NULL OR v.day IS NULL OR r.signups <> v.signups AS bad, r.day IS NOT NULL AS in_raw
                  FROM (SELECT * FROM signups_raw WHERE day < '2026-06-20') r
                  FULL JOIN (SELECT * FROM jobspy.signups_daily WHERE day < '2026-06-20') v USING (day)),
    -- daily_user_activity: per date and user, events and the first and last.
    activity_raw AS (SELECT (e.occurred_at AT TIME ZONE 'UTC')::date AS day, e.user_id, count(*) AS events,
                            min(e.occurred_at) AS first_event_at, max(e.occurred_at) AS last_event_at
                       FROM jobspy.events e GROUP BY 1, 2),
    activity AS (SELECT r.day IS NULL OR v.day IS NULL
                        OR (r.events, r.first_event_at, r.last_event_at)
                           IS DISTINCT FROM (v.events, v.first_event_at, v.last_event_at) AS bad,
                        r.day IS NOT NULL AS in_raw
                   FROM activity_raw r FULL JOIN jobspy.daily_user_activity v USING (day, user_id)),
    -- user_cohorts itself: each user's first and last day, and their events.
    users_raw AS (SELECT c.user_id, c.registration_date, c.last_activity_date,
                         (SELECT count(*) FROM jobspy.events e WHERE e.user_id = c.user_id) AS events
                    FROM cohorts c),
    user_spans AS (SELECT r.user_id IS NULL OR v.user_id IS NULL
                          OR (r.registration_date, r.last_activity_date, r.events)
                             IS DISTINCT FROM (v.first_day, v.last_day, v.events) AS bad,
                          r.user_id IS NOT NULL AS in_raw
                     FROM users_raw r FULL JOIN jobspy.user_activity v USING (user_id)),
    -- The first time each user did each thing (the funnel's first occurrences).
    firsts_raw AS (SELECT e.event_type, e.user_id, min(e.occurred_at) AS first_at FROM jobspy.events e GROUP BY 1, 2),
    firsts AS (SELECT r.user_id IS NULL OR v.user_id IS NULL OR r.first_at <> v.first_at AS bad,
                      r.user_id IS NOT NULL AS in_raw
                 FROM firsts_raw r FULL JOIN jobspy.event_firsts v USING (event_type, user_id))
    SELECT 'api_performance_hourly', count(*) FILTER (WHERE in_raw), count(*) FILTER (WHERE bad) FROM api
    UNION ALL SELECT 'daily_user_activity', count(*) FILTER (WHERE in_raw), count(*) FILTER (WHERE bad) FROM activity
    UNION ALL SELECT 'user_activity', count(*) FILTER (WHERE in_raw), count(*) FILTER (WHERE bad) FROM user_spans
    UNION ALL SELECT 'event_firsts', count(*) FILTER (WHERE in_raw), count(*) FILTER (WHERE bad) FROM firsts
    UNION ALL SELECT 'daily_active_users', count(*) FILTER (WHERE in_raw), count(*) FILTER (WHERE bad) FROM dau
    UNION ALL SELECT 'cohort_retention', count(*) FILTER (WHERE in_raw), count(*) FILTER (WHERE bad) FROM retention
    UNION ALL SELECT 'event_counts_daily', count(*) FILTER (WHERE in_raw), count(*) FILTER (WHERE bad) FROM counts
    UNION ALL SELECT 'signups_daily', count(*) FILTER (WHERE in_raw), count(*) FILTER (WHERE bad) FROM signups
$$;

-- A funnel by first occurrences, straight from the raw rows.
CREATE FUNCTION pg_temp.raw_funnel(steps text[], since timestamptz DEFAULT '-infinity',
                                   until timestamptz DEFAULT 'infinity') RETURNS TABLE (step integer, users bigint)
    LANGUAGE sql AS $$
    WITH RECURSIVE firsts AS (SELECT e.event_type, e.user_id, min(e.occurred_at) AS first_at
                                FROM jobspy.events e GROUP BY 1, 2),
    reached (step, user_id, at) AS (
        SELECT 1, f.user_id, f.first_at FROM firsts f
         WHERE f.event_type = steps[1] AND f.first_at >= since AND f.first_at < until
        UNION ALL
        SELECT r.step + 1, f.user_id, f.first_at FROM reached r
          JOIN firsts f ON f.user_id = r.user_id AND f.event_type = steps[r.step + 1] AND f.first_at >= r.at
                        AND f.first_at < until
         WHERE r.step < cardinality(steps))
    SELECT s.ord::integer, count(r.user_id) FROM unnest(steps) WITH ORDINALITY s(name, ord)
      LEFT JOIN reached r ON r.step = s.ord GROUP BY s.ord ORDER BY s.ord
$$;

-- Batch A: 20,000 calls over 60 days, 12,000 events over 150 days.
SELECT jobspy.record_api_calls(jsonb_agg(jsonb_build_object(
           'user_id', ('a0000000-0000-0000-0000-' || lpad((1 + g % 300)::text, 12, '0')),
           'endpoint', '/v1/' || (ARRAY['search', 'export', 'jobs', 'alerts'])[1 + g % 4],
           'method', (ARRAY['GET', 'POST'])[1 + g % 2],
           'status_code', CASE WHEN g % 23 = 0 THEN 503 WHEN g % 11 = 0 THEN 404 ELSE 200 END,
           'response_time_ms', CASE WHEN g % 97 = 0 THEN NULL ELSE (g * 7919) % 3000 END,
           'request_size_bytes', CASE WHEN g % 5 = 0 THEN NULL ELSE g % 1000 END,
           'response_size_bytes', (g * 31) % 50000,
           'occurred_at', timestamptz '2026-06-30 11:00' - (g * 2713 % (60 * 24 * 60)) * interval '1 minute')))
  FROM generate_series(1, 20000) g;
SELECT jobspy.track_events(jsonb_agg(jsonb_build_object(
           'user_id', ('a0000000-0000-0000-0000-' || lpad((1 + g * 7 % 300)::text, 12, '0')),
           'event_type', (ARRAY['registration', 'first_search', 'export_data', 'upgrade_to_pro', 'page_view'])[1 + (g / 300) % 5],
           'properties', jsonb_build_object('n', g),
           'occurred_at', timestamptz '2026-06-30 11:00' - (g * 4111 % (150 * 24 * 60)) * interval '1 minute')))
  FROM generate_series(1, 12000) g;

SELECT * FROM pg_temp.mismatches();
SELECT source, rows_added FROM jobspy.refresh_rollups() ORDER BY 1;

-- Batch B: late rows into the buckets already rolled up, and new ones.
SELECT jobspy.record_api_call(('a0000000-0000-0000-0000-' || lpad((1 + g % 300)::text, 12, '0'))::uuid,
                              '/v1/search', 'GET', CASE WHEN g % 3 = 0 THEN 500 ELSE 200 END, g * 13 % 900,
                              g, g * 2, occurred_at => timestamptz '2026-06-30 11:00' - (g * 37 % 1400) * interval '1 hour')
       IS NOT NULL AS recorded
  FROM generate_series(1, 500) g
 GROUP BY 1;
SELECT jobspy.track_event(('a0000000-0000-0000-0000-' || lpad((1 + g % 300)::text, 12, '0'))::uuid,
                          (ARRAY['first_search', 'export_data', 'upgrade_to_pro'])[1 + g % 3], '{}',
                          timestamptz '2026-06-30 11:00' - (g * 53 % 3000) * interval '1 hour') IS NOT NULL AS tracked
  FROM generate_series(1, 900) g
 GROUP BY 1;

-- The rollups hold batch A, the views add batch B.
SELECT * FROM pg_temp.mismatches();
SELECT (SELECT sum(requests) FROM jobspy.api_performance_rollup) AS api_rolled_up,
       (SELECT sum(events) FROM jobspy.event_counts_rollup) AS events_rolled_up;
SELECT source, rows_added FROM jobspy.refresh_rollups() ORDER BY 1;
SELECT * FROM pg_temp.mismatches();
-- Nothing is left: a second refresh adds nothing.
SELECT source, rows_added FROM jobspy.refresh_rollups() ORDER BY 1;
SELECT (SELECT sum(requests) FROM jobspy.api_performance_rollup) AS api_rolled_up,
       (SELECT sum(events) FROM jobspy.event_counts_rollup) AS events_rolled_up;
SELECT * FROM pg_temp.mismatches();

-- The funnel: first occurrences in order, from the rollup and from raw rows.
SELECT f.step, f.event_type, f.users, f.users = r.users AS matches_raw, f.conversion_rate
  FROM jobspy.conversion_funnel(ARRAY['registration', 'first_search', 'export_data', 'upgrade_to_pro']) f
  JOIN pg_temp.raw_funnel(ARRAY['registration', 'first_search', 'export_data', 'upgrade_to_pro']) r USING (step)
 ORDER BY f.step;

-- A window: first steps from February 10 to May 20, later steps before May 20;
-- a step may repeat.
SELECT f.step, f.event_type, f.users, f.users = r.users AS matches_raw, f.conversion_rate
  FROM jobspy.conversion_funnel(ARRAY['first_search', 'export_data', 'first_search', 'page_view'],
                                '2026-02-10', '2026-05-20') f
  JOIN pg_temp.raw_funnel(ARRAY['first_search', 'export_data', 'first_search', 'page_view'],
                          '2026-02-10', '2026-05-20') r USING (step)
 ORDER BY f.step;

-- Seed 004's token queries (by user, by model, for one month) against
-- token_usage_monthly: 3,000 completions rolled up, then 1,000 more in the
-- tail, some into months already rolled up.
INSERT INTO jobspy.token_usage (user_id, provider, model, prompt_tokens, completion_tokens, currency,
                                input_price_per_million, output_price_per_million, cost, metric, quota_allowed, created_at)
SELECT ('a0000000-0000-0000-0000-' || lpad((1 + g % 40)::text, 12, '0'))::uuid, 'p' || g % 2, 'model-' || g % 3,
       g * 17 % 4000, g * 29 % 2000, 'USD', 3, 15, (g * 17 % 4000) * 3 / 1e6 + (g * 29 % 2000) * 15 / 1e6,
       'tokens', true, timestamptz '2026-04-01' + (g * 37 % (90 * 24)) * interval '1 hour'
  FROM generate_series(1, 3000) g;
SELECT rows_added FROM jobspy.refresh_rollups() WHERE source = 'token_usage';
INSERT INTO jobspy.token_usage (user_id, provider, model, prompt_tokens, completion_tokens, currency,
                                input_price_per_million, output_price_per_million, cost, metric, quota_allowed, created_at)
SELECT ('a0000000-0000-0000-0000-' || lpad((1 + g % 50)::text, 12, '0'))::uuid, 'p' || g % 2, 'model-' || g % 4,
       g * 13 % 4000, g * 7 % 2000, 'USD', 3, 15, (g * 13 % 4000) * 3 / 1e6 + (g * 7 % 2000) * 15 / 1e6,
       'tokens', true, timestamptz '2026-05-15' + (g * 41 % (60 * 24)) * interval '1 hour'
  FROM generate_series(1, 1000) g;
-- Row for row both ways: what the seed's queries give and the view does not,
-- or the other way round.
CREATE FUNCTION pg_temp.token_by_user_raw(m timestamptz) RETURNS TABLE (user_id uuid, tokens numeric, cost numeric)
    LANGUAGE sql AS $$
    SELECT user_id, sum(total_tokens), sum(cost) FROM jobspy.token_usage
     WHERE date_trunc('month', created_at, 'UTC') = m GROUP BY 1 $$;
CREATE FUNCTION pg_temp.token_by_user_view(m timestamptz) RETURNS TABLE (user_id uuid, tokens numeric, cost numeric)
    LANGUAGE sql AS $$
    SELECT user_id, sum(total_tokens), sum(cost) FROM jobspy.token_usage_monthly WHERE month = m GROUP BY 1 $$;
CREATE FUNCTION pg_temp.token_by_model_raw(m timestamptz)
    RETURNS TABLE (model text, requests bigint, tokens numeric, avg_tokens numeric) LANGUAGE sql AS $$
    SELECT model, count(*), sum(total_tokens), avg(total_tokens) FROM jobspy.token_usage
     WHERE date_trunc('month', created_at, 'UTC') = m GROUP BY 1 $$;
CREATE FUNCTION pg_temp.token_by_model_view(m timestamptz)
    RETURNS TABLE (model text, requests bigint, tokens numeric, avg_tokens numeric) LANGUAGE sql AS $$
    SELECT model, sum(requests)::bigint, sum(total_tokens), sum(total_tokens)::numeric / sum(requests)
      FROM jobspy.token_usage_monthly WHERE month = m GROUP BY 1 $$;
SELECT count(*) AS months, bool_and(by_user) AS by_user_matches, bool_and(by_model) AS by_model_matches
  FROM (SELECT m,
               NOT EXISTS ((SELECT * FROM pg_temp.token_by_user_raw(m) EXCEPT SELECT * FROM pg_temp.token_by_user_view(m))
                           UNION ALL
                           (SELECT * FROM pg_temp.token_by_user_view(m) EXCEPT SELECT * FROM pg_temp.token_by_user_raw(m)))
                   AS by_user,
               NOT EXISTS ((SELECT * FROM pg_temp.token_by_model_raw(m) EXCEPT SELECT * FROM pg_temp.token_by_model_view(m))
                           UNION ALL
                           (SELECT * FROM pg_temp.token_by_model_view(m) EXCEPT SELECT * FROM pg_temp.token_by_model_raw(m)))
                   AS by_model
          FROM (SELECT DISTINCT date_trunc('month', created_at, 'UTC') AS m FROM jobspy.token_usage) months) x;
SELECT (SELECT sum(requests) FROM jobspy.token_usage_rollup) AS tokens_rolled_up,
       (SELECT sum(requests) FROM jobspy.token_usage_monthly) AS tokens_reported;
DELETE FROM jobspy.token_usage WHERE user_id::text LIKE 'a0000000-%';

-- Retention: maintain() drops raw events past 90 days; the reports keep them.
-- Rows maintain() moves from the default partition into their month's keep
-- the transaction that wrote them, so they are not counted again.
SELECT (SELECT count(*) FROM jobspy.daily_active_users) AS dau_days,
       (SELECT sum(events) FROM jobspy.event_counts_daily) AS events_reported,
       (SELECT count(*) FROM jobspy.events) AS raw_events;
SELECT count(*) > 0 AS maintained FROM jobspy.maintain();
SELECT (SELECT count(*) FROM jobspy.daily_active_users) AS dau_days,
       (SELECT sum(events) FROM jobspy.event_counts_daily) AS events_reported,
       (SELECT count(*) FROM jobspy.events) AS raw_events,
       (SELECT min(occurred_at) >= timestamptz '2026-04-01' FROM jobspy.events) AS older_months_gone,
       (SELECT sum(requests) FROM jobspy.api_performance_hourly) AS api_reported;

-- Leave nothing behind.
DELETE FROM jobspy.users WHERE id::text LIKE 'a0000000-%';
TRUNCATE jobspy.api_performance_rollup, jobspy.daily_user_activity_rollup, jobspy.daily_active_users_rollup,
         jobspy.user_activity_rollup, jobspy.event_firsts_rollup, jobspy.event_counts_rollup, jobspy.token_usage_rollup;
