/*
 * Alerts about devices and logins, delivered off the login path by one
 * alert thread: syslog, a webhook (JSON POST through libcurl's multi
 * interface, retried), an external command (JSON on its stdin) and mail to
 * the account holder through the local sendmail. Raising an alert only
 * queues it, so a slow webhook never delays a login. What leaves the server
 * carries the client-id type and fingerprint, never the token (CID-PRV-2).
 */
#ifndef IMAPCID_ALERT_H
#define IMAPCID_ALERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clientid/clientid.h"

#define ALERT_QUEUE_MAX 10000 /* beyond it alerts are dropped and counted */

struct alert_event {
	const char *event; /* static name, e.g. "unknown-device-refused" */
	int64_t time_ms;
	char account[256];
	char peer[64];
	char type[CID_TYPE_MAX + 1];
	char fp[CID_FINGERPRINT_LEN + 1];
	char reason[96];
	bool log_fp;      /* the type may appear in the system log */
	bool mail_holder; /* the account exists: its holder may be mailed */
};

struct alert_options {
	bool syslog;
	const char *webhook;      /* URL or "" */
	unsigned webhook_retries; /* extra attempts after the first */
	uint64_t webhook_timeout_ms;
	const char *command; /* path or "" */
	bool mail;           /* to the account holder */
	const char *mail_from;
	const char *mail_domain; /* appended to accounts without '@' */
	const char *sendmail;    /* path of sendmail(8) */
};

struct alert;

struct alert *alert_new(const struct alert_options *o, char *err,
                        size_t errlen);
/* Lets queued alerts go out (up to a few seconds), then stops. */
void alert_free(struct alert *a);
/* Thread-safe, never blocks on delivery. */
void alert_raise(struct alert *a, const struct alert_event *ev);

/* The event as one JSON object (for webhooks and commands). */
void alert_json(const struct alert_event *ev, char *out, size_t outlen);

#endif
