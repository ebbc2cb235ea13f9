/*-------------------------------------------------------------------------
 *
 * metrics.h
 *		The Prometheus text exposition (governor.metrics() and /metrics).
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOV_METRICS_H
#define GOV_METRICS_H

#include "lib/stringinfo.h"

#include "pools.h"
#include "rules.h"

typedef enum GovMetricsCompat
{
	GOV_COMPAT_NONE = 0,
	GOV_COMPAT_PGBOUNCER
} GovMetricsCompat;

extern void gov_metrics_define_settings(void);

/*
 * Microseconds from a timestamp to now, for "how long has the oldest ...
 * been waiting": 0 when there is none (since = 0) or the clock went back.
 */
static inline int64
gov_age_us(TimestampTz since, TimestampTz now)
{
	return since != 0 && now > since ? now - since : 0;
}

/* The whole exposition, palloc'd; shared memory only, no transaction needed. */
extern char *gov_metrics_text(void);

/*
 * What the exposition reads under gov->lock, copied in one acquisition so
 * that nothing is matched or formatted under it.
 */
typedef struct GovMetricsCopy
{
	GovRulesCopy rules;			/* the rules in force and their state */
	int			nrules;
	int			nqueued;
	bool		all_paused;
	bool		all_disabled;
	int			ndbflags;
	GovDbFlag	dbflags[GOV_MAX_DB_FLAGS];
} GovMetricsCopy;

/* pgbouncer_exporter's families, from the same collected data (metrics_pgbouncer.c). */
extern void gov_metrics_pgbouncer(StringInfo b, const GovPoolsView *view,
								  const GovPoolLive *dbs, int ndb,
								  const GovMetricsCopy *copy);

#endif							/* GOV_METRICS_H */
