/*-------------------------------------------------------------------------
 *
 * admission.c
 *		Admission at login: the ClientAuthentication hook, exemptions,
 *		bucket checks, the FIFO wait queue and pause/disable.
 *
 * Runs in the new backend after authentication succeeded, inside
 * InitPostgres (a transaction is open, catalogs of shared relations are
 * readable, authentication_timeout is armed as STATEMENT_TIMEOUT).
 *
 * Counting is exact: the decision "fits every bucket" and the increment
 * of every bucket happen in one gov->lock LW_EXCLUSIVE section, and the
 * decrement happens in the registry's exit callback.  A session that
 * does not fit takes a ticket and sleeps on gov->slot_freed (no lock
 * held), which every slot release and flag change broadcasts; only the
 * waiter with the lowest ticket on a rule may take that rule's free slot.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "libpq/auth.h"
#include "libpq/libpq-be.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "replication/walsender.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/timeout.h"
#include "utils/varlena.h"

#include "pg_governor.h"

/* How long a login waits for the worker's first rules load after startup. */
#define GOV_RULES_WAIT_MS	10000
/* Margin kept before authentication_timeout so the client gets our error. */
#define GOV_AUTH_MARGIN_MS	200

static ClientAuthentication_hook_type prev_client_auth_hook = NULL;

static void gov_client_auth(Port *port, int status);

void
gov_admission_init(void)
{
	prev_client_auth_hook = ClientAuthentication_hook;
	ClientAuthentication_hook = gov_client_auth;
}

static GovDbFlag *
gov_db_flag(const char *dbname)
{
	int			i;

	for (i = 0; i < gov->ndbflags; i++)
		if (strcmp(NameStr(gov->dbflags[i].database), dbname) == 0)
			return &gov->dbflags[i];
	return NULL;
}

/* Caller holds gov->lock. */
static bool
gov_db_paused(const char *dbname)
{
	GovDbFlag  *f = gov_db_flag(dbname);

	return gov->all_paused || (f && f->paused);
}

static bool
gov_db_disabled(const char *dbname)
{
	GovDbFlag  *f = gov_db_flag(dbname);

	return gov->all_disabled || (f && f->disabled);
}

static bool
gov_role_in_list(const char *role, const char *list)
{
	char	   *copy;
	List	   *names;
	ListCell   *lc;
	bool		found = false;

	if (list == NULL || list[0] == '\0')
		return false;
	copy = pstrdup(list);
	if (!SplitIdentifierString(copy, ',', &names))
		return false;			/* the GUC check refuses such values */
	foreach(lc, names)
	{
		if (strcmp((char *) lfirst(lc), role) == 0)
		{
			found = true;
			break;
		}
	}
	list_free(names);
	pfree(copy);
	return found;
}

static GovExemptReason
gov_exemption(Port *port, Oid roleid)
{
	if (am_walsender)
		return GOV_EXEMPT_REPLICATION;
	if (gov_exempt_superusers && OidIsValid(roleid) && superuser_arg(roleid))
		return GOV_EXEMPT_SUPERUSER;
	if (gov_role_in_list(port->user_name, gov_exempt_roles))
		return GOV_EXEMPT_ROLE;
	return GOV_NOT_EXEMPT;
}

/* Is there a waiter ahead of us on this rule? Caller holds gov->lock. */
static bool
gov_earlier_waiter(int rule, uint64 ticket)
{
	int			i;

	if (gov->rule_state[rule].waiting == 0)
		return false;
	for (i = 0; i < gov_nslots; i++)
	{
		GovSlot    *s = &gov_slots[i];

		if (s->pid != 0 && s->state == GOV_SLOT_WAITING &&
			s->wait_rule == rule && s->ticket < ticket)
			return true;
	}
	return false;
}

/* Milliseconds left before authentication_timeout, or -1 if none armed. */
static long
gov_auth_budget_ms(void)
{
	TimestampTz finish;

	if (!get_timeout_active(STATEMENT_TIMEOUT))
		return -1;
	finish = get_timeout_finish_time(STATEMENT_TIMEOUT);
	return Max(0, TimestampDifferenceMilliseconds(GetCurrentTimestamp(), finish)
			   - GOV_AUTH_MARGIN_MS);
}

