-- The billing and loyalty reports on known data: MRR movements and churn
-- over four months of subscriptions, revenue net of refunds by the plan at
-- payment, lifetime value, users and subscriptions by plan, RFM segments,
-- cross-promotion conversions; and what the analyst may read.
BEGIN;
SELECT plan(32);

-- Monthly amounts: numeric arithmetic, one rounding.
SELECT is(jobspy.monthly_amount(24000, 1, 0, 'year', 1), 2000::bigint, 'a year is 12 months');
SELECT is(jobspy.monthly_amount(1000, 1, 0, 'week', 1), 4333::bigint, 'a week is 52/12 of a month, rounded');
SELECT is(jobspy.monthly_amount(100, 1, 0, 'day', 1), 3042::bigint, 'a day is 365/12 of a month, rounded half up');
SELECT is(jobspy.monthly_amount(999, 1, 10, 'month', 1), 899::bigint, 'a discount applies before rounding');
SELECT is(jobspy.monthly_amount(3000, 2, 0, 'month', 3), 2000::bigint, 'quantity times amount over a 3-month interval');
SELECT is(jobspy.monthly_amount(500, 1, 0, NULL, 1), NULL, 'a one-time amount has no monthly value');

INSERT INTO jobspy.users (id, email, created_at) VALUES
    ('a2000000-0000-4000-8000-00000000000a', 'mrr-a@example.com', '2030-12-01 00:00+00'),
    ('a2000000-0000-4000-8000-00000000000b', 'mrr-b@example.com', '2030-12-02 00:00+00'),
    ('a2000000-0000-4000-8000-00000000000c', 'mrr-c@example.com', '2030-12-03 00:00+00'),
    ('a2000000-0000-4000-8000-00000000000d', 'mrr-d@example.com', '2030-12-04 00:00+00'),
    ('a2000000-0000-4000-8000-00000000000e', 'mrr-e@example.com', '2030-12-05 00:00+00');
SET LOCAL jobspy.clock_override = '2031-01-05 09:00:00+00';
SELECT jobspy.create_plan('rep-basic', 'Basic');
SELECT jobspy.create_plan('rep-pro', 'Pro');
SELECT jobspy.create_product('rep-basic', 'Basic', plan_code => 'rep-basic');
SELECT jobspy.create_product('rep-pro', 'Pro', plan_code => 'rep-pro');
SELECT jobspy.create_price('rep-basic', 'rep-basic-m', 1000, 'USD', 'month');
SELECT jobspy.create_price('rep-basic', 'rep-cheap-m', 500, 'USD', 'month');
SELECT jobspy.create_price('rep-basic', 'rep-basic-eur', 900, 'EUR', 'month');
SELECT jobspy.create_price('rep-pro', 'rep-pro-m', 3000, 'USD', 'month');
SELECT jobspy.create_price('rep-pro', 'rep-pro-y', 24000, 'USD', 'year');
SELECT jobspy.create_customer('a2000000-0000-4000-8000-00000000000a', currency => 'USD') AS ca \gset
SELECT jobspy.create_customer('a2000000-0000-4000-8000-00000000000b', currency => 'USD') AS cb \gset
SELECT jobspy.create_customer('a2000000-0000-4000-8000-00000000000c', currency => 'USD') AS cc \gset
SELECT jobspy.create_customer('a2000000-0000-4000-8000-00000000000d', currency => 'EUR') AS cd \gset

-- January: A on basic (1000 a month), B on pro yearly (2000 a month); both paid.
SELECT jobspy.subscribe(:'ca', 'rep-basic-m') AS sa \gset
SELECT jobspy.subscribe(:'cb', 'rep-pro-y') AS sb \gset
INSERT INTO jobspy.payments (user_id, subscription_id, stripe_payment_intent_id, amount_cents, currency, status,
                             refunded_amount_cents) VALUES
    ('a2000000-0000-4000-8000-00000000000a', :'sa', 'pi_rep_a1', 1000, 'USD', 'succeeded', 0),
    ('a2000000-0000-4000-8000-00000000000b', :'sb', 'pi_rep_b1', 24000, 'USD', 'refunded', 24000);
