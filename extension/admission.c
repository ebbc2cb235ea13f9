/*-------------------------------------------------------------------------
 *
 * admission.c
 *		Admission at login: the ClientAuthentication hook, exemptions, the
 *		wait in a rule's queue, refusals, and the session's exit.
 *
 * Runs in the new backend after authentication succeeded, inside
 * InitPostgres (a transaction is open, catalogs of shared relations are
 * readable, authentication_timeout is armed as STATEMENT_TIMEOUT).
 *
 * A login that does not fit waits in a rule's queue (bucket.c) on its own
 * latch, which is set only when someone hands it a place (or kills it,
 * or its database is disabled or resumed); it also wakes when its client
 * hangs up, so an abandoned login never keeps a server process, and for
 * its own timers.  It never holds a lock while it waits.
 *
 * Locks: gov->lock LW_EXCLUSIVE around every bucket call, never held
 * across the wait; gov->pools_lock (inside pools.c) for pool totals.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <poll.h>
#include <signal.h>

#include "access/xact.h"
#include "libpq/auth.h"
#include "libpq/libpq-be.h"
#include "miscadmin.h"
#include "replication/walsender.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/timeout.h"
#include "utils/varlena.h"

#include "admission.h"
#include "bans.h"
#include "bucket.h"
#include "enforcement.h"
#include "events.h"
#include "pools.h"
#include "registry.h"
#include "rules.h"
#include "settings.h"

/* How long a login waits for the worker's first rules read after startup. */
#define GOV_RULES_WAIT_MS	2000
/* Margin kept before authentication_timeout so the client gets our error. */
#define GOV_AUTH_MARGIN_MS	200

static ClientAuthentication_hook_type prev_client_auth_hook = NULL;
static bool gov_login_done = false;

static void gov_client_auth(Port *port, int status);

void
gov_admission_init(void)
{
	prev_client_auth_hook = ClientAuthentication_hook;
	ClientAuthentication_hook = gov_client_auth;
}

/* Is the role in governor.exempt_roles (parsed by its check hook)? */
static bool
gov_role_exempt(const char *role)
{
	const char *name;

	for (name = gov_exempt_role_names; name != NULL && *name != '\0'; name += strlen(name) + 1)
		if (strcmp(name, role) == 0)
			return true;
	return false;
}

static GovExemptReason
gov_exemption(Port *port, Oid roleid)
{
	if (am_walsender)
		return GOV_EXEMPT_REPLICATION;
	if (gov_exempt_superusers && OidIsValid(roleid) && superuser_arg(roleid))
		return GOV_EXEMPT_SUPERUSER;
	if (gov_role_exempt(port->user_name))
		return GOV_EXEMPT_ROLE;
	return GOV_NOT_EXEMPT;
}

/* Milliseconds left before authentication_timeout, or -1 if none armed. */
static long
gov_auth_budget_ms(void)
{
	TimestampTz finish;

	if (!get_timeout_active(STATEMENT_TIMEOUT))
		return -1;
	finish = get_timeout_finish_time(STATEMENT_TIMEOUT);
	return Max(0, TimestampDifferenceMilliseconds(GetCurrentTimestamp(), finish)
			   - GOV_AUTH_MARGIN_MS);
}

/* governor.max_queued, with its default: a quarter of the usable connections. */
static int
gov_queue_bound(void)
{
	return gov_max_queued >= 0 ? gov_max_queued :
		Max(1, gov_usable_connections() / 4);
}

#ifndef GOV_HAVE_WL_SOCKET_CLOSED
/* Has the client closed its end?  (Linux: POLLRDHUP sees a FIN.) */
static bool
gov_client_hung_up(pgsocket sock)
{
	struct pollfd pfd;

	pfd.fd = sock;
	pfd.events = POLLIN | GOV_POLLRDHUP;
	pfd.revents = 0;
	if (poll(&pfd, 1, 0) <= 0)
		return false;
	return (pfd.revents & (POLLHUP | POLLERR | POLLNVAL | GOV_POLLRDHUP)) != 0;
}
#endif

/*
 * Sleep until our latch is set, the timeout passes or the client hangs
 * up.  True when the client is gone.
 */
