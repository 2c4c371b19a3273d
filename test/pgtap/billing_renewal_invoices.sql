-- Renewal invoices: renew_subscriptions() invoices each new period with its
-- recurring line, pending prorations, metered usage over the included
-- quantity and the coupon's discount, finalizes it and collects it; coupons
-- on subscribe are redeemed once, and a refused one leaves nothing behind.
BEGIN;
SELECT plan(51);
SET LOCAL TimeZone = 'UTC';

\ir include/billing_clock.psql
-- A subscription's invoices, oldest first: period start, status, subtotal,
-- discount, total, amount due.
CREATE FUNCTION pg_temp.invoices(sid uuid) RETURNS SETOF text LANGUAGE sql AS $$
    SELECT row(period_start::date, status, amount_cents, discount_cents, total_cents, amount_due_cents)::text
      FROM jobspy.invoices WHERE subscription_id = sid ORDER BY period_start
$$;

SELECT set_config('jobspy.clock_override', '2031-01-31 10:00:00+00', true);
INSERT INTO jobspy.users (id, email)
SELECT ('b7000000-0000-4000-8000-00000000000' || i)::uuid, 'ri' || i || '@example.com' FROM generate_series(1, 9) i;
SELECT jobspy.create_product('ri-basic', 'Basic');
SELECT jobspy.create_product('ri-pro', 'Pro');
SELECT jobspy.create_product('ri-ai', 'AI');
SELECT jobspy.create_price('ri-basic', 'ri-basic-m', 1000, 'USD', 'month');
SELECT jobspy.create_price('ri-basic', 'ri-basic-eur', 1000, 'EUR', 'month');
SELECT jobspy.create_price('ri-pro', 'ri-pro-m', 3100, 'USD', 'month');
SELECT jobspy.create_price('ri-ai', 'ri-ai-m', 2000, 'USD', 'month', trial_days => 0, unit_amount => 2,
                           included_quantity => 1000, metric => 'ai.tokens');
SELECT jobspy.create_price('ri-ai', 'ri-ai-trial', 2000, 'USD', 'month', trial_days => 10, unit_amount => 2,
                           included_quantity => 1000, metric => 'ai.tokens');
SELECT jobspy.create_customer('b7000000-0000-4000-8000-000000000001') AS c1 \gset
SELECT jobspy.create_customer('b7000000-0000-4000-8000-000000000002') AS c2 \gset
SELECT jobspy.create_customer('b7000000-0000-4000-8000-000000000003') AS c3 \gset
SELECT jobspy.create_customer('b7000000-0000-4000-8000-000000000004') AS c4 \gset
SELECT jobspy.create_customer('b7000000-0000-4000-8000-000000000005') AS c5 \gset
SELECT jobspy.create_customer('b7000000-0000-4000-8000-000000000006') AS c6 \gset
SELECT jobspy.create_customer('b7000000-0000-4000-8000-000000000007') AS c7 \gset
SELECT jobspy.add_payment_method(id, 'card', '4242', 'visa', 12, 2040) FROM jobspy.customers
 WHERE user_id::text LIKE 'b7000000%' AND id <> :'c2';

-- ---- a plain renewal ------------------------------------------------------
SELECT jobspy.subscribe(:'c1', 'ri-basic-m', 2) AS s1 \gset
SELECT results_eq($$SELECT pg_temp.invoices('$$ || :'s1' || $$')$$,
                  $$VALUES ('(2031-01-31,open,2000,0,2000,2000)')$$,
                  'subscribing invoices the first period at once, in advance: 2 x 1000');
SELECT is(pg_temp.travel('2031-02-28 10:00:00+00'), 1::bigint, 'the renewal runs at the period end');
SELECT results_eq($$SELECT pg_temp.invoices('$$ || :'s1' || $$')$$,
                  $$VALUES ('(2031-01-31,open,2000,0,2000,2000)'), ('(2031-02-28,open,2000,0,2000,2000)')$$,
                  'the renewal adds one open invoice: 2 x 1000, due in full');
