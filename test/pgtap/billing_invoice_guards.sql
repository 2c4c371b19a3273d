-- Invoices against writers around the functions and against giving money
-- back twice: lines never leave or join a finalized invoice, a finalized
-- invoice is never deleted, a draft's amounts stay its lines'; a voided
-- invoice gives back the credit balance it used and a removed draft its
-- coupon; number formats, line descriptions and repeated status changes are
-- refused clearly; a credit note returns only money paid and not refunded.
BEGIN;
SELECT plan(45);
SET LOCAL TimeZone = 'UTC';
SET LOCAL jobspy.clock_override = '2031-05-10 12:00:00+00';

INSERT INTO jobspy.users (id, email) VALUES ('b9000000-0000-4000-8000-000000000001', 'guard@example.com');
SELECT jobspy.create_customer('b9000000-0000-4000-8000-000000000001') AS c \gset
SELECT jobspy.create_provider('guardpay', 'Guard pay');
CREATE FUNCTION pg_temp.invoice(customer uuid, amount bigint, finalize boolean DEFAULT true) RETURNS uuid
    LANGUAGE plpgsql AS $$
DECLARE
    id uuid := jobspy.create_invoice(customer, 'USD');
BEGIN
    PERFORM jobspy.add_invoice_line(id, 'work', 1, amount);
    IF finalize THEN
        PERFORM jobspy.finalize_invoice(id);
    END IF;
    RETURN id;
END
$$;
CREATE FUNCTION pg_temp.balance(customer uuid) RETURNS bigint LANGUAGE sql AS $$
    SELECT coalesce((SELECT balance_cents FROM jobspy.customer_balances WHERE customer_id = customer AND currency = 'USD'), 0)
$$;

-- ---- lines stay with a finalized invoice ------------------------------------
SELECT pg_temp.invoice(:'c', 700) AS open1 \gset
SELECT pg_temp.invoice(:'c', 100, false) AS draft1 \gset
SELECT pg_temp.invoice(:'c', 200, false) AS draft2 \gset
SELECT id AS open_line FROM jobspy.invoice_lines WHERE invoice_id = :'open1' \gset
SELECT id AS draft_line FROM jobspy.invoice_lines WHERE invoice_id = :'draft1' \gset
SELECT throws_ok(format($$UPDATE jobspy.invoice_lines SET invoice_id = %L WHERE id = %L$$, :'draft1', :'open_line'),
                 'JS507', NULL, 'a line is not moved off a finalized invoice onto a draft');
SELECT throws_ok(format($$UPDATE jobspy.invoice_lines SET invoice_id = %L WHERE id = %L$$, :'open1', :'draft_line'),
                 'JS507', NULL, 'nor onto a finalized invoice');
SELECT is((SELECT invoice_id FROM jobspy.invoice_lines WHERE id = :'open_line'), :'open1'::uuid, 'the line stayed');

-- ---- a finalized invoice is never deleted -----------------------------------
SELECT throws_ok(format($$DELETE FROM jobspy.invoices WHERE id = %L$$, :'open1'), 'JS507', NULL,
                 'an open invoice is not deleted: its number would leave a gap');
SELECT pg_temp.invoice(:'c', 50) AS void1 \gset
SELECT jobspy.void_invoice(:'void1');
SELECT throws_ok(format($$DELETE FROM jobspy.invoices WHERE id = %L$$, :'void1'), 'JS507', NULL,
                 'nor a void one');
SELECT is((SELECT count(*) FROM jobspy.invoices WHERE id IN (:'open1', :'void1')), 2::bigint, 'both are there');
SELECT pg_temp.invoice(:'c', 10, false) AS draft_gone \gset
DELETE FROM jobspy.invoices WHERE id = :'draft_gone';
SELECT is((SELECT count(*) FROM jobspy.invoices WHERE id = :'draft_gone'), 0::bigint, 'a draft, which has no number, may go');

-- ---- a draft's amounts are its lines' ---------------------------------------
-- (checked at the commit; here at once)
SET CONSTRAINTS jobspy.invoice_lines_match_invoice IMMEDIATE;
SELECT throws_ok(format($$UPDATE jobspy.invoice_lines SET quantity = 5, amount = 500 WHERE id = %L$$, :'draft_line'),
                 'JS507', NULL, 'a direct change of a draft line''s quantity would leave the invoice''s total behind');
SELECT throws_ok(format($$UPDATE jobspy.invoice_lines SET discount = 10 WHERE id = %L$$, :'draft_line'),
                 'JS507', NULL, 'so would a change of its discount');
SELECT throws_ok(format($$DELETE FROM jobspy.invoice_lines WHERE id = %L$$, :'draft_line'),
                 'JS507', NULL, 'and removing it');
