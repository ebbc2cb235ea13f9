/*-------------------------------------------------------------------------
 *
 * bans.c
 *		The authentication circuit breaker: after governor.auth_fail_limit
 *		failed authentications of a role from one client address within
 *		governor.auth_fail_window, further logins of that role from that
 *		address are refused at once (FATAL 28000, saying until when) for
 *		governor.auth_ban_time, even with the right password.
 *
 * It sees every authentication outcome through the ClientAuthentication
 * hook, after the server has done its password work and before anything
 * else: a refusal costs nothing more.  Superusers are covered like every
 * role (they are what password guessing is after); logins over the local
 * socket are never counted nor refused, so an operator on the server can
 * always get in.
 *
 * Memory is bounded: one shared hash of governor.max_bans entries, keyed
 * by (role, address), holding both failure counts and bans; roles that do
 * not exist share the key "" per address, so guessed names make no new
 * entries.  When it is full, a stale entry is reused; failing that the
 * oldest count is forgotten, or the oldest ban expires early, each with
 * an event, so no failure is dropped silently.
 *
 * Locks: gov->bans_lock, LW_SHARED to look up, LW_EXCLUSIVE to count or
 * ban.  Events and pool totals are written after releasing it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "libpq/auth.h"
#include "libpq/libpq-be.h"
#include "utils/acl.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"

#include "bans.h"
#include "events.h"
#include "pools.h"
#include "registry.h"

/* Settings. */
static int	gov_auth_fail_limit = 10;
static int	gov_auth_fail_window_s = 60;
static int	gov_auth_ban_time_s = 300;
static int	gov_max_bans = 1000;

typedef struct GovBanKey
{
	NameData	role;
	uint8		family;			/* 4 or 6 */
	uint8		addr[16];
} GovBanKey;

typedef struct GovBan
{
	GovBanKey	key;			/* hash key: must be first */
	int			failures;		/* in the current window, or that led to the ban */
	TimestampTz window_start;
	TimestampTz since;			/* banned since, 0 = not banned */
	TimestampTz until;
} GovBan;

static HTAB *gov_bans = NULL;

