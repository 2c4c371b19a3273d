-- The original design's PL/pgSQL generator (bench/fixtures/00_core.sql), a
-- thousand keys per call: the baseline for jobspy.generate_license_key().
SELECT count(bench.seed_generate_license_key()) FROM generate_series(1, 1000);
