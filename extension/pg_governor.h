/*-------------------------------------------------------------------------
 *
 * pg_governor.h
 *		Shared declarations: the shared-memory layout, settings and the
 *		entry points each file offers the others.
 *
 * Shared state (all created in gov_shmem_startup, sized from settings):
 *
 *	GovShared		 one struct: locks, condition variable, worker latch,
 *					 pause/disable flags, the compiled rules and their
 *					 per-rule counters.
 *	GovSlot[]		 one per backend (MaxBackends), indexed by PGPROC number.
 *	pool table		 hash of (database, user, application_name) -> GovPool,
 *					 bounded by governor.max_pools plus one overflow row.
 *	event ring		 the last governor.max_events actions.
 *
 * Locks (see each file's header for who takes which):
 *	gov->lock		 registry membership and state of every slot, rules and
 *					 rule counters, pause/disable flags.  Exclusive to
 *					 change, shared to read a consistent picture.
 *	gov->pools_lock	 pool table (entries and their totals).
 *	gov->events_lock event ring.
 * Never two of them at once, except gov->lock then pools_lock (session
 * exit folds its counters into its pool).  None is held across a wait.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_GOVERNOR_H
#define PG_GOVERNOR_H

#include "postgres.h"

#include "libpq/pqcomm.h"
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "utils/timestamp.h"

#include "compat.h"

#define GOV_EXTENSION_NAME	"pg_governor"
#define GOV_SCHEMA			"governor"

/* governor.max_rules may not exceed this: a slot's rule set is a bitmap. */
#define GOV_MAX_RULES_LIMIT 1024
#define GOV_RULE_WORDS		(GOV_MAX_RULES_LIMIT / 64)
#define GOV_MAX_DB_FLAGS	64		/* databases paused/disabled by name */
#define GOV_ADDR_LEN		64
#define GOV_PATTERN_LEN		(2 * NAMEDATALEN)
#define GOV_TEXT_LEN		256

/* No limit / no cap, for the int64 millisecond and int fields below. */
#define GOV_NONE			(-1)

/* ----------------------------------------------------------------
 * Rules, as compiled by the worker from governor.rules
 * ----------------------------------------------------------------
 */

/* Session limits the worker enforces; index into GovLimits arrays. */
typedef enum GovLimitKind
{
	GOV_LIMIT_IDLE_IN_XACT = 0,
	GOV_LIMIT_IDLE,
	GOV_LIMIT_LIFETIME,
	GOV_LIMIT_XACT_DURATION,
	GOV_NUM_LIMITS
} GovLimitKind;

typedef struct GovRule
{
	NameData	name;
	bool		has_database;
	NameData	database;
	bool		has_role;
	NameData	role;
	bool		has_appname;
	char		appname_pattern[GOV_PATTERN_LEN];	/* LIKE, backslash escape */
	bool		has_addr;
	int			addr_family;	/* AF_INET or AF_INET6 */
	int			addr_bits;
	uint8		addr[16];
	int			max_connections;	/* GOV_NONE = no cap */
	int			reserve_connections;	/* 0 = none */
	int64		reserve_timeout_ms;
	int64		queue_timeout_ms;	/* GOV_NONE = governor.queue_timeout */
	int			max_active;		/* GOV_NONE; refused by the table until built */
	int64		limit_ms[GOV_NUM_LIMITS];	/* GOV_NONE = no limit */
	bool		monitor;		/* mode = 'monitor' */
} GovRule;

/* Live counters of one rule; totals survive reloads (matched by name). */
typedef struct GovRuleState
{
	int			in_use;			/* admitted sessions in the bucket */
	int			waiting;		/* sessions queued on this rule */
	uint64		admitted;
	uint64		rejected;
	uint64		would_reject;
	uint64		terminated[GOV_NUM_LIMITS + 1]; /* + admin kill */
	uint64		would_terminate[GOV_NUM_LIMITS];
} GovRuleState;

#define GOV_TERMINATED_KILL GOV_NUM_LIMITS

