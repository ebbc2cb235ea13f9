/*-------------------------------------------------------------------------
 *
 * compat.h
 *		Every PostgreSQL 13..18 difference pg_governor meets, in one place.
 *		The rest of the code calls these names and never tests
 *		PG_VERSION_NUM itself.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_GOVERNOR_COMPAT_H
#define PG_GOVERNOR_COMPAT_H

#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/proc.h"
#include "utils/elog.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

/*
 * Backend status and wait events (their names, and 17's
 * WaitEventExtensionNew): declared in pgstat.h on 13, in these headers
 * from 14 on.
 */
#if PG_VERSION_NUM >= 140000
#include "utils/backend_status.h"
#include "utils/wait_event.h"
#endif
#if PG_VERSION_NUM >= 170000
#include "storage/procnumber.h"
#endif

/*
 * The OIDs of the catalogs' indexes (DatabaseNameIndexId, ...) are declared
 * in each catalog's own header from 14 on, all in catalog/indexing.h before.
 */
#if PG_VERSION_NUM < 140000
#include "catalog/indexing.h"
#endif

/*
 * Noreturn functions: write "pg_noreturn" before the declaration, the form
 * 18 requires (it dropped pg_attribute_noreturn()); older servers get it
 * here with the same meaning.
 */
#ifndef pg_noreturn
#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define pg_noreturn _Noreturn
#elif defined(__GNUC__)
#define pg_noreturn __attribute__((noreturn))
#else
#define pg_noreturn
#endif
#endif

/*
 * This backend's PGPROC number (the registry index), a PGPROC's number,
 * and a PGPROC's local transaction id.
 */
#if PG_VERSION_NUM >= 170000
#define gov_my_procno()			((int) MyProcNumber)
#define gov_proc_lxid(proc)		((proc)->vxid.lxid)
#else
#define gov_my_procno()			(MyProc->pgprocno)
#define gov_proc_lxid(proc)		((proc)->lxid)
#endif

/*
 * TimestampDifferenceMilliseconds: 14 has it, 13 only from a later minor
 * release.  For 13 use our own under that name (a macro, so it does not
 * clash with the core declaration where the minor has one), clamped like
 * 17's to what WaitLatch accepts.
 */
#if PG_VERSION_NUM < 140000
static inline long
gov_timestamp_difference_ms(TimestampTz start_time, TimestampTz stop_time)
{
	TimestampTz diff = stop_time - start_time;

	if (diff <= 0)
		return 0;
	if (diff >= (INT_MAX * INT64CONST(1000) - 999))
		return (long) INT_MAX;
	return (long) ((diff + 999) / 1000);
}
#define TimestampDifferenceMilliseconds(start_time, stop_time) \
	gov_timestamp_difference_ms((start_time), (stop_time))
#endif

/* Shared memory must be requested from shmem_request_hook from 15 on. */
#if PG_VERSION_NUM >= 150000
#define GOV_HAVE_SHMEM_REQUEST_HOOK 1
#endif

/*
 * MaxBackends is valid in shmem_request_hook (15+); before that it is still
 * 0 while preloading, so compute it the way InitializeMaxBackends will.
 */
#if PG_VERSION_NUM >= 150000
#define gov_max_backends()		(MaxBackends)
#else
#include "postmaster/autovacuum.h"
#include "replication/walsender.h"
static inline int
gov_max_backends(void)
{
	return MaxConnections + autovacuum_max_workers + 1 +
		max_worker_processes + max_wal_senders;
}
#endif

/* Reserve the GUC prefix. */
#if PG_VERSION_NUM >= 150000
#define gov_reserve_guc_prefix(p)	MarkGUCPrefixReserved(p)
#else
#define gov_reserve_guc_prefix(p)	EmitWarningsOnPlaceholders(p)
#endif

/*
 * What a GUC check hook hands on in *extra: the GUC code frees it with
 * guc_free, so it comes from guc_malloc from 16 on, from malloc before.
 * NULL (after a LOG) when out of memory.
 */
#if PG_VERSION_NUM >= 160000
#include "utils/guc.h"
#define gov_guc_malloc(size)	guc_malloc(LOG, (size))
#else
#define gov_guc_malloc(size)	malloc(size)
#endif

