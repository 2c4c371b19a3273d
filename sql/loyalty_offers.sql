\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- loyalty offers: coupons and promotion codes (for purchases, and for the
-- billing module's subscriptions and invoices), cross-promotion chains and
-- referral codes (seed 002).  docs/loyalty.md.

-- ==== coupons and promotion codes ==========================================

-- A coupon: percent or amount off (with its currency), limits in total and
-- per member, first purchase only, a minimum amount, an expiry, limited to
-- a business, to products or to one member.  Codes are case-insensitive and
-- unique among live coupons (not archived; maintain() archives expired
-- ones).  duration says how a subscription applies it (Stripe's once,
-- repeating for duration_months, forever); purchases apply it once.
CREATE TABLE jobspy.loyalty_coupons (
    id                  uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    code                text NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_-]{1,49}$'),
    percent_off         integer CHECK (percent_off BETWEEN 1 AND 100),
    amount_off          bigint CHECK (amount_off > 0),
    currency            text CHECK (currency ~ '^[A-Z]{3}$'),
    max_redemptions     integer CHECK (max_redemptions > 0),
    max_per_user        integer CHECK (max_per_user > 0),
    expires_at          timestamptz,
    business_id         uuid REFERENCES jobspy.loyalty_businesses (id) ON DELETE CASCADE,
    products            text[] CHECK (cardinality(products) > 0),
    first_purchase_only boolean NOT NULL DEFAULT false,
    min_amount          bigint CHECK (min_amount >= 0),
    duration            text NOT NULL DEFAULT 'once' CHECK (duration IN ('once', 'repeating', 'forever')),
    duration_months     integer CHECK (duration_months BETWEEN 1 AND 1200),
    user_id             uuid REFERENCES jobspy.users (id) ON DELETE CASCADE,
    chain_id            uuid,
    times_redeemed      integer NOT NULL DEFAULT 0 CHECK (times_redeemed >= 0),
    archived_at         timestamptz,
    created_at          timestamptz NOT NULL DEFAULT jobspy.now(),
    CHECK ((percent_off IS NULL) <> (amount_off IS NULL)),
    CHECK (amount_off IS NULL OR currency IS NOT NULL),
    CHECK ((duration = 'repeating') = (duration_months IS NOT NULL)),
    CHECK (times_redeemed <= max_redemptions)
);
COMMENT ON TABLE jobspy.loyalty_coupons IS
    'coupons and promotion codes: percent or amount off, redemption limits, restrictions, expiry; codes unique (any case) among live ones';
CREATE UNIQUE INDEX loyalty_coupons_live_code_key ON jobspy.loyalty_coupons (lower(code)) WHERE archived_at IS NULL;
CREATE INDEX loyalty_coupons_chain_idx ON jobspy.loyalty_coupons (chain_id) WHERE chain_id IS NOT NULL;
CREATE INDEX loyalty_coupons_expires_idx ON jobspy.loyalty_coupons (expires_at) WHERE archived_at IS NULL;
SELECT pg_catalog.pg_extension_config_dump('jobspy.loyalty_coupons', '');

CREATE TABLE jobspy.loyalty_coupon_redemptions (
    user_id         uuid NOT NULL,
    idempotency_key text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    coupon_id       uuid NOT NULL REFERENCES jobspy.loyalty_coupons (id) ON DELETE CASCADE,
    amount          bigint NOT NULL CHECK (amount >= 0),
    currency        text NOT NULL,
    discount        bigint NOT NULL CHECK (discount >= 0),
    business_id     uuid,
    product_code    text,
    purchase_id     uuid,
    created_at      timestamptz NOT NULL DEFAULT jobspy.now(),
    PRIMARY KEY (user_id, idempotency_key)
);
COMMENT ON TABLE jobspy.loyalty_coupon_redemptions IS
    'coupon redemptions, idempotent on (member, key), tied to the purchase (or invoice) that made them';
CREATE INDEX loyalty_coupon_redemptions_coupon_idx ON jobspy.loyalty_coupon_redemptions (coupon_id, user_id);
SELECT pg_catalog.pg_extension_config_dump('jobspy.loyalty_coupon_redemptions', '');

CREATE TYPE jobspy.coupon_redemption AS (allowed boolean, code text, discount bigint);
COMMENT ON TYPE jobspy.coupon_redemption IS
    'answer of redeem_coupon: allowed, a result code (REDEEMED or why not) and the discount in minor units';

