/*
 * One client connection: socket and TLS I/O, buffering with back-pressure,
 * and carrying out the actions its IMAP session asks for. Runs only on the
 * I/O thread that accepted it.
 */
#include "conn.h"
#include "lib/clock.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "lib/log.h"
#include "net/watch.h"

/* Unprocessed input held per connection before reading pauses. */
#define CONN_INPUT_MAX (16 * 1024)
/* A mail command that stopped with a chunk of output (a big FETCH) is
 * run again once this little of it is still unsent, so the next chunk is
 * ready before the socket runs dry. */
#define CONN_RESUME_LOW (64 * 1024)
/* Bytes asked of read()/SSL_read() at a time: one full TLS record. */
#define CONN_READ_CHUNK (16 * 1024)
#define CONN_PEER_MAX   64

/* An authentication in the auth service, then its answer on our loop. */
struct conn_auth_job {
	struct auth_job aj; /* its request is the session's */
	struct ioloop_task done;
	struct conn *conn;
	bool returned; /* back on our loop, maybe waiting out its delay */
};

/* A mail command running on a worker, with the responses it writes. */
struct conn_mail_job {
	struct worker_job job;
	struct ioloop_task done;
	struct conn *conn;
	struct buf out;
	bool idle_sync; /* reporting changes during IDLE, not a command */
};

struct conn {
	struct io_thread *th;
	struct conn *prev, *next;
	int fd;
	SSL *ssl;
	struct event *ev;
	short ev_flags;
	struct event *delay_ev; /* only while an auth failure is delayed */
	struct buf in, out;
	struct imap_session *sess;
	struct sockaddr_storage peer;
	char peer_text[CONN_PEER_MAX];
	const char *reject; /* BYE text instead of a greeting */
	struct conn_auth_job *job;
	struct conn_mail_job *mail_job; /* a mail command on a worker */
	struct watch *watch[2];         /* while in IDLE */
	bool idling, idle_dirty;
	bool mail_resume; /* run the mail command again once out drains */
	struct decision_presence *presence; /* a device slot, while logged in */
	bool handshaking;
	bool greet_after_tls;       /* implicit TLS: greet once handshaken */
	bool starttls_pending;      /* flush the OK, then handshake */
	bool closing;               /* flush, then close */
	bool dead;                  /* closed; freed when its job returns */
	bool counted_peer;          /* holds a slot in the per-address limit */
	uint64_t login_deadline_ms; /* monotonic: authenticated by then */
	bool timer_is_deadline;     /* the armed timeout is that deadline */
	bool ssl_wants_read, ssl_wants_write;
};

static void conn_pump(struct conn *c);

static void conn_idle_stop(struct conn *c);

static bool
conn_busy(const struct conn *c)
{
	return c->job != NULL || c->mail_job != NULL;
}

static void conn_update_events(struct conn *c, bool reset_timer);
static void conn_event_cb(evutil_socket_t fd, short what, void *arg);

static void
conn_set_peer_text(struct conn *c)
{
	char text[CONN_PEER_MAX];
	listener_format((struct sockaddr *)&c->peer, text, sizeof(text));
	/* The address alone: ports change with every connection. */
	char *colon = strrchr(text, ':');
	if (colon != NULL)
		*colon = '\0';
	const char *s = text;
	size_t n = strlen(s);
	if (s[0] == '[' && n >= 2) {
		s++;
		n -= 2;
	}
	snprintf(c->peer_text, sizeof(c->peer_text), "%.*s", (int)n, s);
}

/*
 * An unauthenticated connection holds a slot of its address until it logs
 * in, whatever it says first: a CLIENTID cannot move it elsewhere, or a
 * fresh token per connection would make the address's cap meaningless
 * (docs/POLICY.md). Who is trusted is only known at authentication, and
 * the pre-login deadline bounds how long anyone holds a slot.
 */
static void
conn_release_peer(struct conn *c)
{
	if (c->counted_peer) {
		peerlimit_release(c->th->srv->peers,
		                  (struct sockaddr *)&c->peer);
		c->counted_peer = false;
	}
}

static void
conn_free(struct conn *c)
{
	struct io_thread *th = c->th;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		th->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	imap_session_free(c->sess);
	free(c);
	th->nconns--;
	atomic_fetch_sub(&th->srv->nconns, 1);
	if (th->shutting_down && th->nconns == 0)
		event_base_loopexit(th->loop.base, NULL);
}

