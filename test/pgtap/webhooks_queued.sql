-- Queued mode: process_webhooks takes due events, a failure keeps its error
-- and retries with backoff, max_attempts ends in failed.
BEGIN;
SELECT plan(21);
CREATE EXTENSION IF NOT EXISTS pgcrypto SCHEMA public;
CREATE FUNCTION pg_temp.deliver(id text) RETURNS jobspy.webhook_receipt LANGUAGE sql AS $$
    SELECT jobspy.receive_webhook('stripe',
        format('t=1893456000,v1=%s', encode(public.hmac('1893456000.' || p, 'q_secret', 'sha256'), 'hex')), p)
      FROM (SELECT jsonb_build_object('id', id, 'type', 'customer.updated', 'created', 1893456000,
                                      'data', jsonb_build_object('object', jsonb_build_object('id', 'cus_q')))::text AS p) x
$$;
-- Applying fails while test.fail is on: an outside condition that a retry outlives.
CREATE OR REPLACE FUNCTION jobspy.apply_webhook_event(webhook jobspy.payment_webhooks) RETURNS text
    LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('test.fail', true) = 'on' THEN
        RAISE EXCEPTION 'billing is down for %', webhook.event_id USING ERRCODE = '55000';
    END IF;
    INSERT INTO pg_temp.applied VALUES (webhook.event_id, current_setting('lock_timeout'));
    RETURN NULL;
END $$;
CREATE TEMP TABLE applied (event_id text, lock_wait text);

SET LOCAL jobspy.clock_override = '2030-01-01 00:00:00+00';
SELECT jobspy.create_provider('stripe', 'Stripe');
SELECT jobspy.set_provider_secret('stripe', 'q_secret');
SELECT jobspy.config_set('webhooks.mode', '"queued"');

SELECT is((pg_temp.deliver('evt_q1')).code, 'ACCEPTED', 'a queued event is accepted');
SELECT is((SELECT (status, processed, attempts) FROM jobspy.payment_webhooks WHERE event_id = 'evt_q1'),
          ROW('pending'::text, false, 0), 'and waits, unprocessed');

SET LOCAL test.fail = 'on';
SELECT is(jobspy.process_webhooks(10), 1, 'process_webhooks attempts it');
SELECT is((SELECT (status, attempts, next_attempt_at) FROM jobspy.payment_webhooks WHERE event_id = 'evt_q1'),
          ROW('pending'::text, 1, '2030-01-01 00:00:30+00'::timestamptz), 'a failure leaves it pending, retried after 30 s');
SELECT is((SELECT errors -> 0 ->> 'error' FROM jobspy.payment_webhooks WHERE event_id = 'evt_q1'),
          'billing is down for evt_q1', 'the failure''s error is kept');
SELECT is((SELECT errors -> 0 ->> 'sqlstate' FROM jobspy.payment_webhooks WHERE event_id = 'evt_q1'), '55000', 'with its SQLSTATE');
SELECT is((SELECT count(*) FROM applied), 0::bigint, 'nothing of the failed attempt remains');
SELECT is(jobspy.process_webhooks(10), 0, 'before its retry time it is not taken');

SET LOCAL jobspy.clock_override = '2030-01-01 00:00:30+00';
SELECT is(jobspy.process_webhooks(10), 1, 'at its retry time it is taken again');
SELECT is((SELECT (status, attempts, jsonb_array_length(errors)) FROM jobspy.payment_webhooks WHERE event_id = 'evt_q1'),
          ROW('pending'::text, 2, 2), 'a second failure: two errors kept');
SELECT is((SELECT next_attempt_at FROM jobspy.payment_webhooks WHERE event_id = 'evt_q1'),
          '2030-01-01 00:01:30+00'::timestamptz, 'the backoff doubles (60 s)');

SET LOCAL test.fail = 'off';
SET LOCAL jobspy.clock_override = '2030-01-01 00:01:30+00';
SELECT is(jobspy.process_webhooks(10), 1, 'the third attempt runs');
SELECT is((SELECT (status, processed, attempts, processed_at) FROM jobspy.payment_webhooks WHERE event_id = 'evt_q1'),
          ROW('applied'::text, true, 3, '2030-01-01 00:01:30+00'::timestamptz), 'and applies it');
SELECT is((SELECT array_agg(event_id) FROM applied), ARRAY['evt_q1'], 'exactly once');

-- Giving up after webhooks.max_attempts.
SELECT jobspy.config_set('webhooks.max_attempts', '1');
SET LOCAL test.fail = 'on';
SELECT pg_temp.deliver('evt_q2');
SELECT jobspy.process_webhooks(10);
SELECT is((SELECT (status, processed, attempts) FROM jobspy.payment_webhooks WHERE event_id = 'evt_q2'),
          ROW('failed'::text, false, 1), 'after max_attempts failures the event is failed and no longer retried');
SELECT throws_ok($$SELECT jobspy.process_webhooks(0)$$, '22023', NULL, 'process_webhooks refuses max 0');

-- The backoff stops growing at 6 hours, however many attempts there were
-- (30 s * 2^39 would pass interval's range).
SELECT jobspy.config_set('webhooks.max_attempts', '1000');
SELECT pg_temp.deliver('evt_q3');
UPDATE jobspy.payment_webhooks SET attempts = 60 WHERE event_id = 'evt_q3';
SELECT jobspy.process_webhooks(10);
SELECT is((SELECT (status, attempts, next_attempt_at - jobspy.now()) FROM jobspy.payment_webhooks WHERE event_id = 'evt_q3'),
          ROW('pending'::text, 61, interval '6 hours'), 'the 61st failure is retried after 6 hours');

-- An attempt waits for a lock for webhooks.attempt_lock_timeout_ms at most,
-- or the caller's lock_timeout when shorter, and the caller keeps its own.
SET LOCAL test.fail = 'off';
SET LOCAL jobspy.clock_override = '2030-01-01 00:02:00+00';
SELECT pg_temp.deliver('evt_w1');
SELECT jobspy.process_webhooks(10);
SELECT is((SELECT lock_wait FROM applied WHERE event_id = 'evt_w1'), '5s', 'an attempt waits 5 s for a lock by default');
SELECT jobspy.config_set('webhooks.attempt_lock_timeout_ms', '250');
SELECT pg_temp.deliver('evt_w2');
SELECT jobspy.process_webhooks(10);
SELECT is((SELECT lock_wait FROM applied WHERE event_id = 'evt_w2'), '250ms', 'or as configured');
SET LOCAL lock_timeout = '100ms';
SELECT pg_temp.deliver('evt_w3');
SELECT jobspy.process_webhooks(10);
SELECT is((SELECT lock_wait FROM applied WHERE event_id = 'evt_w3'), '100ms', 'a shorter lock_timeout of the caller wins');
SELECT is(current_setting('lock_timeout'), '100ms', 'and the caller''s setting is left as it was');

SELECT * FROM finish();
ROLLBACK;
