/*-------------------------------------------------------------------------
 *
 * views.c
 *		Set-returning functions behind governor.pools, governor.clients and
 *		governor.servers.
 *
 * They read the registry under gov->lock LW_SHARED and each session's
 * PgBackendStatus entry directly (registry.c: gov_backend_info), so a
 * call costs one pass over the slots, with no snapshot of every
 * backend's query text and no sort.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "pg_governor.h"

PG_FUNCTION_INFO_V1(gov_pools);
PG_FUNCTION_INFO_V1(gov_sessions);

static void
gov_min_ts(TimestampTz *acc, TimestampTz v)
{
	if (v != 0 && (*acc == 0 || v < *acc))
		*acc = v;
}

static Datum
gov_interval_since(TimestampTz start, TimestampTz now)
{
	return DirectFunctionCall2(timestamp_mi, TimestampTzGetDatum(now),
							   TimestampTzGetDatum(start));
}

static const char *
gov_state_name(BackendState state)
{
	switch (state)
	{
		case STATE_IDLE:
			return "idle";
		case STATE_RUNNING:
			return "active";
		case STATE_IDLEINTRANSACTION:
			return "idle in transaction";
		case STATE_FASTPATH:
			return "fastpath function call";
		case STATE_IDLEINTRANSACTION_ABORTED:
			return "idle in transaction (aborted)";
		case STATE_DISABLED:
			return "disabled";
		default:
			return NULL;
	}
}

static bool
gov_uses_max_active(const GovSlot *slot)
{
	int			i;

	for (i = 0; i < gov->nrules; i++)
		if (GOV_RULE_ISSET(slot->rules, i) && gov->rules[i].max_active != GOV_NONE)
			return true;
	return false;
}

/*
 * The PgBouncer mapping of one session: cl_active = admitted, cl_waiting =
 * queued at login, sv_active = inside a transaction, sv_idle = outside one,
 * sv_login = past authentication but admission or startup not finished.
 */
void
gov_gauges_add(GovPoolGauges *g, const GovSlot *slot, int slotno)
{
	GovBackendInfo info;

	g->sessions++;
	gov_min_ts(&g->oldest_session, slot->connect_time);
	if (gov_uses_max_active(slot))
		g->transaction_mode = true;
	if (slot->state == GOV_SLOT_WAITING)
	{
		g->cl_waiting++;
		gov_min_ts(&g->oldest_wait, slot->wait_start);
		return;
	}
	if (slot->state != GOV_SLOT_ADMITTED)
	{
		g->sv_login++;
		return;
	}
	g->cl_active++;
	gov_backend_info(slot, slotno, &info);
	if (!info.valid)
	{
		g->sv_login++;			/* admitted, startup not finished yet */
		return;
	}
	if (info.in_xact)
	{
		g->sv_active++;
		gov_min_ts(&g->oldest_xact, info.xact_start);
	}
	else
		g->sv_idle++;
	if (info.state == STATE_IDLEINTRANSACTION ||
		info.state == STATE_IDLEINTRANSACTION_ABORTED)
		g->idle_in_xact++;
	if ((info.wait_event_info & 0xFF000000) == PG_WAIT_LOCK)
		g->waiting_on_lock++;
}

