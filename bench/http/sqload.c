/* sqload: drives a running sequind over HTTP/1.1 keep-alive connections from one epoll loop
 * and prints messages/s and latency percentiles. bench/http/run starts the server and the
 * plain-queue baseline around it; docs/performance.md has the results.
 *
 *   sqload [options] MODE
 *     upsert       POST .../messages with --batch messages per request (unique new keys)
 *     recv         receive --batch (default 10) then ack them, per connection, in a loop
 *     e2e          --writers connections upsert one message each at --rate messages/s in
 *                  total; the other connections long-poll (wait_for) and ack: the latency is
 *                  from an upsert's 200 to the long poll's answer carrying it
 *     mixed        the soak's load: --rate messages/s upserted (some keys changed again),
 *                  receivers that ack, nack now and then and let some leases expire; then,
 *                  with -D, a drain (below). Counts deliveries of a message version whose ack
 *                  had been answered before the receive went out (redelivered_after_ack,
 *                  which must be 0: an acked message comes back only when it changes)
 *
 *   -h HOST:PORT (127.0.0.1:7376)  -s STREAM (default)  -c CONSUMER (bench)  -t TOKEN
 *   -n CONNECTIONS (32)  -d SECONDS (10)  -b BATCH  -r RATE  -w WRITERS (4)
 *   -k KEY_PREFIX (bench): keys are PREFIX<pid>.k<n>, new in every run  -i REPORT_INTERVAL_SECONDS
 * (0: only at the end) -m MESSAGES: stop once that many messages were upserted or received (0: no
 * limit)  -D SECONDS (mixed): after the run, stop writing and ack everything until no delivery
 * came for that long, then let the receives in flight answer  -p DATA: each message's data
 * (default: the plain-queue baseline's payload, {"product": "Shoes"}, so that a ratio to the
 * baseline compares messages of one size; in mixed mode a counter follows it, so that a
 * rewritten key's data changes)
 *
 * The last line is machine-readable: "RESULT mode=... msgs_per_s=... p50_ms=... p99_ms=...
 * p999_ms=... requests=... errors=...". Exit 1 when a request failed at the HTTP level (a
 * status other than 200) more than 1% of the time, so a broken run does not pass for a slow
 * one. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IN_MAX (4 << 20)
#define MAX_ACKS 1000

enum mode {
    MODE_UPSERT,
    MODE_RECV,
    MODE_E2E,
    MODE_MIXED
};
enum role {
    ROLE_WRITER,
    ROLE_READER
};
enum phase {
    PH_IDLE,
    PH_RECEIVE,
    PH_ACK,
    PH_NACK,
    PH_UPSERT
};

struct conn {
    int fd;
    int id;
    enum role role;
    enum phase phase;
    char *out;
    size_t out_len, out_off;
    char *in;
    size_t in_len;
    int64_t sent_us;   /* when the request went out: its latency starts there */
    int64_t cycle_us;  /* receive+ack: when the receive went out */
    int64_t next_us;   /* rate-limited writers: when the next upsert is due */
    long long counter; /* keys written by this connection */
    int pending_msgs;  /* messages the request in flight carries or acks */
    int acks;
    char ack_ids[MAX_ACKS][37];
    long long ack_keys[MAX_ACKS]; /* mixed: the key number and seq of each delivery */
    long long ack_seqs[MAX_ACKS];
};

struct samples {
    int32_t *v; /* microseconds */
    size_t n, cap;
};

static struct {
    const char *host, *stream, *consumer, *token, *prefix;
    int port, conns, duration, batch, rate, writers, interval, drain;
    long long max_msgs;
    enum mode mode;
} opt = {.host = "127.0.0.1",
         .port = 7376,
         .stream = "default",
         .consumer = "bench",
         .prefix = "bench",
         .conns = 32,
         .duration = 10,
         .batch = 0,
         .rate = 0,
         .writers = 4};

