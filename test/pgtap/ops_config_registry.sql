-- config_set checks a value against the registry each module declares
-- (config_defaults): a misspelt key is refused with JS003, a known key's
-- value must have its type and range, and an application's own keys live
-- under "app.".
BEGIN;
SELECT plan(16);

SELECT throws_ok($$SELECT jobspy.config_set('retention.api_usgae', '"1 month"')$$, 'JS003',
                 'unknown configuration key "retention.api_usgae"', 'a misspelt retention key is refused');
SELECT throws_ok($$SELECT jobspy.config_set('quotas.defualt_plan', '"basic"')$$, 'JS003', NULL,
                 'a misspelt key of a module is refused');
SELECT throws_ok($$SELECT jobspy.config_set('banner', '"hi"')$$, 'JS003', NULL, 'a key in no namespace is refused');
SELECT is((SELECT count(*) FROM jobspy.system_config WHERE key IN ('retention.api_usgae', 'quotas.defualt_plan', 'banner')),
          0::bigint, 'nothing was stored for them');
SELECT lives_ok($$SELECT jobspy.config_set('app.banner', '{"text": "hi"}')$$, 'an app. key holds any JSON');
SELECT lives_ok($$SELECT jobspy.config_set('app.checkout.max_items', '12')$$, 'at any depth');

SELECT throws_ok($$SELECT jobspy.config_set('identity.login_max_failures', '0')$$, '22023', NULL, 'an integer below its range');
SELECT throws_ok($$SELECT jobspy.config_set('identity.login_max_failures', '"5"')$$, '22023', NULL, 'a string where a number belongs');
SELECT throws_ok($$SELECT jobspy.config_set('identity.login_max_failures', '2.5')$$, '22023', NULL, 'a fraction where a whole number belongs');
SELECT lives_ok($$SELECT jobspy.config_set('identity.login_max_failures', '8')$$, 'a number in range is taken');
SELECT throws_ok($$SELECT jobspy.config_set('identity.session_idle_timeout', 'null')$$, '22023', NULL,
                 'null is refused where the key cannot be null');
SELECT lives_ok($$SELECT jobspy.config_set('retention.audit_logs', 'null')$$, 'and taken where it can');
SELECT throws_ok($$SELECT jobspy.config_set('quotas.default_plan', '5')$$, '22023', NULL, 'a plan code is a string');
SELECT throws_ok($$SELECT jobspy.config_set('retention.mode', '"shred"')$$, '22023', NULL, 'a choice outside the list');

-- Every built-in default passes its own key's check, and every key is declared with a type.
SELECT lives_ok($$SELECT jobspy.config_check(key, value) FROM jobspy.config_defaults$$,
                'every default suits its own entry');
SELECT ok((SELECT count(*) >= 14 FROM jobspy.config_defaults WHERE value_type IS NOT NULL),
          'the modules declare their keys');

SELECT * FROM finish();
ROLLBACK;
