-- validate_license: every code in its order, the result columns, the daily
-- limit, machine seats, input normalisation, the validation log, and that
-- the plaintext key is stored nowhere.
BEGIN;
SELECT plan(64);
SET LOCAL jobspy.clock_override = '2030-03-10 12:00:00+00';
-- Every failure in the log, so that each can be checked there (the default
-- samples one in a hundred, at most ten a second: licensing_failures.sh).
SET LOCAL jobspy.licensing_failure_log_every = 1;
SET LOCAL jobspy.licensing_failure_log_per_second = 0;

CREATE TEMP TABLE u AS
SELECT jobspy.create_user('lic.validate.a@example.com') AS a, jobspy.create_user('lic.validate.b@example.com') AS b;
CREATE TEMP TABLE lic (name text PRIMARY KEY, id uuid, key text);
INSERT INTO lic SELECT 'main', l.* FROM u, jobspy.issue_license(u.a, 'pro', '2030-06-01 00:00:00+00', 2,
                                                               '["export", "sync"]', 1000) l;
INSERT INTO lic SELECT 'wide', l.* FROM u, jobspy.issue_license(u.a, 'enterprise', max_machines => 100) l;
INSERT INTO lic SELECT 'rev', l.* FROM u, jobspy.issue_license(u.a, 'pro') l;
INSERT INTO lic SELECT 'sus', l.* FROM u, jobspy.issue_license(u.a, 'pro') l;
INSERT INTO lic SELECT 'exp_status', l.* FROM u, jobspy.issue_license(u.a, 'pro') l;
INSERT INTO lic SELECT 'exp_time', l.* FROM u, jobspy.issue_license(u.a, 'free', '2030-03-10 13:00:00+00') l;
INSERT INTO lic SELECT 'other_user', l.* FROM u, jobspy.issue_license(u.b, 'free') l;
INSERT INTO lic SELECT 'seat', l.* FROM u, jobspy.issue_license(u.a, 'pro', max_machines => 1,
                                                               max_validations_per_day => 5) l;
INSERT INTO lic SELECT 'rl', l.* FROM u, jobspy.issue_license(u.a, 'free', max_validations_per_day => 3) l;
GRANT SELECT ON u, lic TO PUBLIC;

-- The whole answer as one text, the licence columns replaced by names.
CREATE FUNCTION pg_temp.v(name text, fp text DEFAULT NULL, app text DEFAULT NULL, key text DEFAULT NULL)
    RETURNS text LANGUAGE sql AS $$
    SELECT row(r.valid, r.code,
               CASE WHEN r.license_id IS NULL THEN NULL WHEN r.license_id = l.id THEN 'lid' ELSE 'other lid' END,
               CASE WHEN r.user_id IS NULL THEN NULL WHEN r.user_id = u.a THEN 'a'
                    WHEN r.user_id = u.b THEN 'b' ELSE 'other user' END,
               r.license_type, r.features, r.expires_at, r.validations_remaining)::text
      FROM lic l, u, jobspy.validate_license(coalesce(key, l.key), fp, app) r
     WHERE l.name = v.name
$$;
CREATE FUNCTION pg_temp.machines(name text) RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM jobspy.license_machines m JOIN lic l ON l.id = m.license_id WHERE l.name = machines.name
$$;
-- A key one character off: the checksum catches it.
CREATE FUNCTION pg_temp.typo(k text) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN left(k, 1) = '7' THEN '8' ELSE '7' END || substr(k, 2)
$$;

-- VALID, counting down, bound to the first machine.
SELECT is(pg_temp.machines('main'), 0::bigint, 'a new licence has no machine');
SELECT is(pg_temp.v('main', 'fp-main-1', '1.0.0'),
          row(true, 'VALID', 'lid', 'a', 'pro', '["export", "sync"]'::jsonb, '2030-06-01 00:00:00+00'::timestamptz, 999)::text,
          'VALID: every column given, 999 validations left today');
SELECT is(pg_temp.machines('main'), 1::bigint, 'the first use of a fingerprint takes one seat');
SELECT is((SELECT row(m.fingerprint, m.app_version, m.first_seen_at)::text FROM jobspy.license_machines m
             JOIN lic l ON l.id = m.license_id WHERE l.name = 'main'),
          row('fp-main-1', '1.0.0', '2030-03-10 12:00:00+00'::timestamptz)::text,
          'the machine row holds the fingerprint, the app version and the time');
