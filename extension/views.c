/*-------------------------------------------------------------------------
 *
 * views.c
 *		The SQL functions behind the views: governor.pools, clients,
 *		servers, rule_usage, events, stats, pool_stats, health, and
 *		governor.metrics() and governor.reset_stats().
 *
 * Each copies what it needs out of shared memory under the locks of the
 * module that owns it (pools.c, gov->lock, gov->events_lock) and builds
 * its rows after releasing them, so logins never wait on tuple building.
 * Text is returned valid in the database's encoding whatever the
 * clients sent or governor.rules holds (see gov_text).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "bans.h"
#include "enforcement.h"
#include "metrics.h"
#include "pools.h"
#include "registry.h"
#include "rules.h"
#include "settings.h"
#include "stats.h"
#include "text.h"

PG_FUNCTION_INFO_V1(gov_pools);
PG_FUNCTION_INFO_V1(gov_sessions);
PG_FUNCTION_INFO_V1(gov_rule_usage);
PG_FUNCTION_INFO_V1(gov_events);
PG_FUNCTION_INFO_V1(gov_stats);
PG_FUNCTION_INFO_V1(gov_pool_stats);
PG_FUNCTION_INFO_V1(gov_reset_stats);
PG_FUNCTION_INFO_V1(gov_health);
PG_FUNCTION_INFO_V1(gov_metrics);
PG_FUNCTION_INFO_V1(gov_bans);

/*
 * Text that is valid in this database whatever its encoding.  Not all
 * of it is UTF-8: rule names, roles and databases (and the problem texts
 * that quote them) come from governor.rules in governor.database's
 * encoding, unconverted.  So a UTF-8 database gets '?' for each byte
 * that is not UTF-8; other encodings (SQL_ASCII takes anything) get '?'
 * for each non-ASCII byte.
 */
static Datum
gov_text(const char *s)
{
	int			enc = GetDatabaseEncoding();
	char	   *copy;
	char	   *p;
	Datum		d;

	if (enc == PG_SQL_ASCII)
		return CStringGetTextDatum(s);
	copy = pstrdup(s);
	if (enc == PG_UTF8)
		gov_utf8_make_valid(copy);
	else
		for (p = copy; *p; p++)
			if (IS_HIGHBIT_SET(*p))
				*p = '?';
	d = CStringGetTextDatum(copy);
	pfree(copy);
	return d;
}

static Datum
gov_interval_since(TimestampTz start, TimestampTz now)
{
	return DirectFunctionCall2(timestamp_mi, TimestampTzGetDatum(now),
							   TimestampTzGetDatum(start));
}

/* ----------------------------------------------------------------
 * governor.pools
 * ----------------------------------------------------------------
 */
#define GOV_POOLS_COLS 21

