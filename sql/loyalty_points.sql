\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- loyalty_points: purchases (idempotent forever on business and external
-- id) and their refunds, the append-only points ledger with expiry, the
-- maintained balance, spending oldest-expiring first, tier changes, and
-- the maintain() step that writes off expired points and reviews tiers.
-- The programme, businesses and members are in loyalty.sql.
-- docs/loyalty.md.

-- ==== purchases and the points ledger =====================================

CREATE TABLE jobspy.loyalty_purchases (
    user_id       uuid NOT NULL REFERENCES jobspy.loyalty_members (user_id) ON DELETE CASCADE,
    id            uuid NOT NULL DEFAULT jobspy.uuid_v7(),
    business_id   uuid NOT NULL REFERENCES jobspy.loyalty_businesses (id),
    external_id   text NOT NULL CHECK (length(external_id) BETWEEN 1 AND 255),
    amount        bigint NOT NULL CHECK (amount >= 0),
    currency      text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    category      text,
    coupon        text,
    discount      bigint NOT NULL DEFAULT 0 CHECK (discount >= 0),
    points_earned bigint NOT NULL DEFAULT 0 CHECK (points_earned >= 0),
    balance_after bigint NOT NULL DEFAULT 0,
    tier          text,
    grant_id      bigint,
    refunded      bigint NOT NULL DEFAULT 0 CHECK (refunded >= 0),
    points_clawed bigint NOT NULL DEFAULT 0 CHECK (points_clawed >= 0),
    created_at    timestamptz NOT NULL DEFAULT jobspy.now(),
    PRIMARY KEY (user_id, id),
    UNIQUE (business_id, external_id),
    CHECK (refunded <= amount AND points_clawed <= points_earned)
);
COMMENT ON TABLE jobspy.loyalty_purchases IS
    'purchases at businesses, unique forever on (business, external_id), with the answer record_purchase first gave';
-- Covering what the tier check sums (loyalty_qualifying_tier), so that a
-- member who buys every day has a year of purchases summed from the index
-- alone instead of a heap page visited for each.
CREATE INDEX loyalty_purchases_user_time_idx ON jobspy.loyalty_purchases (user_id, created_at)
    INCLUDE (currency, amount, refunded);
-- By time first, not by business: the unique (business_id, external_id)
-- is then the only index that leads with the business, so the replay
-- lookup's cached plan cannot pick another one and filter a business's
-- every purchase (it did, on a table never analyzed: a bulk load in one
-- transaction went quadratic).
CREATE INDEX loyalty_purchases_time_idx ON jobspy.loyalty_purchases (created_at, business_id);
SELECT pg_catalog.pg_extension_config_dump('jobspy.loyalty_purchases', '');

CREATE TABLE jobspy.loyalty_purchase_refunds (
    user_id     uuid NOT NULL,
    purchase_id uuid NOT NULL,
    refund_id   text NOT NULL CHECK (length(refund_id) BETWEEN 1 AND 255),
    amount      bigint NOT NULL CHECK (amount > 0),
    points      bigint NOT NULL CHECK (points >= 0),
    created_at  timestamptz NOT NULL DEFAULT jobspy.now(),
    PRIMARY KEY (user_id, purchase_id, refund_id),
    FOREIGN KEY (user_id, purchase_id) REFERENCES jobspy.loyalty_purchases (user_id, id) ON DELETE CASCADE
);
COMMENT ON TABLE jobspy.loyalty_purchase_refunds IS
    'refunds of purchases, idempotent on refund_id, with the points each one clawed back';
SELECT pg_catalog.pg_extension_config_dump('jobspy.loyalty_purchase_refunds', '');

-- The ledger, append-only.  A grant (kind earn, referral, bonus) has
-- positive points and an expiry; every other row takes points from one
-- grant (grant_id) and is negative: spend, expire, clawback, debt (a later
-- grant settling a debt).  A clawback with no grant records a shortfall
-- that became debt.  No foreign key to members: history outlives them.
CREATE TABLE jobspy.loyalty_ledger (
    user_id     uuid NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    kind        text NOT NULL CHECK (kind IN ('earn', 'referral', 'bonus', 'spend', 'expire', 'clawback', 'debt')),
    points      bigint NOT NULL,
    grant_id    bigint,
    expires_at  timestamptz,
    purchase_id uuid,
    business_id uuid,
    reference   text,
    created_at  timestamptz NOT NULL DEFAULT jobspy.now(),
    PRIMARY KEY (user_id, id),
    CHECK (CASE WHEN kind IN ('earn', 'referral', 'bonus')
                THEN points > 0 AND expires_at IS NOT NULL AND grant_id IS NULL
                ELSE points < 0 AND expires_at IS NULL AND (grant_id IS NOT NULL OR kind = 'clawback') END)
);
COMMENT ON TABLE jobspy.loyalty_ledger IS
    'append-only points ledger: grants with expiry and the draws (spend, expire, clawback, debt) against each grant';
CREATE INDEX loyalty_ledger_grant_idx ON jobspy.loyalty_ledger (user_id, grant_id) WHERE grant_id IS NOT NULL;
SELECT pg_catalog.pg_extension_config_dump('jobspy.loyalty_ledger', '');
SELECT pg_catalog.pg_extension_config_dump('jobspy.loyalty_ledger_id_seq', '');

CREATE FUNCTION jobspy.loyalty_ledger_append_only() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RAISE EXCEPTION 'the points ledger is append-only'
        USING ERRCODE = 'JS705', HINT = 'Correct a balance with a new ledger entry (a bonus grant or a clawback).';
