/*
 * The canonical form of an account name: ASCII letters folded to lower
 * case, as the password file matches names ("DEMO" and "demo" are one
 * account, "Alice@Example.ORG" is "alice@example.org"). From
 * authentication on, every part of the server (the mail store's path, the
 * registry, budgets, detectors, alerts, logs) and imapcidctl use this form
 * only, so no spelling of a name can reach another account's data.
 */
#ifndef IMAPCID_ACCOUNT_H
#define IMAPCID_ACCOUNT_H

#include <stddef.h>

/* Writes the canonical form of name into out (truncated to outlen - 1). */
void account_canonical(const char *name, char *out, size_t outlen);

#endif
