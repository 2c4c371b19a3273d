-- receive_webhook: the Stripe vector, every code, rotation, tolerance edges,
-- plain HMAC in hex and base64, deduplication, secrets never readable.
BEGIN;
SELECT plan(45);
CREATE EXTENSION IF NOT EXISTS pgcrypto SCHEMA public;

-- Signatures computed independently, with pgcrypto.
CREATE FUNCTION pg_temp.stripe_sig(secret text, t bigint, payload text) RETURNS text LANGUAGE sql AS $$
    SELECT format('t=%s,v1=%s', t, encode(public.hmac(t || '.' || payload, secret, 'sha256'), 'hex'))
$$;
CREATE FUNCTION pg_temp.evt(id text, type text DEFAULT 'customer.created', created bigint DEFAULT 1533204620) RETURNS text
    LANGUAGE sql AS $$
    SELECT jsonb_build_object('id', id, 'object', 'event', 'type', type, 'created', created,
                              'data', jsonb_build_object('object', jsonb_build_object('id', 'cus_1', 'object', 'customer')))::text
$$;

SELECT jobspy.create_provider('stripe', 'Stripe');
SELECT jobspy.create_provider('plain', 'Plain HMAC', 'hmac_sha256');
SELECT lives_ok($$SELECT jobspy.set_provider_secret('stripe', 'webhook_secret')$$, 'set_provider_secret stores a secret');

-- The vector of shared/test-vectors/stripe-webhook, byte for byte (484 bytes, trailing newline).
CREATE TEMP TABLE vec AS SELECT $vec${
  "id": "evt_123",
  "object": "event",
  "account": "acct_123",
  "api_version": "2017-05-25",
  "created": 1533204620,
  "data": {
    "object": {
      "id": "cus_123",
      "object": "customer",
      "created": 123456789,
      "email": "test@stripe.com",
      "livemode": false,
      "metadata": {}
    }
  },
  "livemode": false,
  "pending_webhooks": 1,
  "request": {
    "id": "req_123",
    "idempotency_key": "idempotency-key-123"
  },
  "type": "customer.created"
}$vec$ || E'\n' AS payload,
    't=1533204620,v1=2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7,v0=63f3a72374a733066c4be69ed7f8e5ac85c22c9f0a6a612ab9a025a9e4ee7eef'::text AS header;
SELECT is((SELECT octet_length(payload) FROM vec), 484, 'the vector payload is 484 bytes');
SELECT is((SELECT encode(sha256(convert_to(payload, 'UTF8')), 'hex') FROM vec),
          '98cc89412549ca7faf118fca984763bdb6f81e13d1ce8c528dbbb5be602ec1be', 'and is the vector''s exact bytes');

SELECT jobspy.create_user('test@stripe.com');
SET LOCAL jobspy.clock_override = '2018-08-02 10:12:00+00';   -- t + 100 s
SELECT is((SELECT to_timestamp(1533204620) + interval '100 seconds'), '2018-08-02 10:12:00+00'::timestamptz, 'clock at t + 100');
SELECT is((SELECT r FROM vec, jobspy.receive_webhook('stripe', header, payload) r),
          ROW(true, 'ACCEPTED', 'evt_123', 'customer.created')::jobspy.webhook_receipt, 'the Stripe vector verifies at t + 100');
SELECT is((SELECT r FROM vec, jobspy.receive_webhook('stripe', header, payload) r),
          ROW(false, 'DUPLICATE', 'evt_123', 'customer.created')::jobspy.webhook_receipt, 'its redelivery is a duplicate');
SELECT is((SELECT count(*) FROM jobspy.payment_webhooks), 1::bigint, 'one row stored for the event');
SELECT is((SELECT (status, processed, attempts, note) FROM jobspy.payment_webhooks),
          ROW('applied'::text, true, 1, NULL::text), 'inline mode applied it at once');
SELECT is((SELECT c.user_id FROM jobspy.provider_customers pc JOIN jobspy.customers c ON c.id = pc.customer_id
            WHERE pc.provider_customer_id = 'cus_123'),
          (SELECT u.id FROM jobspy.users u WHERE u.email = 'test@stripe.com'), 'to the customer of the user with its email');
SELECT is((SELECT event_created FROM jobspy.payment_webhooks), to_timestamp(1533204620), 'the event''s created time is kept');
SELECT is((SELECT (jobspy.receive_webhook('stripe', header, replace(payload, 'cus_123', 'cus_124'))).code FROM vec),
          'BAD_SIGNATURE', 'any change to the payload fails');
SELECT is((SELECT (jobspy.receive_webhook('stripe', header, rtrim(payload, E'\n'))).code FROM vec),
          'BAD_SIGNATURE', 'even the trailing newline counts');

