-- Every SQL object of the extension, its columns in order, and its comment.
\getenv abs_srcdir PG_ABS_SRCDIR
\set fixture :abs_srcdir '/sql/fixture.psql'
\i :fixture
SELECT c.relname, c.relkind, obj_description(c.oid, 'pg_class') IS NOT NULL AS commented
  FROM pg_class c
 WHERE c.relnamespace = 'governor'::regnamespace AND c.relkind IN ('r', 'v')
 ORDER BY 1;
SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS args,
       obj_description(p.oid, 'pg_proc') IS NOT NULL AS commented
  FROM pg_proc p
 WHERE p.pronamespace = 'governor'::regnamespace AND p.proname NOT LIKE '\_%'
 ORDER BY 1, 2;

-- PgBouncer's column names and order first, then the native columns.
\pset format unaligned
SELECT c.relname, string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE c.relnamespace = 'governor'::regnamespace AND c.relkind IN ('r', 'v')
   AND a.attnum > 0 AND NOT a.attisdropped
 GROUP BY c.relname ORDER BY 1;
\pset format aligned

-- Every view column documents its meaning.
SELECT c.relname, a.attname
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE c.relname IN ('pools') AND c.relnamespace = 'governor'::regnamespace
   AND a.attnum > 0 AND col_description(c.oid, a.attnum) IS NULL;

-- Privileges: views to pg_monitor, nothing to PUBLIC, actions to superusers.
SELECT c.relname,
       has_table_privilege('regress_mon', c.oid, 'SELECT') AS monitor_reads,
       has_table_privilege('regress_nobody', c.oid, 'SELECT') AS public_reads,
       has_table_privilege('regress_mon', c.oid, 'INSERT') AS monitor_writes
  FROM pg_class c
 WHERE c.relnamespace = 'governor'::regnamespace AND c.relkind IN ('r', 'v')
 ORDER BY 1;
SELECT p.proname, has_function_privilege('regress_mon', p.oid, 'EXECUTE') AS monitor_runs,
       has_function_privilege('regress_nobody', p.oid, 'EXECUTE') AS public_runs
  FROM pg_proc p
 WHERE p.pronamespace = 'governor'::regnamespace
 ORDER BY 1;

-- pg_dump keeps the rules: governor.rules is an extension configuration table.
SELECT unnest(extconfig)::regclass FROM pg_extension WHERE extname = 'pg_governor';