SELECT is((SELECT row(invoice_number IS NOT NULL, billing_reason, period_end, due_at, customer_id)::text
             FROM jobspy.invoices WHERE subscription_id = :'s1' AND period_start = '2031-02-28 10:00:00+00'),
          row(true, 'subscription_cycle', '2031-03-31 10:00:00+00'::timestamptz, '2031-02-28 10:00:00+00'::timestamptz,
              :'c1'::uuid)::text,
          'numbered, for the new period, due at its start, for the customer');
SELECT is((SELECT row(l.description, l.quantity, l.unit_amount, l.period_start, l.period_end)::text
             FROM jobspy.invoice_lines l JOIN jobspy.invoices i ON i.id = l.invoice_id
            WHERE i.subscription_id = :'s1' AND i.period_start = '2031-02-28 10:00:00+00'),
          row('Basic (ri-basic-m)', 2, 1000, '2031-02-28 10:00:00+00'::timestamptz,
              '2031-03-31 10:00:00+00'::timestamptz)::text,
          'the recurring line: the product, quantity, unit amount and period');
SELECT is((SELECT status FROM jobspy.subscriptions WHERE id = :'s1'), 'active',
          'a default payment method collects it: active (the invoice waits for the provider''s payment)');
SELECT is(pg_temp.travel('2031-02-28 10:00:00+00'), 0::bigint, 'renewing again at the same time does nothing');
SELECT is((SELECT count(*) FROM jobspy.invoices WHERE subscription_id = :'s1'), 2::bigint, 'and makes no second invoice');
SELECT is((SELECT count(*) FROM jobspy.outbox_events WHERE topic = 'billing.invoice.finalized'
              AND payload ->> 'subscription_id' = :'s1'), 2::bigint,
          'billing.invoice.finalized tells the payment worker to charge it');
SELECT throws_ok(format($$INSERT INTO jobspy.invoices (customer_id, subscription_id, series, currency, billing_reason,
                                                        period_start) VALUES (%L, %L, 'default', 'USD',
                                                        'subscription_cycle', '2031-02-28 10:00:00+00')$$, :'c1', :'s1'),
                 '23505', NULL, 'a second invoice of one period is refused by the database, whoever writes it');
SELECT throws_ok(format($$UPDATE jobspy.invoice_lines SET unit_amount = 1 WHERE invoice_id IN
                          (SELECT id FROM jobspy.invoices WHERE subscription_id = %L)$$, :'s1'),
                 'JS507', NULL, 'the renewal invoice''s lines are frozen');

-- ---- no payment method: past_due, and a paid invoice ends dunning ---------
SELECT set_config('jobspy.clock_override', '2031-01-31 10:00:00+00', true);
SELECT jobspy.subscribe(:'c2', 'ri-basic-m') AS s2 \gset
SELECT is((SELECT status FROM jobspy.subscriptions WHERE id = :'s2'), 'active',
          'subscribing without a method starts active, its first invoice open');
SELECT pg_temp.travel('2031-02-28 10:00:00+00');
SELECT is((SELECT status FROM jobspy.subscriptions WHERE id = :'s2'), 'past_due', 'without a method: past_due');
SELECT results_eq($$SELECT pg_temp.invoices('$$ || :'s2' || $$')$$,
                  $$VALUES ('(2031-01-31,open,1000,0,1000,1000)'), ('(2031-02-28,open,1000,0,1000,1000)')$$,
                  'its invoices are open');
UPDATE jobspy.invoices SET status = 'paid', amount_paid_cents = total_cents, paid_at = jobspy.now()
 WHERE subscription_id = :'s2' AND period_start = '2031-02-28 10:00:00+00';
SELECT is((SELECT status FROM jobspy.subscriptions WHERE id = :'s2'), 'past_due',
          'one invoice paid, another still due: still past_due');
