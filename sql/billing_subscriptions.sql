\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- billing_subscriptions: subscriptions to prices, with Stripe's statuses and
-- the legal transitions between them enforced for every writer; subscribe,
-- change (with prorations), cancel, pause, resume, and the renewals that
-- maintain() runs (periods, trials, dunning, cancellations at period end).
--
-- seed 000's table (sql/billing.sql) is extended in place: its rows and
-- columns keep working, and the quotas module keeps reading plan_type, which
-- a priced subscription takes from its product's plan.

INSERT INTO jobspy.config_defaults (key, value, description, value_type, nullable, min_value, max_value, choices) VALUES
    ('billing.dunning_retry_days', '"3,5,7"',
     'days after a failed renewal on which it is retried: whole numbers from 0 to 999, comma-separated, taken in ascending order', 'text', false, NULL, NULL, NULL),
    ('billing.dunning_final_status', '"unpaid"', 'what a subscription becomes when its last retry fails',
     'text', false, NULL, NULL, '["unpaid", "canceled"]'),
    ('billing.trial_end_without_payment_method', '"pause"',
     'what a trial ending without a default payment method becomes: paused, canceled, or invoiced (past_due)',
     'text', false, NULL, NULL, '["pause", "cancel", "create_invoice"]'),
    ('billing.incomplete_expires_after', '"23 hours"', 'how long an incomplete subscription waits for its first payment',
     'interval', false, NULL, NULL, NULL);
-- config_set refuses a schedule the renewal run could not read.
UPDATE jobspy.config_defaults SET pattern = '^\s*[0-9]{1,3}(\s*,\s*[0-9]{1,3})*\s*$'
 WHERE key = 'billing.dunning_retry_days';

-- ---------------------------------------------------------------- table

ALTER TABLE jobspy.subscriptions
    DROP CONSTRAINT subscriptions_plan_type_check,
    DROP CONSTRAINT subscriptions_status_check,
    DROP CONSTRAINT subscriptions_plan_interval_check,
    ALTER COLUMN plan_type DROP NOT NULL,
    ADD CONSTRAINT subscriptions_plan_type_check CHECK (length(plan_type) BETWEEN 1 AND 50),
    ADD CONSTRAINT subscriptions_status_check CHECK (status IN ('incomplete', 'incomplete_expired', 'trialing',
                                                                'active', 'past_due', 'unpaid', 'paused', 'canceled')),
    ADD CONSTRAINT subscriptions_plan_interval_check CHECK (plan_interval IN ('day', 'week', 'month', 'year')),
    ADD COLUMN customer_id uuid REFERENCES jobspy.customers (id) ON DELETE CASCADE,
    ADD COLUMN price_id uuid REFERENCES jobspy.prices (id),
    ADD COLUMN product_id uuid REFERENCES jobspy.products (id),
    ADD COLUMN quantity integer NOT NULL DEFAULT 1 CHECK (quantity BETWEEN 1 AND 1000000),
    ADD COLUMN cancellation_reason text CHECK (length(cancellation_reason) <= 1000),
    ADD COLUMN paused_at timestamptz,
    ADD COLUMN ended_at timestamptz,
    ADD COLUMN dunning_attempts integer NOT NULL DEFAULT 0 CHECK (dunning_attempts >= 0),
    ADD COLUMN payment_failed_at timestamptz,
    ADD COLUMN next_retry_at timestamptz,
    ADD COLUMN renewal_error text CHECK (length(renewal_error) <= 1000),
    ADD COLUMN renewal_failed_at timestamptz,
    ADD CONSTRAINT subscriptions_priced_check CHECK (price_id IS NULL OR product_id IS NOT NULL);
COMMENT ON TABLE jobspy.subscriptions IS
    'subscriptions of customers to prices, with Stripe''s statuses; at most one live per customer and product, and at most one live granting a plan per user (plan_type: that plan''s code)';
COMMENT ON COLUMN jobspy.subscriptions.renewal_error IS
    'why renew_subscriptions could not invoice the period this subscription is due to roll to (an amount out of range), and left it as it was; NULL once a renewal succeeds';
COMMENT ON COLUMN jobspy.subscriptions.renewal_failed_at IS
    'when renew_subscriptions first met renewal_error (jobspy.now()); NULL with it';

-- Existing rows get the customer of their user.
INSERT INTO jobspy.customers (user_id, email)
SELECT DISTINCT s.user_id, u.email
  FROM jobspy.subscriptions s JOIN jobspy.users u ON u.id = s.user_id
 WHERE NOT EXISTS (SELECT FROM jobspy.customers c WHERE c.user_id = s.user_id);
UPDATE jobspy.subscriptions s SET customer_id = c.id
  FROM jobspy.customers c WHERE c.user_id = s.user_id AND s.customer_id IS NULL;
ALTER TABLE jobspy.subscriptions ALTER COLUMN customer_id SET NOT NULL;

-- seed 000 allowed one live subscription per user; now a user may hold an
-- addon beside a plan, but still one live subscription that grants a plan.
DROP INDEX jobspy.subscriptions_one_live_idx;
CREATE UNIQUE INDEX subscriptions_one_plan_idx ON jobspy.subscriptions (user_id)
    WHERE status IN ('active', 'trialing', 'past_due') AND plan_type IS NOT NULL;
CREATE UNIQUE INDEX subscriptions_one_live_per_product_idx ON jobspy.subscriptions (customer_id, product_id)
    WHERE status NOT IN ('canceled', 'incomplete_expired');
CREATE INDEX subscriptions_customer_idx ON jobspy.subscriptions (customer_id);
CREATE INDEX subscriptions_price_idx ON jobspy.subscriptions (price_id);
CREATE INDEX subscriptions_retry_idx ON jobspy.subscriptions (next_retry_at) WHERE status = 'past_due';
CREATE INDEX subscriptions_incomplete_idx ON jobspy.subscriptions (created_at) WHERE status = 'incomplete';
INSERT INTO jobspy.price_users (table_name, column_name) VALUES ('subscriptions', 'price_id');

-- Every writer, the functions below or an UPDATE by hand, gets the
-- subscription's customer, product and plan from its user and price.
CREATE FUNCTION jobspy.subscriptions_fill() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_product jobspy.products;
    v_price jobspy.prices;
