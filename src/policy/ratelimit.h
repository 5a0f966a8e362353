/*
 * Failure budgets: a sliding window of failures per key (a device token,
 * an account, an address, a network), with growing delays past a free
 * allowance and a temporary block past a ceiling. The window arithmetic is
 * pure (struct ratelimit_window, explicit time); the table around it is
 * shared by threads under one lock. In memory today; a shared store later.
 *
 * The table holds at most max_keys keys. Keys beyond it, when a sweep of
 * stale ones finds no room, are counted in a count-min sketch (two windows
 * of counters under keyed hashes) instead: approximately, and only ever
 * too high, never too low. A flood of keys makes budgets stricter for new
 * keys, never absent.
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

/* Two fixed windows weighted into a sliding estimate. */
struct ratelimit_window {
	uint64_t start_ms;
	uint32_t cur, prev;
	uint64_t blocked_until_ms;
};

struct ratelimit_verdict {
	bool blocked;
	uint64_t delay_ms;
	unsigned failures; /* the sliding estimate */
};

/* Pure: the state of a window at time now. */
void ratelimit_window_check(const struct ratelimit_window *w,
                            const struct ratelimit_params *p, uint64_t now_ms,
                            struct ratelimit_verdict *out);
/* Pure: records one failure at now. */
void ratelimit_window_fail(struct ratelimit_window *w,
                           const struct ratelimit_params *p, uint64_t now_ms);
/* Pure: the verdict of failures counted (a sketch's estimate), blocked
 * while they are at the ceiling. */
void ratelimit_verdict_of(unsigned failures, const struct ratelimit_params *p,
                          struct ratelimit_verdict *out);

struct ratelimit;

/* window_ms: the one window every key's params share (the sketch's). */
struct ratelimit *ratelimit_new(size_t max_keys, uint64_t window_ms);
void ratelimit_free(struct ratelimit *rl);
void ratelimit_check(struct ratelimit *rl, const char *key,
                     const struct ratelimit_params *p, uint64_t now_ms,
                     struct ratelimit_verdict *out);
/* Records a failure. create false: only for a key counted already (a
 * failure that was refused unchecked must not add keys). */
void ratelimit_fail(struct ratelimit *rl, const char *key,
                    const struct ratelimit_params *p, uint64_t now_ms,
                    bool create);
/* Blocks key until until_ms (now_ms: for sweeping stale keys). */
void ratelimit_block(struct ratelimit *rl, const char *key, uint64_t now_ms,
                     uint64_t until_ms);
void ratelimit_reset(struct ratelimit *rl, const char *key);
/* Keys counted in the sketch since it last started a window (tests). */
uint64_t ratelimit_sketched(struct ratelimit *rl);

#endif
