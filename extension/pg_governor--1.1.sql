/* pg_governor 1.1: rules, views and admin functions (schema governor). */

\echo Use "CREATE EXTENSION pg_governor" to load this file. \quit

-- ------------------------------------------------------------------
-- Rules
-- ------------------------------------------------------------------
CREATE TABLE @extschema@.rules (
    name                        text PRIMARY KEY,
    database                    name,
    role                        name,
    application_name            text,
    client_addr                 cidr,
    max_connections             int,
    reserve_connections         int,
    reserve_timeout             interval,
    queue_timeout               interval,
    max_active                  int,
    idle_in_transaction_timeout interval,
    idle_timeout                interval,
    max_lifetime                interval,
    max_transaction_duration    interval,
    mode                        text NOT NULL DEFAULT 'enforce',
    enabled                     boolean NOT NULL DEFAULT true,
    comment                     text,
    -- 1.1
    max_login_rate              numeric,
    login_burst                 int,
    queue_order                 text NOT NULL DEFAULT 'fifo',
    evict_idle_after            interval,
    priority                    int
);
COMMENT ON TABLE @extschema@.rules IS
  'Connection rules: a session is governed by every enabled rule whose non-NULL match columns (database, role, application_name, client_addr) all match its login. Edit with plain SQL; changes apply within a second of COMMIT.';
COMMENT ON COLUMN @extschema@.rules.name IS 'Rule name, shown in views, events and error messages';
COMMENT ON COLUMN @extschema@.rules.database IS 'Database the session connects to; NULL = any';
COMMENT ON COLUMN @extschema@.rules.role IS 'Login role (exact name); NULL = any';
COMMENT ON COLUMN @extschema@.rules.application_name IS 'LIKE pattern on the application_name sent at login; NULL = any';
COMMENT ON COLUMN @extschema@.rules.client_addr IS 'Client address range; NULL = any; a Unix-socket session never matches a non-NULL value';
COMMENT ON COLUMN @extschema@.rules.max_connections IS 'Sessions matching this rule at once; NULL = no cap';
COMMENT ON COLUMN @extschema@.rules.reserve_connections IS 'Extra slots usable by a login that has waited reserve_timeout (PgBouncer reserve_pool); NULL = 0';
COMMENT ON COLUMN @extschema@.rules.reserve_timeout IS 'Wait after which reserve_connections may be used';
COMMENT ON COLUMN @extschema@.rules.queue_timeout IS 'How long a login waits for a slot before it is refused; NULL = governor.queue_timeout; 0 = refuse at once';
COMMENT ON COLUMN @extschema@.rules.max_active IS 'Sessions of this rule inside a transaction at once; a session starting a transaction past it waits in the rule''s queue (active-transaction slots); NULL = no cap';
COMMENT ON COLUMN @extschema@.rules.idle_in_transaction_timeout IS 'Terminate a session idle inside a transaction longer than this';
COMMENT ON COLUMN @extschema@.rules.idle_timeout IS 'Terminate a session idle outside a transaction longer than this';
COMMENT ON COLUMN @extschema@.rules.max_lifetime IS 'Close a session older than this at its first idle moment';
COMMENT ON COLUMN @extschema@.rules.max_transaction_duration IS 'Terminate a session whose transaction has been open longer than this';
COMMENT ON COLUMN @extschema@.rules.mode IS 'enforce, or monitor: record what would have happened and do nothing';
COMMENT ON COLUMN @extschema@.rules.enabled IS 'Disabled rules are ignored';
COMMENT ON COLUMN @extschema@.rules.comment IS 'Free text';
COMMENT ON COLUMN @extschema@.rules.max_login_rate IS 'New logins per second admitted into this rule (token bucket); logins over the rate wait in its queue; NULL = no limit';
COMMENT ON COLUMN @extschema@.rules.login_burst IS 'Logins that may arrive at once before max_login_rate applies; NULL = ceil(max_login_rate)';
COMMENT ON COLUMN @extschema@.rules.queue_order IS 'Who gets a freed slot first: fifo (the longest waiter) or fair (the waiter whose pool holds the fewest of the rule''s slots; ties: the longest waiter)';
COMMENT ON COLUMN @extschema@.rules.evict_idle_after IS 'A login waiting for this rule may take the slot of its longest-idle session once that session has been idle (outside a transaction) this long; NULL = never';
COMMENT ON COLUMN @extschema@.rules.priority IS 'A session''s priority is the highest of its rules''; among waiters for the same slots, higher priority goes first; NULL = 0';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.rules', '');
REVOKE ALL ON @extschema@.rules FROM PUBLIC;

-- Refuse bad rows with a message that says what is wrong.
CREATE FUNCTION @extschema@._validate_rule() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    col text;
    v interval;
    n int;
