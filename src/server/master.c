/* The sequind master: its signals, its loop (sigsuspend, then what the children and the signals
 * ask for), and the reload that starts a new generation of children. */
#include "sequin/master.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "sequin/children.h"
#include "sequin/declared.h"
#include "sequin/listen.h"
#include "sequin/log.h"
#include "sequin/metrics.h"
#include "sequin/sdnotify.h"
#include "sequin/startup.h"
#include "sequin/worker.h"

/* Set by the handler, read and cleared by the loop (signals are blocked outside sigsuspend). */
static volatile sig_atomic_t got_hup, got_term, got_quit, got_chld, got_alarm;

static const int master_signals[] = {SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGCHLD, SIGALRM};

static void on_signal(int signo)
{
    switch (signo) {
    case SIGHUP:
        got_hup = 1;
        break;
    case SIGTERM:
    case SIGINT:
        got_term = 1;
        break;
    case SIGQUIT:
        got_quit = 1;
        break;
    case SIGCHLD:
        got_chld = 1;
        break;
    default: /* SIGALRM: a deadline came; it only has to end sigsuspend */
        got_alarm = 1;
        break;
    }
}

typedef struct master {
    const char *path;
    sq_config *base;    /* loaded at start: restart-only options always come from it */
    sq_config *current; /* the last valid file (base until a reload succeeds) */
    sq_config view;     /* what children run with: current with base's restart-only options; a
                         * shallow copy that owns nothing, never given to sq_config_free */
    sq_listen_set listeners;
    int *fds;
    sq_children *children;
    sigset_t wait_mask; /* the mask sigsuspend waits with: the master's signals unblocked */
    bool killed;        /* the stop deadline passed and the stragglers got SIGKILL */
    int64_t stop_deadline_ms;
    int status;          /* the exit status once stopped */
    sq_metrics *metrics; /* shared with every child; NULL when it could not be made */
} master;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Logs a failed notification; systemd then never learns the state, which the operator sees as
 * a start that times out, so say why here. */
static void check_notify(int rc)
{
    if (rc != 0)
        sq_warn("cannot notify systemd through $NOTIFY_SOCKET: %s", strerror(errno));
}

static void apply_log(const sq_config *cfg)
{
    sq_log_set_level(cfg->log.level);
    sq_log_set_format(cfg->log.format);
}

static void begin_stop(master *m, int status)
{
    int timeout = m->view.shutdown_timeout_ms;

    m->status = status;
    m->stop_deadline_ms = now_ms() + timeout;
    check_notify(sq_sdnotify("STOPPING=1\nSTATUS=stopping: the children are finishing their work"));
    sq_info("stopping: %zu children finish their work (at most %d ms)",
            sq_children_stop(m->children), timeout);
}

static void quit_now(master *m)
{
    check_notify(sq_sdnotify("STOPPING=1\nSTATUS=SIGQUIT: stopping now"));
    /* Once they are gone, the ports are free for whatever starts next. */
    sq_info("SIGQUIT: %zu children killed, exiting now", sq_children_kill_and_wait(m->children));
    m->status = SQ_EXIT_OK;
}

/* ---- reload ------------------------------------------------------------------------------- */

/* How many bytes an option of this type takes in sq_config (the layout config.h declares). */
static size_t value_size(sq_config_type type)
{
    switch (type) {
    case SQ_CONFIG_INT:
    case SQ_CONFIG_ENUM:
        return sizeof(int);
    case SQ_CONFIG_BOOL:
        return sizeof(bool);
    case SQ_CONFIG_STRING:
    case SQ_CONFIG_NAME:
    case SQ_CONFIG_FILTER:
    case SQ_CONFIG_WEBHOOK:
        return sizeof(const char *);
    case SQ_CONFIG_LISTEN:
        return sizeof(sq_config_listen_list);
    case SQ_CONFIG_TOKENS:
        return sizeof(sq_config_token_list);
    case SQ_CONFIG_STREAMS:
        return sizeof(sq_config_stream_list);
    case SQ_CONFIG_SOURCES:
        return sizeof(sq_config_source_list);
    case SQ_CONFIG_TABLES:
        return sizeof(sq_config_table_list);
    case SQ_CONFIG_HEADERS:
        return sizeof(sq_config_header_list);
    }
    return 0;
}

/* `fresh` as the workers will see it: the options that need a restart keep base's values
 * (and point into base, which lives as long as the master). */
