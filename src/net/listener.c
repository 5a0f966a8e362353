#include "listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool
listener_parse_one(const char *s, size_t n, struct listen_addr *a, char *err,
                   size_t errlen)
{
	char host[LISTENER_TEXT_MAX], port[8];
	const char *colon;
	memset(a, 0, sizeof(*a));
	if (n == 0 || n >= LISTENER_TEXT_MAX) {
		snprintf(err, errlen, "bad address \"%.*s\"", (int)n, s);
		return false;
	}
	if (s[0] == '[') {
		const char *end = memchr(s, ']', n);
		if (end == NULL || end + 1 >= s + n || end[1] != ':') {
			snprintf(err, errlen, "bad IPv6 address \"%.*s\"",
			         (int)n, s);
			return false;
		}
		snprintf(host, sizeof(host), "%.*s", (int)(end - s - 1), s + 1);
		colon = end + 1;
	} else {
		colon = NULL;
		for (const char *p = s; p < s + n; p++)
			if (*p == ':')
				colon = p;
		if (colon == NULL) {
			snprintf(err, errlen, "missing port in \"%.*s\"",
			         (int)n, s);
			return false;
		}
		snprintf(host, sizeof(host), "%.*s", (int)(colon - s), s);
	}
	size_t plen = (size_t)(s + n - colon - 1);
	if (plen == 0 || plen >= sizeof(port)) {
		snprintf(err, errlen, "bad port in \"%.*s\"", (int)n, s);
		return false;
	}
	snprintf(port, sizeof(port), "%.*s", (int)plen, colon + 1);
	char *end;
	long p = strtol(port, &end, 10);
	if (*end != '\0' || p < 0 || p > 65535) {
		snprintf(err, errlen, "bad port in \"%.*s\"", (int)n, s);
		return false;
	}
	struct sockaddr_in *v4 = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a->ss;
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)p);
		a->len = sizeof(*v4);
	} else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)p);
		a->len = sizeof(*v6);
	} else {
		snprintf(err, errlen, "not an IP address: \"%s\"", host);
		return false;
	}
	listener_format((struct sockaddr *)&a->ss, a->text, sizeof(a->text));
	return true;
}

bool
listener_parse(const char *list, bool tls, struct listen_addr **addrs,
               size_t *n, char *err, size_t errlen)
{
	const char *p = list;
	while (*p != '\0') {
		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		const char *end = p;
		while (*end != '\0' && *end != ',' && *end != ' ')
			end++;
		struct listen_addr a;
		if (!listener_parse_one(p, (size_t)(end - p), &a, err, errlen))
			return false;
		a.tls = tls;
		struct listen_addr *na =
		        realloc(*addrs, (*n + 1) * sizeof(**addrs));
		if (na == NULL) {
			snprintf(err, errlen, "out of memory");
			return false;
		}
		na[(*n)++] = a;
		*addrs = na;
		p = end;
	}
	return true;
}

void
listener_format(const struct sockaddr *sa, char *out, size_t outlen)
{
	char host[INET6_ADDRSTRLEN] = "?";
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *v4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &v4->sin_addr, host, sizeof(host));
		snprintf(out, outlen, "%s:%u", host, ntohs(v4->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof(host));
		snprintf(out, outlen, "[%s]:%u", host, ntohs(v6->sin6_port));
	} else {
		snprintf(out, outlen, "?");
	}
}

int
listener_bind(struct listen_addr *a, char *err, size_t errlen)
{
	int fd = socket(a->ss.ss_family,
	                SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (a->ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a->ss, a->len) < 0 ||
	    listen(fd, LISTENER_BACKLOG) < 0) {
		snprintf(err, errlen, "%s: %s", a->text, strerror(errno));
		close(fd);
		return -1;
	}
	socklen_t len = a->len;
	if (getsockname(fd, (struct sockaddr *)&a->ss, &len) == 0)
		listener_format((struct sockaddr *)&a->ss, a->text,
		                sizeof(a->text));
	return fd;
}
