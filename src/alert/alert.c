#include "alert.h"
#include "lib/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "lib/log.h"

#define ALERT_JSON_MAX      1024
#define ALERT_CHILDREN_MAX  64    /* commands and mails running at once */
#define ALERT_CHILD_TIMEOUT 10000 /* ms before a stuck one is killed */
#define ALERT_RETRY_BASE_MS 1000
#define ALERT_POLL_MS       200
#define ALERT_DRAIN_MS      3000 /* at shutdown */

extern char **environ;

struct alert_item {
	struct alert_event ev;
	struct alert_item *next;
};

struct alert_hook { /* one webhook delivery in flight or waiting */
	CURL *easy;
	struct curl_slist *headers;
	char body[ALERT_JSON_MAX];
	unsigned attempts;
	uint64_t retry_at_ms; /* 0: in flight */
	struct alert_hook *next;
};

struct alert_child {
	pid_t pid;
	uint64_t started_ms;
};

struct alert {
	struct alert_options o;
	char *webhook, *command, *mail_from, *mail_domain, *sendmail;
	pthread_t thread;
	pthread_mutex_t lock;
	struct alert_item *head, *tail;
	size_t queued, dropped;
	bool stopping;
	CURLM *multi;
	struct alert_hook *hooks;
	struct alert_child children[ALERT_CHILDREN_MAX];
};

static size_t
alert_json_str(char *out, size_t outlen, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	if (outlen < 3)
		return 0;
	out[o++] = '"';
	for (; *s != '\0' && o + 8 < outlen; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			o += (size_t)snprintf(out + o, outlen - o, "\\u00%c%c",
			                      hex[c >> 4], hex[c & 15]);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o++] = '"';
	out[o] = '\0';
	return o;
}

void
alert_json(const struct alert_event *ev, char *out, size_t outlen)
{
	char account[600], peer[150], type[60], reason[300];
	alert_json_str(account, sizeof(account), ev->account);
	alert_json_str(peer, sizeof(peer), ev->peer);
	alert_json_str(type, sizeof(type), ev->type);
	alert_json_str(reason, sizeof(reason), ev->reason);
	snprintf(out, outlen,
	         "{\"event\":\"%s\",\"time_ms\":%lld,\"account\":%s,"
	         "\"peer\":%s,\"clientid_type\":%s,\"fingerprint\":\"%s\","
	         "\"reason\":%s}",
	         ev->event, (long long)ev->time_ms, account, peer, type, ev->fp,
	         reason);
}

/* Runs argv with body on its stdin, without waiting for it. */
static void
alert_spawn(struct alert *a, char *const argv[], const char *body)
{
	int slot = -1;
	for (int i = 0; i < ALERT_CHILDREN_MAX; i++)
		if (a->children[i].pid == 0) {
			slot = i;
			break;
		}
	if (slot < 0) {
		log_warn("alert: too many alert commands running; dropped");
		return;
	}
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[0], STDIN_FILENO);
	pid_t pid;
	int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[0]);
	if (rc != 0) {
		log_warn("alert: cannot run %s: %s", argv[0], strerror(rc));
		close(fds[1]);
		return;
	}
	/* Bodies are far below the pipe's capacity: this never blocks. */
	size_t n = strlen(body);
	if (write(fds[1], body, n) != (ssize_t)n)
		log_warn("alert: short write to %s", argv[0]);
	close(fds[1]);
	a->children[slot].pid = pid;
	a->children[slot].started_ms = clock_mono_ms();
}

static void
alert_reap(struct alert *a)
{
	uint64_t now = clock_mono_ms();
	for (int i = 0; i < ALERT_CHILDREN_MAX; i++) {
		struct alert_child *c = &a->children[i];
		if (c->pid == 0)
			continue;
		int status;
		pid_t r = waitpid(c->pid, &status, WNOHANG);
		if (r == c->pid) {
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				log_warn("alert: command %d failed (status %d)",
				         (int)c->pid, status);
			c->pid = 0;
		} else if (now - c->started_ms > ALERT_CHILD_TIMEOUT) {
			kill(c->pid, SIGKILL);
		}
	}
}

static bool
alert_children_running(const struct alert *a)
{
	for (int i = 0; i < ALERT_CHILDREN_MAX; i++)
		if (a->children[i].pid != 0)
			return true;
	return false;
}

