-- Seed 000's tables with their rules; secrets never in plaintext; views
-- that do not multiply rows.
BEGIN;
SELECT plan(34);

SELECT tables_are('jobspy', ARRAY[
    'users', 'licenses', 'subscriptions', 'payments', 'api_usage', 'user_sessions',
    'email_verification_tokens', 'password_reset_tokens', 'feature_flags', 'system_config',
    'rate_limit_rules', 'audit_logs', 'hash_keys', 'config_defaults'] ||
    ARRAY(SELECT c.relname::text FROM pg_class c
           WHERE c.relnamespace = 'jobspy'::regnamespace AND c.relkind IN ('r', 'p')
             AND (c.relispartition OR c.relname NOT IN (
                 'users', 'licenses', 'subscriptions', 'payments', 'api_usage', 'user_sessions',
                 'email_verification_tokens', 'password_reset_tokens', 'feature_flags', 'system_config',
                 'rate_limit_rules', 'audit_logs', 'hash_keys', 'config_defaults'))),
    'seed 000''s tables are all there (with what later modules add)');

-- No column may hold a plaintext secret: the seed's license_key, token,
-- session_token and refresh_token are keyed hashes (bytea, 32 bytes).
SELECT is((SELECT count(*) FROM information_schema.columns
            WHERE table_schema = 'jobspy'
              AND column_name IN ('license_key', 'token', 'session_token', 'refresh_token', 'password')),
          0::bigint, 'no column is named for a plaintext secret');
SELECT is((SELECT count(*) FROM information_schema.columns
            WHERE table_schema = 'jobspy' AND column_name LIKE '%token_hash' AND data_type <> 'bytea'),
          0::bigint, 'every token hash is bytea');
SELECT col_type_is('jobspy', 'licenses', 'license_key_hash', 'bytea', 'licence keys are stored as a hash');
SELECT col_type_is('jobspy', 'users', 'password_hash', 'text', 'passwords are stored as a PHC string');

-- Partitioned tables have keys PostgreSQL accepts and a default partition.
SELECT is((SELECT count(*) FROM pg_partitioned_table pt
             JOIN pg_class c ON c.oid = pt.partrelid AND c.relnamespace = 'jobspy'::regnamespace
            WHERE pt.partdefid = 0), 0::bigint, 'every partitioned table has a default partition');
