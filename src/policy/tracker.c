#include "tracker.h"
#include "lib/clock.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/hmap.h"
#include "lib/siphash.h"

#define TRACKER_BUCKETS           65536
#define TRACKER_SWEEP_INTERVAL_MS 1000
#define TRACKER_NETWORKS_MAX      8

struct tracker_account {
	uint64_t hash; /* of the account name */
	uint64_t seen_ms;
};

struct tracker_network {
	char network[TRACKER_NETWORK_MAX];
	unsigned sessions;
};

struct tracker_token {
	struct tracker_account accounts[TRACKER_ACCOUNTS_MAX];
	unsigned naccounts;
	bool flagged;
	struct tracker_network networks[TRACKER_NETWORKS_MAX];
	unsigned nnetworks;
};

struct tracker {
	pthread_mutex_t lock;
	struct hmap *tokens;
	size_t max_tokens;
	uint64_t last_sweep_ms;
	uint8_t key[SIPHASH_KEY_LEN];
};

/* Accounts are told apart by a 64-bit keyed hash: an unkeyed one would
 * let a client pick two names that count as one. */
static uint64_t
tracker_hash(const struct tracker *t, const char *s)
{
	return siphash24(t->key, s, strlen(s));
}

struct tracker *
tracker_new(size_t max_tokens)
{
	struct tracker *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->tokens = hmap_new(TRACKER_BUCKETS);
	if (t->tokens == NULL || !siphash_key_random(t->key)) {
		hmap_free(t->tokens, NULL);
		free(t);
		return NULL;
	}
	pthread_mutex_init(&t->lock, NULL);
	t->max_tokens = max_tokens;
	return t;
}

