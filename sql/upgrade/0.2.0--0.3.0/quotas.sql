\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- 0.2.0 -> 0.3.0: quotas.  quota_take also records each denial as a usage
-- event (jobspy.usage_event_denied, in quotas_metering, which runs after this).

-- The plan in force for a user at a time: the live subscription's plan
-- (by code = subscriptions.plan_type; a live subscription decides alone,
-- so a plan_type no plan has leaves no plan), else the one set with
-- set_user_plan, else the plan named by the type of the user's licence
-- (jobspy.user_license: highest tier, then latest issued), else the
-- configured default.  anchor is the live subscription's current period
-- start, whichever plan is in force: a subscriber's months follow the
-- billing period.  Decided in C (src/quotas.c, plan_in_force), the one
-- place the precedence is written; consume_quota's lookup uses the same.
CREATE OR REPLACE FUNCTION jobspy.quota_plan_of(user_id uuid, at timestamptz)
    RETURNS TABLE (user_status text, timezone text, plan_id uuid, source text, anchor timestamptz)
    LANGUAGE c STABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_quota_plan_of';

CREATE OR REPLACE FUNCTION jobspy.quota_resolve(user_id uuid, metric text, at timestamptz)
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

-- An unlimited plan never locks a user out: one call takes at most 10^12
-- units there, and a call that would carry the counter past the bigint
-- range is refused with 22023 (it raised 22003 on every later call).
CREATE OR REPLACE FUNCTION jobspy.quota_take(op text, user_id uuid, metric text, amount bigint, idempotency_key text,
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

-- A cost is recorded with the currency of the user's plan.
CREATE OR REPLACE FUNCTION jobspy.settle_reservation(reservation_id uuid, actual_amount bigint,
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
        UPDATE jobspy.quota_counters c SET used = c.used + $2, reserved = c.reserved - r.amount
         WHERE c.user_id = r.user_id AND c.metric = r.metric AND c.period = r.period
           AND c.period_start = r.period_start
        RETURNING c.used, c.reserved, c.period_end INTO c_used, c_res, v_end;
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
COMMENT ON TABLE jobspy.usage_records IS
    'usage ledger: each granted consumption (amount, cost in minor units in the currency of the user''s plan, metadata), partitioned by month';
