/*-------------------------------------------------------------------------
 *
 * events.c
 *		The event ring behind governor.events.
 *
 * gov->events_lock LW_EXCLUSIVE to append, LW_SHARED to read.  The ring
 * holds the last governor.max_events events; events_written counts all.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "events.h"
#include "settings.h"

void
gov_event_record(const GovIdentity *who, const char *rule, GovAction action,
				 const char *reason, double observed, double limit)
{
	GovEvent	ev;

	memset(&ev, 0, sizeof(ev));
	ev.time = GetCurrentTimestamp();
	if (who)
		ev.who = *who;
	if (rule)
		strlcpy(NameStr(ev.rule), rule, NAMEDATALEN);
	ev.action = action;
	strlcpy(ev.reason, reason, sizeof(ev.reason));
	ev.observed = observed;
	ev.limit = limit;

	LWLockAcquire(gov->events_lock, LW_EXCLUSIVE);
	gov->events[gov->events_written % gov_max_events] = ev;
	gov->events_written++;
	LWLockRelease(gov->events_lock);

	ereport(LOG,
			(errmsg("pg_governor: %s pid %d (database \"%s\", user \"%s\", application \"%s\", address \"%s\"): %s by rule \"%s\", observed %g, limit %g",
					gov_action_names[action], ev.who.pid,
					NameStr(ev.who.key.database), NameStr(ev.who.key.role),
					NameStr(ev.who.key.appname), ev.who.addr, reason,
					NameStr(ev.rule), observed, limit)));
}
