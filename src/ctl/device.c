/* imapcidctl device|policy|audit: the device registry, per-account policy
 * and the audit log. Every change takes effect at the next login. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ctl/ctl.h"
#include "lib/account.h"
#include "policy/policy.h"
#include "registry/registry.h"

#define CTL_AUDIT_DEFAULT_LIMIT 100
#define CTL_FPR_MIN             4 /* hex digits needed to name a device */

struct ctl_out {
	bool json;
	int n;
};

static void
ctl_lower(char *dst, const char *src, size_t len)
{
	snprintf(dst, len, "%s", src);
	for (; *dst; dst++)
		*dst = (char)tolower((unsigned char)*dst);
}

/* For terminals: control and 8-bit bytes become '?'. */
static void
ctl_printable(char *dst, const char *src, size_t len)
{
	size_t i;
	for (i = 0; src[i] != '\0' && i + 1 < len; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	dst[i] = '\0';
}

static void
ctl_time(char *out, size_t len, int64_t t)
{
	if (t <= 0) {
		snprintf(out, len, "-");
		return;
	}
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* JSON string: our strings are printable ASCII except what clients sent. */
static void
ctl_json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* "2026-12-01", "2026-12-01T10:00:00Z", "+30m", "+2h", "+7d", or seconds
 * since the epoch. */
bool
ctl_parse_time(const char *s, int64_t now, int64_t *out)
{
	char *end;
	if (s[0] == '+') {
		long long n = strtoll(s + 1, &end, 10);
		int64_t mul = *end == 'm'                   ? 60
		              : *end == 'h'                 ? 3600
		              : *end == 'd'                 ? 86400
		              : *end == 's' || *end == '\0' ? 1
		                                            : 0;
		if (end == s + 1 || mul == 0 || (*end && end[1] != '\0') ||
		    n < 0)
			return false;
		*out = now + n * mul;
		return true;
	}
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end == NULL) {
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, "%Y-%m-%d", &tm);
	}
	if (end != NULL && (*end == '\0' || strcmp(end, "Z") == 0)) {
		*out = (int64_t)timegm(&tm);
		return true;
	}
	long long n = strtoll(s, &end, 10);
	if (end != s && *end == '\0' && n >= 0) {
		*out = n;
		return true;
	}
	return false;
}

static void
ctl_device_row(const struct registry_device *d, void *arg)
{
	struct ctl_out *o = arg;
	char first[32], last[32], until[32];
	ctl_time(first, sizeof(first), d->first_seen);
	ctl_time(last, sizeof(last), d->last_seen);
	ctl_time(until, sizeof(until), d->revoked_until);
	char state[48];
	if (d->state == REGISTRY_REVOKED && d->revoked_until > 0)
		snprintf(state, sizeof(state), "revoked-until %s", until);
	else
		snprintf(state, sizeof(state), "%s",
		         registry_state_name(d->state));
	if (o->json) {
		printf("%s{\"fingerprint\":\"%.16s\",\"hash\":\"%s\","
		       "\"type\":",
		       o->n++ ? "," : "", d->hash, d->hash);
		ctl_json_str(d->type);
		printf(",\"state\":\"%s\",\"revoked_until\":%lld,"
		       "\"first_seen\":%lld,\"last_seen\":%lld,"
		       "\"last_address\":",
		       registry_state_name(d->state),
		       (long long)d->revoked_until, (long long)d->first_seen,
		       (long long)d->last_seen);
		ctl_json_str(d->last_addr);
		printf(",\"count\":%lld", (long long)d->count);
		if (d->token[0] != '\0') {
			printf(",\"token\":");
			ctl_json_str(d->token);
		}
		printf("}");
		return;
	}
	if (o->n++ == 0)
		printf("%-16s  %-16s  %-36s  %-20s  %-20s  %-15s  %s\n",
		       "FINGERPRINT", "TYPE", "STATE", "FIRST SEEN",
		       "LAST SEEN", "LAST ADDRESS", "LOGINS");
	printf("%.16s  %-16s  %-36s  %-20s  %-20s  %-15s  %lld\n", d->hash,
	       d->type, state, first, last, d->last_addr, (long long)d->count);
}

