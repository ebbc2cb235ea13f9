/*-------------------------------------------------------------------------
 *
 * worker.c
 *		The pg_governor background worker: one per server, connected to
 *		governor.database.  Each tick (governor.naptime, or at once when
 *		woken through its latch) it reloads the rules if they changed,
 *		then runs the periodic duties of the other files.
 *
 * It publishes its pid and latch in GovShared (under gov->lock) so that
 * backends can wake it; it clears them when it exits.  A crash of the
 * worker loses nothing: rules, slots and counters live in shared memory
 * and the postmaster restarts it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "pg_governor.h"

#define GOV_WORKER_RESTART_S 1

void
gov_worker_register(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	/* ConsistentState: also runs on a hot standby. */
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = GOV_WORKER_RESTART_S;
	strlcpy(worker.bgw_library_name, GOV_EXTENSION_NAME, BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "gov_worker_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "pg_governor worker", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "pg_governor", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

/* Ask the worker to reload the rules now. */
void
gov_worker_wake(void)
{
	Latch	   *latch;

	pg_atomic_write_u32(&gov->reload_requested, 1);
	latch = gov->worker_latch;
	if (latch)
		SetLatch(latch);
}

static void
gov_worker_detach(int code, Datum arg)
{
	LWLockAcquire(gov->lock, LW_EXCLUSIVE);
	if (gov->worker_pid == MyProcPid)
	{
		gov->worker_pid = 0;
		gov->worker_latch = NULL;
	}
	LWLockRelease(gov->lock);
}

/*
 * One tick's transactional work.  An error is reported and the tick
 * abandoned; the next tick starts clean, so a broken rules table cannot
 * crash-loop the worker.
 */
static void
gov_worker_tick(void)
{
	MemoryContext tickcxt = CurrentMemoryContext;

	PG_TRY();
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "pg_governor: loading rules");
		gov_load_rules();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(tickcxt);
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
	}
	PG_END_TRY();
	pgstat_report_activity(STATE_IDLE, NULL);
	gov_clear_status_snapshot();
}

void
gov_worker_main(Datum main_arg)
{
	TimestampTz tick_start;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(gov_database, NULL, 0);
	pgstat_report_appname("pg_governor");

	before_shmem_exit(gov_worker_detach, (Datum) 0);
	LWLockAcquire(gov->lock, LW_EXCLUSIVE);
	gov->worker_pid = MyProcPid;
	gov->worker_latch = MyLatch;
	LWLockRelease(gov->lock);

	ereport(LOG, (errmsg("pg_governor worker started in database \"%s\"", gov_database)));

	tick_start = 0;

	for (;;)
	{
		TimestampTz now;
		TimestampTz next_deadline;
		long		delay;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		/* The periodic duties run once per naptime, or at once on request. */
		now = GetCurrentTimestamp();
		if (tick_start == 0 || pg_atomic_read_u32(&gov->reload_requested) != 0 ||
			TimestampDifferenceExceeds(tick_start, now, gov_naptime_ms))
		{
			tick_start = now;
			pg_atomic_write_u32(&gov->reload_requested, 0);
			gov_worker_tick();
		}

		/*
		 * Enforcement (enforcement.c) runs on every wake-up, outside any
		 * transaction, and may wake us before the naptime ends for the
		 * nearest deadline, so terminations are not late by a naptime.
		 */
		next_deadline = gov_enforce_tick();
		delay = gov_enforce_sleep_ms(next_deadline, gov_naptime_ms -
									 TimestampDifferenceMilliseconds(tick_start, GetCurrentTimestamp()));

		/* Sleep until then, unless woken. */
		if (delay > 0 && pg_atomic_read_u32(&gov->reload_requested) == 0)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 delay, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
	}
}
