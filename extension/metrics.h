/*-------------------------------------------------------------------------
 *
 * metrics.h
 *		The Prometheus text exposition (governor.metrics() and /metrics).
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOV_METRICS_H
#define GOV_METRICS_H

/* The whole exposition, palloc'd; shared memory only, no transaction needed. */
extern char *gov_metrics_text(void);

#endif							/* GOV_METRICS_H */
