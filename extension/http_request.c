/*-------------------------------------------------------------------------
 *
 * http_request.c
 *		Classifying an HTTP/1.x request head: only GET /metrics is served.
 *
 * Bytes on the metrics port come from anyone who can reach it, so this
 * does bounded work on them (a few linear passes), keeps no state and
 * allocates nothing.  Plain C, no PostgreSQL header: test/fuzz builds it
 * alone.
 *
 *-------------------------------------------------------------------------
 */
#include "http_request.h"

#include <string.h>

/* Where a head ends: the first blank line, or -1. */
static long
gov_http_head_end(const char *buf, size_t len)
{
	size_t		i;

	for (i = 0; i + 1 < len; i++)
	{
		if (buf[i] == '\n' && buf[i + 1] == '\n')
			return (long) i;
		if (i + 3 < len && buf[i] == '\r' && buf[i + 1] == '\n' &&
			buf[i + 2] == '\r' && buf[i + 3] == '\n')
			return (long) i;
	}
	return -1;
}

GovHttpRequest
gov_http_parse_request(const char *buf, size_t len, size_t max)
{
	const char *tok[3];
	size_t		toklen[3];
	int			ntok = 0;
	size_t		i = 0;
	size_t		line_end;

	if (memchr(buf, '\0', len) != NULL)
		return GOV_HTTP_BAD_REQUEST;
	if (gov_http_head_end(buf, len) < 0)
		return len >= max ? GOV_HTTP_TOO_LARGE : GOV_HTTP_INCOMPLETE;

	/* The request line: method SP target SP version. */
	for (line_end = 0; line_end < len; line_end++)
		if (buf[line_end] == '\r' || buf[line_end] == '\n')
			break;
	while (i < line_end)
	{
		size_t		start;

		while (i < line_end && buf[i] == ' ')
			i++;
		if (i == line_end)
			break;
		start = i;
		while (i < line_end && buf[i] != ' ')
			i++;
		if (ntok == 3)
			return GOV_HTTP_BAD_REQUEST;
		tok[ntok] = buf + start;
		toklen[ntok++] = i - start;
	}
	if (ntok != 3 || toklen[2] < 7 || memcmp(tok[2], "HTTP/1.", 7) != 0 ||
		tok[1][0] != '/')
		return GOV_HTTP_BAD_REQUEST;
	if (toklen[0] == 3 && memcmp(tok[0], "GET", 3) == 0 &&
		toklen[1] >= 8 && memcmp(tok[1], "/metrics", 8) == 0 &&
		(toklen[1] == 8 || tok[1][8] == '?'))
		return GOV_HTTP_GET_METRICS;
	return GOV_HTTP_NOT_FOUND;
}
