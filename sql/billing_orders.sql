\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- billing_orders: one-time orders of seed 001, with items whose amounts add
-- up to the order's total for every writer, readable unique numbers, and
-- statuses that follow the order's payments and refunds
-- (billing_payments).

CREATE SEQUENCE jobspy.order_number_seq;
COMMENT ON SEQUENCE jobspy.order_number_seq IS 'the counter of order numbers (unique, not gapless: a rolled back order burns one)';
SELECT pg_catalog.pg_extension_config_dump('jobspy.order_number_seq', '');

-- ORD-00000042: eight digits at least, more past 99,999,999 (lpad alone
-- would cut them and repeat numbers).
CREATE FUNCTION jobspy.order_number(n bigint) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    RETURN 'ORD-' || lpad(n::text, greatest(8, length(n::text)), '0');
COMMENT ON FUNCTION jobspy.order_number(bigint) IS 'internal: the readable number of the nth order, ORD- and at least eight digits';

CREATE TABLE jobspy.orders (
    id                    uuid PRIMARY KEY DEFAULT jobspy.uuid_v7(),
    customer_id           uuid NOT NULL REFERENCES jobspy.customers (id) ON DELETE RESTRICT,
    order_number          text NOT NULL UNIQUE
                          DEFAULT jobspy.order_number(pg_catalog.nextval('jobspy.order_number_seq')),
    status                text NOT NULL DEFAULT 'pending'
                          CHECK (status IN ('pending', 'paid', 'fulfilled', 'canceled', 'partially_refunded', 'refunded')),
    currency              text NOT NULL REFERENCES jobspy.currencies (code),
    total_cents           bigint NOT NULL CHECK (total_cents >= 0),
    amount_paid_cents     bigint NOT NULL DEFAULT 0 CHECK (amount_paid_cents >= 0),
    refunded_amount_cents bigint NOT NULL DEFAULT 0 CHECK (refunded_amount_cents >= 0),
    paid_at               timestamptz,
    fulfilled_at          timestamptz,
    canceled_at           timestamptz,
    created_at            timestamptz NOT NULL DEFAULT jobspy.now(),
    updated_at            timestamptz NOT NULL DEFAULT jobspy.now(),
    CHECK (refunded_amount_cents <= amount_paid_cents)
);
COMMENT ON TABLE jobspy.orders IS
    'one-time orders (seed 001): a number, a currency, a total equal to the sum of the items, what was paid and refunded, a status that follows them';
CREATE INDEX orders_customer_idx ON jobspy.orders (customer_id);
CREATE TRIGGER orders_updated_at BEFORE UPDATE ON jobspy.orders
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
CREATE TRIGGER orders_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.orders
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
SELECT pg_catalog.pg_extension_config_dump('jobspy.orders', '');

CREATE TABLE jobspy.order_items (
    id          uuid PRIMARY KEY DEFAULT jobspy.uuid_v7(),
    order_id    uuid NOT NULL REFERENCES jobspy.orders (id) ON DELETE CASCADE,
    price_id    uuid REFERENCES jobspy.prices (id),
    description text NOT NULL CHECK (length(description) BETWEEN 1 AND 500),
    quantity    bigint NOT NULL CHECK (quantity > 0),
    unit_amount bigint NOT NULL CHECK (unit_amount >= 0),
    amount      bigint NOT NULL,
    CHECK (amount = quantity * unit_amount)
);
COMMENT ON TABLE jobspy.order_items IS 'the items of an order: quantity x unit_amount in the order''s currency, of a price or free-form';
CREATE INDEX order_items_order_idx ON jobspy.order_items (order_id);
CREATE TRIGGER order_items_no_card_numbers BEFORE INSERT OR UPDATE ON jobspy.order_items
    FOR EACH ROW WHEN (NEW.description ~ '(^|[^0-9A-Za-z_-])[0-9]{4}')
    EXECUTE FUNCTION jobspy.billing_refuse_card_numbers('description');
CREATE INDEX order_items_price_idx ON jobspy.order_items (price_id);
CREATE TRIGGER order_items_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.order_items
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
SELECT pg_catalog.pg_extension_config_dump('jobspy.order_items', '');
INSERT INTO jobspy.price_users (table_name, column_name) VALUES ('order_items', 'price_id');

