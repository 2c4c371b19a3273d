-- Time travel through jobspy.clock_override: one monthly subscription
-- anchored on Jan 31 through two years of renewals, with a failed renewal,
-- dunning and recovery, a mid-period upgrade with proration, a pause and a
-- resume, and a cancellation at period end; then trials and dunning's ends.
BEGIN;
SELECT plan(31);
SET LOCAL TimeZone = 'UTC';

CREATE TEMP TABLE seen (n serial, status text, period_start timestamptz, period_end timestamptz);
-- Travel to the subscription's period end, renew, and note what it became.
CREATE FUNCTION pg_temp.next_period(sid uuid) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('jobspy.clock_override',
                       (SELECT current_period_end FROM jobspy.subscriptions WHERE id = sid)::text, true);
    PERFORM jobspy.renew_subscriptions();
    INSERT INTO seen (status, period_start, period_end)
    SELECT status, current_period_start, current_period_end FROM jobspy.subscriptions WHERE id = sid;
    RETURN (SELECT status FROM jobspy.subscriptions WHERE id = sid);
END
$$;
\ir include/billing_clock.psql

SELECT set_config('jobspy.clock_override', '2031-01-31 10:00:00+00', true);
INSERT INTO jobspy.users (id, email) VALUES
    ('b5000000-0000-4000-8000-000000000001', 'tt1@example.com'),
    ('b5000000-0000-4000-8000-000000000002', 'tt2@example.com'),
    ('b5000000-0000-4000-8000-000000000003', 'tt3@example.com'),
    ('b5000000-0000-4000-8000-000000000004', 'tt4@example.com');
SELECT jobspy.create_plan('tt-basic', 'Basic');
SELECT jobspy.create_plan('tt-pro', 'Pro');
SELECT jobspy.create_product('tt-basic', 'Basic', plan_code => 'tt-basic');
SELECT jobspy.create_product('tt-pro', 'Pro', plan_code => 'tt-pro');
SELECT jobspy.create_price('tt-basic', 'tt-basic-m', 1000, 'USD', 'month');
SELECT jobspy.create_price('tt-pro', 'tt-pro-m', 3100, 'USD', 'month');
SELECT jobspy.create_price('tt-pro', 'tt-pro-trial', 3100, 'USD', 'month', trial_days => 7);
SELECT jobspy.create_customer('b5000000-0000-4000-8000-000000000001') AS c \gset
SELECT jobspy.add_payment_method(:'c', 'card', '4242', 'visa', 12, 2035) AS pm \gset
SELECT jobspy.subscribe(:'c', 'tt-basic-m') AS s \gset
INSERT INTO seen (status, period_start, period_end)
SELECT status, current_period_start, current_period_end FROM jobspy.subscriptions WHERE id = :'s';

-- Four renewals, then one that cannot be collected (no usable method).
SELECT pg_temp.next_period(:'s') FROM generate_series(1, 4);
UPDATE jobspy.payment_methods SET is_default = false WHERE id = :'pm';
SELECT is(pg_temp.next_period(:'s'), 'past_due', 'a renewal that cannot be collected: past_due');
SELECT is(pg_temp.sub(:'s'), '(past_due,"2031-06-30 10:00:00+00","2031-07-31 10:00:00+00",0,"2031-07-03 10:00:00+00")',
          'the period rolled and the first retry is 3 days after the failure');
SELECT is((SELECT plan_code FROM jobspy.plan_in_force('b5000000-0000-4000-8000-000000000001')), 'tt-basic',
          'past_due still grants the plan');
SELECT is(pg_temp.travel('2031-07-02 10:00:00+00'), 0::bigint, 'nothing is due before the retry');
SELECT is(pg_temp.travel('2031-07-03 10:00:00+00'), 1::bigint, 'the retry runs on its day');
SELECT is(pg_temp.sub(:'s'), '(past_due,"2031-06-30 10:00:00+00","2031-07-31 10:00:00+00",1,"2031-07-05 10:00:00+00")',
          'it failed again: the next retry on day 5');
SELECT is(pg_temp.travel('2031-07-03 10:00:00+00'), 0::bigint, 'renewing again at the same time does nothing');
SELECT jobspy.set_default_payment_method(:'pm');
SELECT is(pg_temp.travel('2031-07-05 10:00:00+00'), 1::bigint, 'the second retry runs');
SELECT is(pg_temp.sub(:'s'), '(active,"2031-06-30 10:00:00+00","2031-07-31 10:00:00+00",0,)',
          'recovered: active again in the same period');
