/*-------------------------------------------------------------------------
 *
 * compat-probe.c
 *		Uses every shim of extension/compat.h once, so tools/check-versions
 *		proves each one compiles on every server version, including shims
 *		no extension file uses yet.  A shim that exists only from some
 *		version on (GOV_HAVE_...) is used under the same #ifdef as in the
 *		extension, so it is checked against the trees of those versions.
 *		Compiled by tools/check-versions only: never built into the module,
 *		never linked or run; no shared state, no locks.  Add a line here
 *		with each new shim.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "executor/executor.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/memutils.h"

#include "compat.h"

pg_noreturn extern void gov_probe_exit(void);
extern int	gov_probe_numbers(void);
extern Datum gov_probe_srf(PG_FUNCTION_ARGS);
extern void gov_probe_executor_run(GOV_EXECUTOR_RUN_ARGS);
extern void gov_probe_process_utility(GOV_PROCESS_UTILITY_ARGS);
extern char *gov_probe_strings(void);
extern int64 gov_probe_clocks(void);
extern int	gov_probe_wait(pgsocket sock);
extern void gov_probe_xact_timeout(void);

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
#ifdef GOV_HAVE_MYBEENTRY
	{
		volatile PgBackendStatus *be = gov_my_beentry();

		n += be->st_changecount;
	}
#endif
	if (gov_kill_backend(MyProcPid, 0) == 0)
		n++;
	n += gov_usable_connections() + (int) DatabaseNameIndexId + GOV_POLLRDHUP;
	return n + GOV_ERRCODE_IDLE_IN_XACT_TIMEOUT +
		GOV_ERRCODE_IDLE_SESSION_TIMEOUT + GOV_ERRCODE_TRANSACTION_TIMEOUT;
}

int64
gov_probe_clocks(void)
{
	Interval	iv;
	int64		ms = gov_monotonic_ms();

	memset(&iv, 0, sizeof(iv));
	if (!gov_interval_is_finite(&iv))
		return -1;
	if (gov_conn_socket_create() != 0)
		ms += (int64) (GetCurrentTimestamp() - gov_conn_socket_create());
#ifdef GOV_HAVE_CONN_TIMING
	/* The flag promises conn_timing itself. */
	ms += (int64) conn_timing.socket_create;
#endif
	return ms;
}

int
gov_probe_wait(pgsocket sock)
{
	WaitEventSet *set = gov_create_wait_event_set(TopMemoryContext, 2);
	uint32		wait_event = gov_wait_event("GovernorProbe");
	int			events = WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH;

	FreeWaitEventSet(set);
	GOV_INJECTION_POINT("pg-governor-probe");
#ifdef GOV_HAVE_WL_SOCKET_CLOSED
	events |= WL_SOCKET_CLOSED;
#endif
	return WaitLatchOrSocket(MyLatch, events, sock, 1, wait_event);
}

void
gov_probe_xact_timeout(void)
{
#ifdef GOV_HAVE_TRANSACTION_TIMEOUT
	int			ms = gov_server_xact_timeout();

	gov_server_xact_timer_stop();
	if (ms > 0)
		gov_server_xact_timer_start(ms);
	gov_server_xact_timer_start_at(GetCurrentTimestamp());
#endif
}

Datum
gov_probe_srf(PG_FUNCTION_ARGS)
{
	void	   *extra = gov_guc_malloc(1);

	if (extra == NULL)
		return (Datum) 0;
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
