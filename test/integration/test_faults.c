/* Faults under load (issue 6): while writers upsert and receivers receive and ack, workers and
 * the master are killed with SIGKILL, PostgreSQL restarts and clients drop connections in the
 * middle of requests. Afterwards the test counts and prints what must never happen: an upsert
 * answered 200 that is missing, a stored message never delivered, a message held by two
 * receivers at once, an acked message delivered again without a change.
 *
 * FAULTS_MESSAGES sets the number of distinct keys (5000 by default; docs/reliability.md has
 * the run with 100000), FAULTS_SEED the random choices. The test restarts PostgreSQL, so it
 * needs a cluster of its own: test/run-test gives it one (SEQUIN_TEST_PGDATA). */
#include <errno.h>
#include <fcntl.h>
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
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "api_client.h"
#include "sequind_harness.h"

enum {
    WRITERS = 4,
    RECEIVERS = 4,
    WRITE_BATCH = 20,   /* new keys per upsert */
    RECEIVE_BATCH = 20, /* batch_size of each receive */
    ACK_WAIT_MS = 5000, /* a lease outlives any healthy round trip by far */
    SPREAD_MS = 12000,  /* the writers spread their keys over at least this long */
    DROP_KEYS = 4000,   /* room for the keys of upserts sent on connections closed at once */
    CALL_MS = 15000,    /* a read that takes longer counts as a failed request */
    DRAIN_MS = 120000,  /* after the load, everything is acked within this */
};

#define TARGET_UPSERT "/api/streams/faults/messages"
#define TARGET_RECEIVE "/api/streams/faults/consumers/all/receive"
#define TARGET_ACK "/api/streams/faults/consumers/all/ack"
#define TARGET_CONSUMER "/api/streams/faults/consumers/all"

/* ---- what the clients saw ------------------------------------------------------------------ */

/* Keys: writer w's i-th is "f.w<w>.<i>" (number w * per_writer + i); the j-th key upserted on a
 * connection that was closed at once is "f.d.<j>" (number writers_keys + j). The data of
 * version v of a key is "v<v>:<key>": writers upsert version 1, later change some keys to
 * version 2 and upsert others again with unchanged data. */
struct load {
    int port;
    int per_writer; /* keys per writer */
    int n_keys;     /* WRITERS * per_writer + DROP_KEYS */
    int64_t start_ms;
    unsigned seed;
    atomic_bool stop_receiving;
    atomic_bool stop_writing; /* a fault could not be injected: the test is over */
    atomic_int writers_left;
    _Atomic int64_t writes_end_ms; /* when the last writer finished */
    atomic_int drop_keys;          /* "f.d.*" keys used */
    /* per key, written by its writer only, read once the writers are joined */
    uint8_t *sent_ver;
    uint8_t *ok_ver; /* highest version an upsert answered 200 carried; 0: none */
    /* counters */
    atomic_int upserts_ok, upserts_failed_tries, upserts_given_up, unexpected_status;
    atomic_int receive_failed, ack_failed, malformed;
    atomic_int deliveries; /* so far, for the faults' loop */
};

struct delivery {
    int32_t key;
    uint8_t ver;
    int64_t t_req;    /* the receive was sent (us) */
    int64_t t_recv;   /* its answer arrived */
    int64_t ack_sent; /* the first ack attempt was sent; 0: never acked (abandoned) */
    int64_t ack_done; /* an ack of it was answered 200; 0: not */
};

struct receiver {
    struct load *load;
    unsigned seed;
    size_t n, cap;
    struct delivery *d;
    int abandoned;
};

static int key_number(const struct load *l, const char *key)
{
    int w, i;
    char tail;
    if (sscanf(key, "f.w%d.%d%c", &w, &i, &tail) == 2 && w >= 0 && w < WRITERS && i >= 0 &&
        i < l->per_writer)
        return w * l->per_writer + i;
    if (sscanf(key, "f.d.%d%c", &i, &tail) == 1 && i >= 0 && i < DROP_KEYS)
        return WRITERS * l->per_writer + i;
    return -1;
}

