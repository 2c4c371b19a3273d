-- finalize_invoice in one series ("bench") from every client: each
-- transaction makes a draft, adds a line and finalizes it, taking the
-- series' next gapless number, so finalizations of the series take turns
-- on its row.  Against the bare INSERT of a payment's row.
-- compare: billing_bare_insert >= 0.25
-- against: billing_gapless_floor
\set n random(1, :scale)
BEGIN;
SELECT jobspy.create_invoice(bench.customer_id(:n), 'USD', series => 'bench') AS inv \gset
SELECT jobspy.add_invoice_line(:inv, 'bench plan', 1, 1999);
SELECT jobspy.finalize_invoice(:inv);
COMMIT;
