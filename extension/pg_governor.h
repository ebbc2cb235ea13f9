/*-------------------------------------------------------------------------
 *
 * pg_governor.h
 *		The shared-memory layout and the lock order.  Module APIs live in
 *		each module's own header.
 *
 * Shared state (created in pg_governor.c at shmem startup, sized from
 * settings; a crash-restart recreates it, which frees crashed slots):
 *
 *	GovShared		 one struct: locks, worker state, pause/disable flags,
 *					 the compiled rules and their per-rule state (bucket
 *					 counts, wait queues, totals).
 *	GovSlot[]		 one per backend (MaxBackends), indexed by PGPROC number.
 *	GovPool[]		 (database, user, application_name) -> totals, bounded
 *					 by governor.max_pools plus one overflow row; hashed.
 *	GovEvent[]		 ring of the last governor.max_events actions.
 *	GovBan[]		 authentication failures and bans (bans.c).
 *
 * Locks, in the order they may be taken (never the other way round, none
 * held across a wait, none held while running client-sized work):
 *	gov->lock		 registry membership and state of every slot, rules,
 *					 rule state (bucket counts and queues, only through
 *					 bucket.c), pause/disable flags.  Exclusive to change,
 *					 shared to read a consistent picture.
 *	gov->pools_lock	 pool table: entries and totals.
 *	gov->bans_lock	 authentication failure table.
 *	gov->events_lock event ring.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_GOVERNOR_H
#define PG_GOVERNOR_H

#include "postgres.h"

#include "libpq/pqcomm.h"
#include "port/atomics.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "histogram.h"
#include "vocabulary.h"
#include "match.h"

#define GOV_EXTENSION_NAME	"pg_governor"
#define GOV_VERSION			"1.1"

/* governor.max_rules may not exceed this: a slot's rule set is a bitmap. */
#define GOV_MAX_RULES_LIMIT 1024
#define GOV_RULE_WORDS		(GOV_MAX_RULES_LIMIT / 64)
#define GOV_MAX_DB_FLAGS	64		/* databases paused/disabled by name */
#define GOV_ADDR_LEN		64
#define GOV_TEXT_LEN		256

/* The most sessions a server can have (PostgreSQL's MAX_BACKENDS). */
#define GOV_MAX_SESSIONS	0x3FFFF

/* No limit / no cap, for the int64 millisecond and int fields below. */
#define GOV_NONE			(-1)

/* ----------------------------------------------------------------
 * Rules, as compiled by the worker from governor.rules (rules.c)
 * ----------------------------------------------------------------
 */
typedef enum GovQueueOrder
{
	GOV_ORDER_FIFO = 0,
	GOV_ORDER_FAIR
} GovQueueOrder;

typedef struct GovRule
{
	NameData	name;
	bool		has_database;
	NameData	database;
	bool		has_role;
	NameData	role;
	bool		has_appname;
	GovLikePattern appname;
	bool		has_addr;
	GovCidr		addr;
	int			max_connections;	/* GOV_NONE = no cap */
	int			reserve_connections;	/* 0 = none */
	int64		reserve_timeout_ms;
	int64		queue_timeout_ms;	/* GOV_NONE = governor.queue_timeout */
	int			max_active;		/* GOV_NONE = no cap */
	int64		limit_ms[GOV_NUM_LIMITS];	/* GOV_NONE = no limit */
	double		max_login_rate; /* logins per second, 0 = no limit */
	int			login_burst;
	GovQueueOrder queue_order;
	int64		evict_idle_after_ms;	/* GOV_NONE = never */
	int			priority;
	bool		monitor;		/* mode = 'monitor' */
	/* Why the row can never match (bad values loaded unchecked); "" = ok. */
	char		invalid[GOV_TEXT_LEN];
} GovRule;

/* The two kinds of bucket each rule may have, and their wait queues. */
typedef enum GovBucketKind
{
	GOV_BUCKET_LOGIN = 0,		/* max_connections: admitted sessions */
	GOV_BUCKET_ACTIVE,			/* max_active: sessions inside a transaction */
	GOV_NUM_BUCKET_KINDS
} GovBucketKind;

/* A wait queue: slots linked through GovSlot.wait, best first. */
typedef struct GovQueue
{
	int			head;			/* slot number, -1 = empty */
	int			tail;
	int			len;
} GovQueue;

/*
 * Live state of one rule.  Counts and queues are written only by
 * bucket.c; totals survive reloads (matched by name).
 */
typedef struct GovRuleState
{
	int			count[GOV_NUM_BUCKET_KINDS];	/* in_use, active held */
	GovQueue	queue[GOV_NUM_BUCKET_KINDS];
	double		tokens;			/* login rate bucket */
	TimestampTz tokens_time;
	int			evictions;		/* evictions signalled, not yet exited */

	uint64		admitted;
	uint64		rejected;
	uint64		rejected_rate;
	uint64		would_reject;
	uint64		terminated[GOV_NUM_END_KINDS];
	uint64		would_terminate[GOV_NUM_LIMITS];
	uint64		active_waits;
	uint64		active_timeouts;
	uint64		would_wait;
	TimestampTz would_wait_time;	/* last would_wait event */
	GovHistogram wait_hist[GOV_NUM_BUCKET_KINDS];	/* waits for a place, ended either way */

	/* Set by the worker: why the rule matches nobody now; "" = fine. */
	char		problem[GOV_TEXT_LEN];
	Oid			role_oid;		/* last resolution of role / database */
	Oid			database_oid;
} GovRuleState;

