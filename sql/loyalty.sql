\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- loyalty: the programme and its members (seeds 002 and 004): programme
-- rules, partner businesses with their earning rules, status tiers, and
-- members (phone numbers in E.164 form, referral codes).  The points
-- (purchases, the ledger, spending, tiers as members move, expiry) are in
-- loyalty_points.sql; coupons, referrals and cross-promotion in
-- loyalty_offers.sql; prepaid credits, community events and RFM in their
-- own files.  docs/loyalty.md.

-- ==== programme, businesses and rules ====================================

-- The programme-wide rules, one row.
CREATE TABLE jobspy.loyalty_programme (
    id                       boolean PRIMARY KEY DEFAULT true CHECK (id),
    tier_window              interval NOT NULL DEFAULT '365 days'
                             CHECK (jobspy.interval_forward(tier_window)),
    tier_review              interval NOT NULL DEFAULT '1 month'
                             CHECK (jobspy.interval_forward(tier_review)),
    referrer_points          bigint NOT NULL DEFAULT 500 CHECK (referrer_points >= 0),
    referee_points           bigint NOT NULL DEFAULT 500 CHECK (referee_points >= 0),
    referral_min_amount      bigint NOT NULL DEFAULT 0 CHECK (referral_min_amount >= 0),
    rfm_retention            interval NOT NULL DEFAULT '12 months'
                             CHECK (jobspy.interval_forward(rfm_retention)),
    rfm_window               interval NOT NULL DEFAULT '365 days'
                             CHECK (jobspy.interval_forward(rfm_window))
);
COMMENT ON TABLE jobspy.loyalty_programme IS
    'programme-wide loyalty rules (one row): tier spend window and review period, referral rewards, RFM window and retention';
SELECT pg_catalog.pg_extension_config_dump('jobspy.loyalty_programme', '');

-- The row is made on first use rather than by CREATE EXTENSION, so that a
-- restore (which copies the row from the dump) never collides with it; the
-- column defaults are the one source of the default rules.
CREATE FUNCTION jobspy.loyalty_settings() RETURNS jobspy.loyalty_programme
    LANGUAGE plpgsql VOLATILE
    AS $$
DECLARE
    r jobspy.loyalty_programme;
BEGIN
    SELECT * INTO r FROM jobspy.loyalty_programme;
    IF NOT FOUND THEN
        INSERT INTO jobspy.loyalty_programme DEFAULT VALUES ON CONFLICT DO NOTHING;
        SELECT * INTO r FROM jobspy.loyalty_programme;
    END IF;
    RETURN r;
END
$$;
COMMENT ON FUNCTION jobspy.loyalty_settings() IS 'the programme-wide loyalty rules, made with their defaults on first use';

CREATE FUNCTION jobspy.set_loyalty_programme(tier_window interval DEFAULT NULL, tier_review interval DEFAULT NULL,
                                             referrer_points bigint DEFAULT NULL, referee_points bigint DEFAULT NULL,
                                             referral_min_amount bigint DEFAULT NULL, rfm_window interval DEFAULT NULL,
                                             rfm_retention interval DEFAULT NULL)
    RETURNS jobspy.loyalty_programme
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
#variable_conflict use_variable
DECLARE
    r jobspy.loyalty_programme;
BEGIN
    PERFORM jobspy.loyalty_settings();
    UPDATE jobspy.loyalty_programme p
       SET tier_window = coalesce(tier_window, p.tier_window), tier_review = coalesce(tier_review, p.tier_review),
           referrer_points = coalesce(referrer_points, p.referrer_points),
           referee_points = coalesce(referee_points, p.referee_points),
           referral_min_amount = coalesce(referral_min_amount, p.referral_min_amount),
           rfm_window = coalesce(rfm_window, p.rfm_window), rfm_retention = coalesce(rfm_retention, p.rfm_retention)
    RETURNING * INTO r;
    RETURN r;
EXCEPTION WHEN check_violation THEN
    RAISE EXCEPTION 'programme rules must be positive intervals of at most 100 years and non-negative points and amounts'
        USING ERRCODE = '22023';