BEGIN
    IF NEW.customer_id IS NULL AND NEW.user_id IS NOT NULL THEN
        SELECT c.id INTO NEW.customer_id FROM jobspy.customers c WHERE c.user_id = NEW.user_id;
        IF NEW.customer_id IS NULL THEN
            INSERT INTO jobspy.customers AS c (user_id, email)
            SELECT u.id, u.email FROM jobspy.users u WHERE u.id = NEW.user_id
            RETURNING c.id INTO NEW.customer_id;
        END IF;
    END IF;
    IF NEW.price_id IS NOT NULL AND (TG_OP = 'INSERT' OR NEW.price_id IS DISTINCT FROM OLD.price_id) THEN
        SELECT * INTO v_price FROM jobspy.prices p WHERE p.id = NEW.price_id;
        SELECT * INTO v_product FROM jobspy.products p WHERE p.id = v_price.product_id;
        NEW.product_id := v_product.id;
        NEW.plan_type := (SELECT pl.code FROM jobspy.plans pl WHERE pl.id = v_product.plan_id);
        NEW.plan_interval := v_price."interval";
        NEW.price_amount := v_price.amount;
        NEW.price_currency := v_price.currency;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION jobspy.subscriptions_fill() IS
    'trigger: a subscription''s customer from its user, and its product, plan_type, interval and amount from its price';
CREATE TRIGGER subscriptions_fill BEFORE INSERT OR UPDATE OF price_id, customer_id ON jobspy.subscriptions
    FOR EACH ROW EXECUTE FUNCTION jobspy.subscriptions_fill();

-- ------------------------------------------------------- state machine

CREATE TABLE jobspy.subscription_transitions (
    from_status text NOT NULL,
    to_status   text NOT NULL,
    why         text NOT NULL,
    PRIMARY KEY (from_status, to_status)
);
COMMENT ON TABLE jobspy.subscription_transitions IS
    'the legal changes of a subscription''s status (from_status NULL-free; a new row may start incomplete, trialing or active); every other change raises JS505';
INSERT INTO jobspy.subscription_transitions (from_status, to_status, why) VALUES
    ('incomplete', 'active',             'the first payment succeeded'),
    ('incomplete', 'trialing',           'the first payment method was confirmed for a trial'),
    ('incomplete', 'incomplete_expired', 'the first payment did not succeed within 23 hours'),
    ('incomplete', 'canceled',           'canceled before the first payment'),
    ('trialing',   'active',             'the trial ended with a payment method'),
    ('trialing',   'past_due',           'the first payment after the trial failed'),
    ('trialing',   'paused',             'paused, or the trial ended without a payment method'),
    ('trialing',   'canceled',           'canceled'),
    ('active',     'past_due',           'a renewal payment failed'),
    ('active',     'paused',             'paused'),
    ('active',     'trialing',           'a trial was added to the running subscription'),
    ('active',     'canceled',           'canceled'),
    ('past_due',   'active',             'a retry (or the customer) paid'),
    ('past_due',   'unpaid',             'dunning ran out of retries'),
    ('past_due',   'canceled',           'canceled, or dunning ran out of retries'),
    ('unpaid',     'active',             'the open renewal was paid'),
    ('unpaid',     'canceled',           'canceled'),
    ('paused',     'active',             'resumed'),
    ('paused',     'trialing',           'resumed within the trial'),
    ('paused',     'canceled',           'canceled');

CREATE FUNCTION jobspy.subscriptions_check_transition() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status NOT IN ('incomplete', 'trialing', 'active') THEN
            RAISE EXCEPTION 'a subscription cannot start %', NEW.status
                USING ERRCODE = 'JS505',
                      DETAIL = 'A subscription starts incomplete, trialing or active.';
        END IF;
    ELSIF NEW.status IS DISTINCT FROM OLD.status
          AND NOT EXISTS (SELECT FROM jobspy.subscription_transitions t
                           WHERE t.from_status = OLD.status AND t.to_status = NEW.status) THEN
        RAISE EXCEPTION 'illegal subscription transition from % to %', OLD.status, NEW.status
            USING ERRCODE = 'JS505',
                  DETAIL = format('Subscription %s is %s; it can become: %s.', OLD.id, OLD.status,
                                  coalesce((SELECT string_agg(t.to_status, ', ' ORDER BY t.to_status)
                                              FROM jobspy.subscription_transitions t
                                             WHERE t.from_status = OLD.status), 'nothing (it has ended)')),
                  HINT = 'jobspy.subscription_transitions lists the legal transitions.';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION jobspy.subscriptions_check_transition() IS
    'trigger: raises JS505 for a status change that subscription_transitions does not list, whoever writes it';
CREATE TRIGGER subscriptions_check_transition BEFORE INSERT OR UPDATE OF status ON jobspy.subscriptions
    FOR EACH ROW EXECUTE FUNCTION jobspy.subscriptions_check_transition();
-- The WHEN clause is looks_like_card_number's own first test (no four
-- digits in a row: no card number), so that the rows that cannot hold one,
-- nearly all, skip the call and its copy of the row as jsonb.
CREATE TRIGGER subscriptions_no_card_numbers BEFORE INSERT OR UPDATE ON jobspy.subscriptions
    FOR EACH ROW
    WHEN (NEW.cancellation_reason ~ '[0-9]{4}' OR NEW.metadata::text ~ '[0-9]{4}')
    EXECUTE FUNCTION jobspy.billing_refuse_card_numbers('cancellation_reason', 'metadata');

-- Every change of a subscription that others act on is a domain event in
-- the outbox, written in the same transaction by whoever made the change.
CREATE FUNCTION jobspy.subscriptions_emit_events() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    body jsonb := jsonb_build_object('subscription_id', NEW.id, 'customer_id', NEW.customer_id,
                                     'status', NEW.status, 'plan_type', NEW.plan_type,
                                     'current_period_start', NEW.current_period_start,
                                     'current_period_end', NEW.current_period_end);
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM jobspy.emit_event('billing.subscription.created', 'subscription', NEW.id::text, body, NEW.user_id);
        RETURN NULL;
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        PERFORM jobspy.emit_event('billing.subscription.status_changed', 'subscription', NEW.id::text,
                                  body || jsonb_build_object('previous_status', OLD.status), NEW.user_id);
    END IF;
    IF NEW.current_period_start IS DISTINCT FROM OLD.current_period_start THEN
        PERFORM jobspy.emit_event('billing.subscription.period_started', 'subscription', NEW.id::text, body,
                                  NEW.user_id);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION jobspy.subscriptions_emit_events() IS
    'trigger: writes billing.subscription.created, .status_changed and .period_started events to the outbox';
