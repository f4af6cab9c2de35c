/* The supervisor of the master's children: the workers' backoff, then a table of test kinds,
 * each with a count and a backoff of its own, forked, respawned, replaced and stopped by the same
 * code the master runs. */
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "sequin/children.h"
#include "sequin/worker.h"

#define WAIT_MS 5000

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the workers' row ----------------------------------------------------------------------- */

/* docs/operations.md, "Supervision": 100 ms, doubling up to 5 s, 100 ms again after 10 s. */
static void test_worker_backoff(void **state)
{
    (void)state;
    const sq_child_kind *w = NULL;
    static const struct {
        int64_t lived_ms;
        int delay_ms;
    } crashes[] = {
        {0, 100},   {50, 200},  {9999, 400},  {10, 800}, {10, 1600},   {10, 3200},
        {10, 5000}, {10, 5000}, {10000, 100}, {10, 200}, {60000, 100},
    };
    int backoff;

    for (size_t i = 0; i < sq_child_kinds_count; i++) {
        if (strcmp(sq_child_kinds[i].name, "worker") == 0)
            w = &sq_child_kinds[i];
    }
    assert_non_null(w);
    backoff = w->backoff_min_ms;
    for (size_t i = 0; i < SQ_ARRAY_LEN(crashes); i++) {
        int delay = sq_children_backoff(w, crashes[i].lived_ms, &backoff);
        if (delay != crashes[i].delay_ms)
            fail_msg("crash %zu: respawn in %d ms, not %d", i, delay, crashes[i].delay_ms);
    }
}

/* ---- test kinds, really forked -------------------------------------------------------------- */

/* What a child tells the test when it starts: one write to a pipe, atomic (under PIPE_BUF). */
struct report {
    char kind[16];
    unsigned generation;
    pid_t pid;
    int64_t at_ms; /* the child's CLOCK_MONOTONIC, the same clock as the test's */
};

static int report_fd = -1;

/* Read by each child as they were when it was forked: the test changes them between forks. */
static size_t alpha_count;
static bool alpha_ignores_term;
/* How many betas have started, counted by the betas themselves in memory shared with them. */
static int *beta_starts;

static void report(const char *kind, const sq_child_ctx *ctx)
{
    struct report r = {.generation = ctx->generation, .pid = getpid(), .at_ms = now_ms()};

    snprintf(r.kind, sizeof r.kind, "%s", kind);
    if (write(report_fd, &r, sizeof r) != (ssize_t)sizeof r)
        _exit(99);
}

static SQ_NORETURN void wait_for_a_signal(void)
{
    for (;;)
        pause();
}

/* The count of the test's `workers: auto`: what it says may change, what runs must not. */
static size_t count_alpha(const sq_config *cfg)
{
    (void)cfg;
    return alpha_count;
}

static size_t count_one(const sq_config *cfg)
{
    (void)cfg;
    return 1;
}

static size_t count_two(const sq_config *cfg)
{
    (void)cfg;
    return 2;
}

/* Runs until SIGTERM (default action), or past it when told to ignore it. */
static int run_alpha(const sq_child_ctx *ctx)
{
    if (alpha_ignores_term)
        signal(SIGTERM, SIG_IGN);
    report("alpha", ctx);
    wait_for_a_signal();
}

/* The first three betas crash at once (status 3); the next ones run until SIGTERM. */
static int run_beta(const sq_child_ctx *ctx)
{
    int n = __atomic_fetch_add(beta_starts, 1, __ATOMIC_SEQ_CST);

    report("beta", ctx);
    if (n < 3)
        return 3;
    wait_for_a_signal();
}

static int run_gamma(const sq_child_ctx *ctx)
{
    report("gamma", ctx);
    return SQ_EXIT_FATAL;
}

/* The test's kinds table: name, count, run, backoff min, max and reset. alpha and beta have
 * nothing in common but the supervisor (beta's backoff is 20 to 40 ms); gamma's children all
 * exit with SQ_EXIT_FATAL. */
