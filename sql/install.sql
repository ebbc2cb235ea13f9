-- The extension installs into schema governor and its worker runs: it
-- connects to governor.database and shows as pg_governor (the fixture waits
-- for it: pg_regress creates the database after the server starts).
\getenv abs_srcdir PG_ABS_SRCDIR
\set fixture :abs_srcdir '/sql/fixture.psql'
\i :fixture
SELECT extnamespace::regnamespace AS schema, extversion FROM pg_extension WHERE extname = 'pg_governor';
SELECT backend_type, application_name, datname
  FROM pg_stat_activity WHERE backend_type = 'pg_governor';

-- Settings exist with units and descriptions.
SELECT name, setting, unit, context, short_desc IS NOT NULL AS described
  FROM pg_settings WHERE name IN ('governor.database', 'governor.naptime',
    'governor.queue_timeout', 'governor.exempt_superusers', 'governor.exempt_roles',
    'governor.max_rules', 'governor.max_events', 'governor.max_pools')
 ORDER BY name;
SET governor.naptime = '1s';
SET governor.bogus = 1;

