/*
 * loadgen: IMAP-over-TLS load generator for the imapcid benchmark.
 *
 * One process, one thread, nonblocking sockets, edge-triggered epoll and
 * OpenSSL 3.  Modes:
 *
 *   session    connect, TLS, greeting, [CLIENTID], LOGIN, LOGOUT, close; repeat
 *   handshake  connect, TLS, greeting, close; repeat (the floor of a session)
 *   idle       open N connections (TLS + greeting [+ CLIENTID + LOGIN
 *              [+ SELECT + IDLE]]) and hold them until SIGTERM/SIGINT or -d
 *              seconds
 *   full       connect, TLS, greeting, [CLIENTID], LOGIN, SELECT INBOX,
 *              FETCH 1:10 ENVELOPE, LOGOUT, close; repeat
 *   fetch      -c logged-in connections (LOGIN, SELECT/EXAMINE), each
 *              repeating "FETCH 1:* ITEMS" for -d seconds: messages/s, MB/s
 *   search     the same with "SEARCH TEXT word": latency per command
 *   procstat   print CPU and memory of a process tree (helper for run.sh)
 *   freeport   print a free TCP port on 127.0.0.1 (helper for run.sh)
 *   crypt      time SHA512-CRYPT verification on this machine (context)
 *   spray      connect, TLS, greeting, [CLIENTID fresh UUID], LOGIN with a
 *              user name of its own (pattern + attempt number) and -P as the
 *              password, close on the answer; -n attempts (password spraying;
 *              a NO is the expected answer), optionally spread over many
 *              source addresses (--spread)
 *
 * Every run is bounded in time (-d, or -n with a per-step timeout -t) and
 * the target must be a loopback address unless --allow-nonloopback is given.
 *
 * Output: a human summary on stderr and one machine-readable line on stdout:
 *   RESULT mode=session conc=256 ... key=value ...
 *
 * Build: make -C bench     (or: cc -std=c17 -O2 -o bench/out/loadgen
 *        bench/loadgen.c -lssl -lcrypto -lcrypt)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <crypt.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define RBUF_SIZE        4096 /* per connection; fetch/search: RBUF_BULK */
#define RBUF_BULK        65536
#define WBUF_SIZE        1024
#define MAX_LAT_SAMPLES  (20u * 1000u * 1000u)
#define MAX_DIAG_LINES   20
#define SCAN_INTERVAL_NS (100ull * 1000 * 1000)
#define DRAIN_LIMIT_NS   (10ull * 1000 * 1000 * 1000)
#define MAX_HOLD_SECONDS 3600

enum mode {
	MODE_SESSION,
	MODE_HANDSHAKE,
	MODE_IDLE,
	MODE_FULL,
	MODE_FETCH,
	MODE_SEARCH,
	MODE_SPRAY,
};

/* fetch/search: one connection per client doing one command after another */
#define BULK_MODE(m) ((m) == MODE_FETCH || (m) == MODE_SEARCH)

enum state {
	ST_FREE,
	ST_CONNECTING,
	ST_TLS,
	ST_GREETING,
	ST_CLIENTID,
	ST_LOGIN,
	ST_LOGOUT,
	ST_IDLE,
	ST_SELECT,  /* SELECT/EXAMINE sent */
	ST_FETCH10, /* full: FETCH 1:10 ENVELOPE sent */
	ST_READY,   /* fetch/search: selected, waiting for the others */
	ST_CMD,     /* fetch/search: the repeated command sent */
	ST_IDLECMD, /* idle --select-idle: IDLE sent, waiting for "+" */
};

enum fail {
	F_CONNECT,
	F_TLS,
	F_GREETING,
	F_CLIENTID,
	F_LOGIN,
	F_LOGOUT,
	F_CLOSED,
	F_TIMEOUT,
	F_PROTO,
	F_SELECT,
	F_FETCH,
	F_CMD,
	F_IDLE,
	F_COUNT
};

static const char *fail_names[F_COUNT] = {
        "connect", "tls",   "greeting", "clientid", "login", "logout", "closed",
        "timeout", "proto", "select",   "fetch",    "cmd",   "idle",
};

struct conn {
	int fd;
	enum state st;
	SSL *ssl;
	uint64_t t_start;  /* connect() issued */
	uint64_t deadline; /* current step must finish by then */
	bool saw_bye;
	bool counted_up;   /* idle mode: counted as established */
	long uidx;         /* user number of this connection */
	uint64_t t_cmd;    /* fetch/search: current command sent */
	uint64_t lit_left; /* octets of a literal still to skip */
	bool cont;        /* the next text continues a response (after a literal
	                 * or a line too long for rbuf) */
	bool search_line; /* the response being read is "* SEARCH" */
	uint64_t cmd_msgs; /* FETCH responses to the current command */
	uint64_t ncmds;    /* fetch/search: commands completed */
	uint64_t spaces;   /* numbers on the current "* SEARCH" line */
	bool cont_prev_sp;
	size_t rlen;
	size_t wlen, woff;
	char wbuf[WBUF_SIZE];
	char *rbuf; /* rcap octets, allocated once per slot */
};

static size_t rcap = RBUF_SIZE;

struct opts {
	enum mode mode;
	const char *host;
	const char *port;
	int conc;
	double duration;
	long total;
	const char *user;
	const char *pass;
	int nusers;
	int user_base;
	bool clientid;
	bool uuid_per_user;
	bool idle_login;
	double timeout;
	double setup_timeout;
	int src_ips;
	bool allow_nonloopback;
	bool quiet;
	const char *tls_max;
	const char *mailbox;
	bool examine;
	bool idle_select;
	const char *fetch_items;
	const char *search_word;
	int spread_per_addr; /* spray: attempts per source address ... */
	int spread_per_net;  /* ... and addresses per /24 (0: no spread) */
};

static struct opts o = {
        .mode = MODE_SESSION,
        .host = "127.0.0.1",
        .port = "993",
        .conc = 1,
        .duration = 0,
        .total = 0,
        .user = "bench%d",
        .pass = "benchpass",
        .nusers = 1,
        .user_base = 1,
        .clientid = true,
        .uuid_per_user = false,
        .idle_login = false,
        .timeout = 30,
        .setup_timeout = 300,
        .src_ips = 1,
        .allow_nonloopback = false,
        .quiet = false,
        .tls_max = NULL,
        .mailbox = "INBOX",
        .examine = false,
        .idle_select = false,
        .fetch_items = "(FLAGS ENVELOPE)",
        .search_word = "meeting",
};

static volatile sig_atomic_t got_signal;
static int epfd = -1;
static SSL_CTX *ctx;
static struct sockaddr_storage dst;
static socklen_t dstlen;
static struct conn *conns;
static int nconns;
static int *freelist;
static int nfree;
static int active;

static uint64_t started, ok_total, ok_window, fails[F_COUNT];
/* LOGIN sent -> tagged answer (session, spray) */
static uint32_t *login_us;
static size_t nlogin, caplogin;
static uint64_t login_slow_1s, spray_no, spray_ok;
static uint64_t idle_up, idle_dropped;
static uint32_t *lat_us;
static size_t nlat, caplat;
static bool window_open = true;
static uint64_t t_end; /* end of the measurement window (0 = none) */
static bool starting = true;
static uint64_t user_rr;
static uint64_t rng_state;
static int diag_lines;
static char tls_desc[160];
/* full/fetch/search */
static uint64_t msgs_window, msgs_total, lit_window, bytes_window;
static uint64_t cmds_window, cmds_total;
static long exists_first = -1, hits_first = -1, cmd_msgs_first = -1;
static long full_msgs_min = -1, full_msgs_max = -1;
static int bulk_ready;
static uint64_t t_bulk0; /* fetch/search: all connections selected */