END
$$;
COMMENT ON FUNCTION jobspy.loyalty_ledger_append_only() IS
    'trigger on loyalty_ledger: rows are never updated or deleted (JS705)';
CREATE TRIGGER loyalty_ledger_append_only BEFORE UPDATE OR DELETE ON jobspy.loyalty_ledger
    FOR EACH ROW EXECUTE FUNCTION jobspy.loyalty_ledger_append_only();

-- What remains of each grant: derived from the ledger (loyalty_check()
-- proves it), kept so that spending finds the oldest-expiring points by
-- index instead of summing history.  The indexes of live grants are partial
-- on live, not on remaining: a spend that leaves points in the grant then
-- changes no indexed value and is a HOT update (room kept by the fill
-- factor), so the grant a member spends from does not pile up index entries
-- for its dead versions that each later spend would have to step over.
CREATE TABLE jobspy.loyalty_grants (
    user_id    uuid NOT NULL REFERENCES jobspy.loyalty_members (user_id) ON DELETE CASCADE,
    grant_id   bigint NOT NULL,
    expires_at timestamptz NOT NULL,
    remaining  bigint NOT NULL CHECK (remaining >= 0),
    live       boolean NOT NULL GENERATED ALWAYS AS (remaining > 0) STORED,
    PRIMARY KEY (user_id, grant_id)
) WITH (fillfactor = 80);
COMMENT ON TABLE jobspy.loyalty_grants IS
    'points left in each ledger grant, by expiry: spending draws from the earliest-expiring first';
CREATE INDEX loyalty_grants_live_idx ON jobspy.loyalty_grants (user_id, expires_at, grant_id) WHERE live;
CREATE INDEX loyalty_grants_expiry_idx ON jobspy.loyalty_grants (expires_at) WHERE live;
SELECT pg_catalog.pg_extension_config_dump('jobspy.loyalty_grants', '');

CREATE TABLE jobspy.loyalty_spends (
    user_id         uuid NOT NULL REFERENCES jobspy.loyalty_members (user_id) ON DELETE CASCADE,
    idempotency_key text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    points          bigint NOT NULL CHECK (points > 0),
    balance         bigint NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT jobspy.now(),
    PRIMARY KEY (user_id, idempotency_key)
);
COMMENT ON TABLE jobspy.loyalty_spends IS
    'granted spend_points calls by idempotency key, with the balance they answered';
SELECT pg_catalog.pg_extension_config_dump('jobspy.loyalty_spends', '');

CREATE TABLE jobspy.loyalty_tier_changes (
    user_id      uuid NOT NULL REFERENCES jobspy.loyalty_members (user_id) ON DELETE CASCADE,
    id           bigint GENERATED ALWAYS AS IDENTITY,
    from_tier    text,
    to_tier      text,
    reason       text NOT NULL CHECK (reason IN ('purchase', 'review')),
    spend        bigint NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT jobspy.now(),
    PRIMARY KEY (user_id, id)
);
COMMENT ON TABLE jobspy.loyalty_tier_changes IS
    'history of members'' tier changes: upgrades on purchase, changes at the periodic review';
SELECT pg_catalog.pg_extension_config_dump('jobspy.loyalty_tier_changes', '');
SELECT pg_catalog.pg_extension_config_dump('jobspy.loyalty_tier_changes_id_seq', '');

-- ==== the points ledger ====================================================

-- The balance of a locked or read member row at jobspy.now(): the
-- maintained balance, less grants already past their expiry that
-- maintain() has not yet written off.  In C (src/loyalty_balance.c), one
-- rule with points_balance, and so that the write paths that call it
-- neither plan a query nor call a SQL function (which PostgreSQL plans
-- again on every call unless it can inline it, and a body with a sub-query
-- or a FROM is never inlined).
CREATE FUNCTION jobspy.loyalty_live_balance(user_id uuid, balance bigint, next_expiry timestamptz)
    RETURNS bigint
    LANGUAGE c STABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_loyalty_live_balance';
COMMENT ON FUNCTION jobspy.loyalty_live_balance(uuid, bigint, timestamptz) IS
    'a member''s spendable points at jobspy.now(): O(1) until the earliest grant expiry, then less the expired remainders';

-- In C too: the same answer from one index lookup of the member's row,
-- read as the tables' owner, so with no SECURITY DEFINER.
CREATE FUNCTION jobspy.points_balance(user_id uuid) RETURNS bigint
    LANGUAGE c STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_points_balance';
COMMENT ON FUNCTION jobspy.points_balance(uuid) IS
    'a member''s points balance at jobspy.now(), expired points excluded; 0 for a user who is not a member';

-- After points moved: the earliest expiry among grants with points left.
CREATE FUNCTION jobspy.loyalty_next_expiry(user_id uuid) RETURNS timestamptz
    LANGUAGE sql STABLE
    AS $$
    SELECT min(g.expires_at) FROM jobspy.loyalty_grants g WHERE g.user_id = $1 AND g.live
$$;
COMMENT ON FUNCTION jobspy.loyalty_next_expiry(uuid) IS
    'the earliest expiry among a member''s grants with points left';

-- Take up to points from a locked member's live grants, earliest expiry
-- first (first_grant first when given), writing one ledger row per grant
-- drawn.  Returns what was taken.  One statement: the running sum of the
-- live grants in drawing order says what each gives; the member's
-- next_expiry becomes the earliest live grant left with points, unless one
-- already past its expiry (not drawn, not yet written off) comes first.
CREATE FUNCTION jobspy.loyalty_draw(user_id uuid, points bigint, kind text, purchase_id uuid DEFAULT NULL,
                                    reference text DEFAULT NULL, first_grant bigint DEFAULT NULL)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    AS $$
