/* A push consumer's endpoint for tests: an HTTP/1.1 server on a thread of the test that records
 * every request and answers as the test says (a status, after a delay, or a reset connection),
 * so that tests can fail deliveries on purpose. */
#ifndef SEQUIN_TEST_ENDPOINT_H
#define SEQUIN_TEST_ENDPOINT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* One request as the endpoint received it. */
typedef struct ep_request {
    int64_t at_ms; /* when its body was complete (CLOCK_REALTIME, ms) */
    char *path;    /* the request target */
    char *headers; /* the header lines, "\r\n"-separated, as sent */
    char *body;    /* NUL-terminated */
    size_t body_len;
} ep_request;

/* How to answer: the status (0: reset the connection without answering), a delay before the
 * answer, and a Retry-After value (NULL: none). */
typedef struct ep_answer {
    int status;
    int delay_ms;
    const char *retry_after;
} ep_answer;

/* Decides the answer to request number `n` (0-based, in arrival order). Runs on the endpoint's
 * thread, with the endpoint's lock held. */
typedef ep_answer (*ep_policy)(void *ctx, const ep_request *r, size_t n);

typedef struct endpoint {
    int port;
    pthread_mutex_t lock;
    ep_request *requests; /* every request so far, in arrival order; read under `lock` */
    size_t count, cap;
    ep_policy policy; /* NULL: 200 to everything */
    void *ctx;
    int listen_fd, stop_fd, stop_write_fd; /* closing stop_write_fd stops the thread */
    pthread_t thread;
} endpoint;

/* Starts listening on 127.0.0.1 at an ephemeral port (`e->port`). Aborts the test on failure. */
void ep_start(endpoint *e, ep_policy policy, void *ctx);
/* Stops the thread, closes every connection and frees the requests. */
void ep_stop(endpoint *e);
/* How many requests have arrived. */
size_t ep_count(endpoint *e);
/* A copy of request `i` (free with ep_request_free), or a zeroed one when there is none yet. */
ep_request ep_get(endpoint *e, size_t i);
void ep_request_free(ep_request *r);
/* The value of header `name` (case-insensitive) in `r`, malloc'd; NULL when absent. */
char *ep_header(const ep_request *r, const char *name);

#endif
