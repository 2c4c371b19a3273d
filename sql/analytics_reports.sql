\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- analytics_reports: ingest of API calls and events, rollups maintained
-- exactly once, and the report views over them (api_usage itself is in
-- analytics.sql, from 0.2.0).

-- Raw events (seed 000's user_events, seed 003's usage events), kept 90 days
-- (retention.events); the rollups below keep their history.
CREATE TABLE jobspy.events (
    user_id     uuid NOT NULL REFERENCES jobspy.users (id) ON DELETE CASCADE,
    id          uuid NOT NULL DEFAULT jobspy.uuid_v7(),
    event_type  text NOT NULL CHECK (event_type ~ '^[a-z][a-z0-9_.:-]*$' AND length(event_type) <= 100),
    properties  jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(properties) = 'object'),
    occurred_at timestamptz NOT NULL DEFAULT jobspy.now(),
    xact        xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id()
) PARTITION BY RANGE (occurred_at);
COMMENT ON TABLE jobspy.events IS 'one row per product event of a user (track_event), partitioned by month, kept per retention.events';
CREATE TABLE jobspy.events_default PARTITION OF jobspy.events
    (PRIMARY KEY (user_id, occurred_at, id)) DEFAULT;
CREATE INDEX events_default_xact_idx ON jobspy.events_default (xact);
SELECT pg_catalog.pg_extension_config_dump('jobspy.events_default', '');

INSERT INTO jobspy.config_defaults (key, value, description, value_type, nullable, min_value, max_value, choices) VALUES
    ('retention.events', '"90 days"', 'how long raw events rows are kept (the rollups keep their history); null keeps them forever', 'interval', true, NULL, NULL, NULL);

-- ---- Ingest

CREATE FUNCTION jobspy.record_api_call(
    user_id uuid, endpoint text, method text, status_code integer, response_time_ms integer,
    request_size_bytes integer DEFAULT NULL, response_size_bytes integer DEFAULT NULL,
    license_id uuid DEFAULT NULL, user_agent text DEFAULT NULL, ip_address inet DEFAULT NULL,
    country_code text DEFAULT NULL, error_message text DEFAULT NULL, metadata jsonb DEFAULT '{}',
    occurred_at timestamptz DEFAULT NULL)
    RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    new_id uuid := jobspy.uuid_v7();
BEGIN
    INSERT INTO jobspy.api_usage (user_id, id, license_id, endpoint, method, status_code, response_time_ms,
                                  request_size_bytes, response_size_bytes, user_agent, ip_address,
                                  country_code, error_message, metadata, created_at)
    VALUES ($1, new_id, $8, $2, $3, $4, $5, $6, $7, $9, $10, $11, $12, coalesce($13, '{}'),
            coalesce($14, jobspy.now()));
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION jobspy.record_api_call(uuid, text, text, integer, integer, integer, integer, uuid, text, inet, text, text, jsonb, timestamptz) IS
    'records one API call (occurred_at defaults to now); returns its id; bad values raise the table''s check (23514) or key (23503) errors';

-- A batch is a JSON array of objects; refuses anything else with JS801.
CREATE FUNCTION jobspy.check_batch(batch jsonb) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF batch IS NULL OR jsonb_typeof(batch) <> 'array'
       OR EXISTS (SELECT FROM jsonb_array_elements(batch) e WHERE jsonb_typeof(e) <> 'object') THEN
        RAISE EXCEPTION 'a batch must be a JSON array of objects'
            USING ERRCODE = 'JS801',
                  HINT = 'Pass ''[{"user_id": "...", ...}, ...]''::jsonb, one object a row.';
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.check_batch(jsonb) IS 'raises JS801 unless a batch is a JSON array of objects';

CREATE FUNCTION jobspy.record_api_calls(calls jsonb) RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n integer;
BEGIN
    PERFORM jobspy.check_batch(calls);
    INSERT INTO jobspy.api_usage (user_id, id, license_id, endpoint, method, status_code, response_time_ms,
                                  request_size_bytes, response_size_bytes, user_agent, ip_address,
                                  country_code, error_message, metadata, created_at)
    SELECT r.user_id, coalesce(r.id, jobspy.uuid_v7()), r.license_id, r.endpoint, r.method, r.status_code,
           r.response_time_ms, r.request_size_bytes, r.response_size_bytes, r.user_agent, r.ip_address,
           r.country_code, r.error_message, coalesce(r.metadata, '{}'),
           coalesce((e ->> 'occurred_at')::timestamptz, r.created_at, jobspy.now())
      FROM jsonb_array_elements(calls) e,
           jsonb_populate_record(NULL::jobspy.api_usage, e) r;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION jobspy.record_api_calls(jsonb) IS
    'records many API calls at once from a JSON array of objects keyed like record_api_call''s arguments; all or none; returns how many';

CREATE FUNCTION jobspy.track_event(user_id uuid, event_type text, properties jsonb DEFAULT '{}',
                                   occurred_at timestamptz DEFAULT NULL)
    RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    new_id uuid := jobspy.uuid_v7();
BEGIN
    INSERT INTO jobspy.events (user_id, id, event_type, properties, occurred_at)
    VALUES ($1, new_id, $2, coalesce($3, '{}'), coalesce($4, jobspy.now()));
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION jobspy.track_event(uuid, text, jsonb, timestamptz) IS
    'records one product event of a user (occurred_at defaults to now); returns its id';

