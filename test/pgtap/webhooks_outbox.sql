-- The outbox of domain events: emit in the caller's transaction, claim in
-- order with per-entity serialisation, ack, fail and retry, retention.
BEGIN;
SELECT plan(57);

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
SELECT throws_ok($$SELECT jobspy.claim_events(1, NULL, '1 mon -29 days')$$, '22023', NULL,
                 'and one that goes back in one of its parts');
SELECT throws_ok($$SELECT jobspy.fail_event(1, gen_random_uuid(), 'x', '1 mon -29 days')$$, '22023', NULL,
                 'fail_event refuses such a retry_after');
SELECT throws_ok($$SELECT jobspy.claim_events(10, '{{a},{b}}'::text[])$$, '22023', NULL,
                 'claim_events refuses a two-dimensional topics array');
SELECT throws_ok($$SELECT jobspy.ack_events('{{1},{2}}'::bigint[], gen_random_uuid())$$, '22023', NULL,
                 'ack_events refuses a two-dimensional ids array');
-- A NULL where a value is required is 22004 in every outbox function.
SELECT throws_ok($$SELECT jobspy.ack_events(ARRAY[1, NULL]::bigint[], gen_random_uuid())$$, '22004', NULL,
                 'ack_events refuses a NULL id');
SELECT is(jobspy.ack_events('{}', gen_random_uuid()), 0, 'ack_events of no ids acks nothing');
SELECT throws_ok($$SELECT jobspy.claim_events(NULL)$$, '22004', NULL, 'claim_events refuses a NULL max');
SELECT throws_ok($$SELECT jobspy.claim_events(1, NULL, NULL)$$, '22004', NULL, 'claim_events refuses a NULL lease');
SELECT throws_ok($$SELECT jobspy.claim_events(1, ARRAY['a.b', NULL])$$, '22004', NULL, 'claim_events refuses a NULL topic');
SELECT throws_ok($$SELECT jobspy.fail_event(NULL, gen_random_uuid(), 'x')$$, '22004', NULL, 'fail_event refuses a NULL id');
SELECT throws_ok($$SELECT jobspy.fail_event(1, NULL, 'x')$$, '22004', NULL, 'fail_event refuses a NULL claim');
SELECT throws_ok($$SELECT jobspy.fail_event(1, gen_random_uuid(), 'x', NULL)$$, '22004', NULL,
                 'fail_event refuses a NULL retry_after');

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

-- Ack: only by the claim that holds the events.
SELECT is((SELECT count(DISTINCT claim) FROM c1), 1::bigint, 'one claim holds the events it took');
SELECT is(jobspy.ack_events((SELECT array_agg(id) FROM c1 WHERE entity_id IN ('s1', 'i1')), gen_random_uuid()), 0,
          'ack_events with another claim marks nothing');
SELECT is(jobspy.ack_events((SELECT array_agg(id) FROM c1 WHERE entity_id IN ('s1', 'i1')), (SELECT claim FROM c1 LIMIT 1)), 2,
          'ack_events marks the events consumed and counts them');
SELECT is(jobspy.ack_events((SELECT array_agg(id) FROM c1 WHERE entity_id IN ('s1', 'i1')), (SELECT claim FROM c1 LIMIT 1)), 0,
          'acking again changes nothing');
SELECT is(jobspy.ack_events((SELECT array_agg(id) FROM jobspy.outbox_events WHERE claim IS NULL AND consumed_at IS NULL),
                            (SELECT claim FROM c1 LIMIT 1)), 0,
          'an event nobody claimed cannot be acked');
SELECT throws_ok($$SELECT jobspy.ack_events(NULL, gen_random_uuid())$$, '22004', NULL, 'ack_events refuses NULL ids');
SELECT throws_ok($$SELECT jobspy.ack_events('{1}', NULL)$$, '22004', NULL, 'ack_events refuses a NULL claim');
SELECT is((SELECT payload ->> 'to' FROM jobspy.claim_events(10)), 'past_due',
          'once the first event of s1 is consumed its second can be claimed');

-- Fail and retry: the error is kept, the event comes back after the delay.
SELECT throws_ok(format('SELECT jobspy.fail_event(%s, %L, %L, %L)', (SELECT id FROM c1 WHERE entity_id = 'u1'),
                        (SELECT claim FROM c1 LIMIT 1), 'x', '170000000 years'), '22023', NULL,
                 'fail_event refuses a retry_after over 30 days');
SELECT throws_ok(format('SELECT jobspy.fail_event(%s, %L, NULL, %L)', (SELECT id FROM c1 WHERE entity_id = 'u1'),
                        (SELECT claim FROM c1 LIMIT 1), '1 minute'), '22004', NULL,
                 'fail_event refuses a NULL error, which would wipe the one kept');
SELECT ok(NOT jobspy.fail_event((SELECT id FROM c1 WHERE entity_id = 'u1'), gen_random_uuid(), 'x'),
          'fail_event with another claim gives nothing back');
