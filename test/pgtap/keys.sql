-- Licence keys and keyed hashing.
BEGIN;
SELECT plan(26);

-- 100k generated keys: all unique, all valid, all canonical.
CREATE TEMP TABLE gen AS SELECT jobspy.generate_license_key() AS k FROM generate_series(1, 100000);
SELECT is((SELECT count(DISTINCT k) FROM gen), 100000::bigint, '100k generated keys are unique');
SELECT is((SELECT count(*) FROM gen WHERE NOT jobspy.license_key_is_valid(k)), 0::bigint,
          '100k generated keys are valid');
SELECT is((SELECT count(*) FROM gen WHERE k !~ '^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$'), 0::bigint,
          'every key has the shape XXXX-XXXX-XXXX-XXXX over the alphabet without I, L, O, U');
SELECT is((SELECT count(*) FROM gen WHERE jobspy.normalize_license_key(k) <> k), 0::bigint,
          'a generated key is its own canonical form');
-- Every character of the alphabet turns up in every random position.
SELECT is((SELECT count(DISTINCT (p, substr(replace(k, '-', ''), p, 1)))
             FROM gen, generate_series(1, 14) p), (14 * 32)::bigint,
          'each of the 14 random positions takes all 32 characters');
-- ... and equally often: 3125 expected per cell, 400 is over 7 standard deviations.
SELECT is((SELECT count(*) FROM (
             SELECT p, substr(replace(k, '-', ''), p, 1), count(*) AS n
               FROM gen, generate_series(1, 14) p GROUP BY 1, 2) cells
            WHERE n NOT BETWEEN 3125 - 400 AND 3125 + 400), 0::bigint,
          'characters are uniform in every random position');

-- Every single substitution of 500 keys is rejected.
CREATE TEMP TABLE sample AS SELECT replace(k, '-', '') AS k FROM gen LIMIT 500;
CREATE TEMP TABLE substituted AS
SELECT overlay(s.k PLACING c FROM p FOR 1) AS v
  FROM sample s, generate_series(1, 16) p,
       regexp_split_to_table('0123456789ABCDEFGHJKMNPQRSTVWXYZ', '') c
 WHERE substr(s.k, p, 1) <> c;
SELECT is((SELECT count(*) FROM substituted), (500 * 16 * 31)::bigint, 'all 248000 substitutions were made');
SELECT is((SELECT count(*) FROM substituted WHERE jobspy.license_key_is_valid(v)), 0::bigint,
          'no single-character substitution passes the checksum');

-- Every swap of two adjacent different characters is rejected.
CREATE TEMP TABLE swapped AS
SELECT substr(s.k, 1, p - 1) || substr(s.k, p + 1, 1) || substr(s.k, p, 1) || substr(s.k, p + 2) AS v
  FROM sample s, generate_series(1, 15) p
 WHERE substr(s.k, p, 1) <> substr(s.k, p + 1, 1);
SELECT cmp_ok((SELECT count(*) FROM swapped), '>', 6000::bigint, 'thousands of adjacent swaps were made');
SELECT is((SELECT count(*) FROM swapped WHERE jobspy.license_key_is_valid(v)), 0::bigint,
          'no swap of adjacent characters passes the checksum');

-- Forgiving input: case, dashes, spaces, look-alikes.
SELECT is((SELECT count(*) FROM sample WHERE NOT jobspy.license_key_is_valid(lower(k))), 0::bigint,
          'lower-case keys are accepted');
SELECT is((SELECT count(*) FROM sample
            WHERE NOT jobspy.license_key_is_valid('  ' || substr(k, 1, 8) || ' ' || substr(k, 9) || ' ')), 0::bigint,
          'dash-less, space-padded keys are accepted');
SELECT is((SELECT count(*) FROM sample
            WHERE jobspy.normalize_license_key(replace(replace(k, '0', 'O'), '1', 'l'))
               <> jobspy.normalize_license_key(k)), 0::bigint,
          'O for 0 and l for 1 read as the digits');
SELECT ok(NOT jobspy.license_key_is_valid(''), 'empty string is not a key');
SELECT ok(NOT jobspy.license_key_is_valid(repeat('7', 100000)), 'a 100 kB string is not a key');
SELECT is(jobspy.license_key_is_valid(NULL), NULL, 'NULL in, NULL out');

-- Keyed hashes: 32 bytes, stable, separated by purpose, dependent on the key.
SELECT is(octet_length(jobspy.secret_hash('license', 'abc')), 32, 'a keyed hash has 32 bytes');
SELECT is(jobspy.secret_hash('license', 'abc'), jobspy.secret_hash('license', 'abc'), 'hashing is deterministic');
SELECT isnt(jobspy.secret_hash('license', 'abc'), jobspy.secret_hash('session', 'abc'),
            'purposes separate domains');
SELECT throws_ok($$SELECT jobspy.secret_hash('', 'abc')$$, '22023', NULL, 'an empty purpose is refused');

-- Rotation: a new active key; the old one still verifies; retiring it stops that.
CREATE TEMP TABLE before_rotation AS SELECT jobspy.secret_hash('license', 'k1') AS h;
SELECT jobspy.rotate_hash_key();
SELECT ok((SELECT h FROM before_rotation) = ANY (jobspy.secret_hash_candidates('license', 'k1'))
          AND jobspy.secret_hash('license', 'k1') <> (SELECT h FROM before_rotation),
          'after rotation new hashes differ and the old hash is still a candidate');
SELECT jobspy.retire_hash_key(key_id) FROM jobspy.hash_keys WHERE state = 'verify';
SELECT ok(NOT ((SELECT h FROM before_rotation) = ANY (jobspy.secret_hash_candidates('license', 'k1'))),
          'a retired key no longer matches');
SELECT throws_ok($$SELECT jobspy.retire_hash_key(key_id) FROM jobspy.hash_keys WHERE state = 'active'$$,
                 '55000', NULL, 'the active key cannot be retired');

-- A rotation rolled back leaves the cached keys as they were.
CREATE TEMP TABLE before_savepoint AS SELECT jobspy.secret_hash('license', 'k2') AS h;
SAVEPOINT s;
SELECT jobspy.rotate_hash_key();
SELECT jobspy.secret_hash('license', 'k2');
ROLLBACK TO SAVEPOINT s;
SELECT is(jobspy.secret_hash('license', 'k2'), (SELECT h FROM before_savepoint),
          'after a rolled-back rotation the active key is the one before it');

-- Backends hold at most 16 live keys: rotation refuses a 17th.
SELECT lives_ok($$SELECT jobspy.rotate_hash_key() FROM generate_series(1, 16 - (SELECT count(*)::int FROM jobspy.hash_keys WHERE state <> 'retired'))$$,
                'rotation up to 16 live keys works');
SELECT throws_ok($$SELECT jobspy.rotate_hash_key()$$, '55000', NULL, 'a 17th live key is refused, with a hint to retire');

SELECT * FROM finish();
ROLLBACK;
