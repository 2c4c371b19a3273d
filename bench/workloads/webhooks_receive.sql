-- receive_webhook: a 2 kB Stripe event with a fresh id, signed for now,
-- verified, stored once and applied inline (the object's watermark).  The
-- statement also signs the event with pgcrypto, which the baseline does not
-- pay: the ratio errs against receive_webhook.
-- compare: webhooks_bare_insert >= 0.5
\set id random(1, 1000000000000)
SELECT r.code FROM bench.webhook_template t,
       LATERAL (SELECT replace(t.payload, 'EVT_ID', 'evt_' || :id) AS p,
                       extract(epoch FROM now())::bigint AS ts) e,
       LATERAL jobspy.receive_webhook('stripe',
           format('t=%s,v1=%s', e.ts, encode(bench.hmac(e.ts || '.' || e.p, 'whsec_bench', 'sha256'), 'hex')), e.p) r;