BEGIN
    IF NEW.name IS NULL OR octet_length(NEW.name) NOT BETWEEN 1 AND 63 THEN
        RAISE EXCEPTION 'pg_governor rule name must be 1 to 63 bytes long'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.mode IS NULL OR NEW.mode NOT IN ('enforce', 'monitor') THEN
        RAISE EXCEPTION 'pg_governor rule "%": unknown mode "%"', NEW.name, NEW.mode
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'mode is ''enforce'' or ''monitor''.';
    END IF;
    IF NEW.max_connections < 0 THEN
        RAISE EXCEPTION 'pg_governor rule "%": max_connections must not be negative', NEW.name
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use NULL for no cap.';
    END IF;
    IF NEW.reserve_connections < 0 THEN
        RAISE EXCEPTION 'pg_governor rule "%": reserve_connections must not be negative', NEW.name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- No server has more sessions than this (PostgreSQL's MAX_BACKENDS).
    FOR col, n IN VALUES ('max_connections', NEW.max_connections),
                         ('reserve_connections', NEW.reserve_connections),
                         ('max_active', NEW.max_active)
    LOOP
        IF n > 262143 THEN
            RAISE EXCEPTION 'pg_governor rule "%": % must be at most 262143', NEW.name, col
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'No PostgreSQL server can have more sessions.',
                      HINT = 'Use NULL for no cap.';
        END IF;
    END LOOP;
    IF NEW.max_active < 0 THEN
        RAISE EXCEPTION 'pg_governor rule "%": max_active must not be negative', NEW.name
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use NULL for no cap.';
    END IF;
    IF NEW.max_login_rate IS NOT NULL AND NOT (NEW.max_login_rate > 0 AND NEW.max_login_rate <= 1000000) THEN
        RAISE EXCEPTION 'pg_governor rule "%": max_login_rate must be greater than zero and at most 1000000', NEW.name
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Logins per second; use NULL for no limit.';
    END IF;
    IF NEW.login_burst IS NOT NULL AND NEW.max_login_rate IS NULL THEN
        RAISE EXCEPTION 'pg_governor rule "%": login_burst needs max_login_rate', NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'login_burst is how many logins may arrive at once before the rate applies.';
    END IF;
    IF NEW.login_burst < 1 OR NEW.login_burst > 262143 THEN
        RAISE EXCEPTION 'pg_governor rule "%": login_burst must be between 1 and 262143', NEW.name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.queue_order IS NULL OR NEW.queue_order NOT IN ('fifo', 'fair') THEN
        RAISE EXCEPTION 'pg_governor rule "%": unknown queue_order "%"', NEW.name, NEW.queue_order
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'queue_order is ''fifo'' or ''fair''.';
    END IF;
    IF coalesce(NEW.reserve_connections, 0) > 0 AND NEW.reserve_timeout IS NULL THEN
        RAISE EXCEPTION 'pg_governor rule "%": reserve_connections needs a reserve_timeout', NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Set reserve_timeout to how long a login waits before it may use the reserve.';
    END IF;
    IF coalesce(NEW.reserve_connections, 0) > 0 AND NEW.max_connections IS NULL THEN
        RAISE EXCEPTION 'pg_governor rule "%": reserve_connections needs max_connections', NEW.name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR col, v IN VALUES ('reserve_timeout', NEW.reserve_timeout),
                         ('queue_timeout', NEW.queue_timeout),
                         ('evict_idle_after', NEW.evict_idle_after)
    LOOP
        IF v < interval '0' THEN
            RAISE EXCEPTION 'pg_governor rule "%": % must not be negative', NEW.name, col
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        -- '-1 year 361 days' is one day to SQL (30-day months), negative in
        -- seconds (365.25-day years), which the worker counts.
        IF pg_catalog.date_part('epoch', v) < 0 THEN
            RAISE EXCEPTION 'pg_governor rule "%": % mixes positive and negative parts', NEW.name, col
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Write the interval with one sign.';
        END IF;
        IF NOT isfinite(v) OR v > interval '100 years' THEN
            RAISE EXCEPTION 'pg_governor rule "%": % must be finite and at most 100 years', NEW.name, col
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Use NULL for no limit.';
        END IF;
    END LOOP;
    FOR col, v IN VALUES ('idle_in_transaction_timeout', NEW.idle_in_transaction_timeout),
                         ('idle_timeout', NEW.idle_timeout),
                         ('max_lifetime', NEW.max_lifetime),
                         ('max_transaction_duration', NEW.max_transaction_duration)
    LOOP
        IF v <= interval '0' THEN
            RAISE EXCEPTION 'pg_governor rule "%": % must be greater than zero', NEW.name, col
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Use NULL for no limit.';
        END IF;
        IF pg_catalog.date_part('epoch', v) <= 0 THEN
            RAISE EXCEPTION 'pg_governor rule "%": % mixes positive and negative parts', NEW.name, col
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Write the interval with one sign.';
        END IF;
        IF NOT isfinite(v) OR v > interval '100 years' THEN
            RAISE EXCEPTION 'pg_governor rule "%": % must be finite and at most 100 years', NEW.name, col
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Use NULL for no limit.';
        END IF;
    END LOOP;
    IF NEW.application_name IS NOT NULL THEN
        IF octet_length(NEW.application_name) > 127 THEN
            RAISE EXCEPTION 'pg_governor rule "%": application_name pattern is longer than 127 bytes', NEW.name
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        -- The server replaces non-ASCII characters of application_name.
        IF NEW.application_name ~ '[^[:ascii:]]' THEN
            RAISE EXCEPTION 'pg_governor rule "%": application_name pattern "%" contains a non-ASCII character',
                            NEW.name, NEW.application_name
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'PostgreSQL replaces non-ASCII characters of the application_name a client sends, so the pattern could never match.',
                      HINT = 'Use % for the non-ASCII part.';
        END IF;
        -- An odd run of backslashes at the end escapes nothing.
        IF NEW.application_name ~ '(^|[^\\])(\\\\)*\\$' THEN
            RAISE EXCEPTION 'pg_governor rule "%": application_name pattern "%" ends with an escape character',
                            NEW.name, NEW.application_name
                USING ERRCODE = 'invalid_escape_sequence',
                      HINT = 'Write \\ for a literal backslash.';
        END IF;
    END IF;
    -- A typo makes a rule that matches nobody: say so, but allow it (the
    -- role or database may be created later).
    IF NEW.role IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = NEW.role) THEN
        RAISE WARNING 'pg_governor rule "%": role "%" does not exist', NEW.name, NEW.role
            USING HINT = 'The rule matches nobody until a role of that name exists; governor.rule_usage shows it as a problem.';
    END IF;
    IF NEW.database IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_database WHERE datname = NEW.database) THEN
        RAISE WARNING 'pg_governor rule "%": database "%" does not exist', NEW.name, NEW.database
            USING HINT = 'The rule matches nobody until a database of that name exists; governor.rule_usage shows it as a problem.';
    END IF;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION @extschema@._validate_rule() IS 'Trigger: refuses rules with invalid values';