static int
ctl_device_list(struct registry *r, const char *account, bool json)
{
	struct ctl_out o = {json, 0};
	if (json)
		printf("[");
	int n = registry_device_find(r, account, NULL, ctl_device_row, &o);
	if (json)
		printf("]\n");
	else if (n == 0)
		printf("no devices for %s\n", account);
	return n < 0 ? 1 : 0;
}

static void
ctl_count_row(const struct registry_device *d, void *arg)
{
	(void)d;
	(*(int *)arg)++;
}

/* A fingerprint must name exactly one device of the account. */
static bool
ctl_one_device(struct registry *r, const char *account, const char *fpr)
{
	size_t n = strlen(fpr);
	if (n < CTL_FPR_MIN) {
		fprintf(stderr,
		        "imapcidctl: give at least %d hex digits of "
		        "the fingerprint\n",
		        CTL_FPR_MIN);
		return false;
	}
	int count = 0;
	registry_device_find(r, account, fpr, ctl_count_row, &count);
	if (count == 1)
		return true;
	fprintf(stderr, "imapcidctl: %s: %s\n", fpr,
	        count == 0 ? "no such device for this account"
	                   : "matches several devices; give more digits");
	return false;
}

static int
ctl_device(struct registry *r, int argc, char **argv)
{
	bool json = false;
	int until_at = -1;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "--until") == 0 && i + 1 < argc)
			until_at = ++i;
	}
	/* positional arguments, options removed */
	char *pos[4];
	int npos = 0;
	for (int i = 0; i < argc && npos < 4; i++) {
		if (strcmp(argv[i], "--json") == 0)
			continue;
		if (strcmp(argv[i], "--until") == 0) {
			i++;
			continue;
		}
		pos[npos++] = argv[i];
	}
	if (npos < 2)
		return -1;
	char account[REGISTRY_ACCOUNT_MAX + 1], fpr[REGISTRY_HASH_LEN + 1];
	account_canonical(pos[1], account, sizeof(account));
	if (strcmp(pos[0], "list") == 0 && npos == 2)
		return ctl_device_list(r, account, json);
	if (npos != 3)
		return -1;
	ctl_lower(fpr, pos[2], sizeof(fpr));
	if (!ctl_one_device(r, account, fpr))
		return 1;
	int changed;
	if (strcmp(pos[0], "approve") == 0) {
		changed = registry_device_set_state(r, account, fpr,
		                                    REGISTRY_TRUSTED, 0);
	} else if (strcmp(pos[0], "revoke") == 0) {
		int64_t until = 0;
		if (until_at >= 0 &&
		    !ctl_parse_time(argv[until_at], (int64_t)time(NULL),
		                    &until)) {
			fprintf(stderr, "imapcidctl: --until: not a time: %s\n",
			        argv[until_at]);
			return 2;
		}
		changed = registry_device_set_state(r, account, fpr,
		                                    REGISTRY_REVOKED, until);
	} else if (strcmp(pos[0], "forget") == 0) {
		changed = registry_device_forget(r, account, fpr);
	} else {
		return -1;
	}
	if (changed != 1) {
		fprintf(stderr, "imapcidctl: registry update failed\n");
		return 1;
	}
	printf("%s %s: %s\n", account, fpr, pos[0]);
	return 0;
}

struct ctl_policy_ctx {
	const struct config *cfg;
	bool json;
	int n;
};

static void
ctl_policy_row(const char *account, const struct registry_account *a, void *arg)
{
	struct ctl_policy_ctx *c = arg;
	const char *mode = a->mode[0] ? a->mode : c->cfg->policy_mode;
	const char *req =
	        a->require_clientid < 0
	                ? (c->cfg->policy_require_clientid ? "yes" : "no")
	        : a->require_clientid ? "yes"
	                              : "no";
	if (c->json) {
		printf("%s{\"account\":", c->n++ ? "," : "");
		ctl_json_str(account);
		printf(",\"mode\":\"%s\",\"mode_source\":\"%s\","
		       "\"require_clientid\":%s}",
		       mode, a->mode[0] ? "account" : "global",
		       strcmp(req, "yes") == 0 ? "true" : "false");
		return;
	}
	if (c->n++ == 0)
		printf("%-32s  %-8s  %-8s  %s\n", "ACCOUNT", "MODE", "FROM",
		       "REQUIRE CLIENTID");
	printf("%-32s  %-8s  %-8s  %s\n", account, mode,
	       a->mode[0] ? "account" : "global", req);
}

