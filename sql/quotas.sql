\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- quotas: feature flags, plans and their quotas, consumption with idempotency
-- keys, reservations, the usage ledger and entitlements.

-- Configuration keys of quotas (the registry: core.sql).
INSERT INTO jobspy.config_defaults (key, value, description, value_type, nullable, min_value, max_value, choices) VALUES
    ('quotas.default_plan',      'null',        'code of the plan in force for users with no other plan; null means none', 'text', true, NULL, NULL, NULL),
    ('retention.quota_counters', '"13 months"', 'how long a finished period''s quota counter is kept; null keeps them forever', 'interval', true, NULL, NULL, NULL),
    ('retention.usage_records',  'null',        'how long usage_records rows are kept (idempotency keys live as long); null keeps them forever', 'interval', true, NULL, NULL, NULL);

CREATE TABLE jobspy.feature_flags (
    id                 uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    name               text NOT NULL UNIQUE CHECK (name ~ '^[a-z][a-z0-9_.-]{0,99}$'),
    description        text CHECK (length(description) <= 1000),
    enabled            boolean NOT NULL DEFAULT false,
    rollout_percentage integer NOT NULL DEFAULT 0 CHECK (rollout_percentage BETWEEN 0 AND 100),
    user_criteria      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(user_criteria) = 'object'),
    license_types      text[] NOT NULL DEFAULT '{}' CHECK (array_position(license_types, NULL) IS NULL),
    created_by         uuid REFERENCES jobspy.users (id) ON DELETE SET NULL,
    created_at         timestamptz NOT NULL DEFAULT jobspy.now(),
    updated_at         timestamptz NOT NULL DEFAULT jobspy.now()
);
COMMENT ON TABLE jobspy.feature_flags IS
    'feature flags: on/off, a deterministic rollout percentage, licence types and user criteria (jsonb containment)';
CREATE TRIGGER feature_flags_updated_at BEFORE UPDATE ON jobspy.feature_flags
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
CREATE TRIGGER feature_flags_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.feature_flags
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
SELECT pg_catalog.pg_extension_config_dump('jobspy.feature_flags', '');

-- ==== 0.2.0: plans, quotas, usage, reservations, entitlements ==========

CREATE TABLE jobspy.plans (
    id            uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    code          text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$'),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    description   text CHECK (length(description) <= 1000),
    price_monthly bigint NOT NULL DEFAULT 0 CHECK (price_monthly >= 0),
    price_yearly  bigint CHECK (price_yearly >= 0),
    currency      text NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
    features      jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(features) IN ('array', 'object')),
    is_active     boolean NOT NULL DEFAULT true,
    is_public     boolean NOT NULL DEFAULT true,
    sort_order    integer NOT NULL DEFAULT 100,
    created_at    timestamptz NOT NULL DEFAULT jobspy.now(),
    updated_at    timestamptz NOT NULL DEFAULT jobspy.now()
);
COMMENT ON TABLE jobspy.plans IS
    'plans: prices in minor units, features (array of names or object of name -> boolean), quotas in plan_quotas';
CREATE TRIGGER plans_updated_at BEFORE UPDATE ON jobspy.plans
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
CREATE TRIGGER plans_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.plans
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
SELECT pg_catalog.pg_extension_config_dump('jobspy.plans', '');

-- A quota's period kind, and the amounts a counter holds.  Domains rather
-- than CHECK constraints of the tables: PostgreSQL reads and plans a
-- table's CHECK constraints afresh for every UPDATE statement, which was
-- most of the cost of consume_quota's counter update, while a domain's
-- check is planned once per backend and runs only when a value is assigned.
CREATE DOMAIN jobspy.quota_period AS text
    CHECK (VALUE IN ('day', 'week', 'month', 'year', 'lifetime'));
COMMENT ON DOMAIN jobspy.quota_period IS 'a quota''s period: day, week, month, year or lifetime';
CREATE DOMAIN jobspy.quota_amount AS bigint CHECK (VALUE >= 0);
COMMENT ON DOMAIN jobspy.quota_amount IS 'an amount used or reserved: never negative';

CREATE TABLE jobspy.plan_quotas (
    plan_id     uuid NOT NULL REFERENCES jobspy.plans (id) ON DELETE CASCADE,
    metric      text NOT NULL CHECK (metric ~ '^[a-z][a-z0-9_.:-]{0,99}$'),
    period      jobspy.quota_period NOT NULL,
    quota_limit bigint NOT NULL CHECK (quota_limit >= -1),
    created_at  timestamptz NOT NULL DEFAULT jobspy.now(),
    updated_at  timestamptz NOT NULL DEFAULT jobspy.now(),
    PRIMARY KEY (plan_id, metric, period)
);
COMMENT ON TABLE jobspy.plan_quotas IS
    'a plan''s limits on a metric, one per period (day, week, month, year, lifetime), all checked together; -1 is unlimited (still counted)';
CREATE INDEX plan_quotas_metric_idx ON jobspy.plan_quotas (metric);
CREATE TRIGGER plan_quotas_updated_at BEFORE UPDATE ON jobspy.plan_quotas
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
CREATE TRIGGER plan_quotas_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.plan_quotas
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
SELECT pg_catalog.pg_extension_config_dump('jobspy.plan_quotas', '');

CREATE TABLE jobspy.user_plans (
    user_id    uuid PRIMARY KEY REFERENCES jobspy.users (id) ON DELETE CASCADE,
    plan_id    uuid NOT NULL REFERENCES jobspy.plans (id),
    created_at timestamptz NOT NULL DEFAULT jobspy.now(),
    updated_at timestamptz NOT NULL DEFAULT jobspy.now()
);
COMMENT ON TABLE jobspy.user_plans IS
    'the plan set for a user with set_user_plan; a live subscription''s plan takes precedence';
CREATE INDEX user_plans_plan_idx ON jobspy.user_plans (plan_id);
CREATE TRIGGER user_plans_updated_at BEFORE UPDATE ON jobspy.user_plans
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
CREATE TRIGGER user_plans_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.user_plans
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
SELECT pg_catalog.pg_extension_config_dump('jobspy.user_plans', '');

-- consume_quota's per-backend quota windows (src/quotas.c) follow the
-- licence cache's per-user generations (sql/licensing.sql): a committed
-- change of a user's subscription or plan ends that user's windows in every
-- backend; a change of any plan or quota ends everyone's.
CREATE TRIGGER subscriptions_quota_cache AFTER INSERT OR DELETE
    OR UPDATE OF user_id, plan_type, status, current_period_start, billing_cycle_anchor ON jobspy.subscriptions
    FOR EACH ROW EXECUTE FUNCTION jobspy.license_cache_touch('user_id');
CREATE TRIGGER subscriptions_quota_cache_truncate AFTER TRUNCATE ON jobspy.subscriptions
    FOR EACH STATEMENT EXECUTE FUNCTION jobspy.license_cache_touch();
CREATE TRIGGER user_plans_quota_cache AFTER INSERT OR DELETE OR UPDATE ON jobspy.user_plans
    FOR EACH ROW EXECUTE FUNCTION jobspy.license_cache_touch('user_id');
CREATE TRIGGER user_plans_quota_cache_truncate AFTER TRUNCATE ON jobspy.user_plans
    FOR EACH STATEMENT EXECUTE FUNCTION jobspy.license_cache_touch();
CREATE TRIGGER plans_quota_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON jobspy.plans
    FOR EACH STATEMENT EXECUTE FUNCTION jobspy.license_cache_touch();
CREATE TRIGGER plan_quotas_quota_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON jobspy.plan_quotas
    FOR EACH STATEMENT EXECUTE FUNCTION jobspy.license_cache_touch();

-- One row per (user, metric, period kind, period start): the running total
-- that consume_quota checks and bumps under its row lock.  Lifetime
-- counters start at -infinity.  Updates touch no indexed column, so they
-- stay HOT; the fill factor leaves room for that.
CREATE TABLE jobspy.quota_counters (
    user_id      uuid NOT NULL REFERENCES jobspy.users (id) ON DELETE CASCADE,
    metric       text NOT NULL,
    period       jobspy.quota_period NOT NULL,
    period_start timestamptz NOT NULL,
    period_end   timestamptz NOT NULL,
    used         jobspy.quota_amount NOT NULL DEFAULT 0,
    reserved     jobspy.quota_amount NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, metric, period, period_start)
) WITH (fillfactor = 70);
COMMENT ON TABLE jobspy.quota_counters IS
    'per user, metric and period: the amount used and the amount held by reservations';

