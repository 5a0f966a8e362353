#include "ratelimit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hmap.h"
#include "lib/siphash.h"

#define RATELIMIT_BUCKETS           65536
#define RATELIMIT_SWEEP_INTERVAL_MS 1000
/*
 * The sketch: RATELIMIT_SKETCH_ROWS rows of RATELIMIT_SKETCH_WIDTH counters
 * for the current window and as many for the previous one, each row under
 * a SipHash key of its own. A key's count is the smallest of its counters
 * (collisions can only add), and a failure raises only the counters at
 * that smallest (conservative update), which keeps the overcount down:
 * about F / WIDTH for F failures counted in a window. 4 MiB in all.
 */
#define RATELIMIT_SKETCH_ROWS  4
#define RATELIMIT_SKETCH_WIDTH (1u << 17)

static void
ratelimit_rotate(struct ratelimit_window *w, const struct ratelimit_params *p,
                 uint64_t now_ms)
{
	if (w->start_ms == 0 || now_ms < w->start_ms) {
		w->start_ms = now_ms;
		return;
	}
	uint64_t elapsed = now_ms - w->start_ms;
	if (elapsed < p->window_ms)
		return;
	w->prev = elapsed < 2 * p->window_ms ? w->cur : 0;
	w->cur = 0;
	w->start_ms = now_ms - elapsed % p->window_ms;
}

static unsigned
ratelimit_estimate(const struct ratelimit_window *w,
                   const struct ratelimit_params *p, uint64_t now_ms)
{
	struct ratelimit_window t = *w;
	ratelimit_rotate(&t, p, now_ms);
	uint64_t into = now_ms - t.start_ms;
	uint64_t weight = into >= p->window_ms ? 0 : p->window_ms - into;
	/* prev counts for the part of it still inside the sliding window */
	return t.cur +
	       (unsigned)((t.prev * weight + p->window_ms - 1) / p->window_ms);
}

void
ratelimit_verdict_of(unsigned failures, const struct ratelimit_params *p,
                     struct ratelimit_verdict *out)
{
	out->failures = failures;
	out->blocked = p->block > 0 && failures >= p->block;
	out->delay_ms = 0;
	if (failures > 0 && failures >= p->free && p->delay_base_ms > 0) {
		unsigned excess = failures - p->free;
		uint64_t d = p->delay_base_ms;
		while (excess-- > 0 && d < p->delay_max_ms)
			d *= 2;
		out->delay_ms = d < p->delay_max_ms ? d : p->delay_max_ms;
	}
}

void
ratelimit_window_check(const struct ratelimit_window *w,
                       const struct ratelimit_params *p, uint64_t now_ms,
                       struct ratelimit_verdict *out)
{
	ratelimit_verdict_of(ratelimit_estimate(w, p, now_ms), p, out);
	/* a window blocks while its block lasts, which may outlive the
	 * failures that started it */
	out->blocked = w->blocked_until_ms > now_ms;
}

void
ratelimit_window_fail(struct ratelimit_window *w,
                      const struct ratelimit_params *p, uint64_t now_ms)
{
	ratelimit_rotate(w, p, now_ms);
	if (w->cur < UINT32_MAX)
		w->cur++;
	if (p->block > 0 && ratelimit_estimate(w, p, now_ms) >= p->block &&
	    w->blocked_until_ms <= now_ms)
		w->blocked_until_ms = now_ms + p->block_ms;
}

struct ratelimit_sketch {
	uint8_t keys[RATELIMIT_SKETCH_ROWS][SIPHASH_KEY_LEN];
	uint64_t start_ms;
	uint32_t *cur, *prev; /* ROWS x WIDTH each */
	uint64_t counted;     /* failures counted in the current window */
};

struct ratelimit {
	pthread_mutex_t lock;
	struct hmap *keys;
	size_t max_keys;
	uint64_t last_sweep_ms;
	uint64_t window_ms;
	struct ratelimit_sketch sketch; /* for keys the table has no room for */
};