Datum
gov_pools(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	GovPoolsView view;
	int			i;

	gov_require_preload();
	gov_init_srf(fcinfo);
	gov_pools_collect(&view, true);

	for (i = 0; i < view.nrows; i++)
	{
		GovPoolLive *row = &view.rows[i];
		GovPoolGauges *g = &row->g;
		Datum		values[GOV_POOLS_COLS];
		bool		nulls[GOV_POOLS_COLS];
		int64		wait_us;
		int			c = 0;

		if (g->sessions == 0)
			continue;
		memset(nulls, 0, sizeof(nulls));
		wait_us = gov_age_us(g->oldest_wait, view.now);

		values[c++] = gov_text(NameStr(row->key.database));
		values[c++] = gov_text(NameStr(row->key.role));
		values[c++] = gov_text(NameStr(row->key.appname));
		values[c++] = Int32GetDatum(g->cl_active);
		values[c++] = Int32GetDatum(g->cl_waiting);
		values[c++] = Int32GetDatum(0); /* cl_active_cancel_req */
		values[c++] = Int32GetDatum(0); /* cl_waiting_cancel_req */
		values[c++] = Int32GetDatum(g->sv_active);
		values[c++] = Int32GetDatum(0); /* sv_active_cancel */
		values[c++] = Int32GetDatum(0); /* sv_being_canceled */
		values[c++] = Int32GetDatum(g->sv_idle);
		values[c++] = Int32GetDatum(0); /* sv_used */
		values[c++] = Int32GetDatum(0); /* sv_tested */
		values[c++] = Int32GetDatum(g->sv_login);
		values[c++] = Int32GetDatum((int32) (wait_us / USECS_PER_SEC));
		values[c++] = Int32GetDatum((int32) (wait_us % USECS_PER_SEC));
		values[c++] = CStringGetTextDatum(g->transaction_mode ? "transaction" : "session");
		values[c++] = Int32GetDatum(g->idle_in_xact);
		values[c++] = Int32GetDatum(g->waiting_on_lock);
		if (g->oldest_xact)
			values[c++] = gov_interval_since(g->oldest_xact, view.now);
		else
			nulls[c++] = true;
		values[c++] = gov_interval_since(g->oldest_session, view.now);
		Assert(c == GOV_POOLS_COLS);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	pfree(view.rows);
	return (Datum) 0;
}

/* ----------------------------------------------------------------
 * governor.clients and governor.servers
 * ----------------------------------------------------------------
 */
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

/* Names of the rules a session matches, as text[] (NULL when none). */
static Datum
gov_rule_names(const uint64 *bits, const NameData *names, int nrules, bool *isnull)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(nrules, 1));
	int			n = 0;
	int			i;

	for (i = 0; i < nrules; i++)
		if (GOV_RULE_ISSET(bits, i))
			elems[n++] = gov_text(NameStr(names[i]));
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
		if (slot->wait.waiting)
		{
			/* Queued at login, or for an active slot. */
			client_state = "waiting";
			server_state = slot->state == GOV_SLOT_ADMITTED ? "idle" : "new";
			wait_us = now - slot->wait.start;
		}
		else if (slot->state != GOV_SLOT_ADMITTED || !info->valid)
		{
			client_state = "active";
			server_state = "new";
		}
		else
		{
			client_state = "active";
			/* Under max_active, "in a transaction" is holding an active slot. */
			server_state = (slot->has_max_active ? slot->holds_active : info->in_xact) ?
				"active" : "idle";
			if (info->state == STATE_RUNNING || info->state == STATE_FASTPATH)
				wait_us = now - info->activity_start;
		}
		wait_us = Max(wait_us, 0);

		values[c++] = CStringGetTextDatum(client_state);
		values[c++] = CStringGetTextDatum(server_state);
		values[c++] = gov_text(NameStr(slot->id.key.role));
		values[c++] = gov_text(NameStr(slot->id.key.database));
		values[c++] = CStringGetTextDatum(slot->id.addr);
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
		values[c++] = gov_text(NameStr(slot->id.key.appname));
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
			values[c++] = CStringGetTextDatum(gov_ends[copies[i].deadline.kind].name);
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

/* ----------------------------------------------------------------
 * governor.rule_usage and governor.events
 * ----------------------------------------------------------------
 */
#define GOV_RULE_USAGE_COLS 24

