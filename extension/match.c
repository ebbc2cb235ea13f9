/*-------------------------------------------------------------------------
 *
 * match.c
 *		application_name LIKE patterns and client address ranges.
 *
 * Both run under gov->lock at every login, for every rule, on input the
 * client chooses, so both do bounded work: a pattern is compiled once at
 * rule load into fixed-length segments separated by %, and matching
 * places each segment at its leftmost fit, left to right.  For segments
 * of fixed length the leftmost placement is always the right one, so
 * nothing is ever tried twice (the recursive matcher of 1.0 was
 * exponential in the number of %).
 *
 * Plain C on purpose: no PostgreSQL header, no allocation, no error
 * path; test/fuzz builds it alone.
 *
 *-------------------------------------------------------------------------
 */
#include "match.h"

#include <string.h>

const char *
gov_like_compile(const char *pattern, size_t len, GovLikePattern *out)
{
	size_t		i;
	int			n = 0;

	memset(out, 0, sizeof(*out));
	if (len > GOV_LIKE_MAX)
		return "pattern is longer than 127 bytes";
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) pattern[i];

		if (c == '\0')
			return "pattern contains a zero byte";
		if (c >= 0x80)
			return "pattern contains a non-ASCII character, which never matches: the server replaces non-ASCII characters of application_name; use % for the non-ASCII part";
		if (c == '%')
		{
			/* %% is %: keep one token per run. */
			if (n == 0 || out->kind[n - 1] != GOV_LIKE_ANY_RUN)
			{
				out->kind[n] = GOV_LIKE_ANY_RUN;
				out->byte[n++] = '%';
			}
			continue;
		}
		if (c == '_')
		{
			out->kind[n] = GOV_LIKE_ANY_ONE;
			out->byte[n++] = '_';
			continue;
		}
		if (c == '\\')
		{
			if (i + 1 >= len)
				return "pattern ends with an escape character";
			c = (unsigned char) pattern[++i];
			if (c == '\0')
				return "pattern contains a zero byte";
			if (c >= 0x80)
				return "pattern contains a non-ASCII character, which never matches: the server replaces non-ASCII characters of application_name; use % for the non-ASCII part";
		}
		out->kind[n] = GOV_LIKE_LITERAL;
		out->byte[n++] = c;
	}
	out->ntokens = (uint8_t) n;
	return NULL;
}

/* Do the tokens [from, from + n) match str[at, at + n)? */
static bool
gov_like_segment_at(const GovLikePattern *p, int from, int n, const char *str)
{
	int			i;

	for (i = 0; i < n; i++)
		if (p->kind[from + i] == GOV_LIKE_LITERAL &&
			p->byte[from + i] != (uint8_t) str[i])
			return false;
	return true;
}

bool
gov_like_match(const GovLikePattern *p, const char *str, size_t len)
{
	int			n = p->ntokens;
	int			first_run = -1;
	int			last_run = -1;
	int			i;
	size_t		pos;
	size_t		end;
	int			seg;

	for (i = 0; i < n; i++)
		if (p->kind[i] == GOV_LIKE_ANY_RUN)
		{
			if (first_run < 0)
				first_run = i;
			last_run = i;
		}

	/* No %: the whole string, one token per byte. */
	if (first_run < 0)
		return len == (size_t) n && gov_like_segment_at(p, 0, n, str);

	/* Anchored head (before the first %) and tail (after the last). */
	if ((size_t) first_run + (size_t) (n - 1 - last_run) > len)
		return false;
	if (!gov_like_segment_at(p, 0, first_run, str))
		return false;
	if (!gov_like_segment_at(p, last_run + 1, n - 1 - last_run,
							 str + len - (n - 1 - last_run)))
		return false;

	/* Middle segments, each at its leftmost fit in what is left. */
	pos = (size_t) first_run;
	end = len - (size_t) (n - 1 - last_run);
	seg = first_run + 1;
	while (seg < last_run)
	{
		int			seglen = 0;
		bool		found = false;

		while (seg + seglen < last_run && p->kind[seg + seglen] != GOV_LIKE_ANY_RUN)
			seglen++;
		for (; pos + (size_t) seglen <= end; pos++)
			if (gov_like_segment_at(p, seg, seglen, str + pos))
			{
				found = true;
				break;
			}
		if (!found)
			return false;
		pos += (size_t) seglen;
		seg += seglen + 1;		/* past the % that ends it */
	}
	return true;
}

bool
gov_cidr_match(const GovCidr *range, int family, const uint8_t *addr)
{
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	int			bits = range->bits;
	int			nbytes;

	if (family == 6 && range->family == 4)
	{
		if (memcmp(addr, v4mapped, sizeof(v4mapped)) != 0)
			return false;
		addr += sizeof(v4mapped);
		family = 4;
	}
	if (family != range->family || (family != 4 && family != 6))
		return false;
	nbytes = family == 4 ? 4 : 16;
	if (bits > nbytes * 8)
		return false;
	if (memcmp(addr, range->addr, (size_t) (bits / 8)) != 0)
		return false;
	if (bits % 8)
	{
		uint8_t		mask = (uint8_t) (0xff << (8 - bits % 8));

		if ((addr[bits / 8] & mask) != (range->addr[bits / 8] & mask))
			return false;
	}
	return true;
}
