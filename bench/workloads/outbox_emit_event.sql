-- emit_event: one outbox event of one of 1,000 users (copied into
-- analytics' events by its trigger), as every billing change writes one;
-- shown beside the bare INSERT of a payment's row.
-- against: billing_bare_insert
\set n random(1, 1000000)
SELECT jobspy.emit_event('billing.thing.happened', 'thing', 'x' || :n, '{"a": 1}', bench.user_id(1 + :n % 1000));