-- February: A upgrades to pro (expansion), C joins with two seats of basic (new).
SET LOCAL jobspy.clock_override = '2031-02-10 09:00:00+00';
SELECT jobspy.change_subscription(:'sa', 'rep-pro-m', 'none');
SELECT jobspy.subscribe(:'cc', 'rep-basic-m', 2) AS sc \gset
INSERT INTO jobspy.payments (user_id, subscription_id, stripe_payment_intent_id, amount_cents, currency, status,
                             refunded_amount_cents) VALUES
    ('a2000000-0000-4000-8000-00000000000a', :'sa', 'pi_rep_a2', 3000, 'USD', 'succeeded', 500),
    ('a2000000-0000-4000-8000-00000000000c', :'sc', 'pi_rep_c1', 2000, 'USD', 'succeeded', 0),
    ('a2000000-0000-4000-8000-00000000000c', :'sc', 'pi_rep_c2', 2000, 'USD', 'failed', 0);
-- March: B cancels at once (churn), C moves to the cheaper price (contraction);
-- E pays once without a subscription.
SET LOCAL jobspy.clock_override = '2031-03-15 09:00:00+00';
SELECT jobspy.cancel_subscription(:'sb', false);
SELECT jobspy.change_subscription(:'sc', 'rep-cheap-m', 'none');
INSERT INTO jobspy.payments (user_id, stripe_payment_intent_id, amount_cents, currency, status) VALUES
    ('a2000000-0000-4000-8000-00000000000e', 'pi_rep_e1', 700, 'USD', 'succeeded');
-- April: B comes back on basic (reactivation); D starts in euros (new).
SET LOCAL jobspy.clock_override = '2031-04-20 09:00:00+00';
SELECT jobspy.subscribe(:'cb', 'rep-basic-m') AS sb2 \gset
SELECT jobspy.subscribe(:'cd', 'rep-basic-eur') AS sd \gset
INSERT INTO jobspy.payments (user_id, subscription_id, stripe_payment_intent_id, amount_cents, currency, status) VALUES
    ('a2000000-0000-4000-8000-00000000000d', :'sd', 'pi_rep_d1', 900, 'EUR', 'succeeded');
SET LOCAL jobspy.clock_override = '2031-04-25 09:00:00+00';

-- MRR with movements, per month and currency.
SELECT results_eq(
    $$SELECT to_char(month AT TIME ZONE 'UTC', 'YYYY-MM'), currency, mrr, arr, customers, new_mrr, expansion_mrr,
             contraction_mrr, churned_mrr, reactivation_mrr, new_customers, churned_customers, reactivated_customers
        FROM jobspy.mrr_monthly ORDER BY 1, 2$$,
    $$VALUES ('2031-01', 'USD', 3000::bigint, 36000::bigint, 2::bigint, 3000::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 2::bigint, 0::bigint, 0::bigint),
             ('2031-02', 'USD', 7000, 84000, 3, 2000, 2000, 0, 0, 0, 1, 0, 0),
             ('2031-03', 'USD', 4000, 48000, 2, 0, 0, 1000, 2000, 0, 0, 1, 0),
             ('2031-04', 'EUR', 900, 10800, 1, 900, 0, 0, 0, 0, 1, 0, 0),
             ('2031-04', 'USD', 5000, 60000, 3, 0, 0, 0, 0, 1000, 0, 0, 1)$$,
    'MRR, ARR and the movements of each month: new, expansion, contraction, churn, reactivation');
SELECT is((SELECT count(*) FROM (
              SELECT mrr - coalesce(lag(mrr) OVER (PARTITION BY currency ORDER BY month), 0)
                     - (new_mrr + expansion_mrr + reactivation_mrr - contraction_mrr - churned_mrr) AS gap
                FROM jobspy.mrr_monthly) g WHERE gap <> 0), 0::bigint,
          'each month''s MRR is the month before''s plus its movements');
