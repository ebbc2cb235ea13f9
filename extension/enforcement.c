/*-------------------------------------------------------------------------
 *
 * enforcement.c
 *		Session limits: idle_in_transaction_timeout, idle_timeout,
 *		max_transaction_duration, max_lifetime, plus the admin verbs
 *		governor.kill() and governor.reconnect().
 *
 * Each worker tick (gov_enforce_tick) computes every governed session's
 * deadline with gov_session_deadline, the same function views.c uses for
 * the deadline columns, and ends the sessions whose deadline has passed.
 * Monitor-mode limits record a would_terminate event once per episode
 * (per idle spell, transaction or session) and do nothing else.
 *
 * Ending a session: the killer writes kill_sqlstate/kill_message/
 * kill_detail into the victim's GovSlot, sets kill_pending and sends
 * SIGTERM.  The victim's emit_log_hook (installed in every backend)
 * rewrites the FATAL "terminating connection due to administrator
 * command" into that text and SQLSTATE, so client and server log get the
 * same line.
 *
 * Shared state and locks:
 *	gov->lock LW_SHARED		collect candidates (slot identity, state,
 *							limits); released before anything is signalled.
 *	ProcArrayLock LW_SHARED	held across re-validation and kill(): the victim
 *							cannot leave the ProcArray (ProcArrayRemove
 *							needs it exclusive), so its pid cannot be reused
 *							under us.  The kill notice is written then.
 *	gov->lock LW_EXCLUSIVE	per-rule totals (terminated[], would_terminate[]).
 *	close_needed, kill_pending are atomics written by other processes.
 *
 * Remaining race (documented, accepted): the re-check reads the victim's
 * state a few microseconds before kill().  A query the client sends in
 * that window is read by the backend, which then dies at its first
 * interrupt check with our FATAL; that query had not done anything yet.
 * (A backend reports "active" only once it starts on a query, so no read
 * of shared state can close this window; core's own idle timeouts, which
 * fire inside the backend, do not have it.)
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "common/hashfn.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/memutils.h"

#include "pg_governor.h"

PG_FUNCTION_INFO_V1(gov_kill);
PG_FUNCTION_INFO_V1(gov_reconnect);

/* Lifetime jitter: at most a tenth of the limit, and never over a minute. */
#define GOV_LIFETIME_JITTER_MAX_MS	60000
/* The worker never sleeps less than this between enforcement passes. */
#define GOV_MIN_SLEEP_MS			10

/* What must still hold just before the signal. */
typedef enum GovRecheck
{
	GOV_RECHECK_NONE,			/* admin kill: same process only */
	GOV_RECHECK_IDLE_SPELL,		/* still idle, same idle spell */
	GOV_RECHECK_IDLE_NOW,		/* idle now, outside a transaction */
	GOV_RECHECK_IDLE_IN_XACT,	/* same idle-in-transaction spell */
	GOV_RECHECK_XACT			/* same transaction */
} GovRecheck;

/* One session to act on, copied out of shared memory under gov->lock. */
typedef struct GovCandidate
{
	int			slotno;
	int			pid;
	/* Identity for the event, copied: the slot may be reused meanwhile. */
	NameData	database;
	NameData	role;
	NameData	appname;
	char		addr[GOV_ADDR_LEN];
	Oid			roleid;
	int			pool;
	uint64		rules[GOV_RULE_WORDS];
	bool		monitor;
	GovDeadline d;
	GovRecheck	recheck;
	TimestampTz since;			/* state_change or xact_start seen */
	LocalTransactionId lxid;
	double		observed_s;
	NameData	rule;
} GovCandidate;

/* Monitor episodes already recorded, per slot (worker-local). */
typedef struct GovMonitorSeen
{
	int			pid;
	TimestampTz since[GOV_NUM_LIMITS];
} GovMonitorSeen;

static emit_log_hook_type prev_emit_log_hook = NULL;
static GovCandidate *gov_candidates = NULL;
static GovMonitorSeen *gov_monitor_seen = NULL;

static void gov_emit_log(ErrorData *edata);

/* ----------------------------------------------------------------
 * Names and messages
 * ----------------------------------------------------------------
 */
const char *
gov_limit_name(int kind)
{
	switch (kind)
	{
		case GOV_LIMIT_IDLE_IN_XACT:
			return "idle_in_transaction_timeout";
		case GOV_LIMIT_IDLE:
			return "idle_timeout";
		case GOV_LIMIT_LIFETIME:
			return "max_lifetime";
		case GOV_LIMIT_XACT_DURATION:
			return "max_transaction_duration";
		case GOV_DEADLINE_RECONNECT:
			return "reconnect";
	}
	return "unknown";
}

