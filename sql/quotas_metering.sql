\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- quotas_metering: metered AI usage (seed 004): providers with their
-- request and token limits per minute, model prices by effective date, and
-- one row per completion with its exact cost, which consumes the user's
-- token quota and which billing turns into metered invoice lines.

CREATE TABLE jobspy.ai_providers (
    code                text PRIMARY KEY CHECK (code ~ '^[a-z0-9][a-z0-9_.-]{0,49}$'),
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    requests_per_minute integer CHECK (requests_per_minute > 0),
    tokens_per_minute   integer CHECK (tokens_per_minute > 0),
    is_active           boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT jobspy.now(),
    updated_at          timestamptz NOT NULL DEFAULT jobspy.now()
);
COMMENT ON TABLE jobspy.ai_providers IS
    'AI model providers (seed 004 aiProviders) and the requests and tokens per minute the account with each may use; NULL is no limit';
CREATE TRIGGER ai_providers_updated_at BEFORE UPDATE ON jobspy.ai_providers
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
CREATE TRIGGER ai_providers_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.ai_providers
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
SELECT pg_catalog.pg_extension_config_dump('jobspy.ai_providers', '');

-- Prices are minor units of the currency per million tokens, exact numeric
-- (0.015 dollars per million input tokens is 1.5 cents).  A model's prices
-- never overlap in time: set_model_price ends the open one.
CREATE TABLE jobspy.model_prices (
    provider                 text NOT NULL REFERENCES jobspy.ai_providers (code),
    model                    text NOT NULL CHECK (length(model) BETWEEN 1 AND 200),
    effective_from           timestamptz NOT NULL,
    effective_to             timestamptz,
    currency                 text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    input_price_per_million  numeric NOT NULL CHECK (input_price_per_million >= 0),
    output_price_per_million numeric NOT NULL CHECK (output_price_per_million >= 0),
    created_at               timestamptz NOT NULL DEFAULT jobspy.now(),
    PRIMARY KEY (provider, model, effective_from),
    CHECK (effective_to > effective_from)
);
COMMENT ON TABLE jobspy.model_prices IS
    'price per provider and model from effective_from until effective_to (NULL: until replaced): minor units per million input and output tokens';
CREATE TRIGGER model_prices_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.model_prices
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
SELECT pg_catalog.pg_extension_config_dump('jobspy.model_prices', '');

-- One row per completion (seed 004 tokenUsage).  No foreign key to users,
-- as the usage ledger: billing history outlives accounts.  The price
-- applied is copied, so a row explains its own cost.  invoice_line_id is
-- set by billing when the row is billed.
CREATE TABLE jobspy.token_usage (
    user_id                  uuid NOT NULL,
    id                       uuid NOT NULL DEFAULT jobspy.uuid_v7(),
    provider                 text NOT NULL,
    model                    text NOT NULL,
    prompt_tokens            bigint NOT NULL CHECK (prompt_tokens >= 0),
    completion_tokens        bigint NOT NULL CHECK (completion_tokens >= 0),
    total_tokens             bigint GENERATED ALWAYS AS (prompt_tokens + completion_tokens) STORED,
    currency                 text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    input_price_per_million  numeric NOT NULL,
    output_price_per_million numeric NOT NULL,
    cost                     numeric NOT NULL CHECK (cost >= 0),
    metric                   text NOT NULL,
    quota_allowed            boolean NOT NULL,
    conversation_id          uuid,
    message_id               uuid,
    idempotency_key          text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    invoice_line_id          uuid,
    created_at               timestamptz NOT NULL DEFAULT jobspy.now(),
    -- The writing transaction: analytics rolls each row up exactly once by it.
    xact                     xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    PRIMARY KEY (user_id, id),
    UNIQUE (user_id, idempotency_key)
);
COMMENT ON TABLE jobspy.token_usage IS
    'each completion: tokens, the price applied and its exact cost in minor units (numeric), whether the token quota granted it; billing reads it for metered invoice lines';
