/* The supervisor of the master's children: forks them by kind, reaps them, respawns them with
 * their kind's backoff, replaces them at a reload and stops them, the same code for every kind. */
#include "sequin/children.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sequin/log.h"
#include "sequin/worker.h"

/* One child of the current generation. */
struct slot {
    pid_t pid; /* 0: not running */
    int64_t started_ms;
    int64_t respawn_ms; /* pid 0 and not fatal: fork again at this time */
    int backoff_ms;     /* the delay before the next respawn */
    bool fatal;         /* exited with SQ_EXIT_FATAL: not respawned */
};

/* The current children of one kind: the kind's count, asked once (sq_children_create). */
struct group {
    const sq_child_kind *kind;
    struct slot *slots;
    size_t n;
};

/* A child of an older generation, told to stop; killed if it is still there at kill_ms. */
struct retiree {
    pid_t pid;
    const sq_child_kind *kind;
    unsigned generation;
    int64_t kill_ms;
};

struct sq_children {
    struct group *groups;
    size_t n_groups;
    struct retiree *retirees;
    size_t n_retirees, cap_retirees;
    sq_child_ctx env;
    pid_t parent;
    unsigned generation;
    bool stopping;
};

int sq_children_backoff(const sq_child_kind *kind, int64_t lived_ms, int *backoff_ms)
{
    int delay = lived_ms >= kind->backoff_reset_ms ? kind->backoff_min_ms : *backoff_ms;

    *backoff_ms = delay > kind->backoff_max_ms / 2 ? kind->backoff_max_ms : delay * 2;
    return delay;
}

sq_children *sq_children_create(const sq_child_kind *kinds, size_t n_kinds, const sq_child_ctx *env)
{
    sq_children *c = calloc(1, sizeof *c);

    if (c == NULL)
        goto fail;
    c->groups = calloc(n_kinds + 1, sizeof *c->groups);
    if (c->groups == NULL)
        goto fail;
    c->n_groups = n_kinds;
    for (size_t i = 0; i < n_kinds; i++) {
        struct group *g = &c->groups[i];
        g->kind = &kinds[i];
        g->n = kinds[i].count(env->cfg);
        g->slots = calloc(g->n + 1, sizeof *g->slots);
        if (g->slots == NULL)
            goto fail;
    }
    c->env = *env;
    c->parent = getpid();
    return c;
fail:
    sq_children_free(c);
    return NULL;
}

void sq_children_free(sq_children *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n_groups; i++)
        free(c->groups[i].slots);
    free(c->groups);
    free(c->retirees);
    free(c);
}

int sq_children_reserve(sq_children *c)
{
    size_t retiring = c->n_retirees;
    struct retiree *r;

    for (size_t i = 0; i < c->n_groups; i++)
        retiring += c->groups[i].n; /* at most, every current one retires */
    if (retiring <= c->cap_retirees)
        return 0;
    r = realloc(c->retirees, retiring * sizeof *r);
    if (r == NULL)
        return -1;
    c->retirees = r;
    c->cap_retirees = retiring;
    return 0;
}

/* In the child just forked: becomes a child of `kind` and never returns. */
static SQ_NORETURN void run_child(const sq_children *c, const sq_child_kind *kind)
{
    sq_child_ctx ctx = c->env;

    ctx.generation = c->generation;
    sq_log_set_process(kind->name);
    /* "sequind-worker", "sequind-sources" in ps and top (at most 15 characters). */
    char title[16];
    snprintf(title, sizeof title, "sequind-%s", kind->name);
    prctl(PR_SET_NAME, title);
    /* A master that dies, even by SIGKILL, stops its children the way it would have, instead
     * of leaving them to run unsupervised. The check closes the race with a master gone
     * already. */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != c->parent)
        exit(0);
    exit(kind->run(&ctx));
}

static void spawn(sq_children *c, const struct group *g, struct slot *s, int64_t now)
{
    pid_t pid = fork();

    if (pid == 0)
        run_child(c, g->kind);
    if (pid < 0) {
        const char *why = strerror(errno);
        int delay = sq_children_backoff(g->kind, 0, &s->backoff_ms);
        sq_error("cannot fork a %s: %s; trying again in %d ms", g->kind->name, why, delay);
        s->pid = 0;
        s->respawn_ms = now + delay;
        return;
    }
    s->pid = pid;
    s->started_ms = now;
    sq_info("%s %ld started (generation %u)", g->kind->name, (long)pid, c->generation);
}

