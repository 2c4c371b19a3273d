-- The outbox of domain events: emit in the caller's transaction, claim in
-- order with per-entity serialisation, ack, fail and retry, retention.
BEGIN;
SELECT plan(41);

SET LOCAL jobspy.clock_override = '2030-01-01 00:00:00+00';

SELECT lives_ok($$SELECT jobspy.emit_event('billing.subscription.status_changed', 'subscription', 's1',
                                           '{"from": "trialing", "to": "active"}')$$, 'emit_event writes an event');
SELECT jobspy.emit_event('billing.invoice.paid', 'invoice', 'i1', '{"amount": 1200, "currency": "EUR"}',
                         '11111111-1111-4111-8111-111111111111');
SELECT jobspy.emit_event('billing.subscription.status_changed', 'subscription', 's1', '{"from": "active", "to": "past_due"}');
SELECT jobspy.emit_event('loyalty.tier_changed', 'user', 'u1');

SELECT is((SELECT count(*) FROM jobspy.outbox_events), 4::bigint, 'four events are pending');
SELECT is((SELECT created_at FROM jobspy.outbox_events ORDER BY id LIMIT 1), '2030-01-01 00:00:00+00'::timestamptz,
          'an event is stamped with jobspy.now()');
SELECT is((SELECT payload FROM jobspy.outbox_events WHERE topic = 'loyalty.tier_changed'), '{}'::jsonb,
          'the payload defaults to an empty object');
SELECT is((SELECT user_id FROM jobspy.outbox_events WHERE topic = 'billing.invoice.paid'),
          '11111111-1111-4111-8111-111111111111'::uuid, 'the user an event concerns is kept');

-- Bad input.
SELECT throws_ok($$SELECT jobspy.emit_event('Bad Topic', 'x', '1')$$, '22023', NULL, 'a malformed topic is refused');
SELECT throws_ok($$SELECT jobspy.emit_event('a.b', 'x', '1', '[1]')$$, '22023', NULL, 'a payload that is not an object is refused');
SELECT throws_ok($$SELECT jobspy.emit_event('a.b', NULL, '1')$$, '22004', NULL, 'a NULL entity is refused');
SELECT throws_ok($$SELECT jobspy.emit_event('a.b', '', '1')$$, '22023', NULL, 'an empty entity type is refused');
SELECT throws_ok($$SELECT jobspy.emit_event('a.b', repeat('t', 51), '1')$$, '22023', NULL, 'an entity type over 50 characters is refused');
SELECT throws_ok($$SELECT jobspy.emit_event('a.b', 'x', repeat('i', 256))$$, '22023', NULL, 'an entity id over 255 characters is refused');
SELECT throws_ok($$SELECT jobspy.emit_event(repeat('a', 101), 'x', '1')$$, '22023', NULL, 'a topic over 100 characters is refused');
SELECT throws_ok($$SELECT jobspy.claim_events(0)$$, '22023', NULL, 'claim_events refuses max 0');
SELECT throws_ok($$SELECT jobspy.claim_events(1, NULL, '-1 minute')$$, '22023', NULL, 'claim_events refuses a negative lease');
-- A NULL where a value is required is 22004 in every outbox function.
SELECT throws_ok($$SELECT jobspy.ack_events(NULL)$$, '22004', NULL, 'ack_events refuses NULL rather than answering NULL');
SELECT throws_ok($$SELECT jobspy.ack_events(ARRAY[1, NULL]::bigint[])$$, '22004', NULL, 'ack_events refuses a NULL id');
SELECT is(jobspy.ack_events('{}'), 0, 'ack_events of no ids acks nothing');
SELECT throws_ok($$SELECT jobspy.claim_events(NULL)$$, '22004', NULL, 'claim_events refuses a NULL max');
SELECT throws_ok($$SELECT jobspy.claim_events(1, NULL, NULL)$$, '22004', NULL, 'claim_events refuses a NULL lease');
SELECT throws_ok($$SELECT jobspy.claim_events(1, ARRAY['a.b', NULL])$$, '22004', NULL, 'claim_events refuses a NULL topic');
SELECT throws_ok($$SELECT jobspy.fail_event(NULL, 'x')$$, '22004', NULL, 'fail_event refuses a NULL id');
SELECT throws_ok($$SELECT jobspy.fail_event(1, NULL)$$, '22004', NULL, 'fail_event refuses a NULL error');
SELECT throws_ok($$SELECT jobspy.fail_event(1, 'x', NULL)$$, '22004', NULL, 'fail_event refuses a NULL retry_after');