CREATE TRIGGER subscriptions_events_insert AFTER INSERT ON jobspy.subscriptions
    FOR EACH ROW EXECUTE FUNCTION jobspy.subscriptions_emit_events();
CREATE TRIGGER subscriptions_events_update AFTER UPDATE OF status, current_period_start ON jobspy.subscriptions
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.current_period_start IS DISTINCT FROM NEW.current_period_start)
    EXECUTE FUNCTION jobspy.subscriptions_emit_events();

-- ------------------------------------------------------------- periods

-- The first period boundary after "after": anchor plus a whole number of
-- intervals, always counted from the anchor (in UTC) so that month ends
-- stay right: an anchor on Jan 31 gives Feb 28 (29), then Mar 31.
CREATE FUNCTION jobspy.subscription_next_boundary(anchor timestamptz, "interval" text, interval_count integer,
                                                  after timestamptz)
    RETURNS timestamptz
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    a timestamp := anchor AT TIME ZONE 'UTC';
    t timestamp := after AT TIME ZONE 'UTC';
    step interval;
    k bigint;
    -- Years 1 to 99999 first, so that the distance check cannot overflow.
    bad boolean := "interval" NOT IN ('day', 'week', 'month', 'year') OR interval_count NOT BETWEEN 1 AND 366
                   OR anchor NOT BETWEEN '0001-01-01 00:00:00+00' AND '100000-01-01 00:00:00+00'
                   OR after NOT BETWEEN '0001-01-01 00:00:00+00' AND '100000-01-01 00:00:00+00';
BEGIN
    IF NOT bad THEN
        bad := after < anchor - interval '1 year' OR after > anchor + interval '1000 years';
    END IF;
    IF bad THEN
        RAISE EXCEPTION 'no billing period boundary for interval % x %, anchor %, after %',
                        interval_count, left("interval", 10), anchor, after
            USING ERRCODE = '22023',
                  DETAIL = 'The interval is day, week, month or year, 1 to 366 of them, from an anchor in the years 1 to 99999.';
    END IF;
    IF "interval" IN ('month', 'year') THEN
        step := make_interval(months => interval_count * CASE "interval" WHEN 'year' THEN 12 ELSE 1 END);
        k := ((extract(year FROM t) - extract(year FROM a)) * 12 + extract(month FROM t) - extract(month FROM a))::bigint
             / (interval_count * CASE "interval" WHEN 'year' THEN 12 ELSE 1 END);
    ELSE
        step := make_interval(days => interval_count * CASE "interval" WHEN 'week' THEN 7 ELSE 1 END);
        k := floor(extract(epoch FROM t - a) / extract(epoch FROM step))::bigint;
    END IF;
    k := greatest(k - 1, 0);
    WHILE a + step * k <= t OR k = 0 LOOP
        k := k + 1;
    END LOOP;
    RETURN (a + step * k) AT TIME ZONE 'UTC';
END
$$;
COMMENT ON FUNCTION jobspy.subscription_next_boundary(timestamptz, text, integer, timestamptz) IS
    'the first billing period boundary after a time: the anchor plus k intervals (k >= 1), counted from the anchor in UTC so month ends stay right';

-- ------------------------------------------------ pending invoice items

CREATE TABLE jobspy.pending_invoice_items (
    id              uuid PRIMARY KEY DEFAULT jobspy.uuid_v7(),
    customer_id     uuid NOT NULL REFERENCES jobspy.customers (id) ON DELETE CASCADE,
    subscription_id uuid REFERENCES jobspy.subscriptions (id) ON DELETE CASCADE,
    price_id        uuid REFERENCES jobspy.prices (id),
    description     text NOT NULL CHECK (length(description) BETWEEN 1 AND 500),
    amount          bigint NOT NULL,
    currency        text NOT NULL REFERENCES jobspy.currencies (code),
    period_start    timestamptz,
    period_end      timestamptz,
    invoice_id      uuid,
    created_at      timestamptz NOT NULL DEFAULT jobspy.now(),
    CHECK (period_end >= period_start)
);
COMMENT ON TABLE jobspy.pending_invoice_items IS
    'amounts waiting for the customer''s next invoice, such as prorations (negative: a credit); invoice_id is set when invoiced';
CREATE INDEX pending_invoice_items_customer_idx ON jobspy.pending_invoice_items (customer_id) WHERE invoice_id IS NULL;
CREATE INDEX pending_invoice_items_subscription_idx ON jobspy.pending_invoice_items (subscription_id);
CREATE INDEX pending_invoice_items_price_idx ON jobspy.pending_invoice_items (price_id);
CREATE TRIGGER pending_invoice_items_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.pending_invoice_items
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
SELECT pg_catalog.pg_extension_config_dump('jobspy.pending_invoice_items', '');
INSERT INTO jobspy.price_users (table_name, column_name) VALUES ('pending_invoice_items', 'price_id');

-- ------------------------------------------------------------- helpers

-- internal: an active recurring price of an active product, else 22023.
CREATE FUNCTION jobspy.billing_recurring_price(price_code text) RETURNS jobspy.prices
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v jobspy.prices;
BEGIN
    SELECT p.* INTO v FROM jobspy.prices p JOIN jobspy.products pr ON pr.id = p.product_id
     WHERE p.code = price_code AND p.is_active AND pr.is_active;
    IF v.id IS NULL THEN
        RAISE EXCEPTION 'unknown or inactive price "%"', coalesce(left(price_code, 50), 'NULL')
            USING ERRCODE = '22023', HINT = 'Prices are made with jobspy.create_price.';
    END IF;
    IF v."interval" IS NULL THEN
        RAISE EXCEPTION 'price "%" is one-time; a subscription needs a recurring price', price_code
            USING ERRCODE = '22023';
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION jobspy.billing_recurring_price(text) IS
    'internal: an active recurring price of an active product by code; raises 22023 otherwise';

-- internal: a subscription's amount per period (price x quantity) stays
-- within 10^15 minor units, so that its invoices, prorations and MRR are
-- computed without overflow.
CREATE FUNCTION jobspy.billing_check_period_amount(price jobspy.prices, quantity integer) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF price.amount::numeric * quantity > 1e15 THEN
        RAISE EXCEPTION 'a subscription''s amount per period must be at most 10^15 minor units'
            USING ERRCODE = '22023',
                  DETAIL = format('Price "%s" of %s times quantity %s.', price.code, price.amount, quantity);
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.billing_check_period_amount(jobspy.prices, integer) IS
    'internal: 22023 when a price times a quantity is over 10^15 minor units a period';