void
tracker_free(struct tracker *t)
{
	if (t == NULL)
		return;
	hmap_free(t->tokens, free);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static bool
tracker_idle(void *value, void *arg)
{
	struct tracker_token *tt = value;
	const uint64_t *cutoff = arg;
	if (tt->nnetworks > 0)
		return false;
	for (unsigned i = 0; i < tt->naccounts; i++)
		if (tt->accounts[i].seen_ms >= *cutoff)
			return false;
	free(tt);
	return true;
}

/* Called locked. */
static struct tracker_token *
tracker_get(struct tracker *t, const char *token, uint64_t now_ms,
            uint64_t window_ms)
{
	struct tracker_token *tt = hmap_get(t->tokens, token);
	if (tt != NULL)
		return tt;
	if (hmap_count(t->tokens) >= t->max_tokens) {
		/* Full: sweep at most once a second, since a sweep walks the
		 * whole table and a flood of new tokens must not make every
		 * login pay for it; meanwhile new tokens go untracked. */
		if (now_ms >= t->last_sweep_ms &&
		    now_ms - t->last_sweep_ms < TRACKER_SWEEP_INTERVAL_MS &&
		    t->last_sweep_ms != 0)
			return NULL;
		t->last_sweep_ms = now_ms;
		uint64_t cutoff = now_ms > window_ms ? now_ms - window_ms : 0;
		hmap_sweep(t->tokens, tracker_idle, &cutoff);
		if (hmap_count(t->tokens) >= t->max_tokens)
			return NULL;
	}
	tt = calloc(1, sizeof(*tt));
	if (tt != NULL && !hmap_put(t->tokens, token, tt)) {
		free(tt);
		tt = NULL;
	}
	return tt;
}

bool
tracker_note_account(struct tracker *t, const char *token, const char *account,
                     uint64_t now_ms, uint64_t window_ms, unsigned limit)
{
	uint64_t h = tracker_hash(t, account);
	uint64_t cutoff = now_ms > window_ms ? now_ms - window_ms : 0;
	bool fire = false;
	pthread_mutex_lock(&t->lock);
	struct tracker_token *tt = tracker_get(t, token, now_ms, window_ms);
	if (tt == NULL)
		goto out;
	/* Drop accounts that left the window; refresh or add this one. */
	unsigned n = 0, oldest = 0;
	bool found = false;
	for (unsigned i = 0; i < tt->naccounts; i++) {
		if (tt->accounts[i].seen_ms < cutoff)
			continue;
		tt->accounts[n] = tt->accounts[i];
		if (tt->accounts[n].hash == h) {
			tt->accounts[n].seen_ms = now_ms;
			found = true;
		}
		if (tt->accounts[n].seen_ms < tt->accounts[oldest].seen_ms)
			oldest = n;
		n++;
	}
	tt->naccounts = n;
	if (!found) {
		unsigned slot =
		        n < TRACKER_ACCOUNTS_MAX ? tt->naccounts++ : oldest;
		tt->accounts[slot].hash = h;
		tt->accounts[slot].seen_ms = now_ms;
	}
	if (tt->naccounts > limit) {
		fire = !tt->flagged;
		tt->flagged = true;
	} else {
		tt->flagged = false;
	}
out:
	pthread_mutex_unlock(&t->lock);
	return fire;
}

bool
tracker_session_acquire(struct tracker *t, const char *token,
                        const char *network, unsigned cap, bool *other_network)
{
	bool ok = false;
	*other_network = false;
	pthread_mutex_lock(&t->lock);
	struct tracker_token *tt = tracker_get(t, token, clock_wall_ms(), 0);
	if (tt == NULL) {
		ok = true; /* untracked: fail open, the cap is best effort */
		goto out;
	}
	unsigned total = 0;
	struct tracker_network *mine = NULL;
	for (unsigned i = 0; i < tt->nnetworks; i++) {
		total += tt->networks[i].sessions;
		if (strcmp(tt->networks[i].network, network) == 0)
			mine = &tt->networks[i];
		else
			*other_network = true;
	}
	if (cap > 0 && total >= cap)
		goto out;
	if (mine == NULL) {
		if (tt->nnetworks == TRACKER_NETWORKS_MAX) {
			ok = true;
			goto out;
		}
		mine = &tt->networks[tt->nnetworks++];
		snprintf(mine->network, sizeof(mine->network), "%s", network);
		mine->sessions = 0;
	}
	mine->sessions++;
	ok = true;
out:
	pthread_mutex_unlock(&t->lock);
	return ok;
}

void
tracker_session_release(struct tracker *t, const char *token,
                        const char *network)
{
	pthread_mutex_lock(&t->lock);
	struct tracker_token *tt = hmap_get(t->tokens, token);
	for (unsigned i = 0; tt != NULL && i < tt->nnetworks; i++) {
		struct tracker_network *nw = &tt->networks[i];
		if (strcmp(nw->network, network) != 0)
			continue;
		if (nw->sessions > 0 && --nw->sessions == 0)
			tt->networks[i] = tt->networks[--tt->nnetworks];
		break;
	}
	pthread_mutex_unlock(&t->lock);
}

bool
tracker_network(const char *addr, unsigned v4_bits, unsigned v6_bits,
                char out[TRACKER_NETWORK_MAX])
{
	uint8_t b[16];
	unsigned bits, len;
	if (inet_pton(AF_INET, addr, b) == 1) {
		bits = v4_bits > 32 ? 32 : v4_bits;
		len = 4;
	} else if (inet_pton(AF_INET6, addr, b) == 1) {
		bits = v6_bits > 128 ? 128 : v6_bits;
		len = 16;
	} else {
		return false;
	}
	for (unsigned i = 0; i < len; i++) {
		unsigned keep = bits > i * 8 ? bits - i * 8 : 0;
		if (keep < 8)
			b[i] &= (uint8_t)(0xff << (8 - keep));
	}
	char text[INET6_ADDRSTRLEN];
	inet_ntop(len == 4 ? AF_INET : AF_INET6, b, text, sizeof(text));
	snprintf(out, TRACKER_NETWORK_MAX, "%.46s/%u", text, bits % 1000);
	return true;
}
