/*-------------------------------------------------------------------------
 *
 * prom.h
 *		Writing the Prometheus text exposition format: families, label
 *		values (escaped, valid UTF-8), numbers and histograms.  Text only;
 *		no shared state.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOV_PROM_H
#define GOV_PROM_H

#include "lib/stringinfo.h"

#include "histogram.h"

/* # HELP and # TYPE lines of a family. */
extern void gov_prom_family(StringInfo b, const char *name, const char *type,
							const char *help);

/* A label value: valid UTF-8, backslash, double quote and newline escaped. */
extern void gov_prom_value(StringInfo b, const char *s);

/* {name="value",...} from name, value, ..., NULL; values escaped. */
extern void gov_prom_labels(StringInfo b, const char *const *pairs);

/* ' value\n' */
extern void gov_prom_double(StringInfo b, double v);
extern void gov_prom_uint(StringInfo b, uint64 v);

/*
 * The samples of one histogram: name_bucket{labels,le=...} (cumulative),
 * name_sum and name_count.  pairs as for gov_prom_labels, or NULL for none.
 */
extern void gov_prom_histogram(StringInfo b, const char *name,
							   const char *const *pairs, const GovHistogram *h);

/*
 * Give every sample line of an exposition the constant labels (already
 * escaped, 'a="x",b="y"'); returns a new palloc'd text.
 */
extern char *gov_prom_add_labels(const char *text, const char *labels);

#endif							/* GOV_PROM_H */
