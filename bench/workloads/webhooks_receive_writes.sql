-- The writes receive_webhook makes for the event of webhooks_receive, made
-- directly in one statement without parsing, verifying or looking anything
-- up: the stored event in jobspy.payment_webhooks, the object's watermark
-- and the subscription it creates in jobspy.subscriptions (its CHECK
-- constraints, foreign keys, indexes and triggers: the audit row, the
-- outbox event with its analytics copy, the MRR change).  Shown beside
-- receive_webhook: what the tables themselves cost against the bare INSERT
-- of the payload.
-- against: webhooks_bare_insert
\set id random(1, 1000000000000)
WITH c AS (
    SELECT pc.provider_id, pc.provider_customer_id, cu.id AS customer_id, cu.user_id
      FROM jobspy.provider_customers pc JOIN jobspy.customers cu ON cu.id = pc.customer_id
     WHERE pc.provider_customer_id = 'cus_Na6dX7aXxi11N4'
), e AS (
    INSERT INTO jobspy.payment_webhooks (provider_id, event_id, event_type, payload, event_created, status,
                                         processed_at, attempts)
    SELECT c.provider_id, 'evt_' || :id, 'customer.subscription.updated',
           replace(t.payload, 'EVT_ID', 'evt_' || :id)::jsonb, to_timestamp(1893456000), 'applied', now(), 1
      FROM c, bench.webhook_template t
    RETURNING provider_id
), w AS (
    INSERT INTO jobspy.provider_watermarks (provider_id, object_type, object_id, event_created, event_stage, event_id)
    SELECT e.provider_id, 'subscription', 'sub_evt_' || :id, to_timestamp(1893456000), 2, 'evt_' || :id FROM e
)
INSERT INTO jobspy.subscriptions (user_id, customer_id, stripe_subscription_id, stripe_customer_id, status,
                                  plan_interval, price_amount, price_currency, quantity, billing_cycle_anchor,
                                  current_period_start, current_period_end, cancel_at_period_end)
SELECT c.user_id, c.customer_id, 'sub_evt_' || :id, c.provider_customer_id, 'active', 'month', 1200, 'USD', 1,
       to_timestamp(1893456000), to_timestamp(1893456000), to_timestamp(1896134400), false
  FROM c;
