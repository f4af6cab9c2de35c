/* Message keys and consumer filters (SPEC section 2): validation that names the broken rule,
 * and matching of a key against a filter. Pure functions, no allocation. */
#ifndef SEQUIN_KEYS_H
#define SEQUIN_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "sequin/common.h"

#define SQ_KEY_MAX_BYTES 255
#define SQ_KEY_MAX_TOKENS 16

/*
 * Validates a message key of `len` bytes (it need not be NUL-terminated and may contain
 * NUL bytes, which are rejected). Returns 0 if valid. Otherwise returns -1 and, if `why`
 * is not NULL, points it at a static sentence naming the rule that failed, e.g.
 * "a key has at most 16 tokens separated by '.'". The sentence stays valid forever.
 */
SQ_WUR int sq_key_validate(const char *key, size_t len, const char **why);

/* Same contract for a filter (`filter_key_pattern`): a key that may also use `*` as a whole
 * token and `>` as the whole last token. */
SQ_WUR int sq_filter_validate(const char *filter, size_t len, const char **why);

/*
 * True if `key` matches `filter`. Both must have passed validation; on unvalidated input the
 * result is unspecified but the function stays memory-safe (reads only the given lengths).
 */
bool sq_filter_match(const char *filter, size_t flen, const char *key, size_t klen);

/* True if the filter has no wildcard, i.e. it matches exactly one key (itself). */
bool sq_filter_is_literal(const char *filter, size_t len);

/* A stream or consumer name (SPEC 3): 1 to 64 ASCII letters, digits or underscores. */
#define SQ_NAME_MAX 64
bool sq_name_is_valid(const char *name, size_t len);

#endif
