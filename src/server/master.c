/* The sequind master: startup (database, sockets, workers), supervision of the workers, and
 * the signals that reload and stop them. */
#include "sequin/master.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sequin/listen.h"
#include "sequin/log.h"
#include "sequin/metrics.h"
#include "sequin/sdnotify.h"
#include "sequin/store.h"
#include "sequin/worker.h"

/* A crashed worker is respawned after a delay that starts here and doubles up to the max, so a
 * worker that dies at once (a bad database, a bug on the first request) does not fork in a
 * loop; a worker that lived RESPAWN_RESET_MS starts the sequence over. */
#define RESPAWN_MIN_MS 100
#define RESPAWN_MAX_MS 5000
#define RESPAWN_RESET_MS 10000

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

/* One worker of the current generation. */
struct slot {
    pid_t pid; /* 0: not running */
    int64_t started_ms;
    int64_t respawn_ms; /* pid 0 and not fatal: fork again at this time */
    int backoff_ms;     /* the delay before the next respawn */
    bool fatal;         /* exited with SQ_EXIT_FATAL: never respawned */
};

/* A worker of an older generation, told to stop; killed if it is still there at kill_ms. */
struct retiree {
    pid_t pid;
    unsigned generation;
    int64_t kill_ms;
};

typedef struct master {
    const char *path;
    sq_config *base;    /* loaded at start: restart-only options always come from it */
    sq_config *current; /* the last valid file (base until a reload succeeds) */
    sq_config view;     /* what workers serve: current with base's restart-only options; a
                         * shallow copy that owns nothing, never given to sq_config_free */
    sq_listen_set listeners;
    int *fds;
    struct slot *slots;
    size_t n_slots;
    struct retiree *retirees;
    size_t n_retirees, cap_retirees;
    unsigned generation;
    pid_t pid;
    sigset_t wait_mask; /* the mask sigsuspend waits with: the master's signals unblocked */
    bool stopping;
    bool killed; /* the stop deadline passed and the stragglers got SIGKILL */
    int64_t stop_deadline_ms;
    int status;          /* the exit status once stopped */
    sq_metrics *metrics; /* shared with every worker; NULL when it could not be made */
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

int sq_master_check_config(const sq_config *cfg, sq_config_error *err)
{
    if (cfg->auth.tokens.count > 0 || cfg->auth.allow_anonymous)
        return 0;
    for (size_t i = 0; i < cfg->listen.count; i++) {
        const sq_config_listen *l = &cfg->listen.items[i];
        if (sq_listen_is_loopback(l))
            continue;
        memset(err, 0, sizeof *err);
        snprintf(err->file, sizeof err->file, "%s", cfg->source);
        err->line = l->line;
        err->column = l->column;
        snprintf(err->message, sizeof err->message,
                 "listen address \"%s\" is not a loopback address and auth.tokens is empty: "
                 "add a token (sequind --hash-token) or set auth.allow_anonymous: true",
                 l->address);
        return -1;
    }
    return 0;
}

static void apply_log(const sq_config *cfg)
{
    sq_log_set_level(cfg->log.level);
    sq_log_set_format(cfg->log.format);
}

/* ---- the database ------------------------------------------------------------------------- */

static int migrate(const sq_config *cfg)
{
    char err[512];
    const sq_schema *schema = sq_store_schema();
    int functions = 0;
    int applied = sq_store_migrate(cfg->database.url, schema, &functions, err, sizeof err);

    if (applied < 0) {
        sq_error("cannot migrate the schema (database.url in %s): %s", cfg->source, err);
        return -1;
    }
    sq_info("schema at version %zu (%d migrations and %d function files applied now)",
            schema->n_migrations, applied, functions);
    return 0;
}

/* What apply_declared returns when the file itself is refused (a declared consumer would
 * change what cannot change): the start exits with SQ_EXIT_CONFIG, a reload keeps the running
 * configuration. -1 is PostgreSQL failing. */
#define DECLARED_REFUSED (-2)

/* "FILE:LINE" of a declaration (the file alone when the place is unknown). */
static const char *declared_at(const sq_config *cfg, const sq_config_consumer *c, char *buf,
                               size_t size)
{
    if (c != NULL && c->line > 0)
        snprintf(buf, size, "%s:%d", cfg->source, c->line);
    else
        snprintf(buf, size, "%s", cfg->source);
    return buf;
}

/* Appends ", NAME was -> now" to `buf` for each setting that differs; "" if none does. */
static void describe_changes(const sq_consumer_settings *was, const sq_consumer_settings *now,
                             char *buf, size_t size)
{
    const struct {
        const char *name;
        int was, now;
    } fields[] = {
        {"ack_wait_ms", was->ack_wait_ms, now->ack_wait_ms},
        {"max_ack_pending", was->max_ack_pending, now->max_ack_pending},
        {"max_deliver", was->max_deliver, now->max_deliver},
    };
    size_t len = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < SQ_ARRAY_LEN(fields) && len < size; i++) {
        char a[16], b[16];
        if (fields[i].was == fields[i].now)
            continue;
        /* max_deliver 0 is "none", as the file writes it */
        snprintf(a, sizeof a, "%d", fields[i].was);
        snprintf(b, sizeof b, "%d", fields[i].now);
        int n = snprintf(buf + len, size - len, "%s%s %s -> %s", len > 0 ? ", " : ": ",
                         fields[i].name, fields[i].was == 0 && i == 2 ? "none" : a,
                         fields[i].now == 0 && i == 2 ? "none" : b);
        if (n < 0)
            break;
        len += (size_t)n;
    }
}