static void key_name(const struct load *l, int k, char *out, size_t size)
{
    if (k < WRITERS * l->per_writer)
        snprintf(out, size, "f.w%d.%d", k / l->per_writer, k % l->per_writer);
    else
        snprintf(out, size, "f.d.%d", k - WRITERS * l->per_writer);
}

/* The version in data "v<N>:<key>", checked against the key; 0 when it is not such data. */
static int data_version(const char *data, const char *key)
{
    int v = 0, n = 0;
    if (sscanf(data, "v%d:%n", &v, &n) != 1 || n == 0 || strcmp(data + n, key) != 0)
        return 0;
    return v;
}

/* The string value after `"name":"` at or after `from`, up to `limit`, copied into out. */
static bool field(const char *from, const char *limit, const char *name, char *out, size_t size)
{
    char pat[32];
    snprintf(pat, sizeof pat, "\"%s\":\"", name);
    const char *p = strstr(from, pat);
    if (p == NULL || (limit != NULL && p > limit))
        return false;
    p += strlen(pat);
    const char *e = strchr(p, '"');
    if (e == NULL || (size_t)(e - p) >= size)
        return false;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
    return true;
}

/* ---- writers --------------------------------------------------------------------------------- */

struct writer {
    struct load *load;
    int id;
    unsigned seed;
    api_conn *conn;
};

/* Appends `"key","data"` of version `ver` of key k to the batch and notes it was sent. */
static void add_message(struct load *l, char **p, int k, int ver, bool first)
{
    char key[64];
    key_name(l, k, key, sizeof key);
    *p += sprintf(*p, "%s{\"key\":\"%s\",\"data\":\"v%d:%s\"}", first ? "" : ",", key, ver, key);
    if (ver > l->sent_ver[k])
        l->sent_ver[k] = (uint8_t)ver;
}

static void *write_loop(void *arg)
{
    struct writer *wr = arg;
    struct load *l = wr->load;
    int base = wr->id * l->per_writer;
    static __thread char body[(WRITE_BATCH + 2) * 128 + 64];
    int keys[WRITE_BATCH + 2], vers[WRITE_BATCH + 2];

    for (int from = 0; from < l->per_writer && !atomic_load(&l->stop_writing);
         from += WRITE_BATCH) {
        /* Paced so that the load lasts through the faults even when it is small. */
        int64_t due = l->start_ms + (int64_t)SPREAD_MS * from / l->per_writer;
        while (now_ms() < due)
            sleep_ms(5);
        char *p = body;
        int n = 0;
        p += sprintf(p, "{\"messages\":[");
        for (int i = from; i < from + WRITE_BATCH && i < l->per_writer; i++) {
            keys[n] = base + i;
            vers[n] = 1;
            add_message(l, &p, keys[n], vers[n], n == 0);
            n++;
        }
        /* One earlier key changed (version 2), one upserted again unchanged: a consumer must
         * deliver the first again and must not deliver the second again. */
        if (from > 0) {
            int k = base + (int)(rand_r(&wr->seed) % (unsigned)from);
            if (l->ok_ver[k] == 1 && l->sent_ver[k] == 1) {
                keys[n] = k;
                vers[n] = 2;
                add_message(l, &p, k, 2, false);
                n++;
            }
            k = base + (int)(rand_r(&wr->seed) % (unsigned)from);
            if (l->ok_ver[k] == 1 && l->sent_ver[k] == 1) { /* not the key just changed */
                keys[n] = k;
                vers[n] = 1;
                add_message(l, &p, k, 1, false);
                n++;
            }
        }
        sprintf(p, "]}");
        /* Retried while the server is away (the same batch: upserts are idempotent). */
        int64_t give_up = now_ms() + 60000;
        for (;;) {
            api_resp r;
            int status = api_try_call(wr->conn, l->port, CALL_MS, "POST", TARGET_UPSERT, body, &r);
            api_resp_free(&r);
            if (status == 200) {
                atomic_fetch_add(&l->upserts_ok, 1);
                for (int i = 0; i < n; i++) {
                    if (vers[i] > l->ok_ver[keys[i]])
                        l->ok_ver[keys[i]] = (uint8_t)vers[i];
                }
                break;
            }
            if (status != -1 && status != 503)
                atomic_fetch_add(&l->unexpected_status, 1);
            atomic_fetch_add(&l->upserts_failed_tries, 1);
            if (now_ms() > give_up || atomic_load(&l->stop_writing)) {
                atomic_fetch_add(&l->upserts_given_up, 1);
                break;
            }
            sleep_ms(50);
        }
    }
    if (atomic_fetch_sub(&l->writers_left, 1) == 1)
        atomic_store(&l->writes_end_ms, now_ms());
    return NULL;
}