-- internal: the subscription, locked for update, else 22023.
CREATE FUNCTION jobspy.billing_lock_subscription(subscription_id uuid) RETURNS jobspy.subscriptions
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v jobspy.subscriptions;
BEGIN
    SELECT s.* INTO v FROM jobspy.subscriptions s WHERE s.id = subscription_id FOR UPDATE;
    IF v.id IS NULL THEN
        RAISE EXCEPTION 'unknown subscription %', coalesce(subscription_id::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION jobspy.billing_lock_subscription(uuid) IS
    'internal: a subscription by id, locked FOR UPDATE; raises 22023 when unknown';

-- A share of an amount by the second: amount * part / whole, rounded to the
-- nearest minor unit, halves away from zero.
CREATE FUNCTION jobspy.prorate(amount bigint, part interval, whole interval) RETURNS bigint
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    p numeric := floor(extract(epoch FROM part));
    w numeric := floor(extract(epoch FROM whole));
BEGIN
    IF w <= 0 OR p < 0 OR p > w THEN
        RAISE EXCEPTION 'a prorated part must be between zero and a whole of at least a second'
            USING ERRCODE = '22023', DETAIL = format('part %s s, whole %s s.', p, w);
    END IF;
    RETURN round(amount::numeric * p / w)::bigint;
END
$$;
COMMENT ON FUNCTION jobspy.prorate(bigint, interval, interval) IS
    'amount * part / whole with both durations in whole seconds, rounded to the nearest minor unit (halves away from zero)';

-- ------------------------------------------------------------- the API

CREATE FUNCTION jobspy.subscribe(customer_id uuid, price_code text, quantity integer DEFAULT 1,
                                 trial_days integer DEFAULT NULL, coupon text DEFAULT NULL)
    RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_now timestamptz := jobspy.now();
    v_customer jobspy.customers;
    v_price jobspy.prices;
    v_trial integer;
    v_user uuid;
    v_id uuid;
    v_end timestamptz;
    v_redemption record;
BEGIN
    IF $1 IS NULL OR $2 IS NULL THEN
        RAISE EXCEPTION 'customer_id and price_code must not be NULL' USING ERRCODE = '22023';
    END IF;
    IF $3 IS NULL OR $3 NOT BETWEEN 1 AND 1000000 THEN
        RAISE EXCEPTION 'quantity must be 1 to 1000000' USING ERRCODE = '22023';
    END IF;
    IF $4 NOT BETWEEN 0 AND 730 THEN
        RAISE EXCEPTION 'trial_days must be 0 to 730' USING ERRCODE = '22023';
    END IF;
    -- The customer's row lock orders concurrent subscribes of one customer.
    SELECT c.* INTO v_customer FROM jobspy.customers c WHERE c.id = $1 FOR NO KEY UPDATE;
    IF v_customer.id IS NULL THEN
        RAISE EXCEPTION 'unknown customer %', $1 USING ERRCODE = '22023';
    END IF;
    v_price := jobspy.billing_recurring_price($2);
    PERFORM jobspy.billing_check_period_amount(v_price, $3);
    IF v_customer.currency IS NOT NULL THEN
        PERFORM jobspy.money_same_currency(v_customer.currency, v_price.currency);
    END IF;
    v_user := coalesce(v_customer.user_id,
                       (SELECT o.created_by FROM jobspy.organizations o WHERE o.id = v_customer.organization_id));
    IF v_user IS NULL THEN
        RAISE EXCEPTION 'the organization has no creating user to hold its subscription' USING ERRCODE = '55000';
    END IF;
    IF EXISTS (SELECT FROM jobspy.subscriptions s
                WHERE s.customer_id = $1 AND s.product_id = v_price.product_id
                  AND s.status NOT IN ('canceled', 'incomplete_expired')) THEN
        RAISE EXCEPTION 'the customer already has a live subscription to this product' USING ERRCODE = '23505',
            HINT = 'Change that subscription with jobspy.change_subscription.';
    END IF;
    v_trial := coalesce($4, v_price.trial_days);
    BEGIN
        IF v_trial > 0 THEN
            v_end := v_now + make_interval(hours => 24 * v_trial);   -- days of 24 hours, whatever the TimeZone
            INSERT INTO jobspy.subscriptions AS s (user_id, customer_id, price_id, quantity, status,
                                                   current_period_start, current_period_end, trial_start, trial_end,
                                                   billing_cycle_anchor)
            VALUES (v_user, $1, v_price.id, $3, 'trialing', v_now, v_end, v_now, v_end, v_end)
            RETURNING s.id INTO v_id;
        ELSE
            INSERT INTO jobspy.subscriptions AS s (user_id, customer_id, price_id, quantity, status,
                                                   current_period_start, current_period_end, billing_cycle_anchor)
            VALUES (v_user, $1, v_price.id, $3, 'active', v_now,
                    jobspy.subscription_next_boundary(v_now, v_price."interval", v_price.interval_count, v_now), v_now)
            RETURNING s.id INTO v_id;
        END IF;
    EXCEPTION WHEN unique_violation THEN
        -- A concurrent direct write, or the user's other customer holds a plan.
        RAISE EXCEPTION 'the customer already has a live subscription to this product, or its user one to a plan'
            USING ERRCODE = '23505', HINT = 'Change that subscription with jobspy.change_subscription.';
    END;
    IF $5 IS NOT NULL THEN
        -- Redeemed once, keyed by the subscription; its invoices read the
        -- coupon's terms through that redemption.  A refusal raises, and
        -- the subscription above goes with it.
        v_redemption := jobspy.loyalty_redeem($5, v_user, v_price.amount * $3, v_price.currency, 'subscription:' || v_id,
                                              NULL, (SELECT pr.code FROM jobspy.products pr WHERE pr.id = v_price.product_id),
                                              NULL);
        IF NOT v_redemption.allowed THEN
            RAISE EXCEPTION 'coupon "%" cannot be applied to this subscription: %', left($5, 50), v_redemption.code
                USING ERRCODE = 'JS508', DETAIL = 'Nothing was saved.',
                      HINT = 'Subscribe without the coupon, or with another one.';
        END IF;
    END IF;
    -- Billed in advance: the first period's invoice now (a trial's at its end).
    IF v_trial = 0 THEN
        PERFORM jobspy.subscription_invoice(s, v_price, NULL, 'subscription_create')
           FROM jobspy.subscriptions s WHERE s.id = v_id;
    END IF;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION jobspy.subscribe(uuid, text, integer, integer, text) IS
    'subscribes a customer to a recurring price: trialing when there are trial days (the price''s unless given), else active; one live subscription per customer and product; a coupon is redeemed once and discounts its invoices for the coupon''s duration (JS508 when refused)';

