-- Rate limiter on 10,000 tracked keys: the baseline of ratelimit_keys_many
-- (the same call; keys 'keys:1' to 'keys:10000' of the fixture
-- 25_ratelimit_keys.sql).
\set n random(1, 10000)
SELECT * FROM jobspy.rate_limit('keys:' || :n, 999, 100000, '1 hour');