/* ---- receivers ------------------------------------------------------------------------------- */

static void note(struct receiver *rc, struct delivery d)
{
    if (rc->n == rc->cap) {
        rc->cap = rc->cap ? rc->cap * 2 : 1024;
        rc->d = realloc(rc->d, rc->cap * sizeof *rc->d);
        if (rc->d == NULL) {
            fprintf(stderr, "out of memory for %zu deliveries\n", rc->cap);
            abort(); /* not fail_msg: it may not leave a thread other than the test's */
        }
    }
    rc->d[rc->n++] = d;
}

static void *receive_loop(void *arg)
{
    struct receiver *rc = arg;
    struct load *l = rc->load;
    api_conn *conn = malloc(sizeof *conn);
    static __thread char acks[RECEIVE_BATCH * 48 + 32];

    conn->fd = -1;
    while (!atomic_load(&l->stop_receiving)) {
        api_resp r;
        int64_t t_req = now_us();
        int status = api_try_call(conn, l->port, CALL_MS, "POST", TARGET_RECEIVE,
                                  "{\"batch_size\":20,\"wait_for\":1000}", &r);
        int64_t t_recv = now_us();
        if (status != 200) {
            if (status != -1 && status != 503)
                atomic_fetch_add(&l->unexpected_status, 1);
            atomic_fetch_add(&l->receive_failed, 1);
            api_resp_free(&r);
            sleep_ms(50);
            continue;
        }
        size_t first = rc->n;
        char *p = acks;
        int n_acks = 0;
        p += sprintf(p, "{\"ack_ids\":[");
        for (const char *at = strstr(r.body, "\"ack_id\":\""); at != NULL;) {
            const char *next = strstr(at + 1, "\"ack_id\":\"");
            char ack[64], key[300], data[400];
            if (!field(at, next, "ack_id", ack, sizeof ack) ||
                !field(at, next, "key", key, sizeof key) ||
                !field(at, next, "data", data, sizeof data)) {
                atomic_fetch_add(&l->malformed, 1);
                break;
            }
            int k = key_number(l, key), v = data_version(data, key);
            if (k < 0 || v == 0) {
                atomic_fetch_add(&l->malformed, 1);
            } else {
                /* One delivery in a hundred is left to run out, as a receiver that crashed
                 * would: its redelivery after ack_wait_ms is legitimate. */
                bool abandon = rand_r(&rc->seed) % 100 == 0;
                note(rc, (struct delivery){k, (uint8_t)v, t_req, t_recv, 0, 0});
                atomic_fetch_add(&l->deliveries, 1);
                if (abandon) {
                    rc->abandoned++;
                    rc->d[rc->n - 1].ack_sent = 0;
                } else {
                    rc->d[rc->n - 1].ack_sent = -1; /* to be acked below */
                    p += sprintf(p, "%s\"%s\"", n_acks++ ? "," : "", ack);
                }
            }
            at = next;
        }
        api_resp_free(&r);
        sprintf(p, "]}");
        if (n_acks == 0)
            continue;
        int64_t sent = now_us(), done = 0;
        for (int attempt = 0; attempt < 3 && done == 0; attempt++) {
            status = api_try_call(conn, l->port, CALL_MS, "POST", TARGET_ACK, acks, &r);
            api_resp_free(&r);
            if (status == 200)
                done = now_us();
            else if (status != -1 && status != 503)
                atomic_fetch_add(&l->unexpected_status, 1);
            else
                sleep_ms(50);
        }
        if (done == 0)
            atomic_fetch_add(&l->ack_failed, 1);
        for (size_t i = first; i < rc->n; i++) {
            if (rc->d[i].ack_sent == -1) {
                rc->d[i].ack_sent = sent;
                rc->d[i].ack_done = done;
            }
        }
    }
    api_close(conn);
    free(conn);
    return NULL;
}

