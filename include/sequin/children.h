/* The master's children by kind: a table of kinds (workers today), and one supervisor that
 * forks, reaps, respawns with backoff, retires and stops the children of every kind alike. */
#ifndef SEQUIN_CHILDREN_H
#define SEQUIN_CHILDREN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sequin/common.h"
#include "sequin/config.h"
#include "sequin/metrics.h"

/* What a child gets from the master. Everything is read-only and owned by the master; the
 * child is a forked copy, so it stays valid for the child's whole life. */
typedef struct sq_child_ctx {
    const sq_config *cfg;  /* the configuration to run with */
    const int *listen_fds; /* the listening sockets, shared by every child that accepts */
    size_t n_listen;
    sq_metrics *metrics; /* shared by every child of every generation; NULL: none kept */
    unsigned generation; /* 1 at start, +1 on each reload; for logs */
} sq_child_ctx;

/*
 * One kind of child: a row of sq_child_kinds. What the workers need, every kind gets: a child
 * that exits with SQ_EXIT_FATAL (worker.h) is not respawned, and once every child of its kind
 * has exited so, the master stops and exits 1; a reload replaces the children by new ones;
 * SIGTERM stops them, and is what they get when the master dies.
 */
typedef struct sq_child_kind {
    const char *name; /* in the log and as the child's process name: "worker" */
    /* How many to run with `cfg`; 0 runs none. Asked once, when the supervisor is made: like
     * `workers`, a count needs a restart to change. */
    size_t (*count)(const sq_config *cfg);
    /* Runs in the child just forked, and returns the status the process exits with. It starts
     * with the master's signals (HUP, TERM, INT, QUIT, CHLD, ALRM) blocked and their handlers
     * installed: it takes the signals it wants (the worker: a signalfd). */
    int (*run)(const sq_child_ctx *ctx);
    /* A child that ends is forked again after a delay that starts at backoff_min_ms and
     * doubles up to backoff_max_ms, so that one dying at once (a bad database, a bug on the
     * first request) does not fork in a loop; one that lived backoff_reset_ms starts over. */
    int backoff_min_ms, backoff_max_ms, backoff_reset_ms;
} sq_child_kind;

/* Every kind the master runs (kinds.c), started in this order. */
extern const sq_child_kind sq_child_kinds[];
extern const size_t sq_child_kinds_count;

/*
 * The delay before respawning a child of `kind` that lived `lived_ms`, given the delay
 * `*backoff_ms` the previous respawn left (backoff_min_ms for a child never respawned):
 * returns the delay and sets `*backoff_ms` to the next one. Pure.
 */
int sq_children_backoff(const sq_child_kind *kind, int64_t lived_ms, int *backoff_ms);

typedef struct sq_children sq_children;

/*
 * A supervisor for `n_kinds` rows of `kinds` (both must outlive it), with no child yet. It asks
 * each kind's count once, with env->cfg, and keeps that many slots for its whole life. `env` is
 * copied: its cfg, listen_fds and metrics are what every child gets (the pointers must outlive
 * the supervisor; the master changes *cfg between generations), its generation is set per
 * child. The calling process is the children's parent: they stop when it dies. Returns NULL
 * when out of memory.
 */
SQ_WUR sq_children *sq_children_create(const sq_child_kind *kinds, size_t n_kinds,
                                       const sq_child_ctx *env);

/* Frees the supervisor; it neither signals nor waits for the children. NULL is allowed. */
void sq_children_free(sq_children *c);

/*
 * Makes room for the children the next generation retires, so that
 * sq_children_start_generation cannot fail half-way. Returns 0, or -1 out of memory with
 * nothing changed. Call it before each sq_children_start_generation.
 */
SQ_WUR int sq_children_reserve(sq_children *c);

/*
 * Starts the next generation (the first at start): new children are forked first and only
 * then are the old ones sent SIGTERM, so the sockets never go unserved. A retiree still running
 * shutdown_timeout_ms later (of *env->cfg) is killed by sq_children_tend.
 */
void sq_children_start_generation(sq_children *c, int64_t now_ms);

/*
 * Reaps every child that has ended (waitpid without blocking) and logs how. A current child is
 * scheduled for a respawn after its backoff, or, if it exited with SQ_EXIT_FATAL, left dead,
 * unless the supervisor is stopping.
 */
void sq_children_reap(sq_children *c, int64_t now_ms);

/*
 * Forks the children whose respawn is due (none once stopping) and kills (SIGKILL) the
 * retirees past their deadline. Returns a kind whose children have all exited with
 * SQ_EXIT_FATAL (the master then stops), or NULL.
 */
const sq_child_kind *sq_children_tend(sq_children *c, int64_t now_ms);

/* The next time sq_children_tend has something to do, or INT64_MAX. */
int64_t sq_children_next_deadline(const sq_children *c);

/* Sends every child, current and retiring, SIGTERM, and respawns nothing from now on. Returns
 * how many children there were. */
size_t sq_children_stop(sq_children *c);

/* Sends every child SIGKILL; returns how many there were. */
size_t sq_children_kill(sq_children *c);

/* sq_children_kill, then waits until each one is gone (SIGKILL cannot be caught: a moment),
 * and respawns nothing from now on. Returns how many there were. */
size_t sq_children_kill_and_wait(sq_children *c);

/* Whether sq_children_stop or sq_children_kill_and_wait was called. */
bool sq_children_stopping(const sq_children *c);

/* How many children are running, current and retiring. */
size_t sq_children_running(const sq_children *c);

/* How many children of older generations are still finishing. */
size_t sq_children_retiring(const sq_children *c);

/* The current generation: 0 before the first sq_children_start_generation. */
unsigned sq_children_generation(const sq_children *c);

/* Writes the current generation's size, such as "2 workers" or "2 workers, 1 source" (kinds
 * with a count of 0 are left out; "no children" when every count is), into `buf`. */
void sq_children_describe(const sq_children *c, char *buf, size_t size);

#endif