static uint64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("loadgen: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void
diag(const char *fmt, ...)
{
	va_list ap;
	if (diag_lines >= MAX_DIAG_LINES)
		return;
	if (++diag_lines == MAX_DIAG_LINES) {
		fputs("loadgen: (further diagnostics suppressed)\n", stderr);
		return;
	}
	va_start(ap, fmt);
	fputs("loadgen: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static uint64_t
rng_next(void)
{
	/* xorshift64*: fast, good enough for UUID v4 tokens */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

static void
on_signal(int sig)
{
	got_signal = sig;
}

/* ---- small helpers ------------------------------------------------------ */

static void
raise_nofile(long need)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if ((long)rl.rlim_cur < need) {
		struct rlimit want = {(rlim_t)need, (rlim_t)need};
		if (rl.rlim_max > (rlim_t)need)
			want.rlim_max = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			rl = want;
	}
	getrlimit(RLIMIT_NOFILE, &rl);
	if ((long)rl.rlim_cur < need)
		fprintf(stderr,
		        "loadgen: warning: RLIMIT_NOFILE %ld < %ld needed\n",
		        (long)rl.rlim_cur, need);
}

static bool
is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;
		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return true;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			return in6->sin6_addr.s6_addr[12] == 127;
	}
	return false;
}

static void
resolve_target(void)
{
	struct addrinfo hints = {0}, *res;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	int r = getaddrinfo(o.host, o.port, &hints, &res);
	if (r != 0)
		die("cannot resolve %s:%s: %s", o.host, o.port,
		    gai_strerror(r));
	memcpy(&dst, res->ai_addr, res->ai_addrlen);
	dstlen = res->ai_addrlen;
	freeaddrinfo(res);
	if (!is_loopback(&dst) && !o.allow_nonloopback)
		die("refusing non-loopback target %s (benchmarks stay on "
		    "127.0.0.0/8 / ::1)",
		    o.host);
}

/* Substitute the user number into a pattern containing at most one "%d". */
static void
make_user(char *out, size_t outsz, long n)
{
	const char *p = strstr(o.user, "%d");
	if (!p) {
		snprintf(out, outsz, "%s", o.user);
		return;
	}
	snprintf(out, outsz, "%.*s%ld%s", (int)(p - o.user), o.user, n, p + 2);
}

static bool
atom_safe(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch <= 0x20 || ch >= 0x7f || strchr("(){%*\"\\]", ch))
			return false;
	}
	return true;
}

/* Append an IMAP astring (atom if possible, else quoted). */
static int
put_astring(char *out, size_t outsz, const char *s)
{
	if (atom_safe(s))
		return snprintf(out, outsz, "%s", s);
	size_t k = 0;
	if (k < outsz)
		out[k++] = '"';
	for (; *s && k + 3 < outsz; s++) {
		if (*s == '"' || *s == '\\')
			out[k++] = '\\';
		out[k++] = *s;
	}
	if (k + 1 < outsz)
		out[k++] = '"';
	out[k < outsz ? k : outsz - 1] = '\0';
	return (int)k;
}

