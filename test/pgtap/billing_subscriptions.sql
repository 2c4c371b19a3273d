-- subscribe, change_subscription, cancel, pause and resume; the plan in
-- force follows the product; bad input leaves nothing behind; the app role
-- changes subscriptions only through the functions.
BEGIN;
SELECT plan(52);

SET LOCAL jobspy.clock_override = '2031-03-10 00:00:00+00';
INSERT INTO jobspy.users (id, email) VALUES
    ('b4000000-0000-4000-8000-000000000001', 's1@example.com'),
    ('b4000000-0000-4000-8000-000000000002', 's2@example.com');
SELECT jobspy.create_plan('sub-basic', 'Basic');
SELECT jobspy.create_plan('sub-pro', 'Pro');
SELECT jobspy.set_plan_quota('sub-basic', 'calls', 'day', 10);
SELECT jobspy.set_plan_quota('sub-pro', 'calls', 'day', 100);
SELECT jobspy.create_product('basic', 'Basic', plan_code => 'sub-basic');
SELECT jobspy.create_product('pro', 'Pro', plan_code => 'sub-pro');
SELECT jobspy.create_product('extra', 'Extra storage', 'addon');
SELECT jobspy.create_product('once', 'Once', 'one_time');
SELECT jobspy.create_price('basic', 'basic-m', 1000, 'USD', 'month');
SELECT jobspy.create_price('pro', 'pro-m', 3100, 'USD', 'month');
SELECT jobspy.create_price('pro', 'pro-y', 30000, 'USD', 'year');
SELECT jobspy.create_price('pro', 'pro-eur', 2900, 'EUR', 'month');
SELECT jobspy.create_price('pro', 'pro-trial', 3100, 'USD', 'month', trial_days => 14);
SELECT jobspy.create_price('extra', 'extra-m', 500, 'USD', 'month');
SELECT jobspy.create_price('once', 'once-1', 500, 'USD');
SELECT jobspy.create_customer('b4000000-0000-4000-8000-000000000001', currency => 'USD') AS c1 \gset
SELECT jobspy.create_customer('b4000000-0000-4000-8000-000000000002') AS c2 \gset

-- Bad input: a clear SQLSTATE and no row.
SELECT throws_ok(format($$SELECT jobspy.subscribe(%L, NULL)$$, :'c1'), '22023', NULL, 'NULL price');
SELECT throws_ok($$SELECT jobspy.subscribe(NULL, 'basic-m')$$, '22023', NULL, 'NULL customer');
SELECT throws_ok(format($$SELECT jobspy.subscribe(%L, 'nope')$$, :'c1'), '22023', NULL, 'an unknown price');
SELECT throws_ok(format($$SELECT jobspy.subscribe(%L, 'once-1')$$, :'c1'), '22023', NULL, 'a one-time price');
SELECT throws_ok(format($$SELECT jobspy.subscribe(%L, 'basic-m', 0)$$, :'c1'), '22023', NULL, 'quantity 0');
SELECT throws_ok(format($$SELECT jobspy.subscribe(%L, 'basic-m', trial_days => -1)$$, :'c1'), '22023', NULL,
                 'negative trial days');
SELECT throws_ok(format($$SELECT jobspy.subscribe(%L, 'pro-eur')$$, :'c1'), 'JS501', NULL,
                 'a price in another currency than the customer''s');
SELECT throws_ok(format($$SELECT jobspy.subscribe(%L, 'basic-m', coupon => 'SAVE10')$$, :'c1'), 'JS508',
                 'coupon "SAVE10" cannot be applied to this subscription: NOT_FOUND',
                 'an unknown coupon is refused, naming why');
SELECT throws_ok($$SELECT jobspy.subscribe(gen_random_uuid(), 'basic-m')$$, '22023', NULL, 'an unknown customer');
SELECT is((SELECT count(*) FROM jobspy.subscriptions), 0::bigint, 'no subscription row was left');

-- subscribe.
SELECT jobspy.subscribe(:'c1', 'basic-m') AS s1 \gset
SELECT is((SELECT row(status, current_period_start, current_period_end, plan_type, product_id IS NOT NULL)::text
             FROM jobspy.subscriptions WHERE id = :'s1'),
          '(active,"2031-03-10 00:00:00+00","2031-04-10 00:00:00+00",sub-basic,t)',
          'no trial: active for one month, the product''s plan as plan_type');
SELECT is((SELECT row(plan_code, source)::text FROM jobspy.plan_in_force('b4000000-0000-4000-8000-000000000001')),
          '(sub-basic,subscription)', 'the product''s plan is in force at once');
SELECT is((SELECT quota_limit FROM jobspy.quota_status('b4000000-0000-4000-8000-000000000001', 'calls')), 10::bigint,
          'and its quotas');