CREATE INDEX token_usage_created_idx ON jobspy.token_usage (user_id, created_at);
CREATE INDEX token_usage_conversation_idx ON jobspy.token_usage (conversation_id) WHERE conversation_id IS NOT NULL;
CREATE INDEX token_usage_unbilled_idx ON jobspy.token_usage (created_at) WHERE invoice_line_id IS NULL;
CREATE INDEX token_usage_xact_idx ON jobspy.token_usage (xact);
SELECT pg_catalog.pg_extension_config_dump('jobspy.token_usage', '');

ALTER TABLE jobspy.token_usage ENABLE ROW LEVEL SECURITY;
CREATE POLICY token_usage_own ON jobspy.token_usage USING (user_id = jobspy.current_row_user());
CREATE POLICY token_usage_admin_read ON jobspy.token_usage FOR SELECT TO jobspy_admin USING (true);

-- ---- management ---------------------------------------------------------

CREATE FUNCTION jobspy.set_ai_provider(code text, name text, requests_per_minute integer DEFAULT NULL,
                                       tokens_per_minute integer DEFAULT NULL, is_active boolean DEFAULT true)
    RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF $1 IS NULL OR $1 !~ '^[a-z0-9][a-z0-9_.-]{0,49}$' THEN
        RAISE EXCEPTION 'invalid provider code' USING ERRCODE = '22023',
            DETAIL = 'A provider code is 1 to 50 lower-case letters, digits, "_", "." or "-".';
    END IF;
    IF $2 IS NULL OR length($2) NOT BETWEEN 1 AND 100 THEN
        RAISE EXCEPTION 'provider name must be 1 to 100 characters' USING ERRCODE = '22023';
    END IF;
    IF $3 <= 0 OR $4 <= 0 THEN
        RAISE EXCEPTION 'limits per minute must be positive, or NULL for none' USING ERRCODE = '22023';
    END IF;
    INSERT INTO jobspy.ai_providers AS p (code, name, requests_per_minute, tokens_per_minute, is_active)
    VALUES ($1, $2, $3, $4, coalesce($5, true))
    ON CONFLICT ON CONSTRAINT ai_providers_pkey DO UPDATE
       SET name = excluded.name, requests_per_minute = excluded.requests_per_minute,
           tokens_per_minute = excluded.tokens_per_minute, is_active = excluded.is_active;
END
$$;
COMMENT ON FUNCTION jobspy.set_ai_provider(text, text, integer, integer, boolean) IS
    'creates or updates an AI provider and its limits per minute (NULL: none)';

CREATE FUNCTION jobspy.set_model_price(provider text, model text, input_price_per_million numeric,
                                       output_price_per_million numeric, currency text,
                                       effective_from timestamptz DEFAULT NULL,
                                       effective_to timestamptz DEFAULT NULL)
    RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_from timestamptz := coalesce($6, jobspy.now());
BEGIN
    IF $1 IS NULL OR $2 IS NULL OR length($2) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'provider and model (1 to 200 characters) are required' USING ERRCODE = '22023';
    END IF;
    IF $3 IS NULL OR $4 IS NULL OR $3 < 0 OR $4 < 0 OR $3 = 'NaN' OR $4 = 'NaN' THEN
        RAISE EXCEPTION 'prices must be numbers of zero or more' USING ERRCODE = '22023',
            DETAIL = 'Prices are minor units of the currency per million tokens.';
    END IF;
    IF $5 IS NULL OR $5 !~ '^[A-Z]{3}$' THEN
        RAISE EXCEPTION 'currency must be a three-letter ISO 4217 code in capitals' USING ERRCODE = '22023';
    END IF;
    IF $7 <= v_from THEN
        RAISE EXCEPTION 'a price must end after it starts' USING ERRCODE = '22023';
    END IF;
    -- The provider row lock orders concurrent price changes of its models.
    PERFORM FROM jobspy.ai_providers p WHERE p.code = $1 FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'AI provider "%" does not exist', left($1, 50) USING ERRCODE = '22023',
            HINT = 'Create it with jobspy.set_ai_provider.';
    END IF;
    -- An open price that started earlier ends where this one starts.
    UPDATE jobspy.model_prices m SET effective_to = v_from
     WHERE m.provider = $1 AND m.model = $2 AND m.effective_from < v_from AND m.effective_to IS NULL;
    IF EXISTS (SELECT FROM jobspy.model_prices m
                WHERE m.provider = $1 AND m.model = $2
                  AND tstzrange(m.effective_from, m.effective_to) && tstzrange(v_from, $7)) THEN
        RAISE EXCEPTION 'the price of % % would overlap another', $1, left($2, 200) USING ERRCODE = '23P01',
            DETAIL = 'A model has one price at a time; only an open-ended earlier price is ended automatically.';
    END IF;
    INSERT INTO jobspy.model_prices (provider, model, effective_from, effective_to, currency,
                                     input_price_per_million, output_price_per_million)
    VALUES ($1, $2, v_from, $7, $5, $3, $4);