SELECT is(pg_temp.next_period(:'s'), 'active', 'and renews as usual');

-- A mid-period upgrade: 16 of the period's 31 days remain.
SELECT set_config('jobspy.clock_override', '2031-08-15 10:00:00+00', true);
SELECT jobspy.change_subscription(:'s', 'tt-pro-m');
SELECT results_eq(format('SELECT amount FROM jobspy.pending_invoice_items WHERE subscription_id = %L ORDER BY amount', :'s'),
                  'VALUES (-516::bigint), (1600::bigint)', 'credit 1000 x 16/31 = 516.13 -> 516; charge 3100 x 16/31 = 1600');
SELECT is((SELECT plan_code FROM jobspy.plan_in_force('b5000000-0000-4000-8000-000000000001')), 'tt-pro',
          'the upgrade''s plan is in force at once');
SELECT is(pg_temp.next_period(:'s'), 'active', 'the upgraded subscription renews on the same anchor');

-- Pause and resume inside a period.
SELECT set_config('jobspy.clock_override', '2031-09-10 10:00:00+00', true);
SELECT jobspy.pause_subscription(:'s');
SELECT is((SELECT plan_code FROM jobspy.plan_in_force('b5000000-0000-4000-8000-000000000001')), NULL,
          'paused: no plan from it');
SELECT is(pg_temp.travel('2031-09-20 10:00:00+00'), 0::bigint, 'a paused subscription has nothing due');
SELECT jobspy.resume_subscription(:'s');
SELECT is(pg_temp.sub(:'s'), '(active,"2031-08-31 10:00:00+00","2031-09-30 10:00:00+00",0,)',
          'resumed in the same period');

-- The rest of the two years, then cancel at the end of the last period.
SELECT pg_temp.next_period(:'s') FROM generate_series(1, 16);
SELECT set_config('jobspy.clock_override', '2033-01-10 10:00:00+00', true);
SELECT jobspy.cancel_subscription(:'s', true, 'moving on');
SELECT is(pg_temp.travel('2033-01-30 10:00:00+00'), 0::bigint, 'nothing before the period ends');
SELECT is(pg_temp.next_period(:'s'), 'canceled', 'canceled at period end');
SELECT is((SELECT row(canceled_at, ended_at, cancellation_reason)::text FROM jobspy.subscriptions WHERE id = :'s'),
          '("2033-01-31 10:00:00+00","2033-01-31 10:00:00+00","moving on")', 'at the period''s end, with the reason');
SELECT results_eq('SELECT period_end FROM seen WHERE status <> ''canceled'' GROUP BY period_end ORDER BY period_end',
                  $$VALUES ('2031-02-28 10:00:00+00'::timestamptz), ('2031-03-31 10:00:00+00'), ('2031-04-30 10:00:00+00'),
                           ('2031-05-31 10:00:00+00'), ('2031-06-30 10:00:00+00'), ('2031-07-31 10:00:00+00'),
                           ('2031-08-31 10:00:00+00'), ('2031-09-30 10:00:00+00'), ('2031-10-31 10:00:00+00'),
                           ('2031-11-30 10:00:00+00'), ('2031-12-31 10:00:00+00'), ('2032-01-31 10:00:00+00'),
                           ('2032-02-29 10:00:00+00'), ('2032-03-31 10:00:00+00'), ('2032-04-30 10:00:00+00'),
                           ('2032-05-31 10:00:00+00'), ('2032-06-30 10:00:00+00'), ('2032-07-31 10:00:00+00'),
                           ('2032-08-31 10:00:00+00'), ('2032-09-30 10:00:00+00'), ('2032-10-31 10:00:00+00'),
                           ('2032-11-30 10:00:00+00'), ('2032-12-31 10:00:00+00'), ('2033-01-31 10:00:00+00')$$,
                  'two years of period ends from a Jan 31 anchor: Feb 28, Mar 31, ..., Feb 29 in 2032, Jan 31');
SELECT is((SELECT count(*) FROM seen s1 JOIN seen s2 ON s2.n = s1.n + 1
            WHERE s2.period_start <> s1.period_end AND s2.period_end <> s1.period_end), 0::bigint,
          'each period starts where the one before ended');