static void
lat_add(uint64_t ns)
{
	if (nlat >= MAX_LAT_SAMPLES)
		return;
	if (nlat == caplat) {
		size_t nc = caplat ? caplat * 2 : 65536;
		uint32_t *p = realloc(lat_us, nc * sizeof *p);
		if (!p)
			return;
		lat_us = p;
		caplat = nc;
	}
	uint64_t us = ns / 1000;
	lat_us[nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static void
login_lat_add(uint64_t ns)
{
	if (ns >= 1000000000ull)
		login_slow_1s++;
	if (nlogin >= MAX_LAT_SAMPLES)
		return;
	if (nlogin == caplogin) {
		size_t nc = caplogin ? caplogin * 2 : 65536;
		uint32_t *p = realloc(login_us, nc * sizeof *p);
		if (!p)
			return;
		login_us = p;
		caplogin = nc;
	}
	uint64_t us = ns / 1000;
	login_us[nlogin++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static double
pct(double p)
{
	if (nlat == 0)
		return 0;
	size_t i = (size_t)(p / 100.0 * (double)(nlat - 1) + 0.5);
	if (i >= nlat)
		i = nlat - 1;
	return lat_us[i] / 1000.0;
}

/* ---- connection lifecycle ----------------------------------------------- */

static void
conn_release(struct conn *c)
{
	if (c->ssl) {
		/* One nonblocking close_notify, as a polite client does; no wait. */
		if (SSL_is_init_finished(c->ssl))
			SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	c->st = ST_FREE;
	active--;
	freelist[nfree++] = (int)(c - conns);
}

static bool
in_window(void)
{
	return window_open && (t_end == 0 || now_ns() < t_end);
}

static void
conn_fail(struct conn *c, enum fail f, const char *why)
{
	if (o.mode == MODE_IDLE && c->counted_up) {
		idle_dropped++;
		idle_up--;
		if (why)
			diag("idle connection dropped: %s", why);
	} else if (in_window() || o.mode == MODE_IDLE) {
		fails[f]++;
		if (why)
			diag("%s failure: %s", fail_names[f], why);
	}
	conn_release(c);
}

static void
conn_ok(struct conn *c)
{
	uint64_t t = now_ns();
	ok_total++;
	if (in_window()) {
		ok_window++;
		lat_add(t - c->t_start);
	}
	conn_release(c);
}

static void
set_deadline(struct conn *c)
{
	c->deadline = now_ns() + (uint64_t)(o.timeout * 1e9);
}

static void
queue_write(struct conn *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(c->wbuf, sizeof c->wbuf, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof c->wbuf)
		n = (int)sizeof c->wbuf - 1;
	c->wlen = (size_t)n;
	c->woff = 0;
}

static void
send_login(struct conn *c, long uidx)
{
	char user[256], qu[520], qp[520];
	make_user(user, sizeof user, uidx);
	put_astring(qu, sizeof qu, user);
	put_astring(qp, sizeof qp, o.pass);
	queue_write(c, "b LOGIN %s %s\r\n", qu, qp);
	c->t_cmd = now_ns();
	c->st = ST_LOGIN;
	set_deadline(c);
}

static void
send_clientid(struct conn *c, long uidx)
{
	uint64_t a, b;
	if (o.uuid_per_user) {
		/* stable per user: the same "device" every time */
		a = 0x9e3779b97f4a7c15ull * (uint64_t)(uidx + 1);
		b = a ^ 0xd1b54a32d192ed03ull;
		b *= 0xbf58476d1ce4e5b9ull;
	} else {
		a = rng_next();
		b = rng_next();
	}
	a = (a & ~0xf000ull) | 0x4000ull;                        /* version 4 */
	b = (b & 0x3fffffffffffffffull) | 0x8000000000000000ull; /* variant */
	queue_write(c,
	            "a CLIENTID UUID %08" PRIx64 "-%04" PRIx64 "-%04" PRIx64
	            "-%04" PRIx64 "-%012" PRIx64 "\r\n",
	            a >> 32, (a >> 16) & 0xffff, a & 0xffff, b >> 48,
	            b & 0xffffffffffffull);
	c->st = ST_CLIENTID;
	set_deadline(c);
}

static void
after_greeting(struct conn *c)
{
	if (o.mode == MODE_HANDSHAKE) {
		conn_ok(c);
		return;
	}
	if (o.mode == MODE_IDLE && !o.idle_login) {
		c->st = ST_IDLE;
		c->counted_up = true;
		idle_up++;
		return;
	}
	/* users are assigned round-robin, one per connection; spray: a
	 * name of its own per attempt */
	if (o.mode == MODE_SPRAY)
		c->uidx = o.user_base + (long)user_rr++;
	else
		c->uidx = o.user_base + (long)(user_rr++ % (uint64_t)o.nusers);
	if (o.clientid)
		send_clientid(c, c->uidx);
	else
		send_login(c, c->uidx);
}

static void
record_tls_desc(SSL *ssl)
{
	if (tls_desc[0])
		return;
	const char *grp = NULL;
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
	int g = SSL_get_negotiated_group(ssl);
	if (g)
		grp = SSL_group_to_name(ssl, g);
#endif
	snprintf(tls_desc, sizeof tls_desc, "%s/%s/%s", SSL_get_version(ssl),
	         SSL_get_cipher_name(ssl), grp ? grp : "?");
}

static void
send_select(struct conn *c)
{
	char qm[520];
	put_astring(qm, sizeof qm, o.mailbox);
	queue_write(c, "d %s %s\r\n", o.examine ? "EXAMINE" : "SELECT", qm);
	c->st = ST_SELECT;
	set_deadline(c);
}

/* fetch/search: the repeated command */
static void
send_bulk(struct conn *c)
{
	if (o.mode == MODE_FETCH)
		queue_write(c, "f FETCH 1:* %s\r\n", o.fetch_items);
	else
		queue_write(c, "f SEARCH TEXT \"%s\"\r\n", o.search_word);
	c->cmd_msgs = 0;
	c->t_cmd = now_ns();
	c->st = ST_CMD;
	set_deadline(c);
}

static void
after_login(struct conn *c)
{
	if (o.mode == MODE_IDLE && !o.idle_select) {
		c->st = ST_IDLE;
		c->counted_up = true;
		idle_up++;
		return;
	}
	if (o.mode == MODE_SESSION) {
		queue_write(c, "c LOGOUT\r\n");
		c->st = ST_LOGOUT;
		set_deadline(c);
		return;
	}
	send_select(c); /* full, fetch, search, idle --select-idle */
}

/* "* <n> FETCH ..." */
static bool
is_fetch_response(const char *line)
{
	if (line[0] != '*' || line[1] != ' ' ||
	    !isdigit((unsigned char)line[2]))
		return false;
	const char *p = line + 2;
	while (isdigit((unsigned char)*p))
		p++;
	return strncmp(p, " FETCH", 6) == 0;
}

/* A fetch/search command completed. Returns false when the connection was
 * released (the window is over). */
static bool
bulk_done(struct conn *c)
{
	uint64_t t = now_ns();
	cmds_total++;
	ok_total++;
	c->ncmds++;
	if (!in_window() || (o.total > 0 && c->ncmds > (uint64_t)o.total)) {
		conn_release(c);
		return false;
	}
	cmds_window++;
	lat_add(t - c->t_cmd);
	if (o.mode == MODE_FETCH && cmd_msgs_first < 0)
		cmd_msgs_first = (long)c->cmd_msgs;
	if (o.mode == MODE_SEARCH && hits_first < 0)
		hits_first = (long)c->cmd_msgs;
	if (o.total > 0 && c->ncmds >= (uint64_t)o.total) {
		/* -n: this connection has done its share */
		conn_release(c);
		return false;
	}
	send_bulk(c);
	return true;
}

/* Handle one response line (CRLF stripped), or the head of one too long for
 * the buffer. Continuations after a literal never come here. Returns false
 * when the connection was released. */
static bool
handle_line(struct conn *c, char *line, size_t len)
{
	(void)len;
	switch (c->st) {
	case ST_GREETING:
		if (strncmp(line, "* OK", 4) == 0) {
			after_greeting(c);
			return c->st != ST_FREE;
		}
		conn_fail(c, F_GREETING, line);
		return false;
	case ST_CLIENTID:
		if (line[0] == '*')
			return true;
		if (strncmp(line, "a OK", 4) == 0) {
			send_login(c, c->uidx);
			return true;
		}
		conn_fail(c, F_CLIENTID, line);
		return false;
	case ST_LOGIN:
		if (line[0] == '*' || line[0] == '+')
			return true;
		if (strncmp(line, "b OK", 4) == 0 ||
		    strncmp(line, "b NO", 4) == 0) {
			if (in_window())
				login_lat_add(now_ns() - c->t_cmd);
		}
		if (o.mode == MODE_SPRAY && (strncmp(line, "b NO", 4) == 0 ||
		                             strncmp(line, "b OK", 4) == 0)) {
			/* answered: that is all a sprayer waits for */
			if (line[2] == 'N')
				spray_no++;
			else
				spray_ok++;
			conn_ok(c);
			return false;
		}
		if (strncmp(line, "b OK", 4) == 0) {
			after_login(c);
			return true;
		}
		conn_fail(c, F_LOGIN, line);
		return false;
	case ST_SELECT:
		if (line[0] == '*') {
			long n;
			char w[16];
			if (exists_first < 0 &&
			    sscanf(line, "* %ld %15s", &n, w) == 2 &&
			    strcmp(w, "EXISTS") == 0)
				exists_first = n;
			return true;
		}
		if (strncmp(line, "d OK", 4) == 0) {
			if (o.mode == MODE_FULL) {
				queue_write(c, "e FETCH 1:10 ENVELOPE\r\n");
				c->cmd_msgs = 0;
				c->st = ST_FETCH10;
				set_deadline(c);
			} else if (o.mode == MODE_IDLE) {
				queue_write(c, "g IDLE\r\n");
				c->st = ST_IDLECMD;
				set_deadline(c);
			} else {
				c->st = ST_READY;
				bulk_ready++;
			}
			return true;
		}
		conn_fail(c, F_SELECT, line);
		return false;
	case ST_FETCH10:
		if (line[0] == '*') {
			if (is_fetch_response(line))
				c->cmd_msgs++;
			return true;
		}
		if (strncmp(line, "e OK", 4) == 0) {
			long m = (long)c->cmd_msgs;
			if (full_msgs_min < 0 || m < full_msgs_min)
				full_msgs_min = m;
			if (m > full_msgs_max)
				full_msgs_max = m;
			queue_write(c, "c LOGOUT\r\n");
			c->st = ST_LOGOUT;
			set_deadline(c);
			return true;
		}
		conn_fail(c, F_FETCH, line);
		return false;
	case ST_CMD:
		if (line[0] == '*') {
			if (o.mode == MODE_FETCH && is_fetch_response(line)) {
				c->cmd_msgs++;
				msgs_total++;
				if (in_window())
					msgs_window++;
			}
			return true;
		}
		if (strncmp(line, "f OK", 4) == 0)
			return bulk_done(c);
		conn_fail(c, F_CMD, line);
		return false;
	case ST_IDLECMD:
		if (line[0] == '+') {
			c->st = ST_IDLE;
			c->counted_up = true;
			idle_up++;
			return true;
		}
		if (line[0] == '*')
			return true;
		conn_fail(c, F_IDLE, line);
		return false;
	case ST_LOGOUT:
		if (strncmp(line, "* BYE", 5) == 0) {
			c->saw_bye = true;
			return true;
		}
		if (line[0] == '*')
			return true;
		if (strncmp(line, "c OK", 4) == 0) {
			conn_ok(c);
			return false;
		}
		conn_fail(c, F_LOGOUT, line);
		return false;
	case ST_IDLE:
		if (strncmp(line, "* BYE", 5) == 0)
			diag("server said on idle connection: %s", line);
		return true;
	default:
		return true;
	}
}

/* The size of a literal announced at the end of a line ("{123}", "{123+}",
 * "~{123}"), or -1. */
static long long
literal_at_end(const char *line, size_t len)
{
	if (len < 3 || line[len - 1] != '}')
		return -1;
	size_t i = len - 1;
	if (line[i - 1] == '+')
		i--;
	size_t e = i;
	while (i > 0 && isdigit((unsigned char)line[i - 1]))
		i--;
	if (i == e || i == 0 || line[i - 1] != '{')
		return -1;
	return strtoll(line + i, NULL, 10);
}

/* "* SEARCH 1 2 3": numbers counted over all the chunks of the line */
static void
count_tokens(struct conn *c, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		bool sp = p[i] == ' ';
		if (!sp && c->cont_prev_sp)
			c->spaces++;
		c->cont_prev_sp = sp;
	}
}

static void
search_line_start(struct conn *c, const char *p, size_t n)
{
	c->search_line = o.mode == MODE_SEARCH && c->st == ST_CMD &&
	                 strncmp(p, "* SEARCH", 8) == 0;
	if (c->search_line) {
		c->spaces = 0;
		c->cont_prev_sp = false;
		count_tokens(c, p + 8, n - 8);
	}
}

static bool
process_input(struct conn *c)
{
	size_t pos = 0;
	while (pos < c->rlen) {
		if (c->lit_left) {
			size_t k = c->rlen - pos;
			if (k > c->lit_left)
				k = (size_t)c->lit_left;
			c->lit_left -= k;
			pos += k;
			if (c->st == ST_CMD && in_window())
				lit_window += k;
			continue;
		}
		char *start = c->rbuf + pos;
		size_t avail = c->rlen - pos;
		char *nl = memchr(start, '\n', avail);
		if (!nl) {
			if (pos > 0 || avail < rcap - 1)
				break; /* more to come */
			/* a line longer than the buffer: handle its head, skip
			 * the middle, keep a tail (where a literal is announced) */
			size_t drop = avail - 32;
			bool fresh = !c->cont;
			c->cont = true;
			if (fresh) {
				char save = start[drop];
				start[drop] = '\0';
				search_line_start(c, start, drop);
				if (!handle_line(c, start, drop))
					return false;
				start[drop] = save;
			} else if (c->search_line) {
				count_tokens(c, start, drop);
			}
			pos += drop;
			continue;
		}
		size_t linelen = (size_t)(nl - start);
		pos += linelen + 1;
		if (linelen > 0 && start[linelen - 1] == '\r')
			linelen--;
		start[linelen] = '\0';
		bool fresh = !c->cont;
		long long lit = literal_at_end(start, linelen);
		c->cont = lit >= 0;
		if (lit > 0)
			c->lit_left = (uint64_t)lit;
		if (fresh) {
			search_line_start(c, start, linelen);
		} else if (c->search_line) {
			count_tokens(c, start, linelen);
		}
		if (c->search_line && lit < 0) {
			c->cmd_msgs = c->spaces; /* the hits */
			c->search_line = false;
		}
		if (fresh && !handle_line(c, start, linelen))
			return false;
	}
	if (pos > 0) {
		memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
		c->rlen -= pos;
	}
	return true;
}

static const char *
ssl_errstr(int sslerr)
{
	static char buf[256];
	unsigned long e = ERR_get_error();
	if (e) {
		ERR_error_string_n(e, buf, sizeof buf);
		ERR_clear_error();
		return buf;
	}
	if (sslerr == SSL_ERROR_SYSCALL)
		return errno ? strerror(errno) : "unexpected EOF";
	snprintf(buf, sizeof buf, "ssl error %d", sslerr);
	return buf;
}

/* Small, one-record answers are awaited in these states: once a command
 * is written and nothing is buffered, the answer cannot be there yet (it
 * comes with a new edge), so reading now would only return EAGAIN. */
static bool
awaits_small_answer(enum state st)
{
	return st == ST_CLIENTID || st == ST_LOGIN || st == ST_SELECT ||
	       st == ST_FETCH10 || st == ST_LOGOUT;
}

static void
conn_drive(struct conn *c, uint32_t ev)
{
	/* Edge-triggered EPOLLOUT fires whenever acknowledged data frees
	 * send buffer; with nothing to send it says nothing to a client
	 * that is past its handshake. */
	if (ev == EPOLLOUT && c->st > ST_TLS && c->woff >= c->wlen)
		return;
	for (;;) {
		switch (c->st) {
		case ST_FREE:
			return;
		case ST_CONNECTING: {
			int err = 0;
			socklen_t el = sizeof err;
			if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err,
			               &el) != 0)
				err = errno;
			if (err) {
				conn_fail(c, F_CONNECT, strerror(err));
				return;
			}
			if (!(ev & (EPOLLOUT | EPOLLIN)))
				return;
			c->ssl = SSL_new(ctx);
			if (!c->ssl) {
				conn_fail(c, F_TLS, "SSL_new");
				return;
			}
			SSL_set_fd(c->ssl, c->fd);
			if (!isdigit((unsigned char)o.host[0]) &&
			    o.host[0] != '[')
				SSL_set_tlsext_host_name(c->ssl, o.host);
			SSL_set_connect_state(c->ssl);
			c->st = ST_TLS;
			set_deadline(c);
			break;
		}
		case ST_TLS: {
			ERR_clear_error();
			int r = SSL_connect(c->ssl);
			if (r == 1) {
				if (SSL_session_reused(c->ssl)) {
					conn_fail(
					        c, F_TLS,
					        "TLS session resumed: every "
					        "handshake must be a full one");
					return;
				}
				record_tls_desc(c->ssl);
				c->st = ST_GREETING;
				set_deadline(c);
				break;
			}
			int e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ ||
			    e == SSL_ERROR_WANT_WRITE)
				return;
			conn_fail(c, F_TLS, ssl_errstr(e));
			return;
		}
		default: {
			/* flush a pending command first */
			if (c->woff < c->wlen) {
				ERR_clear_error();
				int r = SSL_write(c->ssl, c->wbuf + c->woff,
				                  (int)(c->wlen - c->woff));
				if (r > 0) {
					c->woff += (size_t)r;
					if (c->woff >= c->wlen &&
					    c->rlen == 0 &&
					    awaits_small_answer(c->st) &&
					    !SSL_has_pending(c->ssl))
						return;
					continue;
				}
				int e = SSL_get_error(c->ssl, r);
				if (e == SSL_ERROR_WANT_WRITE ||
				    e == SSL_ERROR_WANT_READ)
					return;
				conn_fail(c, F_CLOSED, ssl_errstr(e));
				return;
			}
			size_t room = rcap - 1 - c->rlen;
			ERR_clear_error();
			int r = SSL_read(c->ssl, c->rbuf + c->rlen, (int)room);
			if (r > 0) {
				c->rlen += (size_t)r;
				if (c->st == ST_CMD) {
					/* a long FETCH is alive while data flows */
					set_deadline(c);
					if (in_window())
						bytes_window += (uint64_t)r;
				}
				if (!process_input(c))
					return;
				continue;
			}
			int e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ ||
			    e == SSL_ERROR_WANT_WRITE)
				return;
			if (c->st == ST_LOGOUT && c->saw_bye &&
			    (e == SSL_ERROR_ZERO_RETURN ||
			     e == SSL_ERROR_SYSCALL)) {
				conn_ok(c); /* BYE then close without tagged OK */
				return;
			}
			enum fail f =
			        c->st == ST_GREETING ? F_GREETING : F_CLOSED;
			conn_fail(c, f,
			          e == SSL_ERROR_ZERO_RETURN
			                  ? "server closed the connection"
			                  : ssl_errstr(e));
			return;
		}
		}
	}
}

