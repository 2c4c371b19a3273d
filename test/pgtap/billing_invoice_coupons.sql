-- Discounts on invoices: a line's own discount, and a coupon spread over
-- the lines it applies to, with the tax computed on what is left.
BEGIN;
SELECT plan(38);

SET LOCAL TimeZone = 'UTC';
SET LOCAL jobspy.clock_override = '2031-05-10 12:00:00+00';
INSERT INTO jobspy.users (id, email) VALUES ('b7100000-0000-4000-8000-000000000001', 'ic@example.com');
SELECT jobspy.create_customer('b7100000-0000-4000-8000-000000000001') AS c \gset
INSERT INTO jobspy.organizations (id, name, slug) VALUES ('b7100000-0000-4000-8000-0000000000aa', 'Coupon Org', 'coupon-org');
SELECT jobspy.create_customer(organization_id => 'b7100000-0000-4000-8000-0000000000aa') AS org \gset
SELECT jobspy.create_product('ic-p', 'Coupon product');
SELECT jobspy.create_product('ic-q', 'Other product');
SELECT jobspy.create_price('ic-p', 'ic-p-usd', 1000, 'USD', 'month');
SELECT jobspy.create_price('ic-q', 'ic-q-usd', 700, 'USD', 'month');
SELECT jobspy.create_coupon('IC10', percent_off => 10);
SELECT jobspy.create_coupon('IC-P300', amount_off => 300, currency => 'USD', products => ARRAY['ic-p']);
SELECT jobspy.create_coupon('IC-EUR', amount_off => 100, currency => 'EUR');
SELECT jobspy.create_coupon('IC-MIN', percent_off => 50, min_amount => 1000000);
SELECT jobspy.create_coupon('IC-ONCE', percent_off => 20, max_redemptions => 1);
SELECT jobspy.create_coupon('IC-THIRD', amount_off => 100, currency => 'USD');

-- A line's own discount: at most its amount, none on a credit; tax on the rest.
SELECT jobspy.create_invoice(:'c', 'USD') AS i0 \gset
SELECT isnt(jobspy.add_invoice_line(:'i0', 'discounted', 2, 500, tax_rate_bp => 1000, discount => 200,
                                    period_start => '2031-05-01', period_end => '2031-06-01'), NULL,
            'a line with a discount and a period');
SELECT is((SELECT row(amount, discount, tax, period_start, period_end)::text FROM jobspy.invoice_lines WHERE invoice_id = :'i0'),
          '(1000,200,80,"2031-05-01 00:00:00+00","2031-06-01 00:00:00+00")',
          'tax is 10% of the 800 the line charges after its discount');
SELECT is((SELECT row(amount_cents, discount_cents, tax_cents, total_cents)::text FROM jobspy.invoices WHERE id = :'i0'),
          '(1000,200,80,880)', 'the invoice''s discount is its lines''');
SELECT throws_ok(format($$SELECT jobspy.add_invoice_line(%L, 'x', 1, 100, discount => 101)$$, :'i0'), '22023', NULL,
                 'a discount above the amount');
SELECT throws_ok(format($$SELECT jobspy.add_invoice_line(%L, 'x', 1, 100, discount => -1)$$, :'i0'), '22023', NULL,
                 'a negative discount');
SELECT throws_ok(format($$SELECT jobspy.add_invoice_line(%L, 'x', 1, -100, discount => 10)$$, :'i0'), '22023', NULL,
                 'a discount on a credit line');
SELECT throws_ok(format($$SELECT jobspy.add_invoice_line(%L, 'x', 1, 100, period_start => '2031-06-01', period_end => '2031-05-01')$$,
                        :'i0'), '22023', NULL, 'a period that ends before it starts');
SELECT is((SELECT count(*) FROM jobspy.invoice_lines WHERE invoice_id = :'i0'), 1::bigint, 'refused lines left no row');