static bool
gov_wait(long timeout_ms, uint32 wait_event)
{
	pgsocket	sock = MyProcPort ? MyProcPort->sock : PGINVALID_SOCKET;
	int			rc;

	if (sock == PGINVALID_SOCKET)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout_ms, wait_event);
		return false;
	}
#ifdef GOV_HAVE_WL_SOCKET_CLOSED
	rc = WaitLatchOrSocket(MyLatch,
						   WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH | WL_SOCKET_CLOSED,
						   sock, timeout_ms, wait_event);
	return (rc & WL_SOCKET_CLOSED) != 0;
#else
	/* No WL_SOCKET_CLOSED before 15: look at the socket every 250 ms. */
	rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
				   Min(timeout_ms, 250), wait_event);
	(void) rc;
	return gov_client_hung_up(sock);
#endif
}

/* governor.kill() reached this login: end it with the killer's notice. */
static void
gov_check_killed(GovSlot *slot)
{
	if (pg_atomic_read_u32(&slot->kill_pending) == 0)
		return;
	pg_read_barrier();
	ereport(FATAL,
			(errcode(slot->kill_sqlstate),
			 errmsg("%s", slot->kill_message),
			 slot->kill_detail[0] ? errdetail("%s", slot->kill_detail) : 0));
}

/* A refusal by the rule that blocked the login; caller holds gov->lock. */
static void
gov_count_rejected_locked(const GovBlock *b)
{
	if (b->rule < 0 || b->reason == GOV_BLOCK_DISABLED || b->reason == GOV_BLOCK_PAUSED)
		return;
	gov->rule_state[b->rule].rejected++;
	if (b->reason == GOV_BLOCK_RATE)
		gov->rule_state[b->rule].rejected_rate++;
}

/* A refused login in its pool's totals (the rule's are counted under the lock). */
static void
gov_count_refusal(GovSlot *slot)
{
	gov_pool_count_refused(NameStr(slot->id.key.database), NameStr(slot->id.key.role),
						   NameStr(slot->id.key.appname), true, GOV_POOL_REJECTED);
}

/* Refuse the login: FATAL 53300 naming what refused it. */
pg_noreturn static void
gov_refuse(GovSlot *slot, const GovBlock *b, double waited_s, bool auth_cut)
{
	const char *rule = b->rule >= 0 ? NameStr(b->rule_name) : NULL;
	const char *cut = auth_cut ? " (the wait was cut short by authentication_timeout)" : "";

	gov_count_refusal(slot);
	switch (b->reason)
	{
		case GOV_BLOCK_PAUSED:
			gov_event_record(&slot->id, NULL, GOV_ACTION_REJECT, "database_paused", waited_s, 0);
			ereport(FATAL,
					(errcode(ERRCODE_TOO_MANY_CONNECTIONS),
					 errmsg("pg_governor: database \"%s\" is paused", NameStr(slot->id.key.database)),
					 errdetail("The connection waited %.3f s for governor.resume().", waited_s),
					 errhint("Retry after the administrator resumes the database.")));
			break;
		case GOV_BLOCK_DISABLED:
			gov_event_record(&slot->id, NULL, GOV_ACTION_REJECT, "database_disabled", 0, 0);
			ereport(FATAL,
					(errcode(ERRCODE_TOO_MANY_CONNECTIONS),
					 errmsg("pg_governor: database \"%s\" is disabled", NameStr(slot->id.key.database)),
					 errhint("An administrator ran governor.disable(); governor.enable() allows logins again.")));
			break;
		case GOV_BLOCK_RATE:
			gov_event_record(&slot->id, rule, GOV_ACTION_REJECT, "max_login_rate", waited_s, b->rate);
			ereport(FATAL,
					(errcode(ERRCODE_TOO_MANY_CONNECTIONS),
					 errmsg("too many logins per second for pg_governor rule \"%s\"", rule),
					 errdetail("The rule admits %g logins per second (max_login_rate); this connection waited %.3f s%s.",
							   b->rate, waited_s, cut),
					 errhint("Retry later, or raise max_login_rate or queue_timeout of the rule in governor.rules.")));
			break;
		case GOV_BLOCK_CAP:
		case GOV_BLOCK_NONE:
			gov_event_record(&slot->id, rule, GOV_ACTION_REJECT, "max_connections",
							 b->in_use, b->cap);
			ereport(FATAL,
					(errcode(ERRCODE_TOO_MANY_CONNECTIONS),
					 errmsg("too many connections for pg_governor rule \"%s\"", rule ? rule : "?"),
					 errdetail("The rule allows %d connections, %d are in use; this connection waited %.3f s%s.",
							   b->cap, b->in_use, waited_s, cut),
					 errhint("Retry later, or raise max_connections or queue_timeout of the rule in governor.rules.")));
			break;
	}
	pg_unreachable();
}

