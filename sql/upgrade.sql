-- ALTER EXTENSION pg_governor UPDATE from every earlier release gives the
-- same objects as a fresh install of the current one: tables and their
-- columns, defaults and constraints, views, functions, triggers, comments,
-- privileges and the configuration table registration.
\getenv abs_srcdir PG_ABS_SRCDIR
\set fixture :abs_srcdir '/sql/fixture.psql'
\i :fixture
CREATE DATABASE regress_gov_updated;
CREATE DATABASE regress_gov_fresh;

-- Everything the extension owns, one line per object and attribute.
CREATE FUNCTION gov_describe(db text) RETURNS SETOF text LANGUAGE sql AS $f$
  SELECT line FROM dblink(
    format('host=%s port=%s dbname=%s',
           split_part(current_setting('unix_socket_directories'), ',', 1),
           current_setting('port'), db),
    $q$
    WITH ext AS (SELECT oid, extnamespace, extconfig FROM pg_extension WHERE extname = 'pg_governor')
    SELECT 'extension config ' || array_to_string(ARRAY(SELECT c::regclass::text FROM unnest(extconfig) c ORDER BY 1), ',')
      FROM ext
    UNION ALL
    SELECT format('relation %s kind %s comment %s acl %s', c.relname, c.relkind,
                  obj_description(c.oid, 'pg_class'), c.relacl)
      FROM pg_class c, ext WHERE c.relnamespace = ext.extnamespace AND c.relkind IN ('r', 'v', 'i', 'S')
    UNION ALL
    SELECT format('column %s.%s type %s notnull %s default %s comment %s', c.relname, a.attname,
                  format_type(a.atttypid, a.atttypmod), a.attnotnull,
                  pg_get_expr(d.adbin, d.adrelid), col_description(c.oid, a.attnum))
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN ext ON c.relnamespace = ext.extnamespace
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT format('view %s: %s', c.relname, pg_get_viewdef(c.oid))
      FROM pg_class c, ext WHERE c.relnamespace = ext.extnamespace AND c.relkind = 'v'
    UNION ALL
    SELECT format('constraint %s on %s: %s', con.conname, con.conrelid::regclass, pg_get_constraintdef(con.oid))
      FROM pg_constraint con, ext WHERE con.connamespace = ext.extnamespace
    UNION ALL
    SELECT format('trigger %s', pg_get_triggerdef(t.oid))
      FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN ext ON c.relnamespace = ext.extnamespace
     WHERE NOT t.tgisinternal
    UNION ALL
    SELECT format('function %s comment %s acl %s: %s', p.oid::regprocedure,
                  obj_description(p.oid, 'pg_proc'), p.proacl, pg_get_functiondef(p.oid))
      FROM pg_proc p, ext WHERE p.pronamespace = ext.extnamespace
    UNION ALL
    SELECT format('member %s', pg_describe_object(dep.classid, dep.objid, dep.objsubid))
      FROM pg_depend dep, ext WHERE dep.refclassid = 'pg_extension'::regclass AND dep.refobjid = ext.oid
       AND dep.deptype = 'e'
    UNION ALL
    SELECT format('initial privileges %s: %s', pg_describe_object(ip.classoid, ip.objoid, ip.objsubid), ip.initprivs)
      FROM pg_init_privs ip, ext, pg_depend dep
     WHERE dep.refclassid = 'pg_extension'::regclass AND dep.refobjid = ext.oid AND dep.deptype = 'e'
       AND ip.classoid = dep.classid AND ip.objoid = dep.objid
    $q$) AS t(line text)
$f$;

\c regress_gov_updated
SET client_min_messages = error;
CREATE EXTENSION pg_governor VERSION '1.0';
ALTER EXTENSION pg_governor UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'pg_governor';
\c regress_gov_fresh
SET client_min_messages = error;
CREATE EXTENSION pg_governor;
SELECT extversion FROM pg_extension WHERE extname = 'pg_governor';
\c contrib_regression

-- Both ways: nothing in one that is not in the other.
SELECT 'only after update: ' || line AS difference
  FROM (SELECT * FROM gov_describe('regress_gov_updated') EXCEPT SELECT * FROM gov_describe('regress_gov_fresh')) d(line)
UNION ALL
SELECT 'only in a fresh install: ' || line
  FROM (SELECT * FROM gov_describe('regress_gov_fresh') EXCEPT SELECT * FROM gov_describe('regress_gov_updated')) d(line)
ORDER BY 1;
SELECT count(*) > 100 AS described_something FROM gov_describe('regress_gov_fresh');

DROP DATABASE regress_gov_updated;
DROP DATABASE regress_gov_fresh;
DROP FUNCTION gov_describe(text);
