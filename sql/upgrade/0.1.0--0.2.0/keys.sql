\echo Use "ALTER EXTENSION jobspy_core UPDATE TO '0.2.0'" to load this file. \quit
-- keys: rotation refuses a 17th live key instead of letting backends drop one.

CREATE OR REPLACE FUNCTION jobspy.rotate_hash_key() RETURNS integer
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    new_id integer;
BEGIN
    LOCK TABLE jobspy.hash_keys IN SHARE ROW EXCLUSIVE MODE;
    -- The earliest active key is the one in use; later active ones were
    -- never used (left by a restore) and can go.
    DELETE FROM jobspy.hash_keys
     WHERE state = 'active'
       AND key_id <> (SELECT key_id FROM jobspy.hash_keys WHERE state = 'active'
                       ORDER BY created_at LIMIT 1);
    -- Every backend keeps the live keys in a fixed array of 16.
    IF (SELECT count(*) FROM jobspy.hash_keys WHERE state <> 'retired') >= 16 THEN
        RAISE EXCEPTION 'jobspy.hash_keys already holds 16 keys that are not retired'
            USING ERRCODE = '55000',
                  HINT = 'Retire keys no longer needed with jobspy.retire_hash_key(), then rotate.';
    END IF;
    UPDATE jobspy.hash_keys SET state = 'verify' WHERE state = 'active';
    INSERT INTO jobspy.hash_keys (secret) VALUES (jobspy.random_bytes(32))
    RETURNING key_id INTO new_id;
    RETURN new_id;
END
$$;
