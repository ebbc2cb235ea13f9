-- Pool and session views count sessions opened here with known roles and
-- application names (dblink connections to this server).
\getenv abs_srcdir PG_ABS_SRCDIR
\set fixture :abs_srcdir '/sql/fixture.psql'
\i :fixture
SELECT dblink_connect('a1', gov_connstr('regress_app1', 'inst_a'));
SELECT dblink_connect('a2', gov_connstr('regress_app1', 'inst_a'));
SELECT dblink_connect('b1', gov_connstr('regress_app1', 'inst_b'));
SELECT dblink_connect('c1', gov_connstr('regress_app2', 'inst_c'));

-- One session idle in a transaction, one that has written (xid assigned).
SELECT dblink_exec('a2', 'BEGIN');
SELECT dblink_exec('b1', 'BEGIN');
SELECT count(*) AS has_xid FROM dblink('b1', 'SELECT txid_current()') AS t(x bigint);

SELECT database = current_database() AS this_db, "user", application_name,
       cl_active, cl_waiting, cl_active_cancel_req, cl_waiting_cancel_req,
       sv_active, sv_active_cancel, sv_being_canceled, sv_idle, sv_used,
       sv_tested, sv_login, maxwait, maxwait_us, pool_mode,
       idle_in_transaction, waiting_on_lock,
       (oldest_xact_age IS NOT NULL) AS has_xact, oldest_session_age > '0' AS aged
  FROM governor.pools WHERE application_name LIKE 'inst\_%' ORDER BY 3;

SELECT type, "user", state, addr, port, close_needed, remote_pid, tls, application_name,
       backend_state, xact_start IS NOT NULL AS in_xact, rules, deadline, deadline_reason
  FROM governor.clients WHERE application_name LIKE 'inst\_%' ORDER BY application_name, backend_state;
SELECT type, "user", state, remote_pid = pid AS pid_is_backend, application_name, backend_state
  FROM governor.servers WHERE application_name LIKE 'inst\_%' ORDER BY application_name, backend_state;

-- clients and servers agree with pg_stat_activity on pids.
SELECT count(*) AS sessions_seen_by_both
  FROM governor.clients c JOIN pg_stat_activity a ON a.pid = c.pid
 WHERE c.application_name LIKE 'inst\_%' AND a.application_name = c.application_name;

-- A later SET application_name moves the session out of no pool.
SELECT dblink_exec('c1', 'SET application_name = ''renamed''');
SELECT application_name, cl_active FROM governor.pools WHERE "user" = 'regress_app2';
SELECT application_name FROM governor.clients WHERE "user" = 'regress_app2';

-- A session waiting for a lock shows in waiting_on_lock.
CREATE TABLE gov_locked (id int);
GRANT ALL ON gov_locked TO PUBLIC;
SELECT dblink_exec('a1', 'BEGIN');
SELECT dblink_exec('a1', 'LOCK TABLE gov_locked');
SELECT dblink_send_query('c1', 'SELECT count(*) FROM gov_locked');
DO $$ BEGIN
  FOR i IN 1..300 LOOP
    EXIT WHEN (SELECT waiting_on_lock FROM governor.pools WHERE "user" = 'regress_app2') = 1;
    PERFORM pg_sleep(0.05);
  END LOOP;
END $$;
SELECT application_name, sv_active, waiting_on_lock FROM governor.pools WHERE "user" = 'regress_app2';
SELECT wait_event FROM governor.clients WHERE "user" = 'regress_app2';
SELECT dblink_exec('a1', 'COMMIT');
SELECT * FROM dblink_get_result('c1') AS t(n bigint);

-- Ended sessions leave the views.
SELECT dblink_disconnect('a1');
SELECT dblink_disconnect('a2');
SELECT dblink_disconnect('b1');
SELECT dblink_disconnect('c1');
DO $$ BEGIN
  FOR i IN 1..300 LOOP
    EXIT WHEN NOT EXISTS (SELECT 1 FROM governor.clients WHERE application_name LIKE 'inst\_%');
    PERFORM pg_sleep(0.05);
  END LOOP;
END $$;
SELECT count(*) FROM governor.pools WHERE application_name LIKE 'inst\_%';
DROP TABLE gov_locked;

-- Rule names come from governor.rules unconverted, in governor.database's
-- encoding (SQL_ASCII here): a UTF-8 database shows each byte that is not
-- UTF-8 as '?' rather than return invalid text.
SHOW server_encoding;
INSERT INTO governor.rules (name, role) VALUES (E'caf\351', 'regress_nobody');
SELECT governor.reload();
CREATE DATABASE regress_utf8 TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
SELECT dblink_connect('u8', replace(gov_connstr(current_user, 'utf8'),
                                    'dbname=' || current_database(), 'dbname=regress_utf8'));
SELECT dblink_exec('u8', 'SET client_min_messages = error');
SELECT dblink_exec('u8', 'CREATE EXTENSION pg_governor');
SELECT * FROM dblink('u8', $$SELECT rule = 'caf?', length(rule) FROM governor.rule_usage$$)
  AS t(shown_as_question_mark bool, length int);
SELECT dblink_disconnect('u8');
DROP DATABASE regress_utf8;
DELETE FROM governor.rules;
SELECT governor.reload();