static int
ctl_policy(const struct config *cfg, struct registry *r, int argc, char **argv)
{
	bool json = argc > 0 && strcmp(argv[argc - 1], "--json") == 0;
	if (json)
		argc--;
	if (argc >= 1 && strcmp(argv[0], "show") == 0 && argc <= 2) {
		struct ctl_policy_ctx c = {cfg, json, 0};
		if (argc == 2) {
			char account[REGISTRY_ACCOUNT_MAX + 1];
			struct registry_account a;
			account_canonical(argv[1], account, sizeof(account));
			if (registry_account_get(r, account, &a) < 0)
				return 1;
			ctl_policy_row(account, &a, &c);
			if (json)
				printf("\n");
			return 0;
		}
		if (json) {
			printf("{\"global\":{\"mode\":\"%s\","
			       "\"require_clientid\":%s,"
			       "\"learn_devices\":%llu,\"types_allow\":",
			       cfg->policy_mode,
			       cfg->policy_require_clientid ? "true" : "false",
			       (unsigned long long)cfg->policy_learn_devices);
			ctl_json_str(cfg->policy_types_allow);
			printf(",\"types_deny\":");
			ctl_json_str(cfg->policy_types_deny);
			printf("},\"accounts\":[");
		} else {
			printf("global: mode=%s require_clientid=%s "
			       "learn_devices=%llu types_allow=%s "
			       "types_deny=%s\n",
			       cfg->policy_mode,
			       cfg->policy_require_clientid ? "yes" : "no",
			       (unsigned long long)cfg->policy_learn_devices,
			       cfg->policy_types_allow[0]
			               ? cfg->policy_types_allow
			               : "(all)",
			       cfg->policy_types_deny[0]
			               ? cfg->policy_types_deny
			               : "(none)");
			for (size_t i = 0; i < cfg->ntypes; i++)
				printf("type %s: %s\n", cfg->types[i].pattern,
				       cfg->types[i].flags);
		}
		int n = registry_account_list(r, ctl_policy_row, &c);
		if (json)
			printf("]}\n");
		else if (n == 0)
			printf("no account overrides\n");
		return n < 0 ? 1 : 0;
	}
	if (argc >= 3 && strcmp(argv[0], "set") == 0) {
		char account[REGISTRY_ACCOUNT_MAX + 1];
		struct registry_account a;
		account_canonical(argv[1], account, sizeof(account));
		if (registry_account_get(r, account, &a) < 0)
			return 1;
		enum policy_mode m;
		if (strcmp(argv[2], "default") == 0)
			a.mode[0] = '\0';
		else if (policy_mode_parse(argv[2], &m))
			snprintf(a.mode, sizeof(a.mode), "%s",
			         policy_mode_name(m));
		else
			return -1;
		if (argc == 5 && strcmp(argv[3], "--require-clientid") == 0) {
			a.require_clientid = strcmp(argv[4], "yes") == 0  ? 1
			                     : strcmp(argv[4], "no") == 0 ? 0
			                                                  : -1;
			if (a.require_clientid < 0 &&
			    strcmp(argv[4], "default") != 0)
				return -1;
		} else if (argc != 3) {
			return -1;
		}
		if (!registry_account_set(r, account, &a))
			return 1;
		printf("%s: mode %s\n", account,
		       a.mode[0] ? a.mode : "default");
		return 0;
	}
	return -1;
}

