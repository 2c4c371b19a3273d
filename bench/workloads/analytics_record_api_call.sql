-- record_api_call: one durable call record over :scale users.
-- compare: analytics_bare_insert >= 0.5
\set n random(1, :scale)
SELECT jobspy.record_api_call(bench.user_id(:n), '/api/v1/search', 'GET', 200, 42, 310, 18211);
