/* The sequin CLI's output: API answers as aligned tables and "key: value" blocks, and the
 * server's errors as their summary. */
#include "sequin/cli.h"

#include <stdlib.h>
#include <string.h>

#include "sequin/json.h"

/* One shown value: a label and where it is in an object ("stats.available"). A block leaves
 * out a field whose path starts with '?' when the object has no such member (a push
 * consumer's, on a pull consumer). */
typedef struct field {
    const char *label;
    const char *path;
} field;

static const field stream_block[] = {
    {"name", "name"},
    {"id", "id"},
    {"messages", "stats.message_count"},
    {"consumers", "stats.consumer_count"},
    {"storage_size", "stats.storage_size"},
    {"inserted_at", "inserted_at"},
    {"updated_at", "updated_at"},
};
static const field stream_cols[] = {
    {"NAME", "name"},
    {"MESSAGES", "stats.message_count"},
    {"CONSUMERS", "stats.consumer_count"},
    {"STORAGE", "stats.storage_size"},
    {"CREATED", "inserted_at"},
};
static const field message_block[] = {
    {"key", "key"},
    {"seq", "seq"},
    {"data", "data"},
    {"data_hash", "data_hash"},
    {"inserted_at", "inserted_at"},
    {"updated_at", "updated_at"},
};
static const field message_cols[] = {
    {"SEQ", "seq"},
    {"KEY", "key"},
    {"UPDATED", "updated_at"},
    {"DATA", "data"},
};
static const field consumer_block[] = {
    {"name", "name"},
    {"id", "id"},
    {"filter", "filter_key_pattern"},
    {"deliver_policy", "deliver_policy"},
    {"ack_wait_ms", "ack_wait_ms"},
    {"max_ack_pending", "max_ack_pending"},
    {"max_deliver", "max_deliver"},
    {"managed_by", "managed_by"},
    {"kind", "kind"},
    {"push_url", "?http_endpoint.url"},
    {"headers", "?http_endpoint.headers"},
    {"signing_secret", "?http_endpoint.signing_secret"},
    {"max_waiting", "?max_waiting"},
    {"backoff_base_ms", "?backoff_base_ms"},
    {"backoff_max_ms", "?backoff_max_ms"},
    {"available", "stats.available"},
    {"delivered", "stats.delivered"},
    {"dead", "stats.dead"},
    {"inserted_at", "inserted_at"},
    {"updated_at", "updated_at"},
};
static const field consumer_cols[] = {
    {"NAME", "name"},
    {"FILTER", "filter_key_pattern"},
    {"AVAILABLE", "stats.available"},
    {"DELIVERED", "stats.delivered"},
    {"DEAD", "stats.dead"},
    {"ACK_WAIT_MS", "ack_wait_ms"},
    {"MAX_ACK_PENDING", "max_ack_pending"},
    {"KIND", "kind"},
    {"PUSH_URL", "http_endpoint.url"},
};
/* Every member of a source (docs/api.md), its status and backfill progress included. */
static const field source_block[] = {
    {"name", "name"},
    {"id", "id"},
    {"kind", "kind"},
    {"stream", "stream"},
    {"url", "postgres.url"},
    {"slot", "postgres.slot"},
    {"publication", "postgres.publication"},
    {"tables", "postgres.tables"},
    {"key_format", "key_format"},
    {"backfill", "backfill"},
    {"managed_by", "managed_by"},
    {"state", "status.state"},
    {"error", "status.error"},
    {"node", "status.node"},
    {"last_commit_lsn", "status.last_commit_lsn"},
    {"last_commit_at", "status.last_commit_at"},
    {"received_lsn", "status.received_lsn"},
    {"lag_bytes", "status.lag_bytes"},
    {"lag_seconds", "status.lag_seconds"},
    {"rows_streamed", "status.rows_streamed"},
    {"reported_at", "status.reported_at"},
    {"backfill_progress", "backfill_progress"},
    {"inserted_at", "inserted_at"},
    {"updated_at", "updated_at"},
};
static const field source_cols[] = {
    {"NAME", "name"},
    {"STREAM", "stream"},
    {"STATE", "status.state"},
    {"LAG_BYTES", "status.lag_bytes"},
    {"LAG_SECONDS", "status.lag_seconds"},
    {"ROWS", "status.rows_streamed"},
};
/* A webhook source: its settings, a secret as "set" or "not set". */
static const field webhook_block[] = {
    {"name", "name"},
    {"id", "id"},
    {"kind", "kind"},
    {"stream", "stream"},
    {"url", "webhook_url"},
    {"key_field", "webhook.key_field"},
    {"key_header", "webhook.key_header"},
    {"secret", "webhook.secret"},
    {"secret_header", "webhook.secret_header"},
    {"hmac_secret", "webhook.hmac_secret"},
    {"hmac_header", "webhook.hmac_header"},
    {"managed_by", "managed_by"},
    {"inserted_at", "inserted_at"},
    {"updated_at", "updated_at"},
};
static const field webhook_cols[] = {
    {"NAME", "name"},
    {"STREAM", "stream"},
    {"KEY_FIELD", "webhook.key_field"},
    {"KEY_HEADER", "webhook.key_header"},
    {"SECRET", "webhook.secret"},
    {"HMAC_SECRET", "webhook.hmac_secret"},
};
static const field delivery_block[] = {
    {"key", "message.key"},
    {"seq", "message.seq"},
    {"data", "message.data"},
    {"ack_id", "ack_id"},
};
static const field peek_cols[] = {
    {"SEQ", "message.seq"},
    {"KEY", "message.key"},
    {"STATE", "info.state"},
    {"DELIVERIES", "info.deliver_count"},
    {"NOT_VISIBLE_UNTIL", "info.not_visible_until"},
    {"ACK_ID", "info.ack_id"},
};

