/* Consumers under load and concurrency through the real sequind: a worker killed while
 * writers and receivers run, group commit of racing upserts, receives and acks, and a
 * graceful stop that answers the long polls waiting. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "api_client.h"
#include "sequind_harness.h"

/* ---- a worker killed under load ------------------------------------------------------------- */

enum {
    WRITERS = 4,
    PER_WRITER = 4000
};

struct writer {
    int port, id;
    volatile bool *stop;
    int sent;
    bool ok[PER_WRITER]; /* answered 200 */
};

static void *write_loop(void *arg)
{
    struct writer *wr = arg;
    char target[] = "/api/streams/killed/messages", body[256];
    for (int i = 0; i < PER_WRITER && !*wr->stop; i++) {
        snprintf(body, sizeof body, "{\"messages\":[{\"key\":\"load.w%d.n%d\",\"data\":\"x\"}]}",
                 wr->id, i);
        wr->ok[i] = api_try_status(wr->port, "POST", target, body) == 200;
        __atomic_store_n(&wr->sent, i + 1, __ATOMIC_RELEASE); /* the test thread watches it */
    }
    return NULL;
}

/* Waits until the writers together have sent `more` upserts after `from`; how many then. */
static int wait_sent(struct writer *wr, int from, int more)
{
    for (int64_t end = now_ms() + EVENT_MS;; sleep_ms(10)) {
        int total = 0;
        for (int i = 0; i < WRITERS; i++)
            total += __atomic_load_n(&wr[i].sent, __ATOMIC_ACQUIRE);
        if (total >= from + more)
            return total;
        if (now_ms() > end)
            fail_msg("the writers sent %d of %d upserts in %d ms", total - from, more, EVENT_MS);
    }
}

/* kill -9 of a worker while four clients upsert: the master respawns it, every upsert that
 * was answered 200 is stored, and a consumer receives every one of them. */
static void test_worker_killed_under_load(void **state)
{
    struct server *s = *state;
    static struct writer wr[WRITERS];
    volatile bool stop = false;
    pthread_t t[WRITERS];
    pid_t before[MAX_PIDS], after[MAX_PIDS];

    api_make_stream(s->port, "killed");
    api_expect(s->port, "POST", "/api/streams/killed/consumers",
               "{\"name\":\"all\",\"filter_key_pattern\":\"load.>\"}", 200, NULL);
    for (int i = 0; i < WRITERS; i++) {
        wr[i] = (struct writer){.port = s->port, .id = i, .stop = &stop};
        pthread_create(&t[i], NULL, write_loop, &wr[i]);
    }
    (void)wait_sent(wr, 0, 100); /* the load is on */
    size_t n = workers_of(s->pid, before, MAX_PIDS);
    assert_true(n >= 2);
    assert_int_equal(kill(before[0], SIGKILL), 0);
    /* respawned: as many workers again, one of them new */
    int64_t end = now_ms() + EVENT_MS;
    bool respawned = false;
    while (!respawned && now_ms() < end) {
        usleep(20 * 1000);
        size_t m = workers_of(s->pid, after, MAX_PIDS);
        for (size_t i = 0; i < m; i++) {
            bool old = false;
            for (size_t j = 0; j < n; j++)
                old = old || after[i] == before[j];
            respawned = respawned || (!old && m >= n);
        }
    }
    assert_true(respawned);
    (void)wait_sent(wr, wait_sent(wr, 0, 0), 100); /* and goes on with the new worker */
    stop = true;
    int answered = 0, sent = 0;
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(t[i], NULL);
        sent += wr[i].sent;
        for (int j = 0; j < wr[i].sent; j++)
            answered += wr[i].ok[j];
    }
    print_message("%d upserts sent, %d answered 200 (the others were cut by the kill)\n", sent,
                  answered);
    assert_true(answered > 0);

    /* Receive everything (acking as we go) and check each answered upsert is among it. */
    static bool seen[WRITERS][PER_WRITER];
    memset(seen, 0, sizeof seen);
    for (;;) {
        char *got = api_receive(s->port, "killed", "all", 200, 0);
        if (strcmp(got, "{\"data\":[]}") == 0) {
            free(got);
            break;
        }
        char body[64 * 1024], *b = body;
        b += sprintf(b, "{\"ack_ids\":[");
        int k = 0;
        for (const char *p = strstr(got, "\"ack_id\":\""); p != NULL;
             p = strstr(p + 1, "\"ack_id\":\"")) {
            char ack[64], key[64];
            json_str(p, "ack_id", ack, sizeof ack);
            json_str(p, "key", key, sizeof key);
            int wi, ni;
            assert_int_equal(sscanf(key, "load.w%d.n%d", &wi, &ni), 2);
            seen[wi][ni] = true;
            b += sprintf(b, "%s\"%s\"", k++ ? "," : "", ack);
        }
        sprintf(b, "]}");
        free(got);
        api_expect(s->port, "POST", "/api/streams/killed/consumers/all/ack", body, 200, "success");
    }
    for (int i = 0; i < WRITERS; i++) {
        for (int j = 0; j < wr[i].sent; j++) {
            if (wr[i].ok[j] && !seen[i][j])
                fail_msg("load.w%d.n%d was answered 200 but never delivered", i, j);
        }
    }
}

