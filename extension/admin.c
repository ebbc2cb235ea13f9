/*-------------------------------------------------------------------------
 *
 * admin.c
 *		SQL verbs of the admin console: pause/resume, disable/enable,
 *		reload, and the trigger that wakes the worker when governor.rules
 *		changes.
 *
 * Pause/disable flags live in GovShared under gov->lock (exclusive to
 * change); every change is broadcast on gov->slot_freed so queued logins
 * re-check at once.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/builtins.h"

#include "pg_governor.h"

PG_FUNCTION_INFO_V1(gov_pause);
PG_FUNCTION_INFO_V1(gov_resume);
PG_FUNCTION_INFO_V1(gov_disable);
PG_FUNCTION_INFO_V1(gov_enable);
PG_FUNCTION_INFO_V1(gov_reload);
PG_FUNCTION_INFO_V1(gov_rules_changed);

/* How long governor.reload() waits for the worker. */
#define GOV_RELOAD_WAIT_MS 10000

static bool gov_wake_at_commit = false;
static bool gov_xact_callback_registered = false;

void
gov_set_db_flag(const char *dbname, bool set_paused, bool paused,
				bool set_disabled, bool disabled)
{
	LWLockAcquire(gov->lock, LW_EXCLUSIVE);
	if (dbname == NULL)
	{
		int			i;

		if (set_paused)
			gov->all_paused = paused;
		if (set_disabled)
			gov->all_disabled = disabled;
		/* Clearing for all databases also clears each database's flag. */
		for (i = 0; i < gov->ndbflags; i++)
		{
			if (set_paused && !paused)
				gov->dbflags[i].paused = false;
			if (set_disabled && !disabled)
				gov->dbflags[i].disabled = false;
		}
	}
	else
	{
		GovDbFlag  *f = NULL;
		int			i;

		for (i = 0; i < gov->ndbflags; i++)
			if (strcmp(NameStr(gov->dbflags[i].database), dbname) == 0)
				f = &gov->dbflags[i];
		if (f == NULL)
		{
			/* Reuse an entry with no flag set before taking a new one. */
			for (i = 0; i < gov->ndbflags && f == NULL; i++)
				if (!gov->dbflags[i].paused && !gov->dbflags[i].disabled)
					f = &gov->dbflags[i];
			if (f == NULL && gov->ndbflags < GOV_MAX_DB_FLAGS)
				f = &gov->dbflags[gov->ndbflags++];
			if (f == NULL)
			{
				LWLockRelease(gov->lock);
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("pg_governor can pause or disable at most %d databases by name",
								GOV_MAX_DB_FLAGS),
						 errhint("Use NULL to pause or disable every database.")));
			}
			memset(f, 0, sizeof(*f));
			strlcpy(NameStr(f->database), dbname, NAMEDATALEN);
		}
		if (set_paused)
			f->paused = paused;
		if (set_disabled)
			f->disabled = disabled;
	}
	LWLockRelease(gov->lock);
	ConditionVariableBroadcast(&gov->slot_freed);
}

static const char *
gov_db_arg(FunctionCallInfo fcinfo)
{
	if (PG_NARGS() < 1 || PG_ARGISNULL(0))
		return NULL;
	return NameStr(*PG_GETARG_NAME(0));
}

Datum
gov_pause(PG_FUNCTION_ARGS)
{
	gov_require_preload();
	gov_set_db_flag(gov_db_arg(fcinfo), true, true, false, false);
	PG_RETURN_VOID();
}

Datum
gov_resume(PG_FUNCTION_ARGS)
{
	gov_require_preload();
	gov_set_db_flag(gov_db_arg(fcinfo), true, false, false, false);
	PG_RETURN_VOID();
}

Datum
gov_disable(PG_FUNCTION_ARGS)
{
	gov_require_preload();
	gov_set_db_flag(gov_db_arg(fcinfo), false, false, true, true);
	PG_RETURN_VOID();
}

Datum
gov_enable(PG_FUNCTION_ARGS)
{
	gov_require_preload();
	gov_set_db_flag(gov_db_arg(fcinfo), false, false, true, false);
	PG_RETURN_VOID();
}

/*
 * Make the worker reload the rules now and wait until it has: a load
 * that started after our request completes (generation + 2 covers a load
 * already running when we asked).
 */
Datum
gov_reload(PG_FUNCTION_ARGS)
{
	uint64		target;
	TimestampTz start = GetCurrentTimestamp();

	gov_require_preload();
	/* Right after startup the worker may not be up yet: give it time. */
	while (gov->worker_pid == 0)
	{
		if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), GOV_RELOAD_WAIT_MS))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("pg_governor worker is not running"),
					 errhint("Check the server log: the worker needs the database named by governor.database.")));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 50, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	target = pg_atomic_read_u64(&gov->reload_generation) + 2;
	gov_worker_wake();
	while (pg_atomic_read_u64(&gov->reload_generation) < target)
	{
		if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), GOV_RELOAD_WAIT_MS))
			PG_RETURN_BOOL(false);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (target - 2 == pg_atomic_read_u64(&gov->reload_generation))
			gov_worker_wake();	/* the worker may have slept through */
	}
	PG_RETURN_BOOL(true);
}

static void
gov_rules_xact_callback(XactEvent event, void *arg)
{
	if (!gov_wake_at_commit)
		return;
	if (event == XACT_EVENT_COMMIT)
	{
		gov_wake_at_commit = false;
		if (gov)
			gov_worker_wake();
	}
	else if (event == XACT_EVENT_ABORT)
		gov_wake_at_commit = false;
}

/* AFTER ... FOR EACH STATEMENT trigger on governor.rules. */
Datum
gov_rules_changed(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("governor._rules_changed() must be called as a trigger")));
	if (!gov_xact_callback_registered)
	{
		RegisterXactCallback(gov_rules_xact_callback, NULL);
		gov_xact_callback_registered = true;
	}
	gov_wake_at_commit = true;
	return PointerGetDatum(NULL);
}