/* The login queue is full: refuse at once, waiting would hold a process. */
pg_noreturn static void
gov_refuse_queue_full(GovSlot *slot, int bound)
{
	gov_count_refusal(slot);
	gov_event_record(&slot->id, NULL, GOV_ACTION_REJECT, "queue_full", bound, bound);
	ereport(FATAL,
			(errcode(ERRCODE_TOO_MANY_CONNECTIONS),
			 errmsg("pg_governor: login queue is full"),
			 errdetail("%d logins are already waiting (governor.max_queued).", bound),
			 errhint("Retry later; every waiting login holds a server process.")));
}

/*
 * Before the worker's first read of the rules (server start), wait a
 * little for it; if it cannot read them, apply governor.rules_unavailable.
 */
static void
gov_wait_for_rules(GovSlot *slot)
{
	TimestampTz start = GetCurrentTimestamp();
	bool		ready;

	for (;;)
	{
		LWLockAcquire(gov->lock, LW_SHARED);
		ready = gov->rules_loaded;
		/* The worker said it cannot, or an earlier login waited in vain. */
		if (!ready && (gov->rules_status != GOV_RULES_STARTING || gov->rules_wait_expired))
			break;
		LWLockRelease(gov->lock);
		if (ready)
			return;
		if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), GOV_RULES_WAIT_MS) ||
			gov_auth_budget_ms() == 0)
		{
			LWLockAcquire(gov->lock, LW_EXCLUSIVE);
			gov->rules_wait_expired = true;
			break;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 50, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	LWLockRelease(gov->lock);

	if (gov_rules_unavailable == GOV_UNAVAILABLE_REFUSE)
	{
		gov_count_refusal(slot);
		gov_event_record(&slot->id, NULL, GOV_ACTION_REJECT, "rules_unavailable", 0, 0);
		ereport(FATAL,
				(errcode(ERRCODE_TOO_MANY_CONNECTIONS),
				 errmsg("pg_governor: connection rules are not loaded"),
				 errdetail("governor.rules_unavailable is \"refuse\"; see governor.health and the server log for why the rules could not be read."),
				 errhint("Exempt roles and superusers can still log in.")));
	}
	/* "admit": uncapped until the rules arrive; governor.health says so. */
}

