/* The API's routes (SPEC 4): which handler a method and path go to, with the path's
 * parameters, or why none does (404, or 405 with the methods that would). */
#ifndef SEQUIN_ROUTER_H
#define SEQUIN_ROUTER_H

#include <stddef.h>

#include "sequin/common.h"
#include "sequin/http.h"

typedef enum sq_route {
    SQ_ROUTE_HEALTHZ,
    SQ_ROUTE_READYZ,
    SQ_ROUTE_METRICS,
    SQ_ROUTE_STREAM_LIST,
    SQ_ROUTE_STREAM_CREATE,
    SQ_ROUTE_STREAM_GET,
    SQ_ROUTE_STREAM_DELETE,
    SQ_ROUTE_MESSAGE_UPSERT,
    SQ_ROUTE_MESSAGE_LIST,
    SQ_ROUTE_MESSAGE_GET,
    SQ_ROUTE_MESSAGE_DELETE,
    SQ_ROUTE_MESSAGE_CONSUMER_INFO,
    SQ_ROUTE_CONSUMER_LIST,
    SQ_ROUTE_CONSUMER_CREATE,
    SQ_ROUTE_CONSUMER_GET,
    SQ_ROUTE_CONSUMER_EDIT, /* PATCH and PUT: both change only the settings they name */
    SQ_ROUTE_CONSUMER_DELETE,
    SQ_ROUTE_RECEIVE, /* GET (query parameters) or POST (JSON body) */
    SQ_ROUTE_ACK,
    SQ_ROUTE_NACK,
    SQ_ROUTE_EXTEND,
    SQ_ROUTE_REDRIVE,
    SQ_ROUTE_CONSUMER_MESSAGES,
    SQ_ROUTE_COUNT
} sq_route;

struct sq_route_ops;

/* One row of the API's table: a method and a path pattern (a segment ":s", ":c" or ":key"
 * captures), the route they name, and its operations (handlers.h). */
typedef struct sq_route_desc {
    const char *method;
    const char *pattern;
    sq_route route;
    const struct sq_route_ops *ops;
} sq_route_desc;

/* The API's routes, in the order they are matched (routes.c): adding a route is a row there
 * and its operations in the resource's api_*.c. */
extern const sq_route_desc sq_routes[];
extern const size_t sq_routes_count;

/* What a path matched. The parameters are slices of the path, still percent-encoded
 * (decode each with sq_http_percent_decode); {NULL, 0} when the route has none. */
typedef struct sq_route_match {
    const sq_route_desc *desc;
    sq_route route;
    const char *name; /* the route's pattern, for logs and metrics: "/api/streams/:s" */
    sq_http_slice stream;
    sq_http_slice consumer;
    sq_http_slice key;
} sq_route_match;

/*
 * Finds the route of `method` (case-sensitive, as HTTP says) and `path` (the request's path,
 * without the query). Returns 0 with `m` filled; otherwise the status to answer: 404 when no
 * pattern has this path, 405 when some do but not for this method, with the methods they
 * accept in `allow` ("GET, POST") for the Allow header, valid until the next call.
 */
SQ_WUR int sq_router_match(sq_http_slice method, sq_http_slice path, sq_route_match *m,
                           const char **allow);

/* The pattern of a route ("/api/streams/:s/consumers/:c/ack"); static storage. */
const char *sq_route_name(sq_route r);

#endif