static const sq_child_kind test_kinds[] = {
    {"alpha", count_alpha, run_alpha, 100, 5000, 10000},
    {"beta", count_one, run_beta, 20, 40, 10000},
    {"gamma", count_two, run_gamma, 10, 10, 10000},
};
static const sq_child_kind *const two_kinds = &test_kinds[0], *const fatal_kind = &test_kinds[2];

struct harness {
    sq_children *c;
    sq_config cfg;
    int pipe[2];
    struct report seen[256];
    size_t n_seen;
    const sq_child_kind *fatal; /* the last kind sq_children_tend said stops the master */
};

static int setup(void **state)
{
    static struct harness h;

    memset(&h, 0, sizeof h);
    h.cfg.shutdown_timeout_ms = 2000;
    alpha_count = 2;
    alpha_ignores_term = false;
    if (beta_starts == NULL)
        beta_starts = mmap(NULL, sizeof *beta_starts, PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (beta_starts == MAP_FAILED)
        return -1;
    *beta_starts = 0;
    if (pipe(h.pipe) != 0 || fcntl(h.pipe[0], F_SETFL, O_NONBLOCK) != 0)
        return -1;
    report_fd = h.pipe[1];
    /* cmocka's buffered output would be written again by every child that exits */
    fflush(stdout);
    *state = &h;
    return 0;
}

static int teardown(void **state)
{
    struct harness *h = *state;

    if (h->c != NULL)
        (void)sq_children_kill_and_wait(h->c);
    sq_children_free(h->c);
    close(h->pipe[0]);
    close(h->pipe[1]);
    return 0;
}

static void start(struct harness *h, const sq_child_kind *kinds, size_t n)
{
    h->c = sq_children_create(kinds, n, &(sq_child_ctx){.cfg = &h->cfg});
    assert_non_null(h->c);
    assert_int_equal(sq_children_reserve(h->c), 0);
    sq_children_start_generation(h->c, now_ms());
}

/* One turn of the master's loop, without its signals: reads the reports that came, reaps what
 * ended, and lets the supervisor respawn and kill what is due. */
static void step(struct harness *h)
{
    struct pollfd p = {.fd = h->pipe[0], .events = POLLIN};
    struct report r;
    const sq_child_kind *fatal;

    (void)poll(&p, 1, 5);
    while (read(h->pipe[0], &r, sizeof r) == (ssize_t)sizeof r) {
        assert_true(h->n_seen < SQ_ARRAY_LEN(h->seen));
        h->seen[h->n_seen++] = r;
    }
    sq_children_reap(h->c, now_ms());
    if ((fatal = sq_children_tend(h->c, now_ms())) != NULL)
        h->fatal = fatal;
}

#define WAIT_UNTIL(h, cond)                                                                        \
    for (int64_t end_ = now_ms() + WAIT_MS; !(cond); step(h)) {                                    \
        if (now_ms() > end_)                                                                       \
            fail_msg("not after %d ms: %s", WAIT_MS, #cond);                                       \
    }

/* How many children of `kind` started (of `generation`, or of any when 0). */
static size_t started(const struct harness *h, const char *kind, unsigned generation)
{
    size_t n = 0;
    for (size_t i = 0; i < h->n_seen; i++)
        n += strcmp(h->seen[i].kind, kind) == 0 &&
             (generation == 0 || h->seen[i].generation == generation);
    return n;
}

/* The pid of the `n`th child of `kind` that started, from 0. */
static pid_t nth(const struct harness *h, const char *kind, size_t n)
{
    for (size_t i = 0, k = 0; i < h->n_seen; i++) {
        if (strcmp(h->seen[i].kind, kind) == 0 && k++ == n)
            return h->seen[i].pid;
    }
    fail_msg("%s %zu never started", kind, n);
    return 0;
}

static void assert_described(const struct harness *h, const char *want)
{
    char what[128];
    sq_children_describe(h->c, what, sizeof what);
    assert_string_equal(what, want);
}

static void test_kinds_table_drives_supervision(void **state)
{
    struct harness *h = *state;

    start(h, two_kinds, 2);
    assert_int_equal(sq_children_generation(h->c), 1);
    assert_described(h, "2 alphas, 1 beta");

    /* beta crashes and is respawned on its own backoff, 20 then 40 ms and 40 again, and the
     * fourth stays up; alpha is left alone. */
    WAIT_UNTIL(h, started(h, "beta", 0) == 4 && sq_children_running(h->c) == 3);
    for (size_t i = 0, k = 0, prev = 0; i < h->n_seen; i++) {
        int64_t want = k == 1 ? 20 : 40;
        if (strcmp(h->seen[i].kind, "beta") != 0)
            continue;
        if (k > 0 && h->seen[i].at_ms - h->seen[prev].at_ms < want)
            fail_msg("beta respawn %zu came %lld ms after the one before, under %lld ms", k,
                     (long long)(h->seen[i].at_ms - h->seen[prev].at_ms), (long long)want);
        prev = i;
        k++;
    }
    assert_int_equal(started(h, "alpha", 1), 2);
    pid_t old[] = {nth(h, "alpha", 0), nth(h, "alpha", 1), nth(h, "beta", 3)};

    /* A reload, by which time alpha's count says 3 (as cpu_count can after a cpuset change):
     * the count asked at start stays. New children replace the old, which get SIGTERM. */
    alpha_count = 3;
    assert_int_equal(sq_children_reserve(h->c), 0);
    sq_children_start_generation(h->c, now_ms());
    assert_int_equal(sq_children_generation(h->c), 2);
    assert_int_equal(sq_children_retiring(h->c), 3);
    assert_described(h, "2 alphas, 1 beta");
    WAIT_UNTIL(h, sq_children_retiring(h->c) == 0 && sq_children_running(h->c) == 3 &&
                      started(h, "alpha", 2) == 2 && started(h, "beta", 2) == 1);
    for (size_t i = 0; i < SQ_ARRAY_LEN(old); i++)
        assert_int_equal(kill(old[i], 0), -1);

    /* SIGTERM stops them all; nothing is respawned. */
    size_t seen = h->n_seen;
    assert_int_equal(sq_children_stop(h->c), 3);
    assert_true(sq_children_stopping(h->c));
    WAIT_UNTIL(h, sq_children_running(h->c) == 0);
    for (int i = 0; i < 10; i++)
        step(h);
    assert_int_equal(h->n_seen, seen);
    assert_null(h->fatal);
}

static void test_all_fatal_stops_the_master(void **state)
{
    struct harness *h = *state;

    /* Both gammas stay dead, though their backoff is 10 ms, and once both have exited so,
     * the supervisor names their kind: the master stops. */
    start(h, fatal_kind, 1);
    WAIT_UNTIL(h, h->fatal != NULL && sq_children_running(h->c) == 0);
    for (int i = 0; i < 10; i++)
        step(h);
    assert_string_equal(h->fatal->name, "gamma");
    assert_int_equal(started(h, "gamma", 0), 2);
}

static void test_retiree_killed_at_the_deadline(void **state)
{
    struct harness *h = *state;

    h->cfg.shutdown_timeout_ms = 300;
    alpha_ignores_term = true;
    start(h, two_kinds, 1);
    WAIT_UNTIL(h, started(h, "alpha", 1) == 2);
    pid_t old[] = {nth(h, "alpha", 0), nth(h, "alpha", 1)};

    alpha_ignores_term = false;
    assert_int_equal(sq_children_reserve(h->c), 0);
    int64_t t0 = now_ms();
    sq_children_start_generation(h->c, t0);
    assert_true(sq_children_next_deadline(h->c) <= t0 + 300);
    WAIT_UNTIL(h, sq_children_retiring(h->c) == 0);
    assert_true(now_ms() - t0 >= 300);
    for (size_t i = 0; i < SQ_ARRAY_LEN(old); i++)
        assert_int_equal(kill(old[i], 0), -1);
    assert_int_equal(started(h, "alpha", 2), 2);
    assert_int_equal(sq_children_running(h->c), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worker_backoff),
        cmocka_unit_test_setup_teardown(test_kinds_table_drives_supervision, setup, teardown),
        cmocka_unit_test_setup_teardown(test_all_fatal_stops_the_master, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retiree_killed_at_the_deadline, setup, teardown),
    };
    return cmocka_run_group_tests_name("children", tests, NULL, NULL);
}
