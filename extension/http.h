/*-------------------------------------------------------------------------
 *
 * http.h
 *		The metrics endpoint's sockets, for the worker's wait.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOV_HTTP_H
#define GOV_HTTP_H

#include "storage/latch.h"

extern void gov_http_define_settings(void);

/* Follow the settings (at start and after SIGHUP). */
extern void gov_http_configure(void);

/* Changes whenever the set of sockets or what they wait for changes. */
extern uint64 gov_http_generation(void);

/* At most this many events are added to a set. */
extern int	gov_http_max_events(void);

/* Add the sockets to the worker's set (events carry non-NULL user_data). */
extern void gov_http_add_events(WaitEventSet *set);

/* Handle one ready event that gov_http_add_events added. */
extern void gov_http_handle(const WaitEvent *ev);

/* Close clients past their deadline; ms until the next one, -1 for none. */
extern long gov_http_expire(void);

#endif							/* GOV_HTTP_H */
