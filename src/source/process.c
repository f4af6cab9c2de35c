/* The sources process: one thread per source of the store, started, restarted when its settings
 * change and stopped when it goes, as a poll of the store's list finds (every second). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sequin/log.h"
#include "sequin/source.h"
#include "sequin/store.h"

#define LIST_EVERY_S 1

/* A running source: its definition (owned) and the thread that runs it; or a source whose
 * settings cannot be read, kept without a thread so that it is reported once, not every poll. */
typedef struct runner {
    sq_source_def def;
    const char *store_url;
    pthread_t thread;
    bool running; /* the thread exists; false for unreadable settings */
    atomic_bool stop;
    bool seen; /* in the store's latest list */
} runner;

typedef struct runners {
    runner **items;
    size_t count;
} runners;

static void *runner_main(void *arg)
{
    runner *r = arg;
    sq_source_run(&r->def, r->store_url, &r->stop);
    return NULL;
}

static void runner_stop(runner *r)
{
    atomic_store(&r->stop, true);
    if (r->running) {
        pthread_join(r->thread, NULL);
        sq_info("source %s: stopped", r->def.name);
    }
    sq_source_def_free(&r->def);
    free(r);
}

/* Says in the source's status why it does not run (its settings, written into the store by
 * hand: the API and the config file check them before they are stored). */
static void report_unreadable(sq_store *store, const sq_source_row *row, const char *why)
{
    char err[256];
    sq_source_report r = {.source = row->num, .state = "error", .error = why, .lag_bytes = -1};
    sq_error("source %s: %s", row->name, why);
    if (store && sq_store_source_report(store, &r, err, sizeof err) != SQ_OK)
        sq_warn("source %s: cannot report its state: %s", row->name, err);
}

/* A thread for the store's row `row`, once its settings are read; a row whose settings cannot
 * be read is reported and kept without a thread until they change. */
static int runner_start(runners *rs, const sq_source_row *row, const char *store_url,
                        sq_store *store)
{
    runner *r = calloc(1, sizeof *r);
    runner **grown = realloc(rs->items, (rs->count + 1) * sizeof *grown);
    char err[256];

    if (grown)
        rs->items = grown;
    if (!r || !grown)
        goto fail;
    snprintf(r->def.id, sizeof r->def.id, "%s", row->id);
    r->def.num = row->num;
    r->def.stream = row->stream;
    r->def.name = sq_arena_strdup(&r->def.arena, row->name);
    r->def.settings = sq_arena_strdup(&r->def.arena, row->settings);
    if (!r->def.name || !r->def.settings)
        goto fail;
    r->store_url = store_url;
    r->seen = true;
    atomic_init(&r->stop, false);
    if (sq_source_settings_read(row->settings, strlen(row->settings), &r->def, err, sizeof err) !=
        SQ_OK) {
        char why[320];
        snprintf(why, sizeof why, "its settings cannot be read: %s", err);
        report_unreadable(store, row, why);
        rs->items[rs->count++] = r;
        return SQ_ERR;
    }
    if (pthread_create(&r->thread, NULL, runner_main, r) != 0)
        goto fail;
    r->running = true;
    rs->items[rs->count++] = r;
    return SQ_OK;
fail:
    if (r)
        sq_source_def_free(&r->def);
    free(r);
    return SQ_ERR;
}

/* Makes the running threads match the store's list: new postgres sources start, changed ones
 * restart, gone ones stop. */
static void reconcile(runners *rs, const sq_source_row *rows, size_t n, const char *store_url,
                      sq_store *store)
{
    for (size_t i = 0; i < rs->count; i++)
        rs->items[i]->seen = false;
    for (size_t j = 0; j < n; j++) {
        bool running = false;
        if (strcmp(rows[j].kind, "postgres") != 0)
            continue; /* a webhook has no thread: the workers' route writes its messages */
        for (size_t i = 0; i < rs->count; i++) {
            runner *r = rs->items[i];
            if (strcmp(r->def.id, rows[j].id) != 0)
                continue;
            if (strcmp(r->def.settings, rows[j].settings) == 0 && r->def.stream == rows[j].stream)
                r->seen = running = true;
        }
        if (!running && runner_start(rs, &rows[j], store_url, store) == SQ_OK)
            sq_info("source %s: started", rows[j].name);
    }
    size_t kept = 0;
    for (size_t i = 0; i < rs->count; i++) {
        if (rs->items[i]->seen)
            rs->items[kept++] = rs->items[i];
        else
            runner_stop(rs->items[i]);
    }
    rs->count = kept;
}

int sq_source_process_run(const sq_config *cfg)
{
    sigset_t stop_set;
    runners rs = {0};
    sq_store *store = NULL;
    sq_arena mem = {0};
    char err[256];
    bool warned = false;

    /* Blocked before any thread starts, so the threads inherit it: TERM and QUIT reach this
     * thread's sigtimedwait, which is also its clock. */
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGTERM);
    sigaddset(&stop_set, SIGQUIT);
    sigaddset(&stop_set, SIGINT);
    sigaddset(&stop_set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop_set, NULL);
    signal(SIGPIPE, SIG_IGN);
    sq_log_set_process("sources");

    for (;;) {
        if (!store && sq_store_open(cfg->database.url, &store, err, sizeof err) != SQ_OK) {
            if (!warned)
                sq_warn("sources: cannot reach the stream's database: %s", err);
            warned = true;
        }
        if (store) {
            sq_source_row *rows = NULL;
            size_t n = 0;
            sq_arena_reset(&mem);
            if (sq_store_source_list(store, &rows, &n, &mem, err, sizeof err) == SQ_OK) {
                reconcile(&rs, rows, n, cfg->database.url, store);
                warned = false;
            } else {
                sq_warn("sources: cannot list the sources: %s", err);
                sq_store_close(store);
                store = NULL;
            }
        }
        struct timespec tick = {.tv_sec = LIST_EVERY_S};
        siginfo_t si;
        int sig = sigtimedwait(&stop_set, &si, &tick);
        if (sig == SIGTERM || sig == SIGQUIT || sig == SIGINT)
            break;
    }
    for (size_t i = 0; i < rs.count; i++)
        atomic_store(&rs.items[i]->stop, true);
    for (size_t i = 0; i < rs.count; i++)
        runner_stop(rs.items[i]);
    free(rs.items);
    sq_store_close(store);
    sq_arena_free(&mem);
    return 0;
}