static void
conn_start(void)
{
	int idx = freelist[--nfree];
	struct conn *c = &conns[idx];
	char *rb = c->rbuf;
	memset(c, 0, offsetof(struct conn, wbuf));
	c->rbuf = rb;
	c->fd = -1;
	active++;
	started++;
	c->t_start = now_ns();
	int fd = socket(dst.ss_family,
	                SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		conn_fail(c, F_CONNECT, strerror(errno));
		return;
	}
	c->fd = fd;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (o.spread_per_addr > 0 && dst.ss_family == AF_INET) {
		/* attempt k from 127.(1 + net / 256).(net % 256).(1 + host):
		 * spread_per_addr attempts per address, spread_per_net
		 * addresses per /24 */
		uint64_t k = started - 1;
		uint64_t a = k / (uint64_t)o.spread_per_addr;
		uint64_t host = a % (uint64_t)o.spread_per_net;
		uint64_t net = a / (uint64_t)o.spread_per_net;
		struct sockaddr_in src = {.sin_family = AF_INET};
		src.sin_addr.s_addr = htonl(
		        0x7f000000u | (uint32_t)((1 + net / 256) << 16) |
		        (uint32_t)((net % 256) << 8) | (uint32_t)(1 + host));
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
		           sizeof one);
		if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0) {
			conn_fail(c, F_CONNECT, strerror(errno));
			return;
		}
	} else if (o.src_ips > 1 && dst.ss_family == AF_INET) {
		/* spread over 127.0.0.1..127.0.0.N to widen the 4-tuple space */
		struct sockaddr_in src = {.sin_family = AF_INET};
		src.sin_addr.s_addr =
		        htonl(0x7f000001u +
		              (uint32_t)(started % (uint64_t)o.src_ips));
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
		           sizeof one);
		if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0) {
			conn_fail(c, F_CONNECT, strerror(errno));
			return;
		}
	}
	c->st = ST_CONNECTING;
	set_deadline(c);
	if (connect(fd, (struct sockaddr *)&dst, dstlen) != 0 &&
	    errno != EINPROGRESS) {
		conn_fail(c, F_CONNECT, strerror(errno));
		return;
	}
	/* registered after connect(): an already-finished connect is reported
	 * at once, an unconnected socket's HUP never is */
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET |
	                                   EPOLLRDHUP,
	                         .data.ptr = c};
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		conn_fail(c, F_CONNECT, strerror(errno));
		return;
	}
}

