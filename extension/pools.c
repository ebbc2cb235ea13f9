/*-------------------------------------------------------------------------
 *
 * pools.c
 *		The pool table and the governance totals, and the live view of
 *		pools that views, stats and metrics read.
 *
 * A pool is created when a session of its (database, user,
 * application_name) really starts (its login transaction commits), so
 * names a client makes up for a login that never completes never take a
 * row.  Past governor.max_pools, sessions count in one overflow row.
 *
 * Locking:
 *	gov->pools_lock LW_EXCLUSIVE to insert a pool or change its totals,
 *		LW_SHARED to look one up or read totals.
 *	A session's counters fold into its pool inside the gov->lock
 *		LW_EXCLUSIVE section that clears its slot, and readers sum pool
 *		totals and live slots under gov->lock LW_SHARED, so a session is
 *		never counted twice nor lost: live totals never go down.
 *	gov_pools_reset stores minus the live sessions' counters in the pool
 *		totals (uint64 arithmetic is modular), so it writes no other
 *		session's slot.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/shmem.h"
#include "utils/hsearch.h"

#include "pools.h"
#include "registry.h"
#include "settings.h"

GovPool    *gov_pool_array = NULL;

static HTAB *gov_pool_hash = NULL;

typedef struct GovPoolHashEntry
{
	GovPoolKey	key;
	int			index;
} GovPoolHashEntry;

Size
gov_pools_shmem_size(void)
{
	return add_size(mul_size(gov_max_pools + 1, sizeof(GovPool)),
					hash_estimate_size(gov_max_pools + 1, sizeof(GovPoolHashEntry)));
}

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
gov_pool_key(GovPoolKey *key, const char *database, const char *role,
			 const char *appname)
{
	gov_name_copy(&key->database, database);
	gov_name_copy(&key->role, role);
	gov_name_copy(&key->appname, appname);
}

/* Index of an existing pool, -1 if none. */
static int
gov_pool_find(const GovPoolKey *key)
{
	GovPoolHashEntry *entry;
	int			index;

	LWLockAcquire(gov->pools_lock, LW_SHARED);
	entry = hash_search(gov_pool_hash, key, HASH_FIND, NULL);
	index = entry ? entry->index : -1;
	LWLockRelease(gov->pools_lock);
	return index;
}

static void
gov_pool_init(GovPool *pool, const GovPoolKey *key, bool overflow)
{
	memset(pool, 0, sizeof(*pool));
	pool->key = *key;
	pool->overflow = overflow;
	/* Its stats window starts now. */
	pool->prev_snapshot_time = pool->last_snapshot_time = GetCurrentTimestamp();
}

/* The overflow row, made on first use.  Caller holds pools_lock exclusively. */
static int
gov_pool_overflow_locked(void)
{
	GovPool    *pool = &gov_pool_array[gov_max_pools];

	if (!pool->overflow)
	{
		GovPoolKey	key;

		gov_pool_key(&key, "*", "*", "*overflow*");
		gov_pool_init(pool, &key, true);
	}
	return gov_max_pools;
}

/* Find or make the pool of a key; the overflow row when the table is full. */
static int
gov_pool_enter_locked(const GovPoolKey *key)
{
	GovPoolHashEntry *entry;
	bool		found;

	Assert(LWLockHeldByMeInMode(gov->pools_lock, LW_EXCLUSIVE));
	entry = gov->npools < gov_max_pools ?
		hash_search(gov_pool_hash, key, HASH_ENTER_NULL, &found) :
		hash_search(gov_pool_hash, key, HASH_FIND, &found);
	if (entry == NULL)
		return gov_pool_overflow_locked();
	if (!found)
	{
		entry->index = gov->npools++;
		gov_pool_init(&gov_pool_array[entry->index], key, false);
	}
	return entry->index;
}

static void
gov_pool_count_locked(int pool, GovPoolCounter which)
{
	GovPoolTotals *t = &gov_pool_array[pool].totals;

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
}

int
gov_pool_get(const GovPoolKey *key, GovPoolCounter which)
{
	int			index;

	LWLockAcquire(gov->pools_lock, LW_EXCLUSIVE);
	index = gov_pool_enter_locked(key);
	gov_pool_count_locked(index, which);
	LWLockRelease(gov->pools_lock);
	return index;
}

void
gov_pool_count_refused(const char *database, const char *role, const char *appname,
					   bool real, GovPoolCounter which)
{
	GovPoolKey	key;
	GovPoolHashEntry *entry;
	int			index;

	gov_pool_key(&key, database, role, appname);
	LWLockAcquire(gov->pools_lock, LW_EXCLUSIVE);
	entry = hash_search(gov_pool_hash, &key, HASH_FIND, NULL);
	if (entry != NULL)
		index = entry->index;
	else if (!real)
		index = gov_pool_overflow_locked();
	else
	{
		gov_pool_key(&key, database, role, "");
		index = gov_pool_enter_locked(&key);
	}
	gov_pool_count_locked(index, which);
	LWLockRelease(gov->pools_lock);
}