static struct samples lat; /* per request (upsert) or per cycle (receive + ack) */
static struct samples e2e; /* e2e: upsert's 200 to delivery */
static long long msgs, requests, errors, interval_msgs;
static long long empty_receives; /* recv mode: receives that found nothing (the stream ran dry) */
static int64_t *answered_us;     /* e2e: when each key's upsert was answered, by key number */
static size_t answered_cap;
/* mixed: per key number, the last seq whose ack was answered 200 and when */
static long long *acked_seq;
static int64_t *acked_us;
static size_t acked_cap;
static long long redelivered_after_ack;
static bool draining, stopping; /* mixed with -D: writers stopped; no new receive */
static int64_t last_delivery_us;
static const char *payload = "{\"product\": \"Shoes\"}";
static char *data; /* the payload as the inside of a JSON string */

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void die(const char *what)
{
    fprintf(stderr, "sqload: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void add(struct samples *s, int64_t us)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 65536;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (s->v == NULL)
            die("realloc");
    }
    s->v[s->n++] = (int32_t)(us > INT32_MAX ? INT32_MAX : us < 0 ? 0 : us);
}

static int cmp32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static double pct(struct samples *s, double p)
{
    if (s->n == 0)
        return 0;
    size_t i = (size_t)(p * (double)(s->n - 1) + 0.5);
    return s->v[i] / 1000.0;
}

/* ---- requests ------------------------------------------------------------------------------ */

static void set_request(struct conn *c, const char *method, const char *path, const char *body,
                        size_t body_len)
{
    char head[512];
    int n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n%s%s%s\r\n",
                     method, path, opt.host, body_len, opt.token ? "Authorization: Bearer " : "",
                     opt.token ? opt.token : "", opt.token ? "\r\n" : "");
    c->out = realloc(c->out, (size_t)n + body_len);
    if (c->out == NULL)
        die("realloc");
    memcpy(c->out, head, (size_t)n);
    memcpy(c->out + n, body, body_len);
    c->out_len = (size_t)n + body_len;
    c->out_off = 0;
    c->sent_us = now_us();
}

static char path_buf[256];

static const char *api_path(const char *tail)
{
    if (tail[0] == 'm')
        snprintf(path_buf, sizeof path_buf, "/api/streams/%s/%s", opt.stream, tail);
    else
        snprintf(path_buf, sizeof path_buf, "/api/streams/%s/consumers/%s/%s", opt.stream,
                 opt.consumer, tail);
    return path_buf;
}

/* The key number of e2e and mixed writers: unique across connections. */
static long long next_key(struct conn *c)
{
    return c->counter++ * opt.conns + c->id;
}

static void start_upsert(struct conn *c)
{
    static char *body;
    static size_t cap;
    size_t need = (size_t)opt.batch * (strlen(data) + 128) + 64;
    if (cap < need) {
        body = realloc(body, need);
        cap = need;
        if (body == NULL)
            die("realloc");
    }
    size_t len = (size_t)sprintf(body, "{\"messages\":[");
    for (int i = 0; i < opt.batch; i++) {
        long long k = next_key(c);
        if (opt.mode == MODE_MIXED && c->counter % 10 == 0 && c->counter > 100)
            k -= 100LL * opt.conns; /* every tenth write changes this writer's 100th-last key */
        len += (size_t)sprintf(body + len, "%s{\"key\":\"%s%d.k%lld\",\"data\":\"%s", i ? "," : "",
                               opt.prefix, (int)getpid(), k, data);
        if (opt.mode == MODE_MIXED)
            len += (size_t)sprintf(body + len, " %lld", (long long)c->counter);
        len += (size_t)sprintf(body + len, "\"}");
    }
    len += (size_t)sprintf(body + len, "]}");
    c->phase = PH_UPSERT;
    c->pending_msgs = opt.batch;
    set_request(c, "POST", api_path("messages"), body, len);
}

static void start_receive(struct conn *c)
{
    char body[96];
    /* Long polls take up to 100 at a time: a reader must keep up with every writer. */
    bool polls = opt.mode == MODE_E2E || opt.mode == MODE_MIXED;
    int n = snprintf(body, sizeof body, "{\"batch_size\":%d,\"wait_for\":%d}",
                     polls ? 100 : opt.batch, polls ? 5000 : 0);
    c->phase = PH_RECEIVE;
    c->cycle_us = now_us();
    set_request(c, "POST", api_path("receive"), body, (size_t)n);
}

