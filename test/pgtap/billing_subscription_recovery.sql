-- Subscriptions at the edges of dunning: a paid-up unpaid subscription
-- comes back in a cycle that starts now, or stays as it is when another
-- subscription holds its plan (the payment is recorded all the same); an
-- unpaid one set to cancel at period end is canceled; a late renewal run
-- counts retries from the failure.  Months of quotas follow the billing
-- anchor; trials and retries count days of 24 hours; hostile amounts,
-- dates, reasons and schedules give 22023.
BEGIN;
SELECT plan(31);
SET LOCAL TimeZone = 'UTC';

\ir include/billing_clock.psql
-- Pays every open invoice of a subscription, oldest first.
CREATE FUNCTION pg_temp.pay_all(sid uuid) RETURNS bigint LANGUAGE sql AS $$
    SELECT count(jobspy.record_payment('stripe', 'ch_' || i.id, i.customer_id, i.amount_due_cents, i.currency,
                                       'succeeded', invoice_id => i.id))
      FROM (SELECT * FROM jobspy.invoices WHERE subscription_id = sid AND status = 'open' ORDER BY created_at, id) i
$$;

SELECT set_config('jobspy.clock_override', '2031-03-10 00:00:00+00', true);
INSERT INTO jobspy.users (id, email) SELECT ('b6000000-0000-4000-8000-00000000000' || n)::uuid, 'rc' || n || '@example.com'
  FROM generate_series(1, 6) n;
CREATE FUNCTION pg_temp.cust(n integer) RETURNS uuid LANGUAGE sql AS $$
    SELECT id FROM jobspy.customers WHERE user_id = ('b6000000-0000-4000-8000-00000000000' || n)::uuid
$$;
SELECT jobspy.create_customer(('b6000000-0000-4000-8000-00000000000' || n)::uuid) FROM generate_series(1, 6) n;
SELECT jobspy.create_provider('stripe', 'Stripe');
SELECT jobspy.create_plan('rc-basic', 'Basic');
SELECT jobspy.create_plan('rc-pro', 'Pro');
SELECT jobspy.set_plan_quota('rc-basic', 'calls', 'month', 10);
SELECT jobspy.create_product('rc-basic', 'Basic', plan_code => 'rc-basic');
SELECT jobspy.create_product('rc-pro', 'Pro', plan_code => 'rc-pro');
SELECT jobspy.create_product('rc-extra', 'Extra', kind => 'addon');
SELECT jobspy.create_price('rc-basic', 'rc-basic-m', 1000, 'USD', 'month');
SELECT jobspy.create_price('rc-basic', 'rc-basic-w', 300, 'USD', 'week');
SELECT jobspy.create_price('rc-pro', 'rc-pro-m', 3100, 'USD', 'month');
SELECT jobspy.create_price('rc-pro', 'rc-pro-trial', 3100, 'USD', 'month', trial_days => 14);
SELECT jobspy.create_price('rc-extra', 'rc-extra-m', 500, 'USD', 'month');

-- 1. An unpaid subscription paid up while another one holds its plan.
SELECT jobspy.subscribe(pg_temp.cust(1), 'rc-basic-m') AS a \gset
SELECT pg_temp.travel('2031-04-10 00:00:01+00');
SELECT pg_temp.travel('2031-04-18 00:00:00+00');
SELECT is((SELECT status FROM jobspy.subscriptions WHERE id = :'a'), 'unpaid', 'no method and every retry failed: unpaid');
SELECT jobspy.subscribe(pg_temp.cust(1), 'rc-pro-m') AS b \gset
SELECT is(pg_temp.pay_all(:'a'), 2::bigint, 'its open invoices are paid: both payments are recorded');
SELECT is((SELECT count(*) FROM jobspy.invoices WHERE subscription_id = :'a' AND status = 'paid'), 2::bigint,
          'and both invoices are paid');
SELECT is((SELECT status FROM jobspy.subscriptions WHERE id = :'a'), 'unpaid',
          'the subscription stays unpaid: the newer one holds the plan');
SELECT is((SELECT status FROM jobspy.subscriptions WHERE id = :'b'), 'active', 'and the newer one is untouched');
SELECT is((SELECT payload ->> 'reason' FROM jobspy.outbox_events
            WHERE topic = 'billing.subscription.not_recovered' AND entity_id = :'a'::text),
          'another live subscription holds its plan or product', 'billing.subscription.not_recovered says why');

