/*-------------------------------------------------------------------------
 *
 * rules.c
 *		Reading governor.rules and matching sessions to the compiled rules.
 *
 * Only the worker reads the table (gov_rules_read, inside its
 * transaction).  It runs as the bootstrap superuser, so it parses no SQL
 * at all: it finds the table through the extension's own schema, scans it
 * with the table AM and converts each column in C.  Nothing it does
 * resolves a name, operator or function through a schema a user can
 * write.  It never waits for a lock on the table: when someone holds one
 * (ALTER TABLE, VACUUM FULL, CLUSTER, REINDEX), the read is skipped, the
 * rules in shared memory stay as they are and the worker tries again.
 *
 * Every row is validated again here, with the same rules as the table's
 * trigger, because rows can arrive with triggers disabled
 * (session_replication_role = replica, pg_restore --disable-triggers).
 * A row that fails is loaded as a rule that matches nobody, and says why
 * in governor.rule_usage.
 *
 * Matching reads only a GovRule and a GovSlot, allocates nothing, cannot
 * fail and does bounded work (match.c), so it may run under gov->lock.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <sys/socket.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/fmgrprotos.h"
#include "utils/inet.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "events.h"
#include "rules.h"
#include "settings.h"

/* A login rate beyond this is no limit at all. */
#define GOV_MAX_LOGIN_RATE		1000000

/*
 * Interval limits must be finite and at most 100 years, compared as SQL
 * compares intervals (the trigger does: a month is 30 days, so a year is
 * 360).  In milliseconds, counted as extract(epoch) counts (a year is
 * 365.25 days), such an interval with no negative part is at most this.
 */
#define GOV_MAX_INTERVAL_MONTHS	(100 * MONTHS_PER_YEAR)
#define GOV_MAX_INTERVAL_MS		((int64) (100 * DAYS_PER_YEAR * SECS_PER_DAY) * 1000)

/* ----------------------------------------------------------------
 * Matching
 * ----------------------------------------------------------------
 */
static bool
gov_addr_matches(const GovRule *rule, const GovSlot *slot)
{
	const struct sockaddr_storage *ss = &slot->raddr.addr;

	if (ss->ss_family == AF_INET)
		return gov_cidr_match(&rule->addr, 4,
							  (const uint8 *) &((const struct sockaddr_in *) ss)->sin_addr);
	if (ss->ss_family == AF_INET6)
		return gov_cidr_match(&rule->addr, 6,
							  (const uint8 *) &((const struct sockaddr_in6 *) ss)->sin6_addr);
	return false;				/* a Unix socket never matches an address */
}

/* Does a rule match a session's login values?  Bounded, allocation-free. */
static bool
gov_rule_matches(const GovRule *rule, const GovSlot *slot)
{
	const char *appname = NameStr(slot->id.key.appname);

	if (rule->invalid[0] != '\0')
		return false;
	if (rule->has_database &&
		strcmp(NameStr(rule->database), NameStr(slot->id.key.database)) != 0)
		return false;
	if (rule->has_role &&
		strcmp(NameStr(rule->role), NameStr(slot->id.key.role)) != 0)
		return false;
	if (rule->has_appname &&
		!gov_like_match(&rule->appname, appname, strlen(appname)))
		return false;
	if (rule->has_addr && !gov_addr_matches(rule, slot))
		return false;
	return true;
}

