/*
 * stall: holds many stalled pre-authentication IMAP connections open
 * against one server, re-opening each one the server closes, for
 * bench/stall.sh.
 *
 * One process, one thread, nonblocking sockets, level-triggered epoll,
 * OpenSSL 3. Kinds (-k, comma-separated; -n connections split evenly):
 *
 *   tls      TCP connected, then the bytes of a TLS ClientHello one at a
 *            time, one every -i seconds: the handshake never finishes
 *   drip     TLS done, greeting read, then "a LOGIN xxxx..." one byte
 *            every -i seconds: the line never ends
 *   empty    TLS done, greeting read, then "\r\n" every -i seconds
 *   literal  TLS done, greeting read, then `a ID ("k1" {4000+}` and its
 *            4,000 octets, and every -i seconds one more ` "kN" {4000+}`
 *            with its octets (a command that grows, 4 KB at a time)
 *
 * A connection counts as held once it is stalling (tls: TCP connected;
 * the others: greeting read). When the server closes one, its lifetime
 * (connect() to close) and the last "* BYE" text are recorded and the slot
 * is opened again at once (-R: not re-opened). At most -c connections are
 * being set up at once. Source addresses: -s FIRST (default 127.0.0.21)
 * and the -a following ones (127.0.0.21 .. 127.0.0.28 by default),
 * round-robin.
 *
 * Output on stdout:
 *   UP n=<held> t=<s>          once every connection is held the first time
 *                              (or "UP-PARTIAL" after -T seconds)
 *   STATUS t=<s> held_<kind>=.. opening_<kind>=.. closed_<kind>=..
 *          refused_<kind>=..   every second
 *   KIND kind=<k> target=.. opened=.. held=.. closed=.. refused=..
 *        connect_failed=.. life_min_s=.. life_p50_s=.. life_max_s=..
 *        first_close_s=.. bye="<most frequent BYE text>" bye_n=..
 *   RESULT t=<s> client_cpu_s=..
 *   at the end (SIGTERM/SIGINT, or -d seconds).
 *
 * Loopback targets only. Build: make -C bench (bench/out/stall).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define NKINDS       4
#define MAX_LIFE     200000
#define MAX_BYES     8
#define LITERAL_SIZE 4000

enum kind { K_TLS, K_DRIP, K_EMPTY, K_LITERAL };
static const char *kind_names[NKINDS] = {"tls", "drip", "empty", "literal"};

enum st {
	S_WAIT,     /* to be opened at t_next */
	S_CONNECT,  /* connect() in progress */
	S_HS,       /* TLS handshake */
	S_GREETING, /* waiting for the greeting */
	S_HELD,     /* stalling */
};

struct conn {
	int fd;
	enum kind kind;
	enum st st;
	SSL *ssl;
	uint64_t t_connect; /* connect() issued */
	uint64_t t_next;    /* next action (S_HELD) or open (S_WAIT) */
	size_t step;        /* bytes / literals sent so far */
	char *out;          /* pending plaintext (literal kind) */
	size_t outlen, outoff;
	char rbuf[512];
	size_t rlen;
	char bye[96]; /* last "* BYE" text seen */
};

struct kstat {
	int target;
	uint64_t opened, closed, refused, connect_failed;
	uint64_t first_close_ns;
	double *life;
	size_t nlife;
	struct {
		char text[96];
		uint64_t n;
	} byes[MAX_BYES];
};

static struct {
	const char *host, *port;
	int n, conc, addrs;
	double interval, duration, setup_timeout;
	bool reopen;
	unsigned kinds; /* bit per kind */
	const char *src;
} o = {"127.0.0.1", NULL, 100, 256, 8, 5, 0, 300, true, 0xf, "127.0.0.21"};

