/*
 * Message octets as IMAP has them. A message file may end its lines with a
 * bare LF (Maildir files written by a local delivery agent do); IMAP's
 * RFC822.SIZE, BODY[] and every literal count and send CRLF. mail_crlf()
 * is the one place that turns the first into the second: the store sizes
 * messages with it (appending, learning a size it does not have) and the
 * stream below reads them out with it, so a size announced for a literal
 * and the octets that follow can never disagree.
 */
#include "mailstore.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"

/* Octets read from the file at a time. */
#define MAIL_STREAM_CHUNK (64 * 1024)

struct mail_stream {
	int fd;
	uint64_t size; /* octets it gives in all */
	uint64_t pos;  /* octets given so far */
	bool prev_cr;  /* the last octet read from the file was a CR */
	uint8_t raw[MAIL_STREAM_CHUNK];
};

size_t
mail_crlf(bool *prev_cr, const uint8_t *in, size_t n, uint8_t *out)
{
	size_t o = 0;
	bool cr = *prev_cr;
	for (size_t i = 0; i < n; i++) {
		if (in[i] == '\n' && !cr) {
			if (out != NULL)
				out[o] = '\r';
			o++;
		}
		if (out != NULL)
			out[o] = in[i];
		o++;
		cr = in[i] == '\r';
	}
	*prev_cr = cr;
	return o;
}

int
mail_crlf_size(int fd, uint64_t *out)
{
	uint8_t *buf = malloc(MAIL_STREAM_CHUNK);
	if (buf == NULL)
		return -1;
	uint64_t n = 0;
	bool cr = false;
	int rc = 0;
	for (;;) {
		ssize_t r = read(fd, buf, MAIL_STREAM_CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = r < 0 ? -1 : 0;
			break;
		}
		n += mail_crlf(&cr, buf, (size_t)r, NULL);
	}
	int e = errno;
	free(buf);
	errno = e;
	if (rc == 0)
		*out = n;
	return rc;
}

struct mail_stream *
mail_stream_new(int fd, uint64_t size)
{
	struct mail_stream *s = malloc(sizeof(*s));
	if (s == NULL)
		return NULL;
	s->fd = fd;
	s->size = size;
	s->pos = 0;
	s->prev_cr = false;
	return s;
}

uint64_t
mail_stream_size(const struct mail_stream *s)
{
	return s->size;
}

ssize_t
mail_stream_read(struct mail_stream *s, uint8_t *out, size_t n)
{
	if (s->pos == s->size || n < 2)
		return 0;
	/* converting doubles at most: read no more than half of n */
	size_t want = n / 2 < MAIL_STREAM_CHUNK ? n / 2 : MAIL_STREAM_CHUNK;
	if (want > s->size - s->pos)
		want = (size_t)(s->size - s->pos);
	ssize_t r;
	do
		r = read(s->fd, s->raw, want);
	while (r < 0 && errno == EINTR);
	if (r <= 0) {
		/* The size came from this very file, open since: it
		 * changed under us (truncated by something else). */
		if (r == 0)
			log_error("mail: message file ended %llu octets short "
			          "of its size",
			          (unsigned long long)(s->size - s->pos));
		else
			log_error("mail: reading a message: %s",
			          strerror(errno));
		return -1;
	}
	size_t c = mail_crlf(&s->prev_cr, s->raw, (size_t)r, out);
	if (c > s->size - s->pos)
		c = (size_t)(s->size - s->pos); /* longer than its size */
	s->pos += c;
	return (ssize_t)c;
}

bool
mail_stream_load(struct mail_stream *s, struct buf *out)
{
	while (s->pos < s->size) {
		size_t room = s->size - s->pos < MAIL_STREAM_CHUNK
		                      ? (size_t)(s->size - s->pos)
		                      : MAIL_STREAM_CHUNK;
		/* room for the worst case of one chunk: every octet an LF */
		if (!buf_reserve(out, 2 * room))
			return false;
		ssize_t c = mail_stream_read(s, out->data + out->len, 2 * room);
		if (c <= 0)
			return false;
		out->len += (size_t)c;
	}
	return true;
}

bool
mail_stream_rewind(struct mail_stream *s)
{
	if (lseek(s->fd, 0, SEEK_SET) != 0)
		return false;
	s->pos = 0;
	s->prev_cr = false;
	return true;
}

void
mail_stream_close(struct mail_stream *s)
{
	if (s == NULL)
		return;
	close(s->fd);
	free(s);
}
