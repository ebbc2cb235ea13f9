/*-------------------------------------------------------------------------
 *
 * bans.h
 *		The authentication circuit breaker: failed authentications per
 *		(role, client address), and bans.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOV_BANS_H
#define GOV_BANS_H

#include "pg_governor.h"

struct Port;

extern void gov_bans_define_settings(void);
extern Size gov_bans_shmem_size(void);
extern void gov_bans_attach(void);

/*
 * Every authentication outcome (ClientAuthentication hook): counts a
 * failure, bans past governor.auth_fail_limit, and refuses a banned
 * (role, address) at once with FATAL 28000, whatever the outcome.  Local
 * socket logins are never counted nor refused.
 */
extern void gov_bans_check(struct Port *port, int status);

/* One active ban, as governor.bans shows it. */
typedef struct GovBanRow
{
	NameData	role;
	char		addr[GOV_ADDR_LEN];
	int			failures;
	TimestampTz since;
	TimestampTz until;
} GovBanRow;

/* Active bans, copied out (palloc'd); *n is their number. */
extern GovBanRow *gov_bans_list(int *n);

/* How many bans are in force (what gov_bans_list would return, uncopied). */
extern int	gov_bans_count(void);

/*
 * Lift bans: of a role (NULL = any) from an address (NULL = any).
 * Returns how many were lifted.
 */
extern int	gov_bans_lift(const char *role, const uint8 *addr, int family);

#endif							/* GOV_BANS_H */
