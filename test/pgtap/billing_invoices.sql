-- Invoices: drafts, lines, amounts and their rounding, finalization with
-- gapless numbers per series, frozen terms, statuses, the overdue view.
BEGIN;
SELECT plan(43);

SET LOCAL TimeZone = 'UTC';
SET LOCAL jobspy.clock_override = '2031-05-10 12:00:00+00';
INSERT INTO jobspy.users (id, email) VALUES ('b7000000-0000-4000-8000-000000000001', 'inv@example.com');
SELECT jobspy.create_customer('b7000000-0000-4000-8000-000000000001') AS c \gset
SELECT jobspy.create_product('inv-p', 'Invoiced');
SELECT jobspy.create_price('inv-p', 'inv-usd', 1000, 'USD', 'month');
SELECT jobspy.create_price('inv-p', 'inv-eur', 900, 'EUR', 'month');

SELECT throws_ok($$SELECT jobspy.create_invoice(gen_random_uuid(), 'USD')$$, '22023', NULL, 'an unknown customer');
SELECT throws_ok(format($$SELECT jobspy.create_invoice(%L, 'US')$$, :'c'), '22023', NULL, 'an unknown currency');
SELECT throws_ok(format($$SELECT jobspy.create_invoice(%L, 'USD', series => 'nope')$$, :'c'), '22023', NULL,
                 'an unknown series');
SELECT is((SELECT count(*) FROM jobspy.invoices), 0::bigint, 'no invoice was left');

SELECT jobspy.create_invoice(:'c', 'USD', '2031-05-20 00:00:00+00') AS i1 \gset
SELECT is((SELECT row(status, invoice_number)::text FROM jobspy.invoices WHERE id = :'i1'), '(draft,)',
          'a new invoice is a draft without a number');
SELECT isnt(jobspy.add_invoice_line(:'i1', 'seats', 3, 333, tax_rate_bp => 1950), NULL, 'a taxed line');
SELECT isnt(jobspy.add_invoice_line(:'i1', 'plan', 1, 1000, 'inv-usd'), NULL, 'a line of a price');
SELECT isnt(jobspy.add_invoice_line(:'i1', 'goodwill credit', 1, -100, tax_rate_bp => 2000), NULL, 'a credit line');
SELECT results_eq(format('SELECT amount, tax FROM jobspy.invoice_lines WHERE invoice_id = %L ORDER BY amount', :'i1'),
                  'VALUES (-100::bigint, -20::bigint), (999, 195), (1000, 0)',
                  'tax per line: 999 x 19.5% = 194.805 -> 195; -100 x 20% = -20');
SELECT is((SELECT row(amount_cents, tax_cents, discount_cents, total_cents, amount_paid_cents, amount_due_cents)::text
             FROM jobspy.invoices WHERE id = :'i1'), '(1899,175,0,2074,0,2074)', 'the invoice''s amounts follow its lines');
SELECT throws_ok(format($$SELECT jobspy.add_invoice_line(%L, 'x', 0, 1)$$, :'i1'), '22023', NULL, 'quantity 0');
SELECT throws_ok(format($$SELECT jobspy.add_invoice_line(%L, 'x', 1, 1, tax_rate_bp => -1)$$, :'i1'), '22023', NULL,
                 'a negative tax rate');
SELECT throws_ok(format($$SELECT jobspy.add_invoice_line(%L, 'x', 1, 1, 'inv-eur')$$, :'i1'), 'JS501', NULL,
                 'a price in another currency than the invoice''s');
SELECT throws_ok(format($$SELECT jobspy.add_invoice_line(%L, NULL, 1, 1)$$, :'i1'), '22023', NULL, 'NULL description');
SELECT throws_ok(format($$SELECT jobspy.add_invoice_line(%L, 'x', 9223372036854775807, 2)$$, :'i1'), '22003', NULL,
                 'an amount out of range');
SELECT is((SELECT count(*) FROM jobspy.invoice_lines WHERE invoice_id = :'i1'), 3::bigint, 'refused lines left no row');
SELECT is((SELECT round(5 * 1000 / 10000.0)::bigint), 1::bigint, 'halves go away from zero (0.5 -> 1)');
SELECT jobspy.create_invoice(:'c', 'USD') AS i_half \gset
SELECT jobspy.add_invoice_line(:'i_half', 'half up', 1, 5, tax_rate_bp => 1000);
SELECT jobspy.add_invoice_line(:'i_half', 'half down', 1, -5, tax_rate_bp => 1000);
SELECT results_eq(format('SELECT tax FROM jobspy.invoice_lines WHERE invoice_id = %L ORDER BY tax', :'i_half'),
                  'VALUES (-1::bigint), (1::bigint)', 'tax 0.5 rounds to 1 and -0.5 to -1');

-- Numbers: given at finalization only, in order, a draft burns none.
SELECT throws_ok(format($$SELECT jobspy.finalize_invoice(%L)$$, jobspy.create_invoice(:'c', 'USD')), '55000', NULL,
                 'an invoice without lines is not finalized');
SELECT is(jobspy.finalize_invoice(:'i1'), 'INV-2031-000001', 'the first number of the default series');
SELECT is((SELECT row(status, finalized_at, due_at)::text FROM jobspy.invoices WHERE id = :'i1'),
          '(open,"2031-05-10 12:00:00+00","2031-05-20 00:00:00+00")', 'finalized: open');