-- A period ends after it starts.  A constraint trigger on those columns
-- rather than a CHECK constraint, for the reason the domains above give:
-- consumption updates used only, and a trigger on other columns costs it
-- nothing.
CREATE FUNCTION jobspy.quota_counters_period_check() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NOT (NEW.period_end > NEW.period_start) THEN
        RAISE EXCEPTION 'new row for relation "quota_counters" violates its period check'
            USING ERRCODE = '23514', DETAIL = 'period_end must be after period_start.',
                  SCHEMA = 'jobspy', TABLE = 'quota_counters';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION jobspy.quota_counters_period_check() IS
    'constraint trigger on quota_counters: period_end after period_start (23514)';
CREATE CONSTRAINT TRIGGER quota_counters_period_check
    AFTER INSERT OR UPDATE OF period_start, period_end ON jobspy.quota_counters
    FOR EACH ROW EXECUTE FUNCTION jobspy.quota_counters_period_check();
SELECT pg_catalog.pg_extension_config_dump('jobspy.quota_counters', '');

-- The usage ledger: one row per granted consumption or settled
-- reservation.  No foreign key to users: a key check would lock the user
-- row on every consumption, and billing history outlives accounts until
-- retention removes it.
CREATE TABLE jobspy.usage_records (
    user_id         uuid NOT NULL,
    id              uuid NOT NULL DEFAULT jobspy.uuid_v7(),
    metric          text NOT NULL CHECK (length(metric) BETWEEN 1 AND 100),
    amount          bigint NOT NULL CHECK (amount >= 0),
    cost            numeric(20, 6) CHECK (cost >= 0),
    currency        text CHECK (currency ~ '^[A-Z]{3}$'),
    idempotency_key text CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    reservation_id  uuid,
    metadata        jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    created_at      timestamptz NOT NULL DEFAULT jobspy.now()
) PARTITION BY RANGE (created_at);
COMMENT ON TABLE jobspy.usage_records IS
    'usage ledger: each granted consumption (amount, cost in minor units in the currency of the user''s plan, metadata), partitioned by month';
CREATE TABLE jobspy.usage_records_default PARTITION OF jobspy.usage_records
    (PRIMARY KEY (user_id, created_at, id)) DEFAULT;
SELECT pg_catalog.pg_extension_config_dump('jobspy.usage_records_default', '');

-- Idempotency keys of granted calls, kept for as long as the user exists
-- (the ledger is partitioned and expires; this table does not), with the
-- answer given.
CREATE TABLE jobspy.quota_idempotency (
    user_id         uuid NOT NULL REFERENCES jobspy.users (id) ON DELETE CASCADE,
    idempotency_key text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    operation       text NOT NULL CHECK (operation IN ('consume', 'reserve')),
    metric          text NOT NULL,
    amount          bigint NOT NULL,
    reservation_id  uuid,
    allowed         boolean NOT NULL,
    used            bigint,
    quota_limit     bigint,
    remaining       bigint,
    period_start    timestamptz,
    resets_at       timestamptz,
    created_at      timestamptz NOT NULL DEFAULT jobspy.now(),
    PRIMARY KEY (user_id, idempotency_key)
);
COMMENT ON TABLE jobspy.quota_idempotency IS
    'idempotency keys of granted consume_quota and reserve_quota calls with the answer given; unique per user for good';
SELECT pg_catalog.pg_extension_config_dump('jobspy.quota_idempotency', '');

CREATE TABLE jobspy.quota_reservations (
    user_id         uuid NOT NULL REFERENCES jobspy.users (id) ON DELETE CASCADE,
    id              uuid NOT NULL DEFAULT jobspy.uuid_v7(),
    metric          text NOT NULL,
    period          text NOT NULL,
    period_start    timestamptz NOT NULL,
    quota_limit     bigint NOT NULL,
    amount          bigint NOT NULL CHECK (amount > 0),
    actual_amount   bigint CHECK (actual_amount >= 0),
    status          text NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'settled', 'cancelled', 'expired')),
    idempotency_key text,
    expires_at      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT jobspy.now(),
    updated_at      timestamptz NOT NULL DEFAULT jobspy.now(),
    PRIMARY KEY (user_id, id, period),
    FOREIGN KEY (user_id, metric, period, period_start)
        REFERENCES jobspy.quota_counters (user_id, metric, period, period_start) ON DELETE CASCADE,
    CHECK ((status = 'settled') = (actual_amount IS NOT NULL))
);
COMMENT ON TABLE jobspy.quota_reservations IS
    'amounts held against a quota until settled with the actual amount, cancelled, or released at expiry; a row per window of the metric, one id';
CREATE UNIQUE INDEX quota_reservations_id_idx ON jobspy.quota_reservations (id, period);
CREATE INDEX quota_reservations_expires_idx ON jobspy.quota_reservations (expires_at) WHERE status = 'held';
CREATE TRIGGER quota_reservations_updated_at BEFORE UPDATE ON jobspy.quota_reservations
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
SELECT pg_catalog.pg_extension_config_dump('jobspy.quota_reservations', '');

-- ---- plan in force and period arithmetic ------------------------------

CREATE FUNCTION jobspy.quota_default_plan_id() RETURNS uuid
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v jsonb := jobspy.config_get('quotas.default_plan');
BEGIN
    IF v IS NULL OR jsonb_typeof(v) <> 'string' THEN
        RETURN NULL;
    END IF;
    RETURN (SELECT p.id FROM jobspy.plans p WHERE p.code = v #>> '{}');
END
$$;
COMMENT ON FUNCTION jobspy.quota_default_plan_id() IS
    'the plan named by configuration quotas.default_plan, or NULL';

-- The plan in force for a user at a time: the live subscription's plan
-- (by code = subscriptions.plan_type; a live subscription decides alone,
-- so a plan_type no plan has leaves no plan), else the one set with
-- set_user_plan, else the plan named by the type of the user's licence
-- (jobspy.user_license: highest tier, then latest issued), else the
-- configured default.  anchor is the live subscription's billing anchor (else its
-- current period start), whichever plan is in force: a subscriber's months follow the
-- billing period.  Decided in C (src/quotas.c, plan_in_force), the one
-- place the precedence is written; consume_quota's lookup uses the same.
CREATE FUNCTION jobspy.quota_plan_of(user_id uuid, at timestamptz)
    RETURNS TABLE (user_status text, timezone text, plan_id uuid, source text, anchor timestamptz)
    LANGUAGE c STABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_quota_plan_of';
COMMENT ON FUNCTION jobspy.quota_plan_of(uuid, timestamptz) IS
    'internal: a user''s status, time zone, plan in force, where it comes from, and the billing anchor';

-- Periods of a whole number of months counted from a billing anchor, in
-- UTC: the one holding "at".  Counting from the anchor each time keeps
-- month ends right (an anchor on the 31st gives Feb 28, then Mar 31).
CREATE FUNCTION jobspy.quota_anchored_period(anchor timestamptz, at timestamptz, months integer,
                                             OUT period_start timestamptz, OUT period_end timestamptz)
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    a timestamp := anchor AT TIME ZONE 'UTC';
    t timestamp := at AT TIME ZONE 'UTC';
    k integer;
BEGIN
    k := ((extract(year FROM t) - extract(year FROM a)) * 12 + extract(month FROM t) - extract(month FROM a))::integer;
    k := floor(k::numeric / months)::integer * months;
    IF a + make_interval(months => k) > t THEN
        k := k - months;
    END IF;
    period_start := (a + make_interval(months => k)) AT TIME ZONE 'UTC';
    period_end := (a + make_interval(months => k + months)) AT TIME ZONE 'UTC';
END
$$;
COMMENT ON FUNCTION jobspy.quota_anchored_period(timestamptz, timestamptz, integer) IS
    'internal: the period of so many months, counted from a billing anchor, that holds a time';