/* Materialized set-returning functions. */
#if PG_VERSION_NUM >= 150000
#define gov_init_srf(fcinfo)	InitMaterializedSRF((fcinfo), 0)
#else
static inline void
gov_init_srf(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext oldcxt;
	TupleDesc	tupdesc;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	oldcxt = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = tuplestore_begin_heap(true, false, work_mem);
	rsinfo->setDesc = CreateTupleDescCopy(tupdesc);
	MemoryContextSwitchTo(oldcxt);
}
#endif

/* Drop this backend's snapshot of other backends' status. */
#if PG_VERSION_NUM >= 140000
#define gov_clear_status_snapshot()	pgstat_clear_backend_activity_snapshot()
#else
#define gov_clear_status_snapshot()	pgstat_clear_snapshot()
#endif

/*
 * Direct access to our own PgBackendStatus entry (14+ exports MyBEEntry).
 * 13 keeps it static: there the views fall back to the local snapshot.
 */
#if PG_VERSION_NUM >= 140000
#define GOV_HAVE_MYBEENTRY 1
#define gov_my_beentry()		((volatile void *) MyBEEntry)
#else
#define gov_my_beentry()		((volatile void *) NULL)
#endif

/* i-th entry (1-based) of the local backend-status snapshot. */
#if PG_VERSION_NUM >= 160000
#define gov_local_beentry(i)	pgstat_get_local_beentry_by_index(i)
#else
#define gov_local_beentry(i)	pgstat_fetch_stat_local_beentry(i)
#endif

/* 18 shows sessions still authenticating as STATE_STARTING. */
#if PG_VERSION_NUM >= 180000
#define GOV_STATE_IS_STARTING(s)	((s) == STATE_STARTING)
#else
#define GOV_STATE_IS_STARTING(s)	false
#endif

/* SQLSTATEs that only newer servers name. */
#define GOV_ERRCODE_IDLE_IN_XACT_TIMEOUT	MAKE_SQLSTATE('2','5','P','0','3')
#define GOV_ERRCODE_IDLE_SESSION_TIMEOUT	MAKE_SQLSTATE('5','7','P','0','5')
#if PG_VERSION_NUM >= 170000
#define GOV_ERRCODE_TRANSACTION_TIMEOUT		MAKE_SQLSTATE('2','5','P','0','4')
#else
/* Servers before 17 have no 25P04; clients there know 57P01. */
#define GOV_ERRCODE_TRANSACTION_TIMEOUT		ERRCODE_ADMIN_SHUTDOWN
#endif

/*
 * Signal a backend like pg_signal_backend: its whole process group, since
 * backends call setsid() (16+ dropped the HAVE_SETSID probe: every
 * non-Windows platform has it).
 */
#if defined(HAVE_SETSID) || (PG_VERSION_NUM >= 160000 && !defined(WIN32))
#define gov_kill_backend(pid, sig)	kill(-(pid), (sig))
#else
#define gov_kill_backend(pid, sig)	kill((pid), (sig))
#endif

/* ExecutorRun_hook lost its execute_once argument in 18. */
#if PG_VERSION_NUM >= 180000
#define GOV_EXECUTOR_RUN_ARGS	QueryDesc *queryDesc, ScanDirection direction, uint64 count
#define GOV_EXECUTOR_RUN_PASS	queryDesc, direction, count
#else
#define GOV_EXECUTOR_RUN_ARGS	QueryDesc *queryDesc, ScanDirection direction, uint64 count, bool execute_once
#define GOV_EXECUTOR_RUN_PASS	queryDesc, direction, count, execute_once
#endif

/* ProcessUtility_hook gained readOnlyTree in 14. */
#if PG_VERSION_NUM >= 140000
#define GOV_PROCESS_UTILITY_ARGS \
	PlannedStmt *pstmt, const char *queryString, bool readOnlyTree, \
	ProcessUtilityContext context, ParamListInfo params, \
	QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc
#define GOV_PROCESS_UTILITY_PASS \
	pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc
#else
#define GOV_PROCESS_UTILITY_ARGS \
	PlannedStmt *pstmt, const char *queryString, \
	ProcessUtilityContext context, ParamListInfo params, \
	QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc
#define GOV_PROCESS_UTILITY_PASS \
	pstmt, queryString, context, params, queryEnv, dest, qc
