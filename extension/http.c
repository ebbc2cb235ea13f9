/*-------------------------------------------------------------------------
 *
 * http.c
 *		The worker's metrics endpoint: listening and client sockets, for
 *		GET /metrics (governor.metrics_listen_address, metrics_port,
 *		metrics_allowed_clients).
 *
 * The worker owns the wait (worker.c): it adds these sockets to its
 * WaitEventSet and hands each ready event back here.  Every socket is
 * non-blocking, every client has a deadline (GOV_HTTP_READ_TIMEOUT_MS to
 * send its request head, GOV_HTTP_WRITE_TIMEOUT_MS to take the answer),
 * and at most GOV_HTTP_MAX_CLIENTS are open at once.  When all are taken
 * the oldest one still sending its request is closed for the newcomer,
 * else the oldest one taking its answer for over GOV_HTTP_WRITE_GRACE_MS,
 * so peers holding idle or unread connections cannot keep scrapers out;
 * a client outside metrics_allowed_clients is closed before anything is
 * read.
 *
 * The metrics text comes from metrics.c.  A built answer is kept for
 * GOV_HTTP_METRICS_MAX_AGE_MS and served to every GET /metrics within
 * that time, so however often clients ask, the worker builds at most one
 * a second; answers are immutable and shared, by reference count, among
 * the clients sending them.  Deadlines and the answer's age run on a
 * monotonic clock.  No shared state, no lock.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "compat.h"
#include "http.h"
#include "http_request.h"
#include "match.h"
#include "metrics.h"

#define GOV_HTTP_MAX_LISTEN			8
#define GOV_HTTP_MAX_CLIENTS		8
#define GOV_HTTP_MAX_ALLOWED		32
#define GOV_HTTP_REQ_MAX			4096
#define GOV_HTTP_READ_TIMEOUT_MS	3000
#define GOV_HTTP_WRITE_TIMEOUT_MS	10000
#define GOV_HTTP_WRITE_GRACE_MS		1000	/* a writer may be evicted after */
#define GOV_HTTP_METRICS_MAX_AGE_MS 1000	/* a /metrics answer is reused for */

/* Settings. */
static char *gov_metrics_listen_address = NULL;
static int	gov_metrics_port = 9930;
static char *gov_metrics_allowed_clients = NULL;

/* A whole answer, head and body; immutable once built, shared. */
typedef struct GovHttpAnswer
{
	int			refs;			/* clients sending it, and the cache */
	size_t		len;
	char		data[FLEXIBLE_ARRAY_MEMBER];
} GovHttpAnswer;

typedef struct GovHttpClient
{
	pgsocket	fd;				/* PGINVALID_SOCKET = free */
	bool		writing;
	int64		opened_ms;
	int64		answered_ms;	/* when writing began */
	int64		deadline_ms;
	size_t		req_len;
	char		req[GOV_HTTP_REQ_MAX];
	GovHttpAnswer *answer;		/* one reference, while writing */
	size_t		sent;
} GovHttpClient;

static pgsocket gov_listen[GOV_HTTP_MAX_LISTEN];
static int	gov_nlisten = 0;
static char *gov_bound_address = NULL;	/* settings the listeners follow */
static int	gov_bound_port = 0;
static GovCidr gov_allowed[GOV_HTTP_MAX_ALLOWED];
static int	gov_nallowed = 0;	/* 0 = any client ... */
static bool gov_allow_none = false; /* ... unless the list did not parse */
static GovHttpClient gov_clients[GOV_HTTP_MAX_CLIENTS];
static bool gov_http_initialized = false;
static uint64 gov_http_gen = 1;
static MemoryContext gov_http_cxt = NULL;
static GovHttpAnswer *gov_metrics_answer = NULL;	/* the last /metrics answer */
static int64 gov_metrics_answer_ms = 0; /* when it was built */

/* ----------------------------------------------------------------
 * Settings
 * ----------------------------------------------------------------
 */

/* Parse "a.b.c.d[/n]" or an IPv6 address with an optional prefix. */
static bool
gov_parse_cidr(const char *s, GovCidr *out)
{
	char		host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t		len = slash ? (size_t) (slash - s) : strlen(s);
	char	   *end;
	long		bits;

	if (len == 0 || len >= sizeof(host))
		return false;
	memcpy(host, s, len);
	host[len] = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, host, out->addr) == 1)
		out->family = 4;
	else if (inet_pton(AF_INET6, host, out->addr) == 1)
		out->family = 6;
	else
		return false;
	bits = out->family == 4 ? 32 : 128;
	if (slash)
	{
		errno = 0;
		bits = strtol(slash + 1, &end, 10);
		if (errno != 0 || end == slash + 1 || *end != '\0' || bits < 0 ||
			bits > (out->family == 4 ? 32 : 128))
			return false;
	}
	out->bits = (uint8) bits;
	return true;
}

