/*-------------------------------------------------------------------------
 *
 * stats.c
 *		The averaging window, averages per pool or database, and the health
 *		signals.  The only writer of the pools' window snapshots.
 *
 * Every governor.stats_period the worker (gov_stats_window) moves each
 * pool's last snapshot to prev and takes a new last one, under
 * gov->pools_lock LW_EXCLUSIVE.  avg_* = (live - prev) / (now -
 * prev_time): a window 1 to 2 periods wide that ends at the query, like
 * PgBouncer.  Live totals come from pools.c (gov_pools_collect).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <limits.h>

#include "utils/guc.h"
#include "utils/memutils.h"

#include "pools.h"
#include "settings.h"
#include "stats.h"

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

/* The thresholds of governor.health: a warning and a critical level each. */
typedef struct GovThreshold
{
	const char *name;			/* governor.health_<name>_warn / _crit */
	const char *what;			/* "<what> that is a warning / critical" */
	const char *hint;
	int			unit;			/* GUC_UNIT_*, 0 */
	double		max;
	double	   *real[2];		/* a real setting, or */
	int		   *integer[2];		/* an integer one */
} GovThreshold;

static const GovThreshold gov_thresholds[] = {
	{"connections", "connection usage (percent of usable connections)",
	 "Usable connections are max_connections minus the reserved ones.", 0, 1000,
	 {&gov_health_conn_warn, &gov_health_conn_crit}, {NULL, NULL}},
	{"waiting", "number of sessions waiting (at login or for an active slot)", NULL, 0, INT_MAX,
	 {NULL, NULL}, {&gov_health_waiting_warn, &gov_health_waiting_crit}},
	{"wait", "average wait per server assignment over the stats period", NULL, GUC_UNIT_MS, INT_MAX,
	 {NULL, NULL}, {&gov_health_wait_warn_ms, &gov_health_wait_crit_ms}},
	{"errors", "percent of login attempts refused or failing authentication over the stats period", NULL, 0, 100,
	 {&gov_health_errors_warn, &gov_health_errors_crit}, {NULL, NULL}},
};

