-- consume_quota's counter update through ExecSimpleRelationUpdate()
-- (src/quota_counters.c): index entries when an update is not HOT, and the
-- SQL UPDATE whenever the table has something that update would skip.
BEGIN;
SELECT plan(23);

SET LOCAL jobspy.clock_override = '2031-05-14 12:00:00+00';
CREATE EXTENSION IF NOT EXISTS amcheck;
INSERT INTO jobspy.users (id, email, timezone) VALUES
    ('c0000000-0000-4000-8000-000000000001', 'cu1@example.com', 'UTC'),
    ('c0000000-0000-4000-8000-000000000002', 'cu2@example.com', 'UTC'),
    ('c0000000-0000-4000-8000-000000000003', 'cu3@example.com', 'UTC');
SELECT jobspy.create_plan('cu_plan', 'Counter update');
SELECT jobspy.set_plan_quota('cu_plan', 'calls', 'day', 1000);
SELECT jobspy.set_plan_quota('cu_plan', 'tokens', 'day', -1);
SELECT jobspy.set_user_plan(u, 'cu_plan')
  FROM (VALUES ('c0000000-0000-4000-8000-000000000001'::uuid),
               ('c0000000-0000-4000-8000-000000000002'::uuid),
               ('c0000000-0000-4000-8000-000000000003'::uuid)) v(u);

CREATE TEMP VIEW cu_used AS
SELECT c.used::bigint AS used FROM jobspy.quota_counters c
 WHERE c.user_id = 'c0000000-0000-4000-8000-000000000001' AND c.metric = 'calls';

-- A foreign key makes the UPDATE run for a row version this transaction
-- wrote (its check is queued again; the end of this file shows it).
-- Without it, the updates below go straight through the heap.
ALTER TABLE jobspy.quota_counters DROP CONSTRAINT quota_counters_user_id_fkey;

-- 600 grants in one transaction: the row's versions fill their page, so
-- some updates cannot be HOT and need index entries of their own.
SELECT is((SELECT count(*) FILTER (WHERE q.allowed)
             FROM generate_series(1, 600) g,
                  jobspy.consume_quota('c0000000-0000-4000-8000-000000000001', 'calls', 1 + 0 * g) q),
          600::bigint, '600 consumptions in one transaction are all granted');
SELECT ok((SELECT n_tup_upd - n_tup_hot_upd FROM pg_stat_xact_user_tables
            WHERE relid = 'jobspy.quota_counters'::regclass) > 0,
          'some of those updates were not HOT');
SET LOCAL enable_seqscan = off;
SET LOCAL enable_bitmapscan = off;
SELECT is((SELECT used FROM cu_used), 600::bigint, 'the primary key finds the newest version: used is 600');
SELECT lives_ok($$SELECT bt_index_check('jobspy.quota_counters_pkey', true)$$,
                'every row version is in the primary key (amcheck, heapallindexed)');
RESET enable_seqscan;
RESET enable_bitmapscan;
SELECT is((SELECT s.used::bigint FROM jobspy.quota_status('c0000000-0000-4000-8000-000000000001', 'calls') s),
          600::bigint, 'quota_status agrees');

-- A row trigger on every UPDATE of quota_counters: the SQL UPDATE runs, so it fires.
CREATE TABLE public.cu_fired (n int);
CREATE FUNCTION public.cu_note() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN INSERT INTO public.cu_fired VALUES (1); RETURN NEW; END$$;
CREATE TRIGGER cu_every_update BEFORE UPDATE ON jobspy.quota_counters
    FOR EACH ROW EXECUTE FUNCTION public.cu_note();
SELECT is((SELECT q.used::bigint FROM jobspy.consume_quota('c0000000-0000-4000-8000-000000000001', 'calls', 5) q),
          605::bigint, 'with a trigger on the table, the grant is counted');
SELECT is((SELECT count(*) FROM public.cu_fired), 1::bigint, 'and the trigger fired for it');
DROP TRIGGER cu_every_update ON jobspy.quota_counters;

-- A trigger on other columns does not fire for a consumption, either way.
CREATE TRIGGER cu_other_column AFTER UPDATE OF period_end ON jobspy.quota_counters
    FOR EACH ROW EXECUTE FUNCTION public.cu_note();
SELECT is((SELECT q.used::bigint FROM jobspy.consume_quota('c0000000-0000-4000-8000-000000000001', 'calls', 5) q),
          610::bigint, 'with a trigger on other columns, the grant is counted');
SELECT is((SELECT count(*) FROM public.cu_fired), 1::bigint, 'and that trigger did not fire');
DROP TRIGGER cu_other_column ON jobspy.quota_counters;

-- A CHECK constraint added by the DBA holds for consumptions.
ALTER TABLE jobspy.quota_counters ADD CONSTRAINT cu_cap CHECK (used <= 700);
SELECT throws_ok($$SELECT jobspy.consume_quota('c0000000-0000-4000-8000-000000000001', 'calls', 100)$$,
                 '23514', NULL, 'a CHECK constraint on the table refuses a consumption past it');
SELECT is((SELECT used FROM cu_used), 610::bigint, 'and nothing was counted');
ALTER TABLE jobspy.quota_counters DROP CONSTRAINT cu_cap;