CREATE FUNCTION jobspy.track_events(events jsonb) RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n integer;
BEGIN
    PERFORM jobspy.check_batch(events);
    INSERT INTO jobspy.events (user_id, id, event_type, properties, occurred_at)
    SELECT r.user_id, coalesce(r.id, jobspy.uuid_v7()), r.event_type, coalesce(r.properties, '{}'),
           coalesce(r.occurred_at, jobspy.now())
      FROM jsonb_populate_recordset(NULL::jobspy.events, events) r;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION jobspy.track_events(jsonb) IS
    'records many events at once from a JSON array of objects with user_id, event_type, properties, occurred_at; all or none; returns how many';

-- Business events (payments, refunds, subscription changes, tier changes)
-- are written once, by the module that makes the change, to the outbox;
-- this trigger copies each one that concerns a user into events in the
-- same transaction, so it is there exactly once: if and only if the change
-- commits, with no consumer to lose or repeat it.  An event naming a user
-- that no longer exists is not copied (events keep users' rows only).
CREATE FUNCTION jobspy.outbox_to_events() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    INSERT INTO jobspy.events (user_id, event_type, properties, occurred_at)
    SELECT NEW.user_id, NEW.topic,
           NEW.payload || jsonb_build_object('outbox_id', NEW.id, 'entity_type', NEW.entity_type,
                                             'entity_id', NEW.entity_id),
           NEW.created_at
      FROM jobspy.users u
     WHERE u.id = NEW.user_id;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION jobspy.outbox_to_events() IS
    'trigger: copies an outbox event of a user into events (event_type = topic; properties = payload with outbox_id, entity_type, entity_id) in the same transaction';
CREATE TRIGGER outbox_events_to_analytics AFTER INSERT ON jobspy.outbox_events
    FOR EACH ROW WHEN (NEW.user_id IS NOT NULL) EXECUTE FUNCTION jobspy.outbox_to_events();

-- ---- Mergeable latency histograms (src/analytics_histogram.c)

CREATE FUNCTION jobspy.histogram_add(internal, integer) RETURNS internal
    LANGUAGE c CALLED ON NULL INPUT PARALLEL SAFE AS 'MODULE_PATHNAME', 'jobspy_histogram_add';
COMMENT ON FUNCTION jobspy.histogram_add(internal, integer) IS 'transition of latency_histogram(integer)';
CREATE FUNCTION jobspy.histogram_merge_add(internal, bytea) RETURNS internal
    LANGUAGE c CALLED ON NULL INPUT PARALLEL SAFE AS 'MODULE_PATHNAME', 'jobspy_histogram_merge_add';
COMMENT ON FUNCTION jobspy.histogram_merge_add(internal, bytea) IS 'transition of latency_histogram_merge(bytea)';
CREATE FUNCTION jobspy.histogram_combine(internal, internal) RETURNS internal
    LANGUAGE c CALLED ON NULL INPUT PARALLEL SAFE AS 'MODULE_PATHNAME', 'jobspy_histogram_combine';
COMMENT ON FUNCTION jobspy.histogram_combine(internal, internal) IS 'combines two partial histograms (parallel aggregation)';
CREATE FUNCTION jobspy.histogram_final(internal) RETURNS bytea
    LANGUAGE c CALLED ON NULL INPUT PARALLEL SAFE AS 'MODULE_PATHNAME', 'jobspy_histogram_final';
COMMENT ON FUNCTION jobspy.histogram_final(internal) IS 'a histogram aggregate''s stored form';
CREATE FUNCTION jobspy.histogram_deserialize(bytea, internal) RETURNS internal
    LANGUAGE c STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'jobspy_histogram_deserialize';
COMMENT ON FUNCTION jobspy.histogram_deserialize(bytea, internal) IS 'a partial histogram read back (parallel aggregation)';

CREATE AGGREGATE jobspy.latency_histogram(integer) (
    SFUNC = jobspy.histogram_add, STYPE = internal, FINALFUNC = jobspy.histogram_final,
    COMBINEFUNC = jobspy.histogram_combine, SERIALFUNC = jobspy.histogram_final,
    DESERIALFUNC = jobspy.histogram_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE jobspy.latency_histogram(integer) IS
    'a mergeable histogram of latencies in ms (NULLs skipped); quantiles within 0.9% relative error';
CREATE AGGREGATE jobspy.latency_histogram_merge(bytea) (
    SFUNC = jobspy.histogram_merge_add, STYPE = internal, FINALFUNC = jobspy.histogram_final,
    COMBINEFUNC = jobspy.histogram_combine, SERIALFUNC = jobspy.histogram_final,
    DESERIALFUNC = jobspy.histogram_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE jobspy.latency_histogram_merge(bytea) IS
    'the histogram of all the rows of the histograms merged (counts add exactly)';

CREATE FUNCTION jobspy.histogram_union(a bytea, b bytea) RETURNS bytea
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'jobspy_histogram_union';
COMMENT ON FUNCTION jobspy.histogram_union(bytea, bytea) IS 'two histograms merged into one; a NULL side is empty';
CREATE FUNCTION jobspy.histogram_quantile(histogram bytea, q double precision) RETURNS double precision
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'jobspy_histogram_quantile';
COMMENT ON FUNCTION jobspy.histogram_quantile(bytea, double precision) IS
    'the value percentile_disc(q) would give over the histogram''s rows, within 0.9% relative error; NULL when empty';
CREATE FUNCTION jobspy.histogram_count(histogram bytea) RETURNS bigint
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'jobspy_histogram_count';
COMMENT ON FUNCTION jobspy.histogram_count(bytea) IS 'how many values a histogram holds';

-- ---- Rollups
--
-- Every raw row carries the id of the transaction that wrote it (xact).
-- refresh_rollups() takes a source's horizon H from its snapshot: every
-- transaction below H has ended, so every committed row with xact < H is
-- visible to it, whatever the rows' timestamps or the order of commits.  It
-- adds the rows with old horizon <= xact < H to the rollups and stores H, in
-- one transaction, under a lock on the source's state row: each row is
-- counted once, late rows update old buckets, and a second refresh (at once
-- or later) finds nothing left.  The report views add the rows at or above
-- the stored horizon, so they are current to the last commit.

CREATE TABLE jobspy.rollup_state (
    source       text PRIMARY KEY,
    horizon      xid8 NOT NULL DEFAULT '0',
    refreshed_at timestamptz,
    rows_rolled_up bigint NOT NULL DEFAULT 0
);
COMMENT ON TABLE jobspy.rollup_state IS
    'per raw table: rows written by transactions below horizon are in the rollups, the others are not';
-- Rows appear with the first refresh (rows made here would collide with the
-- dumped ones on restore); no row means nothing is rolled up yet.
SELECT pg_catalog.pg_extension_config_dump('jobspy.rollup_state', '');

CREATE TABLE jobspy.api_performance_rollup (
    hour           timestamptz NOT NULL,
    endpoint       text NOT NULL,
    requests       bigint NOT NULL,
    errors         bigint NOT NULL,
    timed_requests bigint NOT NULL,
    total_ms       bigint NOT NULL,
    request_bytes  bigint NOT NULL,
    response_bytes bigint NOT NULL,
    latency        bytea,
    PRIMARY KEY (hour, endpoint)
);
COMMENT ON TABLE jobspy.api_performance_rollup IS
    'api_usage per UTC hour and endpoint below the rollup horizon: counts, sums and a latency histogram';
SELECT pg_catalog.pg_extension_config_dump('jobspy.api_performance_rollup', '');

CREATE TABLE jobspy.daily_user_activity_rollup (
    day            date NOT NULL,
    user_id        uuid NOT NULL,
    events         bigint NOT NULL,
    first_event_at timestamptz NOT NULL,
    last_event_at  timestamptz NOT NULL,
    PRIMARY KEY (day, user_id)
);
COMMENT ON TABLE jobspy.daily_user_activity_rollup IS 'events per UTC day and user below the rollup horizon';
SELECT pg_catalog.pg_extension_config_dump('jobspy.daily_user_activity_rollup', '');

CREATE TABLE jobspy.daily_active_users_rollup (
    day   date PRIMARY KEY,
    users bigint NOT NULL
);
COMMENT ON TABLE jobspy.daily_active_users_rollup IS 'rows of daily_user_activity_rollup per day: the users active that day';
SELECT pg_catalog.pg_extension_config_dump('jobspy.daily_active_users_rollup', '');

CREATE TABLE jobspy.user_activity_rollup (
    user_id   uuid PRIMARY KEY,
    first_day date NOT NULL,
    last_day  date NOT NULL,
    events    bigint NOT NULL
);
COMMENT ON TABLE jobspy.user_activity_rollup IS 'per user: first and last UTC day with an event, and events, below the rollup horizon';
SELECT pg_catalog.pg_extension_config_dump('jobspy.user_activity_rollup', '');

CREATE TABLE jobspy.cohort_rollup (
    registration_month date PRIMARY KEY,
    cohort_size        bigint NOT NULL,
    retained_30d       bigint NOT NULL
);
COMMENT ON TABLE jobspy.cohort_rollup IS
    'users of user_activity_rollup by month of their first day, and those whose last day is 30 or more days after it';
SELECT pg_catalog.pg_extension_config_dump('jobspy.cohort_rollup', '');

CREATE TABLE jobspy.event_firsts_rollup (
    event_type text NOT NULL,
    user_id    uuid NOT NULL,
    first_at   timestamptz NOT NULL,
    PRIMARY KEY (event_type, user_id)
);
COMMENT ON TABLE jobspy.event_firsts_rollup IS 'per event type and user: the first time below the rollup horizon (funnels)';
SELECT pg_catalog.pg_extension_config_dump('jobspy.event_firsts_rollup', '');

CREATE TABLE jobspy.event_counts_rollup (
    day        date NOT NULL,
    event_type text NOT NULL,
    events     bigint NOT NULL,
    PRIMARY KEY (day, event_type)
);
COMMENT ON TABLE jobspy.event_counts_rollup IS 'events per UTC day and type below the rollup horizon';
SELECT pg_catalog.pg_extension_config_dump('jobspy.event_counts_rollup', '');

CREATE TABLE jobspy.token_usage_rollup (
    month             timestamptz NOT NULL,
    user_id           uuid NOT NULL,
    provider          text NOT NULL,
    model             text NOT NULL,
    currency          text NOT NULL,
    requests          bigint NOT NULL,
    prompt_tokens     bigint NOT NULL,
    completion_tokens bigint NOT NULL,
    total_tokens      bigint NOT NULL,
    cost              numeric NOT NULL,
    PRIMARY KEY (month, user_id, provider, model, currency)
);
COMMENT ON TABLE jobspy.token_usage_rollup IS
    'completions per UTC month, user, provider, model and currency below the rollup horizon (seed 004''s token reports)';
SELECT pg_catalog.pg_extension_config_dump('jobspy.token_usage_rollup', '');

-- What one batch of raw rows adds to the rollups: the rows written by
-- transactions in [from_xact, to_xact) (to_xact NULL: no upper bound).  The
-- refresh rolls up a closed range; the report views add the open range above
-- the horizon.  They run as the owner, so that a report view's reader needs
-- no right on the raw tables (an inlined function would check the reader's).
-- Their queries are planned for the bounds given (EXECUTE with literals):
-- a plan made for unknown bounds guesses that a third of the table is
-- above the horizon and, on 10M calls, reads all of them to find the few
-- rows of the tail, which made the hourly API report only 4.7 times faster
-- than the raw query (docs/benchmarks.md).
CREATE FUNCTION jobspy.xact_range(alias text, from_xact xid8, to_xact xid8) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT format('%1$I.xact >= %2$L::xid8', alias, coalesce(from_xact, '0'))
           || CASE WHEN to_xact IS NULL THEN '' ELSE format(' AND %1$I.xact < %2$L::xid8', alias, to_xact) END
$$;
COMMENT ON FUNCTION jobspy.xact_range(text, xid8, xid8) IS
    'the condition, as SQL text with literal bounds, that a raw row (by its alias) was written by a transaction in [from_xact, to_xact)';

CREATE FUNCTION jobspy.api_usage_aggregate(from_xact xid8, to_xact xid8)
    RETURNS TABLE (hour timestamptz, endpoint text, requests bigint, errors bigint, timed_requests bigint,
                   total_ms bigint, request_bytes bigint, response_bytes bigint, latency bytea)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT date_trunc(''hour'', a.created_at, ''UTC''), a.endpoint,
                count(*), count(*) FILTER (WHERE a.status_code >= 400), count(a.response_time_ms),
                coalesce(sum(a.response_time_ms), 0)::bigint, coalesce(sum(a.request_size_bytes), 0)::bigint,
                coalesce(sum(a.response_size_bytes), 0)::bigint, jobspy.latency_histogram(a.response_time_ms)
           FROM jobspy.api_usage a
          WHERE %s
          GROUP BY 1, 2', jobspy.xact_range('a', from_xact, to_xact));
END
$$;
COMMENT ON FUNCTION jobspy.api_usage_aggregate(xid8, xid8) IS
    'api_usage rows written by transactions in [from_xact, to_xact) per UTC hour and endpoint, as api_performance_rollup holds them';

CREATE FUNCTION jobspy.events_aggregate(from_xact xid8, to_xact xid8)
    RETURNS TABLE (day date, user_id uuid, event_type text, events bigint, first_at timestamptz, last_at timestamptz)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT (e.occurred_at AT TIME ZONE ''UTC'')::date, e.user_id, e.event_type,
                count(*), min(e.occurred_at), max(e.occurred_at)
           FROM jobspy.events e
          WHERE %s
          GROUP BY 1, 2, 3', jobspy.xact_range('e', from_xact, to_xact));
END
$$;
COMMENT ON FUNCTION jobspy.events_aggregate(xid8, xid8) IS
    'events rows written by transactions in [from_xact, to_xact) per UTC day, user and type';

CREATE FUNCTION jobspy.token_usage_aggregate(from_xact xid8, to_xact xid8)
    RETURNS TABLE (month timestamptz, user_id uuid, provider text, model text, currency text, requests bigint,
                   prompt_tokens bigint, completion_tokens bigint, total_tokens bigint, cost numeric)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT date_trunc(''month'', t.created_at, ''UTC''), t.user_id, t.provider, t.model, t.currency, count(*),
                sum(t.prompt_tokens)::bigint, sum(t.completion_tokens)::bigint, sum(t.total_tokens)::bigint, sum(t.cost)
           FROM jobspy.token_usage t
          WHERE %s
          GROUP BY 1, 2, 3, 4, 5', jobspy.xact_range('t', from_xact, to_xact));
END
$$;
COMMENT ON FUNCTION jobspy.token_usage_aggregate(xid8, xid8) IS
    'token_usage rows written by transactions in [from_xact, to_xact) per UTC month, user, provider, model and currency';

-- The stored horizon of a raw table; rows at or above it are not rolled up.
CREATE FUNCTION jobspy.rollup_horizon(source text) RETURNS xid8
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT coalesce((SELECT s.horizon FROM jobspy.rollup_state s WHERE s.source = $1), '0')
$$;
COMMENT ON FUNCTION jobspy.rollup_horizon(text) IS
    'the horizon of a raw table: rows written by transactions below it are in the rollups';

-- What the events in [from_xact, to_xact) change in the cohorts: each user
-- they touch leaves the cohort user_activity_rollup puts them in (if any)
-- and joins the one their widened span of days puts them in.
CREATE FUNCTION jobspy.cohort_changes(from_xact xid8, to_xact xid8)
    RETURNS TABLE (registration_month date, cohort_size bigint, retained_30d bigint)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    WITH spans AS (
        SELECT o.first_day AS old_first, o.last_day AS old_last,
               least(o.first_day, t.first_day) AS new_first, greatest(o.last_day, t.last_day) AS new_last
          FROM (SELECT e.user_id, min(e.day) AS first_day, max(e.day) AS last_day
                  FROM jobspy.events_aggregate(from_xact, to_xact) e GROUP BY 1) t
          LEFT JOIN jobspy.user_activity_rollup o USING (user_id))
    SELECT c.month, sum(c.size)::bigint, sum(c.retained)::bigint
      FROM (SELECT date_trunc('month', old_first)::date, -1, -(old_last >= old_first + 30)::integer
              FROM spans WHERE old_first IS NOT NULL
            UNION ALL
            SELECT date_trunc('month', new_first)::date, 1, (new_last >= new_first + 30)::integer
              FROM spans) c(month, size, retained)
     GROUP BY 1
$$;
COMMENT ON FUNCTION jobspy.cohort_changes(xid8, xid8) IS
    'per registration month, the users and retained users that the events of transactions in [from_xact, to_xact) add or move';

-- Adds api_usage rows with lo <= xact < hi; the caller holds the state lock.
CREATE FUNCTION jobspy.rollup_api_usage(lo xid8, hi xid8) RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n bigint;
BEGIN
    WITH delta AS (SELECT * FROM jobspy.api_usage_aggregate(lo, hi)),
    merged AS (
        INSERT INTO jobspy.api_performance_rollup AS r
        SELECT * FROM delta
        ON CONFLICT (hour, endpoint) DO UPDATE
           SET requests = r.requests + excluded.requests, errors = r.errors + excluded.errors,
               timed_requests = r.timed_requests + excluded.timed_requests,
               total_ms = r.total_ms + excluded.total_ms,
               request_bytes = r.request_bytes + excluded.request_bytes,
               response_bytes = r.response_bytes + excluded.response_bytes,
               latency = jobspy.histogram_union(r.latency, excluded.latency))
    SELECT coalesce(sum(d.requests), 0) INTO n FROM delta d;
    RETURN n;
END
$$;
COMMENT ON FUNCTION jobspy.rollup_api_usage(xid8, xid8) IS
    'adds the api_usage rows written by transactions in [lo, hi) to api_performance_rollup; returns how many';

-- Adds events rows with lo <= xact < hi; the caller holds the state lock.
-- One statement: every CTE reads the rollups as they were before it, so a
-- (day, user) pair missing from daily_user_activity_rollup is a new active
-- user of that day.
CREATE FUNCTION jobspy.rollup_events(lo xid8, hi xid8) RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n bigint;
BEGIN
    -- Cohorts first: their changes are read against user_activity_rollup
    -- as it was before this batch.
    INSERT INTO jobspy.cohort_rollup AS r
    SELECT * FROM jobspy.cohort_changes(lo, hi)
    ON CONFLICT (registration_month) DO UPDATE
       SET cohort_size = r.cohort_size + excluded.cohort_size, retained_30d = r.retained_30d + excluded.retained_30d;

    WITH delta AS MATERIALIZED (SELECT * FROM jobspy.events_aggregate(lo, hi)),
    per_day AS (
        SELECT d.day, d.user_id, sum(d.events)::bigint AS events, min(d.first_at) AS first_at,
               max(d.last_at) AS last_at
          FROM delta d GROUP BY 1, 2),
    dau AS (
        INSERT INTO jobspy.daily_active_users_rollup AS r
        SELECT p.day, count(*)
          FROM per_day p
         WHERE NOT EXISTS (SELECT FROM jobspy.daily_user_activity_rollup a
                            WHERE a.day = p.day AND a.user_id = p.user_id)
         GROUP BY p.day
        ON CONFLICT (day) DO UPDATE SET users = r.users + excluded.users),
    activity AS (
        INSERT INTO jobspy.daily_user_activity_rollup AS r
        SELECT * FROM per_day
        ON CONFLICT (day, user_id) DO UPDATE
           SET events = r.events + excluded.events,
               first_event_at = least(r.first_event_at, excluded.first_event_at),
               last_event_at = greatest(r.last_event_at, excluded.last_event_at)),
    users AS (
        INSERT INTO jobspy.user_activity_rollup AS r
        SELECT p.user_id, min(p.day), max(p.day), sum(p.events)
          FROM per_day p GROUP BY 1
        ON CONFLICT (user_id) DO UPDATE
           SET first_day = least(r.first_day, excluded.first_day),
               last_day = greatest(r.last_day, excluded.last_day),
               events = r.events + excluded.events),
    firsts AS (
        INSERT INTO jobspy.event_firsts_rollup AS r
        SELECT d.event_type, d.user_id, min(d.first_at)
          FROM delta d GROUP BY 1, 2
        ON CONFLICT (event_type, user_id) DO UPDATE SET first_at = least(r.first_at, excluded.first_at)),
    counts AS (
        INSERT INTO jobspy.event_counts_rollup AS r
        SELECT d.day, d.event_type, sum(d.events)
          FROM delta d GROUP BY 1, 2
        ON CONFLICT (day, event_type) DO UPDATE SET events = r.events + excluded.events)
    SELECT coalesce(sum(d.events), 0) INTO n FROM delta d;
    RETURN n;
END
$$;
COMMENT ON FUNCTION jobspy.rollup_events(xid8, xid8) IS
    'adds the events rows written by transactions in [lo, hi) to the event rollups; returns how many';

-- Adds token_usage rows with lo <= xact < hi; the caller holds the state lock.
CREATE FUNCTION jobspy.rollup_token_usage(lo xid8, hi xid8) RETURNS bigint
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
    WITH delta AS MATERIALIZED (SELECT * FROM jobspy.token_usage_aggregate(lo, hi)),
    added AS (
        INSERT INTO jobspy.token_usage_rollup AS r
        SELECT * FROM delta
        ON CONFLICT (month, user_id, provider, model, currency) DO UPDATE
           SET requests = r.requests + excluded.requests, prompt_tokens = r.prompt_tokens + excluded.prompt_tokens,
               completion_tokens = r.completion_tokens + excluded.completion_tokens,
               total_tokens = r.total_tokens + excluded.total_tokens, cost = r.cost + excluded.cost)
    SELECT coalesce(sum(d.requests), 0)::bigint FROM delta d
$$;
COMMENT ON FUNCTION jobspy.rollup_token_usage(xid8, xid8) IS
    'internal: adds the token_usage rows of transactions in [lo, hi) to token_usage_rollup; returns how many';

CREATE FUNCTION jobspy.refresh_rollups() RETURNS TABLE (source text, rows_added bigint, horizon xid8)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    src  text;
    lo   xid8;
    hi   xid8;
BEGIN
    FOREACH src IN ARRAY ARRAY['api_usage', 'events', 'token_usage'] LOOP
        INSERT INTO jobspy.rollup_state AS s (source) VALUES (src) ON CONFLICT ON CONSTRAINT rollup_state_pkey DO NOTHING;
        -- A concurrent refresh of the same source waits here, then reads
        -- the horizon that one stored.
        SELECT s.horizon INTO lo FROM jobspy.rollup_state s WHERE s.source = src FOR UPDATE;
        -- Taken after the lock: every transaction below it has ended.
        hi := pg_snapshot_xmin(pg_current_snapshot());
        IF hi < lo THEN
            RAISE EXCEPTION 'the rollup horizon of % is ahead of this cluster''s transactions', src
                USING ERRCODE = 'JS802',
                      DETAIL = format('Stored horizon %s, oldest running transaction %s.', lo, hi),
                      HINT = 'The rollups were restored into another cluster; run jobspy.rebuild_rollups().';
        END IF;
        source := src;
        horizon := hi;
        rows_added := CASE src WHEN 'api_usage' THEN jobspy.rollup_api_usage(lo, hi)
                               WHEN 'events' THEN jobspy.rollup_events(lo, hi)
                               ELSE jobspy.rollup_token_usage(lo, hi) END;
        UPDATE jobspy.rollup_state s
           SET horizon = hi, refreshed_at = jobspy.now(), rows_rolled_up = s.rows_rolled_up + rows_added
         WHERE s.source = src;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION jobspy.refresh_rollups() IS
    'adds every committed raw row not yet rolled up to the rollups, each exactly once (safe under concurrent runs); returns rows added per source';

-- After a restore into another cluster the stored transaction ids mean
-- nothing: start the rollups again from the raw rows still kept.
CREATE FUNCTION jobspy.rebuild_rollups() RETURNS TABLE (source text, rows_added bigint, horizon xid8)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM FROM jobspy.rollup_state FOR UPDATE;
    TRUNCATE jobspy.api_performance_rollup, jobspy.daily_user_activity_rollup,
             jobspy.daily_active_users_rollup, jobspy.user_activity_rollup, jobspy.cohort_rollup,
             jobspy.event_firsts_rollup, jobspy.event_counts_rollup, jobspy.token_usage_rollup;
    UPDATE jobspy.api_usage SET xact = pg_current_xact_id() WHERE xact <> pg_current_xact_id();
    UPDATE jobspy.events SET xact = pg_current_xact_id() WHERE xact <> pg_current_xact_id();
    UPDATE jobspy.token_usage SET xact = pg_current_xact_id() WHERE xact <> pg_current_xact_id();
    UPDATE jobspy.rollup_state SET horizon = '0', rows_rolled_up = 0;
    RETURN QUERY SELECT * FROM jobspy.refresh_rollups();
END
$$;
COMMENT ON FUNCTION jobspy.rebuild_rollups() IS
    'empties the rollups and rolls up again every raw row kept (after a restore into another cluster); history past raw retention is lost';

CREATE FUNCTION jobspy.maintain_analytics() RETURNS TABLE (action text, object text)
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT 'rolled up', format('%s rows of %s', r.rows_added, r.source)
      FROM jobspy.refresh_rollups() r
     WHERE r.rows_added > 0
$$;
COMMENT ON FUNCTION jobspy.maintain_analytics() IS 'maintain()''s analytics step: refresh_rollups()';

-- ---- Reports: each view is its rollup plus the rows not yet rolled up
-- (at or above the stored horizon), so it is current to the last commit.

CREATE VIEW jobspy.api_performance_hourly AS
SELECT m.hour, m.endpoint, m.requests, m.errors,
       m.errors::numeric / m.requests AS error_rate,
       m.total_ms / nullif(m.timed_requests, 0) AS avg_response_ms,
       jobspy.histogram_quantile(m.latency, 0.50) AS p50_ms,
       jobspy.histogram_quantile(m.latency, 0.95) AS p95_ms,
       jobspy.histogram_quantile(m.latency, 0.99) AS p99_ms,
       m.request_bytes, m.response_bytes
  FROM (SELECT x.hour, x.endpoint, sum(x.requests)::bigint AS requests, sum(x.errors)::bigint AS errors,
               sum(x.timed_requests) AS timed_requests, sum(x.total_ms) AS total_ms,
               sum(x.request_bytes)::bigint AS request_bytes, sum(x.response_bytes)::bigint AS response_bytes,
               jobspy.latency_histogram_merge(x.latency) AS latency
          FROM (SELECT r.hour, r.endpoint, r.requests, r.errors, r.timed_requests, r.total_ms,
                       r.request_bytes, r.response_bytes, r.latency
                  FROM jobspy.api_performance_rollup r
                UNION ALL
                SELECT * FROM jobspy.api_usage_aggregate(jobspy.rollup_horizon('api_usage'), NULL)) x
         GROUP BY x.hour, x.endpoint) m;
COMMENT ON VIEW jobspy.api_performance_hourly IS
    'API calls per UTC hour and endpoint: requests, errors (status >= 400), error rate, average and p50/p95/p99 latency (within 0.9%), bytes in and out';

CREATE VIEW jobspy.daily_user_activity AS
SELECT x.day, x.user_id, sum(x.events)::bigint AS events,
       min(x.first_event_at) AS first_event_at, max(x.last_event_at) AS last_event_at
  FROM (SELECT r.day, r.user_id, r.events, r.first_event_at, r.last_event_at
          FROM jobspy.daily_user_activity_rollup r
        UNION ALL
        SELECT t.day, t.user_id, t.events, t.first_at, t.last_at
          FROM jobspy.events_aggregate(jobspy.rollup_horizon('events'), NULL) t) x
 GROUP BY x.day, x.user_id;
COMMENT ON VIEW jobspy.daily_user_activity IS 'per UTC day and user with events: how many, the first and the last';

CREATE VIEW jobspy.daily_active_users AS
SELECT x.day, sum(x.users)::bigint AS users
  FROM (SELECT r.day, r.users FROM jobspy.daily_active_users_rollup r
        UNION ALL
        SELECT t.day, count(DISTINCT t.user_id)
          FROM jobspy.events_aggregate(jobspy.rollup_horizon('events'), NULL) t
         WHERE NOT EXISTS (SELECT FROM jobspy.daily_user_activity_rollup a
                            WHERE a.day = t.day AND a.user_id = t.user_id)
         GROUP BY t.day) x
 GROUP BY x.day;
COMMENT ON VIEW jobspy.daily_active_users IS 'distinct users with an event per UTC day (DAU)';

CREATE VIEW jobspy.user_activity AS
SELECT x.user_id, min(x.first_day) AS first_day, max(x.last_day) AS last_day, sum(x.events)::bigint AS events
  FROM (SELECT r.user_id, r.first_day, r.last_day, r.events FROM jobspy.user_activity_rollup r
        UNION ALL
        SELECT t.user_id, t.day, t.day, t.events
          FROM jobspy.events_aggregate(jobspy.rollup_horizon('events'), NULL) t) x
 GROUP BY x.user_id;
COMMENT ON VIEW jobspy.user_activity IS 'per user with events: first and last UTC day with one, and how many (seed 000''s user_cohorts)';

CREATE VIEW jobspy.cohort_retention AS
SELECT x.registration_month, sum(x.cohort_size)::bigint AS cohort_size, sum(x.retained_30d)::bigint AS retained_30d,
       sum(x.retained_30d) / sum(x.cohort_size) AS retention_rate_30d
  FROM (SELECT r.registration_month, r.cohort_size, r.retained_30d FROM jobspy.cohort_rollup r
        UNION ALL
        SELECT c.registration_month, c.cohort_size, c.retained_30d
          FROM jobspy.cohort_changes(jobspy.rollup_horizon('events'), NULL) c) x
 GROUP BY x.registration_month
HAVING sum(x.cohort_size) > 0;
COMMENT ON VIEW jobspy.cohort_retention IS
    'users by month of their first event: how many, and how many were still active 30 or more days after that first day';

CREATE VIEW jobspy.event_firsts AS
SELECT x.event_type, x.user_id, min(x.first_at) AS first_at
  FROM (SELECT r.event_type, r.user_id, r.first_at FROM jobspy.event_firsts_rollup r
        UNION ALL
        SELECT t.event_type, t.user_id, t.first_at
          FROM jobspy.events_aggregate(jobspy.rollup_horizon('events'), NULL) t) x
 GROUP BY x.event_type, x.user_id;
COMMENT ON VIEW jobspy.event_firsts IS 'per event type and user: when the user first did it';

CREATE VIEW jobspy.event_counts_daily AS
SELECT x.day, x.event_type, sum(x.events)::bigint AS events
  FROM (SELECT r.day, r.event_type, r.events FROM jobspy.event_counts_rollup r
        UNION ALL
        SELECT t.day, t.event_type, t.events
          FROM jobspy.events_aggregate(jobspy.rollup_horizon('events'), NULL) t) x
 GROUP BY x.day, x.event_type;
COMMENT ON VIEW jobspy.event_counts_daily IS 'events per UTC day and type';

CREATE VIEW jobspy.signups_daily AS
SELECT (u.created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS signups
  FROM jobspy.users u
 GROUP BY 1;
COMMENT ON VIEW jobspy.signups_daily IS 'users created per UTC day (seed 004''s signups)';

-- Seed 004's token usage by user and by model, per UTC month, from the
-- metered usage rows (quotas_metering.sql): the rollup and the tail.
CREATE VIEW jobspy.token_usage_monthly AS
SELECT x.month, x.user_id, x.provider, x.model, x.currency, sum(x.requests)::bigint AS requests,
       sum(x.prompt_tokens)::bigint AS prompt_tokens, sum(x.completion_tokens)::bigint AS completion_tokens,
       sum(x.total_tokens)::bigint AS total_tokens, sum(x.cost) AS cost
  FROM (SELECT r.month, r.user_id, r.provider, r.model, r.currency, r.requests, r.prompt_tokens,
               r.completion_tokens, r.total_tokens, r.cost
          FROM jobspy.token_usage_rollup r
        UNION ALL
        SELECT t.month, t.user_id, t.provider, t.model, t.currency, t.requests, t.prompt_tokens,
               t.completion_tokens, t.total_tokens, t.cost
          FROM jobspy.token_usage_aggregate(jobspy.rollup_horizon('token_usage'), NULL) t) x
 GROUP BY x.month, x.user_id, x.provider, x.model, x.currency;
COMMENT ON VIEW jobspy.token_usage_monthly IS
    'completions per UTC month, user, provider, model and currency: requests, tokens and exact cost in minor units';

CREATE FUNCTION jobspy.conversion_funnel(steps text[], since timestamptz DEFAULT NULL,
                                         until timestamptz DEFAULT NULL)
    RETURNS TABLE (step integer, event_type text, users bigint, conversion_rate numeric)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    firsts text;    -- a user's first time at each step, a column each: s1, s2, ...
    reached text;   -- the users who reached each step in order, a count each
    counts bigint[];
BEGIN
    IF steps IS NULL OR cardinality(steps) NOT BETWEEN 1 AND 20 OR array_position(steps, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'a funnel needs 1 to 20 event types, none NULL'
            USING ERRCODE = '22023', HINT = 'For example ARRAY[''registration'', ''first_search'', ''upgrade_to_pro''].';
    END IF;
    -- One pass over the first occurrences (rollup and tail), pivoted per
    -- user: step k is reached when step 1 falls in [since, until) and each
    -- later step is no earlier than the one before and before until.  Only
    -- step numbers are written into the statement; the names are parameters.
    SELECT string_agg(format('min(f.first_at) FILTER (WHERE f.event_type = $1[%s]) AS s%s', k, k), ', ' ORDER BY k),
           string_agg(format('count(*) FILTER (WHERE s1 >= $2 AND s1 < $3%s)',
                             (SELECT coalesce(string_agg(format(' AND s%s >= s%s AND s%s < $3', j, j - 1, j), '' ORDER BY j), '')
                                FROM generate_series(2, k) j)), ', ' ORDER BY k)
      INTO firsts, reached
      FROM generate_series(1, cardinality(steps)) k;
    EXECUTE format(
        'SELECT ARRAY[%s]
           FROM (SELECT %s
                   FROM (SELECT r.event_type, r.user_id, r.first_at FROM jobspy.event_firsts_rollup r
                          WHERE r.event_type = ANY ($1)
                         UNION ALL
                         SELECT t.event_type, t.user_id, t.first_at
                           FROM jobspy.events_aggregate(jobspy.rollup_horizon(''events''), NULL) t
                          WHERE t.event_type = ANY ($1)) f
                  GROUP BY f.user_id) u', reached, firsts)
      INTO counts
      USING steps, coalesce(since, '-infinity'), coalesce(until, 'infinity');
    RETURN QUERY
    SELECT s.ord::integer, s.name, counts[s.ord], round(counts[s.ord]::numeric / nullif(counts[1], 0), 4)
      FROM unnest(steps) WITH ORDINALITY s(name, ord)
     ORDER BY s.ord;
END
$$;
COMMENT ON FUNCTION jobspy.conversion_funnel(text[], timestamptz, timestamptz) IS
    'users who did each step for the first time in order, the first step in [since, until); conversion_rate is against the first step';

-- ---- Privileges: the application writes through the ingest functions, the
-- analyst reads the reports, the admin refreshes.
REVOKE ALL ON FUNCTION
    jobspy.record_api_call(uuid, text, text, integer, integer, integer, integer, uuid, text, inet, text, text, jsonb, timestamptz),
    jobspy.record_api_calls(jsonb), jobspy.track_event(uuid, text, jsonb, timestamptz), jobspy.track_events(jsonb),
    jobspy.check_batch(jsonb), jobspy.outbox_to_events(), jobspy.refresh_rollups(), jobspy.rebuild_rollups(), jobspy.maintain_analytics(),
    jobspy.rollup_api_usage(xid8, xid8), jobspy.rollup_events(xid8, xid8), jobspy.rollup_token_usage(xid8, xid8),
    jobspy.api_usage_aggregate(xid8, xid8), jobspy.events_aggregate(xid8, xid8),
    jobspy.token_usage_aggregate(xid8, xid8), jobspy.rollup_horizon(text),
    jobspy.cohort_changes(xid8, xid8), jobspy.xact_range(text, xid8, xid8),
    jobspy.conversion_funnel(text[], timestamptz, timestamptz),
    jobspy.histogram_union(bytea, bytea), jobspy.histogram_quantile(bytea, double precision),
    jobspy.histogram_count(bytea), jobspy.latency_histogram(integer), jobspy.latency_histogram_merge(bytea),
    jobspy.histogram_add(internal, integer), jobspy.histogram_merge_add(internal, bytea),
    jobspy.histogram_combine(internal, internal), jobspy.histogram_final(internal),
    jobspy.histogram_deserialize(bytea, internal)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    jobspy.record_api_call(uuid, text, text, integer, integer, integer, integer, uuid, text, inet, text, text, jsonb, timestamptz),
    jobspy.record_api_calls(jsonb), jobspy.track_event(uuid, text, jsonb, timestamptz), jobspy.track_events(jsonb)
  TO jobspy_app, jobspy_admin;
GRANT EXECUTE ON FUNCTION jobspy.refresh_rollups(), jobspy.rebuild_rollups() TO jobspy_admin;
-- Functions a report view calls are checked against the reader.
GRANT EXECUTE ON FUNCTION
    jobspy.conversion_funnel(text[], timestamptz, timestamptz),
    jobspy.api_usage_aggregate(xid8, xid8), jobspy.events_aggregate(xid8, xid8),
    jobspy.token_usage_aggregate(xid8, xid8), jobspy.rollup_horizon(text), jobspy.cohort_changes(xid8, xid8),
    jobspy.histogram_union(bytea, bytea), jobspy.histogram_quantile(bytea, double precision),
    jobspy.histogram_count(bytea), jobspy.latency_histogram(integer), jobspy.latency_histogram_merge(bytea)
  TO jobspy_analyst, jobspy_admin;
GRANT SELECT ON jobspy.api_performance_hourly, jobspy.daily_user_activity, jobspy.daily_active_users,
    jobspy.user_activity, jobspy.cohort_retention, jobspy.event_firsts, jobspy.event_counts_daily,
    jobspy.signups_daily, jobspy.token_usage_monthly
  TO jobspy_analyst, jobspy_admin;
REVOKE ALL ON jobspy.events_default FROM PUBLIC;
GRANT SELECT ON jobspy.events, jobspy.rollup_state, jobspy.api_performance_rollup,
    jobspy.daily_user_activity_rollup, jobspy.daily_active_users_rollup, jobspy.user_activity_rollup,
    jobspy.cohort_rollup, jobspy.event_firsts_rollup, jobspy.event_counts_rollup, jobspy.token_usage_rollup
  TO jobspy_admin;