static void
ctl_audit_row(const struct registry_audit *a, void *arg)
{
	struct ctl_out *o = arg;
	char when[40];
	time_t t = (time_t)(a->time_ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (o->json) {
		printf("%s{\"time_ms\":%lld,\"account\":", o->n++ ? "," : "",
		       (long long)a->time_ms);
		ctl_json_str(a->account);
		printf(",\"peer\":");
		ctl_json_str(a->peer);
		printf(",\"clientid_type\":");
		ctl_json_str(a->type);
		printf(",\"fingerprint\":\"%s\",\"mech\":\"%s\","
		       "\"result\":\"%s\",\"reason\":",
		       a->fp, a->mech, a->ok ? "ok" : "fail");
		ctl_json_str(a->reason);
		printf("}");
		return;
	}
	if (o->n++ == 0)
		printf("%-20s  %-24s  %-15s  %-16s  %-16s  %-5s  %-4s  %s\n",
		       "TIME", "ACCOUNT", "PEER", "TYPE", "FINGERPRINT", "MECH",
		       "OK", "REASON");
	/* account names in the audit log are whatever clients typed */
	char account[sizeof(a->account)];
	ctl_printable(account, a->account, sizeof(account));
	printf("%-20s  %-24s  %-15s  %-16s  %-16s  %-5s  %-4s  %s\n", when,
	       account, a->peer, a->type[0] ? a->type : "-",
	       a->fp[0] ? a->fp : "-", a->mech, a->ok ? "ok" : "fail",
	       a->reason);
}

static int
ctl_audit(struct registry *r, int argc, char **argv)
{
	const char *user = NULL;
	int64_t since = 0;
	size_t limit = CTL_AUDIT_DEFAULT_LIMIT;
	bool json = false;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (strcmp(argv[i], "--user") == 0 && i + 1 < argc) {
			user = argv[++i];
		} else if (strcmp(argv[i], "--since") == 0 && i + 1 < argc) {
			int64_t now = (int64_t)time(NULL);
			const char *s = argv[++i];
			/* "--since 2h" reads as two hours ago */
			char rel[32];
			if (s[0] != '+' && strlen(s) < sizeof(rel) - 1 &&
			    strchr("0123456789", s[0]) &&
			    strchr("smhd", s[strlen(s) - 1])) {
				snprintf(rel, sizeof(rel), "+%s", s);
				if (!ctl_parse_time(rel, 0, &since))
					return -1;
				since = now - since;
			} else if (!ctl_parse_time(s, now, &since)) {
				return -1;
			}
		} else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
			limit = (size_t)strtoul(argv[++i], NULL, 10);
		} else {
			return -1;
		}
	}
	char account[REGISTRY_ACCOUNT_MAX + 1];
	if (user != NULL)
		account_canonical(user, account, sizeof(account));
	struct ctl_out o = {json, 0};
	if (json)
		printf("[");
	int n = registry_audit_list(r, user ? account : NULL, since * 1000,
	                            limit, ctl_audit_row, &o);
	if (json)
		printf("]\n");
	else if (n == 0)
		printf("no audit rows\n");
	return n < 0 ? 1 : 0;
}

int
ctl_registry(const struct config *cfg, const char *what, int argc, char **argv)
{
	char err[512];
	char *path = config_path(cfg, cfg->registry_file);
	struct registry *r =
	        path ? registry_open(path, err, sizeof(err)) : NULL;
	free(path);
	if (r == NULL) {
		fprintf(stderr, "imapcidctl: %s\n", err);
		return 1;
	}
	int status;
	if (strcmp(what, "device") == 0)
		status = ctl_device(r, argc, argv);
	else if (strcmp(what, "policy") == 0)
		status = ctl_policy(cfg, r, argc, argv);
	else
		status = ctl_audit(r, argc, argv);
	registry_close(r);
	if (status < 0) {
		fprintf(stderr,
		        "usage: imapcidctl [-c FILE] device list USER "
		        "[--json]\n"
		        "       imapcidctl [-c FILE] device approve USER FPR\n"
		        "       imapcidctl [-c FILE] device revoke USER FPR "
		        "[--until TIME]\n"
		        "       imapcidctl [-c FILE] device forget USER FPR\n"
		        "       imapcidctl [-c FILE] policy show [USER] "
		        "[--json]\n"
		        "       imapcidctl [-c FILE] policy set USER "
		        "off|observe|learn|enforce|default\n"
		        "                 [--require-clientid yes|no|default]\n"
		        "       imapcidctl [-c FILE] audit [--user U] [--since "
		        "T] "
		        "[--limit N] [--json]\n");
		return 2;
	}
	return status;
}
