/*
 * A whole imap_session fed the input in chunks, the way a connection would:
 * IMAP_ACTION_AUTH is answered with imap_session_auth_done (refused and
 * accepted in turn), IMAP_ACTION_STARTTLS with imap_session_tls_started,
 * IMAP_ACTION_CLOSE ends the run.
 *
 * Each input runs three times:
 *  - under TLS (the imaps port), fed whole;
 *  - the same, fed in chunks of varying sizes: the output must be identical
 *    (no STARTTLS can discard input on this port, so chunking must not
 *    matter);
 *  - on the plain STARTTLS port, in chunks.
 * Every response must be lines of printable ASCII ending in CRLF.
 * Debug logging is on (sent to a syslog mask that drops it) so that the
 * debug-only code paths run too; IMAPCID_FUZZ_NO_DEBUG=1 in the environment
 * turns that off.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "auth/auth.h"
#include "imap/session.h"
#include "lib/buf.h"
#include "lib/log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			__builtin_trap();                                      \
	} while (0)

static struct imap_session_config cfg_tls, cfg_plain;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const struct imap_session_config base = {
	        .starttls = false,
	        .clientid = true,
	        .login_plaintext = false,
	        .preauth = {4096, 4096, 4, 8192},
	        .postauth = {65536, 65536, 32, 2097152},
	        .bad_max_preauth = 3,
	        .version = "0.1.0",
	};
	cfg_tls = base;
	cfg_plain = base;
	cfg_plain.starttls = true;
	/* IMAPCID_FUZZ_NO_DEBUG=1 keeps the default (info) level, to fuzz
	 * the rest while a debug-only bug is open. */
	if (getenv("IMAPCID_FUZZ_NO_DEBUG") == NULL) {
		log_setup("fuzz-session", true, LOG_MAIL, LOG_LEVEL_DEBUG);
		setlogmask(LOG_MASK(LOG_EMERG));
	}
	return 0;
}

/* Responses are CRLF-terminated lines of printable ASCII. */
static void
check_output(const struct buf *out)
{
	size_t n = buf_used(out);
	if (n == 0)
		return;
	const uint8_t *p = buf_head(out);
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (c == '\r') {
			CHECK(i + 1 < n && p[i + 1] == '\n');
			i++;
		} else {
			CHECK(c >= 0x20 && c < 0x7f);
		}
	}
	CHECK(n >= 2 && p[n - 2] == '\r' && p[n - 1] == '\n');
}

struct run {
	struct imap_session *s;
	struct buf in, out, trace;
	unsigned auths;
	bool closed;
};

/* Moves the output to the trace, as if sent. */
static void
drain(struct run *r)
{
	check_output(&r->out);
	if (buf_used(&r->out) > 0)
		buf_append(&r->trace, buf_head(&r->out), buf_used(&r->out));
	buf_free(&r->out);
}

static void
step(struct run *r)
{
	for (;;) {
		size_t in_before = buf_used(&r->in);
		enum imap_action act =
		        imap_session_input(r->s, &r->in, &r->out);
		bool produced = buf_used(&r->out) > 0;
		drain(r);
		switch (act) {
		case IMAP_ACTION_CLOSE:
			buf_append_str(&r->trace, "<CLOSE>");
			r->closed = true;
			return;
		case IMAP_ACTION_STARTTLS:
			buf_append_str(&r->trace, "<STARTTLS>");
			imap_session_tls_started(r->s);
			continue;
		case IMAP_ACTION_MAIL:
			/* as a worker would; no mail store is configured */
			imap_session_mail_run(r->s, &r->out);
			imap_session_mail_done(r->s);
			continue;
		case IMAP_ACTION_IDLE:
		case IMAP_ACTION_IDLE_DONE:
			buf_append_str(&r->trace, "<IDLE>");
			continue;
		case IMAP_ACTION_AUTH: {
			struct auth_request *req =
			        imap_session_auth_request(r->s);
			CHECK(req != NULL);
			CHECK(req->mech != NULL);
			CHECK(strlen(req->user) <= SASL_FIELD_MAX);
			CHECK(strlen(req->password) <= SASL_FIELD_MAX);
			buf_printf(&r->trace, "<AUTH %s %s>", req->mech,
			           req->has_clientid ? req->clientid.type
			                             : "-");
			struct auth_result res;
			memset(&res, 0, sizeof(res));
			res.ok = (r->auths++ % 2) == 1;
			res.reason = "fuzz";
			imap_session_auth_done(r->s, &res, &r->out);
			CHECK(imap_session_auth_request(r->s) == NULL);
			CHECK(imap_session_authenticated(r->s) || !res.ok ||
			      buf_used(&r->out) == 0);
			drain(r);
			continue;
		}
		case IMAP_ACTION_NONE:
			/* Stopped at the output high-water mark: go on once
			 * the output is sent. */
			if (buf_used(&r->in) > 0 &&
			    (buf_used(&r->in) < in_before || produced))
				continue;
			return;
		}
		CHECK(0);
	}
}

/* Chunk sizes from a small generator seeded by the input. */
static size_t
next_chunk(uint32_t *state)
{
	*state = *state * 1103515245u + 12345u;
	uint32_t v = (*state >> 16) & 0xff;
	return v < 128 ? 1 + (v & 7) : v < 224 ? 1 + (v & 63) : 1 + v * 8;
}

static void
run_session(const struct imap_session_config *cfg, bool tls,
            const uint8_t *data, size_t size, bool chunked, struct buf *trace)
{
	struct run r;
	memset(&r, 0, sizeof(r));
	r.s = imap_session_new(cfg, tls);
	CHECK(r.s != NULL);
	imap_session_greet(r.s, &r.out);
	drain(&r);

	uint32_t seed = (uint32_t)size * 2654435761u;
	for (size_t i = 0; i < size && i < 16; i++)
		seed = seed * 31u + data[i];
	size_t pos = 0;
	while (pos < size && !r.closed) {
		size_t len = chunked ? next_chunk(&seed) : size;
		if (len > size - pos)
			len = size - pos;
		buf_append(&r.in, data + pos, len);
		pos += len;
		step(&r);
	}
	if (!r.closed) {
		imap_session_bye(r.s, &r.out, "Server shutting down.");
		drain(&r);
	}
	(void)imap_session_user(r.s);
	imap_session_free(r.s);
	buf_free(&r.in);
	buf_free(&r.out);
	if (trace != NULL)
		*trace = r.trace;
	else
		buf_free(&r.trace);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf whole = BUF_INIT, chunks = BUF_INIT;
	run_session(&cfg_tls, true, data, size, false, &whole);
	run_session(&cfg_tls, true, data, size, true, &chunks);
	CHECK(buf_used(&whole) == buf_used(&chunks));
	CHECK(memcmp(buf_head(&whole), buf_head(&chunks), buf_used(&whole)) ==
	      0);
	buf_free(&whole);
	buf_free(&chunks);

	run_session(&cfg_plain, false, data, size, true, NULL);
	return 0;
}
