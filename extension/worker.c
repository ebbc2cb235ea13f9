/*-------------------------------------------------------------------------
 *
 * worker.c
 *		The pg_governor background worker: one per server.  It reads the
 *		rules, moves the stats window on, enforces the session limits and
 *		serves /metrics, on three cadences and one wait.
 *
 * It connects to governor.database to read governor.rules.  If that
 * database does not exist, the first attempt fails (FATAL, once); the
 * restarted worker then runs without a database (enforcing the rules it
 * has, none after a server start), says so once in the log and in
 * governor.health, and restarts itself when the database appears.
 *
 * Cadences run on a monotonic clock, so a wall-clock step does not stall
 * them.  Enforcement deadlines are wall-clock times (they come from the
 * server's own activity timestamps).  The worker never waits for a
 * heavyweight lock: reading the rules skips a locked table and its
 * catalog lookups run under a short lock_timeout; the rules in force stay
 * as they are until a read succeeds.
 *
 * Shared state: worker pid, latch and rules status in GovShared under
 * gov->lock (cleared when it exits).  A crash of the worker loses
 * nothing: rules, slots and counters live in shared memory.
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
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "bucket.h"
#include "enforcement.h"
#include "http.h"
#include "registry.h"
#include "rules.h"
#include "settings.h"
#include "stats.h"
#include "worker.h"

#define GOV_WORKER_RESTART_S	1
/* No catalog lookup of the worker waits longer than this for a lock. */
#define GOV_WORKER_LOCK_TIMEOUT "100ms"
/* Never spin: at least this long between two passes. */
#define GOV_MIN_SLEEP_MS		10

static bool gov_no_database = false;
static GovRule *gov_read_buf = NULL;
static GovRule *gov_old_rules = NULL;
static GovRuleState *gov_old_state = NULL;
static char gov_last_error[GOV_TEXT_LEN];
static int	gov_last_overflow = 0;

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

void
gov_worker_wake(void)
{
	Latch	   *latch;

	pg_atomic_write_u32(&gov->reload_requested, 1);
	latch = gov->worker_latch;
	if (latch)
		SetLatch(latch);
}

/* Exit: unpublish; a connection that never came up names its database. */
static void
gov_worker_exit(int code, Datum arg)
{
	LWLockAcquire(gov->lock, LW_EXCLUSIVE);
	if (gov->worker_connecting)
	{
		namestrcpy(&gov->worker_failed_db, gov_database);
		gov->worker_connecting = false;
		if (!gov->rules_loaded)
			gov->rules_status = GOV_RULES_NO_DATABASE;
		snprintf(gov->rules_error, GOV_TEXT_LEN,
				 "could not connect to database \"%s\" (governor.database)", gov_database);
	}
	if (gov->worker_pid == MyProcPid)
	{
		gov->worker_pid = 0;
		gov->worker_latch = NULL;
	}
	LWLockRelease(gov->lock);
}

static void
gov_set_status(GovRulesStatus status, const char *error)
{
	LWLockAcquire(gov->lock, LW_EXCLUSIVE);
	if (status == GOV_RULES_LOADED || status == GOV_RULES_NO_EXTENSION)
	{
		gov->rules_loaded = true;
		gov->rules_time = GetCurrentTimestamp();
	}
	else
		gov->rules_failures++;
	gov->rules_status = status;
	strlcpy(gov->rules_error, error ? error : "", GOV_TEXT_LEN);
	LWLockRelease(gov->lock);
	pg_atomic_fetch_add_u64(&gov->reload_generation, 1);
}

/* Install what was read if it differs from shared memory. */
static void
gov_install_if_changed(int nrules, int nenabled)
{
	bool		changed;

	if (nenabled > nrules && nenabled != gov_last_overflow)
		ereport(WARNING,
				(errmsg("pg_governor: governor.rules has %d enabled rows, only the first %d by name are used",
						nenabled, nrules),
				 errhint("Raise governor.max_rules and restart the server.")));
	gov_last_overflow = nenabled > nrules ? nenabled : 0;

	LWLockAcquire(gov->lock, LW_SHARED);
	changed = nrules != gov->nrules ||
		memcmp(gov_read_buf, gov->rules, sizeof(GovRule) * nrules) != 0;
	LWLockRelease(gov->lock);
	if (!changed)
		return;
	LWLockAcquire(gov->lock, LW_EXCLUSIVE);
	gov_bucket_install(gov_read_buf, nrules, gov_old_rules, gov_old_state);
	LWLockRelease(gov->lock);
}

