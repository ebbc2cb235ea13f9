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

/* The whole exposition, palloc'd; shared memory only, no transaction needed. */
extern char *gov_metrics_text(void);

/* pgbouncer_exporter's families, from the same collected data (metrics_pgbouncer.c). */
extern void gov_metrics_pgbouncer(StringInfo b, const GovPoolsView *view,
								  const GovPoolLive *dbs, int ndb);

#endif							/* GOV_METRICS_H */