SELECT throws_ok(format($$UPDATE jobspy.invoice_lines SET invoice_id = %L WHERE id = %L$$, :'draft2', :'draft_line'),
                 'JS507', NULL, 'and moving it to another draft');
UPDATE jobspy.invoice_lines SET description = 'renamed work' WHERE id = :'draft_line';
SELECT is((SELECT description FROM jobspy.invoice_lines WHERE id = :'draft_line'), 'renamed work',
          'a description changes freely');
SET CONSTRAINTS jobspy.invoice_lines_match_invoice DEFERRED;
INSERT INTO jobspy.invoice_lines (invoice_id, description, quantity, unit_amount, amount, tax)
VALUES (:'draft2', 'slipped in', 1, 5, 5, 0);
SELECT throws_ok(format($$SELECT jobspy.finalize_invoice(%L)$$, :'draft2'), 'JS507', NULL,
                 'a line inserted around add_invoice_line is caught at finalization');
SELECT is((SELECT row(status, invoice_number)::text FROM jobspy.invoices WHERE id = :'draft2'), '(draft,)',
          'the draft was not numbered');
SELECT is((SELECT row(amount_cents, total_cents)::text FROM jobspy.invoices WHERE id = :'draft1'), '(100,100)',
          'the refused changes left the draft as it was');

-- ---- a void invoice gives back the credit balance it used --------------------
SELECT pg_temp.invoice(:'c', 500) AS paid1 \gset
SELECT jobspy.record_payment('guardpay', 'ch_g1', :'c', 500, 'USD', 'succeeded', :'paid1');
SELECT jobspy.create_credit_note(:'paid1', 200);
SELECT is(pg_temp.balance(:'c'), 200::bigint, 'a note on a paid invoice credits 200');
SELECT pg_temp.invoice(:'c', 300) AS used \gset
SELECT is((SELECT row(balance_applied_cents, amount_due_cents)::text FROM jobspy.invoices WHERE id = :'used'), '(200,100)',
          'the next invoice used the 200');
SELECT is(pg_temp.balance(:'c'), 0::bigint, 'the balance is spent');
SELECT jobspy.void_invoice(:'used');
SELECT is(pg_temp.balance(:'c'), 200::bigint, 'voided, the invoice gives the 200 back');
SELECT is((SELECT row(amount_cents, credit_note_id)::text FROM jobspy.customer_balance_transactions
            WHERE invoice_id = :'used' AND amount_cents > 0), '(200,)', 'as a positive row naming the invoice');
SELECT throws_ok(format($$INSERT INTO jobspy.customer_balance_transactions (customer_id, currency, amount_cents, invoice_id)
                          VALUES (%L, 'USD', 200, %L)$$, :'c', :'used'), '23505', NULL, 'once');

-- ---- a removed draft gives back its coupon ----------------------------------
SELECT jobspy.create_coupon('GUARD-ONCE', percent_off => 10, max_per_user => 1, max_redemptions => 1);
SELECT pg_temp.invoice(:'c', 1000, false) AS coupon1 \gset
SELECT is(jobspy.apply_invoice_coupon(:'coupon1', 'GUARD-ONCE'), 100::bigint, 'a coupon on a draft');
SELECT jobspy.void_invoice(:'coupon1');
SELECT is((SELECT times_redeemed FROM jobspy.loyalty_coupons WHERE code = 'GUARD-ONCE'), 0,
          'voiding the draft gives the redemption back');
SELECT is((SELECT count(*) FROM jobspy.loyalty_coupon_redemptions WHERE idempotency_key = 'invoice:' || :'coupon1'),
          0::bigint, 'its row is gone');
SELECT pg_temp.invoice(:'c', 1000, false) AS coupon2 \gset
SELECT is(jobspy.apply_invoice_coupon(:'coupon2', 'GUARD-ONCE'), 100::bigint,
          'so the member, at their limit of one, may use it again');

-- ---- formats and descriptions -----------------------------------------------
SELECT throws_ok($$SELECT jobspy.create_invoice_series('guard-y', 'G-{NNNN}', true)$$, '22023', NULL,
                 'a yearly reset without {YYYY} would repeat last year''s numbers');
SELECT lives_ok($$SELECT jobspy.create_invoice_series('guard-y', 'G-{YYYY}-{NNNN}', true)$$, 'with {YYYY} it is fine');
SELECT jobspy.create_invoice_series('guard-n', 'G-{NNNN}');
SELECT throws_ok($$UPDATE jobspy.invoice_series SET yearly_reset = true WHERE series = 'guard-n'$$, '23514', NULL,
                 'nor is the reset turned on by hand');
