-- Enforcement: the deadline columns of governor.clients/servers and the
-- SQL surface of governor.kill() and governor.reconnect().
\getenv abs_srcdir PG_ABS_SRCDIR
\set fixture :abs_srcdir '/sql/fixture.psql'
\i :fixture
SELECT current_user AS superuser_name \gset
CREATE ROLE regress_gov_enf LOGIN;
GRANT pg_monitor TO regress_gov_enf;

INSERT INTO governor.rules (name, role, max_transaction_duration, idle_timeout)
  VALUES ('enf_strict', 'regress_gov_enf', '1 hour', '2 hours');
INSERT INTO governor.rules (name, role, max_transaction_duration)
  VALUES ('enf_loose', 'regress_gov_enf', '3 hours');
-- Monitor rules set no deadline: they never end a session.
INSERT INTO governor.rules (name, role, max_transaction_duration, mode)
  VALUES ('enf_monitor', 'regress_gov_enf', '10 min', 'monitor');
SELECT governor.reload();

-- A superuser is exempt: no deadline.
SELECT deadline IS NULL AS no_deadline, deadline_reason, close_needed
  FROM governor.clients WHERE pid = pg_backend_pid();

-- A governed session running a query: its transaction is what is measured,
-- and the smallest enforced limit wins.
\c - regress_gov_enf
SELECT deadline - xact_start AS time_allowed, deadline_reason, close_needed
  FROM governor.clients WHERE pid = pg_backend_pid();
SELECT deadline - xact_start AS time_allowed, deadline_reason
  FROM governor.servers WHERE pid = pg_backend_pid();
SELECT 'rules' AS what, rules FROM governor.clients WHERE pid = pg_backend_pid();

-- The verbs are for superusers only.
SELECT governor.kill();
SELECT governor.reconnect('postgres');

-- A changed rule gives new sessions (and running ones) the new limit.
\c - :superuser_name
UPDATE governor.rules SET max_transaction_duration = '30 min' WHERE name = 'enf_strict';
SELECT governor.reload();
\c - regress_gov_enf
SELECT deadline - xact_start AS time_allowed, deadline_reason
  FROM governor.clients WHERE pid = pg_backend_pid();

-- Nothing to act on: both verbs say 0.
\c - :superuser_name
SELECT governor.kill('regress_no_such_db') AS killed,
       governor.reconnect('regress_no_such_db') AS marked;

DELETE FROM governor.rules WHERE name LIKE 'enf\_%';
SELECT governor.reload();
DROP ROLE regress_gov_enf;