/* The token at dotted `path` below `obj`, or -1. */
static int at_path(const sq_json *doc, int obj, const char *path)
{
    int tok = obj;
    while (tok >= 0 && *path != '\0') {
        char seg[64];
        size_t n = strcspn(path, ".");
        if (n >= sizeof seg)
            return -1;
        memcpy(seg, path, n);
        seg[n] = '\0';
        if (sq_json_lookup(doc, tok, seg, &tok) != SQ_OK)
            return -1;
        path += n + (path[n] == '.');
    }
    return tok;
}

/* A value as text in the arena: strings unescaped, null as "-", others as their JSON. */
const char *sq_cli_json_text(const sq_json *doc, int obj, const char *path, sq_arena *a)
{
    int tok = at_path(doc, obj, path);
    const char *s = NULL;
    size_t n = 0;
    if (tok < 0)
        return "";
    if (sq_json_is_null(doc, tok))
        return "-";
    if (sq_json_type_of(doc, tok) == SQ_JSON_STRING)
        return sq_json_get_str_arena(doc, tok, a, &s, NULL) == SQ_OK ? s : "";
    if (sq_json_raw(doc, tok, &s, &n) != SQ_OK)
        return "";
    return sq_arena_strndup(a, s, n);
}

/* A list of strings (a source's tables) as "a, b"; anything else as sq_cli_json_text has it. */
static const char *list_text(const sq_json *doc, int tok, sq_arena *a)
{
    sq_buf b = {0};
    if (sq_json_type_of(doc, tok) != SQ_JSON_ARRAY)
        return sq_cli_json_text(doc, tok, "", a);
    int rc = SQ_OK;
    for (int it = sq_json_first(doc, tok); it >= 0 && rc == SQ_OK; it = sq_json_next(doc, it))
        rc = sq_buf_printf(&b, "%s%s", it != sq_json_first(doc, tok) ? ", " : "",
                           sq_cli_json_text(doc, it, "", a));
    const char *text = rc == SQ_OK ? sq_arena_strndup(a, b.data != NULL ? b.data : "", b.len) : "";
    sq_buf_free(&b);
    return text != NULL ? text : "";
}

/* A source's backfill progress, a line per table: "public.orders: 1000 rows, done"; "-" when
 * there is none (no backfill, or not begun). */
static const char *progress_text(const sq_json *doc, int tok, sq_arena *a)
{
    sq_buf b = {0};
    if (sq_json_type_of(doc, tok) != SQ_JSON_ARRAY || sq_json_count(doc, tok) <= 0)
        return sq_json_type_of(doc, tok) == SQ_JSON_ARRAY ? "-" : sq_cli_json_text(doc, tok, "", a);
    int rc = SQ_OK;
    for (int it = sq_json_first(doc, tok); it >= 0 && rc == SQ_OK; it = sq_json_next(doc, it)) {
        const char *done = sq_cli_json_text(doc, it, "done", a);
        rc = sq_buf_printf(&b, "%s%s: %s rows, %s", it != sq_json_first(doc, tok) ? "\n" : "",
                           sq_cli_json_text(doc, it, "table", a),
                           sq_cli_json_text(doc, it, "rows", a),
                           strcmp(done, "true") == 0 ? "done" : "in progress");
    }
    const char *text = rc == SQ_OK ? sq_arena_strndup(a, b.data != NULL ? b.data : "", b.len) : "";
    sq_buf_free(&b);
    return text != NULL ? text : "";
}