UPDATE jobspy.invoices SET status = 'paid', amount_paid_cents = total_cents, paid_at = jobspy.now()
 WHERE subscription_id = :'s2' AND status = 'open';
SELECT is((SELECT row(status, dunning_attempts, next_retry_at)::text FROM jobspy.subscriptions WHERE id = :'s2'),
          '(active,0,)', 'the last one paid, whoever marks it: active again, dunning cleared');

-- ---- prorations on the next invoice ---------------------------------------
SELECT set_config('jobspy.clock_override', '2031-01-31 10:00:00+00', true);
SELECT jobspy.subscribe(:'c3', 'ri-basic-m') AS s3 \gset
SELECT set_config('jobspy.clock_override', '2031-02-15 10:00:00+00', true);
SELECT jobspy.change_subscription(:'s3', 'ri-pro-m');
SELECT pg_temp.travel('2031-02-28 10:00:00+00');
SELECT results_eq(format($$SELECT l.description, l.amount FROM jobspy.invoice_lines l JOIN jobspy.invoices i ON i.id = l.invoice_id
                            WHERE i.subscription_id = %L AND i.period_start = '2031-02-28 10:00:00+00'
                            ORDER BY l.created_at, amount$$, :'s3'),
                  $$VALUES ('unused time on ri-basic-m', -464::bigint), ('remaining time on ri-pro-m', 1439::bigint),
                           ('Pro (ri-pro-m)', 3100::bigint)$$,
                  'the renewal bills the new price and the pending prorations (13 of 28 days)');
SELECT is((SELECT count(*) FROM jobspy.pending_invoice_items WHERE subscription_id = :'s3' AND invoice_id IS NULL),
          0::bigint, 'the prorations are no longer pending');
SELECT results_eq($$SELECT pg_temp.invoices('$$ || :'s3' || $$')$$,
                  $$VALUES ('(2031-01-31,open,1000,0,1000,1000)'), ('(2031-02-28,open,4075,0,4075,4075)')$$,
                  'subtotal 3100 - 464 + 1439');
-- A downgrade whose credit exceeds the next charge carries the rest.
SELECT set_config('jobspy.clock_override', '2031-03-01 10:00:00+00', true);
SELECT jobspy.change_subscription(:'s3', 'ri-basic-m');
SELECT pg_temp.travel('2031-03-31 10:00:00+00');
SELECT results_eq($$SELECT pg_temp.invoices('$$ || :'s3' || $$')$$,
                  $$VALUES ('(2031-01-31,open,1000,0,1000,1000)'), ('(2031-02-28,open,4075,0,4075,4075)'),
                           ('(2031-03-31,paid,0,0,0,0)')$$,
                  'credit 3000 against a charge of 1000 + 968: a zero invoice, paid at once');
SELECT is((SELECT amount FROM jobspy.pending_invoice_items WHERE subscription_id = :'s3' AND invoice_id IS NULL),
          -1032::bigint, 'the remaining credit waits for the next invoice');
SELECT pg_temp.travel('2031-04-30 10:00:00+00');
SELECT is((SELECT total_cents FROM jobspy.invoices WHERE subscription_id = :'s3' AND period_start = '2031-04-30 10:00:00+00'),
          0::bigint, 'and is used by it (1000 - 1032 carried again)');

-- ---- metered usage: tokens over the included quantity ----------------------
SELECT set_config('jobspy.clock_override', '2031-01-31 10:00:00+00', true);
SELECT jobspy.subscribe(:'c4', 'ri-ai-m') AS s4 \gset
INSERT INTO jobspy.token_usage (user_id, provider, model, prompt_tokens, completion_tokens, currency,
                                input_price_per_million, output_price_per_million, cost, metric, quota_allowed, created_at)