CREATE TRIGGER validate BEFORE INSERT OR UPDATE ON @extschema@.rules
    FOR EACH ROW EXECUTE FUNCTION @extschema@._validate_rule();

-- Bounded shared memory: more rows than governor.max_rules is an error.
-- In C: it serializes concurrent rule changes and counts with a fresh
-- snapshot, so two INSERTs cannot together exceed the bound.
CREATE FUNCTION @extschema@._check_rule_count() RETURNS trigger
AS 'MODULE_PATHNAME', 'gov_check_rule_count' LANGUAGE C;
COMMENT ON FUNCTION @extschema@._check_rule_count() IS 'Trigger: refuses more enabled rules than governor.max_rules';

CREATE TRIGGER check_count AFTER INSERT OR UPDATE ON @extschema@.rules
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._check_rule_count();

CREATE FUNCTION @extschema@._rules_changed() RETURNS trigger
AS 'MODULE_PATHNAME', 'gov_rules_changed' LANGUAGE C;
COMMENT ON FUNCTION @extschema@._rules_changed() IS 'Trigger: wakes the pg_governor worker at COMMIT to reload the rules';

CREATE TRIGGER reload AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.rules
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._rules_changed();

-- ------------------------------------------------------------------
-- Pool views
-- ------------------------------------------------------------------
CREATE FUNCTION @extschema@._pools(
    OUT database text, OUT "user" text, OUT application_name text,
    OUT cl_active int, OUT cl_waiting int,
    OUT cl_active_cancel_req int, OUT cl_waiting_cancel_req int,
    OUT sv_active int, OUT sv_active_cancel int, OUT sv_being_canceled int,
    OUT sv_idle int, OUT sv_used int, OUT sv_tested int, OUT sv_login int,
    OUT maxwait int, OUT maxwait_us int, OUT pool_mode text,
    OUT idle_in_transaction int, OUT waiting_on_lock int,
    OUT oldest_xact_age interval, OUT oldest_session_age interval)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'gov_pools' LANGUAGE C STRICT VOLATILE;

COMMENT ON FUNCTION @extschema@._pools() IS 'Backs governor.pools';
CREATE VIEW @extschema@.pools AS SELECT * FROM @extschema@._pools();