Datum
gov_pools(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	GovPoolGauges *rows;
	TimestampTz now = GetCurrentTimestamp();
	int			npool = gov_max_pools + 1;
	int			i;

	gov_require_preload();
	gov_init_srf(fcinfo);
	rows = palloc0(sizeof(GovPoolGauges) * npool);

	LWLockAcquire(gov->lock, LW_SHARED);
	for (i = 0; i < gov_nslots; i++)
	{
		GovSlot    *slot = &gov_slots[i];

		if (slot->pid != 0 && slot->pool >= 0 && slot->pool < npool)
			gov_gauges_add(&rows[slot->pool], slot, i);
	}
	LWLockRelease(gov->lock);

	for (i = 0; i < npool; i++)
	{
		GovPoolGauges *row = &rows[i];
		GovPool    *pool = &gov_pool_array[i];
		Datum		values[21];
		bool		nulls[21];
		int64		wait_us = 0;
		int			c = 0;

		if (row->sessions == 0)
			continue;
		memset(nulls, 0, sizeof(nulls));
		if (row->oldest_wait != 0)
			wait_us = Max(0, now - row->oldest_wait);

		values[c++] = CStringGetTextDatum(NameStr(pool->key.database));
		values[c++] = CStringGetTextDatum(NameStr(pool->key.role));
		values[c++] = CStringGetTextDatum(NameStr(pool->key.appname));
		values[c++] = Int32GetDatum(row->cl_active);
		values[c++] = Int32GetDatum(row->cl_waiting);
		values[c++] = Int32GetDatum(0);	/* cl_active_cancel_req */
		values[c++] = Int32GetDatum(0);	/* cl_waiting_cancel_req */
		values[c++] = Int32GetDatum(row->sv_active);
		values[c++] = Int32GetDatum(0);	/* sv_active_cancel */
		values[c++] = Int32GetDatum(0);	/* sv_being_canceled */
		values[c++] = Int32GetDatum(row->sv_idle);
		values[c++] = Int32GetDatum(0);	/* sv_used */
		values[c++] = Int32GetDatum(0);	/* sv_tested */
		values[c++] = Int32GetDatum(row->sv_login);
		values[c++] = Int32GetDatum((int32) (wait_us / USECS_PER_SEC));
		values[c++] = Int32GetDatum((int32) (wait_us % USECS_PER_SEC));
		values[c++] = CStringGetTextDatum(row->transaction_mode ? "transaction" : "session");
		values[c++] = Int32GetDatum(row->idle_in_xact);
		values[c++] = Int32GetDatum(row->waiting_on_lock);
		if (row->oldest_xact)
			values[c++] = gov_interval_since(row->oldest_xact, now);
		else
			nulls[c++] = true;
		values[c++] = gov_interval_since(row->oldest_session, now);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	pfree(rows);
	return (Datum) 0;
}

/* Names of the rules a session matches, as text[] (NULL when none). */
static Datum
gov_rule_names(const uint64 *bits, const NameData *names, int nrules, bool *isnull)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(nrules, 1));
	int			n = 0;
	int			i;

	for (i = 0; i < nrules; i++)
		if (GOV_RULE_ISSET(bits, i))
			elems[n++] = CStringGetTextDatum(NameStr(names[i]));
	*isnull = (n == 0);
	if (n == 0)
		return (Datum) 0;
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* What governor.clients/servers show of one session, copied under the lock. */
typedef struct GovSessionCopy
{
	GovSlot		slot;
	GovBackendInfo info;
	bool		has_deadline;
	GovDeadline deadline;
} GovSessionCopy;

/*
 * One row per registered session: the columns of SHOW CLIENTS and SHOW
 * SERVERS (both views select from this, each with its own type/state),
 * then native ones.  The slots are copied under gov->lock and the tuples
 * built after it is released, so logins never wait on tuple building.
 */
#define GOV_SESSION_COLS 25