SELECT ok(jobspy.fail_event((SELECT id FROM c1 WHERE entity_id = 'u1'), (SELECT claim FROM c1 LIMIT 1), 'smtp down', '10 minutes'),
          'fail_event gives a claimed event back');
SELECT is((SELECT last_error FROM jobspy.outbox_events WHERE entity_id = 'u1'), 'smtp down', 'the error is kept');
SELECT is(jobspy.ack_events((SELECT array_agg(id) FROM c1 WHERE entity_id = 'u1'), (SELECT claim FROM c1 LIMIT 1)), 0,
          'an event given back is no longer its claim''s to ack');
SET LOCAL jobspy.clock_override = '2030-01-01 00:09:00+00';
SELECT is((SELECT count(*) FROM jobspy.claim_events(10, ARRAY['loyalty.tier_changed'])), 0::bigint,
          'a failed event waits for its retry delay');
SET LOCAL jobspy.clock_override = '2030-01-01 00:10:00+00';
SELECT is((SELECT attempts FROM jobspy.claim_events(10, ARRAY['loyalty.tier_changed'])), 2,
          'after the delay it is claimed again, its second attempt');

-- An expired lease (a worker that died) makes the event claimable again;
-- the worker that held it can no longer ack it or give it back.
SET LOCAL jobspy.clock_override = '2030-01-01 00:20:00+00';
CREATE TEMP TABLE late AS SELECT id, claim FROM jobspy.outbox_events WHERE entity_id = 'u1';
SELECT is((SELECT count(*) FROM jobspy.claim_events(10, ARRAY['loyalty.tier_changed'])), 1::bigint,
          'an event whose lease ran out is claimed again');
SELECT ok(NOT jobspy.fail_event((SELECT id FROM late), (SELECT claim FROM late), 'late'),
          'the worker whose lease ran out cannot give the event back');
SELECT is(jobspy.ack_events(ARRAY(SELECT id FROM late), (SELECT claim FROM late)), 0,
          'nor ack it: the claim that took it over holds it');
SET LOCAL jobspy.clock_override = '2030-01-01 00:40:00+00';
SELECT is(jobspy.ack_events(ARRAY(SELECT id FROM jobspy.outbox_events WHERE entity_id = 'u1'),
                            (SELECT claim FROM jobspy.outbox_events WHERE entity_id = 'u1')), 1,
          'a late ack counts while no other claim has taken the event');

-- Retention: consumed events older than retention.outbox_events go; pending stay.
SELECT sum(jobspy.ack_events(ARRAY[id], claim)) FROM jobspy.outbox_events
 WHERE topic <> 'analytics.ping' AND consumed_at IS NULL AND claim IS NOT NULL;
SET LOCAL jobspy.clock_override = '2030-01-08 00:00:00+00';
SELECT is((SELECT count(*) FROM jobspy.maintain_outbox()), 0::bigint, 'nothing is deleted before 7 days');
SET LOCAL jobspy.clock_override = '2030-01-08 00:50:00+00';
SELECT is((SELECT object FROM jobspy.maintain() WHERE object LIKE '%outbox_events'),
          '4 consumed events of jobspy.outbox_events', 'maintain() deletes consumed events past retention');
SELECT is((SELECT array_agg(topic) FROM jobspy.outbox_events), ARRAY['analytics.ping'],
          'a pending event is never deleted');

-- Privileges: the application consumes but cannot write events or read the table directly.
SELECT ok(has_function_privilege('jobspy_app', 'jobspy.claim_events(integer, text[], interval)', 'EXECUTE')
          AND has_function_privilege('jobspy_app', 'jobspy.ack_events(bigint[], uuid)', 'EXECUTE')
          AND has_function_privilege('jobspy_app', 'jobspy.fail_event(bigint, uuid, text, interval)', 'EXECUTE'),
          'jobspy_app may claim, ack and give back');
SELECT ok(NOT has_function_privilege('jobspy_app', 'jobspy.emit_event(text, text, text, jsonb, uuid)', 'EXECUTE')
          AND NOT has_table_privilege('jobspy_app', 'jobspy.outbox_events', 'INSERT, UPDATE, DELETE, SELECT'),
          'jobspy_app may not emit events nor touch the table');

-- A lease runs from the claim, not from the start of its transaction.
RESET jobspy.clock_override;
SELECT jobspy.emit_event('lease.check', 'lease', 'l1');
SELECT pg_sleep(0.01);
SELECT ok((SELECT claimed_until FROM jobspy.claim_events(1, ARRAY['lease.check'], '1 minute')) - interval '1 minute'
          >= statement_timestamp(), 'the lease is counted from the moment of the claim');

-- Pending events are data: pg_dump keeps them.
SELECT ok((SELECT 'jobspy.outbox_events'::regclass::oid = ANY (extconfig) FROM pg_extension WHERE extname = 'jobspy_core'),
          'jobspy.outbox_events is dumped with its rows');

SELECT * FROM finish();
ROLLBACK;