CREATE FUNCTION @extschema@._sessions(
    OUT client_state text, OUT server_state text,
    OUT "user" text, OUT database text,
    OUT addr text, OUT port int, OUT local_addr text, OUT local_port int,
    OUT connect_time timestamptz, OUT request_time timestamptz,
    OUT wait int, OUT wait_us int, OUT close_needed int,
    OUT tls text, OUT application_name text,
    OUT pid int, OUT backend_state text, OUT xact_start timestamptz,
    OUT state_change timestamptz, OUT wait_event_type text, OUT wait_event text,
    OUT rules text[], OUT deadline timestamptz, OUT deadline_reason text,
    OUT exempt text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'gov_sessions' LANGUAGE C STRICT VOLATILE;

COMMENT ON FUNCTION @extschema@._sessions() IS 'Backs governor.clients and governor.servers';

CREATE VIEW @extschema@.clients AS
SELECT 'C'::text AS type, "user", database, client_state AS state,
       addr, port, local_addr, local_port, connect_time, request_time,
       wait, wait_us, close_needed, 0 AS remote_pid, tls, application_name,
       pid, backend_state, xact_start, state_change, wait_event,
       rules, deadline, deadline_reason
  FROM @extschema@._sessions();

CREATE VIEW @extschema@.servers AS
SELECT 'S'::text AS type, "user", database, server_state AS state,
       addr, port, local_addr, local_port, connect_time, request_time,
       wait, wait_us, close_needed, pid AS remote_pid, tls, application_name,
       pid, backend_state, xact_start, state_change, wait_event,
       rules, deadline, deadline_reason
  FROM @extschema@._sessions();

COMMENT ON VIEW @extschema@.pools IS 'One row per (database, user, application_name at login) with sessions now; columns of PgBouncer SHOW POOLS, then native ones';
COMMENT ON COLUMN @extschema@.pools.database IS 'Database named at login';
COMMENT ON COLUMN @extschema@.pools."user" IS 'Login role';
COMMENT ON COLUMN @extschema@.pools.application_name IS 'application_name sent at login (a later SET does not move the session)';
COMMENT ON COLUMN @extschema@.pools.cl_active IS 'Admitted sessions';
COMMENT ON COLUMN @extschema@.pools.cl_waiting IS 'Sessions queued at login (and, with max_active, for an active slot)';
COMMENT ON COLUMN @extschema@.pools.cl_active_cancel_req IS 'Always 0: cancel requests go straight to the backend, nothing queues them';
COMMENT ON COLUMN @extschema@.pools.cl_waiting_cancel_req IS 'Always 0: cancel requests go straight to the backend, nothing queues them';
COMMENT ON COLUMN @extschema@.pools.sv_active IS 'Admitted sessions inside a transaction';
COMMENT ON COLUMN @extschema@.pools.sv_active_cancel IS 'Always 0: no server connection forwards cancels';
COMMENT ON COLUMN @extschema@.pools.sv_being_canceled IS 'Always 0: no server connection forwards cancels';
COMMENT ON COLUMN @extschema@.pools.sv_idle IS 'Admitted sessions outside a transaction';
COMMENT ON COLUMN @extschema@.pools.sv_used IS 'Always 0: a session is never handed to another client';
COMMENT ON COLUMN @extschema@.pools.sv_tested IS 'Always 0: there is no reset or check query';
COMMENT ON COLUMN @extschema@.pools.sv_login IS 'Sessions past authentication whose admission or startup has not finished';
COMMENT ON COLUMN @extschema@.pools.maxwait IS 'Whole seconds the oldest waiting session has waited';
COMMENT ON COLUMN @extschema@.pools.maxwait_us IS 'Microsecond part of maxwait';
COMMENT ON COLUMN @extschema@.pools.pool_mode IS 'session, or transaction where a max_active rule applies';
COMMENT ON COLUMN @extschema@.pools.idle_in_transaction IS 'Sessions idle inside a transaction (aborted or not)';
COMMENT ON COLUMN @extschema@.pools.waiting_on_lock IS 'Sessions waiting for a heavyweight lock';
COMMENT ON COLUMN @extschema@.pools.oldest_xact_age IS 'Age of the oldest open transaction; NULL when none';
COMMENT ON COLUMN @extschema@.pools.oldest_session_age IS 'Age of the oldest session';

COMMENT ON VIEW @extschema@.clients IS 'One row per session as a client: columns of PgBouncer SHOW CLIENTS, then native ones';
COMMENT ON VIEW @extschema@.servers IS 'One row per session as a server connection: columns of PgBouncer SHOW SERVERS, then native ones';
COMMENT ON COLUMN @extschema@.clients.type IS 'Always C';
COMMENT ON COLUMN @extschema@.clients.state IS 'waiting (queued at login) or active';
COMMENT ON COLUMN @extschema@.clients.addr IS 'Client IP address, or unix for a local socket';
COMMENT ON COLUMN @extschema@.clients.port IS 'Client port, 0 for a local socket';
COMMENT ON COLUMN @extschema@.clients.local_addr IS 'Server address the client connected to';
COMMENT ON COLUMN @extschema@.clients.local_port IS 'Server port the client connected to';
COMMENT ON COLUMN @extschema@.clients.connect_time IS 'When the connection was made';
COMMENT ON COLUMN @extschema@.clients.request_time IS 'Start of the last query (login time before the first one)';
COMMENT ON COLUMN @extschema@.clients.wait IS 'Seconds queued for a waiting session; age of the running query for an active one';
COMMENT ON COLUMN @extschema@.clients.wait_us IS 'Microsecond part of wait';
COMMENT ON COLUMN @extschema@.clients.close_needed IS '1 if the governor will close the session at its next idle moment';
COMMENT ON COLUMN @extschema@.clients.remote_pid IS 'Always 0: the client process id is not known to the server';
COMMENT ON COLUMN @extschema@.clients.tls IS 'TLS version/cipher, or empty';
COMMENT ON COLUMN @extschema@.clients.application_name IS 'application_name sent at login';
COMMENT ON COLUMN @extschema@.clients.pid IS 'Backend process id';
COMMENT ON COLUMN @extschema@.clients.backend_state IS 'pg_stat_activity.state';
COMMENT ON COLUMN @extschema@.clients.xact_start IS 'Start of the open transaction, NULL when none';
COMMENT ON COLUMN @extschema@.clients.state_change IS 'Last change of backend_state';
COMMENT ON COLUMN @extschema@.clients.wait_event IS 'pg_stat_activity.wait_event';
COMMENT ON COLUMN @extschema@.clients.rules IS 'Enabled rules governing the session';
COMMENT ON COLUMN @extschema@.clients.deadline IS 'When the governor will end the session, if it will';
COMMENT ON COLUMN @extschema@.clients.deadline_reason IS 'Which limit sets the deadline';
COMMENT ON COLUMN @extschema@.servers.type IS 'Always S';
COMMENT ON COLUMN @extschema@.servers.state IS 'active (inside a transaction), idle, new (login not finished)';
COMMENT ON COLUMN @extschema@.servers.remote_pid IS 'Backend process id';
COMMENT ON COLUMN @extschema@.servers.wait IS 'Seconds queued for a waiting session; age of the running query for an active one';

-- ------------------------------------------------------------------
-- Rule usage and events
-- ------------------------------------------------------------------
CREATE FUNCTION @extschema@._rule_usage(
    OUT rule text, OUT mode text,
    OUT connections int, OUT waiting int, OUT active int,
    OUT max_connections int, OUT reserve_connections int, OUT max_active int,
    OUT total_admitted bigint, OUT total_rejected bigint, OUT total_would_reject bigint,
    OUT total_terminated_idle_in_transaction bigint, OUT total_terminated_idle bigint,
    OUT total_terminated_lifetime bigint, OUT total_terminated_transaction_duration bigint,
    OUT total_killed bigint, OUT total_would_terminate bigint,
    OUT active_waiting int, OUT total_active_waits bigint, OUT total_active_timeouts bigint,
    OUT total_would_wait bigint, OUT total_rejected_rate bigint, OUT total_evicted bigint,
    OUT problem text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'gov_rule_usage' LANGUAGE C STRICT VOLATILE;

COMMENT ON FUNCTION @extschema@._rule_usage() IS 'Backs governor.rule_usage';
CREATE VIEW @extschema@.rule_usage AS SELECT * FROM @extschema@._rule_usage();
COMMENT ON VIEW @extschema@.rule_usage IS 'One row per enabled rule loaded by the worker: sessions in its bucket, queued, in a transaction, its caps, and totals since server start (kept across reloads by rule name)';
COMMENT ON COLUMN @extschema@.rule_usage.connections IS 'Admitted, non-exempt sessions matching the rule';
COMMENT ON COLUMN @extschema@.rule_usage.waiting IS 'Logins queued on this rule';
COMMENT ON COLUMN @extschema@.rule_usage.active IS 'Active slots in use for a max_active rule, else sessions of the rule inside a transaction';
COMMENT ON COLUMN @extschema@.rule_usage.total_admitted IS 'Logins admitted while the rule applied';
COMMENT ON COLUMN @extschema@.rule_usage.total_rejected IS 'Logins refused by this rule (53300)';
COMMENT ON COLUMN @extschema@.rule_usage.total_would_reject IS 'Logins a monitor-mode rule would have refused';
COMMENT ON COLUMN @extschema@.rule_usage.total_killed IS 'Sessions ended by governor.kill()';
COMMENT ON COLUMN @extschema@.rule_usage.total_would_terminate IS 'Terminations a monitor-mode rule would have made, all reasons';
COMMENT ON COLUMN @extschema@.rule_usage.active_waiting IS 'Sessions waiting for one of the rule''s active slots (max_active)';
COMMENT ON COLUMN @extschema@.rule_usage.total_active_waits IS 'Transactions that had to wait for an active slot';
COMMENT ON COLUMN @extschema@.rule_usage.total_active_timeouts IS 'Transactions refused after waiting queue_timeout for an active slot (53400)';
COMMENT ON COLUMN @extschema@.rule_usage.total_would_wait IS 'Transactions a monitor-mode max_active rule would have made wait';
COMMENT ON COLUMN @extschema@.rule_usage.total_rejected_rate IS 'Of total_rejected, logins refused because of max_login_rate';
COMMENT ON COLUMN @extschema@.rule_usage.total_evicted IS 'Idle sessions closed to admit a waiting login (evict_idle_after)';
COMMENT ON COLUMN @extschema@.rule_usage.problem IS 'Why the rule matches nobody (a role or database that does not exist or was renamed, values loaded past the checks); NULL when none';

CREATE FUNCTION @extschema@._events(
    OUT "time" timestamptz, OUT pid int, OUT database text, OUT "user" text,
    OUT application_name text, OUT client_addr text, OUT rule text,
    OUT action text, OUT reason text, OUT observed float8, OUT "limit" float8)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'gov_events' LANGUAGE C STRICT VOLATILE;

COMMENT ON FUNCTION @extschema@._events() IS 'Backs governor.events';
CREATE VIEW @extschema@.events AS SELECT * FROM @extschema@._events();
COMMENT ON VIEW @extschema@.events IS 'The last governor.max_events actions, oldest first: reject, would_reject, terminate, would_terminate, kill, reconnect, evict, would_wait, ban, banned_reject, abandon (a queued client hung up), rule_problem (a rule stopped matching anyone)';
COMMENT ON COLUMN @extschema@.events.observed IS 'What was measured: seconds for time limits and waits, sessions in use for caps';
COMMENT ON COLUMN @extschema@.events."limit" IS 'The limit crossed, in the unit of observed';

-- ------------------------------------------------------------------
-- Admin functions
-- ------------------------------------------------------------------
CREATE FUNCTION @extschema@.pause(db name DEFAULT NULL) RETURNS void
AS 'MODULE_PATHNAME', 'gov_pause' LANGUAGE C VOLATILE;
CREATE FUNCTION @extschema@.resume(db name DEFAULT NULL) RETURNS void
AS 'MODULE_PATHNAME', 'gov_resume' LANGUAGE C VOLATILE;
CREATE FUNCTION @extschema@.disable(db name DEFAULT NULL) RETURNS void
AS 'MODULE_PATHNAME', 'gov_disable' LANGUAGE C VOLATILE;
CREATE FUNCTION @extschema@.enable(db name DEFAULT NULL) RETURNS void
AS 'MODULE_PATHNAME', 'gov_enable' LANGUAGE C VOLATILE;
CREATE FUNCTION @extschema@.reload() RETURNS boolean
AS 'MODULE_PATHNAME', 'gov_reload' LANGUAGE C VOLATILE;

COMMENT ON FUNCTION @extschema@.pause(name) IS 'New logins to the database (NULL = every database) wait until resume()';
COMMENT ON FUNCTION @extschema@.resume(name) IS 'Let paused logins in; NULL resumes every database';
COMMENT ON FUNCTION @extschema@.disable(name) IS 'Refuse new logins to the database (NULL = every database) at once';
COMMENT ON FUNCTION @extschema@.enable(name) IS 'Allow logins again; NULL enables every database';
COMMENT ON FUNCTION @extschema@.reload() IS 'Make the worker reload governor.rules now; true once it has';

-- ------------------------------------------------------------------
-- Enforcement verbs (enforcement.c)
-- ------------------------------------------------------------------
CREATE FUNCTION @extschema@.kill(db name DEFAULT NULL) RETURNS int
AS 'MODULE_PATHNAME', 'gov_kill' LANGUAGE C VOLATILE;
CREATE FUNCTION @extschema@.reconnect(db name DEFAULT NULL) RETURNS int
AS 'MODULE_PATHNAME', 'gov_reconnect' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.kill(name) IS
  'Terminate now every governed session of the database (NULL = every database), except the caller''s and exempt ones; returns how many were signalled';
COMMENT ON FUNCTION @extschema@.reconnect(name) IS
  'Close every governed session of the database (NULL = every database) at its next idle moment, except the caller''s and exempt ones; returns how many were marked';
REVOKE ALL ON FUNCTION @extschema@.kill(name), @extschema@.reconnect(name) FROM PUBLIC;

-- ------------------------------------------------------------------
-- Privileges: views to pg_monitor, actions to superusers only.
-- ------------------------------------------------------------------
REVOKE ALL ON FUNCTION @extschema@._pools(), @extschema@._sessions(),
    @extschema@._rule_usage(), @extschema@._events(),
    @extschema@.pause(name), @extschema@.resume(name),
    @extschema@.disable(name), @extschema@.enable(name),
    @extschema@.reload(), @extschema@._validate_rule(), @extschema@._check_rule_count(),
    @extschema@._rules_changed() FROM PUBLIC;
REVOKE ALL ON @extschema@.pools, @extschema@.clients, @extschema@.servers,
    @extschema@.rule_usage, @extschema@.events FROM PUBLIC;
GRANT USAGE ON SCHEMA @extschema@ TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@._pools(), @extschema@._sessions(),
    @extschema@._rule_usage(), @extschema@._events() TO pg_monitor;
GRANT SELECT ON @extschema@.pools, @extschema@.clients, @extschema@.servers,
    @extschema@.rule_usage, @extschema@.events,
    @extschema@.rules TO pg_monitor;

-- ==================================================================
-- Statistics, health and metrics (stats.c, metrics.c)
-- ==================================================================
CREATE FUNCTION @extschema@._stats(
    OUT database text,
    OUT total_xact_count bigint, OUT total_query_count bigint,
    OUT total_received bigint, OUT total_sent bigint,
    OUT total_xact_time bigint, OUT total_query_time bigint,
    OUT total_wait_time bigint,
    OUT avg_xact_count bigint, OUT avg_query_count bigint,
    OUT avg_recv bigint, OUT avg_sent bigint,
    OUT avg_xact_time bigint, OUT avg_query_time bigint,
    OUT avg_wait_time bigint,
    OUT total_connections bigint, OUT total_rejected bigint,
    OUT total_terminated bigint, OUT total_auth_failed bigint,
    OUT stats_reset timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'gov_stats' LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION @extschema@._stats() IS 'Backs governor.stats';

CREATE FUNCTION @extschema@._pool_stats(
    OUT database text, OUT "user" text, OUT application_name text,
    OUT total_xact_count bigint, OUT total_query_count bigint,
    OUT total_received bigint, OUT total_sent bigint,
    OUT total_xact_time bigint, OUT total_query_time bigint,
    OUT total_wait_time bigint,
    OUT avg_xact_count bigint, OUT avg_query_count bigint,
    OUT avg_recv bigint, OUT avg_sent bigint,
    OUT avg_xact_time bigint, OUT avg_query_time bigint,
    OUT avg_wait_time bigint,
    OUT total_connections bigint, OUT total_rejected bigint,
    OUT total_terminated bigint, OUT total_auth_failed bigint,
    OUT stats_reset timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'gov_pool_stats' LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION @extschema@._pool_stats() IS 'Backs governor.pool_stats';

CREATE VIEW @extschema@.stats AS SELECT * FROM @extschema@._stats();
CREATE VIEW @extschema@.pool_stats AS SELECT * FROM @extschema@._pool_stats();

COMMENT ON VIEW @extschema@.stats IS
  'One row per database: PgBouncer SHOW STATS columns and units (times in microseconds; avg_* over the last one to two governor.stats_period: counts per second, times per transaction, query or admitted connection), then governance totals. Totals never go down when sessions end; governor.reset_stats() zeroes them.';
COMMENT ON VIEW @extschema@.pool_stats IS
  'governor.stats per pool: one row per (database, user, application_name at login); past governor.max_pools, one overflow row (*, *, *overflow*).';
COMMENT ON COLUMN @extschema@.stats.database IS 'Database named at login';
COMMENT ON COLUMN @extschema@.stats.total_xact_count IS 'Transactions of client sessions (implicit single-statement ones included)';
COMMENT ON COLUMN @extschema@.stats.total_query_count IS 'Top-level client statements (statements run inside functions are not counted); a statement that fails in the executor or a utility counts, a syntax error does not';
COMMENT ON COLUMN @extschema@.stats.total_received IS 'Always NULL: bytes from clients are not measurable inside the server (PgBouncer counts them on its sockets)';
COMMENT ON COLUMN @extschema@.stats.total_sent IS 'Always NULL: bytes to clients are not measurable inside the server (PgBouncer counts them on its sockets)';
COMMENT ON COLUMN @extschema@.stats.total_xact_time IS 'Microseconds inside transactions, from their first statement to their end, idle in transaction included';
COMMENT ON COLUMN @extschema@.stats.total_query_time IS 'Microseconds executing client statements';
COMMENT ON COLUMN @extschema@.stats.total_wait_time IS 'Microseconds sessions waited in the login queue and transactions waited for an active slot (booked when the wait ends with a place, like PgBouncer books it when a client gets a server)';
COMMENT ON COLUMN @extschema@.stats.avg_xact_count IS 'Transactions per second over the stats window';
COMMENT ON COLUMN @extschema@.stats.avg_query_count IS 'Statements per second over the stats window';
COMMENT ON COLUMN @extschema@.stats.avg_recv IS 'Always NULL: see total_received';
COMMENT ON COLUMN @extschema@.stats.avg_sent IS 'Always NULL: see total_sent';
COMMENT ON COLUMN @extschema@.stats.avg_xact_time IS 'Microseconds per transaction over the stats window';
COMMENT ON COLUMN @extschema@.stats.avg_query_time IS 'Microseconds per statement over the stats window';
COMMENT ON COLUMN @extschema@.stats.avg_wait_time IS 'Microseconds of wait per server assignment (a login, or under max_active a transaction''s slot) over the stats window (PgBouncer 1.23+ meaning)';
COMMENT ON COLUMN @extschema@.stats.total_connections IS 'Sessions admitted';
COMMENT ON COLUMN @extschema@.stats.total_rejected IS 'Logins refused (rule full after queue_timeout, paused past the wait, disabled database)';
COMMENT ON COLUMN @extschema@.stats.total_terminated IS 'Sessions terminated by the governor';
COMMENT ON COLUMN @extschema@.stats.total_auth_failed IS 'Logins that failed authentication (a client hanging up at the password prompt is not counted)';
COMMENT ON COLUMN @extschema@.stats.stats_reset IS 'Last governor.reset_stats(), or server start';
COMMENT ON COLUMN @extschema@.pool_stats."user" IS 'Login role';
COMMENT ON COLUMN @extschema@.pool_stats.application_name IS 'application_name sent at login';
COMMENT ON COLUMN @extschema@.pool_stats.total_received IS 'Always NULL: not measurable inside the server';
COMMENT ON COLUMN @extschema@.pool_stats.total_sent IS 'Always NULL: not measurable inside the server';
COMMENT ON COLUMN @extschema@.pool_stats.avg_recv IS 'Always NULL: not measurable inside the server';
COMMENT ON COLUMN @extschema@.pool_stats.avg_sent IS 'Always NULL: not measurable inside the server';

CREATE FUNCTION @extschema@.reset_stats() RETURNS void
AS 'MODULE_PATHNAME', 'gov_reset_stats' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.reset_stats() IS
  'Zero the totals of governor.stats and governor.pool_stats and restart their averaging window (rule counters and events are kept)';

CREATE FUNCTION @extschema@._health(
    OUT signal text, OUT value float8, OUT warn float8, OUT crit float8,
    OUT status text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'gov_health' LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION @extschema@._health() IS 'Backs governor.health';

CREATE VIEW @extschema@.health AS SELECT * FROM @extschema@._health();
COMMENT ON VIEW @extschema@.health IS
  'One row per health signal: connection_usage_percent (registered sessions against max_connections minus reserved connections), waiting_sessions (queued at login or for an active slot), avg_wait_ms (wait per server assignment: a login, or under max_active a transaction''s slot, over the stats window), connection_error_rate_percent (refused + failed authentication over all login attempts in the stats window), rules_state (0: the rules of governor.rules are in force; 1: the last read failed and older rules stay in force; 2: none read since the server started). Thresholds: governor.health_* settings.';
COMMENT ON COLUMN @extschema@.health.signal IS 'Signal name; its unit is the suffix';
COMMENT ON COLUMN @extschema@.health.value IS 'Current value';
COMMENT ON COLUMN @extschema@.health.warn IS 'Value from which status is warn';
COMMENT ON COLUMN @extschema@.health.crit IS 'Value from which status is crit';
COMMENT ON COLUMN @extschema@.health.status IS 'ok, warn or crit';

CREATE FUNCTION @extschema@.metrics() RETURNS text
AS 'MODULE_PATHNAME', 'gov_metrics' LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION @extschema@.metrics() IS
  'Pools, stats, health, rule usage and the event counter in Prometheus text exposition format (names modelled on pgbouncer_exporter, prefix pg_governor_); the worker serves the same text on governor.metrics_listen_address';

REVOKE ALL ON FUNCTION @extschema@._stats(), @extschema@._pool_stats(),
    @extschema@._health(), @extschema@.metrics(),
    @extschema@.reset_stats() FROM PUBLIC;
REVOKE ALL ON @extschema@.stats, @extschema@.pool_stats, @extschema@.health FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._stats(), @extschema@._pool_stats(),
    @extschema@._health(), @extschema@.metrics() TO pg_monitor;
GRANT SELECT ON @extschema@.stats, @extschema@.pool_stats, @extschema@.health TO pg_monitor;

-- ------------------------------------------------------------------
-- Authentication circuit breaker (1.1)
-- ------------------------------------------------------------------
CREATE FUNCTION @extschema@._bans(
    OUT role text, OUT client_addr text, OUT failures int,
    OUT since timestamptz, OUT "until" timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'gov_bans' LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION @extschema@._bans() IS 'Backs governor.bans';
CREATE VIEW @extschema@.bans AS SELECT * FROM @extschema@._bans();
COMMENT ON VIEW @extschema@.bans IS
  'Active authentication bans: logins of the role from the address are refused at once (28000) until "until", after governor.auth_fail_limit failed authentications within governor.auth_fail_window; local socket logins are never blocked';
COMMENT ON COLUMN @extschema@.bans.role IS 'Role name the client logged in as; empty for roles that do not exist (one entry per address for all of them)';
COMMENT ON COLUMN @extschema@.bans.client_addr IS 'Client IP address';
COMMENT ON COLUMN @extschema@.bans.failures IS 'Failed authentications that led to the ban';
COMMENT ON COLUMN @extschema@.bans.since IS 'When the ban began';
COMMENT ON COLUMN @extschema@.bans."until" IS 'When it ends (governor.auth_ban_time after it began)';

CREATE FUNCTION @extschema@.unban(role name DEFAULT NULL, addr inet DEFAULT NULL) RETURNS int
AS 'MODULE_PATHNAME', 'gov_unban' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.unban(name, inet) IS
  'Lift the authentication bans of a role (NULL = any) from an address (NULL = any); returns how many were lifted';

REVOKE ALL ON FUNCTION @extschema@._bans(), @extschema@.unban(name, inet) FROM PUBLIC;
REVOKE ALL ON @extschema@.bans FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._bans() TO pg_monitor;
GRANT SELECT ON @extschema@.bans TO pg_monitor;

-- ------------------------------------------------------------------
-- Rules are read only in the database the worker connects to.
-- ------------------------------------------------------------------
-- Everything schema-qualified: this runs as the installing superuser.
-- Unset (NULL) compares to NULL, so no warning without the library.
DO $$
BEGIN
    IF pg_catalog.current_setting('governor.database', true)
       OPERATOR(pg_catalog.<>) pg_catalog.current_database() THEN
        RAISE WARNING 'governor.rules of database "%" will not be used', pg_catalog.current_database()
            USING DETAIL = pg_catalog.format('The pg_governor worker reads the rules of database "%s" (governor.database); the views work in every database.',
                                             pg_catalog.current_setting('governor.database', true)),
                  HINT = 'Create the extension in that database too to write rules there.';
    END IF;
END $$;