VALUES ('b7000000-0000-4000-8000-000000000004', 'p', 'm', 600, 200, 'USD', 0, 0, 0, 'ai.tokens', true, '2031-02-01'),
       ('b7000000-0000-4000-8000-000000000004', 'p', 'm', 700, 0, 'USD', 0, 0, 0, 'ai.tokens', true, '2031-02-27'),
       ('b7000000-0000-4000-8000-000000000004', 'p', 'm', 5000, 0, 'USD', 0, 0, 0, 'other.metric', true, '2031-02-27'),
       ('b7000000-0000-4000-8000-000000000004', 'p', 'm', 100, 0, 'USD', 0, 0, 0, 'ai.tokens', true, '2031-03-01');
SELECT pg_temp.travel('2031-02-28 10:00:00+00');
SELECT results_eq(format($$SELECT l.description, l.quantity, l.unit_amount, l.period_start, l.period_end
                             FROM jobspy.invoice_lines l JOIN jobspy.invoices i ON i.id = l.invoice_id
                            WHERE i.subscription_id = %L AND l.unit_amount = 2$$, :'s4'),
                  $$VALUES ('500 ai.tokens over the 1000 included', 500::bigint, 2::bigint,
                            '2031-01-31 10:00:00+00'::timestamptz, '2031-02-28 10:00:00+00'::timestamptz)$$,
                  'the ended period''s 1500 tokens of the metric, 1000 included: 500 at 2 each, in arrears');
SELECT results_eq($$SELECT pg_temp.invoices('$$ || :'s4' || $$')$$,
                  $$VALUES ('(2031-01-31,open,2000,0,2000,2000)'), ('(2031-02-28,open,3000,0,3000,3000)')$$,
                  '2000 + 1000');
SELECT is((SELECT count(*) FROM jobspy.token_usage WHERE user_id = 'b7000000-0000-4000-8000-000000000004'
              AND invoice_line_id IS NOT NULL), 2::bigint, 'the billed usage rows name their invoice line');
SELECT pg_temp.travel('2031-03-31 10:00:00+00');
SELECT results_eq($$SELECT pg_temp.invoices('$$ || :'s4' || $$')$$,
                  $$VALUES ('(2031-01-31,open,2000,0,2000,2000)'), ('(2031-02-28,open,3000,0,3000,3000)'),
                           ('(2031-03-31,open,2000,0,2000,2000)')$$,
                  'usage within the included quantity adds no line');
-- Usage in a trial is not billed.
SELECT jobspy.subscribe(:'c5', 'ri-ai-trial') AS s5 \gset
SELECT is((SELECT count(*) FROM jobspy.invoices WHERE subscription_id = :'s5'), 0::bigint,
          'a trial is not invoiced when it starts');
INSERT INTO jobspy.token_usage (user_id, provider, model, prompt_tokens, completion_tokens, currency,
                                input_price_per_million, output_price_per_million, cost, metric, quota_allowed, created_at)
VALUES ('b7000000-0000-4000-8000-000000000005', 'p', 'm', 9000, 0, 'USD', 0, 0, 0, 'ai.tokens', true, '2031-04-02');
SELECT pg_temp.travel('2031-04-10 10:00:00+00');
SELECT results_eq($$SELECT pg_temp.invoices('$$ || :'s5' || $$')$$, $$VALUES ('(2031-04-10,open,2000,0,2000,2000)')$$,
                  'the trial''s end invoices the first period, and no trial usage');

-- ---- coupons ----------------------------------------------------------------
SELECT set_config('jobspy.clock_override', '2031-06-01 10:00:00+00', true);
SELECT jobspy.create_coupon('RI-ONCE', percent_off => 25);
SELECT jobspy.create_coupon('RI-TWO', amount_off => 300, currency => 'USD', duration => 'repeating', duration_months => 2);
SELECT jobspy.create_coupon('RI-EVER', percent_off => 15, duration => 'forever', max_redemptions => 1);
SELECT jobspy.create_coupon('RI-SOON', percent_off => 10, expires_at => '2031-06-02 10:00:00+00');
SELECT jobspy.create_coupon('RI-EUR', amount_off => 100, currency => 'EUR');
SELECT jobspy.create_coupon('RI-PROD', percent_off => 10, products => ARRAY['ri-pro']);

