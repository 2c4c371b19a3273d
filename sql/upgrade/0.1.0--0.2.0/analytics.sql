\echo Use "ALTER EXTENSION jobspy_core UPDATE TO '0.2.0'" to load this file. \quit
-- analytics: revenue is summed per currency, never across currencies.

CREATE OR REPLACE VIEW jobspy.revenue_analytics AS
SELECT date_trunc('month', p.created_at, 'UTC') AS month,
       coalesce(s.plan_type, 'none') AS plan_type,
       count(DISTINCT p.user_id) AS paying_customers,
       count(*) AS total_payments,
       sum(p.amount_cents) AS total_revenue_cents,
       sum(p.refunded_amount_cents) AS refunded_cents,
       sum(p.amount_cents - p.refunded_amount_cents) AS net_revenue_cents,
       round(avg(p.amount_cents)) AS avg_payment_cents,
       p.currency
  FROM jobspy.payments p
  LEFT JOIN jobspy.subscriptions s ON s.user_id = p.user_id AND s.id = p.subscription_id
 WHERE p.status IN ('succeeded', 'refunded')
 GROUP BY 1, 2, p.currency;
COMMENT ON VIEW jobspy.active_licenses IS 'active, unexpired licences with their owner and newest active subscription, one row each';
COMMENT ON VIEW jobspy.user_analytics IS 'one row per active user: newest active licence, newest active subscription, API calls in the last 30 days';
COMMENT ON VIEW jobspy.revenue_analytics IS
    'revenue per UTC month, plan and currency (amounts in that currency''s minor units): collected payments, refunds and net; payments without a subscription under plan none';