SELECT is((SELECT plan_code FROM jobspy.plan_in_force('b5000000-0000-4000-8000-000000000001')), NULL,
          'a canceled subscription grants no plan');
SELECT is(pg_temp.travel('2033-06-01 10:00:00+00'), 0::bigint, 'an ended subscription is never renewed');

-- Trials: with a method they become active, without one paused (the
-- default), canceled, or past_due, as configured.
SELECT set_config('jobspy.clock_override', '2033-06-01 10:00:00+00', true);
SELECT jobspy.create_customer('b5000000-0000-4000-8000-000000000002') AS c2 \gset
SELECT jobspy.create_customer('b5000000-0000-4000-8000-000000000003') AS c3 \gset
SELECT jobspy.create_customer('b5000000-0000-4000-8000-000000000004') AS c4 \gset
SELECT jobspy.add_payment_method(:'c2', 'card', '4444', 'mastercard', 1, 2040);
SELECT jobspy.subscribe(:'c2', 'tt-pro-trial') AS t2 \gset
SELECT jobspy.subscribe(:'c3', 'tt-pro-trial') AS t3 \gset
SELECT pg_temp.travel('2033-06-08 10:00:00+00');
SELECT is(pg_temp.sub(:'t2'), '(active,"2033-06-08 10:00:00+00","2033-07-08 10:00:00+00",0,)',
          'a trial with a payment method ends active, its first period from the trial''s end');
SELECT is((SELECT row(status, paused_at)::text FROM jobspy.subscriptions WHERE id = :'t3'),
          '(paused,"2033-06-08 10:00:00+00")', 'a trial without one ends paused');
SELECT jobspy.config_set('billing.trial_end_without_payment_method', '"create_invoice"');
SELECT jobspy.config_set('billing.dunning_retry_days', '"1,2"');
SELECT jobspy.config_set('billing.dunning_final_status', '"canceled"');
SELECT jobspy.subscribe(:'c4', 'tt-pro-trial') AS t4 \gset
SELECT pg_temp.travel('2033-06-15 10:00:00+00');
SELECT is(pg_temp.sub(:'t4'), '(past_due,"2033-06-15 10:00:00+00","2033-07-15 10:00:00+00",0,"2033-06-16 10:00:00+00")',
          'configured to invoice: the trial ends past_due');
SELECT pg_temp.travel('2033-06-16 10:00:00+00');
SELECT pg_temp.travel('2033-06-17 10:00:00+00');
SELECT is((SELECT row(status, dunning_attempts, canceled_at, cancellation_reason)::text FROM jobspy.subscriptions WHERE id = :'t4'),
          '(canceled,2,"2033-06-17 10:00:00+00","payment failed")', 'dunning ran out of retries: canceled as configured');
SELECT jobspy.config_set('billing.dunning_final_status', '"unpaid"');
SELECT jobspy.resume_subscription(:'t3');
SELECT pg_temp.travel('2033-07-17 10:00:00+00');
SELECT pg_temp.travel('2033-07-19 10:00:00+00');
SELECT is((SELECT status FROM jobspy.subscriptions WHERE id = :'t3'), 'unpaid', 'or unpaid, the default');
SELECT pg_temp.sub(:'t3') AS t3_before \gset
SELECT pg_temp.travel('2033-12-19 10:00:00+00');
SELECT is(pg_temp.sub(:'t3'), :'t3_before', 'an unpaid subscription is not renewed');

-- An incomplete subscription (a provider's) expires after 23 hours.
INSERT INTO jobspy.subscriptions (user_id, id, status) VALUES
    ('b5000000-0000-4000-8000-000000000004', 'b5000000-0000-4000-8000-0000000000e1', 'incomplete');
SELECT pg_temp.travel('2033-12-20 08:59:59+00');
SELECT is((SELECT status FROM jobspy.subscriptions WHERE id = 'b5000000-0000-4000-8000-0000000000e1'),
          'incomplete', 'not yet after 22:59:59');
SELECT pg_temp.travel('2033-12-20 09:00:00+00');
SELECT is((SELECT status FROM jobspy.subscriptions WHERE id = 'b5000000-0000-4000-8000-0000000000e1'),
          'incomplete_expired', 'incomplete for 23 hours: incomplete_expired');

SELECT * FROM finish();
ROLLBACK;
