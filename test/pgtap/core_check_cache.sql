-- CHECK constraints of jobspy's tables prepared once per backend
-- (src/core_check_cache.c): every constraint still holds, on every path, after
-- every change of the table; the entries show the cache at work.
BEGIN;
SELECT plan(30);

CREATE FUNCTION pg_temp.entry(t regclass, OUT constraints integer, OUT shared boolean,
                               OUT whens integer, OUT whens_shared integer, OUT uses bigint)
    LANGUAGE sql AS $$ SELECT e.constraints, e.constraints_shared, e.when_conditions, e.when_conditions_shared, e.uses
                         FROM jobspy.check_cache_entries() e WHERE e.table_name = t $$;

-- system_config: a key pattern and a description length.
INSERT INTO jobspy.system_config (key, value) VALUES ('app.check_cache_a', '1');
INSERT INTO jobspy.system_config (key, value) VALUES ('app.check_cache_b', '1');
SELECT is((SELECT shared FROM pg_temp.entry('jobspy.system_config')), true,
          'system_config''s constraints are prepared once and shared');
SELECT cmp_ok((SELECT uses FROM pg_temp.entry('jobspy.system_config')), '>=', 2::bigint,
              'and handed to each INSERT since');
SELECT throws_ok($$INSERT INTO jobspy.system_config (key, value) VALUES ('Not A Key', '1')$$, '23514',
                 'new row for relation "system_config" violates check constraint "system_config_key_check"',
                 'a shared constraint still refuses a bad row, under its own name');
SELECT throws_ok($$UPDATE jobspy.system_config SET description = repeat('x', 1001) WHERE key = 'app.check_cache_a'$$,
                 '23514', 'new row for relation "system_config" violates check constraint "system_config_description_check"',
                 'and a bad UPDATE');
SELECT throws_ok($$WITH a AS (INSERT INTO jobspy.system_config (key, value) VALUES ('app.check_cache_c', '1'))
                   INSERT INTO jobspy.system_config (key, value) VALUES ('Bad Key', '1')$$,
                 '23514', NULL, 'two writes of one table in one statement share the states and both are checked');
SELECT is((SELECT count(*) FROM jobspy.system_config WHERE key = 'app.check_cache_c'), 0::bigint,
          'and the failed statement wrote nothing');
SELECT throws_ok($$DO $do$
                   BEGIN
                       FOR i IN 1..3 LOOP
                           INSERT INTO jobspy.system_config (key, value)
                           VALUES (CASE WHEN i < 3 THEN 'app.check_cache_loop' || i ELSE 'Bad Key' END, '1');
                       END LOOP;
                   END $do$ $$, '23514', NULL, 'a plpgsql loop''s third row is refused after two passed');

-- A constraint added or dropped in this very transaction is seen at once.
ALTER TABLE jobspy.system_config ADD CONSTRAINT system_config_key_short CHECK (length(key) < 20);
SELECT throws_ok($$INSERT INTO jobspy.system_config (key, value) VALUES ('app.check_cache_long_key', '1')$$, '23514',
                 'new row for relation "system_config" violates check constraint "system_config_key_short"',
                 'a constraint added after the states were built holds');
SELECT is((SELECT constraints FROM pg_temp.entry('jobspy.system_config')), 3,
          'the entry was built again with it');
ALTER TABLE jobspy.system_config DROP CONSTRAINT system_config_key_short;
SELECT lives_ok($$INSERT INTO jobspy.system_config (key, value) VALUES ('app.check_cache_long_key', '1')$$,
                'a dropped constraint no longer refuses');
ALTER TABLE jobspy.system_config DROP CONSTRAINT system_config_description_check,
    ADD CONSTRAINT system_config_description_check CHECK (length(description) <= 10);
SELECT throws_ok($$UPDATE jobspy.system_config SET description = repeat('x', 11) WHERE key = 'app.check_cache_a'$$,
                 '23514', NULL, 'a constraint redefined under the same name holds as redefined');

