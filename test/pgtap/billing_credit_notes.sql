-- Credit notes: a finalized invoice is corrected without changing it; what
-- is due goes down, what was paid becomes the customer's credit, which pays
-- their next invoices in that currency.  Bad input and writes around the
-- functions are refused with nothing half-written.
BEGIN;
SELECT plan(38);
SET LOCAL TimeZone = 'UTC';
SET LOCAL jobspy.clock_override = '2031-05-10 10:00:00+00';

INSERT INTO jobspy.users (id, email) VALUES ('b8000000-0000-4000-8000-000000000001', 'cn1@example.com'),
                                            ('b8000000-0000-4000-8000-000000000002', 'cn2@example.com');
SELECT jobspy.create_invoice_series('cn', 'CN-{YYYY}-{NNNN}');
SELECT jobspy.create_customer('b8000000-0000-4000-8000-000000000001') AS c \gset
SELECT jobspy.create_customer('b8000000-0000-4000-8000-000000000002') AS c2 \gset
-- An invoice of 1000 (two lines), finalized and open.
CREATE FUNCTION pg_temp.invoice(customer uuid, amount bigint, currency text DEFAULT 'USD') RETURNS uuid
    LANGUAGE plpgsql AS $$
DECLARE
    id uuid := jobspy.create_invoice(customer, currency, series => 'cn');
BEGIN
    PERFORM jobspy.add_invoice_line(id, 'a', 1, amount - 100);
    PERFORM jobspy.add_invoice_line(id, 'b', 2, 50);
    PERFORM jobspy.finalize_invoice(id);
    RETURN id;
END
$$;
CREATE FUNCTION pg_temp.amounts(inv uuid) RETURNS text LANGUAGE sql AS $$
    SELECT row(status, total_cents, amount_paid_cents, credited_cents, balance_applied_cents, amount_due_cents)::text
      FROM jobspy.invoices WHERE id = inv
$$;
CREATE FUNCTION pg_temp.balance(customer uuid, cur text DEFAULT 'USD') RETURNS bigint LANGUAGE sql AS $$
    SELECT coalesce((SELECT balance_cents FROM jobspy.customer_balances WHERE customer_id = customer AND currency = cur), 0)
$$;

-- ---- an open invoice: what is due goes down ---------------------------------
SELECT pg_temp.invoice(:'c', 1000) AS i1 \gset
SELECT jobspy.create_credit_note(:'i1', 300, 'late delivery') AS n1 \gset
SELECT is(pg_temp.amounts(:'i1'), '(open,1000,0,300,0,700)', 'a credit note of 300 leaves 700 due; the total stays');
SELECT is((SELECT credit_note_number FROM jobspy.credit_notes WHERE id = :'n1'), 'CN-2031-0001-CN-01',
          'numbered after its invoice');
SELECT is((SELECT row(amount_cents, due_reduction_cents, balance_credit_cents, reason, currency)::text
             FROM jobspy.credit_notes WHERE id = :'n1'), '(300,300,0,"late delivery",USD)',
          'all of it reduced the amount due');
SELECT results_eq(format('SELECT description, amount FROM jobspy.invoice_lines WHERE invoice_id = %L ORDER BY description', :'i1'),
                  $$VALUES ('a', 900::bigint), ('b', 100::bigint)$$, 'the invoice''s lines are unchanged');
SELECT is(pg_temp.balance(:'c'), 0::bigint, 'nothing went to the customer''s balance');
SELECT jobspy.create_credit_note(:'i1', 700);
SELECT is(pg_temp.amounts(:'i1'), '(paid,1000,0,1000,0,0)', 'credited in full: nothing due, so paid');
SELECT is((SELECT count(*) FROM jobspy.credit_notes WHERE invoice_id = :'i1' AND credit_note_number = 'CN-2031-0001-CN-02'),
          1::bigint, 'the second note of the invoice is -CN-02');
SELECT throws_ok(format('SELECT jobspy.create_credit_note(%L, 1)', :'i1'), 'JS509', NULL,
                 'credit notes never exceed the invoice''s total');
SELECT is((SELECT count(*) FROM jobspy.credit_notes WHERE invoice_id = :'i1'), 2::bigint, 'and nothing was written');

-- ---- a paid invoice: the customer is credited -------------------------------
SELECT pg_temp.invoice(:'c', 500) AS i2 \gset
UPDATE jobspy.invoices SET amount_paid_cents = 500, status = 'paid', paid_at = jobspy.now() WHERE id = :'i2';
SELECT jobspy.create_credit_note(:'i2', 200, 'goodwill') AS n2 \gset
SELECT is(pg_temp.amounts(:'i2'), '(paid,500,500,0,0,0)', 'a paid invoice stays as it is');
SELECT is((SELECT row(due_reduction_cents, balance_credit_cents)::text FROM jobspy.credit_notes WHERE id = :'n2'),
          '(0,200)', 'the note credits the customer''s balance');
SELECT is(pg_temp.balance(:'c'), 200::bigint, 'which is 200 USD');
SELECT is((SELECT payload ->> 'balance_credit_cents' FROM jobspy.outbox_events
            WHERE topic = 'billing.credit_note.created' AND payload ->> 'credit_note_id' = :'n2'), '200',
          'billing.credit_note.created goes to the outbox');

