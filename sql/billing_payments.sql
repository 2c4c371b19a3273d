\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- billing_payments: payments from any provider, recorded once per
-- (provider, provider payment id) however often a provider reports them;
-- statuses that only move forward; refunds that never exceed their payment;
-- invoices and orders that follow what was collected; revenue net of
-- refunds per currency.
--
-- seed 000's payments table (sql/billing.sql) is extended in place, as
-- billing_subscriptions extends its subscriptions: its rows keep working.

-- ---------------------------------------------------------------- table

ALTER TABLE jobspy.payments
    DROP CONSTRAINT payments_status_check,
    ADD CONSTRAINT payments_status_check CHECK (status IN ('pending', 'succeeded', 'failed', 'canceled',
                                                           'partially_refunded', 'refunded', 'disputed')),
    ADD COLUMN customer_id uuid REFERENCES jobspy.customers (id) ON DELETE RESTRICT,
    ADD COLUMN provider_id uuid REFERENCES jobspy.payment_providers (id),
    ADD COLUMN provider_payment_id text CHECK (length(provider_payment_id) BETWEEN 1 AND 255),
    ADD COLUMN fee_cents bigint NOT NULL DEFAULT 0 CHECK (fee_cents >= 0),
    ADD COLUMN net_cents bigint GENERATED ALWAYS AS (amount_cents - fee_cents) STORED,
    ADD COLUMN collected boolean GENERATED ALWAYS AS (status IN ('succeeded', 'partially_refunded', 'refunded',
                                                                 'disputed')) STORED,
    ADD COLUMN invoice_id uuid REFERENCES jobspy.invoices (id),
    ADD COLUMN order_id uuid REFERENCES jobspy.orders (id),
    -- when the money was taken: the report of a collected status, which
    -- may come days after the pending payment was recorded
    ADD COLUMN collected_at timestamptz,
    ADD CONSTRAINT payments_fee_check CHECK (fee_cents <= amount_cents),
    ADD CONSTRAINT payments_provider_check CHECK ((provider_id IS NULL) = (provider_payment_id IS NULL)),
    ADD CONSTRAINT payments_refund_status_check
        CHECK (status NOT IN ('partially_refunded', 'refunded')
               OR (refunded_amount_cents = amount_cents) = (status = 'refunded')),
    ADD CONSTRAINT payments_provider_payment_key UNIQUE (provider_id, provider_payment_id);
COMMENT ON TABLE jobspy.payments IS
    'payments reported by providers, one row per (provider, provider payment id): amount, fee and net in minor units, status moving forward only, refunded amount, the invoice or order paid';
COMMENT ON COLUMN jobspy.payments.net_cents IS 'amount_cents less the provider''s fee (seed 003), before refunds';
COMMENT ON COLUMN jobspy.payments.collected IS
    'the money was taken (succeeded, partially refunded, refunded or disputed): what revenue counts, refunds netted';
COMMENT ON COLUMN jobspy.payments.collected_at IS
    'when record_payment first reported a collected status (NULL for rows written otherwise: their created_at counts)';

-- Existing rows get the customer of their user.
INSERT INTO jobspy.customers (user_id, email)
SELECT DISTINCT p.user_id, u.email
  FROM jobspy.payments p JOIN jobspy.users u ON u.id = p.user_id
 WHERE NOT EXISTS (SELECT FROM jobspy.customers c WHERE c.user_id = p.user_id);
UPDATE jobspy.payments p SET customer_id = c.id
  FROM jobspy.customers c WHERE c.user_id = p.user_id AND p.customer_id IS NULL;
ALTER TABLE jobspy.payments ALTER COLUMN customer_id SET NOT NULL;
-- seed 000's writers name only the user: the row gets the user's customer.
CREATE FUNCTION jobspy.payments_fill_customer() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NEW.customer_id IS NULL AND NEW.user_id IS NOT NULL THEN
        SELECT c.id INTO NEW.customer_id FROM jobspy.customers c WHERE c.user_id = NEW.user_id;
        IF NEW.customer_id IS NULL THEN
            INSERT INTO jobspy.customers AS c (user_id, email)
            SELECT u.id, u.email FROM jobspy.users u WHERE u.id = NEW.user_id
            RETURNING c.id INTO NEW.customer_id;
        END IF;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION jobspy.payments_fill_customer() IS
    'trigger: a payment inserted with a user and no customer gets the user''s customer (made when missing)';