static int
gov_limit_sqlstate(int kind)
{
	switch (kind)
	{
		case GOV_LIMIT_IDLE_IN_XACT:
			return GOV_ERRCODE_IDLE_IN_XACT_TIMEOUT;
		case GOV_LIMIT_IDLE:
			return GOV_ERRCODE_IDLE_SESSION_TIMEOUT;
		case GOV_LIMIT_XACT_DURATION:
			return GOV_ERRCODE_TRANSACTION_TIMEOUT;
		default:
			return ERRCODE_ADMIN_SHUTDOWN;
	}
}

/* What the measured time is, as the message says it. */
static const char *
gov_limit_measure(int kind)
{
	switch (kind)
	{
		case GOV_LIMIT_IDLE_IN_XACT:
			return "idle in transaction for";
		case GOV_LIMIT_IDLE:
			return "idle for";
		case GOV_LIMIT_LIFETIME:
			return "connected for";
		case GOV_LIMIT_XACT_DURATION:
			return "transaction open for";
	}
	return "";
}

static const char *
gov_limit_advice(int kind)
{
	switch (kind)
	{
		case GOV_LIMIT_IDLE_IN_XACT:
			return "Commit or roll back transactions promptly; an idle open transaction holds locks and snapshots.";
		case GOV_LIMIT_IDLE:
			return "The session was idle too long; reconnect to continue.";
		case GOV_LIMIT_LIFETIME:
			return "The session was recycled at an idle moment because it was older than the rule allows; reconnect to continue.";
		case GOV_LIMIT_XACT_DURATION:
			return "The transaction ran longer than the rule allows and was rolled back.";
	}
	return "";
}

/* ----------------------------------------------------------------
 * Deadlines (shared with views.c)
 * ----------------------------------------------------------------
 */

/* Jitter of one session's max_lifetime: stable, spread over 0..limit/10. */
static int64
gov_lifetime_jitter(const GovSlot *slot, int64 limit_ms)
{
	int64		spread = Min(limit_ms / 10, GOV_LIFETIME_JITTER_MAX_MS);

	if (spread <= 0)
		return 0;
	return (int64) (slot->lifetime_jitter_ms % (uint32) (spread + 1));
}

/* Per-session jitter seed, set at login (registry.c). */
uint32
gov_lifetime_jitter_seed(int pid, TimestampTz start)
{
	uint32		key[2];

	key[0] = (uint32) pid;
	key[1] = (uint32) start;
	return hash_bytes((const unsigned char *) key, sizeof(key)) % (GOV_LIFETIME_JITTER_MAX_MS + 1);
}

/*
 * Deadline of one limit for a session in its current state, from the
 * enforced limits or (monitor) the stricter monitor-mode ones.  False
 * when the limit does not apply to the state the session is in.
 */
bool
gov_limit_deadline(const GovSlot *slot, const GovBackendInfo *info,
				   int kind, bool monitor, GovDeadline *d)
{
	int64		limit = monitor ? slot->limits.monitor_ms[kind] : slot->limits.limit_ms[kind];
	int			rule = monitor ? slot->limits.monitor_rule[kind] : slot->limits.rule[kind];
	TimestampTz since = 0;
	int64		extra_ms = 0;

	if (limit == GOV_NONE || !info->valid)
		return false;

	switch (kind)
	{
		case GOV_LIMIT_IDLE_IN_XACT:
			if (info->state == STATE_IDLEINTRANSACTION ||
				info->state == STATE_IDLEINTRANSACTION_ABORTED)
				since = info->state_change;
			break;
		case GOV_LIMIT_IDLE:
			if (info->state == STATE_IDLE)
				since = info->state_change;
			break;
		case GOV_LIMIT_XACT_DURATION:
			if (info->in_xact && info->state != STATE_IDLE)
				since = info->xact_start;
			break;
		case GOV_LIMIT_LIFETIME:
			/* Only at an idle moment: never cut a transaction. */
			if (info->state == STATE_IDLE)
			{
				since = slot->connect_time;
				extra_ms = gov_lifetime_jitter(slot, limit);
			}
			break;
	}
	if (since == 0)
		return false;

	d->kind = kind;
	d->rule = rule;
	d->limit_ms = limit;
	d->since = since;
	d->deadline = since + (limit + extra_ms) * 1000;
	return true;
}

