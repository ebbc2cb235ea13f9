/*-------------------------------------------------------------------------
 *
 * events.h
 *		The event ring behind governor.events: every action the governor
 *		takes or, in monitor mode, would take; each is also one LOG line.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOV_EVENTS_H
#define GOV_EVENTS_H

#include "pg_governor.h"

/*
 * Record an action.  who may be NULL (an action on a rule, not a
 * session); rule is a rule name or NULL.  Takes gov->events_lock only, so
 * callers may hold gov->lock.
 */
extern void gov_event_record(const GovIdentity *who, const char *rule,
							 GovAction action, const char *reason,
							 double observed, double limit);

#endif							/* GOV_EVENTS_H */
