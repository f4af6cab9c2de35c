/* The kinds of child the master runs, one row each (children.h): today the HTTP workers. A new
 * kind of process is one row here and the function it runs, not a second supervisor. */
#include <sched.h>
#include <unistd.h>

#include "sequin/children.h"
#include "sequin/push.h"
#include "sequin/source.h"
#include "sequin/worker.h"

static size_t cpu_count(void)
{
    cpu_set_t set;
    long n;

    /* The CPUs this process may run on (taskset, a cgroup cpuset), not all the machine's. */
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return (size_t)CPU_COUNT(&set);
    n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (size_t)n : 1;
}

/* `workers`, 0 (auto) being one per CPU. */
static size_t worker_count(const sq_config *cfg)
{
    return cfg->workers > 0 ? (size_t)cfg->workers : cpu_count();
}

static int worker_run(const sq_child_ctx *ctx)
{
    sq_worker_ctx w = {.cfg = ctx->cfg,
                       .listen_fds = ctx->listen_fds,
                       .n_listen = ctx->n_listen,
                       .generation = ctx->generation,
                       .metrics = ctx->metrics};

    return sq_worker_run(&w);
}

/* One sources process per node: it runs every source of the store, each in a thread, and the
 * lock of each decides which node streams it (docs/sources.md). */
static size_t one(const sq_config *cfg)
{
    (void)cfg;
    return 1;
}

static int sources_run(const sq_child_ctx *ctx)
{
    return sq_source_process_run(ctx->cfg);
}

/* One pushers process per node too: every node pushes, and the leases keep two nodes from
 * pushing one message at once (docs/push.md). */
static int pushers_run(const sq_child_ctx *ctx)
{
    return sq_push_process_run(ctx->cfg);
}

/* name, count, run, and the respawn backoff: first delay, longest delay, and how long a child
 * must live for the next failure to start from the first delay again (ms). */
const sq_child_kind sq_child_kinds[] = {
    {"worker", worker_count, worker_run, 100, 5000, 10000},
    {"sources", one, sources_run, 500, 30000, 60000},
    {"pushers", one, pushers_run, 500, 30000, 60000},
};
const size_t sq_child_kinds_count = SQ_ARRAY_LEN(sq_child_kinds);