-- A constraint that calls a function of the database's own is never shared:
-- the function can change under it.
CREATE FUNCTION public.check_cache_rule(k text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE
    AS $$ BEGIN RETURN k <> 'app.refused_by_rule'; END $$;
ALTER TABLE jobspy.system_config ADD CONSTRAINT system_config_rule CHECK (public.check_cache_rule(key));
SELECT throws_ok($$INSERT INTO jobspy.system_config (key, value) VALUES ('app.refused_by_rule', '1')$$, '23514',
                 NULL, 'a constraint with a function of the database''s own holds');
SELECT is((SELECT shared FROM pg_temp.entry('jobspy.system_config')), false,
          'and makes the table''s constraints prepared per statement again');
CREATE OR REPLACE FUNCTION public.check_cache_rule(k text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE
    AS $$ BEGIN RETURN k <> 'app.refused_now'; END $$;
SELECT lives_ok($$INSERT INTO jobspy.system_config (key, value) VALUES ('app.refused_by_rule', '1')$$,
                'the function redefined is the one that runs');
SELECT throws_ok($$INSERT INTO jobspy.system_config (key, value) VALUES ('app.refused_now', '1')$$, '23514',
                 NULL, 'and refuses what it now refuses');
ALTER TABLE jobspy.system_config DROP CONSTRAINT system_config_rule;

-- A long IN list (hashed in queries, though not in constraints) holds.
ALTER TABLE jobspy.system_config ADD CONSTRAINT system_config_listed
    CHECK (key NOT LIKE 'app.listed%' OR key IN ('app.listed1', 'app.listed2', 'app.listed3', 'app.listed4',
                                                 'app.listed5', 'app.listed6', 'app.listed7', 'app.listed8',
                                                 'app.listed9', 'app.listed10'));
SELECT lives_ok($$INSERT INTO jobspy.system_config (key, value) VALUES ('app.listed9', '1')$$,
                'a hashed IN list admits what it lists');
SELECT throws_ok($$INSERT INTO jobspy.system_config (key, value) VALUES ('app.listed11', '1')$$, '23514', NULL,
                 'and refuses what it does not');
ALTER TABLE jobspy.system_config DROP CONSTRAINT system_config_listed;

-- Trigger WHEN conditions: prepared once, with OLD and NEW where they belong.
CREATE FUNCTION public.check_cache_refuse() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN RAISE EXCEPTION 'refused by trigger %', TG_NAME USING ERRCODE = 'P0001'; END $$;
CREATE TRIGGER check_cache_when BEFORE INSERT ON jobspy.system_config
    FOR EACH ROW WHEN (NEW.key LIKE 'app.when%') EXECUTE FUNCTION public.check_cache_refuse();
CREATE TRIGGER check_cache_changed BEFORE UPDATE ON jobspy.system_config
    FOR EACH ROW WHEN (OLD.value IS DISTINCT FROM NEW.value AND OLD.key = 'app.check_cache_a')
    EXECUTE FUNCTION public.check_cache_refuse();
SELECT lives_ok($$INSERT INTO jobspy.system_config (key, value) VALUES ('app.other1', '1')$$,
                'a row the WHEN condition does not match passes');
SELECT throws_ok($$INSERT INTO jobspy.system_config (key, value) VALUES ('app.when1', '1')$$, 'P0001',
                 'refused by trigger check_cache_when', 'a row it matches fires the trigger');
SELECT is((SELECT (whens, whens_shared) FROM pg_temp.entry('jobspy.system_config')), (2, 2),
          'both conditions are prepared once and shared');
SELECT lives_ok($$UPDATE jobspy.system_config SET description = 'same value' WHERE key = 'app.check_cache_a'$$,
                'an UPDATE that keeps OLD.value passes');
SELECT throws_ok($$UPDATE jobspy.system_config SET value = '2' WHERE key = 'app.check_cache_a'$$, 'P0001',
                 'refused by trigger check_cache_changed', 'one that changes it fires: OLD and NEW are read apart');
SELECT lives_ok($$UPDATE jobspy.system_config SET value = '2' WHERE key = 'app.check_cache_b'$$,
                'and OLD.key is the old row''s');
DROP TRIGGER check_cache_when ON jobspy.system_config;
CREATE TRIGGER check_cache_when BEFORE INSERT ON jobspy.system_config
    FOR EACH ROW WHEN (NEW.key LIKE 'app.then%') EXECUTE FUNCTION public.check_cache_refuse();
SELECT lives_ok($$INSERT INTO jobspy.system_config (key, value) VALUES ('app.when2', '1')$$,
                'a trigger made again with another condition no longer fires on the old one');
SELECT throws_ok($$INSERT INTO jobspy.system_config (key, value) VALUES ('app.then1', '1')$$, 'P0001', NULL,
                 'and fires on the new one');
DROP TRIGGER check_cache_when ON jobspy.system_config;
CREATE TRIGGER check_cache_when BEFORE INSERT ON jobspy.system_config
    FOR EACH ROW WHEN (NOT public.check_cache_rule(NEW.key)) EXECUTE FUNCTION public.check_cache_refuse();
SELECT throws_ok($$INSERT INTO jobspy.system_config (key, value) VALUES ('app.refused_now', '1')$$, 'P0001', NULL,
                 'a condition with a function of the database''s own holds');
SELECT is((SELECT (whens, whens_shared) FROM pg_temp.entry('jobspy.system_config')), (2, 1),
          'and is the one condition prepared per statement');
DROP TRIGGER check_cache_when ON jobspy.system_config;
DROP TRIGGER check_cache_changed ON jobspy.system_config;

-- Off: PostgreSQL's own way, the same answers.
INSERT INTO jobspy.system_config (key, value) VALUES ('app.check_cache_on', '1');
CREATE TEMP TABLE uses_before AS SELECT uses FROM pg_temp.entry('jobspy.system_config');
SET LOCAL jobspy.check_cache = off;
INSERT INTO jobspy.system_config (key, value) VALUES ('app.check_cache_off', '1');
SELECT is((SELECT uses FROM pg_temp.entry('jobspy.system_config')), (SELECT uses FROM uses_before),
          'with jobspy.check_cache off no statement is handed the states');
SELECT throws_ok($$INSERT INTO jobspy.system_config (key, value) VALUES ('Bad Key', '1')$$, '23514', NULL,
                 'and the constraints hold as before');
RESET jobspy.check_cache;

-- Only the extension's own tables.
CREATE TABLE public.check_cache_other (n integer CHECK (n > 0));
INSERT INTO public.check_cache_other VALUES (1);
SELECT is((SELECT count(*) FROM jobspy.check_cache_entries() WHERE table_name = 'public.check_cache_other'::regclass),
          0::bigint, 'a table outside schema jobspy is left to PostgreSQL');

SELECT * FROM finish();
ROLLBACK;
