-- Baseline for record_api_call: a bare INSERT of the same row into
-- api_usage, same commit settings.
\set n random(1, :scale)
INSERT INTO jobspy.api_usage (user_id, endpoint, method, status_code, response_time_ms, request_size_bytes, response_size_bytes)
VALUES (bench.user_id(:n), '/api/v1/search', 'GET', 200, 42, 310, 18211);
