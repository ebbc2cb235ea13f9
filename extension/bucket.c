/*-------------------------------------------------------------------------
 *
 * bucket.c
 *		Bucket counts and wait queues, for logins (max_connections,
 *		max_login_rate) and for transactions (max_active): one mechanism
 *		for both.
 *
 * Invariant, owned here and nowhere else: a rule's count[kind] is the
 * number of sessions holding a place of that kind in it, and a session
 * waiting for a place sits in exactly one queue (or is held by a paused
 * database).  Everything runs under gov->lock LW_EXCLUSIVE.
 *
 * Order.  A queue is kept sorted by (priority desc, ticket asc); the
 * ticket is taken once, when the session starts waiting, and kept when it
 * moves.  A freed place goes to the first waiter that can use it (fifo),
 * or, in a queue_order = 'fair' rule, to the waiter of the best priority
 * whose pool holds the fewest places of the bucket, ties to the longest
 * waiter.  A newcomer may take a free place only when nobody waiting for
 * that bucket comes before it.
 *
 * Several buckets.  A session is admitted only when it fits all its
 * buckets at the same moment: it never holds a place in one while it
 * waits for another, so waiting cannot deadlock.  It waits in the queue of
 * the first bucket that blocks it; when that bucket can take it but
 * another cannot, it moves to the other's queue with its ticket, so it
 * stays ahead of everyone who came later.
 *
 * Hand-off.  Whoever frees a place (a session leaving, a transaction
 * ending, a reload, a resume) admits the waiters that can now go (takes
 * them off their queue) and sets their latches; nobody else wakes.  A waiter wakes
 * by itself only for its own timers (queue timeout, a reserve opening, a
 * login-rate token when it heads its queue).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "port/pg_bitutils.h"
#include "utils/memutils.h"

#include "bucket.h"
#include "registry.h"
#include "rules.h"

#define GOV_SLOTNO(slot)	((int) ((slot) - gov_slots))

/* Per-process scratch space (gov_bucket_prepare). */
static int *gov_scratch_slots = NULL;
static uint32 *gov_scratch_hash = NULL;
static int *gov_scratch_count = NULL;

void
gov_bucket_prepare(void)
{
	if (gov_scratch_slots != NULL)
		return;
	gov_scratch_slots = MemoryContextAlloc(TopMemoryContext, sizeof(int) * gov_nslots);
	gov_scratch_hash = MemoryContextAlloc(TopMemoryContext, sizeof(uint32) * gov_nslots);
	gov_scratch_count = MemoryContextAlloc(TopMemoryContext, sizeof(int) * gov_nslots);
}

/* Iterate the rule numbers set in a bitmap (below gov->nrules). */
#define GOV_FOREACH_RULE(bits, i) \
	for (int gov_w_ = 0; gov_w_ < GOV_RULE_WORDS; gov_w_++) \
		for (uint64 gov_b_ = (bits)[gov_w_]; \
			 gov_b_ != 0 && ((i) = gov_w_ * 64 + pg_rightmost_one_pos64(gov_b_)) < gov->nrules; \
			 gov_b_ &= gov_b_ - 1)

/* ----------------------------------------------------------------
 * Pause and disable flags
 * ----------------------------------------------------------------
 */
static GovDbFlag *
gov_db_flag(const char *dbname)
{
	int			i;

	for (i = 0; i < gov->ndbflags; i++)
		if (strcmp(NameStr(gov->dbflags[i].database), dbname) == 0)
			return &gov->dbflags[i];
	return NULL;
}

bool
gov_db_paused(const char *dbname)
{
	GovDbFlag  *f = gov_db_flag(dbname);

	return gov->all_paused || (f && f->paused);
}

bool
gov_db_disabled(const char *dbname)
{
	GovDbFlag  *f = gov_db_flag(dbname);

	return gov->all_disabled || (f && f->disabled);
}

/* ----------------------------------------------------------------
 * Queues
 * ----------------------------------------------------------------
 */

