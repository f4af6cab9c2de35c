/* The logger declared in sequin/log.h: one line per call, text or JSON, with pid and request id. */
#include "sequin/log.h"
#include "sequin/text.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Per-process state: each worker is its own process, and the log is only used from the
 * thread that runs the event loop, so no locking is needed. */
static sq_log_level g_level = SQ_LOG_INFO;
static sq_log_format g_format = SQ_LOG_TEXT;
static sq_log_sink g_sink = NULL;
static void *g_sink_ctx = NULL;
static const char *g_process = NULL;
static char g_request_id[SQ_LOG_REQUEST_ID_MAX + 1];

static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* A line longer than this is cut (and says so): a log line is not a place for bulk data. */
#define LOG_LINE_MAX 8192

void sq_log_set_level(sq_log_level level)
{
    g_level = level;
}

sq_log_level sq_log_get_level(void)
{
    return g_level;
}

void sq_log_set_format(sq_log_format format)
{
    g_format = format;
}

void sq_log_set_sink(sq_log_sink sink, void *ctx)
{
    g_sink = sink;
    g_sink_ctx = ctx;
}

void sq_log_set_process(const char *name)
{
    g_process = name;
}

void sq_log_set_request_id(const char *id)
{
    if (id == NULL) {
        g_request_id[0] = '\0';
        return;
    }
    snprintf(g_request_id, sizeof g_request_id, "%s", id);
}

bool sq_log_request_id_valid(const char *s, size_t len)
{
    if (len == 0 || len > SQ_LOG_REQUEST_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

/*
 * Request ids are "PID-SALT-N": the process id, five random base-36 digits drawn when the
 * process makes its first id, and a counter in hex. Within a process the counter makes them
 * unique; between the processes alive at once the pid does; the salt separates a process
 * from an earlier one that had the same pid (1 in 60 million of a clash). A forked child
 * notices that its pid changed and draws its own salt, so the master may call this too.
 */
static pid_t g_id_pid;
static char g_id_prefix[32];
static unsigned long long g_id_next;

static void new_id_prefix(pid_t pid)
{
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
        /* Early in boot the pool may not be ready: the clock will do for a salt. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        r = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec;
    }
    char salt[6];
    for (size_t i = 0; i < 5; i++, r /= 36)
        salt[i] = digits[r % 36];
    salt[5] = '\0';
    snprintf(g_id_prefix, sizeof g_id_prefix, "%ld-%s-", (long)pid, salt);
    g_id_pid = pid;
    g_id_next = 0;
}

void sq_log_request_id_new(char out[SQ_LOG_REQUEST_ID_MAX + 1])
{
    pid_t pid = getpid();
    if (pid != g_id_pid)
        new_id_prefix(pid);
    snprintf(out, SQ_LOG_REQUEST_ID_MAX + 1, "%s%llx", g_id_prefix, g_id_next++);
}

const char *sq_log_level_name(sq_log_level level)
{
    return (unsigned)level < SQ_ARRAY_LEN(level_names) ? level_names[level] : "?";
}

int sq_log_level_parse(const char *s, sq_log_level *out)
{
    for (size_t i = 0; i < SQ_ARRAY_LEN(level_names); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (sq_log_level)i;
            return SQ_OK;
        }
    }
    return SQ_ERR;
}

int sq_log_format_parse(const char *s, sq_log_format *out)
{
    if (strcmp(s, "text") == 0)
        *out = SQ_LOG_TEXT;
    else if (strcmp(s, "json") == 0)
        *out = SQ_LOG_JSON;
    else
        return SQ_ERR;
    return SQ_OK;
}

static void write_stderr(const char *line, size_t len, void *ctx)
{
    (void)ctx;
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, line, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* nowhere left to report a failing stderr */
        line += n;
        len -= (size_t)n;
    }
}

/*
 * A tiny bounded writer over a stack buffer; it never fails, it truncates. Pieces are written
 * whole or not at all, so a cut never splits an escape sequence. `limit` is lowered while the
 * message is written, which keeps room for the line's closing characters.
 */
#define LINE_TAIL_RESERVE 32

struct line {
    char buf[LOG_LINE_MAX];
    size_t len;
    size_t limit; /* bytes usable; one more is always kept for the newline */
    int truncated;
};

static void put(struct line *l, const char *s, size_t n)
{
    if (l->truncated || n > l->limit - l->len) {
        l->truncated = 1;
        return;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void puts_(struct line *l, const char *s)
{
    put(l, s, strlen(s));
}

/*
 * Copies the message, escaping so it stays one line: control characters become \n, \t, \r
 * or \xNN in text and the RFC 8259 escapes in JSON. Well-formed UTF-8 passes through; in JSON
 * a byte that is not part of it becomes U+FFFD so the line stays valid JSON, in text it
 * becomes \xNN so the operator sees what was there.
 */
static void put_escaped(struct line *l, const char *s, size_t n, int json)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        size_t elen = 0;
        if (c >= 0x80) {
            size_t u = sq_utf8_seq_len((const unsigned char *)s + i, n - i);
            if (u > 0) {
                put(l, s + i, u);
                i += u - 1;
                continue;
            }
            if (json) {
                memcpy(esc, "\\ufffd", 6), elen = 6;
            } else {
                esc[0] = '\\', esc[1] = 'x', esc[2] = hex[c >> 4], esc[3] = hex[c & 15];
                elen = 4;
            }
        } else if (c == '\n') {
            memcpy(esc, "\\n", 2), elen = 2;
        } else if (c == '\t') {
            memcpy(esc, "\\t", 2), elen = 2;
        } else if (c == '\r') {
            memcpy(esc, "\\r", 2), elen = 2;
        } else if (c == '\\' || (json && c == '"')) {
            /* A backslash is escaped in text too, or a message could forge "\n". */
            esc[0] = '\\', esc[1] = (char)c, elen = 2;
        } else if (c < 0x20 || c == 0x7f) {
            if (json) {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4], esc[5] = hex[c & 15], elen = 6;
            } else {
                esc[0] = '\\', esc[1] = 'x', esc[2] = hex[c >> 4], esc[3] = hex[c & 15];
                elen = 4;
            }
        }
        if (elen)
            put(l, esc, elen);
        else
            put(l, (const char *)&c, 1);
    }
}