static void
ratelimit_sketch_rotate(struct ratelimit_sketch *sk, uint64_t window_ms,
                        uint64_t now_ms)
{
	size_t bytes = (size_t)RATELIMIT_SKETCH_ROWS * RATELIMIT_SKETCH_WIDTH *
	               sizeof(uint32_t);
	if (sk->start_ms == 0 || now_ms < sk->start_ms) {
		sk->start_ms = now_ms;
		return;
	}
	uint64_t elapsed = now_ms - sk->start_ms;
	if (elapsed < window_ms)
		return;
	uint32_t *t = sk->prev;
	sk->prev = sk->cur;
	sk->cur = t;
	memset(sk->cur, 0, bytes);
	if (elapsed >= 2 * window_ms)
		memset(sk->prev, 0, bytes);
	sk->start_ms = now_ms - elapsed % window_ms;
	sk->counted = 0;
}

/* The sliding estimate of key, and its cells in slot. */
static unsigned
ratelimit_sketch_estimate(struct ratelimit_sketch *sk, const char *key,
                          uint64_t window_ms, uint64_t now_ms,
                          size_t slot[RATELIMIT_SKETCH_ROWS])
{
	ratelimit_sketch_rotate(sk, window_ms, now_ms);
	uint64_t into = now_ms - sk->start_ms;
	uint64_t weight = into >= window_ms ? 0 : window_ms - into;
	uint64_t best = UINT64_MAX;
	size_t n = strlen(key);
	for (int r = 0; r < RATELIMIT_SKETCH_ROWS; r++) {
		slot[r] = (size_t)r * RATELIMIT_SKETCH_WIDTH +
		          (size_t)(siphash24(sk->keys[r], key, n) &
		                   (RATELIMIT_SKETCH_WIDTH - 1));
		uint64_t v = sk->cur[slot[r]] +
		             (sk->prev[slot[r]] * weight + window_ms - 1) /
		                     window_ms;
		if (v < best)
			best = v;
	}
	return best > UINT32_MAX ? UINT32_MAX : (unsigned)best;
}

static void
ratelimit_sketch_fail(struct ratelimit_sketch *sk, const char *key,
                      uint64_t window_ms, uint64_t now_ms)
{
	size_t slot[RATELIMIT_SKETCH_ROWS];
	ratelimit_sketch_estimate(sk, key, window_ms, now_ms, slot);
	uint32_t low = UINT32_MAX;
	for (int r = 0; r < RATELIMIT_SKETCH_ROWS; r++)
		if (sk->cur[slot[r]] < low)
			low = sk->cur[slot[r]];
	if (low == UINT32_MAX)
		return;
	for (int r = 0; r < RATELIMIT_SKETCH_ROWS; r++)
		if (sk->cur[slot[r]] == low)
			sk->cur[slot[r]] = low + 1;
	sk->counted++;
}

struct ratelimit *
ratelimit_new(size_t max_keys, uint64_t window_ms)
{
	struct ratelimit *rl = calloc(1, sizeof(*rl));
	if (rl == NULL)
		return NULL;
	size_t cells = (size_t)RATELIMIT_SKETCH_ROWS * RATELIMIT_SKETCH_WIDTH;
	rl->keys = hmap_new(RATELIMIT_BUCKETS);
	rl->sketch.cur = calloc(cells, sizeof(uint32_t));
	rl->sketch.prev = calloc(cells, sizeof(uint32_t));
	bool keyed = true;
	for (int r = 0; r < RATELIMIT_SKETCH_ROWS; r++)
		keyed = keyed && siphash_key_random(rl->sketch.keys[r]);
	if (rl->keys == NULL || rl->sketch.cur == NULL ||
	    rl->sketch.prev == NULL || !keyed) {
		hmap_free(rl->keys, NULL);
		free(rl->sketch.cur);
		free(rl->sketch.prev);
		free(rl);
		return NULL;
	}
	pthread_mutex_init(&rl->lock, NULL);
	rl->max_keys = max_keys;
	rl->window_ms = window_ms > 0 ? window_ms : 1;
	return rl;
}