SELECT results_eq(
    $$SELECT to_char(month AT TIME ZONE 'UTC', 'YYYY-MM'), customer_churn_rate, mrr_churn_rate
        FROM jobspy.mrr_monthly WHERE currency = 'USD' ORDER BY 1$$,
    $$VALUES ('2031-01', NULL::numeric, NULL::numeric), ('2031-02', 0.0000, 0.0000),
             ('2031-03', 0.3333, 0.4286), ('2031-04', 0.0000, 0.0000)$$,
    'churn rates: churned customers over last month''s, churned and contracted MRR over last month''s');
SELECT is((SELECT mrr FROM jobspy.customer_mrr_monthly
            WHERE customer_id = :'cb' AND month = '2031-02-01 00:00+00'), 2000::bigint,
          'a yearly price counts a twelfth each month it runs');
SELECT is((SELECT count(*) FROM jobspy.customer_mrr_monthly WHERE customer_id = :'cb' AND month = '2031-03-01 00:00+00'),
          0::bigint, 'a month ending without MRR has no row');

-- A trial counts nothing until it becomes active.
SET LOCAL jobspy.clock_override = '2031-04-25 10:00:00+00';
INSERT INTO jobspy.users (id, email) VALUES ('a2000000-0000-4000-8000-0000000000f1', 'mrr-f@example.com');
SELECT jobspy.create_customer('a2000000-0000-4000-8000-0000000000f1', currency => 'USD') AS cf \gset
SELECT jobspy.subscribe(:'cf', 'rep-pro-m', trial_days => 14) AS sf \gset
SELECT is((SELECT mrr FROM jobspy.mrr_monthly WHERE currency = 'USD' AND month = '2031-04-01 00:00+00'), 5000::bigint,
          'a trial adds no MRR');
SELECT is((SELECT count(*) FROM jobspy.subscription_mrr_changes WHERE subscription_id = :'sf'), 0::bigint,
          'and leaves no MRR history');

-- Revenue net of refunds, by the plan at payment.
SELECT results_eq(
    $$SELECT to_char(month AT TIME ZONE 'UTC', 'YYYY-MM'), plan_type, currency, transaction_count, unique_customers,
             gross_revenue_cents, refunded_cents, net_revenue_cents
        FROM jobspy.revenue_monthly ORDER BY 1, 2, 3$$,
    $$VALUES ('2031-01', 'rep-basic', 'USD', 1::bigint, 1::bigint, 1000::bigint, 0::bigint, 1000::bigint),
             ('2031-01', 'rep-pro', 'USD', 1, 1, 24000, 24000, 0),
             ('2031-02', 'rep-basic', 'USD', 1, 1, 2000, 0, 2000),
             ('2031-02', 'rep-pro', 'USD', 1, 1, 3000, 500, 2500),
             ('2031-03', 'none', 'USD', 1, 1, 700, 0, 700),
             ('2031-04', 'rep-basic', 'EUR', 1, 1, 900, 0, 900)$$,
    'revenue per month, plan at payment and currency; failed payments left out, refunds netted');
SELECT throws_ok($$INSERT INTO jobspy.payments (user_id, stripe_payment_intent_id, amount_cents, currency, status)
                   VALUES ('a2000000-0000-4000-8000-00000000000e', 'pi_rep_e1', 700, 'USD', 'succeeded')$$,
                 '23505', NULL, 'a replayed payment is refused');
SELECT is((SELECT sum(net_revenue_cents) FROM jobspy.revenue_monthly WHERE currency = 'USD'), 6200::numeric,
          'and counted once');