static void
scan_timeouts(uint64_t t)
{
	for (int i = 0; i < nconns; i++) {
		struct conn *c = &conns[i];
		if (c->st == ST_FREE || c->st == ST_IDLE || c->st == ST_READY)
			continue;
		if (t > c->deadline) {
			char why[64];
			static const char *sn[] = {
			        "free",     "connect", "tls",    "greeting",
			        "clientid", "login",   "logout", "idle",
			        "select",   "fetch",   "ready",  "command",
			        "idle-cmd"};
			snprintf(why, sizeof why, "no progress in %s step",
			         sn[c->st]);
			conn_fail(c, F_TIMEOUT, why);
		}
	}
}

/* ---- modes -------------------------------------------------------------- */

static void
usage(void)
{
	fputs("usage: loadgen session|handshake|idle|full|fetch|search|spray "
	      "[options]\n"
	      "       loadgen procstat PID        (CPU seconds and memory of "
	      "PID and its descendants)\n"
	      "       loadgen freeport            (print a free TCP port on "
	      "127.0.0.1)\n"
	      "       loadgen crypt [-n N]        (time SHA512-CRYPT "
	      "verifications)\n"
	      "options:\n"
	      "  -h HOST        target address (default 127.0.0.1; loopback "
	      "only)\n"
	      "  -p PORT        implicit-TLS port (default 993)\n"
	      "  -c N           concurrency (session/handshake), or max "
	      "connections being\n"
	      "                 set up at once (idle; default 256)\n"
	      "  -d SECONDS     run time (session/handshake) or hold time "
	      "(idle)\n"
	      "  -n N           total sessions (session/handshake/full), "
	      "connections (idle),\n"
	      "                 or commands per connection (fetch/search)\n"
	      "  -u USER        user name or pattern with one %d (default "
	      "bench%d)\n"
	      "  -U N           number of users for the pattern (default 1)\n"
	      "  -B N           first user number (default 1)\n"
	      "  -P PASS        password (default benchpass)\n"
	      "  -t SECONDS     per-step timeout (default 30)\n"
	      "  -T SECONDS     idle: time allowed to open all connections "
	      "(default 300)\n"
	      "  -S N           spread source addresses over "
	      "127.0.0.1..127.0.0.N\n"
	      "  --no-clientid  do not send CLIENTID (servers without the "
	      "extension)\n"
	      "  --uuid-per-user  one stable CLIENTID UUID per user instead of "
	      "per connection\n"
	      "  --login        idle: also CLIENTID + LOGIN before idling\n"
	      "  --tls-max V    cap the TLS version: 1.2 or 1.3\n"
	      "  -m MAILBOX     full/fetch/search/idle --select-idle: the "
	      "mailbox (INBOX)\n"
	      "  --examine      fetch/search: EXAMINE instead of SELECT\n"
	      "  --select-idle  idle: LOGIN, SELECT, IDLE (implies --login)\n"
	      "  -F ITEMS       fetch: the items of FETCH 1:* (default "
	      "\"(FLAGS ENVELOPE)\")\n"
	      "  -w WORD        search: SEARCH TEXT \"WORD\" (default "
	      "meeting)\n"
	      "  --spread A:N   spray: A attempts per source address, N "
	      "addresses per /24,\n"
	      "                 from 127.1.0.1 on (127.(1+k/256).(k%256).x "
	      "for the k-th /24)\n"
	      "  -q             no human summary on stderr\n",
	      stderr);
	exit(2);
}

