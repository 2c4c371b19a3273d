-- Baseline for record_purchase and spend_points: a bare durable INSERT of
-- a purchase's row, same commit settings.
\set n random(1, :scale)
\set e random(1, 1000000000000000)
INSERT INTO bench.purchase_rows (user_id, business_id, external_id, amount, currency)
VALUES (bench.user_id(:n), '00000000-0000-4000-8000-000000000000', 'p' || :e, 12345, 'RUB');
