/*
 * govbench.c -- the small libpq client behind bench/run.
 *
 * Every mode prints plain "key value" lines on stdout that bench/run
 * parses; errors go to stderr with a non-zero exit.
 *
 *   hold  CONNINFO N PREFIX NAPPS
 *	   Open N sessions (application_name PREFIX-k, k = i mod NAPPS), at most
 *	   32 connecting at once, print "ready N", then hold them idle until
 *	   SIGTERM/SIGINT.  One process, one socket per session: cheap.
 *
 *   iit   CONNINFO N LIMIT_MS WAIT_MS
 *	   Open N sessions, leave each idle in a transaction, and wait (at most
 *	   the largest LIMIT_MS + WAIT_MS) for the server to close them.  Prints
 *	   "late MS" (close time - idle start - LIMIT_MS) per closed session,
 *	   "open" per session still open, and "sqlstate X" / "message M" of the
 *	   first termination notice.
 *
 *   queue CONNINFO OBSERVER_CONNINFO ITER
 *	   CONNINFO must hit a rule with max_connections = 1 and a queue
 *	   timeout.  Per iteration: A logs in (prints "login MS"), B starts a
 *	   login that queues (confirmed through governor.pools.cl_waiting on the
 *	   observer), A disconnects at t0, B's login completes at t1: prints
 *	   "wake MS" = t1 - t0.
 *
 *   txn   CONNINFO N SEED [APPNAME [WORKLOAD]]
 *	   pgbench -S -M prepared in one session: prepare the select-only
 *	   statement once, execute it N times with pseudo-random aids from SEED,
 *	   print "pid P" (the backend's pid) first and "done N" last.  APPNAME
 *	   defaults to bench-callgrind; WORKLOAD "select" (default: each select
 *	   its own implicit transaction) or "block" (BEGIN; the select; COMMIT,
 *	   all three prepared: the explicit transaction of a client pool).
 *
 *   wake  CONNINFO OBSERVER_CONNINFO RULE ITER
 *	   CONNINFO (sessions H and W, application_name seed-one) must hit the
 *	   max_active = 1 rule RULE.  Per iteration: H opens a transaction
 *	   (holds the slot), W sends BEGIN and waits for the slot (confirmed
 *	   through governor.rule_usage.active_waiting on the observer), H sends
 *	   COMMIT at t0; H's COMMIT returns at th, W's BEGIN
 *	   at tw.  Prints "wake MS" = tw - th (negative when W's answer came
 *	   first), "wake_send MS" = tw - t0, "commit MS" = th - t0, and once per
 *	   iteration "ref MS": an unqueued BEGIN of W, round trip.
 *
 *   sample CONNINFO INTERVAL_MS SQL
 *	   Run SQL (one row of integers) every INTERVAL_MS until SIGTERM, then
 *	   print "samples N" and "max K V" for each column K (1-based).
 *
 *   alternate CONNINFO SQL ROUNDS APPNAME...
 *	   One session per APPNAME; per round, run SQL once in each session
 *	   (the order rotated every round) and print "round R APPNAME MS CPU_MS":
 *	   wall clock, and the CPU time of the session's backend from
 *	   /proc/PID/schedstat (-1 if the server is not on this machine).
 */
#include <errno.h>
#include <stdbool.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

static volatile sig_atomic_t stop_requested = 0;