/* Logs one line per consumer the reconcile touched, and a summary. */
static void log_changes(const sq_config *cfg, const sq_reconcile_change *changes, size_t n,
                        const sq_declared_consumer *declared, const sq_config_consumer **origin,
                        size_t n_declared)
{
    size_t counts[SQ_RECONCILE_RELEASED + 1] = {0};
    char at[1100], diff[256];

    for (size_t i = 0; i < n; i++) {
        const sq_reconcile_change *c = &changes[i];
        bool known = c->declared >= 0 && (size_t)c->declared < n_declared;
        const sq_declared_consumer *d = known ? &declared[c->declared] : NULL;

        counts[c->action]++;
        declared_at(cfg, known ? origin[c->declared] : NULL, at, sizeof at);
        if (d != NULL)
            describe_changes(&c->before, &d->settings, diff, sizeof diff);
        switch (c->action) {
        case SQ_RECONCILE_CREATED:
            sq_info("consumer \"%s\" of stream \"%s\" created, as declared at %s (filter \"%s\", "
                    "deliver_policy %s)",
                    c->name, c->stream, at, d != NULL ? d->filter : "?",
                    d != NULL && d->deliver_new ? "new" : "all");
            break;
        case SQ_RECONCILE_UPDATED:
            sq_info("consumer \"%s\" of stream \"%s\" updated, as declared at %s%s", c->name,
                    c->stream, at, diff);
            break;
        case SQ_RECONCILE_ADOPTED:
            sq_info("consumer \"%s\" of stream \"%s\", which existed with managed_by \"api\", is "
                    "now managed by the config file, as declared at %s%s",
                    c->name, c->stream, at, diff);
            break;
        case SQ_RECONCILE_RELEASED:
            sq_info("consumer \"%s\" of stream \"%s\" is no longer declared in %s: it is kept "
                    "with its messages and is now managed_by \"api\" (delete it through the API "
                    "if it is not needed)",
                    c->name, c->stream, cfg->source);
            break;
        case SQ_RECONCILE_UNCHANGED:
            sq_debug("consumer \"%s\" of stream \"%s\" unchanged, as declared at %s", c->name,
                     c->stream, at);
            break;
        }
    }
    sq_info("declared consumers of %s: %zu created, %zu updated, %zu unchanged, %zu adopted, "
            "%zu released",
            cfg->source, counts[SQ_RECONCILE_CREATED], counts[SQ_RECONCILE_UPDATED],
            counts[SQ_RECONCILE_UNCHANGED], counts[SQ_RECONCILE_ADOPTED],
            counts[SQ_RECONCILE_RELEASED]);
}

/*
 * Declared consumers (SPEC section 5), at start and on reload: the store applies every
 * declaration in one transaction, or none (docs/operations.md, "Declared consumers").
 * 0; DECLARED_REFUSED with `refusal` set to "FILE:LINE:COLUMN: why"; -1 after logging why.
 */