/* ----------------------------------------------------------------
 * Sessions (registry.c)
 * ----------------------------------------------------------------
 */
typedef enum GovSlotState
{
	GOV_SLOT_FREE = 0,
	GOV_SLOT_LOGIN,				/* authenticated, admission not decided yet */
	GOV_SLOT_WAITING,			/* queued at login */
	GOV_SLOT_ADMITTED
} GovSlotState;

/* Why a session is exempt; 0 = governed. */
typedef enum GovExemptReason
{
	GOV_NOT_EXEMPT = 0,
	GOV_EXEMPT_SUPERUSER,
	GOV_EXEMPT_ROLE,
	GOV_EXEMPT_REPLICATION
} GovExemptReason;

/* (database, user, application_name at login): the key of a pool. */
typedef struct GovPoolKey
{
	NameData	database;
	NameData	role;
	NameData	appname;
} GovPoolKey;

/*
 * Who a session is, as events and views name it.  Names are valid UTF-8
 * (registry.c replaces anything else), whatever the client sent.
 */
typedef struct GovIdentity
{
	GovPoolKey	key;
	char		addr[GOV_ADDR_LEN]; /* numeric IP, "unix", or "" */
	int			pid;
} GovIdentity;

/* Effective limits of a session: smallest non-NULL value of its rules. */
typedef struct GovLimits
{
	int64		limit_ms[GOV_NUM_LIMITS];	/* GOV_NONE = no limit */
	int			rule[GOV_NUM_LIMITS];	/* index of the enforcing rule, -1 */
	/* Monitor-mode rules stricter than the enforced limit, if any. */
	int64		monitor_ms[GOV_NUM_LIMITS];
	int			monitor_rule[GOV_NUM_LIMITS];
} GovLimits;

/*
 * A session's place in a wait queue (bucket.c, under gov->lock).  A
 * session waits for at most one thing at a time: a login slot or an
 * active slot, in one rule's queue, or held by a paused database
 * (rule = -1).
 */
typedef struct GovWait
{
	GovBucketKind kind;
	bool		waiting;
	int			rule;			/* queue it is in, -1 = paused database */
	int			prev;			/* neighbours in that queue, -1 = none */
	int			next;
	uint64		ticket;			/* arrival order, kept when it moves */
	TimestampTz start;
} GovWait;

/*
 * Per-session counters, written only by the owning session
 * (pg_atomic_write_u64 of read+delta: no locked instruction, untorn reads).
 */
typedef struct GovCounters
{
	pg_atomic_uint64 xact_count;
	pg_atomic_uint64 query_count;
	pg_atomic_uint64 xact_time_us;
	pg_atomic_uint64 query_time_us;
	pg_atomic_uint64 wait_time_us;
	/*
	 * PgBouncer's server assignments: once at login, or, under a
	 * max_active rule, once per active slot taken.  Averages of wait time
	 * are per assignment.
	 */
	pg_atomic_uint64 assignments;
} GovCounters;

typedef struct GovSlot
{
	/* Membership and state: written under gov->lock exclusive. */
	int			pid;			/* 0 = free */
	GovSlotState state;
	GovExemptReason exempt;
	int			pool;			/* pool table index once the login completed
								 * (counted as a connection), else -1 */

	/* Login-time identity, set before the slot becomes visible. */
	GovIdentity id;
	uint32		key_hash;		/* hash of id.key, for fair order */
	Oid			roleid;
	SockAddr	raddr;
	int			port;
	char		local_addr[GOV_ADDR_LEN];
	int			local_port;
	char		tls[GOV_ADDR_LEN];	/* "" or version/cipher */
	TimestampTz connect_time;	/* backend start */
	TimestampTz login_time;		/* authentication done */
	TimestampTz admit_time;

	/* Backend status entry of this backend (14+), for O(1) reads. */
	volatile void *beentry;

	/* Rule membership and limits: rewritten by the worker on reload. */
	uint64		rules[GOV_RULE_WORDS];
	GovLimits	limits;
	int			priority;		/* highest priority of its rules */
	bool		has_max_active; /* a max_active rule governs it */
	uint32		jitter_seed;	/* spreads lifetime recycling */

	/* Queues and active slots (bucket.c). */
	GovWait		wait;
	uint64		active_held[GOV_RULE_WORDS];	/* rules whose active slot it holds */
	bool		holds_active;
	LocalTransactionId active_lxid; /* transaction holding them */
	TimestampTz active_since;	/* when it took them */

	/* Set by other processes. */
	pg_atomic_uint32 close_needed;	/* close at the next idle moment */
	int			evicted_for;	/* slot number of the waiter it makes room for */
	int			evicted_by;		/* index of the rule that evicts it */
	/*
	 * Termination notice, read (once) by the victim's emit_log_hook; and
	 * whether the governor has ended the session, kept until the slot is
	 * freed so that nothing ends it a second time while it exits.
	 */
	pg_atomic_uint32 kill_pending;
	pg_atomic_uint32 signalled;
	/* 17+: the transaction_timeout the session set for its rule (0: none). */
	pg_atomic_uint64 armed_xact_ms;
	int			kill_sqlstate;
	char		kill_message[GOV_TEXT_LEN];
	char		kill_detail[GOV_TEXT_LEN];

	GovCounters counters;
} GovSlot;