END
$$;
COMMENT ON FUNCTION jobspy.set_model_price(text, text, numeric, numeric, text, timestamptz, timestamptz) IS
    'sets a model''s price (minor units per million input and output tokens) from effective_from (default now) to effective_to (default open), ending the open earlier price; 23P01 on overlap';

CREATE FUNCTION jobspy.model_price_at(provider text, model text, at timestamptz DEFAULT NULL)
    RETURNS jobspy.model_prices
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT m.* FROM jobspy.model_prices m
     WHERE m.provider = $1 AND m.model = $2
       AND m.effective_from <= coalesce($3, jobspy.now())
       AND (m.effective_to IS NULL OR m.effective_to > coalesce($3, jobspy.now()))
$$;
COMMENT ON FUNCTION jobspy.model_price_at(text, text, timestamptz) IS
    'the price of a model in force at a time (default now), or a row of NULLs when it has none';

-- ---- recording usage ----------------------------------------------------

CREATE TYPE jobspy.token_usage_answer AS (usage_id uuid, allowed boolean, cost numeric, currency text,
                                          used bigint, quota_limit bigint, remaining bigint,
                                          resets_at timestamptz, replayed boolean);
COMMENT ON TYPE jobspy.token_usage_answer IS 'the answer of record_token_usage';

CREATE FUNCTION jobspy.record_token_usage(user_id uuid, provider text, model text,
                                          prompt_tokens bigint, completion_tokens bigint,
                                          conversation_id uuid DEFAULT NULL, message_id uuid DEFAULT NULL,
                                          idempotency_key text DEFAULT NULL, metric text DEFAULT 'ai.tokens')
    RETURNS jobspy.token_usage_answer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    p    jobspy.model_prices;
    q    jobspy.quota_answer;
    u    jobspy.token_usage;
    v_id uuid;