#variable_conflict use_column
DECLARE
    now_  timestamptz := jobspy.now();
    taken bigint;
BEGIN
    WITH live AS (
        SELECT gr.grant_id, gr.expires_at, gr.remaining,
               row_number() OVER w AS ord, sum(gr.remaining) OVER w - gr.remaining AS before
          FROM jobspy.loyalty_grants gr
         WHERE gr.user_id = $1 AND gr.live AND gr.expires_at > now_
        WINDOW w AS (ORDER BY gr.grant_id IS DISTINCT FROM $6, gr.expires_at, gr.grant_id)),
    draw AS (
        SELECT l.grant_id, l.ord, least(l.remaining, $2 - l.before) AS take FROM live l WHERE l.before < $2),
    taken_from AS (
        UPDATE jobspy.loyalty_grants gr SET remaining = gr.remaining - d.take
          FROM draw d
         WHERE gr.user_id = $1 AND gr.grant_id = d.grant_id
        RETURNING d.grant_id, d.ord, d.take),
    written AS (
        INSERT INTO jobspy.loyalty_ledger (user_id, kind, points, grant_id, purchase_id, reference)
        SELECT $1, $3, -t.take, t.grant_id, $4, $5 FROM taken_from t ORDER BY t.ord
        RETURNING -points AS take),
    total AS (
        SELECT sum(w.take)::bigint AS take,
               (SELECT min(l.expires_at) FROM live l LEFT JOIN draw d ON d.grant_id = l.grant_id
                 WHERE l.remaining > coalesce(d.take, 0)) AS next_live
          FROM written w)
    UPDATE jobspy.loyalty_members m
       SET balance = m.balance - t.take,
           next_expiry = CASE WHEN m.next_expiry <= now_ THEN m.next_expiry ELSE t.next_live END
      FROM total t
     WHERE m.user_id = $1 AND t.take > 0
    RETURNING t.take INTO taken;
    RETURN coalesce(taken, 0);
END
$$;
COMMENT ON FUNCTION jobspy.loyalty_draw(uuid, bigint, text, uuid, text, bigint) IS
    'takes points from a locked member''s live grants, earliest expiry first, one ledger row per grant; returns what it took';

-- Grant points to a locked member: a ledger grant, its remainder, and the
-- member's debt settled from it first.  Returns the grant's ledger id.  In
-- C (src/loyalty_grant.c), which record_purchase's C path calls directly.
CREATE FUNCTION jobspy.loyalty_grant(user_id uuid, points bigint, kind text, expires_at timestamptz,
                                     purchase_id uuid DEFAULT NULL, business_id uuid DEFAULT NULL,
                                     reference text DEFAULT NULL)
    RETURNS bigint
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'jobspy_loyalty_grant';
COMMENT ON FUNCTION jobspy.loyalty_grant(uuid, bigint, text, timestamptz, uuid, uuid, text) IS
    'grants points to a locked member, settling the member''s debt from them first; returns the ledger id of the grant';

-- spend_points' rules in full; the C function (src/loyalty_spend.c) runs
-- the common path itself and calls this one for the rare paths (a member
-- not yet enrolled, a key replayed with other points).
CREATE FUNCTION jobspy.loyalty_spend_points_sql(user_id uuid, points bigint, idempotency_key text,
                                                OUT allowed boolean, OUT balance bigint)
    LANGUAGE plpgsql VOLATILE
    AS $$
#variable_conflict use_column
DECLARE
    m    jobspy.loyalty_members;
    prev jobspy.loyalty_spends;
    live bigint;
BEGIN
    IF loyalty_spend_points_sql.points IS NULL OR loyalty_spend_points_sql.points <= 0 THEN
        RAISE EXCEPTION 'points to spend must be positive' USING ERRCODE = '22023';
    END IF;
    IF loyalty_spend_points_sql.idempotency_key IS NULL OR length(loyalty_spend_points_sql.idempotency_key) NOT BETWEEN 1 AND 255 THEN
        RAISE EXCEPTION 'an idempotency key of 1 to 255 characters is required' USING ERRCODE = '22023';
    END IF;
    m := jobspy.loyalty_lock_member(loyalty_spend_points_sql.user_id);
    SELECT * INTO prev FROM jobspy.loyalty_spends s
     WHERE s.user_id = loyalty_spend_points_sql.user_id AND s.idempotency_key = loyalty_spend_points_sql.idempotency_key;
    IF FOUND THEN
        IF prev.points <> loyalty_spend_points_sql.points THEN
            RAISE EXCEPTION 'idempotency key "%" was used for a spend of % points', prev.idempotency_key, prev.points
                USING ERRCODE = 'JS702', HINT = 'Use a new key for a new spend.';
        END IF;
        allowed := true;
        balance := prev.balance;
        RETURN;
    END IF;
    live := jobspy.loyalty_live_balance(m.user_id, m.balance, m.next_expiry);
    IF live < loyalty_spend_points_sql.points THEN
        allowed := false;
        balance := live;
        RETURN;
    END IF;
    live := live - jobspy.loyalty_draw(m.user_id, loyalty_spend_points_sql.points, 'spend', NULL, loyalty_spend_points_sql.idempotency_key);
    allowed := true;
    balance := live;
    INSERT INTO jobspy.loyalty_spends (user_id, idempotency_key, points, balance)
    VALUES (m.user_id, loyalty_spend_points_sql.idempotency_key, loyalty_spend_points_sql.points, balance);
