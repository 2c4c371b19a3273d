\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- billing_credit_notes: corrections of finalized invoices.  A finalized
-- invoice's lines and amounts never change; a credit note reduces what is
-- still due on it, and what was already paid becomes a credit on the
-- customer's balance, which pays their next invoices in that currency.
-- Both ledgers only grow: nothing in them is changed or removed.

CREATE TABLE jobspy.credit_notes (
    id                  uuid PRIMARY KEY DEFAULT jobspy.uuid_v7(),
    invoice_id          uuid NOT NULL REFERENCES jobspy.invoices (id) ON DELETE RESTRICT,
    customer_id         uuid NOT NULL REFERENCES jobspy.customers (id) ON DELETE RESTRICT,
    credit_note_number  text NOT NULL UNIQUE,
    currency            text NOT NULL REFERENCES jobspy.currencies (code),
    amount_cents        bigint NOT NULL CHECK (amount_cents > 0),
    due_reduction_cents bigint NOT NULL CHECK (due_reduction_cents >= 0),
    balance_credit_cents bigint NOT NULL CHECK (balance_credit_cents >= 0),
    reason              text CHECK (length(reason) BETWEEN 1 AND 1000),
    created_at          timestamptz NOT NULL DEFAULT jobspy.now(),
    CHECK (amount_cents = due_reduction_cents + balance_credit_cents)
);
COMMENT ON TABLE jobspy.credit_notes IS
    'credit notes: corrections of finalized invoices (number <invoice number>-CN-NN); due_reduction_cents lowered the amount due, balance_credit_cents went to the customer''s credit balance';
CREATE INDEX credit_notes_invoice_idx ON jobspy.credit_notes (invoice_id);
CREATE INDEX credit_notes_customer_idx ON jobspy.credit_notes (customer_id);
CREATE TRIGGER credit_notes_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.credit_notes
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
CREATE TRIGGER credit_notes_no_card_numbers BEFORE INSERT ON jobspy.credit_notes
    FOR EACH ROW EXECUTE FUNCTION jobspy.billing_refuse_card_numbers('reason');
SELECT pg_catalog.pg_extension_config_dump('jobspy.credit_notes', '');

CREATE TABLE jobspy.customer_balance_transactions (
    id             uuid PRIMARY KEY DEFAULT jobspy.uuid_v7(),
    customer_id    uuid NOT NULL REFERENCES jobspy.customers (id) ON DELETE RESTRICT,
    currency       text NOT NULL REFERENCES jobspy.currencies (code),
    amount_cents   bigint NOT NULL CHECK (amount_cents <> 0),
    credit_note_id uuid REFERENCES jobspy.credit_notes (id) ON DELETE RESTRICT,
    invoice_id     uuid REFERENCES jobspy.invoices (id) ON DELETE RESTRICT,
    created_at     timestamptz NOT NULL DEFAULT jobspy.now(),
    CHECK ((amount_cents > 0 AND credit_note_id IS NOT NULL AND invoice_id IS NULL)
           OR (invoice_id IS NOT NULL AND credit_note_id IS NULL))
);
COMMENT ON TABLE jobspy.customer_balance_transactions IS
    'a customer''s credit balance per currency: credits from credit notes (positive, credit_note_id), what invoices used of it at finalization (negative, invoice_id) and gave back when voided (positive, invoice_id); the sum never goes below zero';
CREATE INDEX customer_balance_transactions_customer_idx
    ON jobspy.customer_balance_transactions (customer_id, currency);
CREATE INDEX customer_balance_transactions_credit_note_idx ON jobspy.customer_balance_transactions (credit_note_id);
-- An invoice uses the balance once, at finalization, and gives it back
-- once, when voided.
CREATE UNIQUE INDEX customer_balance_transactions_invoice_idx
    ON jobspy.customer_balance_transactions (invoice_id, (amount_cents > 0)) WHERE invoice_id IS NOT NULL;
CREATE TRIGGER customer_balance_transactions_audit AFTER INSERT OR UPDATE OR DELETE
    ON jobspy.customer_balance_transactions FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
SELECT pg_catalog.pg_extension_config_dump('jobspy.customer_balance_transactions', '');

CREATE FUNCTION jobspy.billing_ledger_append_only() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RAISE EXCEPTION '% rows are never changed or removed', TG_TABLE_NAME USING ERRCODE = 'JS510',
        HINT = 'Correct a credit note with a new invoice; a balance moves only by new rows.';
END
$$;
COMMENT ON FUNCTION jobspy.billing_ledger_append_only() IS
    'trigger: raises JS510 for an UPDATE or DELETE of a credit note or customer balance row, whoever writes it';
CREATE TRIGGER credit_notes_append_only BEFORE UPDATE OR DELETE ON jobspy.credit_notes
    FOR EACH ROW EXECUTE FUNCTION jobspy.billing_ledger_append_only();
CREATE TRIGGER customer_balance_transactions_append_only BEFORE UPDATE OR DELETE
    ON jobspy.customer_balance_transactions FOR EACH ROW EXECUTE FUNCTION jobspy.billing_ledger_append_only();

