-- Seed 004's "customer lifetime value" and revenue by month over generated
-- payments: the seed's own query (one row per user and amount paid),
-- summed per user, equals customer_lifetime_value row for row; gross
-- revenue per month equals the raw sum of succeeded payments.
BEGIN;
SELECT plan(4);
SET LOCAL TimeZone = 'UTC';

INSERT INTO jobspy.users (id, email, created_at)
SELECT format('a4000000-0000-4000-8000-%s', lpad(i::text, 12, '0'))::uuid, format('ltv%s@example.com', i),
       timestamptz '2030-12-01 00:00+00' + make_interval(days => i)
  FROM generate_series(1, 7) i;
SELECT jobspy.create_provider('ltvpay', 'LTV Pay');
CREATE TEMP TABLE ltv_customers AS
SELECT i, jobspy.create_customer(format('a4000000-0000-4000-8000-%s', lpad(i::text, 12, '0'))::uuid,
                                 currency => 'USD') AS customer_id
  FROM generate_series(1, 7) i;

-- 120 payments over four months: amounts from a small set (so that the
-- seed's grouping by amount splits customers), one in five failed.
DO $$
DECLARE
    k integer;
BEGIN
    FOR k IN 1 .. 120 LOOP
        PERFORM set_config('jobspy.clock_override',
                           (timestamptz '2031-01-01 00:00+00' + make_interval(hours => k * 23))::text, true);
        PERFORM jobspy.record_payment('ltvpay', 'ltv-' || k,
                                      (SELECT c.customer_id FROM ltv_customers c WHERE c.i = 1 + (k * 5) % 7),
                                      (ARRAY[900, 1500, 2900, 4900])[1 + (k * 3) % 4], 'USD',
                                      CASE WHEN k % 5 = 0 THEN 'failed' ELSE 'succeeded' END);
    END LOOP;
END
$$;

SELECT is((SELECT count(DISTINCT amount_cents) FROM jobspy.payments p WHERE p.user_id::text LIKE 'a4000000-%'), 4::bigint,
          'the generated payments have four distinct amounts');

-- The seed's query, translated (payments.amount is amount_cents here),
-- then summed per user: the view keeps one row per user and currency.
SELECT results_eq(
    $$SELECT user_id, payment_count, total_spent_cents, lifetime_value_cents, signup_date
        FROM jobspy.customer_lifetime_value WHERE user_id::text LIKE 'a4000000-%' ORDER BY user_id$$,
    $$SELECT s.user_id, sum(s.payment_count)::bigint, sum(s.total_spent)::bigint, sum(s.total_spent)::bigint,
             s.signup_date
        FROM (SELECT p.user_id, p.amount_cents AS amount, count(p.id) AS payment_count,
                     sum(p.amount_cents) AS total_spent, u.created_at AS signup_date
                FROM jobspy.payments p
                JOIN jobspy.users u ON p.user_id = u.id
               WHERE p.status = 'succeeded' AND p.user_id::text LIKE 'a4000000-%'
               GROUP BY p.user_id, p.amount_cents, u.created_at) s
       GROUP BY s.user_id, s.signup_date
       ORDER BY s.user_id$$,
    'lifetime value per user equals seed 004''s query over the same payments, summed per user');

SELECT results_eq(
    $$SELECT month, sum(transaction_count)::bigint, sum(gross_revenue_cents)::bigint
        FROM jobspy.revenue_monthly GROUP BY month ORDER BY month$$,
    $$SELECT date_trunc('month', p.created_at), count(*), sum(p.amount_cents)::bigint
        FROM jobspy.payments p WHERE p.status = 'succeeded' GROUP BY 1 ORDER BY 1$$,
    'gross revenue per month equals the raw sum of succeeded payments');

-- A refund leaves the seed's query (the payment is no longer 'succeeded')
-- but not the view: the payment was collected, and its refund is netted.
SELECT jobspy.refund_payment((SELECT id FROM jobspy.payments WHERE provider_payment_id = 'ltv-1'), 400);
SELECT is((SELECT row(total_spent_cents, refunded_cents, lifetime_value_cents)::text
             FROM jobspy.customer_lifetime_value
            WHERE user_id = (SELECT user_id FROM jobspy.payments WHERE provider_payment_id = 'ltv-1')),
          (SELECT row(sum(amount_cents), 400, sum(amount_cents) - 400)::text FROM jobspy.payments
            WHERE user_id = (SELECT user_id FROM jobspy.payments WHERE provider_payment_id = 'ltv-1') AND collected),
          'a partly refunded payment stays in the total and is taken off the lifetime value');

SELECT * FROM finish();
ROLLBACK;
