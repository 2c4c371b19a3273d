\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- billing_invoices: invoices with lines, amounts computed in the database,
-- frozen once finalized, and numbers that are gapless per series because
-- they are taken at finalization from a counter row updated in the
-- finalizing transaction: a rollback gives its number back, a draft never
-- burns one.

CREATE TABLE jobspy.invoice_series (
    series      text PRIMARY KEY CHECK (series ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$'),
    format      text NOT NULL DEFAULT 'INV-{YYYY}-{NNNNNN}'
                CHECK (format LIKE '%{N%' AND length(format) <= 100),
    yearly_reset boolean NOT NULL DEFAULT false,
    year        integer,
    last_number bigint NOT NULL DEFAULT 0 CHECK (last_number >= 0),
    -- The first number of the block a renewal run in progress reserved
    -- (invoice_reserve_numbers), NULL otherwise: the session setting that
    -- walks the block is trusted only while the row says a block is out,
    -- since any role can set a setting.
    block_from  bigint CHECK (block_from BETWEEN 1 AND last_number),
    -- A count that starts again each year repeats its numbers unless the
    -- year is in them.
    CHECK (NOT yearly_reset OR format LIKE '%{YYYY}%')
);
COMMENT ON TABLE jobspy.invoice_series IS
    'invoice number series: a format ({YYYY} the year, {N...} the number padded to as many digits as Ns), an optional yearly reset (its format must hold {YYYY}), the last number given';
-- Every row is kept by pg_dump, the counters with it.  The default series
-- is made by its first invoice rather than by CREATE EXTENSION, so that a
-- restore does not meet an installed copy of it.
SELECT pg_catalog.pg_extension_config_dump('jobspy.invoice_series', '');

CREATE TABLE jobspy.invoices (
    id                uuid PRIMARY KEY DEFAULT jobspy.uuid_v7(),
    customer_id       uuid NOT NULL REFERENCES jobspy.customers (id) ON DELETE RESTRICT,
    subscription_id   uuid REFERENCES jobspy.subscriptions (id),
    series            text NOT NULL REFERENCES jobspy.invoice_series (series),
    invoice_number    text,
    status            text NOT NULL DEFAULT 'draft'
                      CHECK (status IN ('draft', 'open', 'paid', 'void', 'uncollectible')),
    currency          text NOT NULL REFERENCES jobspy.currencies (code),
    amount_cents      bigint NOT NULL DEFAULT 0,
    discount_cents    bigint NOT NULL DEFAULT 0 CHECK (discount_cents >= 0),
    tax_cents         bigint NOT NULL DEFAULT 0,
    total_cents       bigint NOT NULL DEFAULT 0,
    amount_paid_cents bigint NOT NULL DEFAULT 0 CHECK (amount_paid_cents >= 0),
    credited_cents    bigint NOT NULL DEFAULT 0 CHECK (credited_cents >= 0),
    balance_applied_cents bigint NOT NULL DEFAULT 0 CHECK (balance_applied_cents >= 0),
    coupon_id         uuid,
    amount_due_cents  bigint GENERATED ALWAYS AS
                      (greatest(total_cents - amount_paid_cents - credited_cents - balance_applied_cents, 0)) STORED,
    due_at            timestamptz,
    billing_reason    text NOT NULL DEFAULT 'manual'
                      CHECK (billing_reason IN ('manual', 'subscription_create', 'subscription_cycle',
                                                'subscription_update')),
    period_start      timestamptz,
    period_end        timestamptz,
    finalized_at      timestamptz,
    paid_at           timestamptz,
    voided_at         timestamptz,
    created_at        timestamptz NOT NULL DEFAULT jobspy.now(),
    updated_at        timestamptz NOT NULL DEFAULT jobspy.now(),
    CHECK ((invoice_number IS NULL) = (status = 'draft')),
    CHECK (total_cents = amount_cents - discount_cents + tax_cents),
    CHECK (period_end >= period_start),
    CHECK (billing_reason = 'manual' OR (subscription_id IS NOT NULL AND period_start IS NOT NULL)),
    UNIQUE (series, invoice_number)
);
COMMENT ON TABLE jobspy.invoices IS
    'invoices: draft, then open with a gapless number, then paid, void or uncollectible; amounts in minor units computed from the lines (amount_cents is the subtotal, discount_cents the lines'' discounts, or the discount of a subscription''s or the provider''s coupon); coupon_id the coupon apply_invoice_coupon redeemed for it; what is due is the total less payments, credit notes (credited_cents) and the customer''s credit balance used at finalization (balance_applied_cents); billing_reason subscription_create, subscription_cycle or subscription_update (a change invoiced at once) for a subscription''s invoice of period_start to period_end';
CREATE INDEX invoices_customer_idx ON jobspy.invoices (customer_id);
CREATE INDEX invoices_subscription_idx ON jobspy.invoices (subscription_id);
-- One invoice per subscription and period, whoever renews.
CREATE UNIQUE INDEX invoices_one_per_period_idx ON jobspy.invoices (subscription_id, period_start)
    WHERE billing_reason IN ('subscription_create', 'subscription_cycle');
CREATE INDEX invoices_open_due_idx ON jobspy.invoices (due_at) WHERE status = 'open';
CREATE TRIGGER invoices_updated_at BEFORE UPDATE ON jobspy.invoices
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
CREATE TRIGGER invoices_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.invoices
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
SELECT pg_catalog.pg_extension_config_dump('jobspy.invoices', '');

CREATE TABLE jobspy.invoice_lines (
    id           uuid PRIMARY KEY DEFAULT jobspy.uuid_v7(),
    invoice_id   uuid NOT NULL REFERENCES jobspy.invoices (id) ON DELETE CASCADE,
    description  text NOT NULL CHECK (length(description) BETWEEN 1 AND 500),
    quantity     bigint NOT NULL CHECK (quantity > 0),
    unit_amount  bigint NOT NULL,
    price_id     uuid REFERENCES jobspy.prices (id),
    tax_rate_bp  integer NOT NULL DEFAULT 0 CHECK (tax_rate_bp BETWEEN 0 AND 10000),
    amount       bigint NOT NULL,
    discount     bigint NOT NULL DEFAULT 0,
    tax          bigint NOT NULL,
    period_start timestamptz,
    period_end   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT jobspy.now(),
    CHECK (amount = quantity * unit_amount),
    CHECK (discount >= 0 AND discount <= greatest(amount, 0)),
    CHECK (period_end >= period_start)
);
COMMENT ON TABLE jobspy.invoice_lines IS
    'lines of an invoice: quantity x unit_amount (a negative unit amount is a credit), less a discount (at most the amount; none on a credit), tax at tax_rate_bp basis points of amount - discount rounded per line, halves away from zero';
CREATE INDEX invoice_lines_invoice_idx ON jobspy.invoice_lines (invoice_id);
CREATE INDEX invoice_lines_price_idx ON jobspy.invoice_lines (price_id);
CREATE TRIGGER invoice_lines_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.invoice_lines
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
SELECT pg_catalog.pg_extension_config_dump('jobspy.invoice_lines', '');
INSERT INTO jobspy.price_users (table_name, column_name) VALUES ('invoice_lines', 'price_id');

CREATE TABLE jobspy.invoice_transitions (
    from_status text NOT NULL,
    to_status   text NOT NULL,
    PRIMARY KEY (from_status, to_status)
);
COMMENT ON TABLE jobspy.invoice_transitions IS
    'the legal changes of an invoice''s status (Stripe''s); every other change raises JS506';
INSERT INTO jobspy.invoice_transitions VALUES
    ('draft', 'open'), ('open', 'paid'), ('open', 'void'), ('open', 'uncollectible'),
    ('uncollectible', 'paid'), ('uncollectible', 'void');

-- Lines change only on a draft; a finalized invoice keeps its number,
-- customer, currency and amounts for every writer.  A line moved to
-- another invoice leaves one and joins the other: both must be drafts.
CREATE FUNCTION jobspy.invoice_lines_only_on_drafts() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_status text;
BEGIN
    SELECT i.status INTO v_status FROM jobspy.invoices i
     WHERE i.id = CASE WHEN TG_OP = 'DELETE' THEN OLD.invoice_id ELSE NEW.invoice_id END;
    IF TG_OP = 'UPDATE' AND v_status IS NOT DISTINCT FROM 'draft' AND NEW.invoice_id IS DISTINCT FROM OLD.invoice_id THEN
        SELECT i.status INTO v_status FROM jobspy.invoices i WHERE i.id = OLD.invoice_id;
    END IF;
    IF v_status IS DISTINCT FROM 'draft' AND v_status IS NOT NULL THEN
        RAISE EXCEPTION 'invoice lines cannot change once the invoice is finalized (%)', v_status
            USING ERRCODE = 'JS507', HINT = 'Correct a finalized invoice with a credit note.';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
COMMENT ON FUNCTION jobspy.invoice_lines_only_on_drafts() IS
    'trigger: raises JS507 when a line of a finalized invoice would be added, changed, removed or moved to or from it';
CREATE TRIGGER invoice_lines_only_on_drafts BEFORE INSERT OR UPDATE OR DELETE ON jobspy.invoice_lines
    FOR EACH ROW EXECUTE FUNCTION jobspy.invoice_lines_only_on_drafts();
-- A description holds no card number, whoever writes it; only one with 13
-- digits or more can (looks_like_card_number), so others skip the call.
CREATE TRIGGER invoice_lines_no_card_numbers BEFORE INSERT OR UPDATE OF description ON jobspy.invoice_lines
    FOR EACH ROW WHEN (NEW.description ~ '[0-9](?:[^0-9]*[0-9]){12}')
    EXECUTE FUNCTION jobspy.billing_refuse_card_numbers('description');

-- A draft's amounts are computed from its lines by add_invoice_line and
-- apply_invoice_coupon, each in the statement after the lines it writes.
-- A line changed or removed any other way would leave them behind: at the
-- commit its invoice's subtotal and tax must still be its lines' sums, and
-- its discount at least theirs (a subscription's coupon and a provider's
-- discount are the invoice's own).  A new line is checked by
-- finalize_invoice rather than here, so that add_invoice_line, a renewal
-- run's thousands of calls, queues nothing for the commit.
CREATE FUNCTION jobspy.invoice_lines_match_invoice() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    -- (an invoice removed since, a voided draft, passes)
    PERFORM jobspy.invoice_check_amounts(i) FROM jobspy.invoices i
      WHERE i.id IN (OLD.invoice_id, CASE WHEN TG_OP = 'UPDATE' THEN NEW.invoice_id END);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION jobspy.invoice_lines_match_invoice() IS
    'constraint trigger: raises JS507 at the commit when a changed or removed line leaves its invoice''s amounts other than its lines'' sums';
CREATE CONSTRAINT TRIGGER invoice_lines_match_invoice
    AFTER UPDATE OF invoice_id, quantity, unit_amount, amount, discount, tax, tax_rate_bp OR DELETE
    ON jobspy.invoice_lines DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION jobspy.invoice_lines_match_invoice();

-- internal: an invoice's subtotal and tax are its lines' sums and its
-- discount at least theirs, else JS507; returns how many lines it has.
CREATE FUNCTION jobspy.invoice_check_amounts(inv jobspy.invoices) RETURNS bigint
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v record;
BEGIN
    SELECT count(*) AS lines, coalesce(sum(l.amount), 0) AS amount, coalesce(sum(l.tax), 0) AS tax,
           coalesce(sum(l.discount), 0) AS discount
      INTO v
      FROM jobspy.invoice_lines l WHERE l.invoice_id = inv.id;
    IF v.amount <> inv.amount_cents OR v.tax <> inv.tax_cents OR v.discount > inv.discount_cents THEN
        RAISE EXCEPTION 'invoice %''s amounts do not match its lines', inv.id USING ERRCODE = 'JS507',
            DETAIL = format('Invoice: subtotal %s, discount %s, tax %s; lines: %s, %s, %s.', inv.amount_cents,
                            inv.discount_cents, inv.tax_cents, v.amount, v.discount, v.tax),
            HINT = 'Lines are added with jobspy.add_invoice_line; a wrong draft is voided (deleted) and made again.';
    END IF;
    RETURN v.lines;
END
$$;
COMMENT ON FUNCTION jobspy.invoice_check_amounts(jobspy.invoices) IS
    'internal: raises JS507 when an invoice''s subtotal or tax is not its lines'' sum, or its discount is below theirs; returns its number of lines';

-- internal: JS506 unless the status may change from one to the other.
CREATE FUNCTION jobspy.invoice_check_transition(from_status text, to_status text) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF $1 = $2 THEN
        RAISE EXCEPTION 'illegal invoice transition from % to %', $1, $2 USING ERRCODE = 'JS506',
            DETAIL = format('The invoice is %s already.', $1);
    END IF;
    IF NOT EXISTS (SELECT FROM jobspy.invoice_transitions t WHERE t.from_status = $1 AND t.to_status = $2) THEN
        RAISE EXCEPTION 'illegal invoice transition from % to %', $1, $2 USING ERRCODE = 'JS506';
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.invoice_check_transition(text, text) IS
    'internal: raises JS506 when jobspy.invoice_transitions does not list the change (the same status again included)';

CREATE FUNCTION jobspy.invoices_check_change() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        PERFORM jobspy.invoice_check_transition(OLD.status, NEW.status);
    END IF;
    IF OLD.status <> 'draft'
       AND (NEW.customer_id, NEW.currency, NEW.series, NEW.invoice_number, NEW.amount_cents, NEW.discount_cents,
            NEW.tax_cents, NEW.total_cents, NEW.finalized_at, NEW.billing_reason, NEW.period_start, NEW.period_end)
           IS DISTINCT FROM
           (OLD.customer_id, OLD.currency, OLD.series, OLD.invoice_number, OLD.amount_cents, OLD.discount_cents,
            OLD.tax_cents, OLD.total_cents, OLD.finalized_at, OLD.billing_reason, OLD.period_start, OLD.period_end) THEN
        RAISE EXCEPTION 'a finalized invoice''s number, customer, currency and amounts never change'
            USING ERRCODE = 'JS507', HINT = 'Correct a finalized invoice with a credit note.';
    END IF;
    IF NEW.credited_cents < OLD.credited_cents OR NEW.balance_applied_cents < OLD.balance_applied_cents
       OR (OLD.status <> 'draft' AND NEW.balance_applied_cents <> OLD.balance_applied_cents) THEN
        RAISE EXCEPTION 'an invoice''s credits never go back down, and its use of the customer''s balance is fixed at finalization'
            USING ERRCODE = 'JS507';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION jobspy.invoices_check_change() IS
    'trigger: raises JS506 for an illegal status change and JS507 for a change of a finalized invoice''s terms';
-- Only a change that could raise calls the function: a draft's new
-- amounts (each add_invoice_line) do not.
CREATE TRIGGER invoices_check_change BEFORE UPDATE ON jobspy.invoices
    FOR EACH ROW WHEN (NEW.status IS DISTINCT FROM OLD.status OR OLD.status <> 'draft'
                       OR NEW.credited_cents < OLD.credited_cents
                       OR NEW.balance_applied_cents < OLD.balance_applied_cents)
    EXECUTE FUNCTION jobspy.invoices_check_change();
CREATE FUNCTION jobspy.invoices_start_as_draft() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NEW.status <> 'draft' OR NEW.invoice_number IS NOT NULL THEN
        RAISE EXCEPTION 'an invoice starts as a draft without a number' USING ERRCODE = 'JS506',
            HINT = 'Numbers are given by jobspy.finalize_invoice.';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION jobspy.invoices_start_as_draft() IS
    'trigger: raises JS506 for an invoice inserted in another status than draft, or with a number';
CREATE TRIGGER invoices_start_as_draft BEFORE INSERT ON jobspy.invoices
    FOR EACH ROW WHEN (NEW.status <> 'draft' OR NEW.invoice_number IS NOT NULL)
    EXECUTE FUNCTION jobspy.invoices_start_as_draft();

-- A finalized invoice is never removed, whoever deletes: its number would
-- leave a gap in its series.  A draft may go (void_invoice deletes it).
CREATE FUNCTION jobspy.invoices_keep_finalized() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RAISE EXCEPTION 'invoice % (%) is finalized and cannot be deleted', OLD.invoice_number, OLD.status
        USING ERRCODE = 'JS507', HINT = 'Void it with jobspy.void_invoice: its number stays, marked void.';
END
$$;
COMMENT ON FUNCTION jobspy.invoices_keep_finalized() IS
    'trigger: raises JS507 when an invoice other than a draft without a number would be deleted';
CREATE TRIGGER invoices_keep_finalized BEFORE DELETE ON jobspy.invoices
    FOR EACH ROW WHEN (OLD.status <> 'draft' OR OLD.invoice_number IS NOT NULL)
    EXECUTE FUNCTION jobspy.invoices_keep_finalized();

-- internal: the invoice, locked, else 22023.
CREATE FUNCTION jobspy.billing_lock_invoice(invoice_id uuid) RETURNS jobspy.invoices
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v jobspy.invoices;
BEGIN
    SELECT i.* INTO v FROM jobspy.invoices i WHERE i.id = invoice_id FOR UPDATE;
    IF v.id IS NULL THEN
        RAISE EXCEPTION 'unknown invoice %', coalesce(invoice_id::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION jobspy.billing_lock_invoice(uuid) IS
    'internal: an invoice by id, locked FOR UPDATE; raises 22023 when unknown';

CREATE FUNCTION jobspy.create_invoice(customer_id uuid, currency text, due_at timestamptz DEFAULT NULL,
                                      series text DEFAULT 'default')
    RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_id uuid;
    v_customer_known boolean;
    v_currency_known boolean;
    v_series_known boolean;
BEGIN
    -- Customer, currency and series in one statement.
    SELECT EXISTS (SELECT FROM jobspy.customers c WHERE c.id = $1),
           EXISTS (SELECT FROM jobspy.currencies k WHERE k.code = $2),
           EXISTS (SELECT FROM jobspy.invoice_series s WHERE s.series = coalesce($4, 'default'))
      INTO v_customer_known, v_currency_known, v_series_known;
    IF NOT v_customer_known THEN
        RAISE EXCEPTION 'unknown customer %', coalesce($1::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    IF NOT v_currency_known THEN
        PERFORM jobspy.billing_check_currency($2);
    END IF;
    IF NOT v_series_known AND coalesce($4, 'default') = 'default' THEN
        INSERT INTO jobspy.invoice_series (series) VALUES ('default') ON CONFLICT DO NOTHING;
        v_series_known := true;
    END IF;
    IF NOT v_series_known THEN
        RAISE EXCEPTION 'unknown invoice series "%"', left($4, 50) USING ERRCODE = '22023',
            HINT = 'Create it with jobspy.create_invoice_series.';
    END IF;
    INSERT INTO jobspy.invoices AS i (customer_id, currency, due_at, series)
    VALUES ($1, $2, $3, coalesce($4, 'default'))
    RETURNING i.id INTO v_id;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION jobspy.create_invoice(uuid, text, timestamptz, text) IS
    'starts a draft invoice for a customer in one currency, numbered in a series when finalized';

CREATE FUNCTION jobspy.create_invoice_series(series text, format text DEFAULT 'INV-{YYYY}-{NNNNNN}',
                                             yearly_reset boolean DEFAULT false)
    RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF $1 IS NULL OR $1 !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$' THEN
        RAISE EXCEPTION 'invalid invoice series "%"', coalesce(left($1, 50), 'NULL') USING ERRCODE = '22023';
    END IF;
    IF $2 IS NULL OR $2 !~ '\{N+\}' OR length($2) > 100 THEN
        RAISE EXCEPTION 'an invoice number format needs {N...} for the number' USING ERRCODE = '22023',
            HINT = 'For example ''INV-{YYYY}-{NNNNNN}''.';
    END IF;
    IF $3 AND position('{YYYY}' IN $2) = 0 THEN
        -- Counting from 1 again each year would give last year's numbers again.
        RAISE EXCEPTION 'a series that starts again each year needs {YYYY} in its format' USING ERRCODE = '22023',
            HINT = 'For example ''INV-{YYYY}-{NNNNNN}'', or no yearly_reset.';
    END IF;
    INSERT INTO jobspy.invoice_series AS s (series, format, yearly_reset) VALUES ($1, $2, coalesce($3, false));
EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION 'invoice series "%" already exists', $1 USING ERRCODE = '23505';
END
$$;
COMMENT ON FUNCTION jobspy.create_invoice_series(text, text, boolean) IS
    'adds an invoice number series (one per organization or tenant, say) with its format and optional yearly reset';

CREATE FUNCTION jobspy.add_invoice_line(invoice_id uuid, description text, quantity bigint, unit_amount bigint,
                                        price_code text DEFAULT NULL, tax_rate_bp integer DEFAULT 0,
                                        discount bigint DEFAULT 0, period_start timestamptz DEFAULT NULL,
                                        period_end timestamptz DEFAULT NULL)
    RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_inv jobspy.invoices;
    v_price jobspy.prices;
    v_sum numeric;
    v_disc bigint := coalesce($7, 0);
    v_sum_tax numeric;
    v_amount bigint;
    v_tax bigint;
    v_id uuid;
BEGIN
    IF $2 IS NULL OR $3 IS NULL OR $4 IS NULL THEN
        RAISE EXCEPTION 'description, quantity and unit_amount must not be NULL' USING ERRCODE = '22023';
    END IF;
    IF length($2) NOT BETWEEN 1 AND 500 THEN
        RAISE EXCEPTION 'a line''s description is 1 to 500 characters, not %', length($2) USING ERRCODE = '22023';
    END IF;
    IF $3 <= 0 THEN
        RAISE EXCEPTION 'quantity must be positive' USING ERRCODE = '22023',
            HINT = 'A credit is a negative unit amount.';
    END IF;
    IF coalesce($6, 0) NOT BETWEEN 0 AND 10000 THEN
        RAISE EXCEPTION 'tax_rate_bp must be 0 to 10000 basis points' USING ERRCODE = '22023';
    END IF;
    v_sum := $3::numeric * $4;
    IF v_disc < 0 OR v_disc > greatest(v_sum, 0) THEN
        RAISE EXCEPTION 'a line''s discount is 0 to its amount (%), got %', v_sum, v_disc USING ERRCODE = '22023',
            HINT = 'A credit line (a negative unit amount) takes no discount.';
    END IF;
    IF $9 < $8 THEN
        RAISE EXCEPTION 'a line''s period ends before it starts' USING ERRCODE = '22023';
    END IF;
    -- billing_lock_invoice's statement, without a call per line; the
    -- function raises the error of an unknown invoice.
    SELECT i.* INTO v_inv FROM jobspy.invoices i WHERE i.id = $1 FOR UPDATE;
    IF v_inv.id IS NULL THEN
        v_inv := jobspy.billing_lock_invoice($1);
    END IF;
    IF v_inv.status <> 'draft' THEN
        RAISE EXCEPTION 'invoice lines cannot change once the invoice is finalized (%)', v_inv.status
            USING ERRCODE = 'JS507', HINT = 'Correct a finalized invoice with a credit note.';
    END IF;
    IF v_inv.coupon_id IS NOT NULL THEN
        -- The coupon's discount was spread over the lines there were.
        RAISE EXCEPTION 'invoice % has a coupon: its lines are complete', $1 USING ERRCODE = '55000',
            HINT = 'Add every line before jobspy.apply_invoice_coupon.';
    END IF;
    IF $5 IS NOT NULL THEN
        SELECT p.* INTO v_price FROM jobspy.prices p WHERE p.code = $5;
        IF v_price.id IS NULL THEN
            RAISE EXCEPTION 'unknown price "%"', left($5, 50) USING ERRCODE = '22023';
        END IF;
        PERFORM jobspy.money_same_currency(v_inv.currency, v_price.currency);
    END IF;
    -- Checked before writing rather than caught: a handler would make each
    -- line a subtransaction, and a renewal run's thousands of them would
    -- pile their locks on a price row into one ever larger multixact.
    -- Tax per line on what the line charges after its discount, rounded
    -- to the nearest minor unit, halves away from zero.
    v_sum_tax := round((v_sum - v_disc) * coalesce($6, 0) / 10000);
    IF greatest(v_sum, v_inv.amount_cents + v_sum, v_inv.tax_cents + v_sum_tax,
                v_inv.total_cents + v_sum - v_disc + v_sum_tax) > 9223372036854775807
       OR least(v_sum, v_inv.amount_cents + v_sum, v_inv.tax_cents + v_sum_tax,
                v_inv.total_cents + v_sum - v_disc + v_sum_tax) < -9223372036854775808
       OR v_inv.discount_cents::numeric + v_disc > 9223372036854775807 THEN
        RAISE EXCEPTION 'invoice line amount out of range' USING ERRCODE = '22003';
    END IF;
    v_amount := v_sum;
    v_tax := v_sum_tax;
    INSERT INTO jobspy.invoice_lines AS l (invoice_id, description, quantity, unit_amount, price_id, tax_rate_bp,
                                           amount, discount, tax, period_start, period_end)
    VALUES ($1, $2, $3, $4, v_price.id, coalesce($6, 0), v_amount, v_disc, v_tax, $8, $9)
    RETURNING l.id INTO v_id;
    UPDATE jobspy.invoices i
       SET amount_cents = i.amount_cents + v_amount, tax_cents = i.tax_cents + v_tax,
           discount_cents = i.discount_cents + v_disc,
           total_cents = i.amount_cents + v_amount - i.discount_cents - v_disc + i.tax_cents + v_tax
     WHERE i.id = $1;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION jobspy.add_invoice_line(uuid, text, bigint, bigint, text, integer, bigint, timestamptz, timestamptz) IS
    'adds a line to a draft invoice (JS507 otherwise; 55000 once a coupon is applied; 22023 for a description that is not 1 to 500 characters, JS502 for one holding a card number): quantity x unit_amount less a discount, tax per line at tax_rate_bp of what is left rounded halves away from zero, the period it bills; the invoice''s amounts follow';

-- The next number of a series, taken in the caller's transaction: the
-- series row stays locked until it ends, so finalizations of one series
-- take turns, and a rollback gives the number back.  Inside a block that
-- invoice_reserve_numbers took in this transaction, the number comes from
-- the block and the row is not written again.
CREATE FUNCTION jobspy.invoice_next_number(series text, at timestamptz) RETURNS text
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    y integer := extract(year FROM at AT TIME ZONE 'UTC')::integer;
    s jobspy.invoice_series;
    -- No block reserved in this session (the usual case): no parse.
    block bigint[] := CASE WHEN current_setting('jobspy_billing.invoice_numbers', true) <> ''
                           THEN jobspy.invoice_number_block(series) END;
    n bigint;
    digits integer;
BEGIN
    IF block IS NOT NULL THEN
        -- Trusted only while the row still ends at the block and is in the
        -- block's year: a block set by hand names numbers already given,
        -- and the unique number refuses them.
        SELECT x.* INTO s FROM jobspy.invoice_series x WHERE x.series = invoice_next_number.series;
        IF s.last_number = block[2] AND s.year = y AND block[1] >= s.block_from THEN
            n := block[1];
            PERFORM set_config('jobspy_billing.invoice_numbers', format('%s:%s:%s', series, n + 1, block[2]), false);
        END IF;
    END IF;
    IF n IS NULL THEN
        -- The year never goes back: a finalization whose transaction began
        -- before midnight, numbered after one that began after it, takes the
        -- new year's next number (a yearly series would otherwise restart
        -- the old year's count, and then the new year's, on numbers given).
        UPDATE jobspy.invoice_series x
           SET last_number = CASE WHEN x.yearly_reset AND (x.year IS NULL OR y > x.year) THEN 1 ELSE x.last_number + 1 END,
               block_from = CASE WHEN x.yearly_reset AND (x.year IS NULL OR y > x.year) THEN NULL ELSE x.block_from END,
               year = greatest(x.year, y)
         WHERE x.series = invoice_next_number.series
        RETURNING x.* INTO s;
        n := s.last_number;
    END IF;
    digits := length(substring(s.format FROM '\{(N+)\}'));
    RETURN replace(regexp_replace(s.format, '\{N+\}', lpad(n::text, greatest(digits, length(n::text)), '0')),
                   '{YYYY}', (CASE WHEN s.yearly_reset THEN s.year ELSE y END)::text);
END
$$;
COMMENT ON FUNCTION jobspy.invoice_next_number(text, timestamptz) IS
    'internal: the next gapless number of a series, formatted; locks the series row until the transaction ends';

-- A run that numbers many invoices in one transaction (renewals) reserves
-- them as one block: a row updated once per invoice keeps every version
-- the transaction made, and each further update walks them all, so a run
-- of n invoices cost n squared.  The block lives in the setting
-- jobspy_billing.invoice_numbers (series:next:last) until
-- invoice_release_numbers gives back what was not used; an error rolls
-- both the row and the setting back.
-- PL/pgSQL rather than SQL here and in invoice_emit_event: a SQL function
-- with a SET clause is never inlined, and is planned again on every call.
CREATE FUNCTION jobspy.invoice_number_block(series text) RETURNS bigint[]
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    b text[] := regexp_match(current_setting('jobspy_billing.invoice_numbers', true),
                             '^([^:]+):([0-9]{1,18}):([0-9]{1,18})$');
BEGIN
    IF b[1] = series AND b[2]::bigint <= b[3]::bigint THEN
        RETURN ARRAY[b[2]::bigint, b[3]::bigint];
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION jobspy.invoice_number_block(text) IS
    'internal: the unused part {next, last} of the block of numbers of a series reserved in this session, else NULL';

CREATE FUNCTION jobspy.invoice_reserve_numbers(series text, at timestamptz, count bigint) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    y integer := extract(year FROM at AT TIME ZONE 'UTC')::integer;
    last bigint;
BEGIN
    PERFORM jobspy.invoice_release_numbers();
    IF count > 0 THEN
        UPDATE jobspy.invoice_series x
           SET last_number = CASE WHEN x.yearly_reset AND (x.year IS NULL OR y > x.year) THEN 0 ELSE x.last_number END + count,
               block_from = CASE WHEN x.yearly_reset AND (x.year IS NULL OR y > x.year) THEN 0 ELSE x.last_number END + 1,
               year = greatest(x.year, y)
         WHERE x.series = invoice_reserve_numbers.series
        RETURNING x.last_number INTO last;
        IF last IS NOT NULL THEN
            PERFORM set_config('jobspy_billing.invoice_numbers', format('%s:%s:%s', series, last - count + 1, last), false);
        END IF;
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.invoice_reserve_numbers(text, timestamptz, bigint) IS
    'internal: reserves the next count numbers of a series for this transaction (the row stays locked); invoice_next_number takes them, invoice_release_numbers gives back the rest';

CREATE FUNCTION jobspy.invoice_release_numbers() RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    b text[] := regexp_match(current_setting('jobspy_billing.invoice_numbers', true), '^([^:]+):');
    block bigint[] := jobspy.invoice_number_block(b[1]);
BEGIN
    IF b[1] IS NOT NULL THEN
        -- What is left of the block goes back (never below where it began,
        -- whatever the setting says), and the row no longer has a block out.
        UPDATE jobspy.invoice_series x
           SET last_number = CASE WHEN x.last_number = block[2] AND block[1] >= x.block_from THEN block[1] - 1
                                  ELSE x.last_number END,
               block_from = NULL
         WHERE x.series = b[1] AND x.block_from IS NOT NULL;
    END IF;
    PERFORM set_config('jobspy_billing.invoice_numbers', '', false);
END
$$;
COMMENT ON FUNCTION jobspy.invoice_release_numbers() IS
    'internal: gives back the unused numbers of the block invoice_reserve_numbers took, so that the series stays gapless';

-- An invoice's event in the outbox: billing.invoice.<what>, entity
-- invoice, for the customer's user, with what a consumer needs to act.
CREATE FUNCTION jobspy.invoice_emit_event(what text, i jobspy.invoices) RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN jobspy.emit_event('billing.invoice.' || what, 'invoice', i.id::text,
                             jsonb_build_object('invoice_id', i.id, 'invoice_number', i.invoice_number,
                                                'customer_id', i.customer_id, 'subscription_id', i.subscription_id,
                                                'status', i.status, 'currency', i.currency,
                                                'total_cents', i.total_cents, 'amount_paid_cents', i.amount_paid_cents,
                                                'amount_due_cents', i.amount_due_cents, 'due_at', i.due_at),
                             (SELECT c.user_id FROM jobspy.customers c WHERE c.id = i.customer_id));
END
$$;
COMMENT ON FUNCTION jobspy.invoice_emit_event(text, jobspy.invoices) IS
    'internal: writes billing.invoice.<what> for an invoice to the outbox';

CREATE FUNCTION jobspy.finalize_invoice(invoice_id uuid) RETURNS text
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_now timestamptz := jobspy.now();
    v_inv jobspy.invoices;
    v_number text;
    v_applied bigint;
BEGIN
    SELECT i.* INTO v_inv FROM jobspy.invoices i WHERE i.id = $1 FOR UPDATE;
    IF v_inv.id IS NULL THEN
        v_inv := jobspy.billing_lock_invoice($1);
    END IF;
    IF v_inv.status <> 'draft' THEN
        RAISE EXCEPTION 'invoice % is already finalized (% %)', $1, v_inv.status, v_inv.invoice_number
            USING ERRCODE = '55000';
    END IF;
    IF jobspy.invoice_check_amounts(v_inv) = 0 THEN
        RAISE EXCEPTION 'invoice % has no lines', $1 USING ERRCODE = '55000';
    END IF;
    IF v_inv.total_cents < 0 THEN
        RAISE EXCEPTION 'invoice % totals %, below zero', $1, v_inv.total_cents USING ERRCODE = '55000',
            HINT = 'A credit larger than the charges belongs on a credit note.';
    END IF;
    -- The customer's credit balance is taken under the customer's row lock
    -- before the number, in the order every writer takes them (customer,
    -- then series; renew_subscriptions locks its customers before the
    -- series too): a finalization that held the series while it waited for
    -- its customer could wait on a subscribe that holds the customer and
    -- waits for the series.
    v_applied := jobspy.customer_balance_apply(v_inv);
    -- From here to the commit the series row is locked: every check and
    -- read is above.
    v_number := jobspy.invoice_next_number(v_inv.series, v_now);
    UPDATE jobspy.invoices i
       SET status = 'open', invoice_number = v_number, balance_applied_cents = v_applied,
           finalized_at = v_now, due_at = coalesce(i.due_at, v_now)
     WHERE i.id = $1
    RETURNING i.* INTO v_inv;
    -- What an application's payment worker acts on: an open invoice with
    -- an amount due is to be charged through the provider.
    PERFORM jobspy.invoice_emit_event('finalized', v_inv);
    IF v_inv.amount_due_cents = 0 THEN
        -- (billing.invoice.paid follows, from the status trigger)
        UPDATE jobspy.invoices i SET status = 'paid', paid_at = v_now WHERE i.id = $1;
    END IF;
    RETURN v_number;
END
$$;
COMMENT ON FUNCTION jobspy.finalize_invoice(uuid) IS
    'finalizes a draft: gives it the next gapless number of its series, takes what the customer''s credit balance can pay, and opens it (an invoice owing nothing is paid at once), writes billing.invoice.finalized to the outbox; returns the number';

-- A draft's coupon was redeemed for it under the key invoice:<id>; the
-- draft removed, the redemption goes too, under the coupon's row lock as
-- loyalty takes redemptions, so that it counts against no limit.
CREATE FUNCTION jobspy.invoice_release_coupon(inv jobspy.invoices) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM FROM jobspy.loyalty_coupons c WHERE c.id = inv.coupon_id FOR UPDATE;
    WITH gone AS (
        DELETE FROM jobspy.loyalty_coupon_redemptions x
         USING jobspy.customers c
         WHERE c.id = inv.customer_id AND x.user_id = c.user_id AND x.idempotency_key = 'invoice:' || inv.id
           AND x.coupon_id = inv.coupon_id
        RETURNING x.coupon_id)
    UPDATE jobspy.loyalty_coupons c SET times_redeemed = c.times_redeemed - 1
      FROM gone WHERE c.id = gone.coupon_id AND c.times_redeemed > 0;
END
$$;
COMMENT ON FUNCTION jobspy.invoice_release_coupon(jobspy.invoices) IS
    'internal: gives back the coupon redemption of a draft invoice being removed (key invoice:<id>), so that it counts against no limit';

CREATE FUNCTION jobspy.void_invoice(invoice_id uuid) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_inv jobspy.invoices := jobspy.billing_lock_invoice($1);
BEGIN
    IF v_inv.status = 'draft' THEN
        -- A draft has no number to account for: it is simply removed, and
        -- its coupon's redemption with it.
        IF v_inv.coupon_id IS NOT NULL THEN
            PERFORM jobspy.invoice_release_coupon(v_inv);
        END IF;
        DELETE FROM jobspy.invoices i WHERE i.id = $1;
        RETURN;
    END IF;
    IF v_inv.amount_paid_cents > 0 THEN
        RAISE EXCEPTION 'invoice % has payments and cannot be voided', v_inv.invoice_number USING ERRCODE = '55000',
            HINT = 'Refund the payments, or issue a credit note.';
    END IF;
    PERFORM jobspy.invoice_check_transition(v_inv.status, 'void');
    UPDATE jobspy.invoices i SET status = 'void', voided_at = jobspy.now() WHERE i.id = $1;
    IF v_inv.balance_applied_cents > 0 THEN
        -- What the customer's credit balance paid of it is theirs again.
        INSERT INTO jobspy.customer_balance_transactions (customer_id, currency, amount_cents, invoice_id)
        VALUES (v_inv.customer_id, v_inv.currency, v_inv.balance_applied_cents, $1);
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.void_invoice(uuid) IS
    'voids an open or uncollectible invoice without payments (its number stays, marked void; what the customer''s credit balance paid of it goes back to the balance; JS506 when it is void already); a draft is deleted and its coupon''s redemption given back';

CREATE FUNCTION jobspy.mark_invoice_uncollectible(invoice_id uuid) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_inv jobspy.invoices := jobspy.billing_lock_invoice($1);
BEGIN
    PERFORM jobspy.invoice_check_transition(v_inv.status, 'uncollectible');
    UPDATE jobspy.invoices i SET status = 'uncollectible' WHERE i.id = $1;
END
$$;
COMMENT ON FUNCTION jobspy.mark_invoice_uncollectible(uuid) IS
    'marks an open invoice uncollectible (JS506 from another status, uncollectible included); it may still be paid or voided';

-- ------------------------------------------------------ renewal invoices

-- The discount that a subscription's coupon gives its invoice of a period:
-- the coupon redeemed once by subscribe (key subscription:<id>), for the
-- coupon's duration: once (the subscription's first invoice), repeating
-- (invoices of periods starting within duration_months of the redemption)
-- or forever.  A percentage rounds down, as loyalty's redemptions do; an
-- amount off is at most the subtotal.
CREATE FUNCTION jobspy.subscription_discount(s jobspy.subscriptions, period_start timestamptz, subtotal bigint,
                                             currency text)
    RETURNS bigint
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    SET TimeZone = 'UTC'   -- a coupon's months are counted in UTC, as periods are
    AS $$
DECLARE
    v bigint;
BEGIN
    IF subtotal <= 0 THEN
        RETURN 0;
    END IF;
    SELECT CASE WHEN c.percent_off IS NOT NULL THEN floor(subtotal::numeric * c.percent_off / 100)::bigint
                ELSE least(c.amount_off, subtotal) END
      INTO v
      FROM jobspy.loyalty_coupon_redemptions r JOIN jobspy.loyalty_coupons c ON c.id = r.coupon_id
     WHERE r.user_id = s.user_id AND r.idempotency_key = 'subscription:' || s.id
       AND (c.amount_off IS NULL OR c.currency = subscription_discount.currency)
       AND CASE c.duration
               WHEN 'forever' THEN true
               WHEN 'repeating' THEN subscription_discount.period_start
                                     < r.created_at + make_interval(months => c.duration_months)
               ELSE NOT EXISTS (SELECT FROM jobspy.invoices i WHERE i.subscription_id = s.id
                                   AND i.period_start < subscription_discount.period_start)
           END;
    RETURN coalesce(v, 0);
END
$$;
COMMENT ON FUNCTION jobspy.subscription_discount(jobspy.subscriptions, timestamptz, bigint, text) IS
    'internal: the discount of a subscription''s coupon on its invoice of the period starting at period_start (once, repeating or forever), percent rounded down, at most the subtotal';

-- internal: a line of a draft with the period it bills.
CREATE FUNCTION jobspy.invoice_period_line(invoice_id uuid, description text, quantity bigint, unit_amount bigint,
                                           price_id uuid, period_start timestamptz, period_end timestamptz)
    RETURNS uuid
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN jobspy.add_invoice_line($1, $2, $3, $4, (SELECT p.code FROM jobspy.prices p WHERE p.id = $5),
                                   period_start => $6, period_end => $7);
END
$$;
COMMENT ON FUNCTION jobspy.invoice_period_line(uuid, text, bigint, bigint, uuid, timestamptz, timestamptz) IS
    'internal: add_invoice_line with the price by id and the period the line bills';

-- internal: the metered usage of a subscription's user that no invoice has
-- billed yet, of the price's metric, in [usage_from, period start); numeric,
-- as the sum of bigints is, so that a sum beyond bigint is an answer and not
-- an error.
CREATE FUNCTION jobspy.subscription_usage(s jobspy.subscriptions, p jobspy.prices, usage_from timestamptz)
    RETURNS numeric
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN (SELECT coalesce(sum(t.total_tokens), 0) FROM jobspy.token_usage t
             WHERE t.user_id = s.user_id AND t.metric = p.metric AND t.invoice_line_id IS NULL
               AND t.created_at >= usage_from AND t.created_at < s.current_period_start);
END
$$;
COMMENT ON FUNCTION jobspy.subscription_usage(jobspy.subscriptions, jobspy.prices, timestamptz) IS
    'internal: the unbilled usage of the price''s metric by the subscription''s user from usage_from to the start of its current period';

-- Whether subscription_invoice can write a subscription's invoice of its
-- current period: every amount it and add_invoice_line would compute,
-- worked out in numeric in the order they write them (each line, the
-- running subtotal, which is the running total, and the credit carried when
-- the total ends below zero), within bigint, and for a trial that ends the
-- monthly amount it then counts for.  The coupon's discount is 0 to
-- a positive subtotal and these lines carry no tax, so the discounted total
-- lies between 0 and the subtotal.  NULL when it can, else why not.
-- subscription_advance asks before it writes anything of the period, so
-- that one subscription's amounts out of range leave it as it was instead
-- of failing the whole run: catching the error would make every
-- subscription of a run a subtransaction.
CREATE FUNCTION jobspy.subscription_invoice_problem(s jobspy.subscriptions, p jobspy.prices, usage_from timestamptz,
                                                    reason text DEFAULT 'subscription_cycle')
    RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    hi constant numeric := 9223372036854775807;
    amounts numeric[] := '{}';
    line numeric;
    over numeric;
    subtotal numeric := 0;
BEGIN
    IF reason <> 'subscription_update' THEN
        line := s.quantity::numeric * p.amount;
        IF line > hi THEN
            RETURN format('the recurring line, %s x %s, is out of range', s.quantity, p.amount);
        END IF;
        amounts := ARRAY[line];
    END IF;
    amounts := amounts || ARRAY(SELECT x.amount::numeric FROM jobspy.pending_invoice_items x
                                 WHERE x.subscription_id = s.id AND x.invoice_id IS NULL AND x.currency = p.currency
                                 ORDER BY x.created_at, x.id);
    IF p.unit_amount IS NOT NULL AND usage_from IS NOT NULL THEN
        over := jobspy.subscription_usage(s, p, usage_from) - p.included_quantity;
        IF over > 0 THEN
            line := over * p.unit_amount;
            IF line > hi THEN
                RETURN format('the metered line, %s %s over the %s included at %s each, is out of range',
                              over, p.metric, p.included_quantity, p.unit_amount);
            END IF;
            amounts := amounts || line;
        END IF;
    END IF;
    IF s.status = 'trialing' AND jobspy.monthly_amount_numeric(p.amount, s.quantity, s.discount_percentage, p."interval",
                                                                p.interval_count) > hi THEN
        -- The trial's end makes it count for MRR, which its row's trigger
        -- keeps as a bigint (analytics_billing.sql).
        RETURN format('the monthly recurring revenue of %s x %s a %s is out of range', s.quantity, p.amount,
                      p."interval");
    END IF;
    FOREACH line IN ARRAY amounts LOOP
        subtotal := subtotal + line;
        IF subtotal NOT BETWEEN -hi - 1 AND hi THEN
            RETURN format('the invoice''s subtotal, %s with its pending items, is out of range', subtotal);
        END IF;
    END LOOP;
    IF -subtotal > hi THEN
        RETURN format('the credit to carry to the next invoice, %s, is out of range', -subtotal);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION jobspy.subscription_invoice_problem(jobspy.subscriptions, jobspy.prices, timestamptz, text) IS
    'internal: NULL when subscription_invoice can write the subscription''s invoice of its current period, else why not (a line, subtotal or carried credit out of range of bigint, or the MRR a trial ending would count for); writes nothing';

-- A subscription's invoice for its current period (its first, or the one
-- it has just rolled to): the recurring line of that period (not for a
-- change invoiced at once, reason subscription_update, which bills only
-- the pending items from now; none pending: no invoice), its pending items (prorations), the
-- metered usage of [usage_from, period start) over the price's included
-- quantity, its coupon's discount; then finalized (numbered, open, or paid
-- at once when nothing is due).  The unique index on (subscription_id,
-- period_start) makes a second invoice of one period impossible.  Returns
-- the amount due.
CREATE FUNCTION jobspy.subscription_invoice(s jobspy.subscriptions, p jobspy.prices, usage_from timestamptz,
                                            reason text DEFAULT 'subscription_cycle')
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    inv jobspy.invoices;
    item jobspy.pending_invoice_items;
    line uuid;
    used numeric;
    starts timestamptz := CASE WHEN reason = 'subscription_update' THEN jobspy.now() ELSE s.current_period_start END;
