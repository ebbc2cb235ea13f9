/*-------------------------------------------------------------------------
 *
 * admin.c
 *		The admin console: pause/resume, disable/enable, kill, reconnect,
 *		reload, and the triggers on governor.rules.
 *
 * Pause/disable flags live in GovShared under gov->lock and change
 * through bucket.c, which hands queued logins their places when a pause
 * ends.  kill/reconnect collect their targets under gov->lock LW_SHARED
 * and act after releasing it (enforcement.c signals); kill books its
 * kills to rules by name, all at once at the end.  The triggers run in
 * whatever session changes the table: the count check scans
 * governor.rules under a lock that serializes rule changes, so
 * concurrent INSERTs cannot together exceed governor.max_rules.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "commands/dbcommands.h"
#include "commands/trigger.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inet.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "bans.h"
#include "bucket.h"
#include "enforcement.h"
#include "rules.h"
#include "settings.h"
#include "worker.h"

PG_FUNCTION_INFO_V1(gov_pause);
PG_FUNCTION_INFO_V1(gov_resume);
PG_FUNCTION_INFO_V1(gov_disable);
PG_FUNCTION_INFO_V1(gov_enable);
PG_FUNCTION_INFO_V1(gov_reload);
PG_FUNCTION_INFO_V1(gov_kill);
PG_FUNCTION_INFO_V1(gov_reconnect);
PG_FUNCTION_INFO_V1(gov_rules_changed);
PG_FUNCTION_INFO_V1(gov_check_rule_count);
PG_FUNCTION_INFO_V1(gov_unban);

/* How long governor.reload() waits for the worker. */
#define GOV_RELOAD_WAIT_MS 10000

static bool gov_wake_at_commit = false;
static bool gov_xact_callback_registered = false;

static const char *
gov_db_arg(FunctionCallInfo fcinfo)
{
	if (PG_NARGS() < 1 || PG_ARGISNULL(0))
		return NULL;
	return NameStr(*PG_GETARG_NAME(0));
}

/* Is this the database the worker reads rules from? */
static bool
gov_in_rules_database(void)
{
	char	   *name = get_database_name(MyDatabaseId);

	return name != NULL && gov_database != NULL && strcmp(name, gov_database) == 0;
}

/* ----------------------------------------------------------------
 * pause, resume, disable, enable
 * ----------------------------------------------------------------
 */
static void
gov_set_flags(FunctionCallInfo fcinfo, bool set_paused, bool paused,
			  bool set_disabled, bool disabled)
{
	const char *dbname;
	bool		ok;

	gov_require_preload();
	dbname = gov_db_arg(fcinfo);
	gov_bucket_prepare();
	LWLockAcquire(gov->lock, LW_EXCLUSIVE);
	ok = gov_db_set_flags(dbname, set_paused, paused, set_disabled, disabled);
	LWLockRelease(gov->lock);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("pg_governor can pause or disable at most %d databases by name",
						GOV_MAX_DB_FLAGS),
				 errhint("Use NULL to pause or disable every database.")));
}

Datum
gov_pause(PG_FUNCTION_ARGS)
{
	gov_set_flags(fcinfo, true, true, false, false);
	PG_RETURN_VOID();
}

Datum
gov_resume(PG_FUNCTION_ARGS)
{
	gov_set_flags(fcinfo, true, false, false, false);
	PG_RETURN_VOID();
}

Datum
gov_disable(PG_FUNCTION_ARGS)
{
	gov_set_flags(fcinfo, false, false, true, true);
	PG_RETURN_VOID();
}

Datum
gov_enable(PG_FUNCTION_ARGS)
{
	gov_set_flags(fcinfo, false, false, true, false);
	PG_RETURN_VOID();
}

/* ----------------------------------------------------------------
 * reload
 * ----------------------------------------------------------------
 */
static void
gov_wait_briefly(void)
{
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 10, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
}

/*
 * Make the worker read the rules now and wait until it has: a read that
 * started after our call completes.  The generation counts reads ended;
 * one may be under way as we ask, so it is the second from now that
 * surely started after the call.  The worker reads once per request, so
 * each time it takes ours short of the target we ask again, rather than
 * wait for governor.naptime.  False, with a WARNING saying why, when the
 * read failed (older rules stay in force) or the worker did not answer.
 */
