-- The extension installs into schema governor and its worker runs.
CREATE EXTENSION pg_governor;
CREATE EXTENSION dblink;

-- The worker connects to governor.database and shows as pg_governor
-- (pg_regress creates the database after the server starts: until then
-- the worker runs without one).
DO $$ BEGIN
  FOR i IN 1..300 LOOP
    EXIT WHEN EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'pg_governor'
                                                      AND datname = current_database());
    PERFORM pg_sleep(0.1);
    PERFORM pg_stat_clear_snapshot();
  END LOOP;
END $$;
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

-- Helper for the other tests: a libpq connection string to this server.
CREATE FUNCTION gov_connstr(usr text, app text) RETURNS text LANGUAGE sql AS $$
  SELECT format('host=%s port=%s dbname=%s user=%s application_name=%s',
                split_part(current_setting('unix_socket_directories'), ',', 1),
                current_setting('port'), current_database(), usr, app)
$$;
CREATE ROLE regress_app1 LOGIN;
CREATE ROLE regress_app2 LOGIN;
CREATE ROLE regress_mon LOGIN IN ROLE pg_monitor;
CREATE ROLE regress_nobody LOGIN;

-- Open a dblink connection; on refusal return the server's message without
-- the socket path that changes from run to run.
CREATE FUNCTION gov_try_connect(conn text, usr text, app text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  detail text;
BEGIN
  PERFORM dblink_connect(conn, gov_connstr(usr, app));
  RETURN 'OK';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
  RETURN regexp_replace(detail, 'connection to server on socket "[^"]*" failed: ', '');
END;
$$;