static volatile sig_atomic_t got_signal;
static int epfd;
static SSL_CTX *ctx;
static struct sockaddr_in dst;
static struct in_addr src0;
static struct conn *conns;
static struct kstat ks[NKINDS];
static unsigned char hello[4096];
static size_t hello_len;
static uint64_t t0, opened_total, rr;
static int setting_up;

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
	fputs("stall: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void
on_signal(int sig)
{
	got_signal = sig;
}

static uint64_t
jitter_ns(void)
{
	/* first action of a held connection: anywhere in one interval, so
	 * thousands of connections do not act in step */
	return (uint64_t)((double)random() / RAND_MAX * o.interval * 1e9);
}

static void
record_bye(struct kstat *k, const char *text)
{
	for (int i = 0; i < MAX_BYES; i++) {
		if (k->byes[i].n == 0) {
			snprintf(k->byes[i].text, sizeof k->byes[i].text, "%s",
			         text);
			k->byes[i].n = 1;
			return;
		}
		if (strcmp(k->byes[i].text, text) == 0) {
			k->byes[i].n++;
			return;
		}
	}
}

static void
conn_reset(struct conn *c, uint64_t reopen_at)
{
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	if (c->st == S_CONNECT || c->st == S_HS || c->st == S_GREETING)
		setting_up--;
	free(c->out);
	c->out = NULL;
	c->outlen = c->outoff = 0;
	c->rlen = 0;
	c->step = 0;
	c->bye[0] = '\0';
	c->st = S_WAIT;
	c->t_next = o.reopen ? reopen_at : UINT64_MAX;
}

/* The server ended the connection (or refused it at the greeting). */
static void
conn_closed(struct conn *c, bool refused)
{
	struct kstat *k = &ks[c->kind];
	uint64_t t = now_ns();
	if (refused) {
		k->refused++;
	} else {
		k->closed++;
		if (!k->first_close_ns)
			k->first_close_ns = t - t0;
		if (k->nlife < MAX_LIFE)
			k->life[k->nlife++] = (double)(t - c->t_connect) / 1e9;
	}
	if (c->bye[0])
		record_bye(k, c->bye);
	else
		record_bye(k, refused ? "(refused without BYE)"
		                      : "(closed without BYE)");
	/* a refused slot waits a second before trying again */
	conn_reset(c, refused ? t + 1000000000ull : t);
}

static void
conn_open(struct conn *c)
{
	struct kstat *k = &ks[c->kind];
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		die("socket: %s", strerror(errno));
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
	           sizeof one);
	struct sockaddr_in src = {.sin_family = AF_INET};
	src.sin_addr.s_addr = htonl(ntohl(src0.s_addr) +
	                            (uint32_t)(rr++ % (uint64_t)o.addrs));
	c->t_connect = now_ns();
	c->st = S_CONNECT;
	setting_up++;
	k->opened++;
	opened_total++;
	if (bind(c->fd, (struct sockaddr *)&src, sizeof src) != 0 ||
	    (connect(c->fd, (struct sockaddr *)&dst, sizeof dst) != 0 &&
	     errno != EINPROGRESS)) {
		k->connect_failed++;
		conn_reset(c, now_ns() + 1000000000ull);
		return;
	}
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0)
		die("epoll_ctl: %s", strerror(errno));
}

static void
want(struct conn *c, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = c};
	epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void
held(struct conn *c)
{
	setting_up--;
	c->st = S_HELD;
	c->t_next = now_ns() + jitter_ns();
	want(c, EPOLLIN);
}

/* Queue plaintext for the literal kind (written as the socket takes it). */
static void
queue_literal(struct conn *c)
{
	size_t cap = LITERAL_SIZE + 64;
	char *p = malloc(cap);
	if (!p)
		die("out of memory");
	int n = c->step == 0 ? snprintf(p, cap, "a ID (\"k1\" {%d+}\r\n",
	                                LITERAL_SIZE)
	                     : snprintf(p, cap, " \"k%zu\" {%d+}\r\n",
	                                c->step + 1, LITERAL_SIZE);
	memset(p + n, 'v', LITERAL_SIZE);
	free(c->out);
	c->out = p;
	c->outlen = (size_t)n + LITERAL_SIZE;
	c->outoff = 0;
	c->step++;
}

/* false: the connection was closed */
static bool
flush_out(struct conn *c)
{
	while (c->outoff < c->outlen) {
		ERR_clear_error();
		int r = SSL_write(c->ssl, c->out + c->outoff,
		                  (int)(c->outlen - c->outoff));
		if (r > 0) {
			c->outoff += (size_t)r;
			continue;
		}
		int e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
			want(c, EPOLLIN | EPOLLOUT);
			return true;
		}
		conn_closed(c, false);
		return false;
	}
	want(c, EPOLLIN);
	return true;
}

