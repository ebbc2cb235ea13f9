/*-------------------------------------------------------------------------
 *
 * metrics.c
 *		governor.metrics(): pools, stats, health, rule usage and the event
 *		counter in Prometheus text exposition format (metric names modelled
 *		on pgbouncer_exporter, prefix pg_governor_), and the optional HTTP
 *		endpoint the worker serves it on (governor.metrics_listen_address,
 *		governor.metrics_port).
 *
 * The text is built from shared memory only (no SPI, no transaction), so
 * the SQL function and the worker share one generator.  It reads:
 *	pools and slots through gov_stats_collect (stats.c: gov->lock and
 *		gov->pools_lock LW_SHARED);
 *	rules and their counters under gov->lock LW_SHARED (copied out first);
 *	events_written under gov->events_lock LW_SHARED.
 *
 * HTTP: the worker waits on its latch, the listening sockets and its
 * client sockets in one WaitEventSet, bounded by its next tick, so serving
 * never delays enforcement.  Every socket is non-blocking; a client has
 * GOV_HTTP_READ_TIMEOUT_MS to send its request and GOV_HTTP_WRITE_TIMEOUT_MS
 * to take the answer, at most GOV_HTTP_MAX_CLIENTS at once; slow,
 * silent or malformed clients are answered 400 or closed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "pg_governor.h"

PG_FUNCTION_INFO_V1(gov_metrics);

/* Settings. */
static char *gov_metrics_listen_address = NULL;
static int	gov_metrics_port = 9930;

#define GOV_HTTP_MAX_LISTEN			8
#define GOV_HTTP_MAX_CLIENTS		8
#define GOV_HTTP_REQ_MAX			4096
#define GOV_HTTP_READ_TIMEOUT_MS	3000
#define GOV_HTTP_WRITE_TIMEOUT_MS	10000

void
gov_metrics_define_settings(void)
{
	DefineCustomStringVariable("governor.metrics_listen_address",
							   "Addresses the pg_governor worker serves Prometheus metrics on (GET /metrics).",
							   "Comma-separated host names or IP addresses, * for all; empty (the default) turns the endpoint off. No authentication: bind to an address only your Prometheus can reach.",
							   &gov_metrics_listen_address, "",
							   PGC_SIGHUP, GUC_LIST_INPUT, NULL, NULL, NULL);
	DefineCustomIntVariable("governor.metrics_port",
							"TCP port of the metrics endpoint.",
							NULL,
							&gov_metrics_port, 9930, 1, 65535,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
}

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
		gov_stats_averages(&pl->live, &pl->prev,
						   pl->prev_time ? now - pl->prev_time : 0, &avg);
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

static const char *const gov_limit_reason[GOV_NUM_LIMITS + 1] = {
	"idle_in_transaction_timeout", "idle_timeout", "max_lifetime",
	"max_transaction_duration", "admin_kill"
};

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
		appendStringInfo(b, " %d\n", rules[i].state.in_use);
	}
	gov_prom_family(b, "pg_governor_rule_waiting_connections", "gauge",
					"Sessions queued at login on the rule.");
	for (i = 0; i < nrules; i++)
	{
		gov_prom_rule_labels(b, "pg_governor_rule_waiting_connections", &rules[i]);
		appendStringInfo(b, " %d\n", rules[i].state.waiting);
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
		for (k = 0; k <= GOV_NUM_LIMITS; k++)
		{
			appendStringInfoString(b, "pg_governor_rule_terminated_total{rule=\"");
			gov_prom_value(b, NameStr(rules[i].name));
			appendStringInfo(b, "\",reason=\"%s\"}", gov_limit_reason[k]);
			gov_prom_uint(b, rules[i].state.terminated[k]);
		}
	gov_prom_family(b, "pg_governor_rule_would_terminate_total", "counter",
					"Sessions a monitor-mode rule would have terminated, by limit.");
	for (i = 0; i < nrules; i++)
		for (k = 0; k < GOV_NUM_LIMITS; k++)
		{
			appendStringInfoString(b, "pg_governor_rule_would_terminate_total{rule=\"");
			gov_prom_value(b, NameStr(rules[i].name));
			appendStringInfo(b, "\",reason=\"%s\"}", gov_limit_reason[k]);
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
	GovStatsView view;
	GovPoolLive *dbs;
	GovHealthRow health[GOV_HEALTH_NUM];
	uint64		events;
	int			ndb;
	int			i;

	initStringInfo(&b);
	gov_stats_collect(&view, true);
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
					  view.pools, view.npools, true, true, view.now);
	for (i = 0; i < lengthof(gov_stats_counters); i++)
		gov_prom_rows(&b, "pg_governor_stats_totals_", &gov_stats_counters[i],
					  dbs, ndb, false, false, view.now);
	for (i = 0; i < lengthof(gov_stats_avg_metrics); i++)
		gov_prom_rows(&b, "pg_governor_stats_", &gov_stats_avg_metrics[i],
					  dbs, ndb, false, false, view.now);
	for (i = 0; i < lengthof(gov_stats_counters); i++)
		gov_prom_rows(&b, "pg_governor_pool_stats_", &gov_stats_counters[i],
					  view.pools, view.npools, true, false, view.now);

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

	pfree(view.pools);
	pfree(dbs);
	return b.data;
}