BEGIN
    IF reason = 'subscription_update' AND NOT EXISTS (
           SELECT FROM jobspy.pending_invoice_items x
            WHERE x.subscription_id = s.id AND x.invoice_id IS NULL AND x.currency = p.currency) THEN
        RETURN 0;
    END IF;
    INSERT INTO jobspy.invoice_series (series) VALUES ('default') ON CONFLICT DO NOTHING;
    INSERT INTO jobspy.invoices AS i (customer_id, subscription_id, series, currency, due_at, billing_reason,
                                      period_start, period_end)
    VALUES (s.customer_id, s.id, 'default', p.currency, starts, reason, starts, s.current_period_end)
    RETURNING i.* INTO inv;
    IF reason <> 'subscription_update' THEN
        PERFORM jobspy.invoice_period_line(inv.id, format('%s (%s)', pr.name, p.code), s.quantity, p.amount, p.id,
                                           s.current_period_start, s.current_period_end)
           FROM jobspy.products pr WHERE pr.id = p.product_id;
    END IF;
    FOR item IN SELECT * FROM jobspy.pending_invoice_items x
                 WHERE x.subscription_id = s.id AND x.invoice_id IS NULL AND x.currency = p.currency
                 ORDER BY x.created_at, x.id
    LOOP
        PERFORM jobspy.invoice_period_line(inv.id, item.description, 1, item.amount, item.price_id,
                                           item.period_start, item.period_end);
        UPDATE jobspy.pending_invoice_items x SET invoice_id = inv.id WHERE x.id = item.id;
    END LOOP;
    IF p.unit_amount IS NOT NULL AND usage_from IS NOT NULL THEN
        -- Usage is billed in arrears: the period that has just ended.
        used := jobspy.subscription_usage(s, p, usage_from);
        IF used > p.included_quantity THEN
            line := jobspy.invoice_period_line(inv.id, format('%s %s over the %s included', used - p.included_quantity,
                                                              p.metric, p.included_quantity),
                                               (used - p.included_quantity)::bigint, p.unit_amount, p.id,
                                               usage_from, s.current_period_start);
            UPDATE jobspy.token_usage t SET invoice_line_id = line
             WHERE t.user_id = s.user_id AND t.metric = p.metric AND t.invoice_line_id IS NULL
               AND t.created_at >= usage_from AND t.created_at < s.current_period_start;
        END IF;
    END IF;
    SELECT i.* INTO inv FROM jobspy.invoices i WHERE i.id = inv.id;
    UPDATE jobspy.invoices i
       SET discount_cents = d.amount, total_cents = i.amount_cents - d.amount + i.tax_cents
      FROM (SELECT jobspy.subscription_discount(s, starts, inv.amount_cents, inv.currency) AS amount) d
     WHERE i.id = inv.id
    RETURNING i.* INTO inv;
    IF inv.total_cents < 0 THEN
        -- A credit larger than the charges (a downgrade's proration) is
        -- carried to the next invoice rather than lost.
        PERFORM jobspy.add_invoice_line(inv.id, 'credit carried to the next invoice', 1, -inv.total_cents);
        INSERT INTO jobspy.pending_invoice_items (customer_id, subscription_id, description, amount, currency)
        VALUES (s.customer_id, s.id, 'credit carried from the previous invoice', inv.total_cents, inv.currency);
    END IF;
    PERFORM jobspy.finalize_invoice(inv.id);
    RETURN (SELECT i.amount_due_cents FROM jobspy.invoices i WHERE i.id = inv.id);
END
$$;
COMMENT ON FUNCTION jobspy.subscription_invoice(jobspy.subscriptions, jobspy.prices, timestamptz, text) IS
    'internal: creates and finalizes a subscription''s invoice of its current period (recurring line, pending items, metered usage since usage_from, coupon discount); returns the amount due';

-- A paid invoice of a subscription in dunning ends the dunning when no
-- other invoice of it is still due, whoever marks it paid.  The other
-- invoices are looked at only for a subscription in dunning: in one
-- statement the planner ran that look first, for every paid invoice, and
-- over every open one when it thought them few.
CREATE FUNCTION jobspy.invoices_paid_recover_subscription() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_now timestamptz := jobspy.now();
    v_sub jobspy.subscriptions;
BEGIN
    -- A provider's subscription (Stripe's) follows the provider's own
    -- events: its status and cycle are not the local dunning's to change.
    SELECT * INTO v_sub FROM jobspy.subscriptions s
     WHERE s.id = NEW.subscription_id AND s.status IN ('past_due', 'unpaid') AND s.stripe_subscription_id IS NULL;
    IF NOT FOUND OR EXISTS (SELECT FROM jobspy.invoices i
                             WHERE i.subscription_id = NEW.subscription_id AND i.id <> NEW.id
                               AND i.status = 'open' AND i.amount_due_cents > 0) THEN
        RETURN NULL;
    END IF;
    -- An unpaid subscription is no longer renewed: once its period is
    -- over, it comes back in a cycle that starts now (due at once, so the
    -- next renewal run bills it), not in the months it did not pay for.
    IF v_sub.status = 'unpaid' AND v_sub.current_period_end <= v_now AND v_sub.price_id IS NOT NULL THEN
        v_sub.billing_cycle_anchor := v_now;
        v_sub.current_period_end := v_now;
    END IF;
    BEGIN
        UPDATE jobspy.subscriptions s
           SET status = 'active', dunning_attempts = 0, payment_failed_at = NULL, next_retry_at = NULL,
               billing_cycle_anchor = v_sub.billing_cycle_anchor, current_period_end = v_sub.current_period_end
         WHERE s.id = NEW.subscription_id AND s.status IN ('past_due', 'unpaid');
    EXCEPTION WHEN unique_violation THEN
        -- The user took another subscription of the plan or product while
        -- this one was unpaid: that one stays in force, this one stays as
        -- it is.  The payment itself is recorded all the same.
        PERFORM jobspy.emit_event('billing.subscription.not_recovered', 'subscription', v_sub.id::text,
                                  jsonb_build_object('status', v_sub.status, 'invoice_id', NEW.id,
                                                     'reason', 'another live subscription holds its plan or product'),
                                  v_sub.user_id);
    END;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION jobspy.invoices_paid_recover_subscription() IS
    'trigger: a past_due or unpaid subscription becomes active when its last invoice with an amount due is paid (an unpaid one whose period is over in a cycle starting now), unless another live subscription now holds its plan or product';