/* The periodic action of a held connection. false: closed. */
static bool
act(struct conn *c)
{
	ERR_clear_error();
	switch (c->kind) {
	case K_TLS:
		if (c->step < hello_len) {
			ssize_t w =
			        send(c->fd, hello + c->step, 1, MSG_NOSIGNAL);
			if (w == 1)
				c->step++;
			else if (w < 0 && errno != EAGAIN) {
				conn_closed(c, false);
				return false;
			}
		}
		return true;
	case K_DRIP: {
		/* "a LOGIN " and then an atom that never ends */
		static const char head[] = "a LOGIN ";
		char b = c->step < sizeof head - 1 ? head[c->step] : 'x';
		int r = SSL_write(c->ssl, &b, 1);
		if (r == 1) {
			c->step++;
			return true;
		}
		int e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
			return true;
		conn_closed(c, false);
		return false;
	}
	case K_EMPTY: {
		int r = SSL_write(c->ssl, "\r\n", 2);
		if (r == 2)
			return true;
		int e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
			return true;
		conn_closed(c, false);
		return false;
	}
	case K_LITERAL:
		if (c->outoff < c->outlen)
			return true; /* the last one is still going out */
		queue_literal(c);
		return flush_out(c);
	}
	return true;
}

/* Read what the server says; note a BYE. false: closed. */
static bool
read_server(struct conn *c)
{
	for (;;) {
		char buf[2048];
		ERR_clear_error();
		int r = SSL_read(c->ssl, buf, sizeof buf);
		if (r <= 0) {
			int e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ ||
			    e == SSL_ERROR_WANT_WRITE)
				return true;
			conn_closed(c,
			            c->st == S_GREETING &&
			                    strstr(c->bye, "Too many") != NULL);
			return false;
		}
		for (int i = 0; i < r; i++) {
			if (c->rlen < sizeof c->rbuf - 1)
				c->rbuf[c->rlen++] = buf[i];
			if (buf[i] != '\n')
				continue;
			c->rbuf[c->rlen] = '\0';
			char *line = c->rbuf;
			size_t l = strcspn(line, "\r\n");
			line[l] = '\0';
			if (strncmp(line, "* BYE", 5) == 0)
				snprintf(c->bye, sizeof c->bye, "%.95s", line);
			if (c->st == S_GREETING) {
				if (strncmp(line, "* OK", 4) == 0) {
					held(c);
					if (c->kind == K_LITERAL) {
						/* the first literal at once */
						c->t_next =
						        now_ns() +
						        (uint64_t)(o.interval *
						                   1e9);
						queue_literal(c);
						if (!flush_out(c))
							return false;
					}
				}
			}
			c->rlen = 0;
		}
	}
}

static void
on_event(struct conn *c, uint32_t ev)
{
	switch (c->st) {
	case S_CONNECT: {
		int err = 0;
		socklen_t el = sizeof err;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err) {
			ks[c->kind].connect_failed++;
			conn_reset(c, now_ns() + 1000000000ull);
			return;
		}
		if (c->kind == K_TLS) {
			held(c);
			return;
		}
		c->ssl = SSL_new(ctx);
		SSL_set_fd(c->ssl, c->fd);
		SSL_set_connect_state(c->ssl);
		c->st = S_HS;
	}
		/* fall through */
	case S_HS: {
		ERR_clear_error();
		int r = SSL_connect(c->ssl);
		if (r == 1) {
			c->st = S_GREETING;
			want(c, EPOLLIN);
			read_server(c);
			return;
		}
		int e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_READ)
			want(c, EPOLLIN);
		else if (e == SSL_ERROR_WANT_WRITE)
			want(c, EPOLLIN | EPOLLOUT);
		else
			conn_closed(c, false);
		return;
	}
	case S_GREETING:
		read_server(c);
		return;
	case S_HELD:
		if (c->kind == K_TLS) {
			/* the server said something or closed */
			char b[512];
			ssize_t r = recv(c->fd, b, sizeof b, 0);
			if (r == 0 || (r < 0 && errno != EAGAIN))
				conn_closed(c, false);
			return;
		}
		if ((ev & EPOLLOUT) && c->outoff < c->outlen && !flush_out(c))
			return;
		if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
			read_server(c);
		return;
	case S_WAIT:
		return;
	}
}

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void
status(uint64_t t)
{
	int held_n[NKINDS] = {0}, opening[NKINDS] = {0};
	for (int i = 0; i < o.n; i++) {
		if (conns[i].st == S_HELD)
			held_n[conns[i].kind]++;
		else if (conns[i].st != S_WAIT)
			opening[conns[i].kind]++;
	}
	printf("STATUS t=%.1f", (double)(t - t0) / 1e9);
	for (int k = 0; k < NKINDS; k++) {
		if (!(o.kinds & (1u << k)))
			continue;
		printf(" held_%s=%d opening_%s=%d closed_%s=%" PRIu64
		       " refused_%s=%" PRIu64,
		       kind_names[k], held_n[k], kind_names[k], opening[k],
		       kind_names[k], ks[k].closed, kind_names[k],
		       ks[k].refused);
	}
	printf("\n");
	fflush(stdout);
}

