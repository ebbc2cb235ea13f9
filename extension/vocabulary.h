/*-------------------------------------------------------------------------
 *
 * vocabulary.h
 *		The words the governor speaks, one table each: why it ends a
 *		session (the four rule limits, reconnect, kill, eviction) and the
 *		actions it records.  Enforcement, views, events and metrics all
 *		index these tables; nothing else spells the names out.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOV_VOCABULARY_H
#define GOV_VOCABULARY_H

/* Why the governor ends a session.  The first GOV_NUM_LIMITS are rule limits. */
typedef enum GovEndKind
{
	GOV_END_IDLE_IN_XACT = 0,
	GOV_END_IDLE,
	GOV_END_LIFETIME,
	GOV_END_XACT_DURATION,
	GOV_END_RECONNECT,			/* governor.reconnect() */
	GOV_END_KILL,				/* governor.kill() */
	GOV_END_EVICT,				/* evict_idle_after, for a waiting login */
	GOV_NUM_END_KINDS
} GovEndKind;

#define GOV_NUM_LIMITS			4	/* GOV_END_IDLE_IN_XACT .. XACT_DURATION */

/* What must still hold just before the governor signals a session. */
typedef enum GovRecheck
{
	GOV_RECHECK_NONE,			/* admin kill: same process only */
	GOV_RECHECK_IDLE_SPELL,		/* still idle, same idle spell */
	GOV_RECHECK_IDLE_NOW,		/* idle now, outside a transaction */
	GOV_RECHECK_IDLE_IN_XACT,	/* same idle-in-transaction spell */
	GOV_RECHECK_XACT			/* same transaction */
} GovRecheck;

typedef struct GovEndInfo
{
	const char *name;			/* rule column / event reason / metric label */
	const char *usage_column;	/* its total in governor.rule_usage, or NULL */
	int			sqlstate;		/* what the client's FATAL carries */
	const char *measured;		/* "idle for" ... (limits only) */
	const char *advice;			/* DETAIL of the client's FATAL */
	GovRecheck	recheck;
} GovEndInfo;

extern const GovEndInfo gov_ends[GOV_NUM_END_KINDS];

/* Actions recorded in governor.events (and logged). */
typedef enum GovAction
{
	GOV_ACTION_REJECT = 0,
	GOV_ACTION_WOULD_REJECT,
	GOV_ACTION_TERMINATE,
	GOV_ACTION_WOULD_TERMINATE,
	GOV_ACTION_KILL,
	GOV_ACTION_RECONNECT,
	GOV_ACTION_EVICT,
	GOV_ACTION_ABANDON,			/* a queued client went away */
	GOV_ACTION_WOULD_WAIT,		/* monitor: a transaction would wait */
	GOV_ACTION_BAN,
	GOV_ACTION_BANNED_REJECT,
	GOV_ACTION_UNBAN,
	GOV_ACTION_RULE_PROBLEM,	/* a rule stopped matching anyone */
	GOV_NUM_ACTIONS
} GovAction;

extern const char *const gov_action_names[GOV_NUM_ACTIONS];

#endif							/* GOV_VOCABULARY_H */
