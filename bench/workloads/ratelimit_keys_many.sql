-- Rate limiter as the work grows (issue 22): one decision on a random key
-- among :keys tracked ones (BENCH_RATELIMIT_KEYS, a million by default, all
-- made by the fixture 25_ratelimit_keys.sql), against the same on 10,000 of
-- them.  Every key is in the store: the difference is the working set, a
-- million entries (about 100 MB) against 10,000 that stay in the caches.
-- compare: ratelimit_keys_10k >= 0.9
\set n random(1, :keys)
SELECT * FROM jobspy.rate_limit('keys:' || :n, 999, 100000, '1 hour');