-- So does a constraint added to used's domain.
SAVEPOINT domain_check;
ALTER DOMAIN jobspy.quota_amount ADD CONSTRAINT cu_domain_cap CHECK (VALUE <= 650);
SELECT throws_ok($$SELECT jobspy.consume_quota('c0000000-0000-4000-8000-000000000001', 'calls', 50)$$,
                 '23514', NULL, 'a constraint on the domain of used refuses a consumption past it');
ROLLBACK TO SAVEPOINT domain_check;
SELECT is((SELECT q.used::bigint FROM jobspy.consume_quota('c0000000-0000-4000-8000-000000000001', 'calls', 50) q),
          660::bigint, 'without it the same consumption is granted');

-- Row security on the table (its owner, who runs consume_quota, is exempt).
ALTER TABLE jobspy.quota_counters ENABLE ROW LEVEL SECURITY;
SELECT is((SELECT q.used::bigint FROM jobspy.consume_quota('c0000000-0000-4000-8000-000000000001', 'calls') q),
          661::bigint, 'with row security enabled, the grant is counted');
ALTER TABLE jobspy.quota_counters DISABLE ROW LEVEL SECURITY;

-- jobspy.quota_counter_update = sql (a developer setting, for bench/) makes
-- every consumption the SQL UPDATE (test/shell/quotas_counter_path.sh tells
-- the paths apart).
SET LOCAL jobspy.quota_counter_update = 'sql';
SELECT is((SELECT max(q.used)::bigint
             FROM generate_series(1, 20) g,
                  jobspy.consume_quota('c0000000-0000-4000-8000-000000000001', 'calls', 1 + 0 * g) q),
          681::bigint, 'with the setting at sql, 20 grants are counted');
RESET jobspy.quota_counter_update;
SELECT jobspy.consume_quota('c0000000-0000-4000-8000-000000000001', 'calls', 20);

-- A rule on the table sends consumption to the SQL UPDATE, which cannot
-- return the counter through DO INSTEAD NOTHING: a clear error, not a
-- silent count.
CREATE RULE cu_nothing AS ON UPDATE TO jobspy.quota_counters DO INSTEAD NOTHING;
SELECT throws_ok($$SELECT jobspy.consume_quota('c0000000-0000-4000-8000-000000000001', 'calls')$$,
                 '0A000', NULL, 'with an ON UPDATE DO INSTEAD NOTHING rule, the UPDATE refuses');
SELECT is((SELECT used FROM cu_used), 701::bigint, 'and used stays');
DROP RULE cu_nothing ON jobspy.quota_counters;

-- A publication of the table's updates without a replica identity refuses
-- them, as it refuses the UPDATE.
SAVEPOINT publication;
ALTER TABLE jobspy.quota_counters REPLICA IDENTITY NOTHING;
CREATE PUBLICATION cu_pub FOR TABLE jobspy.quota_counters;
SELECT throws_ok($$SELECT jobspy.consume_quota('c0000000-0000-4000-8000-000000000001', 'calls')$$,
                 '55000', NULL, 'a publication without a replica identity refuses the update');
ROLLBACK TO SAVEPOINT publication;

-- A read-only transaction is refused (25006), as the UPDATE is.
SAVEPOINT read_only;
SET LOCAL transaction_read_only = on;
SELECT throws_ok($$SELECT jobspy.consume_quota('c0000000-0000-4000-8000-000000000001', 'calls')$$,
                 '25006', NULL, 'a read-only transaction cannot consume');
ROLLBACK TO SAVEPOINT read_only;
SELECT is((SELECT used FROM cu_used), 701::bigint, 'and nothing was counted');

-- An unlimited metric near the top of bigint: a sum past it is refused with 22023.
SELECT jobspy.consume_quota('c0000000-0000-4000-8000-000000000002', 'tokens');
UPDATE jobspy.quota_counters SET used = 9223372036854775800
 WHERE user_id = 'c0000000-0000-4000-8000-000000000002' AND metric = 'tokens';
SELECT throws_ok($$SELECT jobspy.consume_quota('c0000000-0000-4000-8000-000000000002', 'tokens', 100)$$,
                 '22023', NULL, 'used + amount beyond bigint is refused, not an overflow');
SELECT is((SELECT q.used::bigint FROM jobspy.consume_quota('c0000000-0000-4000-8000-000000000002', 'tokens', 7) q),
          9223372036854775807::bigint, 'up to the top it is counted');

-- The foreign key, deferred: a counter row this transaction inserted and then
-- consumed from, whose user is gone (deleted without the cascade), fails the
-- check when it runs.  Were the second consumption not an UPDATE, nothing
-- would check the row: the INSERT's check skips a version updated since.
ALTER TABLE jobspy.quota_counters ADD CONSTRAINT quota_counters_user_id_fkey FOREIGN KEY (user_id)
    REFERENCES jobspy.users (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED;
SELECT jobspy.consume_quota('c0000000-0000-4000-8000-000000000003', 'calls');
SELECT jobspy.consume_quota('c0000000-0000-4000-8000-000000000003', 'calls');
SET LOCAL session_replication_role = replica;
DELETE FROM jobspy.users WHERE id = 'c0000000-0000-4000-8000-000000000003';
SET LOCAL session_replication_role = origin;
SELECT throws_ok($$SET CONSTRAINTS jobspy.quota_counters_user_id_fkey IMMEDIATE$$, '23503', NULL,
                 'the deferred foreign-key check of a counter row this transaction wrote still runs');

SELECT * FROM finish();
ROLLBACK;
