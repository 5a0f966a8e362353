#include "account.h"

void
account_canonical(const char *name, char *out, size_t outlen)
{
	if (outlen == 0)
		return;
	size_t i = 0;
	/* bytes, not characters: the C locale's tolower(), as passdb uses */
	for (; name[i] != '\0' && i + 1 < outlen; i++) {
		char c = name[i];
		out[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	out[i] = '\0';
}
