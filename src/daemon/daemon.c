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
#include "policy/engine.h"

#define DAEMON_ERR_MAX 512

struct daemon {
	const struct config *cfg;
	struct event_base *base;
	struct server *srv;
	struct tls_server *tls;
	struct auth_service *auth;
	struct policy_engine *engine;
	char *mail_dir; /* absolute, for the sessions */
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

/* "A, B*, c" into an array of strings. */
static bool
daemon_split(const char *list, char ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	const char *p = list;
	while (*p != '\0') {
		while (*p == ' ' || *p == ',')
			p++;
		const char *end = p;
		while (*end != '\0' && *end != ' ' && *end != ',')
			end++;
		if (end == p)
			break;
		char **na = realloc(*out, (*n + 1) * sizeof(**out));
		if (na == NULL)
			return false;
		*out = na;
		if ((na[*n] = strndup(p, (size_t)(end - p))) == NULL)
			return false;
		(*n)++;
		p = end;
	}
	return true;
}

static bool
daemon_alert_events(const char *list, unsigned *out)
{
	char **names;
	size_t n;
	bool ok = daemon_split(list, &names, &n);
	*out = 0;
	for (size_t i = 0; ok && i < n; i++) {
		unsigned bit;
		if (strcmp(names[i], "all") == 0) {
			*out |= (1u << POLICY_EVENT_COUNT) - 1;
			continue;
		}
		if (strcmp(names[i], "none") == 0)
			continue;
		for (bit = 1; bit < (1u << POLICY_EVENT_COUNT); bit <<= 1)
			if (strcmp(names[i], policy_event_name(bit)) == 0)
				break;
		if (bit >= (1u << POLICY_EVENT_COUNT)) {
			log_error("alert_events: unknown event \"%s\"",
			          names[i]);
			ok = false;
		}
		*out |= bit;
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return ok;
}

static struct policy_engine *
daemon_engine(const struct config *cfg, const uint8_t *secret,
              size_t secret_len)
{
	struct engine_options eo = {0};
	struct policy_rules *r = &eo.rules;
	char err[DAEMON_ERR_MAX];
	policy_mode_parse(cfg->policy_mode, &r->mode);
	r->require_clientid = cfg->policy_require_clientid;
	r->learn_max_devices = (unsigned)cfg->policy_learn_devices;
	r->max_connections_per_device =
	        (unsigned)cfg->policy_device_connections;
	r->token_reuse_block = cfg->detect_token_block;
	bool ok = daemon_split(cfg->policy_types_allow, &r->types_allow,
	                       &r->ntypes_allow) &&
	          daemon_split(cfg->policy_types_deny, &r->types_deny,
	                       &r->ntypes_deny) &&
	          daemon_alert_events(cfg->alert_events, &eo.alert_events);
	r->types = calloc(cfg->ntypes ? cfg->ntypes : 1, sizeof(*r->types));
	for (size_t i = 0; ok && r->types && i < cfg->ntypes; i++) {
		const char *bad;
		size_t badlen;
		r->types[i].pattern = strdup(cfg->types[i].pattern);
		policy_flags_parse(cfg->types[i].flags, &r->types[i].flags,
		                   &bad, &badlen);
		r->ntypes++;
	}
	char *registry = config_path(cfg, cfg->registry_file);
	eo.registry_path = registry;
	eo.store_tokens = cfg->registry_store_tokens;
	if (eo.store_tokens)
		log_warn("registry_store_tokens is on: client-id tokens are "
		         "stored in clear (debugging only)");
	struct ratelimit_params base = {
	        .window_ms = cfg->ratelimit_window,
	        .block_ms = cfg->ratelimit_block_time,
	        .delay_base_ms = cfg->ratelimit_delay_base,
	        .delay_max_ms = cfg->ratelimit_delay_max,
	};
	eo.rate_token = eo.rate_account = eo.rate_address = base;
	eo.rate_token.free = (unsigned)cfg->ratelimit_token_free;
	eo.rate_token.block = (unsigned)cfg->ratelimit_token_block;
	eo.rate_account.free = (unsigned)cfg->ratelimit_account_free;
	eo.rate_account.block = (unsigned)cfg->ratelimit_account_block;
	eo.rate_address.free = (unsigned)cfg->ratelimit_address_free;
	eo.rate_address.block = (unsigned)cfg->ratelimit_address_block;
	eo.reuse_window_ms = cfg->detect_token_window;
	eo.reuse_accounts = (unsigned)cfg->detect_token_accounts;
	eo.network_v4_bits = (unsigned)cfg->detect_network_v4;
	eo.network_v6_bits = (unsigned)cfg->detect_network_v6;
	eo.alerts = (struct alert_options){
	        .syslog = cfg->alert_syslog,
	        .webhook = cfg->alert_webhook,
	        .webhook_retries = (unsigned)cfg->alert_webhook_retries,
	        .webhook_timeout_ms = cfg->alert_webhook_timeout,
	        .command = cfg->alert_command,
	        .mail = cfg->alert_mail,
	        .mail_from = cfg->alert_mail_from,
	        .mail_domain = cfg->alert_mail_domain,
	        .sendmail = cfg->sendmail_path,
	};
	struct policy_engine *e = NULL;
	if (ok && r->types != NULL && registry != NULL) {
		/* the engine owns the rules from here, even on failure */
		e = policy_engine_new(&eo, secret, secret_len, err,
		                      sizeof(err));
		if (e == NULL)
			log_error("registry: %s", err);
	} else {
		log_error("policy: cannot set up the rules");
	}
	free(registry);
	return e;
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
	d->engine = daemon_engine(cfg, secret, sizeof(secret));
	explicit_bzero(secret, sizeof(secret));
	if (d->engine == NULL)
		goto out;
	d->auth = auth_service_new(passdb, cfg->default_pass_scheme, d->engine,
	                           (size_t)cfg->auth_cache_size,
	                           cfg->auth_cache_ttl, err, sizeof(err));
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
	        (unsigned)cfg->limit_nesting_preauth,
	        cfg->limit_command_preauth};
	o->session.postauth = (struct imap_limits){
	        cfg->limit_line, cfg->limit_literal,
	        (unsigned)cfg->limit_nesting, cfg->limit_command};
	o->session.bad_max_preauth = (unsigned)cfg->limit_bad_commands_preauth;
	o->session.version = IMAPCID_VERSION;
	o->session.mail_dir = d->mail_dir = config_path(cfg, cfg->mail_dir);
	o->session.append_limit = cfg->limit_literal;
	o->io_threads =
	        cfg->io_threads ? (unsigned)cfg->io_threads : daemon_cores();
	o->auth_workers = cfg->auth_workers ? (unsigned)cfg->auth_workers
	                                    : daemon_cores();
	/* Mail work mostly waits (the disk, a folder's lock): more threads
	 * than cores keep one slow folder from holding up the others. */
	o->mail_workers = cfg->mail_workers ? (unsigned)cfg->mail_workers
	                                    : 4 * daemon_cores();
	o->timeout_preauth_ms = cfg->timeout_preauth;
	o->timeout_auth_ms = cfg->timeout_auth;
	o->timeout_login_ms = cfg->timeout_login;
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
	policy_engine_free(d.engine);
	free(d.mail_dir);
	free(o.addrs);
	if (d.base != NULL)
		event_base_free(d.base);
	return status;
}