CREATE TABLE jobspy.order_transitions (
    from_status text NOT NULL,
    to_status   text NOT NULL,
    PRIMARY KEY (from_status, to_status)
);
COMMENT ON TABLE jobspy.order_transitions IS 'the legal changes of an order''s status; every other change raises JS522';
INSERT INTO jobspy.order_transitions VALUES
    ('pending', 'paid'), ('pending', 'canceled'), ('paid', 'fulfilled'),
    ('paid', 'partially_refunded'), ('paid', 'refunded'), ('fulfilled', 'partially_refunded'),
    ('fulfilled', 'refunded'), ('partially_refunded', 'refunded'), ('partially_refunded', 'fulfilled'),
    ('refunded', 'partially_refunded');

CREATE FUNCTION jobspy.orders_check_change() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status
       AND NOT EXISTS (SELECT FROM jobspy.order_transitions t
                        WHERE t.from_status = OLD.status AND t.to_status = NEW.status) THEN
        RAISE EXCEPTION 'illegal order transition from % to %', OLD.status, NEW.status USING ERRCODE = 'JS522';
    END IF;
    IF (NEW.customer_id, NEW.order_number, NEW.currency) IS DISTINCT FROM (OLD.customer_id, OLD.order_number, OLD.currency)
    THEN
        RAISE EXCEPTION 'an order''s customer, number and currency never change' USING ERRCODE = 'JS522';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION jobspy.orders_check_change() IS
    'trigger: raises JS522 for an order status change not in order_transitions, or a change of its customer, number or currency';
CREATE TRIGGER orders_check_change BEFORE UPDATE ON jobspy.orders
    FOR EACH ROW EXECUTE FUNCTION jobspy.orders_check_change();

-- Checked at commit, so that an order and its items may be written in any
-- order within one transaction, by any writer.
CREATE FUNCTION jobspy.orders_check_total() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_orders uuid[];
    v_total bigint;
    v_items numeric;
BEGIN
    IF TG_TABLE_NAME = 'orders' THEN
        v_orders := ARRAY[NEW.id];
    ELSIF TG_OP = 'DELETE' THEN
        v_orders := ARRAY[OLD.order_id];
    ELSIF TG_OP = 'UPDATE' THEN
        -- an item moved to another order changes both
        v_orders := ARRAY[NEW.order_id, OLD.order_id];
    ELSE
        v_orders := ARRAY[NEW.order_id];
    END IF;
    FOR v_total, v_items IN
        SELECT o.total_cents, (SELECT coalesce(sum(i.amount), 0) FROM jobspy.order_items i WHERE i.order_id = o.id)
          FROM jobspy.orders o WHERE o.id = ANY (v_orders)
    LOOP
        IF v_total <> v_items THEN
            RAISE EXCEPTION 'order total % does not equal the sum of its items (%)', v_total, v_items
                USING ERRCODE = '23514';
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION jobspy.orders_check_total() IS
    'constraint trigger, at commit: raises 23514 when an order''s total differs from the sum of its items';
CREATE CONSTRAINT TRIGGER orders_total_matches_items AFTER INSERT OR UPDATE OF total_cents ON jobspy.orders
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION jobspy.orders_check_total();
CREATE CONSTRAINT TRIGGER order_items_match_total AFTER INSERT OR UPDATE OR DELETE ON jobspy.order_items
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION jobspy.orders_check_total();

-- internal: one item of create_order's list as a row, checked.
CREATE FUNCTION jobspy.order_item_of(item jsonb, currency text) RETURNS jobspy.order_items
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r jobspy.order_items;
    v_price jobspy.prices;
