-- A password over the 1024-byte limit costs a known address as much as an
-- unknown one: otherwise a login with a long password tells which addresses
-- have accounts (a known one answered at once, an unknown one after a hash).
BEGIN;
SELECT plan(3);
SET LOCAL jobspy.password_memory_kib = 8192;
SET LOCAL jobspy.password_iterations = 2;
CREATE TEMP TABLE tu AS SELECT jobspy.create_user('timing.long@example.com', 'timing password') AS id;

CREATE FUNCTION pg_temp.cost(e text, pw text, n integer) RETURNS double precision LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    FOR i IN 1..n LOOP
        BEGIN
            PERFORM * FROM jobspy.login(e, pw);
        EXCEPTION WHEN invalid_password THEN NULL;
        END;
    END LOOP;
    RETURN extract(epoch FROM clock_timestamp() - t0);
END $$;

CREATE TEMP TABLE t AS
SELECT pg_temp.cost('timing.long@example.com', repeat('p', 2000), 4) AS known_long,
       pg_temp.cost('nobody.long@example.com', repeat('p', 2000), 4) AS unknown_long;
SELECT cmp_ok((SELECT known_long FROM t), '>', 0.004::double precision,
              'an overlong password for a known address costs at least a hash per try');
SELECT cmp_ok((SELECT unknown_long / known_long FROM t), '<', 2.0::double precision,
              'an unknown address is not much slower than a known one');
SELECT ok(NOT jobspy.verify_password(repeat('p', 1025), jobspy.hash_password(repeat('p', 1024))),
          'a password over the limit never verifies, even when its first 1024 bytes match');

SELECT * FROM finish();
ROLLBACK;
