-- Rate limits: rules per licence type and endpoint, every window at once,
-- parameters, privileges.  Shared memory is not rolled back, so every key
-- and user here is used by this file only.
BEGIN;
SELECT plan(54);

SET LOCAL jobspy.clock_override = '2030-03-01 00:00:00+00';
SET LOCAL jobspy.ratelimit_default_license_type = 'free';

CREATE TEMP TABLE u (name text PRIMARY KEY, id uuid);
INSERT INTO u VALUES ('pro', gen_random_uuid()), ('nolicence', gen_random_uuid()),
                     ('two', gen_random_uuid()), ('expired', gen_random_uuid());
INSERT INTO jobspy.users (id, email) SELECT id, name || '.' || id || '@ratelimit.test' FROM u;
INSERT INTO jobspy.licenses (user_id, license_key_hash, license_key_hint, license_type, issued_at, expires_at)
SELECT u.id, decode(md5(u.name || l.t) || md5(l.t || u.name), 'hex'), 'AAAA', l.t, l.issued, l.expires
  FROM u JOIN (VALUES ('pro', 'pro', '2030-01-01'::timestamptz, NULL::timestamptz),
                      ('two', 'free', '2030-01-01', NULL),
                      ('two', 'pro', '2029-01-01', NULL),
                      ('expired', 'enterprise', '2029-01-01', '2029-06-01')) AS l(u, t, issued, expires)
    ON l.u = u.name;

SELECT lives_ok($$SELECT jobspy.set_rate_limit_rule('rt-pro-search', '/api/search/*', 'pro', 60, 100, 3)$$,
                'set_rate_limit_rule creates a rule');
SELECT jobspy.set_rate_limit_rule('rt-pro-all', '/api/*', 'pro', 1000, 5, 10);
SELECT jobspy.set_rate_limit_rule('rt-free-all', '/api/*', 'free', 10, 20, 2);
SELECT jobspy.set_rate_limit_rule('rt-ent-all', '/api/*', 'enterprise', 10, 20, 1);
SELECT jobspy.set_rate_limit_rule('rt-pro-off', '/api/*', 'pro', 1, 1, 1, false);

CREATE FUNCTION pg_temp.chk(who text, endpoint text, cost integer DEFAULT 1)
RETURNS TABLE (allowed boolean, rule text, "limit" integer, remaining integer, retry_after_ms bigint, reset_after_ms bigint)
LANGUAGE sql AS $$ SELECT c.* FROM u, jobspy.check_rate_limit(u.id, endpoint, cost) c WHERE u.name = who $$;

-- Two rules match /api/search/jobs for a pro user; the tightest window is shown.
SELECT is((SELECT row(c.*)::text FROM pg_temp.chk('pro', '/api/search/jobs') c),
          '(t,rt-pro-search:hour,3,2,-1,60000)', 'first call: admitted, the tightest window is reported');
SELECT is((SELECT row(c.*)::text FROM pg_temp.chk('pro', '/api/search/jobs') c),
          '(t,rt-pro-search:hour,3,1,-1,120000)', 'second call');
SELECT is((SELECT row(c.*)::text FROM pg_temp.chk('pro', '/api/search/jobs') c),
          '(t,rt-pro-search:hour,3,0,-1,180000)', 'third call empties the burst of 3');
SELECT is((SELECT row(c.*)::text FROM pg_temp.chk('pro', '/api/search/jobs') c),
          '(f,rt-pro-search:hour,3,0,60000,180000)', 'fourth call is refused by the hour window, retry in 60 s');
-- The refusal took nothing from the other rule's windows: 5 - 3 left today.
SELECT is((SELECT row(c.*)::text FROM pg_temp.chk('pro', '/api/other', 0) c),
          '(t,rt-pro-all:day,5,2,-1,51840000)', 'a refusal consumes nothing from any window (cost 0 reads)');
SELECT is((SELECT row(c.*)::text FROM pg_temp.chk('pro', '/api/other', 0) c),
          '(t,rt-pro-all:day,5,2,-1,51840000)', 'cost 0 consumes nothing');
SELECT is((SELECT allowed FROM pg_temp.chk('pro', '/api/other', 2)), true, 'cost 2 takes two units at once');
SELECT is((SELECT row(c.*)::text FROM pg_temp.chk('pro', '/api/other') c),
          '(f,rt-pro-all:day,5,0,17280000,86400000)', 'the day window refuses, retry after a fifth of a day');
SELECT is((SELECT row(c.*)::text FROM pg_temp.chk('pro', '/api/search/jobs') c),
          '(f,rt-pro-all:day,5,0,17280000,86400000)',
          'when several windows refuse, the one that frees last is named');
SELECT is((SELECT row(c.*)::text FROM pg_temp.chk('pro', '/api/other', 6) c),
          '(f,rt-pro-all:day,5,0,-1,86400000)', 'a cost larger than a window never fits: retry_after_ms -1');