void
gov_match_rules(GovSlot *slot)
{
	GovLimits  *limits = &slot->limits;
	int			i,
				k;
	bool		any = false;

	memset(slot->rules, 0, sizeof(slot->rules));
	slot->priority = 0;
	slot->has_max_active = false;
	for (k = 0; k < GOV_NUM_LIMITS; k++)
	{
		limits->limit_ms[k] = GOV_NONE;
		limits->rule[k] = -1;
		limits->monitor_ms[k] = GOV_NONE;
		limits->monitor_rule[k] = -1;
	}

	for (i = 0; i < gov->nrules; i++)
	{
		const GovRule *rule = &gov->rules[i];

		if (!gov_rule_matches(rule, slot))
			continue;
		GOV_RULE_SET(slot->rules, i);
		if (!any || rule->priority > slot->priority)
			slot->priority = rule->priority;
		any = true;
		if (rule->max_active != GOV_NONE)
			slot->has_max_active = true;
		for (k = 0; k < GOV_NUM_LIMITS; k++)
		{
			int64		v = rule->limit_ms[k];

			if (v == GOV_NONE)
				continue;
			if (rule->monitor)
			{
				if (limits->monitor_ms[k] == GOV_NONE || v < limits->monitor_ms[k])
				{
					limits->monitor_ms[k] = v;
					limits->monitor_rule[k] = i;
				}
			}
			else if (limits->limit_ms[k] == GOV_NONE || v < limits->limit_ms[k])
			{
				limits->limit_ms[k] = v;
				limits->rule[k] = i;
			}
		}
	}
	/* A monitor limit only matters where it is stricter than the enforced one. */
	for (k = 0; k < GOV_NUM_LIMITS; k++)
	{
		if (limits->monitor_ms[k] != GOV_NONE && limits->limit_ms[k] != GOV_NONE &&
			limits->monitor_ms[k] >= limits->limit_ms[k])
		{
			limits->monitor_ms[k] = GOV_NONE;
			limits->monitor_rule[k] = -1;
		}
	}
}

int
gov_find_rule(const char *name)
{
	int			i;

	for (i = 0; i < gov->nrules; i++)
		if (strcmp(NameStr(gov->rules[i].name), name) == 0)
			return i;
	return -1;
}

void
gov_rules_alloc(GovRulesCopy *copy)
{
	copy->rules = palloc(sizeof(GovRule) * gov_max_rules);
	copy->states = palloc(sizeof(GovRuleState) * gov_max_rules);
}

int
gov_rules_copy(GovRulesCopy *copy)
{
	Assert(LWLockHeldByMe(gov->lock));
	memcpy(copy->rules, gov->rules, sizeof(GovRule) * gov->nrules);
	memcpy(copy->states, gov->rule_state, sizeof(GovRuleState) * gov->nrules);
	return gov->nrules;
}

int64
gov_rule_queue_timeout(const GovRule *rule)
{
	int64		ms = rule->queue_timeout_ms != GOV_NONE ?
		rule->queue_timeout_ms : gov_queue_timeout_ms;

	/* A reserve is reached by waiting for it, as in PgBouncer. */
	if (rule->reserve_connections > 0 && rule->reserve_timeout_ms > ms)
		ms = rule->reserve_timeout_ms;
	return ms;
}

/* ----------------------------------------------------------------
 * Reading the table
 * ----------------------------------------------------------------
 */

/* The columns read, by name; a 1.0 table lacks the later ones. */
typedef enum GovCol
{
	COL_NAME,
	COL_DATABASE,
	COL_ROLE,
	COL_APPNAME,
	COL_ADDR,
	COL_MAX_CONNECTIONS,
	COL_RESERVE_CONNECTIONS,
	COL_RESERVE_TIMEOUT,
	COL_QUEUE_TIMEOUT,
	COL_MAX_ACTIVE,
	COL_IDLE_IN_XACT,
	COL_IDLE,
	COL_LIFETIME,
	COL_XACT_DURATION,
	COL_MAX_LOGIN_RATE,
	COL_LOGIN_BURST,
	COL_QUEUE_ORDER,
	COL_EVICT_IDLE_AFTER,
	COL_PRIORITY,
	COL_MODE,
	COL_ENABLED,
	GOV_NUM_COLS
} GovCol;

typedef struct GovColDef
{
	const char *name;
	Oid			type;
	bool		required;
} GovColDef;

