-- Offline licence tokens: the claims, every verify_license_token code,
-- tampering, key rotation and retirement, license_token's errors.
BEGIN;
SELECT plan(69);
SET LOCAL jobspy.clock_override = '2030-05-01 00:00:00+00';

CREATE TEMP TABLE u AS SELECT jobspy.create_user('lic.tokens@example.com') AS id;
CREATE TEMP TABLE lic (name text PRIMARY KEY, id uuid, key text);
INSERT INTO lic SELECT 'main', l.* FROM u, jobspy.issue_license(u.id, 'pro', '2030-12-31 00:00:00+00', 2, '["sync", "export"]') l;
INSERT INTO lic SELECT 'open', l.* FROM u, jobspy.issue_license(u.id, 'enterprise') l;
INSERT INTO lic SELECT 'sus', l.* FROM u, jobspy.issue_license(u.id, 'free') l;
CREATE TEMP TABLE tok (name text PRIMARY KEY, t text);
GRANT SELECT ON u, lic, tok TO PUBLIC;
CREATE FUNCTION pg_temp.key(name text) RETURNS text LANGUAGE sql AS $$ SELECT key FROM lic WHERE lic.name = key.name $$;
CREATE FUNCTION pg_temp.tok(name text) RETURNS text LANGUAGE sql AS $$ SELECT t FROM tok WHERE tok.name = $1 $$;
CREATE FUNCTION pg_temp.code(token text, fp text DEFAULT NULL) RETURNS text LANGUAGE sql AS $$
    SELECT jobspy.verify_license_token(token, fp) ->> 'code'
$$;
CREATE FUNCTION pg_temp.epoch(t timestamptz) RETURNS numeric LANGUAGE sql AS $$ SELECT extract(epoch FROM t) $$;
CREATE FUNCTION pg_temp.part(token text, n int) RETURNS text LANGUAGE sql AS $$ SELECT split_part(token, '.', n) $$;
-- The payload of a token as jsonb, NULL when it does not decode.
CREATE FUNCTION pg_temp.payload(part text) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    RETURN convert_from(jobspy.base64url_decode(part), 'UTF8')::jsonb;
EXCEPTION WHEN OTHERS THEN
    RETURN NULL;
END
$$;
CREATE FUNCTION pg_temp.b64url(t text) RETURNS text LANGUAGE sql AS $$
    SELECT jobspy.base64url_encode(convert_to(t, 'UTF8'))
$$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pg_temp TO PUBLIC;
CREATE TEMP TABLE k0 AS SELECT key_id, public_key FROM jobspy.license_signing_keys WHERE state = 'active'
                          ORDER BY created_at LIMIT 1;

-- ---- a token and its claims --------------------------------------------------------
INSERT INTO tok VALUES ('week', jobspy.license_token(pg_temp.key('main'), 'fp-tok', '7 days'));
SELECT matches(pg_temp.tok('week'), '^jsl1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{86}$',
               'a token is jsl1.<base64url>.<base64url of 64 bytes>, no padding');
SELECT is(jobspy.verify_license_token(pg_temp.tok('week')) - 'claims', '{"valid": true, "code": "VALID"}',
          'VALID');
SELECT is(jobspy.verify_license_token(pg_temp.tok('week')) -> 'claims', pg_temp.payload(pg_temp.part(pg_temp.tok('week'), 2)),
          'the claims are the payload');
SELECT is((SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(pg_temp.payload(pg_temp.part(pg_temp.tok('week'), 2))) k),
          '{exp,feat,fp,iat,kid,lid,typ,v}', 'the payload has exactly v, kid, lid, typ, feat, fp, iat, exp');
CREATE TEMP TABLE c AS SELECT jobspy.verify_license_token(pg_temp.tok('week')) -> 'claims' AS c;
SELECT is((SELECT c -> 'v' FROM c), '1', 'v is 1');
SELECT is((SELECT c ->> 'kid' FROM c), (SELECT key_id FROM k0), 'kid is the active signing key');
SELECT is((SELECT (c ->> 'lid')::uuid FROM c), (SELECT id FROM lic WHERE name = 'main'), 'lid is the licence id');
SELECT is((SELECT c ->> 'typ' FROM c), 'pro', 'typ is the licence type');
SELECT is((SELECT c -> 'feat' FROM c), '["sync", "export"]', 'feat are the features');
SELECT is((SELECT c ->> 'fp' FROM c), 'fp-tok', 'fp is the fingerprint');
SELECT is((SELECT (c ->> 'iat')::numeric FROM c), pg_temp.epoch('2030-05-01 00:00:00+00'), 'iat is now, in unix seconds');
SELECT is((SELECT (c ->> 'exp')::numeric - (c ->> 'iat')::numeric FROM c), 604800::numeric, 'exp - iat is the ttl');
SELECT ok(jobspy.ed25519_verify(convert_to('jsl1.' || pg_temp.part(pg_temp.tok('week'), 2), 'UTF8'),
                                jobspy.base64url_decode(pg_temp.part(pg_temp.tok('week'), 3)),
                                decode(jobspy.license_public_key(), 'base64')),
          'the signature covers "jsl1." and the payload text, under license_public_key()');
