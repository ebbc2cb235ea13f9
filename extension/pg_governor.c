/*-------------------------------------------------------------------------
 *
 * pg_governor.c
 *		Module entry: settings, shared memory, and the table of contents of
 *		what the library installs when it is preloaded.
 *
 * Shared memory is created once by the postmaster (and again after a
 * crash-restart, which is what frees the slots of crashed backends).
 * Sizes come from MaxBackends and the PGC_POSTMASTER settings
 * governor.max_rules, governor.max_pools and governor.max_events.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/varlena.h"

#include "admission.h"
#include "bans.h"
#include "counters.h"
#include "enforcement.h"
#include "http.h"
#include "metrics.h"
#include "pg_governor.h"
#include "pools.h"
#include "settings.h"
#include "stats.h"
#include "worker.h"

PG_MODULE_MAGIC;

/* Settings. */
char	   *gov_database = NULL;
int			gov_naptime_ms = 1000;
int			gov_queue_timeout_ms = 0;
bool		gov_exempt_superusers = true;
static char *gov_exempt_roles = NULL;
const char *gov_exempt_role_names = NULL;
int			gov_max_rules = 100;
int			gov_max_pools = 1000;
int			gov_max_events = 1000;
int			gov_max_queued = -1;
int			gov_rules_unavailable = GOV_UNAVAILABLE_ADMIT;

/* Shared state. */
GovShared  *gov = NULL;
GovSlot    *gov_slots = NULL;
int			gov_nslots = 0;
bool		gov_preloaded = false;

static const struct config_enum_entry gov_rules_unavailable_options[] = {
	{"admit", GOV_UNAVAILABLE_ADMIT, false},
	{"refuse", GOV_UNAVAILABLE_REFUSE, false},
	{NULL, 0, false}
};

#ifdef GOV_HAVE_SHMEM_REQUEST_HOOK
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

void		_PG_init(void);
static void gov_define_settings(void);
static bool gov_check_role_list(char **newval, void **extra, GucSource source);
static void gov_assign_role_list(const char *newval, void *extra);
static void gov_shmem_request(void);
static void gov_shmem_startup(void);
static Size gov_shmem_size(void);

void
_PG_init(void)
{
	/*
	 * Loaded by CREATE EXTENSION or LOAD instead of preloading: install
	 * nothing, so CREATE EXTENSION still succeeds, and let every SQL
	 * function say what is missing (gov_require_preload).
	 */
	if (!process_shared_preload_libraries_in_progress)
		return;

	gov_preloaded = true;
	gov_define_settings();

#ifdef GOV_HAVE_SHMEM_REQUEST_HOOK
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = gov_shmem_request;
#else
	gov_shmem_request();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = gov_shmem_startup;

	gov_admission_init();		/* login hook: registry, rules, queues */
	gov_enforcement_init();		/* emit_log_hook: FATAL text of a governor kill */
	gov_counters_init();		/* query-path counters */
	gov_worker_register();		/* rules, stats window, enforcement, /metrics */
}

/*
 * SQL functions call this first: without preloading there is no shared
 * memory, no login hook and no worker, so nothing they do would be true.
 */
void
gov_require_preload(void)
{
	if (!gov_preloaded || gov == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_governor must be loaded via shared_preload_libraries"),
				 errhint("Add pg_governor to shared_preload_libraries in postgresql.conf and restart the server.")));
}

