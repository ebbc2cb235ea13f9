/*-------------------------------------------------------------------------
 *
 * metrics.c
 *		The Prometheus text exposition of pools, stats, health, rule usage
 *		and the event counter (metric names modelled on pgbouncer_exporter,
 *		prefix pg_governor_).  Builds text only: governor.metrics() and the
 *		worker's HTTP endpoint (http.c) both serve it.
 *
 * Built from shared memory only (no SPI, no transaction), so the worker
 * can build it outside a transaction.  It reads pools and slots through
 * gov_pools_collect (pools.c), rules and their counters under gov->lock
 * LW_SHARED (copied out first), events_written under gov->events_lock
 * LW_SHARED.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"

#include "metrics.h"
#include "pools.h"
#include "settings.h"
#include "stats.h"

/* ----------------------------------------------------------------
 * Prometheus text
 * ----------------------------------------------------------------
 */

/* Label value: valid UTF-8, with backslash, double quote and newline escaped. */
static void
gov_prom_value(StringInfo b, const char *s)
{
	const unsigned char *p = (const unsigned char *) s;

	while (*p)
	{
		int			len = pg_utf_mblen(p);
		int			i;
		bool		ok = true;

		for (i = 1; i < len && ok; i++)
			ok = p[i] != '\0';
		if (!ok || !pg_utf8_islegal(p, len))
		{
			appendStringInfoChar(b, '?');
			p++;
			continue;
		}
		if (*p == '\\')
			appendStringInfoString(b, "\\\\");
		else if (*p == '"')
			appendStringInfoString(b, "\\\"");
		else if (*p == '\n')
			appendStringInfoString(b, "\\n");
		else
			appendBinaryStringInfo(b, (const char *) p, len);
		p += len;
	}
}