static const GovColDef gov_cols[GOV_NUM_COLS] = {
	[COL_NAME] = {"name", TEXTOID, true},
	[COL_DATABASE] = {"database", NAMEOID, true},
	[COL_ROLE] = {"role", NAMEOID, true},
	[COL_APPNAME] = {"application_name", TEXTOID, true},
	[COL_ADDR] = {"client_addr", CIDROID, true},
	[COL_MAX_CONNECTIONS] = {"max_connections", INT4OID, true},
	[COL_RESERVE_CONNECTIONS] = {"reserve_connections", INT4OID, true},
	[COL_RESERVE_TIMEOUT] = {"reserve_timeout", INTERVALOID, true},
	[COL_QUEUE_TIMEOUT] = {"queue_timeout", INTERVALOID, true},
	[COL_MAX_ACTIVE] = {"max_active", INT4OID, true},
	[COL_IDLE_IN_XACT] = {"idle_in_transaction_timeout", INTERVALOID, true},
	[COL_IDLE] = {"idle_timeout", INTERVALOID, true},
	[COL_LIFETIME] = {"max_lifetime", INTERVALOID, true},
	[COL_XACT_DURATION] = {"max_transaction_duration", INTERVALOID, true},
	[COL_MAX_LOGIN_RATE] = {"max_login_rate", NUMERICOID, false},
	[COL_LOGIN_BURST] = {"login_burst", INT4OID, false},
	[COL_QUEUE_ORDER] = {"queue_order", TEXTOID, false},
	[COL_EVICT_IDLE_AFTER] = {"evict_idle_after", INTERVALOID, false},
	[COL_PRIORITY] = {"priority", INT4OID, false},
	[COL_MODE] = {"mode", TEXTOID, true},
	[COL_ENABLED] = {"enabled", BOOLOID, true},
};

/* limit_ms[] is indexed like the limit columns. */
StaticAssertDecl(COL_IDLE_IN_XACT + GOV_END_IDLE_IN_XACT == COL_IDLE_IN_XACT &&
				 COL_IDLE_IN_XACT + GOV_END_IDLE == COL_IDLE &&
				 COL_IDLE_IN_XACT + GOV_END_LIFETIME == COL_LIFETIME &&
				 COL_IDLE_IN_XACT + GOV_END_XACT_DURATION == COL_XACT_DURATION,
				 "limit columns follow GovEndKind");

/* One row being compiled: its values and whether they are present. */
typedef struct GovRow
{
	TupleTableSlot *slot;
	AttrNumber *attnum;
} GovRow;

static bool
gov_row_value(GovRow *row, GovCol col, Datum *value)
{
	bool		isnull;

	if (row->attnum[col] == InvalidAttrNumber)
		return false;
	*value = slot_getattr(row->slot, row->attnum[col], &isnull);
	return !isnull;
}

/*
 * Interval in milliseconds, as extract(epoch FROM interval) counts it
 * (a year is 365.25 days, a month 30).  False for an infinite one.
 */
static bool
gov_interval_ms(Datum d, int64 *ms)
{
	Interval   *iv = DatumGetIntervalP(d);
	double		secs;

	if (!gov_interval_is_finite(iv))
		return false;
	secs = (double) iv->time / USECS_PER_SEC +
		(double) (iv->month / MONTHS_PER_YEAR) * DAYS_PER_YEAR * SECS_PER_DAY +
		(double) (iv->month % MONTHS_PER_YEAR) * DAYS_PER_MONTH * SECS_PER_DAY +
		(double) iv->day * SECS_PER_DAY;
	if (secs > (double) PG_INT64_MAX / 1000 || secs < (double) PG_INT64_MIN / 1000)
		return false;
	*ms = (int64) (secs * 1000);
	return true;
}

/* Record why a row is invalid (the first reason only). */
static void
gov_invalid(GovRule *r, const char *fmt,...) pg_attribute_printf(2, 3);

