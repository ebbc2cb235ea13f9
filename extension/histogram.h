/*-------------------------------------------------------------------------
 *
 * histogram.h
 *		Fixed-bucket histograms of durations, in the Prometheus sense:
 *		upper bounds from 1 ms to 60 s, counts per bucket (not cumulative;
 *		the exposition adds them up), and the sum.  Plain data: whoever
 *		owns one says which lock guards it, or uses the atomic variant.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOV_HISTOGRAM_H
#define GOV_HISTOGRAM_H

#include "port/atomics.h"

#define GOV_HIST_BOUNDS 15

/* Upper bounds in microseconds (vocabulary.c); the last bucket is +Inf. */
extern const int64 gov_hist_bounds_us[GOV_HIST_BOUNDS];

typedef struct GovHistogram
{
	uint64		count[GOV_HIST_BOUNDS + 1];
	uint64		sum_us;
} GovHistogram;

/* The same, for writers that take no lock. */
typedef struct GovAtomicHistogram
{
	pg_atomic_uint64 count[GOV_HIST_BOUNDS + 1];
	pg_atomic_uint64 sum_us;
} GovAtomicHistogram;

static inline int
gov_hist_bucket(int64 us)
{
	int			i;

	for (i = 0; i < GOV_HIST_BOUNDS; i++)
		if (us <= gov_hist_bounds_us[i])
			return i;
	return GOV_HIST_BOUNDS;
}

static inline void
gov_hist_observe(GovHistogram *h, int64 us)
{
	if (us < 0)
		us = 0;
	h->count[gov_hist_bucket(us)]++;
	h->sum_us += (uint64) us;
}

static inline void
gov_hist_observe_atomic(GovAtomicHistogram *h, int64 us)
{
	if (us < 0)
		us = 0;
	pg_atomic_fetch_add_u64(&h->count[gov_hist_bucket(us)], 1);
	pg_atomic_fetch_add_u64(&h->sum_us, (uint64) us);
}

static inline void
gov_hist_read_atomic(GovAtomicHistogram *h, GovHistogram *out)
{
	int			i;

	for (i = 0; i <= GOV_HIST_BOUNDS; i++)
		out->count[i] = pg_atomic_read_u64(&h->count[i]);
	out->sum_us = pg_atomic_read_u64(&h->sum_us);
}

#endif							/* GOV_HISTOGRAM_H */