SELECT jobspy.subscribe(:'c6', 'ri-basic-m', coupon => 'ri-once') AS s6 \gset
SELECT is((SELECT times_redeemed FROM jobspy.loyalty_coupons WHERE code = 'RI-ONCE'), 1, 'subscribing redeems the coupon');
SELECT pg_temp.travel('2031-07-01 10:00:00+00');
SELECT pg_temp.travel('2031-08-01 10:00:00+00');
SELECT results_eq($$SELECT pg_temp.invoices('$$ || :'s6' || $$')$$,
                  $$VALUES ('(2031-06-01,open,1000,250,750,750)'), ('(2031-07-01,open,1000,0,1000,1000)'),
                           ('(2031-08-01,open,1000,0,1000,1000)')$$,
                  'once: 25% off the first invoice only');
SELECT is((SELECT times_redeemed FROM jobspy.loyalty_coupons WHERE code = 'RI-ONCE'), 1,
          'counted once, however many invoices');

SELECT set_config('jobspy.clock_override', '2031-06-01 10:00:00+00', true);
SELECT jobspy.subscribe(:'c7', 'ri-basic-m', coupon => 'RI-TWO') AS s7 \gset
SELECT pg_temp.travel('2031-09-01 10:00:00+00');
SELECT results_eq($$SELECT pg_temp.invoices('$$ || :'s7' || $$')$$,
                  $$VALUES ('(2031-06-01,open,1000,300,700,700)'), ('(2031-07-01,open,1000,300,700,700)'),
                           ('(2031-08-01,open,1000,0,1000,1000)'), ('(2031-09-01,open,1000,0,1000,1000)')$$,
                  'repeating 2 months: 300 off the periods starting within two months of subscribing');

SELECT set_config('jobspy.clock_override', '2031-06-01 10:00:00+00', true);
SELECT jobspy.subscribe(:'c5', 'ri-pro-m', 2, coupon => 'RI-EVER') AS s8 \gset
SELECT pg_temp.travel('2031-08-01 10:00:00+00');
SELECT results_eq(format($$SELECT discount_cents FROM jobspy.invoices WHERE subscription_id = %L ORDER BY period_start$$, :'s8'),
                  'VALUES (930::bigint), (930::bigint), (930::bigint)', 'forever: 15% of 6200 on every invoice');

-- Refused coupons: a clear error, nothing written.
SELECT set_config('jobspy.clock_override', '2031-06-03 10:00:00+00', true);
SELECT jobspy.create_customer('b7000000-0000-4000-8000-000000000008') AS c8 \gset
CREATE TEMP TABLE before AS
SELECT (SELECT count(*) FROM jobspy.subscriptions) AS subs, (SELECT count(*) FROM jobspy.loyalty_coupon_redemptions) AS reds,
       (SELECT sum(times_redeemed) FROM jobspy.loyalty_coupons) AS times;
SELECT throws_ok(format($$SELECT jobspy.subscribe(%L, 'ri-basic-m', coupon => 'RI-NONE')$$, :'c8'), 'JS508',
                 'coupon "RI-NONE" cannot be applied to this subscription: NOT_FOUND', 'an unknown coupon');
SELECT throws_ok(format($$SELECT jobspy.subscribe(%L, 'ri-basic-m', coupon => 'RI-SOON')$$, :'c8'), 'JS508',
                 'coupon "RI-SOON" cannot be applied to this subscription: EXPIRED', 'an expired coupon');