-- A percent coupon over taxed lines and a credit line.
SELECT jobspy.create_invoice(:'c', 'USD') AS i1 \gset
SELECT jobspy.add_invoice_line(:'i1', 'seats', 3, 333, tax_rate_bp => 1950) AS l_seats \gset
SELECT jobspy.add_invoice_line(:'i1', 'plan', 1, 1000, 'ic-p-usd') AS l_plan \gset
SELECT jobspy.add_invoice_line(:'i1', 'goodwill credit', 1, -100, tax_rate_bp => 2000);
SELECT is(jobspy.apply_invoice_coupon(:'i1', 'ic10'), 199::bigint, '10% of the 1999 the lines charge, rounded down');
SELECT results_eq(format('SELECT amount, discount, tax FROM jobspy.invoice_lines WHERE invoice_id = %L ORDER BY amount', :'i1'),
                  'VALUES (-100::bigint, 0::bigint, -20::bigint), (999, 99, 176), (1000, 100, 0)',
                  '199 spread by amount (99.45 and 99.55: the spare unit to the larger remainder), tax on 900 is 175.5 -> 176, the credit untouched');
SELECT is((SELECT row(amount_cents, discount_cents, tax_cents, total_cents, amount_due_cents, coupon_id IS NOT NULL)::text
             FROM jobspy.invoices WHERE id = :'i1'), '(1899,199,156,1856,1856,t)', 'the invoice''s amounts follow');
SELECT is((SELECT row(x.amount, x.discount, x.currency)::text FROM jobspy.loyalty_coupon_redemptions x
            WHERE x.idempotency_key = 'invoice:' || :'i1'), '(1999,199,USD)', 'one redemption, keyed by the invoice');
SELECT is(jobspy.apply_invoice_coupon(:'i1', 'IC10'), 199::bigint, 'the same coupon again answers the same discount');
SELECT is((SELECT times_redeemed FROM jobspy.loyalty_coupons WHERE code = 'IC10'), 1, 'and is counted once');
SELECT throws_ok(format($$SELECT jobspy.apply_invoice_coupon(%L, 'IC-THIRD')$$, :'i1'), '55000', NULL,
                 'a second coupon');
SELECT throws_ok(format($$SELECT jobspy.add_invoice_line(%L, 'late', 1, 100)$$, :'i1'), '55000', NULL,
                 'no line after the coupon');
SELECT is((SELECT row(discount_cents, total_cents)::text FROM jobspy.invoices WHERE id = :'i1'), '(199,1856)',
          'refusals changed nothing');
SELECT is(jobspy.finalize_invoice(:'i1'), 'INV-2031-000001', 'finalized with its coupon');
SELECT is((SELECT row(status, total_cents, amount_due_cents)::text FROM jobspy.invoices WHERE id = :'i1'), '(open,1856,1856)',
          'what is due is the discounted total');
SELECT ok((SELECT bool_and(i.tax_cents = (SELECT sum(tax) FROM jobspy.invoice_lines l WHERE l.invoice_id = i.id)
                       AND i.discount_cents = (SELECT sum(discount) FROM jobspy.invoice_lines l WHERE l.invoice_id = i.id))
             FROM jobspy.invoices i WHERE i.id IN (:'i0', :'i1')),
          'an invoice''s tax and discount are its lines''');

-- A coupon limited to a product discounts that product's lines only.
SELECT jobspy.create_invoice(:'c', 'USD') AS i2 \gset
SELECT jobspy.add_invoice_line(:'i2', 'plan', 2, 1000, 'ic-p-usd', tax_rate_bp => 500);
SELECT jobspy.add_invoice_line(:'i2', 'other', 1, 700, 'ic-q-usd');
SELECT jobspy.add_invoice_line(:'i2', 'setup', 1, 500);
SELECT is(jobspy.apply_invoice_coupon(:'i2', 'ic-p300'), 300::bigint, 'an amount-off coupon for one product');
SELECT results_eq(format('SELECT description, discount, tax FROM jobspy.invoice_lines WHERE invoice_id = %L ORDER BY description', :'i2'),
                  $$VALUES ('other'::text, 0::bigint, 0::bigint), ('plan', 300, 85), ('setup', 0, 0)$$,
                  'all of it on the product''s line, whose tax is 5% of 1700');