static void
alert_mail(struct alert *a, const struct alert_event *ev)
{
	char to[300], msg[2048];
	if (strchr(ev->account, '@') != NULL || a->mail_domain[0] == '\0')
		snprintf(to, sizeof(to), "%s", ev->account);
	else
		snprintf(to, sizeof(to), "%s@%s", ev->account, a->mail_domain);
	/* Header injection: only accounts from the password file are mailed,
	 * and their names hold no control characters (passdb refuses them);
	 * the engine escapes every client-chosen field besides. */
	snprintf(msg, sizeof(msg),
	         "From: %s\nTo: %s\nSubject: [imapcid] %s on your account\n"
	         "Auto-Submitted: auto-generated\n\n"
	         "Event: %s\nAccount: %s\nFrom address: %s\n"
	         "Client identity: %s %s\nDetail: %s\n\n"
	         "If this was not you, change your password and tell your "
	         "mail administrator.\n",
	         a->mail_from, to, ev->event, ev->event, ev->account, ev->peer,
	         ev->type[0] ? ev->type : "(none)", ev->fp, ev->reason);
	char *argv[] = {a->sendmail, "-t", "-i", NULL};
	alert_spawn(a, argv, msg);
}

static void
alert_hook_start(struct alert *a, struct alert_hook *h)
{
	h->attempts++;
	h->retry_at_ms = 0;
	curl_easy_reset(h->easy);
	curl_easy_setopt(h->easy, CURLOPT_URL, a->webhook);
	curl_easy_setopt(h->easy, CURLOPT_POSTFIELDS, h->body);
	curl_easy_setopt(h->easy, CURLOPT_HTTPHEADER, h->headers);
	curl_easy_setopt(h->easy, CURLOPT_TIMEOUT_MS,
	                 (long)a->o.webhook_timeout_ms);
	curl_easy_setopt(h->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h->easy, CURLOPT_PRIVATE, h);
	curl_easy_setopt(h->easy, CURLOPT_USERAGENT, "imapcidd-alert");
	curl_multi_add_handle(a->multi, h->easy);
}

static void
alert_hook_free(struct alert *a, struct alert_hook *h)
{
	struct alert_hook **pp = &a->hooks;
	while (*pp != h)
		pp = &(*pp)->next;
	*pp = h->next;
	curl_slist_free_all(h->headers);
	curl_easy_cleanup(h->easy);
	free(h);
}

static void
alert_webhook(struct alert *a, const struct alert_event *ev)
{
	struct alert_hook *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return;
	h->easy = curl_easy_init();
	h->headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (h->easy == NULL || h->headers == NULL) {
		curl_slist_free_all(h->headers);
		if (h->easy)
			curl_easy_cleanup(h->easy);
		free(h);
		return;
	}
	alert_json(ev, h->body, sizeof(h->body));
	h->next = a->hooks;
	a->hooks = h;
	alert_hook_start(a, h);
}

/* Finished transfers: done, or scheduled for another try. */
static void
alert_webhook_results(struct alert *a)
{
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(a->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct alert_hook *h;
		long code = 0;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE,
		                  (char **)&h);
		curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE,
		                  &code);
		CURLcode res = m->data.result;
		curl_multi_remove_handle(a->multi, m->easy_handle);
		if (res == CURLE_OK && code >= 200 && code < 300) {
			alert_hook_free(a, h);
		} else if (h->attempts <= a->o.webhook_retries) {
			h->retry_at_ms =
			        clock_mono_ms() + ((uint64_t)ALERT_RETRY_BASE_MS
			                           << (h->attempts - 1));
		} else {
			log_warn("alert: webhook failed after %u attempts: %s",
			         h->attempts,
			         res != CURLE_OK ? curl_easy_strerror(res)
			                         : "HTTP error status");
			alert_hook_free(a, h);
		}
	}
	uint64_t now = clock_mono_ms();
	for (struct alert_hook *h = a->hooks; h != NULL; h = h->next)
		if (h->retry_at_ms != 0 && h->retry_at_ms <= now)
			alert_hook_start(a, h);
}

