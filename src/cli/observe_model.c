/* The model of `sequin observe` (see observe.h): what each view asks the server and how its
 * answers become rows. The keys (observe_keys.c), the screen (observe_screen.c) and text in
 * columns (observe_text.c) are the rest of the model; all of it is pure (no I/O, no curses),
 * so all of it is unit-tested. */
#include "observe_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sequin/json.h"

/* ---- tables: what each answer shows ------------------------------------------------------ */

typedef enum cell_kind {
    CELL_TEXT,
    CELL_TIME,    /* an ISO 8601 UTC timestamp, shown in local time */
    CELL_MS,      /* milliseconds, shown as "30s" or "1500ms" */
    CELL_SECONDS, /* seconds, a fraction, shown to a tenth: "0.3s" */
} cell_kind;

typedef struct field {
    const char *path;
    cell_kind kind;
} field;

static const field message_fields[SQ_OBSERVE_M_COUNT] = {
    [SQ_OBSERVE_M_SEQ] = {"seq", CELL_TEXT},
    [SQ_OBSERVE_M_KEY] = {"key", CELL_TEXT},
    [SQ_OBSERVE_M_UPDATED] = {"updated_at", CELL_TIME},
    [SQ_OBSERVE_M_DATA] = {"data", CELL_TEXT},
};

static const field consumer_fields[] = {
    [SQ_OBSERVE_C_NAME] = {"name", CELL_TEXT},
    [SQ_OBSERVE_C_FILTER] = {"filter_key_pattern", CELL_TEXT},
    [SQ_OBSERVE_C_AVAILABLE] = {"stats.available", CELL_TEXT},
    [SQ_OBSERVE_C_LEASED] = {"stats.delivered", CELL_TEXT},
    [SQ_OBSERVE_C_DEAD] = {"stats.dead", CELL_TEXT},
    [SQ_OBSERVE_C_ACK_WAIT] = {"ack_wait_ms", CELL_MS},
    [SQ_OBSERVE_C_MAX_ACK_PENDING] = {"max_ack_pending", CELL_TEXT},
    [SQ_OBSERVE_C_MAX_DELIVER] = {"max_deliver", CELL_TEXT},
    [SQ_OBSERVE_C_POLICY] = {"deliver_policy", CELL_TEXT},
};

static const field delivery_fields[SQ_OBSERVE_D_COUNT] = {
    [SQ_OBSERVE_D_SEQ] = {"message.seq", CELL_TEXT},
    [SQ_OBSERVE_D_KEY] = {"message.key", CELL_TEXT},
    [SQ_OBSERVE_D_DELIVERIES] = {"info.deliver_count", CELL_TEXT},
    [SQ_OBSERVE_D_VISIBLE_AT] = {"info.not_visible_until", CELL_TIME},
    [SQ_OBSERVE_D_DATA] = {"message.data", CELL_TEXT},
};

/* What a source's node last reported (docs/api.md: its "status"). */
static const field source_fields[SQ_OBSERVE_S_COUNT] = {
    [SQ_OBSERVE_S_NAME] = {"name", CELL_TEXT},
    [SQ_OBSERVE_S_STATE] = {"status.state", CELL_TEXT},
    [SQ_OBSERVE_S_LAG_BYTES] = {"status.lag_bytes", CELL_TEXT},
    [SQ_OBSERVE_S_LAG_SECONDS] = {"status.lag_seconds", CELL_SECONDS},
    [SQ_OBSERVE_S_ROWS] = {"status.rows_streamed", CELL_TEXT},
    [SQ_OBSERVE_S_ERROR] = {"status.error", CELL_TEXT},
};

typedef struct slot_shape {
    const field *fields;
    size_t nfields;
    bool single; /* one object, the whole body; else a list in {"data": [...]} */
} slot_shape;

static const slot_shape shapes[SQ_OBSERVE_SLOT_COUNT] = {
    [SQ_OBSERVE_SLOT_MESSAGES] = {message_fields, SQ_ARRAY_LEN(message_fields), false},
    [SQ_OBSERVE_SLOT_CONSUMERS] = {consumer_fields, SQ_ARRAY_LEN(consumer_fields), false},
    [SQ_OBSERVE_SLOT_CONSUMER] = {consumer_fields, SQ_ARRAY_LEN(consumer_fields), true},
    [SQ_OBSERVE_SLOT_LEASED] = {delivery_fields, SQ_ARRAY_LEN(delivery_fields), false},
    [SQ_OBSERVE_SLOT_NEXT] = {delivery_fields, SQ_ARRAY_LEN(delivery_fields), false},
    [SQ_OBSERVE_SLOT_SOURCES] = {source_fields, SQ_ARRAY_LEN(source_fields), false},
};

const char *sq_observe_cell(const sq_observe_table *t, size_t row, size_t col)
{
    return row < t->nrows && col < t->ncols ? t->cells[row * t->ncols + col] : "";
}

