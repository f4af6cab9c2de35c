/* Group commit: gathering queued requests whose calls can be shared, and running the shared
 * call through their route's group operations. */
#include "sequin/group.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The keys of the group being gathered, a hash set with open addressing: a power of two,
 * over twice the most messages a group carries. An entry is current when its `gen` is the
 * group's: opening a group empties the set in O(1). */
#define KEYSET_SLOTS 32768

struct keyslot {
    uint64_t hash;
    uint32_t gen;
};

struct sq_group {
    struct keyslot *keyset;
    uint32_t keygen;
    void *buf;
    size_t buf_size;
    sq_arena arena;
};

sq_group *sq_group_new(void)
{
    sq_group *g = calloc(1, sizeof *g);
    if (g == NULL)
        return NULL;
    g->keyset = calloc(KEYSET_SLOTS, sizeof *g->keyset);
    if (g->keyset == NULL) {
        free(g);
        return NULL;
    }
    return g;
}

void sq_group_free(sq_group *g)
{
    if (g == NULL)
        return;
    free(g->keyset);
    free(g->buf);
    sq_arena_free(&g->arena);
    free(g);
}

bool sq_group_open(sq_group *g, sq_group_gather *gg, sq_handler *lead)
{
    const sq_group_ops *ops = sq_handler_grouping(lead);
    if (ops == NULL || g == NULL)
        return false;
    if (++g->keygen == 0) { /* wrapped: entries of a group long gone would look current */
        memset(g->keyset, 0, KEYSET_SLOTS * sizeof *g->keyset);
        g->keygen = 1;
    }
    *gg = (sq_group_gather){.ops = ops, .m = {lead}, .n = 1, .total = ops->items(lead)};
    return ops->joins(g, lead, lead);
}

bool sq_group_offer(sq_group *g, sq_group_gather *gg, sq_handler *q)
{
    if (gg->n == SQ_GROUP_MAX_REQUESTS || sq_handler_grouping(q) != gg->ops)
        return false;
    size_t items = gg->ops->items(q);
    if (gg->total + items > gg->ops->limit && gg->ops->limit > 0)
        return false;
    if (!gg->ops->joins(g, gg->m[0], q))
        return false;
    gg->m[gg->n++] = q;
    gg->total += items;
    return true;
}

int sq_group_begin(sq_group *g, const sq_group_gather *gg, sq_store *s, char *err, size_t errlen)
{
    return gg->ops->begin(g, gg->m, gg->n, gg->total, s, err, errlen);
}

int sq_group_finish(sq_group *g, const sq_group_ops *ops, sq_handler *const *m, size_t n,
                    sq_store *s, sq_group_share *shares, char *err, size_t errlen)
{
    return ops->finish(g, m, n, s, shares, err, errlen);
}

void sq_group_done(sq_group *g)
{
    if (g != NULL)
        sq_arena_reset(&g->arena);
}

static uint64_t key_hash(const sq_message_in *m)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < m->key_len; i++)
        h = (h ^ (unsigned char)m->key[i]) * 1099511628211ull;
    return h;
}

bool sq_group_keys_clash(const sq_group *g, const sq_message_in *msgs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t h = key_hash(&msgs[i]);
        for (size_t j = h & (KEYSET_SLOTS - 1);; j = (j + 1) & (KEYSET_SLOTS - 1)) {
            const struct keyslot *k = &g->keyset[j];
            if (k->gen != g->keygen)
                break;
            if (k->hash == h)
                return true;
        }
    }
    return false;
}

void sq_group_keys_add(sq_group *g, const sq_message_in *msgs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t h = key_hash(&msgs[i]);
        size_t j = h & (KEYSET_SLOTS - 1);
        while (g->keyset[j].gen == g->keygen && g->keyset[j].hash != h)
            j = (j + 1) & (KEYSET_SLOTS - 1);
        g->keyset[j] = (struct keyslot){h, g->keygen};
    }
}

void *sq_group_buffer(sq_group *g, size_t bytes)
{
    if (bytes > g->buf_size) {
        void *grown = realloc(g->buf, bytes);
        if (grown == NULL)
            return NULL;
        g->buf = grown;
        g->buf_size = bytes;
    }
    return g->buf;
}

sq_arena *sq_group_arena(sq_group *g)
{
    return &g->arena;
}