BEGIN
    IF jsonb_typeof(item) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'an order item must be a JSON object' USING ERRCODE = '22023',
            HINT = 'For example {"price_code": "book", "quantity": 2} or {"description": "fee", "unit_amount": 500}.';
    END IF;
    IF item ?| ARRAY(SELECT k FROM jsonb_object_keys(item) k
                      WHERE k NOT IN ('price_code', 'description', 'quantity', 'unit_amount')) THEN
        RAISE EXCEPTION 'an order item has price_code, description, quantity and unit_amount only' USING ERRCODE = '22023';
    END IF;
    IF jsonb_typeof(coalesce(item -> 'quantity', '1')) <> 'number'
       OR jsonb_typeof(coalesce(item -> 'unit_amount', '0')) <> 'number'
       OR (item ->> 'quantity') !~ '^[0-9]+$' OR (item ->> 'unit_amount') !~ '^[0-9]+$' THEN
        RAISE EXCEPTION 'an order item''s quantity and unit_amount are whole numbers' USING ERRCODE = '22023';
    END IF;
    IF item ? 'description' AND jsonb_typeof(item -> 'description') <> 'string' THEN
        RAISE EXCEPTION 'an order item''s description is a string' USING ERRCODE = '22023';
    END IF;
    r.quantity := coalesce((item ->> 'quantity')::bigint, 1);
    IF r.quantity <= 0 THEN
        RAISE EXCEPTION 'an order item''s quantity must be positive' USING ERRCODE = '22023';
    END IF;
    IF item ? 'price_code' THEN
        SELECT p.* INTO v_price FROM jobspy.prices p WHERE p.code = item ->> 'price_code';
        IF v_price.id IS NULL THEN
            RAISE EXCEPTION 'unknown price "%"', left(item ->> 'price_code', 50) USING ERRCODE = '22023';
        END IF;
        IF NOT v_price.is_active OR v_price."interval" IS NOT NULL
           OR NOT (SELECT pr.is_active FROM jobspy.products pr WHERE pr.id = v_price.product_id) THEN
            RAISE EXCEPTION 'price "%" is % and cannot be ordered', v_price.code,
                            CASE WHEN v_price."interval" IS NOT NULL THEN 'recurring' ELSE 'retired' END
                USING ERRCODE = '22023',
                      HINT = 'An order sells one-time prices that are active; a recurring price is subscribed to.';
        END IF;
        PERFORM jobspy.money_same_currency(currency, v_price.currency);
        IF item ? 'unit_amount' AND (item ->> 'unit_amount')::bigint <> v_price.amount THEN
            RAISE EXCEPTION 'an item of price "%" costs %, not %', v_price.code, v_price.amount, item ->> 'unit_amount'
                USING ERRCODE = '22023';
        END IF;
        r.price_id := v_price.id;
        r.unit_amount := v_price.amount;
        r.description := coalesce(item ->> 'description',
                                  (SELECT pr.name FROM jobspy.products pr WHERE pr.id = v_price.product_id));
    ELSE
        IF NOT item ? 'unit_amount' OR NOT item ? 'description' THEN
            RAISE EXCEPTION 'an order item without a price_code needs a description and a unit_amount'
                USING ERRCODE = '22023';
        END IF;
        r.unit_amount := (item ->> 'unit_amount')::bigint;
        r.description := item ->> 'description';
    END IF;
    IF r.description IS NULL OR length(r.description) NOT BETWEEN 1 AND 500 THEN
        RAISE EXCEPTION 'an order item''s description has 1 to 500 characters' USING ERRCODE = '22023';
    END IF;
    r.amount := r.quantity * r.unit_amount;
    RETURN r;
EXCEPTION WHEN numeric_value_out_of_range THEN
    RAISE EXCEPTION 'order item amount out of range' USING ERRCODE = '22003';
END
$$;
COMMENT ON FUNCTION jobspy.order_item_of(jsonb, text) IS
    'internal: an order item from {price_code | description + unit_amount, quantity}, checked (22023, JS501, 22003)';

CREATE FUNCTION jobspy.create_order(customer_id uuid, items jsonb, currency text) RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_items jobspy.order_items[];
    v_total bigint := 0;
    v_id uuid;