CREATE FUNCTION jobspy.change_subscription(subscription_id uuid, price_code text,
                                           proration text DEFAULT 'create_prorations')
    RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_now timestamptz := jobspy.now();
    v_sub jobspy.subscriptions;
    v_old jobspy.prices;
    v_new jobspy.prices;
    v_same_cycle boolean;
    v_left interval;
    v_whole interval;
BEGIN
    IF $2 IS NULL OR $3 IS NULL OR $3 NOT IN ('create_prorations', 'always_invoice', 'none') THEN
        RAISE EXCEPTION 'price_code must be given and proration be create_prorations, always_invoice or none'
            USING ERRCODE = '22023';
    END IF;
    v_sub := jobspy.billing_lock_subscription($1);
    IF v_sub.status NOT IN ('trialing', 'active', 'past_due') THEN
        RAISE EXCEPTION 'a % subscription cannot change its price', v_sub.status USING ERRCODE = '55000',
            HINT = 'Only trialing, active and past_due subscriptions change price.';
    END IF;
    v_new := jobspy.billing_recurring_price($2);
    SELECT p.* INTO v_old FROM jobspy.prices p WHERE p.id = v_sub.price_id;
    IF v_old.id IS NULL THEN
        RAISE EXCEPTION 'subscription % has no price of its own to change from', $1 USING ERRCODE = '55000',
            DETAIL = 'It was created before the catalogue (seed columns only).';
    END IF;
    IF v_new.id = v_old.id THEN
        RETURN;
    END IF;
    PERFORM jobspy.money_same_currency(v_old.currency, v_new.currency);
    PERFORM jobspy.billing_check_period_amount(v_new, v_sub.quantity);
    v_same_cycle := (v_old."interval", v_old.interval_count) = (v_new."interval", v_new.interval_count);
    -- Nothing was charged in a trial, so nothing is prorated there.
    IF $3 = 'always_invoice' AND v_sub.current_period_end <= v_now THEN
        RAISE EXCEPTION 'subscription %''s period ended at %; it is renewed before it is invoiced again', $1,
                        v_sub.current_period_end USING ERRCODE = '55000',
            HINT = 'Run jobspy.renew_subscriptions() (maintain() does), or change it with create_prorations or none.';
    END IF;
    IF $3 IN ('create_prorations', 'always_invoice') AND v_sub.status <> 'trialing' AND v_sub.current_period_end > v_now THEN
        v_left := v_sub.current_period_end - v_now;
        v_whole := v_sub.current_period_end - v_sub.current_period_start;
        INSERT INTO jobspy.pending_invoice_items (customer_id, subscription_id, price_id, description, amount,
                                                  currency, period_start, period_end)
        VALUES (v_sub.customer_id, v_sub.id, v_old.id, format('unused time on %s', v_old.code),
                -jobspy.prorate(v_old.amount * v_sub.quantity, v_left, v_whole), v_old.currency,
                v_now, v_sub.current_period_end),
               (v_sub.customer_id, v_sub.id, v_new.id, format('remaining time on %s', v_new.code),
                CASE WHEN v_same_cycle THEN jobspy.prorate(v_new.amount * v_sub.quantity, v_left, v_whole)
                     ELSE v_new.amount * v_sub.quantity END,
                v_new.currency, v_now,
                CASE WHEN v_same_cycle THEN v_sub.current_period_end
                     ELSE jobspy.subscription_next_boundary(v_now, v_new."interval", v_new.interval_count, v_now) END);
    END IF;
    IF v_same_cycle OR v_sub.status = 'trialing' THEN
        UPDATE jobspy.subscriptions s SET price_id = v_new.id WHERE s.id = v_sub.id;
    ELSE
        -- Another interval starts a new cycle now, as Stripe does.
        UPDATE jobspy.subscriptions s
           SET price_id = v_new.id, billing_cycle_anchor = v_now, current_period_start = v_now,
               current_period_end = jobspy.subscription_next_boundary(v_now, v_new."interval", v_new.interval_count, v_now)
         WHERE s.id = v_sub.id;
    END IF;
    IF $3 = 'always_invoice' THEN
        -- Stripe's always_invoice: the prorations are invoiced now, not
        -- with the next renewal.
        PERFORM jobspy.subscription_invoice(s, v_new, NULL, 'subscription_update')
           FROM jobspy.subscriptions s WHERE s.id = v_sub.id;
    END IF;
EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION 'the customer already has a live subscription to that price''s product' USING ERRCODE = '23505';
END
$$;
COMMENT ON FUNCTION jobspy.change_subscription(uuid, text, text) IS
    'moves a subscription to another price of the same currency (upgrade or downgrade); create_prorations adds by-the-second credit and charge items for the next invoice, always_invoice invoices them at once, none adds nothing; another interval starts a new cycle now';

CREATE FUNCTION jobspy.cancel_subscription(subscription_id uuid, at_period_end boolean DEFAULT true,
                                           reason text DEFAULT NULL)
    RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_now timestamptz := jobspy.now();
    v_sub jobspy.subscriptions;
BEGIN
    IF $2 IS NULL THEN
        RAISE EXCEPTION 'at_period_end must not be NULL' USING ERRCODE = '22023';
    END IF;
    IF length($3) NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'a cancellation reason must have 1 to 1000 characters' USING ERRCODE = '22023';
    END IF;
    v_sub := jobspy.billing_lock_subscription($1);
    IF v_sub.status IN ('canceled', 'incomplete_expired') THEN
        RAISE EXCEPTION 'subscription % has already ended (%)', $1, v_sub.status USING ERRCODE = '55000';
    END IF;
    -- Only a running period has an end to wait for.
    IF $2 AND v_sub.status IN ('trialing', 'active', 'past_due') THEN
        UPDATE jobspy.subscriptions s SET cancel_at_period_end = true, cancellation_reason = $3
         WHERE s.id = $1;
    ELSE
        UPDATE jobspy.subscriptions s
           SET status = 'canceled', canceled_at = v_now, ended_at = v_now, cancellation_reason = $3,
               cancel_at_period_end = false, next_retry_at = NULL
         WHERE s.id = $1;
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.cancel_subscription(uuid, boolean, text) IS
    'cancels a subscription now, or at the end of its running period (trialing, active, past_due); the reason is kept';