static void
gov_invalid(GovRule *r, const char *fmt,...)
{
	va_list		ap;

	if (r->invalid[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(r->invalid, sizeof(r->invalid), fmt, ap);
	va_end(ap);
}

static int
gov_row_int(GovRow *row, GovCol col, GovRule *r, int none)
{
	Datum		d;
	int32		v;

	if (!gov_row_value(row, col, &d))
		return none;
	v = DatumGetInt32(d);
	if (v < 0 && col != COL_PRIORITY)
		gov_invalid(r, "%s must not be negative", gov_cols[col].name);
	else if (v > GOV_MAX_SESSIONS && col != COL_PRIORITY)
		gov_invalid(r, "%s must be at most %d", gov_cols[col].name, GOV_MAX_SESSIONS);
	return v;
}

/* Compare an interval with one of months, as SQL's interval < = > do. */
static int
gov_interval_cmp_months(Datum d, int32 months)
{
	Interval	other;

	memset(&other, 0, sizeof(other));
	other.month = months;
	return DatumGetInt32(DirectFunctionCall2(interval_cmp, d, IntervalPGetDatum(&other)));
}

/*
 * positive: limits must be > 0; otherwise >= 0 is allowed.  The checks
 * and their order are the trigger's, with SQL's interval comparison, so
 * a row loaded past the trigger is refused here exactly when the trigger
 * would have refused it, and with the same message.
 */
static int64
gov_row_interval(GovRow *row, GovCol col, GovRule *r, bool positive)
{
	Datum		d;
	int			sign;
	int64		ms;

	if (!gov_row_value(row, col, &d))
		return GOV_NONE;
	sign = gov_interval_cmp_months(d, 0);
	if (positive ? sign <= 0 : sign < 0)
	{
		gov_invalid(r, positive ? "%s must be greater than zero" :
					"%s must not be negative", gov_cols[col].name);
		return GOV_NONE;
	}
	if (!gov_interval_is_finite(DatumGetIntervalP(d)) ||
		gov_interval_cmp_months(d, GOV_MAX_INTERVAL_MONTHS) > 0)
	{
		gov_invalid(r, "%s must be finite and at most 100 years", gov_cols[col].name);
		return GOV_NONE;
	}

	/*
	 * Only parts of both signs ('-1 year 361 days': one day to SQL, minus
	 * 4.25 days in seconds) get here and still count outside the range in
	 * milliseconds.  The trigger refuses them; rows written with triggers
	 * off are refused here.
	 */
	if (!gov_interval_ms(d, &ms) || (positive ? ms <= 0 : ms < 0) ||
		ms > GOV_MAX_INTERVAL_MS)
	{
		gov_invalid(r, "%s mixes positive and negative parts: write it with one sign",
					gov_cols[col].name);
		return GOV_NONE;
	}
	return ms;
}

static void
gov_row_name(GovRow *row, GovCol col, bool *has, NameData *dst)
{
	Datum		d;

	*has = gov_row_value(row, col, &d);
	if (*has)
		namestrcpy(dst, NameStr(*DatumGetName(d)));
}

/* Compile one row; invalid values leave r->invalid set. */
static void
gov_compile_row(GovRow *row, GovRule *r)
{
	Datum		d;
	int			k;

	memset(r, 0, sizeof(*r));
	if (gov_row_value(row, COL_NAME, &d))
	{
		char	   *name = TextDatumGetCString(d);

		if (strlen(name) < 1 || strlen(name) > NAMEDATALEN - 1)
			gov_invalid(r, "name must be 1 to %d bytes long", NAMEDATALEN - 1);
		strlcpy(NameStr(r->name), name, NAMEDATALEN);
		pfree(name);
	}
	else
		gov_invalid(r, "name must not be NULL");

	gov_row_name(row, COL_DATABASE, &r->has_database, &r->database);
	gov_row_name(row, COL_ROLE, &r->has_role, &r->role);
	if (gov_row_value(row, COL_APPNAME, &d))
	{
		text	   *t = DatumGetTextPP(d);
		const char *err;

		r->has_appname = true;
		err = gov_like_compile(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &r->appname);
		if (err)
			gov_invalid(r, "application_name %s", err);
	}
	if (gov_row_value(row, COL_ADDR, &d))
	{
		inet	   *ip = DatumGetInetPP(d);

		r->has_addr = true;
		r->addr.family = ip_family(ip) == PGSQL_AF_INET ? 4 : 6;
		r->addr.bits = ip_bits(ip);
		memcpy(r->addr.addr, ip_addr(ip), Min(ip_addrsize(ip), (int) sizeof(r->addr.addr)));
	}

	r->max_connections = gov_row_int(row, COL_MAX_CONNECTIONS, r, GOV_NONE);
	r->reserve_connections = gov_row_int(row, COL_RESERVE_CONNECTIONS, r, 0);
	r->reserve_timeout_ms = gov_row_interval(row, COL_RESERVE_TIMEOUT, r, false);
	r->queue_timeout_ms = gov_row_interval(row, COL_QUEUE_TIMEOUT, r, false);
	r->max_active = gov_row_int(row, COL_MAX_ACTIVE, r, GOV_NONE);
	for (k = 0; k < GOV_NUM_LIMITS; k++)
		r->limit_ms[k] = gov_row_interval(row, COL_IDLE_IN_XACT + k, r, true);
	if (r->reserve_connections > 0 && r->reserve_timeout_ms == GOV_NONE)
		gov_invalid(r, "reserve_connections needs a reserve_timeout");
	if (r->reserve_connections > 0 && r->max_connections == GOV_NONE)
		gov_invalid(r, "reserve_connections needs max_connections");

	if (gov_row_value(row, COL_MAX_LOGIN_RATE, &d))
	{
		/*
		 * No ERROR for a value past double's range (1e400 or 1e-400 loaded
		 * past the trigger): it becomes infinity or zero, which the check
		 * below refuses, instead of failing every read of the rules.
		 */
		r->max_login_rate = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, d));
		if (!(r->max_login_rate > 0 && r->max_login_rate <= GOV_MAX_LOGIN_RATE))
			gov_invalid(r, "max_login_rate must be greater than zero and at most %d", GOV_MAX_LOGIN_RATE);
	}
	r->login_burst = gov_row_int(row, COL_LOGIN_BURST, r, GOV_NONE);
	if (r->login_burst != GOV_NONE)
	{
		if (r->login_burst < 1)
			gov_invalid(r, "login_burst must be at least 1");
		if (r->max_login_rate <= 0)
			gov_invalid(r, "login_burst needs max_login_rate");
	}
	else if (r->max_login_rate > 0)
		r->login_burst = (int) Min(ceil(r->max_login_rate), (double) GOV_MAX_SESSIONS);
	if (gov_row_value(row, COL_QUEUE_ORDER, &d))
	{
		char	   *s = TextDatumGetCString(d);

		if (strcmp(s, "fair") == 0)
			r->queue_order = GOV_ORDER_FAIR;
		else if (strcmp(s, "fifo") != 0)
			gov_invalid(r, "queue_order must be fifo or fair");
		pfree(s);
	}
	r->evict_idle_after_ms = gov_row_interval(row, COL_EVICT_IDLE_AFTER, r, false);
	r->priority = gov_row_int(row, COL_PRIORITY, r, 0);
	if (gov_row_value(row, COL_MODE, &d))
	{
		char	   *s = TextDatumGetCString(d);

		if (strcmp(s, "monitor") == 0)
			r->monitor = true;
		else if (strcmp(s, "enforce") != 0)
			gov_invalid(r, "mode must be enforce or monitor");
		pfree(s);
	}
	else
		gov_invalid(r, "mode must not be NULL");
}