END
$$;
COMMENT ON FUNCTION jobspy.set_loyalty_programme(interval, interval, bigint, bigint, bigint, interval, interval) IS
    'sets programme-wide loyalty rules (tier window and review period, referral rewards, RFM window and retention); NULL keeps a rule';

CREATE TABLE jobspy.loyalty_businesses (
    id              uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    code            text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$'),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    earn_bp         integer NOT NULL DEFAULT 500 CHECK (earn_bp BETWEEN 0 AND 100000),
    min_purchase    bigint NOT NULL DEFAULT 0 CHECK (min_purchase >= 0),
    points_lifetime interval NOT NULL DEFAULT '365 days'
                    CHECK (jobspy.interval_forward(points_lifetime)),
    created_at      timestamptz NOT NULL DEFAULT jobspy.now(),
    updated_at      timestamptz NOT NULL DEFAULT jobspy.now()
);
COMMENT ON TABLE jobspy.loyalty_businesses IS
    'partner businesses (seed 002): base earn rate in basis points of the amount, minimum purchase that earns, points lifetime';
CREATE TRIGGER loyalty_businesses_updated_at BEFORE UPDATE ON jobspy.loyalty_businesses
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
CREATE TRIGGER loyalty_businesses_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.loyalty_businesses
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
SELECT pg_catalog.pg_extension_config_dump('jobspy.loyalty_businesses', '');

-- Status tiers (seed 002 status_tiers): a member holds the highest-ranked
-- tier whose threshold their spend in the tier's currency over the rolling
-- window (loyalty_programme.tier_window) reaches.
CREATE TABLE jobspy.loyalty_tiers (
    id         uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    code       text NOT NULL UNIQUE CHECK (code ~ '^[a-z][a-z0-9_-]{0,49}$'),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    rank       integer NOT NULL UNIQUE CHECK (rank >= 0),
    min_spend  bigint NOT NULL CHECK (min_spend >= 0),
    currency   text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    created_at timestamptz NOT NULL DEFAULT jobspy.now()
);
COMMENT ON TABLE jobspy.loyalty_tiers IS
    'status tiers: rank, and the spend (minor units of currency) over the rolling window that qualifies for them';
SELECT pg_catalog.pg_extension_config_dump('jobspy.loyalty_tiers', '');

CREATE TABLE jobspy.loyalty_earn_rates (
    business_id uuid NOT NULL REFERENCES jobspy.loyalty_businesses (id) ON DELETE CASCADE,
    tier_id     uuid NOT NULL REFERENCES jobspy.loyalty_tiers (id) ON DELETE CASCADE,
    earn_bp     integer NOT NULL CHECK (earn_bp BETWEEN 0 AND 100000),
    PRIMARY KEY (business_id, tier_id)
);
COMMENT ON TABLE jobspy.loyalty_earn_rates IS
    'a business''s earn rate for members of a tier, in basis points; the business''s earn_bp otherwise';
CREATE INDEX loyalty_earn_rates_tier_idx ON jobspy.loyalty_earn_rates (tier_id);
SELECT pg_catalog.pg_extension_config_dump('jobspy.loyalty_earn_rates', '');

CREATE TABLE jobspy.loyalty_category_multipliers (
    business_id   uuid NOT NULL REFERENCES jobspy.loyalty_businesses (id) ON DELETE CASCADE,
    category      text NOT NULL CHECK (category ~ '^[a-z0-9][a-z0-9_.-]{0,49}$'),
    multiplier_bp integer NOT NULL CHECK (multiplier_bp BETWEEN 0 AND 1000000),
    PRIMARY KEY (business_id, category)
);
COMMENT ON TABLE jobspy.loyalty_category_multipliers IS
    'a business''s multiplier for a purchase category, in basis points of the earn rate (10000 = x1)';
SELECT pg_catalog.pg_extension_config_dump('jobspy.loyalty_category_multipliers', '');

-- ==== the members table ===================================================

