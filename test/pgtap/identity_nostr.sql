-- Nostr identity (seed 003): NIP-01 event verification, NIP-19 npub keys
-- (round trips and every kind of bad input with its SQLSTATE), and users
-- identified by a public key with no email.  BIP-340's published vectors
-- run in test/shell/identity_bip340_vectors.sh.
BEGIN;
SELECT plan(58);
SET LOCAL jobspy.password_memory_kib = 64;
SET LOCAL jobspy.password_iterations = 1;

CREATE TEMP TABLE ev (name text PRIMARY KEY, e jsonb);
INSERT INTO ev VALUES
  -- a note published on the Nostr network (a relay's copy): non-ASCII, emoji, line breaks
  ('relay', '{"id": "cd720b23163210ebddec88bc4e74d83c9667cdf11b95d376865315c686ed34eb", "pubkey": "11d0b66747887ba9a6d34b23eb31287374b45b1a1b161eac54cb183c53e00ef7", "created_at": 1684947090, "kind": 1, "tags": [["e", "f9f30e37adffe3afe12fda2f8db4502ece334f261273a9a0be7e8adb29b35145"], ["p", "9eefd04d32ab5da8de12d7b83201578ea095a676acf3a692ec1b0b202ae4e16f"]], "content": "I''ll take a large lill\u00f6rdag please.\n\n\ud83d\ude0e\ud83e\udd19\ud83d\udc47\ud83c\udf7b\n\nnostr:nevent1qqs0nucwx7kllca0uyha5tudk3gzan3nfunpyuaf5zl8azkm9xe4z3gpzamhxue69uhhyetvv9ujumn0wd68ytnzv9hxgtczyz0wl5zdx244m2x7zttmsvsp2782p9dxw6k08f5jasdskgp2unsk7qcyqqqqqqgncdx20", "sig": "6c66e42dd481a0769148be33932a643672710f0ed83eeaaf4af5fe0f53e52b810a924ba2498354b8b00a54f065f4de0d92c42c70fdb39a2da67ac97baf4f9ae0"}'),
  -- signed with BIP-340 vector 0's key: every escape NIP-01 lists, a control
  -- character and a slash kept verbatim, escapes inside tags, an empty tag
  ('escapes', '{"id": "34e2a79ea149918368392e872c61c30e3b347838949e9d1ffbcfd1b965b58ec3", "pubkey": "f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9", "created_at": 1767225600, "kind": 1, "tags": [["t", "a\"b\\\\c\nd"], ["p"], []], "content": "line\nquote\" backslash\\ cr\r tab\t bs\b ff\f ctl\u0001 slash/ \u00e9 \ud83d\ude0e", "sig": "51314b2cab9f2178f66a2d913a186b9a3da7ad528f1714158c536ed40d13828e7292fb104ca172e8ee6dda09bb3c882aea1fbf73c26448105fc140d7aea9f3ac"}'),
  ('plain', '{"id": "2b1f39805bef6f39cc85b87d1b7990ea6fc70398c0bdaf82b2d2590196d37b04", "pubkey": "dff1d77f2a671c5f36183726db2341be58feae1da2deced843240f7b502ba659", "created_at": 1767225600, "kind": 1, "tags": [], "content": "gm nostr", "sig": "37726a69805e1e48dd96e13318291cfcf1eb74e3de5a5740e789f8be76f892527349281f9c141cb5f9cd3ba711b5b8de18a51029f900c3b48cc535cffc307fcb"}');

-- nostr_verify_event
SELECT ok(jobspy.nostr_verify_event(e), 'nostr_verify_event: a note from a relay verifies') FROM ev WHERE name = 'relay';
SELECT ok(jobspy.nostr_verify_event(e), 'nostr_verify_event: NIP-01 escapes in content and tags') FROM ev WHERE name = 'escapes';
SELECT ok(jobspy.nostr_verify_event(e), 'nostr_verify_event: a plain note') FROM ev WHERE name = 'plain';
SELECT is(jobspy.nostr_verify_event(e || '{"content": "gm nostr!"}'), false, 'nostr_verify_event: changed content is refused') FROM ev WHERE name = 'plain';
SELECT is(jobspy.nostr_verify_event(e || '{"created_at": 1767225601}'), false, 'nostr_verify_event: changed created_at is refused') FROM ev WHERE name = 'plain';
SELECT is(jobspy.nostr_verify_event(e || '{"kind": 7}'), false, 'nostr_verify_event: changed kind is refused') FROM ev WHERE name = 'plain';
SELECT is(jobspy.nostr_verify_event(e || '{"tags": [["t", "x"]]}'), false, 'nostr_verify_event: added tag is refused') FROM ev WHERE name = 'plain';
SELECT is(jobspy.nostr_verify_event(jsonb_set(e, '{sig}', to_jsonb(overlay(e->>'sig' placing '0' from 128)))), false,
          'nostr_verify_event: a changed signature is refused') FROM ev WHERE name = 'plain';
SELECT is(jobspy.nostr_verify_event(jsonb_set(e, '{pubkey}', (SELECT x.e->'pubkey' FROM ev x WHERE x.name = 'escapes'))), false,
          'nostr_verify_event: another author''s key is refused') FROM ev WHERE name = 'plain';
-- an id that is the right hash but a signature of another id
SELECT is(jobspy.nostr_verify_event(jsonb_set(e, '{sig}', (SELECT x.e->'sig' FROM ev x WHERE x.name = 'escapes'))), false,
          'nostr_verify_event: a signature of another event is refused') FROM ev WHERE name = 'plain';
SELECT ok(jobspy.nostr_verify_event(e || '{"seen_on": "wss://relay.example"}'), 'nostr_verify_event: fields NIP-01 does not sign are ignored') FROM ev WHERE name = 'plain';
SELECT ok(jobspy.nostr_verify_event(jsonb_set(e, '{created_at}', '1767225600.0')), 'nostr_verify_event: 1767225600.0 is the whole number 1767225600') FROM ev WHERE name = 'plain';
SELECT throws_ok($$SELECT jobspy.nostr_verify_event('[1, 2]')$$, '22023', 'a nostr event must be a json object', 'nostr_verify_event: an array');
SELECT throws_ok($$SELECT jobspy.nostr_verify_event(e - 'sig') FROM ev WHERE name = 'plain'$$, '22023', 'nostr event field "sig" is not valid', 'nostr_verify_event: no sig');
SELECT throws_ok($$SELECT jobspy.nostr_verify_event(e - 'tags') FROM ev WHERE name = 'plain'$$, '22023', 'nostr event field "tags" is not valid', 'nostr_verify_event: no tags');
SELECT throws_ok($$SELECT jobspy.nostr_verify_event(jsonb_set(e, '{id}', to_jsonb(upper(e->>'id')))) FROM ev WHERE name = 'plain'$$,
                 '22023', 'nostr event field "id" is not valid', 'nostr_verify_event: upper-case hex id');
SELECT throws_ok($$SELECT jobspy.nostr_verify_event(jsonb_set(e, '{pubkey}', to_jsonb(left(e->>'pubkey', 62)))) FROM ev WHERE name = 'plain'$$,
                 '22023', 'nostr event field "pubkey" is not valid', 'nostr_verify_event: short pubkey');
SELECT throws_ok($$SELECT jobspy.nostr_verify_event(e || '{"kind": 65536}') FROM ev WHERE name = 'plain'$$,
                 '22023', 'nostr event field "kind" is not valid', 'nostr_verify_event: kind above 65535');
SELECT throws_ok($$SELECT jobspy.nostr_verify_event(e || '{"kind": "1"}') FROM ev WHERE name = 'plain'$$,
                 '22023', 'nostr event field "kind" is not valid', 'nostr_verify_event: kind as a string');
SELECT throws_ok($$SELECT jobspy.nostr_verify_event(e || '{"created_at": -1}') FROM ev WHERE name = 'plain'$$,
                 '22023', 'nostr event field "created_at" is not valid', 'nostr_verify_event: negative created_at');
SELECT throws_ok($$SELECT jobspy.nostr_verify_event(e || '{"created_at": 1.5}') FROM ev WHERE name = 'plain'$$,
                 '22023', 'nostr event field "created_at" is not valid', 'nostr_verify_event: fractional created_at');
SELECT throws_ok($$SELECT jobspy.nostr_verify_event(e || '{"tags": ["t"]}') FROM ev WHERE name = 'plain'$$,
                 '22023', 'nostr event field "tags" is not valid', 'nostr_verify_event: a tag that is not an array');
SELECT throws_ok($$SELECT jobspy.nostr_verify_event(e || '{"tags": [["t", 1]]}') FROM ev WHERE name = 'plain'$$,
                 '22023', 'nostr event field "tags" is not valid', 'nostr_verify_event: a number inside a tag');
SELECT throws_ok($$SELECT jobspy.nostr_verify_event(e || '{"content": null}') FROM ev WHERE name = 'plain'$$,
                 '22023', 'nostr event field "content" is not valid', 'nostr_verify_event: null content');
SELECT is(jobspy.nostr_verify_event(NULL), NULL, 'nostr_verify_event: NULL gives NULL');

-- schnorr_verify's own bad input (its results: the BIP-340 vectors)
SELECT throws_ok($$SELECT jobspy.schnorr_verify('\x00', '\x00', decode(repeat('00', 64), 'hex'))$$, '22023',
                 'a BIP-340 public key must be 32 bytes', 'schnorr_verify: a 1-byte key');
SELECT throws_ok($$SELECT jobspy.schnorr_verify(decode(repeat('00', 32), 'hex'), '\x00', '\x00')$$, '22023',
                 'a BIP-340 signature must be 64 bytes', 'schnorr_verify: a 1-byte signature');
SELECT is(jobspy.schnorr_verify(NULL, '\x00', '\x00'), NULL, 'schnorr_verify: NULL gives NULL');

-- npub: NIP-19's own example, both ways, and round trips of many keys
SELECT is(jobspy.nostr_npub('\x7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e'),
          'npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg', 'nostr_npub: NIP-19''s example');
SELECT is(encode(jobspy.nostr_public_key('npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg'), 'hex'),
          '7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e', 'nostr_public_key: NIP-19''s example');
SELECT is(encode(jobspy.nostr_public_key('  NPUB10ELFCS4FR0L0R8AF98JLMGDH9C8TCXJVZ9QKW038JS35MP4DMA8QZVJPTG '), 'hex'),
          '7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e', 'nostr_public_key: all upper case, spaces around');
SELECT is(encode(jobspy.nostr_public_key('7E7E9C42A91BFEF19FA929E5FDA1B72E0EBC1A4C1141673E2794234D86ADDF4E'), 'hex'),
          '7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e', 'nostr_public_key: hex in capitals');
CREATE FUNCTION pg_temp.curve_key(x bytea) RETURNS bytea LANGUAGE plpgsql AS $$
BEGIN RETURN jobspy.nostr_public_key(encode(x, 'hex'));
EXCEPTION WHEN invalid_parameter_value THEN RETURN NULL; END $$;
CREATE TEMP TABLE keys AS
SELECT k FROM (SELECT pg_temp.curve_key(sha256(g::text::bytea)) k FROM generate_series(1, 300) g) s WHERE k IS NOT NULL;
SELECT cmp_ok((SELECT count(*) FROM keys), '>', 100::bigint, 'about half of 300 hashes are x coordinates of the curve');
SELECT is((SELECT count(*) FROM keys WHERE jobspy.nostr_public_key(jobspy.nostr_npub(k)) = k
                                        AND jobspy.nostr_public_key(upper(jobspy.nostr_npub(k))) = k
                                        AND length(jobspy.nostr_npub(k)) = 63),
          (SELECT count(*) FROM keys), 'npub round trips: every key back from its npub, lower and upper case');
CREATE FUNCTION pg_temp.sqlstate_of(key text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM jobspy.nostr_public_key(key); RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE; END $$;
-- every single-character substitution in the data or checksum of 20 npubs
SELECT is((SELECT count(*) FROM (SELECT jobspy.nostr_npub(k) n FROM keys LIMIT 20) y, generate_series(6, 63) p,
                 LATERAL (SELECT overlay(n placing CASE substr(n, p, 1) WHEN 'q' THEN 'p' ELSE 'q' END from p) bad) b
            WHERE pg_temp.sqlstate_of(bad) <> 'JS105'), 0::bigint,
          'npub: each of 1,160 one-character substitutions is caught by the checksum (JS105)');
SELECT throws_ok($$SELECT jobspy.nostr_public_key('npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjpth')$$,
                 'JS105', 'npub key checksum does not match', 'npub: wrong checksum');
SELECT throws_ok($$SELECT jobspy.nostr_public_key('npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptG')$$,
                 '22023', 'npub key mixes upper and lower case', 'npub: mixed case');
SELECT throws_ok($$SELECT jobspy.nostr_public_key('npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjpt')$$,
                 '22023', 'npub key has the wrong length', 'npub: one character short');
SELECT throws_ok($$SELECT jobspy.nostr_public_key('npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dmup82t8f')$$,
                 '22023', 'npub key has the wrong length', 'npub: a 31-byte key with a valid checksum');
SELECT throws_ok($$SELECT jobspy.nostr_public_key('npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8pl6x5k6')$$,
                 '22023', 'npub key has non-zero padding bits', 'npub: non-zero padding with a valid checksum');
SELECT throws_ok($$SELECT jobspy.nostr_public_key('npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptb')$$,
                 '22023', 'npub key has a character outside the bech32 alphabet', 'npub: b is not in the alphabet');
SELECT throws_ok($$SELECT jobspy.nostr_public_key('nprofile10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qeftuk5')$$,
                 '22023', 'not a nostr public key', 'npub: another NIP-19 prefix');
SELECT throws_ok($$SELECT jobspy.nostr_public_key('nsec1vl029mgpspedva04g90vltkh6fvh240zqtv9k0t9af8935ke9laqsnlfe5')$$,
                 '22023', 'this is a nostr secret key, not a public key', 'a secret key is refused and not echoed');
SELECT throws_ok($$SELECT jobspy.nostr_public_key(repeat('a', 63))$$, '22023', 'nostr public key in hex has the wrong length', 'hex: 63 digits');
SELECT throws_ok($$SELECT jobspy.nostr_public_key(repeat('a', 65))$$, '22023', 'nostr public key in hex has the wrong length', 'hex: 65 digits');
SELECT throws_ok($$SELECT jobspy.nostr_public_key(repeat('g', 64))$$, '22023', 'nostr public key is not valid hex', 'hex: 64 non-hex characters');
SELECT throws_ok($$SELECT jobspy.nostr_public_key('EEFDEA4CDB677750A420FEE807EACF21EB9898AE79B9768766E4FAA04A2D4A34')$$,
                 '22023', 'nostr public key is not a point of secp256k1', 'hex: BIP-340 vector 5''s key is off the curve');
SELECT throws_ok($$SELECT jobspy.nostr_public_key('')$$, '22023', 'not a nostr public key', 'an empty key');
SELECT throws_ok($$SELECT jobspy.nostr_npub('\x00')$$, '22023', 'a nostr public key must be 32 bytes', 'nostr_npub: 1 byte');

-- Users identified by a Nostr key, with no email
CREATE TEMP TABLE nu AS SELECT jobspy.create_user(NULL, nostr_public_key => 'npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg') AS id;
SELECT is((SELECT encode(nostr_public_key, 'hex') || ' ' || coalesce(email, 'no email') FROM jobspy.users WHERE id = (SELECT id FROM nu)),
          '7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e no email', 'create_user: a Nostr user needs no email; the key is stored as 32 bytes');
SELECT is(jobspy.nostr_user_id('7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e'), (SELECT id FROM nu), 'nostr_user_id: found by hex');
SELECT is(jobspy.nostr_user_id((SELECT e->>'pubkey' FROM ev WHERE name = 'plain')), NULL, 'nostr_user_id: an unknown key is NULL');
SELECT throws_ok($$SELECT jobspy.create_user('other@example.com', nostr_public_key => '7E7E9C42A91BFEF19FA929E5FDA1B72E0EBC1A4C1141673E2794234D86ADDF4E')$$,
                 '23505', 'a user with this nostr public key already exists', 'create_user: the same key in another form is a duplicate');
SELECT throws_ok($$SELECT jobspy.create_user(NULL, nostr_public_key => 'npub1nope')$$, '22023', 'npub key has the wrong length', 'create_user: a bad key');
SELECT throws_ok($$SELECT jobspy.create_user(NULL)$$, '22004', 'email must not be null', 'create_user: no email and no key');
SELECT throws_ok($$SELECT jobspy.issue_email_verification((SELECT id FROM nu))$$, '55000', 'user has no email address to verify', 'issue_email_verification: a Nostr user without email');
CREATE TEMP TABLE dual AS SELECT jobspy.create_user('Dual@Example.com', nostr_public_key => (SELECT e->>'pubkey' FROM ev WHERE name = 'plain')) AS id;
SELECT is(jobspy.nostr_user_id((SELECT e->>'pubkey' FROM ev WHERE name = 'plain')), (SELECT id FROM jobspy.users WHERE email = 'dual@example.com'),
          'create_user: email and Nostr key together');
SELECT is((SELECT count(*) FROM jobspy.users WHERE nostr_public_key IS NOT NULL), 2::bigint, 'the refused calls wrote no user');
SELECT * FROM finish();
ROLLBACK;