SELECT throws_ok(format($$SELECT jobspy.add_invoice_line(%L, '', 1, 1)$$, :'draft1'), '22023', NULL, 'an empty description');
SELECT throws_ok(format($$SELECT jobspy.add_invoice_line(%L, %L, 1, 1)$$, :'draft1', repeat('x', 501)), '22023', NULL,
                 'a description over 500 characters');
SELECT throws_ok(format($$SELECT jobspy.add_invoice_line(%L, 'paid with 4111 1111 1111 1111', 1, 1)$$, :'draft1'),
                 'JS502', NULL, 'a description with a card number');
SELECT throws_ok(format($$UPDATE jobspy.invoice_lines SET description = 'card 4111111111111111' WHERE id = %L$$, :'draft_line'),
                 'JS502', NULL, 'whoever writes it');
SELECT isnt(jobspy.add_invoice_line(:'draft1', 'order 2031-05 ref 1234567890123 seats', 1, 1), NULL,
            'digits that are no card number are fine');
SELECT is((SELECT count(*) FROM jobspy.invoice_lines WHERE invoice_id = :'draft1'), 2::bigint,
          'the refused lines left nothing');

-- ---- the same status again ----------------------------------------------------
SELECT pg_temp.invoice(:'c', 10000) AS twice \gset
SELECT jobspy.mark_invoice_uncollectible(:'twice');
SELECT throws_ok(format($$SELECT jobspy.mark_invoice_uncollectible(%L)$$, :'twice'), 'JS506', NULL,
                 'an uncollectible invoice is not marked again');
SELECT jobspy.void_invoice(:'twice');
SELECT throws_ok(format($$SELECT jobspy.void_invoice(%L)$$, :'twice'), 'JS506', NULL, 'nor a void one voided again');
SELECT is((SELECT count(*) FROM jobspy.outbox_events WHERE entity_id = :'twice' AND topic = 'billing.invoice.void'),
          1::bigint, 'one billing.invoice.void');

-- ---- a credit note and a refund never return the same money ------------------
INSERT INTO jobspy.users (id, email) VALUES ('b9000000-0000-4000-8000-000000000002', 'guard2@example.com');
SELECT jobspy.create_customer('b9000000-0000-4000-8000-000000000002') AS c2 \gset
SELECT pg_temp.invoice(:'c2', 1000) AS r1 \gset
SELECT jobspy.record_payment('guardpay', 'ch_r1', :'c2', 1000, 'USD', 'succeeded', :'r1') AS pay1 \gset
SELECT jobspy.refund_payment(:'pay1', 1000);
SELECT throws_ok(format($$SELECT jobspy.create_credit_note(%L, 1000)$$, :'r1'), 'JS509', NULL,
                 'a paid invoice refunded in full credits nothing more to the balance');
SELECT throws_ok(format($$SELECT jobspy.create_credit_note(%L, 1)$$, :'r1'), 'JS509', NULL, 'not even 1');
SELECT pg_temp.invoice(:'c2', 1000) AS r2 \gset
SELECT jobspy.record_payment('guardpay', 'ch_r2', :'c2', 1000, 'USD', 'succeeded', :'r2') AS pay2 \gset
SELECT jobspy.refund_payment(:'pay2', 400);
SELECT lives_ok(format($$SELECT jobspy.create_credit_note(%L, 500)$$, :'r2'), 'refunded 400 of 1000: a note of 500');
SELECT throws_ok(format($$SELECT jobspy.create_credit_note(%L, 101)$$, :'r2'), 'JS509', NULL,
                 'leaves 100 to credit, not 101');
SELECT lives_ok(format($$SELECT jobspy.create_credit_note(%L, 100)$$, :'r2'), 'the last 100');
SELECT is(pg_temp.balance(:'c2'), 600::bigint, 'the notes credited 600');
-- Paid by the balance (600) and a payment (400) refunded: only the 600 goes back.
SELECT pg_temp.invoice(:'c2', 1000) AS r3 \gset
SELECT jobspy.record_payment('guardpay', 'ch_r3', :'c2', 400, 'USD', 'succeeded', :'r3') AS pay3 \gset
SELECT jobspy.refund_payment(:'pay3', 400);
SELECT throws_ok(format($$SELECT jobspy.create_credit_note(%L, 601)$$, :'r3'), 'JS509', NULL,
                 'what the refund returned is not credited again');
SELECT jobspy.create_credit_note(:'r3', 600) AS n3 \gset
SELECT is((SELECT row(due_reduction_cents, balance_credit_cents)::text FROM jobspy.credit_notes WHERE id = :'n3'),
          '(0,600)', 'what the balance paid goes back to it');

SELECT * FROM finish();
ROLLBACK;