/* Decide admission for this backend; returns admitted or raises FATAL. */
static void
gov_admit(GovSlot *slot)
{
	const char *dbname = NameStr(slot->id.key.database);
	uint32		wait_event = gov_wait_event("GovernorLoginQueue");
	TimestampTz now;
	GovBlock	b;
	int			bound;

	gov_wait_for_rules(slot);
	GOV_INJECTION_POINT("pg-governor-login-claimed");

	now = GetCurrentTimestamp();
	LWLockAcquire(gov->lock, LW_EXCLUSIVE);
	gov_match_rules(slot);
	if (gov_bucket_try(slot, GOV_BUCKET_LOGIN, now, &b))
	{
		if (b.would_rule >= 0)
			gov->rule_state[b.would_rule].would_reject++;
		LWLockRelease(gov->lock);
		if (b.would_rule >= 0)
		{
			gov_event_record(&slot->id, NameStr(b.would_name), GOV_ACTION_WOULD_REJECT,
							 b.would_rate ? "max_login_rate" : "max_connections",
							 b.would_in_use, b.would_cap);
		}
		/* A governor.kill() that came before we were admitted. */
		GOV_INJECTION_POINT("pg-governor-login-admitted");
		gov_check_killed(slot);
		return;
	}

	/* Does not fit: refuse at once, or queue. */
	bound = gov_queue_bound();
	if (b.reason == GOV_BLOCK_DISABLED ||
		(b.reason != GOV_BLOCK_PAUSED &&
		 gov_rule_queue_timeout(&gov->rules[b.rule]) <= 0))
	{
		gov_count_rejected_locked(&b);
		LWLockRelease(gov->lock);
		gov_refuse(slot, &b, 0.0, false);
	}
	if (gov->nqueued >= bound)
	{
		LWLockRelease(gov->lock);
		gov_refuse_queue_full(slot, bound);
	}
	gov_bucket_wait(slot, GOV_BUCKET_LOGIN, &b, now);
	/* A rule that evicts idle sessions for waiters: tell the worker now. */
	if (b.rule >= 0 && gov->rules[b.rule].evict_idle_after_ms != GOV_NONE &&
		gov->worker_latch != NULL)
		SetLatch(gov->worker_latch);
	LWLockRelease(gov->lock);

	for (;;)
	{
		long		sleep_ms;
		long		budget;
		int64		timeout;
		int64		waited_ms;
		TimestampTz next;
		bool		disabled;

		gov_check_killed(slot);
		now = GetCurrentTimestamp();
		budget = gov_auth_budget_ms();
#ifdef USE_INJECTION_POINTS
		/* Tests: hold a waiter whose timeout has come (it holds no lock here). */
		LWLockAcquire(gov->lock, LW_SHARED);
		timeout = gov_bucket_timeout(slot);
		LWLockRelease(gov->lock);
		if (timeout != GOV_NONE && (now - slot->wait.start) / 1000 >= timeout)
			GOV_INJECTION_POINT("pg-governor-queue-timeout");
#endif

		LWLockAcquire(gov->lock, LW_EXCLUSIVE);
		disabled = gov_db_disabled(dbname);
		if (slot->state != GOV_SLOT_ADMITTED && !disabled)
			gov_bucket_poll(slot, now);
		if (slot->state == GOV_SLOT_ADMITTED)
		{
			LWLockRelease(gov->lock);
			break;
		}
		waited_ms = Max(now - slot->wait.start, 0) / 1000;
		timeout = gov_bucket_timeout(slot);
		if (disabled || budget == 0 ||
			(timeout != GOV_NONE && waited_ms >= timeout))
		{
			gov_bucket_blocker(slot, now, &b);
			gov_bucket_cancel(slot, now);
			gov_count_rejected_locked(&b);
			LWLockRelease(gov->lock);
			gov_refuse(slot, &b, waited_ms / 1000.0,
					   budget == 0 && (timeout == GOV_NONE || waited_ms < timeout));
		}
		sleep_ms = timeout == GOV_NONE ? 1000 : (long) (timeout - waited_ms);
		next = gov_bucket_next_check(slot);
		LWLockRelease(gov->lock);

		if (next != 0)
			sleep_ms = Min(sleep_ms, TimestampDifferenceMilliseconds(now, next) + 1);
		if (budget > 0)
			sleep_ms = Min(sleep_ms, budget);
		if (gov_wait(Max(sleep_ms, 1), wait_event))
		{
			/* The client hung up: give the place back, tell the log, leave. */
			LWLockAcquire(gov->lock, LW_EXCLUSIVE);
			gov_bucket_blocker(slot, GetCurrentTimestamp(), &b);
			gov_bucket_cancel(slot, GetCurrentTimestamp());
			LWLockRelease(gov->lock);
			gov_event_record(&slot->id, b.rule >= 0 ? NameStr(b.rule_name) : NULL,
							 GOV_ACTION_ABANDON, "client_disconnected",
							 waited_ms / 1000.0, 0);
			whereToSendOutput = DestNone;
			ereport(FATAL,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("pg_governor: client disconnected while its login was queued")));
		}
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	gov_check_killed(slot);

	/* Booked like PgBouncer books client wait: once, when it is served. */
	gov_counter_add(&slot->counters.wait_time_us,
					(uint64) Max(slot->admit_time - slot->wait.start, 0));
}

/*
 * The login transaction committed: the session really started.  Its pool
 * is made now, and it counts as a connection.  COMMIT runs after the
 * point of no return: nothing there may throw.
 */
