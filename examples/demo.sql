-- A short tour of jobspy_core, run by tools/run.  Safe to run again.
\pset footer off
\echo '== Licence keys: 70 random bits and a checksum that catches typos'
SELECT jobspy.generate_license_key() AS new_key;
SELECT k AS typed, jobspy.license_key_is_valid(k) AS valid, jobspy.normalize_license_key(k) AS canonical
  FROM (VALUES ('nsqc 1vq5 9gcc tg2s'), ('NSQC-1VQ5-9GCC-T2GS')) AS t(k);

\echo '== Configuration with built-in defaults'
SELECT key, jobspy.config_get(key) AS value FROM jobspy.config_defaults ORDER BY key;

\echo '== Maintenance: monthly partitions ahead, retention applied (idempotent)'
SELECT * FROM jobspy.maintain();
SELECT count(*) AS api_usage_partitions FROM pg_inherits WHERE inhparent = 'jobspy.api_usage'::regclass;