-- Lifetime value.
SELECT results_eq(
    $$SELECT user_id::text, currency, payment_count, total_spent_cents, refunded_cents, lifetime_value_cents,
             to_char(first_payment_at AT TIME ZONE 'UTC', 'MM-DD'), to_char(last_payment_at AT TIME ZONE 'UTC', 'MM-DD'),
             to_char(signup_date AT TIME ZONE 'UTC', 'MM-DD')
        FROM jobspy.customer_lifetime_value WHERE user_id::text LIKE 'a2000000%' ORDER BY 1$$,
    $$VALUES ('a2000000-0000-4000-8000-00000000000a', 'USD', 2::bigint, 4000::bigint, 500::bigint, 3500::bigint, '01-05', '02-10', '12-01'),
             ('a2000000-0000-4000-8000-00000000000b', 'USD', 1, 24000, 24000, 0, '01-05', '01-05', '12-02'),
             ('a2000000-0000-4000-8000-00000000000c', 'USD', 1, 2000, 0, 2000, '02-10', '02-10', '12-03'),
             ('a2000000-0000-4000-8000-00000000000d', 'EUR', 1, 900, 0, 900, '04-20', '04-20', '12-04'),
             ('a2000000-0000-4000-8000-00000000000e', 'USD', 1, 700, 0, 700, '03-15', '03-15', '12-05')$$,
    'one row per paying user and currency: payments, gross, refunded, net to date');

-- Subscriptions and users by plan.
SELECT results_eq(
    $$SELECT plan_code, currency, subscription_count, user_count, mrr FROM jobspy.subscriptions_by_plan
       WHERE plan_code LIKE 'rep-%' ORDER BY 1, 2$$,
    $$VALUES ('rep-basic', 'EUR', 1::bigint, 1::bigint, 900::bigint), ('rep-basic', 'USD', 2, 2, 2000),
             ('rep-pro', 'USD', 1, 1, 3000)$$,
    'active subscriptions per plan and currency, with their MRR (the trial is not active)');
SELECT jobspy.set_user_plan('a2000000-0000-4000-8000-00000000000e', 'rep-pro');
SELECT results_eq(
    $$SELECT plan_code, users FROM jobspy.users_by_plan WHERE plan_code LIKE 'rep-%' ORDER BY 1$$,
    $$VALUES ('rep-basic', 3::bigint), ('rep-pro', 3::bigint)$$,
    'active users per plan in force: subscriptions (the trial too), then the plan set for a user');
UPDATE jobspy.users SET status = 'suspended' WHERE id = 'a2000000-0000-4000-8000-00000000000e';
SELECT is((SELECT users FROM jobspy.users_by_plan WHERE plan_code = 'rep-pro'), 2::bigint, 'inactive users are left out');

-- The history behind the reports.
SELECT is((SELECT count(*) FROM jobspy.subscription_mrr_changes WHERE subscription_id = :'sb'), 2::bigint,
          'B''s subscription: started, canceled');
SELECT is((SELECT string_agg(plan_type || ':' || mrr, ',' ORDER BY changed_at, id) FROM jobspy.subscription_mrr_changes
            WHERE subscription_id = :'sa'), 'rep-basic:1000,rep-pro:3000', 'A''s subscription: basic, then pro');

-- RFM segments and cross-promotion conversions (loyalty).
DO $$
BEGIN
    PERFORM jobspy.create_business('rep-cafe', 'Cafe');
    PERFORM jobspy.create_business('rep-gym', 'Gym');
    PERFORM jobspy.create_promo_chain('rep-cafe', 'rep-gym', percent_off => 15, min_amount => 1000);
    PERFORM jobspy.record_purchase('rep-cafe', 'rp-1', 'a2000000-0000-4000-8000-00000000000c', 1500, 'USD');
    PERFORM jobspy.record_purchase('rep-cafe', 'rp-2', 'a2000000-0000-4000-8000-00000000000d', 2500, 'USD');
    PERFORM jobspy.record_purchase('rep-gym', 'rp-3', 'a2000000-0000-4000-8000-00000000000c', 1000, 'USD',
                                   (SELECT code FROM jobspy.loyalty_coupons
                                     WHERE user_id = 'a2000000-0000-4000-8000-00000000000c' AND chain_id IS NOT NULL));
    PERFORM jobspy.loyalty_rfm_snapshot('2031-04-25');