SELECT throws_ok(format($$SELECT jobspy.subscribe(%L, 'ri-basic-m', coupon => 'RI-EVER')$$, :'c8'), 'JS508',
                 'coupon "RI-EVER" cannot be applied to this subscription: EXHAUSTED', 'an exhausted coupon');
SELECT throws_ok(format($$SELECT jobspy.subscribe(%L, 'ri-basic-m', coupon => 'RI-EUR')$$, :'c8'), 'JS508',
                 'coupon "RI-EUR" cannot be applied to this subscription: CURRENCY_MISMATCH',
                 'an amount off in another currency');
SELECT throws_ok(format($$SELECT jobspy.subscribe(%L, 'ri-basic-m', coupon => 'RI-PROD')$$, :'c8'), 'JS508',
                 'coupon "RI-PROD" cannot be applied to this subscription: WRONG_PRODUCT', 'a coupon for other products');
SELECT is((SELECT row((SELECT count(*) FROM jobspy.subscriptions) - subs,
                      (SELECT count(*) FROM jobspy.loyalty_coupon_redemptions) - reds,
                      (SELECT sum(times_redeemed) FROM jobspy.loyalty_coupons) - times)::text FROM before),
          '(0,0,0)', 'no subscription, redemption or count was left by a refusal');
SELECT is((SELECT count(*) FROM jobspy.subscriptions WHERE customer_id = :'c8'), 0::bigint,
          'the customer has no subscription');
SELECT lives_ok(format($$SELECT jobspy.subscribe(%L, 'ri-basic-eur', coupon => 'RI-EUR')$$, :'c8'),
                'the same coupon applies to a price of its currency');

-- ---- always_invoice: a change's prorations invoiced at once ---------------------
SELECT set_config('jobspy.clock_override', '2031-01-31 10:00:00+00', true);
INSERT INTO jobspy.users (id, email) VALUES ('b7000000-0000-4000-8000-000000000010', 'ri10@example.com');
SELECT jobspy.create_customer('b7000000-0000-4000-8000-000000000010') AS c10 \gset
SELECT jobspy.add_payment_method(:'c10', 'card', '4242', 'visa', 12, 2040);
SELECT jobspy.subscribe(:'c10', 'ri-basic-m') AS s10 \gset
SELECT set_config('jobspy.clock_override', '2031-02-15 10:00:00+00', true);
SELECT throws_ok(format($$SELECT jobspy.change_subscription(%L, 'ri-pro-m', 'sometimes')$$, :'s10'), '22023', NULL,
                 'an unknown proration behaviour');
SELECT jobspy.change_subscription(:'s10', 'ri-pro-m', 'always_invoice');
SELECT is((SELECT row(billing_reason, period_start, period_end, status, amount_cents, amount_due_cents)::text
             FROM jobspy.invoices WHERE subscription_id = :'s10' AND billing_reason = 'subscription_update'),
          row('subscription_update', '2031-02-15 10:00:00+00'::timestamptz, '2031-02-28 10:00:00+00'::timestamptz,
              'open', 975, 975)::text,
          'always_invoice: the prorations (-464 + 1439) are invoiced now, for the rest of the period');
SELECT is((SELECT count(*) FROM jobspy.pending_invoice_items WHERE subscription_id = :'s10' AND invoice_id IS NULL),
          0::bigint, 'nothing is left pending');
SELECT pg_temp.travel('2031-02-28 10:00:00+00');
SELECT is((SELECT amount_cents FROM jobspy.invoices WHERE subscription_id = :'s10' AND period_start = '2031-02-28 10:00:00+00'),
          3100::bigint, 'the renewal bills the new price alone');

