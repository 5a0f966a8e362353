#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy/policy.h"

#define CONFIG_LINE_MAX 4096

enum config_kind {
	CONFIG_STRING,
	CONFIG_BOOL,
	CONFIG_UINT,
	CONFIG_SIZE,     /* bytes, with k/M/G suffixes */
	CONFIG_DURATION, /* milliseconds, with ms/s/m/h suffixes */
};

struct config_key {
	const char *name;
	enum config_kind type;
	size_t offset;
	const char *def;
	uint64_t min, max;          /* numeric bounds */
	const char *const *choices; /* allowed strings, NULL-terminated */
};

static const char *const config_tls_versions[] = {"1.2", "1.3", NULL};
static const char *const config_logs[] = {"stderr", "syslog", NULL};
static const char *const config_levels[] = {"error", "warn", "info", "debug",
                                            NULL};
static const char *const config_schemes[] = {"ARGON2ID", "SHA512-CRYPT",
                                             "BLF-CRYPT", "PLAIN", NULL};
static const char *const config_modes[] = {"off", "observe", "learn", "enforce",
                                           NULL};
static const char *const config_facilities[] = {
        "mail",   "daemon", "auth",   "local0", "local1", "local2",
        "local3", "local4", "local5", "local6", "local7", NULL};

#define K(n, t, d, lo, hi, ch)                                                 \
	{                                                                      \
#n, t, offsetof(struct config, n), d, lo, hi, ch               \
	}
#define KIB     1024ull
#define MIB     (1024ull * 1024)
#define HOUR_MS (3600ull * 1000)
#define DAY_MS  (24 * HOUR_MS)

