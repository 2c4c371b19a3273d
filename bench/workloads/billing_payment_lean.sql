-- The plainest writes a recorded payment stands for: the payment's row (in
-- the baseline's table), an audit row and an outbox event, in one
-- statement, in tables with keys and nothing else.  Shown beside
-- record_payment and billing_payment_writes: how much of a payment's price
-- is the writing itself, and how much the design of the extension's tables
-- (indexes, foreign keys, CHECK constraints, the audit trigger, partitions).
-- against: billing_bare_insert
\set n random(1, :scale)
\set e random(1, 1000000000000000)
WITH p AS (
    INSERT INTO bench.payment_rows (user_id, customer_id, provider_id, provider_payment_id, amount_cents, currency,
                                    status, fee_cents)
    VALUES (bench.user_id(:n), bench.customer_id(:n), '00000000-0000-4000-8000-000000000000', 'pl_' || :e, 1999,
            'USD', 'succeeded', 88)
    RETURNING id, user_id
), a AS (
    INSERT INTO bench.audit_rows (table_name, row_id, action, new_row)
    SELECT 'payments', p.id, 'INSERT', '{"amount_cents": 1999, "currency": "USD", "status": "succeeded"}' FROM p
)
INSERT INTO bench.event_rows (topic, entity_id, user_id, payload)
SELECT 'billing.payment.succeeded', p.id::text, p.user_id, '{"amount_cents": 1999, "currency": "USD"}' FROM p;
