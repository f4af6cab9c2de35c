/* Leveled, format-checked logging to stderr (journald) as text or JSON lines, each line with
 * the process id and the current request id. */
#ifndef SEQUIN_LOG_H
#define SEQUIN_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "sequin/common.h"

typedef enum sq_log_level {
    SQ_LOG_DEBUG = 0,
    SQ_LOG_INFO = 1,
    SQ_LOG_WARN = 2,
    SQ_LOG_ERROR = 3,
} sq_log_level;

typedef enum sq_log_format {
    SQ_LOG_TEXT = 0,
    SQ_LOG_JSON = 1,
} sq_log_format;

/*
 * Where finished lines go. The default writes each line to stderr with one write(2), so lines
 * of concurrent processes never interleave mid-line. Tests install their own to capture.
 * `line` includes the trailing newline and is valid only during the call.
 */
typedef void (*sq_log_sink)(const char *line, size_t len, void *ctx);

/* Lines below `level` are dropped (cheaply: the message is not formatted). */
void sq_log_set_level(sq_log_level level);
sq_log_level sq_log_get_level(void);
void sq_log_set_format(sq_log_format format);

/* Installs a sink; NULL restores the stderr sink. */
void sq_log_set_sink(sq_log_sink sink, void *ctx);

/* The process name shown on each line ("master", "worker", "sequin"); the pointer is kept,
 * so pass a string that outlives logging (a literal). */
void sq_log_set_process(const char *name);

/*
 * The request id added to each line until it is cleared with NULL. The id is copied (at most
 * 63 bytes are kept). Workers set it when they start handling a request.
 */
void sq_log_set_request_id(const char *id);

/* The longest request id, in bytes: what sq_log_set_request_id keeps. */
#define SQ_LOG_REQUEST_ID_MAX 63

/*
 * Writes a new request id into `out` (NUL-terminated, at most SQ_LOG_REQUEST_ID_MAX bytes;
 * in practice about 20): "PID-SALT-N", e.g. "48213-k9zq2-1f". Ids are unique on a node
 * without any coordination: the counter within a process, the pid between live processes,
 * and a random salt against a recycled pid. Workers send it back as X-Request-Id.
 */
void sq_log_request_id_new(char out[SQ_LOG_REQUEST_ID_MAX + 1]);

/*
 * Whether a client's X-Request-Id (`len` bytes at `s`) may be used as the request id: 1 to
 * SQ_LOG_REQUEST_ID_MAX bytes of visible ASCII (0x21-0x7e), so it stays one token in a text
 * log line and is safe to send back in a header.
 */
bool sq_log_request_id_valid(const char *s, size_t len);

/* One answered request, for sq_log_access. */
typedef struct sq_log_request {
    const char *method; /* `method_len` bytes, not NUL-terminated; NULL shows "-" */
    size_t method_len;
    const char *route;        /* the route's pattern (its row's, router.h); NULL: none matched */
    int status;               /* the status sent */
    unsigned long long bytes; /* the response's size, head and body */
    unsigned long long duration_us; /* first byte of the request to last of the response */
    const char *request_id;         /* NULL shows "-" */
} sq_log_request;

/*
 * Emits the access-log line of one request at info level, in the configured format:
 *   text: "... info [worker 4242]: GET /api/streams/:s 200 512 3.210ms id=4242-k9zq2-1f"
 *   json: {"ts":...,"level":"info","pid":4242,"process":"worker","request_id":"4242-k9zq2-1f",
 *          "msg":"access","method":"GET","route":"/api/streams/:s","status":200,"bytes":512,
 *          "duration_ms":3.210}
 * The id is the line's own (r->request_id), not the one sq_log_set_request_id holds; the
 * text head carries no "req=" so it is not written twice. An unmatched route shows "-".
 */
void sq_log_access(const sq_log_request *r);

/* Parses "debug", "info", "warn", "error" / "text", "json". 0, or -1 for anything else. */
SQ_WUR int sq_log_level_parse(const char *s, sq_log_level *out);
SQ_WUR int sq_log_format_parse(const char *s, sq_log_format *out);
const char *sq_log_level_name(sq_log_level level);

/* Formats and emits one line. Newlines and control characters in the message are escaped
 * so that one call is always one line. */
SQ_PRINTF(2, 3) void sq_log(sq_log_level level, const char *fmt, ...);
SQ_PRINTF(2, 0) void sq_logv(sq_log_level level, const char *fmt, va_list ap);

/* Logs at error level with the source location, then exits with `status`. */
SQ_NORETURN SQ_PRINTF(4, 5) void sq_log_fatal_at(const char *file, int line, int status,
                                                 const char *fmt, ...);

#define sq_debug(...) sq_log(SQ_LOG_DEBUG, __VA_ARGS__)
#define sq_info(...) sq_log(SQ_LOG_INFO, __VA_ARGS__)
#define sq_warn(...) sq_log(SQ_LOG_WARN, __VA_ARGS__)
#define sq_error(...) sq_log(SQ_LOG_ERROR, __VA_ARGS__)
#define sq_fatal(status, ...) sq_log_fatal_at(__FILE__, __LINE__, (status), __VA_ARGS__)

#endif
