/*-------------------------------------------------------------------------
 *
 * pools.h
 *		The pool table: one row of totals per (database, user,
 *		application_name at login), bounded by governor.max_pools plus an
 *		overflow row, and the live view of pools that views, stats and
 *		metrics read.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOV_POOLS_H
#define GOV_POOLS_H

#include "pg_governor.h"
#include "settings.h"

extern GovPool *gov_pool_array; /* max_pools + 1 entries, by index */

typedef enum GovPoolCounter
{
	GOV_POOL_CONNECTIONS,
	GOV_POOL_REJECTED,
	GOV_POOL_TERMINATED,
	GOV_POOL_AUTH_FAILED
} GovPoolCounter;

/* Shared memory: the pool table and its hash. */
extern Size gov_pools_shmem_size(void);

/* Shared memory startup, in every process: attach the hash. */
extern void gov_pools_attach(void);

/*
 * Index of the pool, created if needed (the overflow row past max_pools),
 * with one added to a total of it, in one hold of the pools lock.
 */
extern int	gov_pool_get(const GovPoolKey *key, GovPoolCounter which);

/*
 * Add one to a total of the pool a refused or failed login counts in:
 * its own if it exists, else, when real (its database and role exist), its (database, user)
 * pool, so a client cannot make up rows; else the overflow row.
 */
extern void gov_pool_count_refused(const char *database, const char *role,
								   const char *appname, bool real, GovPoolCounter which);

/* Add one to a governance total of a pool (-1: nothing). */
extern void gov_pool_count(int pool, GovPoolCounter which);

/*
 * Fold an ending session's counters into its pool.  Caller holds
 * gov->lock exclusively, so readers never count the session twice.
 */
extern void gov_pool_fold(GovSlot *slot);

/* Zero every pool's live totals; the window restarts. */
extern void gov_pools_reset(void);

/*
 * What governor.pools shows of a pool's current sessions: one definition
 * of the PgBouncer mapping, for the pools view, stats and metrics.
 */
typedef struct GovPoolGauges
{
	int			sessions;
	int			cl_active;
	int			cl_waiting;
	int			sv_active;
	int			sv_idle;
	int			sv_login;
	int			idle_in_xact;
	int			waiting_on_lock;
	TimestampTz oldest_wait;
	TimestampTz oldest_xact;
	TimestampTz oldest_session;
	bool		transaction_mode;	/* a max_active rule applies */
} GovPoolGauges;

/* One row of the live view: a pool, or sessions whose pool is not made yet. */
typedef struct GovPoolLive
{
	bool		used;
	GovPoolKey	key;
	GovPoolTotals live;			/* folded totals + live sessions' counters */
	GovPoolTotals prev;			/* window start (modular uint64 deltas) */
	TimestampTz prev_time;
	GovPoolGauges g;			/* only when collected with gauges */
} GovPoolLive;

typedef struct GovPoolsView
{
	TimestampTz now;
	TimestampTz stats_reset;
	int			npools;			/* rows of the pool table (used or not) */
	int			nrows;			/* npools + rows of pool-less sessions */
	GovPoolLive *rows;
	int			in_use;			/* registered non-replication sessions */
	int			waiting;		/* sessions queued at login or for an active slot */
} GovPoolsView;

/* The pool table index of a row below npools: the last one is the overflow row. */
static inline int
gov_pool_of_row(const GovPoolsView *view, int row)
{
	return row == view->npools - 1 ? gov_max_pools : row;
}

/* Sums of totals and of gauges (rows per database, for instance). */
extern void gov_totals_add(GovPoolTotals *t, const GovPoolTotals *a);
extern void gov_gauges_merge(GovPoolGauges *into, const GovPoolGauges *g);

/*
 * Live totals of every pool and, with gauges, the current sessions of
 * each (queued logins, whose pool is created only once they start, get
 * rows of their own).  Allocates before taking any lock.
 */
extern void gov_pools_collect(GovPoolsView *view, bool gauges);

#endif							/* GOV_POOLS_H */
