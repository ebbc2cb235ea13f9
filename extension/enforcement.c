/*-------------------------------------------------------------------------
 *
 * enforcement.c
 *		Session limits (idle_in_transaction_timeout, idle_timeout,
 *		max_transaction_duration, max_lifetime) and the means of ending a
 *		session that every other ending (reconnect, kill, eviction) uses.
 *
 * Each pass of the worker (gov_enforce_pass) computes every governed
 * session's deadline with gov_session_deadline, the function the views
 * use for the deadline columns, and ends the sessions whose deadline has
 * passed.  Monitor-mode limits record a would_terminate event once per
 * episode (per idle spell, transaction or session) and do nothing else.
 *
 * Ending a session: the killer writes kill_sqlstate/kill_message/
 * kill_detail into the victim's GovSlot, sets kill_pending and sends
 * SIGTERM.  The victim's emit_log_hook (installed in every backend)
 * rewrites the FATAL "terminating connection due to administrator
 * command" into that text and SQLSTATE, so client and server log get the
 * same line.
 *
 * Locks:
 *	gov->lock LW_SHARED		collect candidates (identity, state, limits);
 *							released before anything is signalled.
 *	ProcArrayLock LW_SHARED	held across re-validation and kill(): the victim
 *							cannot leave the ProcArray (ProcArrayRemove
 *							needs it exclusive), so its pid cannot be reused
 *							under us.  The kill notice is written then.
 *	gov->lock LW_EXCLUSIVE	per-rule totals, booked by rule name (a reload
 *							may have renumbered the rules meanwhile).
 *
 * Remaining race (documented, accepted): the re-check reads the victim's
 * state a few microseconds before kill().  A query the client sends in
 * that window is read by the backend, which then dies at its first
 * interrupt check with our FATAL; that query had not done anything yet.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "enforcement.h"
#include "events.h"
#include "pools.h"
#include "rules.h"
#include "settings.h"

/* Lifetime jitter: at most a tenth of the limit, and never over a minute. */
#define GOV_LIFETIME_JITTER_MAX_MS	60000

static emit_log_hook_type prev_emit_log_hook = NULL;

/* How long after a transaction_timeout armed by the session the worker acts. */
#define GOV_XACT_TIMEOUT_GRACE_US	INT64CONST(1000000)

static void gov_emit_log(ErrorData *edata);

void
gov_enforcement_init(void)
{
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = gov_emit_log;
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
	return (int64) (slot->jitter_seed % (uint32) (spread + 1));
}

/* A transaction that waited for its active slot runs from the slot. */
static inline TimestampTz
gov_xact_clock_start(const GovSlot *slot, TimestampTz xact_start)
{
	return slot->holds_active && slot->active_since > xact_start ?
		slot->active_since : xact_start;
}

/*
 * Deadline of one limit for a session in its current state, from the
 * enforced limits or (monitor) the stricter monitor-mode ones.  False
 * when the limit does not apply to the state the session is in.
 */
