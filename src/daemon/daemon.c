#include "daemon.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <syslog.h>
#include <unistd.h>

#include <event2/event.h>

#include "auth/auth.h"
#include "daemon/demo.h"
#include "daemon/secret.h"
#include "lib/log.h"
#include "net/server.h"
#include "net/tls.h"

#define DAEMON_ERR_MAX 512

struct daemon {
	const struct config *cfg;
	struct event_base *base;
	struct server *srv;
	struct tls_server *tls;
	struct auth_service *auth;
};

static int
daemon_facility(const char *name)
{
	static const struct {
		const char *name;
		int value;
	} facilities[] = {
	        {"mail", LOG_MAIL},     {"daemon", LOG_DAEMON},
	        {"auth", LOG_AUTH},     {"local0", LOG_LOCAL0},
	        {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2},
	        {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4},
	        {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6},
	        {"local7", LOG_LOCAL7},
	};
	for (size_t i = 0; i < sizeof(facilities) / sizeof(*facilities); i++)
		if (strcmp(facilities[i].name, name) == 0)
			return facilities[i].value;
	return LOG_MAIL;
}

static enum log_level
daemon_log_level(const char *name)
{
	if (strcmp(name, "error") == 0)
		return LOG_LEVEL_ERROR;
	if (strcmp(name, "warn") == 0)
		return LOG_LEVEL_WARN;
	if (strcmp(name, "debug") == 0)
		return LOG_LEVEL_DEBUG;
	return LOG_LEVEL_INFO;
}

static void
daemon_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	(void)what;
	if (sig == SIGHUP) {
		char err[DAEMON_ERR_MAX];
		if (tls_server_reload(d->tls, err, sizeof(err)))
			log_info("reload: certificate reloaded");
		else
			log_error("reload: %s (keeping the old certificate)",
			          err);
		if (auth_service_reload(d->auth, err, sizeof(err)))
			log_info("reload: password file reloaded");
		else
			log_error("reload: %s (keeping the old users)", err);
		return;
	}
	log_info("shutdown: signal %d, draining", (int)sig);
	event_base_loopexit(d->base, NULL);
}

