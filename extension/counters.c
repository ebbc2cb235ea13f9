/*-------------------------------------------------------------------------
 *
 * counters.c
 *		Per-session counters on the query path: transactions, queries and
 *		their durations, as PgBouncer's SHOW STATS counts them.  The
 *		executor, utility and transaction-end hooks live here and nothing
 *		else does: every instruction bench P2i counts is in this file.
 *
 * The hooks update the session's own GovSlot.counters with
 * pg_atomic_write_u64 (single writer: a plain store, no lock, no locked
 * instruction).  Each statement costs at most one clock read: a statement
 * that ends its transaction (implicit transactions, COMMIT, ROLLBACK) is
 * booked at the transaction-end callback with the clock read that books
 * the transaction.  Readers (pools.c) add live counters to pool totals.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/ipc.h"
#include "tcop/pquery.h"
#include "tcop/utility.h"

#include "active.h"
#include "counters.h"
#include "enforcement.h"
#include "registry.h"

/* Previous hooks. */
static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/*
 * Statement tracking of this backend: how many executor and utility calls
 * we are inside of, so that a statement run by a function is not a client
 * query.  The utility hook restores its count with PG_FINALLY.  The
 * executor hooks, on every query, take no PG_TRY frame: an error that
 * unwinds them ends a subtransaction or the transaction, whose callbacks
 * put the count back (a subtransaction to its value at its start, kept on
 * a small stack; the transaction to 0).  An error cannot unwind an
 * executor call otherwise.
 */
typedef enum GovQueryState
{
	GOV_Q_NONE = 0,
	GOV_Q_OPEN,					/* started, not finished */
	GOV_Q_PENDING				/* finished; booked at the next clock read */
} GovQueryState;

static int	gov_exec_nesting = 0;
static int	gov_util_nesting = 0;
static int *gov_sub_nesting = NULL;	/* exec nesting at each subxact start */
static int	gov_sub_depth = 0;
static int	gov_sub_cap = 0;
static GovQueryState gov_q_state = GOV_Q_NONE;
static TimestampTz gov_q_start = 0;
static TimestampTz gov_last_end = 0;	/* end of the last booked query */

static void gov_xact_callback(XactEvent event, void *arg);
static void gov_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
								 SubTransactionId parentSubid, void *arg);

static void gov_ExecutorStart(QueryDesc *queryDesc, int eflags);
static void gov_ExecutorRun(GOV_EXECUTOR_RUN_ARGS);
static void gov_ExecutorFinish(QueryDesc *queryDesc);
static void gov_ExecutorEnd(QueryDesc *queryDesc);
static void gov_ProcessUtility(GOV_PROCESS_UTILITY_ARGS);

void
gov_counters_init(void)
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
	/*
	 * Statements of one multi-statement message share their stamp; a wait
	 * for an active slot is not the statement's time.
	 */
	gov_q_start = Max(Max(start, gov_last_end), gov_active_wait_end);
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
	(gov_my_slot != NULL && gov_exec_nesting + gov_util_nesting == 0 && ActivePortal != NULL)

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
	/* A max_active rule: the transaction's first statement takes a slot. */
	if (unlikely(gov_my_slot->has_max_active))
		gov_active_begin();
	if (GOV_TOP_LEVEL())
	{
		GOV_SYNC_XACT_TIMEOUT(gov_my_slot);
		if (!(eflags & EXEC_FLAG_EXPLAIN_ONLY))
			gov_query_start();
	}
	gov_exec_nesting++;
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
	gov_exec_nesting--;
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
	gov_exec_nesting++;
	if (prev_ExecutorRun)
		prev_ExecutorRun(GOV_EXECUTOR_RUN_PASS);
	else
		standard_ExecutorRun(GOV_EXECUTOR_RUN_PASS);
	gov_exec_nesting--;
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
	gov_exec_nesting++;
	if (prev_ExecutorFinish)
		prev_ExecutorFinish(queryDesc);
	else
		standard_ExecutorFinish(queryDesc);
	gov_exec_nesting--;
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