END
$$;
COMMENT ON FUNCTION jobspy.loyalty_spend_points_sql(uuid, bigint, text) IS
    'spend_points in SQL, every rule: called by the C function for a member not yet enrolled and a key replayed with other points';

CREATE FUNCTION jobspy.spend_points(user_id uuid, points bigint, idempotency_key text,
                                    OUT allowed boolean, OUT balance bigint)
    LANGUAGE c VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'jobspy_spend_points';
COMMENT ON FUNCTION jobspy.spend_points(uuid, bigint, text) IS
    'spends points, earliest-expiring first; denied (nothing taken) when the balance is short; a replayed key returns its first answer';

-- ==== tiers ================================================================

-- The member's spend per currency over the rolling window, net of refunds,
-- and a purchase being recorded (amount in currency, not written yet).
-- Plain SQL with no SET clause, so that the planner inlines it into the
-- caller's cached plan when the arguments call no volatile function.  The
-- spend is summed in numeric and kept at most the largest bigint, so that
-- no member's amounts can make the tier review (maintain()) fail.
CREATE FUNCTION jobspy.loyalty_qualifying_tier(user_id uuid, tier_window interval,
                                               currency text DEFAULT NULL, amount bigint DEFAULT 0)
    RETURNS TABLE (tier_id uuid, rank integer, spend bigint)
    LANGUAGE sql STABLE
    AS $$
    WITH s AS (
        SELECT x.currency, least(sum(x.amount), 9223372036854775807)::bigint AS spend
          FROM (SELECT p.currency, p.amount - p.refunded AS amount
                  FROM jobspy.loyalty_purchases p
                 WHERE p.user_id = $1
                   AND p.created_at > jobspy.now() - $2
                UNION ALL
                SELECT $3, $4 WHERE $3 IS NOT NULL) x
         GROUP BY x.currency)
    SELECT t.id, t.rank, coalesce(s.spend, 0)
      FROM jobspy.loyalty_tiers t LEFT JOIN s ON s.currency = t.currency
     WHERE coalesce(s.spend, 0) >= t.min_spend
     ORDER BY t.rank DESC
     LIMIT 1
$$;
COMMENT ON FUNCTION jobspy.loyalty_qualifying_tier(uuid, interval, text, bigint) IS
    'the highest tier a member''s spend (in each tier''s currency, over the rolling window, net of refunds, with a purchase being recorded) reaches';

-- Move a locked member to a tier, keeping history and telling the outbox.
CREATE FUNCTION jobspy.loyalty_set_member_tier(user_id uuid, tier_id uuid, reason text, spend bigint)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    AS $$
#variable_conflict use_column
DECLARE
    old_code text;
    new_code text := (SELECT code FROM jobspy.loyalty_tiers WHERE id = $2);
BEGIN
    SELECT t.code INTO old_code FROM jobspy.loyalty_members m JOIN jobspy.loyalty_tiers t ON t.id = m.tier_id
     WHERE m.user_id = $1;
    UPDATE jobspy.loyalty_members m
       SET tier_id = $2, tier_since = jobspy.now(),
           tier_review_at = jobspy.now() + (jobspy.loyalty_settings()).tier_review
     WHERE m.user_id = $1;
    INSERT INTO jobspy.loyalty_tier_changes (user_id, from_tier, to_tier, reason, spend)
    VALUES ($1, old_code, new_code, $3, $4);
    PERFORM jobspy.emit_event('loyalty.tier_changed', 'loyalty_member', $1::text,
        jsonb_build_object('user_id', $1, 'from_tier', old_code, 'to_tier', new_code, 'reason', $3, 'spend', $4), $1);
END
$$;
COMMENT ON FUNCTION jobspy.loyalty_set_member_tier(uuid, uuid, text, bigint) IS
    'moves a locked member to a tier, recording the change and emitting a loyalty.tier_changed outbox event';

-- ==== purchases ============================================================

-- The member's row is locked first: it orders concurrent calls for one
-- member, so a purchase recorded meanwhile is seen (and answered as a
-- replay) before anything is written.  The purchase's row is written last,
-- once, with the answer; until then the purchase lives in p.  Only a
-- concurrent call for another member with the same external id can still
-- take it first: that is a replay with other values, JS701.
CREATE FUNCTION jobspy.loyalty_record_purchase_sql(business_code text, external_id text, user_id uuid,
                                                   amount bigint, currency text, coupon text, category text,
                                                   OUT purchase_id uuid, OUT points_earned bigint,
                                                   OUT balance bigint, OUT tier text, OUT replayed boolean)
    LANGUAGE plpgsql VOLATILE
    AS $$
#variable_conflict use_column
DECLARE
    b        jobspy.loyalty_businesses;
    m        jobspy.loyalty_members;
    p        jobspy.loyalty_purchases;
    up       record;
    win      interval;
    earned   numeric;
    now_     timestamptz := jobspy.now();
