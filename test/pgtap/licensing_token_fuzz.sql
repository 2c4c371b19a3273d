-- Offline licence tokens and email addresses are parsed in PL/pgSQL, out of
-- libFuzzer's reach, so they are fuzzed here: a few thousand seeded
-- mutations of a real token (characters replaced, inserted, deleted, cut,
-- parts swapped, payloads of the wrong shape signed by nobody) and of real
-- addresses.  No mutation may raise, every answer is a documented code,
-- and only the token as issued is VALID.
BEGIN;
SELECT plan(10);
SET LOCAL jobspy.clock_override = '2031-02-01 00:00:00+00';
SELECT setseed(0.22);

CREATE TEMP TABLE issued AS
SELECT jobspy.license_token(l.license_key, 'fp-fuzz', '30 days') AS t
  FROM jobspy.issue_license(jobspy.create_user('token.fuzz@example.com'), 'pro', NULL, 1, '["a"]') l;

-- One random edit of s: the pool holds the token alphabet, its separators,
-- base64's other characters, whitespace and a non-ASCII letter.
CREATE FUNCTION pg_temp.edit(s text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    pool  text := 'AZaz09-_.=+/ é' || chr(1) || chr(127);
    c     text := substr(pool, 1 + floor(random() * length(pool))::int, 1);
    n     int := greatest(length(s), 1);
    p     int := 1 + floor(random() * n)::int;
    parts text[] := string_to_array(s, '.');
    shape text[] := ARRAY['[]', '"kid"', '{"kid": 1, "exp": 1}', '{"kid": "k", "exp": "soon"}',
                          '{"kid": "nope", "exp": 99999999999}', repeat('[', 5000) || repeat(']', 5000),
                          '{"kid": null}', 'not json', '{"kid": "' || repeat('k', 3000) || '", "exp": 1e400}'];
BEGIN
    CASE floor(random() * 8)::int
        WHEN 0 THEN RETURN overlay(s PLACING c FROM p FOR 1);                          -- replace
        WHEN 1 THEN RETURN overlay(s PLACING '' FROM p FOR 1);                         -- delete
        WHEN 2 THEN RETURN overlay(s PLACING c FROM p FOR 0);                          -- insert
        WHEN 3 THEN RETURN left(s, p - 1);                                             -- cut
        WHEN 4 THEN RETURN array_to_string(ARRAY[parts[1], parts[3], parts[2]], '.');  -- parts swapped
        WHEN 5 THEN RETURN s || '.' || coalesce(parts[2], '');                         -- a part too many
        WHEN 6 THEN RETURN overlay(s PLACING CASE WHEN substr(s, p, 1) = upper(substr(s, p, 1))
                                                 THEN lower(substr(s, p, 1)) ELSE upper(substr(s, p, 1)) END
                                   FROM p FOR 1);                                      -- case flipped
        ELSE RETURN 'jsl1.' || jobspy.base64url_encode(convert_to(shape[1 + floor(random() * 9)::int], 'UTF8'))
                    || '.' || coalesce(parts[3], '');                                  -- payload of a wrong shape
    END CASE;
END
$$;

-- Every mutant's answer, or the SQLSTATE it raised.
CREATE TEMP TABLE token_runs (mutant text, valid text, code text, raised text);
DO $$
DECLARE
    t text := (SELECT t FROM issued);
    m text;
    r jsonb;
BEGIN
    FOR i IN 1..3000 LOOP
        m := t;
        FOR j IN 1..1 + floor(random() * 3)::int LOOP
            m := pg_temp.edit(m);
        END LOOP;
        BEGIN
            r := jobspy.verify_license_token(m, 'fp-fuzz');
            INSERT INTO token_runs VALUES (m, r ->> 'valid', r ->> 'code', NULL);
        EXCEPTION WHEN OTHERS THEN
            INSERT INTO token_runs VALUES (m, NULL, NULL, SQLSTATE);
        END;
    END LOOP;
END
$$;

SELECT is((SELECT jobspy.verify_license_token(t, 'fp-fuzz') ->> 'code' FROM issued), 'VALID',
          'the token as issued is VALID (the mutations start from a good token)');
SELECT cmp_ok((SELECT count(DISTINCT mutant) FROM token_runs), '>', 2000::bigint,
              'at least 2,000 distinct mutants were tried');
SELECT is((SELECT count(*) FROM token_runs WHERE raised IS NOT NULL), 0::bigint,
          'no mutant makes verify_license_token raise');
SELECT is((SELECT array_agg(DISTINCT code) FROM token_runs
            WHERE code NOT IN ('MALFORMED', 'UNKNOWN_KEY', 'BAD_SIGNATURE', 'VALID')), NULL,
          'every answer is a documented code (MALFORMED, UNKNOWN_KEY, BAD_SIGNATURE)');
SELECT is((SELECT count(*) FROM token_runs, issued WHERE code = 'VALID' AND mutant <> t), 0::bigint,
          'no mutant other than the token itself is VALID');
SELECT is((SELECT count(*) FROM token_runs WHERE valid IS DISTINCT FROM (code = 'VALID')::text), 0::bigint,
          'valid is true exactly when the code is VALID');
SELECT cmp_ok((SELECT count(DISTINCT code) FROM token_runs), '>=', 3::bigint,
              'the mutants reach at least three different refusals');

-- Email addresses: random edits of real ones, and random strings.
CREATE TEMP TABLE email_runs (input text, result text, raised text);
DO $$
DECLARE
    seeds text[] := ARRAY['Ann.Lee@Example.COM', '  bob+tag@mail.example.org ', 'x@y.io',
                          'first.o''brien@sub-domain.example.co.uk'];
    pool  text := 'aZ09.@-_+ ' || E'\t' || 'é!"(),:;<>[\]' || chr(1);
    m     text;
BEGIN
    FOR i IN 1..2000 LOOP
        IF i % 4 = 0 THEN
            m := '';
            FOR j IN 1..floor(random() * 40)::int LOOP
                m := m || substr(pool, 1 + floor(random() * length(pool))::int, 1);
            END LOOP;
        ELSE
            m := seeds[1 + floor(random() * 4)::int];
            FOR j IN 1..1 + floor(random() * 2)::int LOOP
                m := overlay(m PLACING substr(pool, 1 + floor(random() * length(pool))::int, 1)
                             FROM 1 + floor(random() * length(m))::int FOR floor(random() * 2)::int);
            END LOOP;
        END IF;
        IF i % 97 = 0 THEN
            m := repeat('a', 300) || m;     -- past 254 characters
        END IF;
        BEGIN
            INSERT INTO email_runs VALUES (m, jobspy.normalize_email(m), NULL);
        EXCEPTION WHEN OTHERS THEN
            INSERT INTO email_runs VALUES (m, NULL, SQLSTATE);
        END;
    END LOOP;
END
$$;

SELECT is((SELECT array_agg(DISTINCT raised) FROM email_runs WHERE raised <> '22023'), NULL,
          'normalize_email refuses with 22023 only');
SELECT cmp_ok((SELECT count(*) FROM email_runs WHERE result IS NOT NULL), '>', 150::bigint,
              'hundreds of the edited addresses are still accepted');
SELECT is((SELECT count(*) FROM email_runs
            WHERE result IS NOT NULL
              AND (result <> lower(btrim(input, E' \t\r\n')) OR length(result) > 254
                   OR result !~ '^[^@]+@[^@]+$' OR jobspy.normalize_email(result) <> result)), 0::bigint,
          'an accepted address is the input trimmed and lower-cased, at most 254 characters, one @, and normalises to itself');

SELECT * FROM finish();
ROLLBACK;