static int reconcile_consumers(sq_store *store, const sq_config *cfg, char *refusal, size_t size)
{
    sq_declared_consumer *declared = NULL;
    const sq_config_consumer **origin = NULL;
    sq_reconcile_change *changes = NULL;
    sq_arena arena = {0};
    size_t n = 0, k = 0, n_changes = 0;
    long refused = -1;
    char err[1024];
    int rc = -1;

    for (size_t i = 0; i < cfg->streams.count; i++)
        n += cfg->streams.items[i].n_consumers;
    declared = calloc(n + 1, sizeof *declared);
    origin = calloc(n + 1, sizeof *origin);
    if (declared == NULL || origin == NULL) {
        sq_error("cannot reconcile the declared consumers: out of memory");
        goto done;
    }
    for (size_t i = 0; i < cfg->streams.count; i++) {
        const sq_config_stream *st = &cfg->streams.items[i];
        for (size_t j = 0; j < st->n_consumers; j++, k++) {
            const sq_config_consumer *c = &st->consumers[j];
            origin[k] = c;
            declared[k] = (sq_declared_consumer){
                .stream = st->name,
                .name = c->name,
                .filter = c->filter,
                .settings = {c->ack_wait_ms, c->max_ack_pending, c->max_deliver},
                .deliver_new = c->deliver_policy == SQ_CONFIG_DELIVER_NEW,
            };
        }
    }
    int r = sq_store_reconcile(store, declared, n, &changes, &n_changes, &refused, &arena, err,
                               sizeof err);
    if (r == SQ_STORE_CONFLICT) {
        /* Said like a config file error, at the declaration that cannot be applied. */
        const sq_config_consumer *c = refused >= 0 && (size_t)refused < n ? origin[refused] : NULL;
        if (c != NULL && c->line > 0)
            snprintf(refusal, size, "%s:%d:%d: %s", cfg->source, c->line, c->column, err);
        else
            snprintf(refusal, size, "%s: %s", cfg->source, err);
        rc = DECLARED_REFUSED;
        goto done;
    }
    if (r != SQ_OK) {
        /* SQ_STORE_NOT_FOUND: a declared stream deleted since it was created, a moment ago */
        sq_error("cannot reconcile the declared consumers of %s: %s", cfg->source, err);
        goto done;
    }
    log_changes(cfg, changes, n_changes, declared, origin, n);
    rc = 0;
done:
    sq_arena_free(&arena);
    free(origin);
    free(declared);
    return rc;
}

/* Creates the streams the file declares ("default" is always among them) and reconciles the
 * declared consumers. 0; DECLARED_REFUSED with `refusal` set (nothing of the consumers
 * changed; the streams may have been created); -1 after logging why. */
static int apply_declared(const sq_config *cfg, char *refusal, size_t size)
{
    sq_store *store = NULL;
    sq_arena arena = {0};
    char err[512];
    int rc = -1;

    if (sq_store_open(cfg->database.url, &store, err, sizeof err) != SQ_OK) {
        sq_error("cannot open the store: %s", err);
        goto fail;
    }
    for (size_t i = 0; i < cfg->streams.count; i++) {
        const char *name = cfg->streams.items[i].name;
        sq_stream stream;
        int num, r;
        /* Looked up first so that PostgreSQL does not log a unique violation at every start;
         * a node creating the same stream at the same moment is the conflict tolerated below. */
        r = sq_store_stream_num(store, name, &num, err, sizeof err);
        if (r == SQ_OK)
            continue;
        if (r == SQ_STORE_NOT_FOUND)
            r = sq_store_stream_create(store, name, &stream, &arena, err, sizeof err);
        if (r == SQ_OK) {
            sq_info("stream \"%s\" created", name);
        } else if (r != SQ_STORE_CONFLICT) {
            sq_error("cannot create stream \"%s\": %s", name, err);
            goto fail;
        }
        sq_arena_reset(&arena);
    }
    rc = reconcile_consumers(store, cfg, refusal, size);
fail:
    sq_arena_free(&arena);
    sq_store_close(store);
    return rc;
}

/* ---- workers ------------------------------------------------------------------------------ */

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

static SQ_NORETURN void run_worker(const master *m)
{
    sq_worker_ctx ctx = {.cfg = &m->view,
                         .listen_fds = m->fds,
                         .n_listen = m->listeners.count,
                         .generation = m->generation,
                         .metrics = m->metrics};

    sq_log_set_process("worker");
    /* A master that dies, even by SIGKILL, stops its workers gracefully instead of leaving
     * them to serve unsupervised. The check closes the race with a master gone already. */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != m->pid)
        exit(0);
    exit(sq_worker_run(&ctx));
}

static void schedule_respawn(struct slot *s, int64_t now)
{
    s->pid = 0;
    s->respawn_ms = now + s->backoff_ms;
    s->backoff_ms = s->backoff_ms * 2 > RESPAWN_MAX_MS ? RESPAWN_MAX_MS : s->backoff_ms * 2;
}