static void
gov_prom_family(StringInfo b, const char *name, const char *type, const char *help)
{
	appendStringInfo(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
gov_prom_pool_labels(StringInfo b, const GovPoolKey *key)
{
	appendStringInfoString(b, "{database=\"");
	gov_prom_value(b, NameStr(key->database));
	appendStringInfoString(b, "\",user=\"");
	gov_prom_value(b, NameStr(key->role));
	appendStringInfoString(b, "\",application_name=\"");
	gov_prom_value(b, NameStr(key->appname));
	appendStringInfoString(b, "\"}");
}

static void
gov_prom_db_labels(StringInfo b, const GovPoolKey *key)
{
	appendStringInfoString(b, "{database=\"");
	gov_prom_value(b, NameStr(key->database));
	appendStringInfoString(b, "\"}");
}

static void
gov_prom_double(StringInfo b, double v)
{
	appendStringInfo(b, " %.6f\n", v);
}

static void
gov_prom_uint(StringInfo b, uint64 v)
{
	appendStringInfo(b, " " UINT64_FORMAT "\n", v);
}

/* Which number of a pool or database row a metric shows. */
typedef enum GovPoolField
{
	GF_CL_ACTIVE,
	GF_CL_WAITING,
	GF_SV_ACTIVE,
	GF_SV_IDLE,
	GF_SV_LOGIN,
	GF_MAXWAIT_S,
	GF_IDLE_IN_XACT,
	GF_WAITING_ON_LOCK,
	GF_OLDEST_XACT_S,
	GF_XACT_COUNT,
	GF_QUERY_COUNT,
	GF_XACT_TIME_S,
	GF_QUERY_TIME_S,
	GF_WAIT_TIME_S,
	GF_CONNECTIONS,
	GF_REJECTED,
	GF_TERMINATED,
	GF_AUTH_FAILED,
	GF_AVG_XACT_RATE,
	GF_AVG_QUERY_RATE,
	GF_AVG_XACT_TIME_S,
	GF_AVG_QUERY_TIME_S,
	GF_AVG_WAIT_TIME_S
} GovPoolField;

typedef struct GovPromMetric
{
	const char *name;			/* after the family prefix */
	const char *type;
	GovPoolField field;
	const char *help;
} GovPromMetric;

static const GovPromMetric gov_pool_gauges[] = {
	{"client_active_connections", "gauge", GF_CL_ACTIVE, "Admitted sessions (SHOW POOLS cl_active)."},
	{"client_waiting_connections", "gauge", GF_CL_WAITING, "Sessions queued at login (SHOW POOLS cl_waiting)."},
	{"server_active_connections", "gauge", GF_SV_ACTIVE, "Admitted sessions inside a transaction (SHOW POOLS sv_active)."},
	{"server_idle_connections", "gauge", GF_SV_IDLE, "Admitted sessions outside a transaction (SHOW POOLS sv_idle)."},
	{"server_login_connections", "gauge", GF_SV_LOGIN, "Sessions whose admission or startup has not finished (SHOW POOLS sv_login)."},
	{"client_maxwait_seconds", "gauge", GF_MAXWAIT_S, "How long the oldest waiting session has waited (SHOW POOLS maxwait + maxwait_us)."},
	{"idle_in_transaction_connections", "gauge", GF_IDLE_IN_XACT, "Sessions idle inside a transaction."},
	{"waiting_on_lock_connections", "gauge", GF_WAITING_ON_LOCK, "Sessions waiting for a heavyweight lock."},
	{"oldest_transaction_age_seconds", "gauge", GF_OLDEST_XACT_S, "Age of the oldest open transaction, 0 when none."},
};

static const GovPromMetric gov_stats_counters[] = {
	{"sql_transactions_pooled_total", "counter", GF_XACT_COUNT, "Transactions of client sessions (SHOW STATS total_xact_count)."},
	{"queries_pooled_total", "counter", GF_QUERY_COUNT, "Client statements (SHOW STATS total_query_count)."},
	{"server_in_transaction_seconds_total", "counter", GF_XACT_TIME_S, "Time spent in transactions, idle in transaction included (SHOW STATS total_xact_time)."},
	{"queries_duration_seconds_total", "counter", GF_QUERY_TIME_S, "Time spent executing client statements (SHOW STATS total_query_time)."},
	{"client_wait_seconds_total", "counter", GF_WAIT_TIME_S, "Time admitted sessions waited in the login queue (SHOW STATS total_wait_time)."},
	{"connections_total", "counter", GF_CONNECTIONS, "Sessions admitted."},
	{"rejected_connections_total", "counter", GF_REJECTED, "Logins refused by a rule, a pause or a disable."},
	{"terminated_connections_total", "counter", GF_TERMINATED, "Sessions terminated by the governor."},
	{"auth_failures_total", "counter", GF_AUTH_FAILED, "Logins that failed authentication."},
};

static const GovPromMetric gov_stats_avg_metrics[] = {
	{"avg_transaction_rate", "gauge", GF_AVG_XACT_RATE, "Transactions per second over the last one to two governor.stats_period (SHOW STATS avg_xact_count)."},
	{"avg_query_rate", "gauge", GF_AVG_QUERY_RATE, "Client statements per second over the stats window (SHOW STATS avg_query_count)."},
	{"avg_transaction_duration_seconds", "gauge", GF_AVG_XACT_TIME_S, "Average transaction time over the stats window (SHOW STATS avg_xact_time)."},
	{"avg_query_duration_seconds", "gauge", GF_AVG_QUERY_TIME_S, "Average statement time over the stats window (SHOW STATS avg_query_time)."},
	{"avg_wait_seconds", "gauge", GF_AVG_WAIT_TIME_S, "Average login queue wait per admitted session over the stats window (SHOW STATS avg_wait_time)."},
};

static double
gov_pool_field(const GovPoolLive *pl, GovPoolField f, TimestampTz now)
{
	GovAverages avg;

	if (f >= GF_AVG_XACT_RATE)
		gov_stats_averages(pl, now, &avg);
	switch (f)
	{
		case GF_CL_ACTIVE:
			return pl->g.cl_active;
		case GF_CL_WAITING:
			return pl->g.cl_waiting;
		case GF_SV_ACTIVE:
			return pl->g.sv_active;
		case GF_SV_IDLE:
			return pl->g.sv_idle;
		case GF_SV_LOGIN:
			return pl->g.sv_login;
		case GF_MAXWAIT_S:
			return pl->g.oldest_wait ? Max(now - pl->g.oldest_wait, 0) / 1e6 : 0;
		case GF_IDLE_IN_XACT:
			return pl->g.idle_in_xact;
		case GF_WAITING_ON_LOCK:
			return pl->g.waiting_on_lock;
		case GF_OLDEST_XACT_S:
			return pl->g.oldest_xact ? Max(now - pl->g.oldest_xact, 0) / 1e6 : 0;
		case GF_XACT_COUNT:
			return (double) pl->live.xact_count;
		case GF_QUERY_COUNT:
			return (double) pl->live.query_count;
		case GF_XACT_TIME_S:
			return pl->live.xact_time_us / 1e6;
		case GF_QUERY_TIME_S:
			return pl->live.query_time_us / 1e6;
		case GF_WAIT_TIME_S:
			return pl->live.wait_time_us / 1e6;
		case GF_CONNECTIONS:
			return (double) pl->live.connections;
		case GF_REJECTED:
			return (double) pl->live.rejected;
		case GF_TERMINATED:
			return (double) pl->live.terminated;
		case GF_AUTH_FAILED:
			return (double) pl->live.auth_failed;
		case GF_AVG_XACT_RATE:
			return (double) avg.xact_count;
		case GF_AVG_QUERY_RATE:
			return (double) avg.query_count;
		case GF_AVG_XACT_TIME_S:
			return avg.xact_time / 1e6;
		case GF_AVG_QUERY_TIME_S:
			return avg.query_time / 1e6;
		case GF_AVG_WAIT_TIME_S:
			return avg.wait_time / 1e6;
	}
	return 0;
}

/* Counts print as integers, everything else with microsecond precision. */
static bool
gov_field_is_count(GovPoolField f)
{
	return f != GF_MAXWAIT_S && f != GF_OLDEST_XACT_S &&
		f != GF_XACT_TIME_S && f != GF_QUERY_TIME_S && f != GF_WAIT_TIME_S &&
		f < GF_AVG_XACT_TIME_S;
}

/* One family over a set of rows; skipped when no row qualifies. */
static void
gov_prom_rows(StringInfo b, const char *prefix, const GovPromMetric *m,
			  const GovPoolLive *rows, int nrows, bool per_pool,
			  bool live_only, TimestampTz now)
{
	char		name[128];
	bool		any = false;
	int			i;

	for (i = 0; i < nrows && !any; i++)
		any = rows[i].used && (!live_only || rows[i].g.sessions > 0);
	if (!any)
		return;
	snprintf(name, sizeof(name), "%s%s", prefix, m->name);
	gov_prom_family(b, name, m->type, m->help);
	for (i = 0; i < nrows; i++)
	{
		const GovPoolLive *pl = &rows[i];
		double		v;

		if (!pl->used || (live_only && pl->g.sessions == 0))
			continue;
		appendStringInfoString(b, name);
		if (per_pool)
			gov_prom_pool_labels(b, &pl->key);
		else
			gov_prom_db_labels(b, &pl->key);
		v = gov_pool_field(pl, m->field, now);
		if (gov_field_is_count(m->field))
			gov_prom_uint(b, (uint64) v);
		else
			gov_prom_double(b, v);
	}
}

typedef struct GovRuleCopy
{
	NameData	name;
	int			max_connections;
	int			reserve_connections;
	GovRuleState state;
} GovRuleCopy;

static void
gov_prom_rule_labels(StringInfo b, const char *name, const GovRuleCopy *r)
{
	appendStringInfo(b, "%s{rule=\"", name);
	gov_prom_value(b, NameStr(r->name));
	appendStringInfoString(b, "\"}");
}

static void
gov_prom_rules(StringInfo b)
{
	GovRuleCopy *rules = palloc0(sizeof(GovRuleCopy) * gov_max_rules);
	int			nrules;
	int			i,
				k;
	bool		any_cap = false;

	LWLockAcquire(gov->lock, LW_SHARED);
	nrules = Min(gov->nrules, gov_max_rules);
	for (i = 0; i < nrules; i++)
	{
		rules[i].name = gov->rules[i].name;
		rules[i].max_connections = gov->rules[i].max_connections;
		rules[i].reserve_connections = gov->rules[i].reserve_connections;
		rules[i].state = gov->rule_state[i];
	}
	LWLockRelease(gov->lock);
	if (nrules == 0)
	{
		pfree(rules);
		return;
	}

	gov_prom_family(b, "pg_governor_rule_connections", "gauge",
					"Admitted sessions counted in the rule's bucket.");
	for (i = 0; i < nrules; i++)
	{
		gov_prom_rule_labels(b, "pg_governor_rule_connections", &rules[i]);
		appendStringInfo(b, " %d\n", rules[i].state.count[GOV_BUCKET_LOGIN]);
	}
	gov_prom_family(b, "pg_governor_rule_waiting_connections", "gauge",
					"Sessions queued at login on the rule.");
	for (i = 0; i < nrules; i++)
	{
		gov_prom_rule_labels(b, "pg_governor_rule_waiting_connections", &rules[i]);
		appendStringInfo(b, " %d\n", rules[i].state.queue[GOV_BUCKET_LOGIN].len);
	}
	for (i = 0; i < nrules; i++)
		any_cap |= rules[i].max_connections != GOV_NONE;
	if (any_cap)
	{
		gov_prom_family(b, "pg_governor_rule_max_connections", "gauge",
						"The rule's max_connections (rules without a cap are not listed).");
		for (i = 0; i < nrules; i++)
			if (rules[i].max_connections != GOV_NONE)
			{
				gov_prom_rule_labels(b, "pg_governor_rule_max_connections", &rules[i]);
				appendStringInfo(b, " %d\n", rules[i].max_connections);
			}
		gov_prom_family(b, "pg_governor_rule_reserve_connections", "gauge",
						"The rule's reserve_connections (rules without a cap are not listed).");
		for (i = 0; i < nrules; i++)
			if (rules[i].max_connections != GOV_NONE)
			{
				gov_prom_rule_labels(b, "pg_governor_rule_reserve_connections", &rules[i]);
				appendStringInfo(b, " %d\n", Max(rules[i].reserve_connections, 0));
			}
	}
	gov_prom_family(b, "pg_governor_rule_admitted_total", "counter",
					"Sessions admitted into the rule's bucket.");
	for (i = 0; i < nrules; i++)
	{
		gov_prom_rule_labels(b, "pg_governor_rule_admitted_total", &rules[i]);
		gov_prom_uint(b, rules[i].state.admitted);
	}
	gov_prom_family(b, "pg_governor_rule_rejected_total", "counter",
					"Logins the rule refused.");
	for (i = 0; i < nrules; i++)
	{
		gov_prom_rule_labels(b, "pg_governor_rule_rejected_total", &rules[i]);
		gov_prom_uint(b, rules[i].state.rejected);
	}
	gov_prom_family(b, "pg_governor_rule_would_reject_total", "counter",
					"Logins a monitor-mode rule would have refused.");
	for (i = 0; i < nrules; i++)
	{
		gov_prom_rule_labels(b, "pg_governor_rule_would_reject_total", &rules[i]);
		gov_prom_uint(b, rules[i].state.would_reject);
	}
	gov_prom_family(b, "pg_governor_rule_terminated_total", "counter",
					"Sessions the rule terminated, by limit.");
	for (i = 0; i < nrules; i++)
		for (k = 0; k < GOV_NUM_END_KINDS; k++)
		{
			if (gov_ends[k].usage_column == NULL)
				continue;		/* not booked to a rule */
			appendStringInfoString(b, "pg_governor_rule_terminated_total{rule=\"");
			gov_prom_value(b, NameStr(rules[i].name));
			appendStringInfo(b, "\",reason=\"%s\"}", gov_ends[k].name);
			gov_prom_uint(b, rules[i].state.terminated[k]);
		}
	gov_prom_family(b, "pg_governor_rule_would_terminate_total", "counter",
					"Sessions a monitor-mode rule would have terminated, by limit.");
	for (i = 0; i < nrules; i++)
		for (k = 0; k < GOV_NUM_LIMITS; k++)
		{
			appendStringInfoString(b, "pg_governor_rule_would_terminate_total{rule=\"");
			gov_prom_value(b, NameStr(rules[i].name));
			appendStringInfo(b, "\",reason=\"%s\"}", gov_ends[k].name);
			gov_prom_uint(b, rules[i].state.would_terminate[k]);
		}
	pfree(rules);
}

/*
 * The whole exposition, palloc'd in the current memory context.  Reads
 * shared memory only: callable from the worker outside a transaction.
 */
char *
gov_metrics_text(void)
{
	StringInfoData b;
	GovPoolsView view;
	GovPoolLive *dbs;
	GovHealthRow health[GOV_HEALTH_NUM];
	uint64		events;
	int			ndb;
	int			i;

	initStringInfo(&b);
	gov_pools_collect(&view, true);
	dbs = gov_stats_by_database(&view, &ndb);
	gov_health_compute(&view, health);

	gov_prom_family(&b, "pg_governor_connections_in_use", "gauge",
					"Client sessions registered by the governor (replication excluded).");
	appendStringInfo(&b, "pg_governor_connections_in_use %d\n", view.in_use);
	gov_prom_family(&b, "pg_governor_connections_usable", "gauge",
					"max_connections minus the reserved connections.");
	appendStringInfo(&b, "pg_governor_connections_usable %d\n", gov_usable_connections());
	gov_prom_family(&b, "pg_governor_stats_reset_timestamp_seconds", "gauge",
					"When the statistics were last reset (or the server started), Unix time.");
	appendStringInfo(&b, "pg_governor_stats_reset_timestamp_seconds %.6f\n",
					 (double) (view.stats_reset -
							   SetEpochTimestamp()) / USECS_PER_SEC);

	for (i = 0; i < lengthof(gov_pool_gauges); i++)
		gov_prom_rows(&b, "pg_governor_pools_", &gov_pool_gauges[i],
					  view.rows, view.nrows, true, true, view.now);
	for (i = 0; i < lengthof(gov_stats_counters); i++)
		gov_prom_rows(&b, "pg_governor_stats_totals_", &gov_stats_counters[i],
					  dbs, ndb, false, false, view.now);
	for (i = 0; i < lengthof(gov_stats_avg_metrics); i++)
		gov_prom_rows(&b, "pg_governor_stats_", &gov_stats_avg_metrics[i],
					  dbs, ndb, false, false, view.now);
	for (i = 0; i < lengthof(gov_stats_counters); i++)
		gov_prom_rows(&b, "pg_governor_pool_stats_", &gov_stats_counters[i],
					  view.rows, view.npools, true, false, view.now);

	gov_prom_family(&b, "pg_governor_health_value", "gauge",
					"Value of each governor.health signal (unit in the signal name).");
	for (i = 0; i < GOV_HEALTH_NUM; i++)
		appendStringInfo(&b, "pg_governor_health_value{signal=\"%s\"} %.6f\n",
						 health[i].signal, health[i].value);
	gov_prom_family(&b, "pg_governor_health_warn_threshold", "gauge",
					"Warning threshold of each governor.health signal.");
	for (i = 0; i < GOV_HEALTH_NUM; i++)
		appendStringInfo(&b, "pg_governor_health_warn_threshold{signal=\"%s\"} %.6f\n",
						 health[i].signal, health[i].warn);
	gov_prom_family(&b, "pg_governor_health_crit_threshold", "gauge",
					"Critical threshold of each governor.health signal.");
	for (i = 0; i < GOV_HEALTH_NUM; i++)
		appendStringInfo(&b, "pg_governor_health_crit_threshold{signal=\"%s\"} %.6f\n",
						 health[i].signal, health[i].crit);
	gov_prom_family(&b, "pg_governor_health_status", "gauge",
					"Status of each governor.health signal: 0 ok, 1 warn, 2 crit.");
	for (i = 0; i < GOV_HEALTH_NUM; i++)
		appendStringInfo(&b, "pg_governor_health_status{signal=\"%s\"} %d\n",
						 health[i].signal, health[i].status);

	gov_prom_rules(&b);

	LWLockAcquire(gov->events_lock, LW_SHARED);
	events = gov->events_written;
	LWLockRelease(gov->events_lock);
	gov_prom_family(&b, "pg_governor_events_total", "counter",
					"Actions recorded in governor.events since the server started.");
	appendStringInfo(&b, "pg_governor_events_total " UINT64_FORMAT "\n", events);

	pfree(view.rows);
	pfree(dbs);
	return b.data;
}
