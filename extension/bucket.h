/*-------------------------------------------------------------------------
 *
 * bucket.h
 *		Bucket counts and wait queues: the only code that writes
 *		GovRuleState.count[] and .queue[], and a session's GovWait.
 *
 * Every function here but gov_bucket_prepare runs with gov->lock held
 * exclusively, does work bounded by the number of rules and the length of
 * one queue (or, for a reload or a resume, the number of sessions),
 * allocates nothing and cannot fail.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOV_BUCKET_H
#define GOV_BUCKET_H

#include "pg_governor.h"

typedef enum GovBlockReason
{
	GOV_BLOCK_NONE = 0,
	GOV_BLOCK_PAUSED,			/* the database is paused */
	GOV_BLOCK_DISABLED,			/* the database is disabled */
	GOV_BLOCK_CAP,				/* a bucket is full */
	GOV_BLOCK_RATE				/* a rule's login rate is used up */
} GovBlockReason;

/* Why a session does not fit now, for the wait and for the refusal. */
typedef struct GovBlock
{
	GovBlockReason reason;
	int			rule;			/* blocking rule, -1 = none */
	NameData	rule_name;
	int			cap;
	int			in_use;
	double		rate;			/* GOV_BLOCK_RATE: the rule's login rate */
	/* A monitor-mode rule that would have blocked, -1 = none. */
	int			would_rule;
	NameData	would_name;
	int			would_cap;
	int			would_in_use;
	bool		would_rate;
} GovBlock;

/*
 * Take a place in every bucket of the given kind that applies to the
 * session, if it fits them all now and nobody waiting for them comes
 * first; a login becomes GOV_SLOT_ADMITTED.  Otherwise fill *b and
 * change nothing.
 */
extern bool gov_bucket_try(GovSlot *slot, GovBucketKind kind, TimestampTz now,
						   GovBlock *b);

/* Queue a session that did not fit (b from gov_bucket_try). */
extern void gov_bucket_wait(GovSlot *slot, GovBucketKind kind,
							const GovBlock *b, TimestampTz now);

/*
 * A waiter woke by itself (a timer, a reload, a resume): hand out what
 * its queue can get now, which may admit it (slot->wait.waiting clears).
 */
extern void gov_bucket_poll(GovSlot *slot, TimestampTz now);

/* Leave the queue without a place (timeout, refusal, exit). */
extern void gov_bucket_cancel(GovSlot *slot, TimestampTz now);

/* Give back the session's places of one kind and hand them to waiters. */
extern void gov_bucket_release(GovSlot *slot, GovBucketKind kind, TimestampTz now);

/* What blocks a queued session now (for its refusal message). */
extern void gov_bucket_blocker(const GovSlot *slot, TimestampTz now, GovBlock *b);

/*
 * When a queued session's wait could end without anyone leaving: a
 * reserve opening, or a login-rate token for the head of its queue.  0 =
 * only a release or its timeout will end it.
 */
extern TimestampTz gov_bucket_next_check(const GovSlot *slot);

/* Queue timeout of the rule a session waits in, in ms (GOV_NONE: pause). */
extern int64 gov_bucket_timeout(const GovSlot *slot);

/*
 * Install newly read rules: carry each rule's state over by name,
 * re-match every session, recount the buckets, rebuild the queues in
 * order and admit whoever now fits.  old_rules and old_state are scratch
 * space of governor.max_rules entries each.
 */
extern void gov_bucket_install(const GovRule *rules, int nrules,
							   GovRule *old_rules, GovRuleState *old_state);

/*
 * Pause, resume, disable, enable (NULL dbname = every database).  False
 * when no room is left to name another database.
 */
extern bool gov_db_set_flags(const char *dbname, bool set_paused, bool paused,
							 bool set_disabled, bool disabled);
extern bool gov_db_paused(const char *dbname);
extern bool gov_db_disabled(const char *dbname);

/*
 * Allocate this process's scratch space (once); call before taking
 * gov->lock in any process that may release, resume or install.
 */
extern void gov_bucket_prepare(void);

#endif							/* GOV_BUCKET_H */