-- 2. Cancel at period end, then unpaid: canceled when the period ends.
SELECT pg_temp.travel('2031-06-01 00:00:00+00');
SELECT jobspy.subscribe(pg_temp.cust(4), 'rc-basic-m', 2) AS m \gset
SELECT pg_temp.travel('2031-07-02 00:00:00+00');
SELECT jobspy.cancel_subscription(:'m', true);
SELECT pg_temp.travel('2032-06-01 00:00:00+00');
SELECT is((SELECT row(status, canceled_at, ended_at)::text FROM jobspy.subscriptions WHERE id = :'m'),
          '(canceled,"2031-08-01 00:00:00+00","2031-08-01 00:00:00+00")',
          'an unpaid subscription set to cancel at period end is canceled at that end');

-- 3. Paid up after its period ended: a cycle from now, retries from the failure.
SELECT pg_temp.travel('2031-06-01 00:00:00+00');
SELECT jobspy.subscribe(pg_temp.cust(3), 'rc-basic-m') AS u \gset
SELECT pg_temp.travel('2031-07-20 00:00:00+00');
SELECT is(pg_temp.sub(:'u'), '(past_due,"2031-07-01 00:00:00+00","2031-08-01 00:00:00+00",0,"2031-07-23 00:00:00+00")',
          'a renewal run 19 days late counts the first retry from its own failure');
SELECT pg_temp.travel('2031-11-15 00:00:00+00');
SELECT is((SELECT status FROM jobspy.subscriptions WHERE id = :'u'), 'unpaid', 'every retry failed: unpaid');
SELECT pg_temp.pay_all(:'u');
SELECT is((SELECT row(status, billing_cycle_anchor, current_period_end)::text FROM jobspy.subscriptions WHERE id = :'u'),
          '(active,"2031-11-15 00:00:00+00","2031-11-15 00:00:00+00")',
          'paid up after its period ended: active in a cycle that starts now');
SELECT pg_temp.travel('2031-11-15 00:00:00+00');
SELECT is(pg_temp.sub(:'u'), '(past_due,"2031-11-15 00:00:00+00","2031-12-15 00:00:00+00",0,"2031-11-18 00:00:00+00")',
          'the next run bills the period from now, not the months it did not pay for');

-- 4. A monthly quota on a weekly price: one window per month from the anchor.
SELECT pg_temp.travel('2032-07-01 00:00:00+00');
SELECT jobspy.add_payment_method(pg_temp.cust(5), 'card', '4242', 'visa', 12, 2040);
SELECT jobspy.subscribe(pg_temp.cust(5), 'rc-basic-w') AS w \gset
SELECT is((SELECT allowed FROM jobspy.consume_quota('b6000000-0000-4000-8000-000000000005', 'calls', 10)), true,
          'ten calls in the first week');
SELECT pg_temp.travel('2032-07-09 00:00:00+00');
SELECT is((SELECT current_period_start FROM jobspy.subscriptions WHERE id = :'w'), '2032-07-08 00:00:00+00'::timestamptz,
          'the weekly period rolled');
SELECT is((SELECT row(allowed, period_start, resets_at)::text
             FROM jobspy.consume_quota('b6000000-0000-4000-8000-000000000005', 'calls', 1)),
          '(f,"2032-07-01 00:00:00+00","2032-08-01 00:00:00+00")',
          'the month still runs from the billing anchor: the eleventh call is refused');

-- 5. Trials and retries count days of 24 hours, whatever the TimeZone.
SELECT pg_temp.travel('2033-03-01 12:00:00+00');
SET LOCAL TimeZone = 'America/New_York';
SELECT jobspy.subscribe(pg_temp.cust(2), 'rc-pro-trial') AS t \gset
SELECT is((SELECT extract(epoch FROM trial_end - trial_start) FROM jobspy.subscriptions WHERE id = :'t'),
          (14 * 86400)::numeric, 'a 14-day trial over a change of clocks is 14 days of 24 hours');
SET LOCAL TimeZone = 'UTC';

-- 6. Hostile input.
SELECT throws_ok(format('SELECT jobspy.cancel_subscription(%L, true, %L)', :'t', repeat('x', 1001)), '22023', NULL,
                 'a cancellation reason over 1000 characters is refused');
SELECT throws_ok(format('SELECT jobspy.cancel_subscription(%L, true, %L)', :'t', ''), '22023', NULL,
                 'an empty cancellation reason is refused');
SELECT throws_ok($$SELECT jobspy.create_price('rc-extra', 'rc-huge', 10000000000000000, 'USD', 'month')$$, '22023', NULL,
                 'a price over 10^15 minor units is refused');
