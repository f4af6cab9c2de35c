/* JSON in and out: a strict RFC 8259 parser with bounds-checked getters, and a streaming
 * writer that always produces valid JSON (json_valid.c checks, json_read.c reads over jsmn,
 * json_write.c writes). */
#ifndef SEQUIN_JSON_H
#define SEQUIN_JSON_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sequin/buf.h"
#include "sequin/common.h"

/*
 * Nesting limit used when the caller passes 0. Real API documents nest a handful of levels;
 * 64 leaves room for user payloads while keeping every walk over a document cheap. The
 * writer uses the same limit, so whatever it produces parses back with the defaults.
 */
#define SQ_JSON_DEFAULT_MAX_DEPTH 64

/* Largest input sq_json_parse accepts: token offsets are ints. */
#define SQ_JSON_MAX_INPUT ((size_t)INT_MAX - 1)

/*
 * What went wrong, and where. `what` is a static phrase such as "invalid number" (it stays
 * valid forever; tests match on it), `offset` the byte offset where the problem was detected
 * (it may equal the input length for "unexpected end of input"), `line` and `column` the same
 * place counted from 1 (LF ends a line; the column counts bytes). `text` joins them:
 * "invalid number at byte 5 (line 1, column 6)".
 */
typedef struct sq_json_error {
    const char *what;
    size_t offset;
    size_t line;
    size_t column;
    char text[96];
} sq_json_error;

/* The type of a value. Values start at 1 so that -1 can mean "no such token". */
typedef enum sq_json_type {
    SQ_JSON_OBJECT = 1,
    SQ_JSON_ARRAY,
    SQ_JSON_STRING,
    SQ_JSON_NUMBER,
    SQ_JSON_TRUE,
    SQ_JSON_FALSE,
    SQ_JSON_NULL,
} sq_json_type;

/*
 * A parsed document: a flat array of tokens in document order, addressed by index. Token 0
 * is the root value. Each container is followed by its children; in an object the children
 * are the keys (strings), and the value of a member is the token right after its key.
 *
 * The document borrows `src`: the input must stay unchanged and alive until sq_json_free.
 * It owns the token array. A zero-initialised sq_json is a valid empty document (no tokens,
 * every getter fails) and may be freed.
 */
typedef struct sq_json_tok sq_json_tok; /* private to json_read.c */
typedef struct sq_json {
    const char *src;
    size_t len;
    sq_json_tok *toks;
    int ntoks;
} sq_json;

/* ---- parsing ------------------------------------------------------------------------------ */

/*
 * Validates `len` bytes of `src` against RFC 8259 and tokenises them into `doc`. The input
 * need not be NUL-terminated; a NUL byte anywhere is an error (raw control characters are not
 * allowed in strings, and NUL is not whitespace). Rejected beyond the RFC's grammar: a UTF-8
 * byte order mark at the start (the RFC lets a parser ignore it; we want a client that sends
 * one to hear about it), nesting deeper than `max_depth` containers (0 selects
 * SQ_JSON_DEFAULT_MAX_DEPTH; a scalar has depth 0, `[]` depth 1), input longer than
 * SQ_JSON_MAX_INPUT. Accepted: any value at the top level, numbers of any size (`1e999` is a
 * valid document; only the getter refuses it), duplicate object keys (see sq_json_lookup).
 *
 * Returns 0 with `doc` filled (release with sq_json_free), or -1 with `doc` emptied and, if
 * `err` is not NULL, `*err` describing the first problem. Memory: 24 bytes per token kept,
 * 20 more while parsing, at most one token per input byte; bound the input size first.
 */
SQ_WUR int sq_json_parse(sq_json *doc, const char *src, size_t len, int max_depth,
                         sq_json_error *err);

/* The validation half of sq_json_parse alone: same verdicts, same errors, no tokens. It
 * allocates only when max_depth is above 1024 (one bit per level). */
