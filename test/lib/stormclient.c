/*
 * stormclient.c -- a client pool that retries refused logins with no
 * backoff, as postgres.js does: PROCS processes each connect in a loop for
 * SECONDS, run SQL when admitted, disconnect, and try again at once.
 * Prints "attempts N admitted M".  Test use only (test/t/009_storms.pl).
 *
 * usage: stormclient CONNINFO SECONDS PROCS SQL
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libpq-fe.h"

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	double		seconds;
	int			procs;
	int			fds[2];
	long		attempts = 0;
	long		admitted = 0;
	int			i;

	if (argc != 5)
	{
		fprintf(stderr, "usage: %s CONNINFO SECONDS PROCS SQL\n", argv[0]);
		return 2;
	}
	seconds = atof(argv[2]);
	procs = atoi(argv[3]);
	if (pipe(fds) != 0)
		return 1;
	for (i = 0; i < procs; i++)
	{
		if (fork() == 0)
		{
			double		end = now_s() + seconds;
			long		a = 0,
						m = 0;

			close(fds[0]);
			while (now_s() < end)
			{
				PGconn	   *c = PQconnectdb(argv[1]);

				a++;
				if (PQstatus(c) == CONNECTION_OK)
				{
					PQclear(PQexec(c, argv[4]));
					m++;
				}
				PQfinish(c);
			}
			if (dprintf(fds[1], "%ld %ld\n", a, m) < 0)
				_exit(1);
			_exit(0);
		}
	}
	close(fds[1]);
	{
		FILE	   *f = fdopen(fds[0], "r");
		long		a,
					m;

		while (f && fscanf(f, "%ld %ld", &a, &m) == 2)
		{
			attempts += a;
			admitted += m;
		}
	}
	while (wait(NULL) > 0)
		;
	printf("attempts %ld admitted %ld\n", attempts, admitted);
	return 0;
}