/* "2024-05-01T12:00:01.123456Z" as "2024-05-01 14:00:01" in the local time zone; anything
 * else (null's "-") as it is. */
static const char *local_time(sq_arena *a, const char *iso)
{
    struct tm tm = {0}, local;
    char text[32];
    if (sscanf(iso, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) != 6)
        return iso;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    if (localtime_r(&t, &local) == NULL ||
        strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &local) == 0)
        return iso;
    return sq_arena_strdup(a, text);
}

static const char *duration(sq_arena *a, const char *ms)
{
    char *end = NULL;
    long n = strtol(ms, &end, 10);
    if (*ms == '\0' || *end != '\0')
        return ms;
    return n % 1000 == 0 ? sq_arena_printf(a, "%lds", n / 1000) : sq_arena_printf(a, "%ldms", n);
}

/* A number of seconds to a tenth ("0.3s"); anything else (null's "-") as it is. */
static const char *seconds(sq_arena *a, const char *s)
{
    char *end = NULL;
    double n = strtod(s, &end);
    if (*s == '\0' || *end != '\0')
        return s;
    return sq_arena_printf(a, "%.1fs", n);
}

/* Reads a 2xx answer into a new table, which replaces `t` only when the whole answer reads. */
static int read_table(sq_observe_table *t, const slot_shape *shape, const char *body, size_t len)
{
    sq_json doc = {0};
    sq_observe_table fresh = {.ncols = shape->nfields, .loaded = true};
    int rc = SQ_ERR;
    if (sq_json_parse(&doc, body, len, 0, NULL) != SQ_OK)
        goto done;
    int p =
        sq_cli_json_payload(&doc, !shape->single, shape->single ? SQ_JSON_OBJECT : SQ_JSON_ARRAY);
    int count = shape->single ? 1 : sq_json_count(&doc, p);
    if (p < 0 || count < 0)
        goto done;
    fresh.cells = sq_arena_calloc(&fresh.arena, (size_t)count * fresh.ncols + 1, sizeof(char *));
    if (fresh.cells == NULL)
        goto done;
    for (int row = shape->single ? p : sq_json_first(&doc, p);
         row >= 0 && fresh.nrows < (size_t)count; row = sq_json_next(&doc, row), fresh.nrows++) {
        for (size_t c = 0; c < fresh.ncols; c++) {
            const char *v = sq_cli_json_text(&doc, row, shape->fields[c].path, &fresh.arena);
            if (shape->fields[c].kind == CELL_TIME)
                v = local_time(&fresh.arena, v);
            else if (shape->fields[c].kind == CELL_MS)
                v = duration(&fresh.arena, v);
            else if (shape->fields[c].kind == CELL_SECONDS)
                v = seconds(&fresh.arena, v);
            if (v == NULL)
                goto done;
            fresh.cells[fresh.nrows * fresh.ncols + c] = v;
        }
    }
    sq_arena_free(&t->arena);
    *t = fresh;
    fresh = (sq_observe_table){0};
    rc = SQ_OK;
done:
    sq_arena_free(&fresh.arena);
    sq_json_free(&doc);
    return rc;
}

void sq_observe_table_clear(sq_observe_table *t)
{
    sq_arena_free(&t->arena);
    *t = (sq_observe_table){0};
}

/* ---- state ------------------------------------------------------------------------------- */

void sq_observe_init(sq_observe *o, const char *stream, const char *server_url, bool utf8)
{
    *o = (sq_observe){.stream = stream, .server_url = server_url, .utf8 = utf8, .refetch = true};
}

void sq_observe_free(sq_observe *o)
{
    for (size_t i = 0; i < SQ_OBSERVE_SLOT_COUNT; i++)
        sq_observe_table_clear(&o->tables[i]);
}

unsigned sq_observe_slots(const sq_observe *o)
{
    switch (o->view) {
    case SQ_OBSERVE_MESSAGES:
        return 1u << SQ_OBSERVE_SLOT_MESSAGES;
    case SQ_OBSERVE_CONSUMERS:
        return 1u << SQ_OBSERVE_SLOT_CONSUMERS;
    case SQ_OBSERVE_DETAILS:
        return 1u << SQ_OBSERVE_SLOT_CONSUMER | 1u << SQ_OBSERVE_SLOT_LEASED |
               1u << SQ_OBSERVE_SLOT_NEXT;
    case SQ_OBSERVE_SOURCES:
        return 1u << SQ_OBSERVE_SLOT_SOURCES;
    }
    return 0;
}

size_t sq_observe_page_rows(int rows)
{
    return rows > SQ_OBSERVE_CHROME_ROWS + 1 ? (size_t)(rows - SQ_OBSERVE_CHROME_ROWS) : 1;
}

const char *sq_observe_wanted_filter(const sq_observe *o)
{
    return o->has_pending ? o->pending : o->filter;
}

