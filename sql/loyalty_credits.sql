\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- loyalty credits: prepaid credit grants spent by priority, then earliest
-- expiry, then age (seed 004 top-ups, Stripe's credit grants).  docs/loyalty.md.

-- ==== prepaid credits (seed 004) ===========================================

CREATE TABLE jobspy.credit_grants (
    user_id      uuid NOT NULL REFERENCES jobspy.users (id) ON DELETE CASCADE,
    id           uuid NOT NULL DEFAULT jobspy.uuid_v7(),
    amount       bigint NOT NULL CHECK (amount > 0),
    remaining    bigint NOT NULL CHECK (remaining >= 0),
    currency     text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    priority     integer NOT NULL DEFAULT 50 CHECK (priority BETWEEN 0 AND 100),
    effective_at timestamptz NOT NULL,
    expires_at   timestamptz,
    reference    text CHECK (length(reference) <= 255),
    created_at   timestamptz NOT NULL DEFAULT jobspy.now(),
    live         boolean NOT NULL GENERATED ALWAYS AS (remaining > 0) STORED,
    PRIMARY KEY (user_id, id),
    CHECK (remaining <= amount),
    CHECK (expires_at > effective_at)
) WITH (fillfactor = 80);
COMMENT ON TABLE jobspy.credit_grants IS
    'prepaid credit grants in minor units: priority (lower first), effective and expiry dates, what remains';
-- Partial on live, not on remaining, as loyalty_grants: a spend that leaves
-- credit in the grant is a HOT update.
CREATE INDEX credit_grants_spend_idx ON jobspy.credit_grants (user_id, currency, priority, expires_at, created_at)
    WHERE live;
SELECT pg_catalog.pg_extension_config_dump('jobspy.credit_grants', '');

CREATE TABLE jobspy.credit_spends (
    user_id         uuid NOT NULL REFERENCES jobspy.users (id) ON DELETE CASCADE,
    idempotency_key text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    amount          bigint NOT NULL CHECK (amount > 0),
    currency        text NOT NULL,
    balance         bigint NOT NULL,
    draws           jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT jobspy.now(),
    PRIMARY KEY (user_id, idempotency_key)
);
COMMENT ON TABLE jobspy.credit_spends IS
    'granted credit spends by idempotency key, with the grants they drew from ({grant id: amount})';
SELECT pg_catalog.pg_extension_config_dump('jobspy.credit_spends', '');

CREATE FUNCTION jobspy.grant_credits(user_id uuid, amount bigint, currency text, priority integer DEFAULT 50,
                                     effective_at timestamptz DEFAULT NULL, expires_at timestamptz DEFAULT NULL,
                                     reference text DEFAULT NULL)
    RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
#variable_conflict use_variable
DECLARE
    id uuid;
BEGIN
    IF amount IS NULL OR amount <= 0 OR currency IS NULL OR currency !~ '^[A-Z]{3}$'
       OR priority IS NULL OR priority NOT BETWEEN 0 AND 100 THEN
        RAISE EXCEPTION 'a credit grant needs a positive amount, an ISO 4217 currency and a priority 0 to 100'
            USING ERRCODE = '22023';
    END IF;
    IF NOT EXISTS (SELECT FROM jobspy.users u WHERE u.id = grant_credits.user_id) THEN
        RAISE EXCEPTION 'unknown user' USING ERRCODE = '22023';
    END IF;
    IF expires_at <= coalesce(effective_at, jobspy.now()) THEN
        RAISE EXCEPTION 'a credit grant must expire after it takes effect' USING ERRCODE = '22023';
    END IF;
    IF length(reference) > 255 THEN
        RAISE EXCEPTION 'a credit grant''s reference is at most 255 characters' USING ERRCODE = '22023';
    END IF;
    -- Under the user's credit lock (spend_credits), so that what the user
    -- holds in a currency, which credit_balance sums, always fits a bigint.
    PERFORM pg_advisory_xact_lock(hashtextextended('jobspy.credits:' || grant_credits.user_id, 0));
    IF (SELECT coalesce(sum(g.remaining), 0) FROM jobspy.credit_grants g
         WHERE g.user_id = grant_credits.user_id AND g.currency = grant_credits.currency AND g.live
           AND (g.expires_at IS NULL OR g.expires_at > jobspy.now())) + amount > 9223372036854775807 THEN
        RAISE EXCEPTION 'a user''s unexpired credits in one currency are at most 9223372036854775807 minor units'
            USING ERRCODE = '22023', HINT = 'Spend some first, or grant less.';
    END IF;
    INSERT INTO jobspy.credit_grants (user_id, amount, remaining, currency, priority, effective_at, expires_at, reference)
    VALUES (user_id, amount, amount, currency, priority, coalesce(effective_at, jobspy.now()), expires_at, reference)
    RETURNING credit_grants.id INTO id;
    RETURN id;
END
$$;
COMMENT ON FUNCTION jobspy.grant_credits(uuid, bigint, text, integer, timestamptz, timestamptz, text) IS
    'grants prepaid credits in minor units: priority 0 to 100 (lower is spent first), effective from effective_at (now), until expires_at (never); 22023 when the user''s unexpired credits in the currency would pass the largest bigint';

CREATE FUNCTION jobspy.credit_balance(user_id uuid, currency text) RETURNS bigint
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT coalesce(sum(g.remaining), 0)::bigint FROM jobspy.credit_grants g
     WHERE g.user_id = $1 AND g.currency = $2 AND g.live
       AND g.effective_at <= jobspy.now() AND (g.expires_at IS NULL OR g.expires_at > jobspy.now())
$$;
COMMENT ON FUNCTION jobspy.credit_balance(uuid, text) IS
    'a user''s spendable credits in a currency at jobspy.now(): effective, unexpired grants';

CREATE FUNCTION jobspy.spend_credits(user_id uuid, amount bigint, currency text, idempotency_key text,
                                     OUT allowed boolean, OUT balance bigint)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
#variable_conflict use_variable
DECLARE
    prev  jobspy.credit_spends;
    g     record;
    need  bigint := amount;
    take  bigint;
    draws jsonb := '{}';
BEGIN
    IF amount IS NULL OR amount <= 0 OR currency IS NULL OR currency !~ '^[A-Z]{3}$'
       OR idempotency_key IS NULL OR length(idempotency_key) NOT BETWEEN 1 AND 255 THEN
        RAISE EXCEPTION 'spend_credits needs a positive amount, an ISO 4217 currency and an idempotency key'
            USING ERRCODE = '22023';
    END IF;
    -- One spender per user at a time, whatever the currency: an idempotency
    -- key is the user's, so a key used at once in two currencies is then
    -- seen by the second spend (JS702), not a unique violation.
    PERFORM pg_advisory_xact_lock(hashtextextended('jobspy.credits:' || spend_credits.user_id, 0));
    SELECT * INTO prev FROM jobspy.credit_spends s
     WHERE s.user_id = spend_credits.user_id AND s.idempotency_key = spend_credits.idempotency_key;
    IF FOUND THEN
        IF prev.amount <> amount OR prev.currency <> currency THEN
            RAISE EXCEPTION 'idempotency key "%" was used for a spend of % %', idempotency_key, prev.amount, prev.currency
                USING ERRCODE = 'JS702', HINT = 'Use a new key for a new spend.';
        END IF;
        allowed := true; balance := prev.balance;
        RETURN;
    END IF;
    balance := jobspy.credit_balance(spend_credits.user_id, currency);
    IF balance < amount THEN
        allowed := false;
        RETURN;
    END IF;
    FOR g IN SELECT cg.id, cg.remaining FROM jobspy.credit_grants cg
              WHERE cg.user_id = spend_credits.user_id AND cg.currency = spend_credits.currency AND cg.live
                AND cg.effective_at <= jobspy.now() AND (cg.expires_at IS NULL OR cg.expires_at > jobspy.now())
              ORDER BY cg.priority, cg.expires_at NULLS LAST, cg.created_at, cg.id
    LOOP
        EXIT WHEN need = 0;
        take := least(need, g.remaining);
        UPDATE jobspy.credit_grants cg SET remaining = cg.remaining - take
         WHERE cg.user_id = spend_credits.user_id AND cg.id = g.id;
        draws := draws || jsonb_build_object(g.id::text, take);
        need := need - take;
    END LOOP;
    allowed := true;
    balance := balance - amount;
    INSERT INTO jobspy.credit_spends (user_id, idempotency_key, amount, currency, balance, draws)
    VALUES (spend_credits.user_id, idempotency_key, amount, currency, balance, draws);
END
$$;
COMMENT ON FUNCTION jobspy.spend_credits(uuid, bigint, text, text) IS
    'spends prepaid credits by priority, then earliest expiry, then oldest grant; denied (nothing taken) when short; idempotent on the key';

REVOKE ALL ON jobspy.credit_grants, jobspy.credit_spends FROM PUBLIC;
GRANT SELECT ON jobspy.credit_grants, jobspy.credit_spends TO jobspy_admin;
REVOKE ALL ON FUNCTION
    jobspy.grant_credits(uuid, bigint, text, integer, timestamptz, timestamptz, text),
    jobspy.credit_balance(uuid, text), jobspy.spend_credits(uuid, bigint, text, text)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    jobspy.grant_credits(uuid, bigint, text, integer, timestamptz, timestamptz, text),
    jobspy.credit_balance(uuid, text), jobspy.spend_credits(uuid, bigint, text, text)
  TO jobspy_app, jobspy_admin;