CREATE FUNCTION jobspy.pause_subscription(subscription_id uuid) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_sub jobspy.subscriptions;
BEGIN
    v_sub := jobspy.billing_lock_subscription($1);
    IF v_sub.status NOT IN ('trialing', 'active') THEN
        RAISE EXCEPTION 'a % subscription cannot be paused', v_sub.status USING ERRCODE = 'JS505',
            DETAIL = format('Illegal subscription transition from %s to paused.', v_sub.status),
            HINT = 'Only trialing and active subscriptions are paused.';
    END IF;
    UPDATE jobspy.subscriptions s SET status = 'paused', paused_at = jobspy.now() WHERE s.id = $1;
END
$$;
COMMENT ON FUNCTION jobspy.pause_subscription(uuid) IS
    'pauses a trialing or active subscription: its plan stops being in force and it does not renew until resumed';

CREATE FUNCTION jobspy.resume_subscription(subscription_id uuid) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_now timestamptz := jobspy.now();
    v_sub jobspy.subscriptions;
    v_price jobspy.prices;
BEGIN
    v_sub := jobspy.billing_lock_subscription($1);
    IF v_sub.status <> 'paused' THEN
        RAISE EXCEPTION 'subscription % is %, not paused', $1, v_sub.status USING ERRCODE = '55000';
    END IF;
    SELECT p.* INTO v_price FROM jobspy.prices p WHERE p.id = v_sub.price_id;
    IF v_sub.trial_end > v_now THEN
        UPDATE jobspy.subscriptions s SET status = 'trialing', paused_at = NULL WHERE s.id = $1;
    ELSIF v_sub.current_period_end > v_now OR v_price.id IS NULL THEN
        UPDATE jobspy.subscriptions s SET status = 'active', paused_at = NULL WHERE s.id = $1;
    ELSE
        -- The paused period is over: a new cycle starts now, and is
        -- invoiced now, as a renewal would be.
        UPDATE jobspy.subscriptions s
           SET status = 'active', paused_at = NULL, billing_cycle_anchor = v_now, current_period_start = v_now,
               current_period_end = jobspy.subscription_next_boundary(v_now, v_price."interval",
                                                                      v_price.interval_count, v_now)
         WHERE s.id = $1
        RETURNING s.* INTO v_sub;
        PERFORM jobspy.subscription_invoice(v_sub, v_price, NULL);
    END IF;
EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION 'the user already has another live subscription granting a plan' USING ERRCODE = '23505';
END
$$;
COMMENT ON FUNCTION jobspy.resume_subscription(uuid) IS
    'resumes a paused subscription: trialing while its trial lasts, else active, in the same period when it has not ended, else in a new cycle starting now, invoiced at once';

-- ------------------------------------------------------------ renewals

-- internal: the dunning schedule, days after the failure, from its
-- configuration ("3,5,7").
CREATE FUNCTION jobspy.billing_retry_days() RETURNS integer[]
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v text := jobspy.config_get('billing.dunning_retry_days') #>> '{}';
    d integer[];
BEGIN
    IF v !~ '^\s*[0-9]{1,3}(\s*,\s*[0-9]{1,3})*\s*$' THEN
        RAISE EXCEPTION 'configuration billing.dunning_retry_days must be whole numbers of days, comma-separated'
            USING ERRCODE = '22023', DETAIL = format('It is "%s".', left(v, 50)), HINT = 'For example ''"3,5,7"''.';
    END IF;
    SELECT array_agg(x ORDER BY x) INTO d FROM unnest(string_to_array(regexp_replace(v, '\s', '', 'g'), ',')::integer[]) x;
    RETURN d;
END
$$;
COMMENT ON FUNCTION jobspy.billing_retry_days() IS
    'internal: billing.dunning_retry_days as an array of days after a failed renewal';

-- Whether a renewal of this subscription can be collected now: nothing is
-- due on its open invoices, or the customer has a default payment method
-- that has not expired, which the provider charges (the invoice stays open
-- until record_payment says it was paid).
CREATE FUNCTION jobspy.subscription_collectable(customer_id uuid, amount bigint) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT $2 = 0 OR jobspy.default_payment_method($1) IS NOT NULL $$;
COMMENT ON FUNCTION jobspy.subscription_collectable(uuid, bigint) IS
    'internal: true when an amount due can be collected from the customer now (nothing due, or a usable default payment method)';

-- A renewal whose invoice cannot be written (subscription_invoice_problem:
-- an amount out of range) leaves the subscription as it was, still due,
-- and says why where an operator looks: renewal_error and
-- renewal_failed_at on the row, and billing.subscription.renewal_failed in
-- the outbox.  Both are written only when the reason is new, so that runs
-- repeated on the same cause write nothing more; the renewal that succeeds
-- once the cause is gone clears them.
CREATE FUNCTION jobspy.subscription_renewal_failed(subscription_id uuid, period_start timestamptz, reason text,
                                                   now timestamptz)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v jobspy.subscriptions;
BEGIN
    UPDATE jobspy.subscriptions s SET renewal_error = left(reason, 1000), renewal_failed_at = now
     WHERE s.id = subscription_id AND s.renewal_error IS DISTINCT FROM left(reason, 1000)
    RETURNING s.* INTO v;
    IF v.id IS NOT NULL THEN
        PERFORM jobspy.emit_event('billing.subscription.renewal_failed', 'subscription', v.id::text,
                                  jsonb_build_object('subscription_id', v.id, 'customer_id', v.customer_id,
                                                     'status', v.status, 'current_period_start', v.current_period_start,
                                                     'current_period_end', v.current_period_end,
                                                     'period_start', period_start, 'reason', v.renewal_error),
                                  v.user_id);
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.subscription_renewal_failed(uuid, timestamptz, text, timestamptz) IS
    'internal: records why a subscription''s renewal to the period starting at period_start could not be invoiced (renewal_error, renewal_failed_at, billing.subscription.renewal_failed), unless that reason is recorded already';

