-- Bad rows are refused with a clear error and change nothing.
\getenv abs_srcdir PG_ABS_SRCDIR
\set fixture :abs_srcdir '/sql/fixture.psql'
\i :fixture
\set VERBOSITY default
\set SHOW_CONTEXT never
INSERT INTO governor.rules (name, max_connections) VALUES ('neg', -1);
INSERT INTO governor.rules (name, reserve_connections, max_connections) VALUES ('negres', -2, 5);
INSERT INTO governor.rules (name, max_connections, reserve_connections) VALUES ('nores', 5, 2);
INSERT INTO governor.rules (name, reserve_connections, reserve_timeout) VALUES ('nocap', 2, '1s');
INSERT INTO governor.rules (name, queue_timeout) VALUES ('negq', '-1s');
INSERT INTO governor.rules (name, idle_timeout) VALUES ('zeroidle', '0');
INSERT INTO governor.rules (name, max_lifetime) VALUES ('neglife', '-5 min');
INSERT INTO governor.rules (name, mode) VALUES ('badmode', 'observe');
INSERT INTO governor.rules (name, max_active, mode) VALUES ('active', -1, 'monitor');
INSERT INTO governor.rules (name, max_login_rate) VALUES ('norate', 0);
INSERT INTO governor.rules (name, max_login_rate) VALUES ('nanrate', 'NaN');
INSERT INTO governor.rules (name, login_burst) VALUES ('noburstrate', 5);
INSERT INTO governor.rules (name, max_login_rate, login_burst) VALUES ('zeroburst', 10, 0);
INSERT INTO governor.rules (name, queue_order) VALUES ('order', 'lifo');
INSERT INTO governor.rules (name, queue_order) VALUES ('noorder', NULL);
INSERT INTO governor.rules (name, evict_idle_after) VALUES ('negevict', '-1s');
INSERT INTO governor.rules (name, application_name) VALUES ('badlike', 'web\');
INSERT INTO governor.rules (name, application_name) VALUES ('oklike', 'web\\');
DELETE FROM governor.rules WHERE name = 'oklike';
INSERT INTO governor.rules (name, client_addr) VALUES ('badcidr', '10.0.0.1/8');
INSERT INTO governor.rules (name) VALUES ('');
INSERT INTO governor.rules (name) VALUES (repeat('x', 64));
INSERT INTO governor.rules (name) VALUES (repeat('é', 32));
INSERT INTO governor.rules (name, queue_timeout) VALUES ('eons', '1000000 years');
-- SQL compares intervals with 30-day months: 36100 days is over 100 years.
INSERT INTO governor.rules (name, idle_timeout) VALUES ('days', '36100 days');
-- One day to SQL, minus 4.25 days in seconds: refused, as the worker would.
INSERT INTO governor.rules (name, queue_timeout) VALUES ('signs', '-1 year 361 days');
INSERT INTO governor.rules (name, idle_timeout) VALUES ('signs', '-1 year 365 days 6 hours');
SELECT count(*) FROM governor.rules;

-- More enabled rules than governor.max_rules (20 here) is refused as a whole.
INSERT INTO governor.rules (name) SELECT 'r' || g FROM generate_series(1, 21) g;
SELECT count(*) FROM governor.rules;

-- A committed change reaches shared memory; reload() waits for it.
INSERT INTO governor.rules (name, role, application_name, max_connections, queue_timeout, comment)
VALUES ('app1_cap', 'regress_app1', 'web%', 2, '0', 'two web sessions'),
       ('app1_watch', 'regress_app1', NULL, 1, NULL, NULL);
UPDATE governor.rules SET mode = 'monitor' WHERE name = 'app1_watch';
SELECT governor.reload();
SELECT rule, mode, connections, waiting, active, max_connections, reserve_connections, max_active,
       total_admitted, total_rejected, total_would_reject
  FROM governor.rule_usage ORDER BY rule;

-- Admission: two fit, the third is refused at once naming the rule.
SELECT gov_try_connect('w1', 'regress_app1', 'web-1');
SELECT gov_try_connect('w2', 'regress_app1', 'web-2');
SELECT gov_try_connect('w3', 'regress_app1', 'web-3');
-- Other applications of the same role are not in the web% bucket.
SELECT gov_try_connect('j1', 'regress_app1', 'job-1');
SELECT rule, connections, total_admitted, total_rejected, total_would_reject
  FROM governor.rule_usage ORDER BY rule;
SELECT application_name, rules FROM governor.clients WHERE "user" = 'regress_app1' ORDER BY 1;

-- Events: one reject, monitor-mode would_reject, with the observed value and limit.
SELECT "user", application_name, client_addr, rule, action, reason, observed, "limit"
  FROM governor.events WHERE "user" = 'regress_app1' ORDER BY "time", action;

-- Raising the cap lets the third in; existing sessions are re-matched.
UPDATE governor.rules SET max_connections = 3 WHERE name = 'app1_cap';
SELECT governor.reload();
SELECT gov_try_connect('w3', 'regress_app1', 'web-3');
SELECT rule, connections FROM governor.rule_usage ORDER BY rule;

-- Disabled rules stop counting; totals are kept by name across reloads.
UPDATE governor.rules SET enabled = false WHERE name = 'app1_watch';
SELECT governor.reload();
SELECT rule, connections, total_admitted FROM governor.rule_usage ORDER BY rule;

-- Superusers are exempt: this session matches no bucket and counts in none.
INSERT INTO governor.rules (name, max_connections, queue_timeout) VALUES ('everyone', 0, '0');
SELECT governor.reload();
SELECT gov_try_connect('su', current_user, 'web-admin');
SELECT gov_try_connect('w4', 'regress_app2', 'other');
SELECT dblink_disconnect('su');
DELETE FROM governor.rules WHERE name = 'everyone';

-- Address rules: a local-socket session never matches a CIDR rule.
INSERT INTO governor.rules (name, client_addr, max_connections, queue_timeout)
VALUES ('lan', '127.0.0.0/8', 0, '0');
SELECT governor.reload();
SELECT gov_try_connect('l1', 'regress_app2', 'via-socket');
SELECT application_name, rules FROM governor.clients WHERE application_name = 'via-socket';
SELECT dblink_disconnect('l1');

SELECT dblink_disconnect(unnest) FROM unnest(dblink_get_connections()) ORDER BY 1;
DELETE FROM governor.rules;

-- Values no server can reach, and patterns that can never match.
INSERT INTO governor.rules (name, max_connections, reserve_connections, reserve_timeout)
VALUES ('huge', 2147483647, 1, '1s');
INSERT INTO governor.rules (name, reserve_connections, max_connections, reserve_timeout)
VALUES ('hugeres', 300000, 1, '1s');
INSERT INTO governor.rules (name, application_name) VALUES ('accent', 'café-%');
INSERT INTO governor.rules (name, max_connections) VALUES ('maxed', 262143);
DELETE FROM governor.rules WHERE name = 'maxed';

-- A role or database that does not exist: accepted with a warning, and
-- rule_usage says the rule matches nobody.
INSERT INTO governor.rules (name, role) VALUES ('typo_role', 'regress_no_such_role');
INSERT INTO governor.rules (name, database) VALUES ('typo_db', 'regress_no_such_db');
SELECT governor.reload();
SELECT rule, problem FROM governor.rule_usage WHERE problem IS NOT NULL ORDER BY rule;
DELETE FROM governor.rules WHERE name LIKE 'typo%';

-- Rows loaded with triggers disabled (as pg_restore --disable-triggers
-- does) are checked again when the worker compiles them: a bad one
-- matches nobody and says why.
SET session_replication_role = replica;
INSERT INTO governor.rules (name, max_connections, queue_timeout) VALUES ('unchecked_neg', -5, '0');
INSERT INTO governor.rules (name, application_name, max_connections, queue_timeout)
VALUES ('unchecked_like', 'web\', 0, '0');
INSERT INTO governor.rules (name, max_connections, mode) VALUES ('unchecked_mode', 0, 'observe');
-- Past the range of a double: a bad rule, not a failed read of every rule.
INSERT INTO governor.rules (name, max_login_rate, max_connections, queue_timeout)
VALUES ('unchecked_rate', 1e400, 0, '0');
-- Intervals are compared as the trigger compares them (a year is 360 days),
-- and one that is negative in seconds (a year is 365.25 days) is refused.
INSERT INTO governor.rules (name, idle_timeout, max_connections, queue_timeout)
VALUES ('unchecked_days', '36100 days', 0, '0');
INSERT INTO governor.rules (name, max_connections, queue_timeout)
VALUES ('unchecked_signs', 0, '-1 year 361 days');
RESET session_replication_role;
SELECT governor.reload();
SELECT rule, connections, problem FROM governor.rule_usage ORDER BY rule;
-- (max_connections 0 would refuse everyone, were the rules in force.)
SELECT gov_try_connect('u1', 'regress_app1', 'plain');
SELECT application_name, rules FROM governor.clients WHERE application_name = 'plain';
SELECT dblink_disconnect('u1');

DELETE FROM governor.rules;
SELECT governor.reload();
SELECT count(*) FROM governor.rule_usage;