Datum
gov_metrics(PG_FUNCTION_ARGS)
{
	gov_require_preload();
	PG_RETURN_TEXT_P(cstring_to_text(gov_metrics_text()));
}

/* ----------------------------------------------------------------
 * HTTP endpoint (worker only)
 * ----------------------------------------------------------------
 */
typedef struct GovHttpClient
{
	pgsocket	fd;				/* PGINVALID_SOCKET = free */
	bool		writing;
	TimestampTz deadline;
	int			req_len;
	char		req[GOV_HTTP_REQ_MAX + 1];
	char	   *resp;			/* malloc'd */
	size_t		resp_len;
	size_t		resp_off;
} GovHttpClient;

static pgsocket gov_listen[GOV_HTTP_MAX_LISTEN];
static int	gov_nlisten = 0;
static char *gov_bound_address = NULL;	/* settings the listeners follow */
static int	gov_bound_port = 0;
static GovHttpClient gov_clients[GOV_HTTP_MAX_CLIENTS];
static bool gov_http_initialized = false;
static MemoryContext gov_http_cxt = NULL;

static void
gov_http_close_listeners(void)
{
	int			i;

	for (i = 0; i < gov_nlisten; i++)
		closesocket(gov_listen[i]);
	gov_nlisten = 0;
}

static void
gov_http_listen_one(const char *host, int port)
{
	struct addrinfo hints;
	struct addrinfo *res = NULL;
	struct addrinfo *ai;
	char		portstr[16];
	int			rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(portstr, sizeof(portstr), "%d", port);
	rc = getaddrinfo(strcmp(host, "*") == 0 ? NULL : host, portstr, &hints, &res);
	if (rc != 0)
	{
		ereport(WARNING,
				(errmsg("pg_governor: could not resolve metrics address \"%s\": %s",
						host, gai_strerror(rc)),
				 errhint("Check governor.metrics_listen_address.")));
		return;
	}
	for (ai = res; ai != NULL && gov_nlisten < GOV_HTTP_MAX_LISTEN; ai = ai->ai_next)
	{
		pgsocket	fd;
		int			one = 1;

		fd = socket(ai->ai_family, SOCK_STREAM, 0);
		if (fd == PGINVALID_SOCKET)
			continue;
		(void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, (char *) &one, sizeof(one));
#ifdef IPV6_V6ONLY
		if (ai->ai_family == AF_INET6)
			(void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, (char *) &one, sizeof(one));
#endif
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
			listen(fd, 16) < 0 || !pg_set_noblock(fd))
		{
			ereport(WARNING,
					(errcode_for_socket_access(),
					 errmsg("pg_governor: could not listen for metrics on \"%s\" port %d: %m",
							host, port),
					 errhint("Is another process using the port? Change governor.metrics_port.")));
			closesocket(fd);
			continue;
		}
		gov_listen[gov_nlisten++] = fd;
	}
	freeaddrinfo(res);
}

/* Follow governor.metrics_listen_address / metrics_port (re-read on SIGHUP). */
static void
gov_http_configure(void)
{
	const char *addr = gov_metrics_listen_address ? gov_metrics_listen_address : "";
	char	   *copy;
	char	   *tok;
	char	   *save = NULL;

	if (!gov_http_initialized)
	{
		int			i;

		for (i = 0; i < GOV_HTTP_MAX_CLIENTS; i++)
			gov_clients[i].fd = PGINVALID_SOCKET;
		gov_http_cxt = AllocSetContextCreate(TopMemoryContext, "pg_governor metrics",
											 ALLOCSET_DEFAULT_SIZES);
		gov_http_initialized = true;
	}
	if (gov_bound_address != NULL && strcmp(gov_bound_address, addr) == 0 &&
		gov_bound_port == gov_metrics_port)
		return;

	gov_http_close_listeners();
	if (gov_bound_address)
		pfree(gov_bound_address);
	gov_bound_address = MemoryContextStrdup(TopMemoryContext, addr);
	gov_bound_port = gov_metrics_port;
	if (addr[0] == '\0')
		return;

	copy = pstrdup(addr);
	for (tok = strtok_r(copy, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save))
		gov_http_listen_one(tok, gov_metrics_port);
	pfree(copy);
	if (gov_nlisten > 0)
		ereport(LOG,
				(errmsg("pg_governor: serving Prometheus metrics on \"%s\" port %d, path /metrics",
						addr, gov_metrics_port)));
}

