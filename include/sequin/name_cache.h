/* A worker's cache of resolved names: a stream's number, a consumer's id, by the names (or
 * ids) a request's path gives. It saves most requests a round trip to the database. */
#ifndef SEQUIN_NAME_CACHE_H
#define SEQUIN_NAME_CACHE_H

#include <stdbool.h>
#include <stdint.h>

/*
 * An entry lives `ttl_ms`; one found stale earlier (a call says the stream or consumer is
 * gone) is dropped, and the caller resolves the name again. Every store call that takes a
 * number or id says when it no longer exists, so a stale entry never gives a wrong answer;
 * until it expires, a consumer deleted and created again under the same name makes one call
 * more (docs/operations.md, "Names resolved once a second"). Direct-mapped: a colliding name
 * takes the slot. Not shared between processes.
 */
typedef struct sq_name_cache sq_name_cache;

sq_name_cache *sq_name_cache_new(int ttl_ms); /* NULL: out of memory */
void sq_name_cache_free(sq_name_cache *c);    /* NULL is a no-op */

/* True with `*stream_num` and `consumer_id` (room for 37) filled when `stream` and `consumer`
 * ("" for a stream alone) have an entry younger than the ttl at `now_ms`. */
bool sq_name_cache_get(sq_name_cache *c, const char *stream, const char *consumer, int64_t now_ms,
                       int *stream_num, char *consumer_id);

/* Remembers what `stream` and `consumer` resolved to at `now_ms`. Names longer than 64 bytes
 * are not cached. */
void sq_name_cache_put(sq_name_cache *c, const char *stream, const char *consumer, int stream_num,
                       const char *consumer_id, int64_t now_ms);

/* Forgets the entry of `stream` and `consumer`, if it is theirs. */
void sq_name_cache_drop(sq_name_cache *c, const char *stream, const char *consumer);

#endif
