-- Baseline: the same report over the raw api_usage rows (ClickHouse's
-- toStartOfHour, quantile and countIf translated).
SELECT date_trunc('hour', a.created_at, 'UTC') AS hour, a.endpoint, count(*) AS requests,
       count(*) FILTER (WHERE a.status_code >= 400) AS errors,
       (count(*) FILTER (WHERE a.status_code >= 400))::numeric / count(*) AS error_rate,
       avg(a.response_time_ms) AS avg_response_ms,
       percentile_disc(0.50) WITHIN GROUP (ORDER BY a.response_time_ms) AS p50_ms,
       percentile_disc(0.95) WITHIN GROUP (ORDER BY a.response_time_ms) AS p95_ms,
       percentile_disc(0.99) WITHIN GROUP (ORDER BY a.response_time_ms) AS p99_ms,
       coalesce(sum(a.request_size_bytes), 0) AS request_bytes, coalesce(sum(a.response_size_bytes), 0) AS response_bytes
  FROM jobspy.api_usage a
 WHERE a.created_at >= date_trunc('hour', jobspy.now() - interval '24 hours')
 GROUP BY 1, 2
 ORDER BY 1, 2;