BEGIN
    IF loyalty_record_purchase_sql.external_id IS NULL OR length(loyalty_record_purchase_sql.external_id) NOT BETWEEN 1 AND 255 THEN
        RAISE EXCEPTION 'external_id must be 1 to 255 characters' USING ERRCODE = '22023';
    END IF;
    IF loyalty_record_purchase_sql.amount IS NULL OR loyalty_record_purchase_sql.amount < 0 THEN
        RAISE EXCEPTION 'amount must be a non-negative number of minor units' USING ERRCODE = '22023';
    END IF;
    IF loyalty_record_purchase_sql.currency IS NULL OR loyalty_record_purchase_sql.currency !~ '^[A-Z]{3}$' THEN
        RAISE EXCEPTION 'currency must be an ISO 4217 code such as "RUB"' USING ERRCODE = '22023';
    END IF;
    -- In the form multipliers are stored in, or 22023.
    loyalty_record_purchase_sql.category := jobspy.loyalty_category(loyalty_record_purchase_sql.category);
    SELECT * INTO b FROM jobspy.loyalty_businesses WHERE code = loyalty_record_purchase_sql.business_code;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown business "%"', left(loyalty_record_purchase_sql.business_code, 60) USING ERRCODE = '22023';
    END IF;
    -- The member's row, locked; loyalty_lock_member enrolls a new one.
    SELECT * INTO m FROM jobspy.loyalty_members WHERE user_id = loyalty_record_purchase_sql.user_id FOR UPDATE;
    IF NOT FOUND THEN
        m := jobspy.loyalty_lock_member(loyalty_record_purchase_sql.user_id);
    END IF;

    -- A purchase already recorded answers as it first did.
    SELECT * INTO p FROM jobspy.loyalty_purchases
     WHERE business_id = b.id AND external_id = loyalty_record_purchase_sql.external_id;
    IF FOUND THEN
        IF p.user_id IS DISTINCT FROM loyalty_record_purchase_sql.user_id OR p.amount <> loyalty_record_purchase_sql.amount
           OR p.currency <> loyalty_record_purchase_sql.currency
           OR p.coupon IS DISTINCT FROM lower(loyalty_record_purchase_sql.coupon)
           OR p.category IS DISTINCT FROM loyalty_record_purchase_sql.category THEN
            RAISE EXCEPTION 'purchase "%" at business "%" was recorded with other values',
                            loyalty_record_purchase_sql.external_id, b.code
                USING ERRCODE = 'JS701',
                      DETAIL = format('It was recorded for amount %s %s.', p.amount, p.currency),
                      HINT = 'An external id names one purchase forever; use a new one for a new purchase.';
        END IF;
        purchase_id := p.id; points_earned := p.points_earned; balance := p.balance_after;
        tier := p.tier; replayed := true;
        RETURN;
    END IF;
    p.user_id := m.user_id; p.id := jobspy.uuid_v7(); p.business_id := b.id;
    p.external_id := loyalty_record_purchase_sql.external_id; p.amount := loyalty_record_purchase_sql.amount;
    p.currency := loyalty_record_purchase_sql.currency; p.category := loyalty_record_purchase_sql.category;
    p.coupon := lower(loyalty_record_purchase_sql.coupon); p.discount := 0; p.points_earned := 0;
    p.refunded := 0; p.points_clawed := 0; p.created_at := now_;

    IF loyalty_record_purchase_sql.coupon IS NOT NULL THEN
        p.discount := jobspy.loyalty_purchase_coupon(p, b, loyalty_record_purchase_sql.coupon);
    END IF;

    -- A purchase that crosses a tier's threshold upgrades at once.  (The
    -- window is read first: a volatile call in the arguments would keep the
    -- planner from inlining loyalty_qualifying_tier.)  Only when a tier
    -- above the member's exists: the spend query is planned again on every
    -- call, and a member at the top tier (or a programme with no tiers)
    -- cannot move up.
    IF EXISTS (SELECT FROM jobspy.loyalty_tiers t
                WHERE t.rank > coalesce((SELECT c.rank FROM jobspy.loyalty_tiers c WHERE c.id = m.tier_id), -1)) THEN
        SELECT r.tier_window INTO win FROM jobspy.loyalty_programme r;
        IF NOT FOUND THEN
            win := (jobspy.loyalty_settings()).tier_window;
        END IF;
        SELECT q.tier_id, q.spend INTO up
          FROM jobspy.loyalty_qualifying_tier(m.user_id, win,
                                              loyalty_record_purchase_sql.currency, loyalty_record_purchase_sql.amount) q
         WHERE q.rank > coalesce((SELECT t.rank FROM jobspy.loyalty_tiers t WHERE t.id = m.tier_id), -1);
        IF FOUND THEN
            PERFORM jobspy.loyalty_set_member_tier(m.user_id, up.tier_id, 'purchase', up.spend);
            m.tier_id := up.tier_id;
        END IF;
    END IF;

    IF loyalty_record_purchase_sql.amount >= b.min_purchase THEN
        -- numeric, not bigint: amount * bp * mult can pass 2^63; never a float
        SELECT floor((loyalty_record_purchase_sql.amount - p.discount)::numeric * coalesce(r.earn_bp, b.earn_bp)
                     * coalesce(c.multiplier_bp, 10000) / 100000000)
          INTO earned
          FROM (SELECT) one
          LEFT JOIN jobspy.loyalty_earn_rates r ON r.business_id = b.id AND r.tier_id = m.tier_id
          LEFT JOIN jobspy.loyalty_category_multipliers c
                 ON c.business_id = b.id AND c.category = loyalty_record_purchase_sql.category;
    END IF;
    IF earned > 9223372036854775807 THEN
        RAISE EXCEPTION 'the points of this purchase would exceed %', 9223372036854775807 USING ERRCODE = '22023',
            DETAIL = format('%s points at the business''s rates.', earned);
    END IF;
    p.points_earned := coalesce(earned, 0);
    IF p.points_earned > 0 THEN
        p.grant_id := jobspy.loyalty_grant(m.user_id, p.points_earned, 'earn', now_ + b.points_lifetime, p.id, b.id,
                                           loyalty_record_purchase_sql.external_id);
    END IF;
    -- A referral to reward or a cross-promotion chain to follow: rare.
    IF (m.referred_by IS NOT NULL AND m.referral_rewarded_at IS NULL)
       OR EXISTS (SELECT FROM jobspy.loyalty_promo_chains c
                   WHERE c.source_business_id = b.id AND c.active AND c.min_amount <= loyalty_record_purchase_sql.amount) THEN
        PERFORM jobspy.loyalty_after_purchase(p, b, m);
    END IF;

    p.balance_after := jobspy.points_balance(m.user_id);
    IF m.tier_id IS NOT NULL THEN
        p.tier := (SELECT t.code FROM jobspy.loyalty_tiers t WHERE t.id = m.tier_id);
    END IF;
    INSERT INTO jobspy.loyalty_purchases VALUES (p.*) ON CONFLICT (business_id, external_id) DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'purchase "%" at business "%" was recorded with other values',
                        loyalty_record_purchase_sql.external_id, b.code
            USING ERRCODE = 'JS701',
                  DETAIL = 'Another member''s purchase with this external id was recorded at the same time.',
                  HINT = 'An external id names one purchase forever; use a new one for a new purchase.';
    END IF;
    -- The member's running spend counts the purchase (src/loyalty_purchase.c);
    -- past bigint's range it is dropped (NULL), to be summed again by the
    -- next purchase that asks about a tier.
    UPDATE jobspy.loyalty_members mm
       SET window_spend = CASE WHEN mm.window_spend::numeric + p.amount <= 9223372036854775807
                               THEN mm.window_spend + p.amount END
     WHERE mm.user_id = m.user_id AND mm.window_currency = p.currency AND p.created_at > mm.window_from;
    purchase_id := p.id; points_earned := p.points_earned; balance := p.balance_after; tier := p.tier;
    replayed := false;