static int
held_total(void)
{
	int n = 0;
	for (int i = 0; i < o.n; i++)
		n += conns[i].st == S_HELD;
	return n;
}

/* A ClientHello, as the bytes a client would send first. */
static void
make_hello(void)
{
	SSL *s = SSL_new(ctx);
	BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
	SSL_set_bio(s, rb, wb);
	SSL_set_connect_state(s);
	SSL_do_handshake(s);
	int n = BIO_read(wb, hello, sizeof hello);
	if (n <= 0)
		die("could not make a ClientHello");
	hello_len = (size_t)n;
	SSL_free(s);
}

static void
usage(void)
{
	fputs("usage: stall -p PORT [-h 127.0.0.1] [-n 100] [-k "
	      "tls,drip,empty,literal]\n"
	      "             [-i 5] [-c 256] [-s 127.0.0.21] [-a 8] [-d "
	      "SECONDS] [-T 300] [-R]\n"
	      "  -n N      connections held in all, split evenly over the "
	      "kinds\n"
	      "  -i S      seconds between two actions of one connection\n"
	      "  -c N      connections being set up at once at most\n"
	      "  -s ADDR   first source address; -a N addresses from it\n"
	      "  -d S      stop after S seconds (else on SIGTERM/SIGINT; at "
	      "most 3600)\n"
	      "  -T S      report UP-PARTIAL if not all are held after S "
	      "seconds\n"
	      "  -R        do not re-open connections the server closes\n",
	      stderr);
	exit(2);
}