/*
 * When and why the governor will end this session if it stays in its
 * current state: the earliest enforced limit, or a pending reconnect at
 * an idle moment.  False for exempt sessions, sessions not admitted yet
 * and sessions no limit applies to.  Allocates nothing: callers hold
 * gov->lock.
 */
bool
gov_session_deadline(const GovSlot *slot, const GovBackendInfo *info,
					 GovDeadline *d)
{
	GovDeadline cur;
	bool		found = false;
	int			k;

	if (slot->pid == 0 || slot->exempt != GOV_NOT_EXEMPT ||
		slot->state != GOV_SLOT_ADMITTED || !info->valid)
		return false;

	/* pg_atomic_read_u32 takes no const pointer; reading changes nothing. */
	if (pg_atomic_read_u32(unconstify(pg_atomic_uint32 *, &slot->close_needed)) &&
		info->state == STATE_IDLE)
	{
		d->kind = GOV_DEADLINE_RECONNECT;
		d->rule = -1;
		d->limit_ms = 0;
		d->since = info->state_change;
		d->deadline = info->state_change;
		found = true;
	}
	for (k = 0; k < GOV_NUM_LIMITS; k++)
	{
		if (!gov_limit_deadline(slot, info, k, false, &cur))
			continue;
		if (!found || cur.deadline < d->deadline)
		{
			*d = cur;
			found = true;
		}
	}
	return found;
}

/* ----------------------------------------------------------------
 * Signalling
 * ----------------------------------------------------------------
 */

/*
 * Re-validate the candidate and signal it.  The session's status is read
 * again first (13 reads it through a snapshot, which must be rebuilt, and
 * building one takes ProcArrayLock itself); the process identity and its
 * local transaction id are checked under ProcArrayLock shared, which is
 * held until kill() so the pid cannot be reused in between.  Returns true
 * when SIGTERM was sent.
 */
static bool
gov_signal_session(int slotno, int pid, GovRecheck recheck,
				   TimestampTz since, LocalTransactionId lxid,
				   int sqlstate, const char *message, const char *detail)
{
	GovSlot    *slot = &gov_slots[slotno];
	GovBackendInfo info;
	PGPROC	   *proc;
	bool		ok;
	bool		wake_queue = false;

	if (recheck != GOV_RECHECK_NONE)
	{
		gov_clear_status_snapshot();
		gov_backend_info(slot, slotno, &info);
		if (!info.valid)
			return false;
	}

	LWLockAcquire(ProcArrayLock, LW_SHARED);
	proc = BackendPidGetProcWithLock(pid);
	ok = proc != NULL && proc == GetPGProcByNumber(slotno) && slot->pid == pid;
	if (ok && recheck != GOV_RECHECK_NONE)
	{
		LocalTransactionId cur_lxid = gov_proc_lxid(proc);

		switch (recheck)
		{
			case GOV_RECHECK_IDLE_SPELL:
				ok = info.state == STATE_IDLE && info.state_change == since &&
					cur_lxid == InvalidLocalTransactionId;
				break;
			case GOV_RECHECK_IDLE_NOW:
				ok = info.state == STATE_IDLE &&
					cur_lxid == InvalidLocalTransactionId;
				break;
			case GOV_RECHECK_IDLE_IN_XACT:
				ok = (info.state == STATE_IDLEINTRANSACTION ||
					  info.state == STATE_IDLEINTRANSACTION_ABORTED) &&
					info.state_change == since && cur_lxid == lxid;
				break;
			case GOV_RECHECK_XACT:
				ok = info.xact_start == since && cur_lxid == lxid;
				break;
			case GOV_RECHECK_NONE:
				break;
		}
	}
	if (ok)
	{
		slot->kill_sqlstate = sqlstate;
		strlcpy(slot->kill_message, message, GOV_TEXT_LEN);
		strlcpy(slot->kill_detail, detail, GOV_TEXT_LEN);
		pg_write_barrier();
		pg_atomic_write_u32(&slot->kill_pending, 1);
		/*
		 * A login still queued would turn SIGTERM into "canceling
		 * authentication due to timeout" and tell its client nothing: wake
		 * it instead, and admission.c raises our FATAL, which it still can
		 * send.  A login admitted meanwhile checks the notice too.
		 */
		/* Pairs with the barrier of the victim's LWLockRelease at admission. */
		pg_memory_barrier();
		if (slot->state != GOV_SLOT_ADMITTED)
			wake_queue = true;
		else if (gov_kill_backend(pid, SIGTERM) != 0)
		{
			pg_atomic_write_u32(&slot->kill_pending, 0);
			ok = false;
		}
	}
	LWLockRelease(ProcArrayLock);
	/* A queued login sleeps on the queue's condition variable, not its latch. */
	if (wake_queue)
		ConditionVariableBroadcast(&gov->slot_freed);
	return ok;
}

