/*
 * cid_parse on arbitrary bytes (the text after "CLIENTID"), and
 * cid_fingerprint on whatever it accepts. Checks CID-SYN-1..3 hold for every
 * accepted input and that the result parses back to itself.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "clientid/clientid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			__builtin_trap();                                      \
	} while (0)

static const uint8_t secret[32] = "fuzz-clientid secret, 32 bytes!";

static bool
is_type_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cid_identity id;
	const char *err = NULL;
	memset(&id, 0xa5, sizeof(id));
	if (!cid_parse(data, size, &id, &err)) {
		CHECK(err != NULL && err[0] != '\0');
		CHECK(err[strlen(err) - 1] != '.');
		return 0;
	}

	/* CID-SYN-2: exactly " TYPE TOKEN", both in their alphabets. */
	size_t tl = strlen(id.type), kl = strlen(id.token);
	CHECK(tl >= 1 && tl <= CID_TYPE_MAX);
	CHECK(kl >= 1 && kl <= CID_TOKEN_MAX);
	CHECK(size == 1 + tl + 1 + kl);
	CHECK(data[0] == ' ' && data[1 + tl] == ' ');
	/* CID-SYN-1: the type upper-cased, otherwise as sent. */
	for (size_t i = 0; i < tl; i++) {
		CHECK(is_type_char(id.type[i]));
		char c = (char)data[1 + i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		CHECK(id.type[i] == c);
	}
	/* CID-SYN-3: the token verbatim, VCHARs only. */
	CHECK(memcmp(id.token, data + 2 + tl, kl) == 0);
	for (size_t i = 0; i < kl; i++)
		CHECK(id.token[i] >= 0x21 && id.token[i] <= 0x7e);

	/* What we keep parses back to itself. */
	char again[1 + CID_TYPE_MAX + 1 + CID_TOKEN_MAX + 1];
	int n = snprintf(again, sizeof(again), " %s %s", id.type, id.token);
	CHECK(n > 0 && (size_t)n == size);
	struct cid_identity id2;
	CHECK(cid_parse((const uint8_t *)again, (size_t)n, &id2, &err));
	CHECK(strcmp(id.type, id2.type) == 0);
	CHECK(strcmp(id.token, id2.token) == 0);

	/* CID-PRV-2: 16 lowercase hex digits, stable. */
	char fp[CID_FINGERPRINT_LEN + 1], fp2[CID_FINGERPRINT_LEN + 1];
	cid_fingerprint(secret, sizeof(secret), &id, fp);
	cid_fingerprint(secret, sizeof(secret), &id2, fp2);
	CHECK(strlen(fp) == CID_FINGERPRINT_LEN);
	for (size_t i = 0; i < CID_FINGERPRINT_LEN; i++)
		CHECK((fp[i] >= '0' && fp[i] <= '9') ||
		      (fp[i] >= 'a' && fp[i] <= 'f'));
	CHECK(strcmp(fp, fp2) == 0);
	return 0;
}