Datum
gov_rule_usage(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int		   *in_xact;
	GovRulesCopy copy;
	GovRule    *rules;
	GovRuleState *states;
	int			nrules;
	int			i,
				r;

	gov_require_preload();
	gov_init_srf(fcinfo);
	in_xact = palloc0(sizeof(int) * gov_max_rules);
	gov_rules_alloc(&copy);
	rules = copy.rules;
	states = copy.states;

	LWLockAcquire(gov->lock, LW_SHARED);
	nrules = gov_rules_copy(&copy);
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
				in_xact[r]++;
	}
	LWLockRelease(gov->lock);

	for (r = 0; r < nrules; r++)
	{
		GovRule    *rule = &rules[r];
		GovRuleState *st = &states[r];
		Datum		values[GOV_RULE_USAGE_COLS];
		bool		nulls[GOV_RULE_USAGE_COLS];
		uint64		would = 0;
		int			k,
					c = 0;

		memset(nulls, 0, sizeof(nulls));
		for (k = 0; k < GOV_NUM_LIMITS; k++)
			would += st->would_terminate[k];
		values[c++] = gov_text(NameStr(rule->name));
		values[c++] = CStringGetTextDatum(rule->monitor ? "monitor" : "enforce");
		values[c++] = Int32GetDatum(st->count[GOV_BUCKET_LOGIN]);
		values[c++] = Int32GetDatum(st->queue[GOV_BUCKET_LOGIN].len);
		/* Active places held where max_active applies, else sessions in a transaction. */
		values[c++] = Int32GetDatum(rule->max_active != GOV_NONE ?
									st->count[GOV_BUCKET_ACTIVE] : in_xact[r]);
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
		for (k = 0; k < GOV_NUM_LIMITS; k++)
			values[c++] = Int64GetDatum((int64) st->terminated[k]);
		values[c++] = Int64GetDatum((int64) st->terminated[GOV_END_KILL]);
		values[c++] = Int64GetDatum((int64) would);
		values[c++] = Int32GetDatum(st->queue[GOV_BUCKET_ACTIVE].len);
		values[c++] = Int64GetDatum((int64) st->active_waits);
		values[c++] = Int64GetDatum((int64) st->active_timeouts);
		values[c++] = Int64GetDatum((int64) st->would_wait);
		values[c++] = Int64GetDatum((int64) st->rejected_rate);
		values[c++] = Int64GetDatum((int64) st->terminated[GOV_END_EVICT]);
		if (st->problem[0])
			values[c++] = gov_text(st->problem);
		else
			nulls[c++] = true;
		Assert(c == GOV_RULE_USAGE_COLS);
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
		values[c++] = Int32GetDatum(ev->who.pid);
		values[c++] = gov_text(NameStr(ev->who.key.database));
		values[c++] = gov_text(NameStr(ev->who.key.role));
		values[c++] = gov_text(NameStr(ev->who.key.appname));
		values[c++] = CStringGetTextDatum(ev->who.addr);
		if (NameStr(ev->rule)[0])
			values[c++] = gov_text(NameStr(ev->rule));
		else
			nulls[c++] = true;
		values[c++] = CStringGetTextDatum(gov_action_names[ev->action]);
		values[c++] = CStringGetTextDatum(ev->reason);
		values[c++] = Float8GetDatum(ev->observed);
		values[c++] = Float8GetDatum(ev->limit);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* ----------------------------------------------------------------
 * governor.stats, governor.pool_stats, governor.reset_stats()
 * ----------------------------------------------------------------
 */
#define GOV_STATS_COLS 20		/* after the key columns */

static void
gov_stats_values(const GovPoolLive *pl, TimestampTz now, TimestampTz reset,
				 Datum *values, bool *nulls)
{
	GovAverages avg;
	int			c = 0;

	gov_stats_averages(pl, now, &avg);
	values[c++] = Int64GetDatum((int64) pl->live.xact_count);
	values[c++] = Int64GetDatum((int64) pl->live.query_count);
	nulls[c++] = true;			/* total_received: not measurable server-side */
	nulls[c++] = true;			/* total_sent */
	values[c++] = Int64GetDatum((int64) pl->live.xact_time_us);
	values[c++] = Int64GetDatum((int64) pl->live.query_time_us);
	values[c++] = Int64GetDatum((int64) pl->live.wait_time_us);
	values[c++] = Int64GetDatum(avg.xact_count);
	values[c++] = Int64GetDatum(avg.query_count);
	nulls[c++] = true;			/* avg_recv */
	nulls[c++] = true;			/* avg_sent */
	values[c++] = Int64GetDatum(avg.xact_time);
	values[c++] = Int64GetDatum(avg.query_time);
	values[c++] = Int64GetDatum(avg.wait_time);
	values[c++] = Int64GetDatum((int64) pl->live.connections);
	values[c++] = Int64GetDatum((int64) pl->live.rejected);
	values[c++] = Int64GetDatum((int64) pl->live.terminated);
	values[c++] = Int64GetDatum((int64) pl->live.auth_failed);
	values[c++] = TimestampTzGetDatum(reset);
	Assert(c == GOV_STATS_COLS - 1);
}

Datum
gov_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	GovPoolsView view;
	GovPoolLive *dbs;
	int			ndb;
	int			i;

	gov_require_preload();
	gov_init_srf(fcinfo);
	gov_pools_collect(&view, false);
	dbs = gov_stats_by_database(&view, &ndb);
	for (i = 0; i < ndb; i++)
	{
		Datum		values[GOV_STATS_COLS];
		bool		nulls[GOV_STATS_COLS];

		memset(nulls, 0, sizeof(nulls));
		values[0] = gov_text(NameStr(dbs[i].key.database));
		gov_stats_values(&dbs[i], view.now, view.stats_reset, values + 1, nulls + 1);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

Datum
gov_pool_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	GovPoolsView view;
	int			i;

	gov_require_preload();
	gov_init_srf(fcinfo);
	gov_pools_collect(&view, false);
	for (i = 0; i < view.npools; i++)
	{
		GovPoolLive *pl = &view.rows[i];
		Datum		values[GOV_STATS_COLS + 2];
		bool		nulls[GOV_STATS_COLS + 2];

		if (!pl->used)
			continue;
		memset(nulls, 0, sizeof(nulls));
		values[0] = gov_text(NameStr(pl->key.database));
		values[1] = gov_text(NameStr(pl->key.role));
		values[2] = gov_text(NameStr(pl->key.appname));
		gov_stats_values(pl, view.now, view.stats_reset, values + 3, nulls + 3);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

Datum
gov_reset_stats(PG_FUNCTION_ARGS)
{
	gov_require_preload();
	gov_pools_reset();
	PG_RETURN_VOID();
}

/* ----------------------------------------------------------------
 * governor.health and governor.metrics()
 * ----------------------------------------------------------------
 */
Datum
gov_health(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	GovPoolsView view;
	GovHealthRow rows[GOV_HEALTH_NUM];
	int			i;

	gov_require_preload();
	gov_init_srf(fcinfo);
	gov_pools_collect(&view, false);
	gov_health_compute(&view, rows);
	for (i = 0; i < GOV_HEALTH_NUM; i++)
	{
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		values[0] = CStringGetTextDatum(rows[i].signal);
		values[1] = Float8GetDatum(rows[i].value);
		values[2] = Float8GetDatum(rows[i].warn);
		values[3] = Float8GetDatum(rows[i].crit);
		values[4] = CStringGetTextDatum(gov_health_status_name(rows[i].status));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

Datum
gov_metrics(PG_FUNCTION_ARGS)
{
	gov_require_preload();
	PG_RETURN_TEXT_P(cstring_to_text(gov_metrics_text()));
}

/* ----------------------------------------------------------------
 * governor.bans
 * ----------------------------------------------------------------
 */
Datum
gov_bans(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	GovBanRow  *rows;
	int			n;
	int			i;

	gov_require_preload();
	gov_init_srf(fcinfo);
	rows = gov_bans_list(&n);
	for (i = 0; i < n; i++)
	{
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		values[0] = gov_text(NameStr(rows[i].role));
		values[1] = CStringGetTextDatum(rows[i].addr);
		values[2] = Int32GetDatum(rows[i].failures);
		values[3] = TimestampTzGetDatum(rows[i].since);
		values[4] = TimestampTzGetDatum(rows[i].until);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