SELECT jobspy.create_invoice(:'c', 'USD') AS i2 \gset
SELECT jobspy.add_invoice_line(:'i2', 'one', 1, 500);
SELECT is(jobspy.finalize_invoice(:'i2'), 'INV-2031-000002', 'the next number, drafts in between burned none');
SELECT throws_ok(format($$SELECT jobspy.finalize_invoice(%L)$$, :'i2'), '55000', NULL, 'finalized twice');

-- A finalized invoice is frozen for every writer.
SELECT throws_ok(format($$SELECT jobspy.add_invoice_line(%L, 'late', 1, 1)$$, :'i1'), 'JS507', NULL,
                 'no line on a finalized invoice');
SELECT throws_ok(format($$INSERT INTO jobspy.invoice_lines (invoice_id, description, quantity, unit_amount, amount, tax)
                          VALUES (%L, 'late', 1, 1, 1, 0)$$, :'i1'), 'JS507', NULL, 'not even by a direct INSERT');
SELECT throws_ok(format($$UPDATE jobspy.invoices SET amount_cents = 1, total_cents = 176 WHERE id = %L$$, :'i1'), 'JS507', NULL,
                 'nor a direct change of its amounts');
SELECT throws_ok(format($$DELETE FROM jobspy.invoice_lines WHERE invoice_id = %L$$, :'i1'), 'JS507', NULL,
                 'nor removing its lines');
SELECT throws_ok(format($$UPDATE jobspy.invoices SET status = 'draft', invoice_number = NULL WHERE id = %L$$, :'i1'), 'JS506', NULL,
                 'open -> draft is illegal');
SELECT throws_ok(format($$INSERT INTO jobspy.invoices (customer_id, currency, status, invoice_number) VALUES (%L, 'USD', 'open', 'X-1')$$, :'c'),
                 'JS506', NULL, 'an invoice cannot be made open with a number by hand');

-- Void and uncollectible.
SELECT jobspy.mark_invoice_uncollectible(:'i2');
SELECT is((SELECT status FROM jobspy.invoices WHERE id = :'i2'), 'uncollectible', 'open -> uncollectible');
SELECT jobspy.void_invoice(:'i2');
SELECT is((SELECT row(status, invoice_number)::text FROM jobspy.invoices WHERE id = :'i2'), '(void,INV-2031-000002)',
          'uncollectible -> void keeps its number');
SELECT throws_ok(format($$SELECT jobspy.mark_invoice_uncollectible(%L)$$, :'i2'), 'JS506', NULL, 'void is final');
SELECT jobspy.void_invoice(:'i_half');
SELECT is((SELECT count(*) FROM jobspy.invoices WHERE id = :'i_half'), 0::bigint, 'voiding a draft deletes it');
SELECT jobspy.create_invoice(:'c', 'USD') AS i0 \gset
SELECT jobspy.add_invoice_line(:'i0', 'free', 1, 0);
SELECT jobspy.finalize_invoice(:'i0');
SELECT is((SELECT status FROM jobspy.invoices WHERE id = :'i0'), 'paid', 'an invoice totalling zero is paid at once');

-- Series: their own formats, and a yearly reset.
SELECT jobspy.create_invoice_series('acme', 'ACME/{YYYY}/{NNNN}', yearly_reset => true);
SELECT throws_ok($$SELECT jobspy.create_invoice_series('acme')$$, '23505', NULL, 'series are unique');
SELECT throws_ok($$SELECT jobspy.create_invoice_series('bad', 'INV-{YYYY}')$$, '22023', NULL, 'a format needs the number');
CREATE FUNCTION pg_temp.finalize_one(cid uuid) RETURNS text LANGUAGE sql AS $$
    SELECT jobspy.finalize_invoice(i) FROM jobspy.create_invoice(cid, 'USD', series => 'acme') i,
           jobspy.add_invoice_line(i, 'x', 1, 1) l
$$;
SELECT is(pg_temp.finalize_one(:'c'), 'ACME/2031/0001', 'a series of its own starts at 1');
SELECT is(pg_temp.finalize_one(:'c'), 'ACME/2031/0002', 'and counts on');
SET LOCAL jobspy.clock_override = '2032-01-01 00:00:00+00';
SELECT is(pg_temp.finalize_one(:'c'), 'ACME/2032/0001', 'a yearly series starts again in a new year');
-- A finalization whose transaction began before midnight, numbered after
-- one of the new year, takes the new year's next number: the year never
-- goes back (it restarted the old year's count, then the new year's, on
-- numbers given).
SET LOCAL jobspy.clock_override = '2031-12-31 23:59:59+00';
SELECT is(pg_temp.finalize_one(:'c'), 'ACME/2032/0002', 'a late finalization of the old year numbers in the new one');
SET LOCAL jobspy.clock_override = '2032-01-01 00:00:02+00';
SELECT is(pg_temp.finalize_one(:'c'), 'ACME/2032/0003', 'and the new year counts on');

-- Overdue (seed 004): open invoices past due, with days overdue.
SELECT is((SELECT row(invoice_number, days_overdue)::text FROM jobspy.overdue_invoices WHERE invoice_id = :'i1'),
          '(INV-2031-000001,226)', 'INV-2031-000001, due 2031-05-20, is 226 days overdue on 2032-01-01');

SET LOCAL ROLE jobspy_app;
SELECT throws_ok(format($$INSERT INTO jobspy.invoices (customer_id, currency) VALUES (%L, 'USD')$$, :'c'), '42501', NULL,
                 'the app writes invoices only through the functions');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