static const struct config_key config_keys[] = {
        K(listen_imap, CONFIG_STRING, "127.0.0.1:143", 0, 0, NULL),
        K(listen_imaps, CONFIG_STRING, "127.0.0.1:993", 0, 0, NULL),
        K(tls_cert, CONFIG_STRING, "cert.pem", 0, 0, NULL),
        K(tls_key, CONFIG_STRING, "key.pem", 0, 0, NULL),
        K(tls_min_version, CONFIG_STRING, "1.2", 0, 0, config_tls_versions),
        K(passdb_file, CONFIG_STRING, "passwd", 0, 0, NULL),
        K(default_pass_scheme, CONFIG_STRING, "ARGON2ID", 0, 0, config_schemes),
        K(mail_dir, CONFIG_STRING, "mail", 0, 0, NULL),
        K(state_dir, CONFIG_STRING, "state", 0, 0, NULL),
        K(clientid, CONFIG_BOOL, "yes", 0, 0, NULL),
        K(login_plaintext, CONFIG_BOOL, "no", 0, 0, NULL),
        K(auth_failure_delay, CONFIG_DURATION, "2s", 0, 60000, NULL),
        K(auth_cache_ttl, CONFIG_DURATION, "1h", 0, 24 * HOUR_MS, NULL),
        K(auth_cache_size, CONFIG_UINT, "100000", 1, 10000000, NULL),
        K(io_threads, CONFIG_UINT, "0", 0, 64, NULL),
        K(auth_workers, CONFIG_UINT, "0", 0, 256, NULL),
        K(mail_workers, CONFIG_UINT, "0", 0, 1024, NULL),
        K(log, CONFIG_STRING, "stderr", 0, 0, config_logs),
        K(log_level, CONFIG_STRING, "info", 0, 0, config_levels),
        K(syslog_facility, CONFIG_STRING, "mail", 0, 0, config_facilities),
        K(max_connections, CONFIG_UINT, "10000", 1, 1000000, NULL),
        K(max_connections_per_ip, CONFIG_UINT, "1000", 1, 1000000, NULL),
        K(limit_line_preauth, CONFIG_SIZE, "4k", 256, 64 * KIB, NULL),
        K(limit_line, CONFIG_SIZE, "64k", 1 * KIB, 16 * MIB, NULL),
        K(limit_literal_preauth, CONFIG_SIZE, "4k", 0, 64 * KIB, NULL),
        K(limit_literal, CONFIG_SIZE, "64M", 0, 1024 * MIB, NULL),
        K(limit_command_preauth, CONFIG_SIZE, "8k", 256, 1 * MIB, NULL),
        K(limit_command, CONFIG_SIZE, "2M", 1 * KIB, 1024 * MIB, NULL),
        K(limit_nesting_preauth, CONFIG_UINT, "4", 1, 16, NULL),
        K(limit_nesting, CONFIG_UINT, "32", 1, 256, NULL),
        K(limit_bad_commands_preauth, CONFIG_UINT, "3", 1, 1000, NULL),
        K(timeout_preauth, CONFIG_DURATION, "60s", 1000, HOUR_MS, NULL),
        K(timeout_auth, CONFIG_DURATION, "30m", 1000, 24 * HOUR_MS, NULL),
        K(timeout_login, CONFIG_DURATION, "3m", 1000, HOUR_MS, NULL),
        K(shutdown_timeout, CONFIG_DURATION, "10s", 0, HOUR_MS, NULL),
        K(user, CONFIG_STRING, "", 0, 0, NULL),
        K(policy_mode, CONFIG_STRING, "observe", 0, 0, config_modes),
        K(policy_require_clientid, CONFIG_BOOL, "no", 0, 0, NULL),
        K(policy_learn_devices, CONFIG_UINT, "3", 1, 1000, NULL),
        K(policy_types_allow, CONFIG_STRING, "", 0, 0, NULL),
        K(policy_types_deny, CONFIG_STRING, "", 0, 0, NULL),
        K(policy_device_connections, CONFIG_UINT, "20", 0, 100000, NULL),
        K(registry_file, CONFIG_STRING, "state/registry.db", 0, 0, NULL),
        K(registry_store_tokens, CONFIG_BOOL, "no", 0, 0, NULL),
        K(registry_audit_retention, CONFIG_DURATION, "90d", 0, 3650 * DAY_MS,
          NULL),
        K(registry_audit_max_rows, CONFIG_UINT, "10000000", 0, 1000000000,
          NULL),
        K(registry_pending_retention, CONFIG_DURATION, "30d", 0, 3650 * DAY_MS,
          NULL),
        K(registry_pending_max, CONFIG_UINT, "20", 0, 100000, NULL),
        K(ratelimit_window, CONFIG_DURATION, "15m", 1000, 24 * HOUR_MS, NULL),
        K(ratelimit_block_time, CONFIG_DURATION, "15m", 0, 24 * HOUR_MS, NULL),
        K(ratelimit_delay_base, CONFIG_DURATION, "1s", 0, HOUR_MS, NULL),
        K(ratelimit_delay_max, CONFIG_DURATION, "30s", 0, HOUR_MS, NULL),
        K(ratelimit_token_free, CONFIG_UINT, "3", 0, 1000000, NULL),
        K(ratelimit_token_block, CONFIG_UINT, "10", 0, 1000000, NULL),
        K(ratelimit_account_free, CONFIG_UINT, "5", 0, 1000000, NULL),
        K(ratelimit_account_block, CONFIG_UINT, "20", 0, 1000000, NULL),
        K(ratelimit_address_free, CONFIG_UINT, "10", 0, 1000000, NULL),
        K(ratelimit_address_block, CONFIG_UINT, "50", 0, 1000000, NULL),
        K(ratelimit_network_free, CONFIG_UINT, "30", 0, 1000000, NULL),
        K(ratelimit_network_block, CONFIG_UINT, "300", 0, 1000000, NULL),
        K(ratelimit_network_v4, CONFIG_UINT, "24", 1, 32, NULL),
        K(ratelimit_network_v6, CONFIG_UINT, "48", 1, 64, NULL),
        K(detect_token_accounts, CONFIG_UINT, "3", 1, 31, NULL),
        K(detect_token_window, CONFIG_DURATION, "1h", 1000, 24 * HOUR_MS, NULL),
        K(detect_token_block, CONFIG_BOOL, "no", 0, 0, NULL),
        K(detect_network_v4, CONFIG_UINT, "16", 1, 32, NULL),
        K(detect_network_v6, CONFIG_UINT, "48", 1, 128, NULL),
        K(detect_churn_tokens, CONFIG_UINT, "20", 0, 31, NULL),
        K(detect_churn_window, CONFIG_DURATION, "10m", 1000, 24 * HOUR_MS,
          NULL),
        K(alert_events, CONFIG_STRING, "all", 0, 0, NULL),
        K(alert_syslog, CONFIG_BOOL, "yes", 0, 0, NULL),
        K(alert_webhook, CONFIG_STRING, "", 0, 0, NULL),
        K(alert_webhook_retries, CONFIG_UINT, "3", 0, 20, NULL),
        K(alert_webhook_timeout, CONFIG_DURATION, "10s", 100, HOUR_MS, NULL),
        K(alert_command, CONFIG_STRING, "", 0, 0, NULL),
        K(alert_mail, CONFIG_BOOL, "no", 0, 0, NULL),
        K(alert_mail_from, CONFIG_STRING, "imapcid@localhost", 0, 0, NULL),
        K(alert_mail_domain, CONFIG_STRING, "", 0, 0, NULL),
        K(sendmail_path, CONFIG_STRING, "/usr/sbin/sendmail", 0, 0, NULL),
};