void
ratelimit_free(struct ratelimit *rl)
{
	if (rl == NULL)
		return;
	hmap_free(rl->keys, free);
	free(rl->sketch.cur);
	free(rl->sketch.prev);
	pthread_mutex_destroy(&rl->lock);
	free(rl);
}

void
ratelimit_check(struct ratelimit *rl, const char *key,
                const struct ratelimit_params *p, uint64_t now_ms,
                struct ratelimit_verdict *out)
{
	pthread_mutex_lock(&rl->lock);
	const struct ratelimit_window *w = hmap_get(rl->keys, key);
	if (w != NULL) {
		ratelimit_window_check(w, p, now_ms, out);
	} else {
		/* not in the table: what the sketch counted (nothing, for a
		 * key never seen, but what collisions add) */
		size_t slot[RATELIMIT_SKETCH_ROWS];
		ratelimit_verdict_of(ratelimit_sketch_estimate(&rl->sketch, key,
		                                               rl->window_ms,
		                                               now_ms, slot),
		                     p, out);
	}
	pthread_mutex_unlock(&rl->lock);
}

struct ratelimit_sweep_arg {
	uint64_t now_ms;
	uint64_t horizon_ms;
};

static bool
ratelimit_stale(void *value, void *arg)
{
	struct ratelimit_window *w = value;
	const struct ratelimit_sweep_arg *a = arg;
	if (w->blocked_until_ms > a->now_ms ||
	    w->start_ms + a->horizon_ms > a->now_ms)
		return false;
	free(w);
	return true;
}

/* The window for key, created if there is room. Called locked. */
static struct ratelimit_window *
ratelimit_entry(struct ratelimit *rl, const char *key, uint64_t window_ms,
                uint64_t now_ms)
{
	struct ratelimit_window *w = hmap_get(rl->keys, key);
	if (w != NULL)
		return w;
	if (hmap_count(rl->keys) >= rl->max_keys) {
		/* a full sweep at most once a second (see tracker.c) */
		if (rl->last_sweep_ms != 0 && now_ms >= rl->last_sweep_ms &&
		    now_ms - rl->last_sweep_ms < RATELIMIT_SWEEP_INTERVAL_MS)
			return NULL;
		rl->last_sweep_ms = now_ms;
		struct ratelimit_sweep_arg a = {now_ms, 2 * window_ms};
		hmap_sweep(rl->keys, ratelimit_stale, &a);
		if (hmap_count(rl->keys) >= rl->max_keys)
			return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (w != NULL && !hmap_put(rl->keys, key, w)) {
		free(w);
		w = NULL;
	}
	return w;
}

void
ratelimit_fail(struct ratelimit *rl, const char *key,
               const struct ratelimit_params *p, uint64_t now_ms, bool create)
{
	pthread_mutex_lock(&rl->lock);
	struct ratelimit_window *w =
	        create ? ratelimit_entry(rl, key, p->window_ms, now_ms)
	               : hmap_get(rl->keys, key);
	if (w != NULL)
		ratelimit_window_fail(w, p, now_ms);
	else if (create) /* no room: counted all the same, roughly */
		ratelimit_sketch_fail(&rl->sketch, key, rl->window_ms, now_ms);
	pthread_mutex_unlock(&rl->lock);
}

void
ratelimit_block(struct ratelimit *rl, const char *key, uint64_t now_ms,
                uint64_t until_ms)
{
	pthread_mutex_lock(&rl->lock);
	struct ratelimit_window *w = ratelimit_entry(rl, key, 0, now_ms);
	if (w != NULL && w->blocked_until_ms < until_ms)
		w->blocked_until_ms = until_ms;
	pthread_mutex_unlock(&rl->lock);
}

void
ratelimit_reset(struct ratelimit *rl, const char *key)
{
	pthread_mutex_lock(&rl->lock);
	free(hmap_remove(rl->keys, key));
	pthread_mutex_unlock(&rl->lock);
}

uint64_t
ratelimit_sketched(struct ratelimit *rl)
{
	pthread_mutex_lock(&rl->lock);
	uint64_t n = rl->sketch.counted;
	pthread_mutex_unlock(&rl->lock);
	return n;
}
