/*-------------------------------------------------------------------------
 *
 * stats.h
 *		The averaging window behind avg_*, averages per database or pool,
 *		and the health signals.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOV_STATS_H
#define GOV_STATS_H

#include "pools.h"

extern int	gov_stats_period_s;

extern void gov_stats_define_settings(void);

/* Worker, once per governor.stats_period: move the window on. */
extern void gov_stats_window(void);

/* Averages over the window, PgBouncer 1.23+ units. */
typedef struct GovAverages
{
	int64		xact_count;		/* per second */
	int64		query_count;	/* per second */
	int64		xact_time;		/* us per transaction */
	int64		query_time;		/* us per query */
	int64		wait_time;		/* us per admitted connection */
} GovAverages;

extern void gov_stats_averages(const GovPoolLive *row, TimestampTz now,
							   GovAverages *avg);

/* Per-database rows: the sums of each database's pools (palloc'd). */
extern GovPoolLive *gov_stats_by_database(const GovPoolsView *view, int *ndb);

typedef enum GovHealthSignal
{
	GOV_HEALTH_CONNECTIONS = 0,
	GOV_HEALTH_WAITING,
	GOV_HEALTH_AVG_WAIT,
	GOV_HEALTH_ERRORS,
	GOV_HEALTH_RULES,
	GOV_HEALTH_NUM
} GovHealthSignal;

typedef struct GovHealthRow
{
	const char *signal;
	double		value;
	double		warn;
	double		crit;
	int			status;			/* 0 ok, 1 warn, 2 crit */
} GovHealthRow;

extern void gov_health_compute(const GovPoolsView *view, GovHealthRow *rows);
extern const char *gov_health_status_name(int status);

#endif							/* GOV_STATS_H */
