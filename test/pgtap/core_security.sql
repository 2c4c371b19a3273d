-- Security rules checked over the whole catalogue (core_privileges.sql has
-- the writable tables, the analyst's views and the secret columns): pinned
-- search paths, nothing for PUBLIC, and no other user's row for a role that
-- reads tables directly.
BEGIN;
SELECT plan(9);

SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p
                 WHERE p.pronamespace = 'jobspy'::regnamespace AND p.prosecdef
                   AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)
                 ORDER BY 1),
          '{}'::text[], 'every SECURITY DEFINER function pins search_path = pg_catalog, pg_temp');
SELECT cmp_ok((SELECT count(*) FROM pg_proc p WHERE p.pronamespace = 'jobspy'::regnamespace AND p.prosecdef),
              '>', 100::bigint, '(and there are over a hundred of them to check)');

SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p
                 WHERE p.pronamespace = 'jobspy'::regnamespace
                   AND has_function_privilege('public', p.oid, 'EXECUTE')
                 ORDER BY 1),
          '{}'::text[], 'PUBLIC executes no function of jobspy, so none that writes');
SELECT is(ARRAY(SELECT format('%s: %s', c.oid::regclass, pr.priv)
                  FROM pg_class c, unnest(ARRAY['USAGE', 'UPDATE']) pr(priv)
                 WHERE c.relnamespace = 'jobspy'::regnamespace AND c.relkind = 'S'
                   AND has_sequence_privilege('public', c.oid, pr.priv)
                 ORDER BY 1),
          '{}'::text[], 'PUBLIC uses or advances no sequence of jobspy');
SELECT ok(NOT has_schema_privilege('public', 'jobspy', 'CREATE'), 'PUBLIC creates nothing in schema jobspy');
SELECT is(ARRAY(SELECT c.oid::regclass::text FROM pg_class c
                 WHERE c.relnamespace = 'jobspy'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
                   AND has_table_privilege('public', c.oid, 'SELECT')
                 ORDER BY 1),
          '{}'::text[], 'PUBLIC reads no table or view of jobspy');

-- A table that holds users' rows (a user_id or customer_id column, or a
-- line of an invoice) and that the application reads directly shows it the
-- rows of the user in jobspy.user_id only: row-level security, not forced
-- away by a policy that is always true for it.
SELECT is(ARRAY(SELECT c.oid::regclass::text FROM pg_class c
                 WHERE c.relnamespace = 'jobspy'::regnamespace AND c.relkind IN ('r', 'p')
                   AND has_table_privilege('jobspy_app', c.oid, 'SELECT')
                   AND EXISTS (SELECT 1 FROM pg_attribute a
                                WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                                  AND a.attname IN ('user_id', 'customer_id', 'invoice_id'))
                   AND (NOT c.relrowsecurity
                        OR EXISTS (SELECT 1 FROM pg_policy pol
                                    WHERE pol.polrelid = c.oid AND pg_get_expr(pol.polqual, c.oid) = 'true'
                                      AND (0 = ANY (pol.polroles) OR 'jobspy_app'::regrole = ANY (pol.polroles))))
                 ORDER BY 1),
          '{}'::text[], 'every per-user table jobspy_app reads has row-level security that binds it');

-- And it holds for real rows: two users, each with a customer, an address,
-- a membership and an invoice; the application role with one user's id
-- sees that user's rows and none of the other's.
CREATE TEMP TABLE two AS
SELECT jobspy.create_user('sec.one@example.com') AS u1, jobspy.create_user('sec.two@example.com') AS u2;
INSERT INTO jobspy.customers (user_id, email, currency)
SELECT u, e, 'USD' FROM two, LATERAL (VALUES (u1, 'sec.one@example.com'), (u2, 'sec.two@example.com')) v(u, e);
CREATE TEMP TABLE inv AS
SELECT jobspy.create_invoice(c.id, 'USD') AS id FROM jobspy.customers c JOIN two ON c.user_id IN (two.u1, two.u2);
DO $$ BEGIN PERFORM set_config('jobspy.user_id', (SELECT u1::text FROM two), true); END $$;

SET LOCAL ROLE jobspy_app;
SELECT is((SELECT array_agg(user_id::text) FROM jobspy.customers), ARRAY[current_setting('jobspy.user_id')],
          'jobspy_app as user one reads user one''s customer only');
SELECT is((SELECT count(*) FROM jobspy.invoices), 1::bigint, 'and one invoice, user one''s');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