SET LOCAL jobspy.clock_override = '2018-08-02 10:17:00+00';   -- t + 400 s
SELECT is((SELECT (jobspy.receive_webhook('stripe', header, payload)).code FROM vec), 'STALE_TIMESTAMP',
          'the vector is stale at t + 400');

-- Tolerance edges, at t = 2030-01-01 00:00:00 (1893456000).
SET LOCAL jobspy.clock_override = '2030-01-01 00:05:00+00';
SELECT is((jobspy.receive_webhook('stripe', pg_temp.stripe_sig('webhook_secret', 1893456000, pg_temp.evt('evt_a')), pg_temp.evt('evt_a'))).code,
          'ACCEPTED', 'exactly 300 s old passes');
SET LOCAL jobspy.clock_override = '2030-01-01 00:05:01+00';
SELECT is((jobspy.receive_webhook('stripe', pg_temp.stripe_sig('webhook_secret', 1893456000, pg_temp.evt('evt_b')), pg_temp.evt('evt_b'))).code,
          'STALE_TIMESTAMP', '301 s old is stale');
SELECT is((jobspy.receive_webhook('stripe', pg_temp.stripe_sig('webhook_secret', 1893456000 + 602, pg_temp.evt('evt_c')), pg_temp.evt('evt_c'))).code,
          'STALE_TIMESTAMP', '301 s in the future is stale too');
SELECT jobspy.config_set('webhooks.tolerance_seconds', '600');
SELECT is((jobspy.receive_webhook('stripe', pg_temp.stripe_sig('webhook_secret', 1893456000, pg_temp.evt('evt_b')), pg_temp.evt('evt_b'))).code,
          'ACCEPTED', 'the tolerance is configurable (webhooks.tolerance_seconds)');
SELECT jobspy.config_set('webhooks.tolerance_seconds', '300');

-- Header shapes.
SET LOCAL jobspy.clock_override = '2030-01-01 00:00:00+00';
CREATE TEMP TABLE e AS SELECT pg_temp.evt('evt_h') AS p, encode(public.hmac('1893456000.' || pg_temp.evt('evt_h'), 'webhook_secret', 'sha256'), 'hex') AS good;
SELECT is((SELECT (jobspy.receive_webhook('stripe', format('t=1893456000,v1=%s,v1=%s', repeat('ab', 32), good), p)).code FROM e),
          'ACCEPTED', 'a bad v1 beside a good one does not fail it');
SELECT is((SELECT (jobspy.receive_webhook('stripe', format('t=1893456000,%sv1=%s', repeat('v1=' || repeat('ab', 32) || ',', 7), good), p)).code
             FROM e), 'DUPLICATE', 'eight v1 signatures, the good one last, verify (the event is a duplicate by then)');
SELECT is((SELECT (jobspy.receive_webhook('stripe', format('t=1893456000,%sv1=%s', repeat('v1=' || repeat('ab', 32) || ',', 8), good), p)).code
             FROM e), 'MALFORMED', 'nine are malformed, not a good one dropped');
SELECT is((SELECT (jobspy.receive_webhook('stripe', format('v1=%s', good), p)).code FROM e), 'MALFORMED', 'no timestamp is malformed');
SELECT is((SELECT (jobspy.receive_webhook('stripe', format('t=1893456000,v0=%s', good), p)).code FROM e), 'MALFORMED', 'no v1 is malformed');
SELECT is((SELECT (jobspy.receive_webhook('stripe', format('t=18934x6000,v1=%s', good), p)).code FROM e), 'MALFORMED', 'a non-numeric timestamp is malformed');
SELECT is((SELECT (jobspy.receive_webhook('stripe', format('t=1,t=1893456000,v1=%s', good), p)).code FROM e), 'MALFORMED', 'two timestamps are malformed');
SELECT is((SELECT (jobspy.receive_webhook('stripe', 'garbage', p)).code FROM e), 'MALFORMED', 'garbage is malformed');
SELECT is((SELECT (jobspy.receive_webhook('stripe', NULL, p)).code FROM e), 'MALFORMED', 'a missing header is malformed');
SELECT is((SELECT (jobspy.receive_webhook('stripe', format('t=1893456000,v1=%s', repeat('0', 64)), p)).code FROM e), 'BAD_SIGNATURE', 'a wrong v1 is a bad signature');
SELECT is((SELECT (jobspy.receive_webhook('stripe', format('t=1893456001,v1=%s', good), p)).code FROM e), 'BAD_SIGNATURE', 'the timestamp is signed');
SELECT is((jobspy.receive_webhook('nope', 't=1,v1=00', '{}')).code, 'UNKNOWN_PROVIDER', 'an unknown provider');
SELECT is((jobspy.receive_webhook(NULL, NULL, NULL)).code, 'UNKNOWN_PROVIDER', 'NULLs are codes, not errors');
-- Verified but not an event.
SELECT is((jobspy.receive_webhook('stripe', pg_temp.stripe_sig('webhook_secret', 1893456000, 'not json'), 'not json')).code,
          'MALFORMED', 'a signed payload that is not JSON is malformed');
