-- The floor of any gapless numbering, shown beside finalize_invoice: the
-- bare INSERT of a payment's row, numbered from one counter row in the same
-- transaction.  The row stays locked from the UPDATE to the commit, so
-- that a rollback can give its number back; every numbered commit in a
-- series therefore waits for the one before, WAL flush included, where
-- bare INSERTs share flushes.  No numbering that is gapless under
-- rollbacks can beat this rate in one series.
-- against: billing_bare_insert
\set n random(1, :scale)
\set e random(1, 1000000000000000)
BEGIN;
UPDATE bench.number_floor SET last_number = last_number + 1 WHERE series = 'floor' RETURNING last_number AS number \gset
INSERT INTO bench.payment_rows (user_id, customer_id, provider_id, provider_payment_id, amount_cents, currency,
                                status, fee_cents)
VALUES (bench.user_id(:n), bench.customer_id(:n), '00000000-0000-4000-8000-000000000000', 'fl' || :number, 1999, 'USD',
        'succeeded', 88);
COMMIT;