SELECT throws_ok(format($$SELECT jobspy.subscribe(%L, 'basic-m')$$, :'c1'), '23505', NULL,
                 'one live subscription per customer and product');
SELECT throws_ok(format($$SELECT jobspy.subscribe(%L, 'pro-m')$$, :'c1'), '23505', NULL,
                 'one live subscription granting a plan per user');
SELECT jobspy.subscribe(:'c1', 'extra-m', 3) AS s_extra \gset
SELECT is((SELECT row(status, plan_type, quantity)::text FROM jobspy.subscriptions WHERE id = :'s_extra'),
          '(active,,3)', 'an addon beside the plan grants no plan');
SELECT is((SELECT plan_code FROM jobspy.plan_in_force('b4000000-0000-4000-8000-000000000001')), 'sub-basic',
          'the addon does not hide the plan');
SELECT is((SELECT p.code FROM jobspy.plans p
            WHERE p.id = (jobspy.quota_lookup('b4000000-0000-4000-8000-000000000001', 'calls', jobspy.now())).plan_id),
          'sub-basic', 'nor does it in the C lookup');
SELECT jobspy.subscribe(:'c2', 'pro-trial') AS s2 \gset
SELECT is((SELECT row(status, trial_start, trial_end, current_period_end)::text FROM jobspy.subscriptions WHERE id = :'s2'),
          '(trialing,"2031-03-10 00:00:00+00","2031-03-24 00:00:00+00","2031-03-24 00:00:00+00")',
          'the price''s trial days: trialing until the trial ends');
SELECT is((SELECT plan_code FROM jobspy.plan_in_force('b4000000-0000-4000-8000-000000000002')), 'sub-pro',
          'a trial grants the plan');

-- change_subscription: an upgrade ten days into a 31-day period.
SET LOCAL jobspy.clock_override = '2031-03-20 00:00:00+00';
SELECT jobspy.change_subscription(:'s1', 'pro-m');
SELECT is((SELECT row(plan_type, current_period_start, current_period_end)::text FROM jobspy.subscriptions WHERE id = :'s1'),
          '(sub-pro,"2031-03-10 00:00:00+00","2031-04-10 00:00:00+00")', 'the period is kept, the plan changes');
SELECT is((SELECT quota_limit FROM jobspy.quota_status('b4000000-0000-4000-8000-000000000001', 'calls')), 100::bigint,
          'the new plan''s quotas apply at once');
SELECT results_eq(format($$SELECT description, amount, currency FROM jobspy.pending_invoice_items
                            WHERE subscription_id = %L ORDER BY amount$$, :'s1'),
                  $$VALUES ('unused time on basic-m', -677::bigint, 'USD'), ('remaining time on pro-m', 2100::bigint, 'USD')$$,
                  'prorations by the second: 21 of 31 days of each price (-677.42 rounds to -677, 2100 exactly)');
SELECT throws_ok(format($$SELECT jobspy.change_subscription(%L, 'pro-eur')$$, :'s1'), 'JS501', NULL,
                 'no change to another currency');
SELECT throws_ok(format($$SELECT jobspy.change_subscription(%L, 'basic-m', 'sometimes')$$, :'s1'), '22023', NULL,
                 'an unknown proration behaviour');
SELECT throws_ok(format($$SELECT jobspy.change_subscription(%L, 'nope')$$, :'s1'), '22023', NULL, 'an unknown price');
SELECT throws_ok($$SELECT jobspy.change_subscription(gen_random_uuid(), 'basic-m')$$, '22023', NULL,
                 'an unknown subscription');
SELECT is((SELECT count(*) FROM jobspy.pending_invoice_items), 2::bigint, 'refused changes added no item');
SELECT jobspy.change_subscription(:'s1', 'basic-m', 'none');
SELECT is((SELECT count(*) FROM jobspy.pending_invoice_items), 2::bigint, 'proration none adds nothing');
SELECT jobspy.change_subscription(:'s1', 'pro-y');
SELECT is((SELECT row(current_period_start, current_period_end, billing_cycle_anchor)::text
             FROM jobspy.subscriptions WHERE id = :'s1'),
          '("2031-03-20 00:00:00+00","2032-03-20 00:00:00+00","2031-03-20 00:00:00+00")',
          'another interval starts a new cycle now');
SELECT is((SELECT amount FROM jobspy.pending_invoice_items WHERE subscription_id = :'s1' AND price_id =
             (SELECT id FROM jobspy.prices WHERE code = 'pro-y')), 30000::bigint,
          'and charges the new interval in full');
SELECT jobspy.change_subscription(:'s2', 'pro-m');
SELECT is((SELECT count(*) FROM jobspy.pending_invoice_items WHERE subscription_id = :'s2'), 0::bigint,
          'nothing is prorated in a trial');

