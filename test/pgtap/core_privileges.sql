-- The three privilege tiers, checked over the whole catalogue so that every
-- module's new tables, views and functions are held to them by themselves.
BEGIN;
SELECT plan(5);

SELECT is(ARRAY(SELECT format('%s: %s', c.oid::regclass, p.priv)
                  FROM pg_class c, unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) p(priv),
                       unnest(ARRAY['jobspy_app', 'jobspy_analyst', 'public']) r(role)
                 WHERE c.relnamespace = 'jobspy'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
                   AND has_table_privilege(r.role, c.oid, p.priv)
                 ORDER BY 1),
          '{}'::text[], 'no table or view of jobspy is writable by jobspy_app, jobspy_analyst or PUBLIC');

SELECT is(ARRAY(SELECT c.oid::regclass::text FROM pg_class c
                 WHERE c.relnamespace = 'jobspy'::regnamespace AND c.relkind IN ('r', 'p')
                   AND has_any_column_privilege('jobspy_analyst', c.oid, 'SELECT')
                 ORDER BY 1),
          '{}'::text[], 'jobspy_analyst reads views, never a base table');

SELECT is(ARRAY(SELECT format('%s.%s', c.oid::regclass, a.attname)
                  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped,
                       unnest(ARRAY['jobspy_app', 'jobspy_analyst', 'public']) r(role)
                 WHERE c.relnamespace = 'jobspy'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
                   AND (a.attname ~ '(_hash|secret|ciphertext|nonce|private|sealed)' OR a.attname = 'key')
                   AND has_column_privilege(r.role, c.oid, a.attnum, 'SELECT')
                 ORDER BY 1),
          '{}'::text[], 'no role but the owner and jobspy_admin reads a hash, a key or a secret');

SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p
                 WHERE p.pronamespace = 'jobspy'::regnamespace AND obj_description(p.oid, 'pg_proc') IS NULL
                 ORDER BY 1),
          '{}'::text[], 'every function has a comment');
SELECT is(ARRAY(SELECT c.oid::regclass::text FROM pg_class c
                 WHERE c.relnamespace = 'jobspy'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
                   AND NOT c.relispartition AND obj_description(c.oid, 'pg_class') IS NULL
                 ORDER BY 1),
          '{}'::text[], 'every table and view has a comment');

SELECT * FROM finish();
ROLLBACK;