-- The WHEN clauses here spare writers that name the customer (and values
-- that cannot hold a card number) a PL/pgSQL call per row.
CREATE TRIGGER payments_fill_customer BEFORE INSERT ON jobspy.payments
    FOR EACH ROW WHEN (NEW.customer_id IS NULL AND NEW.user_id IS NOT NULL)
    EXECUTE FUNCTION jobspy.payments_fill_customer();
CREATE INDEX payments_customer_idx ON jobspy.payments (customer_id);
CREATE INDEX payments_invoice_idx ON jobspy.payments (invoice_id) WHERE invoice_id IS NOT NULL;
CREATE INDEX payments_order_idx ON jobspy.payments (order_id) WHERE order_id IS NOT NULL;
-- Every card number looks_like_card_number finds starts with four digits
-- at the start or after a character other than a letter, digit, _ or -:
-- only a row with such a run in a checked column pays for the full check.
CREATE TRIGGER payments_no_card_numbers BEFORE INSERT OR UPDATE ON jobspy.payments
    FOR EACH ROW WHEN (NEW.provider_payment_id ~ '(^|[^0-9A-Za-z_-])[0-9]{4}'
                       OR NEW.stripe_charge_id ~ '(^|[^0-9A-Za-z_-])[0-9]{4}'
                       OR NEW.description ~ '(^|[^0-9A-Za-z_-])[0-9]{4}'
                       OR NEW.failure_message ~ '(^|[^0-9A-Za-z_-])[0-9]{4}'
                       OR NEW.metadata::text ~ '(^|[^0-9A-Za-z_-])[0-9]{4}')
    EXECUTE FUNCTION jobspy.billing_refuse_card_numbers('provider_payment_id', 'stripe_charge_id',
                                                                     'description', 'failure_message', 'metadata');

CREATE TABLE jobspy.payment_transitions (
    from_status text NOT NULL,
    to_status   text NOT NULL,
    PRIMARY KEY (from_status, to_status)
);
COMMENT ON TABLE jobspy.payment_transitions IS
    'the legal changes of a payment''s status, all forward; every other change raises JS520';
INSERT INTO jobspy.payment_transitions VALUES
    ('pending', 'succeeded'), ('pending', 'failed'), ('pending', 'canceled'),
    ('succeeded', 'partially_refunded'), ('succeeded', 'refunded'), ('succeeded', 'disputed'),
    ('partially_refunded', 'refunded'), ('partially_refunded', 'disputed'),
    ('disputed', 'partially_refunded'), ('disputed', 'refunded');

CREATE FUNCTION jobspy.payments_check_change() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status
       AND NOT EXISTS (SELECT FROM jobspy.payment_transitions t
                        WHERE t.from_status = OLD.status AND t.to_status = NEW.status) THEN
        RAISE EXCEPTION 'illegal payment transition from % to %', OLD.status, NEW.status USING ERRCODE = 'JS520';
    END IF;
    IF (NEW.customer_id, NEW.provider_id, NEW.provider_payment_id, NEW.amount_cents, NEW.currency)
       IS DISTINCT FROM (OLD.customer_id, OLD.provider_id, OLD.provider_payment_id, OLD.amount_cents, OLD.currency)
       AND OLD.provider_id IS NOT NULL THEN
        RAISE EXCEPTION 'a recorded payment''s provider, id, customer, amount and currency never change'
            USING ERRCODE = 'JS521';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION jobspy.payments_check_change() IS
    'trigger: raises JS520 for a status change not in payment_transitions, JS521 for a change of a provider payment''s terms';
CREATE TRIGGER payments_check_change BEFORE UPDATE ON jobspy.payments
    FOR EACH ROW EXECUTE FUNCTION jobspy.payments_check_change();