Datum
gov_sessions(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz now = GetCurrentTimestamp();
	GovSessionCopy *copies;
	NameData   *names;
	int			nrules;
	int			n = 0;
	int			i;

	gov_require_preload();
	gov_init_srf(fcinfo);
	copies = palloc(sizeof(GovSessionCopy) * gov_nslots);
	names = palloc(sizeof(NameData) * gov_max_rules);

	LWLockAcquire(gov->lock, LW_SHARED);
	nrules = gov->nrules;
	for (i = 0; i < nrules; i++)
		names[i] = gov->rules[i].name;
	for (i = 0; i < gov_nslots; i++)
	{
		GovSlot    *slot = &gov_slots[i];
		GovSessionCopy *cp = &copies[n];

		if (slot->pid == 0)
			continue;
		memcpy(&cp->slot, slot, sizeof(GovSlot));
		if (slot->state == GOV_SLOT_ADMITTED)
			gov_backend_info(slot, i, &cp->info);
		else
			memset(&cp->info, 0, sizeof(cp->info));
		/* When and why the governor will end it (enforcement.c). */
		cp->has_deadline = slot->state == GOV_SLOT_ADMITTED &&
			gov_session_deadline(slot, &cp->info, &cp->deadline);
		n++;
	}
	LWLockRelease(gov->lock);

	for (i = 0; i < n; i++)
	{
		GovSlot    *slot = &copies[i].slot;
		GovBackendInfo *info = &copies[i].info;
		Datum		values[GOV_SESSION_COLS];
		bool		nulls[GOV_SESSION_COLS];
		const char *client_state;
		const char *server_state;
		const char *bstate;
		int64		wait_us = 0;
		int			c = 0;

		memset(nulls, 0, sizeof(nulls));
		if (slot->state == GOV_SLOT_WAITING)
		{
			client_state = "waiting";
			server_state = "new";
			wait_us = now - slot->wait_start;
		}
		else if (slot->state != GOV_SLOT_ADMITTED || !info->valid)
		{
			client_state = "active";
			server_state = "new";
		}
		else
		{
			client_state = "active";
			server_state = info->in_xact ? "active" : "idle";
			if (info->state == STATE_RUNNING || info->state == STATE_FASTPATH)
				wait_us = now - info->activity_start;
		}
		wait_us = Max(wait_us, 0);

		values[c++] = CStringGetTextDatum(client_state);
		values[c++] = CStringGetTextDatum(server_state);
		values[c++] = CStringGetTextDatum(NameStr(slot->role));
		values[c++] = CStringGetTextDatum(NameStr(slot->database));
		values[c++] = CStringGetTextDatum(slot->addr);
		values[c++] = Int32GetDatum(slot->port);
		values[c++] = CStringGetTextDatum(slot->local_addr);
		values[c++] = Int32GetDatum(slot->local_port);
		values[c++] = TimestampTzGetDatum(slot->connect_time);
		if (info->valid && info->activity_start)
			values[c++] = TimestampTzGetDatum(info->activity_start);
		else
			values[c++] = TimestampTzGetDatum(slot->login_time);
		values[c++] = Int32GetDatum((int32) (wait_us / USECS_PER_SEC));
		values[c++] = Int32GetDatum((int32) (wait_us % USECS_PER_SEC));
		values[c++] = Int32GetDatum(pg_atomic_read_u32(&slot->close_needed) ? 1 : 0);
		values[c++] = CStringGetTextDatum(slot->tls);
		values[c++] = CStringGetTextDatum(NameStr(slot->appname));
		values[c++] = Int32GetDatum(slot->pid);
		bstate = info->valid ? gov_state_name(info->state) : NULL;
		if (bstate)
			values[c++] = CStringGetTextDatum(bstate);
		else
			nulls[c++] = true;
		if (info->valid && info->xact_start)
			values[c++] = TimestampTzGetDatum(info->xact_start);
		else
			nulls[c++] = true;
		if (info->valid && info->state_change)
			values[c++] = TimestampTzGetDatum(info->state_change);
		else
			nulls[c++] = true;
		if (info->valid && info->wait_event_info)
		{
			values[c++] = CStringGetTextDatum(pgstat_get_wait_event_type(info->wait_event_info));
			values[c++] = CStringGetTextDatum(pgstat_get_wait_event(info->wait_event_info));
		}
		else
		{
			nulls[c++] = true;
			nulls[c++] = true;
		}
		values[c] = gov_rule_names(slot->rules, names, nrules, &nulls[c]);
		c++;
		if (copies[i].has_deadline)
		{
			values[c++] = TimestampTzGetDatum(copies[i].deadline.deadline);
			values[c++] = CStringGetTextDatum(gov_limit_name(copies[i].deadline.kind));
		}
		else
		{
			nulls[c++] = true;
			nulls[c++] = true;
		}
		values[c++] = CStringGetTextDatum(slot->exempt == GOV_EXEMPT_SUPERUSER ? "superuser" :
										  slot->exempt == GOV_EXEMPT_ROLE ? "role" :
										  slot->exempt == GOV_EXEMPT_REPLICATION ? "replication" : "");
		Assert(c == GOV_SESSION_COLS);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	pfree(copies);
	pfree(names);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(gov_rule_usage);
PG_FUNCTION_INFO_V1(gov_events);

/* One row per loaded rule: live usage, caps and totals by reason. */
Datum
gov_rule_usage(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int		   *active;
	GovRule    *rules;
	GovRuleState *states;
	int			nrules;
	int			i,
				r;

	gov_require_preload();
	gov_init_srf(fcinfo);
	/* Copy under the lock, build tuples after releasing it. */
	active = palloc0(sizeof(int) * gov_max_rules);
	rules = palloc(sizeof(GovRule) * gov_max_rules);
	states = palloc(sizeof(GovRuleState) * gov_max_rules);

	LWLockAcquire(gov->lock, LW_SHARED);
	nrules = gov->nrules;
	memcpy(rules, gov->rules, sizeof(GovRule) * nrules);
	memcpy(states, gov->rule_state, sizeof(GovRuleState) * nrules);
	for (i = 0; i < gov_nslots; i++)
	{
		GovSlot    *slot = &gov_slots[i];
		GovBackendInfo info;

		if (slot->pid == 0 || slot->state != GOV_SLOT_ADMITTED ||
			slot->exempt != GOV_NOT_EXEMPT)
			continue;
		gov_backend_info(slot, i, &info);
		if (!info.valid || !info.in_xact)
			continue;
		for (r = 0; r < nrules; r++)
			if (GOV_RULE_ISSET(slot->rules, r))
				active[r]++;
	}
	LWLockRelease(gov->lock);

	for (r = 0; r < nrules; r++)
	{
		GovRule    *rule = &rules[r];
		GovRuleState *st = &states[r];
		Datum		values[17];
		bool		nulls[17];
		uint64		would = 0;
		int			k,
					c = 0;

		memset(nulls, 0, sizeof(nulls));
		for (k = 0; k < GOV_NUM_LIMITS; k++)
			would += st->would_terminate[k];
		values[c++] = CStringGetTextDatum(NameStr(rule->name));
		values[c++] = CStringGetTextDatum(rule->monitor ? "monitor" : "enforce");
		values[c++] = Int32GetDatum(st->in_use);
		values[c++] = Int32GetDatum(st->waiting);
		values[c++] = Int32GetDatum(active[r]);
		if (rule->max_connections == GOV_NONE)
			nulls[c++] = true;
		else
			values[c++] = Int32GetDatum(rule->max_connections);
		values[c++] = Int32GetDatum(rule->reserve_connections);
		if (rule->max_active == GOV_NONE)
			nulls[c++] = true;
		else
			values[c++] = Int32GetDatum(rule->max_active);
		values[c++] = Int64GetDatum((int64) st->admitted);
		values[c++] = Int64GetDatum((int64) st->rejected);
		values[c++] = Int64GetDatum((int64) st->would_reject);
		values[c++] = Int64GetDatum((int64) st->terminated[GOV_LIMIT_IDLE_IN_XACT]);
		values[c++] = Int64GetDatum((int64) st->terminated[GOV_LIMIT_IDLE]);
		values[c++] = Int64GetDatum((int64) st->terminated[GOV_LIMIT_LIFETIME]);
		values[c++] = Int64GetDatum((int64) st->terminated[GOV_LIMIT_XACT_DURATION]);
		values[c++] = Int64GetDatum((int64) st->terminated[GOV_TERMINATED_KILL]);
		values[c++] = Int64GetDatum((int64) would);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* The event ring, oldest first. */
Datum
gov_events(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	uint64		first,
				n;
	GovEvent   *copy;
	uint64		i;

	gov_require_preload();
	gov_init_srf(fcinfo);

	/* Copy under the lock, build tuples after releasing it. */
	LWLockAcquire(gov->events_lock, LW_SHARED);
	n = Min(gov->events_written, (uint64) gov_max_events);
	first = gov->events_written - n;
	copy = palloc(sizeof(GovEvent) * Max(n, 1));
	for (i = 0; i < n; i++)
		copy[i] = gov->events[(first + i) % gov_max_events];
	LWLockRelease(gov->events_lock);

	for (i = 0; i < n; i++)
	{
		GovEvent   *ev = &copy[i];
		Datum		values[11];
		bool		nulls[11];
		int			c = 0;

		memset(nulls, 0, sizeof(nulls));
		values[c++] = TimestampTzGetDatum(ev->time);
		values[c++] = Int32GetDatum(ev->pid);
		values[c++] = CStringGetTextDatum(NameStr(ev->database));
		values[c++] = CStringGetTextDatum(NameStr(ev->role));
		values[c++] = CStringGetTextDatum(NameStr(ev->appname));
		values[c++] = CStringGetTextDatum(ev->client_addr);
		if (NameStr(ev->rule)[0])
			values[c++] = CStringGetTextDatum(NameStr(ev->rule));
		else
			nulls[c++] = true;
		values[c++] = CStringGetTextDatum(ev->action);
		values[c++] = CStringGetTextDatum(ev->reason);
		values[c++] = Float8GetDatum(ev->observed);
		values[c++] = Float8GetDatum(ev->limit);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