SELECT is((SELECT validations_remaining FROM lic, jobspy.validate_license(lic.key, 'fp-main-1') WHERE name = 'main'),
          998, 'a second validation: 998 left');
SELECT is(pg_temp.machines('main'), 1::bigint, 'a known fingerprint takes no further seat');
SELECT is((SELECT validations_remaining FROM lic, jobspy.validate_license(lic.key, 'fp-main-1') WHERE name = 'main'),
          997, 'a third: 997 left');

-- Key input is normalised: case, spaces for dashes, no dashes, padding.
SELECT is(pg_temp.v('main', 'fp-main-1', key => (SELECT lower(replace(key, '-', ' ')) FROM lic WHERE name = 'main')),
          row(true, 'VALID', 'lid', 'a', 'pro', '["export", "sync"]'::jsonb, '2030-06-01 00:00:00+00'::timestamptz, 996)::text,
          'a lower-case key with spaces instead of dashes finds the licence');
SELECT is((SELECT code FROM lic, jobspy.validate_license('  ' || replace(lic.key, '-', '') || ' ', 'fp-main-1')
            WHERE name = 'main'), 'VALID', 'a key without dashes, padded with spaces, finds it too');

-- MALFORMED: no lookup, nothing but the code.
SELECT is((SELECT row(r.*)::text FROM jobspy.validate_license(NULL, 'fp-main-1') r), '(f,MALFORMED,,,,,,)',
          'MALFORMED: NULL key');
SELECT is((SELECT row(r.*)::text FROM jobspy.validate_license('', 'fp-main-1') r), '(f,MALFORMED,,,,,,)',
          'MALFORMED: empty key');
SELECT is((SELECT row(r.*)::text FROM jobspy.validate_license(repeat('7', 10240), 'fp-main-1') r), '(f,MALFORMED,,,,,,)',
          'MALFORMED: a 10 kB key');
SELECT is((SELECT row(r.*)::text FROM lic, jobspy.validate_license(pg_temp.typo(lic.key), 'fp-main-1') r
            WHERE name = 'main'), '(f,MALFORMED,,,,,,)', 'MALFORMED: one character off fails the checksum');
SELECT is((SELECT row(r.*)::text FROM lic, jobspy.validate_license(left(lic.key, 18), 'fp-main-1') r
            WHERE name = 'main'), '(f,MALFORMED,,,,,,)', 'MALFORMED: a character missing');
SELECT is(pg_temp.v('main', repeat('f', 256)), '(f,MALFORMED,,,,,,)', 'MALFORMED: a 256-byte fingerprint, real key');
SELECT is(pg_temp.v('main', repeat('é', 128)), '(f,MALFORMED,,,,,,)',
          'MALFORMED: 128 characters of two bytes are 256 bytes');
SELECT is(pg_temp.v('main', 'fp-main-1', repeat('9', 65)), '(f,MALFORMED,,,,,,)', 'MALFORMED: a 65-byte app version');
SELECT is(pg_temp.v('wide', repeat('f', 255), repeat('9', 64)),
          row(true, 'VALID', 'lid', 'a', 'enterprise', '[]'::jsonb, NULL::timestamptz, 999)::text,
          'a 255-byte fingerprint and a 64-byte app version are accepted');
SELECT is((SELECT validations_remaining FROM lic, jobspy.validate_license(lic.key, 'fp-main-1') WHERE name = 'main'),
          994, 'MALFORMED answers consumed nothing');

-- NOT_FOUND: well formed, not issued.
SELECT is((SELECT row(r.*)::text FROM jobspy.validate_license(jobspy.generate_license_key(), 'fp-main-1') r),
          '(f,NOT_FOUND,,,,,,)', 'NOT_FOUND: a well-formed key never issued');

-- REVOKED, SUSPENDED, EXPIRED (by status and by time).
SELECT is(pg_temp.v('rev', 'fp-rev'), row(true, 'VALID', 'lid', 'a', 'pro', '[]'::jsonb, NULL::timestamptz, 999)::text,
          'the licence to revoke validates first');