void sq_children_start_generation(sq_children *c, int64_t now_ms)
{
    size_t first = c->n_retirees;
    int64_t kill_ms = now_ms + c->env.cfg->shutdown_timeout_ms;

    for (size_t i = 0; i < c->n_groups; i++) {
        struct group *g = &c->groups[i];
        for (size_t j = 0; j < g->n; j++) {
            struct slot *s = &g->slots[j];
            if (s->pid > 0) /* room was reserved (sq_children_reserve) */
                c->retirees[c->n_retirees++] = (struct retiree){
                    .pid = s->pid,
                    .kind = g->kind,
                    .generation = c->generation,
                    .kill_ms = kill_ms,
                };
            *s = (struct slot){.backoff_ms = g->kind->backoff_min_ms, .respawn_ms = now_ms};
        }
    }
    c->generation++;
    /* Every new child is forked before an old one is told to stop. */
    (void)sq_children_tend(c, now_ms);
    for (size_t i = first; i < c->n_retirees; i++)
        (void)kill(c->retirees[i].pid, SIGTERM);
}

/* "exited with status 1", "was killed by signal 9 (Killed)". */
static void describe_exit(int status, char *buf, size_t size)
{
    if (WIFEXITED(status))
        snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, size, "was killed by signal %d (%s)%s", WTERMSIG(status),
                 strsignal(WTERMSIG(status)), WCOREDUMP(status) ? ", core dumped" : "");
    else
        snprintf(buf, size, "ended with wait status %d", status);
}

static void on_exit_current(sq_children *c, const struct group *g, struct slot *s, int status,
                            int64_t now)
{
    const char *name = g->kind->name;
    char how[128];
    long pid = (long)s->pid;
    int64_t lived = now - s->started_ms;

    describe_exit(status, how, sizeof how);
    s->pid = 0;
    if (c->stopping) {
        sq_info("%s %ld %s", name, pid, how);
        return;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == SQ_EXIT_FATAL) {
        s->fatal = true;
        sq_error("%s %ld %s, the fatal status: not respawned", name, pid, how);
        return;
    }
    int delay = sq_children_backoff(g->kind, lived, &s->backoff_ms);
    sq_warn("%s %ld %s after %lld ms; respawning in %d ms", name, pid, how, (long long)lived,
            delay);
    s->respawn_ms = now + delay;
}

static void on_exit_retiree(sq_children *c, size_t i, int status)
{
    const struct retiree *r = &c->retirees[i];
    char how[128];

    describe_exit(status, how, sizeof how);
    sq_log(WIFEXITED(status) && WEXITSTATUS(status) == 0 ? SQ_LOG_INFO : SQ_LOG_WARN,
           "%s %ld of generation %u %s", r->kind->name, (long)r->pid, r->generation, how);
    c->retirees[i] = c->retirees[--c->n_retirees];
}

/* The current child `pid` (its group in *group), or NULL. */
static struct slot *find_current(sq_children *c, pid_t pid, struct group **group)
{
    for (size_t i = 0; i < c->n_groups; i++) {
        struct group *g = &c->groups[i];
        for (size_t j = 0; j < g->n; j++) {
            if (g->slots[j].pid == pid) {
                *group = g;
                return &g->slots[j];
            }
        }
    }
    return NULL;
}

void sq_children_reap(sq_children *c, int64_t now_ms)
{
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        struct group *g = NULL;
        struct slot *s = find_current(c, pid, &g);
        size_t i;

        if (s != NULL) {
            on_exit_current(c, g, s, status, now_ms);
            continue;
        }
        for (i = 0; i < c->n_retirees && c->retirees[i].pid != pid; i++)
            ;
        if (i < c->n_retirees)
            on_exit_retiree(c, i, status);
    }
}