static sq_config make_view(const sq_config *fresh, const sq_config *base)
{
    sq_config view = *fresh;
    size_t n = 0;
    const sq_config_option *opts = sq_config_options(&n);

    for (size_t i = 0; i < n; i++) {
        if (!opts[i].reloadable)
            memcpy((char *)&view + opts[i].offset, (const char *)base + opts[i].offset,
                   value_size(opts[i].type));
    }
    return view;
}

static void log_restart_changes(const master *m, const sq_config *fresh)
{
    size_t n = 0;
    const sq_config_option *opts = sq_config_options(&n);

    for (size_t i = 0; i < n; i++) {
        if (!opts[i].reloadable && !sq_config_option_equal(m->base, fresh, &opts[i]))
            sq_warn("%s: \"%s\" changed, which needs a restart: ignored until then", m->path,
                    opts[i].name);
    }
}

/* The new generation first, then the old one is told to finish: the sockets never go unserved. */
static void start_generation(master *m)
{
    char what[256];

    sq_children_start_generation(m->children, now_ms());
    sq_children_describe(m->children, what, sizeof what);
    sq_info("generation %u started with %s; %zu children of older generations finish their work",
            sq_children_generation(m->children), what, sq_children_retiring(m->children));
    check_notify(sq_sdnotifyf("READY=1\nSTATUS=serving with %s (generation %u)", what,
                              sq_children_generation(m->children)));
}

static void reload(master *m)
{
    sq_config *fresh = NULL;
    sq_config_error err;
    sq_config view;
    char msg[sizeof err.file + sizeof err.message + 32], what[256];
    int rc;

    check_notify(sq_sdnotify_reloading("reloading the configuration"));
    sq_info("SIGHUP: reloading %s", m->path);
    if (sq_config_load_file(m->path, &fresh, &err) != 0)
        goto refuse;
    view = make_view(fresh, m->base);
    if (sq_startup_check_config(&view, &err) != 0)
        goto refuse;
    if (sq_children_reserve(m->children) != 0) {
        sq_config_free(fresh);
        sq_error("reload refused, the running configuration stays: out of memory");
        goto ready;
    }
    apply_log(&view);
    log_restart_changes(m, fresh);
    rc = sq_declared_apply(&view, msg, sizeof msg);
    if (rc == SQ_DECLARED_REFUSED) {
        apply_log(&m->view);
        sq_config_free(fresh);
        sq_error("reload refused, the running configuration stays: %s", msg);
        goto ready;
    }
    if (rc != 0)
        sq_warn("the declared streams, consumers and sources of %s were not all applied; the "
                "reload goes on, and the next one tries again",
                m->path);
    if (m->current != m->base)
        sq_config_free(m->current);
    m->current = fresh;
    m->view = view;
    start_generation(m);
    return;
refuse:
    sq_config_free(fresh);
    sq_error("reload refused, the running configuration stays: %s",
             sq_config_error_format(&err, msg, sizeof msg));
ready:
    sq_children_describe(m->children, what, sizeof what);
    check_notify(sq_sdnotifyf("READY=1\nSTATUS=serving with %s; the last reload was refused "
                              "(see the log)",
                              what));
}

/* ---- the loop ----------------------------------------------------------------------------- */

static int setup_signals(master *m)
{
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_NOCLDSTOP};
    struct sigaction ign = {.sa_handler = SIG_IGN};
    sigset_t block, saved;

    sigemptyset(&block);
    sigemptyset(&sa.sa_mask);
    sigemptyset(&ign.sa_mask);
    for (size_t i = 0; i < SQ_ARRAY_LEN(master_signals); i++)
        sigaddset(&block, master_signals[i]);
    /* Blocked before anything else, so that a signal arriving during startup is kept
     * pending and acted on by the loop, never lost or half-handled. */
    if (sigprocmask(SIG_BLOCK, &block, &saved) != 0)
        return -1;
    m->wait_mask = saved;
    for (size_t i = 0; i < SQ_ARRAY_LEN(master_signals); i++) {
        sigdelset(&m->wait_mask, master_signals[i]);
        if (sigaction(master_signals[i], &sa, NULL) != 0)
            return -1;
    }
    return sigaction(SIGPIPE, &ign, NULL);
}