#define CONFIG_NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))

static const struct config_key *
config_find(const char *name)
{
	for (size_t i = 0; i < CONFIG_NKEYS; i++)
		if (strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	return NULL;
}

static bool
config_parse_bool(const char *v, bool *out)
{
	if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") ||
	    !strcmp(v, "1") || !strcasecmp(v, "on")) {
		*out = true;
		return true;
	}
	if (!strcasecmp(v, "no") || !strcasecmp(v, "false") ||
	    !strcmp(v, "0") || !strcasecmp(v, "off")) {
		*out = false;
		return true;
	}
	return false;
}

/* A number with an optional unit suffix scaled by the table given. */
static bool
config_parse_scaled(const char *v, const char *const *units,
                    const uint64_t *scale, uint64_t *out)
{
	if (!isdigit((unsigned char)v[0]))
		return false;
	errno = 0;
	char *end;
	unsigned long long n = strtoull(v, &end, 10);
	if (errno != 0)
		return false;
	while (*end == ' ')
		end++;
	uint64_t mul = scale[0]; /* no suffix */
	if (*end != '\0') {
		size_t i;
		for (i = 1; units[i] != NULL; i++)
			if (strcasecmp(end, units[i]) == 0)
				break;
		if (units[i] == NULL)
			return false;
		mul = scale[i];
	}
	if (n > UINT64_MAX / mul)
		return false;
	*out = n * mul;
	return true;
}

static const char *
config_set(struct config *cfg, const struct config_key *k, const char *v)
{
	static const char *const size_units[] = {"", "k", "M", "G", NULL};
	static const uint64_t size_scale[] = {1, KIB, MIB, 1024 * MIB};
	static const char *const dur_units[] = {"",  "ms", "s", "m",
	                                        "h", "d",  NULL};
	static const uint64_t dur_scale[] = {1000,  1,       1000,
	                                     60000, HOUR_MS, DAY_MS};
	void *field = (char *)cfg + k->offset;
	uint64_t n;

	switch (k->type) {
	case CONFIG_STRING:
		if (k->choices != NULL) {
			size_t i;
			for (i = 0; k->choices[i] != NULL; i++)
				if (strcasecmp(v, k->choices[i]) == 0)
					break;
			if (k->choices[i] == NULL)
				return "not one of the allowed values";
			v = k->choices[i]; /* canonical spelling */
		}
		char *copy = strdup(v);
		if (copy == NULL)
			return "out of memory";
		free(*(char **)field);
		*(char **)field = copy;
		return NULL;
	case CONFIG_BOOL:
		return config_parse_bool(v, (bool *)field)
		               ? NULL
		               : "expected yes or no";
	case CONFIG_UINT:
	case CONFIG_SIZE:
	case CONFIG_DURATION:
		if (k->type == CONFIG_UINT) {
			static const char *const none[] = {"", NULL};
			static const uint64_t one[] = {1};
			if (!config_parse_scaled(v, none, one, &n))
				return "expected a whole number";
		} else if (k->type == CONFIG_SIZE) {
			if (!config_parse_scaled(v, size_units, size_scale, &n))
				return "expected a size (bytes, or with k, M, "
				       "G)";
		} else if (!config_parse_scaled(v, dur_units, dur_scale, &n)) {
			return "expected a duration (seconds, or with ms, s, "
			       "m, h, d)";
		}
		if (n < k->min || (k->max != 0 && n > k->max))
			return "out of range";
		*(uint64_t *)field = n;
		return NULL;
	}
	return "bad key type";
}