static bool
gov_limit_deadline(const GovSlot *slot, const GovBackendInfo *info,
				   GovEndKind kind, bool monitor, GovDeadline *d)
{
	int64		limit = monitor ? slot->limits.monitor_ms[kind] : slot->limits.limit_ms[kind];
	int			rule = monitor ? slot->limits.monitor_rule[kind] : slot->limits.rule[kind];
	TimestampTz since = 0;
	int64		extra_ms = 0;

	if (limit == GOV_NONE || !info->valid)
		return false;

	switch (kind)
	{
		case GOV_END_IDLE_IN_XACT:
			if (info->state == STATE_IDLEINTRANSACTION ||
				info->state == STATE_IDLEINTRANSACTION_ABORTED)
				since = info->state_change;
			break;
		case GOV_END_IDLE:
			if (info->state == STATE_IDLE)
				since = info->state_change;
			break;
		case GOV_END_XACT_DURATION:
			/*
			 * A transaction waiting for its active slot is governed by the
			 * queue timeout; once it has the slot its time runs from there.
			 */
			if (info->in_xact && info->state != STATE_IDLE &&
				!(slot->wait.waiting && slot->wait.kind == GOV_BUCKET_ACTIVE))
			{
				since = gov_xact_clock_start(slot, info->xact_start);
			}
			break;
		case GOV_END_LIFETIME:
			/* Only at an idle moment: never cut a transaction. */
			if (info->state == STATE_IDLE)
			{
				since = slot->connect_time;
				extra_ms = gov_lifetime_jitter(slot, limit);
			}
			break;
		default:
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
		d->kind = GOV_END_RECONNECT;
		d->rule = -1;
		d->limit_ms = 0;
		d->since = info->state_change;
		d->deadline = info->state_change;
		found = true;
	}
	for (k = 0; k < GOV_NUM_LIMITS; k++)
	{
		if (!gov_limit_deadline(slot, info, (GovEndKind) k, false, &cur))
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
 * Ending a session
 * ----------------------------------------------------------------
 */
void
gov_target_init(GovTarget *t, int slotno, GovRecheck recheck, TimestampTz since)
{
	const GovSlot *slot = &gov_slots[slotno];

	t->slotno = slotno;
	t->who = slot->id;
	t->roleid = slot->roleid;
	t->pool = slot->pool;
	t->recheck = recheck;
	t->since = since;
	t->lxid = gov_proc_lxid(GetPGProcByNumber(slotno));
}

/* Claim a session's ending: one ender only, whoever comes second backs off. */
static bool
gov_claim(GovSlot *slot)
{
	uint32		unclaimed = 0;

	return pg_atomic_compare_exchange_u32(&slot->signalled, &unclaimed, 1);
}

/*
 * Re-validate and signal.  The session's status is read again first (13
 * reads it through a snapshot, which must be rebuilt, and building one
 * takes ProcArrayLock itself); the process identity and its local
 * transaction id are checked under ProcArrayLock shared, which is held
 * until kill() so the pid cannot be reused in between.
 */
static bool
gov_signal(const GovTarget *t, int sqlstate, const char *message, const char *detail)
{
	GovSlot    *slot = &gov_slots[t->slotno];
	GovBackendInfo info;
	PGPROC	   *proc;
	bool		ok;
	bool		wake_login = false;

	if (t->recheck != GOV_RECHECK_NONE)
	{
		gov_clear_status_snapshot();
		gov_backend_info(slot, t->slotno, &info);
		if (!info.valid)
			return false;
	}

	LWLockAcquire(ProcArrayLock, LW_SHARED);
	proc = BackendPidGetProcWithLock(t->who.pid);
	ok = proc != NULL && proc == GetPGProcByNumber(t->slotno) && slot->pid == t->who.pid;
	if (ok && t->recheck != GOV_RECHECK_NONE)
	{
		LocalTransactionId cur_lxid = gov_proc_lxid(proc);

		switch (t->recheck)
		{
			case GOV_RECHECK_IDLE_SPELL:
				ok = info.state == STATE_IDLE && info.state_change == t->since &&
					cur_lxid == InvalidLocalTransactionId;
				break;
			case GOV_RECHECK_IDLE_NOW:
				ok = info.state == STATE_IDLE &&
					cur_lxid == InvalidLocalTransactionId;
				break;
			case GOV_RECHECK_IDLE_IN_XACT:
				ok = (info.state == STATE_IDLEINTRANSACTION ||
					  info.state == STATE_IDLEINTRANSACTION_ABORTED) &&
					info.state_change == t->since && cur_lxid == t->lxid;
				break;
			case GOV_RECHECK_XACT:
				/* since is the slot's time when it waited for one. */
				ok = info.xact_start <= t->since && cur_lxid == t->lxid;
				break;
			case GOV_RECHECK_NONE:
				break;
		}
	}
	if (ok)
		ok = gov_claim(slot);
	if (ok)
	{
		slot->kill_sqlstate = sqlstate;
		strlcpy(slot->kill_message, message, GOV_TEXT_LEN);
		strlcpy(slot->kill_detail, detail, GOV_TEXT_LEN);
		pg_write_barrier();
		pg_atomic_write_u32(&slot->kill_pending, 1);

		/*
		 * A login not yet started would turn SIGTERM into "canceling
		 * authentication due to timeout" and tell its client nothing: wake
		 * it instead, and it raises our FATAL, which it still can send.  A
		 * login admitted meanwhile checks the notice too, at admission and
		 * when it starts.  The barrier pairs with the one of the victim's
		 * LWLockRelease there.
		 */
		pg_memory_barrier();
		if (slot->state != GOV_SLOT_ADMITTED || slot->pool < 0)
			wake_login = true;
		else if (gov_kill_backend(t->who.pid, SIGTERM) != 0)
		{
			pg_atomic_write_u32(&slot->kill_pending, 0);
			pg_atomic_write_u32(&slot->signalled, 0);
			ok = false;
		}
	}
	LWLockRelease(ProcArrayLock);
	if (wake_login)
		gov_registry_wake(t->slotno);
	return ok;
}

/* Book an ending to a rule by name. */
void
gov_count_end(const char *rule, GovEndKind kind, bool monitor)
{
	int			i;

	if (rule == NULL)
		return;
	LWLockAcquire(gov->lock, LW_EXCLUSIVE);
	i = gov_find_rule(rule);
	if (i >= 0)
	{
		if (monitor)
			gov->rule_state[i].would_terminate[kind]++;
		else
			gov->rule_state[i].terminated[kind]++;
	}
	LWLockRelease(gov->lock);
}

bool
gov_end_session(const GovTarget *t, GovEndKind kind, const char *rule,
				const char *message, double observed_s, double limit_s)
{
	const GovEndInfo *e = &gov_ends[kind];
	GovAction	action;

	if (!gov_signal(t, e->sqlstate, message, e->advice))
		return false;
	gov_count_end(rule, kind, false);
	gov_pool_count(t->pool, GOV_POOL_TERMINATED);
	action = kind == GOV_END_KILL ? GOV_ACTION_KILL :
		kind == GOV_END_RECONNECT ? GOV_ACTION_RECONNECT :
		kind == GOV_END_EVICT ? GOV_ACTION_EVICT : GOV_ACTION_TERMINATE;
	gov_event_record(&t->who, rule, action, e->name, observed_s, limit_s);
	return true;
}

/* ----------------------------------------------------------------
 * 17+: transaction_timeout set by the session for its rule
 * ----------------------------------------------------------------
 */
#ifdef GOV_HAVE_TRANSACTION_TIMEOUT
int			gov_xact_timeout_client = -1;
int			gov_xact_timeout_armed = 0;
int			gov_xact_timeout_ours = 0;
static NameData gov_armed_rule;		/* the rule the armed limit is of */
static GovEndKind gov_self_end = GOV_NUM_END_KINDS;	/* the server ended us for it */
static double gov_self_observed_s;


/*
 * Make transaction_timeout what the session should run with: the stricter
 * of its own value and its rules' max_transaction_duration.  It is set
 * like a client's SET, transactionally: an abort that undoes it is seen
 * at the next statement, which sets it again.  The running transaction
 * is timed from its start (or from its active slot), not from now.
 */
void
gov_xact_timeout_sync(void)
{
	GovSlot    *slot = gov_my_slot;
	int			wanted;
	int			desired;
	int			rule;

	if (gov_xact_timeout_client < 0)
		gov_xact_timeout_client = TransactionTimeout;
	LWLockAcquire(gov->lock, LW_SHARED);
	wanted = gov_xact_timeout_wanted(slot);
	rule = slot->limits.rule[GOV_END_XACT_DURATION];
	if (wanted > 0 && rule >= 0 && rule < gov->nrules)
		gov_armed_rule = gov->rules[rule].name;
	LWLockRelease(gov->lock);

	desired = gov_xact_timeout_desired(wanted);
	if (TransactionTimeout != desired && gov_xact_timeout_unsynced(slot))
	{
		char		buf[16];

		snprintf(buf, sizeof(buf), "%d", desired);
		(void) set_config_option("transaction_timeout", buf, PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SET, true, 0, false);
		/* Giving the session its own value back keeps ours known: an abort may bring it back. */
		if (wanted > 0)
			gov_xact_timeout_ours = desired;
		if (desired > 0 && IsTransactionState())
		{
			TimestampTz since = gov_xact_clock_start(slot, GetCurrentTransactionStartTimestamp());

			gov_server_xact_timer_start_at(TimestampTzPlusMilliseconds(since, desired));
		}
	}
	gov_xact_timeout_armed = wanted > 0 && desired == wanted ? wanted : 0;
	pg_atomic_write_u64(&slot->armed_xact_ms, gov_xact_timeout_armed);
}

/* After a top-level SET or RESET: the session's own value is what it chose. */
void
gov_xact_timeout_client_set(Node *stmt)
{
	VariableSetStmt *set = (VariableSetStmt *) stmt;

	if (stmt == NULL || !IsA(stmt, VariableSetStmt) || set->is_local)
		return;
	if (set->kind == VAR_RESET_ALL ||
		(set->name != NULL && strcmp(set->name, "transaction_timeout") == 0))
		gov_xact_timeout_client = TransactionTimeout;
}

/*
 * While a transaction waits for an active slot its queue timeout governs
 * it, not max_transaction_duration: stop the timer we armed, and start it
 * again from the slot.
 */
void
gov_xact_timeout_hold(void)
{
	if (gov_xact_timeout_armed != 0 && TransactionTimeout == gov_xact_timeout_armed)
		gov_server_xact_timer_stop();
}

void
gov_xact_timeout_restart(void)
{
	if (gov_xact_timeout_armed != 0 && TransactionTimeout == gov_xact_timeout_armed)
		gov_server_xact_timer_start(TransactionTimeout);
}
#endif

void
gov_enforcement_session_exit(GovSlot *slot)
{
#ifdef GOV_HAVE_TRANSACTION_TIMEOUT
	if (gov_self_end == GOV_END_XACT_DURATION)
	{
		double		limit_s = pg_atomic_read_u64(&slot->armed_xact_ms) / 1000.0;

		gov_count_end(NameStr(gov_armed_rule), GOV_END_XACT_DURATION, false);
		gov_pool_count(slot->pool, GOV_POOL_TERMINATED);
		gov_event_record(&slot->id, NameStr(gov_armed_rule), GOV_ACTION_TERMINATE,
						 gov_ends[GOV_END_XACT_DURATION].name, gov_self_observed_s, limit_s);
		gov_self_end = GOV_NUM_END_KINDS;
	}
#endif
}

/* Victim side: turn the administrator-shutdown FATAL into our notice. */
static void
gov_emit_log(ErrorData *edata)
{
	GovSlot    *slot = gov_my_slot;

#ifdef GOV_HAVE_TRANSACTION_TIMEOUT
	/*
	 * The server's transaction_timeout, armed for our rule: name it, unless
	 * someone else (the worker, governor.kill()) is ending us already.
	 */
	if (slot != NULL && edata->elevel == FATAL &&
		edata->sqlerrcode == ERRCODE_TRANSACTION_TIMEOUT && gov_xact_timeout_armed != 0 &&
		TransactionTimeout == gov_xact_timeout_armed && gov_claim(slot))
	{
		char		message[GOV_TEXT_LEN];
		TimestampTz since = gov_xact_clock_start(slot, GetCurrentTransactionStartTimestamp());

		gov_self_observed_s = (double) (GetCurrentTimestamp() - since) / USECS_PER_SEC;
		snprintf(message, sizeof(message),
				 "terminating connection due to %s of pg_governor rule \"%s\": %s %.3f s, limit %g s",
				 gov_ends[GOV_END_XACT_DURATION].name, NameStr(gov_armed_rule),
				 gov_ends[GOV_END_XACT_DURATION].measured, gov_self_observed_s,
				 TransactionTimeout / 1000.0);
		edata->message = pstrdup(message);
		edata->message_id = edata->message;
		edata->detail = pstrdup(gov_ends[GOV_END_XACT_DURATION].advice);
		edata->hint = NULL;
		/* Claimed: the worker leaves us alone; the exit books it. */
		gov_self_end = GOV_END_XACT_DURATION;
	}
#endif

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

/* ----------------------------------------------------------------
 * The worker's pass
 * ----------------------------------------------------------------
 */

/* One session to act on, copied under gov->lock. */
typedef struct GovCandidate
{
	GovTarget	t;
	bool		monitor;
	GovDeadline d;
	double		observed_s;
	NameData	rule;			/* "" = none */
} GovCandidate;

/* Monitor episodes already recorded, per slot (worker-local). */
typedef struct GovMonitorSeen
{
	int			pid;
	TimestampTz since[GOV_NUM_LIMITS];
} GovMonitorSeen;

static GovCandidate *gov_candidates = NULL;
static GovMonitorSeen *gov_monitor_seen = NULL;

static void
gov_candidate_fill(GovCandidate *c, int slotno, const GovDeadline *d,
				   bool monitor, TimestampTz now)
{
	gov_target_init(&c->t, slotno, gov_ends[d->kind].recheck, d->since);
	c->monitor = monitor;
	c->d = *d;
	c->observed_s = (double) (now - d->since) / USECS_PER_SEC;
	if (d->rule >= 0 && d->rule < gov->nrules)
		c->rule = gov->rules[d->rule].name;
	else
		memset(&c->rule, 0, sizeof(NameData));
}

static void
gov_act(GovCandidate *c)
{
	const GovEndInfo *e = &gov_ends[c->d.kind];
	const char *rule = NameStr(c->rule)[0] ? NameStr(c->rule) : NULL;
	double		limit_s = (double) c->d.limit_ms / 1000.0;
	char		message[GOV_TEXT_LEN];

	if (c->monitor)
	{
		gov_count_end(rule, c->d.kind, true);
		gov_event_record(&c->t.who, rule, GOV_ACTION_WOULD_TERMINATE, e->name,
						 c->observed_s, limit_s);
		return;
	}
	if (c->d.kind == GOV_END_RECONNECT)
	{
		(void) gov_end_session(&c->t, GOV_END_RECONNECT, NULL,
							   "terminating connection due to pg_governor reconnect", 0, 0);
		return;
	}
	snprintf(message, sizeof(message),
			 "terminating connection due to %s of pg_governor rule \"%s\": %s %.3f s, limit %g s",
			 e->name, rule ? rule : "", e->measured, c->observed_s, limit_s);
	(void) gov_end_session(&c->t, c->d.kind, rule, message, c->observed_s, limit_s);
}

static void
gov_next_deadline(TimestampTz *next, TimestampTz t)
{
	if (*next == 0 || t < *next)
		*next = t;
}

/* ----------------------------------------------------------------
 * Idle eviction (evict_idle_after): a slot for a waiting login
 * ----------------------------------------------------------------
 */

/* An idle session that may be evicted for a waiting login of a rule. */
typedef struct GovEvictee
{
	int			slotno;
	int			rule;
	TimestampTz idle_since;
} GovEvictee;

static GovEvictee *gov_evictees = NULL;
static int *gov_evict_need = NULL;

static int
gov_evictee_cmp(const void *a, const void *b)
{
	const GovEvictee *x = a;
	const GovEvictee *y = b;

	if (x->rule != y->rule)
		return x->rule - y->rule;
	return x->idle_since < y->idle_since ? -1 : x->idle_since > y->idle_since ? 1 : 0;
}

/*
 * For every rule with evict_idle_after and logins waiting for its bucket,
 * end its longest-idle sessions (idle outside a transaction, and
 * connected, at least that long; never exempt), one per waiting login not
 * already served by an eviction in flight.  The waiter gets the slot when
 * the evicted session's exit frees it (bucket.c).  Updates *next with
 * when a session becomes eligible.
 */
static void
gov_evict_pass(TimestampTz now, TimestampTz *next)
{
	int			nrules;
	int			n = 0;
	bool		any = false;
	int			i,
				r;

	if (gov_evictees == NULL)
	{
		gov_evictees = MemoryContextAlloc(TopMemoryContext, sizeof(GovEvictee) * gov_nslots);
		gov_evict_need = MemoryContextAlloc(TopMemoryContext, sizeof(int) * gov_max_rules);
	}

	LWLockAcquire(gov->lock, LW_SHARED);
	nrules = gov->nrules;
	for (r = 0; r < nrules; r++)
	{
		const GovRule *rule = &gov->rules[r];
		const GovRuleState *st = &gov->rule_state[r];

		gov_evict_need[r] = rule->evict_idle_after_ms == GOV_NONE || rule->monitor ? 0 :
			st->queue[GOV_BUCKET_LOGIN].len - st->evictions;
		any |= gov_evict_need[r] > 0;
	}
	for (i = 0; any && i < gov_nslots; i++)
	{
		GovSlot    *slot = &gov_slots[i];
		GovBackendInfo info;

		if (slot->pid == 0 || slot->state != GOV_SLOT_ADMITTED ||
			slot->exempt != GOV_NOT_EXEMPT || slot->holds_active ||
			slot->wait.waiting || slot->evicted_for >= 0 ||
			pg_atomic_read_u32(&slot->signalled) != 0)
			continue;
		gov_backend_info(slot, i, &info);
		if (!info.valid || info.state != STATE_IDLE || info.in_xact)
			continue;
		for (r = 0; r < nrules; r++)
		{
			int64		after_us;
			TimestampTz eligible;

			if (gov_evict_need[r] <= 0 || !GOV_RULE_ISSET(slot->rules, r))
				continue;
			after_us = gov->rules[r].evict_idle_after_ms * 1000;
			eligible = Max(info.state_change, slot->connect_time) + after_us;
			if (eligible > now)
				gov_next_deadline(next, eligible);
			else
			{
				gov_evictees[n].slotno = i;
				gov_evictees[n].rule = r;
				gov_evictees[n].idle_since = info.state_change;
				n++;
				break;			/* one eviction serves one rule */
			}
		}
	}
	LWLockRelease(gov->lock);
	if (n == 0)
		return;

	/* Per rule, longest idle first. */
	qsort(gov_evictees, n, sizeof(GovEvictee), gov_evictee_cmp);
	for (i = 0; i < n; i++)
	{
		GovEvictee *e = &gov_evictees[i];
		GovSlot    *slot = &gov_slots[e->slotno];
		GovTarget	t;
		NameData	rule;
		int64		limit_ms;
		double		idle_s = (double) (now - e->idle_since) / USECS_PER_SEC;
		char		message[GOV_TEXT_LEN];
		int			ri;
		bool		go = false;

		/* Claim one waiter's worth; the rules may have changed meanwhile. */
		LWLockAcquire(gov->lock, LW_EXCLUSIVE);
		ri = e->rule < gov->nrules ? e->rule : -1;
		if (ri >= 0 && gov_evict_need[e->rule] > 0 && slot->pid != 0 &&
			slot->evicted_for < 0 && GOV_RULE_ISSET(slot->rules, ri))
		{
			GovRuleState *st = &gov->rule_state[ri];

			if (st->queue[GOV_BUCKET_LOGIN].head >= 0 &&
				st->queue[GOV_BUCKET_LOGIN].len > st->evictions)
			{
				slot->evicted_for = st->queue[GOV_BUCKET_LOGIN].head;
				slot->evicted_by = ri;
				st->evictions++;
				gov_evict_need[e->rule]--;
				rule = gov->rules[ri].name;
				limit_ms = gov->rules[ri].evict_idle_after_ms;
				gov_target_init(&t, e->slotno, GOV_RECHECK_IDLE_SPELL, e->idle_since);
				go = true;
			}
		}
		LWLockRelease(gov->lock);
		if (!go)
			continue;

		snprintf(message, sizeof(message),
				 "terminating connection to admit a waiting login: evict_idle_after of pg_governor rule \"%s\": idle for %.3f s, limit %g s",
				 NameStr(rule), idle_s, limit_ms / 1000.0);
		if (gov_end_session(&t, GOV_END_EVICT, NameStr(rule), message, idle_s, limit_ms / 1000.0))
			continue;
		/* It stopped being idle: give the claim back (a reload has, if any). */
		LWLockAcquire(gov->lock, LW_EXCLUSIVE);
		if (slot->pid == t.who.pid && slot->evicted_for >= 0)
		{
			if (gov->rule_state[slot->evicted_by].evictions > 0)
				gov->rule_state[slot->evicted_by].evictions--;
			slot->evicted_for = -1;
		}
		LWLockRelease(gov->lock);
	}
}

TimestampTz
gov_enforce_pass(void)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz next = 0;
	int			ncand = 0;
	bool		full = false;
	int			i;

	if (gov_candidates == NULL)
	{
		gov_candidates = MemoryContextAllocZero(TopMemoryContext,
												sizeof(GovCandidate) * gov_nslots);
		gov_monitor_seen = MemoryContextAllocZero(TopMemoryContext,
												  sizeof(GovMonitorSeen) * gov_nslots);
	}
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
			/* The session's own transaction_timeout acts first (17+): be its fallback. */
			if (d.kind == GOV_END_XACT_DURATION &&
				pg_atomic_read_u64(&slot->armed_xact_ms) == (uint64) d.limit_ms)
				d.deadline += GOV_XACT_TIMEOUT_GRACE_US;
			if (d.deadline > now)
				gov_next_deadline(&next, d.deadline);
			else if (pg_atomic_read_u32(&slot->signalled) != 0)
				;				/* ended already, on its way out */
			else if (ncand < gov_nslots)
				gov_candidate_fill(&gov_candidates[ncand++], i, &d, false, now);
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
			if (!gov_limit_deadline(slot, &info, (GovEndKind) k, true, &d))
				continue;
			if (d.deadline > now)
				gov_next_deadline(&next, d.deadline);
			else if (seen->since[k] == d.since)
				;				/* this episode is recorded */
			else if (ncand < gov_nslots)
			{
				seen->since[k] = d.since;
				gov_candidate_fill(&gov_candidates[ncand++], i, &d, true, now);
			}
			else
				full = true;
		}
	}
	LWLockRelease(gov->lock);

	for (i = 0; i < ncand; i++)
		gov_act(&gov_candidates[i]);
	gov_evict_pass(now, &next);

	gov_clear_status_snapshot();
	/* More than one slot's worth of work: come back at once for the rest. */
	if (full)
		next = now;
	return next;
}
