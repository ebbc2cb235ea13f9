/*-------------------------------------------------------------------------
 *
 * metrics_pgbouncer.c
 *		pgbouncer_exporter's metric families, made from the governor's own
 *		data (governor.metrics_compat = 'pgbouncer'), so dashboards and
 *		alerts built for PgBouncer show data unchanged.
 *
 * Names, types and labels are the exporter's, in both generations: the
 * pgbouncer_stats_* counters of 0.10 and earlier (what the Grafana
 * pgbouncer mixin and many dashboards query) and the
 * pgbouncer_stats_totals_* counters of 0.11+.  The mapping:
 *	pools (database, user)	our pools summed over application_name;
 *							the cancel, used and testing server counts
 *							have no server-side meaning and are 0;
 *							maxwait is in seconds, with fractions.
 *	stats (database)		our totals; bytes are not measurable inside
 *							the server and are 0; server assignments are
 *							logins admitted, and active slots taken under
 *							max_active.
 *	databases				one per database with sessions: pool_size is
 *							the max_active (else max_connections) of a
 *							rule that names only that database, 0 = none;
 *							host is empty, port the server's.
 *	config					max_client_connections is max_connections
 *							minus the reserved connections;
 *							max_user_connections is the same: every
 *							user's sessions are bounded by it (0 would make
 *							the mixin's saturation alerts divide by 1).
 * No lock here: the pools, and the rules and pause flags copied under
 * gov->lock, come collected from metrics.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "postmaster/postmaster.h"
#include "utils/memutils.h"

#include "metrics.h"
#include "prom.h"
#include "settings.h"

/* One (database, user) pool of the exporter: our pools of all applications. */
typedef struct GovBouncerPool
{
	NameData	database;
	NameData	role;
	GovPoolGauges g;
} GovBouncerPool;

/* What SHOW DATABASES would say of one database. */
typedef struct GovBouncerDb
{
	int			pool_size;
	int			reserve;
	int			max_connections;
	bool		paused;
	bool		disabled;
} GovBouncerDb;

typedef enum GovBouncerField
{
	BF_CL_ACTIVE,
	BF_CL_WAITING,
	BF_ZERO,
	BF_SV_ACTIVE,
	BF_SV_IDLE,
	BF_SV_LOGIN,
	BF_MAXWAIT
} GovBouncerField;

typedef struct GovBouncerGauge
{
	const char *name;
	GovBouncerField field;
	const char *help;
} GovBouncerGauge;

static const GovBouncerGauge gov_bouncer_pool_gauges[] = {
	{"pgbouncer_pools_client_active_connections", BF_CL_ACTIVE, "Client connections linked to server connection and able to process queries (pg_governor: admitted sessions)."},
	{"pgbouncer_pools_client_waiting_connections", BF_CL_WAITING, "Client connections waiting on a server connection (pg_governor: queued at login or for an active slot)."},
	{"pgbouncer_pools_client_active_cancel_connections", BF_ZERO, "Client connections that have forwarded query cancellations (always 0 server-side)."},
	{"pgbouncer_pools_client_waiting_cancel_connections", BF_ZERO, "Client connections that have not forwarded query cancellations (always 0 server-side)."},
	{"pgbouncer_pools_server_active_connections", BF_SV_ACTIVE, "Server connections linked to a client (pg_governor: sessions inside a transaction)."},
	{"pgbouncer_pools_server_active_cancel_connections", BF_ZERO, "Server connections forwarding a cancel request (always 0 server-side)."},
	{"pgbouncer_pools_server_being_canceled_connections", BF_ZERO, "Servers normally released (always 0 server-side)."},
	{"pgbouncer_pools_server_idle_connections", BF_SV_IDLE, "Server connections unused and immediately usable (pg_governor: sessions outside a transaction)."},
	{"pgbouncer_pools_server_used_connections", BF_ZERO, "Server connections idle longer than server_check_delay (always 0 server-side)."},
	{"pgbouncer_pools_server_testing_connections", BF_ZERO, "Server connections running a reset or check query (always 0 server-side)."},
	{"pgbouncer_pools_server_login_connections", BF_SV_LOGIN, "Server connections logging in (pg_governor: sessions past authentication not yet started)."},
	{"pgbouncer_pools_client_maxwait_seconds", BF_MAXWAIT, "Age of the oldest unserved client connection, in seconds."},
};

