/*-------------------------------------------------------------------------
 *
 * rules.c
 *		Loading governor.rules into shared memory and matching sessions.
 *
 * Only the worker loads rules (gov_load_rules, inside its transaction):
 * it reads the table, compiles the rows into GovRule structs in local
 * memory and, when they differ from what shared memory holds, swaps them
 * in under gov->lock LW_EXCLUSIVE, carries each rule's totals over by
 * name and re-matches every registered session from its login-time
 * values (so bucket counts stay exact across a reload).
 *
 * Matching reads only a GovRule and a GovSlot, allocates nothing and
 * cannot fail, so it may run under gov->lock.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/inet.h"
#include "utils/snapmgr.h"

#include "pg_governor.h"

/*
 * LIKE with % and _ and backslash as escape, bytewise (application_name
 * is ASCII-cleaned by the server before we see it).
 */
bool
gov_like(const char *str, const char *pattern)
{
	while (*pattern)
	{
		if (*pattern == '%')
		{
			while (*pattern == '%')
				pattern++;
			if (*pattern == '\0')
				return true;
			for (; *str; str++)
				if (gov_like(str, pattern))
					return true;
			return false;
		}
		if (*str == '\0')
			return false;
		if (*pattern == '_')
		{
			str++;
			pattern++;
			continue;
		}
		if (*pattern == '\\' && pattern[1] != '\0')
			pattern++;
		if (*pattern != *str)
			return false;
		pattern++;
		str++;
	}
	return *str == '\0';
}

/* Does the client address fall in the rule's CIDR? */
static bool
gov_addr_matches(const GovRule *rule, const GovSlot *slot)
{
	const uint8 *bytes;
	int			family = slot->raddr.addr.ss_family;
	int			nbytes;
	int			bits = rule->addr_bits;

	if (family == AF_INET)
	{
		bytes = (const uint8 *) &((const struct sockaddr_in *) &slot->raddr.addr)->sin_addr;
		nbytes = 4;
	}
	else if (family == AF_INET6)
	{
		bytes = (const uint8 *) &((const struct sockaddr_in6 *) &slot->raddr.addr)->sin6_addr;
		nbytes = 16;
		/* An IPv4-mapped address (::ffff:a.b.c.d) matches IPv4 rules. */
		if (rule->addr_family == AF_INET)
		{
			static const uint8 mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

			if (memcmp(bytes, mapped, 12) != 0)
				return false;
			bytes += 12;
			nbytes = 4;
			family = AF_INET;
		}
	}
	else
		return false;			/* Unix socket never matches an address */

	if (family != rule->addr_family)
		return false;
	if (bits > nbytes * 8)
		return false;
	if (memcmp(bytes, rule->addr, bits / 8) != 0)
		return false;
	if (bits % 8)
	{
		uint8		mask = (uint8) (0xff << (8 - bits % 8));

		if ((bytes[bits / 8] & mask) != (rule->addr[bits / 8] & mask))
			return false;
	}
	return true;
}

bool
gov_rule_matches(const GovRule *rule, const GovSlot *slot)
{
	if (rule->has_database &&
		strcmp(NameStr(rule->database), NameStr(slot->database)) != 0)
		return false;
	if (rule->has_role &&
		strcmp(NameStr(rule->role), NameStr(slot->role)) != 0)
		return false;
	if (rule->has_appname &&
		!gov_like(NameStr(slot->appname), rule->appname_pattern))
		return false;
	if (rule->has_addr && !gov_addr_matches(rule, slot))
		return false;
	return true;
}

/*
 * Rules governing a session and its effective limits (smallest non-NULL
 * value of the enforcing rules; monitor rules only where stricter).
 * Caller holds gov->lock.
 */
