/*-------------------------------------------------------------------------
 *
 * match.h
 *		Rule matching primitives that depend on nothing but the C library:
 *		application_name LIKE patterns compiled at rule load, and client
 *		address ranges.  The fuzz targets in test/fuzz link this file alone.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOV_MATCH_H
#define GOV_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A pattern is at most this many bytes of text (the column's bound). */
#define GOV_LIKE_MAX		127

typedef enum GovLikeTokenKind
{
	GOV_LIKE_LITERAL = 0,
	GOV_LIKE_ANY_ONE,			/* _ */
	GOV_LIKE_ANY_RUN			/* % (runs of % fold into one) */
} GovLikeTokenKind;

/* A compiled LIKE pattern: escapes resolved, one token per byte of input. */
typedef struct GovLikePattern
{
	uint8_t		ntokens;
	uint8_t		byte[GOV_LIKE_MAX];
	uint8_t		kind[GOV_LIKE_MAX];
} GovLikePattern;

/*
 * Compile a LIKE pattern (% and _, backslash escapes the next byte).
 * Returns NULL on success, else a message saying what is wrong.
 */
extern const char *gov_like_compile(const char *pattern, size_t len,
									GovLikePattern *out);

/*
 * Does str[0..len) match?  No backtracking: the segments between %
 * are placed left to right, each at its leftmost fit, so the work is at
 * most len x ntokens byte comparisons whatever the input.
 */
extern bool gov_like_match(const GovLikePattern *p, const char *str, size_t len);

/* An address range; family 4 or 6. */
typedef struct GovCidr
{
	uint8_t		family;
	uint8_t		bits;
	uint8_t		addr[16];
} GovCidr;

/*
 * Does an address fall in the range?  family is 4 or 6 (anything else,
 * a Unix socket for instance, matches nothing); an IPv4-mapped IPv6
 * address (::ffff:a.b.c.d) matches IPv4 ranges.
 */
extern bool gov_cidr_match(const GovCidr *range, int family, const uint8_t *addr);

#endif							/* GOV_MATCH_H */