static void
gov_http_drop(GovHttpClient *c)
{
	char		scratch[512];

	/* Read what is left so that close() does not reset the connection. */
	(void) recv(c->fd, scratch, sizeof(scratch), 0);
	closesocket(c->fd);
	c->fd = PGINVALID_SOCKET;
	if (c->resp)
		free(c->resp);
	c->resp = NULL;
}

static void
gov_http_respond(GovHttpClient *c, int status, const char *reason,
				 const char *body, size_t body_len)
{
	char		head[256];
	int			hlen;

	hlen = snprintf(head, sizeof(head),
					"HTTP/1.1 %d %s\r\n"
					"Content-Type: %s\r\n"
					"Content-Length: %zu\r\n"
					"Connection: close\r\n\r\n",
					status, reason,
					status == 200 ? "text/plain; version=0.0.4; charset=utf-8" :
					"text/plain; charset=utf-8",
					body_len);
	c->resp = malloc(hlen + body_len);
	if (c->resp == NULL)
	{
		gov_http_drop(c);
		return;
	}
	memcpy(c->resp, head, hlen);
	memcpy(c->resp + hlen, body, body_len);
	c->resp_len = hlen + body_len;
	c->resp_off = 0;
	c->writing = true;
	c->deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
											  GOV_HTTP_WRITE_TIMEOUT_MS);
}

/* Build the metrics text; an error answers 500 and leaves the worker running. */
static void
gov_http_serve_metrics(GovHttpClient *c)
{
	MemoryContext old = MemoryContextSwitchTo(gov_http_cxt);
	char	   *volatile text = NULL;

	PG_TRY();
	{
		text = gov_metrics_text();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(gov_http_cxt);
		EmitErrorReport();
		FlushErrorState();
		LWLockReleaseAll();
		text = NULL;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	if (text)
		gov_http_respond(c, 200, "OK", text, strlen(text));
	else
		gov_http_respond(c, 500, "Internal Server Error", "error\n", 6);
	MemoryContextReset(gov_http_cxt);
}

/* A complete request head is in c->req: answer it. */
static void
gov_http_dispatch(GovHttpClient *c)
{
	char	   *line = c->req;
	char	   *eol = strpbrk(line, "\r\n");
	char	   *method,
			   *target,
			   *version,
			   *save = NULL;

	if (eol)
		*eol = '\0';
	method = strtok_r(line, " ", &save);
	target = method ? strtok_r(NULL, " ", &save) : NULL;
	version = target ? strtok_r(NULL, " ", &save) : NULL;
	if (version == NULL || strtok_r(NULL, " ", &save) != NULL ||
		strncmp(version, "HTTP/1.", 7) != 0 || target[0] != '/')
	{
		gov_http_respond(c, 400, "Bad Request", "bad request\n", 12);
		return;
	}
	if (strcmp(method, "GET") == 0 &&
		(strcmp(target, "/metrics") == 0 || strncmp(target, "/metrics?", 9) == 0))
		gov_http_serve_metrics(c);
	else
		gov_http_respond(c, 404, "Not Found", "not found; try GET /metrics\n", 28);
}

static void gov_http_write(GovHttpClient *c);

static void
gov_http_read(GovHttpClient *c)
{
	ssize_t		n;

	n = recv(c->fd, c->req + c->req_len, GOV_HTTP_REQ_MAX - c->req_len, 0);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
	{
		gov_http_drop(c);
		return;
	}
	if (n < 0)
		return;
	c->req_len += n;
	c->req[c->req_len] = '\0';
	if (memchr(c->req, '\0', c->req_len) != NULL)
		gov_http_respond(c, 400, "Bad Request", "bad request\n", 12);
	else if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n"))
		gov_http_dispatch(c);
	else if (c->req_len >= GOV_HTTP_REQ_MAX)
		gov_http_respond(c, 400, "Bad Request", "request too large\n", 18);
	/* Most answers fit the socket buffer: try at once. */
	if (c->fd != PGINVALID_SOCKET && c->writing)
		gov_http_write(c);
}

static void
gov_http_write(GovHttpClient *c)
{
	ssize_t		n;
	int			flags = 0;

#ifdef MSG_NOSIGNAL
	flags = MSG_NOSIGNAL;
#endif
	n = send(c->fd, c->resp + c->resp_off, c->resp_len - c->resp_off, flags);
	if (n < 0)
	{
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			gov_http_drop(c);
		return;
	}
	c->resp_off += n;
	if (c->resp_off >= c->resp_len)
		gov_http_drop(c);
}

static void
gov_http_accept(pgsocket lfd)
{
	int			tries;

	for (tries = 0; tries < GOV_HTTP_MAX_CLIENTS; tries++)
	{
		pgsocket	fd = accept(lfd, NULL, NULL);
		GovHttpClient *c = NULL;
		int			i;

		if (fd == PGINVALID_SOCKET)
			return;				/* EAGAIN or a transient error */
		for (i = 0; i < GOV_HTTP_MAX_CLIENTS && c == NULL; i++)
			if (gov_clients[i].fd == PGINVALID_SOCKET)
				c = &gov_clients[i];
		if (c == NULL || !pg_set_noblock(fd))
		{
			closesocket(fd);	/* too many at once: the scraper retries */
			continue;
		}
		c->fd = fd;
		c->writing = false;
		c->req_len = 0;
		c->req[0] = '\0';
		c->resp = NULL;
		c->deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												  GOV_HTTP_READ_TIMEOUT_MS);
	}
}

