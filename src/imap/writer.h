/* Formatting IMAP responses into an output buffer: no sockets here. */
#ifndef IMAPCID_IMAP_WRITER_H
#define IMAPCID_IMAP_WRITER_H

#include <stddef.h>

#include "lib/buf.h"

/* "TAG STATUS [CODE] TEXT\r\n"; code may be NULL. */
void imap_write_tagged(struct buf *out, const char *tag, const char *status,
                       const char *code, const char *text);
/* "* TEXT\r\n" */
void imap_write_untagged(struct buf *out, const char *text);
/* An IMAP string: quoted when it can be, a literal otherwise. */
void imap_write_string(struct buf *out, const char *s, size_t len);
/* NIL for NULL, else imap_write_string. */
void imap_write_nstring(struct buf *out, const char *s);

#endif
