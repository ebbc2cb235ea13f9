/*-------------------------------------------------------------------------
 *
 * enforcement.h
 *		Session limits: deadlines, ending a session with a notice that
 *		names the limit and the rule, and the worker's enforcement pass.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOV_ENFORCEMENT_H
#define GOV_ENFORCEMENT_H

#include "pg_governor.h"
#include "access/xact.h"

#include "registry.h"

/* When and why the governor will end a session that stays as it is. */
typedef struct GovDeadline
{
	TimestampTz deadline;
	GovEndKind	kind;
	int			rule;			/* rule setting the limit, -1 = none */
	int64		limit_ms;
	TimestampTz since;			/* start of what is measured */
} GovDeadline;

/* Install the victim-side emit_log_hook (every backend). */
extern void gov_enforcement_init(void);


/*
 * The earliest enforced deadline of a session (or a pending reconnect).
 * False for exempt and not-yet-admitted sessions and when none applies.
 * Allocates nothing: callers may hold gov->lock.
 */
extern bool gov_session_deadline(const GovSlot *slot, const GovBackendInfo *info,
								 GovDeadline *d);

/* A session to end, copied out of shared memory under gov->lock. */
typedef struct GovTarget
{
	int			slotno;
	GovIdentity who;
	Oid			roleid;
	int			pool;
	GovRecheck	recheck;
	TimestampTz since;
	LocalTransactionId lxid;
} GovTarget;

/* Copy a session's identity into a target.  Caller holds gov->lock. */
extern void gov_target_init(GovTarget *t, int slotno, GovRecheck recheck,
							TimestampTz since);

/*
 * End a session: re-check it (same process, same state), leave it the
 * notice its FATAL will carry, and signal it (a queued login is woken
 * instead, to raise the notice itself).  Counts the pool's total and
 * records the event; rule names the rule to book it to (NULL: none).
 * True when it was signalled.
 */
extern bool gov_end_session(const GovTarget *t, GovEndKind kind,
							const char *rule, const char *message,
							double observed_s, double limit_s);

/* Book an ending (or, monitor, a would-be ending) to a rule by name. */
extern void gov_count_end(const char *rule, GovEndKind kind, bool monitor);

#ifdef GOV_HAVE_TRANSACTION_TIMEOUT
/*
 * 17+: the session lets the server end its transactions at its
 * max_transaction_duration (transaction_timeout, 25P04, exact); the
 * worker stays the fallback, a second later.  A stricter
 * value of the session's own is kept.  Client-level statements call
 * GOV_SYNC_XACT_TIMEOUT, which syncs when transaction_timeout is not what
 * it should be; the utility hook reports the session's own SET/RESET.
 */
extern int	gov_xact_timeout_client;	/* the session's own value, -1: unknown */
extern int	gov_xact_timeout_armed;		/* the rule limit in force, 0: none */
extern int	gov_xact_timeout_ours;		/* the value we last set, 0: none */
extern void gov_xact_timeout_sync(void);
extern void gov_xact_timeout_client_set(Node *stmt);

static inline int
gov_xact_timeout_wanted(const GovSlot *slot)
{
	int64		ms = slot->limits.limit_ms[GOV_END_XACT_DURATION];

	return slot->exempt != GOV_NOT_EXEMPT || ms <= 0 ? 0 : (int) Min(ms, INT_MAX);
}

/* The stricter of the session's own value and the rules' limit (0: none). */
static inline int
gov_xact_timeout_desired(int wanted)
{
	int			own = gov_xact_timeout_client;

	if (wanted <= 0)
		return own;
	return own > 0 && own < wanted ? own : wanted;
}

/*
 * Whether transaction_timeout needs setting.  Under no limit the session's
 * value is its own (SET LOCAL, set_config(), ALTER SYSTEM included): it is
 * touched only to take back a value of ours still in force.
 */
static inline bool
gov_xact_timeout_unsynced(const GovSlot *slot)
{
	int			wanted = gov_xact_timeout_wanted(slot);
	int			cur = gov_server_xact_timeout();

	if (gov_xact_timeout_client < 0)
		return true;
	if (wanted <= 0)
		return gov_xact_timeout_ours > 0 && cur == gov_xact_timeout_ours &&
			cur != gov_xact_timeout_client;
	return cur != gov_xact_timeout_desired(wanted);
}

#define GOV_SYNC_XACT_TIMEOUT(slot) \
	do { \
		if (unlikely(gov_xact_timeout_unsynced(slot)) && \
			IsTransactionState() && !IsInParallelMode()) \
			gov_xact_timeout_sync(); \
	} while (0)
#define GOV_NOTE_CLIENT_XACT_TIMEOUT(stmt) gov_xact_timeout_client_set(stmt)

/* Around a wait for an active slot (active.c). */
extern void gov_xact_timeout_hold(void);
extern void gov_xact_timeout_restart(void);
#else
#define GOV_SYNC_XACT_TIMEOUT(slot) ((void) 0)
#define GOV_NOTE_CLIENT_XACT_TIMEOUT(stmt) ((void) 0)
#define gov_xact_timeout_hold() ((void) 0)
#define gov_xact_timeout_restart() ((void) 0)
#endif

/* At the session's exit: book an ending the server did for us (17+). */
extern void gov_enforcement_session_exit(GovSlot *slot);

/*
 * Worker: end the sessions past their deadline and record monitor-mode
 * episodes.  Returns the nearest future deadline (0 = none).
 */
extern TimestampTz gov_enforce_pass(void);

#endif							/* GOV_ENFORCEMENT_H */