BEGIN
    IF $1 IS NULL OR $2 IS NULL OR $3 IS NULL OR $9 IS NULL THEN
        RAISE EXCEPTION 'user, provider, model and metric are required' USING ERRCODE = '22023';
    END IF;
    IF $4 IS NULL OR $5 IS NULL OR $4 < 0 OR $5 < 0 OR ($4 = 0 AND $5 = 0)
       OR $4 > 1000000000000000 OR $5 > 1000000000000000 THEN
        RAISE EXCEPTION 'token counts must be from 0 to 10^15, and not both zero' USING ERRCODE = '22023';
    END IF;
    IF length($8) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'idempotency key must be 1 to 200 characters' USING ERRCODE = '22023';
    END IF;
    p := jobspy.model_price_at($2, $3, jobspy.now());
    IF p.provider IS NULL THEN
        RAISE EXCEPTION 'no price for model "%" of provider "%" at %', left($3, 200), left($2, 50), jobspy.now()
            USING ERRCODE = 'JS410', HINT = 'Set one with jobspy.set_model_price; the call can then be repeated.';
    END IF;
    -- The row first: a concurrent call with the same key waits here for
    -- this one and then replays it.
    INSERT INTO jobspy.token_usage AS t (user_id, provider, model, prompt_tokens, completion_tokens, currency,
                                         input_price_per_million, output_price_per_million, cost, metric,
                                         quota_allowed, conversation_id, message_id, idempotency_key)
    VALUES ($1, $2, $3, $4, $5, p.currency, p.input_price_per_million, p.output_price_per_million,
            -- exact: multiplying by 0.000001 never rounds, where dividing may
            ($4 * p.input_price_per_million + $5 * p.output_price_per_million) * 0.000001,
            $9, false, $6, $7, $8)
    ON CONFLICT ON CONSTRAINT token_usage_user_id_idempotency_key_key DO NOTHING
    RETURNING t.id INTO v_id;
    IF v_id IS NULL THEN
        SELECT * INTO u FROM jobspy.token_usage t WHERE t.user_id = $1 AND t.idempotency_key = $8;
        IF (u.provider, u.model, u.prompt_tokens, u.completion_tokens, u.metric,
            u.conversation_id IS NOT DISTINCT FROM $6, u.message_id IS NOT DISTINCT FROM $7)
           IS DISTINCT FROM ($2, $3, $4, $5, $9, true, true) THEN
            RAISE EXCEPTION 'idempotency key was already used for another completion' USING ERRCODE = 'JS404',
                DETAIL = 'A replay must repeat the provider, model, token counts, metric and ids of the first call.';
        END IF;
        q := jobspy.quota_status($1, u.metric);
        RETURN ROW(u.id, u.quota_allowed, u.cost, u.currency, q.used, q.quota_limit, q.remaining,
                   q.resets_at, true)::jobspy.token_usage_answer;
    END IF;
    q := jobspy.consume_quota($1, $9, $4 + $5,
                              CASE WHEN $8 IS NOT NULL THEN 'token_usage:' || $8 END);
    UPDATE jobspy.token_usage t SET quota_allowed = q.allowed WHERE t.user_id = $1 AND t.id = v_id
    RETURNING * INTO u;
    RETURN ROW(u.id, q.allowed, u.cost, u.currency, q.used, q.quota_limit, q.remaining, q.resets_at,
               false)::jobspy.token_usage_answer;
END
$$;
COMMENT ON FUNCTION jobspy.record_token_usage(uuid, text, text, bigint, bigint, uuid, uuid, text, text) IS
    'records a completion''s tokens at the model''s price in force (exact numeric cost, minor units) and consumes them from the token quota; a denied consumption is still recorded (the tokens were spent) with allowed false; an idempotency key replays';

-- Per-provider limits through the shared-memory limiter: a request must
-- fit both the requests and the tokens per minute, or neither is taken.
-- The two buckets are read and taken under one advisory lock per provider
-- (held for the call only, not the transaction: the limiter is not
-- transactional either), let go on every way out of the call.
CREATE FUNCTION jobspy.check_provider_limit(provider text, tokens integer DEFAULT 1)
    RETURNS TABLE (allowed boolean, "window" text, retry_after_ms bigint)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    pr   jobspy.ai_providers;
    lock bigint;
    locked boolean := false;
    rq   jobspy.rate_limit_result;
    tk   jobspy.rate_limit_result;
