-- record_payment: a new succeeded payment (a fresh provider payment id) of
-- one of :scale customers, a durable write of the payment's row and its
-- outbox event, against the bare INSERT of the payment's row.
-- compare: billing_bare_insert >= 0.5
\set n random(1, :scale)
\set e random(1, 1000000000000000)
SELECT jobspy.record_payment('stripe', 'ch_' || :e, bench.customer_id(:n), 1999, 'USD', 'succeeded', fee => 88);