/* "2026-11-24T13:49:06.123456Z": UTC with microseconds, as the API's timestamps. */
static void put_timestamp(struct line *l)
{
    struct timeval tv;
    struct tm tm;
    char ts[40];
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%06ldZ", (long)tv.tv_usec);
    puts_(l, ts);
}

/*
 * Starts a line: everything before the message. JSON lines are left inside the object, ready
 * for `,"msg":...`; text lines end with ": ". `request_id` is the id to show, or NULL.
 */
static void put_head(struct line *l, sq_log_level level, const char *request_id)
{
    char num[32];
    snprintf(num, sizeof num, "%ld", (long)getpid());
    if (g_format == SQ_LOG_JSON) {
        puts_(l, "{\"ts\":\"");
        put_timestamp(l);
        puts_(l, "\",\"level\":\"");
        puts_(l, sq_log_level_name(level));
        puts_(l, "\",\"pid\":");
        puts_(l, num);
        if (g_process != NULL) {
            puts_(l, ",\"process\":\"");
            put_escaped(l, g_process, strlen(g_process), 1);
            puts_(l, "\"");
        }
        if (request_id != NULL && request_id[0] != '\0') {
            puts_(l, ",\"request_id\":\"");
            put_escaped(l, request_id, strlen(request_id), 1);
            puts_(l, "\"");
        }
    } else {
        put_timestamp(l);
        puts_(l, " ");
        puts_(l, sq_log_level_name(level));
        puts_(l, " [");
        if (g_process != NULL) {
            put_escaped(l, g_process, strlen(g_process), 0);
            puts_(l, " ");
        }
        puts_(l, num);
        puts_(l, "]");
        if (request_id != NULL && request_id[0] != '\0') {
            puts_(l, " req=");
            put_escaped(l, request_id, strlen(request_id), 0);
        }
        puts_(l, ": ");
    }
}