static char *
config_trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* Applies one "key = value"; returns the number of errors (0 or 1). */
static int
config_apply(struct config *cfg, const char *where, char *line, FILE *errf)
{
	char *eq = strchr(line, '=');
	if (eq == NULL) {
		fprintf(errf, "%s: expected \"key = value\"\n", where);
		return 1;
	}
	*eq = '\0';
	char *key = config_trim(line), *value = config_trim(eq + 1);
	const struct config_key *k = config_find(key);
	if (k == NULL) {
		fprintf(errf, "%s: %s: unknown key\n", where, key);
		return 1;
	}
	const char *err = config_set(cfg, k, value);
	if (err != NULL) {
		fprintf(errf, "%s: %s: %s: \"%s\"\n", where, key, err, value);
		return 1;
	}
	return 0;
}

/* "[type PATTERN]" opens a section that holds one key, flags. */
static int
config_section(struct config *cfg, const char *where, char *s, FILE *errf)
{
	size_t n = strlen(s);
	if (n < 2 || s[n - 1] != ']') {
		fprintf(errf, "%s: expected \"[type PATTERN]\"\n", where);
		return 1;
	}
	s[n - 1] = '\0';
	char *inner = config_trim(s + 1);
	if (strncmp(inner, "type", 4) != 0 ||
	    (inner[4] != ' ' && inner[4] != '\t')) {
		fprintf(errf, "%s: unknown section \"[%s]\"\n", where, inner);
		return 1;
	}
	char *pattern = config_trim(inner + 4);
	if (*pattern == '\0' || strchr(pattern, ' ') != NULL) {
		fprintf(errf, "%s: type: expected one type name or pattern\n",
		        where);
		return 1;
	}
	struct config_type *t =
	        realloc(cfg->types, (cfg->ntypes + 1) * sizeof(*cfg->types));
	if (t == NULL)
		return 1;
	cfg->types = t;
	t = &cfg->types[cfg->ntypes++];
	t->pattern = strdup(pattern);
	t->flags = NULL;
	t->where = strdup(where);
	return t->pattern == NULL || t->where == NULL;
}

/* The key of a [type] section; a section ends after its flags line. */
static int
config_type_key(struct config *cfg, const char *where, char *s, FILE *errf)
{
	struct config_type *t = &cfg->types[cfg->ntypes - 1];
	char *eq = strchr(s, '=');
	if (eq == NULL) {
		fprintf(errf, "%s: expected \"flags = ...\"\n", where);
		return 1;
	}
	*eq = '\0';
	char *key = config_trim(s), *value = config_trim(eq + 1);
	if (strcmp(key, "flags") != 0) {
		fprintf(errf, "%s: %s: unknown key in [type %s]\n", where, key,
		        t->pattern);
		return 1;
	}
	unsigned flags;
	const char *bad;
	size_t badlen;
	if (!policy_flags_parse(value, &flags, &bad, &badlen)) {
		fprintf(errf, "%s: flags: unknown flag \"%.*s\"\n", where,
		        (int)badlen, bad);
		return 1;
	}
	t->flags = strdup(value);
	return t->flags == NULL;
}

