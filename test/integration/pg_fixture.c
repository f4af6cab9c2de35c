/* The store's tests' fixture and the calls most of them make, each failing the test when the
 * store refuses (pg_fixture.h has the contracts). */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "pg_fixture.h"

int pgt_store_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    pgt_fresh_schema();
    if (sq_store_open(pgt_url(), &f->store, f->err, sizeof f->err) != SQ_OK)
        fail_msg("open: %s", f->err);
    if (sq_store_stream_num(f->store, "default", &f->stream, f->err, sizeof f->err) != SQ_OK)
        fail_msg("stream: %s", f->err);
    *state = f;
    return 0;
}

int pgt_store_teardown(void **state)
{
    struct fixture *f = *state;
    sq_store_close(f->store);
    sq_arena_free(&f->arena);
    free(f);
    return 0;
}

int pgt_watchdog(void **state)
{
    (void)state;
    alarm(120);
    return 0;
}

long long pgt_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

long long pgt_upsert(struct fixture *f, int stream, const char *key, const char *data)
{
    sq_message_in m = {key, strlen(key), data, strlen(data)};
    long long published = -1;
    if (sq_store_upsert(f->store, stream, &m, 1, &published, f->err, sizeof f->err) != SQ_OK)
        fail_msg("upsert %s: %s", key, f->err);
    return published;
}

void pgt_upserts(struct fixture *f, int stream, ...)
{
    va_list ap;
    va_start(ap, stream);
    for (const char *key; (key = va_arg(ap, const char *)) != NULL;)
        pgt_upsert(f, stream, key, va_arg(ap, const char *));
    va_end(ap);
}

sq_stream pgt_stream(struct fixture *f, const char *name)
{
    sq_stream st;
    if (sq_store_stream_create(f->store, name, &st, &f->arena, f->err, sizeof f->err) != SQ_OK)
        fail_msg("stream %s: %s", name, f->err);
    return st;
}

sq_consumer pgt_make_consumer(struct fixture *f, int stream, const char *name, const char *filter,
                              sq_consumer_settings set, bool deliver_new)
{
    sq_consumer c;
    if (sq_store_consumer_create(f->store, stream, name, filter, &set, deliver_new, &c, &f->arena,
                                 f->err, sizeof f->err) != SQ_OK)
        fail_msg("consumer %s: %s", name, f->err);
    return c;
}

void pgt_consumer(struct fixture *f, int stream, const char *name, const char *filter,
                  sq_consumer_settings set, char id[37])
{
    sq_consumer c = pgt_make_consumer(f, stream, name, filter, set, false);
    memcpy(id, c.id, 37);
}

sq_consumer pgt_consumer_get(struct fixture *f, int stream, const char *name_or_id)
{
    sq_consumer c;
    if (sq_store_consumer_get(f->store, stream, name_or_id, &c, &f->arena, f->err, sizeof f->err) !=
        SQ_OK)
        fail_msg("consumer get %s: %s", name_or_id, f->err);
    return c;
}

int pgt_receive(struct fixture *f, const char *cid, int max, sq_delivery *out)
{
    int count = -1;
    if (sq_store_receive(f->store, cid, max, out, &count, &f->arena, f->err, sizeof f->err) !=
        SQ_OK)
        fail_msg("receive: %s", f->err);
    return count;
}

int pgt_receive_due(struct fixture *f, const char *cid, int max, sq_delivery *out, long long since,
                    int due_ms)
{
    for (;;) {
        int n = pgt_receive(f, cid, max, out);
        long long waited = pgt_now_ms() - since;
        if (n > 0 && waited < due_ms - PGT_CLOCK_SLACK_MS)
            fail_msg("%d came after %lld ms, before its %d ms were over", n, waited, due_ms);
        if (n > 0)
            return n;
        if (waited > due_ms + PGT_WAIT_MS)
            fail_msg("nothing came in %lld ms, due after %d ms", waited, due_ms);
        usleep(10000);
    }
}

long long pgt_lease_one(struct fixture *f, const char *key, const char *data, const char *name,
                        const char *filter, sq_consumer_settings set, char id[37], sq_delivery *d)
{
    sq_delivery got[4];
    pgt_upsert(f, f->stream, key, data);
    pgt_consumer(f, f->stream, name, filter, set, id);
    long long before = pgt_now_ms();
    assert_int_equal(pgt_receive(f, id, 4, got), 1);
    *d = got[0];
    return before;
}