#endif

/* Connections ordinary roles may use: max_connections minus the reserved ones. */
#include "postmaster/postmaster.h"
#if PG_VERSION_NUM >= 160000
#define gov_usable_connections()	(MaxConnections - SuperuserReservedConnections - ReservedConnections)
#else
#define gov_usable_connections()	(MaxConnections - ReservedBackends)
#endif

/*
 * CreateWaitEventSet takes a ResourceOwner (NULL: untracked, allocated in
 * TopMemoryContext) from 17 on, a memory context before.
 */
#if PG_VERSION_NUM >= 170000
#define gov_create_wait_event_set(cxt, n)	CreateWaitEventSet(NULL, (n))
#else
#define gov_create_wait_event_set(cxt, n)	CreateWaitEventSet((cxt), (n))
#endif

/* A client that hangs up wakes a WaitEventSet from 15 on (WL_SOCKET_CLOSED). */
#if PG_VERSION_NUM >= 150000
#define GOV_HAVE_WL_SOCKET_CLOSED 1
#endif
#include <poll.h>
#ifdef POLLRDHUP
#define GOV_POLLRDHUP POLLRDHUP
#else
#define GOV_POLLRDHUP 0
#endif

/*
 * Wait event of the governor's queues: a name of its own in
 * pg_stat_activity from 17 on, "Extension" before.
 */
#if PG_VERSION_NUM >= 170000
#define gov_wait_event(name)	WaitEventExtensionNew(name)
#else
#define gov_wait_event(name)	PG_WAIT_EXTENSION
#endif

/*
 * Injection points (17+ servers built with --enable-injection-points),
 * where tests make a race deterministic; nothing elsewhere.  18 passes an
 * argument.
 */
#if PG_VERSION_NUM >= 180000
#include "utils/injection_point.h"
#define GOV_INJECTION_POINT(name)	INJECTION_POINT(name, NULL)
#elif PG_VERSION_NUM >= 170000
#include "utils/injection_point.h"
#define GOV_INJECTION_POINT(name)	INJECTION_POINT(name)
#else
#define GOV_INJECTION_POINT(name)	((void) 0)
#endif

/*
 * When the client's socket was accepted: 18 records it for every client
 * backend (conn_timing, GOV_HAVE_CONN_TIMING), so connection setup time
 * can be measured; 0 before 18.
 */
#if PG_VERSION_NUM >= 180000
#include "tcop/backend_startup.h"
#define GOV_HAVE_CONN_TIMING 1
#define gov_conn_socket_create()	(conn_timing.socket_create)
#else
#define gov_conn_socket_create()	((TimestampTz) 0)
#endif

/*
 * 17's transaction_timeout: a session can have the server end its own
 * transactions at a limit, exactly, with 25P04.
 */
#if PG_VERSION_NUM >= 170000
#include "utils/timeout.h"
#define GOV_HAVE_TRANSACTION_TIMEOUT 1
#define gov_server_xact_timeout()	(TransactionTimeout)
#define gov_server_xact_timer_stop() \
	do { \
		if (get_timeout_active(TRANSACTION_TIMEOUT)) \
			disable_timeout(TRANSACTION_TIMEOUT, false); \
	} while (0)
#define gov_server_xact_timer_start(ms)	enable_timeout_after(TRANSACTION_TIMEOUT, (ms))
#define gov_server_xact_timer_start_at(fin)	enable_timeout_at(TRANSACTION_TIMEOUT, (fin))
#endif

/* Intervals can be infinite from 17 on. */
#if PG_VERSION_NUM >= 170000
#define gov_interval_is_finite(iv)	(!INTERVAL_NOT_FINITE(iv))
#else
#define gov_interval_is_finite(iv)	true
#endif

/*
 * A monotonic clock in milliseconds, for the worker's cadences (a
 * wall-clock step must not stall them).  instr_time is a timespec before
 * 16 and a tick count from 16 on; its macros hide that.
 */
#include "portability/instr_time.h"
static inline int64
gov_monotonic_ms(void)
{
	instr_time	t;

	INSTR_TIME_SET_CURRENT(t);
	return (int64) INSTR_TIME_GET_MILLISEC(t);
}

#endif							/* PG_GOVERNOR_COMPAT_H */