static void
alert_deliver(struct alert *a, const struct alert_event *ev)
{
	if (a->o.syslog)
		log_warn("alert: event=%s account=%s peer=%s clientid=%s/fp=%s "
		         "reason=\"%s\"",
		         ev->event, ev->account, ev->peer,
		         ev->type[0] ? ev->type : "-",
		         ev->log_fp ? ev->fp : "(not logged)", ev->reason);
	if (a->webhook[0] != '\0')
		alert_webhook(a, ev);
	if (a->command[0] != '\0') {
		char body[ALERT_JSON_MAX + 1];
		alert_json(ev, body, sizeof(body) - 1);
		strcat(body, "\n");
		char *argv[] = {a->command, (char *)ev->event, NULL};
		alert_spawn(a, argv, body);
	}
	/* Mail only real accounts: an attacker picks the names of the
	 * others, and must not pick where our mail goes. */
	if (a->o.mail && ev->mail_holder)
		alert_mail(a, ev);
}

static void *
alert_main(void *arg)
{
	struct alert *a = arg;
	uint64_t drain_until = 0;
	for (;;) {
		pthread_mutex_lock(&a->lock);
		struct alert_item *items = a->head;
		a->head = a->tail = NULL;
		a->queued = 0;
		bool stopping = a->stopping;
		pthread_mutex_unlock(&a->lock);

		while (items != NULL) {
			struct alert_item *next = items->next;
			alert_deliver(a, &items->ev);
			free(items);
			items = next;
		}
		int running = 0;
		curl_multi_perform(a->multi, &running);
		alert_webhook_results(a);
		alert_reap(a);
		if (stopping) {
			uint64_t now = clock_mono_ms();
			if (drain_until == 0)
				drain_until = now + ALERT_DRAIN_MS;
			if ((a->hooks == NULL && !alert_children_running(a)) ||
			    now >= drain_until)
				break;
		}
		curl_multi_poll(a->multi, NULL, 0, ALERT_POLL_MS, NULL);
	}
	while (a->hooks != NULL) {
		curl_multi_remove_handle(a->multi, a->hooks->easy);
		alert_hook_free(a, a->hooks);
	}
	return NULL;
}

static char *
alert_strdup(const char *s)
{
	return strdup(s != NULL ? s : "");
}

struct alert *
alert_new(const struct alert_options *o, char *err, size_t errlen)
{
	struct alert *a = calloc(1, sizeof(*a));
	if (a == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->o = *o;
	a->webhook = alert_strdup(o->webhook);
	a->command = alert_strdup(o->command);
	a->mail_from = alert_strdup(o->mail_from);
	a->mail_domain = alert_strdup(o->mail_domain);
	a->sendmail = alert_strdup(o->sendmail);
	pthread_mutex_init(&a->lock, NULL);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	a->multi = curl_multi_init();
	if (a->webhook == NULL || a->command == NULL || a->mail_from == NULL ||
	    a->mail_domain == NULL || a->sendmail == NULL || a->multi == NULL ||
	    pthread_create(&a->thread, NULL, alert_main, a) != 0) {
		snprintf(err, errlen, "cannot start the alert thread");
		if (a->multi)
			curl_multi_cleanup(a->multi);
		free(a->webhook);
		free(a->command);
		free(a->mail_from);
		free(a->mail_domain);
		free(a->sendmail);
		free(a);
		return NULL;
	}
	return a;
}

void
alert_free(struct alert *a)
{
	if (a == NULL)
		return;
	pthread_mutex_lock(&a->lock);
	a->stopping = true;
	pthread_mutex_unlock(&a->lock);
	curl_multi_wakeup(a->multi);
	pthread_join(a->thread, NULL);
	curl_multi_cleanup(a->multi);
	struct alert_item *it = a->head;
	while (it != NULL) {
		struct alert_item *next = it->next;
		free(it);
		it = next;
	}
	if (a->dropped > 0)
		log_warn("alert: %zu alerts dropped (queue full)", a->dropped);
	pthread_mutex_destroy(&a->lock);
	free(a->webhook);
	free(a->command);
	free(a->mail_from);
	free(a->mail_domain);
	free(a->sendmail);
	free(a);
}

void
alert_raise(struct alert *a, const struct alert_event *ev)
{
	if (a == NULL)
		return;
	struct alert_item *it = malloc(sizeof(*it));
	if (it == NULL)
		return;
	it->ev = *ev;
	it->next = NULL;
	pthread_mutex_lock(&a->lock);
	if (a->queued >= ALERT_QUEUE_MAX || a->stopping) {
		a->dropped++;
		pthread_mutex_unlock(&a->lock);
		free(it);
		return;
	}
	if (a->tail != NULL)
		a->tail->next = it;
	else
		a->head = it;
	a->tail = it;
	a->queued++;
	pthread_mutex_unlock(&a->lock);
	curl_multi_wakeup(a->multi);
}