static void
on_signal(int sig)
{
	(void) sig;
	stop_requested = 1;
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static void
die(const char *what, PGconn *conn)
{
	fprintf(stderr, "govbench: %s%s%s\n", what, conn ? ": " : "",
			conn ? PQerrorMessage(conn) : "");
	exit(1);
}

static PGconn *
start_conn(const char *conninfo, const char *appname)
{
	const char *keys[] = {"dbname", "application_name", NULL};
	const char *vals[] = {conninfo, appname, NULL};
	PGconn	   *c = PQconnectStartParams(keys, vals, 1);

	if (c == NULL || PQstatus(c) == CONNECTION_BAD)
		die("cannot start connection", c);
	return c;
}

static PGconn *
connect_blocking(const char *conninfo, const char *appname)
{
	const char *keys[] = {"dbname", "application_name", NULL};
	const char *vals[] = {conninfo, appname, NULL};
	PGconn	   *c = PQconnectdbParams(keys, vals, 1);

	if (PQstatus(c) != CONNECTION_OK)
		die("connection failed", c);
	return c;
}

/*
 * Advance a non-blocking login: wait up to timeout_ms for the socket in
 * the direction libpq asked for, then poll.  Returns the new state.
 */
static PostgresPollingStatusType
drive(PGconn *c, PostgresPollingStatusType st, int timeout_ms)
{
	struct pollfd p;

	if (st == PGRES_POLLING_OK || st == PGRES_POLLING_FAILED)
		return st;
	p.fd = PQsocket(c);
	p.events = (st == PGRES_POLLING_WRITING) ? POLLOUT : POLLIN;
	p.revents = 0;
	if (poll(&p, 1, timeout_ms) <= 0)
		return st;
	return PQconnectPoll(c);
}

/* ---------------------------------------------------------------- hold */

static int
mode_hold(int argc, char **argv)
{
	const char *conninfo;
	int			n,
				napps,
				i,
				next = 0,
				done = 0,
				inflight = 0;
	const char *prefix;
	PGconn	  **conns;
	PostgresPollingStatusType *st;
	struct pollfd *pfd;
	int		   *idx;

	if (argc != 4)
		die("usage: hold CONNINFO N PREFIX NAPPS", NULL);
	conninfo = argv[0];
	n = atoi(argv[1]);
	prefix = argv[2];
	napps = atoi(argv[3]);
	conns = calloc(n, sizeof(PGconn *));
	st = calloc(n, sizeof(*st));
	pfd = calloc(n, sizeof(*pfd));
	idx = calloc(n, sizeof(int));

	while (done < n && !stop_requested)
	{
		int			np = 0;

		while (inflight < 32 && next < n)
		{
			char		app[64];

			snprintf(app, sizeof(app), "%s-%d", prefix, next % napps);
			conns[next] = start_conn(conninfo, app);
			st[next] = PGRES_POLLING_WRITING;
			next++;
			inflight++;
		}
		for (i = 0; i < next; i++)
		{
			if (st[i] == PGRES_POLLING_OK)
				continue;
			pfd[np].fd = PQsocket(conns[i]);
			pfd[np].events = (st[i] == PGRES_POLLING_WRITING) ? POLLOUT : POLLIN;
			pfd[np].revents = 0;
			idx[np++] = i;
		}
		if (poll(pfd, np, 1000) < 0 && errno != EINTR)
			die("poll failed", NULL);
		for (i = 0; i < np; i++)
		{
			int			k = idx[i];

			if (pfd[i].revents == 0)
				continue;
			st[k] = PQconnectPoll(conns[k]);
			if (st[k] == PGRES_POLLING_FAILED)
			{
				fprintf(stderr, "govbench: session %d of %d failed\n", k + 1, n);
				die("connection failed", conns[k]);
			}
			if (st[k] == PGRES_POLLING_OK)
			{
				done++;
				inflight--;
			}
		}
	}
	printf("ready %d\n", done);
	fflush(stdout);
	while (!stop_requested)
		(void) poll(NULL, 0, 1000);	/* a signal interrupts it */
	for (i = 0; i < next; i++)
		PQfinish(conns[i]);
	return 0;
}

/* ----------------------------------------------------------------- iit */

static char first_sqlstate[16];
static char first_message[512];

static void
on_notice(void *arg, const PGresult *res)
{
	const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

	(void) arg;
	if (first_sqlstate[0] == '\0' && s && strcmp(s, "00000") != 0)
	{
		snprintf(first_sqlstate, sizeof(first_sqlstate), "%s", s);
		snprintf(first_message, sizeof(first_message), "%s", m ? m : "");
	}
}

static int
mode_iit(int argc, char **argv)
{
	const char *conninfo;
	int			n,
				i,
				open_left;
	double		limit,
				wait,
				deadline = 0;
	PGconn	  **conns;
	double	   *t0;
	int		   *closed;
	struct pollfd *pfd;
	int		   *idx;

	if (argc != 4)
		die("usage: iit CONNINFO N LIMIT_MS WAIT_MS", NULL);
	conninfo = argv[0];
	n = atoi(argv[1]);
	limit = atof(argv[2]);
	wait = atof(argv[3]);
	conns = calloc(n, sizeof(PGconn *));
	t0 = calloc(n, sizeof(double));
	closed = calloc(n, sizeof(int));
	pfd = calloc(n, sizeof(*pfd));
	idx = calloc(n, sizeof(int));

	for (i = 0; i < n; i++)
	{
		conns[i] = connect_blocking(conninfo, "bench-iit");
		PQsetNoticeReceiver(conns[i], on_notice, NULL);
	}
	for (i = 0; i < n; i++)
	{
		PGresult   *r = PQexec(conns[i], "BEGIN; SELECT 1");

		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			die("BEGIN failed", conns[i]);
		PQclear(r);
		t0[i] = now_ms();		/* ReadyForQuery 'T' just arrived */
		deadline = t0[i] + limit + wait;
	}
	open_left = n;
	while (open_left > 0 && now_ms() < deadline && !stop_requested)
	{
		int			np = 0;

		for (i = 0; i < n; i++)
		{
			if (closed[i])
				continue;
			pfd[np].fd = PQsocket(conns[i]);
			pfd[np].events = POLLIN;
			pfd[np].revents = 0;
			idx[np++] = i;
		}
		if (poll(pfd, np, 50) < 0 && errno != EINTR)
			die("poll failed", NULL);
		for (i = 0; i < np; i++)
		{
			int			k = idx[i];

			if (pfd[i].revents == 0)
				continue;
			/* Any message or EOF while idle in a transaction is the close. */
			printf("late %.3f\n", now_ms() - t0[k] - limit);
			closed[k] = 1;
			open_left--;
			(void) PQconsumeInput(conns[k]);
		}
	}
	/* Let libpq parse what arrived, for the SQLSTATE of the notice. */
	for (i = 0; i < n; i++)
	{
		if (closed[i])
		{
			/* Parse what arrived: the FATAL reaches on_notice. */
			(void) PQconsumeInput(conns[i]);
			(void) PQisBusy(conns[i]);
		}
		else
			printf("open\n");
	}
	if (first_sqlstate[0])
		printf("sqlstate %s\nmessage %s\n", first_sqlstate, first_message);
	for (i = 0; i < n; i++)
		PQfinish(conns[i]);
	return 0;
}

/* --------------------------------------------------------------- queue */

static long
observe(PGconn *obs, const char *sql)
{
	PGresult   *r = PQexec(obs, sql);
	long		v;

	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		die("observer query failed", obs);
	v = atol(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

static int
mode_queue(int argc, char **argv)
{
	const char *conninfo,
			   *obsinfo,
			   *app = "bench-queue";
	int			iter,
				it;
	PGconn	   *obs;
	const char *q_wait =
		"SELECT coalesce(sum(cl_waiting), 0) FROM governor.pools "
		"WHERE application_name = 'bench-queue'";
	const char *q_busy =
		"SELECT coalesce(sum(cl_active + cl_waiting + sv_login), 0) "
		"FROM governor.pools WHERE application_name = 'bench-queue'";

	if (argc != 3)
		die("usage: queue CONNINFO OBSERVER_CONNINFO ITER", NULL);
	conninfo = argv[0];
	obsinfo = argv[1];
	iter = atoi(argv[2]);
	obs = connect_blocking(obsinfo, "bench-observer");

	for (it = 0; it < iter && !stop_requested; it++)
	{
		PGconn	   *a,
				   *b;
		PostgresPollingStatusType sb = PGRES_POLLING_WRITING;
		double		t,
					t0;

		/* Previous iteration's sessions must be gone. */
		t = now_ms();
		while (observe(obs, q_busy) > 0)
		{
			if (now_ms() - t > 5000)
				die("sessions of the previous iteration did not go away", NULL);
			usleep(1000);
		}
		t = now_ms();
		a = connect_blocking(conninfo, app);
		printf("login %.3f\n", now_ms() - t);

		b = start_conn(conninfo, app);
		t = now_ms();
		while (observe(obs, q_wait) < 1)
		{
			sb = drive(b, sb, 1);
			if (sb == PGRES_POLLING_OK)
				die("the second login was admitted while the slot was held: no max_connections = 1 rule applies", NULL);
			if (sb == PGRES_POLLING_FAILED)
				die("the second login was refused instead of queued", b);
			if (now_ms() - t > 3000)
				die("the second login never showed as waiting in governor.pools", NULL);
		}
		t0 = now_ms();
		PQfinish(a);
		while (sb != PGRES_POLLING_OK)
		{
			sb = drive(b, sb, 100);
			if (sb == PGRES_POLLING_FAILED)
				die("the queued login failed", b);
			if (now_ms() - t0 > 10000)
				die("the queued login did not complete within 10 s of the slot freeing", NULL);
		}
		printf("wake %.3f\n", now_ms() - t0);
		fflush(stdout);
		PQfinish(b);
	}
	PQfinish(obs);
	return 0;
}

/* ----------------------------------------------------------------- txn */

static void
exec_prepared_ok(PGconn *c, const char *name, int nparams, const char *const *params)
{
	PGresult   *r = PQexecPrepared(c, name, nparams, params, NULL, NULL, 0);

	if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
		die(name, c);
	PQclear(r);
}

static void
prepare_ok(PGconn *c, const char *name, const char *sql)
{
	PGresult   *r = PQprepare(c, name, sql, 0, NULL);

	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		die("prepare failed", c);
	PQclear(r);
}

static int
mode_txn(int argc, char **argv)
{
	PGconn	   *c;
	PGresult   *r;
	long		n,
				i;
	unsigned long long x;
	long		rows;
	bool		block = false;

	if (argc < 3 || argc > 5)
		die("usage: txn CONNINFO N SEED [APPNAME [select|block]]", NULL);
	c = connect_blocking(argv[0], argc > 3 ? argv[3] : "bench-callgrind");
	if (argc > 4)
	{
		if (strcmp(argv[4], "block") == 0)
			block = true;
		else if (strcmp(argv[4], "select") != 0)
			die("txn: WORKLOAD is select or block", NULL);
	}
	n = atol(argv[1]);
	x = strtoull(argv[2], NULL, 10);
	printf("pid %d\n", PQbackendPID(c));
	fflush(stdout);

	r = PQexec(c, "SELECT count(*) FROM pgbench_branches");
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		die("pgbench tables missing", c);
	rows = atol(PQgetvalue(r, 0, 0)) * 100000L;
	PQclear(r);
	prepare_ok(c, "sel", "SELECT abalance FROM pgbench_accounts WHERE aid = $1");
	if (block)
	{
		prepare_ok(c, "begin", "BEGIN");
		prepare_ok(c, "commit", "COMMIT");
	}
	for (i = 0; i < n; i++)
	{
		char		aid[32];
		const char *params[1] = {aid};

		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		snprintf(aid, sizeof(aid), "%ld", (long) ((x >> 33) % rows) + 1);
		if (block)
			exec_prepared_ok(c, "begin", 0, NULL);
		exec_prepared_ok(c, "sel", 1, params);
		if (block)
			exec_prepared_ok(c, "commit", 0, NULL);
	}
	printf("done %ld\n", n);
	PQfinish(c);
	return 0;
}

/* ---------------------------------------------------------------- wake */

static void
exec_ok(PGconn *c, const char *sql)
{
	PGresult   *r = PQexec(c, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		die(sql, c);
	PQclear(r);
}

/* Read what arrived on c; true once its command's result is complete. */
static bool
result_done(PGconn *c)
{
	PGresult   *r;
	bool		got = false;

	if (!PQconsumeInput(c))
		die("connection lost", c);
	while (!PQisBusy(c))
	{
		r = PQgetResult(c);
		if (r == NULL)
			return got;
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			die("command failed", c);
		PQclear(r);
		got = true;
	}
	return false;
}

static int
mode_wake(int argc, char **argv)
{
	const char *conninfo,
			   *obsinfo,
			   *app = "seed-one";
	char		q_wait[256];
	int			iter,
				it;
	PGconn	   *obs,
			   *h,
			   *w;

	if (argc != 4)
		die("usage: wake CONNINFO OBSERVER_CONNINFO RULE ITER", NULL);
	conninfo = argv[0];
	obsinfo = argv[1];
	snprintf(q_wait, sizeof(q_wait),
			 "SELECT coalesce(sum(active_waiting), 0) FROM governor.rule_usage WHERE rule = '%s'",
			 argv[2]);
	iter = atoi(argv[3]);
	obs = connect_blocking(obsinfo, "bench-observer");
	h = connect_blocking(conninfo, app);
	w = connect_blocking(conninfo, app);
	exec_ok(h, "SELECT 1");
	exec_ok(w, "SELECT 1");

	for (it = 0; it < iter && !stop_requested; it++)
	{
		double		t,
					t0,
					th = 0,
					tw = 0;
		bool		hdone = false,
					wdone = false;

		/* The reference: an unqueued BEGIN, round trip. */
		t = now_ms();
		exec_ok(w, "BEGIN");
		printf("ref %.3f\n", now_ms() - t);
		exec_ok(w, "COMMIT");

		exec_ok(h, "BEGIN");	/* takes the rule's only slot */
		if (!PQsendQuery(w, "BEGIN"))
			die("cannot send BEGIN", w);
		t = now_ms();
		while (observe(obs, q_wait) < 1)
		{
			if (now_ms() - t > 3000)
				die("the second BEGIN never showed as waiting in governor.rule_usage: no max_active = 1 rule applies?", NULL);
			if (PQconsumeInput(w) && !PQisBusy(w))
				die("the second BEGIN did not wait for the slot: no max_active = 1 rule applies?", NULL);
			usleep(500);
		}
		t0 = now_ms();
		if (!PQsendQuery(h, "COMMIT"))
			die("cannot send COMMIT", h);
		while (!hdone || !wdone)
		{
			struct pollfd p[2];

			p[0].fd = PQsocket(h);
			p[1].fd = PQsocket(w);
			p[0].events = p[1].events = POLLIN;
			p[0].revents = p[1].revents = 0;
			if (poll(p, 2, 10000) <= 0)
				die("no answer within 10 s of the slot freeing", NULL);
			if (!hdone && p[0].revents && result_done(h))
			{
				th = now_ms();
				hdone = true;
			}
			if (!wdone && p[1].revents && result_done(w))
			{
				tw = now_ms();
				wdone = true;
			}
		}
		printf("wake %.3f\nwake_send %.3f\ncommit %.3f\n", tw - th, tw - t0, th - t0);
		exec_ok(w, "COMMIT");
	}
	PQfinish(h);
	PQfinish(w);
	PQfinish(obs);
	return 0;
}

/* -------------------------------------------------------------- sample */

static int
mode_sample(int argc, char **argv)
{
	PGconn	   *c;
	long		interval_ms,
				n = 0;
	long	   *max = NULL;
	int			ncols = 0,
				k;

	if (argc != 3)
		die("usage: sample CONNINFO INTERVAL_MS SQL", NULL);
	c = connect_blocking(argv[0], "bench-sampler");
	interval_ms = atol(argv[1]);
	while (!stop_requested)
	{
		PGresult   *r = PQexec(c, argv[2]);

		if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		{
			if (stop_requested)
				break;
			die("sample query failed", c);
		}
		if (max == NULL)
		{
			ncols = PQnfields(r);
			max = calloc(ncols, sizeof(long));
		}
		for (k = 0; k < ncols; k++)
		{
			long		v = PQgetisnull(r, 0, k) ? 0 : atol(PQgetvalue(r, 0, k));

			if (n == 0 || v > max[k])
				max[k] = v;
		}
		n++;
		PQclear(r);
		usleep(interval_ms * 1000);
	}
	printf("samples %ld\n", n);
	for (k = 0; k < ncols; k++)
		printf("max %d %ld\n", k + 1, max[k]);
	PQfinish(c);
	return 0;
}

/* ----------------------------------------------------------- alternate */

/* CPU time of a process so far, ms (/proc/PID/schedstat: ns on a CPU). */
static double
cpu_ms(int pid)
{
	char		path[64];
	FILE	   *f;
	unsigned long long ns;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	if (fscanf(f, "%llu", &ns) != 1)
		ns = 0;
	fclose(f);
	return ns / 1e6;
}

static int
mode_alternate(int argc, char **argv)
{
	const char *sql;
	int			rounds,
				n,
				r,
				i;
	PGconn	  **c;

	if (argc < 4)
		die("usage: alternate CONNINFO SQL ROUNDS APPNAME...", NULL);
	sql = argv[1];
	rounds = atoi(argv[2]);
	n = argc - 3;
	c = calloc(n, sizeof(PGconn *));
	for (i = 0; i < n; i++)
		c[i] = connect_blocking(argv[0], argv[3 + i]);
	for (r = 0; r < rounds && !stop_requested; r++)
	{
		for (i = 0; i < n; i++)
		{
			int			k = (i + r) % n;
			double		t = now_ms(),
						u = cpu_ms(PQbackendPID(c[k])),
						u1;

			exec_ok(c[k], sql);
			t = now_ms() - t;
			u1 = cpu_ms(PQbackendPID(c[k]));
			printf("round %d %s %.3f %.3f\n", r + 1, argv[3 + k], t, u < 0 || u1 < 0 ? -1.0 : u1 - u);
		}
	}
	for (i = 0; i < n; i++)
		PQfinish(c[i]);
	return 0;
}

/* The modes, by the name the scripts give. */
static const struct
{
	const char *name;
	int			(*run) (int argc, char **argv);
}			modes[] =
{
	{"hold", mode_hold},
	{"iit", mode_iit},
	{"queue", mode_queue},
	{"txn", mode_txn},
	{"wake", mode_wake},
	{"sample", mode_sample},
	{"alternate", mode_alternate},
};

int
main(int argc, char **argv)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	/* Started in the background by a script: leave SIGINT ignored. */
	{
		struct sigaction old;

		if (sigaction(SIGINT, NULL, &old) == 0 && old.sa_handler != SIG_IGN)
			sigaction(SIGINT, &sa, NULL);
	}
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (argc < 2)
		die("usage: govbench hold|iit|queue|txn|wake|sample|alternate ...", NULL);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcmp(argv[1], modes[i].name) == 0)
			return modes[i].run(argc - 2, argv + 2);
	die("unknown mode", NULL);
	return 1;
}