SELECT jobspy.revoke_license(id, 'refund') FROM lic WHERE name = 'rev';
SELECT is(pg_temp.v('rev', 'fp-rev'), row(false, 'REVOKED', 'lid', 'a', 'pro', '[]'::jsonb, NULL::timestamptz, NULL::int)::text,
          'REVOKED: the licence columns are given, no count');
SELECT is(pg_temp.v('rev'), row(false, 'REVOKED', 'lid', 'a', 'pro', '[]'::jsonb, NULL::timestamptz, NULL::int)::text,
          'REVOKED comes before the fingerprint check');
SELECT jobspy.suspend_license(id, 'unpaid') FROM lic WHERE name = 'sus';
SELECT is(pg_temp.v('sus', 'fp-sus'), row(false, 'SUSPENDED', 'lid', 'a', 'pro', '[]'::jsonb, NULL::timestamptz, NULL::int)::text,
          'SUSPENDED');
SELECT is(pg_temp.machines('sus'), 0::bigint, 'a refused licence binds no machine');
UPDATE jobspy.licenses SET status = 'expired' WHERE id = (SELECT id FROM lic WHERE name = 'exp_status');
SELECT is(pg_temp.v('exp_status', 'fp-exp'), row(false, 'EXPIRED', 'lid', 'a', 'pro', '[]'::jsonb, NULL::timestamptz, NULL::int)::text,
          'EXPIRED: status expired');
SET LOCAL jobspy.clock_override = '2030-03-10 12:59:59+00';
SELECT is(pg_temp.v('exp_time', 'fp-exp'),
          row(true, 'VALID', 'lid', 'a', 'free', '[]'::jsonb, '2030-03-10 13:00:00+00'::timestamptz, 999)::text,
          'a second before expires_at the licence is VALID');
SET LOCAL jobspy.clock_override = '2030-03-10 13:00:00+00';
SELECT is(pg_temp.v('exp_time', 'fp-exp'),
          row(false, 'EXPIRED', 'lid', 'a', 'free', '[]'::jsonb, '2030-03-10 13:00:00+00'::timestamptz, NULL::int)::text,
          'EXPIRED: at expires_at, status still active');
SELECT is((SELECT status FROM jobspy.licenses WHERE id = (SELECT id FROM lic WHERE name = 'exp_time')), 'active',
          '(the row itself still says active)');
SET LOCAL jobspy.clock_override = '2030-03-10 12:00:00+00';

-- USER_SUSPENDED: the owner's account is not active.
SELECT is(pg_temp.v('other_user', 'fp-b'), row(true, 'VALID', 'lid', 'b', 'free', '[]'::jsonb, NULL::timestamptz, 999)::text,
          'the other user''s licence validates');
UPDATE jobspy.users SET status = 'suspended' WHERE id = (SELECT b FROM u);
SELECT is(pg_temp.v('other_user', 'fp-b'),
          row(false, 'USER_SUSPENDED', 'lid', 'b', 'free', '[]'::jsonb, NULL::timestamptz, NULL::int)::text,
          'USER_SUSPENDED: the user is suspended');
SELECT is(pg_temp.v('other_user'),
          row(false, 'USER_SUSPENDED', 'lid', 'b', 'free', '[]'::jsonb, NULL::timestamptz, NULL::int)::text,
          'USER_SUSPENDED comes before the fingerprint check');
UPDATE jobspy.users SET status = 'deleted' WHERE id = (SELECT b FROM u);
SELECT is((SELECT code FROM lic, jobspy.validate_license(lic.key, 'fp-b') WHERE name = 'other_user'), 'USER_SUSPENDED',
          'USER_SUSPENDED: the user is deleted');
UPDATE jobspy.users SET status = 'active' WHERE id = (SELECT b FROM u);
SELECT is((SELECT validations_remaining FROM lic, jobspy.validate_license(lic.key, 'fp-b') WHERE name = 'other_user'), 998,
          'active again: VALID, and the refusals consumed nothing');

-- FINGERPRINT_REQUIRED.
SELECT is(pg_temp.v('main', NULL),
          row(false, 'FINGERPRINT_REQUIRED', 'lid', 'a', 'pro', '["export", "sync"]'::jsonb,
              '2030-06-01 00:00:00+00'::timestamptz, NULL::int)::text, 'FINGERPRINT_REQUIRED: NULL');
