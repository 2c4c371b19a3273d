\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- billing_customers: money and currencies, customers and their addresses,
-- payment providers, provider customers and payment methods.  Amounts are
-- bigint minor units of an ISO 4217 currency; no sum mixes currencies.

-- ---------------------------------------------------------------- money

CREATE TABLE jobspy.currencies (
    code       text PRIMARY KEY CHECK (code ~ '^[A-Z]{3}$'),
    exponent   smallint NOT NULL CHECK (exponent BETWEEN 0 AND 4),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    standard   boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE jobspy.currencies IS
    'ISO 4217 currencies and their exponents (minor units per major unit = 10^exponent); standard rows ship with the extension';
INSERT INTO jobspy.currencies (code, exponent, name, standard) VALUES
    ('AED', 2, 'UAE Dirham', true), ('AUD', 2, 'Australian Dollar', true), ('BHD', 3, 'Bahraini Dinar', true),
    ('BRL', 2, 'Brazilian Real', true), ('CAD', 2, 'Canadian Dollar', true), ('CHF', 2, 'Swiss Franc', true),
    ('CLP', 0, 'Chilean Peso', true), ('CNY', 2, 'Yuan Renminbi', true), ('CZK', 2, 'Czech Koruna', true),
    ('DKK', 2, 'Danish Krone', true), ('EUR', 2, 'Euro', true), ('GBP', 2, 'Pound Sterling', true),
    ('HKD', 2, 'Hong Kong Dollar', true), ('HUF', 2, 'Forint', true), ('IDR', 2, 'Rupiah', true),
    ('ILS', 2, 'New Israeli Sheqel', true), ('INR', 2, 'Indian Rupee', true), ('ISK', 0, 'Iceland Krona', true),
    ('JOD', 3, 'Jordanian Dinar', true), ('JPY', 0, 'Yen', true), ('KRW', 0, 'Won', true),
    ('KWD', 3, 'Kuwaiti Dinar', true), ('KZT', 2, 'Tenge', true), ('MXN', 2, 'Mexican Peso', true),
    ('NOK', 2, 'Norwegian Krone', true), ('NZD', 2, 'New Zealand Dollar', true), ('OMR', 3, 'Rial Omani', true),
    ('PLN', 2, 'Zloty', true), ('RUB', 2, 'Russian Ruble', true), ('SAR', 2, 'Saudi Riyal', true),
    ('SEK', 2, 'Swedish Krona', true), ('SGD', 2, 'Singapore Dollar', true), ('THB', 2, 'Baht', true),
    ('TND', 3, 'Tunisian Dinar', true), ('TRY', 2, 'Turkish Lira', true), ('UAH', 2, 'Hryvnia', true),
    ('USD', 2, 'US Dollar', true), ('VND', 0, 'Dong', true), ('ZAR', 2, 'Rand', true);
SELECT pg_catalog.pg_extension_config_dump('jobspy.currencies', 'WHERE NOT standard');

-- The one place that says two amounts may meet: same currency, else JS501.
CREATE FUNCTION jobspy.money_same_currency(a text, b text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF a IS DISTINCT FROM b THEN
        RAISE EXCEPTION 'cannot combine amounts in % and %', coalesce(left(a, 10), 'no currency'),
                        coalesce(left(b, 10), 'no currency')
            USING ERRCODE = 'JS501',
                  DETAIL = 'Amounts of different currencies are never added or compared.',
                  HINT = 'Sum per currency (GROUP BY currency).';
    END IF;
    RETURN a;
END
$$;
COMMENT ON FUNCTION jobspy.money_same_currency(text, text) IS
    'returns the currency when both are the same; raises JS501 when they differ';

CREATE TYPE jobspy.money_total AS (amount bigint, currency text);
COMMENT ON TYPE jobspy.money_total IS 'an amount in minor units and its currency';

CREATE FUNCTION jobspy.money_sum_step(state jobspy.money_total, amount bigint, currency text)
    RETURNS jobspy.money_total
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF amount IS NULL THEN
        RETURN state;
    END IF;
    IF currency IS NULL THEN
        RAISE EXCEPTION 'an amount needs a currency' USING ERRCODE = '22023';
    END IF;
    IF state IS NULL THEN
        RETURN ROW(amount, currency)::jobspy.money_total;
    END IF;
    RETURN ROW(state.amount + amount, jobspy.money_same_currency(state.currency, currency))::jobspy.money_total;
END
$$;
COMMENT ON FUNCTION jobspy.money_sum_step(jobspy.money_total, bigint, text) IS
    'internal: one step of money_sum';

CREATE AGGREGATE jobspy.money_sum(amount bigint, currency text) (
    SFUNC = jobspy.money_sum_step,
    STYPE = jobspy.money_total
);
COMMENT ON AGGREGATE jobspy.money_sum(bigint, text) IS
    'the sum of amounts and their one currency; raises JS501 when the rows mix currencies';

CREATE FUNCTION jobspy.format_money(amount bigint, currency text) RETURNS text
    LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    e smallint;
BEGIN
    SELECT c.exponent INTO e FROM jobspy.currencies c WHERE c.code = currency;
    IF e IS NULL THEN
        RAISE EXCEPTION 'unknown currency "%"', left(currency, 10) USING ERRCODE = '22023',
            HINT = 'Currencies are ISO 4217 codes listed in jobspy.currencies.';
    END IF;
    RETURN round(amount::numeric / 10::numeric ^ e, e::integer)::text || ' ' || currency;
END
$$;
COMMENT ON FUNCTION jobspy.format_money(bigint, text) IS
    'an amount in minor units as a decimal of the currency''s major unit, with its exponent''s digits, then the code (1999, USD -> 19.99 USD)';

-- ------------------------------------------------- card numbers, nowhere

-- A full card number (PAN) is 13 to 19 digits, run together or in the
-- groups cards print (4-4-4-4[-3], 4-6-5), that pass the Luhn check.  UUIDs
-- and identifiers with letters around the digits do not match.
CREATE FUNCTION jobspy.looks_like_card_number(value text) RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    m text[];
    digits text;
    s integer;
    d integer;
BEGIN
    IF value IS NULL OR value !~ '[0-9]{4}' THEN
        RETURN false;
    END IF;
    FOR m IN SELECT regexp_matches(value,
            '(?:^|[^0-9A-Za-z_-])([0-9]{13,19}|[0-9]{4}(?:[ -][0-9]{4}){2}[ -][0-9]{1,7}|[0-9]{4}[ -][0-9]{6}[ -][0-9]{4,5})(?=$|[^0-9A-Za-z_-])',
            'g')
    LOOP
        digits := translate(m[1], ' -', '');
        IF length(digits) BETWEEN 13 AND 19 THEN
            s := 0;
            FOR i IN 0 .. length(digits) - 1 LOOP
                d := substr(digits, length(digits) - i, 1)::integer;
                IF i % 2 = 1 THEN
                    d := d * 2;
                    IF d > 9 THEN d := d - 9; END IF;
                END IF;
                s := s + d;
            END LOOP;
            IF s % 10 = 0 THEN
                RETURN true;
            END IF;
        END IF;
    END LOOP;
    RETURN false;
END
$$;
COMMENT ON FUNCTION jobspy.looks_like_card_number(text) IS
    'true when the text holds what looks like a full payment card number (13 to 19 digits, plain or grouped, Luhn-valid)';

-- Trigger: the columns named as arguments (text or jsonb) must hold no card
-- number, whoever writes the row.
CREATE FUNCTION jobspy.billing_refuse_card_numbers() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r jsonb := to_jsonb(NEW);
BEGIN
    FOR i IN 0 .. TG_NARGS - 1 LOOP
        IF jobspy.looks_like_card_number(r ->> TG_ARGV[i]) THEN
            RAISE EXCEPTION '%.% looks like a full card number', TG_TABLE_NAME, TG_ARGV[i]
                USING ERRCODE = 'JS502',
                      DETAIL = 'Card numbers are never stored; the value was not saved.',
                      HINT = 'Keep only the provider''s token and the last 4 digits.';
        END IF;
    END LOOP;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION jobspy.billing_refuse_card_numbers() IS
    'trigger: raises JS502 when a named column holds what looks like a full card number';

-- ------------------------------------------------------------- customers

CREATE TABLE jobspy.customers (
    id              uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    user_id         uuid UNIQUE REFERENCES jobspy.users (id) ON DELETE CASCADE,
    organization_id uuid UNIQUE REFERENCES jobspy.organizations (id) ON DELETE CASCADE,
    email           text CHECK (length(email) <= 254 AND email LIKE '%_@_%'),
    name            text CHECK (length(name) BETWEEN 1 AND 200),
    tax_id          text CHECK (length(tax_id) BETWEEN 1 AND 50),
    currency        text REFERENCES jobspy.currencies (code),
    metadata        jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    created_at      timestamptz NOT NULL DEFAULT jobspy.now(),
    updated_at      timestamptz NOT NULL DEFAULT jobspy.now(),
    CHECK (num_nonnulls(user_id, organization_id) = 1)
);
COMMENT ON TABLE jobspy.customers IS
    'who is billed: exactly one user or one organization, with a billing email, name, tax id and preferred currency';
CREATE TRIGGER customers_updated_at BEFORE UPDATE ON jobspy.customers
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
CREATE TRIGGER customers_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.customers
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
CREATE TRIGGER customers_no_card_numbers BEFORE INSERT OR UPDATE ON jobspy.customers
    FOR EACH ROW EXECUTE FUNCTION jobspy.billing_refuse_card_numbers('email', 'name', 'tax_id', 'metadata');
SELECT pg_catalog.pg_extension_config_dump('jobspy.customers', '');

CREATE TABLE jobspy.customer_addresses (
    id          uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    customer_id uuid NOT NULL REFERENCES jobspy.customers (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('billing', 'shipping')),
    is_default  boolean NOT NULL DEFAULT false,
    line1       text NOT NULL CHECK (length(line1) BETWEEN 1 AND 200),
    line2       text CHECK (length(line2) <= 200),
    city        text NOT NULL CHECK (length(city) BETWEEN 1 AND 100),
    region      text CHECK (length(region) <= 100),
    postal_code text CHECK (length(postal_code) <= 20),
    country     text NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    created_at  timestamptz NOT NULL DEFAULT jobspy.now(),
    updated_at  timestamptz NOT NULL DEFAULT jobspy.now()
);
COMMENT ON TABLE jobspy.customer_addresses IS
    'billing and shipping addresses of a customer (country: ISO 3166-1 alpha-2); at most one default of each kind';
CREATE INDEX customer_addresses_customer_idx ON jobspy.customer_addresses (customer_id);
CREATE UNIQUE INDEX customer_addresses_one_default_idx ON jobspy.customer_addresses (customer_id, kind)
    WHERE is_default;
CREATE TRIGGER customer_addresses_updated_at BEFORE UPDATE ON jobspy.customer_addresses
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
CREATE TRIGGER customer_addresses_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.customer_addresses
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
CREATE TRIGGER customer_addresses_no_card_numbers BEFORE INSERT OR UPDATE ON jobspy.customer_addresses
    FOR EACH ROW EXECUTE FUNCTION jobspy.billing_refuse_card_numbers('line1', 'line2', 'city', 'region', 'postal_code');
SELECT pg_catalog.pg_extension_config_dump('jobspy.customer_addresses', '');

CREATE FUNCTION jobspy.billing_check_currency(currency text) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF currency IS NULL OR NOT EXISTS (SELECT FROM jobspy.currencies c WHERE c.code = currency) THEN
        RAISE EXCEPTION 'unknown currency "%"', coalesce(left(currency, 10), 'NULL') USING ERRCODE = '22023',
            HINT = 'Currencies are ISO 4217 codes in capitals, listed in jobspy.currencies.';
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.billing_check_currency(text) IS
    'internal: raises 22023 unless the currency is in jobspy.currencies';

CREATE FUNCTION jobspy.create_customer(user_id uuid DEFAULT NULL, organization_id uuid DEFAULT NULL,
                                       email text DEFAULT NULL, name text DEFAULT NULL,
                                       currency text DEFAULT NULL, tax_id text DEFAULT NULL)
    RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_id    uuid;
    v_who   text;
    v_known boolean;
    v_taken boolean;
BEGIN
    IF num_nonnulls($1, $2) <> 1 THEN
        RAISE EXCEPTION 'a customer is exactly one of a user and an organization' USING ERRCODE = '22023',
            DETAIL = format('user_id %s, organization_id %s.', coalesce($1::text, 'NULL'), coalesce($2::text, 'NULL'));
    END IF;
    IF $5 IS NOT NULL THEN
        PERFORM jobspy.billing_check_currency($5);
    END IF;
    -- Exactly one of the two is given, and each branch probes one unique
    -- index: an OR of the two was planned as a scan of the table while it
    -- was small, and "x IS NOT NULL AND EXISTS (...)" was planned again on
    -- every call (docs/development.md, "Plans that PL/pgSQL keeps").
    IF $1 IS NOT NULL THEN
        v_who := 'user';
        v_known := EXISTS (SELECT FROM jobspy.users u WHERE u.id = $1);
        v_taken := EXISTS (SELECT FROM jobspy.customers c WHERE c.user_id = $1);
    ELSE
        v_who := 'organization';
        v_known := EXISTS (SELECT FROM jobspy.organizations o WHERE o.id = $2);
        v_taken := EXISTS (SELECT FROM jobspy.customers c WHERE c.organization_id = $2);
    END IF;
    IF NOT v_known THEN
        RAISE EXCEPTION 'unknown % %', v_who, coalesce($1, $2) USING ERRCODE = '22023';
    END IF;
    IF v_taken THEN
        RAISE EXCEPTION 'the % already has a customer', v_who
            USING ERRCODE = '23505', HINT = 'Read jobspy.customers for its id.';
    END IF;
    INSERT INTO jobspy.customers AS c (user_id, organization_id, email, name, currency, tax_id)
    VALUES ($1, $2, coalesce($3, (SELECT u.email FROM jobspy.users u WHERE u.id = $1)),
            coalesce($4, (SELECT o.name FROM jobspy.organizations o WHERE o.id = $2)), $5, $6)
    RETURNING c.id INTO v_id;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION jobspy.create_customer(uuid, uuid, text, text, text, text) IS
    'makes the customer of a user or an organization (exactly one); email defaults to the user''s, name to the organization''s';

CREATE FUNCTION jobspy.add_customer_address(customer_id uuid, kind text, line1 text, city text, country text,
                                            line2 text DEFAULT NULL, region text DEFAULT NULL,
                                            postal_code text DEFAULT NULL, is_default boolean DEFAULT true)
    RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_id uuid;
BEGIN
    IF $1 IS NULL OR $2 IS NULL OR $3 IS NULL OR $4 IS NULL OR $5 IS NULL THEN
        RAISE EXCEPTION 'customer_id, kind, line1, city and country must not be NULL' USING ERRCODE = '22023';
    END IF;
    IF $2 NOT IN ('billing', 'shipping') THEN
        RAISE EXCEPTION 'address kind must be billing or shipping, not "%"', left($2, 20) USING ERRCODE = '22023';
    END IF;
    IF $5 !~ '^[A-Z]{2}$' THEN
        RAISE EXCEPTION 'country must be an ISO 3166-1 alpha-2 code in capitals, not "%"', left($5, 10)
            USING ERRCODE = '22023';
    END IF;
    -- The customer row is locked so two calls cannot both make a default.
    PERFORM FROM jobspy.customers c WHERE c.id = $1 FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown customer %', $1 USING ERRCODE = '22023';
    END IF;
    IF coalesce($9, true) THEN
        UPDATE jobspy.customer_addresses a SET is_default = false
         WHERE a.customer_id = $1 AND a.kind = $2 AND a.is_default;
    END IF;
    INSERT INTO jobspy.customer_addresses AS a (customer_id, kind, is_default, line1, line2, city, region,
                                                postal_code, country)
    VALUES ($1, $2, coalesce($9, true), $3, $6, $4, $7, $8, $5)
    RETURNING a.id INTO v_id;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION jobspy.add_customer_address(uuid, text, text, text, text, text, text, text, boolean) IS
    'adds a billing or shipping address; a default one replaces the customer''s previous default of that kind';

-- ------------------------------------------------------------- providers

CREATE TABLE jobspy.payment_providers (
    id               uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    code             text NOT NULL UNIQUE CHECK (code ~ '^[a-z][a-z0-9_]{0,49}$'),
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    signature_scheme text NOT NULL DEFAULT 'stripe' CHECK (signature_scheme IN ('stripe', 'hmac_sha256')),
    is_active        boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT jobspy.now(),
    updated_at       timestamptz NOT NULL DEFAULT jobspy.now()
);
COMMENT ON TABLE jobspy.payment_providers IS
    'payment providers (stripe, paypal, yookassa, ...) and how their webhooks are signed';
CREATE TRIGGER payment_providers_updated_at BEFORE UPDATE ON jobspy.payment_providers
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
CREATE TRIGGER payment_providers_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.payment_providers
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
SELECT pg_catalog.pg_extension_config_dump('jobspy.payment_providers', '');

CREATE FUNCTION jobspy.create_provider(code text, name text, signature_scheme text DEFAULT 'stripe')
    RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_id uuid;
BEGIN
    IF $1 IS NULL OR $2 IS NULL OR $3 IS NULL THEN
        RAISE EXCEPTION 'provider code, name and signature_scheme must not be NULL' USING ERRCODE = '22023';
    END IF;
    IF $1 !~ '^[a-z][a-z0-9_]{0,49}$' THEN
        RAISE EXCEPTION 'invalid provider code "%"', left($1, 50) USING ERRCODE = '22023',
            DETAIL = 'A provider code is 1 to 50 lower-case letters, digits or "_", starting with a letter.';
    END IF;
    IF $3 NOT IN ('stripe', 'hmac_sha256') THEN
        RAISE EXCEPTION 'signature_scheme must be stripe or hmac_sha256, not "%"', left($3, 20)
            USING ERRCODE = '22023';
    END IF;
    IF length($2) NOT BETWEEN 1 AND 100 THEN
        RAISE EXCEPTION 'provider name must be 1 to 100 characters' USING ERRCODE = '22023';
    END IF;
    IF EXISTS (SELECT FROM jobspy.payment_providers p WHERE p.code = $1) THEN
        RAISE EXCEPTION 'provider "%" already exists', $1 USING ERRCODE = '23505';
    END IF;
    INSERT INTO jobspy.payment_providers AS p (code, name, signature_scheme) VALUES ($1, $2, $3)
    RETURNING p.id INTO v_id;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION jobspy.create_provider(text, text, text) IS
    'registers a payment provider; signature_scheme is how its webhooks are signed (stripe or hmac_sha256)';

-- internal: an active provider's id by code, else 22023.
CREATE FUNCTION jobspy.billing_provider_id(code text) RETURNS uuid
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_id uuid;
BEGIN
    SELECT p.id INTO v_id FROM jobspy.payment_providers p WHERE p.code = $1 AND p.is_active;
    IF v_id IS NULL THEN
        RAISE EXCEPTION 'unknown or inactive payment provider "%"', coalesce(left($1, 50), 'NULL')
            USING ERRCODE = '22023', HINT = 'Register it with jobspy.create_provider.';
    END IF;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION jobspy.billing_provider_id(text) IS
    'internal: the id of an active payment provider by code; raises 22023 when there is none';

CREATE TABLE jobspy.provider_customers (
    id                   uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    customer_id          uuid NOT NULL REFERENCES jobspy.customers (id) ON DELETE CASCADE,
    provider_id          uuid NOT NULL REFERENCES jobspy.payment_providers (id),
    provider_customer_id text NOT NULL CHECK (length(provider_customer_id) BETWEEN 1 AND 255),
    created_at           timestamptz NOT NULL DEFAULT jobspy.now(),
    UNIQUE (customer_id, provider_id),
    UNIQUE (provider_id, provider_customer_id)
);
COMMENT ON TABLE jobspy.provider_customers IS
    'a customer''s id at a provider (such as Stripe''s cus_...): one per customer and provider, unique per provider';
CREATE TRIGGER provider_customers_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.provider_customers
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
CREATE TRIGGER provider_customers_no_card_numbers BEFORE INSERT OR UPDATE ON jobspy.provider_customers
    FOR EACH ROW EXECUTE FUNCTION jobspy.billing_refuse_card_numbers('provider_customer_id');
SELECT pg_catalog.pg_extension_config_dump('jobspy.provider_customers', '');

CREATE FUNCTION jobspy.link_provider_customer(customer_id uuid, provider text, provider_customer_id text)
    RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_provider uuid;
    v_id uuid;
BEGIN
    IF $1 IS NULL OR $3 IS NULL THEN
        RAISE EXCEPTION 'customer_id and provider_customer_id must not be NULL' USING ERRCODE = '22023';
    END IF;
    v_provider := jobspy.billing_provider_id($2);
    IF NOT EXISTS (SELECT FROM jobspy.customers c WHERE c.id = $1) THEN
        RAISE EXCEPTION 'unknown customer %', $1 USING ERRCODE = '22023';
    END IF;
    -- The same link again is a no-op; another id for either side is refused.
    SELECT pc.id INTO v_id FROM jobspy.provider_customers pc
     WHERE pc.customer_id = $1 AND pc.provider_id = v_provider AND pc.provider_customer_id = $3;
    IF v_id IS NOT NULL THEN
        RETURN v_id;
    END IF;
    BEGIN
        INSERT INTO jobspy.provider_customers AS pc (customer_id, provider_id, provider_customer_id)
        VALUES ($1, v_provider, $3)
        RETURNING pc.id INTO v_id;
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION 'the customer already has another id at "%", or "%" belongs to another customer', $2, $3
            USING ERRCODE = '23505';
    END;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION jobspy.link_provider_customer(uuid, text, text) IS
    'records a customer''s id at a provider; the same link again returns the same row';

-- -------------------------------------------------------- payment methods

CREATE TABLE jobspy.payment_methods (
    id                         uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    customer_id                uuid NOT NULL REFERENCES jobspy.customers (id) ON DELETE CASCADE,
    provider_id                uuid REFERENCES jobspy.payment_providers (id),
    provider_payment_method_id text CHECK (length(provider_payment_method_id) BETWEEN 1 AND 255),
    type                       text NOT NULL CHECK (type ~ '^[a-z][a-z_]{0,29}$'),
    brand                      text CHECK (length(brand) BETWEEN 1 AND 30),
    last4                      text CHECK (last4 ~ '^[0-9]{4}$'),
    exp_month                  smallint CHECK (exp_month BETWEEN 1 AND 12),
    exp_year                   smallint CHECK (exp_year BETWEEN 2000 AND 2200),
    is_default                 boolean NOT NULL DEFAULT false,
    metadata                   jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    created_at                 timestamptz NOT NULL DEFAULT jobspy.now(),
    updated_at                 timestamptz NOT NULL DEFAULT jobspy.now(),
    CHECK ((exp_month IS NULL) = (exp_year IS NULL)),
    UNIQUE (provider_id, provider_payment_method_id)
);
COMMENT ON TABLE jobspy.payment_methods IS
    'a customer''s saved payment methods: the provider''s token, type, brand, last 4 digits and expiry; never a card number; one default, never an expired one';
CREATE INDEX payment_methods_customer_idx ON jobspy.payment_methods (customer_id);
CREATE UNIQUE INDEX payment_methods_one_default_idx ON jobspy.payment_methods (customer_id) WHERE is_default;
CREATE TRIGGER payment_methods_updated_at BEFORE UPDATE ON jobspy.payment_methods
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
CREATE TRIGGER payment_methods_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.payment_methods
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
CREATE TRIGGER payment_methods_no_card_numbers BEFORE INSERT OR UPDATE ON jobspy.payment_methods
    FOR EACH ROW EXECUTE FUNCTION jobspy.billing_refuse_card_numbers('provider_payment_method_id', 'type', 'brand', 'metadata');
SELECT pg_catalog.pg_extension_config_dump('jobspy.payment_methods', '');

-- A card is good through the last day of its expiry month (UTC).
CREATE FUNCTION jobspy.payment_method_expires_at(exp_month smallint, exp_year smallint) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT (pg_catalog.make_date($2, $1, 1) + interval '1 month') AT TIME ZONE 'UTC' $$;
COMMENT ON FUNCTION jobspy.payment_method_expires_at(smallint, smallint) IS
    'the instant a payment method with this expiry month and year stops being usable (NULL: never)';

CREATE FUNCTION jobspy.payment_methods_check_default() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NEW.is_default AND jobspy.payment_method_expires_at(NEW.exp_month, NEW.exp_year) <= jobspy.now() THEN
        RAISE EXCEPTION 'an expired payment method cannot be the default'
            USING ERRCODE = 'JS503',
                  DETAIL = format('It expired at the end of %s/%s.', NEW.exp_month, NEW.exp_year),
                  HINT = 'Add a current payment method and make it the default.';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION jobspy.payment_methods_check_default() IS
    'trigger: raises JS503 when an expired payment method is made the default';
CREATE TRIGGER payment_methods_default_not_expired BEFORE INSERT OR UPDATE OF is_default, exp_month, exp_year
    ON jobspy.payment_methods
    FOR EACH ROW EXECUTE FUNCTION jobspy.payment_methods_check_default();

CREATE FUNCTION jobspy.add_payment_method(customer_id uuid, type text, last4 text DEFAULT NULL,
                                          brand text DEFAULT NULL, exp_month integer DEFAULT NULL,
                                          exp_year integer DEFAULT NULL, provider text DEFAULT NULL,
                                          provider_payment_method_id text DEFAULT NULL,
                                          make_default boolean DEFAULT true)
    RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_provider uuid;
    v_id uuid;
BEGIN
    IF $1 IS NULL OR $2 IS NULL THEN
        RAISE EXCEPTION 'customer_id and type must not be NULL' USING ERRCODE = '22023';
    END IF;
    IF $3 IS NOT NULL AND $3 !~ '^[0-9]{4}$' THEN
        IF length(regexp_replace($3, '[^0-9]', '', 'g')) >= 12 THEN
            RAISE EXCEPTION 'last4 looks like a full card number' USING ERRCODE = 'JS502',
                DETAIL = 'Card numbers are never stored; the value was not saved.',
                HINT = 'Pass only the last 4 digits.';
        END IF;
        RAISE EXCEPTION 'last4 must be exactly 4 digits' USING ERRCODE = '22023';
    END IF;
    IF ($5 IS NULL) <> ($6 IS NULL) OR $5 NOT BETWEEN 1 AND 12 OR $6 NOT BETWEEN 2000 AND 2200 THEN
        RAISE EXCEPTION 'expiry needs both exp_month (1 to 12) and exp_year (2000 to 2200), or neither'
            USING ERRCODE = '22023';
    END IF;
    IF $7 IS NOT NULL THEN
        v_provider := jobspy.billing_provider_id($7);
    ELSIF $8 IS NOT NULL THEN
        RAISE EXCEPTION 'provider_payment_method_id needs its provider' USING ERRCODE = '22023';
    END IF;
    PERFORM FROM jobspy.customers c WHERE c.id = $1 FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown customer %', $1 USING ERRCODE = '22023';
    END IF;
    IF coalesce($9, true) THEN
        UPDATE jobspy.payment_methods m SET is_default = false WHERE m.customer_id = $1 AND m.is_default;
    END IF;
    INSERT INTO jobspy.payment_methods AS m (customer_id, provider_id, provider_payment_method_id, type, brand,
                                             last4, exp_month, exp_year, is_default)
    VALUES ($1, v_provider, $8, $2, $4, $3, $5, $6, coalesce($9, true))
    RETURNING m.id INTO v_id;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION jobspy.add_payment_method(uuid, text, text, text, integer, integer, text, text, boolean) IS
    'saves a payment method (the provider''s token, never a card number), by default as the customer''s default';

CREATE FUNCTION jobspy.set_default_payment_method(payment_method_id uuid) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_customer uuid;
BEGIN
    SELECT m.customer_id INTO v_customer FROM jobspy.payment_methods m WHERE m.id = $1;
    IF v_customer IS NULL THEN
        RAISE EXCEPTION 'unknown payment method %', coalesce($1::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    PERFORM FROM jobspy.customers c WHERE c.id = v_customer FOR NO KEY UPDATE;
    UPDATE jobspy.payment_methods m SET is_default = false
     WHERE m.customer_id = v_customer AND m.is_default AND m.id <> $1;
    UPDATE jobspy.payment_methods m SET is_default = true WHERE m.id = $1 AND NOT m.is_default;
END
$$;
COMMENT ON FUNCTION jobspy.set_default_payment_method(uuid) IS
    'makes a payment method its customer''s default (JS503 when it has expired)';

CREATE FUNCTION jobspy.default_payment_method(customer_id uuid) RETURNS uuid
    LANGUAGE sql STABLE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT m.id FROM jobspy.payment_methods m
     WHERE m.customer_id = $1 AND m.is_default
       AND coalesce(jobspy.payment_method_expires_at(m.exp_month, m.exp_year) > jobspy.now(), true)
$$;
COMMENT ON FUNCTION jobspy.default_payment_method(uuid) IS
    'the customer''s default payment method if it has not expired at jobspy.now(), else NULL';

REVOKE ALL ON FUNCTION
    jobspy.create_customer(uuid, uuid, text, text, text, text),
    jobspy.add_customer_address(uuid, text, text, text, text, text, text, text, boolean),
    jobspy.create_provider(text, text, text),
    jobspy.billing_provider_id(text),
    jobspy.link_provider_customer(uuid, text, text),
    jobspy.add_payment_method(uuid, text, text, text, integer, integer, text, text, boolean),
    jobspy.set_default_payment_method(uuid),
    jobspy.default_payment_method(uuid),
    jobspy.billing_check_currency(text),
    jobspy.billing_refuse_card_numbers(),
    jobspy.payment_methods_check_default(),
    jobspy.money_same_currency(text, text),
    jobspy.money_sum_step(jobspy.money_total, bigint, text),
    jobspy.money_sum(bigint, text),
    jobspy.format_money(bigint, text),
    jobspy.looks_like_card_number(text),
    jobspy.payment_method_expires_at(smallint, smallint)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    jobspy.create_customer(uuid, uuid, text, text, text, text),
    jobspy.add_customer_address(uuid, text, text, text, text, text, text, text, boolean),
    jobspy.link_provider_customer(uuid, text, text),
    jobspy.add_payment_method(uuid, text, text, text, integer, integer, text, text, boolean),
    jobspy.set_default_payment_method(uuid),
    jobspy.default_payment_method(uuid),
    jobspy.money_sum(bigint, text),
    jobspy.format_money(bigint, text),
    jobspy.looks_like_card_number(text)
  TO jobspy_app, jobspy_admin;
GRANT EXECUTE ON FUNCTION jobspy.create_provider(text, text, text) TO jobspy_admin;
GRANT EXECUTE ON FUNCTION jobspy.money_sum(bigint, text), jobspy.format_money(bigint, text),
    jobspy.money_same_currency(text, text), jobspy.money_sum_step(jobspy.money_total, bigint, text)
  TO jobspy_app, jobspy_analyst, jobspy_admin;
GRANT SELECT ON jobspy.currencies, jobspy.customers, jobspy.customer_addresses, jobspy.payment_providers,
    jobspy.provider_customers, jobspy.payment_methods
  TO jobspy_app, jobspy_admin;
-- A role that reads these tables directly (jobspy_app) sees the rows of the
-- user in the jobspy.user_id setting only, as identity's tables do; the
-- functions run as the owner, whom the policies do not concern, and the
-- admin reads every row.
ALTER TABLE jobspy.customers ENABLE ROW LEVEL SECURITY;
CREATE POLICY customers_own ON jobspy.customers USING (user_id = jobspy.current_row_user());
CREATE POLICY customers_admin_read ON jobspy.customers FOR SELECT TO jobspy_admin USING (true);
ALTER TABLE jobspy.customer_addresses ENABLE ROW LEVEL SECURITY;
CREATE POLICY customer_addresses_own ON jobspy.customer_addresses USING (customer_id IN (SELECT c.id FROM jobspy.customers c WHERE c.user_id = jobspy.current_row_user()));
CREATE POLICY customer_addresses_admin_read ON jobspy.customer_addresses FOR SELECT TO jobspy_admin USING (true);
ALTER TABLE jobspy.provider_customers ENABLE ROW LEVEL SECURITY;
CREATE POLICY provider_customers_own ON jobspy.provider_customers USING (customer_id IN (SELECT c.id FROM jobspy.customers c WHERE c.user_id = jobspy.current_row_user()));
CREATE POLICY provider_customers_admin_read ON jobspy.provider_customers FOR SELECT TO jobspy_admin USING (true);
ALTER TABLE jobspy.payment_methods ENABLE ROW LEVEL SECURITY;
CREATE POLICY payment_methods_own ON jobspy.payment_methods USING (customer_id IN (SELECT c.id FROM jobspy.customers c WHERE c.user_id = jobspy.current_row_user()));
CREATE POLICY payment_methods_admin_read ON jobspy.payment_methods FOR SELECT TO jobspy_admin USING (true);