int
main(int argc, char **argv)
{
	int ch;
	while ((ch = getopt(argc, argv, "h:p:n:k:i:c:s:a:d:T:R")) != -1) {
		switch (ch) {
		case 'h':
			o.host = optarg;
			break;
		case 'p':
			o.port = optarg;
			break;
		case 'n':
			o.n = atoi(optarg);
			break;
		case 'k': {
			o.kinds = 0;
			char *save, *tok, *s = strdup(optarg);
			for (tok = strtok_r(s, ",", &save); tok;
			     tok = strtok_r(NULL, ",", &save)) {
				int k;
				for (k = 0; k < NKINDS; k++)
					if (strcmp(tok, kind_names[k]) == 0)
						break;
				if (k == NKINDS)
					die("unknown kind %s", tok);
				o.kinds |= 1u << k;
			}
			free(s);
			break;
		}
		case 'i':
			o.interval = atof(optarg);
			break;
		case 'c':
			o.conc = atoi(optarg);
			break;
		case 's':
			o.src = optarg;
			break;
		case 'a':
			o.addrs = atoi(optarg);
			break;
		case 'd':
			o.duration = atof(optarg);
			break;
		case 'T':
			o.setup_timeout = atof(optarg);
			break;
		case 'R':
			o.reopen = false;
			break;
		default:
			usage();
		}
	}
	if (!o.port || o.n < 1 || o.n > 100000 || o.kinds == 0 ||
	    o.interval <= 0 || o.conc < 1 || o.addrs < 1 || o.addrs > 200 ||
	    o.duration < 0 || o.duration > 3600)
		usage();
	dst.sin_family = AF_INET;
	dst.sin_port = htons((uint16_t)atoi(o.port));
	if (inet_pton(AF_INET, o.host, &dst.sin_addr) != 1 ||
	    inet_pton(AF_INET, o.src, &src0) != 1)
		die("-h and -s take IPv4 addresses");
	if ((ntohl(dst.sin_addr.s_addr) >> 24) != 127 ||
	    (ntohl(src0.s_addr) >> 24) != 127 ||
	    ((ntohl(src0.s_addr) + (uint32_t)o.addrs - 1) >> 24) != 127)
		die("loopback (127.0.0.0/8) only");

	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < (rlim_t)o.n + 64)
		die("RLIMIT_NOFILE %ld < %d needed", (long)rl.rlim_cur,
		    o.n + 64);
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	srandom((unsigned)now_ns());

	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		die("SSL_CTX_new");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	make_hello();

	int nk = __builtin_popcount(o.kinds);
	conns = calloc((size_t)o.n, sizeof *conns);
	if (!conns)
		die("out of memory");
	int kinds[NKINDS], m = 0;
	for (int k = 0; k < NKINDS; k++)
		if (o.kinds & (1u << k)) {
			kinds[m++] = k;
			ks[k].life = calloc(MAX_LIFE, sizeof(double));
		}
	for (int i = 0; i < o.n; i++) {
		conns[i].fd = -1;
		conns[i].kind = (enum kind)kinds[i % nk];
		conns[i].st = S_WAIT;
		ks[conns[i].kind].target++;
	}
	epfd = epoll_create1(EPOLL_CLOEXEC);
	t0 = now_ns();
	uint64_t next_status = t0 + 1000000000ull, t_up = 0;
	uint64_t end = o.duration > 0 ? t0 + (uint64_t)(o.duration * 1e9)
	                              : t0 + 3600ull * 1000000000ull;
	bool up_said = false;
	struct epoll_event evs[512];
	while (!got_signal) {
		uint64_t t = now_ns();
		if (t >= end)
			break;
		/* open (and re-open) slots, -c at a time; act on held ones */
		for (int i = 0; i < o.n; i++) {
			struct conn *c = &conns[i];
			if (c->st == S_WAIT) {
				if (t >= c->t_next && setting_up < o.conc)
					conn_open(c);
			} else if (c->st == S_HELD && t >= c->t_next) {
				c->t_next = t + (uint64_t)(o.interval * 1e9);
				act(c);
			}
		}
		int n = epoll_wait(epfd, evs, 512, 20);
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c->fd >= 0)
				on_event(c, evs[i].events);
		}
		t = now_ns();
		if (!up_said) {
			int h = held_total();
			if (h == o.n ||
			    t - t0 > (uint64_t)(o.setup_timeout * 1e9)) {
				up_said = true;
				t_up = t;
				printf("%s n=%d t=%.2f\n",
				       h == o.n ? "UP" : "UP-PARTIAL", h,
				       (double)(t - t0) / 1e9);
				fflush(stdout);
			}
		}
		if (t >= next_status) {
			status(t);
			next_status += 1000000000ull;
		}
	}
	uint64_t t = now_ns();
	status(t);
	for (int k = 0; k < NKINDS; k++) {
		if (!(o.kinds & (1u << k)))
			continue;
		struct kstat *s = &ks[k];
		int h = 0;
		for (int i = 0; i < o.n; i++)
			h += conns[i].kind == (enum kind)k &&
			     conns[i].st == S_HELD;
		qsort(s->life, s->nlife, sizeof(double), cmp_d);
		int top = -1;
		for (int b = 0; b < MAX_BYES; b++)
			if (s->byes[b].n &&
			    (top < 0 || s->byes[b].n > s->byes[top].n))
				top = b;
		double p50 = s->nlife ? s->life[s->nlife / 2] : -1;
		printf("KIND kind=%s target=%d opened=%" PRIu64
		       " held=%d closed=%" PRIu64 " refused=%" PRIu64
		       " connect_failed=%" PRIu64
		       " life_min_s=%.2f life_p50_s=%.2f life_max_s=%.2f "
		       "first_close_s=%.2f bye_n=%" PRIu64 " bye=\"%s\"\n",
		       kind_names[k], s->target, s->opened, h, s->closed,
		       s->refused, s->connect_failed,
		       s->nlife ? s->life[0] : -1, p50,
		       s->nlife ? s->life[s->nlife - 1] : -1,
		       s->first_close_ns ? (double)s->first_close_ns / 1e9 : -1,
		       top >= 0 ? s->byes[top].n : 0,
		       top >= 0 ? s->byes[top].text : "");
		for (int b = 0; b < MAX_BYES; b++)
			if (s->byes[b].n && b != top)
				printf("BYE kind=%s n=%" PRIu64
				       " text=\"%s\"\n",
				       kind_names[k], s->byes[b].n,
				       s->byes[b].text);
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("RESULT t=%.2f up_s=%.2f opened=%" PRIu64 " client_cpu_s=%.2f\n",
	       (double)(t - t0) / 1e9, t_up ? (double)(t_up - t0) / 1e9 : -1,
	       opened_total,
	       (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	               (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
	fflush(stdout);
	for (int i = 0; i < o.n; i++)
		if (conns[i].fd >= 0)
			close(conns[i].fd);
	return 0;
}