SELECT jobspy.create_price('rc-extra', 'rc-big-m', 1000000000000, 'USD', 'month');
SELECT throws_ok(format('SELECT jobspy.subscribe(%L, %L, 1000000)', pg_temp.cust(6), 'rc-big-m'), '22023', NULL,
                 'a price times a quantity over 10^15 a period is refused');
SELECT jobspy.subscribe(pg_temp.cust(6), 'rc-extra-m', 1000000) AS x \gset
SELECT throws_ok(format('SELECT jobspy.change_subscription(%L, %L)', :'x', 'rc-big-m'), '22023', NULL,
                 'and so is a change to such a price');
SELECT is((SELECT count(*) FROM jobspy.subscriptions WHERE customer_id = pg_temp.cust(6)), 1::bigint,
          'nothing was written by the refused calls');
SELECT throws_ok($$SELECT jobspy.subscription_next_boundary('294270-01-01+00', 'year', 1, '294270-06-01+00')$$, '22023', NULL,
                 'a boundary past the year 99999 is refused, not an overflow');
SELECT throws_ok($$SELECT jobspy.subscription_next_boundary('4713-01-01 00:00:00+00 BC', 'day', 1, '4713-01-01 00:00:00+00 BC')$$,
                 '22023', NULL, 'and one before the year 1');
SELECT throws_ok($$SELECT jobspy.config_set('billing.dunning_retry_days', '"3, 5,7 days"')$$, '22023', NULL,
                 'a retry schedule the renewal run could not read is refused');
SELECT throws_ok($$SELECT jobspy.config_set('billing.dunning_retry_days', '"abc"')$$, '22023', NULL,
                 'so is one that is no numbers at all');
SELECT lives_ok($$SELECT jobspy.config_set('billing.dunning_retry_days', '"7, 3"')$$, 'one out of order is taken');
SELECT is(jobspy.billing_retry_days(), ARRAY[3, 7], 'in ascending order');

-- always_invoice after the period ended, before the renewal: 55000.
SELECT pg_temp.travel('2034-01-01 00:00:00+00');
SELECT jobspy.subscribe(pg_temp.cust(2), 'rc-basic-m') AS ai \gset
SELECT set_config('jobspy.clock_override', '2034-02-03 00:00:00+00', true);
SELECT throws_ok(format('SELECT jobspy.change_subscription(%L, %L, %L)', :'ai', 'rc-pro-m', 'always_invoice'), '55000', NULL,
                 'always_invoice waits for the renewal of an ended period (it raised 23514)');

-- A provider's (Stripe's) subscription follows the provider's events: the
-- local expiry of incomplete ones and the recovery of unpaid ones leave it.
SELECT pg_temp.travel('2035-01-01 00:00:00+00');
INSERT INTO jobspy.subscriptions (user_id, customer_id, status, stripe_subscription_id, plan_interval, price_amount,
                                  price_currency, current_period_start, current_period_end)
VALUES ('b6000000-0000-4000-8000-000000000005', pg_temp.cust(5), 'incomplete', 'sub_mirror_inc', 'month', 100, 'USD',
        '2035-01-01 00:00:00+00', '2035-02-01 00:00:00+00');
SELECT pg_temp.travel('2035-01-03 00:00:00+00');
SELECT is((SELECT status FROM jobspy.subscriptions WHERE stripe_subscription_id = 'sub_mirror_inc'), 'incomplete',
          'a Stripe subscription is not expired locally');
SELECT jobspy.subscribe(pg_temp.cust(6), 'rc-pro-m') AS st \gset
SELECT pg_temp.travel('2035-02-03 00:00:00+00');
SELECT pg_temp.travel('2035-02-12 00:00:00+00');
UPDATE jobspy.subscriptions SET stripe_subscription_id = 'sub_mirror_unpaid' WHERE id = :'st';
SELECT is((SELECT status FROM jobspy.subscriptions WHERE id = :'st'), 'unpaid', 'a subscription left unpaid');
SELECT pg_temp.pay_all(:'st');
SELECT is((SELECT row(status, billing_cycle_anchor)::text FROM jobspy.subscriptions WHERE id = :'st'),
          row('unpaid', '2035-01-03 00:00:00+00'::timestamptz)::text,
          'once Stripe''s, paying its invoices leaves its status and cycle to Stripe''s events');

SELECT * FROM finish();
ROLLBACK;