/* Closes the socket now; see conn_settle() for the memory. */
static void
conn_destroy(struct conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	conn_release_peer(c);
	conn_idle_stop(c);
	if (c->presence != NULL) {
		auth_session_end(c->th->srv->opts.auth, c->presence);
		free(c->presence);
		c->presence = NULL;
	}
	if (c->ev != NULL) {
		event_free(c->ev);
		c->ev = NULL;
	}
	if (c->delay_ev != NULL) {
		event_free(c->delay_ev);
		c->delay_ev = NULL;
	}
	if (c->ssl != NULL) {
		if (!c->handshaking)
			SSL_shutdown(c->ssl); /* best effort, never waits */
		/* OpenSSL's error queue is per thread: whatever this dead
		 * peer left there must not be read as another connection's
		 * error by its next SSL_get_error(). */
		ERR_clear_error();
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	close(c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	log_debug("disconnect: peer=%s user=%s", c->peer_text,
	          c->sess && imap_session_user(c->sess)
	                  ? imap_session_user(c->sess)
	                  : "-");
	if (c->job != NULL && c->job->returned) {
		/* the job is back and only its failure delay was pending */
		auth_session_end(c->th->srv->opts.auth,
		                 &c->job->aj.res.presence);
		free(c->job);
		c->job = NULL;
	}
	/* The memory itself goes in conn_settle(), at the end of the event
	 * that got us here, or when a job still in flight returns. */
}

static bool conn_release_submit(struct conn *c);

/* Every entry point ends here: frees a dead connection (once its mailbox
 * is closed, see conn_release_submit()), or re-arms it. */
static void
conn_settle(struct conn *c, bool reset_timer)
{
	if (!c->dead)
		conn_update_events(c, reset_timer);
	else if (!conn_busy(c) && !conn_release_submit(c))
		conn_free(c);
}

static bool
conn_authenticated(const struct conn *c)
{
	return c->sess != NULL && imap_session_authenticated(c->sess);
}

/* Before login, the idle timeout never reaches past the login deadline:
 * sending something now and then does not buy an unauthenticated client
 * more time. *deadline tells whether the deadline is what will fire. */
static uint64_t
conn_timeout_ms(const struct conn *c, bool *deadline)
{
	const struct server_options *o = &c->th->srv->opts;
	*deadline = false;
	if (conn_authenticated(c))
		return o->timeout_auth_ms;
	if (conn_busy(c))
		return o->timeout_preauth_ms; /* our turn, not the client's */
	uint64_t now = clock_mono_ms();
	uint64_t left = c->login_deadline_ms > now ? c->login_deadline_ms - now
	                                           : 1; /* due: fire at once */
	if (left >= o->timeout_preauth_ms)
		return o->timeout_preauth_ms;
	*deadline = true;
	return left;
}

static void
conn_update_events(struct conn *c, bool reset_timer)
{
	if (c->dead)
		return;
	short want = 0;
	bool may_read = !c->closing && !c->starttls_pending &&
	                buf_used(&c->in) < CONN_INPUT_MAX;
	if (c->handshaking ? c->ssl_wants_read || !c->ssl_wants_write
	                   : may_read || c->ssl_wants_read)
		want |= EV_READ;
	if (buf_used(&c->out) > 0 || c->ssl_wants_write)
		want |= EV_WRITE;
	if (want == c->ev_flags && !reset_timer)
		return;
	uint64_t ms = conn_timeout_ms(c, &c->timer_is_deadline);
	struct timeval tv = {(time_t)(ms / 1000),
	                     (suseconds_t)(ms % 1000) * 1000};
	if (want != c->ev_flags) {
		event_del(c->ev);
		event_assign(c->ev, c->th->loop.base, c->fd, want | EV_PERSIST,
		             conn_event_cb, c);
		c->ev_flags = want;
	}
	event_add(c->ev, &tv);
}

/* Reads what is available, up to the input cap. False: connection gone.
 * Reads land in a per-thread scratch area first, so a connection's own
 * buffer only ever grows by what actually arrived. */
static bool
conn_read(struct conn *c)
{
	static _Thread_local uint8_t scratch[CONN_READ_CHUNK];
	c->ssl_wants_read = c->ssl_wants_write = false;
	while (buf_used(&c->in) < CONN_INPUT_MAX) {
		ssize_t n;
		if (c->ssl != NULL) {
			ERR_clear_error(); /* see conn_destroy() */
			int r = SSL_read(c->ssl, scratch, sizeof(scratch));
			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);
				if (e == SSL_ERROR_WANT_READ)
					break;
				if (e == SSL_ERROR_WANT_WRITE) {
					c->ssl_wants_write = true;
					break;
				}
				ERR_clear_error();
				return false;
			}
			n = r;
		} else {
			n = read(c->fd, scratch, sizeof(scratch));
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				break;
			if (n <= 0)
				return false;
		}
		if (!buf_append(&c->in, scratch, (size_t)n))
			return false;
		/* Drained, most likely: spare the read that would only say
		 * EAGAIN (a system call is costly). Events are level-
		 * triggered, so bytes still in the socket wake us again, and
		 * conn_pump() looks at what TLS has buffered itself. */
		if ((size_t)n < sizeof(scratch) &&
		    (c->ssl == NULL || !SSL_has_pending(c->ssl)))
			break;
	}
	return true;
}