SELECT is(octet_length(decode(jobspy.license_public_key(), 'base64')), 32, 'the public key has 32 bytes');

INSERT INTO tok VALUES ('capped', jobspy.license_token(pg_temp.key('main'), 'fp-tok', '365 days'));
SELECT is((pg_temp.payload(pg_temp.part(pg_temp.tok('capped'), 2)) ->> 'exp')::numeric,
          pg_temp.epoch('2030-12-31 00:00:00+00'), 'exp is capped at the licence''s expiry');
INSERT INTO tok VALUES ('open', jobspy.license_token(pg_temp.key('open'), 'fp-open'));
SELECT is((SELECT (p ->> 'exp')::numeric - (p ->> 'iat')::numeric
             FROM (SELECT pg_temp.payload(pg_temp.part(pg_temp.tok('open'), 2)) p) x), 2592000::numeric,
          'the default ttl is 30 days; a licence without expiry caps nothing');
SELECT is((pg_temp.payload(pg_temp.part(pg_temp.tok('open'), 2)) ->> 'typ'), 'enterprise', 'its typ');

-- ---- fingerprint and time -----------------------------------------------------------
SELECT is(pg_temp.code(pg_temp.tok('week'), 'fp-tok'), 'VALID', 'VALID for its own fingerprint');
SELECT is(jobspy.verify_license_token(pg_temp.tok('week'), 'fp-else') - 'claims',
          '{"valid": false, "code": "FINGERPRINT_MISMATCH"}', 'FINGERPRINT_MISMATCH for another');
SELECT is(jobspy.verify_license_token(pg_temp.tok('week'), 'fp-else') -> 'claims' ->> 'fp', 'fp-tok',
          'with the claims, to show which machine it is for');
SET LOCAL jobspy.clock_override = '2030-05-07 23:59:59+00';
SELECT is(pg_temp.code(pg_temp.tok('week')), 'VALID', 'a second before exp: VALID');
SET LOCAL jobspy.clock_override = '2030-05-08 00:00:00+00';
SELECT is(pg_temp.code(pg_temp.tok('week')), 'EXPIRED', 'at exp: EXPIRED');
SELECT is(pg_temp.code(pg_temp.tok('week'), 'fp-else'), 'EXPIRED', 'EXPIRED comes before the fingerprint');
SET LOCAL jobspy.clock_override = '2030-05-01 00:00:00+00';

-- ---- tampering and garbage --------------------------------------------------------------
-- The same signature over other claims.
SELECT is(pg_temp.code('jsl1.' || pg_temp.b64url(jsonb_set(pg_temp.payload(pg_temp.part(pg_temp.tok('week'), 2)),
                                                              '{typ}', '"enterprise"')::text)
                       || '.' || pg_temp.part(pg_temp.tok('week'), 3)),
          'BAD_SIGNATURE', 'claims changed (typ pro -> enterprise), signature kept: BAD_SIGNATURE');
SELECT is(pg_temp.code('jsl1.' || pg_temp.b64url(jsonb_set(pg_temp.payload(pg_temp.part(pg_temp.tok('week'), 2)),
                                                              '{exp}', '4102444800')::text)
                       || '.' || pg_temp.part(pg_temp.tok('week'), 3)),
          'BAD_SIGNATURE', 'exp pushed out: BAD_SIGNATURE');
-- Every one-character change of the payload text.
CREATE TEMP TABLE flipped AS
SELECT i, f, pg_temp.code(f) AS code, pg_temp.payload(pg_temp.part(f, 2)) AS p
  FROM (SELECT pg_temp.part(t, 2) AS p2, pg_temp.part(t, 3) AS p3 FROM tok WHERE name = 'week') w,
       generate_series(1, length(w.p2)) i,
       LATERAL (SELECT 'jsl1.' || overlay(w.p2 PLACING CASE WHEN substr(w.p2, i, 1) = 'A' THEN 'B' ELSE 'A' END FROM i FOR 1)
                       || '.' || w.p3 AS f) x;
