/*-------------------------------------------------------------------------
 *
 * fuzz_cidr.c
 *		libFuzzer target for gov_cidr_match (match.c).
 *
 * Two input forms:
 *	- text, "RANGE ADDRESS" (e.g. "10.0.0.0/8 ::ffff:10.1.2.3"), parsed
 *	  with inet_pton: the committed seeds use it, and mutations of them
 *	  stay meaningful;
 *	- anything else is binary: range family, range bits, 16 range bytes,
 *	  address family, 16 address bytes (missing bytes are zero).  Families
 *	  and bits are raw bytes, so families other than 4/6 and bits wider
 *	  than the address are exercised.
 * gov_cidr_match must agree with a bit-by-bit reference: families 4 and 6
 * only; an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is tested as a.b.c.d
 * against IPv4 ranges; an IPv4 address never matches an IPv6 range; bits
 * beyond the address width never match.  The address is copied into a
 * buffer of exactly its size (4 or 16 bytes) for AddressSanitizer.
 *
 *-------------------------------------------------------------------------
 */
#include "match.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static int
bit(const uint8_t *a, int i)
{
	return (a[i / 8] >> (7 - i % 8)) & 1;
}

static bool
ref_cidr(const GovCidr *r, int family, const uint8_t *addr)
{
	int			width;
	int			i;

	if (r->family != 4 && r->family != 6)
		return false;
	if (family != 4 && family != 6)
		return false;
	if (family == 6 && r->family == 4)
	{
		for (i = 0; i < 12; i++)
			if (addr[i] != v4mapped[i])
				return false;
		addr += 12;
		family = 4;
	}
	if (family != r->family)
		return false;
	width = family == 4 ? 32 : 128;
	if (r->bits > width)
		return false;
	for (i = 0; i < r->bits; i++)
		if (bit(addr, i) != bit(r->addr, i))
			return false;
	return true;
}

static void
fail(const char *what, const GovCidr *r, int family, const uint8_t *addr)
{
	int			i;

	fprintf(stderr, "fuzz_cidr: %s\nrange family %d bits %d addr", what,
			r->family, r->bits);
	for (i = 0; i < 16; i++)
		fprintf(stderr, " %02x", r->addr[i]);
	fprintf(stderr, "\naddress family %d:", family);
	for (i = 0; i < (family == 4 ? 4 : family == 6 ? 16 : 0); i++)
		fprintf(stderr, " %02x", addr[i]);
	fputc('\n', stderr);
	abort();
}

/* gov_cidr_match on an exactly-sized copy of the address. */
static bool
run(const GovCidr *r, int family, const uint8_t *addr)
{
	size_t		n = family == 4 ? 4 : family == 6 ? 16 : 0;
	uint8_t    *copy = malloc(n ? n : 1);
	bool		got;

	if (copy == NULL)
		abort();
	memcpy(copy, addr, n);
	got = gov_cidr_match(r, family, copy);
	free(copy);
	return got;
}

/* Compare with the reference; returns the verdict. */
static bool
check(const GovCidr *r, int family, const uint8_t *addr)
{
	bool		got = run(r, family, addr);

	if (got != ref_cidr(r, family, addr))
		fail(got ? "gov_cidr_match says match, reference says no"
			 : "gov_cidr_match says no match, reference says match",
			 r, family, addr);

	/* a.b.c.d and ::ffff:a.b.c.d are the same client for an IPv4 range. */
	if (family == 4 && r->family == 4)
	{
		uint8_t		mapped[16];

		memcpy(mapped, v4mapped, 12);
		memcpy(mapped + 12, addr, 4);
		if (run(r, 6, mapped) != got)
			fail("a.b.c.d and ::ffff:a.b.c.d differ", r, family, addr);
	}
	return got;
}

/* "ADDR[/BITS]" -> family, bytes, bits (default: full width). */
static bool
parse_text(const char *s, int *family, uint8_t *addr, int *bits)
{
	char		buf[64];
	const char *slash = strchr(s, '/');
	size_t		n = slash ? (size_t) (slash - s) : strlen(s);

	if (n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, buf, addr) == 1)
		*family = 4;
	else if (inet_pton(AF_INET6, buf, addr) == 1)
		*family = 6;
	else
		return false;
	*bits = *family == 4 ? 32 : 128;
	if (slash)
	{
		char	   *end;
		long		v = strtol(slash + 1, &end, 10);

		if (*end != '\0' || end == slash + 1 || v < 0 || v > 255)
			return false;
		*bits = (int) v;
	}
	return true;
}

static bool
is_text(const uint8_t *data, size_t size)
{
	size_t		i;

	if (size == 0 || size > 120 || memchr(data, ' ', size) == NULL)
		return false;
	for (i = 0; i < size; i++)
		if (data[i] < 0x20 || data[i] > 0x7e)
			if (!(i == size - 1 && data[i] == '\n'))
				return false;
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	GovCidr		r;
	uint8_t		addr[16];
	int			family;
	int			i;

	memset(&r, 0, sizeof(r));
	memset(addr, 0, sizeof(addr));
	if (is_text(data, size))
	{
		char		text[128];
		char	   *sp;
		int			rf,
					rb,
					af,
					ab;

		memcpy(text, data, size);
		text[size] = '\0';
		if (text[size - 1] == '\n')
			text[size - 1] = '\0';
		sp = strchr(text, ' ');
		*sp = '\0';
		if (!parse_text(text, &rf, r.addr, &rb) ||
			!parse_text(sp + 1, &af, addr, &ab))
			return 0;
		r.family = (uint8_t) rf;
		r.bits = (uint8_t) rb;
		family = af;
	}
	else
	{
		uint8_t		raw[35];

		memset(raw, 0, sizeof(raw));
		memcpy(raw, data, size < sizeof(raw) ? size : sizeof(raw));
		/* Mostly 4 and 6, sometimes anything. */
		r.family = raw[0] < 0x70 ? 4 : raw[0] < 0xe0 ? 6 : raw[0];
		r.bits = raw[1];
		memcpy(r.addr, raw + 2, 16);
		family = raw[18] < 0x70 ? 4 : raw[18] < 0xe0 ? 6 : raw[18];
		memcpy(addr, raw + 19, 16);
		/* Often make the address an IPv4-mapped one. */
		if (family == 6 && (raw[18] & 1))
			memcpy(addr, v4mapped, 12);
	}

	(void) check(&r, family, addr);

	/*
	 * Every prefix length of the range against the same address: a match
	 * at /n implies a match at every shorter prefix.
	 */
	{
		GovCidr		r2 = r;
		bool		prev = true;

		for (i = 0; i <= 130; i++)
		{
			bool		m;

			r2.bits = (uint8_t) i;
			m = check(&r2, family, addr);
			if (m && !prev && i <= (r.family == 4 ? 32 : 128))
				fail("matches /n but not a shorter prefix", &r2, family, addr);
			prev = m;
		}
	}
	return 0;
}
