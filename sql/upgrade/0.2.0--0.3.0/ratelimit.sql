-- 0.2.0 -> 0.3.0: ratelimit

-- set_rate_limit_rule: a NULL argument is refused with 22004, not the table's not-null violation.
-- @replace FUNCTION jobspy.set_rate_limit_rule(

-- Keys belong to the database they are used in;
-- the functions that show and reset them say so.

COMMENT ON FUNCTION jobspy.rate_limit_reset(text) IS
    'forget a rate-limit key of the current database (it is full again); false when it was not tracked';
COMMENT ON FUNCTION jobspy.rate_limit_reset_user(uuid) IS
    'forget every rule window of a user in the current database (all full again); returns how many were tracked';
COMMENT ON FUNCTION jobspy.rate_limit_entries() IS
    'every key the rate limiter tracks for the current database, with its counters of admitted and refused calls';
COMMENT ON VIEW jobspy.rate_limit_keys IS
    'rate-limit keys of the current database: plain key, or digest of a long key, or rule window (rule, user, hour/day); full_at is when the bucket is full again';
COMMENT ON FUNCTION jobspy.rate_limit_stats_reset() IS
    'zero the admitted and refused counters of the current database''s keys (and, for a superuser, of the store)';