CREATE TABLE jobspy.refunds (
    user_id            uuid NOT NULL,
    id                 uuid NOT NULL DEFAULT jobspy.uuid_v7(),
    payment_id         uuid NOT NULL,
    provider_id        uuid REFERENCES jobspy.payment_providers (id),
    provider_refund_id text CHECK (length(provider_refund_id) BETWEEN 1 AND 255),
    amount_cents       bigint NOT NULL CHECK (amount_cents > 0),
    currency           text NOT NULL REFERENCES jobspy.currencies (code),
    reason             text CHECK (length(reason) BETWEEN 1 AND 500),
    created_at         timestamptz NOT NULL DEFAULT jobspy.now(),
    PRIMARY KEY (user_id, id),
    FOREIGN KEY (user_id, payment_id) REFERENCES jobspy.payments (user_id, id) ON DELETE CASCADE,
    UNIQUE (provider_id, provider_refund_id)
);
COMMENT ON TABLE jobspy.refunds IS
    'money returned on a payment, in its currency; the refunds of a payment never add up to more than it; unique per provider refund id';
CREATE UNIQUE INDEX refunds_id_idx ON jobspy.refunds (id);
CREATE INDEX refunds_payment_idx ON jobspy.refunds (payment_id);
CREATE TRIGGER refunds_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.refunds
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
CREATE TRIGGER refunds_no_card_numbers BEFORE INSERT OR UPDATE ON jobspy.refunds
    FOR EACH ROW EXECUTE FUNCTION jobspy.billing_refuse_card_numbers('provider_refund_id', 'reason');
SELECT pg_catalog.pg_extension_config_dump('jobspy.refunds', '');

-- refund_payment checks this before it writes; the trigger holds the same
-- line for a writer that inserts refunds itself.
CREATE FUNCTION jobspy.refunds_check() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v jobspy.payments;
    v_refunded numeric;
BEGIN
    SELECT p.* INTO v FROM jobspy.payments p WHERE p.user_id = NEW.user_id AND p.id = NEW.payment_id FOR UPDATE;
    IF NEW.currency <> v.currency THEN
        RAISE EXCEPTION 'a refund is in its payment''s currency %, not %', v.currency, NEW.currency
            USING ERRCODE = 'JS501';
    END IF;
    SELECT coalesce(sum(x.amount_cents), 0) + NEW.amount_cents INTO v_refunded
      FROM jobspy.refunds x WHERE x.payment_id = NEW.payment_id AND x.id <> NEW.id;
    IF v_refunded > v.amount_cents THEN
        RAISE EXCEPTION 'refunds of % would exceed the payment''s %', v_refunded, v.amount_cents
            USING ERRCODE = '23514';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION jobspy.refunds_check() IS
    'trigger: a refund is in its payment''s currency (JS501) and the refunds of a payment never add up to more than it (23514), for every writer';
CREATE TRIGGER refunds_check BEFORE INSERT OR UPDATE OF payment_id, amount_cents, currency ON jobspy.refunds
    FOR EACH ROW EXECUTE FUNCTION jobspy.refunds_check();

-- ------------------------------------------------------ effects of money

-- What a payment's collected or returned money does to the invoice and the
-- order it pays: collected adds to amount paid (nothing left due, counting
-- credit notes and the balance applied: the invoice is paid; paid in full:
-- the order is paid); returned takes back from an invoice not yet paid in full,
-- while a paid invoice stays paid (a correction is a credit note) and an
-- order becomes partially_refunded or refunded.  An invoice that mirrors a
-- provider's (webhooks_stripe) takes its amount paid and status from the
-- provider's invoice events alone, which count the same money: a payment
-- adding to it too would pay it twice.
CREATE FUNCTION jobspy.payment_apply(p jobspy.payments, collected bigint, returned bigint) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_now timestamptz := jobspy.now();
BEGIN
    IF p.invoice_id IS NOT NULL
       AND NOT EXISTS (SELECT FROM jobspy.provider_invoices pi WHERE pi.invoice_id = p.invoice_id) THEN
        UPDATE jobspy.invoices i
           SET amount_paid_cents = i.amount_paid_cents + collected
                                   - CASE WHEN i.status = 'paid' THEN 0 ELSE least(returned, i.amount_paid_cents) END,
               status = CASE WHEN collected > 0 AND i.status IN ('open', 'uncollectible')
                              AND collected >= i.amount_due_cents THEN 'paid' ELSE i.status END,
               paid_at = CASE WHEN collected > 0 AND i.status IN ('open', 'uncollectible')
                               AND collected >= i.amount_due_cents THEN v_now ELSE i.paid_at END
         WHERE i.id = p.invoice_id;
    END IF;
    IF p.order_id IS NOT NULL THEN
        PERFORM jobspy.order_apply_payment(p.order_id, collected, returned);
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.payment_apply(jobspy.payments, bigint, bigint) IS
    'internal: adds collected money to the payment''s invoice (unless it mirrors a provider''s) and order (paid in full: paid), and takes returned money back';

