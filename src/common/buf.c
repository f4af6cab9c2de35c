/* Growing byte buffers and the bump-pointer arena declared in sequin/buf.h. */
#include "sequin/buf.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sq_buf_free(sq_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void sq_buf_reset(sq_buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

int sq_buf_reserve(sq_buf *b, size_t extra)
{
    /* +1 keeps room for the terminator that every append maintains. */
    if (extra > SIZE_MAX - b->len - 1)
        return SQ_ERR;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return SQ_OK;

    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (p == NULL)
        return SQ_ERR;
    b->data = p;
    b->cap = cap;
    return SQ_OK;
}

int sq_buf_append(sq_buf *b, const void *p, size_t n)
{
    if (sq_buf_reserve(b, n) != SQ_OK)
        return SQ_ERR;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return SQ_OK;
}

int sq_buf_puts(sq_buf *b, const char *s)
{
    return sq_buf_append(b, s, strlen(s));
}

int sq_buf_putc(sq_buf *b, char c)
{
    return sq_buf_append(b, &c, 1);
}

int sq_buf_vprintf(sq_buf *b, const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    /* Try in the free space first: most formatted pieces are short and fit. */
    size_t room = b->cap > b->len ? b->cap - b->len : 0;
    int n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, copy);
    va_end(copy);
    if (n < 0)
        goto fail;
    if ((size_t)n >= room) {
        if (sq_buf_reserve(b, (size_t)n) != SQ_OK)
            goto fail;
        va_copy(copy, ap);
        n = vsnprintf(b->data + b->len, (size_t)n + 1, fmt, copy);
        va_end(copy);
        if (n < 0)
            goto fail;
    }
    b->len += (size_t)n;
    return SQ_OK;

fail:
    /* vsnprintf may have written into the spare room; restore the terminator. */
    if (b->data != NULL)
        b->data[b->len] = '\0';
    return SQ_ERR;
}

int sq_buf_printf(sq_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = sq_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

char *sq_buf_steal(sq_buf *b, size_t *len_out)
{
    char *p = b->data;
    size_t len = b->len;
    if (p == NULL) {
        p = calloc(1, 1);
        len = 0;
    }
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    if (len_out != NULL)
        *len_out = len;
    return p;
}

/* ---- arena ---------------------------------------------------------------------------- */

struct sq_arena_block {
    sq_arena_block *next;
    size_t size; /* usable bytes in mem[] */
    size_t used;
    alignas(max_align_t) unsigned char mem[];
};

#define ARENA_DEFAULT_BLOCK 4096
#define ARENA_ALIGN alignof(max_align_t)

static sq_arena_block *arena_new_block(size_t size)
{
    if (size > SIZE_MAX - sizeof(sq_arena_block))
        return NULL;
    sq_arena_block *blk = malloc(sizeof(sq_arena_block) + size);
    if (blk == NULL)
        return NULL;
    blk->next = NULL;
    blk->size = size;
    blk->used = 0;
    return blk;
}

void *sq_arena_alloc(sq_arena *a, size_t n)
{
    if (n > SIZE_MAX - (ARENA_ALIGN - 1))
        return NULL;
    /* Round up so the next allocation stays aligned; n == 0 still gets a unique address. */
    size_t need = (n + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
    if (need == 0)
        need = ARENA_ALIGN;

    sq_arena_block *blk = a->head;
    if (blk == NULL || blk->size - blk->used < need) {
        size_t base = a->block_size ? a->block_size : ARENA_DEFAULT_BLOCK;
        /* A large request gets a block of its own so the remainder of the current block
         * is not wasted; it goes second in the chain to keep carving the current one. */
        if (need > base / 4 && blk != NULL) {
            sq_arena_block *big = arena_new_block(need);
            if (big == NULL)
                return NULL;
            big->used = need;
            big->next = blk->next;
            blk->next = big;
            a->allocated += n;
            return big->mem;
        }
        blk = arena_new_block(need > base ? need : base);
        if (blk == NULL)
            return NULL;
        blk->next = a->head;
        a->head = blk;
    }
    void *p = blk->mem + blk->used;
    blk->used += need;
    a->allocated += n;
    return p;
}

void *sq_arena_calloc(sq_arena *a, size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size)
        return NULL;
    void *p = sq_arena_alloc(a, count * size);
    if (p != NULL)
        memset(p, 0, count * size);
    return p;
}

char *sq_arena_strndup(sq_arena *a, const char *s, size_t n)
{
    if (n == SIZE_MAX)
        return NULL;
    char *p = sq_arena_alloc(a, n + 1);
    if (p == NULL)
        return NULL;
    if (n > 0)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *sq_arena_strdup(sq_arena *a, const char *s)
{
    return sq_arena_strndup(a, s, strlen(s));
}

char *sq_arena_printf(sq_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *p = sq_arena_alloc(a, (size_t)n + 1);
    if (p == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void sq_arena_reset(sq_arena *a)
{
    /*
     * Keep one block of the base size for the next user and free the rest: keeping a block
     * made for one large request would pin that much memory for the arena's whole life.
     */
    size_t base = a->block_size ? a->block_size : ARENA_DEFAULT_BLOCK;
    sq_arena_block *keep = NULL;
    sq_arena_block *blk = a->head;
    while (blk != NULL) {
        sq_arena_block *next = blk->next;
        if (keep == NULL && blk->size == base)
            keep = blk;
        else
            free(blk);
        blk = next;
    }
    if (keep != NULL) {
        keep->used = 0;
        keep->next = NULL;
    }
    a->head = keep;
    a->allocated = 0;
}

void sq_arena_free(sq_arena *a)
{
    sq_arena_block *blk = a->head;
    while (blk != NULL) {
        sq_arena_block *next = blk->next;
        free(blk);
        blk = next;
    }
    a->head = NULL;
    a->allocated = 0;
}

int sq_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return SQ_ERR;
}