static void spawn(master *m, struct slot *s)
{
    pid_t pid = fork();

    if (pid == 0)
        run_worker(m);
    if (pid < 0) {
        sq_error("cannot fork a worker: %s; trying again in %d ms", strerror(errno), s->backoff_ms);
        schedule_respawn(s, now_ms());
        return;
    }
    s->pid = pid;
    s->started_ms = now_ms();
    sq_info("worker %ld started (generation %u)", (long)pid, m->generation);
}

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

static void on_worker_exit(master *m, struct slot *s, int status, int64_t now)
{
    char how[128];
    long pid = (long)s->pid;
    int64_t lived = now - s->started_ms;

    describe_exit(status, how, sizeof how);
    s->pid = 0;
    if (m->stopping) {
        sq_info("worker %ld %s", pid, how);
        return;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == SQ_EXIT_FATAL) {
        s->fatal = true;
        sq_error("worker %ld %s, the fatal status: not respawned", pid, how);
        return;
    }
    if (lived >= RESPAWN_RESET_MS)
        s->backoff_ms = RESPAWN_MIN_MS;
    sq_warn("worker %ld %s after %lld ms; respawning in %d ms", pid, how, (long long)lived,
            s->backoff_ms);
    schedule_respawn(s, now);
}

static void reap(master *m)
{
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        int64_t now = now_ms();
        size_t i;
        for (i = 0; i < m->n_slots && m->slots[i].pid != pid; i++)
            ;
        if (i < m->n_slots) {
            on_worker_exit(m, &m->slots[i], status, now);
            continue;
        }
        for (i = 0; i < m->n_retirees && m->retirees[i].pid != pid; i++)
            ;
        if (i < m->n_retirees) {
            char how[128];
            describe_exit(status, how, sizeof how);
            sq_log(WIFEXITED(status) && WEXITSTATUS(status) == 0 ? SQ_LOG_INFO : SQ_LOG_WARN,
                   "worker %ld of generation %u %s", (long)pid, m->retirees[i].generation, how);
            m->retirees[i] = m->retirees[--m->n_retirees];
        }
    }
}

/* Sends `sig` to every worker, current and retiring; returns how many there were. */
static size_t signal_all(master *m, int sig)
{
    size_t n = 0;

    for (size_t i = 0; i < m->n_slots; i++) {
        if (m->slots[i].pid > 0 && kill(m->slots[i].pid, sig) == 0)
            n++;
    }
    for (size_t i = 0; i < m->n_retirees; i++) {
        if (kill(m->retirees[i].pid, sig) == 0)
            n++;
    }
    return n;
}

static size_t running(const master *m)
{
    size_t n = m->n_retirees;
    for (size_t i = 0; i < m->n_slots; i++)
        n += m->slots[i].pid > 0;
    return n;
}

static void begin_stop(master *m, int status)
{
    int timeout = m->view.shutdown_timeout_ms;

    m->stopping = true;
    m->status = status;
    m->stop_deadline_ms = now_ms() + timeout;
    check_notify(sq_sdnotify("STOPPING=1\nSTATUS=stopping: workers are finishing their requests"));
    sq_info("stopping: %zu workers finish their requests (at most %d ms)", signal_all(m, SIGTERM),
            timeout);
}

