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

\echo '== Quotas: 3 posts a day; the retried post counts once, the fourth is denied (rolled back)'
BEGIN;
SELECT jobspy.create_plan('demo_basic', 'Demo basic') IS NOT NULL AS plan_created;
INSERT INTO jobspy.users (id, email) VALUES ('00000000-0000-4000-8000-00000000d3e0', 'quota-demo@example.com');
SELECT jobspy.set_plan_quota('demo_basic', 'demo.posts', 'day', 3),
       jobspy.set_user_plan('00000000-0000-4000-8000-00000000d3e0', 'demo_basic');
SELECT p.post, q.allowed, q.used, q.remaining
  FROM (VALUES (1, 'a'), (2, 'b'), (3, 'b'), (4, 'c'), (5, 'd')) AS p(post, key),
       LATERAL jobspy.consume_quota('00000000-0000-4000-8000-00000000d3e0', 'demo.posts', 1, 'demo-' || p.key) q
 ORDER BY p.post;
ROLLBACK;
