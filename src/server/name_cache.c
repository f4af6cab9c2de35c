/* A worker's cache of resolved names: direct-mapped slots with an expiry each. */
#include "sequin/name_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_SLOTS 256 /* direct-mapped: a colliding name takes the slot */
#define NAME_KEY 65     /* a name (at most 64 bytes) or an id (36), and its NUL */

struct cache_entry {
    char stream[NAME_KEY];   /* as the path gave it: a name or an id */
    char consumer[NAME_KEY]; /* "" for a stream alone */
    int stream_num;
    char consumer_id[37];
    int64_t expires_ms; /* 0: empty */
};

struct sq_name_cache {
    int ttl_ms;
    struct cache_entry slots[CACHE_SLOTS];
};

sq_name_cache *sq_name_cache_new(int ttl_ms)
{
    sq_name_cache *c = calloc(1, sizeof *c);
    if (c != NULL)
        c->ttl_ms = ttl_ms;
    return c;
}

void sq_name_cache_free(sq_name_cache *c)
{
    free(c);
}

static struct cache_entry *slot(sq_name_cache *c, const char *stream, const char *consumer)
{
    uint32_t h = 2166136261u; /* FNV-1a over both names */
    for (const char *p = stream; *p != '\0'; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    h = (h ^ 0xff) * 16777619u;
    for (const char *p = consumer; *p != '\0'; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return &c->slots[h % CACHE_SLOTS];
}

bool sq_name_cache_get(sq_name_cache *c, const char *stream, const char *consumer, int64_t now_ms,
                       int *stream_num, char *consumer_id)
{
    if (c == NULL)
        return false;
    const struct cache_entry *e = slot(c, stream, consumer);
    if (e->expires_ms <= now_ms || strcmp(e->stream, stream) != 0 ||
        strcmp(e->consumer, consumer) != 0)
        return false;
    *stream_num = e->stream_num;
    memcpy(consumer_id, e->consumer_id, sizeof e->consumer_id);
    return true;
}

void sq_name_cache_put(sq_name_cache *c, const char *stream, const char *consumer, int stream_num,
                       const char *consumer_id, int64_t now_ms)
{
    if (c == NULL || strlen(stream) >= NAME_KEY || strlen(consumer) >= NAME_KEY)
        return;
    struct cache_entry *e = slot(c, stream, consumer);
    snprintf(e->stream, sizeof e->stream, "%s", stream);
    snprintf(e->consumer, sizeof e->consumer, "%s", consumer);
    e->stream_num = stream_num;
    snprintf(e->consumer_id, sizeof e->consumer_id, "%s", consumer_id);
    e->expires_ms = now_ms + c->ttl_ms;
}

void sq_name_cache_drop(sq_name_cache *c, const char *stream, const char *consumer)
{
    if (c == NULL)
        return;
    struct cache_entry *e = slot(c, stream, consumer);
    if (strcmp(e->stream, stream) == 0 && strcmp(e->consumer, consumer) == 0)
        e->expires_ms = 0;
}