static void quit_now(master *m)
{
    size_t n = signal_all(m, SIGKILL);

    check_notify(sq_sdnotify("STOPPING=1\nSTATUS=SIGQUIT: stopping now"));
    sq_info("SIGQUIT: %zu workers killed, exiting now", n);
    /* SIGKILL cannot be caught: the workers are gone in a moment, and once they are, the
     * ports are free for whatever starts next. */
    for (size_t i = 0; i < m->n_slots; i++) {
        if (m->slots[i].pid > 0)
            (void)waitpid(m->slots[i].pid, NULL, 0);
    }
    for (size_t i = 0; i < m->n_retirees; i++)
        (void)waitpid(m->retirees[i].pid, NULL, 0);
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
        return sizeof(const char *);
    case SQ_CONFIG_LISTEN:
        return sizeof(sq_config_listen_list);
    case SQ_CONFIG_TOKENS:
        return sizeof(sq_config_token_list);
    case SQ_CONFIG_STREAMS:
        return sizeof(sq_config_stream_list);
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

/* Room for every current worker in the retiree list, so retiring cannot fail half-way. */
static int reserve_retirees(master *m)
{
    size_t need = m->n_retirees + m->n_slots;
    if (need <= m->cap_retirees)
        return 0;
    struct retiree *r = realloc(m->retirees, need * sizeof *r);
    if (r == NULL)
        return -1;
    m->retirees = r;
    m->cap_retirees = need;
    return 0;
}

/* New workers first, then the old ones are told to finish: the sockets never go unserved. */
static void start_generation(master *m)
{
    size_t first = m->n_retirees;
    int64_t now = now_ms();

    for (size_t i = 0; i < m->n_slots; i++) {
        struct slot *s = &m->slots[i];
        if (s->pid > 0)
            m->retirees[m->n_retirees++] = (struct retiree){
                .pid = s->pid,
                .generation = m->generation,
                .kill_ms = now + m->view.shutdown_timeout_ms,
            };
        *s = (struct slot){.backoff_ms = RESPAWN_MIN_MS};
    }
    m->generation++;
    for (size_t i = 0; i < m->n_slots; i++)
        spawn(m, &m->slots[i]);
    for (size_t i = first; i < m->n_retirees; i++)
        (void)kill(m->retirees[i].pid, SIGTERM);
    sq_info("generation %u started with %zu workers; %zu older workers finish their requests",
            m->generation, m->n_slots, m->n_retirees);
}

static void reload(master *m)
{
    sq_config *fresh = NULL;
    sq_config_error err;
    sq_config view;
    char msg[sizeof err.file + sizeof err.message + 32];
    int rc;

    check_notify(sq_sdnotify_reloading("reloading the configuration"));
    sq_info("SIGHUP: reloading %s", m->path);
    if (reserve_retirees(m) != 0) {
        sq_error("reload refused, the running configuration stays: out of memory");
        goto ready;
    }
    if (sq_config_load_file(m->path, &fresh, &err) != 0)
        goto refuse;
    view = make_view(fresh, m->base);
    if (sq_master_check_config(&view, &err) != 0)
        goto refuse;
    apply_log(&view);
    log_restart_changes(m, fresh);
    rc = apply_declared(&view, msg, sizeof msg);
    if (rc == DECLARED_REFUSED) {
        apply_log(&m->view);
        sq_config_free(fresh);
        sq_error("reload refused, the running configuration stays: %s", msg);
        goto ready;
    }
    if (rc != 0)
        sq_warn("the declared streams and consumers of %s were not all applied; the reload goes "
                "on, and the next one tries again",
                m->path);
    if (m->current != m->base)
        sq_config_free(m->current);
    m->current = fresh;
    m->view = view;
    start_generation(m);
    check_notify(sq_sdnotifyf("READY=1\nSTATUS=serving with %zu workers (generation %u)",
                              m->n_slots, m->generation));
    return;
refuse:
    sq_config_free(fresh);
    sq_error("reload refused, the running configuration stays: %s",
             sq_config_error_format(&err, msg, sizeof msg));
ready:
    check_notify(sq_sdnotifyf("READY=1\nSTATUS=serving with %zu workers; the last reload was "
                              "refused (see the log)",
                              m->n_slots));
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

/* The next time the loop has something to do (a respawn, a kill), or INT64_MAX. */
static int64_t next_deadline(const master *m)
{
    int64_t next = INT64_MAX;

    if (m->stopping)
        return m->killed ? INT64_MAX : m->stop_deadline_ms;
    for (size_t i = 0; i < m->n_slots; i++) {
        const struct slot *s = &m->slots[i];
        if (s->pid == 0 && !s->fatal && s->respawn_ms < next)
            next = s->respawn_ms;
    }
    for (size_t i = 0; i < m->n_retirees; i++) {
        if (m->retirees[i].kill_ms < next)
            next = m->retirees[i].kill_ms;
    }
    return next;
}

/* SIGALRM at the next deadline (setitimer), so that sigsuspend is the only wait. */
static void arm_timer(const master *m, int64_t now)
{
    struct itimerval it = {0};
    int64_t next = next_deadline(m);

    if (next != INT64_MAX) {
        int64_t delay = next - now < 1 ? 1 : next - now;
        it.it_value.tv_sec = (time_t)(delay / 1000);
        it.it_value.tv_usec = (suseconds_t)(delay % 1000) * 1000;
    }
    (void)setitimer(ITIMER_REAL, &it, NULL);
}

/* Respawns what is due, kills retirees past their deadline; true if every worker is fatal. */
static bool tend(master *m, int64_t now)
{
    size_t fatal = 0;

    for (size_t i = 0; i < m->n_slots; i++) {
        struct slot *s = &m->slots[i];
        fatal += s->fatal;
        if (s->pid == 0 && !s->fatal && now >= s->respawn_ms)
            spawn(m, s);
    }
    for (size_t i = 0; i < m->n_retirees; i++) {
        struct retiree *r = &m->retirees[i];
        if (r->kill_ms != INT64_MAX && now >= r->kill_ms) {
            sq_warn("worker %ld of generation %u still running after shutdown_timeout_ms: killed",
                    (long)r->pid, r->generation);
            (void)kill(r->pid, SIGKILL);
            r->kill_ms = INT64_MAX;
        }
    }
    return m->n_slots > 0 && fatal == m->n_slots;
}

static void supervise(master *m)
{
    for (;;) {
        if (got_chld) {
            got_chld = 0;
            reap(m);
        }
        if (got_quit) {
            quit_now(m);
            return;
        }
        if (got_term && !m->stopping) {
            sq_info("SIGTERM or SIGINT: stopping gracefully");
            begin_stop(m, SQ_EXIT_OK);
        }
        if (got_hup) {
            got_hup = 0;
            if (m->stopping)
                sq_info("SIGHUP ignored: stopping");
            else
                reload(m);
        }
        got_alarm = 0;

        int64_t now = now_ms();
        if (m->stopping) {
            if (running(m) == 0)
                return;
            if (!m->killed && now >= m->stop_deadline_ms) {
                sq_warn("%zu workers still running after shutdown_timeout_ms (%d ms): killed",
                        signal_all(m, SIGKILL), m->view.shutdown_timeout_ms);
                m->killed = true;
            }
        } else if (tend(m, now)) {
            sq_error("every worker exited with the fatal status %d: stopping", SQ_EXIT_FATAL);
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
        .generation = 1,
        .pid = getpid(),
        .status = SQ_EXIT_FAILURE,
    };
    char err[512], names[256] = "", refusal[2048];
    int status = SQ_EXIT_FAILURE, declared;

    sq_log_set_process("master");
    apply_log(cfg);
    if (setup_signals(&m) != 0) {
        sq_error("cannot set up signals: %s", strerror(errno));
        goto done;
    }
    /* Before the first fork, so that every worker of every generation counts into it. */
    m.metrics = sq_metrics_create();
    if (m.metrics == NULL)
        sq_warn("no shared memory for metrics: /metrics shows no counters");
    if (migrate(cfg) != 0)
        goto done;
    declared = apply_declared(cfg, refusal, sizeof refusal);
    if (declared == DECLARED_REFUSED) {
        sq_error("%s", refusal);
        status = SQ_EXIT_CONFIG;
        goto done;
    }
    if (declared != 0)
        goto done;
    if (sq_listen_open(&cfg->listen, &m.listeners, err, sizeof err) != 0) {
        sq_error("%s: %s", config_path, err);
        goto done;
    }
    m.n_slots = cfg->workers > 0 ? (size_t)cfg->workers : cpu_count();
    m.fds = calloc(m.listeners.count, sizeof *m.fds);
    m.slots = calloc(m.n_slots, sizeof *m.slots);
    if (m.fds == NULL || m.slots == NULL) {
        sq_error("out of memory");
        goto done;
    }
    for (size_t i = 0; i < m.listeners.count; i++) {
        size_t len = strlen(names);
        m.fds[i] = m.listeners.items[i].fd;
        snprintf(names + len, sizeof names - len, "%s%s", i ? " " : "", m.listeners.items[i].name);
    }
    if (got_term || got_quit) {
        sq_info("stopped before the workers started");
        status = SQ_EXIT_OK;
        goto done;
    }
    for (size_t i = 0; i < m.n_slots; i++) {
        m.slots[i].backoff_ms = RESPAWN_MIN_MS;
        spawn(&m, &m.slots[i]);
    }
    sq_info("serving on %s with %zu workers", names, m.n_slots);
    check_notify(sq_sdnotifyf("READY=1\nSTATUS=serving on %s with %zu workers", names, m.n_slots));
    supervise(&m);
    status = m.status;
    sq_info("exiting with status %d", status);
done:
    sq_listen_close(&m.listeners);
    sq_metrics_destroy(m.metrics);
    free(m.fds);
    free(m.slots);
    free(m.retirees);
    if (m.current != m.base)
        sq_config_free(m.current);
    sq_config_free(m.base);
    return status;
}
