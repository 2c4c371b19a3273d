-- Subscription changes write domain events to the outbox in the same
-- transaction, whoever makes them; a refused change writes none.
BEGIN;
SELECT plan(13);

SET LOCAL jobspy.clock_override = '2031-01-31 10:00:00+00';
INSERT INTO jobspy.users (id, email) VALUES ('b6000000-0000-4000-8000-000000000001', 'ev@example.com');
SELECT jobspy.create_product('ev', 'Events');
SELECT jobspy.create_price('ev', 'ev-m', 0, 'USD', 'month');
DELETE FROM jobspy.outbox_events;
SELECT jobspy.subscribe(jobspy.create_customer('b6000000-0000-4000-8000-000000000001'), 'ev-m') AS s \gset
SELECT results_eq($$SELECT topic, entity_type, payload ->> 'status', user_id FROM jobspy.outbox_events ORDER BY id$$,
                  $$VALUES ('billing.subscription.created', 'subscription', 'active', 'b6000000-0000-4000-8000-000000000001'::uuid),
                           ('billing.invoice.finalized', 'invoice', 'open', 'b6000000-0000-4000-8000-000000000001'::uuid),
                           ('billing.invoice.paid', 'invoice', 'paid', 'b6000000-0000-4000-8000-000000000001'::uuid)$$,
                  'subscribe writes billing.subscription.created for the user, then its first invoice''s events (free: finalized owing nothing, then paid)');
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
          row(:'s', 'open', '0')::text, 'and its invoice''s billing.invoice.finalized (free: nothing due)');
UPDATE jobspy.subscriptions SET status = 'canceled', canceled_at = jobspy.now() WHERE id = :'s';
SELECT is((SELECT payload ->> 'status' FROM jobspy.outbox_events ORDER BY id DESC LIMIT 1), 'canceled',
          'a direct UPDATE writes its event too');
SELECT throws_ok(format($$UPDATE jobspy.subscriptions SET status = 'active' WHERE id = %L$$, :'s'), 'JS505', NULL,
                 'canceled -> active is refused');
SELECT is((SELECT count(*) FROM jobspy.outbox_events), 9::bigint,
          'and wrote no event (nine in all, four of them invoices'')');

-- An invoice's end states: paid by a payment (once, however often the
-- payment is reported), void, uncollectible; each an event with its amounts.
SELECT jobspy.create_provider('evpay', 'Ev Pay');
SELECT id AS cust FROM jobspy.customers WHERE user_id = 'b6000000-0000-4000-8000-000000000001' \gset
SELECT jobspy.create_invoice(:'cust', 'USD') AS i1 \gset
SELECT jobspy.add_invoice_line(:'i1', 'one', 1, 1200);
SELECT jobspy.finalize_invoice(:'i1') IS NOT NULL AS finalized;
SELECT is((SELECT count(*) FROM jobspy.outbox_events WHERE topic = 'billing.invoice.paid' AND entity_id = :'i1'), 0::bigint,
          'an invoice finalized with an amount due is not paid yet');
SELECT jobspy.record_payment('evpay', 'ev_1', :'cust', 700, 'USD', 'succeeded', invoice_id => :'i1');
SELECT is((SELECT count(*) FROM jobspy.outbox_events WHERE topic = 'billing.invoice.paid' AND entity_id = :'i1'), 0::bigint,
          'a partial payment does not pay it');
SELECT jobspy.record_payment('evpay', 'ev_2', :'cust', 500, 'USD', 'succeeded', invoice_id => :'i1');
SELECT jobspy.record_payment('evpay', 'ev_2', :'cust', 500, 'USD', 'succeeded', invoice_id => :'i1');
SELECT results_eq(format($$SELECT payload ->> 'status', (payload ->> 'amount_paid_cents')::bigint, (payload ->> 'amount_due_cents')::bigint, user_id
                             FROM jobspy.outbox_events WHERE topic = 'billing.invoice.paid' AND entity_id = %L$$, :'i1'),
                  $$VALUES ('paid', 1200::bigint, 0::bigint, 'b6000000-0000-4000-8000-000000000001'::uuid)$$,
                  'the payment that completes it writes billing.invoice.paid, once though reported twice');
SELECT jobspy.create_invoice(:'cust', 'USD') AS i2 \gset
SELECT jobspy.add_invoice_line(:'i2', 'two', 1, 900);
SELECT jobspy.finalize_invoice(:'i2') IS NOT NULL AS finalized;
SELECT jobspy.mark_invoice_uncollectible(:'i2');
SELECT jobspy.void_invoice(:'i2');
SELECT results_eq(format($$SELECT topic, payload ->> 'status' FROM jobspy.outbox_events WHERE entity_id = %L ORDER BY id$$, :'i2'),
                  $$VALUES ('billing.invoice.finalized', 'open'), ('billing.invoice.marked_uncollectible', 'uncollectible'),
                           ('billing.invoice.void', 'void')$$,
                  'finalized, marked uncollectible, then void: an event each');
SELECT jobspy.create_invoice(:'cust', 'USD') AS i3 \gset
SELECT jobspy.add_invoice_line(:'i3', 'three', 1, 900);
SELECT jobspy.void_invoice(:'i3');
SELECT is((SELECT count(*) FROM jobspy.outbox_events WHERE entity_id = :'i3'), 0::bigint,
          'a draft voided (deleted) writes nothing');

SELECT * FROM finish();
ROLLBACK;
