/*-------------------------------------------------------------------------
 *
 * settings.h
 *		The core settings (defined in pg_governor.c) and the check every
 *		SQL function makes first.  Modules with settings of their own
 *		(stats, metrics, bans) define and keep them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOV_SETTINGS_H
#define GOV_SETTINGS_H

/* governor.rules_unavailable: what logins do before rules could be read. */
typedef enum GovRulesUnavailable
{
	GOV_UNAVAILABLE_ADMIT = 0,
	GOV_UNAVAILABLE_REFUSE
} GovRulesUnavailable;

extern char *gov_database;
extern int	gov_naptime_ms;
extern int	gov_queue_timeout_ms;
extern bool gov_exempt_superusers;
extern const char *gov_exempt_role_names;	/* governor.exempt_roles, parsed */
extern int	gov_max_rules;
extern int	gov_max_pools;
extern int	gov_max_events;
extern int	gov_max_queued;
extern int	gov_rules_unavailable;

extern bool gov_preloaded;

/* Raise a clear error unless the library was preloaded. */
extern void gov_require_preload(void);

#endif							/* GOV_SETTINGS_H */
