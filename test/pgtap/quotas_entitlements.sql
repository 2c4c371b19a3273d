-- The plan in force, has_feature and feature_enabled.
BEGIN;
SELECT plan(51);

SET LOCAL jobspy.clock_override = '2031-05-14 12:00:00+00';
INSERT INTO jobspy.users (id, email, country_code, metadata) VALUES
    ('b0000000-0000-4000-8000-000000000001', 'e1@corp.example', 'DE', '{"beta": true, "team": "core"}'),
    ('b0000000-0000-4000-8000-000000000002', 'e2@mail.example', 'US', '{}');
INSERT INTO jobspy.users (id, email, status) VALUES
    ('b0000000-0000-4000-8000-000000000009', 'e9@corp.example', 'suspended');

SELECT jobspy.create_plan('free', 'Free', features => '["export"]');
SELECT jobspy.create_plan('pro', 'Pro', features => '{"analytics": true, "relays": false}');
SELECT jobspy.create_plan('professional', 'Professional', features => '["analytics", "sso"]');
SELECT jobspy.create_plan('starter', 'Starter');
SELECT jobspy.set_plan_quota('free', 'calls', 'day', 10);
SELECT jobspy.set_plan_quota('pro', 'calls', 'day', 100);
SELECT jobspy.set_plan_quota('professional', 'calls', 'day', 1000);
SELECT jobspy.set_plan_quota('starter', 'calls', 'day', 5);

-- Plan in force: default < licence < user plan < subscription.
SELECT is((SELECT count(*) FROM jobspy.plan_in_force('b0000000-0000-4000-8000-000000000002') WHERE plan_code IS NULL),
          1::bigint, 'no plan at all');
SELECT jobspy.config_set('quotas.default_plan', '"starter"');
SELECT is((SELECT row(plan_code, source)::text FROM jobspy.plan_in_force('b0000000-0000-4000-8000-000000000002')),
          '(starter,default)', 'the configured default plan');
SELECT is((SELECT p.code FROM jobspy.plans p
            WHERE p.id = (jobspy.quota_lookup('b0000000-0000-4000-8000-000000000002', 'calls', jobspy.now())).plan_id),
          (SELECT plan_code FROM jobspy.plan_in_force('b0000000-0000-4000-8000-000000000002')),
          'the C lookup agrees with plan_in_force: default');
SELECT is((SELECT quota_limit FROM jobspy.quota_status('b0000000-0000-4000-8000-000000000002', 'calls')), 5::bigint,
          'the default plan''s quota applies');
INSERT INTO jobspy.licenses (user_id, license_key_hash, license_key_hint, license_type, features, issued_at) VALUES
    ('b0000000-0000-4000-8000-000000000002', decode(repeat('01', 32), 'hex'), 'AAAA', 'free', '["offline"]', '2031-01-01'),
    ('b0000000-0000-4000-8000-000000000002', decode(repeat('02', 32), 'hex'), 'BBBB', 'pro', '[]', '2031-02-01');
SELECT is((SELECT row(plan_code, source)::text FROM jobspy.plan_in_force('b0000000-0000-4000-8000-000000000002')),
          '(pro,license)', 'the most recently issued active licence names the plan');
SELECT is((SELECT p.code FROM jobspy.plans p
            WHERE p.id = (jobspy.quota_lookup('b0000000-0000-4000-8000-000000000002', 'calls', jobspy.now())).plan_id),
          (SELECT plan_code FROM jobspy.plan_in_force('b0000000-0000-4000-8000-000000000002')),
          'the C lookup agrees with plan_in_force: licence');
UPDATE jobspy.licenses SET status = 'revoked' WHERE license_key_hint = 'BBBB';
SELECT is((SELECT plan_code FROM jobspy.plan_in_force('b0000000-0000-4000-8000-000000000002')), 'free',
          'a revoked licence no longer counts');
UPDATE jobspy.licenses SET expires_at = '2031-05-01' WHERE license_key_hint = 'AAAA';
SELECT is((SELECT plan_code FROM jobspy.plan_in_force('b0000000-0000-4000-8000-000000000002')), 'starter',
          'nor does an expired one');
SELECT is((SELECT p.code FROM jobspy.plans p
            WHERE p.id = (jobspy.quota_lookup('b0000000-0000-4000-8000-000000000002', 'calls', jobspy.now())).plan_id),
          (SELECT plan_code FROM jobspy.plan_in_force('b0000000-0000-4000-8000-000000000002')),
          'the C lookup agrees with plan_in_force: expired licence');
UPDATE jobspy.licenses SET expires_at = NULL WHERE license_key_hint = 'AAAA';
SELECT jobspy.set_user_plan('b0000000-0000-4000-8000-000000000002', 'pro');
SELECT is((SELECT row(plan_code, source)::text FROM jobspy.plan_in_force('b0000000-0000-4000-8000-000000000002')),
          '(pro,user)', 'a plan set for the user beats the licence');
