#include "mail/utf7.h"

#include <stdint.h>
#include <string.h>

#include "lib/base64.h"
#include "lib/utf8.h"

static const char b64_chars[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/* Output that only counts when p is NULL, so validation shares the
 * decoder without a buffer. */
struct out {
	char *p;
	size_t len, cap;
	bool ok;
};

static void
put(struct out *o, const char *bytes, size_t n)
{
	if (o->p != NULL) {
		/* keep one octet for the terminating NUL */
		if (o->len + n >= o->cap) {
			o->ok = false;
			return;
		}
		memcpy(o->p + o->len, bytes, n);
	}
	o->len += n;
}

static void
put_cp(struct out *o, uint32_t cp)
{
	uint8_t b[UTF8_MAX];
	size_t n = utf8_encode(cp, b);
	put(o, (const char *)b, n);
}

/* Decodes one "&...-" run (s just past the "&"); returns the octet after
 * the "-", or NULL if the run is not canonical. */
static const char *
decode_run(const char *s, struct out *o)
{
	uint32_t bits = 0, high = 0;
	int nbits = 0;
	size_t units = 0;

	for (; *s != '-'; s++) {
		int v = base64_value((unsigned char)*s, ',');
		if (v < 0) /* also the end of the string */
			return NULL;
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		uint32_t u = (bits >> nbits) & 0xffff;
		units++;
		if (high != 0) {
			if (u < 0xdc00 || u > 0xdfff)
				return NULL;
			put_cp(o, 0x10000 + ((high - 0xd800) << 10) +
			                  (u - 0xdc00));
			high = 0;
		} else if (u >= 0xd800 && u <= 0xdbff) {
			high = u;
		} else if (u >= 0xdc00 && u <= 0xdfff) {
			return NULL;
		} else if (u >= 0x20 && u <= 0x7e) {
			/* printable ASCII must stand for itself */
			return NULL;
		} else {
			put_cp(o, u);
		}
	}
	/* A canonical encoder pads to the next base64 digit with zero bits:
	 * more leftover bits, or non-zero ones, are a second spelling. */
	if (units == 0 || high != 0 || nbits >= 6 ||
	    (bits & ((1u << nbits) - 1)) != 0)
		return NULL;
	return s + 1;
}

static bool
decode(const char *s, struct out *o)
{
	bool after_run = false;

	while (*s != '\0') {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c > 0x7e)
			return false;
		if (c != '&') {
			put(o, s, 1);
			s++;
			after_run = false;
			continue;
		}
		if (s[1] == '-') {
			put(o, "&", 1);
			s += 2;
			after_run = false;
			continue;
		}
		/* "&AOk-&AOk-" is "&AOkA6Q-" spelled twice over */
		if (after_run)
			return false;
		s = decode_run(s + 1, o);
		if (s == NULL)
			return false;
		after_run = true;
	}
	return true;
}

bool
mail_utf7_valid(const char *s)
{
	struct out o = {NULL, 0, 0, true};
	return decode(s, &o) && o.ok;
}

bool
mail_utf7_to_utf8(const char *s, char *out, size_t outlen)
{
	if (outlen == 0)
		return false;
	struct out o = {out, 0, outlen, true};
	if (!decode(s, &o) || !o.ok) {
		out[0] = '\0';
		return false;
	}
	out[o.len] = '\0';
	return true;
}

struct run {
	uint32_t bits;
	int nbits;
	bool open;
};

static void
run_unit(struct out *o, struct run *r, uint32_t u)
{
	if (!r->open) {
		put(o, "&", 1);
		r->open = true;
	}
	r->bits = (r->bits << 16) | u;
	r->nbits += 16;
	while (r->nbits >= 6) {
		r->nbits -= 6;
		put(o, &b64_chars[(r->bits >> r->nbits) & 63], 1);
	}
}

static void
run_close(struct out *o, struct run *r)
{
	if (!r->open)
		return;
	if (r->nbits > 0)
		put(o, &b64_chars[(r->bits << (6 - r->nbits)) & 63], 1);
	put(o, "-", 1);
	r->bits = 0;
	r->nbits = 0;
	r->open = false;
}

bool
mail_utf8_to_utf7(const char *s, char *out, size_t outlen)
{
	if (outlen == 0)
		return false;
	struct out o = {out, 0, outlen, true};
	struct run r = {0, 0, false};
	const uint8_t *p = (const uint8_t *)s, *end = p + strlen(s);

	while (p < end) {
		uint32_t cp;
		size_t len = utf8_decode(p, (size_t)(end - p), &cp);
		if (len == 0) {
			out[0] = '\0';
			return false;
		}
		p += len;
		if (cp >= 0x20 && cp <= 0x7e) {
			run_close(&o, &r);
			if (cp == '&')
				put(&o, "&-", 2);
			else {
				char c = (char)cp;
				put(&o, &c, 1);
			}
		} else if (cp >= 0x10000) {
			cp -= 0x10000;
			run_unit(&o, &r, 0xd800 + (cp >> 10));
			run_unit(&o, &r, 0xdc00 + (cp & 0x3ff));
		} else {
			run_unit(&o, &r, cp);
		}
	}
	run_close(&o, &r);
	if (!o.ok) {
		out[0] = '\0';
		return false;
	}
	out[o.len] = '\0';
	return true;
}
