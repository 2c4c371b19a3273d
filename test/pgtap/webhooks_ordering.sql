-- Ordering: every delivery order of a subscription's created, updated and
-- deleted events ends in the same state; an older event never overwrites a
-- newer one and is recorded as ignored; the billing rows the events make
-- end the same way.
BEGIN;
SELECT plan(11);
CREATE EXTENSION IF NOT EXISTS pgcrypto SCHEMA public;
SET LOCAL jobspy.clock_override = '2030-01-01 00:00:00+00';
SELECT jobspy.create_provider('stripe', 'Stripe');
SELECT jobspy.set_provider_secret('stripe', 'o_secret');
-- The customer the subscriptions belong to, linked by its email.
SELECT jobspy.create_user('o@example.com');
SELECT (jobspy.receive_webhook('stripe',
           format('t=1893456000,v1=%s', encode(public.hmac('1893456000.' || p, 'o_secret', 'sha256'), 'hex')), p)).code
  FROM (SELECT '{"id": "evt_cus_o", "object": "event", "type": "customer.created", "created": 1893456000, "data": {"object": {"id": "cus_o", "object": "customer", "email": "o@example.com"}}}'::text AS p) x;

CREATE FUNCTION pg_temp.deliver(evt text, type text, created bigint, sub text, status text)
    RETURNS text LANGUAGE sql AS $$
    SELECT (jobspy.receive_webhook('stripe',
               format('t=1893456000,v1=%s', encode(public.hmac('1893456000.' || p, 'o_secret', 'sha256'), 'hex')), p)).code
      FROM (SELECT jsonb_build_object('id', evt, 'object', 'event', 'type', type, 'created', created,
                   'data', jsonb_build_object('object', jsonb_build_object(
                       'id', sub, 'object', 'subscription', 'status', status, 'customer', 'cus_o')))::text AS p) x
$$;
-- The three events of one subscription, delivered in the order given (1, 2, 3 = created, updated, deleted).
CREATE FUNCTION pg_temp.run(sub text, ord int[], t1 bigint, t2 bigint, t3 bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE i int;
BEGIN
    FOREACH i IN ARRAY ord LOOP
        PERFORM pg_temp.deliver(format('evt_%s_%s', sub, i),
                                (ARRAY['customer.subscription.created', 'customer.subscription.updated',
                                       'customer.subscription.deleted'])[i],
                                (ARRAY[t1, t2, t3])[i], sub,
                                (ARRAY['active', 'past_due', 'canceled'])[i]);
    END LOOP;
END $$;

SELECT pg_temp.run('sub_' || n, ord, 1893456000, 1893456060, 1893456120)
  FROM (VALUES (1, '{1,2,3}'::int[]), (2, '{1,3,2}'), (3, '{2,1,3}'), (4, '{2,3,1}'), (5, '{3,1,2}'), (6, '{3,2,1}')) v(n, ord);
SELECT is((SELECT count(DISTINCT (object - 'id', deleted, event_created, event_stage, right(event_id, 2)))
             FROM jobspy.provider_objects WHERE object_id LIKE 'sub\__'), 1::bigint,
          'all six delivery orders end in the same state');
SELECT is((SELECT DISTINCT (object ->> 'status', deleted) FROM jobspy.provider_objects WHERE object_id LIKE 'sub\__'),
          ROW('canceled'::text, true), 'and that state is the deleted subscription');
SELECT is((SELECT count(*) FROM jobspy.payment_webhooks WHERE status = 'ignored' AND note LIKE 'older than %'),
          7::bigint, 'every event older than the state it met is recorded as ignored (7 of 18)');
SELECT is((SELECT count(*) FROM jobspy.payment_webhooks WHERE processed AND event_id LIKE 'evt\_sub\_%'), 18::bigint,
          'every event is processed');
SELECT is((SELECT count(DISTINCT (status, canceled_at, ended_at, current_period_start, cancel_at_period_end, quantity))
             FROM jobspy.subscriptions WHERE stripe_subscription_id LIKE 'sub\__'), 1::bigint,
          'all six billing subscriptions end in the same state');
SELECT is((SELECT DISTINCT (status, canceled_at) FROM jobspy.subscriptions WHERE stripe_subscription_id LIKE 'sub\__'),
          ROW('canceled'::text, to_timestamp(1893456120)), 'canceled at the deletion''s time');

-- The issue's case: an update saying active, older than the deletion, arrives after it.
SELECT pg_temp.deliver('evt_late_del', 'customer.subscription.deleted', 1893456100, 'sub_late', 'canceled');
SELECT is(pg_temp.deliver('evt_late_upd', 'customer.subscription.updated', 1893456050, 'sub_late', 'active'),
          'ACCEPTED', 'the late update is accepted (stored)');
SELECT is((SELECT (status, note LIKE 'older than evt_late_del%') FROM jobspy.payment_webhooks WHERE event_id = 'evt_late_upd'),
          ROW('ignored'::text, true), 'but ignored, with the reason');
SELECT is((SELECT (o.object ->> 'status') || '/' || s.status FROM jobspy.provider_objects o
             JOIN jobspy.subscriptions s ON s.stripe_subscription_id = o.object_id WHERE o.object_id = 'sub_late'),
          'canceled/canceled', 'the subscription is not revived, neither its watermark nor its billing row');

-- Same second: the stage decides (created < updated < deleted), in every order.
SELECT pg_temp.run('tie_' || n, ord, 1893456000, 1893456000, 1893456000)
  FROM (VALUES (1, '{1,2,3}'::int[]), (2, '{3,2,1}'), (3, '{2,3,1}')) v(n, ord);
SELECT is((SELECT array_agg(DISTINCT object ->> 'status') FROM jobspy.provider_objects WHERE object_id LIKE 'tie\__'),
          ARRAY['canceled'], 'events of the same second are ordered by the object''s life');
SELECT pg_temp.run('tie2_' || n, ord, 1893456000, 1893456000, 1893456500)
  FROM (VALUES (1, '{1,2}'::int[]), (2, '{2,1}')) v(n, ord);
SELECT is((SELECT array_agg(DISTINCT object ->> 'status') FROM jobspy.provider_objects WHERE object_id LIKE 'tie2\__'),
          ARRAY['past_due'], 'an update of the same second as the creation wins over it');

SELECT * FROM finish();
ROLLBACK;
