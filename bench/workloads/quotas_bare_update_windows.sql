-- Baseline for quotas_consume_windows: a bare increment of one row per
-- window touched (two), in one statement and one commit.
\set n random(1, :scale)
\set m :n + :scale
UPDATE bench.window_counters SET used = used + 1 WHERE id IN (:n, :m) RETURNING used;
