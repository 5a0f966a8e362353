#include "daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <limits.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <event2/event.h>

#include "auth/auth.h"
#include "daemon/demo.h"
#include "daemon/secret.h"
#include "lib/log.h"
#include "lib/privs.h"
#include "net/server.h"
#include "net/tls.h"
#include "decision/decision.h"
#include "registry/writer.h"

#define DAEMON_ERR_MAX 512

struct daemon {
	const struct config *cfg;
	struct event_base *base;
	struct server *srv;
	struct tls_server *tls;
	struct auth_service *auth;
	struct decision *decision;
	struct registry_writer *writer;
	struct alert *alert;
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

static unsigned
daemon_cores(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

/* The policy rules and every knob of the decision service, from the
 * configuration. The rules' arrays are the service's once it is made. */
static bool
daemon_decision_options(const struct config *cfg, const char *registry,
                        struct decision_options *o)
{
	struct policy_rules *r = &o->rules;
	memset(o, 0, sizeof(*o));
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
	          daemon_alert_events(cfg->alert_events, &o->alert_events);
	r->types = calloc(cfg->ntypes ? cfg->ntypes : 1, sizeof(*r->types));
	for (size_t i = 0; ok && r->types && i < cfg->ntypes; i++) {
		const char *bad;
		size_t badlen;
		r->types[i].pattern = strdup(cfg->types[i].pattern);
		policy_flags_parse(cfg->types[i].flags, &r->types[i].flags,
		                   &bad, &badlen);
		r->ntypes++;
	}
	o->registry_path = registry;
	o->store_tokens = cfg->registry_store_tokens;
	if (o->store_tokens)
		log_warn("registry_store_tokens is on: client-id tokens are "
		         "stored in clear (debugging only)");
	struct ratelimit_params base = {
	        .window_ms = cfg->ratelimit_window,
	        .block_ms = cfg->ratelimit_block_time,
	        .delay_base_ms = cfg->ratelimit_delay_base,
	        .delay_max_ms = cfg->ratelimit_delay_max,
	};
	o->rate_token = o->rate_account = o->rate_address = o->rate_network =
	        base;
	o->rate_token.free = (unsigned)cfg->ratelimit_token_free;
	o->rate_token.block = (unsigned)cfg->ratelimit_token_block;
	o->rate_account.free = (unsigned)cfg->ratelimit_account_free;
	o->rate_account.block = (unsigned)cfg->ratelimit_account_block;
	o->rate_address.free = (unsigned)cfg->ratelimit_address_free;
	o->rate_address.block = (unsigned)cfg->ratelimit_address_block;
	o->rate_network.free = (unsigned)cfg->ratelimit_network_free;
	o->rate_network.block = (unsigned)cfg->ratelimit_network_block;
	o->budget_v4_bits = (unsigned)cfg->ratelimit_network_v4;
	o->budget_v6_bits = (unsigned)cfg->ratelimit_network_v6;
	o->reuse_window_ms = cfg->detect_token_window;
	o->reuse_accounts = (unsigned)cfg->detect_token_accounts;
	o->churn_window_ms = cfg->detect_churn_window;
	o->churn_tokens = (unsigned)cfg->detect_churn_tokens;
	o->network_v4_bits = (unsigned)cfg->detect_network_v4;
	o->network_v6_bits = (unsigned)cfg->detect_network_v6;
	o->pending_max = (unsigned)cfg->registry_pending_max;
	if (!ok || r->types == NULL)
		log_error("policy: cannot set up the rules");
	return ok && r->types != NULL;
}

static void
daemon_free_rules(struct policy_rules *r)
{
	for (size_t i = 0; i < r->ntypes_allow; i++)
		free(r->types_allow[i]);
	for (size_t i = 0; i < r->ntypes_deny; i++)
		free(r->types_deny[i]);
	for (size_t i = 0; i < r->ntypes; i++)
		free(r->types[i].pattern);
	free(r->types_allow);
	free(r->types_deny);
	free(r->types);
}

/* Retention is looked at four times per period, at most every 10 min. */
#define DAEMON_RETENTION_CHECK_MAX_MS (10 * 60 * 1000)

static struct registry_retention
daemon_retention(const struct config *cfg)
{
	struct registry_retention k = {
	        .audit_ms = cfg->registry_audit_retention,
	        .audit_rows = cfg->registry_audit_max_rows,
	        .pending_ms = cfg->registry_pending_retention,
	        .interval_ms = DAEMON_RETENTION_CHECK_MAX_MS,
	};
	uint64_t shortest = UINT64_MAX;
	if (k.audit_ms > 0)
		shortest = k.audit_ms;
	if (k.pending_ms > 0 && k.pending_ms < shortest)
		shortest = k.pending_ms;
	if (shortest / 4 < k.interval_ms)
		k.interval_ms = shortest / 4 > 250 ? shortest / 4 : 250;
	return k;
}

/* The services behind logins, made once privileges are dropped so that
 * every file they create belongs to the unprivileged user. */
static bool
daemon_services(struct daemon *d, const uint8_t *secret, size_t secret_len)
{
	const struct config *cfg = d->cfg;
	char err[DAEMON_ERR_MAX];
	bool ok = false;
	char *registry = config_path(cfg, cfg->registry_file);
	char *passdb = config_path(cfg, cfg->passdb_file);
	struct decision_options o;
	bool rules =
	        registry != NULL && daemon_decision_options(cfg, registry, &o);
	if (!rules)
		goto out;
	struct alert_options ao = {
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
	if ((d->alert = alert_new(&ao, err, sizeof(err))) == NULL) {
		log_error("alert: %s", err);
		goto out;
	}
	struct registry_retention keep = daemon_retention(cfg);
	d->writer = registry_writer_new(registry, &keep, err, sizeof(err));
	if (d->writer == NULL) {
		log_error("registry: %s", err);
		goto out;
	}
	d->decision = decision_new(&o, secret, secret_len, d->writer, d->alert,
	                           err, sizeof(err));
	rules = false; /* the service owns them now, or freed them */
	if (d->decision == NULL) {
		log_error("policy: %s", err);
		goto out;
	}
	struct auth_options auo = {
	        .passdb_path = passdb,
	        .dummy_scheme = cfg->default_pass_scheme,
	        .cache_size = (size_t)cfg->auth_cache_size,
	        .cache_ttl_ms = cfg->auth_cache_ttl,
	        .workers = cfg->auth_workers ? (unsigned)cfg->auth_workers
	                                     : daemon_cores(),
	        .failure_delay_ms = cfg->auth_failure_delay,
	};
	d->auth = auth_service_new(&auo, d->decision, err, sizeof(err));
	if (d->auth == NULL) {
		log_error("passdb: %s", err);
		goto out;
	}
	ok = true;
out:
	if (rules)
		daemon_free_rules(&o.rules);
	free(registry);
	free(passdb);
	return ok;
}

/* Who to become after binding, resolved while the user database can
 * still be read; without `user`, whoever we are. */
static bool
daemon_lookup_user(const char *user, uid_t *uid, gid_t *gid)
{
	*uid = geteuid();
	*gid = getegid();
	if (user[0] == '\0') {
		if (geteuid() == 0)
			log_warn("running as root: set 'user' to drop "
			         "privileges after binding");
		return true;
	}
	char err[DAEMON_ERR_MAX];
	if (!privs_lookup(user, uid, gid, err, sizeof(err))) {
		log_error("%s", err);
		return false;
	}
	return true;
}

/* A path of our own state that an earlier run as root left to root is
 * given to the user we run as; anything else is left as it is. */
static void
daemon_own(const char *path, uid_t uid, gid_t gid)
{
	struct stat st;
	if (lstat(path, &st) < 0 || st.st_uid == uid ||
	    (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)))
		return;
	if (st.st_uid != 0) {
		log_warn("%s belongs to uid %u, not to the user we run as",
		         path, (unsigned)st.st_uid);
		return;
	}
	if (chown(path, uid, gid) < 0)
		log_error("cannot give %s to uid %u: %s", path, (unsigned)uid,
		          strerror(errno));
}

/* Before dropping root: everything the unprivileged user will write
 * (the state directory, its secret, the registry and its WAL files, the
 * mail root) is made or given to it. Users' stores are made later, by the
 * server as that user. */
static bool
daemon_prepare_state(const struct config *cfg, uid_t uid, gid_t gid)
{
	if (geteuid() != 0 || uid == 0)
		return true;
	static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
	char *state = config_path(cfg, cfg->state_dir);
	char *registry = config_path(cfg, cfg->registry_file);
	char *mail = config_path(cfg, cfg->mail_dir);
	bool ok = state != NULL && registry != NULL && mail != NULL;
	if (ok) {
		char path[PATH_MAX];
		daemon_own(state, uid, gid);
		snprintf(path, sizeof(path), "%s/secret", state);
		daemon_own(path, uid, gid);
		for (size_t i = 0; i < sizeof(suffixes) / sizeof(*suffixes);
		     i++) {
			snprintf(path, sizeof(path), "%s%s", registry,
			         suffixes[i]);
			daemon_own(path, uid, gid);
		}
		if (mkdir(mail, 0700) == 0 || errno == EEXIST)
			daemon_own(mail, uid, gid);
	}
	free(state);
	free(registry);
	free(mail);
	return ok;
}

static bool
daemon_drop_privileges(const char *user, uid_t uid, gid_t gid)
{
	char err[DAEMON_ERR_MAX];
	if (user[0] == '\0' || privs_drop(uid, gid, err, sizeof(err)))
		return true;
	log_error("%s: %s", user, err);
	return false;
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

/* As root, if started so: the secret, the certificate, the ports. */
static bool
daemon_setup(struct daemon *d, struct server_options *o,
             uint8_t secret[SECRET_LEN])
{
	const struct config *cfg = d->cfg;
	char err[DAEMON_ERR_MAX];
	char *state = config_path(cfg, cfg->state_dir);
	char *cert = config_path(cfg, cfg->tls_cert);
	char *key = config_path(cfg, cfg->tls_key);
	bool ok = false;

	if (!secret_load(state, secret, err, sizeof(err))) {
		log_error("state: %s", err);
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
	/* Mail work mostly waits (the disk, a folder's lock): more threads
	 * than cores keep one slow folder from holding up the others. */
	o->mail_workers = cfg->mail_workers ? (unsigned)cfg->mail_workers
	                                    : 4 * daemon_cores();
	o->timeout_preauth_ms = cfg->timeout_preauth;
	o->timeout_auth_ms = cfg->timeout_auth;
	o->timeout_login_ms = cfg->timeout_login;
	o->max_connections = (unsigned)cfg->max_connections;
	o->max_connections_per_ip = (unsigned)cfg->max_connections_per_ip;
	o->tls = d->tls;
	d->srv = server_new(o, err, sizeof(err));
	if (d->srv == NULL) {
		log_error("listen: %s", err);
		goto out;
	}
	ok = true;
out:
	free(state);
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
	uint8_t secret[SECRET_LEN];
	uid_t uid;
	gid_t gid;
	bool ready = d.base != NULL &&
	             daemon_lookup_user(cfg->user, &uid, &gid) &&
	             daemon_setup(&d, &o, secret) &&
	             daemon_prepare_state(cfg, uid, gid) &&
	             daemon_drop_privileges(cfg->user, uid, gid) &&
	             daemon_services(&d, secret, sizeof(secret));
	explicit_bzero(secret, sizeof(secret));
	if (!ready)
		goto out;
	for (int i = 0; i < 3; i++) {
		sigs[i] =
		        evsignal_new(d.base, signums[i], daemon_signal_cb, &d);
		if (sigs[i] == NULL || event_add(sigs[i], NULL) != 0)
			goto out;
	}
	if (!server_start(d.srv, d.auth)) {
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
	/* Logins still in flight finish into the writer, and the writer's
	 * answers are posted to the I/O loops: both before the loops go. */
	auth_service_free(d.auth);
	registry_writer_free(d.writer);
	server_free(d.srv);
	tls_server_free(d.tls);
	decision_free(d.decision);
	alert_free(d.alert);
	free(d.mail_dir);
	free(o.addrs);
	if (d.base != NULL)
		event_base_free(d.base);
	return status;
}