SQ_WUR int sq_json_validate(const char *src, size_t len, int max_depth, sq_json_error *err);

/* Releases the tokens; `doc` becomes empty and may be reused. The input is not touched. */
void sq_json_free(sq_json *doc);

/* ---- getters ------------------------------------------------------------------------------
 * Every getter takes a token index and returns -1 (leaving its outputs unchanged) when the
 * index is out of range or the token has the wrong type. None reads outside the token's
 * bytes of the input.
 */

/* The sq_json_type of token `tok`, or -1. */
int sq_json_type_of(const sq_json *doc, int tok);

/* Number of elements of an array or members of an object, or -1 for anything else. */
int sq_json_count(const sq_json *doc, int tok);

/*
 * Iteration. sq_json_first returns the first element of an array or the first key of an
 * object; sq_json_next the sibling after `tok` in the same container, skipping the whole
 * subtree of `tok` (for a key: the key and its value) in O(1). Both return -1 at the end,
 * for an empty container, and for bad input. sq_json_member_value returns the value of the
 * member whose key is `key` (-1 if `key` is not an object key).
 *
 *     for (int k = sq_json_first(doc, obj); k >= 0; k = sq_json_next(doc, k))
 *         use(k, sq_json_member_value(doc, k));
 */
int sq_json_first(const sq_json *doc, int tok);
int sq_json_next(const sq_json *doc, int tok);
int sq_json_member_value(const sq_json *doc, int key);

/*
 * Looks up member `name` (a C string, compared with the unescaped key, so "\u0061" matches
 * "a"; a key containing U+0000 never matches) in object `obj`. Returns 0 and sets `*value`
 * to the member's value token, or to -1 when there is no such member. Returns -1 when `obj`
 * is not an object, and also when `name` occurs more than once: RFC 8259 leaves duplicate
 * names to the implementation, and readers disagree on which one wins, so we refuse to pick
 * one. Cost: one pass over the object's keys.
 */
SQ_WUR int sq_json_lookup(const sq_json *doc, int obj, const char *name, int *value);

/*
 * Unescapes string token `tok` (a value or a key) and appends the UTF-8 bytes to `out`,
 * which stays NUL-terminated. The bytes may contain U+0000 (from "\u0000"), so take the
 * length from out->len, not strlen. Returns 0, or -1 with `out` as it was.
 */
SQ_WUR int sq_json_get_str(const sq_json *doc, int tok, sq_buf *out);

/* Same, into arena `a`: `*str` points to the NUL-terminated bytes, valid until the arena is
 * reset or freed, `*len` (if not NULL) is their length without the terminator. */
SQ_WUR int sq_json_get_str_arena(const sq_json *doc, int tok, sq_arena *a, const char **str,
                                 size_t *len);

/* 1 if string token `tok` unescapes to exactly the `n` bytes at `s`, 0 if it does not, -1 if
 * `tok` is not a string. Allocates nothing. */
int sq_json_str_equals(const sq_json *doc, int tok, const void *s, size_t n);

/*
 * Integers: only the integer grammar is accepted (`-?digits`, so "1.0" and "1e2" are
 * refused even though they are integral), and -1 is returned on overflow. "-0" reads as 0
 * for both.
 */
SQ_WUR int sq_json_get_int64(const sq_json *doc, int tok, int64_t *out);
SQ_WUR int sq_json_get_uint64(const sq_json *doc, int tok, uint64_t *out);

/* Any number, rounded to the nearest double. -1 when it overflows to infinity ("1e999");
 * underflow gives 0 or a subnormal. Assumes LC_NUMERIC is "C" (sequin never changes it). */
SQ_WUR int sq_json_get_double(const sq_json *doc, int tok, double *out);

/* true or false. */
SQ_WUR int sq_json_get_bool(const sq_json *doc, int tok, bool *out);

/* true if token `tok` exists and is null. */
bool sq_json_is_null(const sq_json *doc, int tok);

