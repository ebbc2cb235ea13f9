/*-------------------------------------------------------------------------
 *
 * registry.c
 *		The session registry (one GovSlot per backend, indexed by PGPROC
 *		number) and the pool table.
 *
 * A session fills its own slot at login (admission.c calls
 * gov_registry_claim) and clears it at exit in a before_shmem_exit
 * callback, which runs on every exit path: normal end, FATAL (refused
 * login included) and pg_terminate_backend.  A crashed backend makes the
 * postmaster reinitialise shared memory, so no slot outlives its owner.
 *
 * Locking:
 *	gov->lock, LW_EXCLUSIVE: make a slot visible (pid != 0), change its
 *		state, rule bits or bucket counts, and clear it.
 *	gov->lock, LW_SHARED: readers wanting a consistent picture of all
 *		slots (views, worker).  Identity fields are written before the slot
 *		becomes visible and never change after.
 *	Counters in GovCounters are written by the owner only, without a lock.
 *	gov->pools_lock: the pool hash and pool totals; exclusive to insert a
 *		pool or fold an ending session's counters, shared to look up/read.
 *		The fold happens inside the gov->lock section that clears the slot.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/dbcommands.h"
#include "common/ip.h"
#include "libpq/libpq-be.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/hsearch.h"

#include "pg_governor.h"

GovSlot    *gov_my_slot = NULL;

static HTAB *gov_pool_hash = NULL;

typedef struct GovPoolHashEntry
{
	GovPoolKey	key;
	int			index;
} GovPoolHashEntry;

static void gov_registry_release(int code, Datum arg);

/* Attach the pool hash; called from shmem startup in every process. */
void
gov_pools_attach(void)
{
	HASHCTL		info;

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(GovPoolKey);
	info.entrysize = sizeof(GovPoolHashEntry);
	gov_pool_hash = ShmemInitHash("pg_governor pool hash",
								  gov_max_pools + 1, gov_max_pools + 1,
								  &info, HASH_ELEM | HASH_BLOBS);
}

static void
gov_make_key(GovPoolKey *key, const char *database, const char *role,
			 const char *appname)
{
	memset(key, 0, sizeof(*key));
	strlcpy(NameStr(key->database), database, NAMEDATALEN);
	strlcpy(NameStr(key->role), role, NAMEDATALEN);
	strlcpy(NameStr(key->appname), appname, NAMEDATALEN);
}

/*
 * Pool index for a (database, user, application_name); creates the pool
 * or, past governor.max_pools, returns the overflow row.
 */
static int
gov_pool_index(const char *database, const char *role, const char *appname,
			   bool create)
{
	GovPoolKey	key;
	GovPoolHashEntry *entry;
	bool		found;
	int			index;

	gov_make_key(&key, database, role, appname);

	LWLockAcquire(gov->pools_lock, LW_SHARED);
	entry = hash_search(gov_pool_hash, &key, HASH_FIND, NULL);
	if (entry)
	{
		index = entry->index;
		LWLockRelease(gov->pools_lock);
		return index;
	}
	LWLockRelease(gov->pools_lock);

	LWLockAcquire(gov->pools_lock, LW_EXCLUSIVE);
	found = true;
	if (!create || gov->npools >= gov_max_pools)
		entry = hash_search(gov_pool_hash, &key, HASH_FIND, NULL);
	else
		entry = hash_search(gov_pool_hash, &key, HASH_ENTER_NULL, &found);
	if (entry == NULL)
	{
		/* Overflow row: one per server, keyed by nothing in particular. */
		GovPool    *pool = &gov_pool_array[gov_max_pools];

		if (!pool->overflow)
		{
			gov_make_key(&pool->key, "*", "*", "*overflow*");
			pool->index = gov_max_pools;
			pool->overflow = true;
			/* stats window starts now (stats.c) */
			pool->prev_snapshot_time = pool->last_snapshot_time = GetCurrentTimestamp();
		}
		index = gov_max_pools;
	}
	else
	{
		if (!found)
		{
			GovPool    *pool = &gov_pool_array[gov->npools];

			entry->index = gov->npools++;
			memset(pool, 0, sizeof(*pool));
			pool->key = key;
			pool->index = entry->index;
			/* stats window starts now (stats.c) */
			pool->prev_snapshot_time = pool->last_snapshot_time = GetCurrentTimestamp();
		}
		index = entry->index;
	}
	LWLockRelease(gov->pools_lock);
	return index;
}