/* ---- faults ---------------------------------------------------------------------------------- */

struct faults {
    int worker_kills, master_kills, pg_restarts, drop_bursts;
    int half_requests, unread_upserts, unread_receives;
    int64_t master_gap_ms; /* longest time from a master's kill to the new one's READY=1 */
    int64_t pg_gap_ms;     /* longest PostgreSQL restart */
    char error[512];       /* the first fault that could not be injected */
};

static void fault_error(struct faults *f, const char *fmt, ...)
{
    if (f->error[0] != '\0')
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->error, sizeof f->error, fmt, ap);
    va_end(ap);
}

static void kill_worker(struct server *s, struct faults *f, unsigned *seed)
{
    pid_t kids[MAX_PIDS];
    size_t n = children_of(s->pid, kids, MAX_PIDS);
    if (n == 0)
        return; /* all of them being respawned right now: the next round kills one */
    if (kill(kids[rand_r(seed) % n], SIGKILL) == 0)
        f->worker_kills++;
}

/* kill -9 of the master, then sequind again on the same config and port. */
static void kill_master(struct server *s, struct faults *f)
{
    char err[256];
    int64_t gap = kill_master_and_restart(s, err, sizeof err);
    if (gap < 0) {
        fault_error(f, "%s", err);
        return;
    }
    f->master_kills++;
    if (gap > f->master_gap_ms)
        f->master_gap_ms = gap;
}

/* pg_ctl restart -m fast on the test's own cluster. */
static void restart_postgres(struct faults *f)
{
    char err[256];
    int64_t gap = restart_postgres_at(getenv("SEQUIN_TEST_PGDATA"), "fast", err, sizeof err);
    if (gap < 0) {
        fault_error(f, "%s", err);
        return;
    }
    f->pg_restarts++;
    if (gap > f->pg_gap_ms)
        f->pg_gap_ms = gap;
}

/* Sends `len` bytes of `req` on a new connection and closes it without reading. */
static bool send_and_close(int port, const char *req, size_t len)
{
    int fd = api_connect(port, 0);
    if (fd < 0)
        return false;
    bool sent = send(fd, req, len, MSG_NOSIGNAL) == (ssize_t)len;
    close(fd);
    return sent;
}

/* Clients that go away mid-request: half an upsert (its head and part of its body), a whole
 * upsert or receive sent and the connection closed before the answer (its outcome is
 * unknown: the upsert's key is not counted as answered, the receive's leases run out). */