/* ----------------------------------------------------------------
 * Session registry
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
} GovCounters;

typedef struct GovSlot
{
	/* Membership and state: written under gov->lock exclusive. */
	int			pid;			/* 0 = free */
	GovSlotState state;
	GovExemptReason exempt;
	uint64		ticket;			/* FIFO order among waiters */
	int			wait_rule;		/* rule queued on, -1 = paused db */

	/* Login-time identity, set once at login. */
	NameData	database;
	NameData	role;
	NameData	appname;
	Oid			roleid;
	SockAddr	raddr;
	bool		is_local;		/* Unix-socket connection */
	char		addr[GOV_ADDR_LEN];
	int			port;
	char		local_addr[GOV_ADDR_LEN];
	int			local_port;
	char		tls[GOV_ADDR_LEN];	/* "" or version/cipher */
	TimestampTz connect_time;	/* backend start */
	TimestampTz login_time;		/* authentication done */
	TimestampTz wait_start;		/* start of the current wait, 0 = none */
	TimestampTz admit_time;

	/* Backend status entry of this backend (14+), for O(1) reads. */
	volatile void *beentry;
	int			pool;			/* index into the pool table, -1 = none */

	/* Rule membership and limits: rewritten by the worker on reload. */
	uint64		rules[GOV_RULE_WORDS];
	GovLimits	limits;
	uint32		lifetime_jitter_ms; /* spreads lifetime recycling */

	/* Set by other processes. */
	pg_atomic_uint32 close_needed;	/* close at the next idle moment */
	/* Termination notice read by the victim's emit_log_hook. */
	pg_atomic_uint32 kill_pending;
	int			kill_sqlstate;
	char		kill_message[GOV_TEXT_LEN];
	char		kill_detail[GOV_TEXT_LEN];

	GovCounters counters;
} GovSlot;

#define GOV_RULE_ISSET(bits, i) (((bits)[(i) >> 6] >> ((i) & 63)) & 1)
#define GOV_RULE_SET(bits, i) ((bits)[(i) >> 6] |= UINT64CONST(1) << ((i) & 63))

/* ----------------------------------------------------------------
 * Pools: one per (database, user, application_name at login)
 * ----------------------------------------------------------------
 */
typedef struct GovPoolKey
{
	NameData	database;
	NameData	role;
	NameData	appname;
} GovPoolKey;

typedef struct GovPoolTotals
{
	uint64		xact_count;
	uint64		query_count;
	uint64		xact_time_us;
	uint64		query_time_us;
	uint64		wait_time_us;
	uint64		connections;
	uint64		rejected;
	uint64		terminated;
	uint64		auth_failed;
} GovPoolTotals;

typedef struct GovPool
{
	GovPoolKey	key;			/* hash key: must be first */
	int			index;			/* position in gov_pool_array */
	bool		overflow;		/* the row past governor.max_pools */
	GovPoolTotals totals;		/* folded from ended sessions, under pools_lock */
	/* Window snapshots for avg_* (maintained by the worker). */
	GovPoolTotals prev_snapshot;
	GovPoolTotals last_snapshot;
	TimestampTz prev_snapshot_time;
	TimestampTz last_snapshot_time;
} GovPool;

/* ----------------------------------------------------------------
 * Event ring
 * ----------------------------------------------------------------
 */
