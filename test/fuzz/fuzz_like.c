/*-------------------------------------------------------------------------
 *
 * fuzz_like.c
 *		libFuzzer target for the application_name LIKE matcher (match.c).
 *
 * Input: the pattern, a newline, the string (no newline: the whole input
 * is the pattern, matched against itself and each of its prefixes).  The
 * pattern goes through gov_like_compile; it must compile exactly when the
 * reference below accepts it, compile to the tokens the reference
 * derives, and then gov_like_match must agree with a dynamic-programming
 * LIKE over bytes.  Pattern and string are copied into buffers of exactly
 * their length, so AddressSanitizer sees any read past them.
 *
 * Semantics pinned here: % matches any run of bytes (runs of % are one),
 * _ exactly one byte, backslash makes the next byte literal; a pattern is
 * refused if it is longer than GOV_LIKE_MAX bytes, contains a zero byte or
 * a byte >= 0x80 (escaped or not), or ends with a lone backslash.
 *
 *-------------------------------------------------------------------------
 */
#include "match.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct RefToken
{
	int			kind;			/* GovLikeTokenKind */
	uint8_t		byte;
} RefToken;

/* Tokenize; false if the pattern must be refused. */
static bool
ref_compile(const uint8_t *p, size_t len, RefToken *tok, size_t *ntok)
{
	size_t		i;
	size_t		n = 0;

	*ntok = 0;
	if (len > GOV_LIKE_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (p[i] == 0 || p[i] >= 0x80)
			return false;
	for (i = 0; i < len; i++)
	{
		if (p[i] == '\\')
		{
			if (i + 1 == len)
				return false;
			tok[n].kind = GOV_LIKE_LITERAL;
			tok[n++].byte = p[++i];
		}
		else if (p[i] == '%')
		{
			if (n > 0 && tok[n - 1].kind == GOV_LIKE_ANY_RUN)
				continue;
			tok[n].kind = GOV_LIKE_ANY_RUN;
			tok[n++].byte = '%';
		}
		else if (p[i] == '_')
		{
			tok[n].kind = GOV_LIKE_ANY_ONE;
			tok[n++].byte = '_';
		}
		else
		{
			tok[n].kind = GOV_LIKE_LITERAL;
			tok[n++].byte = p[i];
		}
	}
	*ntok = n;
	return true;
}

/*
 * Textbook LIKE: m[i][j] says whether tokens [0, i) match s[0, j).
 * Quadratic, obviously right.  Fills last[j] = does the whole pattern
 * match the prefix s[0, j), for every j <= len.
 */
static void
ref_match(const RefToken *tok, size_t ntok, const uint8_t *s, size_t len,
		  bool *last)
{
	size_t		w = len + 1;
	bool	   *m = calloc((ntok + 1) * w, sizeof(bool));
	size_t		i,
				j;

	if (m == NULL)
		abort();
	m[0] = true;
	for (i = 1; i <= ntok; i++)
		for (j = 0; j <= len; j++)
		{
			const RefToken *t = &tok[i - 1];
			bool		v;

			if (t->kind == GOV_LIKE_ANY_RUN)
				v = m[(i - 1) * w + j] || (j > 0 && m[i * w + j - 1]);
			else if (j == 0)
				v = false;
			else if (t->kind == GOV_LIKE_ANY_ONE)
				v = m[(i - 1) * w + j - 1];
			else
				v = m[(i - 1) * w + j - 1] && s[j - 1] == t->byte;
			m[i * w + j] = v;
		}
	memcpy(last, m + ntok * w, w * sizeof(bool));
	free(m);
}

static void
fail(const char *what, const uint8_t *pat, size_t plen, const uint8_t *s, size_t slen)
{
	fprintf(stderr, "fuzz_like: %s\npattern (%zu bytes): ", what, plen);
	fwrite(pat, 1, plen, stderr);
	fprintf(stderr, "\nstring (%zu bytes): ", slen);
	fwrite(s, 1, slen, stderr);
	fputc('\n', stderr);
	abort();
}

/* gov_like_match on an exactly-sized copy of s[0, slen) must say want. */
static void
check_match(const GovLikePattern *p, bool want,
			const uint8_t *pat, size_t plen, const uint8_t *s, size_t slen)
{
	char	   *copy = malloc(slen ? slen : 1);
	bool		got;

	if (copy == NULL)
		abort();
	memcpy(copy, s, slen);
	got = gov_like_match(p, copy, slen);
	free(copy);
	if (got != want)
		fail(got ? "gov_like_match says match, reference says no"
			 : "gov_like_match says no match, reference says match",
			 pat, plen, s, slen);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t		plen = nl ? (size_t) (nl - data) : size;
	const uint8_t *s = nl ? nl + 1 : data;
	size_t		slen = nl ? size - plen - 1 : size;
	char	   *pat = malloc(plen ? plen : 1);
	GovLikePattern p;
	RefToken	tok[GOV_LIKE_MAX];
	size_t		ntok;
	const char *err;
	bool		ok;
	bool	   *want;
	size_t		i;

	if (pat == NULL)
		abort();
	memcpy(pat, data, plen);
	err = gov_like_compile(pat, plen, &p);
	free(pat);
	ok = ref_compile(data, plen, tok, &ntok);

	if ((err == NULL) != ok)
		fail(err ? "gov_like_compile refused a valid pattern"
			 : "gov_like_compile accepted an invalid pattern",
			 data, plen, s, slen);
	if (!ok)
	{
		if (err[0] == '\0')
			fail("refused with an empty message", data, plen, s, slen);
		return 0;
	}

	/* The compiled form is the reference's token list. */
	if (p.ntokens != ntok)
		fail("token count differs from the reference", data, plen, s, slen);
	for (i = 0; i < ntok; i++)
		if (p.kind[i] != tok[i].kind ||
			(tok[i].kind == GOV_LIKE_LITERAL && p.byte[i] != tok[i].byte))
			fail("compiled token differs from the reference", data, plen, s, slen);

	want = malloc(slen + 1);
	if (want == NULL)
		abort();
	ref_match(tok, ntok, s, slen, want);
	check_match(&p, want[slen], data, plen, s, slen);
	/* Every proper prefix of a short string too (application_name is < 64 bytes). */
	if (slen <= 256)
		for (i = 0; i < slen; i++)
			check_match(&p, want[i], data, plen, s, i);
	free(want);
	return 0;
}