/* SIGALRM at the next deadline (setitimer), so that sigsuspend is the only wait. */
static void arm_timer(const master *m, int64_t now)
{
    struct itimerval it = {0};
    int64_t next;

    if (sq_children_stopping(m->children))
        next = m->killed ? INT64_MAX : m->stop_deadline_ms;
    else
        next = sq_children_next_deadline(m->children);
    if (next != INT64_MAX) {
        int64_t delay = next - now < 1 ? 1 : next - now;
        it.it_value.tv_sec = (time_t)(delay / 1000);
        it.it_value.tv_usec = (suseconds_t)(delay % 1000) * 1000;
    }
    (void)setitimer(ITIMER_REAL, &it, NULL);
}

static void supervise(master *m)
{
    for (;;) {
        const sq_child_kind *fatal;

        if (got_chld) {
            got_chld = 0;
            sq_children_reap(m->children, now_ms());
        }
        if (got_quit) {
            quit_now(m);
            return;
        }
        if (got_term && !sq_children_stopping(m->children)) {
            sq_info("SIGTERM or SIGINT: stopping gracefully");
            begin_stop(m, SQ_EXIT_OK);
        }
        if (got_hup) {
            got_hup = 0;
            if (sq_children_stopping(m->children))
                sq_info("SIGHUP ignored: stopping");
            else
                reload(m);
        }
        got_alarm = 0;

        int64_t now = now_ms();
        if (sq_children_stopping(m->children)) {
            if (sq_children_running(m->children) == 0)
                return;
            if (!m->killed && now >= m->stop_deadline_ms) {
                sq_warn("%zu children still running after shutdown_timeout_ms (%d ms): killed",
                        sq_children_kill(m->children), m->view.shutdown_timeout_ms);
                m->killed = true;
            }
        } else if ((fatal = sq_children_tend(m->children, now)) != NULL) {
            sq_error("every %s exited with the fatal status %d: stopping", fatal->name,
                     SQ_EXIT_FATAL);
            begin_stop(m, SQ_EXIT_FAILURE);
            continue;
        }
        arm_timer(m, now);
        sigsuspend(&m->wait_mask);
    }
}

int sq_master_run(const char *config_path, sq_config *cfg)
{
    master m = {
        .path = config_path,
        .base = cfg,
        .current = cfg,
        .view = *cfg,
        .status = SQ_EXIT_FAILURE,
    };
    char names[256], refusal[2048], what[256];
    int status = SQ_EXIT_FAILURE, declared;

    sq_log_set_process("master");
    apply_log(cfg);
    if (setup_signals(&m) != 0) {
        sq_error("cannot set up signals: %s", strerror(errno));
        goto done;
    }
    /* Before the first fork, so that every child of every generation counts into it. */
    m.metrics = sq_metrics_create();
    if (m.metrics == NULL)
        sq_warn("no shared memory for metrics: /metrics shows no counters");
    if (sq_startup_migrate(cfg) != 0)
        goto done;
    declared = sq_declared_apply(cfg, refusal, sizeof refusal);
    if (declared == SQ_DECLARED_REFUSED) {
        sq_error("%s", refusal);
        status = SQ_EXIT_CONFIG;
        goto done;
    }
    if (declared != 0)
        goto done;
    if (sq_startup_bind(cfg, &m.listeners, &m.fds, names, sizeof names) != 0)
        goto done;
    m.children = sq_children_create(sq_child_kinds, sq_child_kinds_count,
                                    &(sq_child_ctx){.cfg = &m.view,
                                                    .listen_fds = m.fds,
                                                    .n_listen = m.listeners.count,
                                                    .metrics = m.metrics});
    if (m.children == NULL || sq_children_reserve(m.children) != 0) {
        sq_error("out of memory");
        goto done;
    }
    if (got_term || got_quit) {
        sq_info("stopped before the children started");
        status = SQ_EXIT_OK;
        goto done;
    }
    sq_children_start_generation(m.children, now_ms());
    sq_children_describe(m.children, what, sizeof what);
    sq_info("serving on %s with %s", names, what);
    check_notify(sq_sdnotifyf("READY=1\nSTATUS=serving on %s with %s", names, what));
    supervise(&m);
    status = m.status;
    sq_info("exiting with status %d", status);
done:
    sq_children_free(m.children);
    sq_listen_close(&m.listeners);
    sq_metrics_destroy(m.metrics);
    free(m.fds);
    if (m.current != m.base)
        sq_config_free(m.current);
    sq_config_free(m.base);
    return status;
}