-- A member is a user (found by email, or by phone in E.164 form).  balance
-- is the sum of what remains of every grant, maintained with the ledger;
-- next_expiry is the earliest expiry among grants with points left, so the
-- balance is read in O(1) until then.  debt is what a refund could not
-- take back; later earnings settle it first.
CREATE TABLE jobspy.loyalty_members (
    user_id        uuid PRIMARY KEY REFERENCES jobspy.users (id) ON DELETE CASCADE,
    phone          text UNIQUE CHECK (phone ~ '^\+[1-9][0-9]{7,14}$'),
    tier_id        uuid REFERENCES jobspy.loyalty_tiers (id) ON DELETE SET NULL,
    tier_since     timestamptz,
    tier_review_at timestamptz,
    balance        bigint NOT NULL DEFAULT 0 CHECK (balance >= 0),
    debt           bigint NOT NULL DEFAULT 0 CHECK (debt >= 0),
    next_expiry    timestamptz,
    referral_code  text UNIQUE,
    referred_by    uuid REFERENCES jobspy.loyalty_members (user_id) ON DELETE SET NULL,
    referral_rewarded_at timestamptz,
    window_spend   bigint,
    window_from    timestamptz,
    window_currency text,
    created_at     timestamptz NOT NULL DEFAULT jobspy.now()
) WITH (fillfactor = 80);
COMMENT ON TABLE jobspy.loyalty_members IS
    'loyalty members: phone (E.164), tier, maintained points balance and debt, referral code and referrer; window_spend, kept by purchases and refunds, is what the member''s purchases in window_currency made after window_from add up to, net of refunds (NULL until a purchase asks about a tier), so that the tier check reads only the purchases that left the window since';
CREATE INDEX loyalty_members_tier_review_idx ON jobspy.loyalty_members (tier_review_at);
CREATE INDEX loyalty_members_referred_by_idx ON jobspy.loyalty_members (referred_by);
SELECT pg_catalog.pg_extension_config_dump('jobspy.loyalty_members', '');

-- ==== C helpers ===========================================================

CREATE FUNCTION jobspy.normalize_phone(phone text, country_code text DEFAULT NULL) RETURNS text
    LANGUAGE c IMMUTABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_normalize_phone';
COMMENT ON FUNCTION jobspy.normalize_phone(text, text) IS
    'a phone number in E.164 form (+ and 8 to 15 digits) whatever its spacing or prefix; country_code for numbers written nationally; 22023 when it cannot be one';

CREATE FUNCTION jobspy.generate_referral_code() RETURNS text
    LANGUAGE c VOLATILE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_generate_referral_code';
COMMENT ON FUNCTION jobspy.generate_referral_code() IS
    'a fresh XXXX-XXXX referral code: 7 random symbols of the licence-key alphabet and a mod-37 check symbol';

CREATE FUNCTION jobspy.normalize_referral_code(text) RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_normalize_referral_code';
COMMENT ON FUNCTION jobspy.normalize_referral_code(text) IS
    'the canonical form of a typed referral code (case, dashes, look-alikes), NULL when malformed or its check symbol fails';

-- ==== management ===========================================================

CREATE FUNCTION jobspy.create_business(code text, name text) RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
#variable_conflict use_column
DECLARE
    id uuid;
BEGIN
    IF create_business.code IS NULL OR create_business.code !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$' THEN
        RAISE EXCEPTION 'business code must be 1 to 50 letters, digits, dots, dashes or underscores'
            USING ERRCODE = '22023';
    END IF;
    IF create_business.name IS NULL OR length(create_business.name) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'business name must be 1 to 200 characters' USING ERRCODE = '22023';
    END IF;
    INSERT INTO jobspy.loyalty_businesses (code, name) VALUES (create_business.code, create_business.name)
        RETURNING loyalty_businesses.id INTO id;
    RETURN id;
EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION 'business "%" already exists', create_business.code USING ERRCODE = '23505';
END
$$;
COMMENT ON FUNCTION jobspy.create_business(text, text) IS
    'creates a partner business earning 500 basis points (5%) of the amount, points living 365 days, until its rules say otherwise';

CREATE FUNCTION jobspy.loyalty_business_id(code text) RETURNS uuid
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    id uuid;
BEGIN
    SELECT b.id INTO id FROM jobspy.loyalty_businesses b WHERE b.code = $1;
    IF id IS NULL THEN
        RAISE EXCEPTION 'unknown business "%"', left($1, 60) USING ERRCODE = '22023';
    END IF;
    RETURN id;
