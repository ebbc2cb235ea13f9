/* pg_governor 1.0 -> 1.1 */

\echo Use "ALTER EXTENSION pg_governor UPDATE TO '1.1'" to load this file. \quit

-- New rule columns: login rate, queue order, eviction, priority.
ALTER TABLE @extschema@.rules
    ADD COLUMN max_login_rate numeric,
    ADD COLUMN login_burst int,
    ADD COLUMN queue_order text NOT NULL DEFAULT 'fifo',
    ADD COLUMN evict_idle_after interval,
    ADD COLUMN priority int;
COMMENT ON COLUMN @extschema@.rules.max_active IS 'Sessions of this rule inside a transaction at once; a session starting a transaction past it waits in the rule''s queue (active-transaction slots); NULL = no cap';
COMMENT ON COLUMN @extschema@.rules.max_login_rate IS 'New logins per second admitted into this rule (token bucket); logins over the rate wait in its queue; NULL = no limit';
COMMENT ON COLUMN @extschema@.rules.login_burst IS 'Logins that may arrive at once before max_login_rate applies; NULL = ceil(max_login_rate)';
COMMENT ON COLUMN @extschema@.rules.queue_order IS 'Who gets a freed slot first: fifo (the longest waiter) or fair (the waiter whose pool holds the fewest of the rule''s slots; ties: the longest waiter)';
COMMENT ON COLUMN @extschema@.rules.evict_idle_after IS 'A login waiting for this rule may take the slot of its longest-idle session once that session has been idle (outside a transaction) this long; NULL = never';
COMMENT ON COLUMN @extschema@.rules.priority IS 'A session''s priority is the highest of its rules''; among waiters for the same slots, higher priority goes first; NULL = 0';

-- Validation: max_active, the new columns, bounds, patterns that can
-- never match, names that do not exist.
CREATE OR REPLACE FUNCTION @extschema@._validate_rule() RETURNS trigger
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

-- The rule count check serializes concurrent changes (C).
CREATE OR REPLACE FUNCTION @extschema@._check_rule_count() RETURNS trigger
AS 'MODULE_PATHNAME', 'gov_check_rule_count' LANGUAGE C;

-- rule_usage gains active-slot, rate, eviction and problem columns.
DROP VIEW @extschema@.rule_usage;
DROP FUNCTION @extschema@._rule_usage();
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

REVOKE ALL ON FUNCTION @extschema@._rule_usage() FROM PUBLIC;
REVOKE ALL ON @extschema@.rule_usage FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._rule_usage() TO pg_monitor;
GRANT SELECT ON @extschema@.rule_usage TO pg_monitor;

COMMENT ON VIEW @extschema@.events IS 'The last governor.max_events actions, oldest first: reject, would_reject, terminate, would_terminate, kill, reconnect, evict, would_wait, ban, banned_reject, abandon (a queued client hung up), rule_problem (a rule stopped matching anyone)';
COMMENT ON COLUMN @extschema@.stats.total_wait_time IS 'Microseconds sessions waited in the login queue and transactions waited for an active slot (booked when the wait ends with a place, like PgBouncer books it when a client gets a server)';
COMMENT ON COLUMN @extschema@.stats.avg_wait_time IS 'Microseconds of wait per server assignment (a login, or under max_active a transaction''s slot) over the stats window (PgBouncer 1.23+ meaning)';
COMMENT ON VIEW @extschema@.health IS
  'One row per health signal: connection_usage_percent (registered sessions against max_connections minus reserved connections), waiting_sessions (queued at login or for an active slot), avg_wait_ms (wait per server assignment: a login, or under max_active a transaction''s slot, over the stats window), connection_error_rate_percent (refused + failed authentication over all login attempts in the stats window), rules_state (0: the rules of governor.rules are in force; 1: the last read failed and older rules stay in force; 2: none read since the server started). Thresholds: governor.health_* settings.';

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