void
gov_bans_define_settings(void)
{
	DefineCustomIntVariable("governor.auth_fail_limit",
							"Failed authentications of a role from one address that make the governor block it.",
							"Counted within governor.auth_fail_window; 0 turns the circuit breaker off. Local socket logins are never blocked.",
							&gov_auth_fail_limit, 10, 0, INT_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("governor.auth_fail_window",
							"Window in which failed authentications are counted.",
							NULL,
							&gov_auth_fail_window_s, 60, 1, 86400 * 30,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("governor.auth_ban_time",
							"How long a blocked role and address stay blocked.",
							"governor.unban() lifts a block early.",
							&gov_auth_ban_time_s, 300, 1, 86400 * 365,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("governor.max_bans",
							"Most (role, client address) pairs the circuit breaker tracks at once.",
							"When full, the oldest block expires early (an event says so).",
							&gov_max_bans, 1000, 16, 1000000,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
}

Size
gov_bans_shmem_size(void)
{
	return hash_estimate_size(gov_max_bans, sizeof(GovBan));
}

void
gov_bans_attach(void)
{
	HASHCTL		info;

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(GovBanKey);
	info.entrysize = sizeof(GovBan);
	gov_bans = ShmemInitHash("pg_governor bans", gov_max_bans, gov_max_bans,
							 &info, HASH_ELEM | HASH_BLOBS);
}

/*
 * The key of a TCP login; false for a local socket (never blocked).  A
 * role that does not exist is keyed as "": guessed names cannot make an
 * entry each, one address gets one.
 */
static bool
gov_ban_key(const Port *port, GovBanKey *key)
{
	const struct sockaddr_storage *ss = &port->raddr.addr;

	memset(key, 0, sizeof(*key));
	if (ss->ss_family == AF_INET)
	{
		key->family = 4;
		memcpy(key->addr, &((const struct sockaddr_in *) ss)->sin_addr, 4);
	}
	else if (ss->ss_family == AF_INET6)
	{
		key->family = 6;
		memcpy(key->addr, &((const struct sockaddr_in6 *) ss)->sin6_addr, 16);
	}
	else
		return false;
	if (OidIsValid(get_role_oid(port->user_name, true)))
		gov_name_copy(&key->role, port->user_name);
	return true;
}

/*
 * Make room for one entry: a stale one, else the oldest count, else the
 * oldest ban (counts go first, so failures cannot push bans out), among
 * at most GOV_BANS_PROBE entries: work under the exclusive lock does not
 * grow with governor.max_bans.  Caller holds bans_lock exclusively;
 * *forgot says what was dropped (for an event after the lock).
 */
#define GOV_BANS_PROBE 256

static void
gov_bans_make_room(TimestampTz now, GovBan *forgot)
{
	HASH_SEQ_STATUS seq;
	GovBan	   *e;
	GovBan	   *oldest_ban = NULL;
	GovBan	   *oldest_count = NULL;
	GovBan	   *victim = NULL;
	int64		window_us = (int64) gov_auth_fail_window_s * USECS_PER_SEC;
	int			probed = 0;

	memset(forgot, 0, sizeof(*forgot));
	hash_seq_init(&seq, gov_bans);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		bool		stale = e->since != 0 ? e->until <= now :
			now - e->window_start > window_us;

		if (++probed > GOV_BANS_PROBE)
		{
			hash_seq_term(&seq);
			break;
		}

		if (stale)
		{
			victim = e;
			hash_seq_term(&seq);
			break;
		}
		if (e->since != 0 && (oldest_ban == NULL || e->since < oldest_ban->since))
			oldest_ban = e;
		if (e->since == 0 && (oldest_count == NULL || e->window_start < oldest_count->window_start))
			oldest_count = e;
	}
	if (victim == NULL)
	{
		victim = oldest_count ? oldest_count : oldest_ban;
		if (victim)
			*forgot = *victim;
	}
	if (victim)
		(void) hash_search(gov_bans, &victim->key, HASH_REMOVE, NULL);
}

static void
gov_addr_text(const GovBanKey *key, char *out)
{
	uint8		buf[16];

	memcpy(buf, key->addr, 16);
	if (inet_ntop(key->family == 4 ? AF_INET : AF_INET6, buf, out, GOV_ADDR_LEN) == NULL)
		out[0] = '\0';
}

/* Refuse a banned login: FATAL 28000, saying until when. */
pg_noreturn static void
gov_banned_reject(const Port *port, const GovBan *b)
{
	GovIdentity who;

	gov_identity_from_port(&who, port);
	gov_pool_count_refused(port->database_name, port->user_name,
						   port->application_name ? port->application_name : "",
						   false, GOV_POOL_REJECTED);
	gov_event_record(&who, NULL, GOV_ACTION_BANNED_REJECT, "auth_fail_limit",
					 b->failures, gov_auth_fail_limit);
	ereport(FATAL,
			(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
			 errmsg("pg_governor: logins of role \"%s\" from this address are blocked until %s",
					port->user_name, timestamptz_to_str(b->until)),
			 errdetail("%d authentications failed within governor.auth_fail_window.", b->failures),
			 errhint("Logins over the local socket are not blocked; an administrator can run governor.unban().")));
	pg_unreachable();
}

void
gov_bans_check(Port *port, int status)
{
	GovBanKey	key;
	GovBan	   *e;
	GovBan		copy;
	GovBan		forgot;
	bool		banned_now = false;
	bool		found;
	TimestampTz now;

	if (gov_auth_fail_limit <= 0 || !gov_ban_key(port, &key))
		return;
	now = GetCurrentTimestamp();

	/* A ban in force refuses whatever the outcome. */
	LWLockAcquire(gov->bans_lock, LW_SHARED);
	e = hash_search(gov_bans, &key, HASH_FIND, NULL);
	copy.since = 0;
	if (e && e->since != 0 && e->until > now)
		copy = *e;
	LWLockRelease(gov->bans_lock);
	if (copy.since != 0 && (status == STATUS_OK || status == STATUS_ERROR))
		gov_banned_reject(port, &copy);

	/* Only a failed authentication counts (a hang-up at the prompt does not). */
	if (status != STATUS_ERROR)
		return;

	memset(&forgot, 0, sizeof(forgot));
	LWLockAcquire(gov->bans_lock, LW_EXCLUSIVE);
	/* A shared hash would grow past its size: the bound is ours to keep. */
	e = hash_search(gov_bans, &key, HASH_FIND, &found);
	if (e == NULL && hash_get_num_entries(gov_bans) >= gov_max_bans)
		gov_bans_make_room(now, &forgot);
	if (e == NULL)
		e = hash_search(gov_bans, &key, HASH_ENTER_NULL, &found);
	if (e != NULL)
	{
		if (!found || (e->since != 0 && e->until <= now) ||
			now - e->window_start > (int64) gov_auth_fail_window_s * USECS_PER_SEC)
		{
			/* New, an expired ban or a window past: count from here. */
			e->key = key;
			e->failures = 0;
			e->window_start = now;
			e->since = e->until = 0;
		}
		e->failures++;
		if (e->since == 0 && e->failures >= gov_auth_fail_limit)
		{
			e->since = now;
			e->until = now + (int64) gov_auth_ban_time_s * USECS_PER_SEC;
			banned_now = true;
		}
		copy = *e;
	}
	LWLockRelease(gov->bans_lock);

	if (forgot.key.family != 0)
	{
		GovIdentity who;

		memset(&who, 0, sizeof(who));
		who.key.role = forgot.key.role;
		gov_addr_text(&forgot.key, who.addr);
		gov_event_record(&who, NULL, GOV_ACTION_UNBAN,
						 forgot.since ? "ban_expired_early_max_bans" : "failures_forgotten_max_bans",
						 forgot.failures, gov_max_bans);
	}
	if (banned_now)
	{
		GovIdentity who;

		gov_identity_from_port(&who, port);
		gov_event_record(&who, NULL, GOV_ACTION_BAN, "auth_fail_limit",
						 copy.failures, gov_auth_fail_limit);
	}
}

GovBanRow *
gov_bans_list(int *n)
{
	GovBanRow  *rows = palloc(sizeof(GovBanRow) * gov_max_bans);
	TimestampTz now = GetCurrentTimestamp();
	HASH_SEQ_STATUS seq;
	GovBan	   *e;

	*n = 0;
	LWLockAcquire(gov->bans_lock, LW_SHARED);
	hash_seq_init(&seq, gov_bans);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		GovBanRow  *r;

		if (e->since == 0 || e->until <= now || *n >= gov_max_bans)
			continue;
		r = &rows[(*n)++];
		r->role = e->key.role;
		gov_addr_text(&e->key, r->addr);
		r->failures = e->failures;
		r->since = e->since;
		r->until = e->until;
	}
	LWLockRelease(gov->bans_lock);
	return rows;
}

int
gov_bans_lift(const char *role, const uint8 *addr, int family)
{
	HASH_SEQ_STATUS seq;
	GovBan	   *e;
	GovBanKey  *lifted = palloc(sizeof(GovBanKey) * gov_max_bans);
	int			n = 0;
	int			i;

	LWLockAcquire(gov->bans_lock, LW_EXCLUSIVE);
	hash_seq_init(&seq, gov_bans);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		if (role && strcmp(NameStr(e->key.role), role) != 0)
			continue;
		if (addr && (e->key.family != family ||
					 memcmp(e->key.addr, addr, family == 4 ? 4 : 16) != 0))
			continue;
		/* Counts go with the ban: the pair starts from zero. */
		if (e->since != 0 && n < gov_max_bans)
			lifted[n++] = e->key;
		(void) hash_search(gov_bans, &e->key, HASH_REMOVE, NULL);
	}
	LWLockRelease(gov->bans_lock);

	for (i = 0; i < n; i++)
	{
		GovIdentity who;

		memset(&who, 0, sizeof(who));
		who.key.role = lifted[i].role;
		gov_addr_text(&lifted[i], who.addr);
		gov_event_record(&who, NULL, GOV_ACTION_UNBAN, "governor.unban", 0, 0);
	}
	pfree(lifted);
	return n;
}

int
gov_bans_count(void)
{
	TimestampTz now = GetCurrentTimestamp();
	HASH_SEQ_STATUS seq;
	GovBan	   *e;
	int			n = 0;

	LWLockAcquire(gov->bans_lock, LW_SHARED);
	hash_seq_init(&seq, gov_bans);
	while ((e = hash_seq_search(&seq)) != NULL)
		if (e->since != 0 && e->until > now)
			n++;
	LWLockRelease(gov->bans_lock);
	return n;
}