static void
gov_define_settings(void)
{
	DefineCustomStringVariable("governor.database",
							   "Database where the pg_governor worker reads governor.rules.",
							   "CREATE EXTENSION pg_governor in this database.",
							   &gov_database, "postgres",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("governor.naptime",
							"Time between two checks of the pg_governor worker.",
							"Timeouts are enforced no later than limit + naptime.",
							&gov_naptime_ms, 1000, 10, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("governor.queue_timeout",
							"How long a login waits for a free slot before it is refused.",
							"Used by rules whose queue_timeout is NULL; 0 refuses at once.",
							&gov_queue_timeout_ms, 0, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomBoolVariable("governor.exempt_superusers",
							 "Superusers are never capped, queued or terminated.",
							 NULL,
							 &gov_exempt_superusers, true,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("governor.exempt_roles",
							   "Comma-separated roles that are never capped, queued or terminated.",
							   NULL,
							   &gov_exempt_roles, "",
							   PGC_SIGHUP, GUC_LIST_INPUT, gov_check_role_list, gov_assign_role_list, NULL);
	DefineCustomIntVariable("governor.max_rules",
							"Maximum number of rows in governor.rules.",
							NULL,
							&gov_max_rules, 100, 1, GOV_MAX_RULES_LIMIT,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("governor.max_pools",
							"Maximum number of distinct (database, user, application_name) pools tracked.",
							"Sessions past this number are counted in one overflow pool.",
							&gov_max_pools, 1000, 10, 1000000,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("governor.max_events",
							"Number of recent actions kept in governor.events.",
							NULL,
							&gov_max_events, 1000, 10, 1000000,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("governor.max_queued",
							"Most logins that may wait in the queues at once, server-wide.",
							"Each waiting login holds a server process; past this a login that does not fit is refused at once. -1 (the default) is a quarter of max_connections minus the reserved connections.",
							&gov_max_queued, -1, -1, GOV_MAX_SESSIONS,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("governor.rules_unavailable",
							 "What logins do while the worker has not read governor.rules since the server started.",
							 "admit (the default) lets them in without caps; refuse turns them away with 53300. Exempt roles and superusers always get in.",
							 &gov_rules_unavailable, GOV_UNAVAILABLE_ADMIT,
							 gov_rules_unavailable_options,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);

	gov_bans_define_settings();		/* the authentication circuit breaker */
	gov_stats_define_settings();	/* stats_period, health thresholds */
	gov_metrics_define_settings();	/* metrics_compat, metrics_labels */
	gov_http_define_settings();		/* the /metrics endpoint */

	gov_reserve_guc_prefix("governor");
}

/*
 * governor.exempt_roles must parse as a list of identifiers; parsed once
 * here into its extra (the names one after another, each NUL-terminated,
 * then an empty one), which logins read.
 */
static bool
gov_check_role_list(char **newval, void **extra, GucSource source)
{
	char	   *copy = pstrdup(*newval);
	List	   *names;
	ListCell   *lc;
	Size		size = 1;
	char	   *packed;
	char	   *p;

	if (!SplitIdentifierString(copy, ',', &names))
	{
		list_free(names);
		pfree(copy);
		GUC_check_errdetail("List syntax is invalid.");
		return false;
	}
	foreach(lc, names)
		size += strlen((char *) lfirst(lc)) + 1;
	packed = gov_guc_malloc(size);
	if (packed == NULL)
		return false;
	p = packed;
	foreach(lc, names)
	{
		strcpy(p, (char *) lfirst(lc));
		p += strlen(p) + 1;
	}
	*p = '\0';
	list_free(names);
	pfree(copy);
	*extra = packed;
	return true;
}

static void
gov_assign_role_list(const char *newval, void *extra)
{
	gov_exempt_role_names = extra;
}

static Size
gov_shmem_size(void)
{
	Size		size;

	size = MAXALIGN(sizeof(GovShared));
	size = add_size(size, mul_size(gov_max_rules, sizeof(GovRule)));
	size = add_size(size, mul_size(gov_max_rules, sizeof(GovRuleState)));
	size = add_size(size, mul_size(gov_max_events, sizeof(GovEvent)));
	size = add_size(size, mul_size(gov_max_backends(), sizeof(GovSlot)));
	size = add_size(size, gov_pools_shmem_size());
	size = add_size(size, gov_bans_shmem_size());
	return size;
}

static void
gov_shmem_request(void)
{
#ifdef GOV_HAVE_SHMEM_REQUEST_HOOK
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
#endif
	RequestAddinShmemSpace(gov_shmem_size());
	RequestNamedLWLockTranche(GOV_EXTENSION_NAME, 4);
}

static void
gov_shmem_startup(void)
{
	bool		found;
	char	   *p;
	Size		base;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	gov_nslots = MaxBackends;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);

	base = MAXALIGN(sizeof(GovShared)) +
		gov_max_rules * (sizeof(GovRule) + sizeof(GovRuleState)) +
		gov_max_events * sizeof(GovEvent);
	p = ShmemInitStruct("pg_governor", base, &found);
	gov = (GovShared *) p;
	/* ShmemInitStruct zeroes nothing; the arrays below are set for good. */
	if (!found)
		memset(gov, 0, base);
	p += MAXALIGN(sizeof(GovShared));
	gov->rules = (GovRule *) p;
	p += gov_max_rules * sizeof(GovRule);
	gov->rule_state = (GovRuleState *) p;
	p += gov_max_rules * sizeof(GovRuleState);
	gov->events = (GovEvent *) p;

	gov_slots = ShmemInitStruct("pg_governor slots",
								mul_size(gov_nslots, sizeof(GovSlot)), &found);
	gov_pool_array = ShmemInitStruct("pg_governor pools",
									 mul_size(gov_max_pools + 1, sizeof(GovPool)),
									 &found);
	if (!found)
	{
		LWLockPadded *locks = GetNamedLWLockTranche(GOV_EXTENSION_NAME);
		int			i;

		gov->lock = &locks[0].lock;
		gov->pools_lock = &locks[1].lock;
		gov->bans_lock = &locks[2].lock;
		gov->events_lock = &locks[3].lock;
		pg_atomic_init_u32(&gov->reload_requested, 0);
		pg_atomic_init_u64(&gov->reload_generation, 0);
		for (i = 0; i <= GOV_HIST_BOUNDS; i++)
			pg_atomic_init_u64(&gov->setup_hist.count[i], 0);
		pg_atomic_init_u64(&gov->setup_hist.sum_us, 0);
		gov->next_ticket = 1;
		gov->stats_reset_time = GetCurrentTimestamp();

		memset(gov_slots, 0, mul_size(gov_nslots, sizeof(GovSlot)));
		for (i = 0; i < gov_nslots; i++)
		{
			GovSlot    *slot = &gov_slots[i];

			slot->pool = -1;
			slot->wait.rule = slot->wait.prev = slot->wait.next = -1;
			slot->evicted_for = -1;
			pg_atomic_init_u32(&slot->close_needed, 0);
			pg_atomic_init_u32(&slot->kill_pending, 0);
			pg_atomic_init_u32(&slot->signalled, 0);
			pg_atomic_init_u64(&slot->armed_xact_ms, 0);
			pg_atomic_init_u64(&slot->counters.xact_count, 0);
			pg_atomic_init_u64(&slot->counters.query_count, 0);
			pg_atomic_init_u64(&slot->counters.xact_time_us, 0);
			pg_atomic_init_u64(&slot->counters.query_time_us, 0);
			pg_atomic_init_u64(&slot->counters.wait_time_us, 0);
			pg_atomic_init_u64(&slot->counters.assignments, 0);
		}
		memset(gov_pool_array, 0, mul_size(gov_max_pools + 1, sizeof(GovPool)));
	}

	LWLockRelease(AddinShmemInitLock);

	gov_pools_attach();
	gov_bans_attach();
}