void
gov_pool_count(int pool, GovPoolCounter which)
{
	if (pool < 0)
		return;
	LWLockAcquire(gov->pools_lock, LW_EXCLUSIVE);
	gov_pool_count_locked(pool, which);
	LWLockRelease(gov->pools_lock);
}

/* The one place that sums a session's counters into totals (sign -1: out). */
static void
gov_totals_apply(GovPoolTotals *t, GovCounters *c, int sign)
{
	t->xact_count += sign * pg_atomic_read_u64(&c->xact_count);
	t->query_count += sign * pg_atomic_read_u64(&c->query_count);
	t->xact_time_us += sign * pg_atomic_read_u64(&c->xact_time_us);
	t->query_time_us += sign * pg_atomic_read_u64(&c->query_time_us);
	t->wait_time_us += sign * pg_atomic_read_u64(&c->wait_time_us);
	t->assignments += sign * pg_atomic_read_u64(&c->assignments);
}

void
gov_pool_fold(GovSlot *slot)
{
	Assert(LWLockHeldByMeInMode(gov->lock, LW_EXCLUSIVE));
	if (slot->pool < 0)
		return;
	LWLockAcquire(gov->pools_lock, LW_EXCLUSIVE);
	gov_totals_apply(&gov_pool_array[slot->pool].totals, &slot->counters, 1);
	LWLockRelease(gov->pools_lock);
}

static void
gov_pool_zero(GovPool *pool, TimestampTz now)
{
	memset(&pool->totals, 0, sizeof(pool->totals));
	memset(&pool->prev_snapshot, 0, sizeof(pool->prev_snapshot));
	memset(&pool->last_snapshot, 0, sizeof(pool->last_snapshot));
	pool->prev_snapshot_time = pool->last_snapshot_time = now;
}

void
gov_pools_reset(void)
{
	TimestampTz now = GetCurrentTimestamp();
	int			i;

	LWLockAcquire(gov->lock, LW_SHARED);
	LWLockAcquire(gov->pools_lock, LW_EXCLUSIVE);
	/* The rows in use and the overflow row: the others were never written. */
	for (i = 0; i < gov->npools; i++)
		gov_pool_zero(&gov_pool_array[i], now);
	gov_pool_zero(&gov_pool_array[gov_max_pools], now);
	for (i = 0; i < gov_nslots; i++)
	{
		GovSlot    *slot = &gov_slots[i];

		if (slot->pid != 0 && slot->pool >= 0)
			gov_totals_apply(&gov_pool_array[slot->pool].totals, &slot->counters, -1);
	}
	gov->stats_reset_time = now;
	LWLockRelease(gov->pools_lock);
	LWLockRelease(gov->lock);
}

static inline void
gov_min_time(TimestampTz *acc, TimestampTz v)
{
	if (v != 0 && (*acc == 0 || v < *acc))
		*acc = v;
}

/*
 * The PgBouncer mapping of one session: cl_active = admitted, cl_waiting
 * = queued at login or for an active slot, sv_active = inside a
 * transaction, sv_idle = outside one, sv_login = past authentication but
 * admission or startup not finished.
 */
static void
gov_gauges_add(GovPoolGauges *g, const GovSlot *slot, int slotno)
{
	GovBackendInfo info;

	g->sessions++;
	gov_min_time(&g->oldest_session, slot->connect_time);
	if (slot->has_max_active)
		g->transaction_mode = true;
	if (slot->state == GOV_SLOT_WAITING)
	{
		g->cl_waiting++;
		gov_min_time(&g->oldest_wait, slot->wait.start);
		return;
	}
	if (slot->state != GOV_SLOT_ADMITTED)
	{
		g->sv_login++;
		return;
	}
	gov_backend_info(slot, slotno, &info);
	if (slot->wait.waiting)
	{
		/* Waiting for an active slot: its transaction has not begun for us. */
		g->cl_waiting++;
		g->sv_idle++;
		gov_min_time(&g->oldest_wait, slot->wait.start);
		return;
	}
	g->cl_active++;
	if (!info.valid)
	{
		g->sv_login++;			/* admitted, startup not finished yet */
		return;
	}
	/* Under max_active, "in a transaction" is holding an active slot. */
	if (slot->has_max_active ? slot->holds_active : info.in_xact)
	{
		g->sv_active++;
		gov_min_time(&g->oldest_xact, info.xact_start);
	}
	else
		g->sv_idle++;
	if (info.state == STATE_IDLEINTRANSACTION ||
		info.state == STATE_IDLEINTRANSACTION_ABORTED)
		g->idle_in_xact++;
	if ((info.wait_event_info & 0xFF000000) == PG_WAIT_LOCK)
		g->waiting_on_lock++;
}