/*
 * Does a utility statement begin work that needs an active slot?  Every
 * statement but transaction control does; of that, BEGIN / START
 * TRANSACTION does (before it runs: no snapshot, no lock yet).
 */
static bool
gov_starts_work(PlannedStmt *pstmt)
{
	Node	   *stmt = pstmt->utilityStmt;

	if (stmt == NULL || !IsA(stmt, TransactionStmt))
		return true;
	return ((TransactionStmt *) stmt)->kind == TRANS_STMT_BEGIN ||
		((TransactionStmt *) stmt)->kind == TRANS_STMT_START;
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
	if (unlikely(gov_my_slot->has_max_active) && gov_starts_work(pstmt))
		gov_active_begin();
	top = gov_exec_nesting + gov_util_nesting == 0;
	if (top)
	{
		GOV_SYNC_XACT_TIMEOUT(gov_my_slot);
		/* In a failed block the transaction was already booked at the error. */
		was_aborted = IsAbortedTransactionBlockState();
		gov_query_start();
	}
	gov_util_nesting++;
	PG_TRY();
	{
		if (prev_ProcessUtility)
			prev_ProcessUtility(GOV_PROCESS_UTILITY_PASS);
		else
			standard_ProcessUtility(GOV_PROCESS_UTILITY_PASS);
	}
	PG_FINALLY();
	{
		gov_util_nesting--;
	}
	PG_END_TRY();
	if (top)
	{
		GOV_NOTE_CLIENT_XACT_TIMEOUT(pstmt->utilityStmt);
		gov_query_done(!was_aborted &&
					   (!IsTransactionBlock() || gov_ends_transaction(pstmt)));
	}
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
	/* An error unwound the executor calls it was inside of. */
	if (event == XACT_EVENT_ABORT)
		gov_exec_nesting = 0;
	gov_sub_depth = 0;
	/* The transaction's active slot goes back, or its wait for one ends. */
	if (unlikely(gov_active_pending(slot)))
		gov_active_end();
	start = GetCurrentTransactionStartTimestamp();
	/* The login transaction is not a client transaction. */
	if (slot->state != GOV_SLOT_ADMITTED || start < slot->admit_time)
		return;
	now = GetCurrentTimestamp();
	/* Inside a procedure (nesting > 0) its CALL is still running. */
	if (gov_exec_nesting + gov_util_nesting == 0 && gov_q_state != GOV_Q_NONE)
		gov_book_query(now);
	gov_counter_add(&slot->counters.xact_count, 1);
	/* Its wait for an active slot is booked as wait time, not here. */
	if (now - start > gov_active_waited_us)
		gov_counter_add(&slot->counters.xact_time_us,
						(uint64) (now - start - gov_active_waited_us));
	gov_active_waited_us = 0;
	gov_last_end = now;
}

/*
 * Subtransactions keep the executor nesting of their start, which an
 * abort puts back; a client statement that failed inside a savepoint is
 * booked then.
 */
static void
gov_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					 SubTransactionId parentSubid, void *arg)
{
	if (gov_my_slot == NULL)
		return;
	switch (event)
	{
		case SUBXACT_EVENT_START_SUB:
			if (gov_sub_depth == gov_sub_cap)
			{
				gov_sub_cap = Max(16, gov_sub_cap * 2);
				gov_sub_nesting = gov_sub_nesting == NULL ?
					MemoryContextAlloc(TopMemoryContext, sizeof(int) * gov_sub_cap) :
					repalloc(gov_sub_nesting, sizeof(int) * gov_sub_cap);
			}
			gov_sub_nesting[gov_sub_depth++] = gov_exec_nesting;
			break;
		case SUBXACT_EVENT_COMMIT_SUB:
			if (gov_sub_depth > 0)
				gov_sub_depth--;
			break;
		case SUBXACT_EVENT_ABORT_SUB:
			if (gov_sub_depth > 0)
				gov_exec_nesting = gov_sub_nesting[--gov_sub_depth];
			if (gov_exec_nesting + gov_util_nesting == 0 && gov_q_state == GOV_Q_OPEN)
				gov_book_query(GetCurrentTimestamp());
			break;
		default:
			break;
	}
}