-- ---- a resume after the paused period invoices the new cycle -------------------
SELECT set_config('jobspy.clock_override', '2031-03-05 10:00:00+00', true);
SELECT jobspy.pause_subscription(:'s10');
SELECT set_config('jobspy.clock_override', '2031-04-10 10:00:00+00', true);
SELECT jobspy.resume_subscription(:'s10');
SELECT is((SELECT row(billing_reason, period_end, amount_cents)::text FROM jobspy.invoices
            WHERE subscription_id = :'s10' AND period_start = '2031-04-10 10:00:00+00'),
          row('subscription_cycle', '2031-05-10 10:00:00+00'::timestamptz, 3100)::text,
          'resumed after its period ended: the new cycle is invoiced at once');

-- ---- a provider's subscription is renewed by the provider, not here ---------
SELECT set_config('jobspy.clock_override', '2031-01-31 10:00:00+00', true);
INSERT INTO jobspy.subscriptions (user_id, customer_id, price_id, status, current_period_start, current_period_end,
                                  billing_cycle_anchor, stripe_subscription_id)
VALUES ('b7000000-0000-4000-8000-000000000009', jobspy.create_customer('b7000000-0000-4000-8000-000000000009'),
        (SELECT id FROM jobspy.prices WHERE code = 'ri-basic-m'), 'active', '2031-01-31 10:00:00+00',
        '2031-02-28 10:00:00+00', '2031-01-31 10:00:00+00', 'sub_ri_stripe');
SELECT pg_temp.travel('2031-03-01 10:00:00+00');
SELECT is((SELECT row(s.current_period_end, (SELECT count(*) FROM jobspy.invoices i WHERE i.subscription_id = s.id))::text
             FROM jobspy.subscriptions s WHERE s.stripe_subscription_id = 'sub_ri_stripe'),
          row('2031-02-28 10:00:00+00'::timestamptz, 0)::text, 'a Stripe subscription is neither rolled nor invoiced here');

-- ---- invoices' renewal columns are frozen with the rest ----------------------
SELECT throws_ok(format($$UPDATE jobspy.invoices SET period_start = period_start - interval '1 day'
                          WHERE subscription_id = %L$$, :'s1'), 'JS507', NULL,
                 'a finalized invoice''s period never changes');
SELECT throws_ok(format($$INSERT INTO jobspy.invoices (customer_id, series, currency, billing_reason)
                          VALUES (%L, 'default', 'USD', 'subscription_cycle')$$, :'c1'), '23514', NULL,
                 'a renewal invoice names its subscription and period');

-- A coupon's months are counted in UTC, whatever the time zone of the
-- session that renews: one month from Jan 31 discounts only the first
-- invoice, also when renewals run from New York.
INSERT INTO jobspy.users (id, email) VALUES ('b7000000-0000-4000-8000-000000000019', 'ri19@example.com');
SELECT jobspy.create_customer('b7000000-0000-4000-8000-000000000019') AS c9 \gset
SELECT jobspy.add_payment_method(:'c9', 'card', '4242', 'visa', 12, 2040);
SELECT set_config('jobspy.clock_override', '2032-01-31 02:00:00+00', true);
SELECT jobspy.create_coupon('RI-MONTH', amount_off => 300, currency => 'USD', duration => 'repeating', duration_months => 1);
SELECT jobspy.subscribe(:'c9', 'ri-basic-m', coupon => 'RI-MONTH') AS s9 \gset
SET LOCAL TimeZone = 'America/New_York';
SELECT pg_temp.travel('2032-02-29 02:00:00+00');
SET LOCAL TimeZone = 'UTC';
SELECT results_eq(format($$SELECT discount_cents FROM jobspy.invoices WHERE subscription_id = %L ORDER BY period_start$$, :'s9'),
                  'VALUES (300::bigint), (0::bigint)', 'repeating 1 month: the second invoice is not discounted, in any time zone');
SELECT throws_ok($$SELECT jobspy.create_coupon('RI-HUGE', percent_off => 10, duration => 'repeating', duration_months => 2000000000)$$,
                 '22023', NULL, 'a coupon repeats for at most 1200 months');

SELECT * FROM finish();
ROLLBACK;