/* Ends the line (`cut`: something was left out) and hands it to the sink. */
static void emit(struct line *l, int cut)
{
    cut |= l->truncated;
    l->truncated = 0;
    l->limit = sizeof l->buf - 1;
    if (g_format == SQ_LOG_JSON)
        puts_(l, cut ? ",\"truncated\":true}" : "}");
    else if (cut)
        puts_(l, " [truncated]");
    l->buf[l->len++] = '\n';

    if (g_sink != NULL)
        g_sink(l->buf, l->len, g_sink_ctx);
    else
        write_stderr(l->buf, l->len, NULL);
}

void sq_logv(sq_log_level level, const char *fmt, va_list ap)
{
    if (level < g_level)
        return;

    char msg[LOG_LINE_MAX];
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    if (n < 0)
        n = 0;
    size_t mlen = (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;

    struct line l = {.len = 0, .limit = sizeof l.buf - 1 - LINE_TAIL_RESERVE, .truncated = 0};
    int json = g_format == SQ_LOG_JSON;
    put_head(&l, level, g_request_id);
    if (json)
        puts_(&l, ",\"msg\":\"");
    put_escaped(&l, msg, mlen, json);
    /* The closing quote always fits: it comes out of the tail reserve. */
    int cut = (size_t)n >= sizeof msg || l.truncated;
    l.truncated = 0;
    l.limit = sizeof l.buf - 1;
    if (json)
        puts_(&l, "\"");
    emit(&l, cut);
}

void sq_log_access(const sq_log_request *r)
{
    if (SQ_LOG_INFO < g_level)
        return;

    struct line l = {.len = 0, .limit = sizeof l.buf - 1 - LINE_TAIL_RESERVE, .truncated = 0};
    int json = g_format == SQ_LOG_JSON;
    const char *route = r->route != NULL ? r->route : "-";
    const char *id = r->request_id != NULL && r->request_id[0] != '\0' ? r->request_id : "-";
    const char *method = r->method != NULL ? r->method : "-";
    size_t method_len = r->method != NULL ? r->method_len : 1;
    char num[96];
    /* The id goes in its own field: the head shows none, so it is not written twice. */
    put_head(&l, SQ_LOG_INFO, json ? id : NULL);
    if (json) {
        puts_(&l, ",\"msg\":\"access\",\"method\":\"");
        put_escaped(&l, method, method_len, 1);
        puts_(&l, "\",\"route\":\"");
        put_escaped(&l, route, strlen(route), 1);
        snprintf(num, sizeof num, "\",\"status\":%d,\"bytes\":%llu,\"duration_ms\":%llu.%03llu",
                 r->status, r->bytes, r->duration_us / 1000, r->duration_us % 1000);
        puts_(&l, num);
    } else {
        put_escaped(&l, method, method_len, 0);
        puts_(&l, " ");
        put_escaped(&l, route, strlen(route), 0);
        snprintf(num, sizeof num, " %d %llu %llu.%03llums id=", r->status, r->bytes,
                 r->duration_us / 1000, r->duration_us % 1000);
        puts_(&l, num);
        put_escaped(&l, id, strlen(id), 0);
    }
    emit(&l, 0);
}

void sq_log(sq_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sq_logv(level, fmt, ap);
    va_end(ap);
}

void sq_log_fatal_at(const char *file, int line, int status, const char *fmt, ...)
{
    char msg[LOG_LINE_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sq_log(SQ_LOG_ERROR, "fatal at %s:%d: %s", file, line, msg);
    exit(status);
}