SELECT is((jobspy.receive_webhook('stripe', pg_temp.stripe_sig('webhook_secret', 1893456000, '{"type": "x"}'), '{"type": "x"}')).code,
          'MALFORMED', 'an event without an id is malformed');
SELECT is((SELECT count(*) FROM jobspy.payment_webhooks WHERE event_id NOT IN ('evt_123', 'evt_a', 'evt_b', 'evt_h')), 0::bigint,
          'nothing is stored unless accepted');

-- Rotation: two live secrets, a third drops the oldest.
SELECT jobspy.set_provider_secret('stripe', 'second_secret');
SELECT is((jobspy.receive_webhook('stripe', pg_temp.stripe_sig('webhook_secret', 1893456000, pg_temp.evt('evt_r1')), pg_temp.evt('evt_r1'))).code,
          'ACCEPTED', 'during a rotation the old secret still verifies');
SELECT is((jobspy.receive_webhook('stripe', pg_temp.stripe_sig('second_secret', 1893456000, pg_temp.evt('evt_r2')), pg_temp.evt('evt_r2'))).code,
          'ACCEPTED', 'and so does the new one');
SELECT jobspy.set_provider_secret('stripe', 'third_secret');
SELECT is((SELECT count(*) FROM jobspy.webhook_secrets), 2::bigint, 'at most two live secrets per provider');
SELECT is((jobspy.receive_webhook('stripe', pg_temp.stripe_sig('webhook_secret', 1893456000, pg_temp.evt('evt_r3')), pg_temp.evt('evt_r3'))).code,
          'BAD_SIGNATURE', 'the oldest secret no longer verifies after two rotations');
SELECT is(jobspy.retire_provider_secret('stripe'), 1, 'retire_provider_secret keeps only the newest');
SELECT is((jobspy.receive_webhook('stripe', pg_temp.stripe_sig('second_secret', 1893456000, pg_temp.evt('evt_r4')), pg_temp.evt('evt_r4'))).code,
          'BAD_SIGNATURE', 'the retired secret no longer verifies');

-- Plain HMAC-SHA256 of the body, hex, base64 and GitHub's sha256= prefix.
SELECT jobspy.set_provider_secret('plain', 'plain secret');
SELECT is((jobspy.receive_webhook('plain', encode(public.hmac('{"id": "p1", "type": "paid"}', 'plain secret', 'sha256'), 'hex'),
                                  '{"id": "p1", "type": "paid"}')).code, 'ACCEPTED', 'plain HMAC in hex');
SELECT is((jobspy.receive_webhook('plain', encode(public.hmac('{"id": "p2", "event": "paid"}', 'plain secret', 'sha256'), 'base64'),
                                  '{"id": "p2", "event": "paid"}')).code, 'ACCEPTED', 'plain HMAC in base64');
SELECT is((jobspy.receive_webhook('plain', 'sha256=' || upper(encode(public.hmac('{"id": "p3", "type": "paid"}', 'plain secret', 'sha256'), 'hex')),
                                  '{"id": "p3", "type": "paid"}')).code, 'ACCEPTED', 'plain HMAC with a sha256= prefix, upper-case hex');
SELECT is((jobspy.receive_webhook('plain', encode(public.hmac('{"id": "p4", "type": "paid"}', 'other', 'sha256'), 'base64'),
                                  '{"id": "p4", "type": "paid"}')).code, 'BAD_SIGNATURE', 'plain HMAC under another secret');

-- Secrets: sealed, never readable by the application or the admin.
SELECT ok(NOT EXISTS (SELECT 1 FROM jobspy.webhook_secrets WHERE position(convert_to('third_secret', 'UTF8') IN sealed) > 0),
          'the stored secret is not the plaintext');
SELECT ok(NOT has_table_privilege('jobspy_app', 'jobspy.webhook_secrets', 'SELECT')
          AND NOT has_table_privilege('jobspy_admin', 'jobspy.webhook_secrets', 'SELECT')
          AND NOT has_function_privilege('jobspy_app', 'jobspy.set_provider_secret(text, text)', 'EXECUTE')
          AND has_function_privilege('jobspy_app', 'jobspy.receive_webhook(text, text, text)', 'EXECUTE'),
          'jobspy_app receives webhooks but cannot read or set secrets');

SELECT * FROM finish();
ROLLBACK;