CREATE FUNCTION jobspy.create_coupon(code text, percent_off integer DEFAULT NULL, amount_off bigint DEFAULT NULL,
                                     currency text DEFAULT NULL, max_redemptions integer DEFAULT NULL,
                                     max_per_user integer DEFAULT NULL, expires_at timestamptz DEFAULT NULL,
                                     business_code text DEFAULT NULL, first_purchase_only boolean DEFAULT false,
                                     min_amount bigint DEFAULT NULL, products text[] DEFAULT NULL,
                                     duration text DEFAULT 'once', duration_months integer DEFAULT NULL,
                                     user_id uuid DEFAULT NULL)
    RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
#variable_conflict use_variable
DECLARE
    id uuid;
BEGIN
    IF code IS NULL OR code !~ '^[A-Za-z0-9][A-Za-z0-9_-]{1,49}$' THEN
        RAISE EXCEPTION 'a coupon code is 2 to 50 letters, digits, dashes or underscores' USING ERRCODE = '22023';
    END IF;
    IF (percent_off IS NULL) = (amount_off IS NULL) THEN
        RAISE EXCEPTION 'a coupon takes exactly one of percent_off and amount_off' USING ERRCODE = '22023';
    END IF;
    IF amount_off IS NOT NULL AND (currency IS NULL OR currency !~ '^[A-Z]{3}$') THEN
        RAISE EXCEPTION 'an amount off needs an ISO 4217 currency' USING ERRCODE = '22023';
    END IF;
    IF expires_at <= jobspy.now() THEN
        RAISE EXCEPTION 'a coupon''s expiry must be in the future' USING ERRCODE = '22023';
    END IF;
    IF EXISTS (SELECT FROM unnest(products) x WHERE x IS NULL) THEN   -- a NULL would let any product through
        RAISE EXCEPTION 'a coupon''s products must not include NULL' USING ERRCODE = '22023';
    END IF;
    -- An expired coupon frees its code.
    UPDATE jobspy.loyalty_coupons c SET archived_at = jobspy.now()
     WHERE lower(c.code) = lower(create_coupon.code) AND c.archived_at IS NULL AND c.expires_at <= jobspy.now();
    INSERT INTO jobspy.loyalty_coupons (code, percent_off, amount_off, currency, max_redemptions, max_per_user,
                                        expires_at, business_id, first_purchase_only, min_amount, products,
                                        duration, duration_months, user_id)
    VALUES (code, percent_off, amount_off, currency, max_redemptions, max_per_user, expires_at,
            CASE WHEN business_code IS NOT NULL THEN jobspy.loyalty_business_id(business_code) END,
            coalesce(first_purchase_only, false), min_amount, products, coalesce(duration, 'once'), duration_months, user_id)
    RETURNING loyalty_coupons.id INTO id;
    RETURN id;
EXCEPTION
    WHEN unique_violation THEN
        RAISE EXCEPTION 'coupon code "%" is taken by a live coupon', code USING ERRCODE = '23505';
    WHEN check_violation OR foreign_key_violation THEN
        RAISE EXCEPTION 'invalid coupon: %', SQLERRM USING ERRCODE = '22023',
            HINT = 'percent_off 1 to 100, positive amounts and limits, duration once, repeating (with duration_months) or forever, a known user.';
END
$$;
COMMENT ON FUNCTION jobspy.create_coupon(text, integer, bigint, text, integer, integer, timestamptz, text, boolean, bigint, text[], text, integer, uuid) IS
    'creates a coupon or promotion code (percent or amount off, limits, restrictions, expiry); the code is unique, in any case, among live coupons';

-- The rules of a redemption, under the coupon's row lock (which makes the
-- last redemption race-free).  purchase_id ties it to a purchase, which is
-- then not counted as an earlier purchase for first_purchase_only.
CREATE FUNCTION jobspy.loyalty_redeem(code text, user_id uuid, amount bigint, currency text, idempotency_key text,
                                      business_id uuid, product_code text, purchase_id uuid)
    RETURNS jobspy.coupon_redemption
    LANGUAGE plpgsql VOLATILE
    AS $$
#variable_conflict use_variable
DECLARE
    c    jobspy.loyalty_coupons;
    prev jobspy.loyalty_coupon_redemptions;
    r    jobspy.coupon_redemption;
    disc bigint;