BEGIN
    SELECT * INTO pr FROM jobspy.ai_providers p WHERE p.code = $1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'AI provider "%" does not exist', left($1, 50) USING ERRCODE = '22023';
    END IF;
    IF $2 IS NULL OR $2 < 0 THEN
        RAISE EXCEPTION 'tokens must be zero or more' USING ERRCODE = '22023';
    END IF;
    IF $2 > pr.tokens_per_minute THEN
        RAISE EXCEPTION 'a request of % tokens can never fit % tokens per minute', $2, pr.tokens_per_minute
            USING ERRCODE = '22023', HINT = 'Split the request, or raise the provider''s tokens_per_minute.';
    END IF;
    lock := ('x' || left(md5('jobspy.ai_provider:' || pr.code), 15))::bit(60)::bigint;
    -- The lock is a session lock, so that it is not held for the rest of
    -- the caller's transaction; locked is set before it is taken and
    -- cleared after it is let go, so that an error or a cancel (which
    -- OTHERS does not catch) anywhere in between lets it go too.
    BEGIN
        locked := true;
        PERFORM pg_advisory_lock(lock);
        IF pr.requests_per_minute IS NOT NULL THEN
            rq := jobspy.rate_limit_peek('ai_provider:' || pr.code || ':requests', pr.requests_per_minute - 1,
                                         pr.requests_per_minute, interval '1 minute');
        END IF;
        IF pr.tokens_per_minute IS NOT NULL AND $2 > 0 THEN
            tk := jobspy.rate_limit_peek('ai_provider:' || pr.code || ':tokens', pr.tokens_per_minute - 1,
                                         pr.tokens_per_minute, interval '1 minute');
        END IF;
        IF rq.remaining < 1 THEN
            allowed := false; "window" := 'requests_per_minute';
            retry_after_ms := greatest(rq.retry_after_ms, 1);
        ELSIF tk.remaining < $2 THEN
            allowed := false; "window" := 'tokens_per_minute';
            -- the time for the missing tokens to drip back
            retry_after_ms := ceil(($2 - tk.remaining) * 60000.0 / pr.tokens_per_minute)::bigint;
        ELSE
            allowed := true; retry_after_ms := -1;
            IF rq.remaining IS NOT NULL THEN
                PERFORM jobspy.rate_limit('ai_provider:' || pr.code || ':requests', pr.requests_per_minute - 1,
                                          pr.requests_per_minute, interval '1 minute', 1);
            END IF;
            IF tk.remaining IS NOT NULL THEN
                PERFORM jobspy.rate_limit('ai_provider:' || pr.code || ':tokens', pr.tokens_per_minute - 1,
                                          pr.tokens_per_minute, interval '1 minute', $2);
            END IF;
        END IF;
        PERFORM pg_advisory_unlock(lock);
        locked := false;
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        IF locked THEN
            -- (cancelled while waiting for the lock: not held, nothing to let go)
            PERFORM pg_advisory_unlock(lock) FROM pg_locks l
              WHERE l.locktype = 'advisory' AND l.pid = pg_backend_pid() AND l.granted
                AND l.classid = (lock >> 32)::oid AND l.objid = (lock & 4294967295)::oid AND l.objsubid = 1;
        END IF;
        RAISE;
    END;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION jobspy.check_provider_limit(text, integer) IS
    'takes one request and tokens from the provider''s per-minute limits, both or neither; names the window that refused and when to retry';

-- ---- billing ------------------------------------------------------------

-- What billing turns into metered invoice lines: the period's usage per
-- provider, model and currency, the cost summed exactly and rounded once,
-- half up, to whole minor units (amount) for add_invoice_line.
CREATE FUNCTION jobspy.metered_token_lines(user_id uuid, period_start timestamptz, period_end timestamptz,
                                           unbilled_only boolean DEFAULT true)
    RETURNS TABLE (provider text, model text, currency text, completions bigint, prompt_tokens bigint,
                   completion_tokens bigint, cost numeric, amount bigint)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT t.provider, t.model, t.currency, count(*), sum(t.prompt_tokens)::bigint,
           sum(t.completion_tokens)::bigint, sum(t.cost), round(sum(t.cost))::bigint
      FROM jobspy.token_usage t
     WHERE t.user_id = $1 AND t.created_at >= $2 AND t.created_at < $3
       AND (NOT $4 OR t.invoice_line_id IS NULL)
     GROUP BY t.provider, t.model, t.currency
     ORDER BY t.provider, t.model, t.currency
$$;
COMMENT ON FUNCTION jobspy.metered_token_lines(uuid, timestamptz, timestamptz, boolean) IS
    'a user''s token usage in [period_start, period_end) per provider, model and currency: exact cost and the amount in whole minor units (rounded half up once) for a metered invoice line';

-- ---- usage events (seed 003) ---------------------------------------------

