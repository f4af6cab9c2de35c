/* Group commit: the calls of several queued requests run as one (one transaction, one round
 * trip), through the route operations' group functions (handlers.h). The worker gathers a
 * group from its queue, begins and finishes it here, and hands each request its share; this
 * module holds what the members' calls need together while that happens. */
#ifndef SEQUIN_GROUP_H
#define SEQUIN_GROUP_H

#include <stdbool.h>
#include <stddef.h>

#include "sequin/common.h"
#include "sequin/handlers.h"
#include "sequin/store.h"

/* The most requests one shared call serves. */
#define SQ_GROUP_MAX_REQUESTS 64

/* A worker's group scratch: the keys of the group being gathered, and the buffers of the
 * shared call's inputs and results. One per worker; one group is gathered, begun or finished
 * at a time (each of those runs to its end without waiting). */
typedef struct sq_group sq_group;

sq_group *sq_group_new(void);    /* NULL: out of memory (requests then run alone) */
void sq_group_free(sq_group *g); /* NULL is a no-op */

/* A group being gathered, led by one request. */
typedef struct sq_group_gather {
    const sq_group_ops *ops;
    sq_handler *m[SQ_GROUP_MAX_REQUESTS]; /* the lead first */
    size_t n;
    size_t total; /* items together */
} sq_group_gather;

/* Opens a group led by `lead`: false when its current call is never shared. */
bool sq_group_open(sq_group *g, sq_group_gather *gg, sq_handler *lead);

/* Whether queued request `q` joins the group (then it is a member). */
bool sq_group_offer(sq_group *g, sq_group_gather *gg, sq_handler *q);

/* Begins the members' shared call on `s`. */
SQ_WUR int sq_group_begin(sq_group *g, const sq_group_gather *gg, sq_store *s, char *err,
                          size_t errlen);

/* Finishes the call over on `s` that `ops` began for the `n` members `m`: member i's share
 * goes to shares[i], valid until sq_group_done. Returns the call's outcome. */
SQ_WUR int sq_group_finish(sq_group *g, const sq_group_ops *ops, sq_handler *const *m, size_t n,
                           sq_store *s, sq_group_share *shares, char *err, size_t errlen);

/* The shares were handed out: what they pointed at is released. */
void sq_group_done(sq_group *g);

/* ---- for the route operations' group functions ------------------------------------------ */

/* Whether one of `msgs` has a key of the group being gathered, and adding them. Keys are
 * compared by hash: a rare false clash only makes a request wait for the next call. */
bool sq_group_keys_clash(const sq_group *g, const sq_message_in *msgs, size_t n);
void sq_group_keys_add(sq_group *g, const sq_message_in *msgs, size_t n);

/* A buffer of at least `bytes`, the group's until sq_group_done; NULL when out of memory. */
void *sq_group_buffer(sq_group *g, size_t bytes);

/* The arena for what a shared call's results hold (strings), reset by sq_group_done. */
sq_arena *sq_group_arena(sq_group *g);

#endif