/* Writes what is buffered. False: connection gone. */
static bool
conn_write(struct conn *c)
{
	while (buf_used(&c->out) > 0) {
		ssize_t n;
		if (c->ssl != NULL) {
			ERR_clear_error();
			int r = SSL_write(c->ssl, buf_head(&c->out),
			                  (int)(buf_used(&c->out) > INT32_MAX
			                                ? INT32_MAX
			                                : buf_used(&c->out)));
			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);
				if (e == SSL_ERROR_WANT_WRITE)
					return true;
				if (e == SSL_ERROR_WANT_READ) {
					c->ssl_wants_read = true;
					return true;
				}
				ERR_clear_error();
				return false;
			}
			n = r;
		} else {
			n = write(c->fd, buf_head(&c->out), buf_used(&c->out));
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return true;
			if (n < 0)
				return false;
		}
		buf_consume(&c->out, (size_t)n);
	}
	return true;
}

/* The first words on a connection: a greeting, or a BYE if refused. */
static void
conn_greet(struct conn *c)
{
	if (c->reject != NULL) {
		imap_session_bye(c->sess, &c->out, c->reject);
		c->closing = true;
		return;
	}
	imap_session_greet(c->sess, &c->out);
}

static void
conn_handshake(struct conn *c)
{
	c->ssl_wants_read = c->ssl_wants_write = false;
	ERR_clear_error();
	int r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		c->handshaking = false;
		/* Implicit TLS greets now; STARTTLS greeted in plaintext. */
		if (c->greet_after_tls) {
			c->greet_after_tls = false;
			conn_greet(c);
		} else {
			imap_session_tls_started(c->sess);
		}
		return;
	}
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ) {
		c->ssl_wants_read = true;
	} else if (e == SSL_ERROR_WANT_WRITE) {
		c->ssl_wants_write = true;
	} else {
		unsigned long ossl = ERR_peek_error();
		log_debug("tls: handshake failed peer=%s: %s", c->peer_text,
		          ossl ? ERR_reason_error_string(ossl) : "closed");
		ERR_clear_error();
		conn_destroy(c);
	}
}

static void
conn_auth_finish(struct conn *c)
{
	struct conn_auth_job *j = c->job;
	c->job = NULL;
	imap_session_auth_done(c->sess, &j->aj.res, &c->out);
	if (j->aj.res.presence.held) {
		c->presence = malloc(sizeof(*c->presence));
		if (c->presence != NULL)
			*c->presence = j->aj.res.presence;
		else
			auth_session_end(c->th->srv->opts.auth,
			                 &j->aj.res.presence);
	}
	free(j);
	if (imap_session_authenticated(c->sess))
		conn_release_peer(c); /* the cap is for unauthenticated ones */
	if (c->th->shutting_down && !c->closing) {
		imap_session_bye(c->sess, &c->out, "Server shutting down.");
		c->closing = true;
	}
	conn_pump(c);
	conn_settle(c, true);
}

static void
conn_delay_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	(void)fd;
	(void)what;
	event_free(c->delay_ev);
	c->delay_ev = NULL;
	conn_auth_finish(c);
}

/* On our loop: the answer, after the delay the service asks for (so a
 * refusal looks like a wrong password, and a tarpit holds). */
