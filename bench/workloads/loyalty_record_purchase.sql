-- record_purchase: a new purchase (a fresh external id) by one of :scale
-- members, each a durable write of the purchase, its ledger grant and the
-- member's balance, against the bare INSERT of the purchase's row.
-- compare: loyalty_bare_insert >= 0.5
\set n random(1, :scale)
\set e random(1, 1000000000000000)
SELECT * FROM jobspy.record_purchase('bench', 'p' || :e, bench.user_id(:n), 12345, 'RUB');