Datum
gov_reload(PG_FUNCTION_ARGS)
{
	uint64		target;
	TimestampTz start = GetCurrentTimestamp();
	GovRulesStatus status;
	char		error[GOV_TEXT_LEN];

	gov_require_preload();
	if (!gov_in_rules_database())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("governor.rules of database \"%s\" is not used",
						get_database_name(MyDatabaseId)),
				 errdetail("The pg_governor worker reads the rules of database \"%s\" (governor.database).",
						   gov_database),
				 errhint("Change and reload the rules in that database, or set governor.database and restart the server.")));

	/* Right after startup the worker may not be up yet: give it time. */
	while (gov->worker_pid == 0)
	{
		if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), GOV_RELOAD_WAIT_MS))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("pg_governor worker is not running"),
					 errhint("Check the server log: the worker needs the database named by governor.database.")));
		gov_wait_briefly();
	}
	target = pg_atomic_read_u64(&gov->reload_generation) + 2;
	gov_worker_wake();
	while (pg_atomic_read_u64(&gov->reload_generation) < target)
	{
		if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), GOV_RELOAD_WAIT_MS))
		{
			ereport(WARNING,
					(errmsg("pg_governor worker did not read governor.rules within %d s",
							GOV_RELOAD_WAIT_MS / 1000),
					 errdetail("The rules are read again every governor.naptime."),
					 errhint("Check the server log and governor.health.")));
			PG_RETURN_BOOL(false);
		}
		/* The worker took the request: ask for the read after this one. */
		if (pg_atomic_read_u32(&gov->reload_requested) == 0)
			gov_worker_wake();
		gov_wait_briefly();
	}

	LWLockAcquire(gov->lock, LW_SHARED);
	status = gov->rules_status;
	strlcpy(error, gov->rules_error, sizeof(error));
	LWLockRelease(gov->lock);
	if (status != GOV_RULES_LOADED && status != GOV_RULES_NO_EXTENSION)
	{
		ereport(WARNING,
				(errmsg("pg_governor could not read governor.rules: %s", error),
				 errdetail("The rules in force stay as they are; the worker tries again every governor.naptime.")));
		PG_RETURN_BOOL(false);
	}
	PG_RETURN_BOOL(true);
}

/* ----------------------------------------------------------------
 * kill and reconnect
 * ----------------------------------------------------------------
 */

/* Sessions an admin verb acts on: governed, not ours, in the database. */
static bool
gov_admin_target(const GovSlot *slot, const char *dbname)
{
	return slot->pid != 0 && slot->pid != MyProcPid &&
		slot->exempt == GOV_NOT_EXEMPT &&
		(dbname == NULL || strcmp(NameStr(slot->id.key.database), dbname) == 0);
}

typedef struct GovKillTarget
{
	GovTarget	t;
	uint64		rules[GOV_RULE_WORDS];
} GovKillTarget;

/*
 * Book kills to rules, counted per rule while killing: one exclusive
 * gov->lock for all.  By name, as gov_count_end does: a reload may have
 * renumbered the rules meanwhile (mostly it has not, so try the same
 * index first).
 */
static void
gov_book_kills(const NameData *names, const uint64 *kills, int nrules)
{
	int			r;

	LWLockAcquire(gov->lock, LW_EXCLUSIVE);
	for (r = 0; r < nrules; r++)
	{
		int			i;

		if (kills[r] == 0)
			continue;
		if (r < gov->nrules &&
			strcmp(NameStr(gov->rules[r].name), NameStr(names[r])) == 0)
			i = r;
		else
			i = gov_find_rule(NameStr(names[r]));
		if (i >= 0)
			gov->rule_state[i].terminated[GOV_END_KILL] += kills[r];
	}
	LWLockRelease(gov->lock);
}

Datum
gov_kill(PG_FUNCTION_ARGS)
{
	const char *dbname;
	GovKillTarget *targets;
	NameData   *names;
	uint64	   *kills;
	int			nrules;
	int			ntargets = 0;
	int			nkilled = 0;
	int			i,
				r;

	gov_require_preload();
	dbname = gov_db_arg(fcinfo);
	targets = palloc(sizeof(GovKillTarget) * gov_nslots);
	names = palloc(sizeof(NameData) * gov_max_rules);
	kills = palloc0(sizeof(uint64) * gov_max_rules);

	/* Rule names with the bits: a reload may renumber rules before we book. */
	LWLockAcquire(gov->lock, LW_SHARED);
	nrules = gov->nrules;
	for (r = 0; r < nrules; r++)
		names[r] = gov->rules[r].name;
	for (i = 0; i < gov_nslots; i++)
	{
		GovSlot    *slot = &gov_slots[i];

		if (!gov_admin_target(slot, dbname))
			continue;
		gov_target_init(&targets[ntargets].t, i, GOV_RECHECK_NONE, 0);
		memcpy(targets[ntargets].rules, slot->rules, sizeof(slot->rules));
		ntargets++;
	}
	LWLockRelease(gov->lock);
	GOV_INJECTION_POINT("pg-governor-kill-targets");

	for (i = 0; i < ntargets; i++)
	{
		GovKillTarget *k = &targets[i];

		/* Like pg_terminate_backend: only a superuser ends a superuser. */
		if (!superuser() && OidIsValid(k->t.roleid) && superuser_arg(k->t.roleid))
			continue;
		if (!gov_end_session(&k->t, GOV_END_KILL, NULL,
							 "terminating connection due to pg_governor admin kill", 0, 0))
			continue;
		nkilled++;
		for (r = 0; r < nrules; r++)
			if (GOV_RULE_ISSET(k->rules, r))
				kills[r]++;
	}
	if (nkilled > 0)
		gov_book_kills(names, kills, nrules);
	pfree(targets);
	pfree(names);
	pfree(kills);
	PG_RETURN_INT32(nkilled);
}