BEGIN
    IF (code IS NOT NULL AND user_id IS NOT NULL AND amount >= 0 AND currency ~ '^[A-Z]{3}$'
        AND length(idempotency_key) BETWEEN 1 AND 255) IS NOT TRUE THEN
        RAISE EXCEPTION 'redeem_coupon needs a code, a user, an amount >= 0, an ISO 4217 currency and an idempotency key'
            USING ERRCODE = '22023';
    END IF;
    -- (a made-up user would use up a coupon's redemptions)
    IF NOT EXISTS (SELECT FROM jobspy.users u WHERE u.id = loyalty_redeem.user_id) THEN
        RAISE EXCEPTION 'unknown user' USING ERRCODE = '22023';
    END IF;
    -- One key of a user at a time, before the coupon's row: two calls with
    -- one key and different codes lock different coupons, and would both
    -- find no earlier redemption under the key.
    PERFORM pg_advisory_xact_lock(hashtextextended('jobspy.coupon_key:' || loyalty_redeem.user_id || ':'
                                                   || loyalty_redeem.idempotency_key, 0));
    SELECT * INTO c FROM jobspy.loyalty_coupons cc
     WHERE lower(cc.code) = lower(loyalty_redeem.code) AND cc.archived_at IS NULL
     FOR UPDATE;
    SELECT * INTO prev FROM jobspy.loyalty_coupon_redemptions x
     WHERE x.user_id = loyalty_redeem.user_id AND x.idempotency_key = loyalty_redeem.idempotency_key;
    IF FOUND THEN
        -- By the code, not the live coupon: the key answers as it first did
        -- after its coupon expired and was archived (or its code was reused).
        IF prev.amount <> amount OR prev.currency <> currency
           OR NOT EXISTS (SELECT FROM jobspy.loyalty_coupons pc
                           WHERE pc.id = prev.coupon_id AND lower(pc.code) = lower(loyalty_redeem.code)) THEN
            RAISE EXCEPTION 'idempotency key "%" was used for another redemption', idempotency_key
                USING ERRCODE = 'JS706', HINT = 'Use a new key for a new redemption.';
        END IF;
        r := ROW(true, 'REDEEMED', prev.discount);
        RETURN r;
    END IF;
    r := ROW(false, NULL, 0::bigint);
    IF c.id IS NULL THEN
        r.code := 'NOT_FOUND';
    ELSIF c.expires_at <= jobspy.now() THEN
        r.code := 'EXPIRED';
    ELSIF c.user_id IS NOT NULL AND c.user_id <> user_id THEN
        r.code := 'WRONG_MEMBER';
    ELSIF c.business_id IS NOT NULL AND c.business_id IS DISTINCT FROM business_id THEN
        r.code := 'WRONG_BUSINESS';
    -- products compared as codes are, case-insensitively (a purchase's
    -- category arrives in lower case)
    ELSIF c.products IS NOT NULL
          AND (product_code IS NULL OR NOT lower(product_code) = ANY (SELECT lower(x) FROM unnest(c.products) x)) THEN
        r.code := 'WRONG_PRODUCT';
    ELSIF c.amount_off IS NOT NULL AND c.currency <> currency THEN
        r.code := 'CURRENCY_MISMATCH';
    ELSIF amount < coalesce(c.min_amount, 0) THEN
        r.code := 'MIN_AMOUNT';
    ELSIF c.first_purchase_only AND EXISTS (
            SELECT FROM jobspy.loyalty_purchases p
             WHERE p.user_id = loyalty_redeem.user_id AND p.id IS DISTINCT FROM purchase_id) THEN
        r.code := 'NOT_FIRST_PURCHASE';
    ELSIF c.times_redeemed >= c.max_redemptions THEN
        r.code := 'EXHAUSTED';
    ELSIF c.max_per_user IS NOT NULL AND (SELECT count(*) FROM jobspy.loyalty_coupon_redemptions x
                                           WHERE x.coupon_id = c.id AND x.user_id = loyalty_redeem.user_id) >= c.max_per_user THEN
        r.code := 'USER_LIMIT';
    END IF;
    IF r.code IS NOT NULL THEN
        RETURN r;
    END IF;
    disc := CASE WHEN c.percent_off IS NOT NULL THEN floor(amount::numeric * c.percent_off / 100)::bigint
                 ELSE least(c.amount_off, amount) END;
    UPDATE jobspy.loyalty_coupons cc SET times_redeemed = cc.times_redeemed + 1 WHERE cc.id = c.id;
    INSERT INTO jobspy.loyalty_coupon_redemptions (user_id, idempotency_key, coupon_id, amount, currency, discount,
                                                   business_id, product_code, purchase_id)
    VALUES (user_id, idempotency_key, c.id, amount, currency, disc, business_id, product_code, purchase_id);
    r := ROW(true, 'REDEEMED', disc);
    RETURN r;
END
$$;
COMMENT ON FUNCTION jobspy.loyalty_redeem(text, uuid, bigint, text, text, uuid, text, uuid) IS
    'redeems a coupon under its row lock: the rules in order, the discount, the redemption row';

CREATE FUNCTION jobspy.redeem_coupon(code text, user_id uuid, amount bigint, currency text, idempotency_key text,
                                     business_code text DEFAULT NULL, product_code text DEFAULT NULL)
    RETURNS jobspy.coupon_redemption
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT jobspy.loyalty_redeem($1, $2, $3, $4, $5,
                                 CASE WHEN $6 IS NOT NULL THEN jobspy.loyalty_business_id($6) END, $7, NULL)
$$;
COMMENT ON FUNCTION jobspy.redeem_coupon(text, uuid, bigint, text, text, text, text) IS
    'redeems a coupon for an amount: (allowed, code, discount); codes REDEEMED, NOT_FOUND, EXPIRED, WRONG_MEMBER, WRONG_BUSINESS, WRONG_PRODUCT, CURRENCY_MISMATCH, MIN_AMOUNT, NOT_FIRST_PURCHASE, EXHAUSTED, USER_LIMIT; idempotent on (user, key)';

CREATE FUNCTION jobspy.loyalty_purchase_coupon(p jobspy.loyalty_purchases, b jobspy.loyalty_businesses, code text)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    AS $$
DECLARE
    r jobspy.coupon_redemption := jobspy.loyalty_redeem(code, p.user_id, p.amount, p.currency,
                                                        'purchase:' || p.id, b.id, p.category, p.id);
BEGIN
    IF NOT r.allowed THEN
        RAISE EXCEPTION 'coupon "%" cannot be redeemed for this purchase: %', left(code, 60), r.code
            USING ERRCODE = 'JS703', HINT = 'Record the purchase without the coupon, or with another one.';
    END IF;
    UPDATE jobspy.loyalty_promo_issues i SET converted_at = jobspy.now(), conversion_purchase_id = p.id
      FROM jobspy.loyalty_coupons c
     WHERE c.id = i.coupon_id AND lower(c.code) = lower(loyalty_purchase_coupon.code) AND c.archived_at IS NULL
       AND i.converted_at IS NULL;
    RETURN r.discount;
END
$$;
COMMENT ON FUNCTION jobspy.loyalty_purchase_coupon(jobspy.loyalty_purchases, jobspy.loyalty_businesses, text) IS
    'redeems the coupon of a new purchase (key purchase:<id>, tied to it), counts a cross-promotion conversion, returns the discount; JS703 when refused';

-- A coupon on a draft invoice, redeemed once for its customer's user under
-- the key invoice:<id>.  Its discount is spread over the lines it applies
-- to (every line with something left to charge, or the lines of the
-- coupon's products) in proportion to what each has left, in whole minor
-- units, the units that division leaves going to the largest remainders
-- (then the oldest line); each line's tax is computed again on what it
-- charges after the discount, so the coupon lowers the tax as well.
CREATE FUNCTION jobspy.apply_invoice_coupon(invoice_id uuid, coupon text) RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    inv      jobspy.invoices := jobspy.billing_lock_invoice($1);
    v_key    text := 'invoice:' || $1;
    v_user   uuid;
    v_products text[];
    v_lines  uuid[];
    v_owed   bigint[];
    v_base   bigint;
    v_product text;
    r        jobspy.coupon_redemption;
BEGIN
    IF $2 IS NULL THEN
        RAISE EXCEPTION 'a coupon code is required' USING ERRCODE = '22023';
    END IF;
    IF inv.status <> 'draft' THEN
        RAISE EXCEPTION 'a coupon applies to a draft invoice only (invoice % is %)', $1, inv.status
            USING ERRCODE = 'JS507', HINT = 'Correct a finalized invoice with a credit note.';
    END IF;
    IF EXISTS (SELECT FROM jobspy.provider_invoices pi WHERE pi.invoice_id = $1) THEN
        RAISE EXCEPTION 'invoice % mirrors a provider''s invoice: its lines and discounts come from the provider', $1
            USING ERRCODE = '55000', HINT = 'Apply the coupon at the provider; its invoice events bring the discount.';
    END IF;
    SELECT c.user_id INTO v_user FROM jobspy.customers c WHERE c.id = inv.customer_id;
    IF v_user IS NULL THEN
        RAISE EXCEPTION 'customer % is an organization: coupons are redeemed by users', inv.customer_id
            USING ERRCODE = '55000';
    END IF;
    IF inv.coupon_id IS NOT NULL THEN
        -- The same coupon again answers what it gave; one coupon an invoice.
        SELECT x.discount INTO r.discount
          FROM jobspy.loyalty_coupon_redemptions x JOIN jobspy.loyalty_coupons c ON c.id = x.coupon_id
         WHERE x.user_id = v_user AND x.idempotency_key = v_key AND c.id = inv.coupon_id AND lower(c.code) = lower($2);
        IF FOUND THEN
            RETURN r.discount;
        END IF;
        RAISE EXCEPTION 'invoice % already has a coupon', $1 USING ERRCODE = '55000',
            HINT = 'An invoice takes one coupon.';
    END IF;
    SELECT c.products INTO v_products FROM jobspy.loyalty_coupons c
     WHERE lower(c.code) = lower($2) AND c.archived_at IS NULL;
    -- The lines the coupon applies to, with what each still charges.
    SELECT array_agg(l.id ORDER BY l.id), array_agg(l.amount - l.discount ORDER BY l.id),
           sum(l.amount - l.discount), min(pr.code)
      INTO v_lines, v_owed, v_base, v_product
      FROM jobspy.invoice_lines l
      LEFT JOIN jobspy.prices p ON p.id = l.price_id
      LEFT JOIN jobspy.products pr ON pr.id = p.product_id
     WHERE l.invoice_id = $1 AND l.amount > l.discount
       AND (v_products IS NULL OR pr.code = ANY (v_products));
    IF v_base IS NULL AND v_products IS NULL THEN
        RAISE EXCEPTION 'invoice % has nothing to discount', $1 USING ERRCODE = '55000',
            HINT = 'Add the invoice''s lines first.';
    END IF;
    r := jobspy.loyalty_redeem($2, v_user, coalesce(v_base, 0), inv.currency, v_key, NULL, v_product, NULL);
    IF NOT r.allowed THEN
        RAISE EXCEPTION 'coupon "%" cannot be applied to invoice %: %', left($2, 50), $1, r.code
            USING ERRCODE = 'JS508', DETAIL = 'Nothing was saved.', HINT = 'Finalize without the coupon, or use another one.';
    END IF;
    WITH share AS (
        SELECT x.id, div(r.discount::numeric * x.owed, v_base) AS units,
               mod(r.discount::numeric * x.owed, v_base) AS remainder
          FROM unnest(v_lines, v_owed) AS x(id, owed)),
    ranked AS (
        SELECT s.id, s.units + CASE WHEN row_number() OVER (ORDER BY s.remainder DESC, s.id)
                                         <= r.discount - sum(s.units) OVER () THEN 1 ELSE 0 END AS units
          FROM share s)
    UPDATE jobspy.invoice_lines l
       SET discount = l.discount + x.units,
           tax = round((l.amount - l.discount - x.units) * l.tax_rate_bp / 10000)
      FROM ranked x
     WHERE l.id = x.id AND x.units > 0;
    UPDATE jobspy.invoices i
       SET coupon_id = x.coupon_id, discount_cents = i.discount_cents + r.discount, tax_cents = t.tax,
           total_cents = i.amount_cents - i.discount_cents - r.discount + t.tax
      FROM jobspy.loyalty_coupon_redemptions x,
           (SELECT coalesce(sum(l.tax), 0) AS tax FROM jobspy.invoice_lines l WHERE l.invoice_id = $1) t
     WHERE i.id = $1 AND x.user_id = v_user AND x.idempotency_key = v_key;
    RETURN r.discount;
END
$$;
COMMENT ON FUNCTION jobspy.apply_invoice_coupon(uuid, text) IS
    'redeems a coupon for a draft invoice (key invoice:<id>) and spreads its discount over the lines it applies to, their tax computed again; the same coupon again returns its discount; JS508 when refused, 55000 for a second coupon, JS507 once finalized';

-- ==== cross-promotion chains ==============================================

CREATE TABLE jobspy.loyalty_promo_chains (
    id                 uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    source_business_id uuid NOT NULL REFERENCES jobspy.loyalty_businesses (id) ON DELETE CASCADE,
    target_business_id uuid NOT NULL REFERENCES jobspy.loyalty_businesses (id) ON DELETE CASCADE,
    percent_off        integer CHECK (percent_off BETWEEN 1 AND 100),
    amount_off         bigint CHECK (amount_off > 0),
    currency           text CHECK (currency ~ '^[A-Z]{3}$'),
    min_amount         bigint NOT NULL DEFAULT 0 CHECK (min_amount >= 0),
    valid_for          interval NOT NULL DEFAULT '30 days'
                       CHECK (jobspy.interval_forward(valid_for)),
    active             boolean NOT NULL DEFAULT true,
    created_at         timestamptz NOT NULL DEFAULT jobspy.now(),
    CHECK ((percent_off IS NULL) <> (amount_off IS NULL)),
    CHECK (amount_off IS NULL OR currency IS NOT NULL),
    CHECK (source_business_id <> target_business_id)
);
COMMENT ON TABLE jobspy.loyalty_promo_chains IS
    'cross-promotion chains (seed 002): a purchase at the source business issues the member a coupon for the target';
CREATE INDEX loyalty_promo_chains_source_idx ON jobspy.loyalty_promo_chains (source_business_id) WHERE active;
SELECT pg_catalog.pg_extension_config_dump('jobspy.loyalty_promo_chains', '');

CREATE TABLE jobspy.loyalty_promo_issues (
    chain_id               uuid NOT NULL REFERENCES jobspy.loyalty_promo_chains (id) ON DELETE CASCADE,
    coupon_id              uuid NOT NULL REFERENCES jobspy.loyalty_coupons (id) ON DELETE CASCADE,
    user_id                uuid NOT NULL,
    purchase_id            uuid NOT NULL,
    issued_at              timestamptz NOT NULL DEFAULT jobspy.now(),
    converted_at           timestamptz,
    conversion_purchase_id uuid,
    PRIMARY KEY (chain_id, coupon_id)
);
COMMENT ON TABLE jobspy.loyalty_promo_issues IS
    'coupons issued by cross-promotion chains, and whether (and when) each converted into a purchase at the target';
CREATE UNIQUE INDEX loyalty_promo_issues_coupon_key ON jobspy.loyalty_promo_issues (coupon_id);
SELECT pg_catalog.pg_extension_config_dump('jobspy.loyalty_promo_issues', '');

CREATE VIEW jobspy.loyalty_promo_conversions AS
SELECT (i.issued_at AT TIME ZONE 'UTC')::date AS date, ch.source_business_id, ch.target_business_id,
       count(*)::integer AS triggers, count(i.converted_at)::integer AS conversions,
       round(count(i.converted_at)::numeric / count(*), 4) AS conversion_rate
  FROM jobspy.loyalty_promo_issues i JOIN jobspy.loyalty_promo_chains ch ON ch.id = i.chain_id
 GROUP BY 1, 2, 3;
COMMENT ON VIEW jobspy.loyalty_promo_conversions IS
    'seed 002''s win-win matrix: per day of issue, source and target business, coupons issued and converted';

CREATE FUNCTION jobspy.create_promo_chain(source_business text, target_business text, percent_off integer DEFAULT NULL,
                                          amount_off bigint DEFAULT NULL, currency text DEFAULT NULL,
                                          min_amount bigint DEFAULT 0, valid_for interval DEFAULT '30 days')
    RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
#variable_conflict use_variable
DECLARE
    id uuid;
BEGIN
    INSERT INTO jobspy.loyalty_promo_chains (source_business_id, target_business_id, percent_off, amount_off,
                                             currency, min_amount, valid_for)
    VALUES (jobspy.loyalty_business_id(source_business), jobspy.loyalty_business_id(target_business), percent_off,
            amount_off, currency, coalesce(min_amount, 0), coalesce(valid_for, '30 days'))
    RETURNING loyalty_promo_chains.id INTO id;
    RETURN id;
EXCEPTION WHEN check_violation THEN
    RAISE EXCEPTION 'invalid promotion chain: %', SQLERRM USING ERRCODE = '22023',
        HINT = 'Two different businesses, exactly one of percent_off and amount_off (with a currency).';
END
$$;
COMMENT ON FUNCTION jobspy.create_promo_chain(text, text, integer, bigint, text, bigint, interval) IS
    'creates a cross-promotion chain: a purchase of at least min_amount at the source issues a single-use coupon for the target, valid valid_for';

-- ==== referral codes =======================================================

CREATE FUNCTION jobspy.referral_code(user_id uuid) RETURNS text
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    m jobspy.loyalty_members := jobspy.loyalty_lock_member($1);
    c text;
BEGIN
    IF m.referral_code IS NOT NULL THEN
        RETURN m.referral_code;
    END IF;
    LOOP   -- 2^35 codes: a collision is rare, and simply drawn again
        c := jobspy.generate_referral_code();
        EXIT WHEN NOT EXISTS (SELECT FROM jobspy.loyalty_members x WHERE x.referral_code = c);
    END LOOP;
    UPDATE jobspy.loyalty_members x SET referral_code = c WHERE x.user_id = $1;
    RETURN c;
END
$$;
COMMENT ON FUNCTION jobspy.referral_code(uuid) IS
    'the member''s referral code (XXXX-XXXX with a check symbol), made on first call, one per member';

CREATE FUNCTION jobspy.apply_referral(code text, user_id uuid) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    canonical text := jobspy.normalize_referral_code($1);
    referrer  uuid;
    m         jobspy.loyalty_members;
    hop       uuid;
    hops      integer := 0;
BEGIN
    IF canonical IS NULL OR $2 IS NULL THEN
        RETURN false;
    END IF;
    SELECT x.user_id INTO referrer FROM jobspy.loyalty_members x WHERE x.referral_code = canonical;
    IF referrer IS NULL OR referrer = $2 THEN
        RETURN false;                       -- unknown code, or self-referral
    END IF;
    -- One change of the referral graph at a time: two links checked at once
    -- could each see no cycle and together close one (A->B, B->C, C->A).
    -- Taken before any member's row, so every caller locks in one order.
    PERFORM pg_advisory_xact_lock(hashtextextended('jobspy.referrals', 0));
    -- A referrer is set only under that lock, so an unlocked read of the
    -- referee's row is enough to answer a member already referred: then
    -- no chain is walked whose rows a purchase of the member's would lock.
    SELECT x.referred_by INTO hop FROM jobspy.loyalty_members x WHERE x.user_id = $2;
    IF hop IS NOT NULL THEN
        RETURN hop = referrer;              -- applied once; the same code again is not an error
    END IF;
    -- No cycles: the referee must not be up the referrer's chain.  Each link
    -- is read FOR SHARE, so a chain changed since a REPEATABLE READ
    -- snapshot raises a serialization failure rather than being missed; the
    -- walk stops after 1000 links, so a chain that somehow loops (or is
    -- that deep) answers false instead of running forever.  The chain is
    -- walked before the referee's row is locked: a purchase locks its
    -- member's row and then the referrer's, so a referee's lock held while
    -- waiting on a link (the referrer buying) would close a deadlock.
    hop := referrer;
    WHILE hop IS NOT NULL LOOP
        IF hop = $2 OR hops >= 1000 THEN
            RETURN false;
        END IF;
        SELECT x.referred_by INTO hop FROM jobspy.loyalty_members x WHERE x.user_id = hop FOR SHARE;
        hops := hops + 1;
    END LOOP;
    m := jobspy.loyalty_lock_member($2);
    IF m.referred_by IS NOT NULL THEN
        RETURN m.referred_by = referrer;
    END IF;
    IF EXISTS (SELECT FROM jobspy.loyalty_purchases p WHERE p.user_id = $2) THEN
        RETURN false;                       -- only a member who has not bought yet can be referred
    END IF;
    UPDATE jobspy.loyalty_members x SET referred_by = referrer WHERE x.user_id = $2;
    RETURN true;
END
$$;
COMMENT ON FUNCTION jobspy.apply_referral(text, uuid) IS
    'records that a member who has not bought yet was referred by a code''s owner; false for a malformed or unknown code, self-referral, a cycle (or a referrer chain over 1000 links), or a second referrer; one referral graph change at a time';

-- What a new purchase triggers: the referral rewards on the referee's first
-- qualifying purchase, and the coupons of cross-promotion chains; m is the
-- purchaser's row, locked by the caller.  Returns how many coupons it
-- issued (a value, so that the caller calls it as an expression, without
-- the executor start of a PERFORM).
CREATE FUNCTION jobspy.loyalty_after_purchase(p jobspy.loyalty_purchases, b jobspy.loyalty_businesses,
                                              m jobspy.loyalty_members)
    RETURNS integer
    LANGUAGE plpgsql VOLATILE
    AS $$
DECLARE
    issued integer := 0;
    rules jobspy.loyalty_programme;
    ch    jobspy.loyalty_promo_chains;
    cid   uuid;
    expiry timestamptz := jobspy.now() + b.points_lifetime;
BEGIN
    IF m.referred_by IS NOT NULL AND m.referral_rewarded_at IS NULL THEN
        rules := jobspy.loyalty_settings();
        IF p.amount >= rules.referral_min_amount THEN
            IF rules.referee_points > 0 THEN
                PERFORM jobspy.loyalty_grant(p.user_id, rules.referee_points, 'referral', expiry, p.id, b.id, 'referee');
            END IF;
            PERFORM jobspy.loyalty_lock_member(m.referred_by);
            IF rules.referrer_points > 0 THEN
                PERFORM jobspy.loyalty_grant(m.referred_by, rules.referrer_points, 'referral', expiry, p.id, b.id, 'referrer');
            END IF;
            UPDATE jobspy.loyalty_members x SET referral_rewarded_at = jobspy.now() WHERE x.user_id = p.user_id;
        END IF;
    END IF;
    FOR ch IN SELECT * FROM jobspy.loyalty_promo_chains c
               WHERE c.source_business_id = b.id AND c.active AND c.min_amount <= p.amount ORDER BY c.id
    LOOP
        INSERT INTO jobspy.loyalty_coupons (code, percent_off, amount_off, currency, max_redemptions, max_per_user,
                                            expires_at, business_id, user_id, chain_id)
        VALUES ('XP-' || replace(jobspy.generate_referral_code(), '-', '') || replace(jobspy.generate_referral_code(), '-', ''),
                ch.percent_off, ch.amount_off, ch.currency, 1, 1, jobspy.now() + ch.valid_for, ch.target_business_id,
                p.user_id, ch.id)
        RETURNING id INTO cid;
        INSERT INTO jobspy.loyalty_promo_issues (chain_id, coupon_id, user_id, purchase_id)
        VALUES (ch.id, cid, p.user_id, p.id);
        issued := issued + 1;
    END LOOP;
    RETURN issued;
END
$$;
COMMENT ON FUNCTION jobspy.loyalty_after_purchase(jobspy.loyalty_purchases, jobspy.loyalty_businesses, jobspy.loyalty_members) IS
    'what a new purchase triggers: the referral rewards of a referee''s first qualifying purchase, cross-promotion coupons (returns how many it issued)';

CREATE FUNCTION jobspy.maintain_loyalty_offers() RETURNS TABLE (action text, object text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n bigint;
BEGIN
    UPDATE jobspy.loyalty_coupons c SET archived_at = jobspy.now()
     WHERE c.archived_at IS NULL AND c.expires_at <= jobspy.now();
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        action := 'archived'; object := format('%s expired coupon%s', n, CASE WHEN n > 1 THEN 's' END); RETURN NEXT;
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.maintain_loyalty_offers() IS
    'maintain() step: archives expired coupons, which frees their codes';

REVOKE ALL ON jobspy.loyalty_coupons, jobspy.loyalty_coupon_redemptions, jobspy.loyalty_promo_chains,
    jobspy.loyalty_promo_issues, jobspy.loyalty_promo_conversions FROM PUBLIC;
GRANT SELECT ON jobspy.loyalty_coupons, jobspy.loyalty_coupon_redemptions, jobspy.loyalty_promo_chains,
    jobspy.loyalty_promo_issues, jobspy.loyalty_promo_conversions TO jobspy_admin;
GRANT SELECT ON jobspy.loyalty_promo_conversions TO jobspy_analyst;
REVOKE ALL ON FUNCTION
    jobspy.create_coupon(text, integer, bigint, text, integer, integer, timestamptz, text, boolean, bigint, text[], text, integer, uuid),
    jobspy.loyalty_redeem(text, uuid, bigint, text, text, uuid, text, uuid),
    jobspy.redeem_coupon(text, uuid, bigint, text, text, text, text),
    jobspy.loyalty_purchase_coupon(jobspy.loyalty_purchases, jobspy.loyalty_businesses, text),
    jobspy.apply_invoice_coupon(uuid, text),
    jobspy.create_promo_chain(text, text, integer, bigint, text, bigint, interval),
    jobspy.referral_code(uuid), jobspy.apply_referral(text, uuid),
    jobspy.loyalty_after_purchase(jobspy.loyalty_purchases, jobspy.loyalty_businesses, jobspy.loyalty_members),
    jobspy.maintain_loyalty_offers()
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    jobspy.redeem_coupon(text, uuid, bigint, text, text, text, text), jobspy.referral_code(uuid),
    jobspy.apply_referral(text, uuid), jobspy.apply_invoice_coupon(uuid, text)
  TO jobspy_app, jobspy_admin;
GRANT EXECUTE ON FUNCTION
    jobspy.create_coupon(text, integer, bigint, text, integer, integer, timestamptz, text, boolean, bigint, text[], text, integer, uuid),
    jobspy.create_promo_chain(text, text, integer, bigint, text, bigint, interval)
  TO jobspy_admin;