SELECT is((SELECT p.code FROM jobspy.plans p
            WHERE p.id = (jobspy.quota_lookup('b0000000-0000-4000-8000-000000000002', 'calls', jobspy.now())).plan_id),
          (SELECT plan_code FROM jobspy.plan_in_force('b0000000-0000-4000-8000-000000000002')),
          'the C lookup agrees with plan_in_force: user plan');
INSERT INTO jobspy.subscriptions (user_id, plan_type, plan_interval, status, current_period_start, current_period_end)
VALUES ('b0000000-0000-4000-8000-000000000002', 'professional', 'month', 'active', '2031-05-10 08:00+00', '2031-06-10 08:00+00');
SELECT is((SELECT row(plan_code, source)::text FROM jobspy.plan_in_force('b0000000-0000-4000-8000-000000000002')),
          '(professional,subscription)', 'a live subscription''s plan beats everything');
SELECT is((SELECT p.code FROM jobspy.plans p
            WHERE p.id = (jobspy.quota_lookup('b0000000-0000-4000-8000-000000000002', 'calls', jobspy.now())).plan_id),
          (SELECT plan_code FROM jobspy.plan_in_force('b0000000-0000-4000-8000-000000000002')),
          'the C lookup agrees with plan_in_force: subscription');
SELECT is((SELECT quota_limit FROM jobspy.quota_status('b0000000-0000-4000-8000-000000000002', 'calls')), 1000::bigint,
          'and its quota applies');
UPDATE jobspy.subscriptions SET status = 'canceled', canceled_at = jobspy.now()
 WHERE user_id = 'b0000000-0000-4000-8000-000000000002';
SELECT is((SELECT plan_code FROM jobspy.plan_in_force('b0000000-0000-4000-8000-000000000002')), 'pro',
          'a cancelled subscription no longer counts');
SELECT jobspy.set_user_plan('b0000000-0000-4000-8000-000000000002', NULL);
SELECT is((SELECT plan_code FROM jobspy.plan_in_force('b0000000-0000-4000-8000-000000000002')), 'free',
          'set_user_plan(NULL) clears the user''s plan');
SELECT is((SELECT p.code FROM jobspy.plans p
            WHERE p.id = (jobspy.quota_lookup('b0000000-0000-4000-8000-000000000002', 'calls', jobspy.now())).plan_id),
          (SELECT plan_code FROM jobspy.plan_in_force('b0000000-0000-4000-8000-000000000002')),
          'the C lookup agrees with plan_in_force: cleared');
SELECT is((SELECT count(*) FROM jobspy.plan_in_force('b0000000-0000-4000-8000-00000000ffff')), 0::bigint,
          'no row for an unknown user');

-- has_feature: the plan's features and the active licences'.
SELECT jobspy.set_user_plan('b0000000-0000-4000-8000-000000000001', 'pro');
SELECT ok(jobspy.has_feature('b0000000-0000-4000-8000-000000000001', 'analytics'), 'object features: true enables');
SELECT ok(NOT jobspy.has_feature('b0000000-0000-4000-8000-000000000001', 'relays'), 'object features: false does not');
SELECT ok(NOT jobspy.has_feature('b0000000-0000-4000-8000-000000000001', 'sso'), 'a feature the plan lacks');
SELECT ok(jobspy.has_feature('b0000000-0000-4000-8000-000000000002', 'export'), 'array features of the plan');
SELECT ok(jobspy.has_feature('b0000000-0000-4000-8000-000000000002', 'offline'), 'features of an active licence');
UPDATE jobspy.licenses SET status = 'suspended' WHERE license_key_hint = 'AAAA';
SELECT ok(NOT jobspy.has_feature('b0000000-0000-4000-8000-000000000002', 'offline'), 'a suspended licence gives nothing');
SELECT ok(NOT jobspy.has_feature('b0000000-0000-4000-8000-000000000009', 'export'), 'a suspended user has no features');
SELECT ok(NOT jobspy.has_feature('b0000000-0000-4000-8000-00000000ffff', 'export'), 'an unknown user has no features');
SELECT is(jobspy.has_feature(NULL, 'export'), NULL, 'NULL in, NULL out');

-- feature_enabled.
INSERT INTO jobspy.feature_flags (name, enabled, rollout_percentage, license_types, user_criteria) VALUES
    ('off', false, 100, '{}', '{}'),
    ('everyone', true, 100, '{}', '{}'),
    ('nobody', true, 0, '{}', '{}'),
    ('half', true, 50, '{}', '{}'),
    ('pro_only', true, 100, '{pro}', '{}'),
    ('germany', true, 100, '{}', '{"country_code": "DE"}'),
    ('beta_core', true, 100, '{}', '{"metadata": {"beta": true, "team": "core"}}'),
    ('pro_plan', true, 100, '{}', '{"plan": "pro"}'),
    ('corp', true, 100, '{}', '{"email_domain": "corp.example"}');
