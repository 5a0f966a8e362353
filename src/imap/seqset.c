#include "seqset.h"

#include <stdlib.h>

static bool
seqset_number(const char **p, uint32_t star, uint32_t *out)
{
	if (**p == '*') {
		(*p)++;
		*out = star;
		return true;
	}
	uint64_t v = 0;
	const char *start = *p;
	while (**p >= '0' && **p <= '9') {
		v = v * 10 + (uint64_t)(**p - '0');
		if (v > UINT32_MAX)
			return false;
		(*p)++;
	}
	/* nz-number: no zero, no leading zero */
	if (*p == start || v == 0 || *start == '0')
		return false;
	*out = (uint32_t)v;
	return true;
}

bool
seqset_parse(const char *s, uint32_t star, struct seqset *out)
{
	size_t cap = 0;
	out->ranges = NULL;
	out->n = 0;
	const char *p = s;
	for (;;) {
		uint32_t a, b;
		if (!seqset_number(&p, star, &a))
			goto bad;
		b = a;
		if (*p == ':') {
			p++;
			if (!seqset_number(&p, star, &b))
				goto bad;
		}
		if (out->n == cap) {
			if (cap >= SEQSET_RANGES_MAX)
				goto bad;
			cap = cap ? cap * 2 : 8;
			struct seqset_range *r =
			        realloc(out->ranges, cap * sizeof(*r));
			if (r == NULL)
				goto bad;
			out->ranges = r;
		}
		out->ranges[out->n].lo = a < b ? a : b;
		out->ranges[out->n].hi = a < b ? b : a;
		out->n++;
		if (*p == '\0')
			return true;
		if (*p++ != ',')
			goto bad;
	}
bad:
	seqset_free(out);
	return false;
}

bool
seqset_contains(const struct seqset *set, uint32_t n)
{
	for (size_t i = 0; i < set->n; i++)
		if (n >= set->ranges[i].lo && n <= set->ranges[i].hi)
			return true;
	return false;
}

void
seqset_free(struct seqset *set)
{
	free(set->ranges);
	set->ranges = NULL;
	set->n = 0;
}

void
seqset_write(struct buf *out, const uint32_t *nums, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t j = i;
		/* a run: each number one more than the last (or repeated) */
		while (j + 1 < n &&
		       (nums[j + 1] == nums[j] ||
		        (nums[j] < UINT32_MAX && nums[j + 1] == nums[j] + 1)))
			j++;
		if (i > 0)
			buf_append(out, ",", 1);
		if (nums[j] == nums[i])
			buf_printf(out, "%u", nums[i]);
		else
			buf_printf(out, "%u:%u", nums[i], nums[j]);
		i = j + 1;
	}
}