-- What the usage ledger does not show: quota denials, plan (tier) changes
-- and failures the application reports.  Granted usage is in
-- usage_records already and is not repeated here.  Partitioned by month
-- (maintain() makes the partitions; retention.usage_events, null unless
-- configured, drops old ones).
CREATE TABLE jobspy.usage_events (
    user_id     uuid NOT NULL,
    id          uuid NOT NULL DEFAULT jobspy.uuid_v7(),
    event_type  text NOT NULL CHECK (event_type IN ('quota_exceeded', 'tier_change', 'failure')),
    metric      text CHECK (length(metric) BETWEEN 1 AND 100),
    amount      bigint,
    used        bigint,
    quota_limit bigint,
    from_plan   text,
    to_plan     text,
    detail      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(detail) = 'object'),
    occurred_at timestamptz NOT NULL DEFAULT jobspy.now()
) PARTITION BY RANGE (occurred_at);
COMMENT ON TABLE jobspy.usage_events IS
    'usage events beyond granted usage (seed 003): quota_exceeded (a denial: metric, amount asked, used, limit), tier_change (from_plan, to_plan), failure (reported by the application)';
CREATE TABLE jobspy.usage_events_default PARTITION OF jobspy.usage_events
    (PRIMARY KEY (user_id, occurred_at, id)) DEFAULT;
INSERT INTO jobspy.config_defaults (key, value, description, value_type, nullable, min_value, max_value, choices) VALUES
    ('retention.usage_events', 'null', 'how long usage_events rows (denials, tier changes, failures) are kept; null keeps them forever', 'interval', true, NULL, NULL, NULL);
CREATE INDEX usage_events_default_type_idx ON jobspy.usage_events_default (event_type, occurred_at);
SELECT pg_catalog.pg_extension_config_dump('jobspy.usage_events_default', '');

-- Called by quota_take when it refuses: the row is written in the
-- caller's transaction, so it stays when the caller commits.
CREATE FUNCTION jobspy.usage_event_denied(user_id uuid, metric text, amount bigint, used bigint,
                                          quota_limit bigint, period text)
    RETURNS void
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
    INSERT INTO jobspy.usage_events (user_id, event_type, metric, amount, used, quota_limit, detail)
    VALUES ($1, 'quota_exceeded', $2, $3, $4, $5, jsonb_strip_nulls(jsonb_build_object('period', $6)))
$$;
COMMENT ON FUNCTION jobspy.usage_event_denied(uuid, text, bigint, bigint, bigint, text) IS
    'internal: records a quota denial as a quota_exceeded usage event, detail naming the refusing window''s period';

CREATE FUNCTION jobspy.usage_event_tier_change() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_from text;
    v_to   text;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        SELECT p.code INTO v_from FROM jobspy.plans p WHERE p.id = OLD.plan_id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        SELECT p.code INTO v_to FROM jobspy.plans p WHERE p.id = NEW.plan_id;
    END IF;
    IF v_from IS DISTINCT FROM v_to THEN
        INSERT INTO jobspy.usage_events (user_id, event_type, from_plan, to_plan)
        VALUES (CASE WHEN TG_OP = 'DELETE' THEN OLD.user_id ELSE NEW.user_id END, 'tier_change', v_from, v_to);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION jobspy.usage_event_tier_change() IS
    'trigger on user_plans: records a change of the plan set for a user as a tier_change usage event';
CREATE TRIGGER user_plans_usage_event AFTER INSERT OR UPDATE OF plan_id OR DELETE ON jobspy.user_plans
    FOR EACH ROW EXECUTE FUNCTION jobspy.usage_event_tier_change();

CREATE FUNCTION jobspy.record_usage_event(user_id uuid, event_type text, metric text DEFAULT NULL,
                                          detail jsonb DEFAULT '{}')
    RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_id uuid;