typedef struct GovEvent
{
	TimestampTz time;
	int			pid;
	NameData	database;
	NameData	role;
	NameData	appname;
	char		client_addr[GOV_ADDR_LEN];
	NameData	rule;
	char		action[32];		/* reject, would_reject, terminate, ... */
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

typedef struct GovShared
{
	LWLock	   *lock;
	LWLock	   *pools_lock;
	LWLock	   *events_lock;
	ConditionVariable slot_freed;	/* a bucket slot freed or a flag changed */

	/* Worker. */
	int			worker_pid;
	Latch	   *worker_latch;
	pg_atomic_uint32 reload_requested;
	pg_atomic_uint64 reload_generation; /* bumped after each rules load */
	bool		rules_loaded;	/* rules read at least once since startup */

	/* Pause / disable (gov->lock). */
	bool		all_paused;
	bool		all_disabled;
	int			ndbflags;
	GovDbFlag	dbflags[GOV_MAX_DB_FLAGS];

	/* Admission FIFO ticket source (gov->lock). */
	uint64		next_ticket;

	/* Compiled rules (gov->lock). */
	int			nrules;
	GovRule    *rules;			/* max_rules entries */
	GovRuleState *rule_state;	/* max_rules entries */

	/* Event ring (events_lock). */
	uint64		events_written;
	GovEvent   *events;			/* max_events entries */

	/* Totals per database live in pools; stats window start (pools_lock). */
	TimestampTz stats_reset_time;
	int			npools;
} GovShared;

/* ----------------------------------------------------------------
 * Settings (pg_governor.c)
 * ----------------------------------------------------------------
 */
extern char *gov_database;
extern int	gov_naptime_ms;
extern int	gov_queue_timeout_ms;
extern bool gov_exempt_superusers;
extern char *gov_exempt_roles;
extern int	gov_max_rules;
extern int	gov_max_pools;
extern int	gov_max_events;

/* ----------------------------------------------------------------
 * Shared state (pg_governor.c)
 * ----------------------------------------------------------------
 */
extern GovShared *gov;
extern GovSlot *gov_slots;
extern int	gov_nslots;
extern GovPool *gov_pool_array;	/* max_pools + 1 entries, by index */

extern void gov_require_preload(void);

/* registry.c */
extern GovSlot *gov_my_slot;
extern void gov_registry_claim(struct Port *port, GovExemptReason exempt, Oid roleid);

typedef struct GovBackendInfo
{
	bool		valid;
	BackendState state;
	TimestampTz proc_start;
	TimestampTz xact_start;
	TimestampTz state_change;
	TimestampTz activity_start;
	Oid			databaseid;
	uint32		wait_event_info;
	bool		in_xact;		/* inside a transaction block or statement */
} GovBackendInfo;

extern void gov_backend_info(const GovSlot *slot, int slotno, GovBackendInfo *info);

/*
 * What governor.pools shows of a pool's current sessions; one definition of
 * the PgBouncer mapping, used by the pools view, stats and metrics.
 */
typedef struct GovPoolGauges
{
	int			sessions;
	int			cl_active;
	int			cl_waiting;
	int			sv_active;
	int			sv_idle;
	int			sv_login;
	int			idle_in_xact;
	int			waiting_on_lock;
	TimestampTz oldest_wait;
	TimestampTz oldest_xact;
	TimestampTz oldest_session;
	bool		transaction_mode;	/* a max_active rule applies */
} GovPoolGauges;

/* views.c: add one registered session; caller holds gov->lock. */
extern void gov_gauges_add(GovPoolGauges *g, const GovSlot *slot, int slotno);

/* rules.c */
extern bool gov_rule_matches(const GovRule *rule, const GovSlot *slot);
extern void gov_match_rules(const GovSlot *slot, uint64 *bits, GovLimits *limits);
extern bool gov_load_rules(void);	/* worker: read table, compile, swap */
extern int	gov_find_rule(const char *name);
extern bool gov_like(const char *str, const char *pattern);

/* admin.c */
extern void gov_set_db_flag(const char *dbname, bool set_paused, bool paused,
							bool set_disabled, bool disabled);

/* admission.c */
extern void gov_admission_init(void);

/* events.c */
extern void gov_event_record(const GovSlot *slot, int rule, const char *action,
							 const char *reason, double observed, double limit);

/* enforcement.c */
#define GOV_DEADLINE_RECONNECT GOV_NUM_LIMITS	/* kind: governor.reconnect() */

typedef struct GovDeadline
{
	TimestampTz deadline;		/* when the governor acts */
	int			kind;			/* GovLimitKind or GOV_DEADLINE_RECONNECT */
	int			rule;			/* rule setting the limit, -1 = none */
	int64		limit_ms;
	TimestampTz since;			/* start of what is measured */
} GovDeadline;

extern void gov_enforcement_init(void);
extern const char *gov_limit_name(int kind);
extern uint32 gov_lifetime_jitter_seed(int pid, TimestampTz start);
extern bool gov_limit_deadline(const GovSlot *slot, const GovBackendInfo *info,
							   int kind, bool monitor, GovDeadline *d);
extern bool gov_session_deadline(const GovSlot *slot, const GovBackendInfo *info,
								 GovDeadline *d);
extern TimestampTz gov_enforce_tick(void);
extern long gov_enforce_sleep_ms(TimestampTz next, long naptime_left_ms);

/* worker.c */
extern void gov_worker_register(void);
extern void gov_worker_wake(void);
PGDLLEXPORT void gov_worker_main(Datum main_arg);

/* pools (registry.c) */
extern void gov_pools_attach(void);
extern int	gov_pool_lookup(const char *database, const char *role, const char *appname);
extern void gov_pool_count_admit(int pool);
extern void gov_pool_count_reject(int pool);
extern void gov_pool_count_terminated(int pool);
extern void gov_pool_count_auth_failed(const char *database, const char *role,
									   const char *appname);

/* ----------------------------------------------------------------
 * Statistics, health and metrics (stats.c, metrics.c)
 * ----------------------------------------------------------------
 */
extern int	gov_stats_period_s;

/* Live view of one pool: totals, window start and gauges. */
typedef struct GovPoolLive
{
	bool		used;			/* pool exists */
	GovPoolKey	key;
	GovPoolTotals live;			/* folded totals + live sessions' counters */
	GovPoolTotals prev;			/* window start (modular uint64 deltas) */
	TimestampTz prev_time;
	GovPoolGauges g;			/* only when collected with gauges = true */
} GovPoolLive;

typedef struct GovStatsView
{
	TimestampTz now;
	TimestampTz stats_reset;
	int			npools;			/* entries in pools[] (max_pools + 1) */
	GovPoolLive *pools;
	int			in_use;			/* registered non-replication sessions */
	int			waiting;		/* sessions queued at login */
} GovStatsView;

/* Averages over the window, PgBouncer 1.23+ units. */
typedef struct GovAverages
{
	int64		xact_count;		/* per second */
	int64		query_count;	/* per second */
	int64		xact_time;		/* us per transaction */
	int64		query_time;		/* us per query */
	int64		wait_time;		/* us per admitted connection */
} GovAverages;

typedef enum GovHealthSignal
{
	GOV_HEALTH_CONNECTIONS = 0,
	GOV_HEALTH_WAITING,
	GOV_HEALTH_AVG_WAIT,
	GOV_HEALTH_ERRORS,
	GOV_HEALTH_NUM
} GovHealthSignal;

typedef struct GovHealthRow
{
	const char *signal;
	double		value;
	double		warn;
	double		crit;
	int			status;			/* 0 ok, 1 warn, 2 crit */
} GovHealthRow;

extern void gov_stats_define_settings(void);
extern void gov_stats_init(void);
extern void gov_stats_tick(void);
extern void gov_stats_collect(GovStatsView *view, bool gauges);
extern GovPoolLive *gov_stats_by_database(const GovStatsView *view, int *ndb);
extern void gov_stats_averages(const GovPoolTotals *live, const GovPoolTotals *prev,
							   int64 window_us, GovAverages *avg);
extern void gov_health_compute(const GovStatsView *view, GovHealthRow *rows);
extern const char *gov_health_status_name(int status);

/* metrics.c */
extern void gov_metrics_define_settings(void);
extern char *gov_metrics_text(void);	/* palloc'd; no SPI, shared memory only */
extern bool gov_metrics_sleep(long timeout_ms);	/* worker: true if latch set */

#endif							/* PG_GOVERNOR_H */