/* The schema an extension lives in (16+ exports this; older servers do not). */
static Oid
gov_extension_schema(Oid extoid)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			nsp = InvalidOid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(extoid));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
		nsp = ((Form_pg_extension) GETSTRUCT(tuple))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return nsp;
}

static int
gov_rule_cmp(const void *a, const void *b)
{
	return strcmp(NameStr(((const GovRule *) a)->name),
				  NameStr(((const GovRule *) b)->name));
}

GovRulesRead
gov_rules_read(GovRule *rules, int *nrules, int *nenabled)
{
	Oid			extoid;
	Oid			relid;
	Relation	rel;
	TableScanDesc scan;
	GovRow		row;
	AttrNumber	attnum[GOV_NUM_COLS];
	GovRule    *all;
	int			nall = 0;
	int			capacity = gov_max_rules;
	int			i;

	*nrules = 0;
	*nenabled = 0;
	extoid = get_extension_oid(GOV_EXTENSION_NAME, true);
	if (!OidIsValid(extoid))
		return GOV_READ_NO_EXTENSION;
	relid = get_relname_relid("rules", gov_extension_schema(extoid));
	if (!OidIsValid(relid))
		return GOV_READ_NO_EXTENSION;
	if (!ConditionalLockRelationOid(relid, AccessShareLock))
		return GOV_READ_BUSY;
	rel = table_open(relid, NoLock);

	for (i = 0; i < GOV_NUM_COLS; i++)
	{
		attnum[i] = get_attnum(relid, gov_cols[i].name);
		if (attnum[i] != InvalidAttrNumber &&
			get_atttype(relid, attnum[i]) != gov_cols[i].type)
			elog(ERROR, "column %s of governor.rules has an unexpected type", gov_cols[i].name);
		if (attnum[i] == InvalidAttrNumber && gov_cols[i].required)
			elog(ERROR, "governor.rules has no column %s", gov_cols[i].name);
	}

	/* Every enabled row is compiled, so the overflow can be reported. */
	all = palloc(sizeof(GovRule) * capacity);
	row.slot = table_slot_create(rel, NULL);
	row.attnum = attnum;
	scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, row.slot))
	{
		Datum		d;

		if (!gov_row_value(&row, COL_ENABLED, &d) || !DatumGetBool(d))
			continue;
		if (nall == capacity)
		{
			capacity *= 2;
			all = repalloc(all, sizeof(GovRule) * capacity);
		}
		gov_compile_row(&row, &all[nall++]);
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(row.slot);
	table_close(rel, NoLock);	/* the lock is kept until commit */

	/* Byte order of names: the same on every server, whatever the locale. */
	qsort(all, nall, sizeof(GovRule), gov_rule_cmp);
	*nenabled = nall;
	*nrules = Min(nall, gov_max_rules);
	memcpy(rules, all, sizeof(GovRule) * *nrules);
	pfree(all);
	return GOV_READ_OK;
}