int
gov_pool_lookup(const char *database, const char *role, const char *appname)
{
	return gov_pool_index(database, role, appname, true);
}

/* Governance totals of a pool (cheap: one short exclusive section). */
typedef enum GovPoolCounter
{
	GOV_POOL_CONNECTIONS,
	GOV_POOL_REJECTED,
	GOV_POOL_TERMINATED,
	GOV_POOL_AUTH_FAILED
} GovPoolCounter;

static void
gov_pool_bump(int pool, GovPoolCounter which)
{
	GovPoolTotals *t;

	if (pool < 0)
		return;
	LWLockAcquire(gov->pools_lock, LW_EXCLUSIVE);
	t = &gov_pool_array[pool].totals;
	switch (which)
	{
		case GOV_POOL_CONNECTIONS:
			t->connections++;
			break;
		case GOV_POOL_REJECTED:
			t->rejected++;
			break;
		case GOV_POOL_TERMINATED:
			t->terminated++;
			break;
		case GOV_POOL_AUTH_FAILED:
			t->auth_failed++;
			break;
	}
	LWLockRelease(gov->pools_lock);
}

void
gov_pool_count_admit(int pool)
{
	gov_pool_bump(pool, GOV_POOL_CONNECTIONS);
}

void
gov_pool_count_reject(int pool)
{
	gov_pool_bump(pool, GOV_POOL_REJECTED);
}

void
gov_pool_count_terminated(int pool)
{
	gov_pool_bump(pool, GOV_POOL_TERMINATED);
}

void
gov_pool_count_auth_failed(const char *database, const char *role,
						   const char *appname)
{
	int			pool = gov_pool_index(database, role, appname, false);

	/*
	 * A client that never authenticated must not fill the pool table with
	 * names of its choosing: a new pool only for an existing database and
	 * role, with the application_name left out; anything else counts in
	 * the overflow row.
	 */
	if (pool == gov_max_pools &&
		OidIsValid(get_role_oid(role, true)) &&
		OidIsValid(get_database_oid(database, true)))
		pool = gov_pool_index(database, role, "", true);
	gov_pool_bump(pool, GOV_POOL_AUTH_FAILED);
}

/* Format a socket address numerically; "" when there is none. */
static void
gov_format_addr(const SockAddr *sa, char *host, int *port)
{
	char		portbuf[NI_MAXSERV];

	host[0] = '\0';
	*port = 0;
	if (sa->salen == 0)
		return;
	if (sa->addr.ss_family == AF_UNIX)
	{
		strlcpy(host, "unix", GOV_ADDR_LEN);
		return;
	}
	if (pg_getnameinfo_all(&sa->addr, sa->salen, host, GOV_ADDR_LEN,
						   portbuf, sizeof(portbuf),
						   NI_NUMERICHOST | NI_NUMERICSERV) != 0)
	{
		host[0] = '\0';
		return;
	}
	*port = atoi(portbuf);
}

/*
 * Fill this backend's slot from its startup values and make it visible,
 * in state GOV_SLOT_LOGIN.  The exit callback is registered before the
 * slot can count anywhere, so every exit path frees it.
 */
