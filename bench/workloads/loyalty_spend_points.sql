-- spend_points: one point by one of :scale members, each with its own
-- idempotency key: a durable ledger row, grant and balance update.
-- compare: loyalty_bare_insert >= 0.5
\set n random(1, :scale)
\set e random(1, 1000000000000000)
SELECT * FROM jobspy.spend_points(bench.user_id(:n), 1, 's' || :e);
