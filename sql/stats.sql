-- governor.stats / pool_stats / health / metrics(): columns, units, and
-- exact counts.  A session's own statement is booked when it ends, so a
-- query reading the stats never sees itself: deltas below are exact.
\getenv abs_srcdir PG_ABS_SRCDIR
\set fixture :abs_srcdir '/sql/fixture.psql'
\i :fixture

-- PgBouncer SHOW STATS columns, in wire order, then governance totals.
SELECT attname, format_type(atttypid, atttypmod)
  FROM pg_attribute
 WHERE attrelid = 'governor.stats'::regclass AND attnum > 0
 ORDER BY attnum;
SELECT string_agg(attname, ', ' ORDER BY attnum)
  FROM pg_attribute
 WHERE attrelid = 'governor.pool_stats'::regclass AND attnum > 0;
SELECT attname, format_type(atttypid, atttypmod)
  FROM pg_attribute
 WHERE attrelid = 'governor.health'::regclass AND attnum > 0
 ORDER BY attnum;

-- Settings: defaults and units.
SELECT name, setting, unit, context
  FROM pg_settings
 WHERE name IN ('governor.stats_period', 'governor.metrics_listen_address',
                'governor.metrics_port')
    OR name LIKE 'governor.health%'
 ORDER BY name;

-- Fresh session: its pool is (current db, current user, application_name).
\c
CREATE TEMP VIEW my_pool AS
  SELECT * FROM governor.pool_stats
   WHERE database = current_database() AND "user" = current_user
     AND application_name = current_setting('application_name');
SELECT total_xact_count AS x0, total_query_count AS q0,
       total_xact_time AS xt0, total_query_time AS qt0,
       total_connections AS c0
  FROM my_pool \gset

-- 1 transaction with 4 statements, 3 single-statement transactions,
-- 1 statement failing in the executor (1 transaction, 1 query), a
-- savepoint block with a failing statement (1 transaction, 5 statements),
-- a DO block running statements inside (1 statement: nested ones are not
-- client queries), and one error raised while planning (1 transaction,
-- no query: it never reached the executor).
BEGIN;
SELECT 1 AS one;
SELECT 2 AS two;
COMMIT;
SELECT 3 AS three;
SELECT 4 AS four;
SELECT 5 AS five;
SELECT 1 / (random() * 0)::int;
BEGIN;
SAVEPOINT a;
SELECT 1 / (random() * 0)::int;
ROLLBACK TO a;
COMMIT;
DO $$ BEGIN PERFORM 1; PERFORM 2; PERFORM count(*) FROM pg_class; END $$;
SELECT 1/0;

-- Expect 8 transactions and 14 queries, +1 each for the \gset SELECT.
SELECT total_xact_count - :x0 AS xacts, total_query_count - :q0 AS queries
  FROM my_pool;

-- A function that catches an error of a query it runs (its subtransaction
-- unwinds the nested executor calls) leaves the counting exact.
CREATE FUNCTION gov_catch() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    PERFORM 1 / (random() * 0)::int;
  EXCEPTION WHEN division_by_zero THEN
    RETURN 1;
  END;
  RETURN 0;
END $$;
SELECT total_xact_count AS x0, total_query_count AS q0 FROM my_pool \gset
SELECT gov_catch();
SELECT 6 AS six;
BEGIN;
SELECT 7 AS seven;
SAVEPOINT b;
SELECT gov_catch();
RELEASE b;
SELECT 8 AS eight;
COMMIT;
-- Expect 4 transactions and 10 queries, the \gset SELECT included.
SELECT total_xact_count - :x0 AS xacts, total_query_count - :q0 AS queries
  FROM my_pool;

-- Units are microseconds; idle in transaction counts in xact time only.
SELECT total_xact_count AS x0, total_query_count AS q0,
       total_xact_time AS xt0, total_query_time AS qt0
  FROM my_pool \gset
BEGIN;
\! sleep 0.5
COMMIT;
SELECT pg_sleep(0.2);
SELECT total_xact_time - :xt0 >= 700000 AS xact_time_has_idle_and_sleep,
       total_xact_time - :xt0 < 60000000 AS xact_time_in_microseconds,
       total_query_time - :qt0 >= 200000 AS query_time_has_sleep,
       total_query_time - :qt0 < 500000 AS query_time_has_no_idle
  FROM my_pool;

-- Totals survive the end of the session, and the new login counts (the
-- old session drops its temp view at exit: not a client transaction).
SELECT total_xact_count AS x0, total_query_count AS q0 FROM my_pool \gset
\c
SELECT total_xact_count - :x0 AS xacts, total_query_count - :q0 AS queries,
       total_connections - :c0 AS new_logins
  FROM governor.pool_stats
 WHERE database = current_database() AND "user" = current_user
   AND application_name = current_setting('application_name');

-- governor.stats sums the pools of each database.
SELECT s.total_xact_count = p.x AND s.total_query_count = p.q
       AND s.total_connections = p.c AS stats_sum_pools
  FROM governor.stats s
  JOIN (SELECT database, sum(total_xact_count) x, sum(total_query_count) q,
               sum(total_connections) c
          FROM governor.pool_stats GROUP BY database) p USING (database)
 WHERE s.database = current_database();

-- No byte counts server-side.
SELECT total_received IS NULL AND total_sent IS NULL AND avg_recv IS NULL
       AND avg_sent IS NULL AS bytes_are_null
  FROM governor.stats WHERE database = current_database();

-- reset_stats(): zero, then only what ran since (the reset statement).
SELECT governor.reset_stats();
SELECT total_xact_count, total_query_count, total_connections,
       stats_reset > now() - interval '1 minute' AS reset_recorded
  FROM governor.pool_stats
 WHERE database = current_database() AND "user" = current_user
   AND application_name = current_setting('application_name');

-- Health: four signals, default thresholds.
SELECT signal, warn, crit, status IN ('ok', 'warn', 'crit') AS status_ok
  FROM governor.health ORDER BY signal;

-- Metrics: Prometheus text (promtool checks it in the TAP test).
SELECT m LIKE '%# TYPE pg_governor_stats_totals_sql_transactions_pooled_total counter%' AS has_xacts,
       m LIKE '%# TYPE pg_governor_pools_client_active_connections gauge%' AS has_pools,
       m LIKE '%pg_governor_health_status{signal="waiting_sessions"}%' AS has_health,
       m LIKE '%# TYPE pg_governor_events_total counter%' AS has_events
  FROM governor.metrics() m;

-- Privileges: pg_monitor reads, only superusers reset.
CREATE ROLE regress_stats_monitor IN ROLE pg_monitor;
CREATE ROLE regress_stats_nobody;
SET ROLE regress_stats_monitor;
SELECT count(*) > 0 AS monitor_reads FROM governor.stats;
SELECT count(*) = 5 AS monitor_reads_health FROM governor.health;
SELECT length(governor.metrics()) > 0 AS monitor_reads_metrics;
SELECT governor.reset_stats();
RESET ROLE;
SET ROLE regress_stats_nobody;
SELECT * FROM governor.stats;
RESET ROLE;
DROP ROLE regress_stats_monitor, regress_stats_nobody;