/* Victim side: turn the administrator-shutdown FATAL into our notice. */
static void
gov_emit_log(ErrorData *edata)
{
	GovSlot    *slot = gov_my_slot;

	if (slot != NULL && edata->elevel == FATAL &&
		edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN &&
		slot->pid == MyProcPid &&
		pg_atomic_read_u32(&slot->kill_pending) != 0)
	{
		char		message[GOV_TEXT_LEN];
		char		detail[GOV_TEXT_LEN];

		pg_read_barrier();
		strlcpy(message, slot->kill_message, GOV_TEXT_LEN);
		strlcpy(detail, slot->kill_detail, GOV_TEXT_LEN);
		/* Once: a second FATAL on the way out keeps its own text. */
		pg_atomic_write_u32(&slot->kill_pending, 0);
		/* We run in ErrorContext, which EmitErrorReport resets after us. */
		edata->sqlerrcode = slot->kill_sqlstate;
		edata->message = pstrdup(message);
		edata->message_id = edata->message;
		edata->detail = detail[0] ? pstrdup(detail) : NULL;
		edata->detail_log = NULL;
		edata->hint = NULL;
	}
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

void
gov_enforcement_init(void)
{
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = gov_emit_log;
}

/* ----------------------------------------------------------------
 * Recording
 * ----------------------------------------------------------------
 */
static void
gov_ident_copy(GovCandidate *c, int slotno, const GovSlot *slot)
{
	c->slotno = slotno;
	c->pid = slot->pid;
	c->database = slot->database;
	c->role = slot->role;
	c->appname = slot->appname;
	strlcpy(c->addr, slot->addr, GOV_ADDR_LEN);
	c->roleid = slot->roleid;
	c->pool = slot->pool;
	memcpy(c->rules, slot->rules, sizeof(c->rules));
}

/* gov_event_record wants a slot: give it one holding the copied identity. */
static void
gov_record(const GovCandidate *c, int rule, const char *action,
		   const char *reason, double observed, double limit)
{
	GovSlot		ident;

	memset(&ident, 0, sizeof(ident));
	ident.pid = c->pid;
	ident.database = c->database;
	ident.role = c->role;
	ident.appname = c->appname;
	strlcpy(ident.addr, c->addr, GOV_ADDR_LEN);
	ident.pool = c->pool;
	gov_event_record(&ident, rule, action, reason, observed, limit);
}
static void
gov_count_rule(int rule, int kind, bool monitor)
{
	if (rule < 0)
		return;
	LWLockAcquire(gov->lock, LW_EXCLUSIVE);
	if (rule < gov->nrules)
	{
		if (monitor)
			gov->rule_state[rule].would_terminate[kind]++;
		else
			gov->rule_state[rule].terminated[kind]++;
	}
	LWLockRelease(gov->lock);
}

/* Admin kill: counted on every rule the session matched. */
static void
gov_count_kill(const uint64 *rules)
{
	int			i;

	LWLockAcquire(gov->lock, LW_EXCLUSIVE);
	for (i = 0; i < gov->nrules; i++)
		if (GOV_RULE_ISSET(rules, i))
			gov->rule_state[i].terminated[GOV_TERMINATED_KILL]++;
	LWLockRelease(gov->lock);
}

/* ----------------------------------------------------------------
 * The worker's pass
 * ----------------------------------------------------------------
 */
static void
gov_enforce_alloc(void)
{
	if (gov_candidates != NULL)
		return;
	gov_candidates = MemoryContextAllocZero(TopMemoryContext,
											sizeof(GovCandidate) * gov_nslots);
	gov_monitor_seen = MemoryContextAllocZero(TopMemoryContext,
											  sizeof(GovMonitorSeen) * gov_nslots);
}

static void
gov_candidate_fill(GovCandidate *c, int slotno, GovSlot *slot,
				   const GovDeadline *d, bool monitor, TimestampTz now)
{
	gov_ident_copy(c, slotno, slot);
	c->monitor = monitor;
	c->d = *d;
	c->lxid = gov_proc_lxid(GetPGProcByNumber(slotno));
	c->since = d->since;
	c->observed_s = (double) (now - d->since) / USECS_PER_SEC;
	switch (d->kind)
	{
		case GOV_LIMIT_IDLE:
			c->recheck = GOV_RECHECK_IDLE_SPELL;
			break;
		case GOV_LIMIT_IDLE_IN_XACT:
			c->recheck = GOV_RECHECK_IDLE_IN_XACT;
			break;
		case GOV_LIMIT_XACT_DURATION:
			c->recheck = GOV_RECHECK_XACT;
			break;
		default:				/* lifetime, reconnect */
			c->recheck = GOV_RECHECK_IDLE_NOW;
			break;
	}
	if (d->rule >= 0 && d->rule < gov->nrules)
		c->rule = gov->rules[d->rule].name;
	else
		memset(&c->rule, 0, sizeof(NameData));
}

static void
gov_act(GovCandidate *c)
{
	char		message[GOV_TEXT_LEN];
	char		detail[GOV_TEXT_LEN];
	double		limit_s = (double) c->d.limit_ms / 1000.0;
	const char *reason = gov_limit_name(c->d.kind);

	if (c->monitor)
	{
		gov_count_rule(c->d.rule, c->d.kind, true);
		gov_record(c, c->d.rule, "would_terminate", reason,
						 c->observed_s, limit_s);
		return;
	}

	if (c->d.kind == GOV_DEADLINE_RECONNECT)
	{
		snprintf(message, sizeof(message),
				 "terminating connection due to pg_governor reconnect");
		snprintf(detail, sizeof(detail),
				 "governor.reconnect() asked to close this session at its next idle moment; reconnect to continue.");
		if (!gov_signal_session(c->slotno, c->pid, c->recheck, c->since, c->lxid,
								ERRCODE_ADMIN_SHUTDOWN, message, detail))
			return;
		gov_pool_count_terminated(c->pool);
		gov_record(c, -1, "reconnect", "reconnect", 0, 0);
		return;
	}

	snprintf(message, sizeof(message),
			 "terminating connection due to %s of pg_governor rule \"%s\": %s %.3f s, limit %g s",
			 reason, NameStr(c->rule), gov_limit_measure(c->d.kind),
			 c->observed_s, limit_s);
	snprintf(detail, sizeof(detail), "%s", gov_limit_advice(c->d.kind));
	if (!gov_signal_session(c->slotno, c->pid, c->recheck, c->since, c->lxid,
							gov_limit_sqlstate(c->d.kind), message, detail))
		return;
	gov_count_rule(c->d.rule, c->d.kind, false);
	gov_pool_count_terminated(c->pool);
	gov_record(c, c->d.rule, "terminate", reason,
					 c->observed_s, limit_s);
}

static void
gov_next_deadline(TimestampTz *next, TimestampTz t)
{
	if (*next == 0 || t < *next)
		*next = t;
}

/*
 * Worker, once per pass, outside any transaction: end the sessions past
 * their deadline and record monitor-mode episodes.  Returns the time of
 * the nearest future deadline (0 = none), so the worker can wake for it.
 */
TimestampTz
gov_enforce_tick(void)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz next = 0;
	int			ncand = 0;
	bool		full = false;
	int			i;

	gov_enforce_alloc();
	gov_clear_status_snapshot();	/* 13 reads statuses through a snapshot */

	LWLockAcquire(gov->lock, LW_SHARED);
	for (i = 0; i < gov_nslots; i++)
	{
		GovSlot    *slot = &gov_slots[i];
		GovMonitorSeen *seen = &gov_monitor_seen[i];
		GovBackendInfo info;
		GovDeadline d;
		int			k;

		if (slot->pid == 0 || slot->state != GOV_SLOT_ADMITTED ||
			slot->exempt != GOV_NOT_EXEMPT)
			continue;
		gov_backend_info(slot, i, &info);
		if (!info.valid)
			continue;

		if (gov_session_deadline(slot, &info, &d))
		{
			if (d.deadline > now)
				gov_next_deadline(&next, d.deadline);
			else if (pg_atomic_read_u32(&slot->kill_pending) != 0)
				;				/* signalled already, on its way out */
			else if (ncand < gov_nslots)
				gov_candidate_fill(&gov_candidates[ncand++], i, slot, &d,
								   false, now);
			else
				full = true;
		}

		/* Monitor-mode limits: one event per episode and limit. */
		if (seen->pid != slot->pid)
		{
			memset(seen, 0, sizeof(*seen));
			seen->pid = slot->pid;
		}
		for (k = 0; k < GOV_NUM_LIMITS; k++)
		{
			if (!gov_limit_deadline(slot, &info, k, true, &d))
				continue;
			if (d.deadline > now)
				gov_next_deadline(&next, d.deadline);
			else if (seen->since[k] == d.since)
				;				/* this episode is recorded */
			else if (ncand < gov_nslots)
			{
				seen->since[k] = d.since;
				gov_candidate_fill(&gov_candidates[ncand++], i, slot, &d,
								   true, now);
			}
			else
				full = true;
		}
	}
	LWLockRelease(gov->lock);

	for (i = 0; i < ncand; i++)
		gov_act(&gov_candidates[i]);

	gov_clear_status_snapshot();
	/* More than one slot's worth of work: come back at once for the rest. */
	if (full)
		next = now;
	return next;
}