/* A secret as the API shows it ("****", or null when there is none): "set" or "not set". */
static const char *secret_text(const sq_json *doc, int tok, sq_arena *a)
{
    (void)a;
    return sq_json_type_of(doc, tok) == SQ_JSON_STRING ? "set" : "not set";
}

/* The route a webhook source receives at, made of its name. */
static const char *webhook_url_text(const sq_json *doc, int tok, sq_arena *a)
{
    const char *name = sq_cli_json_text(doc, tok, "name", a);
    const char *url = sq_arena_printf(a, "POST /api/webhook/%s", name);
    return url != NULL ? url : "";
}

/* The values that show otherwise than as sq_cli_json_text writes them, by their path. */
static const struct {
    const char *path;
    const char *(*show)(const sq_json *doc, int tok, sq_arena *a);
} shows[] = {
    {"postgres.tables", list_text},
    {"backfill_progress", progress_text},
    {"webhook.secret", secret_text},
    {"webhook.hmac_secret", secret_text},
};

/* A field's value in object `obj` as text in the arena ("" when there is none). */
static const char *field_text(const sq_json *doc, int obj, const field *f, sq_arena *a)
{
    if (strcmp(f->path, "webhook_url") == 0)
        return webhook_url_text(doc, obj, a);
    for (size_t i = 0; i < SQ_ARRAY_LEN(shows); i++) {
        if (strcmp(shows[i].path, f->path) != 0)
            continue;
        int tok = at_path(doc, obj, f->path);
        return tok >= 0 ? shows[i].show(doc, tok, a) : "";
    }
    return sq_cli_json_text(doc, obj, f->path, a);
}

/* Display width: UTF-8 continuation bytes take no column. */
static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s != '\0'; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

void sq_cli_print_table(FILE *out, const char *const *cells, size_t nrows, size_t ncols)
{
    size_t *w = calloc(ncols, sizeof *w);
    if (w == NULL)
        return;
    for (size_t r = 0; r < nrows; r++)
        for (size_t c = 0; c < ncols; c++)
            if (width(cells[r * ncols + c]) > w[c])
                w[c] = width(cells[r * ncols + c]);
    for (size_t r = 0; r < nrows; r++) {
        for (size_t c = 0; c < ncols; c++) {
            const char *s = cells[r * ncols + c];
            fputs(s, out);
            if (c + 1 < ncols)
                fprintf(out, "%*s", (int)(w[c] - width(s) + 2), "");
        }
        fputc('\n', out);
    }
    free(w);
}

/* A table cell on one line: control characters (a payload's newlines) become spaces. */
static const char *one_line(char *s)
{
    for (char *p = s; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7F)
            *p = ' ';
    return s;
}

/* Whether list item `it` shows: every item, or a source of `kind` (or of no kind said). */
static bool shows_item(const sq_json *doc, int it, const char *kind, sq_arena *a)
{
    const char *k = kind != NULL ? sq_cli_json_text(doc, it, "kind", a) : "";
    return *k == '\0' || strcmp(k, kind) == 0;
}

static int print_rows(FILE *out, const sq_json *doc, int arr, const field *cols, size_t ncols,
                      sq_arena *a, const char *empty, const char *kind)
{
    int n = 0;
    for (int it = sq_json_first(doc, arr); it >= 0; it = sq_json_next(doc, it))
        n += shows_item(doc, it, kind, a);
    if (n == 0) {
        fprintf(out, "%s\n", empty);
        return SQ_OK;
    }
    const char **cells = sq_arena_calloc(a, ((size_t)n + 1) * ncols, sizeof *cells);
    if (cells == NULL)
        return SQ_ERR;
    for (size_t c = 0; c < ncols; c++)
        cells[c] = cols[c].label;
    size_t r = 1;
    for (int it = sq_json_first(doc, arr); it >= 0; it = sq_json_next(doc, it)) {
        if (!shows_item(doc, it, kind, a))
            continue;
        for (size_t c = 0; c < ncols; c++) {
            char *s = sq_arena_strdup(a, field_text(doc, it, &cols[c], a));
            cells[r * ncols + c] = s != NULL ? one_line(s) : "";
        }
        r++;
    }
    sq_cli_print_table(out, cells, r, ncols);
    return SQ_OK;
}

