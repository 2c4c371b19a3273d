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
    PRIMARY KEY (plan_id, metric)
);
COMMENT ON TABLE jobspy.plan_quotas IS
    'a plan''s limit on a metric per period (day, week, month, year, lifetime); -1 is unlimited (still counted)';
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
    OR UPDATE OF user_id, plan_type, status, current_period_start ON jobspy.subscriptions
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
    id              uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
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
    id              uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
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
    PRIMARY KEY (user_id, id),
    FOREIGN KEY (user_id, metric, period, period_start)
        REFERENCES jobspy.quota_counters (user_id, metric, period, period_start) ON DELETE CASCADE,
    CHECK ((status = 'settled') = (actual_amount IS NOT NULL))
);
COMMENT ON TABLE jobspy.quota_reservations IS
    'amounts held against a quota until settled with the actual amount, cancelled, or released at expiry';
CREATE UNIQUE INDEX quota_reservations_id_idx ON jobspy.quota_reservations (id);
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
-- configured default.  anchor is the live subscription's current period
-- start, whichever plan is in force: a subscriber's months follow the
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
    'internal: the plan quota that applies to a user''s metric at a time and the period holding it';

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

-- Resolves the window for a call and raises when there is none to use.
-- Returns NULL period when the plan does not define the metric.
CREATE FUNCTION jobspy.quota_resolve(user_id uuid, metric text, at timestamptz)
    RETURNS TABLE (plan_id uuid, period text, quota_limit bigint, period_start timestamptz, period_end timestamptz)
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
#variable_conflict use_column
DECLARE
    w record;
