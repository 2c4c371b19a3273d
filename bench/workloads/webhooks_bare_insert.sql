-- Baseline for receive_webhook: a bare durable INSERT of the same 2 kB
-- event, parsed to jsonb, into a table with a primary key.
\set id random(1, 1000000000000)
INSERT INTO bench.webhook_bare (payload)
SELECT replace(t.payload, 'EVT_ID', 'evt_' || :id)::jsonb FROM bench.webhook_template t;
