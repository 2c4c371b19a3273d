-- The writes a recorded payment cannot do without, made directly: the
-- payment's row in jobspy.payments (its CHECK constraints, foreign keys,
-- indexes and triggers, audit row included) and its outbox event, in one
-- statement, without record_payment's checks and lookups.  Shown beside
-- record_payment: what the table design itself costs against the bare
-- INSERT.
-- against: billing_bare_insert
\set n random(1, :scale)
\set e random(1, 1000000000000000)
WITH p AS (
    INSERT INTO jobspy.payments (user_id, customer_id, provider_id, provider_payment_id, amount_cents, currency,
                                 status, fee_cents)
    VALUES (bench.user_id(:n), bench.customer_id(:n), (SELECT id FROM jobspy.payment_providers WHERE code = 'stripe'),
            'pw_' || :e, 1999, 'USD', 'succeeded', 88)
    RETURNING id, user_id
)
SELECT jobspy.emit_event('billing.payment.succeeded', 'payment', p.id::text, '{}', p.user_id) FROM p;