/* The exact JSON text of any value (strings with their quotes, containers with their
 * brackets), as a slice of the input: valid as long as the input. */
SQ_WUR int sq_json_raw(const sq_json *doc, int tok, const char **text, size_t *len);

/* ---- writer -------------------------------------------------------------------------------
 * Streams one JSON value into a sq_buf, inserting commas and colons itself. Misuse (a value
 * where a key is expected, a key in an array, closing the wrong container, a second
 * top-level value, nesting deeper than SQ_JSON_WRITER_MAX_DEPTH) and out-of-memory make the
 * call return -1 and the writer fail for good: every later call returns -1 too, and what is
 * in the buffer must be discarded. Strings are written as UTF-8: '"', '\\' and control
 * characters are escaped (short forms where JSON has them, \u00XX otherwise), valid UTF-8 is
 * copied as is, and each byte that does not begin a valid UTF-8 sequence (stray continuation
 * bytes, overlongs, surrogates, truncated sequences) is replaced by U+FFFD, so the output is
 * valid JSON whatever it is given.
 */

#define SQ_JSON_WRITER_MAX_DEPTH SQ_JSON_DEFAULT_MAX_DEPTH

/* Treat the fields as private; the struct is public only so that it can live on the stack. */
typedef struct sq_json_writer {
    sq_buf *out;
    int depth;       /* open containers */
    bool failed;     /* sticky: misuse or ENOMEM */
    bool done;       /* a complete top-level value has been written */
    bool want_value; /* in an object, a key has been written and its value is due */
    unsigned char level[SQ_JSON_WRITER_MAX_DEPTH]; /* per open container: object? non-empty? */
} sq_json_writer;

/* Starts a writer that appends to `out` (which it does not own; it must outlive the writer). */
void sq_json_writer_init(sq_json_writer *w, sq_buf *out);

/* 0 if exactly one complete value has been written and nothing failed, else -1. */
SQ_WUR int sq_json_writer_finish(const sq_json_writer *w);

SQ_WUR int sq_json_write_begin_object(sq_json_writer *w);
SQ_WUR int sq_json_write_end_object(sq_json_writer *w);
SQ_WUR int sq_json_write_begin_array(sq_json_writer *w);
SQ_WUR int sq_json_write_end_array(sq_json_writer *w);

/* An object key: a C string, or `n` bytes that may contain NUL (written as \u0000); `name`
 * may be NULL when `n` is 0. */
SQ_WUR int sq_json_write_key(sq_json_writer *w, const char *name);
SQ_WUR int sq_json_write_keyn(sq_json_writer *w, const char *name, size_t n);

/* A string value: a C string, or `n` bytes that may contain NUL (NULL if `n` is 0). */
SQ_WUR int sq_json_write_string(sq_json_writer *w, const char *s);
SQ_WUR int sq_json_write_stringn(sq_json_writer *w, const char *s, size_t n);

SQ_WUR int sq_json_write_int64(sq_json_writer *w, int64_t v);
SQ_WUR int sq_json_write_uint64(sq_json_writer *w, uint64_t v);

/* Finite values only (-1 for NaN and infinities, which JSON cannot express). Writes the
 * shortest of %.15g/%.16g/%.17g that reads back as the same double; assumes LC_NUMERIC "C". */
SQ_WUR int sq_json_write_double(sq_json_writer *w, double v);

SQ_WUR int sq_json_write_bool(sq_json_writer *w, bool v);
SQ_WUR int sq_json_write_null(sq_json_writer *w);

/* A value that is already JSON text (e.g. a stored payload), copied verbatim after being
 * validated with sq_json_validate: invalid text, or text that would nest the output deeper
 * than SQ_JSON_DEFAULT_MAX_DEPTH, fails the writer. */
SQ_WUR int sq_json_write_raw(sq_json_writer *w, const char *json, size_t n);

#endif