/* Does a come before b in a queue? */
static inline bool
gov_before(const GovSlot *a, const GovSlot *b)
{
	if (a->priority != b->priority)
		return a->priority > b->priority;
	return a->wait.ticket < b->wait.ticket;
}

static void
gov_queue_insert(GovSlot *slot, int rule)
{
	GovQueue   *q = &gov->rule_state[rule].queue[slot->wait.kind];
	int			me = GOV_SLOTNO(slot);
	int			after = q->tail;

	/* From the tail: a newcomer usually goes last. */
	while (after >= 0 && gov_before(slot, &gov_slots[after]))
		after = gov_slots[after].wait.prev;
	slot->wait.rule = rule;
	slot->wait.prev = after;
	slot->wait.next = after >= 0 ? gov_slots[after].wait.next : q->head;
	if (slot->wait.next >= 0)
		gov_slots[slot->wait.next].wait.prev = me;
	else
		q->tail = me;
	if (after >= 0)
		gov_slots[after].wait.next = me;
	else
		q->head = me;
	q->len++;
}

static void
gov_queue_remove(GovSlot *slot)
{
	GovQueue   *q;

	if (slot->wait.rule < 0)
		return;					/* held by a pause: in no queue */
	q = &gov->rule_state[slot->wait.rule].queue[slot->wait.kind];
	if (slot->wait.prev >= 0)
		gov_slots[slot->wait.prev].wait.next = slot->wait.next;
	else
		q->head = slot->wait.next;
	if (slot->wait.next >= 0)
		gov_slots[slot->wait.next].wait.prev = slot->wait.prev;
	else
		q->tail = slot->wait.prev;
	q->len--;
	slot->wait.rule = -1;
	slot->wait.prev = slot->wait.next = -1;
}

/* Stop waiting (granted or given up); the slot leaves its queue. */
static void
gov_wait_end(GovSlot *slot)
{
	if (!slot->wait.waiting)
		return;
	gov_queue_remove(slot);
	if (slot->wait.kind == GOV_BUCKET_LOGIN)
		gov->nqueued--;
	slot->wait.waiting = false;
}

/* Is a waiter of the bucket ahead of this session? */
static bool
gov_ahead(const GovSlot *slot, int rule, GovBucketKind kind)
{
	const GovQueue *q = &gov->rule_state[rule].queue[kind];
	const GovSlot *head;

	if (q->head < 0 || q->head == GOV_SLOTNO(slot))
		return false;
	head = &gov_slots[q->head];
	if (!slot->wait.waiting)
		return head->priority >= slot->priority;
	return gov_before(head, slot);
}

/* ----------------------------------------------------------------
 * Capacity
 * ----------------------------------------------------------------
 */
static int64
gov_waited_ms(const GovSlot *slot, TimestampTz now)
{
	if (!slot->wait.waiting || now <= slot->wait.start)
		return 0;
	return (now - slot->wait.start) / 1000;
}

/* Places of a login bucket for a session that has waited this long. */
static int
gov_login_cap(const GovRule *r, int64 waited_ms)
{
	int			cap = r->max_connections;

	if (r->reserve_connections > 0 && waited_ms >= r->reserve_timeout_ms)
		cap += r->reserve_connections;
	return cap;
}

/* Refill a rule's login-rate bucket (token bucket of login_burst). */
static void
gov_tokens_refill(const GovRule *r, GovRuleState *st, TimestampTz now)
{
	if (r->max_login_rate <= 0)
		return;
	if (st->tokens_time == 0 || now < st->tokens_time)
	{
		/* First use, or the clock stepped back: start from now. */
		if (st->tokens_time == 0)
			st->tokens = r->login_burst;
		st->tokens_time = now;
		return;
	}
	st->tokens = Min((double) r->login_burst,
					 st->tokens + r->max_login_rate * (now - st->tokens_time) / USECS_PER_SEC);
	st->tokens_time = now;
}

/* When the next token arrives. */
static TimestampTz
gov_tokens_next(const GovRule *r, const GovRuleState *st)
{
	double		need = 1.0 - st->tokens;

	if (need <= 0)
		return st->tokens_time;
	return st->tokens_time + (TimestampTz) ceil(need / r->max_login_rate * USECS_PER_SEC);
}