/* The stats counters: 0.11+ name after pgbouncer_stats_totals_, 0.10 after pgbouncer_stats_. */
typedef enum GovBouncerStat
{
	BS_ASSIGNMENTS,
	BS_XACTS,
	BS_QUERIES,
	BS_ZERO,					/* no server-side meaning */
	BS_XACT_TIME,
	BS_QUERY_TIME,
	BS_WAIT_TIME
} GovBouncerStat;

typedef struct GovBouncerCounter
{
	const char *name;
	GovBouncerStat stat;
	bool		in_010;			/* also in exporter 0.10's pgbouncer_stats_* */
	const char *help;
} GovBouncerCounter;

static const GovBouncerCounter gov_bouncer_counters[] = {
	{"server_assignments_total", BS_ASSIGNMENTS, false, "Times a server was assigned to a client (pg_governor: logins admitted, and active slots taken under max_active)."},
	{"sql_transactions_pooled_total", BS_XACTS, true, "Total number of SQL transactions pooled."},
	{"queries_pooled_total", BS_QUERIES, true, "Total number of SQL queries pooled."},
	{"received_bytes_total", BS_ZERO, true, "Total volume in bytes of network traffic received (always 0: not measurable inside the server)."},
	{"sent_bytes_total", BS_ZERO, true, "Total volume in bytes of network traffic sent (always 0: not measurable inside the server)."},
	{"server_in_transaction_seconds_total", BS_XACT_TIME, true, "Total number of seconds spent in a transaction."},
	{"queries_duration_seconds_total", BS_QUERY_TIME, true, "Total number of seconds spent executing queries."},
	{"client_wait_seconds_total", BS_WAIT_TIME, true, "Time spent by clients waiting for a server, in seconds."},
	{"client_parses_total", BS_ZERO, false, "Prepared statements created by clients (always 0: every session keeps its own, nothing is pooled)."},
	{"server_parses_total", BS_ZERO, false, "Prepared statements created on servers by the pooler (always 0: there is no pooler)."},
	{"binds_total", BS_ZERO, false, "Prepared statements readied for execution by the pooler (always 0: there is no pooler)."},
};

static double
gov_bouncer_stat(const GovPoolTotals *t, GovBouncerStat s)
{
	switch (s)
	{
		case BS_ASSIGNMENTS:
			return (double) t->assignments;
		case BS_XACTS:
			return (double) t->xact_count;
		case BS_QUERIES:
			return (double) t->query_count;
		case BS_ZERO:
			return 0;
		case BS_XACT_TIME:
			return t->xact_time_us / 1e6;
		case BS_QUERY_TIME:
			return t->query_time_us / 1e6;
		case BS_WAIT_TIME:
			return t->wait_time_us / 1e6;
	}
	return 0;
}

static void
gov_bouncer_pool_labels(StringInfo b, const GovBouncerPool *p)
{
	gov_prom_labels(b, (const char *const[]) {
		"database", NameStr(p->database), "user", NameStr(p->role), NULL});
}

static void
gov_bouncer_db_labels(StringInfo b, const char *db, bool transaction_mode)
{
	char		port[12];

	snprintf(port, sizeof(port), "%d", PostPortNumber);
	gov_prom_labels(b, (const char *const[]) {
		"name", db, "host", "", "port", port, "database", db, "force_user", "",
		"pool_mode", transaction_mode ? "transaction" : "session", NULL});
}

/* A database's pause and disable flags, read as gov_db_paused/disabled do. */
static void
gov_bouncer_db_flags(const GovMetricsCopy *copy, const char *db, GovBouncerDb *out)
{
	int			f;

	out->paused = copy->all_paused;
	out->disabled = copy->all_disabled;
	for (f = 0; f < copy->ndbflags; f++)
		if (strcmp(NameStr(copy->dbflags[f].database), db) == 0)
		{
			out->paused |= copy->dbflags[f].paused;
			out->disabled |= copy->dbflags[f].disabled;
			break;
		}
}

