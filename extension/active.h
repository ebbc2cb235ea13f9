/*-------------------------------------------------------------------------
 *
 * active.h
 *		Active-transaction slots (max_active): a session governed by a
 *		max_active rule takes a slot when its transaction starts and gives
 *		it back when the transaction ends.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOV_ACTIVE_H
#define GOV_ACTIVE_H

#include "pg_governor.h"
#include "registry.h"

/*
 * Called by the query-path hooks (counters.c) when a statement of a new
 * transaction starts in a session that a max_active rule may govern: take
 * the slot, waiting for it if needed (ERROR 53400 at the queue timeout;
 * cancellable like any statement).  Cheap when the session already holds
 * it for this transaction.
 */
extern void gov_active_begin(void);

/*
 * The current transaction's wait for its slot (0: none) and when it ended:
 * counters.c leaves it out of the transaction's and statement's times and
 * resets it at transaction end.
 */
extern int64 gov_active_waited_us;
extern TimestampTz gov_active_wait_end;

/* Called at transaction end (commit, abort, prepare): give the slot back. */
extern void gov_active_end(void);

/* Does this session have a slot, or wait for one, that the end must settle? */
static inline bool
gov_active_pending(const GovSlot *slot)
{
	return slot->holds_active || slot->wait.waiting;
}

#endif							/* GOV_ACTIVE_H */