static int
run_load(void)
{
	struct sigaction sa = {0};
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (o.mode == MODE_IDLE) {
		if (o.total <= 0)
			die("idle mode needs -n CONNECTIONS");
		nconns = (int)o.total;
		if (o.conc <= 1)
			o.conc = 256;
	} else if (BULK_MODE(o.mode)) {
		if (o.duration <= 0 && o.total <= 0)
			die("fetch/search need -d SECONDS or -n COMMANDS");
		if (o.conc < 1)
			die("-c must be >= 1");
		nconns = o.conc;
	} else {
		if (o.duration <= 0 && o.total <= 0)
			die("give -d SECONDS or -n SESSIONS");
		if (o.conc < 1)
			die("-c must be >= 1");
		nconns = o.conc;
	}
	if (o.duration > MAX_HOLD_SECONDS)
		die("-d is capped at %d seconds", MAX_HOLD_SECONDS);
	raise_nofile((long)nconns + 64);
	resolve_target();

	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		die("SSL_CTX_new failed");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	/* every connection is a full handshake: no client-side session reuse */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/* fewer read() calls: one per burst of records, not two per record */
	SSL_CTX_set_read_ahead(ctx, 1);
	if (o.tls_max) {
		int v = strcmp(o.tls_max, "1.2") == 0 ? TLS1_2_VERSION
		                                      : TLS1_3_VERSION;
		SSL_CTX_set_max_proto_version(ctx, v);
	}

	conns = calloc((size_t)nconns, sizeof *conns);
	freelist = calloc((size_t)nconns, sizeof *freelist);
	if (!conns || !freelist)
		die("out of memory for %d connections", nconns);
	if (BULK_MODE(o.mode))
		rcap = RBUF_BULK;
	char *rbufs = malloc((size_t)nconns * rcap);
	if (!rbufs)
		die("out of memory for %d connections", nconns);
	for (int i = nconns - 1; i >= 0; i--) {
		conns[i].fd = -1;
		conns[i].rbuf = rbufs + (size_t)i * rcap;
		freelist[nfree++] = i;
	}
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die("epoll_create1: %s", strerror(errno));
	uint64_t seed;
	if (getrandom(&seed, sizeof seed, 0) != sizeof seed)
		seed = now_ns();
	rng_state = seed | 1;

	struct epoll_event evs[512];
	uint64_t t0 = now_ns(), t_window_end = 0,
	         next_scan = t0 + SCAN_INTERVAL_NS;
	uint64_t setup_deadline = t0 + (uint64_t)(o.setup_timeout * 1e9);
	uint64_t t_all_up = 0, hold_end = 0, drain_end = 0;
	bool announced = false, setup_failed = false;
	if (o.mode != MODE_IDLE && !BULK_MODE(o.mode) && o.duration > 0)
		t_end = t0 + (uint64_t)(o.duration * 1e9);
	/* -n without -d: still bounded, by the per-step timeout times the work */

	for (;;) {
		uint64_t t = now_ns();
		/* start new connections */
		if (starting && !got_signal) {
			if (o.mode == MODE_IDLE) {
				int inflight = active - (int)idle_up;
				while (nfree > 0 && inflight < o.conc) {
					conn_start();
					inflight = active - (int)idle_up;
				}
			} else if (BULK_MODE(o.mode)) {
				while (nfree > 0 && started < (uint64_t)nconns)
					conn_start();
			} else {
				while (nfree > 0 &&
				       (o.total <= 0 ||
				        started < (uint64_t)o.total))
					conn_start();
			}
		}

		int timeout_ms = 50;
		int n = epoll_wait(epfd, evs, 512, timeout_ms);
		if (n < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c->st == ST_FREE)
				continue;
			conn_drive(c, evs[i].events);
		}
		t = now_ns();
		if (t >= next_scan) {
			scan_timeouts(t);
			next_scan = t + SCAN_INTERVAL_NS;
		}

		if (o.mode == MODE_IDLE) {
			if (!announced && idle_up == (uint64_t)o.total) {
				announced = true;
				t_all_up = t;
				printf("idle %" PRIu64 "\n", idle_up);
				fflush(stdout);
				starting = false;
				uint64_t hold =
				        (uint64_t)((o.duration > 0
				                            ? o.duration
				                            : MAX_HOLD_SECONDS) *
				                   1e9);
				hold_end = t + hold;
			}
			if (!announced && t > setup_deadline) {
				printf("idle-failed %" PRIu64 "\n", idle_up);
				fflush(stdout);
				setup_failed = true;
				break;
			}
			/* a fatal pattern: nothing ever comes up */
			if (!announced && idle_up == 0 && started > 1000 &&
			    fails[F_CONNECT] + fails[F_TLS] +
			                    fails[F_GREETING] +
			                    fails[F_LOGIN] >=
			            started - (uint64_t)active) {
				printf("idle-failed 0\n");
				fflush(stdout);
				setup_failed = true;
				break;
			}
			if (got_signal || (announced && t >= hold_end))
				break;
			continue;
		}

		/* fetch/search: every connection logged in and selected, start
		 * all of them at once; the window is -d seconds from then */
		if (BULK_MODE(o.mode) && !t_bulk0 && !got_signal) {
			if (active > 0 && started == (uint64_t)nconns &&
			    bulk_ready == active) {
				t_bulk0 = t;
				if (o.duration > 0)
					t_end = t +
					        (uint64_t)(o.duration * 1e9);
				for (int i = 0; i < nconns; i++)
					if (conns[i].st == ST_READY) {
						send_bulk(&conns[i]);
						conn_drive(&conns[i], 0);
					}
			} else if (t > setup_deadline ||
			           (active == 0 &&
			            started == (uint64_t)nconns)) {
				diag("fetch/search: only %d of %d connections "
				     "ready",
				     bulk_ready, nconns);
				window_open = false;
				t_window_end = t;
				break;
			}
			continue;
		}

		/* session / handshake / full / fetch / search */
		if (got_signal && window_open) {
			window_open = false;
			t_window_end = t;
			starting = false;
			drain_end = t; /* stop now */
		}
		if (window_open && t_end && t >= t_end) {
			window_open = false;
			t_window_end = t_end;
			starting = false;
			/* fetch/search: a command in flight may take seconds
			 * more; only what arrived in the window counts, so stop
			 * (the connections are closed as abandoned) */
			drain_end = BULK_MODE(o.mode) ? t : t + DRAIN_LIMIT_NS;
		}
		if (window_open && o.total > 0 &&
		    (BULK_MODE(o.mode) || started >= (uint64_t)o.total) &&
		    active == 0) {
			window_open = false;
			t_window_end = t;
			starting = false;
			break;
		}
		if (!window_open && (active == 0 || t >= drain_end))
			break;
		/* give up early if the server is clearly unusable */
		uint64_t nf = 0;
		for (int f = 0; f < F_COUNT; f++)
			nf += fails[f];
		if (ok_total == 0 && nf >= 1000) {
			diag("1000 failures and no success: giving up");
			window_open = false;
			t_window_end = t;
			break;
		}
	}

	uint64_t t_stop = now_ns();
	/* close whatever is left (idle connections, abandoned in-flight sessions) */
	uint64_t abandoned = 0;
	for (int i = 0; i < nconns; i++) {
		if (conns[i].st != ST_FREE) {
			if (conns[i].st != ST_IDLE)
				abandoned++;
			conn_release(&conns[i]);
		}
	}

	uint64_t nf = 0;
	for (int f = 0; f < F_COUNT; f++)
		nf += fails[f];
	char failbuf[512] = "";
	size_t fl = 0;
	for (int f = 0; f < F_COUNT; f++)
		if (fails[f])
			fl += (size_t)snprintf(
			        failbuf + fl, sizeof failbuf - fl,
			        " fail_%s=%" PRIu64, fail_names[f], fails[f]);

	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double self_cpu =
	        (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	        (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;

	if (o.mode == MODE_IDLE) {
		double setup_s =
		        t_all_up ? (t_all_up - t0) / 1e9 : (t_stop - t0) / 1e9;
		printf("RESULT mode=idle target=%ld up=%" PRIu64
		       " dropped=%" PRIu64
		       " setup_s=%.2f held_s=%.2f failures=%" PRIu64
		       "%s tls=%s\n",
		       o.total, idle_up + idle_dropped, idle_dropped, setup_s,
		       t_all_up ? (t_stop - t_all_up) / 1e9 : 0.0, nf, failbuf,
		       tls_desc[0] ? tls_desc : "-");
		if (!o.quiet)
			fprintf(stderr,
			        "idle: %" PRIu64
			        "/%ld connections up in %.2fs, %" PRIu64
			        " dropped while held, %" PRIu64
			        " setup failures\n",
			        idle_up + idle_dropped, o.total, setup_s,
			        idle_dropped, nf);
		return setup_failed || idle_dropped ? 1 : 0;
	}

	uint64_t w0 = BULK_MODE(o.mode) && t_bulk0 ? t_bulk0 : t0;
	double window = ((t_window_end ? t_window_end : t_stop) - w0) / 1e9;
	if (window <= 0)
		window = 1e-9;
	qsort(lat_us, nlat, sizeof *lat_us, cmp_u32);
	if (BULK_MODE(o.mode)) {
		const char *mname = o.mode == MODE_FETCH ? "fetch" : "search";
		double mb = 1024.0 * 1024.0;
		printf("RESULT mode=%s conc=%d window_s=%.3f exists=%ld "
		       "cmds=%" PRIu64 " cmds_total=%" PRIu64
		       " cmd_rate=%.2f msgs=%" PRIu64 " msgs_total=%" PRIu64
		       " msg_rate=%.1f literal_mib_s=%.2f wire_mib_s=%.2f "
		       "msgs_per_cmd=%ld hits=%ld failures=%" PRIu64
		       " abandoned=%" PRIu64 " p50_ms=%.3f p90_ms=%.3f "
		       "p99_ms=%.3f max_ms=%.3f client_cpu_s=%.2f%s tls=%s\n",
		       mname, o.conc, window, exists_first, cmds_window,
		       cmds_total, (double)cmds_window / window, msgs_window,
		       msgs_total, (double)msgs_window / window,
		       (double)lit_window / mb / window,
		       (double)bytes_window / mb / window, cmd_msgs_first,
		       hits_first, nf, abandoned, pct(50), pct(90), pct(99),
		       nlat ? lat_us[nlat - 1] / 1000.0 : 0.0, self_cpu,
		       failbuf, tls_desc[0] ? tls_desc : "-");
		if (!o.quiet)
			fprintf(stderr,
			        "%s: c=%d %" PRIu64
			        " commands in %.2fs (%.2f/s), "
			        "%.1f msgs/s, %.2f MiB/s of literals, %.2f "
			        "MiB/s on the wire, latency p50 %.2f ms p90 "
			        "%.2f ms, %" PRIu64 " failures\n",
			        mname, o.conc, cmds_window, window,
			        (double)cmds_window / window,
			        (double)msgs_window / window,
			        (double)lit_window / mb / window,
			        (double)bytes_window / mb / window, pct(50),
			        pct(90), nf);
		return cmds_window > 0 && nf == 0 ? 0 : 1;
	}
	double rate = (double)ok_window / window;
	const char *mname = o.mode == MODE_SESSION ? "session"
	                    : o.mode == MODE_FULL  ? "full"
	                    : o.mode == MODE_SPRAY ? "spray"
	                                           : "handshake";
	char loginbuf[256] = "";
	if (nlogin > 0) {
		qsort(login_us, nlogin, sizeof *login_us, cmp_u32);
		size_t i50 = (size_t)(0.50 * (double)(nlogin - 1) + 0.5);
		size_t i99 = (size_t)(0.99 * (double)(nlogin - 1) + 0.5);
		snprintf(loginbuf, sizeof loginbuf,
		         " logins=%zu login_p50_ms=%.3f login_p99_ms=%.3f "
		         "login_max_ms=%.3f login_slow_1s=%" PRIu64,
		         nlogin, login_us[i50] / 1000.0, login_us[i99] / 1000.0,
		         login_us[nlogin - 1] / 1000.0, login_slow_1s);
	}
	if (o.mode == MODE_SPRAY) {
		size_t l = strlen(loginbuf);
		snprintf(loginbuf + l, sizeof loginbuf - l,
		         " answered_no=%" PRIu64 " answered_ok=%" PRIu64,
		         spray_no, spray_ok);
	}
	printf("RESULT mode=%s conc=%d window_s=%.3f ok=%" PRIu64
	       " ok_total=%" PRIu64 " rate=%.1f failures=%" PRIu64
	       " abandoned=%" PRIu64 " p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f "
	       "max_ms=%.3f client_cpu_s=%.2f exists=%ld fetched_min=%ld "
	       "fetched_max=%ld%s%s tls=%s\n",
	       mname, o.conc, window, ok_window, ok_total, rate, nf, abandoned,
	       pct(50), pct(90), pct(99),
	       nlat ? lat_us[nlat - 1] / 1000.0 : 0.0, self_cpu, exists_first,
	       full_msgs_min, full_msgs_max, loginbuf, failbuf,
	       tls_desc[0] ? tls_desc : "-");
	if (!o.quiet)
		fprintf(stderr,
		        "%s: c=%d %.1f/s (%" PRIu64 " ok in %.2fs, %" PRIu64
		        " incl. drain), "
		        "%" PRIu64
		        " failures, latency p50 %.2f ms p99 %.2f ms, tls %s\n",
		        mname, o.conc, rate, ok_window, window, ok_total, nf,
		        pct(50), pct(99), tls_desc[0] ? tls_desc : "-");
	return ok_window > 0 && nf == 0 ? 0 : 1;
}

/* ---- helpers for run.sh ------------------------------------------------- */

struct pinfo {
	int pid, ppid;
	unsigned long long utime, stime, cutime, cstime;
};

static bool
read_stat(int pid, struct pinfo *pi)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	if (!p)
		return false;
	/* fields after ") ": state ppid pgrp session tty tpgid flags minflt
	 * cminflt majflt cmajflt utime stime cutime cstime */
	char st;
	long long skip;
	pi->pid = pid;
	if (sscanf(p + 2,
	           "%c %d %lld %lld %lld %lld %lld %lld %lld %lld %lld %llu "
	           "%llu %llu %llu",
	           &st, &pi->ppid, &skip, &skip, &skip, &skip, &skip, &skip,
	           &skip, &skip, &skip, &pi->utime, &pi->stime, &pi->cutime,
	           &pi->cstime) != 15)
		return false;
	return true;
}