int sq_observe_path(const sq_observe *o, sq_observe_slot slot, int rows, sq_buf *path)
{
    size_t page = sq_observe_page_rows(rows), limit = o->scroll + 2 * page;
    if (limit > SQ_OBSERVE_MAX_LIMIT)
        limit = SQ_OBSERVE_MAX_LIMIT;
    if (slot == SQ_OBSERVE_SLOT_SOURCES) /* the sources of every stream */
        return sq_buf_puts(path, "/api/sources");
    int rc = sq_buf_puts(path, "/api/streams/") || sq_cli_encode(path, o->stream);
    switch (slot) {
    case SQ_OBSERVE_SLOT_MESSAGES:
        rc |= sq_buf_printf(path, "/messages?sort=seq_desc&limit=%zu", limit);
        if (*sq_observe_wanted_filter(o) != '\0')
            rc |= sq_buf_puts(path, "&key_pattern=") ||
                  sq_cli_encode(path, sq_observe_wanted_filter(o));
        break;
    case SQ_OBSERVE_SLOT_CONSUMERS:
        rc |= sq_buf_puts(path, "/consumers");
        break;
    case SQ_OBSERVE_SLOT_CONSUMER:
    case SQ_OBSERVE_SLOT_LEASED:
    case SQ_OBSERVE_SLOT_NEXT:
        rc |= sq_buf_puts(path, "/consumers/") || sq_cli_encode(path, o->consumer);
        if (slot != SQ_OBSERVE_SLOT_CONSUMER)
            rc |= sq_buf_printf(path, "/messages?state=%s&limit=%zu",
                                slot == SQ_OBSERVE_SLOT_LEASED ? "delivered" : "available",
                                page > SQ_OBSERVE_MAX_LIMIT ? (size_t)SQ_OBSERVE_MAX_LIMIT : page);
        break;
    case SQ_OBSERVE_SLOT_SOURCES:
    case SQ_OBSERVE_SLOT_COUNT:
        return SQ_ERR;
    }
    return rc != SQ_OK ? SQ_ERR : SQ_OK;
}

/* An error answer in one line: the server's summary, else the start of its body. */
static void error_text(char *out, size_t outlen, long status, const char *body, size_t len)
{
    sq_json doc = {0};
    sq_arena a = {0};
    int summary = -1;
    if (sq_json_parse(&doc, body, len, 0, NULL) == SQ_OK &&
        sq_json_lookup(&doc, 0, "summary", &summary) == SQ_OK && summary >= 0)
        snprintf(out, outlen, "%s (HTTP %ld)", sq_cli_json_text(&doc, summary, "", &a), status);
    else
        snprintf(out, outlen, "HTTP %ld%s%.*s", status, len > 0 ? ": " : "",
                 len > 120 ? 120 : (int)len, body);
    sq_arena_free(&a);
    sq_json_free(&doc);
}

void sq_observe_answer(sq_observe *o, sq_observe_slot slot, unsigned epoch, long status,
                       const char *body, size_t len, time_t now)
{
    o->answered = true;
    o->disconnected = false;
    if (epoch != o->epoch || (unsigned)slot >= SQ_OBSERVE_SLOT_COUNT)
        return; /* asked for something the view no longer shows */
    if (status < 200 || status > 299) {
        char why[SQ_OBSERVE_TEXT];
        error_text(why, sizeof why, status, body, len);
        if (slot == SQ_OBSERVE_SLOT_MESSAGES && o->has_pending && status == 400) {
            /* The server's word on a filter is final: drop it and keep the rows of the last
             * good one, so the view stays useful while the user types again. */
            snprintf(o->notice, sizeof o->notice, "filter \"%s\" refused: %s", o->pending, why);
            o->has_pending = false;
            o->epoch++;
            o->refetch = true;
            return;
        }
        snprintf(o->errors[slot], sizeof o->errors[slot], "%s", why);
        return;
    }
    if (read_table(&o->tables[slot], &shapes[slot], body, len) != SQ_OK) {
        snprintf(o->errors[slot], sizeof o->errors[slot], "unexpected answer: %.*s",
                 len > 120 ? 120 : (int)len, body);
        return;
    }
    o->errors[slot][0] = '\0';
    if (slot == SQ_OBSERVE_SLOT_MESSAGES && o->has_pending) {
        memcpy(o->filter, o->pending, sizeof o->filter);
        o->has_pending = false;
    }
    size_t n = o->tables[slot].nrows;
    if (slot == SQ_OBSERVE_SLOT_CONSUMERS && o->selected >= n)
        o->selected = n > 0 ? n - 1 : 0;
    if (slot == SQ_OBSERVE_SLOT_SOURCES && o->source_selected >= n)
        o->source_selected = n > 0 ? n - 1 : 0;
    struct tm local;
    if (localtime_r(&now, &local) == NULL ||
        strftime(o->updated, sizeof o->updated, "%H:%M:%S", &local) == 0)
        o->updated[0] = '\0';
}

void sq_observe_unreachable(sq_observe *o, const char *why)
{
    o->disconnected = true;
    snprintf(o->unreachable, sizeof o->unreachable, "%s", why);
}
