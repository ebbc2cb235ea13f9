/*-------------------------------------------------------------------------
 *
 * compat-probe.c
 *		Uses every shim of extension/compat.h once, so tools/check-versions
 *		proves each one compiles on every server version, including shims
 *		no extension file uses yet.  Never built into the module; no shared
 *		state, no locks.  Add a line here with each new shim.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "executor/executor.h"
#include "storage/ipc.h"
#include "tcop/utility.h"
#include "utils/acl.h"

#include "compat.h"

pg_noreturn extern void gov_probe_exit(void);
extern int	gov_probe_numbers(void);
extern Datum gov_probe_srf(PG_FUNCTION_ARGS);
extern void gov_probe_executor_run(GOV_EXECUTOR_RUN_ARGS);
extern void gov_probe_process_utility(GOV_PROCESS_UTILITY_ARGS);
extern char *gov_probe_strings(void);

void
gov_probe_exit(void)
{
	proc_exit(0);
}

int
gov_probe_numbers(void)
{
	TimestampTz now = GetCurrentTimestamp();
	long		ms = TimestampDifferenceMilliseconds(MyStartTimestamp, now);
	LocalPgBackendStatus *local;
	int			n = gov_my_procno() +
		(int) gov_proc_lxid(MyProc) + gov_max_backends() + (int) ms;

	gov_clear_status_snapshot();
	local = gov_local_beentry(1);
	if (local && GOV_STATE_IS_STARTING(local->backendStatus.st_state))
		n++;
	if (gov_my_beentry() != NULL)
		n++;
	return n + GOV_ERRCODE_IDLE_IN_XACT_TIMEOUT +
		GOV_ERRCODE_IDLE_SESSION_TIMEOUT + GOV_ERRCODE_TRANSACTION_TIMEOUT;
}

Datum
gov_probe_srf(PG_FUNCTION_ARGS)
{
	gov_init_srf(fcinfo);
	gov_reserve_guc_prefix("governor");
	return (Datum) 0;
}

void
gov_probe_executor_run(GOV_EXECUTOR_RUN_ARGS)
{
	standard_ExecutorRun(GOV_EXECUTOR_RUN_PASS);
}

void
gov_probe_process_utility(GOV_PROCESS_UTILITY_ARGS)
{
	standard_ProcessUtility(GOV_PROCESS_UTILITY_PASS);
}

char *
gov_probe_strings(void)
{
	/* The hook argument lists must match the server's hook types. */
	ExecutorRun_hook_type run = gov_probe_executor_run;
	ProcessUtility_hook_type utility = gov_probe_process_utility;
#ifdef GOV_HAVE_SHMEM_REQUEST_HOOK
	shmem_request_hook_type hook = shmem_request_hook;

	if (hook)
		hook();
#endif
	if (run == ExecutorRun_hook || utility == ProcessUtility_hook)
		return NULL;
	return "x";
}
