/*
 * clockshift.c -- LD_PRELOAD shim for tests: shifts the wall clock
 * (gettimeofday, clock_gettime(CLOCK_REALTIME*), time) by the number of
 * seconds written in the file named by $GOV_CLOCK_SHIFT_FILE, re-read at
 * most every 20 ms.  The monotonic clock is left alone, so a test can
 * step the wall clock of a running server backwards.  Test use only.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

typedef int (*clock_gettime_fn) (clockid_t, struct timespec *);

static long shift_s = 0;
static struct timespec last_read = {0, 0};

static clock_gettime_fn
real_clock_gettime(void)
{
	static clock_gettime_fn fn = NULL;

	if (fn == NULL)
		fn = (clock_gettime_fn) dlsym(RTLD_NEXT, "clock_gettime");
	return fn;
}

static long
current_shift(void)
{
	struct timespec now;
	const char *path = getenv("GOV_CLOCK_SHIFT_FILE");
	FILE	   *f;

	if (path == NULL)
		return 0;
	real_clock_gettime() (CLOCK_MONOTONIC, &now);
	if ((now.tv_sec - last_read.tv_sec) * 1000 + (now.tv_nsec - last_read.tv_nsec) / 1000000 < 20 &&
		last_read.tv_sec != 0)
		return shift_s;
	last_read = now;
	f = fopen(path, "r");
	if (f)
	{
		long		v;

		if (fscanf(f, "%ld", &v) == 1)
			shift_s = v;
		fclose(f);
	}
	return shift_s;
}

int
clock_gettime(clockid_t clk, struct timespec *ts)
{
	int			rc = real_clock_gettime() (clk, ts);

	if (rc == 0 && (clk == CLOCK_REALTIME || clk == CLOCK_REALTIME_COARSE))
		ts->tv_sec += current_shift();
	return rc;
}

int
gettimeofday(struct timeval *tv, void *tz)
{
	struct timespec ts;

	(void) tz;
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return -1;
	tv->tv_sec = ts.tv_sec;
	tv->tv_usec = ts.tv_nsec / 1000;
	return 0;
}

time_t
time(time_t *t)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (t)
		*t = ts.tv_sec;
	return ts.tv_sec;
}