-- pause and resume.
SELECT jobspy.pause_subscription(:'s2');
SELECT is((SELECT status FROM jobspy.subscriptions WHERE id = :'s2'), 'paused', 'a trial is paused');
SELECT is((SELECT source FROM jobspy.plan_in_force('b4000000-0000-4000-8000-000000000002')), NULL,
          'a paused subscription grants no plan');
SELECT throws_ok(format($$SELECT jobspy.pause_subscription(%L)$$, :'s2'), 'JS505', NULL, 'paused twice');
SELECT jobspy.resume_subscription(:'s2');
SELECT is((SELECT status FROM jobspy.subscriptions WHERE id = :'s2'), 'trialing', 'resumed within its trial: trialing');
SELECT throws_ok(format($$SELECT jobspy.resume_subscription(%L)$$, :'s2'), '55000', NULL, 'only a paused one resumes');
SELECT jobspy.pause_subscription(:'s2');
SET LOCAL jobspy.clock_override = '2031-06-01 00:00:00+00';
SELECT jobspy.resume_subscription(:'s2');
SELECT is((SELECT row(status, current_period_start, current_period_end)::text FROM jobspy.subscriptions WHERE id = :'s2'),
          '(active,"2031-06-01 00:00:00+00","2031-07-01 00:00:00+00")',
          'resumed after the trial and its period: active in a new cycle from now');

-- cancel.
SELECT jobspy.cancel_subscription(:'s2', reason => 'too expensive');
SELECT is((SELECT row(status, cancel_at_period_end, cancellation_reason)::text FROM jobspy.subscriptions WHERE id = :'s2'),
          '(active,t,"too expensive")', 'cancel at period end: still active, the reason kept');
SELECT jobspy.cancel_subscription(:'s_extra', false, 'not needed');
SELECT is((SELECT row(status, canceled_at, ended_at)::text FROM jobspy.subscriptions WHERE id = :'s_extra'),
          '(canceled,"2031-06-01 00:00:00+00","2031-06-01 00:00:00+00")', 'cancel now');
SELECT throws_ok(format($$SELECT jobspy.cancel_subscription(%L)$$, :'s_extra'), '55000', NULL, 'canceled twice');
SELECT throws_ok(format($$SELECT jobspy.cancel_subscription(%L, NULL)$$, :'s2'), '22023', NULL, 'NULL at_period_end');
SELECT throws_ok(format($$SELECT jobspy.change_subscription(%L, 'extra-m')$$, :'s_extra'), '55000', NULL,
                 'a canceled subscription does not change');
SELECT lives_ok(format($$SELECT jobspy.subscribe(%L, 'extra-m')$$, :'c1'), 'a canceled one does not block a new one');

-- Seed rows (no price) keep working: their user's customer is found or made.
INSERT INTO jobspy.users (id, email) VALUES ('b4000000-0000-4000-8000-000000000003', 's3@example.com');
INSERT INTO jobspy.subscriptions (user_id, plan_type, status) VALUES ('b4000000-0000-4000-8000-000000000003', 'sub-pro', 'active');
SELECT is((SELECT c.user_id FROM jobspy.subscriptions s JOIN jobspy.customers c ON c.id = s.customer_id
            WHERE s.user_id = 'b4000000-0000-4000-8000-000000000003'),
          'b4000000-0000-4000-8000-000000000003'::uuid, 'a seed-style insert gets its user''s customer');

-- Roles: the app reads, and writes only through the functions.
SET LOCAL ROLE jobspy_app;
SELECT throws_ok($$UPDATE jobspy.subscriptions SET status = 'canceled', canceled_at = now()$$, '42501', NULL,
                 'the app cannot update subscriptions directly');
SELECT throws_ok($$INSERT INTO jobspy.customers (user_id) VALUES ('b4000000-0000-4000-8000-000000000003')$$, '42501', NULL,
                 'nor insert customers');
SELECT lives_ok(format($$SELECT jobspy.pause_subscription(%L)$$, :'s1'), 'it pauses through the function');
SELECT throws_ok($$SELECT jobspy.renew_subscriptions()$$, '42501', NULL, 'renewals are maintenance, not the app''s');
RESET ROLE;
SET LOCAL ROLE jobspy_analyst;
SELECT is((SELECT count(*) FROM jobspy.subscription_overview WHERE product_code = 'pro' AND price_code = 'pro-y'),
          1::bigint, 'the analyst reads subscriptions through subscription_overview');
SELECT throws_ok($$SELECT count(*) FROM jobspy.customers$$, '42501', NULL, 'but not the customers table');
SELECT throws_ok($$SELECT jobspy.pause_subscription(gen_random_uuid())$$, '42501', NULL, 'but changes nothing');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
