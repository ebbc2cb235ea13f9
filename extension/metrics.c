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
 * gov_pools_collect (pools.c); the rules and their counters, the pause and
 * disable flags and the queued count under gov->lock LW_SHARED, taken once
 * to copy them (GovMetricsCopy, for both expositions); the number of bans
 * under gov->bans_lock LW_SHARED (bans.c); events_written under
 * gov->events_lock LW_SHARED.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/guc.h"

#include "bans.h"
#include "metrics.h"
#include "pools.h"
#include "prom.h"
#include "settings.h"
#include "stats.h"

/* Settings. */
static int	gov_metrics_compat = GOV_COMPAT_NONE;
static char *gov_metrics_labels = NULL;

/* governor.metrics_labels parsed and escaped ('a="x",b="y"'), the GUC's extra. */
static const char *gov_metrics_labels_escaped = "";

static const struct config_enum_entry gov_metrics_compat_options[] = {
	{"none", GOV_COMPAT_NONE, false},
	{"pgbouncer", GOV_COMPAT_PGBOUNCER, false},
	{NULL, 0, false}
};

/* Labels the exposition itself uses: a constant label may not take them. */
static const char *const gov_reserved_labels[] = {
	"database", "user", "application_name", "rule", "reason", "signal", "le",
	"name", "host", "port", "force_user", "pool_mode", "version", "state",
	"job", "instance", NULL
};

/* [a-zA-Z_][a-zA-Z0-9_]*, in ASCII whatever the locale. */
static bool
gov_label_name_char(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		(!first && c >= '0' && c <= '9');
}

/*
 * Parse governor.metrics_labels ('name=value,name="value, with comma"';
 * spaces around a value are dropped) into escaped label pairs;
 * false with *err on a bad one.
 */
static bool
gov_parse_labels(const char *spec, StringInfo out, const char **err)
{
	const char *p = spec;
	int			n = 0;
	const char *seen[32];
	size_t		seen_len[32];

	resetStringInfo(out);
	while (*p)
	{
		const char *name = p;
		size_t		nlen;
		StringInfoData value;
		int			i;

		while (*p == ' ')
			p++;
		name = p;
		if (!gov_label_name_char(*p, true))
		{
			*err = "a label name must start with a letter or underscore";
			return false;
		}
		while (gov_label_name_char(*p, false))
			p++;
		nlen = p - name;
		if (nlen >= 2 && name[0] == '_' && name[1] == '_')
		{
			*err = "label names beginning with __ are reserved";
			return false;
		}
		for (i = 0; gov_reserved_labels[i]; i++)
			if (strlen(gov_reserved_labels[i]) == nlen &&
				strncmp(gov_reserved_labels[i], name, nlen) == 0)
			{
				*err = "that label name is one the metrics use already (database, user, application_name, rule, reason, signal, le, name, host, port, force_user, pool_mode, version, state, job, instance)";
				return false;
			}
		/* The same name twice would make every series invalid. */
		for (i = 0; i < n; i++)
			if (seen_len[i] == nlen && strncmp(seen[i], name, nlen) == 0)
			{
				*err = "a label name appears twice";
				return false;
			}
		if (n == lengthof(seen))
		{
			*err = "at most 32 labels";
			return false;
		}
		seen[n] = name;
		seen_len[n] = nlen;
		if (*p != '=')
		{
			*err = "expected name=value";
			return false;
		}
		p++;
		while (*p == ' ')
			p++;
		initStringInfo(&value);
		if (*p == '"')
		{
			for (p++; *p && *p != '"'; p++)
			{
				if (*p == '\\' && p[1])
					p++;
				appendStringInfoChar(&value, *p);
			}
			if (*p != '"')
			{
				*err = "unterminated quoted value";
				return false;
			}
			p++;
		}
		else
		{
			while (*p && *p != ',')
				appendStringInfoChar(&value, *p++);
			while (value.len > 0 && value.data[value.len - 1] == ' ')
				value.data[--value.len] = '\0';
		}
		while (*p == ' ')
			p++;
		if (*p == ',')
			p++;
		else if (*p)
		{
			*err = "expected a comma between labels";
			return false;
		}
		if (n++ > 0)
			appendStringInfoChar(out, ',');
		appendBinaryStringInfo(out, name, nlen);
		appendStringInfoString(out, "=\"");
		gov_prom_value(out, value.data);
		appendStringInfoChar(out, '"');
		pfree(value.data);
	}
	return true;
}

