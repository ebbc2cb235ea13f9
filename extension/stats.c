/*-------------------------------------------------------------------------
 *
 * stats.c
 *		Per-session counters (transactions, queries and their durations,
 *		as PgBouncer's SHOW STATS counts them), the averaging window, and
 *		the SQL functions behind governor.stats, governor.pool_stats,
 *		governor.reset_stats() and governor.health.
 *
 * Query path: executor, utility and transaction-end hooks update the
 * session's own GovSlot.counters with pg_atomic_write_u64 (single writer:
 * a plain store, no lock, no locked instruction).  Each statement costs at
 * most one clock read: a statement that ends its transaction (implicit
 * transactions, COMMIT, ROLLBACK) is booked at the transaction-end
 * callback with the clock read that books the transaction.
 *
 * Readers (views, health, metrics, worker window) take gov->lock
 * LW_SHARED, copy the pool table under gov->pools_lock LW_SHARED, and add
 * the counters of live slots.  A session folds its counters into its pool
 * inside a gov->lock LW_EXCLUSIVE section (registry.c), so a reader never
 * counts a session twice or loses one: live totals never go down.
 *
 * The window: every governor.stats_period the worker (gov_stats_tick)
 * moves each pool's last snapshot to prev and takes a new last one, under
 * gov->pools_lock LW_EXCLUSIVE.  avg_* = (live - prev) / (now - prev_time):
 * a window 1 to 2 periods wide that ends at the query, like PgBouncer.
 * reset_stats() makes every live total 0 by storing minus the live
 * sessions' counters in the pool totals (uint64 arithmetic is modular, so
 * totals + counters = 0 and grows from there); it needs no write to
 * another session's slot.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <limits.h>

#include "access/xact.h"
#include "executor/executor.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/ipc.h"
#include "tcop/pquery.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "pg_governor.h"

PG_FUNCTION_INFO_V1(gov_stats);
PG_FUNCTION_INFO_V1(gov_pool_stats);
PG_FUNCTION_INFO_V1(gov_reset_stats);
PG_FUNCTION_INFO_V1(gov_health);

/* Settings. */
int			gov_stats_period_s = 60;
static double gov_health_conn_warn = 70;
static double gov_health_conn_crit = 90;
static int	gov_health_waiting_warn = 5;
static int	gov_health_waiting_crit = 20;
static int	gov_health_wait_warn_ms = 100;
static int	gov_health_wait_crit_ms = 500;
static double gov_health_errors_warn = 1;
static double gov_health_errors_crit = 5;

/* Previous hooks. */
static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/*
 * Statement tracking of this backend.  nesting counts executor and utility
 * calls we are inside of (restored by PG_FINALLY on error), so a statement
 * run by a function is not a client query.
 */
typedef enum GovQueryState
{
	GOV_Q_NONE = 0,
	GOV_Q_OPEN,					/* started, not finished */
	GOV_Q_PENDING				/* finished; booked at the next clock read */
} GovQueryState;

static int	gov_nesting = 0;
static GovQueryState gov_q_state = GOV_Q_NONE;
static TimestampTz gov_q_start = 0;
static TimestampTz gov_last_end = 0;	/* end of the last booked query */

static void gov_xact_callback(XactEvent event, void *arg);
static void gov_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
								 SubTransactionId parentSubid, void *arg);

/* ----------------------------------------------------------------
 * Settings and hooks
 * ----------------------------------------------------------------
 */
