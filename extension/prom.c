/*-------------------------------------------------------------------------
 *
 * prom.c
 *		Writing the Prometheus text exposition format.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"

#include "prom.h"
#include "text.h"

void
gov_prom_family(StringInfo b, const char *name, const char *type, const char *help)
{
	appendStringInfo(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name="value",... without the braces. */
static void
gov_prom_pairs(StringInfo b, const char *const *pairs)
{
	const char *sep = "";

	for (; pairs[0] != NULL; pairs += 2)
	{
		appendStringInfo(b, "%s%s=\"", sep, pairs[0]);
		gov_prom_value(b, pairs[1]);
		appendStringInfoChar(b, '"');
		sep = ",";
	}
}

void
gov_prom_labels(StringInfo b, const char *const *pairs)
{
	appendStringInfoChar(b, '{');
	gov_prom_pairs(b, pairs);
	appendStringInfoChar(b, '}');
}

void
gov_prom_value(StringInfo b, const char *s)
{
	const unsigned char *p = (const unsigned char *) s;

	while (*p)
	{
		int			len = gov_utf8_char_len(p);

		if (len == 0)
		{
			appendStringInfoChar(b, '?');
			p++;
			continue;
		}
		if (*p == '\\')
			appendStringInfoString(b, "\\\\");
		else if (*p == '"')
			appendStringInfoString(b, "\\\"");
		else if (*p == '\n')
			appendStringInfoString(b, "\\n");
		else
			appendBinaryStringInfo(b, (const char *) p, len);
		p += len;
	}
}

void
gov_prom_double(StringInfo b, double v)
{
	appendStringInfo(b, " %.6f\n", v);
}

void
gov_prom_uint(StringInfo b, uint64 v)
{
	appendStringInfo(b, " " UINT64_FORMAT "\n", v);
}

void
gov_prom_histogram(StringInfo b, const char *name, const char *const *pairs,
				   const GovHistogram *h)
{
	bool		any = pairs != NULL && pairs[0] != NULL;
	StringInfoData lead;		/* 'a="x",' before every le, or "" */
	uint64		cumulative = 0;
	int			i;

	initStringInfo(&lead);
	if (any)
	{
		gov_prom_pairs(&lead, pairs);
		appendStringInfoChar(&lead, ',');
	}
	for (i = 0; i <= GOV_HIST_BOUNDS; i++)
	{
		cumulative += h->count[i];
		if (i < GOV_HIST_BOUNDS)
			appendStringInfo(b, "%s_bucket{%sle=\"%g\"}", name, lead.data,
							 gov_hist_bounds_us[i] / 1e6);
		else
			appendStringInfo(b, "%s_bucket{%sle=\"+Inf\"}", name, lead.data);
		gov_prom_uint(b, cumulative);
	}
	pfree(lead.data);
	appendStringInfo(b, "%s_sum", name);
	if (any)
		gov_prom_labels(b, pairs);
	gov_prom_double(b, h->sum_us / 1e6);
	appendStringInfo(b, "%s_count", name);
	if (any)
		gov_prom_labels(b, pairs);
	gov_prom_uint(b, cumulative);
}

char *
gov_prom_add_labels(const char *text, const char *labels)
{
	StringInfoData out;
	const char *line = text;

	initStringInfo(&out);
	while (*line)
	{
		const char *eol = strchr(line, '\n');
		size_t		len = eol ? (size_t) (eol - line + 1) : strlen(line);
		size_t		name_len = strcspn(line, "{ ");

		if (line[0] == '#' || name_len >= len)
			appendBinaryStringInfo(&out, line, len);
		else if (line[name_len] == '{')
		{
			/* name{a="b"} v  ->  name{const,a="b"} v (an empty {} too) */
			appendBinaryStringInfo(&out, line, name_len + 1);
			appendStringInfoString(&out, labels);
			if (line[name_len + 1] != '}')
				appendStringInfoChar(&out, ',');
			appendBinaryStringInfo(&out, line + name_len + 1, len - name_len - 1);
		}
		else
		{
			appendBinaryStringInfo(&out, line, name_len);
			appendStringInfo(&out, "{%s}", labels);
			appendBinaryStringInfo(&out, line + name_len, len - name_len);
		}
		line += len;
	}
	return out.data;
}
