-- Baseline for record_payment and finalize_invoice: a bare durable INSERT
-- of a payment's row, same commit settings.
\set n random(1, :scale)
\set e random(1, 1000000000000000)
INSERT INTO bench.payment_rows (user_id, customer_id, provider_id, provider_payment_id, amount_cents, currency,
                                status, fee_cents)
VALUES (bench.user_id(:n), bench.customer_id(:n), '00000000-0000-4000-8000-000000000000', 'ch_' || :e, 1999, 'USD',
        'succeeded', 88);
