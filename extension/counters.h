/*-------------------------------------------------------------------------
 *
 * counters.h
 *		The query-path hooks that count a session's transactions and
 *		queries into its own slot.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOV_COUNTERS_H
#define GOV_COUNTERS_H

extern void gov_counters_init(void);

#endif							/* GOV_COUNTERS_H */