SELECT has_pk('jobspy', 'api_usage_default', 'api_usage''s default partition has a primary key');
SELECT has_pk('jobspy', 'audit_logs_default', 'audit_logs''s default partition has a primary key');
SELECT is((SELECT count(*) FROM jobspy.maintain() WHERE action = 'created') > 0, true, 'maintain() makes monthly partitions');
SELECT is((SELECT array_agg(c.relname ORDER BY c.relname) FROM pg_inherits i
             JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent IN ('jobspy.api_usage'::regclass, 'jobspy.audit_logs'::regclass)
              AND NOT EXISTS (SELECT FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p')),
          NULL, 'every partition, the monthly ones too, has the primary key');
SELECT is((SELECT count(DISTINCT n) FROM (
             SELECT c.oid, count(*) AS n FROM pg_inherits i
               JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_index x ON x.indrelid = c.oid
              WHERE i.inhparent = 'jobspy.api_usage'::regclass GROUP BY c.oid) per_partition),
          1::bigint, 'every api_usage partition has the same number of indexes as the default one');

INSERT INTO jobspy.users (id, email, timezone) VALUES
    ('44444444-4444-4444-8444-444444444444', 'schema@example.com', 'Europe/Berlin');

-- Constraints: every rule the seed states.
SELECT throws_ok($$INSERT INTO jobspy.users (email) VALUES ('SCHEMA@example.com')$$, '23505', NULL,
                 'email is unique without regard to case');
SELECT throws_ok($$INSERT INTO jobspy.users (email) VALUES ('no-at-sign')$$, '23514', NULL, 'an email needs an @');
SELECT throws_ok($$INSERT INTO jobspy.users (email, status) VALUES ('s@example.com', 'gone')$$, '23514', NULL,
                 'user status is active, suspended or deleted');
SELECT throws_ok($$INSERT INTO jobspy.users (email, password_hash) VALUES ('p@example.com', 'plaintext')$$, '23514', NULL,
                 'a password must be an Argon2id hash');
SELECT throws_ok($$INSERT INTO jobspy.users (email, country_code) VALUES ('c@example.com', 'usa')$$, '23514', NULL,
                 'a country code is two capital letters');
SELECT throws_ok($$INSERT INTO jobspy.licenses (user_id, license_key_hash, license_key_hint, license_type)
                   VALUES ('44444444-4444-4444-8444-444444444444', 'short', 'ABCD', 'pro')$$, '23514', NULL,
                 'a licence key hash has 32 bytes');
SELECT throws_ok($$INSERT INTO jobspy.licenses (user_id, license_key_hash, license_key_hint, license_type)
                   VALUES ('44444444-4444-4444-8444-444444444444', jobspy.secret_hash('license', 'x'), 'ABCD', 'gold')$$,
                 '23514', NULL, 'a licence type is free, pro or enterprise');
SELECT throws_ok($$INSERT INTO jobspy.licenses (user_id, license_key_hash, license_key_hint, license_type, issued_at, expires_at)
                   VALUES ('44444444-4444-4444-8444-444444444444', jobspy.secret_hash('license', 'x'), 'ABCD', 'pro',
                           '2030-01-01', '2029-01-01')$$,
                 '23514', NULL, 'a licence cannot expire before it is issued');
SELECT throws_ok($$INSERT INTO jobspy.subscriptions (user_id, plan_type, status, discount_percentage)
                   VALUES ('44444444-4444-4444-8444-444444444444', 'basic', 'active', 101)$$, '23514', NULL,
                 'a discount is a percentage');
SELECT throws_ok($$INSERT INTO jobspy.subscriptions (user_id, plan_type, status, price_currency)
                   VALUES ('44444444-4444-4444-8444-444444444444', 'basic', 'active', 'usd')$$, '23514', NULL,
                 'a currency is three capital letters');
INSERT INTO jobspy.subscriptions (user_id, id, plan_type, status, price_amount)
VALUES ('44444444-4444-4444-8444-444444444444', '55555555-5555-4555-8555-555555555555', 'basic', 'active', 900);
SELECT throws_ok($$INSERT INTO jobspy.subscriptions (user_id, plan_type, status)
                   VALUES ('44444444-4444-4444-8444-444444444444', 'professional', 'trialing')$$, '23505', NULL,
                 'a user has at most one live subscription');
SELECT throws_ok($$INSERT INTO jobspy.payments (user_id, amount_cents, status)
                   VALUES ('44444444-4444-4444-8444-444444444444', -1, 'succeeded')$$, '23514', NULL,
                 'a payment amount is not negative');
SELECT throws_ok($$INSERT INTO jobspy.payments (user_id, amount_cents, status, refunded_amount_cents)
                   VALUES ('44444444-4444-4444-8444-444444444444', 100, 'refunded', 200)$$, '23514', NULL,
                 'a refund cannot exceed the payment');
SELECT throws_ok($$INSERT INTO jobspy.payments (user_id, subscription_id, amount_cents, status)
                   VALUES ('44444444-4444-4444-8444-444444444444', gen_random_uuid(), 100, 'succeeded')$$, '23503', NULL,
                 'a payment''s subscription must be the user''s');
SELECT throws_ok($$INSERT INTO jobspy.feature_flags (name, rollout_percentage) VALUES ('f', 101)$$, '23514', NULL,
                 'a rollout is a percentage');
SELECT throws_ok($$INSERT INTO jobspy.rate_limit_rules (name, endpoint_pattern, license_type, requests_per_hour, requests_per_day, burst_limit)
                   VALUES ('r', '/x', 'free', 0, 10, 1)$$, '23514', NULL, 'rate-limit figures are positive');
SELECT throws_ok($$INSERT INTO jobspy.api_usage (user_id, endpoint, method, status_code)
                   VALUES ('44444444-4444-4444-8444-444444444444', '/x', 'GET', 99)$$, '23514', NULL,
                 'an HTTP status code is from 100 to 599');

-- Views: one row per licence and per user, whatever the joins find.
INSERT INTO jobspy.licenses (user_id, license_key_hash, license_key_hint, license_type)
VALUES ('44444444-4444-4444-8444-444444444444', jobspy.secret_hash('license', 'a'), 'AAAA', 'pro'),
       ('44444444-4444-4444-8444-444444444444', jobspy.secret_hash('license', 'b'), 'BBBB', 'pro');
INSERT INTO jobspy.api_usage (user_id, endpoint, method)
SELECT '44444444-4444-4444-8444-444444444444', '/v', 'GET' FROM generate_series(1, 7);
INSERT INTO jobspy.payments (user_id, subscription_id, amount_cents, status, refunded_amount_cents, created_at) VALUES
    ('44444444-4444-4444-8444-444444444444', '55555555-5555-4555-8555-555555555555', 900, 'succeeded', 0, '2030-01-05+00'),
    ('44444444-4444-4444-8444-444444444444', '55555555-5555-4555-8555-555555555555', 900, 'refunded', 900, '2030-01-20+00'),
    ('44444444-4444-4444-8444-444444444444', NULL, 500, 'succeeded', 0, '2030-01-21+00'),
    ('44444444-4444-4444-8444-444444444444', NULL, 500, 'failed', 0, '2030-01-22+00');
SELECT is((SELECT count(*) FROM jobspy.active_licenses WHERE user_id = '44444444-4444-4444-8444-444444444444'),
          2::bigint, 'active_licenses: one row per licence');
SELECT is((SELECT count(*) FROM jobspy.user_analytics WHERE id = '44444444-4444-4444-8444-444444444444'),
          1::bigint, 'user_analytics: one row per user, however many licences');
SELECT is((SELECT api_calls_last_30_days FROM jobspy.user_analytics WHERE id = '44444444-4444-4444-8444-444444444444'),
          7::bigint, 'user_analytics counts each call once');
SELECT results_eq(
    $$SELECT plan_type, total_payments, total_revenue_cents, refunded_cents, net_revenue_cents
        FROM jobspy.revenue_analytics WHERE month = '2030-01-01+00' ORDER BY plan_type$$,
    $$VALUES ('basic'::text, 2::bigint, 1800::numeric, 900::numeric, 900::numeric),
             ('none', 1, 500, 0, 500)$$,
    'revenue_analytics: gross, refunds and net per plan, failed payments left out');
INSERT INTO jobspy.payments (user_id, amount_cents, currency, status, created_at)
VALUES ('44444444-4444-4444-8444-444444444444', 700, 'EUR', 'succeeded', '2030-01-22+00');
SELECT results_eq(
    $$SELECT currency, total_revenue_cents FROM jobspy.revenue_analytics
       WHERE month = '2030-01-01+00' AND plan_type = 'none' ORDER BY currency$$,
    $$VALUES ('EUR'::text, 700::numeric), ('USD', 500)$$,
    'revenue_analytics never adds amounts of different currencies');
SELECT ok(NOT EXISTS (SELECT FROM information_schema.columns
                       WHERE table_schema = 'jobspy' AND table_name IN ('active_licenses', 'user_analytics', 'revenue_analytics')
                         AND column_name LIKE '%hash%'), 'no view shows a hash');

SELECT * FROM finish();
ROLLBACK;