SELECT is(pg_temp.v('main', ''),
          row(false, 'FINGERPRINT_REQUIRED', 'lid', 'a', 'pro', '["export", "sync"]'::jsonb,
              '2030-06-01 00:00:00+00'::timestamptz, NULL::int)::text, 'FINGERPRINT_REQUIRED: empty');
SELECT is((SELECT validations_remaining FROM lic, jobspy.validate_license(lic.key, 'fp-main-1') WHERE name = 'main'),
          993, 'FINGERPRINT_REQUIRED consumed nothing');

-- TOO_MANY_MACHINES: one seat; the refusal gives its count back.
SELECT is(pg_temp.v('seat', 'fp-seat-1'), row(true, 'VALID', 'lid', 'a', 'pro', '[]'::jsonb, NULL::timestamptz, 4)::text,
          'the one seat is taken');
SELECT is(pg_temp.v('seat', 'fp-seat-2'),
          row(false, 'TOO_MANY_MACHINES', 'lid', 'a', 'pro', '[]'::jsonb, NULL::timestamptz, NULL::int)::text,
          'TOO_MANY_MACHINES: a second fingerprint, no count');
SELECT is(pg_temp.machines('seat'), 1::bigint, 'no second machine row');
SELECT is(pg_temp.v('seat', 'fp-seat-1'), row(true, 'VALID', 'lid', 'a', 'pro', '[]'::jsonb, NULL::timestamptz, 3)::text,
          'TOO_MANY_MACHINES did not consume a validation');
SELECT is(pg_temp.v('main', 'fp-main-2'),
          row(true, 'VALID', 'lid', 'a', 'pro', '["export", "sync"]'::jsonb, '2030-06-01 00:00:00+00'::timestamptz, 992)::text,
          'a second machine on a two-seat licence');
SELECT is((SELECT code FROM lic, jobspy.validate_license(lic.key, 'fp-main-3') WHERE name = 'main'), 'TOO_MANY_MACHINES',
          'a third is refused');
SELECT is(pg_temp.machines('main'), 2::bigint, 'two machine rows for two seats');

-- RATE_LIMITED: 3 a day.
SELECT is((SELECT array_agg(r.validations_remaining ORDER BY g)
             FROM generate_series(1, 3) g, lic, LATERAL jobspy.validate_license(lic.key, 'fp-rl-' || (0 * g)) r
            WHERE name = 'rl'), '{2,1,0}', 'three VALID answers count down 2, 1, 0');
SELECT is(pg_temp.v('rl', 'fp-rl-0'),
          row(false, 'RATE_LIMITED', 'lid', 'a', 'free', '[]'::jsonb, NULL::timestamptz, 0)::text,
          'RATE_LIMITED: the fourth, validations_remaining 0');
SELECT is(pg_temp.v('rl', 'fp-rl-new'),
          row(false, 'RATE_LIMITED', 'lid', 'a', 'free', '[]'::jsonb, NULL::timestamptz, 0)::text,
          'RATE_LIMITED comes before the machine check');
SELECT is(pg_temp.machines('rl'), 1::bigint, 'a rate-limited new fingerprint binds no machine');
SET LOCAL jobspy.clock_override = '2030-03-10 23:59:59.999999+00';
SELECT is((SELECT code FROM lic, jobspy.validate_license(lic.key, 'fp-rl-0') WHERE name = 'rl'), 'RATE_LIMITED',
          'still RATE_LIMITED at the last microsecond of the UTC day');
SET LOCAL jobspy.clock_override = '2030-03-11 00:00:00+00';
SELECT is(pg_temp.v('rl', 'fp-rl-0'), row(true, 'VALID', 'lid', 'a', 'free', '[]'::jsonb, NULL::timestamptz, 2)::text,
          'a new UTC day starts a new count');
SET LOCAL jobspy.clock_override = '2030-03-10 12:00:00+00';

-- The validation log: failures with their result and fingerprint, never
-- successes unless asked for.
SELECT is((SELECT count(*) FROM jobspy.license_validations v JOIN lic ON lic.id = v.license_id
            WHERE lic.name = 'rev' AND v.result = 'REVOKED' AND v.fingerprint = 'fp-rev' AND v.user_id = (SELECT a FROM u)),
          1::bigint, 'a REVOKED answer is logged with licence, user and fingerprint');