END
$$;
COMMENT ON FUNCTION jobspy.loyalty_record_purchase_sql(text, text, uuid, bigint, text, text, text) IS
    'record_purchase in SQL, every rule: called by the C function for what its common path leaves (bad input, enrolment, coupons, referrals, promotion chains, tier upgrades, replays with other values)';

CREATE FUNCTION jobspy.record_purchase(business_code text, external_id text, user_id uuid, amount bigint,
                                       currency text, coupon text DEFAULT NULL, category text DEFAULT NULL,
                                       OUT purchase_id uuid, OUT points_earned bigint, OUT balance bigint,
                                       OUT tier text, OUT replayed boolean)
    LANGUAGE c VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'jobspy_record_purchase';
COMMENT ON FUNCTION jobspy.record_purchase(text, text, uuid, bigint, text, text, text) IS
    'records a purchase and earns its points by the member''s tier rules; idempotent forever on (business, external_id): a replay returns the first answer with replayed, other values raise JS701';

-- The coupon of a new purchase and what a purchase triggers (referral
-- rewards, cross-promotion coupons) live with the offers:
-- jobspy.loyalty_purchase_coupon and jobspy.loyalty_after_purchase in
-- sql/loyalty_offers.sql.

CREATE FUNCTION jobspy.refund_purchase(business_code text, external_id text, amount bigint, refund_id text,
                                       OUT points_clawed bigint, OUT balance bigint, OUT debt bigint)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
#variable_conflict use_column
DECLARE
    b      uuid := jobspy.loyalty_business_id(business_code);
    p      jobspy.loyalty_purchases;
    m      jobspy.loyalty_members;
    prev   jobspy.loyalty_purchase_refunds;
    target bigint;
    taken  bigint;
    expired bigint;
    owed   bigint;
