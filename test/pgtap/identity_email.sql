-- normalize_email (C) against the rule it replaced, a regular expression
-- over the trimmed, lower-cased address, on generated addresses: every
-- mix of tricky pieces is accepted or refused alike, and normalised to the
-- same text.  Bytes outside ASCII are refused even where a collation's
-- lower() makes ASCII of them.
BEGIN;
SELECT plan(8);

CREATE FUNCTION pg_temp.regex_rule(email text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    e text := lower(btrim(email, E' \t\r\n'));
BEGIN
    IF length(e) > 254 OR e !~ '^[a-z0-9.!#$%&''*+/=?^_`{|}~-]{1,64}@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$'
       OR e ~ '^\.|\.\.|\.@' THEN
        RETURN NULL;
    END IF;
    RETURN e;
END
$$;
CREATE FUNCTION pg_temp.c_rule(email text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RETURN jobspy.normalize_email(email);
EXCEPTION WHEN invalid_parameter_value THEN
    RETURN NULL;
END
$$;

-- Local parts, domains and surroundings, combined every way: 24 x 26 x 5.
CREATE TEMP TABLE cases AS
SELECT pre || l || d || post AS email
  FROM unnest(ARRAY['a', 'Ada.Lovelace', 'x+tag', '.a', 'a.', 'a..b', 'a.b', '', 'o''hara', '"q"', 'a b', 'a@b',
                    repeat('l', 64), repeat('l', 65), 'A!#$%&*+/=?^_`{|}~-', 'é', 'ü1', '1', '-', 'a,b', 'a;b',
                    'a\b', 'tab' || E'\t', 'UPPER']) l,
       unnest(ARRAY['@example.com', '@EXAMPLE.COM', '@ex-ample.co.uk', '@-example.com', '@example-.com', '@example..com',
                    '@.example.com', '@example.c', '@example.c0m', '@example.' || repeat('t', 63), '@example.' || repeat('t', 64),
                    '@' || repeat('d', 63) || '.com', '@' || repeat('d', 64) || '.com', '@localhost', '@1.2.3.4', '@example.com.',
                    '@xn--bcher-kva.example', '@exa_mple.com', '@ex ample.com', '@', '', '@@example.com',
                    '@' || repeat('abcdefghi.', 24) || 'com', '@' || repeat('abcdefghi.', 25) || 'com',
                    '@é.com', '@a.b.c.de']) d,
       unnest(ARRAY['', ' ', E'\t\n', E'\r\n ']) post,
       unnest(ARRAY['', E' \t']) pre
 LIMIT 5000;

SELECT cmp_ok((SELECT count(*) FROM cases WHERE pg_temp.regex_rule(email) IS NOT NULL), '>', 300::bigint,
              'the cases hold hundreds of valid addresses');
SELECT cmp_ok((SELECT count(*) FROM cases WHERE pg_temp.regex_rule(email) IS NULL), '>', 3000::bigint,
              'and thousands of invalid ones');
SELECT is((SELECT count(*) FROM cases WHERE pg_temp.c_rule(email) IS DISTINCT FROM pg_temp.regex_rule(email)), 0::bigint,
          'normalize_email accepts and normalises exactly as the regular expression did');
SELECT is(jobspy.normalize_email(E' \tAda@Example.COM\r\n'), 'ada@example.com', 'trimmed and lower-cased whole');
SELECT throws_ok($$SELECT jobspy.normalize_email(NULL)$$, '22004', 'email must not be null', 'NULL is 22004');
SELECT throws_ok($$SELECT jobspy.normalize_email('not an address')$$, '22023', 'email address is not valid',
                 'an invalid address is 22023');
SELECT throws_ok($$SELECT jobspy.normalize_email(U&'\212Aate@example.com')$$, '22023', 'email address is not valid',
                 'the Kelvin sign is not a k, whatever the collation lower-cases it to');
SELECT throws_ok($$SELECT jobspy.normalize_email(repeat('a', 64) || '@' || repeat('b', 63) || '.' || repeat('c', 63) || '.'
                                                  || repeat('d', 60) || '.com')$$, '22023', NULL,
                 'over 254 characters is refused');

SELECT * FROM finish();
ROLLBACK;
