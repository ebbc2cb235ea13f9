/*-------------------------------------------------------------------------
 *
 * active.c
 *		Active-transaction slots (max_active): PgBouncer's transaction
 *		pooling without the pooler.  Every client connection stays a real
 *		session; what is bounded is how many of a rule's sessions are inside
 *		a transaction at once.
 *
 * A session governed by a max_active rule takes a slot of each such rule
 * when its transaction starts and gives them back when it ends.  Where:
 *	- an explicit BEGIN / START TRANSACTION: in the utility hook, before
 *	  the command runs, so a waiting session holds no lock and has no
 *	  snapshot yet;
 *	- an implicit transaction (a statement outside BEGIN, in the simple or
 *	  the extended protocol, a pipeline up to its Sync): at the first
 *	  statement's ExecutorStart or utility hook.  By then the server has
 *	  parsed and planned the statement, so it holds the relation locks of
 *	  that statement (ACCESS SHARE / ROW EXCLUSIVE, which only DDL
 *	  conflicts with) and its snapshot; no hook runs earlier for a
 *	  prepared statement's Bind/Execute.
 * The slot is returned at COMMIT, ROLLBACK, PREPARE TRANSACTION, an error
 * that ends the transaction (transaction callback) or the session's end
 * (exit callback, admission.c).  A session inside a transaction never
 * waits again until it ends: the slot is held per local transaction id.
 *
 * Waiting uses the queues of bucket.c (priority, then fifo or fair), on
 * the session's latch, set only when a slot is handed to it; the wait is
 * a statement's wait, so statement_timeout, pg_cancel_backend and
 * pg_terminate_backend end it, and the rule's queue timeout ends it with
 * ERROR 53400.  Sessions under no max_active rule reach none of this: the
 * hooks test one flag of their slot.
 *
 * Locks: gov->lock LW_EXCLUSIVE around each bucket call; never held
 * across the wait.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/proc.h"

#include "active.h"
#include "bucket.h"
#include "enforcement.h"
#include "events.h"
#include "rules.h"

/* Monitor rules record would_wait at most this often per rule. */
#define GOV_WOULD_WAIT_EVENT_MS 1000

/* A transaction that needs no slot (exempt, or no max_active rule now). */
static LocalTransactionId gov_no_slot_lxid = InvalidLocalTransactionId;

TimestampTz gov_active_wait_end = 0;
int64		gov_active_waited_us = 0;

/*
 * A slot taken: one server assignment, and the wait booked like
 * PgBouncer's client wait (time before being served), which the
 * transaction's and the statement's times leave out (counters.c).
 */
static void
gov_active_booked(GovSlot *slot, int64 waited_us, TimestampTz now)
{
	GovCounters *c = &slot->counters;

	gov_counter_add(&c->assignments, 1);
	if (waited_us > 0)
	{
		gov_counter_add(&c->wait_time_us, (uint64) waited_us);
		gov_active_waited_us += waited_us;
		gov_active_wait_end = now;
	}
}

/*
 * Count a monitor rule's would-be wait, under the gov->lock the caller
 * holds; true when an event is due (at most once a second).
 */
static bool
gov_would_wait_locked(const GovBlock *b, TimestampTz now)
{
	GovRuleState *st = &gov->rule_state[b->would_rule];

	st->would_wait++;
	if (!TimestampDifferenceExceeds(st->would_wait_time, now, GOV_WOULD_WAIT_EVENT_MS))
		return false;
	st->would_wait_time = now;
	return true;
}

/*
 * The wait timed out: the transaction does not start.  The caller counted
 * the timeout under its lock.
 */
pg_noreturn static void
gov_active_refuse(const GovBlock *b, double waited_s)
{
	const char *rule = b->rule >= 0 ? NameStr(b->rule_name) : NULL;

	gov_event_record(&gov_my_slot->id, rule, GOV_ACTION_REJECT,
					 b->reason == GOV_BLOCK_PAUSED ? "database_paused" : "max_active",
					 waited_s, b->cap);
	if (b->reason == GOV_BLOCK_PAUSED)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("pg_governor: database \"%s\" is paused", NameStr(gov_my_slot->id.key.database)),
				 errdetail("The transaction waited %.3f s for governor.resume().", waited_s),
				 errhint("Retry after the administrator resumes the database.")));
	ereport(ERROR,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("too many active transactions for pg_governor rule \"%s\"", rule ? rule : "?"),
			 errdetail("The rule allows %d sessions inside a transaction at once (max_active), %d are; this transaction waited %.3f s for a slot.",
					   b->cap, b->in_use, waited_s),
			 errhint("Retry the transaction, or raise max_active or queue_timeout of the rule in governor.rules.")));
	pg_unreachable();
}