BEGIN
    IF refund_purchase.amount IS NULL OR refund_purchase.amount <= 0 THEN
        RAISE EXCEPTION 'a refund amount must be positive' USING ERRCODE = '22023';
    END IF;
    IF refund_purchase.refund_id IS NULL OR length(refund_purchase.refund_id) NOT BETWEEN 1 AND 255 THEN
        RAISE EXCEPTION 'refund_id must be 1 to 255 characters' USING ERRCODE = '22023';
    END IF;
    SELECT * INTO p FROM jobspy.loyalty_purchases pp
     WHERE pp.business_id = b AND pp.external_id = refund_purchase.external_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown purchase "%" at business "%"', left(refund_purchase.external_id, 60), business_code
            USING ERRCODE = '22023';
    END IF;
    m := jobspy.loyalty_lock_member(p.user_id);
    SELECT * INTO p FROM jobspy.loyalty_purchases pp WHERE pp.user_id = p.user_id AND pp.id = p.id;
    SELECT * INTO prev FROM jobspy.loyalty_purchase_refunds r
     WHERE r.user_id = p.user_id AND r.purchase_id = p.id AND r.refund_id = refund_purchase.refund_id;
    IF FOUND THEN
        IF prev.amount <> refund_purchase.amount THEN
            RAISE EXCEPTION 'refund "%" was recorded for amount %', prev.refund_id, prev.amount USING ERRCODE = 'JS701';
        END IF;
        points_clawed := prev.points;
    ELSE
        IF refund_purchase.amount > p.amount - p.refunded THEN   -- (an addition could overflow)
            RAISE EXCEPTION 'refunds would exceed the purchase'
                USING ERRCODE = 'JS704',
                      DETAIL = format('The purchase was %s, %s of it already refunded.', p.amount, p.refunded);
        END IF;
        -- Points kept are what the amount left would have earned.
        target := p.points_earned - CASE WHEN p.amount = 0 THEN 0 ELSE
                  floor(p.points_earned::numeric * (p.amount - p.refunded - refund_purchase.amount) / p.amount)::bigint END;
        points_clawed := target - p.points_clawed;
        -- Points of this purchase that expired unused were never the
        -- member's to spend: they count as given back, and are not taken
        -- again from the member's other grants.  (Expired so far, less what
        -- earlier refunds counted that way: what they clawed but did not
        -- take from the ledger.)
        IF points_clawed > 0 AND p.grant_id IS NOT NULL THEN
            SELECT coalesce(sum(-x.points) FILTER (WHERE x.kind = 'expire'), 0)
                   - (p.points_clawed - coalesce(sum(-x.points) FILTER (WHERE x.kind = 'clawback' AND x.purchase_id = p.id), 0))
              INTO expired
              FROM jobspy.loyalty_ledger x
             WHERE x.user_id = p.user_id AND (x.grant_id = p.grant_id OR x.purchase_id = p.id);
            expired := expired + coalesce((SELECT g.remaining FROM jobspy.loyalty_grants g
                                            WHERE g.user_id = p.user_id AND g.grant_id = p.grant_id
                                              AND g.expires_at <= jobspy.now()), 0);
            owed := points_clawed - least(points_clawed, greatest(expired, 0));
        ELSE
            owed := points_clawed;
        END IF;
        IF owed > 0 THEN
            taken := jobspy.loyalty_draw(p.user_id, owed, 'clawback', p.id, refund_purchase.refund_id, p.grant_id);
            IF taken < owed THEN
                INSERT INTO jobspy.loyalty_ledger (user_id, kind, points, purchase_id, reference)
                VALUES (p.user_id, 'clawback', -(owed - taken), p.id, refund_purchase.refund_id);
                UPDATE jobspy.loyalty_members mm SET debt = mm.debt + (owed - taken)
                 WHERE mm.user_id = p.user_id;
            END IF;
        END IF;
        UPDATE jobspy.loyalty_purchases pp
           SET refunded = pp.refunded + refund_purchase.amount, points_clawed = pp.points_clawed + refund_purchase.points_clawed
         WHERE pp.user_id = p.user_id AND pp.id = p.id;
        -- The member's running spend loses the refund if it counts the purchase.
        UPDATE jobspy.loyalty_members mm SET window_spend = mm.window_spend - refund_purchase.amount
         WHERE mm.user_id = p.user_id AND mm.window_currency = p.currency AND p.created_at > mm.window_from;
        INSERT INTO jobspy.loyalty_purchase_refunds (user_id, purchase_id, refund_id, amount, points)
        VALUES (p.user_id, p.id, refund_purchase.refund_id, refund_purchase.amount, refund_purchase.points_clawed);
    END IF;
    SELECT jobspy.loyalty_live_balance(mm.user_id, mm.balance, mm.next_expiry), mm.debt INTO balance, debt
      FROM jobspy.loyalty_members mm WHERE mm.user_id = p.user_id;
END
$$;
COMMENT ON FUNCTION jobspy.refund_purchase(text, text, bigint, text) IS
    'records a (partial) refund of a purchase, idempotent on refund_id; claws back its points from the purchase''s grant, then the balance, the shortfall kept as debt; points of the purchase that expired unused count as given back';

-- ==== expiry, review and checks (maintain) ================================