-- The quota that applies to a user and metric at a time, and its window,
-- read through the tables' keys in C; it follows the rule of
-- quota_plan_of() above.  All NULL for an unknown user; period is NULL when
-- the plan in force does not define the metric.
CREATE FUNCTION jobspy.quota_lookup(user_id uuid, metric text, at timestamptz,
                                    OUT user_status text, OUT plan_id uuid, OUT period text,
                                    OUT quota_limit bigint, OUT period_start timestamptz,
                                    OUT period_end timestamptz)
    LANGUAGE c STABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_quota_lookup';
COMMENT ON FUNCTION jobspy.quota_lookup(uuid, text, timestamptz) IS
    'internal: the first plan quota that applies to a user''s metric at a time and the period holding it';

-- Every window of the metric (a plan may limit it per day and per month
-- together), in the order they are locked and taken: by period name.  One
-- row with a NULL period when the plan does not define the metric; one row
-- of NULLs for an unknown user.
CREATE FUNCTION jobspy.quota_lookup_all(user_id uuid, metric text, at timestamptz)
    RETURNS TABLE (user_status text, plan_id uuid, period text, quota_limit bigint,
                   period_start timestamptz, period_end timestamptz)
    LANGUAGE c STABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_quota_lookup_all';
COMMENT ON FUNCTION jobspy.quota_lookup_all(uuid, text, timestamptz) IS
    'internal: every plan quota (window) that applies to a user''s metric at a time, by period name';

-- ---- consumption ------------------------------------------------------

-- Checks the arguments every quota call shares; raises 22023.
CREATE FUNCTION jobspy.quota_check_args(user_id uuid, metric text, amount bigint, idempotency_key text)
    RETURNS void
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF user_id IS NULL OR metric IS NULL OR amount IS NULL THEN
        RAISE EXCEPTION 'user_id, metric and amount must not be NULL'
            USING ERRCODE = '22023';
    END IF;
    IF amount <= 0 THEN
        RAISE EXCEPTION 'amount must be positive'
            USING ERRCODE = '22023', DETAIL = format('The amount given was %s.', amount);
    END IF;
    IF idempotency_key IS NOT NULL AND length(idempotency_key) NOT BETWEEN 1 AND 255 THEN
        RAISE EXCEPTION 'idempotency key must be 1 to 255 characters'
            USING ERRCODE = '22023';
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.quota_check_args(uuid, text, bigint, text) IS
    'internal: raises 22023 for NULL arguments, an amount <= 0 or a malformed idempotency key';

-- Raises when a user may not use quotas or gauges: 22023 (unknown user:
-- NULL status), JS403 (not active), JS401 (no plan in force).  status and
-- plan_id as jobspy.quota_plan_of() gives them.
CREATE FUNCTION jobspy.quota_require_plan(user_id uuid, user_status text, plan_id uuid) RETURNS void
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF $2 IS NULL THEN
        RAISE EXCEPTION 'unknown user %', $1 USING ERRCODE = '22023';
    END IF;
    IF $2 <> 'active' THEN
        RAISE EXCEPTION 'user % is %', $1, $2
            USING ERRCODE = 'JS403', DETAIL = 'Only active users consume quota.';
    END IF;
    IF $3 IS NULL THEN
        -- The sub-query only here: "$3 IS NULL AND EXISTS (...)" was planned
        -- again on every call (docs/development.md, "Plans that PL/pgSQL keeps").
        IF EXISTS (SELECT FROM jobspy.subscriptions s
                    WHERE s.user_id = $1 AND s.status IN ('active', 'trialing', 'past_due')
                      AND s.plan_type IS NOT NULL) THEN
            RAISE EXCEPTION 'the plan of user %''s subscription does not exist', $1
                USING ERRCODE = 'JS401',
                      DETAIL = format('The live subscription names plan "%s", and no plan has that code.',
                                      (SELECT s.plan_type FROM jobspy.subscriptions s
                                        WHERE s.user_id = $1 AND s.status IN ('active', 'trialing', 'past_due')
                                          AND s.plan_type IS NOT NULL LIMIT 1)),
                      HINT = 'Create the plan with jobspy.create_plan(), or correct the subscription.';
        END IF;
        RAISE EXCEPTION 'user % has no plan in force', $1
            USING ERRCODE = 'JS401',
                  DETAIL = 'The user has no live subscription with a known plan, no plan set, no licence named like a plan, and no default plan is configured.',
                  HINT = 'Call jobspy.set_user_plan(), or configure one with jobspy.config_set(''quotas.default_plan'', ''"code"'').';
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.quota_require_plan(uuid, text, uuid) IS
    'internal: raises 22023 (unknown user), JS403 (inactive user) or JS401 (no plan in force)';

-- Resolves the windows of a call, one row each in the order they are
-- taken, and raises when there is no plan to use.  Returns one row with a
-- NULL period when the plan does not define the metric.
CREATE FUNCTION jobspy.quota_resolve(user_id uuid, metric text, at timestamptz)
    RETURNS TABLE (plan_id uuid, period text, quota_limit bigint, period_start timestamptz, period_end timestamptz)
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
#variable_conflict use_column
DECLARE
    w record;
BEGIN
    FOR w IN SELECT * FROM jobspy.quota_lookup_all($1, $2, $3) LOOP
        -- Every row has the same user and plan: the first one decides.
        PERFORM jobspy.quota_require_plan($1, w.user_status, w.plan_id);
        -- Not "AND NOT EXISTS": docs/development.md, "Plans that PL/pgSQL keeps".
        IF w.period IS NULL THEN
            IF NOT EXISTS (SELECT FROM jobspy.plan_quotas q WHERE q.metric = $2) THEN
                RAISE EXCEPTION 'unknown metric "%"', left($2, 100)
                    USING ERRCODE = 'JS402', DETAIL = 'No plan defines a quota for this metric.',
                          HINT = 'Define it with jobspy.set_plan_quota().';
            END IF;
        END IF;
        plan_id := w.plan_id; period := w.period; quota_limit := w.quota_limit;
        period_start := w.period_start; period_end := w.period_end;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION jobspy.quota_resolve(uuid, text, timestamptz) IS
    'internal: the quota windows of a call; raises 22023 (unknown user), JS403 (inactive user), JS401 (no plan), JS402 (unknown metric)';

-- The one implementation behind consume_quota and reserve_quota.
-- op 'consume' adds to used and writes a usage record; op 'reserve' adds
-- to reserved and writes a reservation (a row per window, one id).  Either
-- only when every window's counter has room, used + reserved + amount <=
-- limit: the counters are locked in the order of their period names (as
-- the C path takes them), checked, and only then all updated, so a denial
-- takes nothing from any window.  The answer is the refusing window's, or
-- on a grant the window with the least room left.
CREATE FUNCTION jobspy.quota_take(op text, user_id uuid, metric text, amount bigint, idempotency_key text,
                                  ttl interval, cost numeric, metadata jsonb)
    RETURNS TABLE (reservation_id uuid, allowed boolean, used bigint, quota_limit bigint, remaining bigint,
                   period_start timestamptz, resets_at timestamptz)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
#variable_conflict use_column
DECLARE
    v_user   uuid := user_id;
    v_metric text := metric;
    v_amount bigint := amount;
    v_key    text := idempotency_key;
    v_now    timestamptz := jobspy.now();
    v_plan   uuid;
    w        record;
    k        record;
    v_per    text[] := '{}';
    v_lim    bigint[] := '{}';
    v_start  timestamptz[] := '{}';
    v_end    timestamptz[] := '{}';
    c_used   bigint[] := '{}';
    c_res    bigint[] := '{}';
    cu       bigint;
    cr       bigint;
    n        integer := 0;
    b        integer;        -- the window the answer reports
    v_rid    uuid;
    v_ok     boolean;
    v_took   boolean;