void
gov_totals_add(GovPoolTotals *t, const GovPoolTotals *a)
{
	uint64	   *into = (uint64 *) t;
	const uint64 *add = (const uint64 *) a;
	int			i;

	/* Every total is a uint64 counter: sum them as an array. */
	StaticAssertStmt(sizeof(GovPoolTotals) % sizeof(uint64) == 0,
					 "GovPoolTotals holds only uint64 counters");
	for (i = 0; i < sizeof(GovPoolTotals) / sizeof(uint64); i++)
		into[i] += add[i];
}

void
gov_gauges_merge(GovPoolGauges *into, const GovPoolGauges *g)
{
	into->sessions += g->sessions;
	into->cl_active += g->cl_active;
	into->cl_waiting += g->cl_waiting;
	into->sv_active += g->sv_active;
	into->sv_idle += g->sv_idle;
	into->sv_login += g->sv_login;
	into->idle_in_xact += g->idle_in_xact;
	into->waiting_on_lock += g->waiting_on_lock;
	gov_min_time(&into->oldest_wait, g->oldest_wait);
	gov_min_time(&into->oldest_xact, g->oldest_xact);
	gov_min_time(&into->oldest_session, g->oldest_session);
	into->transaction_mode |= g->transaction_mode;
}

/* A session whose pool is not made yet, copied under the lock. */
typedef struct GovPoollessSession
{
	GovPoolKey	key;
	GovPoolGauges g;
} GovPoollessSession;

void
gov_pools_collect(GovPoolsView *view, bool gauges)
{
	/* Pools only grow: rows for those made after this read wait for the next call. */
	int			npools = Min(gov->npools, gov_max_pools) + 1;
	int			overflow_row = npools - 1;
	GovPoollessSession *poolless = NULL;
	int			npoolless = 0;
	int			i;

	memset(view, 0, sizeof(*view));
	view->npools = npools;
	view->rows = palloc0(sizeof(GovPoolLive) * (npools + (gauges ? gov_nslots : 0)));
	if (gauges)
		poolless = palloc(sizeof(GovPoollessSession) * gov_nslots);
	view->now = GetCurrentTimestamp();

	/* gov->lock shared: no session folds its counters while we sum. */
	LWLockAcquire(gov->lock, LW_SHARED);
	LWLockAcquire(gov->pools_lock, LW_SHARED);
	view->stats_reset = gov->stats_reset_time;
	for (i = 0; i < npools; i++)
	{
		GovPool    *pool = &gov_pool_array[gov_pool_of_row(view, i)];
		GovPoolLive *row = &view->rows[i];

		if (i == overflow_row && !pool->overflow)
			continue;
		row->used = true;
		row->key = pool->key;
		row->live = pool->totals;
		row->prev = pool->prev_snapshot;
		row->prev_time = pool->prev_snapshot_time;
	}
	LWLockRelease(gov->pools_lock);

	for (i = 0; i < gov_nslots; i++)
	{
		GovSlot    *slot = &gov_slots[i];
		int			row = -1;

		if (slot->pid == 0)
			continue;
		if (slot->exempt != GOV_EXEMPT_REPLICATION)
			view->in_use++;
		if (slot->wait.waiting)
			view->waiting++;
		if (slot->pool == gov_max_pools)
			row = overflow_row;
		else if (slot->pool >= 0 && slot->pool < overflow_row)
			row = slot->pool;
		if (row >= 0 && view->rows[row].used)
		{
			gov_totals_apply(&view->rows[row].live, &slot->counters, 1);
			if (gauges)
				gov_gauges_add(&view->rows[row].g, slot, i);
		}
		else if (gauges)
		{
			GovPoollessSession *p = &poolless[npoolless++];

			p->key = slot->id.key;
			memset(&p->g, 0, sizeof(p->g));
			gov_gauges_add(&p->g, slot, i);
		}
	}
	LWLockRelease(gov->lock);

	/* Sessions without a pool yet (queued logins, mostly): rows by key. */
	view->nrows = npools;
	for (i = 0; i < npoolless; i++)
	{
		GovPoollessSession *p = &poolless[i];
		int			j;

		for (j = npools; j < view->nrows; j++)
			if (memcmp(&view->rows[j].key, &p->key, sizeof(GovPoolKey)) == 0)
				break;
		if (j == view->nrows)
		{
			/* Its pool may exist by now; else it is a row of its own. */
			j = gov_pool_find(&p->key);
			if (j < 0 || j >= overflow_row)
			{
				j = view->nrows++;
				view->rows[j].used = true;
				view->rows[j].key = p->key;
				view->rows[j].prev_time = view->now;
			}
		}
		gov_gauges_merge(&view->rows[j].g, &p->g);
	}
	if (poolless)
		pfree(poolless);
	if (gauges)
		gov_clear_status_snapshot();
}
