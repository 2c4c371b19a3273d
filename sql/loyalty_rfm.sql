\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- loyalty RFM: daily recency, frequency, monetary snapshots per member and
-- business with quintile scores and named segments (seed 002).  docs/loyalty.md.

-- ==== RFM snapshots (seed 002) =============================================

CREATE TABLE jobspy.loyalty_rfm_snapshots (
    snapshot_date date NOT NULL,
    business_id   uuid NOT NULL REFERENCES jobspy.loyalty_businesses (id) ON DELETE CASCADE,
    currency      text NOT NULL,
    user_id       uuid NOT NULL,
    recency_days  integer NOT NULL CHECK (recency_days >= 0),
    frequency     integer NOT NULL CHECK (frequency > 0),
    monetary      bigint NOT NULL,
    r_score       smallint NOT NULL CHECK (r_score BETWEEN 1 AND 5),
    f_score       smallint NOT NULL CHECK (f_score BETWEEN 1 AND 5),
    m_score       smallint NOT NULL CHECK (m_score BETWEEN 1 AND 5),
    segment       text NOT NULL,
    PRIMARY KEY (snapshot_date, business_id, currency, user_id)
);
COMMENT ON TABLE jobspy.loyalty_rfm_snapshots IS
    'daily RFM snapshot per member and business (and currency): recency, frequency, monetary, quintile scores (ties alike, the top 5), named segment';
CREATE INDEX loyalty_rfm_snapshots_user_idx ON jobspy.loyalty_rfm_snapshots (user_id, snapshot_date);
SELECT pg_catalog.pg_extension_config_dump('jobspy.loyalty_rfm_snapshots', '');

CREATE FUNCTION jobspy.rfm_segment(r integer, f integer, m integer) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT CASE
        WHEN r >= 4 AND f >= 4 AND m >= 4 THEN 'champions'
        WHEN r >= 3 AND f >= 4            THEN 'loyal'
        WHEN r >= 4 AND f = 1             THEN 'new'
        WHEN r >= 4                       THEN 'potential_loyalist'
        WHEN r = 1 AND f = 1              THEN 'lost'
        WHEN r <= 2 AND f >= 3            THEN 'at_risk'
        WHEN r <= 2                       THEN 'hibernating'
        ELSE 'need_attention' END
$$;
COMMENT ON FUNCTION jobspy.rfm_segment(integer, integer, integer) IS
    'the named RFM segment of quintile scores (docs/loyalty.md has the table)';

CREATE FUNCTION jobspy.loyalty_rfm_snapshot(day date) RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    day_end timestamptz;
    win     interval := (jobspy.loyalty_settings()).rfm_window;
    n       bigint;
BEGIN
    -- (a date may lie past what a timestamp holds)
    IF isfinite($1) AND $1 NOT BETWEEN date '0001-01-01' AND date '99999-12-31' THEN
        RAISE EXCEPTION 'an RFM snapshot day must be in the years 1 to 99999, not %', $1 USING ERRCODE = '22023';
    END IF;
    day_end := (($1 + 1)::timestamp AT TIME ZONE 'UTC');
    DELETE FROM jobspy.loyalty_rfm_snapshots s WHERE s.snapshot_date = $1;
    -- A score is the quintile of the member's value within the business and
    -- currency, counting the members whose value is strictly worse (for
    -- recency: more days), which rank() gives as below + 1:
    -- ceil(5 * (below + 1) / members), in integers.  Ties score alike; a
    -- tie at the bottom scores as its first member would, so one-time
    -- buyers who are many still score 1 (counting the whole tie put them
    -- at its top, and no member could be "lost" or "new"); a member above
    -- every other scores 5, and so does a member alone.  monetary is
    -- summed in numeric and kept at most the largest bigint, so that no
    -- member's amounts can make the snapshot (and maintain()) fail.
    INSERT INTO jobspy.loyalty_rfm_snapshots (snapshot_date, business_id, currency, user_id, recency_days, frequency,
                                              monetary, r_score, f_score, m_score, segment)
    SELECT $1, x.business_id, x.currency, x.user_id, x.recency_days, x.frequency,
           least(x.monetary, 9223372036854775807)::bigint, x.r, x.f, x.m, jobspy.rfm_segment(x.r, x.f, x.m)
      FROM (SELECT a.*,
                   ((5 * rank() OVER (g ORDER BY a.recency_days DESC) + a.members - 1) / a.members)::smallint AS r,
                   ((5 * rank() OVER (g ORDER BY a.frequency) + a.members - 1) / a.members)::smallint AS f,
                   ((5 * rank() OVER (g ORDER BY a.monetary) + a.members - 1) / a.members)::smallint AS m
              FROM (SELECT p.business_id, p.currency, p.user_id,
                           extract(day FROM day_end - max(p.created_at))::integer AS recency_days,
                           count(*)::integer AS frequency, sum(p.amount::numeric - p.refunded) AS monetary,
                           count(*) OVER (PARTITION BY p.business_id, p.currency) AS members
                      FROM jobspy.loyalty_purchases p
                     WHERE p.created_at < day_end AND p.created_at >= day_end - win
                     GROUP BY 1, 2, 3) a
            WINDOW g AS (PARTITION BY a.business_id, a.currency)) x;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION jobspy.loyalty_rfm_snapshot(date) IS
    'computes (again) the RFM snapshot of a day (UTC) over the purchases of the window before its end; returns the rows written';

CREATE FUNCTION jobspy.maintain_loyalty_rfm() RETURNS TABLE (action text, object text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    yesterday date := (jobspy.now() AT TIME ZONE 'UTC')::date - 1;
    n     bigint;
BEGIN
    -- Once a day: the first maintain() of a UTC day takes the snapshot of
    -- the day before, the last one that is over (today's would miss the
    -- purchases still to come).
    IF NOT EXISTS (SELECT FROM jobspy.loyalty_rfm_snapshots s WHERE s.snapshot_date = yesterday) THEN
        n := jobspy.loyalty_rfm_snapshot(yesterday);
        IF n > 0 THEN
            action := 'computed'; object := format('RFM snapshot of %s: %s rows', yesterday, n); RETURN NEXT;
        END IF;
    END IF;
    DELETE FROM jobspy.loyalty_rfm_snapshots s
     WHERE s.snapshot_date < (jobspy.now() - (jobspy.loyalty_settings()).rfm_retention) AT TIME ZONE 'UTC';
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        action := 'deleted'; object := format('%s RFM snapshot rows past retention', n); RETURN NEXT;
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.maintain_loyalty_rfm() IS
    'maintain() step: the RFM snapshot of the previous UTC day, the last complete one (once per day), and retention (loyalty_programme.rfm_retention, 12 months)';

REVOKE ALL ON jobspy.loyalty_rfm_snapshots FROM PUBLIC;
GRANT SELECT ON jobspy.loyalty_rfm_snapshots TO jobspy_admin;
REVOKE ALL ON FUNCTION
    jobspy.rfm_segment(integer, integer, integer), jobspy.loyalty_rfm_snapshot(date), jobspy.maintain_loyalty_rfm()
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION jobspy.rfm_segment(integer, integer, integer), jobspy.loyalty_rfm_snapshot(date)
  TO jobspy_admin;