static void
conn_auth_done(struct ioloop_task *task)
{
	struct conn_auth_job *j =
	        (struct conn_auth_job *)((char *)task -
	                                 offsetof(struct conn_auth_job, done));
	struct conn *c = j->conn;
	j->returned = true;
	if (c->dead) {
		auth_session_end(c->th->srv->opts.auth, &j->aj.res.presence);
		c->job = NULL;
		free(j);
		conn_settle(c, false);
		return;
	}
	uint64_t delay = j->aj.res.delay_ms;
	if (delay > 0) {
		c->delay_ev = evtimer_new(c->th->loop.base, conn_delay_cb, c);
		struct timeval tv = {(time_t)(delay / 1000),
		                     (suseconds_t)(delay % 1000) * 1000};
		if (c->delay_ev != NULL && evtimer_add(c->delay_ev, &tv) == 0)
			return;
	}
	conn_auth_finish(c);
}

/* On an auth service thread: hand the answer to the connection's loop. */
static void
conn_auth_complete(struct auth_job *aj)
{
	struct conn_auth_job *j = (struct conn_auth_job *)aj;
	ioloop_post(&j->conn->th->loop, &j->done);
}

static void
conn_auth_submit(struct conn *c)
{
	struct conn_auth_job *j = calloc(1, sizeof(*j));
	struct auth_request *req = imap_session_auth_request(c->sess);
	if (j == NULL) {
		struct auth_result res = {.ok = false,
		                          .reason = "out of memory"};
		imap_session_auth_done(c->sess, &res, &c->out);
		return;
	}
	snprintf(req->peer, sizeof(req->peer), "%s", c->peer_text);
	j->conn = c;
	j->aj.req = req;
	j->aj.complete = conn_auth_complete;
	j->done.fn = conn_auth_done;
	c->job = j;
	auth_submit(c->th->srv->opts.auth, &j->aj);
}

static void
conn_mail_run(struct worker_job *job)
{
	struct conn_mail_job *j = (struct conn_mail_job *)job;
	if (j->idle_sync)
		imap_session_idle_sync(j->conn->sess, &j->out);
	else
		imap_session_mail_run(j->conn->sess, &j->out);
}

static void conn_mail_submit(struct conn *c, bool idle_sync);

static void
conn_idle_stop(struct conn *c)
{
	for (int i = 0; i < 2; i++) {
		watch_remove(c->th, c->watch[i], c);
		c->watch[i] = NULL;
	}
	c->idling = c->idle_dirty = false;
}

static void
conn_idle_start(struct conn *c)
{
	char dirs[2][4096];
	size_t n = imap_session_idle_dirs(c->sess, dirs);
	c->idling = true;
	for (size_t i = 0; i < n; i++)
		c->watch[i] = watch_add(c->th, dirs[i], c);
	/* changes since the last command count too */
	conn_mail_submit(c, true);
}

void
conn_watch_fired(struct conn *c)
{
	if (c->dead || !c->idling)
		return;
	if (conn_busy(c))
		c->idle_dirty = true; /* sync again when this one is back */
	else
		conn_mail_submit(c, true);
}

/* The job whose completion task this is. */
static struct conn_mail_job *
conn_mail_job_of(struct ioloop_task *task)
{
	return (struct conn_mail_job *)((char *)task -
	                                offsetof(struct conn_mail_job, done));
}

/* On the worker, once the job has run: back to the connection's loop. */
static void
conn_mail_job_post(struct worker_job *job)
{
	struct conn_mail_job *j = (struct conn_mail_job *)job;
	ioloop_post(&j->conn->th->loop, &j->done);
}

/* A store job for c, marked as its one job in flight, sent to a worker;
 * NULL if out of memory. */
static struct conn_mail_job *
conn_mail_job_start(struct conn *c, void (*run)(struct worker_job *),
                    void (*done)(struct ioloop_task *), bool idle_sync)
{
	struct conn_mail_job *j = calloc(1, sizeof(*j));
	if (j == NULL)
		return NULL;
	j->idle_sync = idle_sync;
	j->conn = c;
	j->job.run = run;
	j->job.finish = conn_mail_job_post;
	j->done.fn = done;
	c->mail_job = j;
	workers_submit(c->th->srv->mail_workers, &j->job, false);
	return j;
}