typedef struct GovBlock
{
	int			rule;			/* blocking rule, -1 = none */
	bool		paused;
	int			cap;
	int			in_use;
	int64		timeout_ms;		/* queue timeout of the blocking rule */
	int64		next_reserve_ms;	/* ms until a reserve opens, -1 = never */
	int			would_reject;	/* a monitor rule that is full, -1 = none */
	int			would_cap;
	int			would_in_use;
	/* Names: a reload between lock sections may renumber the rules. */
	NameData	rule_name;
	NameData	would_name;
} GovBlock;

/*
 * Does the session fit now?  Fills *b with what blocks it.
 * Caller holds gov->lock exclusively.
 */
static bool
gov_fits(GovSlot *slot, int64 waited_ms, GovBlock *b)
{
	int			i;

	memset(b, 0, sizeof(*b));
	b->rule = -1;
	b->would_reject = -1;
	b->next_reserve_ms = -1;

	if (gov_db_paused(NameStr(slot->database)))
	{
		b->paused = true;
		return false;
	}
	for (i = 0; i < gov->nrules; i++)
	{
		GovRule    *r = &gov->rules[i];
		GovRuleState *st = &gov->rule_state[i];
		int			cap;

		if (!GOV_RULE_ISSET(slot->rules, i) || r->max_connections == GOV_NONE)
			continue;
		cap = r->max_connections;
		if (r->reserve_connections > 0)
		{
			if (waited_ms >= r->reserve_timeout_ms)
				cap += r->reserve_connections;
			else if (b->next_reserve_ms < 0 ||
					 r->reserve_timeout_ms - waited_ms < b->next_reserve_ms)
				b->next_reserve_ms = r->reserve_timeout_ms - waited_ms;
		}
		if (r->monitor)
		{
			if (st->in_use >= cap && b->would_reject < 0)
			{
				b->would_reject = i;
				b->would_cap = cap;
				b->would_in_use = st->in_use;
				b->would_name = r->name;
			}
			continue;
		}
		if (st->in_use >= cap ||
			(slot->state == GOV_SLOT_WAITING ? gov_earlier_waiter(i, slot->ticket)
			 : st->waiting > 0))
		{
			b->rule = i;
			b->cap = cap;
			b->in_use = st->in_use;
			b->rule_name = r->name;
			b->timeout_ms = r->queue_timeout_ms != GOV_NONE ?
				r->queue_timeout_ms : gov_queue_timeout_ms;
			return false;
		}
	}
	return true;
}

/* Move the slot's "waiting" count to another rule. Caller holds gov->lock. */
static void
gov_set_wait_rule(GovSlot *slot, int rule)
{
	if (slot->wait_rule == rule)
		return;
	if (slot->wait_rule >= 0 && slot->wait_rule < gov->nrules &&
		gov->rule_state[slot->wait_rule].waiting > 0)
		gov->rule_state[slot->wait_rule].waiting--;
	if (rule >= 0)
		gov->rule_state[rule].waiting++;
	slot->wait_rule = rule;
}

