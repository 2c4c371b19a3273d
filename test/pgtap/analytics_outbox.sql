-- Business events reach the analytics events through the outbox, once,
-- in the transaction of the change: written by the module, never by the
-- application a second time.
BEGIN;
SELECT plan(8);

SET LOCAL jobspy.clock_override = '2031-05-02 08:00:00+00';
INSERT INTO jobspy.users (id, email) VALUES ('a3000000-0000-4000-8000-000000000001', 'outbox-a@example.com');

SELECT jobspy.emit_event('billing.payment.succeeded', 'payment', 'pay-1', '{"amount_cents": 1200}',
                         'a3000000-0000-4000-8000-000000000001') AS e1 \gset
SELECT results_eq(
    $$SELECT event_type, properties, occurred_at FROM jobspy.events
       WHERE user_id = 'a3000000-0000-4000-8000-000000000001'$$,
    format($$VALUES ('billing.payment.succeeded'::text,
                     '{"amount_cents": 1200, "outbox_id": %s, "entity_type": "payment", "entity_id": "pay-1"}'::jsonb,
                     timestamptz '2031-05-02 08:00:00+00')$$, :'e1'),
    'an outbox event of a user is an event: its topic, its payload with where it came from, its time');
SELECT is((SELECT xact FROM jobspy.events WHERE properties ->> 'outbox_id' = :'e1'), pg_current_xact_id(),
          'written by the transaction of the change, so the rollups count it by that transaction');

SELECT jobspy.emit_event('ops.something', 'thing', 't-1') AS e2 \gset
SELECT is((SELECT count(*) FROM jobspy.events WHERE properties ->> 'outbox_id' = :'e2'), 0::bigint,
          'an event of no user stays in the outbox only');
SELECT jobspy.emit_event('billing.payment.succeeded', 'payment', 'pay-2', '{}',
                         'a3000000-0000-4000-8000-0000000000ff') AS e3 \gset
SELECT is((SELECT count(*) FROM jobspy.events WHERE properties ->> 'outbox_id' = :'e3'), 0::bigint,
          'nor one of a user that does not exist, and the change is not refused');

-- A change rolled back takes its event with it.
SAVEPOINT before_change;
SELECT jobspy.emit_event('loyalty.tier_changed', 'loyalty_member', 'm-1', '{"tier": "gold"}',
                         'a3000000-0000-4000-8000-000000000001');
ROLLBACK TO SAVEPOINT before_change;
SELECT is((SELECT count(*) FROM jobspy.events WHERE event_type = 'loyalty.tier_changed'), 0::bigint,
          'a rolled-back change leaves no event');

-- A module's own events: billing's subscription changes.
SELECT jobspy.create_plan('ob-basic', 'Basic');
SELECT jobspy.create_product('ob-basic', 'Basic', plan_code => 'ob-basic');
SELECT jobspy.create_price('ob-basic', 'ob-basic-m', 1000, 'USD', 'month');
SELECT jobspy.subscribe(jobspy.create_customer('a3000000-0000-4000-8000-000000000001', currency => 'USD'),
                        'ob-basic-m') AS s1 \gset
SELECT jobspy.cancel_subscription(:'s1', false);
SELECT results_eq(
    $$SELECT event_type, properties ->> 'status' FROM jobspy.events
       WHERE user_id = 'a3000000-0000-4000-8000-000000000001' AND event_type LIKE 'billing.subscription.%'
       ORDER BY (properties ->> 'outbox_id')::bigint$$,
    $$VALUES ('billing.subscription.created', 'active'), ('billing.subscription.status_changed', 'canceled')$$,
    'a subscription''s creation and cancellation arrive once each');
SELECT is((SELECT count(*) FROM jobspy.events e JOIN jobspy.outbox_events o ON o.id = (e.properties ->> 'outbox_id')::bigint
            WHERE e.user_id = 'a3000000-0000-4000-8000-000000000001'),
          (SELECT count(*) FROM jobspy.outbox_events WHERE user_id = 'a3000000-0000-4000-8000-000000000001'),
          'every outbox event of the user, no more');
SELECT is((SELECT count(*) FROM jobspy.event_counts_daily WHERE event_type LIKE 'billing.%' AND day = '2031-05-02'),
          4::bigint, 'and the reports see them: four types of billing event that day (one the first invoice''s)');

SELECT * FROM finish();
ROLLBACK;
