/* An HTTP/1.1 client for the tests of the real sequind: plain sockets, so that what goes on
 * the wire is exactly what the test wrote. Every failure fails the running cmocka test. */
#ifndef SEQUIN_TEST_API_CLIENT_H
#define SEQUIN_TEST_API_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

/* One connection, with what was read past the last response (pipelining). */
typedef struct api_conn {
    int fd;
    size_t len;
    char buf[1 << 17];
} api_conn;

/* A response: status, head (with its empty line) and body, both NUL-terminated. */
typedef struct api_resp {
    int status;
    char head[2048];
    char *body; /* free with api_resp_free */
    size_t body_len;
} api_resp;

/* A socket (close-on-exec) connected to 127.0.0.1:`port` whose reads time out after
 * `timeout_ms` (0: never), or -1 with errno set. */
int api_connect(int port, int timeout_ms);
/* Connects to 127.0.0.1:`port`; reads time out after `timeout_ms` (fail). */
void api_open(api_conn *c, int port, int timeout_ms);
void api_close(api_conn *c);
/* Sends raw bytes. */
void api_send_raw(api_conn *c, const char *data, size_t len);
/* Sends one request with a JSON body (NULL: none) and the given extra header lines
 * ("Authorization: Bearer x\r\n", or NULL); keep-alive. */
void api_send(api_conn *c, const char *method, const char *target, const char *body,
              const char *headers);
/* Reads the next response; false when the connection closed before one began. */
bool api_try_read(api_conn *c, api_resp *r);
api_resp api_read(api_conn *c);
void api_resp_free(api_resp *r);

/* One request on a new connection, then closed. The token is sent when not NULL. */
api_resp api_call_as(int port, const char *token, const char *method, const char *target,
                     const char *body);
api_resp api_call(int port, const char *method, const char *target, const char *body);
/* api_call, asserting the status, a JSON answer, and that the body contains `needle` (NULL:
 * anything). api_expect_body returns the body (free it). */
void api_expect(int port, const char *method, const char *target, const char *body, int status,
                const char *needle);
char *api_expect_body(int port, const char *method, const char *target, const char *body,
                      int status, const char *needle);

/* One request and the answer it must get (as api_expect checks it), a row of a test's table. */
typedef struct api_case {
    const char *method, *target, *body;
    int status;
    const char *needle; /* NULL: any body */
} api_case;

/* api_expect on each of the `n` cases in order. A failure names the case by its place in the
 * table and its body, since one target may stand in several rows. */
void api_expect_each(int port, const api_case *cases, size_t n);

/* One request on a new connection, without failing the test: the response's status, or -1
 * when the connection failed or closed before a status line (a worker killed meanwhile). */
int api_try_status(int port, const char *method, const char *target, const char *body);

/* One request on the keep-alive connection `c` without failing the test (for clients that
 * meet killed processes): it connects first when c->fd is -1 (set it so before the first
 * call). Returns the status with the response in *r (free it with api_resp_free), or -1 when
 * the connection failed, closed or a read took over `timeout_ms`: then *r holds nothing and
 * `c` is closed, so the next call connects again. A "Connection: close" answer closes `c`. */
int api_try_call(api_conn *c, int port, int timeout_ms, const char *method, const char *target,
                 const char *body, api_resp *r);

/* Waits for the server's /readyz to answer 200 (migrations done, database reachable); after
 * START_MS prints the server's log and fails the test. */
struct server;
void api_wait_ready(const struct server *s);

/* ---- what the tests of the real sequind do most, each failing the test when refused ---- */

/* A sequind started on the test database with `extra` config lines (NULL: none), ready. */
struct server *api_serve(const char *extra);
/* A cmocka setup: api_serve(NULL) into *state (teardown_server stops it). */
int api_setup_server(void **state);
/* A test that starts with a server of its own, api_setup_server's. */
#define API_SERVER_TEST(test)                                                                      \
    cmocka_unit_test_setup_teardown(test, api_setup_server, teardown_server)
/* snprintf into `out`, failing the test when it does not fit. */
void api_format(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Creates stream `name`. */
void api_make_stream(int port, const char *name);
/* Upserts one new or changed message (the answer must say it published it). */
void api_upsert1(int port, const char *stream, const char *key, const char *data);
/* Receives up to `batch` messages, long-polling `wait_ms`; the body (free it). */
char *api_receive(int port, const char *stream, const char *consumer, int batch, int wait_ms);
/* Acks, nacks or extends (`verb`) one ack id. */
void api_settle(int port, const char *stream, const char *consumer, const char *verb,
                const char *ack_id);

/* The string value of the first "name":"..." in `json`, unescaped no further, into `out`;
 * fails the test when absent. */
const char *json_str(const char *json, const char *name, char *out, size_t size);
/* How many times `needle` occurs in `text`. */
int count_of(const char *text, const char *needle);

#endif