static void print_block(FILE *out, const sq_json *doc, int obj, const field *fields, size_t n,
                        sq_arena *a)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (strlen(fields[i].label) > w)
            w = strlen(fields[i].label);
    for (size_t i = 0; i < n; i++) {
        field f = fields[i];
        if (f.path[0] == '?' && at_path(doc, obj, ++f.path) < 0)
            continue;
        const char *v = field_text(doc, obj, &f, a);
        fprintf(out, "%s:%*s", fields[i].label, (int)(w - strlen(fields[i].label) + 1), "");
        /* A value of several lines (backfill progress) goes on below, under its first. */
        for (size_t len; (len = strcspn(v, "\n")) < strlen(v); v += len + 1)
            fprintf(out, "%.*s\n%*s", (int)len, v, (int)w + 2, "");
        fprintf(out, "%s\n", v);
    }
}

int sq_cli_json_payload(const sq_json *doc, bool in_data, sq_json_type want)
{
    int tok = 0;
    if (in_data && sq_json_lookup(doc, 0, "data", &tok) != SQ_OK)
        return -1;
    /* No "data" member leaves tok -1, whose type is -1: no sq_json_type. */
    return sq_json_type_of(doc, tok) == (int)want ? tok : -1;
}

#define BLOCK(f) f, SQ_ARRAY_LEN(f)

/* How each kind of answer shows: its fields, for a list the line printed when it is empty
 * (NULL: one object), and whether the answer wraps it in {"data": ...} (SPEC 4: lists,
 * receive and upsert do; a stream, message or consumer is the whole body). */
static const struct view {
    const field *fields;
    size_t nfields;
    const char *empty;
    bool in_data;
    const char *kind; /* a list of sources: only those of this kind show (NULL: every item) */
} views[] = {
    [SQ_OUT_STREAM] = {BLOCK(stream_block), NULL, false},
    [SQ_OUT_STREAMS] = {BLOCK(stream_cols), "No streams.", true},
    [SQ_OUT_MESSAGE] = {BLOCK(message_block), NULL, false},
    [SQ_OUT_MESSAGES] = {BLOCK(message_cols), "No messages.", true},
    [SQ_OUT_CONSUMER] = {BLOCK(consumer_block), NULL, false},
    [SQ_OUT_CONSUMERS] = {BLOCK(consumer_cols), "No consumers.", true},
    [SQ_OUT_DELIVERIES] = {BLOCK(delivery_block), "No messages available.", true},
    [SQ_OUT_PEEK] = {BLOCK(peek_cols), "No messages.", true},
    [SQ_OUT_PUBLISHED] = {NULL, 0, NULL, true},
    [SQ_OUT_DONE] = {NULL, 0, NULL, false}, /* never read: it prints `done` and no body */
    [SQ_OUT_SOURCE] = {BLOCK(source_block), NULL, false},
    [SQ_OUT_SOURCES] = {BLOCK(source_cols), "No sources.", true, "postgres"},
    [SQ_OUT_WEBHOOK] = {BLOCK(webhook_block), NULL, false},
    [SQ_OUT_WEBHOOKS] = {BLOCK(webhook_cols), "No webhook sources.", true, "webhook"},
};