SELECT ok(NOT jobspy.feature_enabled('off', 'b0000000-0000-4000-8000-000000000001'), 'a disabled flag');
SELECT ok(jobspy.feature_enabled('everyone', 'b0000000-0000-4000-8000-000000000001'), 'enabled at 100%');
SELECT ok(NOT jobspy.feature_enabled('nobody', 'b0000000-0000-4000-8000-000000000001'), 'enabled at 0%');
SELECT ok(NOT jobspy.feature_enabled('no-such-flag', 'b0000000-0000-4000-8000-000000000001'), 'an unknown flag');
SELECT ok(NOT jobspy.feature_enabled('everyone', 'b0000000-0000-4000-8000-00000000ffff'), 'an unknown user');
SELECT ok(NOT jobspy.feature_enabled('everyone', 'b0000000-0000-4000-8000-000000000009'), 'a suspended user');
SELECT ok(NOT jobspy.feature_enabled('pro_only', 'b0000000-0000-4000-8000-000000000002'), 'licence types: none active of the type');
INSERT INTO jobspy.licenses (user_id, license_key_hash, license_key_hint, license_type) VALUES
    ('b0000000-0000-4000-8000-000000000002', decode(repeat('03', 32), 'hex'), 'CCCC', 'pro');
SELECT ok(jobspy.feature_enabled('pro_only', 'b0000000-0000-4000-8000-000000000002'), 'licence types: an active licence of the type');
SELECT ok(jobspy.feature_enabled('germany', 'b0000000-0000-4000-8000-000000000001'), 'criteria: country matches');
SELECT ok(NOT jobspy.feature_enabled('germany', 'b0000000-0000-4000-8000-000000000002'), 'criteria: country differs');
SELECT ok(jobspy.feature_enabled('beta_core', 'b0000000-0000-4000-8000-000000000001'), 'criteria: nested metadata containment');
SELECT ok(NOT jobspy.feature_enabled('beta_core', 'b0000000-0000-4000-8000-000000000002'), 'criteria: metadata lacking');
SELECT ok(jobspy.feature_enabled('pro_plan', 'b0000000-0000-4000-8000-000000000001'), 'criteria: the plan in force');
SELECT ok(jobspy.feature_enabled('corp', 'b0000000-0000-4000-8000-000000000001'), 'criteria: email domain');
SELECT ok(NOT jobspy.feature_enabled('corp', 'b0000000-0000-4000-8000-000000000002'), 'criteria: another email domain');
SELECT is(jobspy.user_attributes('b0000000-0000-4000-8000-000000000002') -> 'license_types', '["pro"]'::jsonb,
          'attributes list the active licence types');

-- Rollout: deterministic, pinned, independent per flag and uniform.
SELECT is(jobspy.rollout_bucket('half', 'b0000000-0000-4000-8000-000000000001'),
          (('x' || substr(encode(sha256(convert_to('half:b0000000-0000-4000-8000-000000000001', 'UTF8')), 'hex'), 1, 8))::bit(32)::bigint % 100)::integer,
          'the bucket is the first 32 bits of SHA-256 of "flag:user" mod 100');
SELECT is(jobspy.rollout_bucket('new_ui', '00000000-0000-4000-8000-000000000000'), 82,
          'a pinned bucket (checked with Python''s hashlib): the same on every server and release');
SELECT is(jobspy.feature_enabled('half', 'b0000000-0000-4000-8000-000000000001'),
          jobspy.rollout_bucket('half', 'b0000000-0000-4000-8000-000000000001') < 50,
          'feature_enabled follows the bucket');
CREATE TEMP TABLE buckets AS
    SELECT jobspy.rollout_bucket('half', md5(g::text)::uuid) AS b, jobspy.rollout_bucket('other', md5(g::text)::uuid) AS o
      FROM generate_series(1, 10000) g;
SELECT ok((SELECT count(*) FILTER (WHERE b < 50) FROM buckets) BETWEEN 4800 AND 5200, '50% of 10000 users within 2 points');
SELECT ok((SELECT count(*) FILTER (WHERE b < 10) FROM buckets) BETWEEN 900 AND 1100, '10% within 1 point');
SELECT ok((SELECT max(n) - min(n) FROM (SELECT count(*) AS n FROM buckets GROUP BY b / 10) d) < 200,
          'every tenth of the range holds about 1000 users');
SELECT ok((SELECT sum((n - 100.0) ^ 2 / 100.0) FROM (SELECT count(*) AS n FROM buckets GROUP BY b) d) < 148,
          'chi-square over 100 buckets below the 0.1% critical value');
SELECT ok((SELECT count(*) FILTER (WHERE b < 50 AND o < 50) FROM buckets) BETWEEN 2300 AND 2700,
          'two flags'' buckets are independent');

SELECT * FROM finish();
ROLLBACK;