static int
config_read_file(struct config *cfg, const char *path, FILE *errf)
{
	FILE *f = fopen(path, "re");
	if (f == NULL) {
		fprintf(errf, "%s: %s\n", path, strerror(errno));
		return 1;
	}
	char line[CONFIG_LINE_MAX], where[PATH_MAX + 32];
	unsigned lineno = 0;
	int errors = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		snprintf(where, sizeof(where), "%s:%u", path, lineno);
		if (strchr(line, '\n') == NULL && !feof(f)) {
			fprintf(errf, "%s: line too long\n", where);
			errors++;
			int c;
			while ((c = fgetc(f)) != EOF && c != '\n')
				;
			continue;
		}
		char *s = config_trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		if (*s == '[') {
			errors += config_section(cfg, where, s, errf);
			continue;
		}
		if (cfg->ntypes > 0 &&
		    cfg->types[cfg->ntypes - 1].flags == NULL) {
			errors += config_type_key(cfg, where, s, errf);
			continue;
		}
		errors += config_apply(cfg, where, s, errf);
	}
	fclose(f);
	if (cfg->ntypes > 0 && cfg->types[cfg->ntypes - 1].flags == NULL) {
		fprintf(errf, "%s: [type %s] has no flags line\n",
		        cfg->types[cfg->ntypes - 1].where,
		        cfg->types[cfg->ntypes - 1].pattern);
		errors++;
	}
	return errors;
}

static char *
config_dirname(const char *path)
{
	const char *slash = path ? strrchr(path, '/') : NULL;
	if (slash == NULL)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

struct config *
config_load(const char *path, char *const *overrides, size_t noverrides,
            FILE *errf)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL)
		return NULL;
	int errors = 0;
	for (size_t i = 0; i < CONFIG_NKEYS; i++)
		if (config_set(cfg, &config_keys[i], config_keys[i].def) !=
		    NULL)
			errors++;
	cfg->path = path ? strdup(path) : NULL;
	cfg->dir = config_dirname(path);
	if (path != NULL)
		errors += config_read_file(cfg, path, errf);
	for (size_t i = 0; i < noverrides; i++) {
		char *copy = strdup(overrides[i]);
		if (copy == NULL)
			return NULL;
		errors += config_apply(cfg, "-o", copy, errf);
		free(copy);
	}
	if (errors > 0) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < CONFIG_NKEYS; i++)
		if (config_keys[i].type == CONFIG_STRING)
			free(*(char **)((char *)cfg + config_keys[i].offset));
	for (size_t i = 0; i < cfg->ntypes; i++) {
		free(cfg->types[i].pattern);
		free(cfg->types[i].flags);
		free(cfg->types[i].where);
	}
	free(cfg->types);
	free(cfg->path);
	free(cfg->dir);
	free(cfg);
}

void
config_dump(const struct config *cfg, FILE *out)
{
	for (size_t i = 0; i < CONFIG_NKEYS; i++) {
		const struct config_key *k = &config_keys[i];
		const void *field = (const char *)cfg + k->offset;
		switch (k->type) {
		case CONFIG_STRING:
			fprintf(out, "%s = %s\n", k->name,
			        *(char *const *)field);
			break;
		case CONFIG_BOOL:
			fprintf(out, "%s = %s\n", k->name,
			        *(const bool *)field ? "yes" : "no");
			break;
		case CONFIG_DURATION:
			fprintf(out, "%s = %llums\n", k->name,
			        (unsigned long long)*(const uint64_t *)field);
			break;
		case CONFIG_UINT:
		case CONFIG_SIZE:
			fprintf(out, "%s = %llu\n", k->name,
			        (unsigned long long)*(const uint64_t *)field);
			break;
		}
	}
}

char *
config_path(const struct config *cfg, const char *value)
{
	if (value[0] == '/')
		return strdup(value);
	size_t n = strlen(cfg->dir) + 1 + strlen(value) + 1;
	char *p = malloc(n);
	if (p != NULL)
		snprintf(p, n, "%s/%s", cfg->dir, value);
	return p;
}
