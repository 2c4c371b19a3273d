-- The floor of an API function that answers with a row: bench.row_floor()
-- (bench/floor) is called as ratelimit_rate_limit calls rate_limit, with
-- its arguments and row type, and does nothing.  Its rate is the most any
-- such call can reach in this run: what the executor (a function scan, a
-- tuple store) and the protocol (five columns described and sent) cost.
-- against: select1
\set n random(1, :scale)
SELECT * FROM bench.row_floor('bench:' || :n, 999, 100000, '1 hour');
