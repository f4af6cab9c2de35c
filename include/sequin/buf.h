/* Growing byte buffers and a bump-pointer arena: the two ways the code base owns memory. */
#ifndef SEQUIN_BUF_H
#define SEQUIN_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "sequin/common.h"

/*
 * A growing byte buffer. `data` is always NUL-terminated after a successful append (the
 * terminator is not counted in `len`), so it can be handed to C string functions. The
 * buffer owns `data`; pointers into it are invalidated by any append (it may move).
 * A zero-initialised sq_buf is a valid empty buffer.
 */
typedef struct sq_buf {
    char *data;
    size_t len;
    size_t cap;
} sq_buf;

/* Releases the buffer's memory and leaves it empty and reusable. */
void sq_buf_free(sq_buf *b);

/* Empties the buffer but keeps its memory for reuse. */
void sq_buf_reset(sq_buf *b);

/* Ensures room for `extra` more bytes plus the terminator. 0, or -1 on overflow/ENOMEM
 * (the buffer is unchanged then). */
SQ_WUR int sq_buf_reserve(sq_buf *b, size_t extra);

/* Append bytes, a C string, one byte, or formatted text. 0, or -1 with the buffer unchanged. */
SQ_WUR int sq_buf_append(sq_buf *b, const void *p, size_t n);
SQ_WUR int sq_buf_puts(sq_buf *b, const char *s);
SQ_WUR int sq_buf_putc(sq_buf *b, char c);
SQ_WUR SQ_PRINTF(2, 3) int sq_buf_printf(sq_buf *b, const char *fmt, ...);
SQ_WUR SQ_PRINTF(2, 0) int sq_buf_vprintf(sq_buf *b, const char *fmt, va_list ap);

/*
 * Hands the buffer's memory to the caller (free() it) and leaves the buffer empty.
 * Returns an allocated empty string for a buffer that never grew, NULL on ENOMEM.
 */
char *sq_buf_steal(sq_buf *b, size_t *len_out);

/*
 * A bump-pointer arena: many small allocations, one release. Memory comes from a chain of
 * blocks; nothing is freed individually. Typical owner: one HTTP request, one config load.
 * A zero-initialised sq_arena is a valid empty arena.
 */
typedef struct sq_arena_block sq_arena_block;
typedef struct sq_arena {
    sq_arena_block *head; /* the block being carved, newest first */
    size_t block_size;    /* size of the next block; 0 selects the default (4 KiB) */
    size_t allocated;     /* bytes handed out since the last reset, for limits and tests */
} sq_arena;

/* Returns `n` bytes aligned for any type, valid until sq_arena_reset/free; NULL on ENOMEM
 * or overflow. n == 0 returns a valid unique pointer. */
void *sq_arena_alloc(sq_arena *a, size_t n);

/* Like sq_arena_alloc, zero-filled. */
void *sq_arena_calloc(sq_arena *a, size_t count, size_t size);

/* Copies `n` bytes and appends a NUL; NULL on ENOMEM. */
char *sq_arena_strndup(sq_arena *a, const char *s, size_t n);
char *sq_arena_strdup(sq_arena *a, const char *s);

/* Formatted string in the arena; NULL on ENOMEM. */
SQ_PRINTF(2, 3) char *sq_arena_printf(sq_arena *a, const char *fmt, ...);

/* Invalidates every pointer handed out; keeps the first block for reuse. */
void sq_arena_reset(sq_arena *a);

/* Releases all memory; the arena is empty and reusable afterwards. */
void sq_arena_free(sq_arena *a);

/*
 * Formats a sentence into a caller's fixed error buffer (`err`, `errlen` bytes, always
 * NUL-terminated, truncated if need be) and returns SQ_ERR, so a failing path can end with
 * `return sq_fail(err, errlen, "...", ...)`.
 */
SQ_PRINTF(3, 4) int sq_fail(char *err, size_t errlen, const char *fmt, ...);

#endif
