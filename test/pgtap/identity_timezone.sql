-- jobspy.timezone_known (src/identity_timezone.c) answers what a lookup in
-- pg_timezone_names answers, for every name there and for names that are
-- not: other spellings, abbreviations, POSIX rules, empty, over-long.
-- create_user checks a user's time zone with it.
BEGIN;
SELECT plan(8);

SELECT is((SELECT count(*) FROM pg_catalog.pg_timezone_names z WHERE NOT jobspy.timezone_known(z.name)),
          0::bigint, 'every name in pg_timezone_names is known');
SELECT ok((SELECT count(*) FROM pg_catalog.pg_timezone_names) > 300, 'and there are hundreds of them');
CREATE TEMP TABLE tries AS
SELECT DISTINCT t FROM (
    SELECT lower(z.name) AS t FROM pg_catalog.pg_timezone_names z
    UNION ALL SELECT upper(z.name) FROM pg_catalog.pg_timezone_names z
    UNION ALL SELECT z.name || ' ' FROM pg_catalog.pg_timezone_names z
    UNION ALL SELECT ' ' || z.name FROM pg_catalog.pg_timezone_names z
    UNION ALL SELECT z.abbrev FROM pg_catalog.pg_timezone_names z
    UNION ALL SELECT unnest(ARRAY['', 'EST5', 'XYZ3ABC', '<+03>-3', 'UTC+3', '+03:00', 'Europe/', '/UTC', '../UTC',
                                  'Europe//Berlin', 'Europe/Berlin/', repeat('A', 300), 'posixrules', 'Etc/../UTC'])) x;
SELECT is((SELECT count(*) FROM tries
            WHERE jobspy.timezone_known(t) IS DISTINCT FROM EXISTS (SELECT FROM pg_catalog.pg_timezone_names z WHERE z.name = t)),
          0::bigint, 'other spellings, abbreviations, POSIX rules and malformed names: the same answer as the view');
SELECT ok((SELECT count(*) FROM tries WHERE NOT jobspy.timezone_known(t)) > 1000, 'most of them are refused');
SELECT is(jobspy.timezone_known(NULL), NULL, 'NULL in, NULL out');

SELECT lives_ok($$SELECT jobspy.create_user('tz.ok@example.com', timezone => 'America/Argentina/Buenos_Aires')$$,
                'create_user takes a known zone');
SELECT throws_ok($$SELECT jobspy.create_user('tz.bad@example.com', timezone => 'america/argentina/buenos_aires')$$,
                 '22023', 'time zone is not known', 'and refuses another spelling of it');
SELECT throws_ok($$SELECT jobspy.create_user('tz.posix@example.com', timezone => 'EST5')$$,
                 '22023', 'time zone is not known', 'and a POSIX rule that is no zone file');

SELECT * FROM finish();
ROLLBACK;
