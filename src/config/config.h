/*
 * The configuration: "key = value" lines, '#' comments, relative paths taken
 * from the configuration file's directory. Every key has a type, a default
 * and bounds in one table (config.c), which also drives the check mode's
 * diffable dump.
 */
#ifndef IMAPCID_CONFIG_H
#define IMAPCID_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct config {
	char *path; /* the file, as given */
	char *dir;  /* its directory, for relative paths */

	char *listen_imap;  /* STARTTLS port(s), comma-separated */
	char *listen_imaps; /* implicit TLS port(s) */
	char *tls_cert, *tls_key;
	char *tls_min_version; /* "1.2" or "1.3" */
	char *passdb_file;
	char *default_pass_scheme;
	char *mail_dir, *state_dir;
	bool clientid;
	bool login_plaintext;
	uint64_t auth_failure_delay; /* ms */
	uint64_t auth_cache_ttl;     /* ms; 0: no credential cache */
	uint64_t auth_cache_size;
	uint64_t io_threads, auth_workers; /* 0: one per core */
	uint64_t mail_workers;             /* 0: four per core */
	char *log;                         /* "stderr" or "syslog" */
	char *log_level;                   /* error warn info debug */
	char *syslog_facility;
	uint64_t max_connections, max_connections_per_ip;
	uint64_t limit_line_preauth, limit_line;
	uint64_t limit_literal_preauth, limit_literal;
	uint64_t limit_command_preauth, limit_command;
	uint64_t limit_nesting_preauth, limit_nesting;
	uint64_t limit_bad_commands_preauth;
	uint64_t timeout_preauth, timeout_auth, shutdown_timeout; /* ms */
	uint64_t timeout_login; /* ms from connect to authenticated */
	char *user;

	/* device policy */
	char *policy_mode;
	bool policy_require_clientid;
	uint64_t policy_learn_devices;
	char *policy_types_allow, *policy_types_deny; /* pattern lists */
	uint64_t policy_device_connections;
	char *registry_file;
	bool registry_store_tokens;
	uint64_t registry_audit_retention, registry_audit_max_rows; /* ms, */
	uint64_t registry_pending_retention, registry_pending_max;  /* ms, */
	uint64_t ratelimit_window, ratelimit_block_time;            /* ms */
	uint64_t ratelimit_delay_base, ratelimit_delay_max;         /* ms */
	uint64_t ratelimit_token_free, ratelimit_token_block;
	uint64_t ratelimit_account_free, ratelimit_account_block;
	uint64_t ratelimit_address_free, ratelimit_address_block;
	uint64_t ratelimit_network_free, ratelimit_network_block;
	uint64_t ratelimit_network_v4, ratelimit_network_v6; /* prefixes */
	uint64_t detect_token_accounts, detect_token_window;
	bool detect_token_block;
	uint64_t detect_network_v4, detect_network_v6;
	uint64_t detect_churn_tokens, detect_churn_window;
	char *alert_events;
	bool alert_syslog;
	char *alert_webhook;
	uint64_t alert_webhook_retries, alert_webhook_timeout;
	char *alert_command;
	bool alert_mail;
	char *alert_mail_from, *alert_mail_domain, *sendmail_path;

	/* [type PATTERN] sections, in file order */
	struct config_type {
		char *pattern;
		char *flags;
		char *where; /* FILE:LINE of the section, for messages */
	} * types;
	size_t ntypes;
};

/*
 * Loads defaults, then the file (path may be NULL: defaults only), then the
 * "key=value" overrides. Every error is printed to errf as "FILE:LINE: key:
 * message" and counted; returns NULL if there was any.
 */
struct config *config_load(const char *path, char *const *overrides,
                           size_t noverrides, FILE *errf);
void config_free(struct config *cfg);
/* Every key with its effective value, one "key = value" a line, sorted as
 * in the table. */
void config_dump(const struct config *cfg, FILE *out);
/* An absolute path for a path-valued setting. Caller frees. */
char *config_path(const struct config *cfg, const char *value);

#endif