CREATE TRIGGER invoices_paid_recover_subscription AFTER UPDATE OF status ON jobspy.invoices
    FOR EACH ROW WHEN (NEW.status = 'paid' AND OLD.status <> 'paid' AND NEW.subscription_id IS NOT NULL)
    EXECUTE FUNCTION jobspy.invoices_paid_recover_subscription();

-- An invoice that ends up paid, void or uncollectible tells the outbox,
-- whoever changed it (a payment, a credit note, a webhook, an admin).
CREATE FUNCTION jobspy.invoices_emit_status_event() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM jobspy.invoice_emit_event(CASE NEW.status WHEN 'uncollectible' THEN 'marked_uncollectible'
                                                      ELSE NEW.status END, NEW);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION jobspy.invoices_emit_status_event() IS
    'trigger: writes billing.invoice.paid, billing.invoice.void or billing.invoice.marked_uncollectible when an invoice reaches that status';
CREATE TRIGGER invoices_emit_status_event AFTER UPDATE OF status ON jobspy.invoices
    FOR EACH ROW WHEN (NEW.status IN ('paid', 'void', 'uncollectible') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION jobspy.invoices_emit_status_event();

CREATE VIEW jobspy.overdue_invoices AS
SELECT i.id AS invoice_id, i.invoice_number, i.customer_id, i.subscription_id, i.currency, i.total_cents,
       i.amount_due_cents, i.due_at,
       -- whole days of 24 hours since it fell due, whatever the session's TimeZone
       floor(extract(epoch FROM jobspy.now() - i.due_at) / 86400)::integer AS days_overdue
  FROM jobspy.invoices i
 WHERE i.status = 'open' AND i.due_at < jobspy.now();
COMMENT ON VIEW jobspy.overdue_invoices IS
    'open invoices past their due date, with whole days (of 24 hours) overdue (seed 004)';

REVOKE ALL ON FUNCTION
    jobspy.invoice_lines_only_on_drafts(),
    jobspy.invoice_lines_match_invoice(),
    jobspy.invoice_check_amounts(jobspy.invoices),
    jobspy.invoice_check_transition(text, text),
    jobspy.invoices_keep_finalized(),
    jobspy.invoices_check_change(),
    jobspy.invoices_start_as_draft(),
    jobspy.billing_lock_invoice(uuid),
    jobspy.create_invoice(uuid, text, timestamptz, text),
    jobspy.create_invoice_series(text, text, boolean),
    jobspy.add_invoice_line(uuid, text, bigint, bigint, text, integer, bigint, timestamptz, timestamptz),
    jobspy.invoice_next_number(text, timestamptz),
    jobspy.invoice_number_block(text),
    jobspy.invoice_reserve_numbers(text, timestamptz, bigint),
    jobspy.invoice_release_numbers(),
    jobspy.finalize_invoice(uuid),
    jobspy.invoice_release_coupon(jobspy.invoices),
    jobspy.void_invoice(uuid),
    jobspy.mark_invoice_uncollectible(uuid),
    jobspy.subscription_discount(jobspy.subscriptions, timestamptz, bigint, text),
    jobspy.invoice_period_line(uuid, text, bigint, bigint, uuid, timestamptz, timestamptz),
    jobspy.subscription_usage(jobspy.subscriptions, jobspy.prices, timestamptz),
    jobspy.subscription_invoice_problem(jobspy.subscriptions, jobspy.prices, timestamptz, text),
    jobspy.subscription_invoice(jobspy.subscriptions, jobspy.prices, timestamptz, text),
    jobspy.invoices_paid_recover_subscription(),
    jobspy.invoice_emit_event(text, jobspy.invoices),
    jobspy.invoices_emit_status_event()
  FROM PUBLIC;
REVOKE ALL ON jobspy.invoice_transitions FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    jobspy.create_invoice(uuid, text, timestamptz, text),
    jobspy.add_invoice_line(uuid, text, bigint, bigint, text, integer, bigint, timestamptz, timestamptz),
    jobspy.finalize_invoice(uuid),
    jobspy.void_invoice(uuid),
    jobspy.mark_invoice_uncollectible(uuid)
  TO jobspy_app, jobspy_admin;
GRANT EXECUTE ON FUNCTION jobspy.create_invoice_series(text, text, boolean) TO jobspy_admin;
GRANT SELECT ON jobspy.invoices, jobspy.invoice_lines, jobspy.invoice_series, jobspy.invoice_transitions
  TO jobspy_app, jobspy_admin;
-- A role that reads these tables directly (jobspy_app) sees the rows of the
-- user in the jobspy.user_id setting only, as identity's tables do; the
-- functions run as the owner, whom the policies do not concern, and the
-- admin reads every row.
ALTER TABLE jobspy.invoices ENABLE ROW LEVEL SECURITY;
CREATE POLICY invoices_own ON jobspy.invoices USING (customer_id IN (SELECT c.id FROM jobspy.customers c WHERE c.user_id = jobspy.current_row_user()));
CREATE POLICY invoices_admin_read ON jobspy.invoices FOR SELECT TO jobspy_admin USING (true);
ALTER TABLE jobspy.invoice_lines ENABLE ROW LEVEL SECURITY;
CREATE POLICY invoice_lines_own ON jobspy.invoice_lines USING (invoice_id IN (SELECT i.id FROM jobspy.invoices i));
CREATE POLICY invoice_lines_admin_read ON jobspy.invoice_lines FOR SELECT TO jobspy_admin USING (true);

GRANT SELECT ON jobspy.overdue_invoices TO jobspy_analyst, jobspy_admin;
