-- Analytics ingest, histograms, the funnel's arguments and who may do what.
-- (Rollups take only rows of ended transactions, so their exactness is in
-- test/sql/analytics_reports.sql and test/specs/analytics_exactly_once.spec.)
BEGIN;
SELECT plan(33);

INSERT INTO jobspy.users (id, email) VALUES ('f0000000-0000-4000-8000-000000000001', 'ingest@example.com');

-- One call, one event.
SELECT isnt(jobspy.record_api_call('f0000000-0000-4000-8000-000000000001', '/v1/search', 'GET', 200, 12),
            NULL, 'record_api_call returns the new row''s id');
SELECT is((SELECT row(endpoint, method, status_code, response_time_ms, metadata, created_at = jobspy.now())::text
             FROM jobspy.api_usage WHERE user_id = 'f0000000-0000-4000-8000-000000000001'),
          row('/v1/search', 'GET', 200, 12, '{}'::jsonb, true)::text, 'the call is stored as given, at now()');
SELECT is((SELECT xact FROM jobspy.api_usage WHERE user_id = 'f0000000-0000-4000-8000-000000000001'),
          pg_current_xact_id(), 'the row carries the transaction that wrote it');
SELECT isnt(jobspy.track_event('f0000000-0000-4000-8000-000000000001', 'first_search', '{"q": "rust"}',
                               timestamptz '2026-03-01 10:00+00'), NULL, 'track_event returns the new row''s id');
SELECT is((SELECT row(event_type, properties, occurred_at)::text FROM jobspy.events
            WHERE user_id = 'f0000000-0000-4000-8000-000000000001'),
          row('first_search', '{"q": "rust"}'::jsonb, timestamptz '2026-03-01 10:00+00')::text, 'the event is stored as given');

-- Bad input: the table's checks and keys, nothing written.
SELECT throws_ok($$SELECT jobspy.record_api_call('f0000000-0000-4000-8000-000000000001', '/x', 'get', 200, 1)$$,
                 '23514', NULL, 'a lower-case method is refused');
SELECT throws_ok($$SELECT jobspy.record_api_call('f0000000-0000-4000-8000-000000000001', '/x', 'GET', 99, 1)$$,
                 '23514', NULL, 'a status code below 100 is refused');
SELECT throws_ok($$SELECT jobspy.record_api_call('f0000000-0000-4000-8000-000000000001', '/x', 'GET', 200, -1)$$,
                 '23514', NULL, 'a negative latency is refused');
SELECT throws_ok($$SELECT jobspy.record_api_call('f0000000-0000-4000-8000-00000000dead', '/x', 'GET', 200, 1)$$,
                 '23503', NULL, 'an unknown user is refused');
SELECT throws_ok($$SELECT jobspy.track_event('f0000000-0000-4000-8000-000000000001', 'Bad Type')$$,
                 '23514', NULL, 'an event type that is not a lower-case word is refused');
SELECT throws_ok($$SELECT jobspy.track_event('f0000000-0000-4000-8000-000000000001', 'x', '[1]')$$,
                 '23514', NULL, 'properties must be an object');

-- Batches: all or none.
SELECT is(jobspy.record_api_calls(jsonb_build_array(
              jsonb_build_object('user_id', 'f0000000-0000-4000-8000-000000000001', 'endpoint', '/b', 'method', 'POST',
                                 'status_code', 201, 'response_time_ms', 5, 'occurred_at', '2026-02-01T00:00:00Z'),
              jsonb_build_object('user_id', 'f0000000-0000-4000-8000-000000000001', 'endpoint', '/b', 'method', 'GET',
                                 'xact', '1'))), 2, 'record_api_calls stores a batch and says how many');
SELECT is((SELECT count(*) FROM jobspy.api_usage WHERE endpoint = '/b' AND xact = pg_current_xact_id()), 2::bigint,
          'a batch cannot set the transaction a row is counted by');
SELECT is((SELECT created_at FROM jobspy.api_usage WHERE endpoint = '/b' AND method = 'POST'),
          timestamptz '2026-02-01 00:00+00', 'a batch row keeps its occurred_at');
SELECT throws_ok($$SELECT jobspy.record_api_calls('{"user_id": "f0000000-0000-4000-8000-000000000001"}')$$,
                 'JS801', NULL, 'a batch that is not an array is refused');
SELECT throws_ok($$SELECT jobspy.track_events('[{"user_id": "f0000000-0000-4000-8000-000000000001", "event_type": "a"}, 3]')$$,
                 'JS801', NULL, 'a batch with a non-object element is refused');
SELECT throws_ok($$SELECT jobspy.track_events(jsonb_build_array(
                     jsonb_build_object('user_id', 'f0000000-0000-4000-8000-000000000001', 'event_type', 'ok'),
                     jsonb_build_object('user_id', 'f0000000-0000-4000-8000-000000000001', 'event_type', 'NOT OK')))$$,
                 '23514', NULL, 'one bad row fails the batch');