END
$$;
COMMENT ON FUNCTION jobspy.loyalty_business_id(text) IS 'a business''s id by code; 22023 when unknown';

CREATE FUNCTION jobspy.set_business_rules(business_code text, earn_bp integer DEFAULT NULL,
                                          min_purchase bigint DEFAULT NULL, points_lifetime interval DEFAULT NULL)
    RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    -- A lifetime is bounded: every purchase adds it to the clock.
    IF earn_bp NOT BETWEEN 0 AND 100000 OR min_purchase < 0 OR NOT jobspy.interval_forward(points_lifetime) THEN
        RAISE EXCEPTION 'earn_bp must be 0 to 100000, min_purchase at least 0, points_lifetime positive in every part and at most 100 years'
            USING ERRCODE = '22023';
    END IF;
    UPDATE jobspy.loyalty_businesses b
       SET earn_bp = coalesce(set_business_rules.earn_bp, b.earn_bp),
           min_purchase = coalesce(set_business_rules.min_purchase, b.min_purchase),
           points_lifetime = coalesce(set_business_rules.points_lifetime, b.points_lifetime)
     WHERE b.id = jobspy.loyalty_business_id(business_code);
END
$$;
COMMENT ON FUNCTION jobspy.set_business_rules(text, integer, bigint, interval) IS
    'sets a business''s base earn rate (basis points), minimum purchase that earns, and points lifetime; NULL keeps a rule';

CREATE FUNCTION jobspy.set_tier(code text, name text, rank integer, min_spend bigint, currency text)
    RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
#variable_conflict use_column
DECLARE
    id uuid;
BEGIN
    IF (set_tier.code ~ '^[a-z][a-z0-9_-]{0,49}$' AND length(set_tier.name) BETWEEN 1 AND 100 AND set_tier.rank >= 0
        AND set_tier.min_spend >= 0 AND set_tier.currency ~ '^[A-Z]{3}$') IS NOT TRUE THEN
        RAISE EXCEPTION 'a tier needs a lower-case code, a name, a rank >= 0, a min_spend >= 0 and an ISO 4217 currency'
            USING ERRCODE = '22023';
    END IF;
    INSERT INTO jobspy.loyalty_tiers (code, name, rank, min_spend, currency)
    VALUES (set_tier.code, set_tier.name, set_tier.rank, set_tier.min_spend, set_tier.currency)
    ON CONFLICT (code) DO UPDATE
       SET name = excluded.name, rank = excluded.rank, min_spend = excluded.min_spend, currency = excluded.currency
    RETURNING loyalty_tiers.id INTO id;
    RETURN id;
EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION 'another tier has rank %', set_tier.rank USING ERRCODE = '23505';
END
$$;
COMMENT ON FUNCTION jobspy.set_tier(text, text, integer, bigint, text) IS
    'creates or changes a status tier: rank and the spend over the rolling window that qualifies';

CREATE FUNCTION jobspy.set_earn_rate(business_code text, tier_code text, earn_bp integer) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
#variable_conflict use_column
DECLARE
    t uuid := (SELECT id FROM jobspy.loyalty_tiers WHERE code = set_earn_rate.tier_code);
BEGIN
    IF t IS NULL THEN
        RAISE EXCEPTION 'unknown tier "%"', left(set_earn_rate.tier_code, 60) USING ERRCODE = '22023';
    END IF;
    IF set_earn_rate.earn_bp IS NULL OR set_earn_rate.earn_bp NOT BETWEEN 0 AND 100000 THEN
        RAISE EXCEPTION 'earn_bp must be 0 to 100000' USING ERRCODE = '22023';
    END IF;
    INSERT INTO jobspy.loyalty_earn_rates (business_id, tier_id, earn_bp)
    VALUES (jobspy.loyalty_business_id(set_earn_rate.business_code), t, set_earn_rate.earn_bp)
    ON CONFLICT (business_id, tier_id) DO UPDATE SET earn_bp = excluded.earn_bp;
END
$$;
COMMENT ON FUNCTION jobspy.set_earn_rate(text, text, integer) IS
    'sets a business''s earn rate (basis points) for members of a tier';

