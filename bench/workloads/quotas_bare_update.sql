-- Baseline for consume_quota: a bare single-row counter increment over
-- :scale rows, same commit settings.
\set n random(1, :scale)
UPDATE bench.counters SET used = used + 1 WHERE id = :n RETURNING used;
