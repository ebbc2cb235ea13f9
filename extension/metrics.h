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

/* pgbouncer_exporter's families, from the same collected data (metrics_pgbouncer.c). */
extern void gov_metrics_pgbouncer(StringInfo b, const GovPoolsView *view,
								  const GovPoolLive *dbs, int ndb);

#endif							/* GOV_METRICS_H */