/* Acks (or nacks) what the last receive gave. */
static void start_settle(struct conn *c, bool nack)
{
    static char body[MAX_ACKS * 40 + 64];
    size_t len = (size_t)sprintf(body, "{\"ack_ids\":[");
    for (int i = 0; i < c->acks; i++)
        len += (size_t)sprintf(body + len, "%s\"%s\"", i ? "," : "", c->ack_ids[i]);
    len += (size_t)sprintf(body + len, "]}");
    c->phase = nack ? PH_NACK : PH_ACK;
    c->pending_msgs = c->acks;
    set_request(c, "POST", api_path(nack ? "nack" : "ack"), body, len);
}

/* ---- responses ----------------------------------------------------------------------------- */

/* The length of a complete response at the start of `in`, or 0. */
static size_t complete(const char *in, size_t len, int *status, const char **body, size_t *body_len)
{
    const char *end = memmem(in, len, "\r\n\r\n", 4);
    if (end == NULL)
        return 0;
    size_t head = (size_t)(end - in) + 4;
    const char *cl = memmem(in, head, "Content-Length: ", 16);
    size_t blen = cl ? strtoul(cl + 16, NULL, 10) : 0;
    if (len < head + blen)
        return 0;
    *status = atoi(in + 9);
    *body = in + head;
    *body_len = blen;
    return head + blen;
}

/* The key number of the delivery whose ack id starts at `p` (keys are PREFIX<pid>.k<n>), or -1;
 * its seq goes to `*seq`. */
static long long delivery_key(const char *p, const char *end, long long *seq)
{
    const char *k = memmem(p, (size_t)(end - p), "\"key\":\"", 7);
    const char *dot = k ? memmem(k + 7, (size_t)(end - k - 7), ".k", 2) : NULL;
    const char *sq = k ? memmem(k, (size_t)(end - k), "\"seq\":", 6) : NULL;
    *seq = sq ? atoll(sq + 6) : -1;
    return dot ? atoll(dot + 2) : -1;
}

/* Reads the receive's ack ids (for e2e, the delivery latency of each key; for mixed, whether an
 * answered ack of the same version preceded this receive). */
static void take_deliveries(struct conn *c, const char *body, size_t len, int64_t now)
{
    const char *p = body, *end = body + len;
    c->acks = 0;
    while ((p = memmem(p, (size_t)(end - p), "\"ack_id\":\"", 10)) != NULL) {
        p += 10;
        long long seq, n = delivery_key(p, end, &seq);
        if (opt.mode == MODE_E2E && n >= 0 && (size_t)n < answered_cap && answered_us[n] != 0)
            add(&e2e, now - answered_us[n]);
        if (opt.mode == MODE_MIXED && n >= 0 && (size_t)n < acked_cap && acked_seq[n] == seq &&
            acked_us[n] < c->cycle_us) {
            if (redelivered_after_ack++ < 5)
                fprintf(stderr, "sqload: key number %lld seq %lld delivered again after its ack\n",
                        n, seq);
        }
        if (c->acks < MAX_ACKS && end - p > 36) {
            memcpy(c->ack_ids[c->acks], p, 36);
            c->ack_ids[c->acks][36] = '\0';
            c->ack_keys[c->acks] = n;
            c->ack_seqs[c->acks] = seq;
            c->acks++;
        }
    }
    if (c->acks > 0)
        last_delivery_us = now;
}

/* mixed: remembers the versions an answered ack settled. */
static void note_acked(struct conn *c, int64_t now)
{
    for (int i = 0; i < c->acks; i++) {
        long long n = c->ack_keys[i];
        if (n >= 0 && (size_t)n < acked_cap && c->ack_seqs[i] >= acked_seq[n]) {
            acked_seq[n] = c->ack_seqs[i];
            acked_us[n] = now;
        }
    }
}

static void next_request(struct conn *c, int64_t now);