END
$$;
SELECT results_eq(
    $$SELECT to_char(date, 'YYYY-MM-DD'), source_business, target_business, triggers, conversions, conversion_rate
        FROM jobspy.cross_promo_conversions WHERE source_business = 'rep-cafe'$$,
    $$VALUES ('2031-04-25', 'rep-cafe', 'rep-gym', 2, 1, 0.5000)$$,
    'two coupons issued from the cafe to the gym, one converted');
SELECT results_eq(
    $$SELECT business_code, user_id::text, frequency, monetary FROM jobspy.rfm_segments
       WHERE snapshot_date = '2031-04-25' AND business_code LIKE 'rep-%' ORDER BY 1, 2$$,
    $$VALUES ('rep-cafe', 'a2000000-0000-4000-8000-00000000000c', 1, 1500::bigint),
             ('rep-cafe', 'a2000000-0000-4000-8000-00000000000d', 1, 2500::bigint),
             ('rep-gym', 'a2000000-0000-4000-8000-00000000000c', 1, 1000::bigint)$$,
    'the day''s RFM snapshot by business code');
SELECT is((SELECT count(*) FROM jobspy.rfm_segments WHERE segment = jobspy.rfm_segment(r_score, f_score, m_score)),
          (SELECT count(*) FROM jobspy.loyalty_rfm_snapshots), 'every snapshot row, with the segment of its scores');

-- Access: the analyst reads every report and no base table.
SET LOCAL ROLE jobspy_analyst;
SELECT lives_ok($$SELECT FROM jobspy.mrr_monthly, jobspy.customer_mrr_monthly, jobspy.revenue_monthly,
                    jobspy.customer_lifetime_value, jobspy.users_by_plan, jobspy.subscriptions_by_plan,
                    jobspy.rfm_segments, jobspy.cross_promo_conversions LIMIT 1$$, 'the analyst reads the reports');
SELECT is((SELECT sum(mrr) FROM jobspy.mrr_monthly WHERE month = '2031-04-01 00:00+00'), 5900::numeric,
          'and sees the same numbers');
SELECT throws_ok($$SELECT FROM jobspy.payments$$, '42501', NULL, 'but not payments');
SELECT throws_ok($$SELECT FROM jobspy.subscription_mrr_changes$$, '42501', NULL, 'nor the MRR history');
RESET ROLE;
SET LOCAL ROLE jobspy_app;
SELECT throws_ok($$SELECT FROM jobspy.mrr_monthly$$, '42501', NULL, 'the application does not read reports');
SELECT throws_ok($$INSERT INTO jobspy.subscription_mrr_changes (subscription_id, customer_id, currency, mrr, changed_at)
                   VALUES (gen_random_uuid(), gen_random_uuid(), 'USD', 1, now())$$,
                 '42501', NULL, 'nor writes the MRR history');
RESET ROLE;

-- Deleting a live subscription ends its MRR.
DELETE FROM jobspy.payments WHERE subscription_id = :'sd';
-- (its finalized invoices go too, past the trigger that keeps them)
ALTER TABLE jobspy.invoices DISABLE TRIGGER invoices_keep_finalized;
DELETE FROM jobspy.invoices WHERE subscription_id = :'sd';
ALTER TABLE jobspy.invoices ENABLE TRIGGER invoices_keep_finalized;
DELETE FROM jobspy.subscriptions WHERE id = :'sd';
SELECT is((SELECT mrr FROM jobspy.subscription_mrr_changes WHERE subscription_id = :'sd' ORDER BY id DESC LIMIT 1),
          0::bigint, 'a deleted subscription''s MRR drops to 0');

SELECT * FROM finish();
ROLLBACK;