SELECT is((SELECT count(*) FROM jobspy.events WHERE event_type = 'ok'), 0::bigint, 'a failed batch wrote nothing');
SELECT is(jobspy.track_events('[]'), 0, 'an empty batch stores nothing');

-- Histograms: merged counts add; quantiles within 0.9% of percentile_disc.
SELECT is(jobspy.histogram_count(jobspy.histogram_union(
              (SELECT jobspy.latency_histogram(v) FROM generate_series(1, 1000) v),
              (SELECT jobspy.latency_histogram(v) FROM generate_series(0, 99) v))), 1100::bigint,
          'two histograms merge into one holding both');
SELECT ok((SELECT bool_and(abs(jobspy.histogram_quantile(h, q) - exact) <= 0.0091 * exact)
             FROM (SELECT jobspy.latency_histogram(v) AS h FROM generate_series(1, 100000, 7) v) hist,
                  unnest(ARRAY[0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1]) q,
                  LATERAL (SELECT percentile_disc(q) WITHIN GROUP (ORDER BY v) AS exact
                             FROM generate_series(1, 100000, 7) v) p),
   'every quantile is within 0.9% of the exact one');
SELECT is(jobspy.histogram_quantile((SELECT jobspy.latency_histogram(v) FROM (VALUES (0), (0), (5)) x(v)), 0.5),
          0::double precision, 'zero is exact');
SELECT is(jobspy.histogram_quantile((SELECT jobspy.latency_histogram(NULL::integer)), 0.5), NULL,
          'a histogram of nothing has no quantile');
SELECT throws_ok($$SELECT jobspy.histogram_quantile('\x01', 0.5)$$, '22P03', NULL, 'a truncated histogram is refused');
SELECT throws_ok($$SELECT jobspy.histogram_quantile('\x0201', 0.5)$$, '22P03', NULL, 'an unknown version is refused');
SELECT throws_ok($$SELECT jobspy.histogram_quantile('\x0101ff7f01', 0.5)$$, '22P03', NULL, 'a key out of range is refused');
SELECT throws_ok($$SELECT jobspy.histogram_quantile((SELECT jobspy.latency_histogram(1)), 1.5)$$,
                 '22023', NULL, 'a quantile above 1 is refused');
SELECT throws_ok($$SELECT jobspy.latency_histogram(-1)$$, '22023', NULL, 'a negative latency is refused');

-- The funnel's steps.
SELECT throws_ok($$SELECT * FROM jobspy.conversion_funnel('{}')$$, '22023', NULL, 'a funnel needs a step');
SELECT throws_ok($$SELECT * FROM jobspy.conversion_funnel(ARRAY['a', NULL])$$, '22023', NULL, 'a NULL step is refused');

-- Who may do what.
SELECT ok(has_function_privilege('jobspy_app', 'jobspy.track_events(jsonb)', 'EXECUTE')
          AND has_function_privilege('jobspy_app', 'jobspy.record_api_call(uuid, text, text, integer, integer, integer, integer, uuid, text, inet, text, text, jsonb, timestamptz)', 'EXECUTE')
          AND NOT has_table_privilege('jobspy_app', 'jobspy.api_performance_hourly', 'SELECT')
          AND NOT has_function_privilege('jobspy_app', 'jobspy.refresh_rollups()', 'EXECUTE'),
          'the application ingests, and neither reads reports nor refreshes');
SELECT ok(has_table_privilege('jobspy_analyst', 'jobspy.api_performance_hourly', 'SELECT')
          AND has_table_privilege('jobspy_analyst', 'jobspy.daily_active_users', 'SELECT')
          AND NOT has_table_privilege('jobspy_analyst', 'jobspy.events', 'SELECT')
          AND NOT has_function_privilege('jobspy_analyst', 'jobspy.track_event(uuid, text, jsonb, timestamptz)', 'EXECUTE')
          AND NOT has_function_privilege('jobspy_analyst', 'jobspy.refresh_rollups()', 'EXECUTE'),
          'the analyst reads the reports and nothing else');

SET LOCAL ROLE jobspy_analyst;
SELECT lives_ok($$SELECT count(*) FROM jobspy.api_performance_hourly, jobspy.daily_active_users;
                  SELECT count(*) FROM jobspy.daily_user_activity; SELECT count(*) FROM jobspy.cohort_retention;
                  SELECT count(*) FROM jobspy.event_counts_daily; SELECT count(*) FROM jobspy.signups_daily;
                  SELECT count(*) FROM jobspy.conversion_funnel(ARRAY['registration', 'first_search'])$$,
                'the analyst can read every report');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