static void on_response(struct conn *c, int status, const char *body, size_t len)
{
    int64_t now = now_us();
    requests++;
    if (status != 200) {
        errors++;
        if (errors <= 5)
            fprintf(stderr, "sqload: HTTP %d: %.*s\n", status, (int)(len < 200 ? len : 200), body);
        c->phase = PH_IDLE;
        next_request(c, now);
        return;
    }
    switch (c->phase) {
    case PH_UPSERT:
        add(&lat, now - c->sent_us);
        msgs += c->pending_msgs;
        interval_msgs += c->pending_msgs;
        if (opt.mode == MODE_E2E) {
            long long k = (c->counter - 1) * opt.conns + c->id;
            if ((size_t)k < answered_cap)
                answered_us[k] = now;
        }
        c->phase = PH_IDLE;
        break;
    case PH_RECEIVE:
        take_deliveries(c, body, len, now);
        if (c->acks == 0) {
            empty_receives += opt.mode == MODE_RECV;
            c->phase = PH_IDLE; /* nothing (yet): ask again */
            break;
        }
        if (opt.mode == MODE_MIXED && !draining && c->counter++ % 50 == 49) {
            c->phase = PH_IDLE; /* let these leases expire: they come back after ack_wait */
            break;
        }
        start_settle(c, opt.mode == MODE_MIXED && !draining && c->counter % 20 == 7);
        return;
    case PH_ACK:
    case PH_NACK:
        if (c->phase == PH_ACK && opt.mode == MODE_MIXED)
            note_acked(c, now);
        if (c->phase == PH_ACK && opt.mode == MODE_RECV) { /* e2e and mixed count upserts */
            msgs += c->pending_msgs;
            interval_msgs += c->pending_msgs;
        }
        add(&lat, now - c->cycle_us);
        c->phase = PH_IDLE;
        break;
    default:
        break;
    }
    next_request(c, now);
}

/* Queues the connection's next request, unless a rate-limited writer must wait. */
static void next_request(struct conn *c, int64_t now)
{
    if (stopping || (draining && c->role == ROLE_WRITER)) {
        c->phase = PH_IDLE;
        c->out_len = 0;
        return;
    }
    if (c->role == ROLE_READER) {
        start_receive(c);
        return;
    }
    if (opt.rate > 0) {
        double per_conn_us = 1e6 * opt.writers * opt.batch / (double)opt.rate;
        c->next_us = c->next_us == 0 ? now : c->next_us + (int64_t)per_conn_us;
        if (c->next_us > now) {
            c->phase = PH_IDLE;
            c->out_len = 0;
            return;
        }
    }
    start_upsert(c);
}

/* ---- the loop ------------------------------------------------------------------------------ */

static int open_conn(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
    if (inet_pton(AF_INET, opt.host, &a.sin_addr) != 1) {
        fprintf(stderr, "sqload: -h wants an IPv4 address and port\n");
        exit(2);
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        die("connect");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void pump_out(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("send");
        c->out_off += (size_t)n;
    }
}

static void pump_in(struct conn *c)
{
    ssize_t n = recv(c->fd, c->in + c->in_len, IN_MAX - c->in_len, 0);
    if (n == 0) {
        fprintf(stderr, "sqload: the server closed a connection\n");
        exit(2);
    }
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        die("recv");
    }
    c->in_len += (size_t)n;
    for (;;) {
        int status;
        const char *body;
        size_t blen, used = complete(c->in, c->in_len, &status, &body, &blen);
        if (used == 0)
            break;
        on_response(c, status, body, blen);
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
        if (c->out_len > 0)
            pump_out(c);
    }
    if (c->in_len == IN_MAX) {
        fprintf(stderr, "sqload: response larger than %d bytes\n", IN_MAX);
        exit(2);
    }
}

/* `s` escaped for the inside of a JSON string (quotes, backslashes, control bytes). */
static char *json_string_body(const char *s)
{
    char *out = malloc(6 * strlen(s) + 1), *o = out;
    if (out == NULL)
        die("malloc");
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            *o++ = '\\', *o++ = (char)ch;
        else if (ch < 0x20)
            o += sprintf(o, "\\u%04x", ch);
        else
            *o++ = (char)ch;
    }
    *o = '\0';
    return out;
}

static void usage(void)
{
    fprintf(stderr, "usage: sqload [-h HOST:PORT] [-s STREAM] [-c CONSUMER] [-t TOKEN] [-n CONNS]\n"
                    "              [-d SECONDS] [-b BATCH] [-r RATE] [-w WRITERS] [-k PREFIX]\n"
                    "              [-i SECONDS] [-m MESSAGES] [-D SECONDS] [-p DATA]\n"
                    "              upsert|recv|e2e|mixed\n");
    exit(2);
}

/* The options that set one value, and where it goes: a string, an int or a long long (-h, which
 * sets two, is read apart). */