static void drop_connections(struct load *l, struct faults *f)
{
    char req[1024], body[256], key[64];

    for (int i = 0; i < 10; i++) {
        int n = snprintf(req, sizeof req,
                         "POST " TARGET_UPSERT " HTTP/1.1\r\nHost: test\r\n"
                         "Content-Type: application/json\r\nContent-Length: 200\r\n\r\n"
                         "{\"messages\":[{\"key\":\"f.half.%d\",",
                         i);
        f->half_requests += send_and_close(l->port, req, (size_t)n);
        n = snprintf(req, sizeof req, "POST " TARGET_UPSERT " HTTP/1.1\r\nHost: te");
        f->half_requests += send_and_close(l->port, req, (size_t)n);
    }
    for (int i = 0; i < 20; i++) {
        int j = atomic_fetch_add(&l->drop_keys, 1);
        if (j >= DROP_KEYS)
            break;
        key_name(l, WRITERS * l->per_writer + j, key, sizeof key);
        int blen = snprintf(body, sizeof body,
                            "{\"messages\":[{\"key\":\"%s\",\"data\":\"v1:%s\"}]}", key, key);
        int n = snprintf(req, sizeof req,
                         "POST " TARGET_UPSERT " HTTP/1.1\r\nHost: test\r\n"
                         "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                         blen, body);
        f->unread_upserts += send_and_close(l->port, req, (size_t)n);
    }
    for (int i = 0; i < 3; i++) {
        const char *rb = "{\"batch_size\":5}";
        int n = snprintf(req, sizeof req,
                         "POST " TARGET_RECEIVE " HTTP/1.1\r\nHost: test\r\n"
                         "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                         strlen(rb), rb);
        f->unread_receives += send_and_close(l->port, req, (size_t)n);
    }
    f->drop_bursts++;
}

/* ---- the verdict ----------------------------------------------------------------------------- */

static int by_key_then_time(const void *a, const void *b)
{
    const struct delivery *x = a, *y = b;
    if (x->key != y->key)
        return (x->key > y->key) - (x->key < y->key);
    return (x->t_recv > y->t_recv) - (x->t_recv < y->t_recv);
}

/* The version of every stored key of the stream (0: not stored), read with SQL. */
static uint8_t *stored_versions(struct load *l, int *count)
{
    uint8_t *ver = calloc((size_t)l->n_keys, 1);
    PGconn *c = PQconnectdb(db_url());
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, "SELECT m.key, m.data FROM sequin.messages m "
                            "JOIN sequin.streams s ON s.num = m.stream WHERE s.name = 'faults'");
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("reading the stream: %s", PQerrorMessage(c));
    *count = PQntuples(r);
    for (int i = 0; i < PQntuples(r); i++) {
        const char *key = PQgetvalue(r, i, 0);
        int k = key_number(l, key), v = data_version(PQgetvalue(r, i, 1), key);
        if (strncmp(key, "f.half.", 7) == 0)
            fail_msg("%s is stored, but its upsert never got its whole body", key);
        if (k < 0 || v == 0)
            fail_msg("a message the test never sent: %s = %s", key, PQgetvalue(r, i, 1));
        ver[k] = (uint8_t)v;
    }
    PQclear(r);
    PQfinish(c);
    return ver;
}

/* How many times `page` says `"name":N` for the first time; -1 when absent. */
static long stat_of(const char *page, const char *name)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", name);
    const char *p = strstr(page, pat);
    return p != NULL ? strtol(p + strlen(pat), NULL, 10) : -1;
}

/* Waits until the consumer has nothing left that is not acked. */
static bool drained(int port, int64_t deadline_ms, char *last, size_t size)
{
    api_conn *c = malloc(sizeof *c);
    bool done = false;
    c->fd = -1;
    while (!done && now_ms() < deadline_ms) {
        api_resp r;
        if (api_try_call(c, port, CALL_MS, "GET", TARGET_CONSUMER, NULL, &r) == 200) {
            snprintf(last, size, "%s", r.body);
            done = stat_of(r.body, "available") == 0 && stat_of(r.body, "delivered") == 0 &&
                   stat_of(r.body, "dead") == 0;
        }
        api_resp_free(&r);
        if (!done)
            sleep_ms(250);
    }
    api_close(c);
    free(c);
    return done;
}

/* A message the receivers never got: what the store says of it for the consumer (its seq,
 * its state, its deliveries), so that a rare failure leaves the evidence in the log. */