void
gov_match_rules(const GovSlot *slot, uint64 *bits, GovLimits *limits)
{
	int			i,
				k;

	memset(bits, 0, sizeof(uint64) * GOV_RULE_WORDS);
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
		GOV_RULE_SET(bits, i);
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

/* Column helpers for the SPI result. */
static bool
gov_get_text(HeapTuple tup, TupleDesc desc, int col, char *dst, int size)
{
	char	   *v = SPI_getvalue(tup, desc, col);

	if (v == NULL)
		return false;
	strlcpy(dst, v, size);
	return true;
}

static int64
gov_get_int(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? GOV_NONE : DatumGetInt64(d);
}

static void
gov_compile_rule(HeapTuple tup, TupleDesc desc, GovRule *r)
{
	char		buf[GOV_PATTERN_LEN];
	int			k;

	memset(r, 0, sizeof(*r));
	gov_get_text(tup, desc, 1, NameStr(r->name), NAMEDATALEN);
	r->has_database = gov_get_text(tup, desc, 2, NameStr(r->database), NAMEDATALEN);
	r->has_role = gov_get_text(tup, desc, 3, NameStr(r->role), NAMEDATALEN);
	r->has_appname = gov_get_text(tup, desc, 4, r->appname_pattern, GOV_PATTERN_LEN);
	r->has_addr = gov_get_text(tup, desc, 5, buf, sizeof(buf));
	if (r->has_addr)
	{
		inet	   *ip = DatumGetInetPP(DirectFunctionCall1(cidr_in, CStringGetDatum(buf)));

		r->addr_family = ip_family(ip) == PGSQL_AF_INET ? AF_INET : AF_INET6;
		r->addr_bits = ip_bits(ip);
		memcpy(r->addr, ip_addr(ip), ip_addrsize(ip));
	}
	r->max_connections = (int) gov_get_int(tup, desc, 6);
	r->reserve_connections = (int) gov_get_int(tup, desc, 7);
	if (r->reserve_connections == GOV_NONE)
		r->reserve_connections = 0;
	r->reserve_timeout_ms = gov_get_int(tup, desc, 8);
	r->queue_timeout_ms = gov_get_int(tup, desc, 9);
	r->max_active = (int) gov_get_int(tup, desc, 10);
	for (k = 0; k < GOV_NUM_LIMITS; k++)
		r->limit_ms[k] = gov_get_int(tup, desc, 11 + k);
	r->monitor = DatumGetBool(SPI_getbinval(tup, desc, 11 + GOV_NUM_LIMITS, &(bool){false}));
}

/* Swap compiled rules into shared memory and re-match every session. */
static void
gov_install_rules(GovRule *rules, int nrules)
{
	GovRuleState *old_state;
	GovRule    *old_rules;
	int			old_n;
	int			i,
				j;

	/* Allocate first: nothing that can fail runs under the lock. */
	old_rules = palloc(sizeof(GovRule) * gov_max_rules);
	old_state = palloc(sizeof(GovRuleState) * gov_max_rules);

	LWLockAcquire(gov->lock, LW_EXCLUSIVE);

	old_n = gov->nrules;
	memcpy(old_rules, gov->rules, sizeof(GovRule) * old_n);
	memcpy(old_state, gov->rule_state, sizeof(GovRuleState) * old_n);

	memcpy(gov->rules, rules, sizeof(GovRule) * nrules);
	memset(gov->rule_state, 0, sizeof(GovRuleState) * nrules);
	gov->nrules = nrules;
	for (i = 0; i < nrules; i++)
		for (j = 0; j < old_n; j++)
			if (strcmp(NameStr(old_rules[j].name), NameStr(rules[i].name)) == 0)
			{
				gov->rule_state[i] = old_state[j];
				gov->rule_state[i].in_use = 0;
				gov->rule_state[i].waiting = 0;
				break;
			}

	for (i = 0; i < gov_nslots; i++)
	{
		GovSlot    *slot = &gov_slots[i];

		if (slot->pid == 0)
			continue;
		gov_match_rules(slot, slot->rules, &slot->limits);
		if (slot->exempt != GOV_NOT_EXEMPT)
			continue;
		if (slot->state == GOV_SLOT_ADMITTED)
		{
			for (j = 0; j < nrules; j++)
				if (GOV_RULE_ISSET(slot->rules, j))
					gov->rule_state[j].in_use++;
		}
		else if (slot->state == GOV_SLOT_WAITING)
		{
			/* Re-queued by name; the waiter re-evaluates when woken. */
			if (slot->wait_rule >= 0 && slot->wait_rule < old_n)
				slot->wait_rule = gov_find_rule(NameStr(old_rules[slot->wait_rule].name));
			else
				slot->wait_rule = -1;
			if (slot->wait_rule >= 0)
				gov->rule_state[slot->wait_rule].waiting++;
		}
	}
	LWLockRelease(gov->lock);

	pfree(old_rules);
	pfree(old_state);
}

/*
 * Worker: read governor.rules and install it if it changed.  Runs inside
 * a transaction with a snapshot.  Returns true when shared memory changed.
 */
bool
gov_load_rules(void)
{
	GovRule    *rules;
	int			nrules = 0;
	bool		changed;
	uint64		i;

	rules = palloc0(sizeof(GovRule) * gov_max_rules);

	if (OidIsValid(get_extension_oid(GOV_EXTENSION_NAME, true)))
	{
		int			ret;

		SPI_connect();
		ret = SPI_execute("SELECT name, database, role, application_name, client_addr::text,"
						  " max_connections::int8, reserve_connections::int8,"
						  " (extract(epoch FROM reserve_timeout) * 1000)::int8,"
						  " (extract(epoch FROM queue_timeout) * 1000)::int8,"
						  " max_active::int8,"
						  " (extract(epoch FROM idle_in_transaction_timeout) * 1000)::int8,"
						  " (extract(epoch FROM idle_timeout) * 1000)::int8,"
						  " (extract(epoch FROM max_lifetime) * 1000)::int8,"
						  " (extract(epoch FROM max_transaction_duration) * 1000)::int8,"
						  " mode = 'monitor'"
						  " FROM " GOV_SCHEMA ".rules WHERE enabled ORDER BY name",
						  true, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "pg_governor: could not read governor.rules: %s",
				 SPI_result_code_string(ret));
		if (SPI_processed > (uint64) gov_max_rules)
			ereport(WARNING,
					(errmsg("pg_governor: governor.rules has " UINT64_FORMAT " enabled rows, only the first %d are used",
							SPI_processed, gov_max_rules),
					 errhint("Raise governor.max_rules and restart the server.")));
		for (i = 0; i < SPI_processed && i < (uint64) gov_max_rules; i++)
			gov_compile_rule(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
							 &rules[nrules++]);
		SPI_finish();
	}

	LWLockAcquire(gov->lock, LW_SHARED);
	changed = nrules != gov->nrules ||
		memcmp(rules, gov->rules, sizeof(GovRule) * nrules) != 0;
	LWLockRelease(gov->lock);

	if (changed)
		gov_install_rules(rules, nrules);

	if (!gov->rules_loaded)
	{
		LWLockAcquire(gov->lock, LW_EXCLUSIVE);
		gov->rules_loaded = true;
		LWLockRelease(gov->lock);
		changed = true;
	}
	pfree(rules);
	pg_atomic_fetch_add_u64(&gov->reload_generation, 1);
	if (changed)
		ConditionVariableBroadcast(&gov->slot_freed);
	return changed;
}