/* How long the worker may sleep before the next enforcement pass. */
long
gov_enforce_sleep_ms(TimestampTz next, long naptime_left_ms)
{
	long		ms;

	if (next == 0)
		return naptime_left_ms;
	/* +1: wake just past the deadline, not just before it. */
	ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), next) + 1;
	ms = Max(ms, GOV_MIN_SLEEP_MS);
	return Min(ms, naptime_left_ms);
}

/* ----------------------------------------------------------------
 * governor.kill(db) and governor.reconnect(db)
 * ----------------------------------------------------------------
 */
static const char *
gov_db_argument(FunctionCallInfo fcinfo)
{
	if (PG_NARGS() < 1 || PG_ARGISNULL(0))
		return NULL;
	return NameStr(*PG_GETARG_NAME(0));
}

/* Sessions an admin verb acts on: governed, not ours, in the database. */
static bool
gov_admin_target(const GovSlot *slot, const char *dbname)
{
	return slot->pid != 0 && slot->pid != MyProcPid &&
		slot->exempt == GOV_NOT_EXEMPT &&
		(dbname == NULL || strcmp(NameStr(slot->database), dbname) == 0);
}

Datum
gov_kill(PG_FUNCTION_ARGS)
{
	const char *dbname;
	GovCandidate *cands;
	int			ncand = 0;
	int			nkilled = 0;
	int			i;

	gov_require_preload();
	dbname = gov_db_argument(fcinfo);
	cands = palloc(sizeof(GovCandidate) * gov_nslots);

	LWLockAcquire(gov->lock, LW_SHARED);
	for (i = 0; i < gov_nslots; i++)
	{
		GovSlot    *slot = &gov_slots[i];

		if (!gov_admin_target(slot, dbname))
			continue;
		gov_ident_copy(&cands[ncand++], i, slot);
	}
	LWLockRelease(gov->lock);

	for (i = 0; i < ncand; i++)
	{
		GovCandidate *c = &cands[i];

		/* Like pg_terminate_backend: only a superuser ends a superuser. */
		if (!superuser() && OidIsValid(c->roleid) &&
			superuser_arg(c->roleid))
			continue;
		if (!gov_signal_session(c->slotno, c->pid, GOV_RECHECK_NONE, 0,
								InvalidLocalTransactionId, ERRCODE_ADMIN_SHUTDOWN,
								"terminating connection due to pg_governor admin kill",
								"An administrator ran governor.kill()."))
			continue;
		nkilled++;
		gov_count_kill(c->rules);
		gov_pool_count_terminated(c->pool);
		gov_record(c, -1, "kill", "admin_kill", 0, 0);
	}
	pfree(cands);
	PG_RETURN_INT32(nkilled);
}

Datum
gov_reconnect(PG_FUNCTION_ARGS)
{
	const char *dbname;
	int			nmarked = 0;
	int			i;
	Latch	   *latch;

	gov_require_preload();
	dbname = gov_db_argument(fcinfo);

	/* close_needed is an atomic: setting it needs only a stable slot. */
	LWLockAcquire(gov->lock, LW_SHARED);
	for (i = 0; i < gov_nslots; i++)
	{
		GovSlot    *slot = &gov_slots[i];

		if (!gov_admin_target(slot, dbname))
			continue;
		pg_atomic_write_u32(&slot->close_needed, 1);
		nmarked++;
	}
	latch = gov->worker_latch;
	LWLockRelease(gov->lock);

	/* Sessions idle now are closed at the worker's next pass: make it now. */
	if (nmarked > 0 && latch)
		SetLatch(latch);
	PG_RETURN_INT32(nmarked);
}