static bool
gov_check_metrics_labels(char **newval, void **extra, GucSource source)
{
	StringInfoData out;
	const char *err = NULL;
	bool		ok;

	if (strlen(*newval) > 1024)
	{
		GUC_check_errdetail("At most 1024 bytes.");
		return false;
	}
	initStringInfo(&out);
	ok = gov_parse_labels(*newval, &out, &err);
	if (!ok)
		GUC_check_errdetail("%s.", err);
	else
	{
		*extra = gov_guc_malloc(out.len + 1);
		if (*extra == NULL)
			ok = false;
		else
			memcpy(*extra, out.data, out.len + 1);
	}
	pfree(out.data);
	return ok;
}

static void
gov_assign_metrics_labels(const char *newval, void *extra)
{
	gov_metrics_labels_escaped = extra ? (const char *) extra : "";
}

void
gov_metrics_define_settings(void)
{
	DefineCustomEnumVariable("governor.metrics_compat",
							 "Also emit pgbouncer_exporter's metric families, so PgBouncer dashboards work unchanged.",
							 "none (the default) or pgbouncer: both the pgbouncer_stats_* names of exporter 0.10 and the pgbouncer_stats_totals_* names of 0.11+, pgbouncer_pools_*, pgbouncer_databases_*, pgbouncer_config_*, pgbouncer_up and pgbouncer_version_info.",
							 &gov_metrics_compat, GOV_COMPAT_NONE, gov_metrics_compat_options,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("governor.metrics_labels",
							   "Constant labels added to every metric series.",
							   "Comma-separated name=value pairs, e.g. pgbouncer_cluster=prod,region=\"eu west\"; names may not be ones the metrics use.",
							   &gov_metrics_labels, "",
							   PGC_SIGHUP, 0, gov_check_metrics_labels,
							   gov_assign_metrics_labels, NULL);
}

/* ----------------------------------------------------------------
 * Prometheus text
 * ----------------------------------------------------------------
 */

static void
gov_prom_pool_labels(StringInfo b, const GovPoolKey *key)
{
	gov_prom_labels(b, (const char *const[]) {
		"database", NameStr(key->database), "user", NameStr(key->role),
		"application_name", NameStr(key->appname), NULL});
}

static void
gov_prom_db_labels(StringInfo b, const GovPoolKey *key)
{
	gov_prom_labels(b, (const char *const[]) {"database", NameStr(key->database), NULL});
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
	{"client_waiting_connections", "gauge", GF_CL_WAITING, "Sessions queued at login or for an active slot (SHOW POOLS cl_waiting)."},
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
	{"server_in_transaction_seconds_total", "counter", GF_XACT_TIME_S, "Time spent in transactions, idle in transaction included, waits for an active slot not (SHOW STATS total_xact_time)."},
	{"queries_duration_seconds_total", "counter", GF_QUERY_TIME_S, "Time spent executing client statements (SHOW STATS total_query_time)."},
	{"client_wait_seconds_total", "counter", GF_WAIT_TIME_S, "Time sessions waited in the login queue or for an active slot, booked when served (SHOW STATS total_wait_time)."},
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
	{"avg_wait_seconds", "gauge", GF_AVG_WAIT_TIME_S, "Average wait per server assignment (a login, or an active slot under max_active) over the stats window (SHOW STATS avg_wait_time)."},
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
			return gov_age_us(pl->g.oldest_wait, now) / 1e6;
		case GF_IDLE_IN_XACT:
			return pl->g.idle_in_xact;
		case GF_WAITING_ON_LOCK:
			return pl->g.waiting_on_lock;
		case GF_OLDEST_XACT_S:
			return gov_age_us(pl->g.oldest_xact, now) / 1e6;
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
			  const GovPoolLive *rows, int nrows, bool per_pool, TimestampTz now)
{
	char		name[128];
	bool		any = false;
	int			i;

	for (i = 0; i < nrows && !any; i++)
		any = rows[i].used;
	if (!any)
		return;
	snprintf(name, sizeof(name), "%s%s", prefix, m->name);
	gov_prom_family(b, name, m->type, m->help);
	for (i = 0; i < nrows; i++)
	{
		const GovPoolLive *pl = &rows[i];
		double		v;

		if (!pl->used)
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

/* What a rule family shows. */
typedef enum GovRuleField
{
	RF_CONNECTIONS,
	RF_WAITING,
	RF_MAX_CONNECTIONS,
	RF_RESERVE,
	RF_ACTIVE,
	RF_ACTIVE_WAITING,
	RF_MAX_ACTIVE,
	RF_ADMITTED,
	RF_REJECTED,
	RF_REJECTED_RATE,
	RF_WOULD_REJECT,
	RF_ACTIVE_WAITS,
	RF_ACTIVE_TIMEOUTS,
	RF_WOULD_WAIT
} GovRuleField;

/* Which rules a family lists. */
typedef enum GovRuleFilter
{
	RULES_ALL,
	RULES_CAPPED,				/* max_connections set */
	RULES_ACTIVE				/* max_active set */
} GovRuleFilter;

typedef struct GovRuleMetric
{
	const char *name;
	const char *type;
	GovRuleField field;
	GovRuleFilter filter;
	const char *help;
} GovRuleMetric;

static const GovRuleMetric gov_rule_metrics[] = {
	{"pg_governor_rule_connections", "gauge", RF_CONNECTIONS, RULES_ALL, "Admitted sessions counted in the rule's bucket."},
	{"pg_governor_rule_waiting_connections", "gauge", RF_WAITING, RULES_ALL, "Logins queued on the rule."},
	{"pg_governor_rule_max_connections", "gauge", RF_MAX_CONNECTIONS, RULES_CAPPED, "The rule's max_connections (rules without a cap are not listed)."},
	{"pg_governor_rule_reserve_connections", "gauge", RF_RESERVE, RULES_CAPPED, "The rule's reserve_connections (rules without a cap are not listed)."},
	{"pg_governor_rule_active_connections", "gauge", RF_ACTIVE, RULES_ACTIVE, "Active-transaction slots in use (max_active rules)."},
	{"pg_governor_rule_active_waiting_connections", "gauge", RF_ACTIVE_WAITING, RULES_ACTIVE, "Sessions waiting for an active-transaction slot."},
	{"pg_governor_rule_max_active", "gauge", RF_MAX_ACTIVE, RULES_ACTIVE, "The rule's max_active."},
	{"pg_governor_rule_admitted_total", "counter", RF_ADMITTED, RULES_ALL, "Sessions admitted into the rule's bucket."},
	{"pg_governor_rule_rejected_total", "counter", RF_REJECTED, RULES_ALL, "Logins the rule refused."},
	{"pg_governor_rule_rate_rejected_total", "counter", RF_REJECTED_RATE, RULES_ALL, "Of the refused logins, those refused for the rule's max_login_rate."},
	{"pg_governor_rule_would_reject_total", "counter", RF_WOULD_REJECT, RULES_ALL, "Logins a monitor-mode rule would have refused."},
	{"pg_governor_rule_active_waits_total", "counter", RF_ACTIVE_WAITS, RULES_ACTIVE, "Transactions that waited for an active-transaction slot."},
	{"pg_governor_rule_active_timeouts_total", "counter", RF_ACTIVE_TIMEOUTS, RULES_ACTIVE, "Transactions refused (53400) after waiting queue_timeout for an active slot."},
	{"pg_governor_rule_would_wait_total", "counter", RF_WOULD_WAIT, RULES_ACTIVE, "Transactions a monitor-mode max_active rule would have made wait."},
};

/* Sessions ended, per rule and reason (gov_ends): done, or watched in monitor mode. */
typedef struct GovRuleEndings
{
	const char *name;
	bool		would;			/* would_terminate[], the rule limits only */
	const char *help;
} GovRuleEndings;

static const GovRuleEndings gov_rule_endings[] = {
	{"pg_governor_rule_terminated_total", false, "Sessions the rule ended, by reason."},
	{"pg_governor_rule_would_terminate_total", true, "Sessions a monitor-mode rule would have ended, by limit."},
};

static uint64
gov_rule_field(const GovRule *rule, const GovRuleState *st, GovRuleField f)
{
	switch (f)
	{
		case RF_CONNECTIONS:
			return st->count[GOV_BUCKET_LOGIN];
		case RF_WAITING:
			return st->queue[GOV_BUCKET_LOGIN].len;
		case RF_MAX_CONNECTIONS:
			return rule->max_connections;
		case RF_RESERVE:
			return Max(rule->reserve_connections, 0);
		case RF_ACTIVE:
			return st->count[GOV_BUCKET_ACTIVE];
		case RF_ACTIVE_WAITING:
			return st->queue[GOV_BUCKET_ACTIVE].len;
		case RF_MAX_ACTIVE:
			return rule->max_active;
		case RF_ADMITTED:
			return st->admitted;
		case RF_REJECTED:
			return st->rejected;
		case RF_REJECTED_RATE:
			return st->rejected_rate;
		case RF_WOULD_REJECT:
			return st->would_reject;
		case RF_ACTIVE_WAITS:
			return st->active_waits;
		case RF_ACTIVE_TIMEOUTS:
			return st->active_timeouts;
		case RF_WOULD_WAIT:
			return st->would_wait;
	}
	return 0;
}

static bool
gov_rule_listed(const GovRule *rule, GovRuleFilter filter)
{
	return filter == RULES_ALL ||
		(filter == RULES_CAPPED && rule->max_connections != GOV_NONE) ||
		(filter == RULES_ACTIVE && rule->max_active != GOV_NONE);
}

static void
gov_prom_rules(StringInfo b, const GovMetricsCopy *copy)
{
	const GovRule *rules = copy->rules.rules;
	const GovRuleState *states = copy->rules.states;
	int			nrules = copy->nrules;
	int			i,
				k,
				m;

	for (m = 0; m < lengthof(gov_rule_metrics); m++)
	{
		const GovRuleMetric *rm = &gov_rule_metrics[m];
		bool		any = false;

		for (i = 0; i < nrules && !any; i++)
			any = gov_rule_listed(&rules[i], rm->filter);
		if (!any)
			continue;
		gov_prom_family(b, rm->name, rm->type, rm->help);
		for (i = 0; i < nrules; i++)
		{
			if (!gov_rule_listed(&rules[i], rm->filter))
				continue;
			appendStringInfoString(b, rm->name);
			gov_prom_labels(b, (const char *const[]) {"rule", NameStr(rules[i].name), NULL});
			gov_prom_uint(b, gov_rule_field(&rules[i], &states[i], rm->field));
		}
	}

	if (nrules > 0)
	{
		/*
		 * Endings by reason, the vocabulary's table: every kind booked to
		 * rules, and the rule limits monitor mode watches.
		 */
		for (m = 0; m < lengthof(gov_rule_endings); m++)
		{
			const GovRuleEndings *re = &gov_rule_endings[m];

			gov_prom_family(b, re->name, "counter", re->help);
			for (i = 0; i < nrules; i++)
				for (k = 0; k < (re->would ? GOV_NUM_LIMITS : GOV_NUM_END_KINDS); k++)
				{
					if (!re->would && gov_ends[k].usage_column == NULL)
						continue;
					appendStringInfoString(b, re->name);
					gov_prom_labels(b, (const char *const[]) {
						"rule", NameStr(rules[i].name), "reason", gov_ends[k].name, NULL});
					gov_prom_uint(b, re->would ? states[i].would_terminate[k] :
								  states[i].terminated[k]);
				}
		}

		/* How long waits lasted, whether they ended with a place or not. */
		gov_prom_family(b, "pg_governor_rule_login_wait_seconds", "histogram",
						"Time logins governed by the rule waited in its queue (0 for those that did not wait there), admitted or not.");
		for (i = 0; i < nrules; i++)
			gov_prom_histogram(b, "pg_governor_rule_login_wait_seconds",
							   (const char *const[]) {"rule", NameStr(rules[i].name), NULL},
							   &states[i].wait_hist[GOV_BUCKET_LOGIN]);
	}
	for (i = 0, k = 0; i < nrules; i++)
	{
		if (!gov_rule_listed(&rules[i], RULES_ACTIVE))
			continue;
		if (k++ == 0)
			gov_prom_family(b, "pg_governor_rule_active_wait_seconds", "histogram",
							"Time transactions of a max_active rule waited for its active slot (0 for those that did not wait there).");
		gov_prom_histogram(b, "pg_governor_rule_active_wait_seconds",
						   (const char *const[]) {"rule", NameStr(rules[i].name), NULL},
						   &states[i].wait_hist[GOV_BUCKET_ACTIVE]);
	}
}

/* Everything the exposition needs of gov->lock, in one acquisition. */
static void
gov_metrics_copy(GovMetricsCopy *copy)
{
	gov_rules_alloc(&copy->rules);
	LWLockAcquire(gov->lock, LW_SHARED);
	copy->nrules = gov_rules_copy(&copy->rules);
	copy->nqueued = gov->nqueued;
	copy->all_paused = gov->all_paused;
	copy->all_disabled = gov->all_disabled;
	copy->ndbflags = gov->ndbflags;
	memcpy(copy->dbflags, gov->dbflags, sizeof(GovDbFlag) * gov->ndbflags);
	LWLockRelease(gov->lock);
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
	GovMetricsCopy copy;
	uint64		events;
	int			ndb;
	int			i;

	initStringInfo(&b);
	gov_pools_collect(&view, true);
	dbs = gov_stats_by_database(&view, &ndb);
	gov_health_compute(&view, health);
	gov_metrics_copy(&copy);

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
					  view.rows, view.nrows, true, view.now);
	for (i = 0; i < lengthof(gov_stats_counters); i++)
		gov_prom_rows(&b, "pg_governor_stats_totals_", &gov_stats_counters[i],
					  dbs, ndb, false, view.now);
	for (i = 0; i < lengthof(gov_stats_avg_metrics); i++)
		gov_prom_rows(&b, "pg_governor_stats_", &gov_stats_avg_metrics[i],
					  dbs, ndb, false, view.now);
	for (i = 0; i < lengthof(gov_stats_counters); i++)
		gov_prom_rows(&b, "pg_governor_pool_stats_", &gov_stats_counters[i],
					  view.rows, view.npools, true, view.now);

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

	gov_prom_rules(&b, &copy);

	gov_prom_family(&b, "pg_governor_queued_logins", "gauge",
					"Logins waiting in the queues now (bounded by governor.max_queued).");
	appendStringInfo(&b, "pg_governor_queued_logins %d\n", copy.nqueued);
	gov_prom_family(&b, "pg_governor_bans", "gauge",
					"(role, client address) pairs the authentication circuit breaker blocks now.");
	appendStringInfo(&b, "pg_governor_bans %d\n", gov_bans_count());
#ifdef GOV_HAVE_CONN_TIMING
	{
		GovHistogram setup;

		gov_hist_read_atomic(&gov->setup_hist, &setup);
		gov_prom_family(&b, "pg_governor_connection_setup_seconds", "histogram",
						"Time from the server accepting a client's socket to its session being ready (queue wait included).");
		gov_prom_histogram(&b, "pg_governor_connection_setup_seconds", NULL, &setup);
	}
#endif

	LWLockAcquire(gov->events_lock, LW_SHARED);
	events = gov->events_written;
	LWLockRelease(gov->events_lock);
	gov_prom_family(&b, "pg_governor_events_total", "counter",
					"Actions recorded in governor.events since the server started.");
	appendStringInfo(&b, "pg_governor_events_total " UINT64_FORMAT "\n", events);

	if (gov_metrics_compat == GOV_COMPAT_PGBOUNCER)
		gov_metrics_pgbouncer(&b, &view, dbs, ndb, &copy);

	pfree(view.rows);
	pfree(dbs);
	pfree(copy.rules.rules);
	pfree(copy.rules.states);

	/* Constant labels last, on every sample line. */
	if (gov_metrics_labels_escaped[0])
		return gov_prom_add_labels(b.data, gov_metrics_labels_escaped);
	return b.data;
}