/*
 * Read governor.rules in a short transaction.  An error is reported once
 * (not again while it repeats), the rules in force stay, and the next
 * cadence tries again.
 */
static void
gov_read_rules(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile GovRulesStatus status = GOV_RULES_LOADED;
	char		error[GOV_TEXT_LEN] = "";

	PG_TRY();
	{
		int			nrules;
		int			nenabled;

		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "pg_governor: reading rules");
		switch (gov_rules_read(gov_read_buf, &nrules, &nenabled))
		{
			case GOV_READ_OK:
				gov_install_if_changed(nrules, nenabled);
				gov_rules_check_names();
				break;
			case GOV_READ_NO_EXTENSION:
				gov_install_if_changed(0, 0);
				status = GOV_RULES_NO_EXTENSION;
				break;
			case GOV_READ_BUSY:
				status = GOV_RULES_STALE;
				snprintf(error, sizeof(error), "governor.rules is locked by another session");
				break;
		}
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		status = GOV_RULES_STALE;
		snprintf(error, sizeof(error), "%s", edata->message);
		/* Once per distinct error: a broken table must not flood the log. */
		if (strcmp(error, gov_last_error) != 0)
			ereport(WARNING,
					(errmsg("pg_governor: could not read governor.rules: %s", edata->message),
					 errdetail("The rules in force stay as they are; the worker tries again every governor.naptime."),
					 errhint("governor.health shows rules_state until a read succeeds.")));
		FreeErrorData(edata);
	}
	PG_END_TRY();
	if (status == GOV_RULES_LOADED && gov_last_error[0])
		ereport(LOG, (errmsg("pg_governor: governor.rules read again")));
	strlcpy(gov_last_error, error, sizeof(gov_last_error));
	gov_set_status(status, error);
	pgstat_report_activity(STATE_IDLE, NULL);
	gov_clear_status_snapshot();
}

/* Without a database: has governor.database appeared?  Then start over. */
static void
gov_check_database(void)
{
	bool		exists;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	exists = gov_database_exists(gov_database);
	CommitTransactionCommand();
	if (!exists)
		return;
	LWLockAcquire(gov->lock, LW_EXCLUSIVE);
	MemSet(&gov->worker_failed_db, 0, sizeof(NameData));
	LWLockRelease(gov->lock);
	ereport(LOG,
			(errmsg("pg_governor: database \"%s\" exists now; the worker restarts to connect to it",
					gov_database)));
	proc_exit(1);
}

/* Connect to governor.database, or to none after it failed once. */
static void
gov_worker_connect(void)
{
	LWLockAcquire(gov->lock, LW_EXCLUSIVE);
	gov_no_database = strcmp(NameStr(gov->worker_failed_db), gov_database) == 0;
	gov->worker_connecting = !gov_no_database;
	LWLockRelease(gov->lock);

	BackgroundWorkerInitializeConnection(gov_no_database ? NULL : gov_database, NULL,
										 BGWORKER_BYPASS_ALLOWCONN);

	LWLockAcquire(gov->lock, LW_EXCLUSIVE);
	gov->worker_connecting = false;
	gov->worker_pid = MyProcPid;
	gov->worker_latch = MyLatch;
	gov->rules_wait_expired = false;
	if (gov_no_database && !gov->rules_loaded)
		gov->rules_status = GOV_RULES_NO_DATABASE;
	LWLockRelease(gov->lock);

	if (gov_no_database)
		ereport(WARNING,
				(errmsg("pg_governor: database \"%s\" named by governor.database does not exist, so governor.rules cannot be read",
						gov_database),
				 errdetail("Until it exists, rules read earlier stay in force; after a server start there are none, and logins are handled as governor.rules_unavailable says."),
				 errhint("Create the database and the extension in it, or set governor.database and restart the server.")));
	else
		ereport(LOG, (errmsg("pg_governor worker started in database \"%s\"", gov_database)));
}

