/*
 * What the detectors need to remember about device tokens, in memory and
 * shared by the worker threads (CID-POL-6):
 *  - which accounts a token was presented for recently (one token across
 *    many accounts is a credential-stuffing tool, not a device);
 *  - which networks a token has authenticated sessions from right now (one
 *    device is not in two distant places at once), and how many sessions
 *    (the per-device connection cap).
 */
#ifndef IMAPCID_TRACKER_H
#define IMAPCID_TRACKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TRACKER_NETWORK_MAX 52 /* "203.0.0.0/16" or an IPv6 prefix */

struct tracker;

struct tracker *tracker_new(size_t max_tokens);
void tracker_free(struct tracker *t);

/* Accounts remembered per token: limits must stay below it (config.c
 * bounds detect_token_accounts to 31). */
#define TRACKER_ACCOUNTS_MAX 32

/*
 * Notes that token was presented for account at now. Returns true once when
 * the token has been presented for more than limit distinct accounts within
 * window_ms (and not again until it falls back under).
 */
bool tracker_note_account(struct tracker *t, const char *token,
                          const char *account, uint64_t now_ms,
                          uint64_t window_ms, unsigned limit);

/*
 * Counts one more session of token from network. Fails (counting nothing)
 * when the token already has cap sessions (cap 0: no cap). *other_network
 * tells whether the token has a session from a different network.
 */
bool tracker_session_acquire(struct tracker *t, const char *token,
                             const char *network, unsigned cap,
                             bool *other_network);
void tracker_session_release(struct tracker *t, const char *token,
                             const char *network);

/* The network of an address for "two places at once": the IPv4 /v4_bits
 * or IPv6 /v6_bits prefix, as text. False if addr is not an address. */
bool tracker_network(const char *addr, unsigned v4_bits, unsigned v6_bits,
                     char out[TRACKER_NETWORK_MAX]);

#endif