BEGIN
    PERFORM jobspy.quota_check_args(v_user, v_metric, v_amount, v_key);

    IF v_key IS NOT NULL THEN
        -- Calls with the same key wait for each other here; the one that
        -- comes second then sees the first one's answer.
        PERFORM pg_advisory_xact_lock(1246774341, hashtext(v_user::text || '/' || v_key));
        SELECT * INTO k FROM jobspy.quota_idempotency i
         WHERE i.user_id = v_user AND i.idempotency_key = v_key;
        IF FOUND THEN
            IF k.operation <> op OR k.metric <> v_metric OR k.amount <> v_amount THEN
                RAISE EXCEPTION 'idempotency key reused for another request'
                    USING ERRCODE = 'JS404',
                          DETAIL = format('The key was first used to %s %s of "%s".', k.operation, k.amount, k.metric),
                          HINT = 'Use a new key for a new request.';
            END IF;
            RETURN QUERY SELECT k.reservation_id, k.allowed, k.used, k.quota_limit, k.remaining,
                                k.period_start, k.resets_at;
            RETURN;
        END IF;
    END IF;

    FOR w IN SELECT * FROM jobspy.quota_resolve(v_user, v_metric, v_now) LOOP
        v_plan := w.plan_id;
        EXIT WHEN w.period IS NULL;
        n := n + 1;
        v_per[n] := w.period; v_lim[n] := w.quota_limit;
        v_start[n] := w.period_start; v_end[n] := w.period_end;
        -- An unlimited window never refuses, so only the counter's range
        -- bounds it: one call takes at most 10^12 units there, and no
        -- single call can fill the counter (it would then refuse every
        -- later call).
        IF w.quota_limit < 0 AND v_amount > 1000000000000 THEN
            RAISE EXCEPTION 'amount % is more than one call may take on an unlimited plan', v_amount
                USING ERRCODE = '22023', DETAIL = 'One call takes at most 1000000000000 units of a metric without a limit.';
        END IF;
    END LOOP;

    IF n = 0 THEN
        -- The plan in force does not include this metric: none of it.
        v_ok := false; b := 1;
        v_per[1] := NULL; v_lim[1] := 0; c_used[1] := 0; c_res[1] := 0;
    ELSE
        -- Take from each window in turn, as the C path does; the UPDATE
        -- locks the counter's row only when it has room, so a denial by a
        -- single window holds nothing.
        v_ok := true;
        FOR i IN 1..n LOOP
            FOR attempt IN 1..2 LOOP
                UPDATE jobspy.quota_counters c
                   SET used = c.used + CASE WHEN op = 'consume' THEN v_amount ELSE 0 END,
                       reserved = c.reserved + CASE WHEN op = 'consume' THEN 0 ELSE v_amount END
                 WHERE c.user_id = v_user AND c.metric = v_metric AND c.period = v_per[i]
                   AND c.period_start = v_start[i]
                   AND (v_lim[i] < 0 OR v_amount <= v_lim[i] - c.used - c.reserved)
                   AND v_amount <= 9223372036854775807 - c.used - c.reserved
                RETURNING c.used, c.reserved INTO cu, cr;
                v_took := FOUND;
                EXIT WHEN v_took OR attempt = 2;
                -- No room, or no counter yet for this period: make it (a
                -- concurrent maker wins quietly) and try once more.
                INSERT INTO jobspy.quota_counters AS c (user_id, metric, period, period_start, period_end)
                VALUES (v_user, v_metric, v_per[i], v_start[i], v_end[i])
                ON CONFLICT DO NOTHING;
            END LOOP;
            IF NOT v_took THEN
                v_ok := false; b := i;
                SELECT c.used, c.reserved INTO cu, cr FROM jobspy.quota_counters c
                 WHERE c.user_id = v_user AND c.metric = v_metric AND c.period = v_per[i]
                   AND c.period_start = v_start[i];
                c_used[i] := cu; c_res[i] := cr;
                IF v_lim[i] < 0 THEN
                    -- Without a limit the only refusal is the counter's range.
                    RAISE EXCEPTION 'amount % would carry the usage counter past its largest value', v_amount
                        USING ERRCODE = '22023',
                              DETAIL = format('The %s counter of "%s" holds %s used and %s reserved this period.',
                                              v_per[i], left(v_metric, 100), cu, cr);
                END IF;
                -- Give back what the earlier windows took: their rows are
                -- locked by this transaction, so nobody else saw it.
                FOR j IN 1..i - 1 LOOP
                    UPDATE jobspy.quota_counters c
                       SET used = c.used - CASE WHEN op = 'consume' THEN v_amount ELSE 0 END,
                           reserved = c.reserved - CASE WHEN op = 'consume' THEN 0 ELSE v_amount END
                     WHERE c.user_id = v_user AND c.metric = v_metric AND c.period = v_per[j]
                       AND c.period_start = v_start[j];
                END LOOP;
                EXIT;
            END IF;
            c_used[i] := cu; c_res[i] := cr;
        END LOOP;

        IF v_ok THEN
            -- The window with the least room left; unlimited ones have none to lose.
            SELECT x.i INTO b FROM generate_subscripts(v_per, 1) AS x(i)
             ORDER BY CASE WHEN v_lim[x.i] >= 0 THEN v_lim[x.i] - c_used[x.i] - c_res[x.i] END NULLS LAST, x.i
             LIMIT 1;
            IF op = 'consume' THEN
                IF v_key IS NOT NULL OR cost IS NOT NULL OR metadata IS NOT NULL
                   OR current_setting('jobspy.quota_usage_records', true) = 'all' THEN
                    -- A cost is in the currency of the plan that granted it.
                    INSERT INTO jobspy.usage_records (user_id, metric, amount, cost, currency, idempotency_key,
                                                      metadata, created_at)
                    VALUES (v_user, v_metric, v_amount, cost,
                            CASE WHEN cost IS NOT NULL THEN (SELECT p.currency FROM jobspy.plans p WHERE p.id = v_plan) END,
                            v_key, coalesce(metadata, '{}'), v_now);
                END IF;
            ELSE
                v_rid := jobspy.uuid_v7();
                INSERT INTO jobspy.quota_reservations AS r
                       (user_id, id, metric, period, period_start, quota_limit, amount, idempotency_key, expires_at)
                SELECT v_user, v_rid, v_metric, v_per[x.i], v_start[x.i], v_lim[x.i], v_amount, v_key, v_now + ttl
                  FROM generate_subscripts(v_per, 1) AS x(i);
            END IF;
        END IF;
    END IF;

    reservation_id := v_rid;
    allowed := v_ok;
    used := c_used[b];
    quota_limit := CASE WHEN v_lim[b] >= 0 THEN v_lim[b] END;
    remaining := CASE WHEN v_lim[b] >= 0 THEN greatest(v_lim[b] - c_used[b] - c_res[b], 0) END;
    period_start := CASE WHEN v_per[b] IS DISTINCT FROM 'lifetime' THEN v_start[b] END;
    resets_at := CASE WHEN v_per[b] IS DISTINCT FROM 'lifetime' THEN v_end[b] END;

    -- A denial consumes nothing but is remembered (seed 003's usage events).
    IF NOT v_ok THEN
        PERFORM jobspy.usage_event_denied(v_user, v_metric, v_amount, c_used[b], v_lim[b], v_per[b]);
    END IF;

    -- A key is bound by a grant only: a denial consumed nothing, so the
    -- same request may be tried again (after an upgrade or a reset).
    IF v_key IS NOT NULL AND v_ok THEN
        INSERT INTO jobspy.quota_idempotency AS i
               (user_id, idempotency_key, operation, metric, amount, reservation_id,
                allowed, used, quota_limit, remaining, period_start, resets_at, created_at)
        VALUES (v_user, v_key, op, v_metric, v_amount, v_rid,
                allowed, used, quota_limit, remaining, period_start, resets_at, v_now);
    END IF;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION jobspy.quota_take(text, uuid, text, bigint, text, interval, numeric, jsonb) IS
    'internal: check-and-take over every window of a metric for consume_quota (op consume) and reserve_quota (op reserve)';

-- The answer of consume_quota and quota_status, a row type rather than
-- RETURNS TABLE: the executor finds its shape in the type cache instead of
-- building it from pg_proc on every call.
CREATE TYPE jobspy.quota_answer AS (allowed boolean, used bigint, quota_limit bigint, remaining bigint,
                                    period_start timestamptz, resets_at timestamptz);
COMMENT ON TYPE jobspy.quota_answer IS 'the answer of consume_quota and quota_status';

-- In C (src/quotas.c): without an idempotency key, for an active user
-- whose counter has room, the jobspy.quota_lookup() result and one update
-- of the counter's row; everything else is answered by jobspy.quota_take().
-- Not SECURITY DEFINER: the C code runs as the tables' owner itself and
-- pins search_path for the SQL it runs, which costs nothing when no SQL runs.
CREATE FUNCTION jobspy.consume_quota(user_id uuid, metric text, amount bigint DEFAULT 1,
                                     idempotency_key text DEFAULT NULL)
    RETURNS jobspy.quota_answer
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'jobspy_consume_quota';
COMMENT ON FUNCTION jobspy.consume_quota(uuid, text, bigint, text) IS
    'checks and consumes amount of a metric from the user''s plan quota in one atomic step, in the caller''s transaction; a denial consumes nothing; an idempotency key replays the first answer';

CREATE FUNCTION jobspy.consume_quota_impl(user_id uuid, metric text, amount bigint, idempotency_key text,
                                          cost numeric, metadata jsonb)
    RETURNS jobspy.quota_answer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r jobspy.quota_answer;
BEGIN
    IF $5 < 0 THEN
        RAISE EXCEPTION 'cost must not be negative' USING ERRCODE = '22023';
    END IF;
    IF $6 IS NOT NULL AND jsonb_typeof($6) <> 'object' THEN
        RAISE EXCEPTION 'metadata must be a JSON object' USING ERRCODE = '22023';
    END IF;
    SELECT t.allowed, t.used, t.quota_limit, t.remaining, t.period_start, t.resets_at INTO r
      FROM jobspy.quota_take('consume', $1, $2, $3, $4, NULL, $5, $6) t;
    RETURN r;
END
$$;
COMMENT ON FUNCTION jobspy.consume_quota_impl(uuid, text, bigint, text, numeric, jsonb) IS
    'internal: the body of jobspy.consume_quota with a cost';
-- The public face (src/core_public_face.c): errors without internal context.
CREATE FUNCTION jobspy.consume_quota(user_id uuid, metric text, amount bigint, idempotency_key text,
                                     cost numeric, metadata jsonb DEFAULT NULL)
    RETURNS jobspy.quota_answer
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'jobspy_public_face';
COMMENT ON FUNCTION jobspy.consume_quota(uuid, text, bigint, text, numeric, jsonb) IS
    'consume_quota that also records a cost (minor units) and metadata on the usage record';

-- Every window of a user's metric, without consuming: a plan may limit a
-- metric per day and per month together.  allowed is whether one more
-- unit fits in that window now.
CREATE FUNCTION jobspy.quota_windows_impl(user_id uuid, metric text)
    RETURNS TABLE (period text, allowed boolean, used bigint, quota_limit bigint, remaining bigint,
                   period_start timestamptz, resets_at timestamptz)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
#variable_conflict use_column
BEGIN
    PERFORM jobspy.quota_check_args($1, $2, 1, NULL);
    RETURN QUERY
    SELECT w.period, w.quota_limit < 0 OR coalesce(c.used + c.reserved, 0) < w.quota_limit,
           coalesce(c.used, 0),
           CASE WHEN w.quota_limit >= 0 THEN w.quota_limit END,
           CASE WHEN w.quota_limit >= 0 THEN greatest(w.quota_limit - coalesce(c.used + c.reserved, 0), 0) END,
           CASE WHEN w.period <> 'lifetime' THEN w.period_start END,
           CASE WHEN w.period <> 'lifetime' THEN w.period_end END
      FROM jobspy.quota_resolve($1, $2, jobspy.now()) WITH ORDINALITY AS w
      LEFT JOIN jobspy.quota_counters c
        ON c.user_id = $1 AND c.metric = $2 AND c.period = w.period AND c.period_start = w.period_start
     WHERE w.period IS NOT NULL
     ORDER BY w.ordinality;
END
$$;
COMMENT ON FUNCTION jobspy.quota_windows_impl(uuid, text) IS
    'internal: the body of jobspy.quota_windows';
CREATE FUNCTION jobspy.quota_windows(user_id uuid, metric text)
    RETURNS TABLE (period text, allowed boolean, used bigint, quota_limit bigint, remaining bigint,
                   period_start timestamptz, resets_at timestamptz)
    LANGUAGE c STABLE
    AS 'MODULE_PATHNAME', 'jobspy_public_face';
COMMENT ON FUNCTION jobspy.quota_windows(uuid, text) IS
    'every window (period) of a user''s metric with its answer, without consuming; no row when the plan does not include the metric';

-- The window with the least room left speaks for the metric: it is the
-- one that refuses first.
CREATE FUNCTION jobspy.quota_status_impl(user_id uuid, metric text)
    RETURNS jobspy.quota_answer
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r jobspy.quota_answer;
BEGIN
    SELECT w.allowed, w.used, w.quota_limit, w.remaining, w.period_start, w.resets_at INTO r
      FROM jobspy.quota_windows($1, $2) WITH ORDINALITY AS w
     ORDER BY w.remaining NULLS LAST, w.ordinality
     LIMIT 1;
    IF NOT FOUND THEN
        RETURN ROW(false, 0, 0, 0, NULL, NULL)::jobspy.quota_answer;
    END IF;
    RETURN r;
END
$$;
COMMENT ON FUNCTION jobspy.quota_status_impl(uuid, text) IS
    'internal: the body of jobspy.quota_status';
CREATE FUNCTION jobspy.quota_status(user_id uuid, metric text)
    RETURNS jobspy.quota_answer
    LANGUAGE c STABLE
    AS 'MODULE_PATHNAME', 'jobspy_public_face';
COMMENT ON FUNCTION jobspy.quota_status(uuid, text) IS
    'the quota answer for a user''s metric without consuming, for the window with the least room left: allowed is whether one more unit would be granted now';

-- ---- reservations -----------------------------------------------------

CREATE FUNCTION jobspy.reserve_quota_impl(user_id uuid, metric text, amount bigint, ttl interval,
                                          idempotency_key text)
    RETURNS TABLE (reservation_id uuid, allowed boolean, used bigint, quota_limit bigint, remaining bigint,
                   period_start timestamptz, resets_at timestamptz)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF $4 IS NULL OR $4 <= interval '0' OR $4 > interval '30 days' THEN
        RAISE EXCEPTION 'ttl must be more than 0 and at most 30 days'
            USING ERRCODE = '22023';
    END IF;
    RETURN QUERY SELECT * FROM jobspy.quota_take('reserve', $1, $2, $3, $5, $4, NULL, NULL);
END
$$;
COMMENT ON FUNCTION jobspy.reserve_quota_impl(uuid, text, bigint, interval, text) IS
    'internal: the body of jobspy.reserve_quota';
CREATE FUNCTION jobspy.reserve_quota(user_id uuid, metric text, amount bigint,
                                     ttl interval DEFAULT interval '15 minutes',
                                     idempotency_key text DEFAULT NULL)
    RETURNS TABLE (reservation_id uuid, allowed boolean, used bigint, quota_limit bigint, remaining bigint,
                   period_start timestamptz, resets_at timestamptz)
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'jobspy_public_face';
COMMENT ON FUNCTION jobspy.reserve_quota(uuid, text, bigint, interval, text) IS
    'holds an estimated amount against the quota until settled, cancelled or expired; reservation_id is NULL when denied';

CREATE FUNCTION jobspy.settle_reservation(reservation_id uuid, actual_amount bigint,
                                          cost numeric DEFAULT NULL, metadata jsonb DEFAULT NULL)
    RETURNS TABLE (allowed boolean, used bigint, quota_limit bigint, remaining bigint,
                   period_start timestamptz, resets_at timestamptz)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
#variable_conflict use_column
DECLARE
    r      record;
    c      record;
    v_room bigint;
    v_now  timestamptz := jobspy.now();
    v_currency text;
    v_repeat boolean;
    v_rows   bigint;
BEGIN
    IF $1 IS NULL OR $2 IS NULL OR $2 < 0 THEN
        RAISE EXCEPTION 'reservation_id and a non-negative actual_amount are required'
            USING ERRCODE = '22023';
    END IF;
    IF $3 < 0 THEN
        RAISE EXCEPTION 'cost must not be negative' USING ERRCODE = '22023';
    END IF;
    IF $4 IS NOT NULL AND jsonb_typeof($4) <> 'object' THEN
        RAISE EXCEPTION 'metadata must be a JSON object' USING ERRCODE = '22023';
    END IF;
    -- Every window's row, locked in the order of their period names.
    PERFORM FROM jobspy.quota_reservations x WHERE x.id = $1 ORDER BY x.period COLLATE "C" FOR UPDATE;
    SELECT * INTO r FROM jobspy.quota_reservations x WHERE x.id = $1 ORDER BY x.period COLLATE "C" LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown reservation %', $1 USING ERRCODE = '22023';
    END IF;
    v_repeat := r.status = 'settled' AND r.actual_amount = $2;
    IF r.status <> 'held' AND NOT v_repeat THEN
        IF r.status = 'settled' THEN
            RAISE EXCEPTION 'reservation is settled'
                USING ERRCODE = '55000',
                      DETAIL = format('It was settled with %s; a settlement is final.', r.actual_amount);
        END IF;
        RAISE EXCEPTION 'reservation is %', r.status
            USING ERRCODE = '55000', DETAIL = 'Its amount was released.',
                  HINT = 'Record the usage with jobspy.consume_quota().';
    END IF;
    IF NOT v_repeat THEN
        -- The actual amount is recorded even past the limits: the usage
        -- has happened; the reservation was the gate.
        -- used + reserved stays within bigint in every window, as
        -- consumption keeps it; one window that cannot take it refuses all.
        UPDATE jobspy.quota_counters c SET used = c.used + $2, reserved = c.reserved - x.amount
          FROM jobspy.quota_reservations x
         WHERE x.id = $1 AND c.user_id = x.user_id AND c.metric = x.metric AND c.period = x.period
           AND c.period_start = x.period_start
           AND $2 <= 9223372036854775807 - c.used - (c.reserved - x.amount);
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        IF v_rows < (SELECT count(*) FROM jobspy.quota_reservations x WHERE x.id = $1) THEN
            RAISE EXCEPTION 'actual_amount % would take the counter past the largest bigint', $2
                USING ERRCODE = '22023', HINT = 'Settle with the amount actually used.';
        END IF;
        UPDATE jobspy.quota_reservations x SET status = 'settled', actual_amount = $2
         WHERE x.user_id = r.user_id AND x.id = r.id;
        IF $2 > 0 THEN
            -- A cost is in the currency of the plan in force when it is settled.
            IF $3 IS NOT NULL THEN
                SELECT p.currency INTO v_currency FROM jobspy.plans p
                 WHERE p.id = (jobspy.quota_lookup(r.user_id, r.metric, v_now)).plan_id;
                IF v_currency IS NULL THEN
                    RAISE EXCEPTION 'a cost needs a currency, and user % has no plan in force', r.user_id
                        USING ERRCODE = 'JS401', DETAIL = 'A cost is recorded in the currency of the user''s plan.',
                              HINT = 'Settle without a cost, or give the user a plan.';
                END IF;
            END IF;
            INSERT INTO jobspy.usage_records (user_id, metric, amount, cost, currency, idempotency_key, reservation_id,
                                              metadata, created_at)
            VALUES (r.user_id, r.metric, $2, $3, v_currency, r.idempotency_key, r.id, coalesce($4, '{}'), v_now);
        END IF;
    END IF;
    -- The answer of the window with the least room left (past its limit:
    -- negative room), as consume_quota answers.
    SELECT x.quota_limit, x.period, x.period_start, k.used, k.reserved, k.period_end INTO c
      FROM jobspy.quota_reservations x
      JOIN jobspy.quota_counters k ON k.user_id = x.user_id AND k.metric = x.metric AND k.period = x.period
                                  AND k.period_start = x.period_start
     WHERE x.id = $1
     ORDER BY CASE WHEN x.quota_limit >= 0 THEN x.quota_limit - k.used - k.reserved END NULLS LAST,
              x.period COLLATE "C"
     LIMIT 1;
    allowed := c.quota_limit < 0 OR c.used + c.reserved <= c.quota_limit;
    used := c.used;
    quota_limit := CASE WHEN c.quota_limit >= 0 THEN c.quota_limit END;
    remaining := CASE WHEN c.quota_limit >= 0 THEN greatest(c.quota_limit - c.used - c.reserved, 0) END;
    period_start := CASE WHEN c.period <> 'lifetime' THEN c.period_start END;
    resets_at := CASE WHEN c.period <> 'lifetime' THEN c.period_end END;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION jobspy.settle_reservation(uuid, bigint, numeric, jsonb) IS
    'settles a held reservation with the actual amount in every window (recorded even past the limits) and writes the usage record; allowed says whether the counters stay within their limits';

CREATE FUNCTION jobspy.cancel_reservation(reservation_id uuid) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r record;
BEGIN
    IF $1 IS NULL THEN
        RAISE EXCEPTION 'reservation_id must not be NULL' USING ERRCODE = '22023';
    END IF;
    PERFORM FROM jobspy.quota_reservations x WHERE x.id = $1 ORDER BY x.period COLLATE "C" FOR UPDATE;
    SELECT * INTO r FROM jobspy.quota_reservations x WHERE x.id = $1 LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown reservation %', $1 USING ERRCODE = '22023';
    END IF;
    IF r.status = 'settled' THEN
        RAISE EXCEPTION 'reservation is settled' USING ERRCODE = '55000';
    END IF;
    IF r.status <> 'held' THEN
        RETURN false;
    END IF;
    UPDATE jobspy.quota_counters c SET reserved = c.reserved - x.amount
      FROM jobspy.quota_reservations x
     WHERE x.id = $1 AND c.user_id = x.user_id AND c.metric = x.metric AND c.period = x.period
       AND c.period_start = x.period_start;
    UPDATE jobspy.quota_reservations x SET status = 'cancelled'
     WHERE x.user_id = r.user_id AND x.id = r.id;
    RETURN true;
END
$$;
COMMENT ON FUNCTION jobspy.cancel_reservation(uuid) IS
    'releases a held reservation from every window; true when released now, false when it was already cancelled or expired';

-- maintain() runs this: releases expired reservations and drops counters
-- of periods that ended longer ago than retention.quota_counters, with
-- their settled, cancelled and expired reservations.
CREATE FUNCTION jobspy.maintain_quotas() RETURNS TABLE (action text, object text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n    bigint;
    keep jsonb := jobspy.config_get('retention.quota_counters');
BEGIN
    WITH expired AS (
        SELECT x.user_id, x.id, x.period FROM jobspy.quota_reservations x
         WHERE x.status = 'held' AND x.expires_at <= jobspy.now()
         ORDER BY x.user_id, x.id, x.period COLLATE "C"
           FOR UPDATE SKIP LOCKED),
    released AS (
        UPDATE jobspy.quota_reservations x SET status = 'expired'
          FROM expired e WHERE x.user_id = e.user_id AND x.id = e.id AND x.period = e.period
        RETURNING x.user_id, x.id, x.metric, x.period, x.period_start, x.amount),
    totals AS (
        SELECT r.user_id, r.metric, r.period, r.period_start, sum(r.amount) AS amount
          FROM released r GROUP BY 1, 2, 3, 4),
    counted AS (
        UPDATE jobspy.quota_counters c SET reserved = c.reserved - t.amount
          FROM totals t
         WHERE c.user_id = t.user_id AND c.metric = t.metric AND c.period = t.period
           AND c.period_start = t.period_start
        RETURNING 1)
    SELECT count(DISTINCT r.id) INTO n FROM released r;
    IF n > 0 THEN
        action := 'released'; object := format('%s expired quota reservations', n);
        RETURN NEXT;
    END IF;

    IF keep IS NULL OR jsonb_typeof(keep) = 'string' THEN
        DELETE FROM jobspy.quota_counters c
         WHERE c.period_end < jobspy.now() - coalesce((keep #>> '{}')::interval, interval '13 months')
           AND c.reserved = 0;
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n > 0 THEN
            action := 'deleted'; object := format('%s quota counters past retention', n);
            RETURN NEXT;
        END IF;
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.maintain_quotas() IS
    'maintain() step: releases expired reservations; deletes counters of periods ended before retention.quota_counters (13 months unless set; JSON null keeps them)';

-- ---- plan management --------------------------------------------------

CREATE FUNCTION jobspy.create_plan(code text, name text, description text DEFAULT NULL,
                                   price_monthly bigint DEFAULT 0, price_yearly bigint DEFAULT NULL,
                                   currency text DEFAULT 'USD', features jsonb DEFAULT '[]',
                                   is_active boolean DEFAULT true, is_public boolean DEFAULT true,
                                   sort_order integer DEFAULT 100)
    RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_id uuid;
BEGIN
    IF $1 IS NULL OR $2 IS NULL THEN
        RAISE EXCEPTION 'plan code and name must not be NULL' USING ERRCODE = '22023';
    END IF;
    IF $1 !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$' THEN
        RAISE EXCEPTION 'invalid plan code "%"', left($1, 50)
            USING ERRCODE = '22023',
                  DETAIL = 'A plan code is 1 to 50 letters, digits, "_", "." or "-", starting with a letter or digit.';
    END IF;
    IF length($2) NOT BETWEEN 1 AND 100 OR length($3) > 1000 THEN
        RAISE EXCEPTION 'plan name must be 1 to 100 characters and description at most 1000'
            USING ERRCODE = '22023';
    END IF;
    IF coalesce($4, 0) < 0 OR $5 < 0 THEN
        RAISE EXCEPTION 'prices must not be negative' USING ERRCODE = '22023',
            DETAIL = 'Prices are whole numbers of minor units (cents).';
    END IF;
    IF $6 IS NULL OR $6 !~ '^[A-Z]{3}$' THEN
        RAISE EXCEPTION 'currency must be a three-letter ISO 4217 code in capitals' USING ERRCODE = '22023';
    END IF;
    IF $7 IS NOT NULL AND jsonb_typeof($7) NOT IN ('array', 'object') THEN
        RAISE EXCEPTION 'features must be an array of names or an object of name -> boolean'
            USING ERRCODE = '22023';
    END IF;
    IF EXISTS (SELECT FROM jobspy.plans p WHERE p.code = $1) THEN
        RAISE EXCEPTION 'plan "%" already exists', $1 USING ERRCODE = '23505';
    END IF;
    INSERT INTO jobspy.plans AS p (code, name, description, price_monthly, price_yearly, currency, features,
                                   is_active, is_public, sort_order)
    VALUES ($1, $2, $3, coalesce($4, 0), $5, $6, coalesce($7, '[]'), coalesce($8, true), coalesce($9, true),
            coalesce($10, 100))
    RETURNING p.id INTO v_id;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION jobspy.create_plan(text, text, text, bigint, bigint, text, jsonb, boolean, boolean, integer) IS
    'creates a plan (prices in minor units) and returns its id; 23505 when the code is taken';

-- What setting a plan's limit checks, for quotas here and for gauges
-- (quotas_gauges): the plan by its code, and the limit's name.
CREATE FUNCTION jobspy.plan_id_of(plan_code text) RETURNS uuid
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_plan uuid;
BEGIN
    SELECT p.id INTO v_plan FROM jobspy.plans p WHERE p.code = $1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown plan "%"', left($1, 50) USING ERRCODE = '22023';
    END IF;
    RETURN v_plan;
END
$$;
COMMENT ON FUNCTION jobspy.plan_id_of(text) IS
    'internal: the id of the plan with this code; raises 22023 for an unknown plan';

CREATE FUNCTION jobspy.check_limit_name(name text, what text) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF $1 !~ '^[a-z][a-z0-9_.:-]{0,99}$' THEN
        RAISE EXCEPTION 'invalid % "%"', $2, left($1, 100)
            USING ERRCODE = '22023',
                  DETAIL = format('A %s is 1 to 100 lower-case letters, digits, "_", ".", ":" or "-", starting with a letter.', $2);
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.check_limit_name(text, text) IS
    'internal: raises 22023 unless name is a valid metric or gauge name (what names which, for the message)';

CREATE FUNCTION jobspy.set_plan_quota(plan_code text, metric text, period text, quota_limit bigint)
    RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_plan uuid;
BEGIN
    IF $1 IS NULL OR $2 IS NULL OR $3 IS NULL OR $4 IS NULL THEN
        RAISE EXCEPTION 'plan_code, metric, period and quota_limit must not be NULL' USING ERRCODE = '22023';
    END IF;
    v_plan := jobspy.plan_id_of($1);
    PERFORM jobspy.check_limit_name($2, 'metric');
    IF $3 NOT IN ('day', 'week', 'month', 'year', 'lifetime') THEN
        RAISE EXCEPTION 'invalid period "%"', left($3, 20)
            USING ERRCODE = '22023', HINT = 'Use day, week, month, year or lifetime.';
    END IF;
    IF $4 < -1 THEN
        RAISE EXCEPTION 'quota_limit must be -1 (unlimited) or at least 0' USING ERRCODE = '22023';
    END IF;
    INSERT INTO jobspy.plan_quotas AS q (plan_id, metric, period, quota_limit)
    VALUES (v_plan, $2, $3, $4)
    ON CONFLICT ON CONSTRAINT plan_quotas_pkey DO UPDATE
       SET quota_limit = excluded.quota_limit
     WHERE q.quota_limit IS DISTINCT FROM excluded.quota_limit;
END
$$;
COMMENT ON FUNCTION jobspy.set_plan_quota(text, text, text, bigint) IS
    'sets a plan''s limit on a metric for one period (day, week, month, year, lifetime), beside its limits for other periods; -1 is unlimited; audited';

CREATE FUNCTION jobspy.remove_plan_quota_period(plan_code text, metric text, period text) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    DELETE FROM jobspy.plan_quotas q
     WHERE q.plan_id = jobspy.plan_id_of($1) AND q.metric = $2 AND ($3 IS NULL OR q.period = $3);
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION jobspy.remove_plan_quota_period(text, text, text) IS
    'removes a plan''s limit on a metric for one period, keeping its other periods (NULL period: all of them); false when there was none';

CREATE FUNCTION jobspy.remove_plan_quota(plan_code text, metric text) RETURNS boolean
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
SELECT jobspy.remove_plan_quota_period($1, $2, NULL)
$$;
COMMENT ON FUNCTION jobspy.remove_plan_quota(text, text) IS
    'removes a plan''s quotas on a metric, every period (the plan then grants none of it); false when there was none';

CREATE FUNCTION jobspy.set_user_plan(user_id uuid, plan_code text) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_plan   uuid;
    v_active boolean;
BEGIN
    IF $1 IS NULL THEN
        RAISE EXCEPTION 'user_id must not be NULL' USING ERRCODE = '22023';
    END IF;
    IF NOT EXISTS (SELECT FROM jobspy.users u WHERE u.id = $1) THEN
        RAISE EXCEPTION 'unknown user %', $1 USING ERRCODE = '22023';
    END IF;
    IF $2 IS NULL THEN
        DELETE FROM jobspy.user_plans x WHERE x.user_id = $1;
        RETURN;
    END IF;
    SELECT p.id, p.is_active INTO v_plan, v_active FROM jobspy.plans p WHERE p.code = $2;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown plan "%"', left($2, 50) USING ERRCODE = '22023';
    END IF;
    IF NOT v_active THEN
        RAISE EXCEPTION 'plan "%" is not active', $2
            USING ERRCODE = '55000', DETAIL = 'Inactive plans keep their current users but take no new ones.';
    END IF;
    INSERT INTO jobspy.user_plans AS x (user_id, plan_id) VALUES ($1, v_plan)
    ON CONFLICT ON CONSTRAINT user_plans_pkey DO UPDATE SET plan_id = excluded.plan_id
     WHERE x.plan_id IS DISTINCT FROM excluded.plan_id;
END
$$;
COMMENT ON FUNCTION jobspy.set_user_plan(uuid, text) IS
    'sets the plan of a user whose plan no subscription drives (NULL plan_code clears it); audited';

CREATE FUNCTION jobspy.plan_in_force(user_id uuid)
    RETURNS TABLE (plan_code text, source text)
    LANGUAGE sql STABLE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
SELECT p.code, r.source
  FROM jobspy.quota_plan_of($1, jobspy.now()) r
  LEFT JOIN jobspy.plans p ON p.id = r.plan_id
$$;
COMMENT ON FUNCTION jobspy.plan_in_force(uuid) IS
    'the code of the user''s plan in force and where it comes from: subscription, user, license or default (no row for an unknown user)';

-- ---- entitlements and feature flags -----------------------------------

CREATE FUNCTION jobspy.features_include(features jsonb, feature text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
SELECT CASE jsonb_typeof($1)
            WHEN 'array' THEN $1 ? $2
            WHEN 'object' THEN coalesce($1 -> $2 NOT IN ('false', 'null', '0', '""'), false)
            ELSE false END
$$;
COMMENT ON FUNCTION jobspy.features_include(jsonb, text) IS
    'true when a features value (array of names, or object of name -> value other than false, null, 0 or "") includes a feature';

CREATE FUNCTION jobspy.has_feature(user_id uuid, feature text) RETURNS boolean
    LANGUAGE sql STABLE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
SELECT coalesce((
    SELECT r.user_status = 'active'
           AND (jobspy.features_include(p.features, $2)
                OR EXISTS (SELECT FROM jobspy.licenses l
                            WHERE l.user_id = $1 AND l.status = 'active'
                              AND (l.expires_at IS NULL OR l.expires_at > jobspy.now())
                              AND jobspy.features_include(l.features, $2)))
      FROM jobspy.quota_plan_of($1, jobspy.now()) r
      LEFT JOIN jobspy.plans p ON p.id = r.plan_id), false)
$$;
COMMENT ON FUNCTION jobspy.has_feature(uuid, text) IS
    'true when the plan in force or an active licence of an active user includes the feature; false for unknown users';

-- The attributes feature_flags.user_criteria is matched against (jsonb
-- containment, @>).
CREATE FUNCTION jobspy.user_attributes(user_id uuid) RETURNS jsonb
    LANGUAGE sql STABLE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
SELECT jsonb_strip_nulls(jsonb_build_object(
           'email_domain', lower(split_part(u.email, '@', 2)),
           'country_code', u.country_code,
           'language', u.language,
           'timezone', u.timezone,
           'status', u.status,
           'email_verified', u.email_verified,
           'two_factor_enabled', u.two_factor_enabled,
           'plan', (SELECT p.code FROM jobspy.quota_plan_of(u.id, jobspy.now()) r
                      JOIN jobspy.plans p ON p.id = r.plan_id),
           'license_types', coalesce((SELECT jsonb_agg(DISTINCT l.license_type)
                                        FROM jobspy.licenses l
                                       WHERE l.user_id = u.id AND l.status = 'active'
                                         AND (l.expires_at IS NULL OR l.expires_at > jobspy.now())), '[]'),
           'metadata', u.metadata))
  FROM jobspy.users u
 WHERE u.id = $1
$$;
COMMENT ON FUNCTION jobspy.user_attributes(uuid) IS
    'a user''s attributes as feature flag criteria see them: email_domain, country_code, language, timezone, status, email_verified, two_factor_enabled, plan, license_types, metadata';

-- Rollout bucket 0..99: the first 32 bits of SHA-256 over "flag:user_id".
-- The same on every server and after every restart; a flag's buckets are
-- independent of another flag's.
CREATE FUNCTION jobspy.rollout_bucket(flag text, user_id uuid) RETURNS integer
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    AS $$
SELECT (('x' || substr(encode(sha256(convert_to($1 || ':' || $2::text, 'UTF8')), 'hex'), 1, 8))::bit(32)::bigint
        % 100)::integer
$$;
COMMENT ON FUNCTION jobspy.rollout_bucket(text, uuid) IS
    'a user''s rollout bucket (0..99) for a flag: SHA-256 of "flag:user_id", first 32 bits, mod 100';

CREATE FUNCTION jobspy.feature_enabled(flag text, user_id uuid) RETURNS boolean
    LANGUAGE plpgsql STABLE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    f record;
BEGIN
    SELECT ff.enabled, ff.rollout_percentage, ff.license_types, ff.user_criteria INTO f
      FROM jobspy.feature_flags ff WHERE ff.name = $1;
    IF NOT FOUND OR NOT f.enabled OR f.rollout_percentage = 0 THEN
        RETURN false;
    END IF;
    IF NOT EXISTS (SELECT FROM jobspy.users u WHERE u.id = $2 AND u.status = 'active') THEN
        RETURN false;
    END IF;
    IF cardinality(f.license_types) > 0 AND NOT EXISTS (
           SELECT FROM jobspy.licenses l
            WHERE l.user_id = $2 AND l.status = 'active' AND l.license_type = ANY (f.license_types)
              AND (l.expires_at IS NULL OR l.expires_at > jobspy.now())) THEN
        RETURN false;
    END IF;
    IF f.user_criteria <> '{}' AND NOT (jobspy.user_attributes($2) @> f.user_criteria) THEN
        RETURN false;
    END IF;
    RETURN f.rollout_percentage = 100 OR jobspy.rollout_bucket($1, $2) < f.rollout_percentage;
END
$$;
COMMENT ON FUNCTION jobspy.feature_enabled(text, uuid) IS
    'true when the flag is enabled, the active user has a listed licence type (if any), matches user_criteria (if any) and falls in the rollout percentage; false for unknown flags and users';

-- ---- privileges ------------------------------------------------------

REVOKE ALL ON FUNCTION
    jobspy.quota_counters_period_check(),
    jobspy.quota_default_plan_id(), jobspy.quota_plan_of(uuid, timestamptz),
    jobspy.quota_anchored_period(timestamptz, timestamptz, integer),
    jobspy.quota_lookup(uuid, text, timestamptz), jobspy.quota_lookup_all(uuid, text, timestamptz),
    jobspy.quota_check_args(uuid, text, bigint, text),
    jobspy.quota_require_plan(uuid, text, uuid), jobspy.quota_resolve(uuid, text, timestamptz),
    jobspy.quota_take(text, uuid, text, bigint, text, interval, numeric, jsonb),
    jobspy.consume_quota(uuid, text, bigint, text),
    jobspy.consume_quota(uuid, text, bigint, text, numeric, jsonb),
    jobspy.quota_status(uuid, text), jobspy.quota_windows(uuid, text),
    jobspy.reserve_quota(uuid, text, bigint, interval, text),
    jobspy.settle_reservation(uuid, bigint, numeric, jsonb),
    jobspy.cancel_reservation(uuid), jobspy.maintain_quotas(),
    jobspy.create_plan(text, text, text, bigint, bigint, text, jsonb, boolean, boolean, integer),
    jobspy.plan_id_of(text), jobspy.check_limit_name(text, text),
    jobspy.set_plan_quota(text, text, text, bigint), jobspy.remove_plan_quota(text, text),
    jobspy.remove_plan_quota_period(text, text, text),
    jobspy.set_user_plan(uuid, text), jobspy.plan_in_force(uuid),
    jobspy.features_include(jsonb, text), jobspy.has_feature(uuid, text),
    jobspy.user_attributes(uuid), jobspy.rollout_bucket(text, uuid), jobspy.feature_enabled(text, uuid)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    jobspy.consume_quota(uuid, text, bigint, text),
    jobspy.consume_quota(uuid, text, bigint, text, numeric, jsonb),
    jobspy.quota_status(uuid, text), jobspy.quota_windows(uuid, text),
    jobspy.reserve_quota(uuid, text, bigint, interval, text),
    jobspy.settle_reservation(uuid, bigint, numeric, jsonb),
    jobspy.cancel_reservation(uuid),
    jobspy.set_user_plan(uuid, text), jobspy.plan_in_force(uuid),
    jobspy.has_feature(uuid, text), jobspy.feature_enabled(text, uuid),
    jobspy.rollout_bucket(text, uuid), jobspy.features_include(jsonb, text)
  TO jobspy_app, jobspy_admin;
GRANT EXECUTE ON FUNCTION
    jobspy.create_plan(text, text, text, bigint, bigint, text, jsonb, boolean, boolean, integer),
    jobspy.set_plan_quota(text, text, text, bigint), jobspy.remove_plan_quota(text, text),
    jobspy.remove_plan_quota_period(text, text, text),
    jobspy.user_attributes(uuid), jobspy.maintain_quotas()
  TO jobspy_admin;
REVOKE ALL ON jobspy.plans, jobspy.plan_quotas, jobspy.user_plans, jobspy.quota_counters,
    jobspy.usage_records, jobspy.usage_records_default, jobspy.quota_idempotency, jobspy.quota_reservations
  FROM PUBLIC;
GRANT SELECT ON jobspy.plans, jobspy.plan_quotas, jobspy.user_plans, jobspy.quota_counters,
    jobspy.usage_records, jobspy.quota_idempotency, jobspy.quota_reservations
  TO jobspy_admin;

