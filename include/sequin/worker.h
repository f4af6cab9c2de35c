/* A sequind worker process: an epoll loop that accepts on the listening sockets it shares with
 * the other workers and answers HTTP. The interface between the master and the worker. */
#ifndef SEQUIN_WORKER_H
#define SEQUIN_WORKER_H

#include <stddef.h>

#include "sequin/common.h"
#include "sequin/config.h"
#include "sequin/metrics.h"

/*
 * The exit status of a worker that must not be restarted: something that a new process
 * would hit again (nginx uses 2 the same way). The master does not respawn a worker that
 * exits with it; when every worker has, the master stops and exits 1. Any other status, or
 * death by a signal, is a crash: the worker is respawned with backoff.
 */
#define SQ_EXIT_FATAL 2

/* What the master hands a worker. Everything is read-only and owned by the master; the
 * worker is a forked copy, so it stays valid for the worker's whole life. */
typedef struct sq_worker_ctx {
    const sq_config *cfg;  /* the configuration to serve */
    const int *listen_fds; /* listening, non-blocking sockets, shared with the other workers */
    size_t n_listen;
    unsigned generation; /* 1 at start, +1 on each reload that started new workers; for logs */
    sq_metrics *metrics; /* shared by every worker of every generation; NULL: none kept */
} sq_worker_ctx;

/*
 * Runs a worker in the calling process until it is told to stop, and returns the status the
 * process should exit with. Call it only in a child the master has just forked, with every
 * signal it cares about blocked: it takes over the process's signal mask and dispositions.
 * SIGTERM (or the master dying) is a graceful stop: stop accepting, finish the requests in
 * flight, return 0. SIGQUIT returns 0 at once. SIGHUP and SIGINT are the master's business
 * and ignored here. Returns 1 if the loop cannot be set up (respawning may help) and
 * SQ_EXIT_FATAL when retrying cannot help. The listening sockets are closed on return.
 */
SQ_WUR int sq_worker_run(const sq_worker_ctx *ctx);

#endif
