/*-------------------------------------------------------------------------
 *
 * registry.c
 *		The session registry (one GovSlot per backend, indexed by PGPROC
 *		number) and the reader of what the server knows of each session.
 *
 * A session fills its own slot at login (gov_registry_claim) and clears
 * it at exit (the exit callback of admission.c, which registers it before
 * the slot can count anywhere, so every exit path frees it).  A crashed
 * backend makes the postmaster reinitialise shared memory, so no slot
 * outlives its owner.
 *
 * Locking:
 *	gov->lock, LW_EXCLUSIVE: make a slot visible (pid != 0), change its
 *		state, and clear it.
 *	gov->lock, LW_SHARED: readers wanting a consistent picture of all
 *		slots.  Identity fields are written before the slot becomes visible
 *		and never change after.
 *	Counters in GovCounters are written by the owner only, without a lock.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_database.h"
#include "common/hashfn.h"
#include "common/ip.h"
#include "libpq/libpq-be.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/relcache.h"

#include "registry.h"
#include "text.h"

GovSlot    *gov_my_slot = NULL;
int			gov_my_slotno = -1;

void
gov_name_copy(NameData *dst, const char *src)
{
	const unsigned char *p = (const unsigned char *) src;
	char	   *out = NameStr(*dst);
	int			n = 0;

	memset(dst, 0, sizeof(NameData));
	while (*p)
	{
		int			len = gov_utf8_char_len(p);

		if (len == 0)
		{
			/* Not UTF-8: one '?' per byte, like the server does for appnames. */
			if (n + 1 > NAMEDATALEN - 1)
				break;
			out[n++] = '?';
			p++;
			continue;
		}
		if (n + len > NAMEDATALEN - 1)
			break;
		memcpy(out + n, p, len);
		n += len;
		p += len;
	}
}

/*
 * Does a database of this name exist?  Callable while authenticating and
 * without a database, as the server's own GetDatabaseTuple is: an index
 * scan only once the shared relcache entries it needs are built.
 */
bool
gov_database_exists(const char *name)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	bool		found;

	rel = table_open(DatabaseRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_database_datname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum(name));
	scan = systable_beginscan(rel, DatabaseNameIndexId, criticalSharedRelcachesBuilt,
							  NULL, 1, &key);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/* Format a socket address numerically; "" when there is none. */
static void
gov_format_addr(const SockAddr *sa, char *host, int *port)
{
	char		portbuf[NI_MAXSERV];

	host[0] = '\0';
	*port = 0;
	if (sa->salen == 0)
		return;
	if (sa->addr.ss_family == AF_UNIX)
	{
		strlcpy(host, "unix", GOV_ADDR_LEN);
		return;
	}
	if (pg_getnameinfo_all(&sa->addr, sa->salen, host, GOV_ADDR_LEN,
						   portbuf, sizeof(portbuf),
						   NI_NUMERICHOST | NI_NUMERICSERV) != 0)
	{
		host[0] = '\0';
		return;
	}
	*port = atoi(portbuf);
}

/* The identity of a login, and its client's port number. */
static void
gov_identity_fill(GovIdentity *id, const Port *port, int *port_no)
{
	memset(id, 0, sizeof(*id));
	gov_name_copy(&id->key.database, port->database_name);
	gov_name_copy(&id->key.role, port->user_name);
	/* Clipped like pgstat_report_appname, so views and rules agree. */
	gov_name_copy(&id->key.appname, port->application_name ? port->application_name : "");
	id->pid = MyProcPid;
	gov_format_addr(&port->raddr, id->addr, port_no);
}

void
gov_identity_from_port(GovIdentity *id, const Port *port)
{
	int			port_no;

	gov_identity_fill(id, port, &port_no);
}

