/*-------------------------------------------------------------------------
 *
 * fuzz_http.c
 *		libFuzzer target for gov_http_parse_request (http_request.c).
 *
 * Input: the bytes a peer sent on the metrics port.  They are copied into
 * a buffer of exactly their length (AddressSanitizer then reports any
 * read past len) and classified with several buffer sizes: the server's
 * 4096, len - 1, len, len + 1 and 0.  Checks:
 *	- the result depends on max only as INCOMPLETE vs TOO_LARGE, and
 *	  TOO_LARGE comes exactly when there is no complete head and len >= max;
 *	- a zero byte anywhere is BAD_REQUEST; no blank line (\n\n or
 *	  \r\n\r\n) means INCOMPLETE/TOO_LARGE, a blank line means a verdict;
 *	- GET_METRICS only if the request line, split on spaces, is exactly
 *	  "GET", "/metrics" or "/metrics?...", "HTTP/1.x": a reference
 *	  classifier written independently must agree on every verdict;
 *	- bytes after the head change nothing: the head alone (through its
 *	  blank line) gets the same verdict;
 *	- the input read back unchanged (the parser never writes).
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include "http_request.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SERVER_MAX 4096

static const char *const names[] = {
	"INCOMPLETE", "BAD_REQUEST", "TOO_LARGE", "NOT_FOUND", "GET_METRICS"
};

static void
fail(const char *what, const uint8_t *data, size_t size, int got, int want)
{
	fprintf(stderr, "fuzz_http: %s (got %s, want %s), %zu bytes:\n", what,
			got >= 0 && got <= 4 ? names[got] : "?",
			want >= 0 && want <= 4 ? names[want] : "-", size);
	fwrite(data, 1, size, stderr);
	fputc('\n', stderr);
	abort();
}

static GovHttpRequest
parse(const uint8_t *data, size_t len, size_t max)
{
	char	   *copy = malloc(len ? len : 1);
	GovHttpRequest r;

	if (copy == NULL)
		abort();
	memcpy(copy, data, len);
	r = gov_http_parse_request(copy, len, max);
	if (memcmp(copy, data, len) != 0)
		fail("the parser wrote into its input", data, len, r, -1);
	free(copy);
	return r;
}

/* Offset just past the blank line ending the head, or 0 if none. */
static size_t
ref_head_len(const uint8_t *d, size_t len)
{
	size_t		i;

	for (i = 0; i < len; i++)
	{
		if (i + 2 <= len && d[i] == '\n' && d[i + 1] == '\n')
			return i + 2;
		if (i + 4 <= len && memcmp(d + i, "\r\n\r\n", 4) == 0)
			return i + 4;
	}
	return 0;
}

/* The verdict for a buffer known to hold a complete head and no zero byte. */
static GovHttpRequest
ref_verdict(const uint8_t *d, size_t len)
{
	char		line[SERVER_MAX * 4 + 1];
	char	   *tok[4];
	int			ntok = 0;
	char	   *save = NULL;
	char	   *t;
	size_t		n = 0;

	while (n < len && d[n] != '\r' && d[n] != '\n')
		n++;
	if (n >= sizeof(line))
		return GOV_HTTP_BAD_REQUEST;	/* not reached: max_len is smaller */
	memcpy(line, d, n);
	line[n] = '\0';
	for (t = strtok_r(line, " ", &save); t; t = strtok_r(NULL, " ", &save))
	{
		if (ntok == 3)
			return GOV_HTTP_BAD_REQUEST;
		tok[ntok++] = t;
	}
	if (ntok != 3 || strncmp(tok[2], "HTTP/1.", 7) != 0 || tok[1][0] != '/')
		return GOV_HTTP_BAD_REQUEST;
	if (strcmp(tok[0], "GET") == 0 &&
		(strcmp(tok[1], "/metrics") == 0 || strncmp(tok[1], "/metrics?", 9) == 0))
		return GOV_HTTP_GET_METRICS;
	return GOV_HTTP_NOT_FOUND;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t		maxes[5];
	GovHttpRequest r[5];
	GovHttpRequest base;
	bool		has_nul = memchr(data, '\0', size) != NULL;
	size_t		head = ref_head_len(data, size);
	int			i;

	if (size > SERVER_MAX * 4)
		return 0;
	maxes[0] = SERVER_MAX;
	maxes[1] = size ? size - 1 : 0;
	maxes[2] = size;
	maxes[3] = size + 1;
	maxes[4] = 0;
	for (i = 0; i < 5; i++)
		r[i] = parse(data, size, maxes[i]);

	if (has_nul)
		base = GOV_HTTP_BAD_REQUEST;
	else if (head == 0)
		base = GOV_HTTP_INCOMPLETE;
	else
		base = ref_verdict(data, size);

	for (i = 0; i < 5; i++)
	{
		GovHttpRequest want = base;

		if (base == GOV_HTTP_INCOMPLETE && size >= maxes[i])
			want = GOV_HTTP_TOO_LARGE;
		if (r[i] != want)
			fail("verdict differs from the reference", data, size, r[i], want);
	}

	/* Direct invariants, independent of the reference. */
	if (r[0] == GOV_HTTP_GET_METRICS)
	{
		size_t		k = 0;

		while (k < size && data[k] == ' ')
			k++;
		if (size - k < 14 || memcmp(data + k, "GET ", 4) != 0 ||
			memmem(data, size, "/metrics", 8) == NULL ||
			memmem(data, size, " HTTP/1.", 8) == NULL)
			fail("GET_METRICS for a request that is not GET /metrics",
				 data, size, r[0], -1);
	}

	/* Bytes after the head change nothing. */
	if (!has_nul && head > 0 && head < size)
	{
		GovHttpRequest h = parse(data, head, SERVER_MAX);

		if (h != r[0])
			fail("the head alone gets another verdict", data, size, h, r[0]);
	}
	/* A head that is not finished yet is finished by a blank line. */
	if (!has_nul && head == 0 && size + 4 <= SERVER_MAX)
	{
		uint8_t    *more = malloc(size + 4);
		GovHttpRequest m;

		if (more == NULL)
			abort();
		memcpy(more, data, size);
		memcpy(more + size, "\r\n\r\n", 4);
		m = parse(more, size + 4, SERVER_MAX);
		free(more);
		if (m == GOV_HTTP_INCOMPLETE || m == GOV_HTTP_TOO_LARGE)
			fail("a head ended by a blank line is still incomplete",
				 data, size, m, -1);
	}
	return 0;
}
