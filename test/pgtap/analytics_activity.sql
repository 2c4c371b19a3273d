-- DAU/WAU/MAU against the same counts over the raw events; seed 003's
-- daily usage per plan on known calls; refunds by the month they were
-- made and the monthly cash flow; bad ranges; what the analyst may run.
BEGIN;
SELECT plan(16);
SET LOCAL TimeZone = 'UTC';

INSERT INTO jobspy.users (id, email)
SELECT format('a3000000-0000-4000-8000-%s', lpad(i::text, 12, '0'))::uuid, format('act%s@example.com', i)
  FROM generate_series(1, 6) i;

-- Events over 46 days: user i is active on day k when (k * i) % 5 < 2,
-- with 1 to 3 events at different hours.
INSERT INTO jobspy.events (user_id, event_type, occurred_at)
SELECT format('a3000000-0000-4000-8000-%s', lpad(i::text, 12, '0'))::uuid, 'page_view',
       timestamptz '2031-03-01 00:00+00' + make_interval(days => k, hours => 3 + 7 * n)
  FROM generate_series(1, 6) i, generate_series(0, 45) k, generate_series(0, 2) n
 WHERE (k * i) % 5 < 2 AND n <= (k + i) % 3;

SELECT results_eq(
    $$SELECT day, dau, wau, mau FROM jobspy.active_users('2031-03-01', '2031-04-20')$$,
    $$SELECT d::date,
             (SELECT count(DISTINCT e.user_id) FROM jobspy.events e
               WHERE e.occurred_at >= d AND e.occurred_at < d + interval '1 day'),
             (SELECT count(DISTINCT e.user_id) FROM jobspy.events e
               WHERE e.occurred_at >= d - interval '6 days' AND e.occurred_at < d + interval '1 day'),
             (SELECT count(DISTINCT e.user_id) FROM jobspy.events e
               WHERE e.occurred_at >= d - interval '29 days' AND e.occurred_at < d + interval '1 day')
        FROM generate_series(timestamptz '2031-03-01 00:00+00', '2031-04-20 00:00+00', interval '1 day') d
       ORDER BY 1$$,
    'DAU, WAU and MAU of each of 51 days equal distinct users over the raw events of 1, 7 and 30 days');
SELECT is((SELECT row(dau, wau, mau)::text FROM jobspy.active_users('2031-04-23', '2031-04-23')),
          '(0,0,6)', 'eight days after the last event: no one today or this week, all six this month');
SELECT is((SELECT count(*) FROM jobspy.active_users('2031-03-01', '2031-03-31')), 31::bigint,
          'one row a day, days without events included');
SELECT throws_ok($$SELECT * FROM jobspy.active_users(NULL, '2031-03-01')$$, '22023', NULL, 'a NULL day is refused');
SELECT throws_ok($$SELECT * FROM jobspy.active_users('2031-03-02', '2031-03-01')$$, '22023', NULL,
                 'a range ending before it starts is refused');
SELECT throws_ok($$SELECT * FROM jobspy.daily_usage_by_plan('2001-01-01', '2031-03-01')$$, '22023', NULL,
                 'a range over ten years is refused');
SELECT throws_ok($$SELECT * FROM jobspy.active_users('2031-03-01', 'infinity')$$, '22023', NULL,
                 'an infinite day is refused');

-- Usage: users 1 to 3 on a free plan of 2 posts a day, 4 to 6 on pro.
SELECT jobspy.create_plan('act-free', 'Free'), jobspy.create_plan('act-pro', 'Pro');
SELECT jobspy.set_plan_quota('act-free', 'posts', 'day', 2), jobspy.set_plan_quota('act-pro', 'posts', 'day', 100);
SELECT jobspy.set_user_plan(format('a3000000-0000-4000-8000-%s', lpad(i::text, 12, '0'))::uuid,
                            CASE WHEN i <= 3 THEN 'act-free' ELSE 'act-pro' END)
  FROM generate_series(1, 6) i;
SET LOCAL jobspy.clock_override = '2031-05-01 10:00:00+00';
-- Every grant in the ledger (the default records those with a key, a cost
-- or metadata).
SET LOCAL jobspy.quota_usage_records = 'all';
-- Day 1: user 1 posts three times (the third refused), user 2 once with 3
-- units (refused: over 2), user 4 five times; user 5 reports a failure.
SELECT (jobspy.consume_quota('a3000000-0000-4000-8000-000000000001', 'posts')).allowed FROM generate_series(1, 3) n;
SELECT allowed FROM jobspy.consume_quota('a3000000-0000-4000-8000-000000000002', 'posts', 3);
SELECT (jobspy.consume_quota('a3000000-0000-4000-8000-000000000004', 'posts')).allowed FROM generate_series(1, 5) n;
SELECT jobspy.record_usage_event('a3000000-0000-4000-8000-000000000005', 'failure', 'posts');
-- Day 2: user 2 posts twice, user 6 takes 10 units at once.
SET LOCAL jobspy.clock_override = '2031-05-02 23:59:00+00';
SELECT (jobspy.consume_quota('a3000000-0000-4000-8000-000000000002', 'posts')).allowed FROM generate_series(1, 2) n;
SELECT allowed FROM jobspy.consume_quota('a3000000-0000-4000-8000-000000000006', 'posts', 10);