void
gov_registry_claim(Port *port, GovExemptReason exempt, Oid roleid)
{
	GovSlot    *slot = &gov_slots[gov_my_procno()];
	const char *appname = port->application_name ? port->application_name : "";
	int			pool;

	Assert(gov_my_procno() < gov_nslots);

	pool = gov_pool_lookup(port->database_name, port->user_name, appname);

	/* Identity first, while pid == 0 keeps readers away. */
	strlcpy(NameStr(slot->database), port->database_name, NAMEDATALEN);
	strlcpy(NameStr(slot->role), port->user_name, NAMEDATALEN);
	/* Clip like pgstat_report_appname, so views and rules agree. */
	memset(NameStr(slot->appname), 0, NAMEDATALEN);
	memcpy(NameStr(slot->appname), appname,
		   pg_mbcliplen(appname, strlen(appname), NAMEDATALEN - 1));
	slot->roleid = roleid;
	slot->raddr = port->raddr;
	slot->is_local = port->raddr.addr.ss_family == AF_UNIX;
	gov_format_addr(&port->raddr, slot->addr, &slot->port);
	gov_format_addr(&port->laddr, slot->local_addr, &slot->local_port);
	slot->tls[0] = '\0';
#ifdef USE_SSL
	if (port->ssl_in_use)
		snprintf(slot->tls, GOV_ADDR_LEN, "%s/%s",
				 be_tls_get_version(port), be_tls_get_cipher(port));
#endif
	slot->connect_time = MyStartTimestamp;
	slot->login_time = GetCurrentTimestamp();
	slot->wait_start = 0;
	slot->admit_time = 0;
	slot->beentry = gov_my_beentry();
	slot->pool = pool;
	slot->exempt = exempt;
	slot->wait_rule = -1;
	slot->lifetime_jitter_ms = gov_lifetime_jitter_seed(MyProcPid, MyStartTimestamp);
	memset(slot->rules, 0, sizeof(slot->rules));
	pg_atomic_write_u32(&slot->close_needed, 0);
	pg_atomic_write_u32(&slot->kill_pending, 0);
	pg_atomic_write_u64(&slot->counters.xact_count, 0);
	pg_atomic_write_u64(&slot->counters.query_count, 0);
	pg_atomic_write_u64(&slot->counters.xact_time_us, 0);
	pg_atomic_write_u64(&slot->counters.query_time_us, 0);
	pg_atomic_write_u64(&slot->counters.wait_time_us, 0);

	before_shmem_exit(gov_registry_release, (Datum) 0);
	gov_my_slot = slot;

	LWLockAcquire(gov->lock, LW_EXCLUSIVE);
	slot->state = GOV_SLOT_LOGIN;
	slot->pid = MyProcPid;
	LWLockRelease(gov->lock);
}

/* Add the session's counters to its pool's totals (pools_lock held). */
static void
gov_fold_counters(GovSlot *slot)
{
	GovPoolTotals *t;

	if (slot->pool < 0)
		return;
	t = &gov_pool_array[slot->pool].totals;
	t->xact_count += pg_atomic_read_u64(&slot->counters.xact_count);
	t->query_count += pg_atomic_read_u64(&slot->counters.query_count);
	t->xact_time_us += pg_atomic_read_u64(&slot->counters.xact_time_us);
	t->query_time_us += pg_atomic_read_u64(&slot->counters.query_time_us);
	t->wait_time_us += pg_atomic_read_u64(&slot->counters.wait_time_us);
}

/*
 * Exit callback: give back the bucket slots, fold counters into the pool,
 * clear the slot and wake waiters.
 */
