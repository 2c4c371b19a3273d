-- The rate limiter: redis-cell's CL.THROTTLE semantics on a fixed clock.
SET TimeZone = 'UTC';
SET jobspy.clock_override = '2030-01-01 00:00:00+00';

-- max_burst 4 means limit 5: a fresh key admits five at once, then refuses;
-- 10 per minute is one unit every 6 s.
SELECT n, r.* FROM generate_series(1, 6) n, LATERAL jobspy.rate_limit('rt:a', 4, 10, '1 minute', 1 + 0 * n) r;

-- 6 s later exactly one unit has come back.
SET jobspy.clock_override = '2030-01-01 00:00:06+00';
SELECT * FROM jobspy.rate_limit('rt:a', 4, 10, '1 minute');
SELECT * FROM jobspy.rate_limit('rt:a', 4, 10, '1 minute');

-- 1.5 s later: refused, 4.5 s to wait, nothing taken.
-- (LATERAL calls depend on n so that each row calls the function.)
SET jobspy.clock_override = '2030-01-01 00:00:07.5+00';
SELECT * FROM jobspy.rate_limit('rt:a', 4, 10, '1 minute');

-- Quantity 0 reads the state without taking anything; so does peek.
SELECT * FROM jobspy.rate_limit('rt:a', 4, 10, '1 minute', 0);
SELECT * FROM jobspy.rate_limit_peek('rt:a', 4, 10, '1 minute');

-- After the full reset time the key is full again.
SET jobspy.clock_override = '2030-01-01 00:01:00+00';
SELECT * FROM jobspy.rate_limit_peek('rt:a', 4, 10, '1 minute');

-- A quantity larger than the bucket can never pass: retry_after_ms stays -1.
SELECT * FROM jobspy.rate_limit('rt:b', 2, 1, '1 second', 4);
-- A quantity that fits is taken at once.
SELECT * FROM jobspy.rate_limit('rt:b', 2, 1, '1 second', 3);
SELECT * FROM jobspy.rate_limit('rt:b', 2, 1, '1 second', 1);

-- Periods that do not divide evenly keep exact bursts (7 per hour).
SELECT count(*) FILTER (WHERE r.allowed) AS admitted
  FROM generate_series(1, 20) n, LATERAL jobspy.rate_limit('rt:c', 6, 7, '1 hour', 1 + 0 * n) r;

-- In a target list the function returns one composite value per call.
SELECT jobspy.rate_limit('rt:d', 1, 1, '1 hour') AS first, jobspy.rate_limit('rt:d', 1, 1, '1 hour') AS second;
SELECT (jobspy.rate_limit('rt:d', 1, 1, '1 hour')).allowed AS third;

-- Reset forgets a key.
SELECT jobspy.rate_limit_reset('rt:a') AS was_tracked, jobspy.rate_limit_reset('rt:none') AS unknown;
SELECT * FROM jobspy.rate_limit_peek('rt:a', 4, 10, '1 minute');

-- Long keys are kept as a 32-byte digest, never as text.
SELECT allowed FROM jobspy.rate_limit(repeat('x', 200), 0, 1, '1 minute');
SELECT allowed FROM jobspy.rate_limit(repeat('x', 200), 0, 1, '1 minute');
SELECT key, octet_length(key_digest) AS digest_bytes, active, allowed, denied
  FROM jobspy.rate_limit_keys WHERE key IS NULL AND rule_id IS NULL;
SELECT key, key_digest, full_at, active, allowed, denied
  FROM jobspy.rate_limit_keys WHERE key LIKE 'rt:%' ORDER BY key;

-- Bad parameters raise 22023 with the reason.
\set VERBOSITY default
SELECT * FROM jobspy.rate_limit('rt:x', -1, 10, '1 minute');
SELECT * FROM jobspy.rate_limit('rt:x', 1, 0, '1 minute');
SELECT * FROM jobspy.rate_limit('rt:x', 1, 10, '0 seconds');
SELECT * FROM jobspy.rate_limit('rt:x', 1, 10, '1 minute', -1);
SELECT * FROM jobspy.rate_limit(NULL, 1, 10, '1 minute');
SELECT * FROM jobspy.rate_limit('', 1, 10, '1 minute');

-- The store: at most 128 bytes of shared memory per key, all included.
SELECT partitions, bytes_per_key, bytes_per_key <= 128 AS within_budget,
       shared_bytes <= 128 * max_keys AS total_within_budget
  FROM jobspy.rate_limit_store();

-- check_rate_limit for a user that does not exist is a caller's mistake:
-- 22023, asked twice (the second answer comes from the backend's cache),
-- and the user once created is served.
\set VERBOSITY sqlstate
SELECT * FROM jobspy.check_rate_limit('00000000-0000-4000-8000-00000000dead', '/api/v1/jobs');
\set VERBOSITY default
SELECT * FROM jobspy.check_rate_limit('00000000-0000-4000-8000-00000000dead', '/api/v1/jobs');
INSERT INTO jobspy.users (id, email) VALUES ('00000000-0000-4000-8000-00000000dead', 'rt-dead@example.com');
SELECT allowed FROM jobspy.check_rate_limit('00000000-0000-4000-8000-00000000dead', '/api/v1/jobs');
DELETE FROM jobspy.users WHERE id = '00000000-0000-4000-8000-00000000dead';
\set VERBOSITY sqlstate
SELECT * FROM jobspy.check_rate_limit('00000000-0000-4000-8000-00000000dead', '/api/v1/jobs');
\set VERBOSITY default