BEGIN
    IF $1 IS NULL OR NOT EXISTS (SELECT FROM jobspy.users u WHERE u.id = $1) THEN
        RAISE EXCEPTION 'user does not exist' USING ERRCODE = '22023';
    END IF;
    IF $2 IS DISTINCT FROM 'failure' THEN
        RAISE EXCEPTION 'the application records failure events only' USING ERRCODE = '22023',
            DETAIL = 'Denials and tier changes are recorded by the extension itself.';
    END IF;
    IF length($3) NOT BETWEEN 1 AND 100 THEN
        RAISE EXCEPTION 'metric must be 1 to 100 characters' USING ERRCODE = '22023';
    END IF;
    IF $4 IS NULL OR jsonb_typeof($4) <> 'object' THEN
        RAISE EXCEPTION 'detail must be a JSON object' USING ERRCODE = '22023';
    END IF;
    INSERT INTO jobspy.usage_events AS e (user_id, event_type, metric, detail)
    VALUES ($1, $2, $3, $4) RETURNING e.id INTO v_id;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION jobspy.record_usage_event(uuid, text, text, jsonb) IS
    'records a failure the application saw (seed 003 post_failure, relay_error: say which in detail) as a usage event';

-- Row-level security for deployments whose users query directly (seed
-- 003): quota counters, the usage ledger and usage events, beside
-- token_usage above.  ENABLE without FORCE, as identity's tables: the
-- owner, under which consume_quota and every SECURITY DEFINER function
-- run, is not subject to them.
ALTER TABLE jobspy.usage_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY usage_events_own ON jobspy.usage_events USING (user_id = jobspy.current_row_user());
CREATE POLICY usage_events_admin_read ON jobspy.usage_events FOR SELECT TO jobspy_admin USING (true);
ALTER TABLE jobspy.quota_counters ENABLE ROW LEVEL SECURITY;
CREATE POLICY quota_counters_own ON jobspy.quota_counters USING (user_id = jobspy.current_row_user());
CREATE POLICY quota_counters_admin_read ON jobspy.quota_counters FOR SELECT TO jobspy_admin USING (true);
ALTER TABLE jobspy.usage_records ENABLE ROW LEVEL SECURITY;
CREATE POLICY usage_records_own ON jobspy.usage_records USING (user_id = jobspy.current_row_user());
CREATE POLICY usage_records_admin_read ON jobspy.usage_records FOR SELECT TO jobspy_admin USING (true);

REVOKE ALL ON FUNCTION
    jobspy.set_ai_provider(text, text, integer, integer, boolean),
    jobspy.set_model_price(text, text, numeric, numeric, text, timestamptz, timestamptz),
    jobspy.model_price_at(text, text, timestamptz),
    jobspy.record_token_usage(uuid, text, text, bigint, bigint, uuid, uuid, text, text),
    jobspy.check_provider_limit(text, integer),
    jobspy.metered_token_lines(uuid, timestamptz, timestamptz, boolean),
    jobspy.usage_event_denied(uuid, text, bigint, bigint, bigint, text), jobspy.usage_event_tier_change(),
    jobspy.record_usage_event(uuid, text, text, jsonb)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    jobspy.model_price_at(text, text, timestamptz),
    jobspy.record_token_usage(uuid, text, text, bigint, bigint, uuid, uuid, text, text),
    jobspy.check_provider_limit(text, integer),
    jobspy.metered_token_lines(uuid, timestamptz, timestamptz, boolean),
    jobspy.record_usage_event(uuid, text, text, jsonb)
  TO jobspy_app, jobspy_admin;
GRANT EXECUTE ON FUNCTION
    jobspy.set_ai_provider(text, text, integer, integer, boolean),
    jobspy.set_model_price(text, text, numeric, numeric, text, timestamptz, timestamptz)
  TO jobspy_admin;
REVOKE ALL ON jobspy.ai_providers, jobspy.model_prices, jobspy.token_usage, jobspy.usage_events,
    jobspy.usage_events_default FROM PUBLIC;
GRANT SELECT ON jobspy.ai_providers, jobspy.model_prices, jobspy.token_usage, jobspy.usage_events TO jobspy_admin;
