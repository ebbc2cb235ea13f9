/*-------------------------------------------------------------------------
 *
 * events.c
 *		The event ring behind governor.events: every action the governor
 *		takes or, in monitor mode, would take.  Each event is also one LOG
 *		line.
 *
 * gov->events_lock LW_EXCLUSIVE to append, LW_SHARED to read.  The ring
 * holds the last governor.max_events events; events_written counts all.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "pg_governor.h"

void
gov_event_record(const GovSlot *slot, int rule, const char *action,
				 const char *reason, double observed, double limit)
{
	GovEvent	ev;

	memset(&ev, 0, sizeof(ev));
	ev.time = GetCurrentTimestamp();
	ev.pid = slot ? slot->pid : 0;
	if (slot)
	{
		ev.database = slot->database;
		ev.role = slot->role;
		ev.appname = slot->appname;
		strlcpy(ev.client_addr, slot->addr, GOV_ADDR_LEN);
	}
	LWLockAcquire(gov->lock, LW_SHARED);
	if (rule >= 0 && rule < gov->nrules)
		ev.rule = gov->rules[rule].name;
	LWLockRelease(gov->lock);
	strlcpy(ev.action, action, sizeof(ev.action));
	strlcpy(ev.reason, reason, sizeof(ev.reason));
	ev.observed = observed;
	ev.limit = limit;

	LWLockAcquire(gov->events_lock, LW_EXCLUSIVE);
	gov->events[gov->events_written % gov_max_events] = ev;
	gov->events_written++;
	LWLockRelease(gov->events_lock);

	ereport(LOG,
			(errmsg("pg_governor: %s pid %d (database \"%s\", user \"%s\", application \"%s\", address \"%s\"): %s by rule \"%s\", observed %g, limit %g",
					action, ev.pid, NameStr(ev.database), NameStr(ev.role),
					NameStr(ev.appname), ev.client_addr, reason,
					NameStr(ev.rule), observed, limit)));
}
