/* The tests' HTTP client: see api_client.h. */
#include "api_client.h"

#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "sequind_harness.h"

int api_connect(int port, int timeout_ms)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

void api_open(api_conn *c, int port, int timeout_ms)
{
    c->len = 0;
    c->fd = api_connect(port, timeout_ms);
    if (c->fd < 0)
        fail_msg("connect to port %d: %s", port, strerror(errno));
}

void api_close(api_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->len = 0;
}

void api_send_raw(api_conn *c, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        if (n <= 0)
            fail_msg("send: %s", strerror(errno));
        data += n;
        len -= (size_t)n;
    }
}

/* The request's bytes, malloc'd, with their length in *len. */
static char *format_request(const char *method, const char *target, const char *body,
                            const char *headers, size_t *len)
{
    size_t blen = body != NULL ? strlen(body) : 0;
    size_t size = blen + strlen(method) + strlen(target) + (headers ? strlen(headers) : 0) + 128;
    char *req = malloc(size);
    assert_non_null(req);
    int n = snprintf(req, size,
                     "%s %s HTTP/1.1\r\nHost: test\r\n%sContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     method, target, headers != NULL ? headers : "", blen, body ? body : "");
    assert_true(n > 0 && (size_t)n < size);
    *len = (size_t)n;
    return req;
}

void api_send(api_conn *c, const char *method, const char *target, const char *body,
              const char *headers)
{
    size_t len;
    char *req = format_request(method, target, body, headers, &len);
    api_send_raw(c, req, len);
    free(req);
}

/* Reads more bytes into the buffer: 1, 0 at the end of the stream, -1 on an error (said in
 * `why`). */
static int read_more(api_conn *c, const char **why)
{
    if (c->len == sizeof c->buf) {
        *why = "response too large for the test's buffer";
        return -1;
    }
    ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (n < 0) {
        *why = errno == EAGAIN ? "recv: timed out" : strerror(errno);
        return -1;
    }
    c->len += (size_t)n;
    return n > 0;
}

/* The next response into *r: 1, 0 when the connection closed before one began, -1 on any
 * other failure (said in `why`; *r then holds nothing to free). */
static int read_response(api_conn *c, api_resp *r, const char **why)
{
    char *end;
    int rc;

    memset(r, 0, sizeof *r);
    while ((end = memmem(c->buf, c->len, "\r\n\r\n", 4)) == NULL) {
        if ((rc = read_more(c, why)) <= 0) {
            if (rc == 0 && c->len == 0)
                return 0;
            if (rc == 0)
                *why = "the connection closed inside a response head";
            return -1;
        }
    }
    size_t head_len = (size_t)(end - c->buf) + 4;
    if (head_len >= sizeof r->head) {
        *why = "response head too large for the test's buffer";
        return -1;
    }
    memcpy(r->head, c->buf, head_len);
    r->head[head_len] = '\0';
    if (sscanf(r->head, "HTTP/1.1 %d ", &r->status) != 1) {
        *why = "not an HTTP response";
        return -1;
    }
    const char *cl = strstr(r->head, "\r\nContent-Length: ");
    if (cl == NULL) {
        *why = "no Content-Length in the response";
        return -1;
    }
    r->body_len = strtoul(cl + 18, NULL, 10);
    while (c->len < head_len + r->body_len) {
        if ((rc = read_more(c, why)) <= 0) {
            if (rc == 0)
                *why = "the connection closed inside a response body";
            return -1;
        }
    }
    r->body = malloc(r->body_len + 1);
    if (r->body == NULL) {
        *why = "out of memory";
        return -1;
    }
    memcpy(r->body, c->buf + head_len, r->body_len);
    r->body[r->body_len] = '\0';
    memmove(c->buf, c->buf + head_len + r->body_len, c->len - head_len - r->body_len);
    c->len -= head_len + r->body_len;
    return 1;
}

bool api_try_read(api_conn *c, api_resp *r)
{
    const char *why = NULL;
    int rc = read_response(c, r, &why);
    if (rc < 0)
        fail_msg("%s: \"%s\"", why, r->head);
    return rc > 0;
}

api_resp api_read(api_conn *c)
{
    api_resp r;
    if (!api_try_read(c, &r))
        fail_msg("the connection closed before a response");
    return r;
}

void api_resp_free(api_resp *r)
{
    free(r->body);
    r->body = NULL;
}

api_resp api_call_as(int port, const char *token, const char *method, const char *target,
                     const char *body)
{
    api_conn *c = malloc(sizeof *c); /* large: not on the stack (tests call from threads) */
    char headers[512];

    snprintf(headers, sizeof headers, "Connection: close\r\n%s%s%s",
             token != NULL ? "Authorization: Bearer " : "", token != NULL ? token : "",
             token != NULL ? "\r\n" : "");
    assert_non_null(c);
    api_open(c, port, 70000);
    api_send(c, method, target, body, headers);
    api_resp r = api_read(c);
    api_close(c);
    free(c);
    return r;
}

api_resp api_call(int port, const char *method, const char *target, const char *body)
{
    return api_call_as(port, NULL, method, target, body);
}

/* api_expect_body for `want`, with `label` ("" or which case) before what a failure says. */
static char *expect_case(const char *label, int port, const api_case *want)
{
    api_resp r = api_call(port, want->method, want->target, want->body);
    if (r.status != want->status || (want->needle != NULL && strstr(r.body, want->needle) == NULL))
        fail_msg("%s%s %s: %d %s, wanted %d with %s", label, want->method, want->target, r.status,
                 r.body, want->status, want->needle != NULL ? want->needle : "(anything)");
    if (strstr(r.head, "\r\nContent-Type: application/json\r\n") == NULL)
        fail_msg("%s%s %s: not JSON: %s", label, want->method, want->target, r.head);
    return r.body;
}

char *api_expect_body(int port, const char *method, const char *target, const char *body,
                      int status, const char *needle)
{
    return expect_case("", port, &(api_case){method, target, body, status, needle});
}

void api_expect(int port, const char *method, const char *target, const char *body, int status,
                const char *needle)
{
    free(api_expect_body(port, method, target, body, status, needle));
}

void api_expect_each(int port, const api_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char label[160];
        snprintf(label, sizeof label, "case %zu of %zu (body %.80s): ", i + 1, n,
                 cases[i].body != NULL ? cases[i].body : "none");
        free(expect_case(label, port, &cases[i]));
    }
}

