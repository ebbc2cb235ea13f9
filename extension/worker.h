/*-------------------------------------------------------------------------
 *
 * worker.h
 *		The pg_governor background worker.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOV_WORKER_H
#define GOV_WORKER_H

#include "postgres.h"

extern void gov_worker_register(void);

/* Ask the worker to read the rules now. */
extern void gov_worker_wake(void);

PGDLLEXPORT void gov_worker_main(Datum main_arg);

#endif							/* GOV_WORKER_H */