/* ----------------------------------------------------------------
 * Names that stopped resolving
 * ----------------------------------------------------------------
 */

/*
 * Why a rule's role or database matches nobody, or "" when both exist.
 * *oid holds the object last seen under that name, so a rename can be
 * told apart from a typo or a DROP.
 */
static void
gov_name_problem(const char *what, const char *name, bool is_role, Oid *oid,
				 char *problem, size_t size)
{
	Oid			now = is_role ? get_role_oid(name, true) : get_database_oid(name, true);
	char	   *newname;

	if (OidIsValid(now))
	{
		*oid = now;
		return;
	}
	newname = OidIsValid(*oid) ?
		(is_role ? GetUserNameFromId(*oid, true) : get_database_name(*oid)) : NULL;
	if (newname)
		snprintf(problem, size, "%s \"%s\" was renamed to \"%s\"; the rule matches nobody until it names it again",
				 what, name, newname);
	else
		snprintf(problem, size, "%s \"%s\" does not exist; the rule matches nobody",
				 what, name);
}

/* What gov_rules_check_names needs of one rule, and what it finds. */
typedef struct GovNameCheck
{
	NameData	name;
	NameData	role;
	NameData	database;
	bool		has_role;
	bool		has_database;
	char		invalid[GOV_TEXT_LEN];	/* the rule's, "" = valid */
	Oid			role_oid;
	Oid			database_oid;
	char		problem[GOV_TEXT_LEN];
} GovNameCheck;

