-- Subscription changes write domain events to the outbox in the same
-- transaction, whoever makes them; a refused change writes none.
BEGIN;
SELECT plan(8);

SET LOCAL jobspy.clock_override = '2031-01-31 10:00:00+00';
INSERT INTO jobspy.users (id, email) VALUES ('b6000000-0000-4000-8000-000000000001', 'ev@example.com');
SELECT jobspy.create_product('ev', 'Events');
SELECT jobspy.create_price('ev', 'ev-m', 0, 'USD', 'month');
DELETE FROM jobspy.outbox_events;
SELECT jobspy.subscribe(jobspy.create_customer('b6000000-0000-4000-8000-000000000001'), 'ev-m') AS s \gset
SELECT results_eq($$SELECT topic, entity_type, payload ->> 'status', user_id FROM jobspy.outbox_events ORDER BY id$$,
                  $$VALUES ('billing.subscription.created', 'subscription', 'active', 'b6000000-0000-4000-8000-000000000001'::uuid),
                           ('billing.invoice.finalized', 'invoice', 'paid', 'b6000000-0000-4000-8000-000000000001'::uuid)$$,
                  'subscribe writes billing.subscription.created for the user, then its first invoice''s event');
SELECT is((SELECT entity_id FROM jobspy.outbox_events WHERE topic = 'billing.subscription.created'), :'s',
          'the event names the subscription');
SELECT jobspy.pause_subscription(:'s');
SELECT is((SELECT row(payload ->> 'previous_status', payload ->> 'status')::text FROM jobspy.outbox_events
            WHERE topic = 'billing.subscription.status_changed'), '(active,paused)', 'pause: status_changed from active to paused');
SELECT jobspy.resume_subscription(:'s');
SET LOCAL jobspy.clock_override = '2031-02-28 10:00:00+00';
SELECT jobspy.renew_subscriptions();
SELECT is((SELECT (payload ->> 'current_period_end')::timestamptz FROM jobspy.outbox_events
            WHERE topic = 'billing.subscription.period_started'),
          '2031-03-31 10:00:00+00'::timestamptz, 'a renewal writes period_started with the new period');
SELECT is((SELECT row(payload ->> 'subscription_id', payload ->> 'status', payload ->> 'amount_due_cents')::text
             FROM jobspy.outbox_events WHERE topic = 'billing.invoice.finalized' ORDER BY id DESC LIMIT 1),
          row(:'s', 'paid', '0')::text, 'and its invoice''s billing.invoice.finalized (free: paid at once)');
UPDATE jobspy.subscriptions SET status = 'canceled', canceled_at = jobspy.now() WHERE id = :'s';
SELECT is((SELECT payload ->> 'status' FROM jobspy.outbox_events ORDER BY id DESC LIMIT 1), 'canceled',
          'a direct UPDATE writes its event too');
SELECT throws_ok(format($$UPDATE jobspy.subscriptions SET status = 'active' WHERE id = %L$$, :'s'), 'JS505', NULL,
                 'canceled -> active is refused');
SELECT is((SELECT count(*) FROM jobspy.outbox_events), 7::bigint,
          'and wrote no event (seven in all, two of them invoices'')');

SELECT * FROM finish();
ROLLBACK;
