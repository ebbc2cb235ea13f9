/*-------------------------------------------------------------------------
 *
 * rules.h
 *		Reading governor.rules (worker only) and matching sessions to the
 *		compiled rules in shared memory.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOV_RULES_H
#define GOV_RULES_H

#include "pg_governor.h"

typedef enum GovRulesRead
{
	GOV_READ_OK,
	GOV_READ_NO_EXTENSION,		/* pg_governor is not installed here */
	GOV_READ_BUSY				/* governor.rules is locked: try again later */
} GovRulesRead;

/*
 * Worker, inside a transaction with a snapshot: read the enabled rows of
 * governor.rules into rules[] (governor.max_rules entries), sorted by
 * name, each validated and compiled.  *nenabled is the number of enabled
 * rows, which may exceed what fits.  Never waits for a lock.
 */
extern GovRulesRead gov_rules_read(GovRule *rules, int *nrules, int *nenabled);

/*
 * Worker, inside a transaction: does each rule's role and database still
 * exist by name?  Records why not in the rule's state (a rename is named
 * as such), once per change, with a WARNING and an event.
 */
extern void gov_rules_check_names(void);

/*
 * Match a session against the loaded rules: its rule set, effective
 * limits, priority and whether a max_active rule governs it.  Caller
 * holds gov->lock exclusively.
 */
extern void gov_match_rules(GovSlot *slot);

/* Index of the loaded rule with this name, -1 if none.  Caller holds gov->lock. */
extern int	gov_find_rule(const char *name);

/*
 * A copy of the rules in force and their state, for work that must not
 * run under gov->lock: arrays of governor.max_rules entries, allocated by
 * gov_rules_alloc before taking the lock; gov_rules_copy (caller holds
 * gov->lock) fills them and returns how many rules there are.
 */
typedef struct GovRulesCopy
{
	GovRule    *rules;
	GovRuleState *states;
} GovRulesCopy;

extern void gov_rules_alloc(GovRulesCopy *copy);
extern int	gov_rules_copy(GovRulesCopy *copy);

/* The rule's queue timeout in ms (its own, else governor.queue_timeout). */
extern int64 gov_rule_queue_timeout(const GovRule *rule);

#endif							/* GOV_RULES_H */