SELECT results_eq(
    $$SELECT day, plan_code, metric, active_users, granted_calls, amount, amount_per_active_user, denied_calls,
             failures, granted_rate
        FROM jobspy.daily_usage_by_plan('2031-05-01', '2031-05-03')$$,
    $$VALUES ('2031-05-01'::date, 'act-free', 'posts', 1::bigint, 2::bigint, 2::numeric, 2.00::numeric, 2::bigint,
              0::bigint, 0.5000::numeric),
             ('2031-05-01', 'act-pro', 'posts', 1, 5, 5, 5.00, 0, 1, 1.0000),
             ('2031-05-02', 'act-free', 'posts', 1, 2, 2, 2.00, 0, 0, 1.0000),
             ('2031-05-02', 'act-pro', 'posts', 1, 1, 10, 10.00, 0, 0, 1.0000)$$,
    'per day and plan: users granted, calls, amount, mean, refusals, failures, granted rate');
SELECT is((SELECT count(*) FROM jobspy.daily_usage_by_plan('2031-05-03', '2031-05-03')), 0::bigint,
          'a day without usage has no row');
SELECT jobspy.set_user_plan('a3000000-0000-4000-8000-000000000001', 'act-pro');
SELECT is((SELECT string_agg(plan_code || ':' || granted_calls, ',' ORDER BY plan_code)
             FROM jobspy.daily_usage_by_plan('2031-05-01', '2031-05-01')),
          'act-free:0,act-pro:7', 'the plan is the one in force now, as the seed''s query joins the active subscription');

-- Refunds by the month made, and the cash flow.
SELECT jobspy.create_provider('actpay', 'Act Pay');
SELECT jobspy.create_customer('a3000000-0000-4000-8000-000000000003', currency => 'USD') AS cust \gset
SET LOCAL jobspy.clock_override = '2031-06-20 10:00:00+00';
SELECT jobspy.record_payment('actpay', 'act-1', :'cust', 5000, 'USD', 'succeeded') AS p1 \gset
SELECT jobspy.record_payment('actpay', 'act-2', :'cust', 3000, 'USD', 'succeeded') AS p2 \gset
SELECT jobspy.record_payment('actpay', 'act-3', :'cust', 700, 'EUR', 'failed');
SELECT jobspy.refund_payment(:'p1', 1000);
SET LOCAL jobspy.clock_override = '2031-07-03 10:00:00+00';
SELECT jobspy.refund_payment(:'p1', 500), jobspy.refund_payment(:'p2', 3000);
SELECT jobspy.record_payment('actpay', 'act-4', :'cust', 2000, 'USD', 'succeeded');
SELECT results_eq($$SELECT month, currency, refunds, payments_refunded, refunded_cents FROM jobspy.refunds_monthly ORDER BY 1$$,
                  $$VALUES (timestamptz '2031-06-01 00:00+00', 'USD', 1::bigint, 1::bigint, 1000::bigint),
                           ('2031-07-01 00:00+00', 'USD', 2, 2, 3500)$$,
                  'refunds counted in the month they were made');
SELECT results_eq($$SELECT month, currency, collected_cents, refunded_cents, net_cents FROM jobspy.cash_flow_monthly ORDER BY 1$$,
                  $$VALUES (timestamptz '2031-06-01 00:00+00', 'USD', 8000::bigint, 1000::bigint, 7000::bigint),
                           ('2031-07-01 00:00+00', 'USD', 2000, 3500, -1500)$$,
                  'cash flow: collected that month less refunded that month (the failed payment is not money)');
SELECT is((SELECT sum(net_cents) FROM jobspy.cash_flow_monthly),
          (SELECT sum(net_revenue_cents) FROM jobspy.revenue_monthly),
          'over all months the cash flow and the revenue net of refunds agree');

-- The analyst runs the reports.
SELECT ok(has_function_privilege('jobspy_analyst', 'jobspy.active_users(date, date)', 'EXECUTE')
          AND has_function_privilege('jobspy_analyst', 'jobspy.daily_usage_by_plan(date, date)', 'EXECUTE')
          AND has_table_privilege('jobspy_analyst', 'jobspy.refunds_monthly', 'SELECT')
          AND has_table_privilege('jobspy_analyst', 'jobspy.cash_flow_monthly', 'SELECT'),
          'jobspy_analyst may run and read the new reports');
SELECT ok(NOT has_function_privilege('jobspy_app', 'jobspy.daily_usage_by_plan(date, date)', 'EXECUTE')
          AND NOT has_table_privilege('jobspy_app', 'jobspy.cash_flow_monthly', 'SELECT'),
          'jobspy_app may not');
SET LOCAL ROLE jobspy_analyst;
SELECT is((SELECT sum(granted_calls)::bigint FROM jobspy.daily_usage_by_plan('2031-05-01', '2031-05-02')), 10::bigint,
          'as the analyst, usage per plan counts every user''s rows');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