static void
conn_mail_done(struct ioloop_task *task)
{
	struct conn_mail_job *j = conn_mail_job_of(task);
	struct conn *c = j->conn;
	c->mail_job = NULL;
	enum imap_action act = j->idle_sync ? IMAP_ACTION_NONE
	                                    : imap_session_mail_done(c->sess);
	if (!c->dead) {
		if (!buf_append(&c->out, buf_head(&j->out), buf_used(&j->out)))
			act = IMAP_ACTION_CLOSE;
		if (act == IMAP_ACTION_CLOSE)
			c->closing = true;
		/* more of this command's output to come: see conn_pump() */
		c->mail_resume = act == IMAP_ACTION_MAIL && !c->closing;
		if (c->th->shutting_down && !c->closing && !c->mail_resume) {
			imap_session_bye(c->sess, &c->out,
			                 "Server shutting down.");
			c->closing = true;
		}
		if (c->idling && c->idle_dirty && !c->closing) {
			c->idle_dirty = false;
			conn_mail_submit(c, true);
		}
		conn_pump(c);
	}
	buf_free(&j->out);
	free(j);
	conn_settle(c, true);
}

static void
conn_mail_submit(struct conn *c, bool idle_sync)
{
	if (conn_mail_job_start(c, conn_mail_run, conn_mail_done, idle_sync) ==
	    NULL) {
		if (!idle_sync)
			imap_session_mail_done(c->sess);
		c->closing = true;
	}
}

/* A dead connection whose mailbox would write when closed (sizes learnt,
 * an fsync owed) has it closed on a worker: that close may wait on the
 * folder's lock and the disk, which the event loop must never do. The
 * connection stays counted, and busy, until it is done. False: nothing to
 * hand over (or no memory: closed on this thread after all). */
static void
conn_release_run(struct worker_job *job)
{
	struct conn_mail_job *j = (struct conn_mail_job *)job;
	imap_session_release_mail(j->conn->sess);
}

static void
conn_release_done(struct ioloop_task *task)
{
	struct conn_mail_job *j = conn_mail_job_of(task);
	struct conn *c = j->conn;
	c->mail_job = NULL;
	free(j);
	conn_settle(c, false);
}

static bool
conn_release_submit(struct conn *c)
{
	return c->sess != NULL && imap_session_release_writes(c->sess) &&
	       conn_mail_job_start(c, conn_release_run, conn_release_done,
	                           false) != NULL;
}

static bool
conn_start_tls(struct conn *c)
{
	c->ssl = tls_server_ssl(c->th->srv->opts.tls);
	if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
		ERR_clear_error();
		return false;
	}
	SSL_set_accept_state(c->ssl);
	c->handshaking = true;
	return true;
}

/*
 * Moves the connection forward as far as it can go without waiting: runs
 * the session on buffered input, carries out its actions, writes.
 */
static void
conn_pump(struct conn *c)
{
	for (int round = 0; !c->dead; round++) {
		if (c->handshaking) {
			conn_handshake(c);
			if (c->dead || c->handshaking)
				return;
		}
		if (!c->closing && !c->starttls_pending && !conn_busy(c)) {
			enum imap_action act =
			        imap_session_input(c->sess, &c->in, &c->out);
			switch (act) {
			case IMAP_ACTION_NONE:
				break;
			case IMAP_ACTION_STARTTLS:
				c->starttls_pending = true;
				break;
			case IMAP_ACTION_AUTH:
				conn_auth_submit(c);
				break;
			case IMAP_ACTION_MAIL:
				conn_mail_submit(c, false);
				break;
			case IMAP_ACTION_IDLE:
				conn_idle_start(c);
				break;
			case IMAP_ACTION_IDLE_DONE:
				conn_idle_stop(c);
				break;
			case IMAP_ACTION_CLOSE:
				c->closing = true;
				break;
			}
		}
		if (!conn_write(c)) {
			conn_destroy(c);
			return;
		}
		if (c->mail_resume && buf_used(&c->out) <= CONN_RESUME_LOW) {
			c->mail_resume = false;
			conn_mail_submit(c, false);
		}
		if (buf_used(&c->out) > 0)
			return; /* wait for the socket to drain */
		if (c->closing) {
			conn_destroy(c);
			return;
		}
		if (c->starttls_pending) {
			c->starttls_pending = false;
			if (!conn_start_tls(c)) {
				conn_destroy(c);
				return;
			}
			continue;
		}
		/* The session may have stopped at IMAP_OUTPUT_HIGH_WATER with
		 * commands already read: its output is written now, so go on
		 * with them. No event would: the client waits for their
		 * answers. (Each round consumes input or makes us busy.) */
		if (!conn_busy(c) && buf_used(&c->in) > 0)
			continue;
		/* TLS may hold decrypted bytes the socket will not signal. */
		if (c->ssl != NULL && !conn_busy(c) && round < 64 &&
		    SSL_has_pending(c->ssl) &&
		    buf_used(&c->in) < CONN_INPUT_MAX) {
			if (!conn_read(c)) {
				conn_destroy(c);
				return;
			}
			continue;
		}
		return;
	}
}

