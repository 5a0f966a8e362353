/*
 * Failure budgets: a sliding window of failures per key (a device token,
 * an account, an address), with growing delays past a free allowance and a
 * temporary block past a ceiling. The window arithmetic is pure (struct
 * ratelimit_window, explicit time); the table around it is shared by the
 * worker threads under one lock. In memory today; a shared store later.
 */
#ifndef IMAPCID_RATELIMIT_H
#define IMAPCID_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ratelimit_params {
	uint64_t window_ms;
	unsigned free;  /* failures before delays start */
	unsigned block; /* failures that block the key */
	uint64_t block_ms;
	uint64_t delay_base_ms, delay_max_ms;
};

/* Two fixed windows weighted into a sliding estimate, plus the attempts
 * charged but not yet settled: parallel attempts each see the others, so
 * 15 connections at once get no more free failures than one. */
struct ratelimit_window {
	uint64_t start_ms;
	uint32_t cur, prev;
	uint32_t inflight;
	uint64_t blocked_until_ms;
};

struct ratelimit_verdict {
	bool blocked;
	uint64_t delay_ms;
	unsigned failures; /* the sliding estimate, attempts in flight too */
};

/* Pure: the state of a window at time now. Attempts in flight count as
 * failures for the delay and, while there are any, for the ceiling; a
 * block itself only ever starts with a settled failure. */
void ratelimit_window_check(const struct ratelimit_window *w,
                            const struct ratelimit_params *p, uint64_t now_ms,
                            struct ratelimit_verdict *out);
/* Pure: records one failure at now. */
void ratelimit_window_fail(struct ratelimit_window *w,
                           const struct ratelimit_params *p, uint64_t now_ms);
/* Pure: an attempt starts (counted in flight) / ends, as a failure or not. */
void ratelimit_window_charge(struct ratelimit_window *w);
void ratelimit_window_settle(struct ratelimit_window *w,
                             const struct ratelimit_params *p, uint64_t now_ms,
                             bool failed);

struct ratelimit;

/* max_keys bounds memory: beyond it, stale keys are swept, and keys that
 * still do not fit are not tracked. */
struct ratelimit *ratelimit_new(size_t max_keys);
void ratelimit_free(struct ratelimit *rl);
void ratelimit_check(struct ratelimit *rl, const char *key,
                     const struct ratelimit_params *p, uint64_t now_ms,
                     struct ratelimit_verdict *out);
void ratelimit_fail(struct ratelimit *rl, const char *key,
                    const struct ratelimit_params *p, uint64_t now_ms);
/*
 * An attempt on key begins: *out is the verdict before it, and it is
 * counted in flight until ratelimit_settle(), which records it as a
 * failure or drops it. Returns whether it is tracked (false when the table
 * is full): pass that to ratelimit_settle().
 */
bool ratelimit_charge(struct ratelimit *rl, const char *key,
                      const struct ratelimit_params *p, uint64_t now_ms,
                      struct ratelimit_verdict *out);
void ratelimit_settle(struct ratelimit *rl, const char *key,
                      const struct ratelimit_params *p, uint64_t now_ms,
                      bool tracked, bool failed);
/* Blocks key until until_ms (now_ms: for sweeping stale keys). */
void ratelimit_block(struct ratelimit *rl, const char *key, uint64_t now_ms,
                     uint64_t until_ms);
void ratelimit_reset(struct ratelimit *rl, const char *key);

#endif
