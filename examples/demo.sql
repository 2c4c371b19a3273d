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

\echo '== Rate limits: GCRA in shared memory, redis-cell semantics (limit = max_burst + 1)'
SELECT jobspy.rate_limit_reset('demo:login:203.0.113.7') IS NOT NULL AS fresh_key;
SELECT n, r.* FROM generate_series(1, 4) n,
       LATERAL jobspy.rate_limit('demo:login:203.0.113.7', 2, 10, '1 minute', 1 + 0 * n) r;
SELECT jobspy.set_rate_limit_rule('demo-free-api', '/api/*', 'free', 100, 1000, 10) IS NOT NULL AS rule_set;
-- check_rate_limit applies the rules of a user's licence type (free without a licence); rolled back.
BEGIN;
INSERT INTO jobspy.users (id, email) VALUES ('00000000-0000-4000-8000-00000000de70', 'ratelimit-demo@example.com');
SELECT * FROM jobspy.check_rate_limit('00000000-0000-4000-8000-00000000de70', '/api/v1/jobs', 0);
ROLLBACK;

\echo '== Identity: sign up, log in, use and end a session (password cost lowered for the demo)'
SET jobspy.password_memory_kib = 1024;
DELETE FROM jobspy.users WHERE email = 'demo.user@example.com';
SELECT jobspy.create_user('  Demo.User@Example.com ', 'demo password 1', 'Demo', timezone => 'Europe/Berlin') IS NOT NULL AS created;
SELECT email, timezone, password_hash LIKE '$argon2id$v=19$%' AS argon2id FROM jobspy.users WHERE email = 'demo.user@example.com';
CREATE TEMP TABLE demo_session AS SELECT * FROM jobspy.login('demo.user@example.com', 'demo password 1');
SELECT jobspy.session_user_id(session_token) = user_id AS session_valid FROM demo_session;
SELECT jobspy.revoke_session(session_token) FROM demo_session;
SELECT jobspy.session_user_id(session_token) IS NULL AS session_ended FROM demo_session;
DROP TABLE demo_session;
RESET jobspy.password_memory_kib;

\echo '== Licences: bound to machines on first use, validated with a code, signed for offline use (rolled back)'
BEGIN;
INSERT INTO jobspy.users (id, email) VALUES ('00000000-0000-4000-8000-00000000d1c0', 'licence-demo@example.com');
CREATE TEMP TABLE demo_license ON COMMIT DROP AS
SELECT * FROM jobspy.issue_license('00000000-0000-4000-8000-00000000d1c0', 'pro', max_machines => 1,
                                   features => '["export"]');
SELECT m.machine, v.valid, v.code, v.features, v.validations_remaining
  FROM demo_license, (VALUES (1, 'laptop-7f3a'), (2, 'laptop-7f3a'), (3, 'desktop-91c2')) AS m(n, machine),
       LATERAL jobspy.validate_license(license_key, m.machine, '2.4.1') v
 ORDER BY m.n;
SELECT code FROM demo_license, jobspy.validate_license(lower(replace(license_key, '-', ' ')), 'laptop-7f3a');
SELECT jobspy.suspend_license(license_id, 'demo') FROM demo_license;
SELECT code FROM demo_license, jobspy.validate_license(license_key, 'laptop-7f3a');
SELECT jobspy.reinstate_license(license_id) FROM demo_license;
SELECT jobspy.verify_license_token(jobspy.license_token(license_key, 'laptop-7f3a', '1 day')) -> 'code' AS offline_token
  FROM demo_license;
ROLLBACK;

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
