/*-------------------------------------------------------------------------
 *
 * text.h
 *		Text a client sent (names, application_name), read safely: the
 *		server does not check its encoding, so the governor does before it
 *		stores or prints it.  Likewise text read from governor.rules, which
 *		is in governor.database's encoding.  No shared state, no locks.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOV_TEXT_H
#define GOV_TEXT_H

#include "mb/pg_wchar.h"

/*
 * Length of the valid UTF-8 character at p (p[0] != '\0'), or 0 when the
 * bytes there are not one: an invalid sequence, or one cut by the string's
 * end.
 */
static inline int
gov_utf8_char_len(const unsigned char *p)
{
	int			len = pg_utf_mblen(p);
	int			i;

	for (i = 1; i < len; i++)
		if (p[i] == '\0')
			return 0;
	return pg_utf8_islegal(p, len) ? len : 0;
}

/*
 * Make s valid UTF-8 in place: each byte that does not begin a valid
 * character becomes '?' (the length does not change).
 */
static inline void
gov_utf8_make_valid(char *s)
{
	unsigned char *p = (unsigned char *) s;

	while (*p)
	{
		int			len = gov_utf8_char_len(p);

		if (len == 0)
		{
			*p++ = '?';
			continue;
		}
		p += len;
	}
}

#endif							/* GOV_TEXT_H */
