#include "writer.h"

#include <string.h>

void
imap_write_tagged(struct buf *out, const char *tag, const char *status,
                  const char *code, const char *text)
{
	if (code != NULL)
		buf_printf(out, "%s %s [%s] %s\r\n", tag, status, code, text);
	else
		buf_printf(out, "%s %s %s\r\n", tag, status, text);
}

void
imap_write_untagged(struct buf *out, const char *text)
{
	buf_printf(out, "* %s\r\n", text);
}

/* Quoted strings carry neither CR, LF, NUL nor 8-bit octets safely. */
static bool
writer_quotable(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\0' || c == '\r' || c == '\n' || c >= 0x80)
			return false;
	}
	return len <= 1024;
}

void
imap_write_string(struct buf *out, const char *s, size_t len)
{
	if (!writer_quotable(s, len)) {
		buf_printf(out, "{%zu}\r\n", len);
		buf_append(out, s, len);
		return;
	}
	buf_append(out, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			buf_append(out, "\\", 1);
		buf_append(out, s + i, 1);
	}
	buf_append(out, "\"", 1);
}

void
imap_write_nstring(struct buf *out, const char *s)
{
	if (s == NULL)
		buf_append_str(out, "NIL");
	else
		imap_write_string(out, s, strlen(s));
}