static void
gov_block_rule(GovBlock *b, GovBlockReason reason, int i, int cap, int in_use)
{
	b->reason = reason;
	b->rule = i;
	b->rule_name = gov->rules[i].name;
	b->cap = cap;
	b->in_use = in_use;
	b->rate = gov->rules[i].max_login_rate;
}

/*
 * Does the session fit every bucket of this kind now?  skip_rule is a
 * queue whose hand-off chose it (nobody there counts as ahead).  Fills *b
 * with the first blocker, and with a monitor rule that would block.
 */
static bool
gov_fits(GovSlot *slot, GovBucketKind kind, TimestampTz now, GovBlock *b,
		 int skip_rule)
{
	int64		waited_ms = gov_waited_ms(slot, now);
	const char *dbname = NameStr(slot->id.key.database);
	int			i;

	memset(b, 0, sizeof(*b));
	b->rule = -1;
	b->would_rule = -1;

	if (kind == GOV_BUCKET_LOGIN && gov_db_disabled(dbname))
	{
		b->reason = GOV_BLOCK_DISABLED;
		return false;
	}
	if (gov_db_paused(dbname))
	{
		b->reason = GOV_BLOCK_PAUSED;
		return false;
	}

	GOV_FOREACH_RULE(slot->rules, i)
	{
		const GovRule *r = &gov->rules[i];
		GovRuleState *st = &gov->rule_state[i];
		int			cap = 0;
		bool		full = false;
		bool		no_token = false;

		if (kind == GOV_BUCKET_LOGIN)
		{
			if (r->max_connections != GOV_NONE)
			{
				cap = gov_login_cap(r, waited_ms);
				full = st->count[kind] >= cap;
			}
			if (r->max_login_rate > 0)
			{
				gov_tokens_refill(r, st, now);
				no_token = st->tokens < 1.0;
			}
			if (r->max_connections == GOV_NONE && r->max_login_rate <= 0)
				continue;
		}
		else
		{
			if (r->max_active == GOV_NONE)
				continue;
			cap = r->max_active;
			full = st->count[kind] >= cap;
		}

		if (r->monitor)
		{
			if ((full || no_token) && b->would_rule < 0)
			{
				b->would_rule = i;
				b->would_name = r->name;
				b->would_cap = cap;
				b->would_in_use = st->count[kind];
				b->would_rate = no_token && !full;
			}
			continue;
		}
		if (full || no_token || (i != skip_rule && gov_ahead(slot, i, kind)))
		{
			gov_block_rule(b, no_token && !full ? GOV_BLOCK_RATE : GOV_BLOCK_CAP,
						   i, cap, st->count[kind]);
			return false;
		}
	}
	return true;
}

/*
 * Take a place of this kind in every bucket of the session, after a wait
 * of waited_us (0: none) in the queue of rule wait_rule: its histogram
 * records the wait, the others a pass without one.  A wait no rule caused
 * (a paused database, wait_rule -1) is recorded in all of them.
 */
static void
gov_take(GovSlot *slot, GovBucketKind kind, TimestampTz now, int wait_rule,
		 int64 waited_us)
{
	int			i;

	GOV_FOREACH_RULE(slot->rules, i)
	{
		const GovRule *r = &gov->rules[i];
		GovRuleState *st = &gov->rule_state[i];
		int64		waited = wait_rule < 0 || i == wait_rule ? waited_us : 0;

		if (kind == GOV_BUCKET_LOGIN)
		{
			st->count[kind]++;
			st->admitted++;
			gov_hist_observe(&st->wait_hist[kind], waited);
			if (r->max_login_rate > 0)
			{
				gov_tokens_refill(r, st, now);
				/* A monitor rule past its rate records; it does not go into debt. */
				if (st->tokens >= 1.0)
					st->tokens -= 1.0;
			}
		}
		else if (r->max_active != GOV_NONE)
		{
			st->count[kind]++;
			gov_hist_observe(&st->wait_hist[kind], waited);
			GOV_RULE_SET(slot->active_held, i);
			slot->holds_active = true;
			slot->active_since = now;
		}
	}
	if (kind == GOV_BUCKET_LOGIN)
	{
		slot->state = GOV_SLOT_ADMITTED;
		slot->admit_time = now;
	}
}