static long
read_kb(int pid, const char *file, const char *key)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/%s", pid, file);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t kl = strlen(key);
	long v = -1;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
			v = strtol(line + kl + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

/* CPU of a process tree: every live member's utime+stime, plus the root's
 * cutime+cstime (children it already reaped, e.g. Dovecot's imap processes
 * that exited after service_count sessions). Memory: VmRSS and Pss sums. */
static int
run_procstat(int root)
{
	struct pinfo *all = NULL;
	size_t nall = 0, cap = 0;
	DIR *d = opendir("/proc");
	if (!d)
		die("opendir /proc: %s", strerror(errno));
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		struct pinfo pi;
		if (!read_stat(atoi(de->d_name), &pi))
			continue;
		if (nall == cap) {
			cap = cap ? cap * 2 : 1024;
			all = realloc(all, cap * sizeof *all);
			if (!all)
				die("out of memory");
		}
		all[nall++] = pi;
	}
	closedir(d);
	/* mark the tree: iterate to a fixed point (trees are shallow) */
	char *in = calloc(nall ? nall : 1, 1);
	bool found = false;
	for (size_t i = 0; i < nall; i++)
		if (all[i].pid == root) {
			in[i] = 1;
			found = true;
		}
	if (!found) {
		printf("PROCSTAT pid=%d missing=1\n", root);
		return 1;
	}
	for (bool changed = true; changed;) {
		changed = false;
		for (size_t i = 0; i < nall; i++) {
			if (in[i])
				continue;
			for (size_t j = 0; j < nall; j++)
				if (in[j] && all[j].pid == all[i].ppid) {
					in[i] = 1;
					changed = true;
					break;
				}
		}
	}
	long tck = sysconf(_SC_CLK_TCK);
	unsigned long long ticks = 0;
	long rss = 0, pss = 0, nproc = 0, root_rss = 0;
	for (size_t i = 0; i < nall; i++) {
		if (!in[i])
			continue;
		nproc++;
		ticks += all[i].utime + all[i].stime;
		if (all[i].pid == root) {
			ticks += all[i].cutime + all[i].cstime;
			root_rss = read_kb(root, "status", "VmRSS");
		}
		long r = read_kb(all[i].pid, "status", "VmRSS");
		long p = read_kb(all[i].pid, "smaps_rollup", "Pss");
		if (r > 0)
			rss += r;
		if (p > 0)
			pss += p;
	}
	printf("PROCSTAT pid=%d nproc=%ld cpu_s=%.2f rss_kb=%ld pss_kb=%ld "
	       "root_rss_kb=%ld\n",
	       root, nproc, (double)ticks / (double)tck, rss, pss, root_rss);
	free(in);
	free(all);
	return 0;
}

