#include "ratelimit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hmap.h"

#define RATELIMIT_BUCKETS           65536
#define RATELIMIT_SWEEP_INTERVAL_MS 1000

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
ratelimit_window_check(const struct ratelimit_window *w,
                       const struct ratelimit_params *p, uint64_t now_ms,
                       struct ratelimit_verdict *out)
{
	out->failures = ratelimit_estimate(w, p, now_ms) + w->inflight;
	out->blocked =
	        w->blocked_until_ms > now_ms ||
	        (p->block > 0 && w->inflight > 0 && out->failures >= p->block);
	out->delay_ms = 0;
	if (out->failures > 0 && out->failures >= p->free &&
	    p->delay_base_ms > 0) {
		unsigned excess = out->failures - p->free;
		uint64_t d = p->delay_base_ms;
		while (excess-- > 0 && d < p->delay_max_ms)
			d *= 2;
		out->delay_ms = d < p->delay_max_ms ? d : p->delay_max_ms;
	}
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

void
ratelimit_window_charge(struct ratelimit_window *w)
{
	if (w->inflight < UINT32_MAX)
		w->inflight++;
}

void
ratelimit_window_settle(struct ratelimit_window *w,
                        const struct ratelimit_params *p, uint64_t now_ms,
                        bool failed)
{
	if (w->inflight > 0)
		w->inflight--;
	if (failed)
		ratelimit_window_fail(w, p, now_ms);
}

struct ratelimit {
	pthread_mutex_t lock;
	struct hmap *keys;
	size_t max_keys;
	uint64_t last_sweep_ms;
};

struct ratelimit *
ratelimit_new(size_t max_keys)
{
	struct ratelimit *rl = calloc(1, sizeof(*rl));
	if (rl == NULL)
		return NULL;
	rl->keys = hmap_new(RATELIMIT_BUCKETS);
	if (rl->keys == NULL) {
		free(rl);
		return NULL;
	}
	pthread_mutex_init(&rl->lock, NULL);
	rl->max_keys = max_keys;
	return rl;
}

void
ratelimit_free(struct ratelimit *rl)
{
	if (rl == NULL)
		return;
	hmap_free(rl->keys, free);
	pthread_mutex_destroy(&rl->lock);
	free(rl);
}

void
ratelimit_check(struct ratelimit *rl, const char *key,
                const struct ratelimit_params *p, uint64_t now_ms,
                struct ratelimit_verdict *out)
{
	static const struct ratelimit_window empty;
	pthread_mutex_lock(&rl->lock);
	const struct ratelimit_window *w = hmap_get(rl->keys, key);
	ratelimit_window_check(w ? w : &empty, p, now_ms, out);
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
	if (w->blocked_until_ms > a->now_ms || w->inflight > 0 ||
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
               const struct ratelimit_params *p, uint64_t now_ms)
{
	pthread_mutex_lock(&rl->lock);
	struct ratelimit_window *w =
	        ratelimit_entry(rl, key, p->window_ms, now_ms);
	if (w != NULL)
		ratelimit_window_fail(w, p, now_ms);
	pthread_mutex_unlock(&rl->lock);
}

bool
ratelimit_charge(struct ratelimit *rl, const char *key,
                 const struct ratelimit_params *p, uint64_t now_ms,
                 struct ratelimit_verdict *out)
{
	static const struct ratelimit_window empty;
	pthread_mutex_lock(&rl->lock);
	struct ratelimit_window *w =
	        ratelimit_entry(rl, key, p->window_ms, now_ms);
	ratelimit_window_check(w != NULL ? w : &empty, p, now_ms, out);
	if (w != NULL) {
		/* a new entry's window starts now (see ratelimit_rotate) */
		if (w->start_ms == 0)
			w->start_ms = now_ms;
		ratelimit_window_charge(w);
	}
	pthread_mutex_unlock(&rl->lock);
	return w != NULL;
}

void
ratelimit_settle(struct ratelimit *rl, const char *key,
                 const struct ratelimit_params *p, uint64_t now_ms,
                 bool tracked, bool failed)
{
	pthread_mutex_lock(&rl->lock);
	struct ratelimit_window *w =
	        tracked ? hmap_get(rl->keys, key)
	                : (failed ? ratelimit_entry(rl, key, p->window_ms,
	                                            now_ms)
	                          : NULL);
	if (w != NULL) {
		if (tracked)
			ratelimit_window_settle(w, p, now_ms, failed);
		else
			ratelimit_window_fail(w, p, now_ms);
	}
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
	struct ratelimit_window *w = hmap_get(rl->keys, key);
	if (w != NULL && w->inflight > 0) {
		/* attempts in flight will still settle against it */
		uint32_t inflight = w->inflight;
		memset(w, 0, sizeof(*w));
		w->inflight = inflight;
	} else {
		free(hmap_remove(rl->keys, key));
	}
	pthread_mutex_unlock(&rl->lock);
}