/* Caps and flags of the databases listed, from the rules that name only one. */
static void
gov_bouncer_databases(const GovPoolLive *dbs, int ndb, const GovMetricsCopy *copy,
					  GovBouncerDb *out)
{
	int			i,
				r;

	memset(out, 0, sizeof(GovBouncerDb) * ndb);
	for (i = 0; i < ndb; i++)
	{
		const char *db = NameStr(dbs[i].key.database);

		gov_bouncer_db_flags(copy, db, &out[i]);
		for (r = 0; r < copy->nrules; r++)
		{
			const GovRule *rule = &copy->rules.rules[r];

			if (rule->monitor || rule->invalid[0] || !rule->has_database ||
				rule->has_role || rule->has_appname || rule->has_addr ||
				strcmp(NameStr(rule->database), db) != 0)
				continue;
			if (rule->max_connections != GOV_NONE &&
				(out[i].max_connections == 0 || rule->max_connections < out[i].max_connections))
			{
				out[i].max_connections = rule->max_connections;
				out[i].reserve = rule->reserve_connections;
			}
			if (rule->max_active != GOV_NONE &&
				(out[i].pool_size == 0 || rule->max_active < out[i].pool_size))
				out[i].pool_size = rule->max_active;
		}
		if (out[i].pool_size == 0)
			out[i].pool_size = out[i].max_connections;
	}
}