BEGIN
    w := jobspy.quota_lookup($1, $2, $3);
    IF w.user_status IS NULL THEN
        RAISE EXCEPTION 'unknown user %', $1 USING ERRCODE = '22023';
    END IF;
    IF w.user_status <> 'active' THEN
        RAISE EXCEPTION 'user % is %', $1, w.user_status
            USING ERRCODE = 'JS403', DETAIL = 'Only active users consume quota.';
    END IF;
    IF w.plan_id IS NULL AND EXISTS (
           SELECT FROM jobspy.subscriptions s
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
    IF w.plan_id IS NULL THEN
        RAISE EXCEPTION 'user % has no plan in force', $1
            USING ERRCODE = 'JS401',
                  DETAIL = 'The user has no live subscription with a known plan, no plan set, no licence named like a plan, and no default plan is configured.',
                  HINT = 'Call jobspy.set_user_plan(), or configure one with jobspy.config_set(''quotas.default_plan'', ''"code"'').';
    END IF;
    IF w.period IS NULL AND NOT EXISTS (SELECT FROM jobspy.plan_quotas q WHERE q.metric = $2) THEN
        RAISE EXCEPTION 'unknown metric "%"', left($2, 100)
            USING ERRCODE = 'JS402', DETAIL = 'No plan defines a quota for this metric.',
                  HINT = 'Define it with jobspy.set_plan_quota().';
    END IF;
    plan_id := w.plan_id; period := w.period; quota_limit := w.quota_limit;
    period_start := w.period_start; period_end := w.period_end;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION jobspy.quota_resolve(uuid, text, timestamptz) IS
    'internal: the quota window of a call; raises 22023 (unknown user), JS403 (inactive user), JS401 (no plan), JS402 (unknown metric)';

-- The one implementation behind consume_quota and reserve_quota.
-- op 'consume' adds to used and writes a usage record; op 'reserve' adds
-- to reserved and writes a reservation.  Either only when the counter,
-- locked by the UPDATE, has room: used + reserved + amount <= limit.
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
    w        record;
    k        record;
    c_used   bigint;
    c_res    bigint;
    v_rid    uuid;
    v_ok     boolean;
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

    SELECT * INTO w FROM jobspy.quota_resolve(v_user, v_metric, v_now);

    -- An unlimited plan never refuses, so only the counter's range bounds
    -- it: one call takes at most 10^12 units there, and no single call can
    -- fill the counter (it would then refuse every later call).
    IF w.quota_limit < 0 AND v_amount > 1000000000000 THEN
        RAISE EXCEPTION 'amount % is more than one call may take on an unlimited plan', v_amount
            USING ERRCODE = '22023', DETAIL = 'One call takes at most 1000000000000 units of a metric without a limit.';
    END IF;

    IF w.period IS NULL THEN
        -- The plan in force does not include this metric: none of it.
        v_ok := false; c_used := 0; c_res := 0; w.quota_limit := 0;
    ELSE
        FOR attempt IN 1..2 LOOP
            IF op = 'consume' THEN
                UPDATE jobspy.quota_counters c SET used = c.used + v_amount
                 WHERE c.user_id = v_user AND c.metric = v_metric AND c.period = w.period
                   AND c.period_start = w.period_start
                   AND (w.quota_limit < 0 OR v_amount <= w.quota_limit - c.used - c.reserved)
                   AND v_amount <= 9223372036854775807 - c.used - c.reserved
                RETURNING c.used, c.reserved INTO c_used, c_res;
            ELSE
                UPDATE jobspy.quota_counters c SET reserved = c.reserved + v_amount
                 WHERE c.user_id = v_user AND c.metric = v_metric AND c.period = w.period
                   AND c.period_start = w.period_start
                   AND (w.quota_limit < 0 OR v_amount <= w.quota_limit - c.used - c.reserved)
                   AND v_amount <= 9223372036854775807 - c.used - c.reserved
                RETURNING c.used, c.reserved INTO c_used, c_res;
            END IF;
            v_ok := FOUND;
            EXIT WHEN v_ok OR attempt = 2;
            -- No room, or no counter yet for this period: make it (a
            -- concurrent maker wins quietly) and try once more.
            INSERT INTO jobspy.quota_counters AS c (user_id, metric, period, period_start, period_end)
            VALUES (v_user, v_metric, w.period, w.period_start, w.period_end)
            ON CONFLICT DO NOTHING;
        END LOOP;
        IF NOT v_ok THEN
            SELECT c.used, c.reserved INTO c_used, c_res FROM jobspy.quota_counters c
             WHERE c.user_id = v_user AND c.metric = v_metric AND c.period = w.period
               AND c.period_start = w.period_start;
            IF w.quota_limit < 0 THEN
                -- Without a limit the only refusal is the counter's range.
                RAISE EXCEPTION 'amount % would carry the usage counter past its largest value', v_amount
                    USING ERRCODE = '22023',
                          DETAIL = format('The counter of "%s" holds %s used and %s reserved this period.',
                                          left(v_metric, 100), c_used, c_res);
            END IF;
        ELSIF op = 'consume' THEN
            IF v_key IS NOT NULL OR cost IS NOT NULL OR metadata IS NOT NULL
               OR current_setting('jobspy.quota_usage_records', true) = 'all' THEN
                -- A cost is in the currency of the plan that granted it.
                INSERT INTO jobspy.usage_records (user_id, metric, amount, cost, currency, idempotency_key,
                                                  metadata, created_at)
                VALUES (v_user, v_metric, v_amount, cost,
                        CASE WHEN cost IS NOT NULL THEN (SELECT p.currency FROM jobspy.plans p WHERE p.id = w.plan_id) END,
                        v_key, coalesce(metadata, '{}'), v_now);
            END IF;
        ELSE
            INSERT INTO jobspy.quota_reservations AS r
                   (user_id, metric, period, period_start, quota_limit, amount, idempotency_key, expires_at)
            VALUES (v_user, v_metric, w.period, w.period_start, w.quota_limit, v_amount, v_key, v_now + ttl)
            RETURNING r.id INTO v_rid;
        END IF;
    END IF;

    reservation_id := v_rid;
    allowed := v_ok;
    used := c_used;
    quota_limit := CASE WHEN w.quota_limit >= 0 THEN w.quota_limit END;
    remaining := CASE WHEN w.quota_limit >= 0 THEN greatest(w.quota_limit - c_used - c_res, 0) END;
    period_start := CASE WHEN w.period IS DISTINCT FROM 'lifetime' THEN w.period_start END;
    resets_at := CASE WHEN w.period IS DISTINCT FROM 'lifetime' THEN w.period_end END;

    -- A denial consumes nothing but is remembered (seed 003's usage events).
    IF NOT v_ok THEN
        PERFORM jobspy.usage_event_denied(v_user, v_metric, v_amount, c_used, w.quota_limit);
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
    'internal: check-and-take for consume_quota (op consume) and reserve_quota (op reserve)';

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

CREATE FUNCTION jobspy.consume_quota(user_id uuid, metric text, amount bigint, idempotency_key text,
                                     cost numeric, metadata jsonb DEFAULT NULL)
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
COMMENT ON FUNCTION jobspy.consume_quota(uuid, text, bigint, text, numeric, jsonb) IS
    'consume_quota that also records a cost (minor units) and metadata on the usage record';

CREATE FUNCTION jobspy.quota_status(user_id uuid, metric text)
    RETURNS jobspy.quota_answer
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r      jobspy.quota_answer;
    w      record;
    c_used bigint := 0;
    c_res  bigint := 0;
BEGIN
    PERFORM jobspy.quota_check_args($1, $2, 1, NULL);
    SELECT * INTO w FROM jobspy.quota_resolve($1, $2, jobspy.now());
    IF w.period IS NULL THEN
        RETURN ROW(false, 0, 0, 0, NULL, NULL)::jobspy.quota_answer;
    END IF;
    SELECT c.used, c.reserved INTO c_used, c_res FROM jobspy.quota_counters c
     WHERE c.user_id = $1 AND c.metric = $2 AND c.period = w.period AND c.period_start = w.period_start;
    c_used := coalesce(c_used, 0);
    c_res := coalesce(c_res, 0);
    r.allowed := w.quota_limit < 0 OR c_used + c_res < w.quota_limit;
    r.used := c_used;
    r.quota_limit := CASE WHEN w.quota_limit >= 0 THEN w.quota_limit END;
    r.remaining := CASE WHEN w.quota_limit >= 0 THEN greatest(w.quota_limit - c_used - c_res, 0) END;
    r.period_start := CASE WHEN w.period <> 'lifetime' THEN w.period_start END;
    r.resets_at := CASE WHEN w.period <> 'lifetime' THEN w.period_end END;
    RETURN r;
END
$$;
COMMENT ON FUNCTION jobspy.quota_status(uuid, text) IS
    'the quota answer for a user''s metric without consuming: allowed is whether one more unit would be granted now';

-- ---- reservations -----------------------------------------------------

CREATE FUNCTION jobspy.reserve_quota(user_id uuid, metric text, amount bigint,
                                     ttl interval DEFAULT interval '15 minutes',
                                     idempotency_key text DEFAULT NULL)
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
    c_used bigint;
    c_res  bigint;
    v_now  timestamptz := jobspy.now();
    v_end  timestamptz;
    v_currency text;
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
    SELECT * INTO r FROM jobspy.quota_reservations x WHERE x.id = $1 FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown reservation %', $1 USING ERRCODE = '22023';
    END IF;
    IF r.status = 'settled' AND r.actual_amount = $2 THEN
        -- A repeated settlement: nothing more is counted.
        SELECT c.used, c.reserved, c.period_end INTO c_used, c_res, v_end FROM jobspy.quota_counters c
         WHERE c.user_id = r.user_id AND c.metric = r.metric AND c.period = r.period
           AND c.period_start = r.period_start;
    ELSIF r.status <> 'held' THEN
        IF r.status = 'settled' THEN
            RAISE EXCEPTION 'reservation is settled'
                USING ERRCODE = '55000',
                      DETAIL = format('It was settled with %s; a settlement is final.', r.actual_amount);
        END IF;
        RAISE EXCEPTION 'reservation is %', r.status
            USING ERRCODE = '55000', DETAIL = 'Its amount was released.',
                  HINT = 'Record the usage with jobspy.consume_quota().';
    ELSE
        -- The actual amount is recorded even past the limit: the usage
        -- has happened; the reservation was the gate.
        -- used + reserved stays within bigint, as consumption keeps it.
        UPDATE jobspy.quota_counters c SET used = c.used + $2, reserved = c.reserved - r.amount
         WHERE c.user_id = r.user_id AND c.metric = r.metric AND c.period = r.period
           AND c.period_start = r.period_start
           AND $2 <= 9223372036854775807 - c.used - (c.reserved - r.amount)
        RETURNING c.used, c.reserved, c.period_end INTO c_used, c_res, v_end;
        IF NOT FOUND THEN
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
    allowed := r.quota_limit < 0 OR c_used + c_res <= r.quota_limit;
    used := c_used;
    quota_limit := CASE WHEN r.quota_limit >= 0 THEN r.quota_limit END;
    remaining := CASE WHEN r.quota_limit >= 0 THEN greatest(r.quota_limit - c_used - c_res, 0) END;
    period_start := CASE WHEN r.period <> 'lifetime' THEN r.period_start END;
    resets_at := CASE WHEN r.period <> 'lifetime' THEN v_end END;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION jobspy.settle_reservation(uuid, bigint, numeric, jsonb) IS
    'settles a held reservation with the actual amount (recorded even past the limit) and writes the usage record; allowed says whether the counter stays within its limit';

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
    SELECT * INTO r FROM jobspy.quota_reservations x WHERE x.id = $1 FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown reservation %', $1 USING ERRCODE = '22023';
    END IF;
    IF r.status = 'settled' THEN
        RAISE EXCEPTION 'reservation is settled' USING ERRCODE = '55000';
    END IF;
    IF r.status <> 'held' THEN
        RETURN false;
    END IF;
    UPDATE jobspy.quota_counters c SET reserved = c.reserved - r.amount
     WHERE c.user_id = r.user_id AND c.metric = r.metric AND c.period = r.period
       AND c.period_start = r.period_start;
    UPDATE jobspy.quota_reservations x SET status = 'cancelled'
     WHERE x.user_id = r.user_id AND x.id = r.id;
    RETURN true;
END
$$;
COMMENT ON FUNCTION jobspy.cancel_reservation(uuid) IS
    'releases a held reservation; true when released now, false when it was already cancelled or expired';

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
        SELECT x.user_id, x.id FROM jobspy.quota_reservations x
         WHERE x.status = 'held' AND x.expires_at <= jobspy.now()
         ORDER BY x.user_id, x.id
           FOR UPDATE SKIP LOCKED),
    released AS (
        UPDATE jobspy.quota_reservations x SET status = 'expired'
          FROM expired e WHERE x.user_id = e.user_id AND x.id = e.id
        RETURNING x.user_id, x.metric, x.period, x.period_start, x.amount),
    totals AS (
        SELECT r.user_id, r.metric, r.period, r.period_start, sum(r.amount) AS amount
          FROM released r GROUP BY 1, 2, 3, 4),
    counted AS (
        UPDATE jobspy.quota_counters c SET reserved = c.reserved - t.amount
          FROM totals t
         WHERE c.user_id = t.user_id AND c.metric = t.metric AND c.period = t.period
           AND c.period_start = t.period_start
        RETURNING 1)
    SELECT count(*) INTO n FROM released;
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
    SELECT p.id INTO v_plan FROM jobspy.plans p WHERE p.code = $1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown plan "%"', left($1, 50) USING ERRCODE = '22023';
    END IF;
    IF $2 !~ '^[a-z][a-z0-9_.:-]{0,99}$' THEN
        RAISE EXCEPTION 'invalid metric "%"', left($2, 100)
            USING ERRCODE = '22023',
                  DETAIL = 'A metric is 1 to 100 lower-case letters, digits, "_", ".", ":" or "-", starting with a letter.';
    END IF;
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
       SET period = excluded.period, quota_limit = excluded.quota_limit
     WHERE (q.period, q.quota_limit) IS DISTINCT FROM (excluded.period, excluded.quota_limit);
END
$$;
COMMENT ON FUNCTION jobspy.set_plan_quota(text, text, text, bigint) IS
    'sets a plan''s limit on a metric per period (day, week, month, year, lifetime); -1 is unlimited; audited';

CREATE FUNCTION jobspy.remove_plan_quota(plan_code text, metric text) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM jobspy.plans p WHERE p.code = $1) THEN
        RAISE EXCEPTION 'unknown plan "%"', left($1, 50) USING ERRCODE = '22023';
    END IF;
    DELETE FROM jobspy.plan_quotas q USING jobspy.plans p
     WHERE p.code = $1 AND q.plan_id = p.id AND q.metric = $2;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION jobspy.remove_plan_quota(text, text) IS
    'removes a plan''s quota on a metric (the plan then grants none of it); false when there was none';

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
    jobspy.quota_lookup(uuid, text, timestamptz), jobspy.quota_check_args(uuid, text, bigint, text),
    jobspy.quota_resolve(uuid, text, timestamptz),
    jobspy.quota_take(text, uuid, text, bigint, text, interval, numeric, jsonb),
    jobspy.consume_quota(uuid, text, bigint, text),
    jobspy.consume_quota(uuid, text, bigint, text, numeric, jsonb),
    jobspy.quota_status(uuid, text),
    jobspy.reserve_quota(uuid, text, bigint, interval, text),
    jobspy.settle_reservation(uuid, bigint, numeric, jsonb),
    jobspy.cancel_reservation(uuid), jobspy.maintain_quotas(),
    jobspy.create_plan(text, text, text, bigint, bigint, text, jsonb, boolean, boolean, integer),
    jobspy.set_plan_quota(text, text, text, bigint), jobspy.remove_plan_quota(text, text),
    jobspy.set_user_plan(uuid, text), jobspy.plan_in_force(uuid),
    jobspy.features_include(jsonb, text), jobspy.has_feature(uuid, text),
    jobspy.user_attributes(uuid), jobspy.rollout_bucket(text, uuid), jobspy.feature_enabled(text, uuid)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    jobspy.consume_quota(uuid, text, bigint, text),
    jobspy.consume_quota(uuid, text, bigint, text, numeric, jsonb),
    jobspy.quota_status(uuid, text),
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
    jobspy.user_attributes(uuid), jobspy.maintain_quotas()
  TO jobspy_admin;
REVOKE ALL ON jobspy.plans, jobspy.plan_quotas, jobspy.user_plans, jobspy.quota_counters,
    jobspy.usage_records, jobspy.usage_records_default, jobspy.quota_idempotency, jobspy.quota_reservations
  FROM PUBLIC;
GRANT SELECT ON jobspy.plans, jobspy.plan_quotas, jobspy.user_plans, jobspy.quota_counters,
    jobspy.usage_records, jobspy.quota_idempotency, jobspy.quota_reservations
  TO jobspy_admin;