void
gov_stats_define_settings(void)
{
	static const char *const level[2] = {"warn", "crit"};
	static const char *const level_text[2] = {"a warning", "critical"};
	int			t,
				l;

	DefineCustomIntVariable("governor.stats_period",
							"Width of the window behind the avg_* columns of governor.stats.",
							"The worker takes a snapshot of every pool this often; averages cover the last one to two periods, like PgBouncer's stats_period.",
							&gov_stats_period_s, 60, 1, 86400,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	for (t = 0; t < lengthof(gov_thresholds); t++)
	{
		const GovThreshold *th = &gov_thresholds[t];

		for (l = 0; l < 2; l++)
		{
			/* The server keeps the descriptions, not a copy: allocate them for good. */
			MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
			char	   *name = psprintf("governor.health_%s_%s", th->name, level[l]);
			char	   *desc = psprintf("governor.health: %s that is %s.", th->what, level_text[l]);
			const char *hint = l == 0 ? th->hint : NULL;

			MemoryContextSwitchTo(old);

			if (th->real[l] != NULL)
				DefineCustomRealVariable(name, desc, hint, th->real[l], *th->real[l], 0, th->max,
										 PGC_SIGHUP, th->unit, NULL, NULL, NULL);
			else
				DefineCustomIntVariable(name, desc, hint, th->integer[l], *th->integer[l], 0,
										(int) th->max, PGC_SIGHUP, th->unit, NULL, NULL, NULL);
		}
	}
}

/*
 * Per-database rows: sums of the pools of each database, in order of
 * first appearance; prev_time is the earliest window start among them.
 */
GovPoolLive *
gov_stats_by_database(const GovPoolsView *view, int *ndb)
{
	GovPoolLive *dbs = palloc0(sizeof(GovPoolLive) * Max(view->nrows, 1));
	int			n = 0;
	int			i;

	for (i = 0; i < view->nrows; i++)
	{
		const GovPoolLive *pl = &view->rows[i];
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
		if (pl->prev_time != 0 && (d->prev_time == 0 || pl->prev_time < d->prev_time))
			d->prev_time = pl->prev_time;
		gov_gauges_merge(&d->g, &pl->g);
	}
	*ndb = n;
	return dbs;
}

/* PgBouncer 1.23+ averages: rates per second, times per event. */
void
gov_stats_averages(const GovPoolLive *row, TimestampTz now, GovAverages *avg)
{
	const GovPoolTotals *live = &row->live;
	const GovPoolTotals *prev = &row->prev;
	int64		window_us = row->prev_time ? now - row->prev_time : 0;
	uint64		dxact = live->xact_count - prev->xact_count;
	uint64		dquery = live->query_count - prev->query_count;
	uint64		dassign = live->assignments - prev->assignments;

	memset(avg, 0, sizeof(*avg));
	if (window_us <= 0)
		return;
	avg->xact_count = (int64) ((double) dxact * USECS_PER_SEC / window_us);
	avg->query_count = (int64) ((double) dquery * USECS_PER_SEC / window_us);
	if (dxact > 0)
		avg->xact_time = (int64) ((live->xact_time_us - prev->xact_time_us) / dxact);
	if (dquery > 0)
		avg->query_time = (int64) ((live->query_time_us - prev->query_time_us) / dquery);
	if (dassign > 0)
		avg->wait_time = (int64) ((live->wait_time_us - prev->wait_time_us) / dassign);
}

/*
 * Rotate every pool's snapshots.  A pool created since keeps the window
 * start pools.c gave it.  Skipped if reset_stats() ran while we were
 * collecting.
 */
void
gov_stats_window(void)
{
	GovPoolsView view;
	int			i;

	gov_pools_collect(&view, false);
	LWLockAcquire(gov->pools_lock, LW_EXCLUSIVE);
	if (gov->stats_reset_time == view.stats_reset)
	{
		for (i = 0; i < view.npools; i++)
		{
			GovPool    *pool = &gov_pool_array[gov_pool_of_row(&view, i)];

			if (!view.rows[i].used)
				continue;
			pool->prev_snapshot = pool->last_snapshot;
			pool->prev_snapshot_time = pool->last_snapshot_time;
			pool->last_snapshot = view.rows[i].live;
			pool->last_snapshot_time = view.now;
		}
	}
	LWLockRelease(gov->pools_lock);
	pfree(view.rows);
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

/* The signals of governor.health, from a collected view. */
void
gov_health_compute(const GovPoolsView *view, GovHealthRow *rows)
{
	int			usable = gov_usable_connections();
	uint64		dwait = 0,
				dassign = 0,
				dconn = 0,
				drej = 0,
				dauth = 0;
	int			i;

	GovRulesStatus status;
	bool		loaded;

	for (i = 0; i < view->npools; i++)
	{
		const GovPoolLive *pl = &view->rows[i];

		if (!pl->used)
			continue;
		dwait += pl->live.wait_time_us - pl->prev.wait_time_us;
		dassign += pl->live.assignments - pl->prev.assignments;
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
				   dassign > 0 ? (double) dwait / dassign / 1000.0 : 0,
				   gov_health_wait_warn_ms, gov_health_wait_crit_ms);
	gov_health_row(&rows[GOV_HEALTH_ERRORS], "connection_error_rate_percent",
				   dconn + drej + dauth > 0 ?
				   100.0 * (drej + dauth) / (dconn + drej + dauth) : 0,
				   gov_health_errors_warn, gov_health_errors_crit);

	/*
	 * Whether the rules in force are the table's: 0 current (or no
	 * extension to read), 1 the last read failed and older rules are in
	 * force, 2 none read since the server started.
	 */
	LWLockAcquire(gov->lock, LW_SHARED);
	status = gov->rules_status;
	loaded = gov->rules_loaded;
	LWLockRelease(gov->lock);
	gov_health_row(&rows[GOV_HEALTH_RULES], "rules_state",
				   !loaded ? 2 :
				   status == GOV_RULES_LOADED || status == GOV_RULES_NO_EXTENSION ? 0 : 1,
				   1, 2);
}

