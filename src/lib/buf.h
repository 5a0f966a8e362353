/* Growable byte buffers that give their memory back when emptied, so an idle
 * connection holds no buffer storage at all. */
#ifndef IMAPCID_BUF_H
#define IMAPCID_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t off; /* first unconsumed byte */
	size_t len; /* end of valid bytes */
	size_t cap;
};

#define BUF_INIT                                                               \
	{                                                                      \
		NULL, 0, 0, 0                                                  \
	}

static inline size_t
buf_used(const struct buf *b)
{
	return b->len - b->off;
}

static inline const uint8_t *
buf_head(const struct buf *b)
{
	return b->data + b->off;
}

/* Returns false only when memory is exhausted. */
bool buf_reserve(struct buf *b, size_t extra);
bool buf_append(struct buf *b, const void *p, size_t n);
bool buf_append_str(struct buf *b, const char *s);
bool buf_printf(struct buf *b, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
bool buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Marks n bytes at the head as consumed; frees storage once all are. */
void buf_consume(struct buf *b, size_t n);
void buf_clear(struct buf *b);
void buf_free(struct buf *b);

#endif