-- A purchase category as multipliers are stored: trimmed and lower-case,
-- then 1 to 50 letters, digits, dots, dashes or underscores; 22023
-- otherwise (a category written another way would silently earn x1).
-- NULL stays NULL.
CREATE FUNCTION jobspy.loyalty_category(category text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE
    AS $$
DECLARE
    c text := lower(btrim($1));
BEGIN
    IF c !~ '^[a-z0-9][a-z0-9_.-]{0,49}$' THEN
        RAISE EXCEPTION 'a category is 1 to 50 letters, digits, dots, dashes or underscores'
            USING ERRCODE = '22023', DETAIL = 'Categories are compared trimmed and in lower case.';
    END IF;
    RETURN c;
END
$$;
COMMENT ON FUNCTION jobspy.loyalty_category(text) IS
    'a purchase category in the form multipliers are stored in (trimmed, lower-case); 22023 when malformed';

CREATE FUNCTION jobspy.set_category_multiplier(business_code text, category text, multiplier_bp integer)
    RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
#variable_conflict use_column
BEGIN
    IF set_category_multiplier.category IS NULL OR set_category_multiplier.multiplier_bp IS NULL
       OR set_category_multiplier.multiplier_bp NOT BETWEEN 0 AND 1000000 THEN
        RAISE EXCEPTION 'a category is lower-case letters and digits, a multiplier 0 to 1000000 basis points'
            USING ERRCODE = '22023';
    END IF;
    INSERT INTO jobspy.loyalty_category_multipliers (business_id, category, multiplier_bp)
    VALUES (jobspy.loyalty_business_id(set_category_multiplier.business_code),
            jobspy.loyalty_category(set_category_multiplier.category), set_category_multiplier.multiplier_bp)
    ON CONFLICT (business_id, category) DO UPDATE SET multiplier_bp = excluded.multiplier_bp;
END
$$;
COMMENT ON FUNCTION jobspy.set_category_multiplier(text, text, integer) IS
    'sets a business''s earn multiplier for a purchase category (trimmed, lower-case; basis points, 10000 = x1)';

-- ==== member functions ===================================================

CREATE FUNCTION jobspy.enroll_member(user_id uuid, phone text DEFAULT NULL, country_code text DEFAULT NULL)
    RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
#variable_conflict use_column
DECLARE
    e164 text := jobspy.normalize_phone(enroll_member.phone, enroll_member.country_code);
BEGIN
    IF NOT EXISTS (SELECT FROM jobspy.users u WHERE u.id = enroll_member.user_id) THEN
        RAISE EXCEPTION 'unknown user' USING ERRCODE = '22023';
    END IF;
    INSERT INTO jobspy.loyalty_members (user_id, phone) VALUES (enroll_member.user_id, e164)
    ON CONFLICT (user_id) DO UPDATE SET phone = coalesce(excluded.phone, loyalty_members.phone);
    RETURN enroll_member.user_id;
EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION 'phone number % belongs to another member', e164 USING ERRCODE = '23505';
END
$$;
COMMENT ON FUNCTION jobspy.enroll_member(uuid, text, text) IS
    'makes a user a loyalty member (idempotent), optionally with a phone number stored in E.164 form';

CREATE FUNCTION jobspy.find_member(email text DEFAULT NULL, phone text DEFAULT NULL, country_code text DEFAULT NULL)
    RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT coalesce(
        (SELECT m.user_id FROM jobspy.loyalty_members m
          WHERE $2 IS NOT NULL AND m.phone = jobspy.normalize_phone($2, $3)),
        (SELECT m.user_id FROM jobspy.users u JOIN jobspy.loyalty_members m ON m.user_id = u.id
          WHERE $1 IS NOT NULL AND lower(u.email) = lower($1)))
$$;
COMMENT ON FUNCTION jobspy.find_member(text, text, text) IS
    'the member with this phone (any spacing or prefix) or email; NULL when none';

-- Internal helpers (not SECURITY DEFINER, granted to no role) run only
-- under the API functions, which pin search_path, and name every object
-- with its schema; a SET clause of their own would cost each call a
-- search_path switch.
--
-- Lock a member's row (making the member when the user has none yet): every
-- change of a member's points happens under this lock, which orders
-- concurrent spends, earns and refunds of one member.
CREATE FUNCTION jobspy.loyalty_lock_member(user_id uuid) RETURNS jobspy.loyalty_members
    LANGUAGE plpgsql VOLATILE
    AS $$
#variable_conflict use_column
DECLARE
    m jobspy.loyalty_members;
BEGIN
    SELECT * INTO m FROM jobspy.loyalty_members WHERE user_id = $1 FOR UPDATE;
    IF NOT FOUND THEN
        IF $1 IS NULL OR NOT EXISTS (SELECT FROM jobspy.users u WHERE u.id = $1) THEN
            RAISE EXCEPTION 'unknown user' USING ERRCODE = '22023';
        END IF;
        INSERT INTO jobspy.loyalty_members (user_id) VALUES ($1) ON CONFLICT DO NOTHING;
        SELECT * INTO m FROM jobspy.loyalty_members WHERE user_id = $1 FOR UPDATE;
    END IF;
    RETURN m;
END
$$;
COMMENT ON FUNCTION jobspy.loyalty_lock_member(uuid) IS
    'locks a member''s row FOR UPDATE, enrolling the user first when needed; 22023 for an unknown user';

-- maintain()'s passes over many members lock them one by one and keep the
-- locks; a purchase locks its member and then the referrer.  A pass that
-- waited for a busy member could close a cycle with such a purchase, so it
-- skips the member instead, who is still due at the next run.
CREATE FUNCTION jobspy.loyalty_try_lock_member(user_id uuid) RETURNS jobspy.loyalty_members
    LANGUAGE sql VOLATILE
    AS $$
    SELECT m.* FROM jobspy.loyalty_members m WHERE m.user_id = $1 FOR UPDATE SKIP LOCKED
$$;
COMMENT ON FUNCTION jobspy.loyalty_try_lock_member(uuid) IS
    'locks a member''s row FOR UPDATE unless another transaction holds it: the row, or NULL when it is busy or missing';

-- ==== privileges ===========================================================

REVOKE ALL ON jobspy.loyalty_programme, jobspy.loyalty_businesses, jobspy.loyalty_tiers,
    jobspy.loyalty_earn_rates, jobspy.loyalty_category_multipliers, jobspy.loyalty_members FROM PUBLIC;
GRANT SELECT ON jobspy.loyalty_programme, jobspy.loyalty_businesses, jobspy.loyalty_tiers,
    jobspy.loyalty_earn_rates, jobspy.loyalty_category_multipliers, jobspy.loyalty_members TO jobspy_admin;

REVOKE ALL ON FUNCTION
    jobspy.loyalty_settings(), jobspy.set_loyalty_programme(interval, interval, bigint, bigint, bigint, interval, interval),
    jobspy.normalize_phone(text, text), jobspy.generate_referral_code(),
    jobspy.normalize_referral_code(text), jobspy.create_business(text, text), jobspy.loyalty_business_id(text),
    jobspy.set_business_rules(text, integer, bigint, interval), jobspy.set_tier(text, text, integer, bigint, text),
    jobspy.set_earn_rate(text, text, integer), jobspy.loyalty_category(text),
    jobspy.set_category_multiplier(text, text, integer),
    jobspy.enroll_member(uuid, text, text), jobspy.find_member(text, text, text), jobspy.loyalty_lock_member(uuid),
    jobspy.loyalty_try_lock_member(uuid)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    jobspy.normalize_phone(text, text), jobspy.normalize_referral_code(text),
    jobspy.enroll_member(uuid, text, text), jobspy.find_member(text, text, text)
  TO jobspy_app, jobspy_admin;
GRANT EXECUTE ON FUNCTION
    jobspy.set_loyalty_programme(interval, interval, bigint, bigint, bigint, interval, interval),
    jobspy.create_business(text, text), jobspy.set_business_rules(text, integer, bigint, interval),
    jobspy.set_tier(text, text, integer, bigint, text), jobspy.set_earn_rate(text, text, integer),
    jobspy.set_category_multiplier(text, text, integer)
  TO jobspy_admin;