/*
 * Worker: wait up to timeout_ms for the latch while serving /metrics.
 * Returns true when the latch was set (the caller resets it).  Returns
 * early after serving, so the caller re-checks its tick deadline.
 */
bool
gov_metrics_sleep(long timeout_ms)
{
	WaitEventSet *set;
	WaitEvent	events[GOV_HTTP_MAX_LISTEN + GOV_HTTP_MAX_CLIENTS + 2];
	TimestampTz now;
	bool		latch = false;
	int			nclients = 0;
	int			n;
	int			i;

	gov_http_configure();
	for (i = 0; i < GOV_HTTP_MAX_CLIENTS; i++)
		if (gov_clients[i].fd != PGINVALID_SOCKET)
			nclients++;
	if (gov_nlisten == 0 && nclients == 0)
	{
		int			rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								   timeout_ms, PG_WAIT_EXTENSION);

		return (rc & WL_LATCH_SET) != 0;
	}

	/* Wake in time for the nearest client deadline. */
	now = GetCurrentTimestamp();
	for (i = 0; i < GOV_HTTP_MAX_CLIENTS; i++)
		if (gov_clients[i].fd != PGINVALID_SOCKET)
			timeout_ms = Min(timeout_ms,
							 Max(TimestampDifferenceMilliseconds(now, gov_clients[i].deadline), 0) + 1);

	set = gov_create_wait_event_set(lengthof(events));
	AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	for (i = 0; i < gov_nlisten; i++)
		AddWaitEventToSet(set, WL_SOCKET_READABLE, gov_listen[i], NULL,
						  (void *) &gov_listen[i]);
	for (i = 0; i < GOV_HTTP_MAX_CLIENTS; i++)
	{
		GovHttpClient *c = &gov_clients[i];

		if (c->fd != PGINVALID_SOCKET)
			AddWaitEventToSet(set, c->writing ? WL_SOCKET_WRITEABLE : WL_SOCKET_READABLE,
							  c->fd, NULL, (void *) c);
	}
	n = WaitEventSetWait(set, timeout_ms, events, lengthof(events), PG_WAIT_EXTENSION);
	FreeWaitEventSet(set);

	for (i = 0; i < n; i++)
	{
		WaitEvent  *ev = &events[i];

		if (ev->events & WL_LATCH_SET)
			latch = true;
		else if (ev->user_data >= (void *) &gov_listen[0] &&
				 ev->user_data < (void *) &gov_listen[GOV_HTTP_MAX_LISTEN])
			gov_http_accept(*(pgsocket *) ev->user_data);
		else if (ev->user_data != NULL)
		{
			GovHttpClient *c = (GovHttpClient *) ev->user_data;

			if (c->fd == PGINVALID_SOCKET)
				continue;
			if (c->writing)
				gov_http_write(c);
			else
				gov_http_read(c);
		}
	}

	/* Close clients past their deadline: silent, slow or not reading. */
	now = GetCurrentTimestamp();
	for (i = 0; i < GOV_HTTP_MAX_CLIENTS; i++)
		if (gov_clients[i].fd != PGINVALID_SOCKET && now >= gov_clients[i].deadline)
			gov_http_drop(&gov_clients[i]);
	return latch;
}