void api_wait_ready(const struct server *s)
{
    int64_t end = now_ms() + START_MS;
    while (now_ms() < end) {
        api_resp r = api_call(s->port, "GET", "/readyz", NULL);
        int status = r.status;
        api_resp_free(&r);
        if (status == 200)
            return;
        sleep_ms(20);
    }
    char *text = read_file(s->log);
    print_message("log:\n%s\n", text);
    free(text);
    fail_msg("/readyz did not answer 200 within %d ms", START_MS);
}

struct server *api_serve(const char *extra)
{
    struct server *s = started(false, extra);
    api_wait_ready(s);
    return s;
}

int api_setup_server(void **state)
{
    *state = api_serve(NULL);
    return 0;
}

void api_format(char *out, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, size, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < size);
}

void api_make_stream(int port, const char *name)
{
    char body[128];
    api_format(body, sizeof body, "{\"name\":\"%s\"}", name);
    api_expect(port, "POST", "/api/streams", body, 200, "\"name\"");
}

void api_upsert1(int port, const char *stream, const char *key, const char *data)
{
    char target[256], body[512];
    api_format(target, sizeof target, "/api/streams/%s/messages", stream);
    api_format(body, sizeof body, "{\"messages\":[{\"key\":\"%s\",\"data\":\"%s\"}]}", key, data);
    api_expect(port, "POST", target, body, 200, "\"published\":1");
}

char *api_receive(int port, const char *stream, const char *consumer, int batch, int wait_ms)
{
    char target[256], body[128];
    api_format(target, sizeof target, "/api/streams/%s/consumers/%s/receive", stream, consumer);
    api_format(body, sizeof body, "{\"batch_size\":%d,\"wait_for\":%d}", batch, wait_ms);
    return api_expect_body(port, "POST", target, body, 200, "{\"data\":[");
}

void api_settle(int port, const char *stream, const char *consumer, const char *verb,
                const char *ack_id)
{
    char target[256], body[128];
    api_format(target, sizeof target, "/api/streams/%s/consumers/%s/%s", stream, consumer, verb);
    api_format(body, sizeof body, "{\"ack_ids\":[\"%s\"]}", ack_id);
    api_expect(port, "POST", target, body, 200, "{\"success\":true}");
}

const char *json_str(const char *json, const char *name, char *out, size_t size)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\":\"", name);
    const char *p = strstr(json, pat);
    if (p == NULL)
        fail_msg("no \"%s\" string in %s", name, json);
    p += strlen(pat);
    const char *e = p;
    while (*e != '\0' && *e != '"') {
        if (*e == '\\' && e[1] != '\0')
            e++;
        e++;
    }
    size_t n = (size_t)(e - p);
    if (n >= size)
        fail_msg("\"%s\" too long in %s", name, json);
    memcpy(out, p, n);
    out[n] = '\0';
    return out;
}

int count_of(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

int api_try_status(int port, const char *method, const char *target, const char *body)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = 10};
    char req[8192], resp[512];
    size_t got = 0;
    int status = -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     method, target, body != NULL ? strlen(body) : 0, body != NULL ? body : "");
    if (n <= 0 || (size_t)n >= sizeof req || connect(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
        goto done;
    while (got < sizeof resp - 1 && memmem(resp, got, "\r\n", 2) == NULL) {
        ssize_t r = recv(fd, resp + got, sizeof resp - 1 - got, 0);
        if (r <= 0)
            goto done;
        got += (size_t)r;
    }
    resp[got] = '\0';
    if (sscanf(resp, "HTTP/1.1 %d ", &status) != 1)
        status = -1;
done:
    close(fd);
    return status;
}

int api_try_call(api_conn *c, int port, int timeout_ms, const char *method, const char *target,
                 const char *body, api_resp *r)
{
    const char *why = NULL;
    size_t len, off = 0;
    char *req = format_request(method, target, body, NULL, &len);

    memset(r, 0, sizeof *r);
    if (c->fd < 0) {
        c->len = 0;
        c->fd = api_connect(port, timeout_ms);
    }
    while (c->fd >= 0 && off < len) {
        ssize_t n = send(c->fd, req + off, len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    free(req);
    if (c->fd < 0 || off < len || read_response(c, r, &why) <= 0) {
        api_resp_free(r);
        api_close(c);
        return -1;
    }
    if (strstr(r->head, "\r\nConnection: close\r\n") != NULL)
        api_close(c);
    return r->status;
}