/* Grant a waiter its places: it leaves its queue and is woken. */
static void
gov_grant_to(GovSlot *slot, TimestampTz now)
{
	GovBucketKind kind = slot->wait.kind;
	int			rule = slot->wait.rule;
	int64		waited_us = Max(now - slot->wait.start, 0);

	gov_wait_end(slot);
	gov_take(slot, kind, now, rule, waited_us);
	gov_registry_wake(GOV_SLOTNO(slot));
}

/* ----------------------------------------------------------------
 * Hand-off
 * ----------------------------------------------------------------
 */
static int
gov_hash_cmp(const void *a, const void *b)
{
	uint32		x = *(const uint32 *) a;
	uint32		y = *(const uint32 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * queue_order = 'fair': of the candidates (same priority, queue order),
 * the one whose pool holds the fewest places of the bucket.
 */
static int
gov_pick_fair(int rule, GovBucketKind kind, const int *cand, int n)
{
	uint32	   *hashes = gov_scratch_hash;
	int		   *counts = gov_scratch_count;
	int			nd = 0;
	int			best = -1;
	int			best_count = 0;
	int			i,
				s;

	for (i = 0; i < n; i++)
		hashes[nd++] = gov_slots[cand[i]].key_hash;
	qsort(hashes, nd, sizeof(uint32), gov_hash_cmp);
	for (i = 0, s = 0; i < nd; i++)
		if (s == 0 || hashes[s - 1] != hashes[i])
			hashes[s++] = hashes[i];
	nd = s;
	memset(counts, 0, sizeof(int) * nd);

	for (s = 0; s < gov_nslots; s++)
	{
		const GovSlot *o = &gov_slots[s];
		uint32	   *hit;

		if (o->pid == 0)
			continue;
		if (kind == GOV_BUCKET_LOGIN ?
			!(o->state == GOV_SLOT_ADMITTED && o->exempt == GOV_NOT_EXEMPT &&
			  GOV_RULE_ISSET(o->rules, rule)) :
			!GOV_RULE_ISSET(o->active_held, rule))
			continue;
		hit = bsearch(&o->key_hash, hashes, nd, sizeof(uint32), gov_hash_cmp);
		if (hit)
			counts[hit - hashes]++;
	}

	/* In queue order, so ties go to the longest waiter. */
	for (i = 0; i < n; i++)
	{
		uint32	   *hit = bsearch(&gov_slots[cand[i]].key_hash, hashes, nd,
								  sizeof(uint32), gov_hash_cmp);
		int			c = counts[hit - hashes];

		if (best < 0 || c < best_count)
		{
			best = cand[i];
			best_count = c;
		}
	}
	return best;
}

/* The waiter of a queue that a free place should go to, -1 for none. */
static int
gov_pick(int rule, GovBucketKind kind, TimestampTz now)
{
	const GovRule *r = &gov->rules[rule];
	GovRuleState *st = &gov->rule_state[rule];
	int		   *cand = gov_scratch_slots;
	int			n = 0;
	int			i;

	if (kind == GOV_BUCKET_LOGIN && r->max_login_rate > 0)
	{
		gov_tokens_refill(r, st, now);
		if (st->tokens < 1.0)
			return -1;
	}
	if (kind == GOV_BUCKET_ACTIVE && r->max_active != GOV_NONE &&
		st->count[kind] >= r->max_active)
		return -1;

	for (i = st->queue[kind].head; i >= 0; i = gov_slots[i].wait.next)
	{
		GovSlot    *w = &gov_slots[i];

		if (n > 0 && w->priority < gov_slots[cand[0]].priority)
			break;
		/* Leaving anyway: killed, or its database was disabled. */
		if (pg_atomic_read_u32(&w->signalled) != 0 ||
			(kind == GOV_BUCKET_LOGIN && gov_db_disabled(NameStr(w->id.key.database))))
			continue;
		if (kind == GOV_BUCKET_LOGIN && r->max_connections != GOV_NONE &&
			st->count[kind] >= gov_login_cap(r, gov_waited_ms(w, now)))
			continue;			/* only a longer waiter may use the reserve */
		if (r->queue_order == GOV_ORDER_FIFO)
			return i;
		cand[n++] = i;
	}
	if (n <= 1)
		return n == 1 ? cand[0] : -1;
	return gov_pick_fair(rule, kind, cand, n);
}

/* Hand what a bucket can take now to its waiters, in order. */
static void
gov_grant(int rule, GovBucketKind kind, TimestampTz now)
{
	GovRuleState *st = &gov->rule_state[rule];
	int			guard = st->queue[kind].len + 1;

	while (guard-- > 0 && st->queue[kind].head >= 0)
	{
		int			w = gov_pick(rule, kind, now);
		GovSlot    *slot;
		GovBlock	b;

		if (w < 0)
			break;
		slot = &gov_slots[w];
		if (gov_fits(slot, kind, now, &b, rule))
		{
			gov_grant_to(slot, now);
			continue;
		}
		/* Another bucket (or a pause) blocks it: it waits there, in its place. */
		gov_queue_remove(slot);
		if (b.reason == GOV_BLOCK_CAP || b.reason == GOV_BLOCK_RATE)
			gov_queue_insert(slot, b.rule);
		gov_registry_wake(w);	/* its timers changed */
	}
	/* The head of a rate-limited queue sleeps until the next token. */
	if (kind == GOV_BUCKET_LOGIN && gov->rules[rule].max_login_rate > 0 &&
		st->queue[kind].head >= 0)
		gov_registry_wake(st->queue[kind].head);
}

/*
 * Place waiters that are in no queue (after a reload, or held by a pause
 * that ended) in order: admit those that fit, queue the others.
 */
static int
gov_order_cmp(const void *a, const void *b)
{
	const GovSlot *x = &gov_slots[*(const int *) a];
	const GovSlot *y = &gov_slots[*(const int *) b];

	return gov_before(x, y) ? -1 : gov_before(y, x) ? 1 : 0;
}

static void
gov_rehome(int *list, int n, TimestampTz now)
{
	int			k;

	qsort(list, n, sizeof(int), gov_order_cmp);
	for (k = 0; k < n; k++)
	{
		GovSlot    *slot = &gov_slots[list[k]];
		GovBlock	b;

		if (gov_fits(slot, slot->wait.kind, now, &b, -1))
			gov_grant_to(slot, now);
		else if (b.reason == GOV_BLOCK_CAP || b.reason == GOV_BLOCK_RATE)
		{
			gov_queue_insert(slot, b.rule);
			gov_registry_wake(list[k]);
		}
		else
			gov_registry_wake(list[k]); /* paused or disabled: it decides */
	}
}

/* ----------------------------------------------------------------
 * API
 * ----------------------------------------------------------------
 */
bool
gov_bucket_try(GovSlot *slot, GovBucketKind kind, TimestampTz now, GovBlock *b)
{
	Assert(!slot->wait.waiting);
	if (!gov_fits(slot, kind, now, b, -1))
		return false;
	gov_take(slot, kind, now, -1, 0);
	return true;
}

void
gov_bucket_wait(GovSlot *slot, GovBucketKind kind, const GovBlock *b,
				TimestampTz now)
{
	Assert(!slot->wait.waiting);
	slot->wait.kind = kind;
	slot->wait.waiting = true;
	slot->wait.ticket = gov->next_ticket++;
	slot->wait.start = now;
	slot->wait.rule = -1;
	slot->wait.prev = slot->wait.next = -1;
	if (kind == GOV_BUCKET_LOGIN)
	{
		slot->state = GOV_SLOT_WAITING;
		gov->nqueued++;
	}
	if (b->reason == GOV_BLOCK_CAP || b->reason == GOV_BLOCK_RATE)
	{
		gov_queue_insert(slot, b->rule);
		if (kind == GOV_BUCKET_ACTIVE)
			gov->rule_state[b->rule].active_waits++;
	}
}

void
gov_bucket_poll(GovSlot *slot, TimestampTz now)
{
	if (slot->wait.waiting)
	{
		if (slot->wait.rule >= 0)
			gov_grant(slot->wait.rule, slot->wait.kind, now);
		else
		{
			GovBlock	b;

			/* Held by a pause: it may go, or join the queue that blocks it. */
			if (gov_fits(slot, slot->wait.kind, now, &b, -1))
				gov_grant_to(slot, now);
			else if (b.reason == GOV_BLOCK_CAP || b.reason == GOV_BLOCK_RATE)
				gov_queue_insert(slot, b.rule);
		}
	}
}

void
gov_bucket_cancel(GovSlot *slot, TimestampTz now)
{
	int			rule = slot->wait.rule;
	GovBucketKind kind = slot->wait.kind;
	bool		was_head;

	if (!slot->wait.waiting)
		return;
	was_head = rule >= 0 && gov->rule_state[rule].queue[kind].head == GOV_SLOTNO(slot);
	/*
	 * A wait that ended without a place counts in the histogram of the
	 * rule it waited on (in all of them for a paused database).
	 */
	{
		int64		waited_us = Max(now - slot->wait.start, 0);
		int			i;

		GOV_FOREACH_RULE(slot->rules, i)
			if ((rule < 0 || i == rule) &&
				(kind == GOV_BUCKET_LOGIN || gov->rules[i].max_active != GOV_NONE))
				gov_hist_observe(&gov->rule_state[i].wait_hist[kind], waited_us);
	}
	gov_wait_end(slot);
	if (slot->state == GOV_SLOT_WAITING)
		slot->state = GOV_SLOT_LOGIN;
	/* Whoever was behind may go now (it may have been blocked only by us). */
	if (was_head)
		gov_grant(rule, kind, now);
}

void
gov_bucket_release(GovSlot *slot, GovBucketKind kind, TimestampTz now)
{
	uint64		bits[GOV_RULE_WORDS];
	int			i;

	if (kind == GOV_BUCKET_LOGIN)
	{
		if (slot->state != GOV_SLOT_ADMITTED || slot->exempt != GOV_NOT_EXEMPT)
			return;
		memcpy(bits, slot->rules, sizeof(bits));
	}
	else
	{
		if (!slot->holds_active)
			return;
		memcpy(bits, slot->active_held, sizeof(bits));
		memset(slot->active_held, 0, sizeof(slot->active_held));
		slot->holds_active = false;
		slot->active_lxid = InvalidLocalTransactionId;
	}

	GOV_FOREACH_RULE(bits, i)
		if (gov->rule_state[i].count[kind] > 0)
			gov->rule_state[i].count[kind]--;
	if (kind == GOV_BUCKET_LOGIN)
		slot->state = GOV_SLOT_LOGIN;

	/* Evicted for a waiting login: that login gets the place first. */
	if (kind == GOV_BUCKET_LOGIN && slot->evicted_for >= 0)
	{
		GovSlot    *w = &gov_slots[slot->evicted_for];
		GovBlock	b;

		/* A reload resets both (gov_bucket_install): the index holds. */
		if (gov->rule_state[slot->evicted_by].evictions > 0)
			gov->rule_state[slot->evicted_by].evictions--;
		if (w->pid != 0 && w->wait.waiting && w->wait.kind == GOV_BUCKET_LOGIN &&
			gov_fits(w, GOV_BUCKET_LOGIN, now, &b, w->wait.rule))
			gov_grant_to(w, now);
		slot->evicted_for = -1;
	}

	GOV_FOREACH_RULE(bits, i)
		if (gov->rule_state[i].queue[kind].head >= 0)
			gov_grant(i, kind, now);
}

void
gov_bucket_blocker(const GovSlot *slot, TimestampTz now, GovBlock *b)
{
	int			rule = slot->wait.rule;

	memset(b, 0, sizeof(*b));
	b->rule = -1;
	b->would_rule = -1;
	if (slot->wait.kind == GOV_BUCKET_LOGIN && gov_db_disabled(NameStr(slot->id.key.database)))
	{
		b->reason = GOV_BLOCK_DISABLED;
		return;
	}
	if (!slot->wait.waiting || rule < 0)
	{
		b->reason = GOV_BLOCK_PAUSED;
		return;
	}
	if (slot->wait.kind == GOV_BUCKET_LOGIN)
	{
		const GovRule *r = &gov->rules[rule];
		GovRuleState *st = &gov->rule_state[rule];
		bool		full = r->max_connections != GOV_NONE &&
			st->count[GOV_BUCKET_LOGIN] >= gov_login_cap(r, gov_waited_ms(slot, now));

		gov_tokens_refill(r, st, now);
		gov_block_rule(b, !full && r->max_login_rate > 0 && st->tokens < 1.0 ?
					   GOV_BLOCK_RATE : GOV_BLOCK_CAP, rule,
					   r->max_connections == GOV_NONE ? 0 :
					   gov_login_cap(r, gov_waited_ms(slot, now)),
					   st->count[GOV_BUCKET_LOGIN]);
	}
	else
		gov_block_rule(b, GOV_BLOCK_CAP, rule, gov->rules[rule].max_active,
					   gov->rule_state[rule].count[GOV_BUCKET_ACTIVE]);
}

TimestampTz
gov_bucket_next_check(const GovSlot *slot)
{
	int			rule = slot->wait.rule;
	const GovRule *r;
	const GovRuleState *st;
	TimestampTz t = 0;

	if (!slot->wait.waiting || rule < 0 || slot->wait.kind != GOV_BUCKET_LOGIN)
		return 0;
	r = &gov->rules[rule];
	st = &gov->rule_state[rule];
	if (r->reserve_connections > 0 && r->reserve_timeout_ms != GOV_NONE)
	{
		TimestampTz open = slot->wait.start + r->reserve_timeout_ms * 1000;

		if (open > slot->wait.start && gov_waited_ms(slot, GetCurrentTimestamp()) < r->reserve_timeout_ms)
			t = open;
	}
	if (r->max_login_rate > 0 && st->queue[GOV_BUCKET_LOGIN].head == GOV_SLOTNO(slot) &&
		st->tokens < 1.0)
	{
		TimestampTz next = gov_tokens_next(r, st);

		if (t == 0 || next < t)
			t = next;
	}
	return t;
}

int64
gov_bucket_timeout(const GovSlot *slot)
{
	if (!slot->wait.waiting || slot->wait.rule < 0)
		return GOV_NONE;
	return gov_rule_queue_timeout(&gov->rules[slot->wait.rule]);
}

void
gov_bucket_install(const GovRule *rules, int nrules,
				   GovRule *old_rules, GovRuleState *old_state)
{
	TimestampTz now = GetCurrentTimestamp();
	int			map[GOV_MAX_RULES_LIMIT];
	int		   *waiters = gov_scratch_slots;
	int			nwaiters = 0;
	int			old_n = gov->nrules;
	int			i,
				j,
				s;

	Assert(gov_scratch_slots != NULL);
	memcpy(old_rules, gov->rules, sizeof(GovRule) * old_n);
	memcpy(old_state, gov->rule_state, sizeof(GovRuleState) * old_n);

	memcpy(gov->rules, rules, sizeof(GovRule) * nrules);
	memset(gov->rule_state, 0, sizeof(GovRuleState) * nrules);
	gov->nrules = nrules;
	for (j = 0; j < old_n; j++)
		map[j] = -1;
	for (i = 0; i < nrules; i++)
	{
		GovRuleState *st = &gov->rule_state[i];

		for (j = 0; j < old_n; j++)
			if (strcmp(NameStr(old_rules[j].name), NameStr(rules[i].name)) == 0)
			{
				*st = old_state[j];
				map[j] = i;
				break;
			}
		memset(st->count, 0, sizeof(st->count));
		st->evictions = 0;
		for (j = 0; j < GOV_NUM_BUCKET_KINDS; j++)
			st->queue[j].head = st->queue[j].tail = -1, st->queue[j].len = 0;
	}
	gov->nqueued = 0;

	for (s = 0; s < gov_nslots; s++)
	{
		GovSlot    *slot = &gov_slots[s];
		uint64		held[GOV_RULE_WORDS];

		if (slot->pid == 0)
			continue;
		/* Active places held follow their rule by name. */
		memcpy(held, slot->active_held, sizeof(held));
		memset(slot->active_held, 0, sizeof(slot->active_held));
		slot->holds_active = false;
		for (j = 0; j < old_n; j++)
			if (GOV_RULE_ISSET(held, j) && map[j] >= 0 &&
				gov->rules[map[j]].max_active != GOV_NONE)
			{
				GOV_RULE_SET(slot->active_held, map[j]);
				gov->rule_state[map[j]].count[GOV_BUCKET_ACTIVE]++;
				slot->holds_active = true;
			}
		gov_match_rules(slot);
		slot->evicted_for = -1;
		if (slot->exempt != GOV_NOT_EXEMPT)
			continue;
		if (slot->state == GOV_SLOT_ADMITTED)
			GOV_FOREACH_RULE(slot->rules, i)
				gov->rule_state[i].count[GOV_BUCKET_LOGIN]++;
		if (slot->wait.waiting)
		{
			slot->wait.rule = -1;
			slot->wait.prev = slot->wait.next = -1;
			if (slot->wait.kind == GOV_BUCKET_LOGIN)
				gov->nqueued++;
			waiters[nwaiters++] = s;
		}
	}
	gov_rehome(waiters, nwaiters, now);
}

bool
gov_db_set_flags(const char *dbname, bool set_paused, bool paused,
				 bool set_disabled, bool disabled)
{
	int		   *held = gov_scratch_slots;
	int			nheld = 0;
	int			i;

	Assert(gov_scratch_slots != NULL);
	if (dbname == NULL)
	{
		if (set_paused)
			gov->all_paused = paused;
		if (set_disabled)
			gov->all_disabled = disabled;
		/* Clearing for all databases also clears each database's flag. */
		for (i = 0; i < gov->ndbflags; i++)
		{
			if (set_paused && !paused)
				gov->dbflags[i].paused = false;
			if (set_disabled && !disabled)
				gov->dbflags[i].disabled = false;
		}
	}
	else
	{
		GovDbFlag  *f = gov_db_flag(dbname);

		if (f == NULL)
		{
			/* Reuse an entry with no flag set before taking a new one. */
			for (i = 0; i < gov->ndbflags && f == NULL; i++)
				if (!gov->dbflags[i].paused && !gov->dbflags[i].disabled)
					f = &gov->dbflags[i];
			if (f == NULL && gov->ndbflags < GOV_MAX_DB_FLAGS)
				f = &gov->dbflags[gov->ndbflags++];
			if (f == NULL)
				return false;
			memset(f, 0, sizeof(*f));
			strlcpy(NameStr(f->database), dbname, NAMEDATALEN);
		}
		if (set_paused)
			f->paused = paused;
		if (set_disabled)
			f->disabled = disabled;
	}

	/*
	 * Waiters held by a pause that ended take their places in order;
	 * waiters of a disabled database are woken to leave.
	 */
	for (i = 0; i < gov_nslots; i++)
	{
		GovSlot    *slot = &gov_slots[i];

		if (slot->pid == 0 || !slot->wait.waiting)
			continue;
		if (dbname != NULL && strcmp(NameStr(slot->id.key.database), dbname) != 0)
			continue;
		if (slot->wait.rule < 0 && !gov_db_paused(NameStr(slot->id.key.database)))
			held[nheld++] = i;
		else if (set_disabled && disabled)
			gov_registry_wake(i);
	}
	gov_rehome(held, nheld, GetCurrentTimestamp());
	return true;
}
