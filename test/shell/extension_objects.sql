-- Everything that makes up an installed jobspy_core, one line each, in a
-- stable order: the upgrade test compares a fresh and an upgraded install.
\pset format unaligned
\pset tuples_only on
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'jobspy_core'),
members AS (
    SELECT d.classid, d.objid, d.objsubid
      FROM pg_depend d, ext
     WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
)
SELECT 'member ' || pg_describe_object(classid, objid, objsubid) FROM members
UNION ALL
SELECT 'function ' || p.oid::regprocedure || E'\n' || pg_get_functiondef(p.oid)
       || ' acl=' || coalesce(p.proacl::text, '-')
       || ' comment=' || coalesce(obj_description(p.oid, 'pg_proc'), '-')
  FROM pg_proc p WHERE p.pronamespace = 'jobspy'::regnamespace AND p.prokind IN ('f', 'p', 'w')
UNION ALL
SELECT 'aggregate ' || p.oid::regprocedure
  FROM pg_proc p WHERE p.pronamespace = 'jobspy'::regnamespace AND p.prokind = 'a'
UNION ALL
SELECT format('column %s.%s %s notnull=%s default=%s generated=%s identity=%s comment=%s',
              c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
              coalesce(pg_get_expr(ad.adbin, ad.adrelid), '-'), a.attgenerated, a.attidentity,
              coalesce(col_description(c.oid, a.attnum), '-'))
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
 WHERE c.relnamespace = 'jobspy'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'c', 'f')
   AND NOT c.relispartition
UNION ALL
-- Column order matters for SELECT * and COPY: record it.
SELECT format('columns %s: %s', c.relname, string_agg(a.attname, ',' ORDER BY a.attnum))
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.relnamespace = 'jobspy'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'c', 'f')
   AND NOT c.relispartition
 GROUP BY c.relname
UNION ALL
SELECT format('relation %s kind=%s acl=%s rls=%s/%s comment=%s', c.relname, c.relkind,
              coalesce(c.relacl::text, '-'), c.relrowsecurity, c.relforcerowsecurity,
              coalesce(obj_description(c.oid, 'pg_class'), '-'))
  FROM pg_class c
 WHERE c.relnamespace = 'jobspy'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'c', 'f')
   AND (NOT c.relispartition OR c.relname LIKE '%\_default')
UNION ALL
SELECT format('constraint %s.%s %s', c.relname, con.conname, pg_get_constraintdef(con.oid))
  FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
 WHERE c.relnamespace = 'jobspy'::regnamespace AND NOT c.relispartition
UNION ALL
SELECT 'index ' || pg_get_indexdef(i.indexrelid)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
 WHERE c.relnamespace = 'jobspy'::regnamespace AND NOT c.relispartition
UNION ALL
SELECT 'trigger ' || pg_get_triggerdef(t.oid)
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
 WHERE c.relnamespace = 'jobspy'::regnamespace AND NOT t.tgisinternal AND NOT c.relispartition
UNION ALL
SELECT format('view %s %s', c.relname, pg_get_viewdef(c.oid))
  FROM pg_class c WHERE c.relnamespace = 'jobspy'::regnamespace AND c.relkind IN ('v', 'm')
UNION ALL
SELECT format('policy %s.%s %s %s using=%s check=%s', c.relname, p.polname, p.polcmd, p.polroles::regrole[],
              pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid))
  FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
 WHERE c.relnamespace = 'jobspy'::regnamespace
UNION ALL
SELECT format('type %s %s', t.typname, t.typtype)
  FROM pg_type t WHERE t.typnamespace = 'jobspy'::regnamespace AND t.typrelid = 0 AND t.typelem = 0
UNION ALL
SELECT format('config_dump %s %s', c, f)
  FROM pg_extension e, unnest(e.extconfig::regclass[]::text[], e.extcondition) AS u(c, f)
 WHERE e.extname = 'jobspy_core'
UNION ALL
SELECT format('schema acl %s', nspacl) FROM pg_namespace WHERE nspname = 'jobspy'
UNION ALL
SELECT format('config_default %s = %s', key, value) FROM jobspy.config_defaults
ORDER BY 1;