#define GOV_RULE_ISSET(bits, i) (((bits)[(i) >> 6] >> ((i) & 63)) & 1)
#define GOV_RULE_SET(bits, i) ((bits)[(i) >> 6] |= UINT64CONST(1) << ((i) & 63))

/* ----------------------------------------------------------------
 * Pools (pools.c)
 * ----------------------------------------------------------------
 */
/* Only uint64 counters: gov_totals_add sums them as an array. */
typedef struct GovPoolTotals
{
	uint64		xact_count;
	uint64		query_count;
	uint64		xact_time_us;
	uint64		query_time_us;
	uint64		wait_time_us;
	uint64		assignments;
	uint64		connections;
	uint64		rejected;
	uint64		terminated;
	uint64		auth_failed;
} GovPoolTotals;

typedef struct GovPool
{
	GovPoolKey	key;
	bool		overflow;		/* the row past governor.max_pools */
	GovPoolTotals totals;		/* folded from ended sessions */
	/* Window snapshots for avg_* (written by stats.c only). */
	GovPoolTotals prev_snapshot;
	GovPoolTotals last_snapshot;
	TimestampTz prev_snapshot_time;
	TimestampTz last_snapshot_time;
} GovPool;

/* ----------------------------------------------------------------
 * Events (events.c)
 * ----------------------------------------------------------------
 */
typedef struct GovEvent
{
	TimestampTz time;
	GovIdentity who;
	NameData	rule;
	GovAction	action;
	char		reason[64];
	double		observed;		/* seconds or count, per reason */
	double		limit;
} GovEvent;

/* ----------------------------------------------------------------
 * The shared struct
 * ----------------------------------------------------------------
 */
typedef struct GovDbFlag
{
	NameData	database;
	bool		paused;
	bool		disabled;
} GovDbFlag;

/* Why the rules in shared memory are what they are (worker.c, rules.c). */
typedef enum GovRulesStatus
{
	GOV_RULES_STARTING = 0,		/* not read since the server started */
	GOV_RULES_LOADED,			/* read and current */
	GOV_RULES_NO_EXTENSION,		/* governor.database has no pg_governor */
	GOV_RULES_NO_DATABASE,		/* governor.database does not exist */
	GOV_RULES_STALE				/* last read failed; older rules kept */
} GovRulesStatus;

typedef struct GovShared
{
	LWLock	   *lock;
	LWLock	   *pools_lock;
	LWLock	   *bans_lock;
	LWLock	   *events_lock;

	/* Worker (gov->lock). */
	int			worker_pid;
	Latch	   *worker_latch;
	bool		worker_connecting;	/* set while it connects to the database */
	NameData	worker_failed_db;	/* database it could not connect to */
	pg_atomic_uint32 reload_requested;
	pg_atomic_uint64 reload_generation; /* bumped after each rules read */

	/* Rules status (gov->lock). */
	GovRulesStatus rules_status;
	bool		rules_loaded;	/* read at least once since startup */
	bool		rules_wait_expired; /* logins stopped waiting for a first read */
	TimestampTz rules_time;		/* last successful read */
	uint64		rules_failures; /* reads that failed */
	char		rules_error[GOV_TEXT_LEN];

	/* Pause / disable (gov->lock). */
	bool		all_paused;
	bool		all_disabled;
	int			ndbflags;
	GovDbFlag	dbflags[GOV_MAX_DB_FLAGS];

	/* Wait queues (gov->lock, bucket.c). */
	uint64		next_ticket;
	int			nqueued;		/* logins waiting, server-wide */

	/* Compiled rules (gov->lock). */
	int			nrules;
	GovRule    *rules;			/* max_rules entries */
	GovRuleState *rule_state;	/* max_rules entries */

	/* Event ring (events_lock). */
	uint64		events_written;
	GovEvent   *events;			/* max_events entries */

	/* Pool table (pools_lock). */
	TimestampTz stats_reset_time;
	int			npools;

	/* Connection setup time, socket to ready (18+); atomics, no lock. */
	GovAtomicHistogram setup_hist;
} GovShared;

extern GovShared *gov;
extern GovSlot *gov_slots;
extern int	gov_nslots;

#endif							/* PG_GOVERNOR_H */