-- One subscription's due work, one legal transition per UPDATE, until
-- nothing is due at "now": dunning retries, then each period end in turn
-- (cancel at period end, end of trial, renewal and its collection).  A
-- period whose invoice cannot be written stops it there (see
-- subscription_renewal_failed).  Returns how many steps it wrote.
CREATE FUNCTION jobspy.subscription_advance(s jobspy.subscriptions, now timestamptz) RETURNS integer
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    p jobspy.prices;
    retry_days integer[] := jobspy.billing_retry_days();
    final_status text := jobspy.config_get('billing.dunning_final_status') #>> '{}';
    no_method text := jobspy.config_get('billing.trial_end_without_payment_method') #>> '{}';
    paid boolean;
    usage_from timestamptz;
    due bigint;
    problem text;
    steps integer := 0;
BEGIN
    SELECT * INTO p FROM jobspy.prices x WHERE x.id = s.price_id;
    LOOP
        IF s.status = 'past_due' AND s.next_retry_at <= now THEN
            -- Whether anything is due: amounts due are never below zero, so
            -- the largest says it, where their sum could leave bigint.
            SELECT coalesce(max(i.amount_due_cents), 0) INTO due FROM jobspy.invoices i
             WHERE i.subscription_id = s.id AND i.status = 'open';
            IF jobspy.subscription_collectable(s.customer_id, due) THEN
                s.status := 'active';
                s.dunning_attempts := 0; s.payment_failed_at := NULL; s.next_retry_at := NULL;
            ELSE
                s.dunning_attempts := s.dunning_attempts + 1;
                IF s.dunning_attempts < cardinality(retry_days) THEN
                    s.next_retry_at := s.payment_failed_at + make_interval(hours => 24 * retry_days[s.dunning_attempts + 1]);
                ELSE
                    s.status := final_status;
                    s.next_retry_at := NULL;
                    IF final_status = 'canceled' THEN
                        s.canceled_at := now; s.ended_at := now;
                        s.cancellation_reason := coalesce(s.cancellation_reason, 'payment failed');
                    END IF;
                END IF;
            END IF;
        ELSIF s.current_period_end <= now
              AND (s.status IN ('trialing', 'active', 'past_due') OR (s.status = 'unpaid' AND s.cancel_at_period_end)) THEN
            s.renewal_error := NULL; s.renewal_failed_at := NULL;
            IF s.cancel_at_period_end THEN
                s.status := 'canceled';
                s.canceled_at := s.current_period_end; s.ended_at := s.current_period_end; s.next_retry_at := NULL;
            ELSIF s.status = 'trialing' AND jobspy.default_payment_method(s.customer_id) IS NULL
                  AND p.amount > 0 AND no_method IN ('pause', 'cancel') THEN
                IF no_method = 'pause' THEN
                    s.status := 'paused'; s.paused_at := s.current_period_end;
                ELSE
                    s.status := 'canceled'; s.canceled_at := s.current_period_end; s.ended_at := s.current_period_end;
                    s.cancellation_reason := coalesce(s.cancellation_reason, 'trial ended without a payment method');
                END IF;
            ELSE
                -- Roll to the next period, invoice it (with the usage of the
                -- period that ended, unless it was a trial) and collect it.
                usage_from := CASE WHEN s.status <> 'trialing' THEN s.current_period_start END;
                s.current_period_start := s.current_period_end;
                s.current_period_end := jobspy.subscription_next_boundary(s.billing_cycle_anchor, p."interval",
                                                                          p.interval_count, s.current_period_start);
                -- Checked before anything of the period is written.
                problem := jobspy.subscription_invoice_problem(s, p, usage_from);
                IF problem IS NOT NULL THEN
                    PERFORM jobspy.subscription_renewal_failed(s.id, s.current_period_start, problem, now);
                    EXIT;
                END IF;
                due := jobspy.subscription_invoice(s, p, usage_from);
                paid := jobspy.subscription_collectable(s.customer_id, due);
                IF paid THEN
                    s.status := 'active';
                    s.dunning_attempts := 0; s.payment_failed_at := NULL; s.next_retry_at := NULL;
                ELSIF s.status <> 'past_due' THEN
                    s.status := 'past_due';
                    s.dunning_attempts := 0;
                    -- Retries count from the failure itself: a renewal run
                    -- that comes late must not spend them all at once.
                    s.payment_failed_at := greatest(s.current_period_start, now);
                    s.next_retry_at := s.payment_failed_at + make_interval(hours => 24 * coalesce(retry_days[1], 0));
                END IF;
            END IF;
        ELSE
            EXIT;
        END IF;
        UPDATE jobspy.subscriptions x
           SET status = s.status, current_period_start = s.current_period_start,
               current_period_end = s.current_period_end, canceled_at = s.canceled_at, ended_at = s.ended_at,
               paused_at = s.paused_at, cancellation_reason = s.cancellation_reason,
               dunning_attempts = s.dunning_attempts, payment_failed_at = s.payment_failed_at,
               next_retry_at = s.next_retry_at, renewal_error = s.renewal_error,
               renewal_failed_at = s.renewal_failed_at
         WHERE x.user_id = s.user_id AND x.id = s.id;
        steps := steps + 1;
    END LOOP;
    RETURN steps;
END
$$;
COMMENT ON FUNCTION jobspy.subscription_advance(jobspy.subscriptions, timestamptz) IS
    'internal: does a locked subscription''s due work up to a time, one legal transition per step, up to a period whose invoice cannot be written; returns how many steps it wrote';

CREATE FUNCTION jobspy.renew_subscriptions() RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_now timestamptz := jobspy.now();
    v_sub jobspy.subscriptions;
    v_due uuid[];
    v_count bigint;