static void
gov_wait_for_rules(void)
{
	TimestampTz start = GetCurrentTimestamp();

	if (gov->rules_loaded)
		return;
	ConditionVariablePrepareToSleep(&gov->slot_freed);
	while (!gov->rules_loaded)
	{
		long		left = GOV_RULES_WAIT_MS -
			TimestampDifferenceMilliseconds(start, GetCurrentTimestamp());
		long		budget = gov_auth_budget_ms();

		if (budget >= 0)
			left = Min(left, budget);
		if (left <= 0)
		{
			ereport(WARNING,
					(errmsg("pg_governor: rules not loaded yet, admitting without caps"),
					 errhint("Check that the pg_governor worker runs and can connect to governor.database.")));
			break;
		}
		ConditionVariableTimedSleep(&gov->slot_freed, Min(left, 100), PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
}

/* Refuse the login: FATAL 53300 naming the rule. */
static void
gov_refuse(GovSlot *slot, GovBlock *b, double waited_s, bool auth_cut)
{
	const char *rulename = NameStr(b->rule_name);
	GovSlotState prev_state;
	int			rule = -1;

	LWLockAcquire(gov->lock, LW_EXCLUSIVE);
	prev_state = slot->state;
	gov_set_wait_rule(slot, -1);
	slot->state = GOV_SLOT_LOGIN;
	if (b->rule >= 0)
	{
		rule = gov_find_rule(rulename);
		if (rule >= 0)
			gov->rule_state[rule].rejected++;
	}
	LWLockRelease(gov->lock);
	ConditionVariableCancelSleep();
	if (prev_state == GOV_SLOT_WAITING)
		ConditionVariableBroadcast(&gov->slot_freed);	/* next in line */

	gov_pool_count_reject(slot->pool);
	gov_event_record(slot, rule, "reject",
					 b->paused ? "database_paused" : "max_connections",
					 b->paused ? waited_s : b->in_use,
					 b->paused ? 0 : b->cap);

	if (b->paused)
		ereport(FATAL,
				(errcode(ERRCODE_TOO_MANY_CONNECTIONS),
				 errmsg("pg_governor: database \"%s\" is paused", NameStr(slot->database)),
				 errdetail("The connection waited %.3f s for governor.resume().", waited_s),
				 errhint("Retry after the administrator resumes the database.")));
	ereport(FATAL,
			(errcode(ERRCODE_TOO_MANY_CONNECTIONS),
			 errmsg("too many connections for pg_governor rule \"%s\"", rulename),
			 errdetail("The rule allows %d connections, %d are in use; this connection waited %.3f s%s.",
					   b->cap, b->in_use, waited_s,
					   auth_cut ? " (the wait was cut short by authentication_timeout)" : ""),
			 errhint("Retry later, or raise max_connections or queue_timeout of the rule in governor.rules.")));
}

/*
 * governor.kill() reached this login before it finished: end it with the
 * notice the killer left, while the client can still be told.  The exit
 * callback gives back the queue place or bucket slot.
 */
static void
gov_check_killed(GovSlot *slot)
{
	if (pg_atomic_read_u32(&slot->kill_pending) == 0)
		return;
	pg_read_barrier();
	ConditionVariableCancelSleep();
	ereport(FATAL,
			(errcode(slot->kill_sqlstate),
			 errmsg("%s", slot->kill_message),
			 slot->kill_detail[0] ? errdetail("%s", slot->kill_detail) : 0));
}

/* Decide admission for this backend; returns admitted or raises FATAL. */
static void
gov_admit(GovSlot *slot)
{
	GovBlock	b;
	bool		waited = false;
	TimestampTz now;
	int64		waited_ms = 0;
	int			i;

	gov_wait_for_rules();
	ConditionVariablePrepareToSleep(&gov->slot_freed);

	for (;;)
	{
		long		sleep_ms;
		long		budget;
		bool		fits;
		bool		moved;

		gov_check_killed(slot);
		now = GetCurrentTimestamp();
		if (waited)
			waited_ms = TimestampDifferenceMilliseconds(slot->wait_start, now);

		LWLockAcquire(gov->lock, LW_EXCLUSIVE);
		if (gov_db_disabled(NameStr(slot->database)))
		{
			gov_set_wait_rule(slot, -1);
			slot->state = GOV_SLOT_LOGIN;
			LWLockRelease(gov->lock);
			ConditionVariableCancelSleep();
			gov_pool_count_reject(slot->pool);
			gov_event_record(slot, -1, "reject", "database_disabled", 0, 0);
			ereport(FATAL,
					(errcode(ERRCODE_TOO_MANY_CONNECTIONS),
					 errmsg("pg_governor: database \"%s\" is disabled", NameStr(slot->database)),
					 errhint("An administrator ran governor.disable(); governor.enable() allows logins again.")));
		}

		gov_match_rules(slot, slot->rules, &slot->limits);
		fits = gov_fits(slot, waited_ms, &b);
		if (fits)
		{
			for (i = 0; i < gov->nrules; i++)
				if (GOV_RULE_ISSET(slot->rules, i))
				{
					gov->rule_state[i].in_use++;
					gov->rule_state[i].admitted++;
				}
			gov_set_wait_rule(slot, -1);
			slot->state = GOV_SLOT_ADMITTED;
			slot->admit_time = now;
			slot->wait_start = 0;
			LWLockRelease(gov->lock);
			/* We left the queue: whoever waited behind us may go now. */
			if (waited)
				ConditionVariableBroadcast(&gov->slot_freed);
			break;
		}

		/* Nothing to wait for: refuse without queueing ahead of others. */
		if (!waited && !b.paused && b.timeout_ms <= 0 && b.next_reserve_ms < 0)
		{
			LWLockRelease(gov->lock);
			gov_refuse(slot, &b, 0.0, false);
		}

		if (!waited)
		{
			slot->ticket = gov->next_ticket++;
			slot->wait_start = now;
			slot->state = GOV_SLOT_WAITING;
			waited = true;
		}
		moved = waited && slot->wait_rule != b.rule && slot->wait_rule >= 0;
		gov_set_wait_rule(slot, b.rule);
		LWLockRelease(gov->lock);
		if (moved)
			ConditionVariableBroadcast(&gov->slot_freed);

		/* Give up, or sleep until a slot frees, a reserve opens or time runs out. */
		budget = gov_auth_budget_ms();
		if (budget == 0)
			gov_refuse(slot, &b, waited_ms / 1000.0, true);
		if (b.paused)
			sleep_ms = 1000;
		else
		{
			if (waited_ms >= b.timeout_ms)
				gov_refuse(slot, &b, waited_ms / 1000.0, false);
			sleep_ms = (long) (b.timeout_ms - waited_ms);
		}
		if (b.next_reserve_ms > 0)
			sleep_ms = Min(sleep_ms, (long) b.next_reserve_ms);
		if (budget > 0)
			sleep_ms = Min(sleep_ms, budget);
		ConditionVariableTimedSleep(&gov->slot_freed, Max(sleep_ms, 1), PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
	gov_check_killed(slot);

	gov_pool_count_admit(slot->pool);
	if (waited)
		pg_atomic_write_u64(&slot->counters.wait_time_us,
							pg_atomic_read_u64(&slot->counters.wait_time_us) +
							(uint64) Max(now - slot->login_time, 0));
	if (b.would_reject >= 0)
	{
		int			rule;

		LWLockAcquire(gov->lock, LW_EXCLUSIVE);
		rule = gov_find_rule(NameStr(b.would_name));
		if (rule >= 0)
			gov->rule_state[rule].would_reject++;
		LWLockRelease(gov->lock);
		gov_event_record(slot, rule, "would_reject", "max_connections",
						 b.would_in_use, b.would_cap);
	}
}

static void
gov_client_auth(Port *port, int status)
{
	Oid			roleid;
	GovExemptReason exempt;

	if (prev_client_auth_hook)
		prev_client_auth_hook(port, status);
	if (gov == NULL)
		return;

	if (status != STATUS_OK)
	{
		/* A client hanging up before answering the challenge is no failure. */
		if (status != STATUS_EOF)
			gov_pool_count_auth_failed(port->database_name, port->user_name,
									   port->application_name ? port->application_name : "");
		return;
	}

	roleid = get_role_oid(port->user_name, true);
	exempt = gov_exemption(port, roleid);
	gov_registry_claim(port, exempt, roleid);

	if (exempt != GOV_NOT_EXEMPT)
	{
		LWLockAcquire(gov->lock, LW_EXCLUSIVE);
		gov_match_rules(gov_my_slot, gov_my_slot->rules, &gov_my_slot->limits);
		gov_my_slot->state = GOV_SLOT_ADMITTED;
		gov_my_slot->admit_time = GetCurrentTimestamp();
		LWLockRelease(gov->lock);
		gov_pool_count_admit(gov_my_slot->pool);
		return;
	}
	gov_admit(gov_my_slot);
}