void pgt_ack(struct fixture *f, const char *cid, const char *ack_id)
{
    if (sq_store_ack(f->store, cid, &ack_id, 1, f->err, sizeof f->err) != SQ_OK)
        fail_msg("ack: %s", f->err);
}

void pgt_nack(struct fixture *f, const char *cid, const char *ack_id, int delay_ms)
{
    if (sq_store_nack(f->store, cid, &ack_id, 1, delay_ms, f->err, sizeof f->err) != SQ_OK)
        fail_msg("nack: %s", f->err);
}

size_t pgt_peek(struct fixture *f, const char *cid, const char *state, const char *filter,
                int limit, sq_consumer_message **out)
{
    size_t n = 0;
    if (sq_store_consumer_messages(f->store, cid, state, filter, limit, out, &n, &f->arena, f->err,
                                   sizeof f->err) != SQ_OK)
        fail_msg("peek: %s", f->err);
    return n;
}

sq_message_in *pgt_batch(const char *prefix, int digits, int first, int n, const char *data)
{
    enum {
        KEY_SIZE = 32
    };
    sq_message_in *batch = malloc((size_t)n * (sizeof *batch + KEY_SIZE));
    assert_non_null(batch);
    char *keys = (char *)(batch + n);
    for (int i = 0; i < n; i++) {
        char *key = keys + (size_t)i * KEY_SIZE;
        int len = snprintf(key, KEY_SIZE, "%s%0*d", prefix, digits, first + i);
        assert_true(len > 0 && len < KEY_SIZE);
        batch[i] = (sq_message_in){key, (size_t)len, data, strlen(data)};
    }
    return batch;
}

int pgt_exit_status(pid_t pid)
{
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status))
        fail_msg("process %d did not exit: status %d", (int)pid, status);
    return WEXITSTATUS(status);
}

void pgt_fork(int n, int (*child)(int i, void *arg), void *arg, pid_t *pids)
{
    for (int i = 0; i < n; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0)
            _exit(child(i, arg));
    }
}

/* ---- calls without waiting ---- */

size_t pgt_async_wait_any(sq_store *const *all, size_t n, unsigned watch, int *rc)
{
    long long deadline = pgt_now_ms() + PGT_WAIT_MS;
    for (;;) {
        struct pollfd p[4];
        assert_true(n <= 4);
        for (size_t i = 0; i < n; i++) {
            bool want_write;
            int got = sq_store_poll(all[i], &want_write);
            if ((watch >> i & 1) && got != SQ_AGAIN) {
                *rc = got;
                return i;
            }
            p[i] = (struct pollfd){sq_store_socket(all[i]), POLLIN | (want_write ? POLLOUT : 0), 0};
        }
        long long left = deadline - pgt_now_ms();
        if (left <= 0)
            fail_msg("no store call was over after %d ms", PGT_WAIT_MS);
        assert_true(poll(p, n, (int)left) >= 0);
    }
}

int pgt_async_drive(sq_store *s)
{
    int rc;
    pgt_async_wait_any(&s, 1, 1, &rc);
    return rc;
}

void pgt_async_run(sq_store *s, int begun, const char *err)
{
    if (begun != SQ_OK)
        fail_msg("begin: %s", err);
    assert_int_equal(pgt_async_drive(s), SQ_OK);
}

void pgt_async_reconnect(sq_store *s, const char *app)
{
    char err[512];
    if (app != NULL)
        setenv("PGAPPNAME", app, 1); /* libpq reads it when the connection starts */
    int begun = sq_store_begin_reconnect(s, err, sizeof err);
    unsetenv("PGAPPNAME");
    pgt_async_run(s, begun, err);
    if (sq_store_finish(s, err, sizeof err) != SQ_OK)
        fail_msg("reconnect: %s", err);
    assert_false(sq_store_dead(s));
}

sq_store *pgt_async_open(const char *app)
{
    sq_store *s;
    char err[512];
    assert_int_equal(sq_store_new(pgt_url(), &s, err, sizeof err), SQ_OK);
    assert_true(sq_store_dead(s));
    pgt_async_reconnect(s, app);
    return s;
}
