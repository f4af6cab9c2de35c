/* What the JSON module's files share and nothing outside them may use: the validator's grammar
 * check, which the reader runs before jsmn and the writer runs on raw text, and its errors. */
#ifndef SEQUIN_JSON_INTERNAL_H
#define SEQUIN_JSON_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "sequin/common.h"
#include "sequin/json.h"

/* JSON's whitespace: SP, HT, LF and CR only. */
static inline bool sq_json_is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static inline bool sq_json_is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* The phrase of sq_json_error.what for a failed allocation, which both the validator and the
 * reader report (defined in json_valid.c). */
extern const char sq_json_e_nomem[];

/*
 * Fills *err (when err is not NULL) for problem `what` (a static phrase) found at byte
 * `offset` of the `len` bytes at `src`, counting the line and column up to it. Returns -1.
 */
int sq_json_fail(sq_json_error *err, const char *src, size_t len, size_t offset, const char *what);

/* The nesting limit a caller's `max_depth` means (0: SQ_JSON_DEFAULT_MAX_DEPTH) into *limit.
 * 0, or -1 with *err saying "invalid nesting limit" for a negative one. */
SQ_WUR int sq_json_limit(int max_depth, size_t *limit, sq_json_error *err);

/*
 * The grammar check of sq_json_validate, with the nesting limit taken as given (0 allows a
 * scalar only). On success returns 0 and stores the number of tokens jsmn must produce (one
 * per value and one per key) and the root's type; else -1 with *err (if not NULL) filled.
 */
SQ_WUR int sq_json_check(const char *src, size_t len, size_t limit, size_t *ntokens,
                         sq_json_type *root, sq_json_error *err);

/* True if src[start..end) is exactly one number or literal, of the type its first byte
 * announces, which goes to *type. */
bool sq_json_primitive_spans(const char *src, int start, int end, sq_json_type *type);

/* The four hex digits at p[0..3] (the caller guarantees they are readable), or -1. */
long sq_json_hex4(const unsigned char *p);

#endif