/* ---- group commit ---------------------------------------------------------------------------- */

struct racer {
    int port, id, n, published, failed;
    const char *mode; /* "own": keys of its own; "same": one key, data of its own; "twin": one
                       * key, the same data as every other racer */
};

static void *race(void *arg)
{
    struct racer *r = arg;
    char body[256];
    for (int i = 0; i < r->n; i++) {
        if (strcmp(r->mode, "own") == 0)
            snprintf(body, sizeof body, "{\"messages\":[{\"key\":\"own.r%d.n%d\",\"data\":\"x\"}]}",
                     r->id, i);
        else if (strcmp(r->mode, "same") == 0)
            snprintf(body, sizeof body,
                     "{\"messages\":[{\"key\":\"same.k\",\"data\":\"r%d n%d\"}]}", r->id, i);
        else
            snprintf(body, sizeof body, "{\"messages\":[{\"key\":\"twin.k%d\",\"data\":\"x\"}]}",
                     i);
        api_resp resp = api_call(r->port, "POST", "/api/streams/group/messages", body);
        if (resp.status != 200)
            r->failed++;
        else
            r->published += strstr(resp.body, "\"published\":1") != NULL;
        api_resp_free(&resp);
    }
    return NULL;
}

struct taker {
    int port, got, twice, failed;
    bool (*seen)[100];
};

static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;

/* Receives 5 at a time until three receives in a row find nothing, acking each batch. */
static void *take(void *arg)
{
    struct taker *tk = arg;
    for (int empty = 0; empty < 3;) {
        api_resp r = api_call(tk->port, "POST", "/api/streams/group/consumers/takers/receive",
                              "{\"batch_size\":5}");
        if (r.status != 200 || strstr(r.body, "\"ack_id\"") == NULL) {
            empty++;
            api_resp_free(&r);
            continue;
        }
        empty = 0;
        char body[1024], *b = body;
        b += sprintf(b, "{\"ack_ids\":[");
        int k = 0;
        for (const char *p = strstr(r.body, "\"ack_id\":\""); p != NULL;
             p = strstr(p + 1, "\"ack_id\":\"")) {
            int ri = -1, ni = -1;
            const char *key = strstr(p, "\"key\":\"own.r");
            if (key != NULL && sscanf(key, "\"key\":\"own.r%d.n%d", &ri, &ni) == 2 && ri >= 0 &&
                ri < 16 && ni >= 0 && ni < 100) {
                pthread_mutex_lock(&seen_lock);
                tk->twice += tk->seen[ri][ni];
                tk->seen[ri][ni] = true;
                pthread_mutex_unlock(&seen_lock);
            }
            b += sprintf(b, "%s\"%.36s\"", k++ ? "," : "", p + 10);
            tk->got++;
        }
        sprintf(b, "]}");
        api_resp_free(&r);
        api_resp a = api_call(tk->port, "POST", "/api/streams/group/consumers/takers/ack", body);
        tk->failed += a.status != 200;
        api_resp_free(&a);
    }
    return NULL;
}

/* Many single upserts at once, which the server runs in shared transactions when they queue
 * up (group commit; this test does not see whether they did): each answer still counts
 * exactly what its own request published, as if the requests ran one by one. */
