/* Test helper: copies an input so that its last byte sits right before an unreadable page,
 * so a parser that reads one byte too far faults at once instead of passing by luck. */
#ifndef SEQUIN_TEST_GUARD_H
#define SEQUIN_TEST_GUARD_H

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct guarded {
    char *map;     /* start of the mapping */
    size_t maplen; /* whole mapping, including the guard page */
    char *data;    /* the copy; data + len is the first byte of the guard page */
} guarded;

/* Returns a pointer to a copy of `n` bytes of `src` ending at a PROT_NONE page; aborts on
 * failure (a test cannot continue without it). Release with guarded_free. */
static inline char *guarded_copy(guarded *g, const void *src, size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t body = (n + page - 1) / page * page;
    if (body == 0)
        body = page;
    g->maplen = body + page;
    g->map = mmap(NULL, g->maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g->map == MAP_FAILED)
        abort();
    if (mprotect(g->map + body, page, PROT_NONE) != 0)
        abort();
    g->data = g->map + body - n;
    if (n > 0)
        memcpy(g->data, src, n);
    return g->data;
}

static inline void guarded_free(guarded *g)
{
    munmap(g->map, g->maplen);
    g->map = NULL;
}

#endif
