-- Configuration, partitions, retention, maintenance.
BEGIN;
SELECT plan(28);

-- Configuration.
SELECT is(jobspy.config_get('retention.mode'), '"drop"'::jsonb, 'a built-in default is returned');
SELECT is(jobspy.config_get('no.such.key'), NULL, 'an unknown key is NULL');
SELECT lives_ok($$SELECT jobspy.config_set('retention.api_usage', '"2 years"')$$, 'a valid retention is taken');
SELECT is(jobspy.config_get('retention.api_usage'), '"2 years"'::jsonb, 'a set value overrides the default');
SELECT lives_ok($$SELECT jobspy.config_set('app.banner', '{"text": "hi"}')$$, 'any well-formed key may hold any json');
SELECT throws_ok($$SELECT jobspy.config_set('retention.api_usage', '"soon"')$$, '22023', NULL, 'retention must be an interval');
SELECT throws_ok($$SELECT jobspy.config_set('retention.api_usage', '"-1 day"')$$, '22023', NULL, 'retention must be positive');
SELECT throws_ok($$SELECT jobspy.config_set('retention.outbox_events', '"200000 years"')$$, '22023', NULL,
                 'and at most 100 years (longer put maintain() out of timestamptz''s range)');
SELECT throws_ok($$SELECT jobspy.config_set('retention.api_usage', '12')$$, '22023', NULL, 'retention must be a string');
SELECT throws_ok($$SELECT jobspy.config_set('retention.mode', '"shred"')$$, '22023', NULL, 'retention.mode is drop or detach');
SELECT throws_ok($$SELECT jobspy.config_set('partitions.premake_months', '1.5')$$, '22023', NULL, 'premake_months is whole');
SELECT throws_ok($$SELECT jobspy.config_set('Bad Key', '1')$$, '22023', NULL, 'a malformed key is refused');
SELECT throws_ok($$SELECT jobspy.config_set(repeat('a', 101), '1')$$, '22023', NULL, 'an overlong key is refused');
SELECT throws_ok($$SELECT jobspy.config_set('x', NULL)$$, '22023', NULL, 'a NULL value is refused');
SELECT throws_ok($$SELECT jobspy.config_set(NULL, '1')$$, '22023', NULL, 'a NULL key is refused');
SELECT is((SELECT count(*) FROM jobspy.system_config WHERE key IN ('Bad Key', 'x')), 0::bigint, 'refused values wrote nothing');
SELECT jobspy.config_set('retention.api_usage', '"13 months"');

-- Inserts never fail for lack of a partition: today, three years ahead, long ago.
INSERT INTO jobspy.users (id, email) VALUES ('33333333-3333-4333-8333-333333333333', 'ops@example.com');
SELECT lives_ok($$INSERT INTO jobspy.api_usage (user_id, endpoint, method, created_at) VALUES
    ('33333333-3333-4333-8333-333333333333', '/a', 'GET', jobspy.now()),
    ('33333333-3333-4333-8333-333333333333', '/a', 'GET', jobspy.now() + interval '3 years'),
    ('33333333-3333-4333-8333-333333333333', '/a', 'GET', jobspy.now() + interval '3 years 1 day')$$,
    'api_usage takes rows dated today and three years ahead');
SELECT lives_ok($$INSERT INTO jobspy.audit_logs (action, resource_type, created_at) VALUES
    ('test.event', 'test', jobspy.now() + interval '3 years')$$, 'audit_logs takes a row three years ahead');

-- maintain() creates this month and the months ahead, and drains the default partition.
SET LOCAL jobspy.clock_override = '2027-01-15 12:00:00+00';
INSERT INTO jobspy.api_usage (user_id, endpoint, method, created_at)
VALUES ('33333333-3333-4333-8333-333333333333', '/b', 'GET', '2027-01-20 00:00:00+00'),
       ('33333333-3333-4333-8333-333333333333', '/b', 'GET', '2027-01-31 23:59:59.999999+00');
SELECT ok((SELECT count(*) FROM jobspy.maintain() WHERE action = 'created') >= 8, 'maintain() creates partitions');
SELECT ok(to_regclass('jobspy.api_usage_p2027_01') IS NOT NULL AND to_regclass('jobspy.api_usage_p2027_04') IS NOT NULL,
          'this month and three ahead exist');
SELECT is((SELECT count(*) FROM jobspy.api_usage_default WHERE created_at >= '2027-01-01' AND created_at < '2027-02-01'),
          0::bigint, 'rows of a month that now has a partition left the default partition');
SELECT is((SELECT count(*) FROM jobspy.api_usage_p2027_01 WHERE endpoint = '/b'), 2::bigint,
          'and are in their month''s partition, up to the last microsecond of the month');
SELECT is((SELECT count(*) FROM jobspy.api_usage_default), 0::bigint,
          'rows far ahead got partitions of their own: the default partition is empty');
SELECT is((SELECT count(*) FROM jobspy.maintain()), 0::bigint, 'a second run does nothing');

-- Retention: 13 months after, old partitions are dropped; detach mode keeps them as tables.
SET LOCAL jobspy.clock_override = '2028-03-01 00:00:00+00';
SELECT ok(EXISTS (SELECT FROM jobspy.maintain() WHERE action = 'dropped' AND object = 'jobspy.api_usage_p2027_01'),
          'a partition past retention is dropped');
SELECT ok(to_regclass('jobspy.api_usage_p2027_02') IS NOT NULL, 'a partition within retention stays');
SELECT jobspy.config_set('retention.mode', '"detach"');
SET LOCAL jobspy.clock_override = '2028-04-01 00:00:00+00';
SELECT ok(EXISTS (SELECT FROM jobspy.maintain() WHERE action = 'detached' AND object = 'jobspy.api_usage_p2027_02'),
          'in detach mode a partition past retention is detached');
SELECT ok(to_regclass('jobspy.api_usage_p2027_02') IS NOT NULL
          AND NOT (SELECT relispartition FROM pg_class WHERE oid = 'jobspy.api_usage_p2027_02'::regclass),
          'and kept as a plain table');

SELECT * FROM finish();
ROLLBACK;