void
gov_metrics_pgbouncer(StringInfo b, const GovPoolsView *view,
					  const GovPoolLive *dbs, int ndb, const GovMetricsCopy *copy)
{
	GovBouncerPool *pools = palloc0(sizeof(GovBouncerPool) * Max(view->nrows, 1));
	GovBouncerDb *dbinfo = palloc0(sizeof(GovBouncerDb) * Max(ndb, 1));
	int			npools = 0;
	int			nusers = 0;
	int			nlogin = 0;
	int			i,
				j,
				m;

	/* (database, user) pools: ours summed over application_name. */
	for (i = 0; i < view->nrows; i++)
	{
		const GovPoolLive *row = &view->rows[i];

		if (!row->used)
			continue;
		for (j = 0; j < npools; j++)
			if (strcmp(NameStr(pools[j].database), NameStr(row->key.database)) == 0 &&
				strcmp(NameStr(pools[j].role), NameStr(row->key.role)) == 0)
				break;
		if (j == npools)
		{
			pools[npools].database = row->key.database;
			pools[npools].role = row->key.role;
			for (m = 0; m < npools; m++)
				if (strcmp(NameStr(pools[m].role), NameStr(row->key.role)) == 0)
					break;
			if (m == npools)
				nusers++;
			npools++;
		}
		gov_gauges_merge(&pools[j].g, &row->g);
		nlogin += row->g.sv_login;
	}

	gov_prom_family(b, "pgbouncer_up", "gauge", "The pgbouncer scrape was successful (pg_governor: always 1).");
	appendStringInfoString(b, "pgbouncer_up 1\n");
	gov_prom_family(b, "pgbouncer_version_info", "gauge", "The pgbouncer version info (pg_governor: the extension and server).");
	appendStringInfo(b, "pgbouncer_version_info{version=\"pg_governor %s, PostgreSQL %s\"} 1\n",
					 GOV_VERSION, PG_VERSION);

	for (m = 0; m < lengthof(gov_bouncer_pool_gauges); m++)
	{
		const GovBouncerGauge *bg = &gov_bouncer_pool_gauges[m];

		gov_prom_family(b, bg->name, "gauge", bg->help);
		for (i = 0; i < npools; i++)
		{
			const GovPoolGauges *g = &pools[i].g;

			appendStringInfoString(b, bg->name);
			gov_bouncer_pool_labels(b, &pools[i]);
			switch (bg->field)
			{
				case BF_CL_ACTIVE:
					gov_prom_uint(b, g->cl_active);
					break;
				case BF_CL_WAITING:
					gov_prom_uint(b, g->cl_waiting);
					break;
				case BF_ZERO:
					gov_prom_uint(b, 0);
					break;
				case BF_SV_ACTIVE:
					gov_prom_uint(b, g->sv_active);
					break;
				case BF_SV_IDLE:
					gov_prom_uint(b, g->sv_idle);
					break;
				case BF_SV_LOGIN:
					gov_prom_uint(b, g->sv_login);
					break;
				case BF_MAXWAIT:
					gov_prom_double(b, gov_age_us(g->oldest_wait, view->now) / 1e6);
					break;
			}
		}
	}

	/* Both generations of the stats counters. */
	for (m = 0; m < lengthof(gov_bouncer_counters); m++)
	{
		const GovBouncerCounter *bc = &gov_bouncer_counters[m];
		int			gen;

		for (gen = 0; gen < 2; gen++)
		{
			char		name[128];

			if (gen == 1 && !bc->in_010)
				continue;
			snprintf(name, sizeof(name), "%s%s",
					 gen == 0 ? "pgbouncer_stats_totals_" : "pgbouncer_stats_", bc->name);
			gov_prom_family(b, name, "counter", bc->help);
			for (i = 0; i < ndb; i++)
			{
				appendStringInfoString(b, name);
				gov_prom_labels(b, (const char *const[]) {
					"database", NameStr(dbs[i].key.database), NULL});
				gov_prom_double(b, gov_bouncer_stat(&dbs[i].live, bc->stat));
			}
		}
	}

	/* SHOW DATABASES. */
	gov_bouncer_databases(dbs, ndb, copy, dbinfo);
	{
		static const char *const dbmetrics[] = {
			"pgbouncer_databases_pool_size", "pgbouncer_databases_reserve_pool",
			"pgbouncer_databases_max_connections", "pgbouncer_databases_current_connections",
			"pgbouncer_databases_paused", "pgbouncer_databases_disabled"
		};
		static const char *const dbhelp[] = {
			"Maximum number of server connections (pg_governor: max_active, else max_connections, of a rule naming only the database; 0 = none).",
			"Maximum number of additional connections for this database (pg_governor: reserve_connections).",
			"Maximum number of allowed connections for this database (pg_governor: max_connections of a rule naming only the database; 0 = none).",
			"Current number of connections for this database.",
			"1 if this database is currently paused, else 0.",
			"1 if this database is currently disabled, else 0."
		};

		for (m = 0; m < lengthof(dbmetrics); m++)
		{
			gov_prom_family(b, dbmetrics[m], "gauge", dbhelp[m]);
			for (i = 0; i < ndb; i++)
			{
				int			v = m == 0 ? dbinfo[i].pool_size :
					m == 1 ? dbinfo[i].reserve :
					m == 2 ? dbinfo[i].max_connections :
					m == 3 ? dbs[i].g.sessions :
					m == 4 ? dbinfo[i].paused : dbinfo[i].disabled;

				appendStringInfoString(b, dbmetrics[m]);
				gov_bouncer_db_labels(b, NameStr(dbs[i].key.database), dbs[i].g.transaction_mode);
				gov_prom_uint(b, (uint64) Max(v, 0));
			}
		}
	}

	/* SHOW LISTS and SHOW CONFIG. */
	gov_prom_family(b, "pgbouncer_databases", "gauge", "Count of databases.");
	appendStringInfo(b, "pgbouncer_databases %d\n", ndb);
	gov_prom_family(b, "pgbouncer_users", "gauge", "Count of users.");
	appendStringInfo(b, "pgbouncer_users %d\n", nusers);
	gov_prom_family(b, "pgbouncer_pools", "gauge", "Count of pools.");
	appendStringInfo(b, "pgbouncer_pools %d\n", npools);
	gov_prom_family(b, "pgbouncer_used_clients", "gauge", "Count of used clients (pg_governor: sessions).");
	appendStringInfo(b, "pgbouncer_used_clients %d\n", view->in_use);
	gov_prom_family(b, "pgbouncer_free_clients", "gauge", "Count of free clients (pg_governor: usable connections not in use).");
	appendStringInfo(b, "pgbouncer_free_clients %d\n", Max(gov_usable_connections() - view->in_use, 0));
	gov_prom_family(b, "pgbouncer_login_clients", "gauge", "Count of clients in login state.");
	appendStringInfo(b, "pgbouncer_login_clients %d\n", nlogin);
	gov_prom_family(b, "pgbouncer_used_servers", "gauge", "Count of used servers (pg_governor: sessions).");
	appendStringInfo(b, "pgbouncer_used_servers %d\n", view->in_use);
	gov_prom_family(b, "pgbouncer_free_servers", "gauge", "Count of free servers (always 0 server-side).");
	appendStringInfoString(b, "pgbouncer_free_servers 0\n");
	gov_prom_family(b, "pgbouncer_config_max_client_connections", "gauge",
					"Config maximum number of client connections (pg_governor: max_connections minus the reserved connections).");
	appendStringInfo(b, "pgbouncer_config_max_client_connections %d\n", gov_usable_connections());
	gov_prom_family(b, "pgbouncer_config_max_user_connections", "gauge",
					"Config maximum number of server connections per user (pg_governor: max_connections minus the reserved connections).");
	appendStringInfo(b, "pgbouncer_config_max_user_connections %d\n", gov_usable_connections());

	pfree(pools);
	pfree(dbinfo);
}