static void print_never_delivered(int port, const char *key, int ver)
{
    char target[160];
    snprintf(target, sizeof target, "/api/streams/faults/messages/%s/consumer_info", key);
    api_conn *c = malloc(sizeof *c);
    api_resp r;
    c->fd = -1;
    int status = api_try_call(c, port, CALL_MS, "GET", target, NULL, &r);
    print_message("never delivered: %s v%d; the store says (%d): %s\n", key, ver, status,
                  status > 0 ? r.body : "");
    api_resp_free(&r);
    api_close(c);
    free(c);
}

static int env_int(const char *name, int dflt, int lo, int hi)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0')
        return dflt;
    char *end;
    long n = strtol(v, &end, 10);
    if (*end != '\0' || n < lo || n > hi)
        fail_msg("%s=%s: wanted a number in %d..%d", name, v, lo, hi);
    return (int)n;
}

static void test_faults_under_load(void **state)
{
    const char *pgdata = getenv("SEQUIN_TEST_PGDATA");
    if (pgdata == NULL || *pgdata == '\0' || getenv("SEQUIN_TEST_PG_BINDIR") == NULL)
        fail_msg("SEQUIN_TEST_PGDATA is not set: the test restarts PostgreSQL, so it needs a "
                 "cluster of its own (run it through test/run-test or test/with-postgres, "
                 "without an outer SEQUIN_TEST_PG_ADMIN_URL)");
    int messages = env_int("FAULTS_MESSAGES", 5000, 100, 1000000);
    static struct load l;
    static struct faults f;
    static struct writer wr[WRITERS];
    static struct receiver rc[RECEIVERS];
    pthread_t wt[WRITERS], rt[RECEIVERS];
    char last[4096] = "";

    memset(&l, 0, sizeof l);
    memset(&f, 0, sizeof f);
    memset(rc, 0, sizeof rc);
    l.seed = (unsigned)env_int("FAULTS_SEED", (int)(time(NULL) % 1000000), 0, 1 << 30);
    l.per_writer = (messages + WRITERS - 1) / WRITERS;
    l.n_keys = WRITERS * l.per_writer + DROP_KEYS;
    l.sent_ver = calloc((size_t)l.n_keys, 1);
    l.ok_ver = calloc((size_t)l.n_keys, 1);

    /* log.level warn: the access log of a long run would be most of the time spent writing. */
    struct server *s = started(false, "log:\n  level: warn\n");
    *state = s;
    api_wait_ready(s);
    l.port = s->port;
    api_expect(s->port, "POST", "/api/streams", "{\"name\":\"faults\"}", 200, NULL);
    api_expect(s->port, "POST", "/api/streams/faults/consumers",
               "{\"name\":\"all\",\"filter_key_pattern\":\"f.>\",\"ack_wait_ms\":5000}", 200, NULL);
    print_message("faults: %d keys, %d writers, %d receivers, ack_wait_ms %d, seed %u\n",
                  WRITERS * l.per_writer, WRITERS, RECEIVERS, ACK_WAIT_MS, l.seed);

    int64_t began = now_ms();
    l.start_ms = began;
    atomic_store(&l.writers_left, WRITERS);
    for (int i = 0; i < RECEIVERS; i++) {
        rc[i] = (struct receiver){.load = &l, .seed = l.seed + 100 + (unsigned)i};
        pthread_create(&rt[i], NULL, receive_loop, &rc[i]);
    }
    for (int i = 0; i < WRITERS; i++) {
        wr[i] = (struct writer){.load = &l, .id = i, .seed = l.seed + (unsigned)i};
        wr[i].conn = malloc(sizeof *wr[i].conn);
        wr[i].conn->fd = -1;
        pthread_create(&wt[i], NULL, write_loop, &wr[i]);
    }

    /* The faults, in rounds, while the writers write or the receivers have most of the
     * stream still to receive (at least one round). */
    unsigned seed = l.seed;
    for (int round = 0; f.error[0] == '\0'; round++) {
        if (round > 0 && atomic_load(&l.writers_left) == 0 &&
            atomic_load(&l.deliveries) >= WRITERS * l.per_writer * 9 / 10)
            break;
        static const char plan[] = "wdpwmdwp"; /* worker, drop, postgres, master */
        for (const char *step = plan; *step != '\0' && f.error[0] == '\0'; step++) {
            sleep_ms(1500);
            switch (*step) {
            case 'w':
                kill_worker(s, &f, &seed);
                break;
            case 'd':
                drop_connections(&l, &f);
                break;
            case 'p':
                restart_postgres(&f);
                break;
            default:
                kill_master(s, &f);
                break;
            }
        }
    }
    int64_t faults_end = now_ms();
    if (f.error[0] != '\0')
        atomic_store(&l.stop_writing, true);
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(wt[i], NULL);
        api_close(wr[i].conn);
        free(wr[i].conn);
    }

    /* Receive until everything is acked (abandoned leases run out and come back). */
    bool empty = f.error[0] == '\0' &&
                 drained(s->port, now_ms() + DRAIN_MS + messages / 10, last, sizeof last);
    atomic_store(&l.stop_receiving, true);
    for (int i = 0; i < RECEIVERS; i++)
        pthread_join(rt[i], NULL);
    if (f.error[0] != '\0') {
        char *text = read_file(s->log);
        print_message("log:\n%s\n", text);
        free(text);
        fail_msg("%s", f.error);
    }
    if (!empty)
        fail_msg("the consumer still had messages not acked %d ms after the load: %s",
                 DRAIN_MS + messages / 10, last);

    /* Everything the clients saw, by key and time. */
    size_t total = 0;
    int abandoned = 0;
    for (int i = 0; i < RECEIVERS; i++)
        total += rc[i].n;
    struct delivery *all = malloc((total + 1) * sizeof *all);
    total = 0;
    for (int i = 0; i < RECEIVERS; i++) {
        memcpy(all + total, rc[i].d, rc[i].n * sizeof *all);
        total += rc[i].n;
        abandoned += rc[i].abandoned;
        free(rc[i].d);
    }
    qsort(all, total, sizeof *all, by_key_then_time);

    int stored_count;
    uint8_t *stored = stored_versions(&l, &stored_count);
    uint8_t *delivered_ver = calloc((size_t)l.n_keys, 4); /* bit v: version v was delivered */
    long missing = 0, never = 0, twice = 0, unchanged = 0, answered = 0, redeliveries = 0;
    const int64_t lease_us = (int64_t)ACK_WAIT_MS * 1000 - 50000; /* 50 ms for the clocks */
    char key[64];

    /* Each delivery is compared with the earlier ones of its key, and counted once. */
    for (size_t i = 0; i < total; i++) {
        struct delivery *b = &all[i];
        bool held = false, again = false;
        delivered_ver[b->key] |= (uint8_t)(1u << b->ver);
        redeliveries += i > 0 && all[i - 1].key == b->key;
        for (size_t j = i; j > 0 && all[j - 1].key == b->key; j--) {
            struct delivery *a = &all[j - 1];
            int64_t from = a->t_req < b->t_req ? a->t_req : b->t_req;
            /* Both leases were granted within one ack wait of each other (by the database's
             * clock, each at the start of a transaction inside its request), and the first
             * was not yet acked when the second was handed out: two holders at once. */
            held = held ||
                   (b->t_recv - from < lease_us && (a->ack_sent == 0 || a->ack_sent > b->t_recv));
            /* Acked (answered 200) before the later receive was sent, and the same data. */
            if (!again && a->ack_done != 0 && a->ack_done < b->t_req && a->ver == b->ver) {
                again = true;
                key_name(&l, b->key, key, sizeof key);
                if (unchanged++ < 10)
                    print_message("redelivered after its ack, unchanged: %s v%d, acked at "
                                  "%+.3f s, received again at %+.3f s\n",
                                  key, b->ver, (double)(a->ack_done / 1000 - began) / 1e3,
                                  (double)(b->t_recv / 1000 - began) / 1e3);
            }
        }
        if (held) {
            key_name(&l, b->key, key, sizeof key);
            if (twice++ < 10)
                print_message("held twice: %s v%d, received at %+.3f s while an earlier lease "
                              "held\n",
                              key, b->ver, (double)(b->t_recv / 1000 - began) / 1e3);
        }
    }
    for (int k = 0; k < l.n_keys; k++) {
        answered += l.ok_ver[k] > 0;
        key_name(&l, k, key, sizeof key);
        if (stored[k] < l.ok_ver[k]) {
            if (missing++ < 10)
                print_message("missing: %s, answered 200 with v%d, stored v%d\n", key, l.ok_ver[k],
                              stored[k]);
        }
        /* The data a key ends with is delivered: what is stored, or what was answered 200 if
         * that is newer (then it is missing too). */
        int want = stored[k] > l.ok_ver[k] ? stored[k] : l.ok_ver[k];
        if (want > 0 && (delivered_ver[k] & (1u << want)) == 0) {
            if (never++ < 10)
                print_never_delivered(s->port, key, want);
        }
    }

    print_message("faults injected: %d worker kills, %d master kills (back in at most %lld "
                  "ms), %d PostgreSQL restarts (at most %lld ms), %d bursts of dropped "
                  "connections (%d half requests, %d upserts and %d receives left unread)\n",
                  f.worker_kills, f.master_kills, (long long)f.master_gap_ms, f.pg_restarts,
                  (long long)f.pg_gap_ms, f.drop_bursts, f.half_requests, f.unread_upserts,
                  f.unread_receives);
    print_message(
        "load: %ld keys answered 200 (%d upsert requests; %d tries failed and were "
        "retried, %d given up), %d stored; the writes took %.1f s, the faults went on for %.1f s\n",
        answered, atomic_load(&l.upserts_ok), atomic_load(&l.upserts_failed_tries),
        atomic_load(&l.upserts_given_up), stored_count,
        (double)(atomic_load(&l.writes_end_ms) - began) / 1e3, (double)(faults_end - began) / 1e3);
    print_message("deliveries: %zu (%ld redeliveries, %d left to run out on purpose); %d "
                  "receives and %d acks failed; drained after %.1f s\n",
                  total, redeliveries, abandoned, atomic_load(&l.receive_failed),
                  atomic_load(&l.ack_failed), (double)(now_ms() - began) / 1e3);
    print_message("upserts answered 200 but missing:        %ld\n", missing);
    print_message("messages never delivered:                %ld\n", never);
    print_message("messages held by two receivers at once:  %ld\n", twice);
    print_message("acked messages redelivered unchanged:    %ld\n", unchanged);

    free(all);
    free(stored);
    free(delivered_ver);
    free(l.sent_ver);
    free(l.ok_ver);
    assert_int_equal(missing, 0);
    assert_int_equal(never, 0);
    assert_int_equal(twice, 0);
    assert_int_equal(unchanged, 0);
    assert_int_equal(atomic_load(&l.malformed), 0);
    assert_int_equal(atomic_load(&l.unexpected_status), 0);
    /* The test injected what it says, and the load got through it. */
    assert_true(f.worker_kills >= 1 && f.master_kills >= 1 && f.pg_restarts >= 1 &&
                f.drop_bursts >= 1);
    assert_true(answered >= WRITERS * l.per_writer * 9 / 10);
    assert_true(abandoned > 0 && redeliveries >= abandoned);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_faults_under_load, teardown_server),
    };
    return cmocka_run_group_tests_name("faults", tests, NULL, NULL);
}