void
gov_worker_main(Datum main_arg)
{
	WaitEventSet *set = NULL;
	uint64		set_gen = 0;
	int64		next_rules = 0;
	int64		next_window = 0;
	int64		next_pass = 0;	/* the nearest enforcement deadline */
	bool		woken = true;	/* the latch was set */

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	before_shmem_exit(gov_worker_exit, (Datum) 0);
	gov_worker_connect();
	pgstat_report_appname("pg_governor");
	SetConfigOption("lock_timeout", GOV_WORKER_LOCK_TIMEOUT, PGC_SUSET, PGC_S_OVERRIDE);
	gov_bucket_prepare();
	gov_read_buf = MemoryContextAlloc(TopMemoryContext, sizeof(GovRule) * gov_max_rules);
	gov_old_rules = MemoryContextAlloc(TopMemoryContext, sizeof(GovRule) * gov_max_rules);
	gov_old_state = MemoryContextAlloc(TopMemoryContext, sizeof(GovRuleState) * gov_max_rules);
	gov_http_configure();

	for (;;)
	{
		bool		asked = pg_atomic_exchange_u32(&gov->reload_requested, 0) != 0;
		int64		now = gov_monotonic_ms();
		bool		cadence = false;
		long		timeout;
		long		http_next;
		WaitEvent	events[16];
		int			n;
		int			i;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			gov_http_configure();
		}

		/* Cadence 1: the rules, every naptime or at once when asked. */
		if (asked || now >= next_rules)
		{
			if (gov_no_database)
				gov_check_database();
			else
				gov_read_rules();
			next_rules = now + gov_naptime_ms;
			cadence = true;
		}
		/* Cadence 2: the stats window. */
		if (now >= next_window)
		{
			gov_stats_window();
			next_window = now + gov_stats_period_s * 1000L;
			cadence = true;
		}
		/*
		 * Cadence 3: enforcement, at the nearest deadline, with each of the
		 * other cadences (a deadline may have appeared since the last pass)
		 * and at once when the latch was set (reconnect, reload, a rule
		 * change, a login waiting to evict, SIGHUP).  Not for traffic on
		 * the metrics sockets: a client must not set the pace of a scan
		 * of every slot under gov->lock.
		 */
		if (woken || cadence || now >= next_pass)
		{
			TimestampTz next_deadline = gov_enforce_pass();

			next_pass = PG_INT64_MAX;
			if (next_deadline != 0)
				next_pass = now + Max(GOV_MIN_SLEEP_MS,
									  TimestampDifferenceMilliseconds(GetCurrentTimestamp(),
																	  next_deadline) + 1);
		}

		timeout = (long) (Min(Min(next_rules, next_window), next_pass) - now);
		http_next = gov_http_expire();
		if (http_next >= 0)
			timeout = Min(timeout, http_next + 1);

		/* One wait: latch, postmaster, metrics sockets. */
		if (set == NULL || set_gen != gov_http_generation())
		{
			if (set)
				FreeWaitEventSet(set);
			set = gov_create_wait_event_set(TopMemoryContext, 2 + gov_http_max_events());
			AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
			AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
			gov_http_add_events(set);
			set_gen = gov_http_generation();
		}
		n = WaitEventSetWait(set, Max(timeout, 0), events, lengthof(events),
							 PG_WAIT_EXTENSION);

		/*
		 * Whether the latch was set, from the latch itself: events[] may be
		 * full of socket events without the latch's.  Reset only a set
		 * latch, so a SetLatch after the test is kept for the next wait.
		 */
		woken = MyLatch->is_set;
		if (woken)
			ResetLatch(MyLatch);
		for (i = 0; i < n; i++)
			if (events[i].user_data != NULL)
				gov_http_handle(&events[i]);
	}
}