static void
gov_login_xact_callback(XactEvent event, void *arg)
{
	GovSlot    *slot = gov_my_slot;
	int			pool;

	if (gov_login_done || slot == NULL)
		return;
	/* A governor.kill() while it was admitted: the client can be told now. */
	if (event == XACT_EVENT_PRE_COMMIT)
		gov_check_killed(slot);
	if (event != XACT_EVENT_COMMIT)
		return;
	gov_login_done = true;
	/* Socket accepted to session ready, where the server records it (18+). */
	if (gov_conn_socket_create() != 0)
		gov_hist_observe_atomic(&gov->setup_hist,
								GetCurrentTimestamp() - gov_conn_socket_create());
	pool = gov_pool_get(&slot->id.key, GOV_POOL_CONNECTIONS);
	LWLockAcquire(gov->lock, LW_EXCLUSIVE);
	slot->pool = pool;
	LWLockRelease(gov->lock);
	/* Under max_active a server is assigned per transaction (active.c). */
	if (!slot->has_max_active)
		gov_counter_add(&slot->counters.assignments, 1);
	/* Killed since PRE_COMMIT: end the way a started session is ended. */
	if (pg_atomic_read_u32(&slot->kill_pending) != 0)
		(void) kill(MyProcPid, SIGTERM);
}

/*
 * Exit callback, on every exit path: leave any queue, give back every
 * place, fold the counters into the pool and free the slot, in one
 * gov->lock section.
 */
static void
gov_session_exit(int code, Datum arg)
{
	GovSlot    *slot = gov_my_slot;
	TimestampTz now;

	if (slot == NULL || gov == NULL)
		return;

	/* An error raised while holding a lock must not deadlock us here. */
	LWLockReleaseAll();

	gov_enforcement_session_exit(slot);
	now = GetCurrentTimestamp();
	LWLockAcquire(gov->lock, LW_EXCLUSIVE);
	gov_bucket_cancel(slot, now);
	gov_bucket_release(slot, GOV_BUCKET_ACTIVE, now);
	gov_bucket_release(slot, GOV_BUCKET_LOGIN, now);
	gov_pool_fold(slot);
	gov_registry_clear(slot);
	LWLockRelease(gov->lock);
	gov_my_slot = NULL;
	gov_my_slotno = -1;
}

/* Count a failed authentication; only real names may make a pool. */
static void
gov_count_auth_failed(Port *port)
{
	bool		real = OidIsValid(get_role_oid(port->user_name, true)) &&
		gov_database_exists(port->database_name);

	gov_pool_count_refused(port->database_name, port->user_name,
						   port->application_name ? port->application_name : "",
						   real, GOV_POOL_AUTH_FAILED);
}

static void
gov_client_auth(Port *port, int status)
{
	Oid			roleid;
	GovExemptReason exempt;

	if (prev_client_auth_hook)
		prev_client_auth_hook(port, status);
	if (gov == NULL)
		return;

	/* The circuit breaker sees every outcome (bans.c). */
	gov_bans_check(port, status);

	if (status != STATUS_OK)
	{
		/* A client hanging up before answering the challenge is no failure. */
		if (status != STATUS_EOF)
			gov_count_auth_failed(port);
		return;
	}

	/*
	 * A login that will fail anyway (no such role or database: trust, peer
	 * and cert authenticate before those are checked) never starts, so it
	 * is not governed and takes no row anywhere.
	 */
	roleid = get_role_oid(port->user_name, true);
	if (!OidIsValid(roleid))
		return;
	if (port->database_name[0] != '\0' && !gov_database_exists(port->database_name))
		return;

	exempt = gov_exemption(port, roleid);
	gov_bucket_prepare();
	before_shmem_exit(gov_session_exit, (Datum) 0);
	RegisterXactCallback(gov_login_xact_callback, NULL);
	gov_registry_claim(port, exempt, roleid);

	if (exempt != GOV_NOT_EXEMPT)
	{
		LWLockAcquire(gov->lock, LW_EXCLUSIVE);
		gov_match_rules(gov_my_slot);
		gov_my_slot->state = GOV_SLOT_ADMITTED;
		gov_my_slot->admit_time = GetCurrentTimestamp();
		LWLockRelease(gov->lock);
		return;
	}
	gov_admit(gov_my_slot);
}