SELECT is((SELECT count(*) FROM flipped WHERE code = 'VALID'), 0::bigint, 'no one-character change of the payload is VALID');
SELECT cmp_ok((SELECT count(*) FROM flipped WHERE code = 'BAD_SIGNATURE'), '>', 10::bigint,
              'many give BAD_SIGNATURE');
SELECT is((SELECT count(*) FROM flipped
            WHERE p ->> 'kid' = (SELECT key_id FROM k0) AND jsonb_typeof(p -> 'exp') = 'number'
              AND code <> 'BAD_SIGNATURE'), 0::bigint,
          'every change that still decodes to claims with the same key gives BAD_SIGNATURE');
SELECT is((SELECT count(*) FROM flipped WHERE code NOT IN ('BAD_SIGNATURE', 'MALFORMED', 'UNKNOWN_KEY')), 0::bigint,
          'the others are MALFORMED or UNKNOWN_KEY');
SELECT is(pg_temp.code(pg_temp.part(pg_temp.tok('week'), 1) || '.' || pg_temp.part(pg_temp.tok('week'), 2) || '.'
                       || overlay(pg_temp.part(pg_temp.tok('week'), 3)
                                  PLACING CASE WHEN substr(pg_temp.part(pg_temp.tok('week'), 3), 20, 1) = 'A' THEN 'B' ELSE 'A' END
                                  FROM 20 FOR 1)),
          'BAD_SIGNATURE', 'a character of the signature changed: BAD_SIGNATURE');
SELECT is(pg_temp.code('jsl1.' || pg_temp.part(pg_temp.tok('week'), 2) || '.' || pg_temp.part(pg_temp.tok('open'), 3)),
          'BAD_SIGNATURE', 'another token''s signature: BAD_SIGNATURE');
SELECT is(jobspy.verify_license_token(NULL), '{"valid": false, "code": "MALFORMED"}', 'MALFORMED: NULL');
SELECT is(pg_temp.code(''), 'MALFORMED', 'MALFORMED: empty');
SELECT is(pg_temp.code('a.b'), 'MALFORMED', 'MALFORMED: a.b');
SELECT is(pg_temp.code('jsl1.!!.!!'), 'MALFORMED', 'MALFORMED: jsl1.!!.!!');
SELECT is(pg_temp.code(repeat('a', 9216)), 'MALFORMED', 'MALFORMED: 9 kB of text');
SELECT is(pg_temp.code(pg_temp.tok('week') || repeat('A', 9000)), 'MALFORMED', 'MALFORMED: a real token grown past 8 kB');
SELECT is(pg_temp.code('jsl2.' || pg_temp.part(pg_temp.tok('week'), 2) || '.' || pg_temp.part(pg_temp.tok('week'), 3)),
          'MALFORMED', 'MALFORMED: another version prefix');
SELECT is(pg_temp.code(pg_temp.tok('week') || '.x'), 'MALFORMED', 'MALFORMED: four parts');
SELECT is(pg_temp.code('jsl1.' || pg_temp.part(pg_temp.tok('week'), 2) || '.'
                       || left(pg_temp.part(pg_temp.tok('week'), 3), 80)), 'MALFORMED', 'MALFORMED: a short signature');
SELECT is(pg_temp.code('jsl1.' || pg_temp.b64url('not json') || '.' || pg_temp.part(pg_temp.tok('week'), 3)),
          'MALFORMED', 'MALFORMED: a payload that is not JSON');
SELECT is(pg_temp.code('jsl1.' || jobspy.base64url_encode('\xfffe'::bytea) || '.' || pg_temp.part(pg_temp.tok('week'), 3)),
          'MALFORMED', 'MALFORMED: a payload that is not UTF-8');
SELECT is(pg_temp.code('jsl1.' || pg_temp.b64url('{"v": 1, "kid": "0000000000000000", "exp": 4102444800}')
                       || '.' || jobspy.base64url_encode(decode(repeat('00', 64), 'hex'))),
          'UNKNOWN_KEY', 'UNKNOWN_KEY: a kid not in the table, a dummy 64-byte signature');

-- ---- rotation and retirement -----------------------------------------------------------
CREATE TEMP TABLE k1 AS SELECT jobspy.rotate_license_signing_key() AS key_id;
SELECT isnt((SELECT key_id FROM k1), (SELECT key_id FROM k0), 'rotation makes a new key id');
SELECT is((SELECT state FROM jobspy.license_signing_keys WHERE key_id = (SELECT key_id FROM k0)), 'verify',
          'the old key is now a verify key');
