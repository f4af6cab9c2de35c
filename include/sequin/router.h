/* The API's routes (SPEC 4): which handler a method and path go to, with the path's
 * parameters, or why none does (404, or 405 with the methods that would). */
#ifndef SEQUIN_ROUTER_H
#define SEQUIN_ROUTER_H

#include <stddef.h>

#include "sequin/common.h"
#include "sequin/http.h"

struct sq_route_ops;

/* One row of the API's table: a method and a path pattern (a segment ":s", ":c", ":key" or
 * ":src" captures), and the route's operations (handlers.h). A route is its row: code that needs to
 * tell routes apart (metrics, logs) holds a pointer to it, and names it by its pattern. */
typedef struct sq_route_desc {
    const char *method;
    const char *pattern;
    const struct sq_route_ops *ops;
} sq_route_desc;

/* The API's routes, in the order they are matched (routes.c): adding a route is a row there
 * and its operations in the resource's api_*.c. */
extern const sq_route_desc sq_routes[];
extern const size_t sq_routes_count;

/* What a path matched. The parameters are slices of the path, still percent-encoded
 * (decode each with sq_http_percent_decode); {NULL, 0} when the route has none. */
typedef struct sq_route_match {
    const sq_route_desc *desc; /* the row of sq_routes */
    sq_http_slice stream;
    sq_http_slice consumer;
    sq_http_slice key;
    sq_http_slice source;
} sq_route_match;

/*
 * Finds the route of `method` (case-sensitive, as HTTP says) and `path` (the request's path,
 * without the query). Returns 0 with `m` filled; otherwise the status to answer: 404 when no
 * pattern has this path, 405 when some do but not for this method, with the methods they
 * accept in `allow` ("GET, POST") for the Allow header, valid until the next call.
 */
SQ_WUR int sq_router_match(sq_http_slice method, sq_http_slice path, sq_route_match *m,
                           const char **allow);

#endif