CREATE VIEW jobspy.customer_balances WITH (security_invoker = true) AS
SELECT b.customer_id, b.currency, sum(b.amount_cents)::bigint AS balance_cents
  FROM jobspy.customer_balance_transactions b
 GROUP BY b.customer_id, b.currency;
COMMENT ON VIEW jobspy.customer_balances IS
    'each customer''s credit balance per currency, in minor units (read with the reader''s rights, so row-level security applies)';

-- The part of a customer's credit balance that pays an invoice being
-- finalized: as much as the balance in its currency and the total allow.
-- The customer's row lock makes concurrent finalizations take turns, so a
-- balance is never spent twice.
CREATE FUNCTION jobspy.customer_balance_apply(invoice jobspy.invoices) RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_used bigint;
BEGIN
    IF invoice.total_cents <= 0 OR NOT EXISTS (SELECT FROM jobspy.customer_balance_transactions b
                                                WHERE b.customer_id = invoice.customer_id
                                                  AND b.currency = invoice.currency) THEN
        RETURN 0;
    END IF;
    -- NO KEY: drafts of the customer being written (their foreign key
    -- holds KEY SHARE) do not deadlock with their own finalizations.
    PERFORM FROM jobspy.customers c WHERE c.id = invoice.customer_id FOR NO KEY UPDATE;
    SELECT least(coalesce(sum(b.amount_cents), 0), invoice.total_cents) INTO v_used
      FROM jobspy.customer_balance_transactions b
     WHERE b.customer_id = invoice.customer_id AND b.currency = invoice.currency;
    IF v_used > 0 THEN
        -- A written row, not only a locked one: a concurrent finalization in
        -- REPEATABLE READ, which would sum the balance from its snapshot,
        -- then fails with 40001 instead of spending it a second time.
        UPDATE jobspy.customers c SET updated_at = jobspy.now() WHERE c.id = invoice.customer_id;
        INSERT INTO jobspy.customer_balance_transactions (customer_id, currency, amount_cents, invoice_id)
        VALUES (invoice.customer_id, invoice.currency, -v_used, invoice.id);
        RETURN v_used;
    END IF;
    RETURN 0;
END
$$;
COMMENT ON FUNCTION jobspy.customer_balance_apply(jobspy.invoices) IS
    'internal: takes what the customer''s credit balance can pay of an invoice being finalized, under the customer''s row lock; returns it';

-- Only money paid and not yet returned goes back, by a credit note or by a
-- refund: what the invoice's payments took less their refunds (a refund
-- lowers amount_paid_cents only while the invoice is not paid), and what
-- the customer's balance paid of it, less what notes credited back.
CREATE FUNCTION jobspy.invoice_unreturned(inv jobspy.invoices) RETURNS bigint
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_payments bigint;
    v_net bigint;
BEGIN
    SELECT count(*), coalesce(sum(p.amount_cents - p.refunded_amount_cents), 0) INTO v_payments, v_net
      FROM jobspy.payments p WHERE p.invoice_id = inv.id AND p.collected;
    RETURN CASE WHEN v_payments > 0 THEN least(inv.amount_paid_cents, v_net) ELSE inv.amount_paid_cents END
           + inv.balance_applied_cents
           - (SELECT coalesce(sum(n.balance_credit_cents), 0) FROM jobspy.credit_notes n WHERE n.invoice_id = inv.id);
END
$$;
COMMENT ON FUNCTION jobspy.invoice_unreturned(jobspy.invoices) IS
    'internal: what was paid on an invoice (by payments, net of refunds, and by the credit balance) and not yet credited back by a credit note: the most a refund or a note may return';

CREATE FUNCTION jobspy.create_credit_note(invoice_id uuid, amount bigint, reason text DEFAULT NULL)
    RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_inv jobspy.invoices;
    v_credited bigint;
    v_reduce bigint;
    v_count integer;
    v_unreturned bigint;
    v_id uuid;
