-- The plainest writes a received subscription event stands for: the event
-- stored once per provider and id, the subscription it names written from
-- it, and an outbox event, in one statement, in tables with keys and
-- nothing else.  Shown beside receive_webhook: how much of an event's price
-- is storing and applying it at all.  Unlike webhooks_receive it neither
-- signs nor verifies.
-- against: webhooks_bare_insert
\set id random(1, 1000000000000)
WITH e AS (
    INSERT INTO bench.webhook_lean_events (provider, event_id, payload)
    SELECT 'stripe', 'evt_' || :id, replace(t.payload, 'EVT_ID', 'evt_' || :id)::jsonb FROM bench.webhook_template t
    RETURNING payload -> 'data' -> 'object' AS o
), s AS (
    INSERT INTO bench.webhook_lean_subscriptions (stripe_subscription_id, stripe_customer_id, status, price,
                                                  current_period_start, current_period_end)
    SELECT e.o ->> 'id', e.o ->> 'customer', e.o ->> 'status', e.o #>> '{items,data,0,price,lookup_key}',
           to_timestamp((e.o ->> 'current_period_start')::bigint), to_timestamp((e.o ->> 'current_period_end')::bigint)
      FROM e
    ON CONFLICT (stripe_subscription_id) DO UPDATE SET status = excluded.status
    RETURNING id, status
)
INSERT INTO bench.webhook_lean_outbox (topic, entity_id, payload)
SELECT 'billing.subscription.created', s.id::text, jsonb_build_object('status', s.status) FROM s;