static const struct {
    char letter;
    const char **text;
    int *number;
    long long *count;
} settings[] = {
    {'s', &opt.stream, NULL, NULL},   {'c', &opt.consumer, NULL, NULL},
    {'t', &opt.token, NULL, NULL},    {'k', &opt.prefix, NULL, NULL},
    {'p', &payload, NULL, NULL},      {'n', NULL, &opt.conns, NULL},
    {'d', NULL, &opt.duration, NULL}, {'b', NULL, &opt.batch, NULL},
    {'r', NULL, &opt.rate, NULL},     {'w', NULL, &opt.writers, NULL},
    {'i', NULL, &opt.interval, NULL}, {'D', NULL, &opt.drain, NULL},
    {'m', NULL, NULL, &opt.max_msgs},
};

/* Sets what option `letter` sets to `value`; false for an option it does not know. */
static bool set_option(int letter, char *value)
{
    if (letter == 'h') {
        char *colon = strrchr(value, ':');
        if (colon == NULL)
            return false;
        *colon = '\0';
        opt.host = value;
        opt.port = atoi(colon + 1);
        return true;
    }
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
        if (settings[i].letter != letter)
            continue;
        if (settings[i].text != NULL)
            *settings[i].text = value;
        else if (settings[i].number != NULL)
            *settings[i].number = atoi(value);
        else
            *settings[i].count = atoll(value);
        return true;
    }
    return false;
}

static const char *const mode_names[] = {
    [MODE_UPSERT] = "upsert",
    [MODE_RECV] = "recv",
    [MODE_E2E] = "e2e",
    [MODE_MIXED] = "mixed",
};