SELECT is((SELECT count(*) FROM jobspy.license_validations v JOIN lic ON lic.id = v.license_id
            WHERE lic.name = 'rev' AND v.result = 'REVOKED' AND v.fingerprint IS NULL), 1::bigint,
          'and the one without a fingerprint');
SELECT is((SELECT array_agg(v.result ORDER BY v.result) FROM jobspy.license_validations v JOIN lic ON lic.id = v.license_id
            WHERE lic.name = 'seat'), '{TOO_MANY_MACHINES}', 'TOO_MANY_MACHINES logged, the VALID answers not');
SELECT is((SELECT count(*) FROM jobspy.license_validations v
            WHERE v.result = 'MALFORMED' AND v.license_id IS NULL AND v.user_id IS NULL AND v.fingerprint = 'fp-main-1'),
          6::bigint, 'MALFORMED answers are logged without a licence (six with this fingerprint)');
SELECT is((SELECT count(*) FROM jobspy.license_validations v
            WHERE v.result = 'MALFORMED' AND v.app_version IS NULL AND v.fingerprint IS NULL), 2::bigint,
          'an overlong fingerprint is left out of the log, not truncated');
SELECT is((SELECT count(*) FROM jobspy.license_validations v WHERE v.result = 'NOT_FOUND' AND v.fingerprint = 'fp-main-1'),
          1::bigint, 'NOT_FOUND is logged');
SELECT is((SELECT array_agg(DISTINCT v.result ORDER BY v.result) FROM jobspy.license_validations v
             JOIN lic ON lic.id = v.license_id),
          '{EXPIRED,FINGERPRINT_REQUIRED,RATE_LIMITED,REVOKED,SUSPENDED,TOO_MANY_MACHINES,USER_SUSPENDED}',
          'every refusal code was logged, VALID never');
SET LOCAL jobspy.licensing_log_successes = on;
SELECT is(pg_temp.v('wide', 'fp-logged', '2.0.0'),
          row(true, 'VALID', 'lid', 'a', 'enterprise', '[]'::jsonb, NULL::timestamptz, 998)::text, 'VALID with logging on');
SET LOCAL jobspy.licensing_log_successes = off;
SELECT is((SELECT row(v.result, v.fingerprint, v.app_version, v.created_at)::text
             FROM jobspy.license_validations v JOIN lic ON lic.id = v.license_id
            WHERE lic.name = 'wide' AND v.result = 'VALID'),
          row('VALID', 'fp-logged', '2.0.0', '2030-03-10 12:00:00+00'::timestamptz)::text,
          'with jobspy.licensing_log_successes on, a success is logged too');
SELECT pg_temp.v('wide', 'fp-logged');
SELECT is((SELECT count(*) FROM jobspy.license_validations v WHERE v.result = 'VALID'), 1::bigint,
          'and off again, not');

-- The plaintext key is stored nowhere: every column of every table in
-- schema jobspy, as text, searched for each key with and without dashes.
CREATE FUNCTION pg_temp.occurrences(needle text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    c record;
    n bigint;
    total bigint := 0;
BEGIN
    FOR c IN
        SELECT cl.relname, a.attname
          FROM pg_class cl JOIN pg_attribute a ON a.attrelid = cl.oid
         WHERE cl.relnamespace = 'jobspy'::regnamespace AND cl.relkind IN ('r', 'p')
           AND a.attnum > 0 AND NOT a.attisdropped
    LOOP
        EXECUTE format('SELECT count(*) FROM ONLY jobspy.%I WHERE strpos(upper(%I::text), upper($1)) > 0',
                       c.relname, c.attname) INTO n USING needle;
        total := total + n;
    END LOOP;
    RETURN total;
END
$$;
SELECT cmp_ok(pg_temp.occurrences('fp-seat-2'), '>=', 1::bigint, 'the search finds a fingerprint (it can find things)');
SELECT cmp_ok(pg_temp.occurrences((SELECT right(key, 4) FROM lic WHERE name = 'main')), '>=', 1::bigint,
              'and finds the stored hint');
SELECT is((SELECT sum(pg_temp.occurrences(key)) FROM lic), 0::numeric, 'no key appears in any column of any table');
SELECT is((SELECT sum(pg_temp.occurrences(replace(key, '-', ''))) FROM lic), 0::numeric,
          'no key without its dashes appears either');

SELECT * FROM finish();
ROLLBACK;
