-- Admin verbs and who may use them.
\getenv abs_srcdir PG_ABS_SRCDIR
\set fixture :abs_srcdir '/sql/fixture.psql'
\i :fixture
\set VERBOSITY default

-- disable() refuses new logins to a database at once; enable() lets them in.
SELECT governor.disable(current_database());
SELECT gov_try_connect('d1', 'regress_app1', 'while-disabled');
SELECT governor.enable(current_database());
SELECT gov_try_connect('d1', 'regress_app1', 'after-enable');
SELECT dblink_disconnect('d1');
-- NULL means every database.
SELECT governor.disable(NULL);
SELECT gov_try_connect('d2', 'regress_app1', 'all-disabled');
SELECT governor.enable(NULL);
SELECT action, reason, application_name FROM governor.events
 WHERE application_name IN ('while-disabled', 'all-disabled') ORDER BY "time";

-- A paused database: pause() and resume() flip the flag (queueing is in the
-- isolation tests); superusers are never held.
SELECT governor.pause(current_database());
SELECT gov_try_connect('p1', current_user, 'admin-while-paused');
SELECT dblink_disconnect('p1');
SELECT governor.resume(current_database());

-- Non-superusers can neither change rules nor call admin functions,
-- and without pg_monitor they cannot read the views.
SET ROLE regress_mon;
SELECT count(*) >= 0 AS monitor_reads_pools FROM governor.pools;
SELECT count(*) >= 0 AS monitor_reads_rules FROM governor.rules;
INSERT INTO governor.rules (name) VALUES ('sneaky');
SELECT governor.pause(NULL);
SELECT governor.reload();
RESET ROLE;
SET ROLE regress_nobody;
SELECT * FROM governor.pools;
SELECT * FROM governor.clients;
SELECT * FROM governor.rules;
SELECT governor.disable(NULL);
RESET ROLE;

-- unban() takes one address: bans are per address, so a range is refused
-- (it would lift nothing); a full-length mask is one address.
SELECT governor.unban(NULL, '10.0.0.0/8');
SELECT governor.unban(NULL, '10.0.0.1/32') AS v4, governor.unban('nobody', '::1') AS v6;
-- The hint's query is valid.
SELECT count(*) FROM (SELECT governor.unban(role, client_addr::inet) FROM governor.bans
                       WHERE client_addr::inet <<= '10.0.0.0/8') AS lifted;

-- reload() waits for one read, not for governor.naptime: with a naptime
-- longer than its wait it still answers at once (the second call starts
-- right after a read, so the next timed read is a full naptime away).
ALTER SYSTEM SET governor.naptime = '20s';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT governor.reload();
SELECT governor.reload() AS reloaded,
       clock_timestamp() - statement_timestamp() < interval '5 s' AS at_once;
ALTER SYSTEM RESET governor.naptime;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT governor.reload();
