/*-------------------------------------------------------------------------
 *
 * http_request.h
 *		Classifying an HTTP request head for the metrics endpoint.  Plain
 *		C: test/fuzz builds it alone.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOV_HTTP_REQUEST_H
#define GOV_HTTP_REQUEST_H

#include <stddef.h>

typedef enum GovHttpRequest
{
	GOV_HTTP_INCOMPLETE,		/* no complete head yet: read more */
	GOV_HTTP_BAD_REQUEST,		/* 400 */
	GOV_HTTP_TOO_LARGE,			/* 400: head longer than the buffer */
	GOV_HTTP_NOT_FOUND,			/* 404: anything but GET /metrics */
	GOV_HTTP_GET_METRICS		/* 200 */
} GovHttpRequest;

/*
 * What the first len bytes received ask for; max is the buffer size.
 * Reads only buf[0..len), never writes, and looks at each byte a bounded
 * number of times.
 */
extern GovHttpRequest gov_http_parse_request(const char *buf, size_t len, size_t max);

#endif							/* GOV_HTTP_REQUEST_H */