SELECT is(pg_temp.code(pg_temp.tok('week')), 'VALID', 'a token signed before the rotation is still VALID');
INSERT INTO tok VALUES ('rotated', jobspy.license_token(pg_temp.key('main'), 'fp-tok', '1 day'));
SELECT is(pg_temp.payload(pg_temp.part(pg_temp.tok('rotated'), 2)) ->> 'kid', (SELECT key_id FROM k1),
          'a new token carries the new kid');
SELECT is(pg_temp.code(pg_temp.tok('rotated')), 'VALID', 'and is VALID');
SELECT isnt(jobspy.license_public_key(), encode((SELECT public_key FROM k0), 'base64'), 'license_public_key() changed');
SELECT is(jobspy.license_public_key(), jobspy.license_public_key((SELECT key_id FROM k1)), 'to the new key''s');
SELECT is(jobspy.license_public_key((SELECT key_id FROM k0)), encode((SELECT public_key FROM k0), 'base64'),
          'license_public_key(old kid) still gives the old key');
SELECT throws_ok($$SELECT jobspy.retire_license_signing_key((SELECT key_id FROM k1))$$, '22023', NULL,
                 'the active key cannot be retired');
SELECT throws_ok($$SELECT jobspy.retire_license_signing_key('ffffffffffffffff')$$, '22023', NULL,
                 'an unknown key cannot be retired');
SELECT lives_ok($$SELECT jobspy.retire_license_signing_key((SELECT key_id FROM k0))$$, 'the old key is retired');
SELECT is(jobspy.verify_license_token(pg_temp.tok('week')) - 'claims', '{"valid": false, "code": "KEY_RETIRED"}',
          'its tokens answer KEY_RETIRED');
SELECT is(pg_temp.code(pg_temp.tok('rotated')), 'VALID', 'the new key''s tokens are still VALID');
SELECT is(jobspy.license_public_key((SELECT key_id FROM k0)), NULL, 'license_public_key(retired kid) is NULL');

-- ---- license_token's errors -------------------------------------------------------------
SELECT jobspy.suspend_license(id) FROM lic WHERE name = 'sus';
SELECT throws_ok($$SELECT jobspy.license_token(pg_temp.key('sus'), 'fp-sus')$$, 'JS203', NULL,
                 'a suspended licence gets no token: JS203');
SELECT throws_ok($$SELECT jobspy.license_token(jobspy.generate_license_key(), 'fp-x')$$, 'JS203', NULL,
                 'an unknown key: JS203');
SELECT jobspy.activate_machine(id, 'fp-second') IS NOT NULL AS second_seat_taken FROM lic WHERE name = 'main';
SELECT throws_ok($$SELECT jobspy.license_token(pg_temp.key('main'), 'fp-third')$$, 'JS203', NULL,
                 'a machine without a seat (two taken): JS203');
SELECT throws_ok($$SELECT jobspy.license_token(pg_temp.key('main'), 'fp-tok', '0 seconds')$$, '22023', NULL, 'ttl 0: 22023');
SELECT throws_ok($$SELECT jobspy.license_token(pg_temp.key('main'), 'fp-tok', '-1 day')$$, '22023', NULL, 'negative ttl: 22023');
SELECT throws_ok($$SELECT jobspy.license_token(pg_temp.key('main'), 'fp-tok', NULL)$$, '22023', NULL, 'NULL ttl: 22023');
SELECT throws_ok($$SELECT jobspy.license_token(pg_temp.key('main'), '')$$, '22023', NULL, 'empty fingerprint: 22023');
SELECT throws_ok($$SELECT jobspy.license_token(pg_temp.key('main'), NULL)$$, '22023', NULL, 'NULL fingerprint: 22023');

-- ---- as the application role ---------------------------------------------------------------
CREATE TEMP TABLE k1_public AS
SELECT encode(public_key, 'base64') AS pk FROM jobspy.license_signing_keys WHERE key_id = (SELECT key_id FROM k1);
GRANT SELECT ON k0, k1, k1_public TO PUBLIC;
SET LOCAL ROLE jobspy_app;
SELECT is(pg_temp.code(jobspy.license_token(pg_temp.key('open'), 'fp-open'), 'fp-open'), 'VALID',
          'jobspy_app issues and verifies tokens');
SELECT is(jobspy.license_public_key(), (SELECT pk FROM k1_public), 'and reads the public key');
SELECT throws_ok($$SELECT jobspy.rotate_license_signing_key()$$, '42501', NULL, 'but may not rotate it');
SELECT throws_ok($$SELECT jobspy.retire_license_signing_key((SELECT key_id FROM k1))$$, '42501', NULL, 'nor retire it');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
