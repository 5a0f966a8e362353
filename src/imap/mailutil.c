/* Flags and dates in IMAP syntax, shared by the mail commands. */
#include "commands.h"

#include <errno.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static const struct {
	uint32_t flag;
	const char *name;
} imap_flag_names[] = {
        {MAIL_ANSWERED, "\\Answered"}, {MAIL_FLAGGED, "\\Flagged"},
        {MAIL_DELETED, "\\Deleted"},   {MAIL_SEEN, "\\Seen"},
        {MAIL_DRAFT, "\\Draft"},       {MAIL_RECENT, "\\Recent"},
};

#define IMAP_NFLAGS (sizeof(imap_flag_names) / sizeof(imap_flag_names[0]))

static const char *const imap_months[] = {"Jan", "Feb", "Mar", "Apr",
                                          "May", "Jun", "Jul", "Aug",
                                          "Sep", "Oct", "Nov", "Dec"};

void
imap_write_flags(struct buf *out, const struct mailbox *mb,
                 const struct mail_msg *m)
{
	const char *const *kw;
	size_t nkw = mailbox_keywords(mb, &kw);
	bool first = true;
	buf_append_str(out, "FLAGS (");
	for (size_t i = 0; i < IMAP_NFLAGS; i++) {
		if (!(m->flags & imap_flag_names[i].flag))
			continue;
		buf_printf(out, "%s%s", first ? "" : " ",
		           imap_flag_names[i].name);
		first = false;
	}
	for (size_t i = 0; i < nkw && i < 32; i++) {
		if (!(m->keywords & (1u << i)))
			continue;
		buf_printf(out, "%s%s", first ? "" : " ", kw[i]);
		first = false;
	}
	buf_append_str(out, ")");
}

void
imap_write_flag_names(struct buf *out, const struct mailbox *mb, bool permanent)
{
	const char *const *kw;
	size_t nkw = mailbox_keywords(mb, &kw);
	/* \Recent is never a permanent flag, nor listed in FLAGS by rev2 */
	for (size_t i = 0; i + 1 < IMAP_NFLAGS; i++)
		buf_printf(out, "%s%s", i ? " " : "", imap_flag_names[i].name);
	for (size_t i = 0; i < nkw; i++)
		buf_printf(out, " %s", kw[i]);
	if (permanent && nkw < MAIL_KEYWORDS_MAX)
		buf_append_str(out, " \\*");
}

/* flag-keyword = atom: no atom-specials, no "]" */
static bool
imap_keyword_valid(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!imap_is_atom_char((uint8_t)*s))
			return false;
	return true;
}

bool
imap_parse_flag_list(const struct imap_arg *list, uint32_t *flags,
                     const char **keywords, size_t *nkeywords)
{
	const struct imap_arg *items =
	        list->type == IMAP_ARG_LIST ? list->list : list;
	size_t n = list->type == IMAP_ARG_LIST ? list->count : 1;
	*flags = 0;
	*nkeywords = 0;
	for (size_t i = 0; i < n; i++) {
		const struct imap_arg *a = &items[i];
		if (a->type != IMAP_ARG_ATOM)
			return false;
		if (a->str[0] == '\\') {
			size_t k;
			for (k = 0; k < IMAP_NFLAGS; k++)
				if (strcasecmp(a->str,
				               imap_flag_names[k].name) == 0)
					break;
			if (k == IMAP_NFLAGS)
				return false;
			*flags |= imap_flag_names[k].flag;
			continue;
		}
		if (!imap_keyword_valid(a->str))
			return false;
		if (*nkeywords < MAIL_KEYWORDS_MAX)
			keywords[(*nkeywords)++] = a->str;
	}
	return true;
}

static int
imap_month(const char *s)
{
	for (int i = 0; i < 12; i++)
		if (strncasecmp(s, imap_months[i], 3) == 0)
			return i;
	return -1;
}

bool
imap_parse_datetime(const char *s, int64_t *out)
{
	/* date-day-fixed: " 1" or "01"; tolerate "1" too */
	int day, year, h, m, sec, zone;
	char mon[4], sign;
	if (sscanf(s, " %d-%3s-%d %d:%d:%d %c%d", &day, mon, &year, &h, &m,
	           &sec, &sign, &zone) != 8)
		return false;
	int month = imap_month(mon);
	if (month < 0 || day < 1 || day > 31 || year < 1970 || h > 23 ||
	    m > 59 || sec > 60 || (sign != '+' && sign != '-') || zone > 1400)
		return false;
	struct tm tm = {.tm_year = year - 1900,
	                .tm_mon = month,
	                .tm_mday = day,
	                .tm_hour = h,
	                .tm_min = m,
	                .tm_sec = sec};
	int64_t t = (int64_t)timegm(&tm);
	int64_t off = (zone / 100) * 3600 + (zone % 100) * 60;
	*out = sign == '+' ? t - off : t + off;
	return true;
}

void
imap_write_datetime(struct buf *out, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	buf_printf(out, "\"%02d-%s-%04d %02d:%02d:%02d +0000\"", tm.tm_mday,
	           imap_months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
	           tm.tm_min, tm.tm_sec);
}

bool
imap_parse_date(const char *s, int64_t *out)
{
	int day, year;
	char mon[4];
	char tail;
	if (sscanf(s, "%d-%3s-%d%c", &day, mon, &year, &tail) != 3)
		return false;
	int month = imap_month(mon);
	if (month < 0 || day < 1 || day > 31 || year < 1900)
		return false;
	struct tm tm = {
	        .tm_year = year - 1900, .tm_mon = month, .tm_mday = day};
	*out = (int64_t)timegm(&tm);
	return true;
}

/* The message as CRLF octets (stored files may use bare LF). */
bool
imap_mail_load(struct mailbox *mb, uint32_t seq, struct buf *msg)
{
	char err[256];
	struct mail_stream *ms;
	if (mailbox_msg_open(mb, seq, &ms, err, sizeof(err)) != MAIL_OK)
		return false;
	bool ok = mail_stream_load(ms, msg);
	mail_stream_close(ms);
	return ok;
}