-- After a fifth of a day, one unit is back in the day window.
SET LOCAL jobspy.clock_override = '2030-03-01 04:48:00+00';
SELECT is((SELECT row(c.*)::text FROM pg_temp.chk('pro', '/api/other') c),
          '(t,rt-pro-all:day,5,0,-1,86400000)', 'the day window refills at requests_per_day per day');

-- No rule matches: admitted, nothing to report.
SELECT is((SELECT row(c.*)::text FROM pg_temp.chk('pro', '/health') c),
          '(t,,,,-1,0)', 'no matching rule: admitted with NULL rule, limit and remaining');

-- The licence type: none means the default; the highest active tier wins.
SELECT is((SELECT rule FROM pg_temp.chk('nolicence', '/api/x')), 'rt-free-all:hour',
          'a user without a licence gets the default licence type''s rules');
SELECT is((SELECT rule FROM pg_temp.chk('expired', '/api/x')), 'rt-free-all:hour',
          'an expired licence does not count');
SELECT is((SELECT rule FROM pg_temp.chk('two', '/api/x')), 'rt-pro-all:day',
          'with a free and a pro licence active, pro rules apply');
SET LOCAL jobspy.ratelimit_default_license_type = 'enterprise';
SELECT is((SELECT rule FROM pg_temp.chk('nolicence', '/api/x')), 'rt-ent-all:hour',
          'jobspy.ratelimit_default_license_type chooses the default');
SET LOCAL jobspy.ratelimit_default_license_type = 'free';

-- A rule for licence type '*' covers every user.
SELECT jobspy.set_rate_limit_rule('rt-any-admin', '/admin/*', '*', 10, 20, 4);
SELECT is((SELECT string_agg(c.rule, ',' ORDER BY u.name) FROM u, jobspy.check_rate_limit(u.id, '/admin/x', 0) c),
          'rt-any-admin:hour,rt-any-admin:hour,rt-any-admin:hour,rt-any-admin:hour',
          'a rule for licence type * applies to every user');

-- A disabled rule is ignored (rt-pro-off would refuse everything after one).
SELECT is((SELECT count(*) FROM pg_temp.chk('two', '/api/y') WHERE rule LIKE 'rt-pro-off%'), 0::bigint,
          'a disabled rule is ignored');

-- A rule change is seen by the next call.
SELECT is((SELECT "limit" FROM pg_temp.chk('nolicence', '/api/z', 0)), 2, 'burst 2 before the change');
SELECT jobspy.set_rate_limit_rule('rt-free-all', '/api/*', 'free', 10, 20, 7);
SELECT is((SELECT "limit" FROM pg_temp.chk('nolicence', '/api/z', 0)), 7, 'a changed rule applies to the next call');
SELECT ok(jobspy.drop_rate_limit_rule('rt-free-all'), 'drop_rate_limit_rule removes a rule');
SELECT ok(NOT jobspy.drop_rate_limit_rule('rt-free-all'), 'dropping it again finds nothing');
SELECT is((SELECT rule FROM pg_temp.chk('nolicence', '/api/z')), NULL, 'a dropped rule no longer applies');
SELECT throws_ok($$SELECT jobspy.set_rate_limit_rule('rt-bad', '/api/*', 'pro', 0, 1, 1)$$, '23514', NULL,
                 'a rule with requests_per_hour 0 is refused');

-- The view names rule windows.
SELECT is((SELECT string_agg(rule || '/' || "window" || '/' || allowed || '/' || denied, ', ' ORDER BY rule, "window")
             FROM jobspy.rate_limit_keys k JOIN u ON u.id = k.user_id AND u.name = 'pro'),
          'rt-pro-all/day/5/3, rt-pro-all/hour/5/1, rt-pro-search/day/3/0, rt-pro-search/hour/3/2',
          'rate_limit_keys shows each rule window with its counters');
SELECT is((SELECT jobspy.rate_limit_reset_user(id) FROM u WHERE name = 'pro'), 4::bigint,
          'rate_limit_reset_user forgets the user''s four windows');
SELECT is((SELECT row(c.*)::text FROM pg_temp.chk('pro', '/api/search/jobs', 0) c),
          '(t,rt-pro-search:hour,3,3,-1,0)', 'after the reset every window is full');

-- Endpoint patterns.
SELECT ok(jobspy.rate_limit_pattern_match('/api/v1/jobs', '/api/v1/jobs'), 'an exact pattern matches itself');
SELECT ok(NOT jobspy.rate_limit_pattern_match('/api/v1/jobs', '/api/v1/jobs/1'), 'an exact pattern matches nothing longer');
SELECT ok(jobspy.rate_limit_pattern_match('/api/*', '/api/v1/jobs/1'), 'a trailing * matches across slashes');
SELECT ok(jobspy.rate_limit_pattern_match('/api/*', '/api/'), 'a * matches the empty string');
SELECT ok(jobspy.rate_limit_pattern_match('/api/*/jobs', '/api/v2/jobs'), 'a * in the middle');
SELECT ok(NOT jobspy.rate_limit_pattern_match('/api/*/jobs', '/api/v2/users'), 'a * in the middle needs the rest');
SELECT ok(jobspy.rate_limit_pattern_match('*', 'anything'), 'a lone * matches everything');