BEGIN
    IF $2 IS NULL OR $2 <= 0 THEN
        RAISE EXCEPTION 'a credit note''s amount must be positive' USING ERRCODE = '22023',
            DETAIL = 'Amounts are whole numbers of the invoice currency''s minor units.';
    END IF;
    IF length($3) NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'a credit note''s reason must have 1 to 1000 characters' USING ERRCODE = '22023';
    END IF;
    -- A refund locks its payment and then the invoice it pays: the
    -- invoice's payments first here too, so that a note and a refund of
    -- the same money take turns, each seeing what the other returned.
    PERFORM FROM jobspy.payments p WHERE p.invoice_id = $1 FOR SHARE;
    v_inv := jobspy.billing_lock_invoice($1);
    IF v_inv.status NOT IN ('open', 'paid', 'uncollectible') THEN
        RAISE EXCEPTION 'a % invoice takes no credit note', v_inv.status USING ERRCODE = '55000',
            HINT = CASE v_inv.status WHEN 'draft' THEN 'Change a draft''s lines instead.'
                                     ELSE 'A void invoice is owed nothing.' END;
    END IF;
    SELECT coalesce(sum(n.amount_cents), 0), count(*)
      INTO v_credited, v_count
      FROM jobspy.credit_notes n WHERE n.invoice_id = $1;
    IF v_credited::numeric + $2 > v_inv.total_cents THEN   -- (numeric: the sum could pass bigint)
        RAISE EXCEPTION 'credit notes of invoice % would total % of its % %', v_inv.invoice_number,
                        v_credited::numeric + $2, v_inv.total_cents, v_inv.currency
            USING ERRCODE = 'JS509',
                  DETAIL = format('%s is credited already.', v_credited);
    END IF;
    -- What is still due is reduced first; what was paid is credited.
    v_reduce := CASE WHEN v_inv.status = 'paid' THEN 0 ELSE least($2, v_inv.amount_due_cents) END;
    IF $2 > v_reduce THEN
        v_unreturned := jobspy.invoice_unreturned(v_inv);
        IF $2 - v_reduce > v_unreturned THEN
            RAISE EXCEPTION 'a credit note of % would return % of invoice % to the balance, but % of it is paid and not returned',
                            $2, $2 - v_reduce, v_inv.invoice_number, v_unreturned
                USING ERRCODE = 'JS509',
                      DETAIL = format('Paid %s (balance %s), due %s %s.', v_inv.amount_paid_cents,
                                      v_inv.balance_applied_cents, v_inv.amount_due_cents, v_inv.currency),
                      HINT = 'Money a refund returned is returned already; credit at most what is due and paid.';
        END IF;
    END IF;
    INSERT INTO jobspy.credit_notes AS n (invoice_id, customer_id, credit_note_number, currency, amount_cents,
                                          due_reduction_cents, balance_credit_cents, reason)
    VALUES ($1, v_inv.customer_id, format('%s-CN-%s', v_inv.invoice_number, lpad((v_count + 1)::text, greatest(2, length((v_count + 1)::text)), '0')),
            v_inv.currency, $2, v_reduce, $2 - v_reduce, $3)
    RETURNING n.id INTO v_id;
    IF $2 > v_reduce THEN
        INSERT INTO jobspy.customer_balance_transactions (customer_id, currency, amount_cents, credit_note_id)
        VALUES (v_inv.customer_id, v_inv.currency, $2 - v_reduce, v_id);
    END IF;
    IF v_reduce > 0 THEN
        UPDATE jobspy.invoices i SET credited_cents = i.credited_cents + v_reduce WHERE i.id = $1
        RETURNING i.* INTO v_inv;
        IF v_inv.amount_due_cents = 0 THEN
            UPDATE jobspy.invoices i SET status = 'paid', paid_at = jobspy.now() WHERE i.id = $1;
        END IF;
    END IF;
    PERFORM jobspy.emit_event('billing.credit_note.created', 'invoice', $1::text,
                              jsonb_build_object('credit_note_id', v_id, 'invoice_id', $1,
                                                 'customer_id', v_inv.customer_id, 'currency', v_inv.currency,
                                                 'amount_cents', $2, 'due_reduction_cents', v_reduce,
                                                 'balance_credit_cents', $2 - v_reduce),
                              (SELECT c.user_id FROM jobspy.customers c WHERE c.id = v_inv.customer_id));
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION jobspy.create_credit_note(uuid, bigint, text) IS
    'corrects a finalized invoice: reduces its amount due (an invoice then owing nothing is paid), and credits what was paid to the customer''s balance; credit notes never exceed the invoice''s total, nor credit to the balance more than was paid and not refunded or credited before (JS509)';

REVOKE ALL ON FUNCTION
    jobspy.billing_ledger_append_only(),
    jobspy.customer_balance_apply(jobspy.invoices),
    jobspy.invoice_unreturned(jobspy.invoices),
    jobspy.create_credit_note(uuid, bigint, text)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION jobspy.create_credit_note(uuid, bigint, text) TO jobspy_app, jobspy_admin;
GRANT SELECT ON jobspy.credit_notes, jobspy.customer_balance_transactions, jobspy.customer_balances
  TO jobspy_app, jobspy_admin;
-- A role that reads these tables directly (jobspy_app) sees the rows of the
-- user in the jobspy.user_id setting only, as the invoices do; the functions
-- run as the owner, whom the policies do not concern, and the admin reads
-- every row.
ALTER TABLE jobspy.credit_notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY credit_notes_own ON jobspy.credit_notes
    USING (customer_id IN (SELECT c.id FROM jobspy.customers c WHERE c.user_id = jobspy.current_row_user()));
CREATE POLICY credit_notes_admin_read ON jobspy.credit_notes FOR SELECT TO jobspy_admin USING (true);
ALTER TABLE jobspy.customer_balance_transactions ENABLE ROW LEVEL SECURITY;
CREATE POLICY customer_balance_transactions_own ON jobspy.customer_balance_transactions
    USING (customer_id IN (SELECT c.id FROM jobspy.customers c WHERE c.user_id = jobspy.current_row_user()));
CREATE POLICY customer_balance_transactions_admin_read ON jobspy.customer_balance_transactions
    FOR SELECT TO jobspy_admin USING (true);