static int
run_freeport(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0)
		die("freeport: %s", strerror(errno));
	socklen_t l = sizeof a;
	getsockname(fd, (struct sockaddr *)&a, &l);
	printf("%d\n", ntohs(a.sin_port));
	close(fd);
	return 0;
}

static int
run_crypt(void)
{
	long n = o.total > 0 ? o.total : 200;
	if (n > 100000)
		n = 100000;
	struct crypt_data *cd = calloc(1, sizeof *cd);
	const char *salt = "$6$Zq1w2e3r4t5y6u7i$";
	char *h = crypt_r(o.pass, salt, cd);
	if (!h || h[0] == '*')
		die("crypt_r failed");
	char hash[256];
	snprintf(hash, sizeof hash, "%s", h);
	uint64_t t0 = now_ns();
	for (long i = 0; i < n; i++) {
		h = crypt_r(o.pass, hash, cd);
		if (!h || strcmp(h, hash) != 0)
			die("crypt_r verification mismatch");
	}
	double us = (now_ns() - t0) / 1e3 / (double)n;
	printf("RESULT mode=crypt scheme=SHA512-CRYPT rounds=5000 n=%ld "
	       "us_per_verify=%.1f\n",
	       n, us);
	free(cd);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	const char *m = argv[1];
	if (strcmp(m, "procstat") == 0) {
		if (argc != 3)
			usage();
		return run_procstat(atoi(argv[2]));
	}
	if (strcmp(m, "freeport") == 0)
		return run_freeport();
	bool crypt_mode = false;
	if (strcmp(m, "session") == 0)
		o.mode = MODE_SESSION;
	else if (strcmp(m, "handshake") == 0)
		o.mode = MODE_HANDSHAKE;
	else if (strcmp(m, "idle") == 0)
		o.mode = MODE_IDLE;
	else if (strcmp(m, "full") == 0)
		o.mode = MODE_FULL;
	else if (strcmp(m, "fetch") == 0)
		o.mode = MODE_FETCH;
	else if (strcmp(m, "search") == 0)
		o.mode = MODE_SEARCH;
	else if (strcmp(m, "spray") == 0)
		o.mode = MODE_SPRAY;
	else if (strcmp(m, "crypt") == 0)
		crypt_mode = true;
	else
		usage();

	static const struct option lo[] = {
	        {"no-clientid", no_argument, NULL, 1},
	        {"uuid-per-user", no_argument, NULL, 2},
	        {"login", no_argument, NULL, 3},
	        {"tls-max", required_argument, NULL, 4},
	        {"allow-nonloopback", no_argument, NULL, 5},
	        {"help", no_argument, NULL, 6},
	        {"examine", no_argument, NULL, 7},
	        {"select-idle", no_argument, NULL, 8},
	        {"spread", required_argument, NULL, 9},
	        {0},
	};
	optind = 2;
	int ch;
	while ((ch = getopt_long(argc, argv, "h:p:c:d:n:u:U:B:P:t:T:S:m:F:w:q",
	                         lo, NULL)) != -1) {
		switch (ch) {
		case 'h':
			o.host = optarg;
			break;
		case 'p':
			o.port = optarg;
			break;
		case 'c':
			o.conc = atoi(optarg);
			break;
		case 'd':
			o.duration = atof(optarg);
			break;
		case 'n':
			o.total = atol(optarg);
			break;
		case 'u':
			o.user = optarg;
			break;
		case 'U':
			o.nusers = atoi(optarg);
			break;
		case 'B':
			o.user_base = atoi(optarg);
			break;
		case 'P':
			o.pass = optarg;
			break;
		case 't':
			o.timeout = atof(optarg);
			break;
		case 'T':
			o.setup_timeout = atof(optarg);
			break;
		case 'S':
			o.src_ips = atoi(optarg);
			break;
		case 'q':
			o.quiet = true;
			break;
		case 'm':
			o.mailbox = optarg;
			break;
		case 'F':
			o.fetch_items = optarg;
			break;
		case 'w':
			if (strpbrk(optarg, "\"\\\r\n"))
				die("-w: a plain word, please");
			o.search_word = optarg;
			break;
		case 7:
			o.examine = true;
			break;
		case 8:
			o.idle_select = true;
			o.idle_login = true;
			break;
		case 9:
			if (sscanf(optarg, "%d:%d", &o.spread_per_addr,
			           &o.spread_per_net) != 2 ||
			    o.spread_per_addr < 1 || o.spread_per_net < 1 ||
			    o.spread_per_net > 254)
				die("--spread A:N (attempts per address, "
				    "addresses per /24, N <= 254)");
			break;
		case 1:
			o.clientid = false;
			break;
		case 2:
			o.uuid_per_user = true;
			break;
		case 3:
			o.idle_login = true;
			break;
		case 4:
			if (strcmp(optarg, "1.2") && strcmp(optarg, "1.3"))
				die("--tls-max takes 1.2 or 1.3");
			o.tls_max = optarg;
			break;
		case 5:
			o.allow_nonloopback = true;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (o.nusers < 1 || o.timeout <= 0 || o.src_ips < 1 || o.src_ips > 250)
		usage();
	{
		const char *p = strchr(o.user, '%');
		if (p && (p[1] != 'd' || strchr(p + 2, '%')))
			die("user pattern may contain one %%d and no other %%");
	}
	if (crypt_mode)
		return run_crypt();
	return run_load();
}