/* Split a comma list into at most max CIDRs; false on a bad entry. */
static bool
gov_parse_cidr_list(const char *list, GovCidr *out, int max, int *n, char **bad)
{
	char	   *copy = pstrdup(list);
	char	   *save = NULL;
	char	   *tok;
	bool		ok = true;

	*n = 0;
	for (tok = strtok_r(copy, ", \t", &save); tok && ok; tok = strtok_r(NULL, ", \t", &save))
	{
		if (*n >= max || !gov_parse_cidr(tok, &out[*n]))
		{
			*bad = pstrdup(tok);
			ok = false;
		}
		else
			(*n)++;
	}
	pfree(copy);
	return ok;
}

static bool
gov_check_allowed_clients(char **newval, void **extra, GucSource source)
{
	GovCidr		tmp[GOV_HTTP_MAX_ALLOWED];
	int			n;
	char	   *bad = NULL;

	if (gov_parse_cidr_list(*newval, tmp, GOV_HTTP_MAX_ALLOWED, &n, &bad))
		return true;
	GUC_check_errdetail("\"%s\" is not an address range, or there are more than %d.",
						bad, GOV_HTTP_MAX_ALLOWED);
	return false;
}

void
gov_http_define_settings(void)
{
	DefineCustomStringVariable("governor.metrics_listen_address",
							   "Addresses the pg_governor worker serves Prometheus metrics on (GET /metrics).",
							   "Comma-separated host names or IP addresses, * for all; empty (the default) turns the endpoint off. No authentication: bind to an address only your Prometheus can reach, and see governor.metrics_allowed_clients.",
							   &gov_metrics_listen_address, "",
							   PGC_SIGHUP, GUC_LIST_INPUT, NULL, NULL, NULL);
	DefineCustomIntVariable("governor.metrics_port",
							"TCP port of the metrics endpoint.",
							NULL,
							&gov_metrics_port, 9930, 1, 65535,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("governor.metrics_allowed_clients",
							   "Client address ranges that may connect to the metrics endpoint.",
							   "Comma-separated addresses or CIDR ranges (at most 32); empty (the default) allows any client that can reach the listen address.",
							   &gov_metrics_allowed_clients, "",
							   PGC_SIGHUP, GUC_LIST_INPUT, gov_check_allowed_clients, NULL, NULL);
}

/* ----------------------------------------------------------------
 * Answers
 * ----------------------------------------------------------------
 */

/* A new answer (malloc'd, one reference); NULL when out of memory. */
static GovHttpAnswer *
gov_http_answer(int status, const char *reason, const char *body, size_t body_len)
{
	GovHttpAnswer *a;
	char		head[256];
	int			hlen;

	hlen = snprintf(head, sizeof(head),
					"HTTP/1.1 %d %s\r\n"
					"Content-Type: %s\r\n"
					"Content-Length: %zu\r\n"
					"Connection: close\r\n\r\n",
					status, reason,
					status == 200 ? "text/plain; version=0.0.4; charset=utf-8" :
					"text/plain; charset=utf-8",
					body_len);
	a = malloc(offsetof(GovHttpAnswer, data) + hlen + body_len);
	if (a == NULL)
		return NULL;
	a->refs = 1;
	a->len = hlen + body_len;
	memcpy(a->data, head, hlen);
	memcpy(a->data + hlen, body, body_len);
	return a;
}

#define GOV_ANSWER(status, reason, body) \
	gov_http_answer((status), (reason), (body), sizeof(body) - 1)

static void
gov_http_release(GovHttpAnswer *a)
{
	if (a != NULL && --a->refs == 0)
		free(a);
}

/* Build the metrics answer; an error answers 500 and leaves the worker running. */
static GovHttpAnswer *
gov_http_build_metrics(void)
{
	MemoryContext old = MemoryContextSwitchTo(gov_http_cxt);
	char	   *volatile text = NULL;
	GovHttpAnswer *a;

	PG_TRY();
	{
		text = gov_metrics_text();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(gov_http_cxt);
		EmitErrorReport();
		FlushErrorState();
		LWLockReleaseAll();
		text = NULL;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	if (text)
		a = gov_http_answer(200, "OK", text, strlen(text));
	else
		a = GOV_ANSWER(500, "Internal Server Error", "error\n");
	MemoryContextReset(gov_http_cxt);
	return a;
}

/*
 * The answer to GET /metrics, with a reference for the caller: the last
 * one while it is younger than GOV_HTTP_METRICS_MAX_AGE_MS (its age
 * counted from the end of its build), else a new one.
 */
static GovHttpAnswer *
gov_http_metrics_answer(void)
{
	if (gov_metrics_answer == NULL ||
		gov_monotonic_ms() - gov_metrics_answer_ms >= GOV_HTTP_METRICS_MAX_AGE_MS)
	{
		gov_http_release(gov_metrics_answer);
		gov_metrics_answer = gov_http_build_metrics();
		gov_metrics_answer_ms = gov_monotonic_ms();
	}
	if (gov_metrics_answer != NULL)
		gov_metrics_answer->refs++;
	return gov_metrics_answer;
}

/* ----------------------------------------------------------------
 * Sockets
 * ----------------------------------------------------------------
 */
static void
gov_http_close_listeners(void)
{
	int			i;

	for (i = 0; i < gov_nlisten; i++)
		closesocket(gov_listen[i]);
	gov_nlisten = 0;
	gov_http_gen++;
}

static void
gov_http_listen_one(const char *host, int port)
{
	struct addrinfo hints;
	struct addrinfo *res = NULL;
	struct addrinfo *ai;
	char		portstr[16];
	int			rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(portstr, sizeof(portstr), "%d", port);
	rc = getaddrinfo(strcmp(host, "*") == 0 ? NULL : host, portstr, &hints, &res);
	if (rc != 0)
	{
		ereport(WARNING,
				(errmsg("pg_governor: could not resolve metrics address \"%s\": %s",
						host, gai_strerror(rc)),
				 errhint("Check governor.metrics_listen_address.")));
		return;
	}
	for (ai = res; ai != NULL && gov_nlisten < GOV_HTTP_MAX_LISTEN; ai = ai->ai_next)
	{
		pgsocket	fd;
		int			one = 1;

		fd = socket(ai->ai_family, SOCK_STREAM, 0);
		if (fd == PGINVALID_SOCKET)
			continue;
		(void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, (char *) &one, sizeof(one));
#ifdef IPV6_V6ONLY
		if (ai->ai_family == AF_INET6)
			(void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, (char *) &one, sizeof(one));
#endif
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
			listen(fd, 16) < 0 || !pg_set_noblock(fd))
		{
			ereport(WARNING,
					(errcode_for_socket_access(),
					 errmsg("pg_governor: could not listen for metrics on \"%s\" port %d: %m",
							host, port),
					 errhint("Is another process using the port? Change governor.metrics_port.")));
			closesocket(fd);
			continue;
		}
		gov_listen[gov_nlisten++] = fd;
	}
	freeaddrinfo(res);
}

void
gov_http_configure(void)
{
	const char *addr = gov_metrics_listen_address ? gov_metrics_listen_address : "";
	char	   *copy;
	char	   *tok;
	char	   *save = NULL;
	char	   *bad = NULL;

	if (!gov_http_initialized)
	{
		int			i;

		for (i = 0; i < GOV_HTTP_MAX_CLIENTS; i++)
			gov_clients[i].fd = PGINVALID_SOCKET;
		gov_http_cxt = AllocSetContextCreate(TopMemoryContext, "pg_governor metrics",
											 ALLOCSET_DEFAULT_SIZES);
		gov_http_initialized = true;
	}
	/* Settings may change the text (metrics_compat, metrics_labels). */
	gov_http_release(gov_metrics_answer);
	gov_metrics_answer = NULL;

	/*
	 * The check hook refuses a list that does not parse, so this should not
	 * happen; if it does, fail closed rather than let everyone in.
	 */
	gov_allow_none = !gov_parse_cidr_list(gov_metrics_allowed_clients ? gov_metrics_allowed_clients : "",
										  gov_allowed, GOV_HTTP_MAX_ALLOWED, &gov_nallowed, &bad);
	if (gov_allow_none)
		ereport(WARNING,
				(errmsg("pg_governor: governor.metrics_allowed_clients entry \"%s\" is not an address range; the metrics endpoint refuses every client",
						bad)));

	if (gov_bound_address != NULL && strcmp(gov_bound_address, addr) == 0 &&
		gov_bound_port == gov_metrics_port)
		return;

	gov_http_close_listeners();
	if (gov_bound_address)
		pfree(gov_bound_address);
	gov_bound_address = NULL;
	if (addr[0] != '\0')
	{
		copy = pstrdup(addr);
		for (tok = strtok_r(copy, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save))
			gov_http_listen_one(tok, gov_metrics_port);
		pfree(copy);
		if (gov_nlisten == 0)
			return;				/* nothing bound: the next reload tries again */
		ereport(LOG,
				(errmsg("pg_governor: serving Prometheus metrics on \"%s\" port %d, path /metrics",
						addr, gov_metrics_port)));
	}
	gov_bound_address = MemoryContextStrdup(TopMemoryContext, addr);
	gov_bound_port = gov_metrics_port;
}

static void
gov_http_drop(GovHttpClient *c)
{
	char		scratch[512];

	/* Read what is left so that close() does not reset the connection. */
	(void) recv(c->fd, scratch, sizeof(scratch), 0);
	closesocket(c->fd);
	c->fd = PGINVALID_SOCKET;
	gov_http_release(c->answer);
	c->answer = NULL;
	gov_http_gen++;
}

/* Start sending an answer; the client takes over the caller's reference. */
static void
gov_http_send(GovHttpClient *c, GovHttpAnswer *a)
{
	if (a == NULL)
	{
		gov_http_drop(c);		/* out of memory */
		return;
	}
	c->answer = a;
	c->sent = 0;
	c->writing = true;
	c->answered_ms = gov_monotonic_ms();
	c->deadline_ms = c->answered_ms + GOV_HTTP_WRITE_TIMEOUT_MS;
	gov_http_gen++;
}

static void
gov_http_write(GovHttpClient *c)
{
	ssize_t		n;
	int			flags = 0;

#ifdef MSG_NOSIGNAL
	flags = MSG_NOSIGNAL;
#endif
	n = send(c->fd, c->answer->data + c->sent, c->answer->len - c->sent, flags);
	if (n < 0)
	{
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			gov_http_drop(c);
		return;
	}
	c->sent += n;
	if (c->sent >= c->answer->len)
		gov_http_drop(c);
}

static void
gov_http_read(GovHttpClient *c)
{
	ssize_t		n;

	n = recv(c->fd, c->req + c->req_len, GOV_HTTP_REQ_MAX - c->req_len, 0);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
	{
		gov_http_drop(c);
		return;
	}
	if (n < 0)
		return;
	c->req_len += n;
	switch (gov_http_parse_request(c->req, c->req_len, GOV_HTTP_REQ_MAX))
	{
		case GOV_HTTP_INCOMPLETE:
			return;
		case GOV_HTTP_BAD_REQUEST:
			gov_http_send(c, GOV_ANSWER(400, "Bad Request", "bad request\n"));
			break;
		case GOV_HTTP_TOO_LARGE:
			gov_http_send(c, GOV_ANSWER(400, "Bad Request", "request too large\n"));
			break;
		case GOV_HTTP_NOT_FOUND:
			gov_http_send(c, GOV_ANSWER(404, "Not Found", "not found; try GET /metrics\n"));
			break;
		case GOV_HTTP_GET_METRICS:
			gov_http_send(c, gov_http_metrics_answer());
			break;
	}
	/* Most answers fit the socket buffer: try at once. */
	if (c->fd != PGINVALID_SOCKET && c->writing)
		gov_http_write(c);
}

static bool
gov_http_allowed(const struct sockaddr_storage *ss)
{
	int			i;

	if (gov_allow_none)
		return false;
	if (gov_nallowed == 0)
		return true;
	for (i = 0; i < gov_nallowed; i++)
	{
		if (ss->ss_family == AF_INET &&
			gov_cidr_match(&gov_allowed[i], 4,
						   (const uint8 *) &((const struct sockaddr_in *) ss)->sin_addr))
			return true;
		if (ss->ss_family == AF_INET6 &&
			gov_cidr_match(&gov_allowed[i], 6,
						   (const uint8 *) &((const struct sockaddr_in6 *) ss)->sin6_addr))
			return true;
	}
	return false;
}

/*
 * A free client slot, else the slot of the oldest client still sending its
 * request, else of the one taking its answer the longest, past
 * GOV_HTTP_WRITE_GRACE_MS (a scraper reads its answer in far less).
 */
static GovHttpClient *
gov_http_slot(void)
{
	GovHttpClient *reader = NULL;
	GovHttpClient *writer = NULL;
	GovHttpClient *victim;
	int64		now = gov_monotonic_ms();
	int			i;

	for (i = 0; i < GOV_HTTP_MAX_CLIENTS; i++)
	{
		GovHttpClient *c = &gov_clients[i];

		if (c->fd == PGINVALID_SOCKET)
			return c;
		if (!c->writing)
		{
			if (reader == NULL || c->opened_ms < reader->opened_ms)
				reader = c;
		}
		else if (now - c->answered_ms >= GOV_HTTP_WRITE_GRACE_MS &&
				 (writer == NULL || c->answered_ms < writer->answered_ms))
			writer = c;
	}
	victim = reader ? reader : writer;
	if (victim)
		gov_http_drop(victim);
	return victim;
}

static void
gov_http_accept(pgsocket lfd)
{
	int			tries;

	for (tries = 0; tries < GOV_HTTP_MAX_CLIENTS; tries++)
	{
		struct sockaddr_storage ss;
		socklen_t	sslen = sizeof(ss);
		pgsocket	fd = accept(lfd, (struct sockaddr *) &ss, &sslen);
		GovHttpClient *c;

		if (fd == PGINVALID_SOCKET)
			return;				/* EAGAIN or a transient error */
		if (!gov_http_allowed(&ss) || (c = gov_http_slot()) == NULL ||
			!pg_set_noblock(fd))
		{
			closesocket(fd);
			continue;
		}
		c->fd = fd;
		c->writing = false;
		c->req_len = 0;
		c->answer = NULL;
		c->opened_ms = gov_monotonic_ms();
		c->deadline_ms = c->opened_ms + GOV_HTTP_READ_TIMEOUT_MS;
		gov_http_gen++;
	}
}

/* ----------------------------------------------------------------
 * The worker's wait
 * ----------------------------------------------------------------
 */
uint64
gov_http_generation(void)
{
	return gov_http_gen;
}

int
gov_http_max_events(void)
{
	return GOV_HTTP_MAX_LISTEN + GOV_HTTP_MAX_CLIENTS;
}

void
gov_http_add_events(WaitEventSet *set)
{
	int			i;

	for (i = 0; i < gov_nlisten; i++)
		AddWaitEventToSet(set, WL_SOCKET_READABLE, gov_listen[i], NULL,
						  (void *) &gov_listen[i]);
	for (i = 0; i < GOV_HTTP_MAX_CLIENTS; i++)
	{
		GovHttpClient *c = &gov_clients[i];

		if (c->fd != PGINVALID_SOCKET)
			AddWaitEventToSet(set, c->writing ? WL_SOCKET_WRITEABLE : WL_SOCKET_READABLE,
							  c->fd, NULL, (void *) c);
	}
}

void
gov_http_handle(const WaitEvent *ev)
{
	if (ev->user_data >= (void *) &gov_listen[0] &&
		ev->user_data < (void *) &gov_listen[GOV_HTTP_MAX_LISTEN])
		gov_http_accept(*(pgsocket *) ev->user_data);
	else if (ev->user_data != NULL)
	{
		GovHttpClient *c = (GovHttpClient *) ev->user_data;

		if (c->fd == PGINVALID_SOCKET)
			return;
		if (c->writing)
			gov_http_write(c);
		else
			gov_http_read(c);
	}
}

long
gov_http_expire(void)
{
	int64		now = gov_monotonic_ms();
	long		next = -1;
	int			i;

	for (i = 0; i < GOV_HTTP_MAX_CLIENTS; i++)
	{
		GovHttpClient *c = &gov_clients[i];

		if (c->fd == PGINVALID_SOCKET)
			continue;
		if (now >= c->deadline_ms)
			gov_http_drop(c);	/* silent, slow or not reading */
		else if (next < 0 || c->deadline_ms - now < next)
			next = (long) (c->deadline_ms - now);
	}

	/* A stale answer is no more use: free it (clients sending it keep theirs). */
	if (gov_metrics_answer != NULL &&
		now - gov_metrics_answer_ms >= GOV_HTTP_METRICS_MAX_AGE_MS)
	{
		gov_http_release(gov_metrics_answer);
		gov_metrics_answer = NULL;
	}
	return next;
}