Datum
gov_reconnect(PG_FUNCTION_ARGS)
{
	const char *dbname;
	int			nmarked = 0;
	int			i;
	Latch	   *latch;

	gov_require_preload();
	dbname = gov_db_arg(fcinfo);

	/* close_needed is an atomic: setting it needs only a stable slot. */
	LWLockAcquire(gov->lock, LW_SHARED);
	for (i = 0; i < gov_nslots; i++)
	{
		GovSlot    *slot = &gov_slots[i];

		if (!gov_admin_target(slot, dbname))
			continue;
		pg_atomic_write_u32(&slot->close_needed, 1);
		nmarked++;
	}
	latch = gov->worker_latch;
	LWLockRelease(gov->lock);

	/* Sessions idle now are closed at the worker's next pass: make it now. */
	if (nmarked > 0 && latch)
		SetLatch(latch);
	PG_RETURN_INT32(nmarked);
}

/*
 * governor.unban(role, addr): NULL = any; returns how many bans were
 * lifted.  A ban is per address, so addr is one address: a value with a
 * mask (10.0.0.0/8) is refused rather than lift nothing.
 */
Datum
gov_unban(PG_FUNCTION_ARGS)
{
	const char *role = PG_ARGISNULL(0) ? NULL : NameStr(*PG_GETARG_NAME(0));
	const uint8 *addr = NULL;
	int			family = 0;

	gov_require_preload();
	if (!PG_ARGISNULL(1))
	{
		inet	   *ip = PG_GETARG_INET_PP(1);

		family = ip_family(ip) == PGSQL_AF_INET ? 4 : 6;
		if (ip_bits(ip) != ip_maxbits(ip))
		{
			char	   *text = DatumGetCString(DirectFunctionCall1(inet_out, InetPGetDatum(ip)));

			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("governor.unban() takes one client address, not the range %s", text),
					 errdetail("Authentication bans are kept per address."),
					 errhint("To lift every ban in the range: SELECT governor.unban(role, client_addr::inet) FROM governor.bans WHERE client_addr::inet <<= '%s';",
							 text)));
		}
		addr = ip_addr(ip);
	}
	PG_RETURN_INT32(gov_bans_lift(role, addr, family));
}

/* ----------------------------------------------------------------
 * Triggers on governor.rules
 * ----------------------------------------------------------------
 */
/*
 * At COMMIT of a transaction that changed the rules, wake the worker.  A
 * PREPAREd one is committed later by COMMIT PREPARED, maybe in another
 * session, where no trigger runs: the worker reads it at its next
 * governor.naptime.  The flag must not outlive the transaction either
 * way, or an unrelated later COMMIT of this session would wake it.
 */
static void
gov_rules_xact_callback(XactEvent event, void *arg)
{
	if (!gov_wake_at_commit)
		return;
	switch (event)
	{
		case XACT_EVENT_COMMIT:
			gov_wake_at_commit = false;
			if (gov)
				gov_worker_wake();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			gov_wake_at_commit = false;
			break;
		default:
			break;
	}
}

/* AFTER ... FOR EACH STATEMENT: wake the worker at COMMIT. */
Datum
gov_rules_changed(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("governor._rules_changed() must be called as a trigger")));
	if (gov_preloaded && !gov_in_rules_database())
		ereport(WARNING,
				(errmsg("governor.rules of database \"%s\" is not used",
						get_database_name(MyDatabaseId)),
				 errdetail("The pg_governor worker reads the rules of database \"%s\" (governor.database).",
						   gov_database)));
	if (!gov_xact_callback_registered)
	{
		RegisterXactCallback(gov_rules_xact_callback, NULL);
		gov_xact_callback_registered = true;
	}
	gov_wake_at_commit = true;
	return PointerGetDatum(NULL);
}

/*
 * AFTER INSERT OR UPDATE ... FOR EACH STATEMENT: no more enabled rows
 * than governor.max_rules.  The lock (self-conflicting, but not with the
 * row changes themselves) makes concurrent changes count one after the
 * other, and the count uses a fresh snapshot, so a change committed
 * meanwhile is seen whatever the isolation level.
 */
Datum
gov_check_rule_count(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	AttrNumber	enabled;
	TableScanDesc scan;
	TupleTableSlot *slot;
	Snapshot	snapshot;
	int64		n = 0;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("governor._check_rule_count() must be called as a trigger")));
	/* Without preloading there is no bound to check against. */
	if (!gov_preloaded)
		return PointerGetDatum(NULL);

	rel = trigdata->tg_relation;
	LockRelationOid(RelationGetRelid(rel), ShareUpdateExclusiveLock);
	enabled = get_attnum(RelationGetRelid(rel), "enabled");
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	slot = table_slot_create(rel, NULL);
	scan = table_beginscan(rel, snapshot, 0, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, enabled, &isnull);

		if (!isnull && DatumGetBool(d))
			n++;
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);

	if (n > gov_max_rules)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("pg_governor allows at most %d enabled rules, this change makes " INT64_FORMAT,
						gov_max_rules, n),
				 errhint("Raise governor.max_rules (needs a restart), or disable or merge rules.")));
	return PointerGetDatum(NULL);
}