BEGIN
    IF $1 IS NULL OR NOT EXISTS (SELECT FROM jobspy.customers c WHERE c.id = $1) THEN
        RAISE EXCEPTION 'unknown customer %', coalesce($1::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    PERFORM jobspy.billing_check_currency($3);
    IF jsonb_typeof($2) IS DISTINCT FROM 'array' OR jsonb_array_length($2) = 0 OR jsonb_array_length($2) > 1000 THEN
        RAISE EXCEPTION 'items must be a JSON array of 1 to 1000 items' USING ERRCODE = '22023';
    END IF;
    SELECT array_agg(jobspy.order_item_of(e, $3) ORDER BY n) INTO v_items
      FROM jsonb_array_elements($2) WITH ORDINALITY AS x(e, n);
    SELECT sum(i.amount) INTO v_total FROM unnest(v_items) i;
    -- Nothing to pay (every item free): the order is paid at once.
    INSERT INTO jobspy.orders AS o (customer_id, currency, total_cents, status, paid_at)
    VALUES ($1, $3, v_total, CASE WHEN v_total = 0 THEN 'paid' ELSE 'pending' END,
            CASE WHEN v_total = 0 THEN jobspy.now() END)
    RETURNING o.id INTO v_id;
    INSERT INTO jobspy.order_items (order_id, price_id, description, quantity, unit_amount, amount)
    SELECT v_id, i.price_id, i.description, i.quantity, i.unit_amount, i.amount FROM unnest(v_items) i;
    RETURN v_id;
EXCEPTION WHEN numeric_value_out_of_range THEN
    RAISE EXCEPTION 'order total out of range' USING ERRCODE = '22003';
END
$$;
COMMENT ON FUNCTION jobspy.create_order(uuid, jsonb, text) IS
    'creates a pending order with its items (a JSON array of {price_code | description + unit_amount, quantity}) and a readable number ORD-nnnnnnnn; the total is the sum of the items; an order of free items is paid at once';

-- internal: the order, locked, else 22023.
CREATE FUNCTION jobspy.billing_lock_order(order_id uuid) RETURNS jobspy.orders
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v jobspy.orders;
BEGIN
    SELECT o.* INTO v FROM jobspy.orders o WHERE o.id = order_id FOR UPDATE;
    IF v.id IS NULL THEN
        RAISE EXCEPTION 'unknown order %', coalesce(order_id::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION jobspy.billing_lock_order(uuid) IS 'internal: an order by id, locked FOR UPDATE; raises 22023 when unknown';

CREATE FUNCTION jobspy.fulfill_order(order_id uuid) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v jobspy.orders := jobspy.billing_lock_order($1);
BEGIN
    IF v.status NOT IN ('paid', 'partially_refunded') THEN
        RAISE EXCEPTION 'a % order cannot be fulfilled', v.status USING ERRCODE = '55000',
            HINT = 'An order is fulfilled once it is paid.';
    END IF;
    UPDATE jobspy.orders o SET status = 'fulfilled', fulfilled_at = jobspy.now() WHERE o.id = $1;
END
$$;
COMMENT ON FUNCTION jobspy.fulfill_order(uuid) IS 'marks a paid order fulfilled (delivered); 55000 from another status';

CREATE FUNCTION jobspy.cancel_order(order_id uuid) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v jobspy.orders := jobspy.billing_lock_order($1);
BEGIN
    IF v.status <> 'pending' OR v.amount_paid_cents > 0 THEN
        RAISE EXCEPTION 'a % order with % paid cannot be canceled', v.status, v.amount_paid_cents
            USING ERRCODE = '55000', HINT = 'Refund its payments with jobspy.refund_payment.';
    END IF;
    UPDATE jobspy.orders o SET status = 'canceled', canceled_at = jobspy.now() WHERE o.id = $1;
END
$$;
COMMENT ON FUNCTION jobspy.cancel_order(uuid) IS 'cancels a pending order nothing was paid on; 55000 otherwise';

-- internal (billing_payments): may the customer pay this order in this currency.
CREATE FUNCTION jobspy.order_check_payable(order_id uuid, customer_id uuid, currency text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v jobspy.orders;
BEGIN
    -- Locked, as cancel_order locks it: a payment racing a cancellation
    -- sees the order as the cancellation left it.
    SELECT o.* INTO v FROM jobspy.orders o WHERE o.id = $1 FOR UPDATE;
    IF v.id IS NULL THEN
        RAISE EXCEPTION 'unknown order %', $1 USING ERRCODE = '22023';
    END IF;
    IF v.customer_id <> $2 THEN
        RAISE EXCEPTION 'order % belongs to another customer', v.order_number USING ERRCODE = '22023';
    END IF;
    PERFORM jobspy.money_same_currency(v.currency, $3);
    IF v.status IN ('canceled', 'refunded') THEN
        RAISE EXCEPTION 'a % order cannot be paid', v.status USING ERRCODE = '55000';
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.order_check_payable(uuid, uuid, text) IS
    'internal: locks the order and raises unless it exists, is the customer''s, in that currency (JS501) and neither canceled nor refunded';

-- internal (billing_payments): collected money pays the order (paid in full:
-- paid); returned money on a pending or canceled order is taken back from
-- what was paid, on a paid one it makes the order partially_refunded or
-- refunded.
CREATE FUNCTION jobspy.order_apply_payment(order_id uuid, collected bigint, returned bigint) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v jobspy.orders := jobspy.billing_lock_order($1);
    v_paid bigint := v.amount_paid_cents + collected;
BEGIN
    IF v.status IN ('pending', 'canceled') THEN
        -- A canceled order keeps its status: money a payment pending at the
        -- cancellation collected is refunded, not a reason to revive it.
        v_paid := v_paid - least(returned, v_paid);
        UPDATE jobspy.orders o
           SET amount_paid_cents = v_paid,
               status = CASE WHEN o.status = 'pending' AND v_paid >= o.total_cents THEN 'paid' ELSE o.status END,
               paid_at = CASE WHEN o.status = 'pending' AND v_paid >= o.total_cents THEN jobspy.now()
                              ELSE o.paid_at END
         WHERE o.id = $1;
    ELSE
        UPDATE jobspy.orders o
           SET amount_paid_cents = v_paid,
               refunded_amount_cents = o.refunded_amount_cents + returned,
               -- money collected on a refunded order (a payment pending
               -- until after the refunds) is held again: partially_refunded
               status = CASE WHEN returned = 0 AND o.status = 'refunded' AND collected > 0 THEN 'partially_refunded'
                             WHEN returned = 0 THEN o.status
                             WHEN o.refunded_amount_cents + returned >= v_paid THEN 'refunded'
                             ELSE 'partially_refunded' END
         WHERE o.id = $1;
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.order_apply_payment(uuid, bigint, bigint) IS
    'internal: adds collected money to an order (paid in full: paid) and records returned money (partially_refunded or refunded)';

REVOKE ALL ON FUNCTION
    jobspy.order_number(bigint),
    jobspy.orders_check_change(),
    jobspy.orders_check_total(),
    jobspy.order_item_of(jsonb, text),
    jobspy.create_order(uuid, jsonb, text),
    jobspy.billing_lock_order(uuid),
    jobspy.fulfill_order(uuid),
    jobspy.cancel_order(uuid),
    jobspy.order_check_payable(uuid, uuid, text),
    jobspy.order_apply_payment(uuid, bigint, bigint)
  FROM PUBLIC;
REVOKE ALL ON jobspy.orders, jobspy.order_items, jobspy.order_transitions, jobspy.order_number_seq FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    jobspy.create_order(uuid, jsonb, text),
    jobspy.fulfill_order(uuid),
    jobspy.cancel_order(uuid)
  TO jobspy_app, jobspy_admin;
GRANT SELECT ON jobspy.orders, jobspy.order_items, jobspy.order_transitions TO jobspy_app, jobspy_admin;
-- A role that reads these tables directly (jobspy_app) sees the orders of
-- the user in the jobspy.user_id setting only, as billing's other per-user
-- tables; the functions run as the owner, and the admin reads every row.
ALTER TABLE jobspy.orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY orders_own ON jobspy.orders USING (customer_id IN (SELECT c.id FROM jobspy.customers c WHERE c.user_id = jobspy.current_row_user()));
CREATE POLICY orders_admin_read ON jobspy.orders FOR SELECT TO jobspy_admin USING (true);
ALTER TABLE jobspy.order_items ENABLE ROW LEVEL SECURITY;
CREATE POLICY order_items_own ON jobspy.order_items USING (order_id IN (SELECT o.id FROM jobspy.orders o));
CREATE POLICY order_items_admin_read ON jobspy.order_items FOR SELECT TO jobspy_admin USING (true);