void
gov_registry_claim(Port *port, GovExemptReason exempt, Oid roleid)
{
	int			slotno = gov_my_procno();
	GovSlot    *slot = &gov_slots[slotno];
	Assert(slotno < gov_nslots);

	/* Identity first, while pid == 0 keeps readers away. */
	gov_identity_fill(&slot->id, port, &slot->port);
	slot->key_hash = hash_bytes((const unsigned char *) &slot->id.key, sizeof(GovPoolKey));
	slot->roleid = roleid;
	slot->raddr = port->raddr;
	gov_format_addr(&port->laddr, slot->local_addr, &slot->local_port);
	slot->tls[0] = '\0';
#ifdef USE_SSL
	if (port->ssl_in_use)
		snprintf(slot->tls, GOV_ADDR_LEN, "%s/%s",
				 be_tls_get_version(port), be_tls_get_cipher(port));
#endif
	slot->connect_time = MyStartTimestamp;
	slot->login_time = GetCurrentTimestamp();
	slot->admit_time = 0;
	slot->beentry = gov_my_beentry();
	slot->pool = -1;
	slot->exempt = exempt;
	{
		/* A stable per-session seed: enforcement spreads lifetimes with it. */
		uint32		seed[2] = {(uint32) MyProcPid, (uint32) MyStartTimestamp};

		slot->jitter_seed = hash_bytes((const unsigned char *) seed, sizeof(seed));
	}
	memset(slot->rules, 0, sizeof(slot->rules));
	memset(&slot->wait, 0, sizeof(slot->wait));
	slot->wait.rule = -1;
	slot->wait.prev = slot->wait.next = -1;
	memset(slot->active_held, 0, sizeof(slot->active_held));
	slot->holds_active = false;
	slot->has_max_active = false;
	slot->priority = 0;
	slot->active_lxid = InvalidLocalTransactionId;
	slot->evicted_for = -1;
	pg_atomic_write_u32(&slot->close_needed, 0);
	pg_atomic_write_u32(&slot->kill_pending, 0);
	pg_atomic_write_u32(&slot->signalled, 0);
	pg_atomic_write_u64(&slot->armed_xact_ms, 0);
	pg_atomic_write_u64(&slot->counters.xact_count, 0);
	pg_atomic_write_u64(&slot->counters.query_count, 0);
	pg_atomic_write_u64(&slot->counters.xact_time_us, 0);
	pg_atomic_write_u64(&slot->counters.query_time_us, 0);
	pg_atomic_write_u64(&slot->counters.wait_time_us, 0);
	pg_atomic_write_u64(&slot->counters.assignments, 0);

	gov_my_slot = slot;
	gov_my_slotno = slotno;

	LWLockAcquire(gov->lock, LW_EXCLUSIVE);
	slot->state = GOV_SLOT_LOGIN;
	slot->pid = MyProcPid;
	LWLockRelease(gov->lock);
}

void
gov_registry_clear(GovSlot *slot)
{
	Assert(LWLockHeldByMeInMode(gov->lock, LW_EXCLUSIVE));
	slot->pid = 0;
	slot->state = GOV_SLOT_FREE;
	slot->pool = -1;
	slot->beentry = NULL;
}

void
gov_registry_wake(int slotno)
{
	/* A session acting for itself knows already. */
	if (slotno != gov_my_slotno)
		SetLatch(&GetPGProcByNumber(slotno)->procLatch);
}

#ifndef GOV_HAVE_MYBEENTRY
/* 13: find the backend's entry in the local snapshot by pid. */
static PgBackendStatus *
gov_find_beentry_by_pid(int pid)
{
	int			n = pgstat_fetch_stat_numbackends();
	int			i;

	for (i = 1; i <= n; i++)
	{
		LocalPgBackendStatus *local = gov_local_beentry(i);

		if (local && local->backendStatus.st_procpid == pid)
			return &local->backendStatus;
	}
	return NULL;
}
#endif

/*
 * Read what PgBackendStatus and PGPROC know of a registered session.
 * 14+ reads the shared entry directly with the changecount protocol, so
 * one row costs a few loads instead of a snapshot of every backend.
 */
void
gov_backend_info(const GovSlot *slot, int slotno, GovBackendInfo *info)
{
	PGPROC	   *proc = GetPGProcByNumber(slotno);

	memset(info, 0, sizeof(*info));
#ifdef GOV_HAVE_MYBEENTRY
	{
		volatile PgBackendStatus *be = (volatile PgBackendStatus *) slot->beentry;
		int			tries;

		if (be == NULL)
			return;
		for (tries = 0; tries < 1000; tries++)
		{
			int			before,
						after;

			pgstat_begin_read_activity(be, before);
			info->valid = be->st_procpid == slot->pid;
			info->state = be->st_state;
			info->xact_start = be->st_xact_start_timestamp;
			info->state_change = be->st_state_start_timestamp;
			info->activity_start = be->st_activity_start_timestamp;
			pgstat_end_read_activity(be, after);
			if (pgstat_read_activity_complete(before, after))
				break;
			CHECK_FOR_INTERRUPTS();
		}
	}
#else
	{
		PgBackendStatus *be = gov_find_beentry_by_pid(slot->pid);

		if (be == NULL)
			return;
		info->valid = true;
		info->state = be->st_state;
		info->xact_start = be->st_xact_start_timestamp;
		info->state_change = be->st_state_start_timestamp;
		info->activity_start = be->st_activity_start_timestamp;
	}
#endif
	if (!info->valid || info->state == STATE_UNDEFINED ||
		GOV_STATE_IS_STARTING(info->state))
	{
		info->valid = false;
		return;
	}
	info->wait_event_info = *((volatile uint32 *) &proc->wait_event_info);
	info->in_xact = info->xact_start != 0;
}