const sq_child_kind *sq_children_tend(sq_children *c, int64_t now_ms)
{
    const sq_child_kind *all_fatal = NULL;

    for (size_t i = 0; i < c->n_groups && !c->stopping; i++) {
        struct group *g = &c->groups[i];
        size_t fatal = 0;

        for (size_t j = 0; j < g->n; j++) {
            struct slot *s = &g->slots[j];
            fatal += s->fatal;
            if (s->pid == 0 && !s->fatal && now_ms >= s->respawn_ms)
                spawn(c, g, s, now_ms);
        }
        /* None of them can run: the master says so by stopping (exit 1) rather than hold the
         * port with nobody behind it. */
        if (g->n > 0 && fatal == g->n)
            all_fatal = g->kind;
    }
    for (size_t i = 0; i < c->n_retirees; i++) {
        struct retiree *r = &c->retirees[i];
        if (r->kill_ms != INT64_MAX && now_ms >= r->kill_ms) {
            sq_warn("%s %ld of generation %u still running after shutdown_timeout_ms: killed",
                    r->kind->name, (long)r->pid, r->generation);
            (void)kill(r->pid, SIGKILL);
            r->kill_ms = INT64_MAX;
        }
    }
    return all_fatal;
}

int64_t sq_children_next_deadline(const sq_children *c)
{
    int64_t next = INT64_MAX;

    for (size_t i = 0; i < c->n_groups && !c->stopping; i++) {
        const struct group *g = &c->groups[i];
        for (size_t j = 0; j < g->n; j++) {
            const struct slot *s = &g->slots[j];
            if (s->pid == 0 && !s->fatal && s->respawn_ms < next)
                next = s->respawn_ms;
        }
    }
    for (size_t i = 0; i < c->n_retirees; i++) {
        if (c->retirees[i].kill_ms < next)
            next = c->retirees[i].kill_ms;
    }
    return next;
}

/* Sends every child, current and retiring, `sig`; returns how many. */
static size_t signal_all(sq_children *c, int sig)
{
    size_t n = 0;

    for (size_t i = 0; i < c->n_groups; i++) {
        const struct group *g = &c->groups[i];
        for (size_t j = 0; j < g->n; j++)
            n += g->slots[j].pid > 0 && kill(g->slots[j].pid, sig) == 0;
    }
    for (size_t i = 0; i < c->n_retirees; i++)
        n += kill(c->retirees[i].pid, sig) == 0;
    return n;
}

size_t sq_children_stop(sq_children *c)
{
    c->stopping = true;
    return signal_all(c, SIGTERM);
}

size_t sq_children_kill(sq_children *c)
{
    return signal_all(c, SIGKILL);
}

size_t sq_children_kill_and_wait(sq_children *c)
{
    size_t n = sq_children_kill(c);

    c->stopping = true;
    for (size_t i = 0; i < c->n_groups; i++) {
        struct group *g = &c->groups[i];
        for (size_t j = 0; j < g->n; j++) {
            if (g->slots[j].pid > 0)
                (void)waitpid(g->slots[j].pid, NULL, 0);
            g->slots[j].pid = 0;
        }
    }
    for (size_t i = 0; i < c->n_retirees; i++)
        (void)waitpid(c->retirees[i].pid, NULL, 0);
    c->n_retirees = 0;
    return n;
}

bool sq_children_stopping(const sq_children *c)
{
    return c->stopping;
}

size_t sq_children_running(const sq_children *c)
{
    size_t n = c->n_retirees;

    for (size_t i = 0; i < c->n_groups; i++) {
        for (size_t j = 0; j < c->groups[i].n; j++)
            n += c->groups[i].slots[j].pid > 0;
    }
    return n;
}

size_t sq_children_retiring(const sq_children *c)
{
    return c->n_retirees;
}

unsigned sq_children_generation(const sq_children *c)
{
    return c->generation;
}

void sq_children_describe(const sq_children *c, char *buf, size_t size)
{
    size_t len = 0;

    snprintf(buf, size, "no children");
    for (size_t i = 0; i < c->n_groups; i++) {
        const struct group *g = &c->groups[i];
        if (g->n == 0 || len >= size)
            continue;
        int n = snprintf(buf + len, size - len, "%s%zu %s%s", len > 0 ? ", " : "", g->n,
                         g->kind->name, g->n == 1 ? "" : "s");
        if (n < 0)
            break;
        len += (size_t)n;
    }
}