CREATE FUNCTION jobspy.payment_event(p jobspy.payments, previous_status text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM jobspy.emit_event(
        'billing.payment.' || CASE WHEN p.status IN ('partially_refunded', 'refunded') THEN 'refunded' ELSE p.status END,
        'payment', p.id::text,
        jsonb_build_object('payment_id', p.id, 'customer_id', p.customer_id, 'status', p.status,
                           'previous_status', previous_status, 'amount', p.amount_cents, 'currency', p.currency,
                           'fee', p.fee_cents, 'refunded', p.refunded_amount_cents, 'invoice_id', p.invoice_id,
                           'order_id', p.order_id,
                           'provider', (SELECT pp.code FROM jobspy.payment_providers pp WHERE pp.id = p.provider_id),
                           'provider_payment_id', p.provider_payment_id),
        p.user_id);
END
$$;
COMMENT ON FUNCTION jobspy.payment_event(jobspy.payments, text) IS
    'internal: writes billing.payment.<status> to the outbox (billing.payment.refunded for both refund statuses)';

-- ------------------------------------------------------------ payments

-- internal: the checks of a new payment that need no lock.
CREATE FUNCTION jobspy.payment_check_new(customer_id uuid, currency text, invoice_id uuid, order_id uuid)
    RETURNS uuid
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_customer jobspy.customers;
    v_user uuid;
    v_inv jobspy.invoices;
BEGIN
    SELECT c.* INTO v_customer FROM jobspy.customers c WHERE c.id = $1;
    IF v_customer.id IS NULL THEN
        RAISE EXCEPTION 'unknown customer %', coalesce($1::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    v_user := coalesce(v_customer.user_id,
                       (SELECT o.created_by FROM jobspy.organizations o WHERE o.id = v_customer.organization_id));
    IF v_user IS NULL THEN
        RAISE EXCEPTION 'the organization has no creating user to hold its payment' USING ERRCODE = '55000';
    END IF;
    IF $3 IS NOT NULL THEN
        SELECT i.* INTO v_inv FROM jobspy.invoices i WHERE i.id = $3;
        IF v_inv.id IS NULL THEN
            RAISE EXCEPTION 'unknown invoice %', $3 USING ERRCODE = '22023';
        END IF;
        IF v_inv.customer_id <> $1 THEN
            RAISE EXCEPTION 'invoice % belongs to another customer', coalesce(v_inv.invoice_number, $3::text)
                USING ERRCODE = '22023';
        END IF;
        PERFORM jobspy.money_same_currency(v_inv.currency, $2);
        IF v_inv.status IN ('draft', 'void') THEN
            RAISE EXCEPTION 'a % invoice cannot be paid', v_inv.status USING ERRCODE = '55000',
                HINT = 'Pay an invoice once it is finalized (jobspy.finalize_invoice).';
        END IF;
    END IF;
    IF $4 IS NOT NULL THEN
        PERFORM jobspy.order_check_payable($4, $1, $2);
    END IF;
    RETURN v_user;
END
$$;
COMMENT ON FUNCTION jobspy.payment_check_new(uuid, text, uuid, uuid) IS
    'internal: checks a new payment''s customer, invoice and order (22023, 55000, JS501); returns the user who holds it';

CREATE FUNCTION jobspy.record_payment(provider text, provider_payment_id text, customer_id uuid, amount bigint,
                                      currency text, status text, invoice_id uuid DEFAULT NULL,
                                      order_id uuid DEFAULT NULL, fee bigint DEFAULT 0)
    RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_provider uuid;
    v_currency_known boolean;
    v_customer uuid;
    v_user uuid;
    v jobspy.payments;
    v_previous text;
BEGIN
    IF $2 IS NULL OR $3 IS NULL OR $4 IS NULL OR $5 IS NULL OR $6 IS NULL THEN
        RAISE EXCEPTION 'provider_payment_id, customer_id, amount, currency and status must not be NULL'
            USING ERRCODE = '22023';
    END IF;
    IF $4 <= 0 OR $4 > 1e15 THEN
        RAISE EXCEPTION 'a payment''s amount must be from 1 to 10^15 minor units, not %', $4 USING ERRCODE = '22023';
    END IF;
    IF coalesce($9, 0) < 0 THEN
        RAISE EXCEPTION 'a fee cannot be negative' USING ERRCODE = '22023';
    END IF;
    IF coalesce($9, 0) > $4 THEN
        RAISE EXCEPTION 'a fee of % exceeds the payment''s amount of %', $9, $4 USING ERRCODE = '22023';
    END IF;
    IF $7 IS NOT NULL AND $8 IS NOT NULL THEN
        RAISE EXCEPTION 'a payment pays an invoice or an order, not both' USING ERRCODE = '22023',
            HINT = 'Record a payment per invoice or order, each with its own provider payment id.';
    END IF;
    IF $6 NOT IN ('pending', 'succeeded', 'failed', 'canceled', 'disputed') THEN
        RAISE EXCEPTION 'record_payment takes status pending, succeeded, failed, canceled or disputed, not "%"',
                        left($6, 30)
            USING ERRCODE = '22023', HINT = 'Refunds are recorded with jobspy.refund_payment, which sets the refund statuses.';
    END IF;
    IF length($2) NOT BETWEEN 1 AND 255 THEN
        RAISE EXCEPTION 'provider_payment_id must have 1 to 255 characters' USING ERRCODE = '22023';
    END IF;
    -- Provider, currency and customer in one statement; a miss is raised by
    -- the function that owns its error, in the order they were checked in.
    SELECT (SELECT pp.id FROM jobspy.payment_providers pp WHERE pp.code = $1 AND pp.is_active),
           EXISTS (SELECT FROM jobspy.currencies k WHERE k.code = $5),
           c.id, coalesce(c.user_id, o.created_by)
      INTO v_provider, v_currency_known, v_customer, v_user
      FROM (SELECT) one
      LEFT JOIN jobspy.customers c ON c.id = $3
      LEFT JOIN jobspy.organizations o ON o.id = c.organization_id AND c.user_id IS NULL;
    IF v_provider IS NULL THEN
        v_provider := jobspy.billing_provider_id($1);
    END IF;
    IF NOT v_currency_known THEN
        PERFORM jobspy.billing_check_currency($5);
    END IF;

    SELECT p.* INTO v FROM jobspy.payments p
     WHERE p.provider_id = v_provider AND p.provider_payment_id = $2 FOR UPDATE;
    IF v.id IS NULL THEN
        -- payment_check_new only where it could raise or has more to check.
        IF v_customer IS NULL OR v_user IS NULL OR $7 IS NOT NULL OR $8 IS NOT NULL THEN
            v_user := jobspy.payment_check_new($3, $5, $7, $8);
        END IF;
        -- A concurrent first report of the same payment waits here for the
        -- other's commit and then finds its row below.
        -- A payment of a subscription's invoice is that subscription's (the
        -- revenue reports find its plan through it).
        INSERT INTO jobspy.payments AS p (user_id, customer_id, provider_id, provider_payment_id, amount_cents,
                                          currency, status, fee_cents, invoice_id, order_id, subscription_id,
                                          collected_at)
        VALUES (v_user, $3, v_provider, $2, $4, $5, $6, coalesce($9, 0), $7, $8,
                CASE WHEN $7 IS NOT NULL THEN (SELECT i.subscription_id FROM jobspy.invoices i WHERE i.id = $7) END,
                CASE WHEN $6 IN ('succeeded', 'partially_refunded', 'refunded', 'disputed') THEN jobspy.now() END)
        ON CONFLICT ON CONSTRAINT payments_provider_payment_key DO NOTHING
        RETURNING p.* INTO v;
        IF v.id IS NOT NULL THEN
            IF v.status IN ('succeeded', 'disputed') AND (v.invoice_id IS NOT NULL OR v.order_id IS NOT NULL) THEN
                PERFORM jobspy.payment_apply(v, v.amount_cents, 0);
            END IF;
            PERFORM jobspy.payment_event(v, NULL);
            RETURN v.id;
        END IF;
        SELECT p.* INTO v FROM jobspy.payments p
         WHERE p.provider_id = v_provider AND p.provider_payment_id = $2 FOR UPDATE;
    END IF;

    -- The same payment again: its terms must agree.
    IF (v.customer_id, v.amount_cents, v.currency) IS DISTINCT FROM ($3, $4, $5)
       OR ($7 IS NOT NULL AND v.invoice_id IS DISTINCT FROM $7)
       OR ($8 IS NOT NULL AND v.order_id IS DISTINCT FROM $8)
       OR (coalesce($9, 0) <> 0 AND v.fee_cents <> 0 AND v.fee_cents <> $9) THEN
        RAISE EXCEPTION 'payment "%" of provider "%" was recorded with other terms', left($2, 100), $1
            USING ERRCODE = 'JS521',
                  DETAIL = format('Recorded: customer %s, %s %s, invoice %s, order %s, fee %s.', v.customer_id,
                                  v.amount_cents, v.currency, coalesce(v.invoice_id::text, 'none'),
                                  coalesce(v.order_id::text, 'none'), v.fee_cents),
                  HINT = 'A provider payment id names one payment; a new charge has a new id.';
    END IF;
    -- A fee known only later (a balance transaction) is filled in.
    IF coalesce($9, 0) <> 0 AND v.fee_cents = 0 THEN
        UPDATE jobspy.payments p SET fee_cents = $9 WHERE p.id = v.id;
    END IF;
    IF v.status = $6 OR EXISTS (
        -- Providers deliver out of order: a status the payment has already
        -- passed changes nothing.
        WITH RECURSIVE later(s) AS (
            SELECT t.to_status FROM jobspy.payment_transitions t WHERE t.from_status = $6
            UNION
            SELECT t.to_status FROM jobspy.payment_transitions t JOIN later ON t.from_status = later.s)
        SELECT FROM later WHERE later.s = v.status) THEN
        RETURN v.id;
    END IF;
    IF NOT EXISTS (SELECT FROM jobspy.payment_transitions t WHERE t.from_status = v.status AND t.to_status = $6) THEN
        RAISE EXCEPTION 'payment "%" cannot go from % to %', left($2, 100), v.status, $6 USING ERRCODE = 'JS520',
            DETAIL = 'Payment statuses move forward only (jobspy.payment_transitions).';
    END IF;
    v_previous := v.status;
    UPDATE jobspy.payments p
       SET status = $6,
           collected_at = coalesce(p.collected_at, CASE WHEN $6 IN ('succeeded', 'partially_refunded', 'refunded', 'disputed')
                                                        THEN jobspy.now() END)
     WHERE p.id = v.id RETURNING p.* INTO v;
    IF v_previous = 'pending' AND v.status = 'succeeded' THEN
        PERFORM jobspy.payment_apply(v, v.amount_cents, 0);
    END IF;
    PERFORM jobspy.payment_event(v, v_previous);
    RETURN v.id;
END
$$;
COMMENT ON FUNCTION jobspy.record_payment(text, text, uuid, bigint, text, text, uuid, uuid, bigint) IS
    'records a provider''s payment once per (provider, provider_payment_id): a repeat returns the same id, a later status moves it forward, an already passed status changes nothing, other terms raise JS521; a succeeded payment pays its invoice or order';

-- ------------------------------------------------------------- refunds

-- internal: the refund a provider already reported under this id, NULL
-- when none; raises JS521 when it was recorded with other terms.
CREATE FUNCTION jobspy.refund_recorded(p jobspy.payments, amount bigint, provider_refund_id text)
    RETURNS jobspy.refunds
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r jobspy.refunds;
BEGIN
    -- A provider's refund id names one refund of that provider; a payment
    -- recorded without a provider keeps its refund ids to itself.
    SELECT x.* INTO r FROM jobspy.refunds x
     WHERE x.provider_refund_id = $3
       AND (x.provider_id = p.provider_id OR (p.provider_id IS NULL AND x.payment_id = p.id));
    IF r.id IS NOT NULL AND (r.payment_id <> p.id OR r.amount_cents <> $2) THEN
        RAISE EXCEPTION 'refund "%" was recorded with other terms', left($3, 100) USING ERRCODE = 'JS521',
            DETAIL = format('Recorded: payment %s, amount %s.', r.payment_id, r.amount_cents);
    END IF;
    RETURN r;
END
$$;
COMMENT ON FUNCTION jobspy.refund_recorded(jobspy.payments, bigint, text) IS
    'internal: the refund recorded under a provider refund id for this payment''s provider, or NULL; JS521 when its payment or amount differ';

CREATE FUNCTION jobspy.refund_payment(payment_id uuid, amount bigint, reason text DEFAULT NULL,
                                      provider_refund_id text DEFAULT NULL)
    RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v jobspy.payments;
    r jobspy.refunds;
    v_inv jobspy.invoices;
    v_unreturned bigint;
    v_previous text;
BEGIN
    IF $2 IS NULL OR $2 <= 0 THEN
        RAISE EXCEPTION 'a refund''s amount must be positive, not %', coalesce($2::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF length($3) NOT BETWEEN 1 AND 500 THEN
        RAISE EXCEPTION 'a refund''s reason has 1 to 500 characters' USING ERRCODE = '22023';
    END IF;
    IF length($4) NOT BETWEEN 1 AND 255 THEN
        RAISE EXCEPTION 'provider_refund_id must have 1 to 255 characters' USING ERRCODE = '22023';
    END IF;
    -- The payment's row lock puts the refunds of one payment in a line, so
    -- each sees what the ones before it took.
    SELECT p.* INTO v FROM jobspy.payments p WHERE p.id = $1 FOR UPDATE;
    IF v.id IS NULL THEN
        RAISE EXCEPTION 'unknown payment %', coalesce($1::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    IF $4 IS NOT NULL THEN
        r := jobspy.refund_recorded(v, $2, $4);
        IF r.id IS NOT NULL THEN
            RETURN r.id;
        END IF;
    END IF;
    IF v.status NOT IN ('succeeded', 'partially_refunded', 'disputed') THEN
        RAISE EXCEPTION 'a % payment cannot be refunded', v.status USING ERRCODE = '55000',
            HINT = 'Only collected money (succeeded, partially refunded or disputed) is refunded.';
    END IF;
    IF $2 > v.amount_cents - v.refunded_amount_cents THEN
        RAISE EXCEPTION 'a refund of % exceeds what is left of the payment (%)', $2,
                        v.amount_cents - v.refunded_amount_cents
            USING ERRCODE = '23514',
                  DETAIL = format('Paid %s %s, refunded %s.', v.amount_cents, v.currency, v.refunded_amount_cents);
    END IF;
    -- Money of an invoice that a credit note gave back to the customer's
    -- balance is not refunded as well; the invoice is locked after the
    -- payment, the order a credit note takes them in.
    -- A refund the provider reports has happened: it is recorded, and the
    -- money returned twice is reported instead (billing.invoice.returned_twice).
    IF v.invoice_id IS NOT NULL THEN
        v_inv := jobspy.billing_lock_invoice(v.invoice_id);
        v_unreturned := jobspy.invoice_unreturned(v_inv);
        IF $2 > v_unreturned AND $4 IS NULL THEN
            RAISE EXCEPTION 'a refund of % exceeds what was paid on invoice % and not returned (%)', $2,
                            v_inv.invoice_number, v_unreturned
                USING ERRCODE = '23514',
                      HINT = 'A credit note of the invoice credited the customer''s balance with that money already.';
        ELSIF $2 > v_unreturned THEN
            PERFORM jobspy.emit_event('billing.invoice.returned_twice', 'invoice', v_inv.id::text,
                                      jsonb_build_object('invoice_id', v_inv.id, 'payment_id', v.id,
                                                         'provider_refund_id', $4, 'refund', $2,
                                                         'unreturned', greatest(v_unreturned, 0),
                                                         'currency', v.currency),
                                      v.user_id);
        END IF;
    END IF;
    -- The same provider refund id on another payment of the provider, being
    -- refunded at the same moment, is not behind this payment's lock: the
    -- loser waits for the winner's commit here and then answers as a repeat.
    INSERT INTO jobspy.refunds AS x (user_id, payment_id, provider_id, provider_refund_id, amount_cents, currency,
                                     reason)
    VALUES (v.user_id, v.id, CASE WHEN $4 IS NOT NULL THEN v.provider_id END, $4, $2, v.currency, $3)
    ON CONFLICT ON CONSTRAINT refunds_provider_id_provider_refund_id_key DO NOTHING
    RETURNING x.* INTO r;
    IF r.id IS NULL THEN
        r := jobspy.refund_recorded(v, $2, $4);
        IF r.id IS NULL THEN  -- the winner's row is after this snapshot
            RAISE EXCEPTION 'refund "%" was recorded concurrently', left($4, 100) USING ERRCODE = '40001';
        END IF;
        RETURN r.id;
    END IF;
    v_previous := v.status;
    UPDATE jobspy.payments p
       SET refunded_amount_cents = p.refunded_amount_cents + $2,
           status = CASE WHEN p.refunded_amount_cents + $2 = p.amount_cents THEN 'refunded'
                         ELSE 'partially_refunded' END
     WHERE p.id = v.id
    RETURNING p.* INTO v;
    PERFORM jobspy.payment_apply(v, 0, $2);
    PERFORM jobspy.payment_event(v, v_previous);
    RETURN r.id;
END
$$;
COMMENT ON FUNCTION jobspy.refund_payment(uuid, bigint, text, text) IS
    'returns money on a collected payment: never more than is left of it (23514), at most once per provider_refund_id; the payment becomes partially_refunded or refunded, its invoice and order follow';

-- ------------------------------------------------------------- revenue

-- One row per currency.  Each payment is one row (unique per provider and
-- provider payment id), so a replayed report cannot count twice.  The sums
-- are numeric: a few payments near bigint's maximum would overflow it.
CREATE VIEW jobspy.payments_net AS
SELECT p.currency,
       count(*) AS payments,
       sum(p.amount_cents) AS gross_cents,
       sum(p.refunded_amount_cents) AS refunded_cents,
       sum(p.amount_cents - p.refunded_amount_cents) AS net_cents,
       sum(p.fee_cents) AS fee_cents,
       sum(p.amount_cents - p.refunded_amount_cents - p.fee_cents) AS net_after_fees_cents
  FROM jobspy.payments p
 WHERE p.collected
 GROUP BY p.currency;
COMMENT ON VIEW jobspy.payments_net IS
    'revenue per currency from collected payments: gross, refunded, net of refunds, provider fees and net of both, in minor units (numeric)';

REVOKE ALL ON FUNCTION
    jobspy.payments_fill_customer(),
    jobspy.refunds_check(),
    jobspy.payments_check_change(),
    jobspy.payment_apply(jobspy.payments, bigint, bigint),
    jobspy.payment_event(jobspy.payments, text),
    jobspy.payment_check_new(uuid, text, uuid, uuid),
    jobspy.record_payment(text, text, uuid, bigint, text, text, uuid, uuid, bigint),
    jobspy.refund_recorded(jobspy.payments, bigint, text),
    jobspy.refund_payment(uuid, bigint, text, text)
  FROM PUBLIC;
REVOKE ALL ON jobspy.payment_transitions, jobspy.refunds, jobspy.payments_net FROM PUBLIC;
-- seed 000's table was the admin's to read only; granted again here so an
-- upgraded install lists the grants as a fresh one does.
REVOKE ALL ON jobspy.payments FROM PUBLIC, jobspy_admin;
GRANT EXECUTE ON FUNCTION
    jobspy.record_payment(text, text, uuid, bigint, text, text, uuid, uuid, bigint),
    jobspy.refund_payment(uuid, bigint, text, text)
  TO jobspy_app, jobspy_admin;
GRANT SELECT ON jobspy.payments, jobspy.refunds, jobspy.payment_transitions TO jobspy_app, jobspy_admin;
GRANT SELECT ON jobspy.payments_net TO jobspy_analyst, jobspy_admin;
-- A role that reads these tables directly (jobspy_app) sees the payments
-- and refunds of the user in the jobspy.user_id setting only, as billing's
-- other per-user tables; the functions run as the owner, and the admin
-- reads every row.
ALTER TABLE jobspy.payments ENABLE ROW LEVEL SECURITY;
CREATE POLICY payments_own ON jobspy.payments USING (user_id = jobspy.current_row_user());
CREATE POLICY payments_admin_read ON jobspy.payments FOR SELECT TO jobspy_admin USING (true);
ALTER TABLE jobspy.refunds ENABLE ROW LEVEL SECURITY;
CREATE POLICY refunds_own ON jobspy.refunds USING (user_id = jobspy.current_row_user());
CREATE POLICY refunds_admin_read ON jobspy.refunds FOR SELECT TO jobspy_admin USING (true);