int sq_cli_print(FILE *out, FILE *err, sq_cli_output kind, const char *done, const char *body,
                 size_t len)
{
    sq_json doc = {0};
    sq_arena a = {0};
    int rc = SQ_ERR;
    const struct view *v = &views[kind];
    if (kind == SQ_OUT_DONE) {
        fprintf(out, "%s\n", done);
        return SQ_OK;
    }
    if (sq_json_parse(&doc, body, len, 0, NULL) != SQ_OK)
        goto fail;
    int p =
        sq_cli_json_payload(&doc, v->in_data, v->empty != NULL ? SQ_JSON_ARRAY : SQ_JSON_OBJECT);
    if (p < 0)
        goto fail;
    rc = SQ_OK;
    switch (kind) {
    case SQ_OUT_STREAM:
    case SQ_OUT_MESSAGE:
    case SQ_OUT_CONSUMER:
    case SQ_OUT_SOURCE:
    case SQ_OUT_WEBHOOK:
        print_block(out, &doc, p, v->fields, v->nfields, &a);
        break;
    case SQ_OUT_STREAMS:
    case SQ_OUT_MESSAGES:
    case SQ_OUT_CONSUMERS:
    case SQ_OUT_PEEK:
    case SQ_OUT_SOURCES:
    case SQ_OUT_WEBHOOKS:
        rc = print_rows(out, &doc, p, v->fields, v->nfields, &a, v->empty, v->kind);
        break;
    case SQ_OUT_DELIVERIES:
        if (sq_json_count(&doc, p) == 0)
            fprintf(out, "%s\n", v->empty);
        for (int it = sq_json_first(&doc, p); it >= 0; it = sq_json_next(&doc, it)) {
            if (it != sq_json_first(&doc, p))
                fputc('\n', out);
            print_block(out, &doc, it, v->fields, v->nfields, &a);
        }
        break;
    case SQ_OUT_PUBLISHED: {
        const char *n = sq_cli_json_text(&doc, p, "published", &a);
        fprintf(out, "Published %s message%s.\n", *n ? n : "?", strcmp(n, "1") == 0 ? "" : "s");
        break;
    }
    case SQ_OUT_DONE:
        break;
    }
fail:
    if (rc != SQ_OK)
        fprintf(err, "sequin: unexpected answer from the server: %.*s\n",
                len > 200 ? 200 : (int)len, body);
    sq_arena_free(&a);
    sq_json_free(&doc);
    return rc;
}

void sq_cli_print_error(FILE *err, long status, const char *body, size_t len)
{
    sq_json doc = {0};
    sq_arena a = {0};
    int summary = -1, errors = -1;
    if (sq_json_parse(&doc, body, len, 0, NULL) != SQ_OK ||
        sq_json_lookup(&doc, 0, "summary", &summary) != SQ_OK || summary < 0) {
        /* Not one of our error objects: a proxy's page, or an empty body. */
        while (len > 0 && (body[len - 1] == '\n' || body[len - 1] == '\r'))
            len--;
        fprintf(err, "error: HTTP %ld%s%.*s\n", status, len > 0 ? ": " : "",
                len > 300 ? 300 : (int)len, body);
        goto done;
    }
    fprintf(err, "error: %s\n", sq_cli_json_text(&doc, 0, "summary", &a));
    if (sq_json_lookup(&doc, 0, "validation_errors", &errors) != SQ_OK || errors < 0 ||
        sq_json_type_of(&doc, errors) != SQ_JSON_OBJECT)
        goto done;
    for (int k = sq_json_first(&doc, errors); k >= 0; k = sq_json_next(&doc, k)) {
        const char *name = NULL;
        int v = sq_json_member_value(&doc, k);
        if (sq_json_get_str_arena(&doc, k, &a, &name, NULL) != SQ_OK)
            continue;
        if (sq_json_type_of(&doc, v) != SQ_JSON_ARRAY) {
            fprintf(err, "  %s: %s\n", name, sq_cli_json_text(&doc, v, "", &a));
            continue;
        }
        for (int e = sq_json_first(&doc, v); e >= 0; e = sq_json_next(&doc, e))
            fprintf(err, "  %s: %s\n", name, sq_cli_json_text(&doc, e, "", &a));
    }
done:
    sq_arena_free(&a);
    sq_json_free(&doc);
}

int sq_cli_ack_ids(const char *body, size_t len, sq_arena *arena, const char ***ids)
{
    sq_json doc = {0};
    int n = -1;
    if (sq_json_parse(&doc, body, len, 0, NULL) != SQ_OK)
        goto done;
    int p = sq_cli_json_payload(&doc, true, SQ_JSON_ARRAY);
    int count = sq_json_count(&doc, p);
    const char **out = count >= 0 ? sq_arena_calloc(arena, (size_t)count + 1, sizeof *out) : NULL;
    if (out == NULL)
        goto done;
    n = 0;
    for (int it = sq_json_first(&doc, p); it >= 0; it = sq_json_next(&doc, it)) {
        const char *id = NULL;
        int tok = at_path(&doc, it, "ack_id");
        if (sq_json_get_str_arena(&doc, tok, arena, &id, NULL) == SQ_OK)
            out[n++] = id;
    }
    *ids = out;
done:
    sq_json_free(&doc);
    return n;
}