static void test_group_commit(void **state)
{
    struct server *s = *state;
    enum {
        RACERS = 16,
        EACH = 100
    };
    static struct racer r[RACERS];
    pthread_t t[RACERS];

    api_make_stream(s->port, "group");
    const char *modes[] = {"own", "same", "twin"};
    for (int m = 0; m < 3; m++) {
        for (int i = 0; i < RACERS; i++) {
            r[i] = (struct racer){s->port, i, EACH, 0, 0, modes[m]};
            pthread_create(&t[i], NULL, race, &r[i]);
        }
        int published = 0;
        for (int i = 0; i < RACERS; i++) {
            pthread_join(t[i], NULL);
            assert_int_equal(r[i].failed, 0);
            published += r[i].published;
        }
        print_message("%s: %d published\n", modes[m], published);
        if (m < 2) /* every request changed something */
            assert_int_equal(published, RACERS * EACH);
        else /* each key's first write publishes; the identical ones after it do not */
            assert_int_equal(published, EACH);
    }
    api_expect(s->port, "GET", "/api/streams/group", NULL, 200,
               "\"message_count\":1701"); /* 1600 own, 1 same, 100 twin */

    /* Receives of one consumer share calls too: 16 receivers taking 5 at a time share out
     * the 1,600 "own" messages, each exactly once. */
    api_expect(s->port, "POST", "/api/streams/group/consumers",
               "{\"name\":\"takers\",\"filter_key_pattern\":\"own.>\"}", 200, NULL);
    static struct taker tk[RACERS];
    static bool seen[RACERS][EACH];
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < RACERS; i++) {
        tk[i] = (struct taker){.port = s->port, .seen = seen};
        pthread_create(&t[i], NULL, take, &tk[i]);
    }
    int taken = 0;
    for (int i = 0; i < RACERS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(tk[i].twice, 0);
        assert_int_equal(tk[i].failed, 0);
        taken += tk[i].got;
    }
    assert_int_equal(taken, RACERS * EACH);
}

/* ---- a graceful stop with long polls waiting ---------------------------------------------------
 */

struct poller {
    int port, status;
    char body[64];
};

static void *poll_long(void *arg)
{
    struct poller *p = arg;
    p->status = api_try_status(p->port, "POST", "/api/streams/stopping/consumers/w/receive",
                               "{\"wait_for\":30000}");
    return NULL;
}

/* SIGTERM answers every waiting long poll at once (an empty 200) instead of holding the stop
 * for their wait_for, and the server exits 0. */
static void test_term_answers_long_polls(void **state)
{
    /* At debug level a worker logs each request it routed: SIGTERM comes once every poll is
     * a worker's (a connection still in the listen backlog would be refused by the stop). */
    struct server *s = api_serve("log:\n  level: debug\n");
    *state = s;
    enum {
        POLLS = 8
    };
    struct poller p[POLLS];
    pthread_t t[POLLS];

    api_make_stream(s->port, "stopping");
    api_expect(s->port, "POST", "/api/streams/stopping/consumers",
               "{\"name\":\"w\",\"filter_key_pattern\":\">\"}", 200, NULL);
    for (int i = 0; i < POLLS; i++) {
        p[i] = (struct poller){.port = s->port};
        pthread_create(&t[i], NULL, poll_long, &p[i]);
    }
    for (int64_t end = now_ms() + EVENT_MS;; sleep_ms(10)) {
        char *log = read_file(s->log);
        int routed = count_of(log, "POST /api/streams/stopping/consumers/w/receive");
        free(log);
        if (routed == POLLS)
            break;
        if (now_ms() > end)
            fail_msg("%d of %d long polls routed after %d ms", routed, POLLS, EVENT_MS);
    }
    int64_t start = now_ms();
    assert_int_equal(kill(s->pid, SIGTERM), 0);
    for (int i = 0; i < POLLS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(p[i].status, 200);
    }
    int status = 0;
    assert_true(wait_exit(s->pid, EVENT_MS, &status));
    s->pid = 0;
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(now_ms() - start < 5000); /* not the polls' 30 s */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        API_SERVER_TEST(test_worker_killed_under_load),
        API_SERVER_TEST(test_group_commit),
        cmocka_unit_test_teardown(test_term_answers_long_polls, teardown_server),
    };
    return cmocka_run_group_tests_name("sequind_load", tests, NULL, NULL);
}