-- Every bad parameter raises 22023.
SELECT throws_ok($$SELECT * FROM jobspy.check_rate_limit(NULL, '/api', 1)$$, '22023', 'user_id must not be null', 'NULL user_id');
SELECT throws_ok($$SELECT * FROM jobspy.check_rate_limit(gen_random_uuid(), NULL, 1)$$, '22023', 'endpoint must not be null', 'NULL endpoint');
SELECT throws_ok($$SELECT * FROM jobspy.check_rate_limit(gen_random_uuid(), '/api', NULL)$$, '22023', 'cost must not be null', 'NULL cost');
SELECT throws_ok($$SELECT * FROM jobspy.check_rate_limit(gen_random_uuid(), '/api', -1)$$, '22023', NULL, 'negative cost');
SELECT throws_ok($$SELECT * FROM jobspy.rate_limit('rt:p', -1, 1, '1 s')$$, '22023', NULL, 'negative max_burst');
SELECT throws_ok($$SELECT * FROM jobspy.rate_limit('rt:p', 2147483647, 1, '1 s')$$, '22023', NULL, 'max_burst + 1 overflowing an integer');
SELECT throws_ok($$SELECT * FROM jobspy.rate_limit('rt:p', 1, 0, '1 s')$$, '22023', NULL, 'count 0');
SELECT throws_ok($$SELECT * FROM jobspy.rate_limit('rt:p', 1, -5, '1 s')$$, '22023', NULL, 'negative count');
SELECT throws_ok($$SELECT * FROM jobspy.rate_limit('rt:p', 1, 1, '-1 s')$$, '22023', NULL, 'negative period');
SELECT throws_ok($$SELECT * FROM jobspy.rate_limit('rt:p', 1, 1, '1 s', -1)$$, '22023', NULL, 'negative quantity');
SELECT throws_ok($$SELECT * FROM jobspy.rate_limit('rt:p', NULL, 1, '1 s')$$, '22023', 'max_burst must not be null', 'NULL max_burst');
SELECT throws_ok($$SELECT * FROM jobspy.rate_limit('rt:p', 1, 1, NULL)$$, '22023', 'period must not be null', 'NULL period');
SELECT throws_ok($$SELECT * FROM jobspy.rate_limit('rt:p', 1, 1, '1 s', NULL)$$, '22023', 'quantity must not be null', 'NULL quantity');

-- The clock must be within the limiter's range.
SET LOCAL jobspy.clock_override = '2200-01-01 00:00:00+00';
SELECT throws_ok($$SELECT * FROM jobspy.rate_limit('rt:p', 1, 1, '1 s')$$, 'JS302', NULL,
                 'a clock outside 1854..2145 raises JS302');
SET LOCAL jobspy.clock_override = '2030-03-01 04:48:00+00';

-- Counters reset; rate state does not.
SELECT jobspy.rate_limit_stats_reset();
SELECT is((SELECT count(*) FROM jobspy.rate_limit_keys WHERE allowed <> 0 OR denied <> 0), 0::bigint,
          'rate_limit_stats_reset zeroes every key''s counters');
SELECT is((SELECT row(c.*)::text FROM pg_temp.chk('two', '/api/other', 0) c) IS NOT NULL
          AND (SELECT evictions + full_allowed + full_denied FROM jobspy.rate_limit_store()) = 0
          AND (SELECT stats_reset > now() - interval '1 minute' FROM jobspy.rate_limit_store()), true,
          'and the store''s counters, recording when');

-- Privileges: the application may limit, only the admin may look and reset.
SELECT ok(has_function_privilege('jobspy_app', 'jobspy.check_rate_limit(uuid, text, integer)', 'EXECUTE')
          AND has_function_privilege('jobspy_app', 'jobspy.rate_limit(text, integer, integer, interval, integer)', 'EXECUTE'),
          'jobspy_app may call rate_limit and check_rate_limit');
SELECT ok(NOT has_function_privilege('jobspy_app', 'jobspy.rate_limit_reset(text)', 'EXECUTE')
          AND NOT has_table_privilege('jobspy_app', 'jobspy.rate_limit_keys', 'SELECT')
          AND NOT has_function_privilege('public', 'jobspy.rate_limit(text, integer, integer, interval, integer)', 'EXECUTE'),
          'neither jobspy_app nor PUBLIC may reset or read the store');
SELECT ok(has_table_privilege('jobspy_admin', 'jobspy.rate_limit_keys', 'SELECT')
          AND has_function_privilege('jobspy_admin', 'jobspy.rate_limit_entries()', 'EXECUTE')
          AND has_function_privilege('jobspy_admin', 'jobspy.rate_limit_stats_reset()', 'EXECUTE'),
          'jobspy_admin reads the view and resets the counters');

SELECT * FROM finish();
ROLLBACK;