-- ---- the balance pays the next invoices in its currency ---------------------
SELECT pg_temp.invoice(:'c', 150) AS i3 \gset
SELECT is(pg_temp.amounts(:'i3'), '(paid,150,0,0,150,0)', 'the next invoice is paid from the balance at finalization');
SELECT is(pg_temp.balance(:'c'), 50::bigint, '50 left');
SELECT pg_temp.invoice(:'c', 120, 'EUR') AS i4 \gset
SELECT is(pg_temp.amounts(:'i4'), '(open,120,0,0,0,120)', 'an invoice in another currency does not touch it');
SELECT pg_temp.invoice(:'c', 180) AS i5 \gset
SELECT is(pg_temp.amounts(:'i5'), '(open,180,0,0,50,130)', 'the rest of it pays part of the next one');
SELECT is(pg_temp.balance(:'c'), 0::bigint, 'the balance is spent, never below zero');
SELECT is((SELECT count(*) FROM jobspy.customer_balance_transactions WHERE customer_id = :'c'), 3::bigint,
          'one credit and two uses in the ledger');

-- ---- a partly paid invoice: due first, then credit --------------------------
SELECT pg_temp.invoice(:'c2', 1000) AS i6 \gset
UPDATE jobspy.invoices SET amount_paid_cents = 400 WHERE id = :'i6';
SELECT jobspy.create_credit_note(:'i6', 800) AS n6 \gset
SELECT is((SELECT row(due_reduction_cents, balance_credit_cents)::text FROM jobspy.credit_notes WHERE id = :'n6'),
          '(600,200)', '600 still due is cancelled, 200 of what was paid is credited');
SELECT is(pg_temp.amounts(:'i6'), '(paid,1000,400,600,0,0)', 'the invoice owes nothing: paid');
SELECT is(pg_temp.balance(:'c2'), 200::bigint, 'the customer has 200 to spend');

-- ---- bad input: a clear error, nothing written --------------------------------
SELECT pg_temp.invoice(:'c2', 300) AS i7 \gset
SELECT throws_ok(format('SELECT jobspy.create_credit_note(%L, 0)', :'i7'), '22023', NULL, 'amount 0');
SELECT throws_ok(format('SELECT jobspy.create_credit_note(%L, -5)', :'i7'), '22023', NULL, 'a negative amount');
SELECT throws_ok(format('SELECT jobspy.create_credit_note(%L, NULL)', :'i7'), '22023', NULL, 'a NULL amount');
SELECT throws_ok('SELECT jobspy.create_credit_note(gen_random_uuid(), 10)', '22023', NULL, 'an unknown invoice');
SELECT throws_ok(format('SELECT jobspy.create_credit_note(%L, 301)', :'i7'), 'JS509', NULL, 'more than the total');
SELECT throws_ok(format('SELECT jobspy.create_credit_note(%L, 10, %L)', :'i7', 'card 4242 4242 4242 4242'), 'JS502', NULL,
                 'a card number in the reason');
SELECT jobspy.create_invoice(:'c2', 'USD', series => 'cn') AS draft \gset
SELECT jobspy.add_invoice_line(:'draft', 'x', 1, 100);
SELECT throws_ok(format('SELECT jobspy.create_credit_note(%L, 10)', :'draft'), '55000', NULL, 'a draft is edited, not credited');
SELECT pg_temp.invoice(:'c2', 300) AS i8 \gset
SELECT jobspy.void_invoice(:'i8');
SELECT throws_ok(format('SELECT jobspy.create_credit_note(%L, 10)', :'i8'), '55000', NULL, 'a void invoice is owed nothing');
SELECT is((SELECT row(pg_temp.amounts(:'i7'), (SELECT count(*) FROM jobspy.credit_notes WHERE invoice_id IN (:'i7', :'draft', :'i8')))::text),
          '("(open,300,0,0,200,100)",0)', 'no refused note left a row or changed an invoice');

-- ---- every writer: the ledgers only grow, a finalized invoice's credit only rises
SELECT throws_ok(format('UPDATE jobspy.credit_notes SET amount_cents = 1 WHERE id = %L', :'n1'), 'JS510', NULL,
                 'a credit note never changes');
SELECT throws_ok(format('DELETE FROM jobspy.customer_balance_transactions WHERE customer_id = %L', :'c'), 'JS510', NULL,
                 'a balance row is never removed');
SELECT throws_ok(format('UPDATE jobspy.invoices SET credited_cents = 0 WHERE id = %L', :'i1'), 'JS507', NULL,
                 'an invoice''s credited amount never goes back down');
SELECT throws_ok(format($$SELECT jobspy.add_invoice_line(%L, 'more', 1, 5)$$, :'i1'), 'JS507', NULL,
                 'a credited invoice''s lines are frozen like any finalized invoice''s');
SELECT set_config('jobspy.user_id', 'b8000000-0000-4000-8000-000000000002', true);
SET LOCAL ROLE jobspy_app;
SELECT is((SELECT array_agg(DISTINCT customer_id) FROM jobspy.credit_notes), ARRAY[:'c2'::uuid],
          'the application, for one user, reads that user''s credit notes only');
SELECT is((SELECT array_agg(customer_id) FROM jobspy.customer_balances), ARRAY[:'c2'::uuid],
          'and that user''s balance only');
SELECT throws_ok(format($$INSERT INTO jobspy.customer_balance_transactions (customer_id, currency, amount_cents, invoice_id)
                          VALUES (%L, 'USD', -1, %L)$$, :'c', :'i1'), '42501', NULL,
                 'the application writes no balance row directly');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
