\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- billing_catalogue: what is sold.  Categories in a hierarchy, products
-- (which may grant a quotas plan) and their prices, flat or metered.  A
-- price that something uses never changes; a new price does.

CREATE TABLE jobspy.product_categories (
    id         uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    code       text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$'),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    parent_id  uuid REFERENCES jobspy.product_categories (id),
    created_at timestamptz NOT NULL DEFAULT jobspy.now(),
    updated_at timestamptz NOT NULL DEFAULT jobspy.now(),
    CHECK (parent_id <> id)
);
COMMENT ON TABLE jobspy.product_categories IS 'product categories, a tree through parent_id (no cycles)';
CREATE INDEX product_categories_parent_idx ON jobspy.product_categories (parent_id);
CREATE TRIGGER product_categories_updated_at BEFORE UPDATE ON jobspy.product_categories
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
SELECT pg_catalog.pg_extension_config_dump('jobspy.product_categories', '');

CREATE FUNCTION jobspy.product_categories_no_cycle() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    -- The sub-query in an IF of its own: "x IS NOT NULL AND EXISTS (...)"
    -- folds to false in a custom plan when x is NULL, so PostgreSQL kept
    -- planning it again on every call (docs/development.md, "Plans that
    -- PL/pgSQL keeps").
    IF NEW.parent_id IS NOT NULL THEN
        IF EXISTS (
            WITH RECURSIVE up(id) AS (
                SELECT NEW.parent_id
                UNION
                SELECT c.parent_id FROM jobspy.product_categories c JOIN up ON c.id = up.id
                 WHERE c.parent_id IS NOT NULL)
            SELECT FROM up WHERE up.id = NEW.id) THEN
            RAISE EXCEPTION 'category "%" cannot be its own ancestor', NEW.code USING ERRCODE = '23514';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION jobspy.product_categories_no_cycle() IS
    'trigger: refuses a parent that would make the category tree a cycle';
CREATE TRIGGER product_categories_no_cycle BEFORE INSERT OR UPDATE OF parent_id ON jobspy.product_categories
    FOR EACH ROW EXECUTE FUNCTION jobspy.product_categories_no_cycle();

CREATE TABLE jobspy.products (
    id          uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    code        text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description text CHECK (length(description) <= 2000),
    kind        text NOT NULL DEFAULT 'subscription'
                CHECK (kind IN ('subscription', 'one_time', 'membership', 'addon')),
    plan_id     uuid REFERENCES jobspy.plans (id),
    category_id uuid REFERENCES jobspy.product_categories (id),
    parent_id   uuid REFERENCES jobspy.products (id),
    options     jsonb CHECK (jsonb_typeof(options) = 'object'),
    is_active   boolean NOT NULL DEFAULT true,
    metadata    jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT jobspy.now(),
    updated_at  timestamptz NOT NULL DEFAULT jobspy.now(),
    CHECK ((parent_id IS NULL) = (options IS NULL)),
    CHECK (parent_id <> id)
);
COMMENT ON TABLE jobspy.products IS
    'what is sold: subscriptions, one-time goods, memberships and addons; plan_id names the quotas plan a live subscription grants; a variant (seed 001) names its parent product and its options (size, colour, ...), with prices of its own';
CREATE INDEX products_category_idx ON jobspy.products (category_id);
CREATE INDEX products_plan_idx ON jobspy.products (plan_id);
-- One variant per parent and set of options.
CREATE UNIQUE INDEX products_variant_options_idx ON jobspy.products (parent_id, options) WHERE parent_id IS NOT NULL;

-- Variants are one level deep: a variant's parent is not itself a variant,
-- and a product with variants does not become one.
CREATE FUNCTION jobspy.products_variant_depth() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NEW.parent_id IS NOT NULL
       AND (EXISTS (SELECT FROM jobspy.products p WHERE p.id = NEW.parent_id AND p.parent_id IS NOT NULL)
            OR EXISTS (SELECT FROM jobspy.products p WHERE p.parent_id = NEW.id)) THEN
        RAISE EXCEPTION 'product "%" cannot be a variant of a variant', NEW.code USING ERRCODE = '23514',
            HINT = 'Make the variant of the parent product, with all its options.';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION jobspy.products_variant_depth() IS
    'trigger: refuses a variant whose parent is a variant, or a product with variants becoming one';
CREATE TRIGGER products_variant_depth BEFORE INSERT OR UPDATE OF parent_id ON jobspy.products
    FOR EACH ROW EXECUTE FUNCTION jobspy.products_variant_depth();
CREATE TRIGGER products_updated_at BEFORE UPDATE ON jobspy.products
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
CREATE TRIGGER products_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.products
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
SELECT pg_catalog.pg_extension_config_dump('jobspy.products', '');

CREATE TABLE jobspy.prices (
    id                uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    product_id        uuid NOT NULL REFERENCES jobspy.products (id),
    code              text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$'),
    amount            bigint NOT NULL CHECK (amount >= 0),
    currency          text NOT NULL REFERENCES jobspy.currencies (code),
    "interval"        text CHECK ("interval" IN ('day', 'week', 'month', 'year')),
    interval_count    integer NOT NULL DEFAULT 1 CHECK (interval_count BETWEEN 1 AND 366),
    trial_days        integer NOT NULL DEFAULT 0 CHECK (trial_days BETWEEN 0 AND 730),
    unit_amount       bigint CHECK (unit_amount >= 0),
    included_quantity bigint NOT NULL DEFAULT 0 CHECK (included_quantity >= 0),
    metric            text CHECK (length(metric) BETWEEN 1 AND 100),
    is_active         boolean NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL DEFAULT jobspy.now(),
    updated_at        timestamptz NOT NULL DEFAULT jobspy.now(),
    CHECK ("interval" IS NOT NULL OR trial_days = 0),
    CHECK ((unit_amount IS NULL) = (metric IS NULL)),
    CHECK (unit_amount IS NULL OR "interval" IS NOT NULL)
);
COMMENT ON TABLE jobspy.prices IS
    'prices of products in minor units: recurring (interval, interval_count, trial_days) or one-time (no interval); metered when unit_amount is set (per unit of metric over included_quantity each period); never changed once used';
CREATE INDEX prices_product_idx ON jobspy.prices (product_id);
CREATE TRIGGER prices_updated_at BEFORE UPDATE ON jobspy.prices
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
CREATE TRIGGER prices_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.prices
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
SELECT pg_catalog.pg_extension_config_dump('jobspy.prices', '');

-- Which tables may use a price: each module that does adds itself here, so
-- the rule below stays in one place.
CREATE TABLE jobspy.price_users (
    table_name  text PRIMARY KEY,
    column_name text NOT NULL
);
COMMENT ON TABLE jobspy.price_users IS
    'internal: the tables (in schema jobspy) and columns that refer to prices; a price one of them uses never changes';

CREATE FUNCTION jobspy.price_in_use(price_id uuid) RETURNS boolean
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    u record;
    used boolean;
BEGIN
    FOR u IN SELECT * FROM jobspy.price_users LOOP
        EXECUTE format('SELECT EXISTS (SELECT FROM jobspy.%I WHERE %I = $1)', u.table_name, u.column_name)
           INTO used USING price_id;
        IF used THEN
            RETURN true;
        END IF;
    END LOOP;
    RETURN false;
END
$$;
COMMENT ON FUNCTION jobspy.price_in_use(uuid) IS
    'true when a subscription, invoice line or other row listed in price_users refers to the price';

CREATE FUNCTION jobspy.prices_frozen_when_used() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF (NEW.product_id, NEW.code, NEW.amount, NEW.currency, NEW."interval", NEW.interval_count, NEW.trial_days,
        NEW.unit_amount, NEW.included_quantity, NEW.metric)
       IS DISTINCT FROM
       (OLD.product_id, OLD.code, OLD.amount, OLD.currency, OLD."interval", OLD.interval_count, OLD.trial_days,
        OLD.unit_amount, OLD.included_quantity, OLD.metric)
       AND jobspy.price_in_use(OLD.id) THEN
        RAISE EXCEPTION 'price "%" is in use and cannot change', OLD.code
            USING ERRCODE = 'JS504',
                  DETAIL = 'Subscriptions or invoices refer to it; only its is_active flag may change.',
                  HINT = 'Create a new price with jobspy.create_price and deactivate this one.';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION jobspy.prices_frozen_when_used() IS
    'trigger: raises JS504 when a used price''s terms would change';
CREATE TRIGGER prices_frozen_when_used BEFORE UPDATE ON jobspy.prices
    FOR EACH ROW EXECUTE FUNCTION jobspy.prices_frozen_when_used();

CREATE FUNCTION jobspy.create_category(code text, name text, parent_code text DEFAULT NULL) RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_parent uuid;
    v_id uuid;
BEGIN
    IF $1 IS NULL OR $2 IS NULL THEN
        RAISE EXCEPTION 'category code and name must not be NULL' USING ERRCODE = '22023';
    END IF;
    IF $3 IS NOT NULL THEN
        SELECT c.id INTO v_parent FROM jobspy.product_categories c WHERE c.code = $3;
        IF v_parent IS NULL THEN
            RAISE EXCEPTION 'unknown category "%"', left($3, 50) USING ERRCODE = '22023';
        END IF;
    END IF;
    IF EXISTS (SELECT FROM jobspy.product_categories c WHERE c.code = $1) THEN
        RAISE EXCEPTION 'category "%" already exists', left($1, 50) USING ERRCODE = '23505';
    END IF;
    INSERT INTO jobspy.product_categories AS c (code, name, parent_id) VALUES ($1, $2, v_parent)
    RETURNING c.id INTO v_id;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION jobspy.create_category(text, text, text) IS
    'adds a product category, under a parent category when parent_code is given';

CREATE FUNCTION jobspy.create_product(code text, name text, kind text DEFAULT 'subscription',
                                      plan_code text DEFAULT NULL, category_code text DEFAULT NULL,
                                      description text DEFAULT NULL)
    RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_plan uuid;
    v_category uuid;
    v_id uuid;
BEGIN
    IF $1 IS NULL OR $2 IS NULL OR $3 IS NULL THEN
        RAISE EXCEPTION 'product code, name and kind must not be NULL' USING ERRCODE = '22023';
    END IF;
    IF $1 !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$' THEN
        RAISE EXCEPTION 'invalid product code "%"', left($1, 50) USING ERRCODE = '22023',
            DETAIL = 'A product code is 1 to 50 letters, digits, "_", "." or "-", starting with a letter or digit.';
    END IF;
    IF $3 NOT IN ('subscription', 'one_time', 'membership', 'addon') THEN
        RAISE EXCEPTION 'product kind must be subscription, one_time, membership or addon, not "%"', left($3, 20)
            USING ERRCODE = '22023';
    END IF;
    IF $4 IS NOT NULL THEN
        SELECT p.id INTO v_plan FROM jobspy.plans p WHERE p.code = $4;
        IF v_plan IS NULL THEN
            RAISE EXCEPTION 'unknown plan "%"', left($4, 50) USING ERRCODE = '22023',
                HINT = 'Create it with jobspy.create_plan first.';
        END IF;
        IF $3 = 'one_time' THEN
            RAISE EXCEPTION 'a one-time product cannot grant a plan' USING ERRCODE = '22023',
                DETAIL = 'Plans follow live subscriptions.';
        END IF;
    END IF;
    IF $5 IS NOT NULL THEN
        SELECT c.id INTO v_category FROM jobspy.product_categories c WHERE c.code = $5;
        IF v_category IS NULL THEN
            RAISE EXCEPTION 'unknown category "%"', left($5, 50) USING ERRCODE = '22023';
        END IF;
    END IF;
    IF EXISTS (SELECT FROM jobspy.products p WHERE p.code = $1) THEN
        RAISE EXCEPTION 'product "%" already exists', $1 USING ERRCODE = '23505';
    END IF;
    INSERT INTO jobspy.products AS p (code, name, kind, plan_id, category_id, description)
    VALUES ($1, $2, $3, v_plan, v_category, $6)
    RETURNING p.id INTO v_id;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION jobspy.create_product(text, text, text, text, text, text) IS
    'adds a product of a kind (subscription, one_time, membership, addon); plan_code names the quotas plan a live subscription to it puts in force';

-- A variant (seed 001's product variations): a product of its own, with
-- prices of its own, that takes its kind, plan, category and description
-- from its parent.
CREATE FUNCTION jobspy.create_product_variant(parent_code text, code text, name text, options jsonb)
    RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_parent jobspy.products;
    v_id uuid;
BEGIN
    IF $1 IS NULL OR $2 IS NULL OR $3 IS NULL OR $4 IS NULL THEN
        RAISE EXCEPTION 'parent_code, code, name and options must not be NULL' USING ERRCODE = '22023';
    END IF;
    IF jsonb_typeof($4) <> 'object' OR $4 = '{}'
       OR EXISTS (SELECT FROM jsonb_each($4) e WHERE jsonb_typeof(e.value) NOT IN ('string', 'number', 'boolean')) THEN
        RAISE EXCEPTION 'a variant''s options are a non-empty object of plain values' USING ERRCODE = '22023',
            HINT = 'For example ''{"size": "L", "colour": "red"}''.';
    END IF;
    SELECT p.* INTO v_parent FROM jobspy.products p WHERE p.code = $1;
    IF v_parent.id IS NULL THEN
        RAISE EXCEPTION 'unknown product "%"', left($1, 50) USING ERRCODE = '22023';
    END IF;
    IF v_parent.parent_id IS NOT NULL THEN
        RAISE EXCEPTION 'product "%" is itself a variant', $1 USING ERRCODE = '22023',
            HINT = 'Make the variant of its parent product.';
    END IF;
    IF EXISTS (SELECT FROM jobspy.products p WHERE p.parent_id = v_parent.id AND p.options = $4) THEN
        RAISE EXCEPTION 'product "%" already has a variant with these options', $1 USING ERRCODE = '23505';
    END IF;
    PERFORM jobspy.create_product($2, $3, v_parent.kind, (SELECT pl.code FROM jobspy.plans pl WHERE pl.id = v_parent.plan_id),
                                  (SELECT c.code FROM jobspy.product_categories c WHERE c.id = v_parent.category_id),
                                  v_parent.description);
    UPDATE jobspy.products p SET parent_id = v_parent.id, options = $4 WHERE p.code = $2
    RETURNING p.id INTO v_id;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION jobspy.create_product_variant(text, text, text, jsonb) IS
    'adds a variant of a product (seed 001: size, colour, ...): its own code, name and prices, the parent''s kind, plan, category and description; one variant per set of options';

CREATE FUNCTION jobspy.create_price(product_code text, code text, amount bigint, currency text,
                                    "interval" text DEFAULT NULL, interval_count integer DEFAULT 1,
                                    trial_days integer DEFAULT 0, unit_amount bigint DEFAULT NULL,
                                    included_quantity bigint DEFAULT 0, metric text DEFAULT NULL)
    RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_product jobspy.products;
    v_id uuid;
BEGIN
    IF $1 IS NULL OR $2 IS NULL OR $3 IS NULL OR $4 IS NULL THEN
        RAISE EXCEPTION 'product_code, code, amount and currency must not be NULL' USING ERRCODE = '22023';
    END IF;
    SELECT * INTO v_product FROM jobspy.products p WHERE p.code = $1;
    IF v_product.id IS NULL THEN
        RAISE EXCEPTION 'unknown product "%"', left($1, 50) USING ERRCODE = '22023';
    END IF;
    IF $2 !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$' THEN
        RAISE EXCEPTION 'invalid price code "%"', left($2, 50) USING ERRCODE = '22023',
            DETAIL = 'A price code is 1 to 50 letters, digits, "_", "." or "-", starting with a letter or digit.';
    END IF;
    IF $3 < 0 OR $8 < 0 OR coalesce($9, 0) < 0 THEN
        RAISE EXCEPTION 'amounts must not be negative' USING ERRCODE = '22023',
            DETAIL = 'Amounts are whole numbers of the currency''s minor units.';
    END IF;
    IF $3 > 1e15 OR $8 > 1e15 THEN
        RAISE EXCEPTION 'a price''s amount and unit amount must be at most 10^15 minor units' USING ERRCODE = '22023';
    END IF;
    PERFORM jobspy.billing_check_currency($4);
    IF $5 IS NOT NULL AND $5 NOT IN ('day', 'week', 'month', 'year') THEN
        RAISE EXCEPTION 'interval must be day, week, month, year or NULL, not "%"', left($5, 20)
            USING ERRCODE = '22023';
    END IF;
    IF coalesce($6, 1) NOT BETWEEN 1 AND 366 OR coalesce($7, 0) NOT BETWEEN 0 AND 730 THEN
        RAISE EXCEPTION 'interval_count must be 1 to 366 and trial_days 0 to 730' USING ERRCODE = '22023';
    END IF;
    IF $5 IS NULL AND v_product.kind IN ('subscription', 'addon') THEN
        RAISE EXCEPTION 'a price of % product "%" needs an interval', v_product.kind, $1 USING ERRCODE = '22023';
    END IF;
    IF $5 IS NOT NULL AND v_product.kind = 'one_time' THEN
        RAISE EXCEPTION 'a price of one-time product "%" has no interval', $1 USING ERRCODE = '22023';
    END IF;
    IF $5 IS NULL AND (coalesce($7, 0) > 0 OR $8 IS NOT NULL) THEN
        RAISE EXCEPTION 'trial days and metering need a recurring price' USING ERRCODE = '22023';
    END IF;
    IF ($8 IS NULL) <> ($10 IS NULL) THEN
        RAISE EXCEPTION 'a metered price needs both unit_amount and metric' USING ERRCODE = '22023';
    END IF;
    IF EXISTS (SELECT FROM jobspy.prices p WHERE p.code = $2) THEN
        RAISE EXCEPTION 'price "%" already exists', $2 USING ERRCODE = '23505',
            HINT = 'A price never changes once used: give a new price a new code.';
    END IF;
    INSERT INTO jobspy.prices AS p (product_id, code, amount, currency, "interval", interval_count, trial_days,
                                    unit_amount, included_quantity, metric)
    VALUES (v_product.id, $2, $3, $4, $5, coalesce($6, 1), coalesce($7, 0), $8, coalesce($9, 0), $10)
    RETURNING p.id INTO v_id;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION jobspy.create_price(text, text, bigint, text, text, integer, integer, bigint, bigint, text) IS
    'adds a price to a product: amount in minor units per interval_count intervals (NULL interval: one-time); metered when unit_amount and metric are given';

REVOKE ALL ON FUNCTION
    jobspy.create_category(text, text, text),
    jobspy.create_product(text, text, text, text, text, text),
    jobspy.create_product_variant(text, text, text, jsonb),
    jobspy.create_price(text, text, bigint, text, text, integer, integer, bigint, bigint, text),
    jobspy.products_variant_depth(),
    jobspy.price_in_use(uuid),
    jobspy.prices_frozen_when_used(),
    jobspy.product_categories_no_cycle()
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    jobspy.create_category(text, text, text),
    jobspy.create_product(text, text, text, text, text, text),
    jobspy.create_product_variant(text, text, text, jsonb),
    jobspy.create_price(text, text, bigint, text, text, integer, integer, bigint, bigint, text)
  TO jobspy_admin;
REVOKE ALL ON jobspy.price_users FROM PUBLIC;
GRANT SELECT ON jobspy.product_categories, jobspy.products, jobspy.prices
  TO jobspy_app, jobspy_admin;