int main(int argc, char **argv)
{
    int ch;
    while ((ch = getopt(argc, argv, "h:s:c:t:n:d:b:r:w:k:i:m:D:p:")) != -1) {
        if (!set_option(ch, optarg))
            usage();
    }
    if (optind != argc - 1 || opt.conns < 1 || opt.duration < 1)
        usage();
    const char *m = argv[optind];
    size_t mode = 0;
    while (mode < sizeof mode_names / sizeof mode_names[0] && strcmp(m, mode_names[mode]) != 0)
        mode++;
    if (mode == sizeof mode_names / sizeof mode_names[0])
        usage();
    opt.mode = (enum mode)mode;
    if (opt.batch <= 0)
        opt.batch = opt.mode == MODE_UPSERT ? 1 : opt.mode == MODE_E2E ? 1 : 10;
    if ((opt.mode == MODE_E2E || opt.mode == MODE_MIXED) &&
        (opt.rate <= 0 || opt.writers < 1 || opt.writers >= opt.conns))
        usage();
    data = json_string_body(payload);
    if (opt.mode == MODE_E2E) {
        /* an unbounded rate (the full-speed run) is far below 200,000 msg/s in practice */
        size_t rate = (size_t)(opt.rate < 200000 ? opt.rate : 200000);
        answered_cap = rate * (size_t)(opt.duration + 5) + (size_t)opt.conns * 16;
        answered_cap *= (size_t)opt.conns; /* keys are spread by connection */
        answered_us = calloc(answered_cap, sizeof *answered_us);
        if (answered_us == NULL)
            die("calloc");
    }
    if (opt.mode == MODE_MIXED) {
        /* key numbers are counter * conns + writer id, a writer's counter at most its share
         * of the rate for the run (writers that fell behind catch up, never run ahead) */
        acked_cap = ((size_t)opt.rate / (size_t)opt.writers + 1) * (size_t)(opt.duration + 5) + 16;
        acked_cap *= (size_t)opt.conns;
        acked_seq = calloc(acked_cap, sizeof *acked_seq);
        acked_us = calloc(acked_cap, sizeof *acked_us);
        if (acked_seq == NULL || acked_us == NULL)
            die("calloc");
    }

    int ep = epoll_create1(0);
    struct conn *cs = calloc((size_t)opt.conns, sizeof *cs);
    if (ep < 0 || cs == NULL)
        die("setup");
    int64_t start = now_us(), end = start + (int64_t)opt.duration * 1000000;
    int64_t next_report = opt.interval > 0 ? start + (int64_t)opt.interval * 1000000 : INT64_MAX;
    for (int i = 0; i < opt.conns; i++) {
        struct conn *c = &cs[i];
        c->id = i;
        c->fd = open_conn();
        c->in = malloc(IN_MAX);
        if (c->in == NULL)
            die("malloc");
        bool writes = opt.mode == MODE_UPSERT ||
                      ((opt.mode == MODE_E2E || opt.mode == MODE_MIXED) && i < opt.writers);
        c->role = writes ? ROLE_WRITER : ROLE_READER;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
            die("epoll_ctl");
        next_request(c, start);
        if (c->out_len > 0)
            pump_out(c);
    }
    struct epoll_event evs[64];
    int64_t finished = 0; /* when the run proper ended (the drain starts) */
    int64_t stopped = 0;  /* when the drain ended (no new request since) */
    for (;;) {
        int64_t now = now_us();
        if (!draining && (now >= end || (opt.max_msgs > 0 && msgs >= opt.max_msgs))) {
            if (opt.mode != MODE_MIXED || opt.drain <= 0)
                break;
            draining = true;
            finished = now;
            last_delivery_us = now;
        }
        if (draining && !stopping && now - last_delivery_us >= (int64_t)opt.drain * 1000000) {
            stopping = true;
            stopped = now;
        }
        if (stopping) {
            int busy = 0;
            for (int i = 0; i < opt.conns; i++)
                busy += cs[i].phase != PH_IDLE;
            if (busy == 0)
                break;
            /* every request in flight is answered within its wait_for (5 s) */
            if (now - stopped > 30 * 1000000) {
                fprintf(stderr, "sqload: %d requests unanswered 30 s after the drain:", busy);
                for (int i = 0; i < opt.conns; i++)
                    if (cs[i].phase != PH_IDLE)
                        fprintf(stderr, " connection %d (%s, phase %d, sent %.1f s ago)", i,
                                cs[i].role == ROLE_WRITER ? "writer" : "reader", cs[i].phase,
                                (now - cs[i].sent_us) / 1e6);
                fprintf(stderr, "\n");
                exit(1);
            }
        }
        if (now >= next_report) {
            printf("t=%llds msgs_per_s=%.0f\n", (long long)((now - start) / 1000000),
                   interval_msgs / (double)opt.interval);
            fflush(stdout);
            interval_msgs = 0;
            next_report += (int64_t)opt.interval * 1000000;
        }
        /* writers waiting for their turn */
        int64_t wake = draining ? now + 100000 : end;
        for (int i = 0; i < opt.conns && !draining; i++) {
            struct conn *c = &cs[i];
            if (c->role == ROLE_WRITER && c->phase == PH_IDLE && c->next_us != 0) {
                if (c->next_us <= now) {
                    start_upsert(c);
                    pump_out(c);
                } else if (c->next_us < wake) {
                    wake = c->next_us;
                }
            }
        }
        if (next_report < wake)
            wake = next_report;
        int timeout = (int)((wake - now + 999) / 1000);
        int n = epoll_wait(ep, evs, 64, timeout < 0 ? 0 : timeout);
        for (int i = 0; i < n; i++)
            pump_in(evs[i].data.ptr);
    }
    double secs = ((finished ? finished : now_us()) - start) / 1e6;
    qsort(lat.v, lat.n, sizeof *lat.v, cmp32);
    qsort(e2e.v, e2e.n, sizeof *e2e.v, cmp32);
    struct samples *show = opt.mode == MODE_E2E ? &e2e : &lat;
    printf("RESULT mode=%s msgs_per_s=%.0f p50_ms=%.2f p99_ms=%.2f p999_ms=%.2f requests=%lld "
           "errors=%lld empty_receives=%lld",
           m, msgs / secs, pct(show, 0.5), pct(show, 0.99), pct(show, 0.999), requests, errors,
           empty_receives);
    if (opt.mode == MODE_E2E)
        printf(" upsert_p50_ms=%.2f upsert_p99_ms=%.2f delivered=%zu", pct(&lat, 0.5),
               pct(&lat, 0.99), e2e.n);
    if (opt.mode == MODE_MIXED)
        printf(" redelivered_after_ack=%lld drain_s=%.1f", redelivered_after_ack,
               finished ? (now_us() - finished) / 1e6 : 0.0);
    printf("\n");
    if (redelivered_after_ack > 0)
        return 1;
    return requests > 0 && errors * 100 > requests ? 1 : 0;
}
