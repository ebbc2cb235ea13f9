/*-------------------------------------------------------------------------
 *
 * registry.h
 *		The session registry: one GovSlot per backend, and what the server
 *		knows of each registered session's current state.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOV_REGISTRY_H
#define GOV_REGISTRY_H

#include "pg_governor.h"

struct Port;

extern GovSlot *gov_my_slot;
extern int	gov_my_slotno;

/*
 * Fill this backend's slot from its login values and make it visible in
 * state GOV_SLOT_LOGIN.  The caller has registered its exit callback.
 */
extern void gov_registry_claim(struct Port *port, GovExemptReason exempt,
							   Oid roleid);

/* Who a login is: names (valid UTF-8, clipped), address, pid. */
extern void gov_identity_from_port(GovIdentity *id, const struct Port *port);

/* Make a slot free again.  Caller holds gov->lock exclusively. */
extern void gov_registry_clear(GovSlot *slot);

/* Wake the session in a slot (it sleeps on its own latch). */
extern void gov_registry_wake(int slotno);

/* Does a database of this name exist?  (Also while authenticating.) */
extern bool gov_database_exists(const char *name);

/* Copy a name the client chose into a slot or event: valid UTF-8, clipped. */
extern void gov_name_copy(NameData *dst, const char *src);

/* What PgBackendStatus and PGPROC say of a registered session now. */
typedef struct GovBackendInfo
{
	bool		valid;
	BackendState state;
	TimestampTz xact_start;
	TimestampTz state_change;
	TimestampTz activity_start;
	uint32		wait_event_info;
	bool		in_xact;		/* inside a transaction block or statement */
} GovBackendInfo;

extern void gov_backend_info(const GovSlot *slot, int slotno, GovBackendInfo *info);

/*
 * Add to one of the session's own counters (GovCounters): it is their
 * single writer, so read + store, no locked instruction.
 */
static inline void
gov_counter_add(pg_atomic_uint64 *c, uint64 delta)
{
	pg_atomic_write_u64(c, pg_atomic_read_u64(c) + delta);
}

#endif							/* GOV_REGISTRY_H */