static bool
daemon_drop_privileges(const char *user)
{
	if (user[0] == '\0') {
		if (geteuid() == 0)
			log_warn("running as root: set 'user' to drop "
			         "privileges after binding");
		return true;
	}
	struct passwd *pw = getpwnam(user);
	if (pw == NULL) {
		log_error("user %s: no such user", user);
		return false;
	}
	if (setgroups(1, &pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0) {
		log_error("cannot become %s: %s", user, strerror(errno));
		return false;
	}
	return true;
}

static void
daemon_demo_help(const char *conf, const struct server_options *o)
{
	const char *imap = "(none)", *imaps = "(none)";
	for (size_t i = 0; i < o->naddrs; i++) {
		if (o->addrs[i].tls && strcmp(imaps, "(none)") == 0)
			imaps = o->addrs[i].text;
		if (!o->addrs[i].tls && strcmp(imap, "(none)") == 0)
			imap = o->addrs[i].text;
	}
	demo_print_help(conf, imap, imaps);
}

static unsigned
daemon_cores(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

/* Many idle connections need many descriptors: take all we may. */
static void
daemon_raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static bool
daemon_setup(struct daemon *d, struct server_options *o)
{
	const struct config *cfg = d->cfg;
	char err[DAEMON_ERR_MAX];
	uint8_t secret[SECRET_LEN];
	char *state = config_path(cfg, cfg->state_dir);
	char *passdb = config_path(cfg, cfg->passdb_file);
	char *cert = config_path(cfg, cfg->tls_cert);
	char *key = config_path(cfg, cfg->tls_key);
	bool ok = false;

	if (!secret_load(state, secret, err, sizeof(err))) {
		log_error("state: %s", err);
		goto out;
	}
	d->auth = auth_service_new(passdb, cfg->default_pass_scheme, secret,
	                           sizeof(secret), err, sizeof(err));
	explicit_bzero(secret, sizeof(secret));
	if (d->auth == NULL) {
		log_error("passdb: %s", err);
		goto out;
	}
	d->tls = tls_server_new(cert, key, cfg->tls_min_version, err,
	                        sizeof(err));
	if (d->tls == NULL) {
		log_error("tls: %s", err);
		goto out;
	}
	if (!listener_parse(cfg->listen_imap, false, &o->addrs, &o->naddrs, err,
	                    sizeof(err)) ||
	    !listener_parse(cfg->listen_imaps, true, &o->addrs, &o->naddrs, err,
	                    sizeof(err))) {
		log_error("listen: %s", err);
		goto out;
	}
	if (o->naddrs == 0) {
		log_error(
		        "listen: neither listen_imap nor listen_imaps is set");
		goto out;
	}
	o->session.starttls = true;
	o->session.clientid = cfg->clientid;
	o->session.login_plaintext = cfg->login_plaintext;
	o->session.preauth = (struct imap_limits){
	        cfg->limit_line_preauth, cfg->limit_literal_preauth,
	        (unsigned)cfg->limit_nesting_preauth};
	o->session.postauth =
	        (struct imap_limits){cfg->limit_line, cfg->limit_literal,
	                             (unsigned)cfg->limit_nesting};
	o->session.bad_max_preauth = (unsigned)cfg->limit_bad_commands_preauth;
	o->session.version = IMAPCID_VERSION;
	o->io_threads =
	        cfg->io_threads ? (unsigned)cfg->io_threads : daemon_cores();
	o->auth_workers = cfg->auth_workers ? (unsigned)cfg->auth_workers
	                                    : daemon_cores();
	o->timeout_preauth_ms = cfg->timeout_preauth;
	o->timeout_auth_ms = cfg->timeout_auth;
	o->auth_failure_delay_ms = cfg->auth_failure_delay;
	o->max_connections = (unsigned)cfg->max_connections;
	o->max_connections_per_ip = (unsigned)cfg->max_connections_per_ip;
	o->tls = d->tls;
	o->auth = d->auth;
	d->srv = server_new(o, err, sizeof(err));
	if (d->srv == NULL) {
		log_error("listen: %s", err);
		goto out;
	}
	ok = true;
out:
	free(state);
	free(passdb);
	free(cert);
	free(key);
	return ok;
}

int
daemon_run(const struct config *cfg, const char *demo_conf)
{
	struct daemon d = {.cfg = cfg};
	struct server_options o = {0};
	struct event *sigs[3] = {NULL, NULL, NULL};
	const int signums[3] = {SIGTERM, SIGINT, SIGHUP};
	int status = 1;

	log_setup("imapcidd", strcmp(cfg->log, "syslog") == 0,
	          daemon_facility(cfg->syslog_facility),
	          daemon_log_level(cfg->log_level));
	signal(SIGPIPE, SIG_IGN);
	daemon_raise_nofile();
	d.base = event_base_new();
	if (d.base == NULL || !daemon_setup(&d, &o) ||
	    !daemon_drop_privileges(cfg->user))
		goto out;
	for (int i = 0; i < 3; i++) {
		sigs[i] =
		        evsignal_new(d.base, signums[i], daemon_signal_cb, &d);
		if (sigs[i] == NULL || event_add(sigs[i], NULL) != 0)
			goto out;
	}
	if (!server_start(d.srv)) {
		log_error("cannot start threads");
		goto out;
	}
	log_info("ready");
	if (demo_conf != NULL)
		daemon_demo_help(demo_conf, &o);
	event_base_dispatch(d.base);
	server_shutdown(d.srv);
	server_wait(d.srv, cfg->shutdown_timeout);
	log_info("shutdown: done");
	status = 0;
out:
	for (int i = 0; i < 3; i++)
		if (sigs[i] != NULL)
			event_free(sigs[i]);
	server_free(d.srv);
	tls_server_free(d.tls);
	auth_service_free(d.auth);
	free(o.addrs);
	if (d.base != NULL)
		event_base_free(d.base);
	return status;
}