void
gov_active_begin(void)
{
	GovSlot    *slot = gov_my_slot;
	LocalTransactionId lxid = gov_proc_lxid(MyProc);
	uint32		wait_event;
	TimestampTz now;
	GovBlock	b;
	int64		timeout;

	if ((slot->holds_active && slot->active_lxid == lxid) || lxid == gov_no_slot_lxid)
		return;
	if (slot->exempt != GOV_NOT_EXEMPT || slot->state != GOV_SLOT_ADMITTED)
	{
		gov_no_slot_lxid = lxid;
		return;
	}

	now = GetCurrentTimestamp();
	LWLockAcquire(gov->lock, LW_EXCLUSIVE);
	if (!slot->has_max_active)
	{
		LWLockRelease(gov->lock);
		gov_no_slot_lxid = lxid;
		return;
	}
	if (gov_bucket_try(slot, GOV_BUCKET_ACTIVE, now, &b))
	{
		bool		would_event = b.would_rule >= 0 && gov_would_wait_locked(&b, now);

		slot->active_lxid = lxid;
		LWLockRelease(gov->lock);
		gov_active_booked(slot, 0, now);
		if (would_event)
			gov_event_record(&slot->id, NameStr(b.would_name), GOV_ACTION_WOULD_WAIT,
							 "max_active", b.would_in_use, b.would_cap);
		return;
	}
	timeout = b.reason == GOV_BLOCK_PAUSED ? GOV_NONE :
		gov_rule_queue_timeout(&gov->rules[b.rule]);
	if (timeout == 0)
	{
		gov->rule_state[b.rule].active_timeouts++;
		LWLockRelease(gov->lock);
		gov_active_refuse(&b, 0);
	}
	gov_bucket_wait(slot, GOV_BUCKET_ACTIVE, &b, now);
	LWLockRelease(gov->lock);
	gov_xact_timeout_hold();

	/*
	 * Wait for a slot.  An error raised here (statement_timeout, cancel)
	 * aborts the transaction, whose callback takes us out of the queue
	 * (gov_active_end); a FATAL's exit callback does the same.
	 */
	wait_event = gov_wait_event("GovernorActiveSlot");
	for (;;)
	{
		int64		waited_ms;
		long		sleep_ms;

		CHECK_FOR_INTERRUPTS();
		now = GetCurrentTimestamp();
		LWLockAcquire(gov->lock, LW_EXCLUSIVE);
		if (slot->wait.waiting)
			gov_bucket_poll(slot, now);
		if (!slot->wait.waiting)
		{
			Assert(slot->holds_active);
			slot->active_lxid = lxid;
			LWLockRelease(gov->lock);
			gov_xact_timeout_restart();
			gov_active_booked(slot, Max(now - slot->wait.start, 0), now);
			return;
		}
		waited_ms = Max(now - slot->wait.start, 0) / 1000;
		timeout = gov_bucket_timeout(slot);
		if (timeout != GOV_NONE && waited_ms >= timeout)
		{
			gov_bucket_blocker(slot, now, &b);
			gov_bucket_cancel(slot, now);
			if (b.rule >= 0)
				gov->rule_state[b.rule].active_timeouts++;
			LWLockRelease(gov->lock);
			gov_active_refuse(&b, waited_ms / 1000.0);
		}
		sleep_ms = timeout == GOV_NONE ? 1000 : (long) (timeout - waited_ms);
		LWLockRelease(gov->lock);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Max(sleep_ms, 1), wait_event);
		ResetLatch(MyLatch);
	}
}

void
gov_active_end(void)
{
	GovSlot    *slot = gov_my_slot;
	TimestampTz now = GetCurrentTimestamp();

	LWLockAcquire(gov->lock, LW_EXCLUSIVE);
	if (slot->wait.waiting && slot->wait.kind == GOV_BUCKET_ACTIVE)
		gov_bucket_cancel(slot, now);
	gov_bucket_release(slot, GOV_BUCKET_ACTIVE, now);
	LWLockRelease(gov->lock);
}
