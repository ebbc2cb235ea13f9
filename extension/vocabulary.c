/*-------------------------------------------------------------------------
 *
 * vocabulary.c
 *		The tables behind vocabulary.h.  Constant data only: no state, no
 *		lock.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "compat.h"
#include "histogram.h"
#include "vocabulary.h"

const GovEndInfo gov_ends[GOV_NUM_END_KINDS] = {
	[GOV_END_IDLE_IN_XACT] = {
		"idle_in_transaction_timeout", "total_terminated_idle_in_transaction",
		GOV_ERRCODE_IDLE_IN_XACT_TIMEOUT, "idle in transaction for",
		"Commit or roll back transactions promptly; an idle open transaction holds locks and snapshots.",
		GOV_RECHECK_IDLE_IN_XACT
	},
	[GOV_END_IDLE] = {
		"idle_timeout", "total_terminated_idle",
		GOV_ERRCODE_IDLE_SESSION_TIMEOUT, "idle for",
		"The session was idle too long; reconnect to continue.",
		GOV_RECHECK_IDLE_SPELL
	},
	[GOV_END_LIFETIME] = {
		"max_lifetime", "total_terminated_lifetime",
		ERRCODE_ADMIN_SHUTDOWN, "connected for",
		"The session was recycled at an idle moment because it was older than the rule allows; reconnect to continue.",
		GOV_RECHECK_IDLE_NOW
	},
	[GOV_END_XACT_DURATION] = {
		"max_transaction_duration", "total_terminated_transaction_duration",
		GOV_ERRCODE_TRANSACTION_TIMEOUT, "transaction open for",
		"The transaction ran longer than the rule allows and was rolled back.",
		GOV_RECHECK_XACT
	},
	[GOV_END_RECONNECT] = {
		"reconnect", NULL,
		ERRCODE_ADMIN_SHUTDOWN, NULL,
		"governor.reconnect() asked to close this session at its next idle moment; reconnect to continue.",
		GOV_RECHECK_IDLE_NOW
	},
	[GOV_END_KILL] = {
		"admin_kill", "total_killed",
		ERRCODE_ADMIN_SHUTDOWN, NULL,
		"An administrator ran governor.kill().",
		GOV_RECHECK_NONE
	},
	[GOV_END_EVICT] = {
		"evict_idle_after", "total_evicted",
		GOV_ERRCODE_IDLE_SESSION_TIMEOUT, "idle for",
		"The session was idle and its slot was given to a waiting login; reconnect to continue.",
		GOV_RECHECK_IDLE_SPELL
	},
};

const char *const gov_action_names[GOV_NUM_ACTIONS] = {
	[GOV_ACTION_REJECT] = "reject",
	[GOV_ACTION_WOULD_REJECT] = "would_reject",
	[GOV_ACTION_TERMINATE] = "terminate",
	[GOV_ACTION_WOULD_TERMINATE] = "would_terminate",
	[GOV_ACTION_KILL] = "kill",
	[GOV_ACTION_RECONNECT] = "reconnect",
	[GOV_ACTION_EVICT] = "evict",
	[GOV_ACTION_ABANDON] = "abandon",
	[GOV_ACTION_WOULD_WAIT] = "would_wait",
	[GOV_ACTION_BAN] = "ban",
	[GOV_ACTION_BANNED_REJECT] = "banned_reject",
	[GOV_ACTION_UNBAN] = "unban",
	[GOV_ACTION_RULE_PROBLEM] = "rule_problem",
};

const int64 gov_hist_bounds_us[GOV_HIST_BOUNDS] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000, 30000000, 60000000
};
