-- ---- Active users over rolling windows, usage per plan (seeds 000, 003)

-- internal: a report's range of days, at most ten years long.
CREATE FUNCTION jobspy.analytics_check_days(from_day date, to_day date) RETURNS void
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF from_day IS NULL OR to_day IS NULL THEN
        RAISE EXCEPTION 'from_day and to_day must not be NULL' USING ERRCODE = '22023';
    END IF;
    IF NOT isfinite(from_day) OR NOT isfinite(to_day) OR from_day < date '1970-01-01' OR to_day < from_day
       OR to_day - from_day > 3660 THEN
        RAISE EXCEPTION 'days % to % are not a range of at most ten years', from_day, to_day
            USING ERRCODE = '22023', HINT = 'Give from_day <= to_day, both from 1970 on.';
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.analytics_check_days(date, date) IS
    'internal: raises 22023 unless from_day <= to_day, at most ten years apart, from 1970 on';

-- DAU, WAU and MAU of each day from_day to to_day: distinct users with an
-- event that UTC day, in the 7 days ending it, in the 30 days ending it.
-- Read from daily_user_activity (its rollup plus the events not yet rolled
-- up), so the history outlives the raw events' retention; each day meets
-- the 30 days of activity before it, so the cost grows with the days asked
-- for times the active users of a month.
CREATE FUNCTION jobspy.active_users(from_day date, to_day date)
    RETURNS TABLE (day date, dau bigint, wau bigint, mau bigint)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM jobspy.analytics_check_days($1, $2);
    RETURN QUERY
    SELECT d.day,
           count(DISTINCT a.user_id) FILTER (WHERE a.day = d.day),
           count(DISTINCT a.user_id) FILTER (WHERE a.day > d.day - 7),
           count(DISTINCT a.user_id)
      FROM (SELECT g::date AS day FROM generate_series($1, $2, interval '1 day') g) d
      LEFT JOIN (SELECT x.day, x.user_id FROM jobspy.daily_user_activity x
                  WHERE x.day BETWEEN $1 - 29 AND $2) a
        ON a.day > d.day - 30 AND a.day <= d.day
     GROUP BY d.day
     ORDER BY d.day;
END
$$;
COMMENT ON FUNCTION jobspy.active_users(date, date) IS
    'per UTC day from_day to to_day: distinct users with an event that day (DAU), in the 7 days ending it (WAU) and in the 30 days ending it (MAU)';

-- Seed 003's daily usage statistics and "engagement by plan", per UTC
-- day, plan and metric: users whose calls were granted, the calls granted
-- and the amount they took (usage_records), the calls refused for the
-- quota and the failures the application reported (usage_events). The
-- ledger holds every grant under jobspy.quota_usage_records = all, and by
-- default those with a key, a cost or metadata (docs/quotas.md). The
-- plan is the user's plan in force now, as the seed's own query joins the
-- active subscription. Raw rows of the days asked for, found by their
-- partitions.
CREATE FUNCTION jobspy.daily_usage_by_plan(from_day date, to_day date)
    RETURNS TABLE (day date, plan_code text, metric text, active_users bigint, granted_calls bigint,
                   amount numeric, amount_per_active_user numeric, denied_calls bigint, failures bigint,
                   granted_rate numeric)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    t0 timestamptz;
    t1 timestamptz;
BEGIN
    PERFORM jobspy.analytics_check_days($1, $2);
    t0 := $1::timestamp AT TIME ZONE 'UTC';
    t1 := ($2 + 1)::timestamp AT TIME ZONE 'UTC';
    RETURN QUERY
    WITH granted AS (
        SELECT (r.created_at AT TIME ZONE 'UTC')::date AS day, r.user_id, r.metric,
               count(*) AS calls, sum(r.amount) AS amount
          FROM jobspy.usage_records r
         WHERE r.created_at >= t0 AND r.created_at < t1
         GROUP BY 1, 2, 3),
    refused AS (
        SELECT (e.occurred_at AT TIME ZONE 'UTC')::date AS day, e.user_id, e.metric,
               count(*) FILTER (WHERE e.event_type = 'quota_exceeded') AS denied,
               count(*) FILTER (WHERE e.event_type = 'failure') AS failed
          FROM jobspy.usage_events e
         WHERE e.occurred_at >= t0 AND e.occurred_at < t1
           AND e.event_type IN ('quota_exceeded', 'failure') AND e.metric IS NOT NULL
         GROUP BY 1, 2, 3),
    per_user AS (
        SELECT coalesce(g.day, f.day) AS day, coalesce(g.user_id, f.user_id) AS user_id,
               coalesce(g.metric, f.metric) AS metric, coalesce(g.calls, 0) AS calls,
               coalesce(g.amount, 0) AS amount, coalesce(f.denied, 0) AS denied, coalesce(f.failed, 0) AS failed
          FROM granted g
          FULL JOIN refused f ON f.day = g.day AND f.user_id = g.user_id AND f.metric = g.metric),
    plan_now AS (
        SELECT u.user_id, coalesce(p.code, 'none') AS plan_code
          FROM (SELECT DISTINCT x.user_id FROM per_user x) u
          LEFT JOIN LATERAL jobspy.quota_plan_of(u.user_id, jobspy.now()) q ON true
          LEFT JOIN jobspy.plans p ON p.id = q.plan_id)
    SELECT x.day, n.plan_code, x.metric,
           count(*) FILTER (WHERE x.calls > 0),
           sum(x.calls)::bigint,
           sum(x.amount),
           round(sum(x.amount) / nullif(count(*) FILTER (WHERE x.calls > 0), 0), 2),
           sum(x.denied)::bigint,
           sum(x.failed)::bigint,
           round(sum(x.calls) / nullif(sum(x.calls) + sum(x.denied), 0), 4)
      FROM per_user x
      JOIN plan_now n ON n.user_id = x.user_id
     GROUP BY x.day, n.plan_code, x.metric
     ORDER BY x.day, n.plan_code, x.metric;
END
$$;
COMMENT ON FUNCTION jobspy.daily_usage_by_plan(date, date) IS
    'per UTC day from_day to to_day, plan in force now and metric: users with granted calls, calls granted, amount taken and its mean per such user, calls refused for the quota, failures reported, and granted / (granted + refused) (seed 003''s daily usage stats and engagement by plan)';

REVOKE ALL ON FUNCTION jobspy.active_users(date, date), jobspy.analytics_check_days(date, date),
    jobspy.daily_usage_by_plan(date, date)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION jobspy.active_users(date, date), jobspy.analytics_check_days(date, date),
    jobspy.daily_usage_by_plan(date, date)
  TO jobspy_analyst, jobspy_admin;
