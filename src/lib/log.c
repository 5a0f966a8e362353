#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* Set once at start-up before any thread runs, read-only afterwards. */
static bool log_to_syslog;
static enum log_level log_max_level = LOG_LEVEL_INFO;

#define LOG_LINE_MAX 2048

static const char *const log_level_names[] = {"error", "warn", "info", "debug"};

void
log_setup(const char *ident, bool use_syslog, int facility,
          enum log_level level)
{
	log_to_syslog = use_syslog;
	log_max_level = level;
	if (use_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, facility);
}

bool
log_enabled(enum log_level level)
{
	return level <= log_max_level;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	if (!log_enabled(level))
		return;
	char line[LOG_LINE_MAX];
	va_list ap;
	va_start(ap, fmt);
	if (log_to_syslog) {
		static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO,
		                           LOG_DEBUG};
		vsnprintf(line, sizeof(line), fmt, ap);
		syslog(prio[level], "%s", line);
		va_end(ap);
		return;
	}
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	n += snprintf(line + n, sizeof(line) - (size_t)n,
	              ".%03ldZ %s: ", ts.tv_nsec / 1000000,
	              log_level_names[level]);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* One write per line keeps lines from different threads whole. */
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}