/*
 * Only the worker installs rules, and it calls this right after
 * installing, so the rules cannot change between the copy and the write
 * back: results go back by index.  Nothing is written, and gov->lock is
 * not taken exclusively, unless a problem or an oid changed.
 */
void
gov_rules_check_names(void)
{
	int			n;
	int			i;
	GovNameCheck *checks;
	bool		changed = false;

	Assert(gov->worker_pid == MyProcPid);

	/* Copy what is checked: catalog lookups do not run under gov->lock. */
	checks = palloc(sizeof(GovNameCheck) * gov_max_rules);
	LWLockAcquire(gov->lock, LW_SHARED);
	n = gov->nrules;
	for (i = 0; i < n; i++)
	{
		const GovRule *r = &gov->rules[i];
		const GovRuleState *st = &gov->rule_state[i];
		GovNameCheck *c = &checks[i];

		c->name = r->name;
		c->role = r->role;
		c->database = r->database;
		c->has_role = r->has_role;
		c->has_database = r->has_database;
		strlcpy(c->invalid, r->invalid, sizeof(c->invalid));
		c->role_oid = st->role_oid;
		c->database_oid = st->database_oid;
		strlcpy(c->problem, st->problem, sizeof(c->problem));
	}
	LWLockRelease(gov->lock);

	for (i = 0; i < n; i++)
	{
		GovNameCheck *c = &checks[i];
		Oid			role_oid = c->role_oid;
		Oid			database_oid = c->database_oid;
		char		problem[GOV_TEXT_LEN] = "";

		if (c->invalid[0])
			snprintf(problem, sizeof(problem), "invalid: %s", c->invalid);
		else
		{
			if (c->has_role)
				gov_name_problem("role", NameStr(c->role), true, &role_oid,
								 problem, sizeof(problem));
			if (c->has_database && problem[0] == '\0')
				gov_name_problem("database", NameStr(c->database), false,
								 &database_oid, problem, sizeof(problem));
		}
		if (role_oid != c->role_oid || database_oid != c->database_oid)
		{
			c->role_oid = role_oid;
			c->database_oid = database_oid;
			changed = true;
		}
		if (strcmp(problem, c->problem) == 0)
			continue;
		strlcpy(c->problem, problem, sizeof(c->problem));
		changed = true;
		if (problem[0])
		{
			ereport(WARNING,
					(errmsg("pg_governor rule \"%s\" matches nobody: %s",
							NameStr(c->name), problem),
					 errhint("Correct or delete the rule in governor.rules.")));
			gov_event_record(NULL, NameStr(c->name), GOV_ACTION_RULE_PROBLEM,
							 c->invalid[0] ? "invalid" : "name_not_found", 0, 0);
		}
	}

	if (changed)
	{
		LWLockAcquire(gov->lock, LW_EXCLUSIVE);
		/* Only the worker installs rules; should that change, write nothing astray. */
		for (i = 0; i < n && gov->nrules == n; i++)
		{
			GovRuleState *st = &gov->rule_state[i];

			if (strcmp(NameStr(gov->rules[i].name), NameStr(checks[i].name)) != 0)
				continue;
			strlcpy(st->problem, checks[i].problem, sizeof(st->problem));
			st->role_oid = checks[i].role_oid;
			st->database_oid = checks[i].database_oid;
		}
		LWLockRelease(gov->lock);
	}
	pfree(checks);
}