void
gov_stats_define_settings(void)
{
	DefineCustomIntVariable("governor.stats_period",
							"Width of the window behind the avg_* columns of governor.stats.",
							"The worker takes a snapshot of every pool this often; averages cover the last one to two periods, like PgBouncer's stats_period.",
							&gov_stats_period_s, 60, 1, 86400,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomRealVariable("governor.health_connections_warn",
							 "governor.health: connection usage (percent of usable connections) that is a warning.",
							 "Usable connections are max_connections minus the reserved ones.",
							 &gov_health_conn_warn, 70, 0, 1000,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("governor.health_connections_crit",
							 "governor.health: connection usage (percent of usable connections) that is critical.",
							 NULL,
							 &gov_health_conn_crit, 90, 0, 1000,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("governor.health_waiting_warn",
							"governor.health: number of sessions queued at login that is a warning.",
							NULL,
							&gov_health_waiting_warn, 5, 0, INT_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("governor.health_waiting_crit",
							"governor.health: number of sessions queued at login that is critical.",
							NULL,
							&gov_health_waiting_crit, 20, 0, INT_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("governor.health_wait_warn",
							"governor.health: average admission wait over the stats period that is a warning.",
							NULL,
							&gov_health_wait_warn_ms, 100, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("governor.health_wait_crit",
							"governor.health: average admission wait over the stats period that is critical.",
							NULL,
							&gov_health_wait_crit_ms, 500, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomRealVariable("governor.health_errors_warn",
							 "governor.health: percent of login attempts refused or failing authentication over the stats period that is a warning.",
							 NULL,
							 &gov_health_errors_warn, 1, 0, 100,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("governor.health_errors_crit",
							 "governor.health: percent of login attempts refused or failing authentication over the stats period that is critical.",
							 NULL,
							 &gov_health_errors_crit, 5, 0, 100,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
}

static void gov_ExecutorStart(QueryDesc *queryDesc, int eflags);
static void gov_ExecutorRun(GOV_EXECUTOR_RUN_ARGS);
static void gov_ExecutorFinish(QueryDesc *queryDesc);
static void gov_ExecutorEnd(QueryDesc *queryDesc);
static void gov_ProcessUtility(GOV_PROCESS_UTILITY_ARGS);

void
gov_stats_init(void)
{
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = gov_ExecutorStart;
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = gov_ExecutorRun;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = gov_ExecutorFinish;
	prev_ExecutorEnd = ExecutorEnd_hook;
	ExecutorEnd_hook = gov_ExecutorEnd;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = gov_ProcessUtility;
	RegisterXactCallback(gov_xact_callback, NULL);
	RegisterSubXactCallback(gov_subxact_callback, NULL);
}

/* ----------------------------------------------------------------
 * Counting
 * ----------------------------------------------------------------
 */

/* Single writer: read + store, no locked instruction. */
static inline void
gov_counter_add(pg_atomic_uint64 *c, uint64 delta)
{
	pg_atomic_write_u64(c, pg_atomic_read_u64(c) + delta);
}

static void
gov_book_query(TimestampTz end)
{
	GovCounters *c = &gov_my_slot->counters;

	gov_counter_add(&c->query_count, 1);
	if (end > gov_q_start)
		gov_counter_add(&c->query_time_us, (uint64) (end - gov_q_start));
	if (end > gov_last_end)
		gov_last_end = end;
	gov_q_state = GOV_Q_NONE;
}

/* A client statement starts (no clock read: the server stamped it). */
static void
gov_query_start(void)
{
	TimestampTz start = GetCurrentStatementStartTimestamp();

	/* The previous one ended no later than this one started (pipelining). */
	if (gov_q_state != GOV_Q_NONE)
		gov_book_query(Max(start, gov_q_start));
	/* Statements of one multi-statement message share their stamp. */
	gov_q_start = Max(start, gov_last_end);
	gov_q_state = GOV_Q_OPEN;
}

/*
 * A client statement finished.  If its transaction ends right after it,
 * the transaction-end callback books both with one clock read.
 */
static void
gov_query_done(bool xact_ends)
{
	if (gov_q_state != GOV_Q_OPEN)
		return;
	if (xact_ends)
		gov_q_state = GOV_Q_PENDING;
	else
		gov_book_query(GetCurrentTimestamp());
}

/*
 * A top-level executor call: not nested in another executor or utility
 * call, and run by a portal (SPI queries run while planning the client's
 * statement have no active portal).
 */
#define GOV_TOP_LEVEL() \
	(gov_my_slot != NULL && gov_nesting == 0 && ActivePortal != NULL)

static void
gov_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	if (gov_my_slot == NULL)
	{
		if (prev_ExecutorStart)
			prev_ExecutorStart(queryDesc, eflags);
		else
			standard_ExecutorStart(queryDesc, eflags);
		return;
	}
	if (GOV_TOP_LEVEL() && !(eflags & EXEC_FLAG_EXPLAIN_ONLY))
		gov_query_start();
	gov_nesting++;
	PG_TRY();
	{
		if (prev_ExecutorStart)
			prev_ExecutorStart(queryDesc, eflags);
		else
			standard_ExecutorStart(queryDesc, eflags);
	}
	PG_FINALLY();
	{
		gov_nesting--;
	}
	PG_END_TRY();
}

/* A SELECT is done when its run returns: the portal may be closed much later. */
static inline bool
gov_done_after_run(QueryDesc *queryDesc)
{
	return queryDesc->operation == CMD_SELECT &&
		!queryDesc->plannedstmt->hasModifyingCTE;
}

static void
gov_ExecutorRun(GOV_EXECUTOR_RUN_ARGS)
{
	bool		top;

	if (gov_my_slot == NULL)
	{
		if (prev_ExecutorRun)
			prev_ExecutorRun(GOV_EXECUTOR_RUN_PASS);
		else
			standard_ExecutorRun(GOV_EXECUTOR_RUN_PASS);
		return;
	}
	top = GOV_TOP_LEVEL();
	/* Another Execute of a portal whose earlier run was booked. */
	if (top && gov_q_state != GOV_Q_OPEN)
		gov_query_start();
	gov_nesting++;
	PG_TRY();
	{
		if (prev_ExecutorRun)
			prev_ExecutorRun(GOV_EXECUTOR_RUN_PASS);
		else
			standard_ExecutorRun(GOV_EXECUTOR_RUN_PASS);
	}
	PG_FINALLY();
	{
		gov_nesting--;
	}
	PG_END_TRY();
	if (top && gov_done_after_run(queryDesc))
		gov_query_done(!IsTransactionBlock());
}

static void
gov_ExecutorFinish(QueryDesc *queryDesc)
{
	if (gov_my_slot == NULL)
	{
		if (prev_ExecutorFinish)
			prev_ExecutorFinish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);
		return;
	}
	gov_nesting++;
	PG_TRY();
	{
		if (prev_ExecutorFinish)
			prev_ExecutorFinish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);
	}
	PG_FINALLY();
	{
		gov_nesting--;
	}
	PG_END_TRY();
}

static void
gov_ExecutorEnd(QueryDesc *queryDesc)
{
	bool		top = GOV_TOP_LEVEL() && gov_q_state == GOV_Q_OPEN;

	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
	if (top)
		gov_query_done(!IsTransactionBlock());
}

/* COMMIT, ROLLBACK, PREPARE TRANSACTION: the transaction ends right after. */
static bool
gov_ends_transaction(PlannedStmt *pstmt)
{
	Node	   *stmt = pstmt->utilityStmt;

	if (stmt == NULL || !IsA(stmt, TransactionStmt))
		return false;
	switch (((TransactionStmt *) stmt)->kind)
	{
		case TRANS_STMT_COMMIT:
		case TRANS_STMT_ROLLBACK:
		case TRANS_STMT_PREPARE:
			return true;
		default:
			return false;
	}
}

static void
gov_ProcessUtility(GOV_PROCESS_UTILITY_ARGS)
{
	bool		top;
	volatile bool was_aborted = false;

	if (gov_my_slot == NULL)
	{
		if (prev_ProcessUtility)
			prev_ProcessUtility(GOV_PROCESS_UTILITY_PASS);
		else
			standard_ProcessUtility(GOV_PROCESS_UTILITY_PASS);
		return;
	}
	top = gov_nesting == 0;
	if (top)
	{
		/* In a failed block the transaction was already booked at the error. */
		was_aborted = IsAbortedTransactionBlockState();
		gov_query_start();
	}
	gov_nesting++;
	PG_TRY();
	{
		if (prev_ProcessUtility)
			prev_ProcessUtility(GOV_PROCESS_UTILITY_PASS);
		else
			standard_ProcessUtility(GOV_PROCESS_UTILITY_PASS);
	}
	PG_FINALLY();
	{
		gov_nesting--;
	}
	PG_END_TRY();
	if (top)
		gov_query_done(!was_aborted &&
					   (!IsTransactionBlock() || gov_ends_transaction(pstmt)));
}

/*
 * Transaction end: one clock read books the transaction (its time runs
 * from its first statement, idle-in-transaction included) and a query
 * that ended with it or failed.  It must not throw: stores only.
 */
static void
gov_xact_callback(XactEvent event, void *arg)
{
	GovSlot    *slot = gov_my_slot;
	TimestampTz start;
	TimestampTz now;

	/* Exit-time work (temp objects cleanup) is not a client transaction. */
	if (slot == NULL || proc_exit_inprogress)
		return;
	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PREPARE)
		return;
	start = GetCurrentTransactionStartTimestamp();
	/* The login transaction is not a client transaction. */
	if (slot->state != GOV_SLOT_ADMITTED || start < slot->admit_time)
		return;
	now = GetCurrentTimestamp();
	/* Inside a procedure (nesting > 0) its CALL is still running. */
	if (gov_nesting == 0 && gov_q_state != GOV_Q_NONE)
		gov_book_query(now);
	gov_counter_add(&slot->counters.xact_count, 1);
	if (now > start)
		gov_counter_add(&slot->counters.xact_time_us, (uint64) (now - start));
	gov_last_end = now;
}

/* A client statement failed inside a savepoint: book it now. */
static void
gov_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					 SubTransactionId parentSubid, void *arg)
{
	if (event != SUBXACT_EVENT_ABORT_SUB || gov_my_slot == NULL)
		return;
	if (gov_nesting == 0 && gov_q_state == GOV_Q_OPEN)
		gov_book_query(GetCurrentTimestamp());
}

/* ----------------------------------------------------------------
 * Reading: live totals, window, averages
 * ----------------------------------------------------------------
 */
static inline void
gov_totals_add_counters(GovPoolTotals *t, GovCounters *c)
{
	t->xact_count += pg_atomic_read_u64(&c->xact_count);
	t->query_count += pg_atomic_read_u64(&c->query_count);
	t->xact_time_us += pg_atomic_read_u64(&c->xact_time_us);
	t->query_time_us += pg_atomic_read_u64(&c->query_time_us);
	t->wait_time_us += pg_atomic_read_u64(&c->wait_time_us);
}

static void
gov_totals_add(GovPoolTotals *t, const GovPoolTotals *a)
{
	t->xact_count += a->xact_count;
	t->query_count += a->query_count;
	t->xact_time_us += a->xact_time_us;
	t->query_time_us += a->query_time_us;
	t->wait_time_us += a->wait_time_us;
	t->connections += a->connections;
	t->rejected += a->rejected;
	t->terminated += a->terminated;
	t->auth_failed += a->auth_failed;
}

static void
gov_min_time(TimestampTz *acc, TimestampTz v)
{
	if (v != 0 && (*acc == 0 || v < *acc))
		*acc = v;
}

/*
 * Live totals of every pool (pool totals + live sessions' counters), its
 * window start, and with gauges = true the per-pool session counts of
 * governor.pools.  Allocates before taking any lock.
 */
void
gov_stats_collect(GovStatsView *view, bool gauges)
{
	int			npool = gov_max_pools + 1;
	int			i;

	memset(view, 0, sizeof(*view));
	view->npools = npool;
	view->pools = palloc0(sizeof(GovPoolLive) * npool);
	view->now = GetCurrentTimestamp();

	/* gov->lock shared: no session folds its counters while we sum. */
	LWLockAcquire(gov->lock, LW_SHARED);
	LWLockAcquire(gov->pools_lock, LW_SHARED);
	view->stats_reset = gov->stats_reset_time;
	for (i = 0; i < npool; i++)
	{
		GovPool    *pool = &gov_pool_array[i];
		GovPoolLive *pl = &view->pools[i];

		if (i < gov->npools || (i == gov_max_pools && pool->overflow))
		{
			pl->used = true;
			pl->key = pool->key;
			pl->live = pool->totals;
			pl->prev = pool->prev_snapshot;
			pl->prev_time = pool->prev_snapshot_time;
		}
	}
	LWLockRelease(gov->pools_lock);

	for (i = 0; i < gov_nslots; i++)
	{
		GovSlot    *slot = &gov_slots[i];
		GovPoolLive *pl;

		if (slot->pid == 0)
			continue;
		if (slot->exempt != GOV_EXEMPT_REPLICATION)
			view->in_use++;
		if (slot->state == GOV_SLOT_WAITING)
			view->waiting++;
		if (slot->pool < 0 || slot->pool >= npool || !view->pools[slot->pool].used)
			continue;
		pl = &view->pools[slot->pool];
		gov_totals_add_counters(&pl->live, &slot->counters);
		if (gauges)
			gov_gauges_add(&pl->g, slot, i);
	}
	LWLockRelease(gov->lock);
	if (gauges)
		gov_clear_status_snapshot();
}

/*
 * Per-database rows: sums of the pools of each database, in order of
 * first appearance; prev_time is the earliest window start among them.
 */
GovPoolLive *
gov_stats_by_database(const GovStatsView *view, int *ndb)
{
	GovPoolLive *dbs = palloc0(sizeof(GovPoolLive) * view->npools);
	int			n = 0;
	int			i;

	for (i = 0; i < view->npools; i++)
	{
		const GovPoolLive *pl = &view->pools[i];
		GovPoolLive *d = NULL;
		int			j;

		if (!pl->used)
			continue;
		for (j = 0; j < n; j++)
			if (strcmp(NameStr(dbs[j].key.database), NameStr(pl->key.database)) == 0)
			{
				d = &dbs[j];
				break;
			}
		if (d == NULL)
		{
			d = &dbs[n++];
			d->used = true;
			d->key.database = pl->key.database;
		}
		gov_totals_add(&d->live, &pl->live);
		gov_totals_add(&d->prev, &pl->prev);
		gov_min_time(&d->prev_time, pl->prev_time);
		d->g.sessions += pl->g.sessions;
		d->g.cl_active += pl->g.cl_active;
		d->g.cl_waiting += pl->g.cl_waiting;
		d->g.sv_active += pl->g.sv_active;
		d->g.sv_idle += pl->g.sv_idle;
		d->g.sv_login += pl->g.sv_login;
		d->g.idle_in_xact += pl->g.idle_in_xact;
		d->g.waiting_on_lock += pl->g.waiting_on_lock;
		gov_min_time(&d->g.oldest_wait, pl->g.oldest_wait);
		gov_min_time(&d->g.oldest_xact, pl->g.oldest_xact);
	}
	*ndb = n;
	return dbs;
}

/* PgBouncer 1.23+ averages: rates per second, times per event. */
void
gov_stats_averages(const GovPoolTotals *live, const GovPoolTotals *prev,
				   int64 window_us, GovAverages *avg)
{
	uint64		dxact = live->xact_count - prev->xact_count;
	uint64		dquery = live->query_count - prev->query_count;
	uint64		dconn = live->connections - prev->connections;

	memset(avg, 0, sizeof(*avg));
	if (window_us <= 0)
		return;
	avg->xact_count = (int64) ((double) dxact * USECS_PER_SEC / window_us);
	avg->query_count = (int64) ((double) dquery * USECS_PER_SEC / window_us);
	if (dxact > 0)
		avg->xact_time = (int64) ((live->xact_time_us - prev->xact_time_us) / dxact);
	if (dquery > 0)
		avg->query_time = (int64) ((live->query_time_us - prev->query_time_us) / dquery);
	if (dconn > 0)
		avg->wait_time = (int64) ((live->wait_time_us - prev->wait_time_us) / dconn);
}

/*
 * Worker, every tick: once per governor.stats_period, rotate every pool's
 * snapshots.  A pool created since keeps the window start registry.c gave
 * it.  Skipped if reset_stats() ran while we were collecting.
 */
void
gov_stats_tick(void)
{
	static TimestampTz last_tick = 0;
	GovStatsView view;
	TimestampTz now = GetCurrentTimestamp();
	int			i;

	if (last_tick != 0 &&
		!TimestampDifferenceExceeds(last_tick, now, gov_stats_period_s * 1000))
		return;
	last_tick = now;

	gov_stats_collect(&view, false);
	LWLockAcquire(gov->pools_lock, LW_EXCLUSIVE);
	if (gov->stats_reset_time == view.stats_reset)
	{
		for (i = 0; i < view.npools; i++)
		{
			GovPool    *pool = &gov_pool_array[i];

			if (!view.pools[i].used)
				continue;
			pool->prev_snapshot = pool->last_snapshot;
			pool->prev_snapshot_time = pool->last_snapshot_time;
			pool->last_snapshot = view.pools[i].live;
			pool->last_snapshot_time = view.now;
		}
	}
	LWLockRelease(gov->pools_lock);
	pfree(view.pools);
}

/* ----------------------------------------------------------------
 * SQL: governor.stats, governor.pool_stats, governor.reset_stats()
 * ----------------------------------------------------------------
 */
#define GOV_STATS_COLS 20		/* after the key columns */

static void
gov_stats_values(const GovPoolLive *pl, TimestampTz now, TimestampTz reset,
				 Datum *values, bool *nulls)
{
	GovAverages avg;
	int			c = 0;

	gov_stats_averages(&pl->live, &pl->prev,
					   pl->prev_time ? now - pl->prev_time : 0, &avg);
	values[c++] = Int64GetDatum((int64) pl->live.xact_count);
	values[c++] = Int64GetDatum((int64) pl->live.query_count);
	nulls[c++] = true;			/* total_received: not measurable server-side */
	nulls[c++] = true;			/* total_sent */
	values[c++] = Int64GetDatum((int64) pl->live.xact_time_us);
	values[c++] = Int64GetDatum((int64) pl->live.query_time_us);
	values[c++] = Int64GetDatum((int64) pl->live.wait_time_us);
	values[c++] = Int64GetDatum(avg.xact_count);
	values[c++] = Int64GetDatum(avg.query_count);
	nulls[c++] = true;			/* avg_recv */
	nulls[c++] = true;			/* avg_sent */
	values[c++] = Int64GetDatum(avg.xact_time);
	values[c++] = Int64GetDatum(avg.query_time);
	values[c++] = Int64GetDatum(avg.wait_time);
	values[c++] = Int64GetDatum((int64) pl->live.connections);
	values[c++] = Int64GetDatum((int64) pl->live.rejected);
	values[c++] = Int64GetDatum((int64) pl->live.terminated);
	values[c++] = Int64GetDatum((int64) pl->live.auth_failed);
	values[c++] = TimestampTzGetDatum(reset);
	Assert(c == GOV_STATS_COLS - 1);
}

Datum
gov_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	GovStatsView view;
	GovPoolLive *dbs;
	int			ndb;
	int			i;

	gov_require_preload();
	gov_init_srf(fcinfo);
	gov_stats_collect(&view, false);
	dbs = gov_stats_by_database(&view, &ndb);
	for (i = 0; i < ndb; i++)
	{
		Datum		values[GOV_STATS_COLS];
		bool		nulls[GOV_STATS_COLS];

		memset(nulls, 0, sizeof(nulls));
		values[0] = CStringGetTextDatum(NameStr(dbs[i].key.database));
		gov_stats_values(&dbs[i], view.now, view.stats_reset, values + 1, nulls + 1);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

Datum
gov_pool_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	GovStatsView view;
	int			i;

	gov_require_preload();
	gov_init_srf(fcinfo);
	gov_stats_collect(&view, false);
	for (i = 0; i < view.npools; i++)
	{
		GovPoolLive *pl = &view.pools[i];
		Datum		values[GOV_STATS_COLS + 2];
		bool		nulls[GOV_STATS_COLS + 2];

		if (!pl->used)
			continue;
		memset(nulls, 0, sizeof(nulls));
		values[0] = CStringGetTextDatum(NameStr(pl->key.database));
		values[1] = CStringGetTextDatum(NameStr(pl->key.role));
		values[2] = CStringGetTextDatum(NameStr(pl->key.appname));
		gov_stats_values(pl, view.now, view.stats_reset, values + 3, nulls + 3);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

static inline void
gov_totals_sub_counters(GovPoolTotals *t, GovCounters *c)
{
	t->xact_count -= pg_atomic_read_u64(&c->xact_count);
	t->query_count -= pg_atomic_read_u64(&c->query_count);
	t->xact_time_us -= pg_atomic_read_u64(&c->xact_time_us);
	t->query_time_us -= pg_atomic_read_u64(&c->query_time_us);
	t->wait_time_us -= pg_atomic_read_u64(&c->wait_time_us);
}

/*
 * Zero every pool's live totals and restart the window.  Live sessions'
 * counters stay untouched (their owner writes them without a lock); the
 * pool totals take minus their value instead.
 */
Datum
gov_reset_stats(PG_FUNCTION_ARGS)
{
	TimestampTz now = GetCurrentTimestamp();
	int			i;

	gov_require_preload();
	LWLockAcquire(gov->lock, LW_SHARED);
	LWLockAcquire(gov->pools_lock, LW_EXCLUSIVE);
	for (i = 0; i <= gov_max_pools; i++)
	{
		GovPool    *pool = &gov_pool_array[i];

		memset(&pool->totals, 0, sizeof(pool->totals));
		memset(&pool->prev_snapshot, 0, sizeof(pool->prev_snapshot));
		memset(&pool->last_snapshot, 0, sizeof(pool->last_snapshot));
		pool->prev_snapshot_time = pool->last_snapshot_time = now;
	}
	for (i = 0; i < gov_nslots; i++)
	{
		GovSlot    *slot = &gov_slots[i];

		if (slot->pid != 0 && slot->pool >= 0 && slot->pool <= gov_max_pools)
			gov_totals_sub_counters(&gov_pool_array[slot->pool].totals, &slot->counters);
	}
	gov->stats_reset_time = now;
	LWLockRelease(gov->pools_lock);
	LWLockRelease(gov->lock);
	PG_RETURN_VOID();
}

/* ----------------------------------------------------------------
 * Health
 * ----------------------------------------------------------------
 */
const char *
gov_health_status_name(int status)
{
	return status >= 2 ? "crit" : status == 1 ? "warn" : "ok";
}

static void
gov_health_row(GovHealthRow *row, const char *signal, double value,
			   double warn, double crit)
{
	row->signal = signal;
	row->value = value;
	row->warn = warn;
	row->crit = crit;
	row->status = value >= crit ? 2 : value >= warn ? 1 : 0;
}

/* The four signals of governor.health, from a collected view. */
void
gov_health_compute(const GovStatsView *view, GovHealthRow *rows)
{
	int			usable = gov_usable_connections();
	uint64		dwait = 0,
				dconn = 0,
				drej = 0,
				dauth = 0;
	int			i;

	for (i = 0; i < view->npools; i++)
	{
		const GovPoolLive *pl = &view->pools[i];

		if (!pl->used)
			continue;
		dwait += pl->live.wait_time_us - pl->prev.wait_time_us;
		dconn += pl->live.connections - pl->prev.connections;
		drej += pl->live.rejected - pl->prev.rejected;
		dauth += pl->live.auth_failed - pl->prev.auth_failed;
	}
	gov_health_row(&rows[GOV_HEALTH_CONNECTIONS], "connection_usage_percent",
				   usable > 0 ? 100.0 * view->in_use / usable : 100.0,
				   gov_health_conn_warn, gov_health_conn_crit);
	gov_health_row(&rows[GOV_HEALTH_WAITING], "waiting_sessions",
				   view->waiting, gov_health_waiting_warn, gov_health_waiting_crit);
	gov_health_row(&rows[GOV_HEALTH_AVG_WAIT], "avg_wait_ms",
				   dconn > 0 ? (double) dwait / dconn / 1000.0 : 0,
				   gov_health_wait_warn_ms, gov_health_wait_crit_ms);
	gov_health_row(&rows[GOV_HEALTH_ERRORS], "connection_error_rate_percent",
				   dconn + drej + dauth > 0 ?
				   100.0 * (drej + dauth) / (dconn + drej + dauth) : 0,
				   gov_health_errors_warn, gov_health_errors_crit);
}

Datum
gov_health(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	GovStatsView view;
	GovHealthRow rows[GOV_HEALTH_NUM];
	int			i;

	gov_require_preload();
	gov_init_srf(fcinfo);
	gov_stats_collect(&view, false);
	gov_health_compute(&view, rows);
	for (i = 0; i < GOV_HEALTH_NUM; i++)
	{
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		values[0] = CStringGetTextDatum(rows[i].signal);
		values[1] = Float8GetDatum(rows[i].value);
		values[2] = Float8GetDatum(rows[i].warn);
		values[3] = Float8GetDatum(rows[i].crit);
		values[4] = CStringGetTextDatum(gov_health_status_name(rows[i].status));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