CREATE FUNCTION jobspy.loyalty_check() RETURNS TABLE (user_id uuid, problem text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT g.user_id, format('grant %s: remaining %s, ledger %s', g.grant_id, g.remaining, l.total)
      FROM jobspy.loyalty_grants g
      JOIN LATERAL (SELECT sum(x.points)::bigint AS total FROM jobspy.loyalty_ledger x
                     WHERE x.user_id = g.user_id AND (x.id = g.grant_id OR x.grant_id = g.grant_id)) l ON true
     WHERE g.remaining <> l.total
    UNION ALL
    SELECT m.user_id, format('balance %s, grants %s', m.balance, s.total)
      FROM jobspy.loyalty_members m
      JOIN LATERAL (SELECT coalesce(sum(g.remaining), 0)::bigint AS total FROM jobspy.loyalty_grants g
                     WHERE g.user_id = m.user_id) s ON true
     WHERE m.balance <> s.total
    UNION ALL
    SELECT m.user_id, format('debt %s, ledger %s', m.debt, d.total)
      FROM jobspy.loyalty_members m
      JOIN LATERAL (SELECT coalesce(sum(CASE WHEN x.kind = 'debt' THEN x.points ELSE -x.points END), 0)::bigint AS total
                      FROM jobspy.loyalty_ledger x
                     WHERE x.user_id = m.user_id AND (x.kind = 'debt' OR (x.kind = 'clawback' AND x.grant_id IS NULL))) d ON true
     WHERE m.debt <> d.total
    UNION ALL
    SELECT m.user_id, format('next_expiry %s, grants %s', m.next_expiry, jobspy.loyalty_next_expiry(m.user_id))
      FROM jobspy.loyalty_members m
     WHERE m.next_expiry IS DISTINCT FROM jobspy.loyalty_next_expiry(m.user_id)
    UNION ALL
    SELECT m.user_id, format('window_spend %s in %s since %s, purchases %s', m.window_spend, m.window_currency,
                             m.window_from, w.total)
      FROM jobspy.loyalty_members m
      JOIN LATERAL (SELECT coalesce(sum(p.amount - p.refunded), 0)::bigint AS total FROM jobspy.loyalty_purchases p
                     WHERE p.user_id = m.user_id AND p.currency = m.window_currency
                       AND p.created_at > m.window_from) w ON true
     WHERE m.window_spend IS NOT NULL AND m.window_spend <> w.total
$$;
COMMENT ON FUNCTION jobspy.loyalty_check() IS
    'reconciles the maintained state with the ledger (balances, grants, debts, next expiries) and the purchases (running spends): every row returned is a discrepancy (none expected)';

CREATE FUNCTION jobspy.loyalty_expire_points() RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    u uuid;
    g record;
    n bigint := 0;
BEGIN
    FOR u IN SELECT DISTINCT gr.user_id FROM jobspy.loyalty_grants gr
              WHERE gr.live AND gr.expires_at <= jobspy.now() ORDER BY 1
    LOOP
        -- a busy member's expired points are not spendable anyway
        CONTINUE WHEN (jobspy.loyalty_try_lock_member(u)).user_id IS NULL;
        FOR g IN SELECT gr.grant_id, gr.remaining FROM jobspy.loyalty_grants gr
                  WHERE gr.user_id = u AND gr.live AND gr.expires_at <= jobspy.now()
        LOOP
            UPDATE jobspy.loyalty_grants gr SET remaining = 0 WHERE gr.user_id = u AND gr.grant_id = g.grant_id;
            INSERT INTO jobspy.loyalty_ledger (user_id, kind, points, grant_id) VALUES (u, 'expire', -g.remaining, g.grant_id);
            UPDATE jobspy.loyalty_members m SET balance = m.balance - g.remaining WHERE m.user_id = u;
            n := n + 1;
        END LOOP;
        UPDATE jobspy.loyalty_members m SET next_expiry = jobspy.loyalty_next_expiry(u) WHERE m.user_id = u;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION jobspy.loyalty_expire_points() IS
    'writes an expire ledger row for every grant past its expiry with points left; returns how many';

CREATE FUNCTION jobspy.loyalty_review_tiers() RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    u uuid;
    m jobspy.loyalty_members;
    q record;
    n bigint := 0;
    rules jobspy.loyalty_programme := jobspy.loyalty_settings();
BEGIN
    FOR u IN SELECT mm.user_id FROM jobspy.loyalty_members mm
              WHERE mm.tier_review_at <= jobspy.now() ORDER BY mm.user_id
    LOOP
        m := jobspy.loyalty_try_lock_member(u);
        CONTINUE WHEN m.user_id IS NULL;   -- busy: reviewed at the next run
        SELECT * INTO q FROM jobspy.loyalty_qualifying_tier(u, rules.tier_window);
        IF q.tier_id IS DISTINCT FROM m.tier_id THEN
            PERFORM jobspy.loyalty_set_member_tier(u, q.tier_id, 'review', coalesce(q.spend, 0));
            n := n + 1;
        ELSE
            UPDATE jobspy.loyalty_members mm
               SET tier_review_at = jobspy.now() + rules.tier_review
             WHERE mm.user_id = u;
        END IF;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION jobspy.loyalty_review_tiers() IS
    'the periodic tier review: members due for review move to the tier their rolling spend qualifies for (down as well as up)';

CREATE FUNCTION jobspy.maintain_loyalty() RETURNS TABLE (action text, object text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n bigint;
BEGIN
    n := jobspy.loyalty_expire_points();
    IF n > 0 THEN
        action := 'expired'; object := format('%s points grants', n); RETURN NEXT;
    END IF;
    n := jobspy.loyalty_review_tiers();
    IF n > 0 THEN
        action := 'reviewed'; object := format('%s member tiers changed', n); RETURN NEXT;
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.maintain_loyalty() IS
    'maintain() step of the loyalty module: writes off expired points, reviews tiers';

-- ==== privileges ===========================================================

REVOKE ALL ON jobspy.loyalty_purchases, jobspy.loyalty_purchase_refunds, jobspy.loyalty_ledger,
    jobspy.loyalty_grants, jobspy.loyalty_spends, jobspy.loyalty_tier_changes FROM PUBLIC;
GRANT SELECT ON jobspy.loyalty_purchases, jobspy.loyalty_purchase_refunds, jobspy.loyalty_ledger,
    jobspy.loyalty_grants, jobspy.loyalty_spends, jobspy.loyalty_tier_changes TO jobspy_admin;

REVOKE ALL ON FUNCTION
    jobspy.loyalty_ledger_append_only(),
    jobspy.loyalty_live_balance(uuid, bigint, timestamptz), jobspy.points_balance(uuid),
    jobspy.loyalty_next_expiry(uuid), jobspy.loyalty_draw(uuid, bigint, text, uuid, text, bigint),
    jobspy.loyalty_grant(uuid, bigint, text, timestamptz, uuid, uuid, text), jobspy.spend_points(uuid, bigint, text),
    jobspy.loyalty_spend_points_sql(uuid, bigint, text),
    jobspy.loyalty_record_purchase_sql(text, text, uuid, bigint, text, text, text),
    jobspy.loyalty_qualifying_tier(uuid, interval, text, bigint), jobspy.loyalty_set_member_tier(uuid, uuid, text, bigint),
    jobspy.record_purchase(text, text, uuid, bigint, text, text, text),
    jobspy.refund_purchase(text, text, bigint, text), jobspy.loyalty_check(), jobspy.loyalty_expire_points(),
    jobspy.loyalty_review_tiers(), jobspy.maintain_loyalty()
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    jobspy.points_balance(uuid), jobspy.spend_points(uuid, bigint, text),
    jobspy.record_purchase(text, text, uuid, bigint, text, text, text), jobspy.refund_purchase(text, text, bigint, text)
  TO jobspy_app, jobspy_admin;
GRANT EXECUTE ON FUNCTION jobspy.loyalty_check(), jobspy.maintain_loyalty() TO jobspy_admin;