-- Claim: oldest first, the second event of subscription s1 waits for the first.
CREATE TEMP TABLE c1 AS SELECT * FROM jobspy.claim_events(10);
SELECT is((SELECT array_agg(entity_id ORDER BY id) FROM c1), ARRAY['s1', 'i1', 'u1'],
          'a claim takes the oldest pending event of each entity, in id order');
SELECT is((SELECT array_agg(attempts) FROM c1), ARRAY[1, 1, 1], 'a claim counts an attempt');
SELECT is((SELECT count(*) FROM jobspy.claim_events(10)), 0::bigint,
          'claimed events are not claimed again during their lease, nor later events of their entity');

-- Topics filter.
SELECT jobspy.emit_event('analytics.ping', 'ping', 'p1');
SELECT is((SELECT array_agg(topic) FROM jobspy.claim_events(10, ARRAY['analytics.ping'])), ARRAY['analytics.ping'],
          'a claim can be limited to topics');

-- Ack.
SELECT is(jobspy.ack_events((SELECT array_agg(id) FROM c1 WHERE entity_id IN ('s1', 'i1'))), 2,
          'ack_events marks the events consumed and counts them');
SELECT is(jobspy.ack_events((SELECT array_agg(id) FROM c1 WHERE entity_id IN ('s1', 'i1'))), 0,
          'acking again changes nothing');
SELECT is((SELECT payload ->> 'to' FROM jobspy.claim_events(10)), 'past_due',
          'once the first event of s1 is consumed its second can be claimed');

-- Fail and retry: the error is kept, the event comes back after the delay.
SELECT throws_ok(format('SELECT jobspy.fail_event(%s, %L, %L)', (SELECT id FROM c1 WHERE entity_id = 'u1'), 'x',
                        '170000000 years'), '22023', NULL, 'fail_event refuses a retry_after over 30 days');
SELECT ok(jobspy.fail_event((SELECT id FROM c1 WHERE entity_id = 'u1'), 'smtp down', '10 minutes'),
          'fail_event gives a claimed event back');
SELECT is((SELECT last_error FROM jobspy.outbox_events WHERE entity_id = 'u1'), 'smtp down', 'the error is kept');
SET LOCAL jobspy.clock_override = '2030-01-01 00:09:00+00';
SELECT is((SELECT count(*) FROM jobspy.claim_events(10, ARRAY['loyalty.tier_changed'])), 0::bigint,
          'a failed event waits for its retry delay');
SET LOCAL jobspy.clock_override = '2030-01-01 00:10:00+00';
SELECT is((SELECT attempts FROM jobspy.claim_events(10, ARRAY['loyalty.tier_changed'])), 2,
          'after the delay it is claimed again, its second attempt');

-- An expired lease (a worker that died) makes the event claimable again.
SET LOCAL jobspy.clock_override = '2030-01-01 00:20:00+00';
SELECT is((SELECT count(*) FROM jobspy.claim_events(10, ARRAY['loyalty.tier_changed'])), 1::bigint,
          'an event whose lease ran out is claimed again');

-- Retention: consumed events older than retention.outbox_events go; pending stay.
SELECT jobspy.ack_events(ARRAY(SELECT id FROM jobspy.outbox_events WHERE topic <> 'analytics.ping'));
SET LOCAL jobspy.clock_override = '2030-01-08 00:00:00+00';
SELECT is((SELECT count(*) FROM jobspy.maintain_outbox()), 0::bigint, 'nothing is deleted before 7 days');
SET LOCAL jobspy.clock_override = '2030-01-08 00:30:00+00';
SELECT is((SELECT object FROM jobspy.maintain() WHERE object LIKE '%outbox_events'),
          '4 consumed events of jobspy.outbox_events', 'maintain() deletes consumed events past retention');
SELECT is((SELECT array_agg(topic) FROM jobspy.outbox_events), ARRAY['analytics.ping'],
          'a pending event is never deleted');

-- Privileges: the application consumes but cannot write events or read the table directly.
SELECT ok(has_function_privilege('jobspy_app', 'jobspy.claim_events(integer, text[], interval)', 'EXECUTE')
          AND has_function_privilege('jobspy_app', 'jobspy.ack_events(bigint[])', 'EXECUTE'),
          'jobspy_app may claim and ack');
SELECT ok(NOT has_function_privilege('jobspy_app', 'jobspy.emit_event(text, text, text, jsonb, uuid)', 'EXECUTE')
          AND NOT has_table_privilege('jobspy_app', 'jobspy.outbox_events', 'INSERT, UPDATE, DELETE, SELECT'),
          'jobspy_app may not emit events nor touch the table');

SELECT * FROM finish();
ROLLBACK;