SELECT is((SELECT row(amount_cents, discount_cents, tax_cents, total_cents)::text FROM jobspy.invoices WHERE id = :'i2'),
          '(3200,300,85,2985)', 'the invoice''s amounts follow');

-- Refusals: nothing is saved.
SELECT jobspy.create_invoice(:'c', 'USD') AS i3 \gset
SELECT jobspy.add_invoice_line(:'i3', 'other', 1, 700, 'ic-q-usd');
SELECT throws_like(format($$SELECT jobspy.apply_invoice_coupon(%L, 'IC-P300')$$, :'i3'), '%WRONG_PRODUCT',
                   'a coupon for a product the invoice does not bill');
SELECT throws_ok(format($$SELECT jobspy.apply_invoice_coupon(%L, 'IC-EUR')$$, :'i3'), 'JS508', NULL,
                 'an amount off in another currency');
SELECT throws_like(format($$SELECT jobspy.apply_invoice_coupon(%L, 'IC-MIN')$$, :'i3'), '%MIN_AMOUNT', 'below the minimum');
SELECT throws_like(format($$SELECT jobspy.apply_invoice_coupon(%L, 'NOPE')$$, :'i3'), '%NOT_FOUND', 'an unknown code');
SELECT is((SELECT row(discount_cents, total_cents, coupon_id)::text FROM jobspy.invoices WHERE id = :'i3'), '(0,700,)',
          'the invoice is as it was');
SELECT is((SELECT count(*) FROM jobspy.loyalty_coupon_redemptions WHERE idempotency_key = 'invoice:' || :'i3'), 0::bigint,
          'and no redemption was kept');
SELECT is(jobspy.apply_invoice_coupon(:'i3', 'IC-ONCE'), 140::bigint, 'a coupon with one redemption');
SELECT jobspy.create_invoice(:'c', 'USD') AS i4 \gset
SELECT jobspy.add_invoice_line(:'i4', 'other', 1, 700);
SELECT throws_like(format($$SELECT jobspy.apply_invoice_coupon(%L, 'IC-ONCE')$$, :'i4'), '%EXHAUSTED', 'has none left');

-- What takes no coupon.
SELECT throws_ok(format($$SELECT jobspy.apply_invoice_coupon(%L, 'IC10')$$, jobspy.create_invoice(:'c', 'USD')), '55000', NULL,
                 'an invoice without lines');
SELECT jobspy.create_invoice(:'org', 'USD') AS i5 \gset
SELECT jobspy.add_invoice_line(:'i5', 'plan', 1, 1000);
SELECT throws_ok(format($$SELECT jobspy.apply_invoice_coupon(%L, 'IC10')$$, :'i5'), '55000', NULL,
                 'an organization''s invoice: coupons are redeemed by users');
SELECT jobspy.create_invoice(:'c', 'USD') AS i6 \gset
SELECT jobspy.add_invoice_line(:'i6', 'plan', 1, 1000);
INSERT INTO jobspy.provider_invoices (provider_id, provider_invoice_id, invoice_id)
VALUES (jobspy.create_provider('icprov', 'Coupon provider'), 'in_ic_1', :'i6');
SELECT throws_like(format($$SELECT jobspy.apply_invoice_coupon(%L, 'IC10')$$, :'i6'), '%mirrors a provider''s invoice%',
                   'an invoice mirrored from a provider takes its discounts from the provider''s events');
SELECT is((SELECT count(*) FROM jobspy.loyalty_coupon_redemptions WHERE idempotency_key = 'invoice:' || :'i6'), 0::bigint,
          'and redeems nothing');
SELECT jobspy.finalize_invoice(:'i0');
SELECT throws_ok(format($$SELECT jobspy.apply_invoice_coupon(%L, 'IC10')$$, :'i0'), 'JS507', NULL, 'a finalized invoice');
SELECT throws_ok($$SELECT jobspy.apply_invoice_coupon(gen_random_uuid(), 'IC10')$$, '22023', NULL, 'an unknown invoice');
SELECT throws_ok(format($$SELECT jobspy.apply_invoice_coupon(%L, NULL)$$, :'i4'), '22023', NULL, 'no code');

SELECT * FROM finish();
ROLLBACK;