static void
conn_timeout(struct conn *c)
{
	if (c->closing || c->handshaking || c->sess == NULL) {
		conn_destroy(c);
		return;
	}
	if (conn_busy(c))
		return; /* a check or command is running; wait for it */
	if (c->mail_resume) {
		/* it stopped reading in the middle of a response: a BYE
		 * there would be read as part of a literal */
		conn_destroy(c);
		return;
	}
	imap_session_bye(c->sess, &c->out,
	                 c->timer_is_deadline && !conn_authenticated(c)
	                         ? "Login timed out."
	                         : "Disconnected for inactivity.");
	c->closing = true;
	conn_pump(c);
}

static void
conn_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	bool reset = false;
	(void)fd;
	if (what & EV_TIMEOUT) {
		conn_timeout(c);
	} else {
		if (!c->handshaking && !c->closing &&
		    ((what & EV_READ) || c->ssl_wants_read)) {
			size_t before = buf_used(&c->in);
			if (!conn_read(c)) {
				conn_destroy(c);
				conn_settle(c, false);
				return;
			}
			reset = buf_used(&c->in) != before;
		}
		if (c->handshaking || (what & EV_WRITE))
			reset = true; /* a handshake or a download in progress */
		conn_pump(c);
	}
	conn_settle(c, reset);
}

void
conn_accept(struct io_thread *th, int fd, const struct sockaddr *peer,
            socklen_t peerlen, bool tls)
{
	struct server *srv = th->srv;
	struct conn *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		return;
	}
	c->th = th;
	c->fd = fd;
	c->login_deadline_ms = clock_mono_ms() + srv->opts.timeout_login_ms;
	memcpy(&c->peer, peer,
	       peerlen < sizeof(c->peer) ? peerlen : sizeof(c->peer));
	conn_set_peer_text(c);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

	c->next = th->conns;
	if (th->conns != NULL)
		th->conns->prev = c;
	th->conns = c;
	th->nconns++;
	unsigned total = atomic_fetch_add(&srv->nconns, 1) + 1;

	c->ev = event_new(th->loop.base, fd, 0, conn_event_cb, c);
	c->sess = imap_session_new(&srv->opts.session, tls);
	if (c->ev == NULL || c->sess == NULL) {
		conn_destroy(c);
		conn_settle(c, false);
		return;
	}
	c->ev_flags = 0;
	if (total > srv->opts.max_connections)
		c->reject = "Too many connections.";
	else if (!peerlimit_acquire(srv->peers, peer))
		c->reject = "Too many connections from your address.";
	else
		c->counted_peer = true;
	if (c->reject != NULL)
		log_info("connect: peer=%s refused: %s", c->peer_text,
		         c->reject);
	else
		log_debug("connect: peer=%s tls=%s", c->peer_text,
		          tls ? "yes" : "no");

	if (tls) {
		c->greet_after_tls = true;
		if (!conn_start_tls(c))
			conn_destroy(c);
	} else {
		conn_greet(c);
	}
	if (!c->dead)
		conn_pump(c);
	conn_settle(c, true);
}

void
conn_shutdown_all(struct io_thread *th)
{
	struct conn *c = th->conns;
	while (c != NULL) {
		struct conn *next = c->next;
		if (c->dead) {
			/* waiting for its job; nothing to say */
		} else if (c->handshaking || c->starttls_pending) {
			conn_destroy(c);
		} else if (!c->closing && !conn_busy(c) && !c->mail_resume) {
			imap_session_bye(c->sess, &c->out,
			                 "Server shutting down.");
			c->closing = true;
			conn_pump(c);
		}
		conn_settle(c, false);
		c = next;
	}
}

void
conn_close_all(struct io_thread *th)
{
	struct conn *c = th->conns;
	while (c != NULL) {
		struct conn *next = c->next;
		conn_destroy(c);
		if (!conn_busy(c))
			conn_free(c);
		c = next;
	}
}