static void
gov_registry_release(int code, Datum arg)
{
	GovSlot    *slot = gov_my_slot;
	int			i;

	if (slot == NULL || gov == NULL)
		return;

	/* An error raised while holding a lock must not deadlock us here. */
	if (LWLockHeldByMe(gov->lock))
		LWLockRelease(gov->lock);
	if (LWLockHeldByMe(gov->pools_lock))
		LWLockRelease(gov->pools_lock);

	/*
	 * Fold and clear in one gov->lock section, so that a reader summing
	 * pool totals and live slots (stats.c) never counts a session twice.
	 */
	LWLockAcquire(gov->lock, LW_EXCLUSIVE);
	LWLockAcquire(gov->pools_lock, LW_EXCLUSIVE);
	gov_fold_counters(slot);
	LWLockRelease(gov->pools_lock);
	if (slot->state == GOV_SLOT_ADMITTED && slot->exempt == GOV_NOT_EXEMPT)
	{
		for (i = 0; i < gov->nrules; i++)
			if (GOV_RULE_ISSET(slot->rules, i) && gov->rule_state[i].in_use > 0)
				gov->rule_state[i].in_use--;
	}
	else if (slot->state == GOV_SLOT_WAITING && slot->wait_rule >= 0 &&
			 slot->wait_rule < gov->nrules &&
			 gov->rule_state[slot->wait_rule].waiting > 0)
		gov->rule_state[slot->wait_rule].waiting--;
	slot->pid = 0;
	slot->state = GOV_SLOT_FREE;
	slot->pool = -1;
	slot->beentry = NULL;
	LWLockRelease(gov->lock);

	gov_my_slot = NULL;
	ConditionVariableBroadcast(&gov->slot_freed);
}

#ifndef GOV_HAVE_MYBEENTRY
/* 13: find the backend's entry in the local snapshot by pid. */
static PgBackendStatus *
gov_find_beentry_by_pid(int pid)
{
	int			n = pgstat_fetch_stat_numbackends();
	int			i;

	for (i = 1; i <= n; i++)
	{
		LocalPgBackendStatus *local = gov_local_beentry(i);

		if (local && local->backendStatus.st_procpid == pid)
			return &local->backendStatus;
	}
	return NULL;
}
#endif

/*
 * Read what PgBackendStatus and PGPROC know of a registered session.
 * 14+ reads the shared entry directly with the changecount protocol, so
 * one row costs a few loads instead of a snapshot of every backend.
 */
void
gov_backend_info(const GovSlot *slot, int slotno, GovBackendInfo *info)
{
	PGPROC	   *proc = GetPGProcByNumber(slotno);

	memset(info, 0, sizeof(*info));
#ifdef GOV_HAVE_MYBEENTRY
	{
		volatile PgBackendStatus *be = (volatile PgBackendStatus *) slot->beentry;
		int			tries;

		if (be == NULL)
			return;
		for (tries = 0; tries < 1000; tries++)
		{
			int			before,
						after;

			pgstat_begin_read_activity(be, before);
			info->valid = be->st_procpid == slot->pid;
			info->state = be->st_state;
			info->proc_start = be->st_proc_start_timestamp;
			info->xact_start = be->st_xact_start_timestamp;
			info->state_change = be->st_state_start_timestamp;
			info->activity_start = be->st_activity_start_timestamp;
			info->databaseid = be->st_databaseid;
			pgstat_end_read_activity(be, after);
			if (pgstat_read_activity_complete(before, after))
				break;
			CHECK_FOR_INTERRUPTS();
		}
	}
#else
	{
		PgBackendStatus *be = gov_find_beentry_by_pid(slot->pid);

		if (be == NULL)
			return;
		info->valid = true;
		info->state = be->st_state;
		info->proc_start = be->st_proc_start_timestamp;
		info->xact_start = be->st_xact_start_timestamp;
		info->state_change = be->st_state_start_timestamp;
		info->activity_start = be->st_activity_start_timestamp;
		info->databaseid = be->st_databaseid;
	}
#endif
	if (!info->valid || info->state == STATE_UNDEFINED ||
		GOV_STATE_IS_STARTING(info->state))
	{
		info->valid = false;
		return;
	}
	info->wait_event_info = *((volatile uint32 *) &proc->wait_event_info);
	info->in_xact = info->xact_start != 0;
}
