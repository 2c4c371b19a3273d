-- Wrong email and wrong password cost about the same: both do one Argon2id
-- computation at the current cost (a dummy hash for an unknown address).
BEGIN;
SELECT plan(3);
SET LOCAL jobspy.password_memory_kib = 8192;
SET LOCAL jobspy.password_iterations = 2;
CREATE TEMP TABLE tu AS SELECT jobspy.create_user('timing@example.com', 'timing password') AS id;

CREATE FUNCTION pg_temp.cost(e text, n integer) RETURNS double precision LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    FOR i IN 1..n LOOP
        BEGIN
            PERFORM * FROM jobspy.login(e, 'not the password');
        EXCEPTION WHEN invalid_password THEN NULL;
        END;
    END LOOP;
    RETURN extract(epoch FROM clock_timestamp() - t0);
END $$;

CREATE TEMP TABLE t AS
SELECT pg_temp.cost('timing@example.com', 4) AS wrong_password,
       pg_temp.cost('nobody.at.all@example.com', 4) AS unknown_email,
       pg_temp.cost('timing@example.com', 0) AS nothing;
SELECT cmp_ok((SELECT wrong_password FROM t), '>', 0.004::double precision, 'a wrong password costs at least a hash per try');
SELECT cmp_ok((SELECT unknown_email / wrong_password FROM t), '>', 0.5::double precision, 'unknown email not much faster than wrong password');
SELECT cmp_ok((SELECT unknown_email / wrong_password FROM t), '<', 2.0::double precision, 'unknown email not much slower than wrong password');

SELECT * FROM finish();
ROLLBACK;