BEGIN
    -- A first payment that never came (Stripe: 23 hours).
    -- (a provider's subscription expires by the provider's own event)
    UPDATE jobspy.subscriptions s SET status = 'incomplete_expired', ended_at = v_now
     WHERE s.status = 'incomplete' AND s.stripe_subscription_id IS NULL
       AND s.created_at <= v_now - (jobspy.config_get('billing.incomplete_expires_after') #>> '{}')::interval;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    -- SKIP LOCKED: concurrent runs share the work; a row another run has
    -- renewed meanwhile is re-checked against the condition and dropped.
    -- A provider's subscription (Stripe's) is renewed and invoiced by the
    -- provider; its events keep the row.
    -- Locks are taken in one order, by every writer: subscription, then
    -- customer, then invoice series (subscribe locks its customer and then
    -- the series; finalize_invoice its customer and then the series).  So
    -- the customers of the due subscriptions are locked here, before the
    -- series below, and SKIP LOCKED: a customer another transaction holds
    -- (a subscribe, an invoice of theirs being written) waits for the next
    -- run, with its subscriptions.
    SELECT array_agg(d.id) INTO v_due
      FROM (SELECT s.id FROM jobspy.subscriptions s JOIN jobspy.customers c ON c.id = s.customer_id
             WHERE s.price_id IS NOT NULL AND s.stripe_subscription_id IS NULL
               AND ((s.status IN ('trialing', 'active', 'past_due') AND s.current_period_end <= v_now)
                    OR (s.status = 'past_due' AND s.next_retry_at <= v_now)
                    OR (s.status = 'unpaid' AND s.cancel_at_period_end AND s.current_period_end <= v_now))
             ORDER BY s.id
             FOR UPDATE OF s, c SKIP LOCKED) d;
    IF v_due IS NULL THEN
        RETURN v_count;
    END IF;
    -- About one renewal invoice each: their numbers as one block (what is
    -- left is given back below; more invoices take numbers one by one).
    INSERT INTO jobspy.invoice_series (series) VALUES ('default') ON CONFLICT DO NOTHING;
    PERFORM jobspy.invoice_reserve_numbers('default', v_now, cardinality(v_due));
    FOR v_sub IN SELECT s.* FROM jobspy.subscriptions s WHERE s.id = ANY (v_due) ORDER BY s.id LOOP
        IF jobspy.subscription_advance(v_sub, v_now) > 0 THEN
            v_count := v_count + 1;
        END IF;
    END LOOP;
    PERFORM jobspy.invoice_release_numbers();
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION jobspy.renew_subscriptions() IS
    'does every due subscription''s work at jobspy.now(): ends trials, rolls periods and collects them, runs dunning retries, ends subscriptions canceled at period end, expires incomplete ones; a period whose invoice cannot be written is left and recorded (renewal_error, billing.subscription.renewal_failed); returns how many it changed; idempotent and safe to run concurrently';

CREATE FUNCTION jobspy.maintain_billing() RETURNS TABLE (action text, object text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n bigint := jobspy.renew_subscriptions();
BEGIN
    IF n > 0 THEN
        action := 'renewed';
        object := format('%s subscriptions', n);
        RETURN NEXT;
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.maintain_billing() IS
    'maintain() step: renew_subscriptions()';

REVOKE ALL ON FUNCTION
    jobspy.subscriptions_fill(),
    jobspy.subscriptions_check_transition(),
    jobspy.subscriptions_emit_events(),
    jobspy.billing_recurring_price(text),
    jobspy.billing_check_period_amount(jobspy.prices, integer),
    jobspy.billing_lock_subscription(uuid),
    jobspy.billing_retry_days(),
    jobspy.subscription_collectable(uuid, bigint),
    jobspy.subscription_renewal_failed(uuid, timestamptz, text, timestamptz),
    jobspy.subscription_advance(jobspy.subscriptions, timestamptz),
    jobspy.subscribe(uuid, text, integer, integer, text),
    jobspy.change_subscription(uuid, text, text),
    jobspy.cancel_subscription(uuid, boolean, text),
    jobspy.pause_subscription(uuid),
    jobspy.resume_subscription(uuid),
    jobspy.renew_subscriptions(),
    jobspy.maintain_billing(),
    jobspy.subscription_next_boundary(timestamptz, text, integer, timestamptz),
    jobspy.prorate(bigint, interval, interval)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    jobspy.subscribe(uuid, text, integer, integer, text),
    jobspy.change_subscription(uuid, text, text),
    jobspy.cancel_subscription(uuid, boolean, text),
    jobspy.pause_subscription(uuid),
    jobspy.resume_subscription(uuid),
    jobspy.subscription_next_boundary(timestamptz, text, integer, timestamptz),
    jobspy.prorate(bigint, interval, interval)
  TO jobspy_app, jobspy_admin;
GRANT EXECUTE ON FUNCTION jobspy.renew_subscriptions(), jobspy.maintain_billing() TO jobspy_admin;
-- seed 000's table was the admin's alone; the grants are made again in one
-- order so that an updated install has the same privileges as a new one.
REVOKE ALL ON jobspy.subscriptions FROM jobspy_admin;
GRANT SELECT ON jobspy.subscriptions, jobspy.subscription_transitions, jobspy.pending_invoice_items
  TO jobspy_app, jobspy_admin;
-- A role that reads these tables directly (jobspy_app) sees the rows of the
-- user in the jobspy.user_id setting only, as identity's tables do; the
-- functions run as the owner, whom the policies do not concern, and the
-- admin reads every row.
ALTER TABLE jobspy.subscriptions ENABLE ROW LEVEL SECURITY;
CREATE POLICY subscriptions_own ON jobspy.subscriptions USING (user_id = jobspy.current_row_user());
CREATE POLICY subscriptions_admin_read ON jobspy.subscriptions FOR SELECT TO jobspy_admin USING (true);
ALTER TABLE jobspy.pending_invoice_items ENABLE ROW LEVEL SECURITY;
CREATE POLICY pending_invoice_items_own ON jobspy.pending_invoice_items USING (customer_id IN (SELECT c.id FROM jobspy.customers c WHERE c.user_id = jobspy.current_row_user()));
CREATE POLICY pending_invoice_items_admin_read ON jobspy.pending_invoice_items FOR SELECT TO jobspy_admin USING (true);


-- The analyst reads views, never a base table: subscriptions with what
-- they are to, without contact details.
CREATE VIEW jobspy.subscription_overview AS
SELECT s.id AS subscription_id, s.customer_id, s.user_id, c.organization_id, pr.code AS product_code,
       p.code AS price_code, s.plan_type AS plan_code, s.quantity,
       coalesce(p.amount, s.price_amount) AS amount, coalesce(p.currency, s.price_currency) AS currency,
       coalesce(p."interval", s.plan_interval) AS "interval", coalesce(p.interval_count, 1) AS interval_count,
       s.status, s.current_period_start, s.current_period_end, s.trial_end, s.cancel_at_period_end,
       s.canceled_at, s.cancellation_reason, s.dunning_attempts, s.created_at
  FROM jobspy.subscriptions s
  JOIN jobspy.customers c ON c.id = s.customer_id
  LEFT JOIN jobspy.prices p ON p.id = s.price_id
  LEFT JOIN jobspy.products pr ON pr.id = s.product_id;
COMMENT ON VIEW jobspy.subscription_overview IS
    'one row per subscription: its customer, product, price (or seed 000''s own amount), status and period; no contact details';
GRANT SELECT ON jobspy.subscription_overview TO jobspy_analyst, jobspy_admin;
