#include "sasl.h"

#include <string.h>

static bool
sasl_take(const uint8_t **p, const uint8_t *end, char *out, bool last)
{
	const uint8_t *sep = last ? end : memchr(*p, '\0', (size_t)(end - *p));
	if (sep == NULL)
		return false;
	size_t n = (size_t)(sep - *p);
	if (n > SASL_FIELD_MAX || (last && memchr(*p, '\0', n) != NULL))
		return false;
	memcpy(out, *p, n);
	out[n] = '\0';
	*p = last ? end : sep + 1;
	return true;
}

bool
sasl_plain_decode(const uint8_t *msg, size_t len,
                  char authzid[SASL_FIELD_MAX + 1],
                  char authcid[SASL_FIELD_MAX + 1],
                  char passwd[SASL_FIELD_MAX + 1])
{
	const uint8_t *p = msg, *end = msg + len;
	bool ok = sasl_take(&p, end, authzid, false) &&
	          sasl_take(&p, end, authcid, false) &&
	          sasl_take(&p, end, passwd, true) && authcid[0] != '\0';
	if (!ok)
		explicit_bzero(passwd, SASL_FIELD_MAX + 1);
	return ok;
}
