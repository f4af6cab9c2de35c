/* The model of `sequin observe` (see observe.h): what each view asks the server, how answers
 * become rows, how keys move between the tabs and edit the filter, and the screen as lines
 * for any terminal size. Pure (no I/O, no curses), so all of it is unit-tested. */
#include "sequin/observe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "sequin/json.h"
#include "sequin/text.h"

#define GAP 2
/* The API's largest page (SPEC 4: limit 1..10000). */
#define MAX_LIMIT 10000
/* Lines that are not rows of the view: the tab bar, the column headings, the status line. */
#define CHROME_ROWS 3

/* ---- text in columns --------------------------------------------------------------------- */

/* One character as drawn: `len` bytes of the input, or a replacement, taking `cols` columns. */
typedef struct glyph {
    size_t len;
    char subst; /* '\0': draw the input bytes; else this ASCII byte instead */
    int cols;
} glyph;

static glyph next_glyph(const char *s, unsigned flags)
{
    const unsigned char *p = (const unsigned char *)s;
    if (*p < 0x20 || *p == 0x7F)
        return (glyph){1, ' ', 1}; /* a payload's newlines and tabs */
    if (*p < 0x80)
        return (glyph){1, '\0', 1};
    size_t n = sq_utf8_seq_len(p, strnlen(s, 4));
    if (n == 0)
        return (glyph){1, '?', 1};
    if (!(flags & SQ_OBSERVE_FIT_UTF8))
        return (glyph){n, '?', 1};
    wchar_t wc = (wchar_t)(n == 2   ? (p[0] & 0x1F) << 6 | (p[1] & 0x3F)
                           : n == 3 ? (p[0] & 0x0F) << 12 | (p[1] & 0x3F) << 6 | (p[2] & 0x3F)
                                    : (p[0] & 0x07) << 18 | (p[1] & 0x3F) << 12 |
                                          (p[2] & 0x3F) << 6 | (p[3] & 0x3F));
    int w = wcwidth(wc);
    if (w < 0)
        return (glyph){n, '?', 1};
    return (glyph){n, '\0', w};
}

int sq_observe_width(const char *s, unsigned flags)
{
    int w = 0;
    while (*s != '\0') {
        glyph g = next_glyph(s, flags);
        w += g.cols;
        s += g.len;
    }
    return w;
}

static int put_glyph(sq_buf *out, const char *s, glyph g)
{
    return g.subst != '\0' ? sq_buf_putc(out, g.subst) : sq_buf_append(out, s, g.len);
}

/* Appends the glyphs of `s` that fit in `width` columns; returns the columns used or -1. */
static int put_upto(sq_buf *out, const char *s, int width, unsigned flags)
{
    int used = 0;
    while (*s != '\0') {
        glyph g = next_glyph(s, flags);
        if (used + g.cols > width)
            break;
        if (put_glyph(out, s, g) != SQ_OK)
            return SQ_ERR;
        used += g.cols;
        s += g.len;
    }
    return used;
}

int sq_observe_fit(sq_buf *out, const char *s, int width, unsigned flags)
{
    if (width <= 0)
        return 0;
    int total = sq_observe_width(s, flags), used;
    if (total <= width) {
        used = put_upto(out, s, width, flags);
    } else if (flags & SQ_OBSERVE_FIT_TAIL) {
        /* Skip from the start until the rest fits. */
        while (*s != '\0' && total > width) {
            glyph g = next_glyph(s, flags);
            total -= g.cols;
            s += g.len;
        }
        used = put_upto(out, s, width, flags);
    } else {
        used = put_upto(out, s, width - 1, flags);
        if (used >= 0 && sq_buf_puts(out, (flags & SQ_OBSERVE_FIT_UTF8) ? "\u2026" : "~") != SQ_OK)
            return SQ_ERR;
        used = used < 0 ? used : used + 1;
    }
    if (used < 0)
        return SQ_ERR;
    if (flags & SQ_OBSERVE_FIT_PAD) {
        for (; used < width; used++)
            if (sq_buf_putc(out, ' ') != SQ_OK)
                return SQ_ERR;
    }
    return used;
}

size_t sq_observe_columns(const sq_observe_column *cols, const int *want, size_t n, int width,
                          int *out)
{
    size_t shown = n;
    int need = 0;
    for (size_t i = 0; i < n; i++) {
        out[i] = cols[i].min < want[i] ? cols[i].min : want[i];
        need += out[i] + (i > 0 ? GAP : 0);
    }
    /* Hide columns, highest rank first, while their minimums do not fit. */
    while (need > width) {
        size_t victim = n;
        for (size_t i = 0; i < n; i++)
            if (out[i] > 0 && cols[i].drop > 0 && (victim == n || cols[i].drop > cols[victim].drop))
                victim = i;
        if (victim == n)
            break; /* nothing left to hide: the last column is cut at the edge */
        need -= out[victim] + GAP;
        out[victim] = 0;
        shown--;
    }
    size_t last = n;
    for (size_t i = 0; i < n; i++)
        if (out[i] > 0)
            last = i;
    int left = width - need;
    for (size_t i = 0; i < n && left > 0; i++) {
        if (out[i] == 0 || i == last)
            continue;
        int extra = want[i] - out[i];
        if (extra > left)
            extra = cols[i].whole ? 0 : left;
        out[i] += extra;
        left -= extra;
    }
    if (last < n && left > 0)
        out[last] += left;
    return shown;
}

/* ---- tables: what each answer shows ------------------------------------------------------ */

typedef enum cell_kind {
    CELL_TEXT,
    CELL_TIME, /* an ISO 8601 UTC timestamp, shown in local time */
    CELL_MS,   /* milliseconds, shown as "30s" or "1500ms" */
} cell_kind;

typedef struct field {
    const char *path;
    cell_kind kind;
} field;

static const field message_fields[] = {
    {"seq", CELL_TEXT},
    {"key", CELL_TEXT},
    {"updated_at", CELL_TIME},
    {"data", CELL_TEXT},
};
static const sq_observe_column message_cols[] = {
    {"SEQ", 20, 0, false, 0},
    {"KEY", 16, 0, false, 0},
    {"UPDATED", 8, 2, true, SQ_OBSERVE_FIT_TAIL},
    {"DATA", 6, 1, false, 0},
};

enum {
    C_NAME,
    C_FILTER,
    C_AVAILABLE,
    C_LEASED,
    C_DEAD,
    C_ACK_WAIT,
    C_MAX_ACK_PENDING,
    C_MAX_DELIVER,
    C_POLICY
};
static const field consumer_fields[] = {
    [C_NAME] = {"name", CELL_TEXT},
    [C_FILTER] = {"filter_key_pattern", CELL_TEXT},
    [C_AVAILABLE] = {"stats.available", CELL_TEXT},
    [C_LEASED] = {"stats.delivered", CELL_TEXT},
    [C_DEAD] = {"stats.dead", CELL_TEXT},
    [C_ACK_WAIT] = {"ack_wait_ms", CELL_MS},
    [C_MAX_ACK_PENDING] = {"max_ack_pending", CELL_TEXT},
    [C_MAX_DELIVER] = {"max_deliver", CELL_TEXT},
    [C_POLICY] = {"deliver_policy", CELL_TEXT},
};
/* The table shows the first six fields. */
static const sq_observe_column consumer_cols[] = {
    {"NAME", 12, 0, false, 0},   {"FILTER", 10, 3, false, 0}, {"AVAILABLE", 20, 1, false, 0},
    {"LEASED", 20, 2, false, 0}, {"DEAD", 20, 4, false, 0},   {"ACK_WAIT", 20, 5, false, 0},
};

static const field delivery_fields[] = {
    {"message.seq", CELL_TEXT},        {"message.key", CELL_TEXT},
    {"info.deliver_count", CELL_TEXT}, {"info.not_visible_until", CELL_TIME},
    {"message.data", CELL_TEXT},
};
static const sq_observe_column delivery_cols[] = {
    {"SEQ", 20, 0, false, 0},        {"KEY", 16, 0, false, 0},
    {"DELIVERIES", 10, 3, false, 0}, {"VISIBLE_AT", 8, 2, true, SQ_OBSERVE_FIT_TAIL},
    {"DATA", 6, 1, false, 0},
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
};

static const char *cell(const sq_observe_table *t, size_t row, size_t col)
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

static void clear_table(sq_observe_table *t)
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
        clear_table(&o->tables[i]);
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
    }
    return 0;
}

/* The rows of a table that fit below the tab bar and the headings, at least one. */
static size_t page_rows(int rows)
{
    return rows > CHROME_ROWS + 1 ? (size_t)(rows - CHROME_ROWS) : 1;
}

static const char *wanted_filter(const sq_observe *o)
{
    return o->has_pending ? o->pending : o->filter;
}

int sq_observe_path(const sq_observe *o, sq_observe_slot slot, int rows, sq_buf *path)
{
    size_t page = page_rows(rows), limit = o->scroll + 2 * page;
    if (limit > MAX_LIMIT)
        limit = MAX_LIMIT;
    int rc = sq_buf_puts(path, "/api/streams/") || sq_cli_encode(path, o->stream);
    switch (slot) {
    case SQ_OBSERVE_SLOT_MESSAGES:
        rc |= sq_buf_printf(path, "/messages?sort=seq_desc&limit=%zu", limit);
        if (*wanted_filter(o) != '\0')
            rc |= sq_buf_puts(path, "&key_pattern=") || sq_cli_encode(path, wanted_filter(o));
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
                                page > MAX_LIMIT ? (size_t)MAX_LIMIT : page);
        break;
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

/* ---- keys -------------------------------------------------------------------------------- */

static void show(sq_observe *o, sq_observe_view v)
{
    if (o->view == v && v != SQ_OBSERVE_DETAILS)
        return;
    o->view = v;
    o->epoch++;
    o->refetch = true;
    /* An error of a slot's last visit would be stale by now. */
    for (unsigned s = 0; s < SQ_OBSERVE_SLOT_COUNT; s++)
        if (sq_observe_slots(o) & 1u << s)
            o->errors[s][0] = '\0';
}

static void open_details(sq_observe *o)
{
    const sq_observe_table *t = &o->tables[SQ_OBSERVE_SLOT_CONSUMERS];
    if (o->selected >= t->nrows)
        return;
    snprintf(o->consumer, sizeof o->consumer, "%s", cell(t, o->selected, C_NAME));
    clear_table(&o->tables[SQ_OBSERVE_SLOT_CONSUMER]);
    clear_table(&o->tables[SQ_OBSERVE_SLOT_LEASED]);
    clear_table(&o->tables[SQ_OBSERVE_SLOT_NEXT]);
    show(o, SQ_OBSERVE_DETAILS);
}

static void apply_filter(sq_observe *o)
{
    o->editing = false;
    o->edit[o->edit_len] = '\0';
    if (strcmp(o->edit, wanted_filter(o)) == 0)
        return;
    o->has_pending = strcmp(o->edit, o->filter) != 0;
    memcpy(o->pending, o->edit, sizeof o->pending);
    o->scroll = 0;
    o->epoch++;
    o->refetch = true;
}

static void edit_key(sq_observe *o, int key)
{
    switch (key) {
    case '\n':
    case '\r':
        apply_filter(o);
        break;
    case 27: /* Esc */
        o->editing = false;
        break;
    case SQ_OBSERVE_KEY_BACKSPACE:
    case 8:
    case 127:
        if (o->edit_cursor > 0) {
            memmove(o->edit + o->edit_cursor - 1, o->edit + o->edit_cursor,
                    o->edit_len - o->edit_cursor);
            o->edit_cursor--;
            o->edit_len--;
        }
        break;
    case SQ_OBSERVE_KEY_DELETE:
        if (o->edit_cursor < o->edit_len) {
            memmove(o->edit + o->edit_cursor, o->edit + o->edit_cursor + 1,
                    o->edit_len - o->edit_cursor - 1);
            o->edit_len--;
        }
        break;
    case SQ_OBSERVE_KEY_LEFT:
        o->edit_cursor -= o->edit_cursor > 0;
        break;
    case SQ_OBSERVE_KEY_RIGHT:
        o->edit_cursor += o->edit_cursor < o->edit_len;
        break;
    case SQ_OBSERVE_KEY_HOME:
    case 1: /* Ctrl-A */
        o->edit_cursor = 0;
        break;
    case SQ_OBSERVE_KEY_END:
    case 5: /* Ctrl-E */
        o->edit_cursor = o->edit_len;
        break;
    case 21: /* Ctrl-U */
        o->edit_len = o->edit_cursor = 0;
        break;
    default:
        /* Only what a filter may hold, and space, whose refusal the server explains. */
        if (key >= 0x20 && key <= 0x7E && o->edit_len < SQ_KEY_MAX_BYTES) {
            memmove(o->edit + o->edit_cursor + 1, o->edit + o->edit_cursor,
                    o->edit_len - o->edit_cursor);
            o->edit[o->edit_cursor++] = (char)key;
            o->edit_len++;
        }
        break;
    }
    o->edit[o->edit_len] = '\0';
}

static void start_editing(sq_observe *o)
{
    show(o, SQ_OBSERVE_MESSAGES);
    o->editing = true;
    snprintf(o->edit, sizeof o->edit, "%s", wanted_filter(o));
    o->edit_len = o->edit_cursor = strlen(o->edit);
}

/* Moves the scroll position (messages) or the selection (consumers) by `delta` rows. */
static void move(sq_observe *o, long delta)
{
    bool messages = o->view == SQ_OBSERVE_MESSAGES;
    size_t *at = messages ? &o->scroll : &o->selected;
    size_t n = o->tables[messages ? SQ_OBSERVE_SLOT_MESSAGES : SQ_OBSERVE_SLOT_CONSUMERS].nrows;
    if (o->view == SQ_OBSERVE_DETAILS)
        return;
    size_t to = delta < 0 ? (*at > (size_t)-delta ? *at - (size_t)-delta : 0) : *at + (size_t)delta;
    if (to >= n)
        to = n > 0 ? n - 1 : 0;
    if (to != *at && messages)
        o->refetch = true; /* a page beyond the rows at hand */
    *at = to;
}

void sq_observe_key(sq_observe *o, int key, int rows)
{
    long page = (long)page_rows(rows);
    o->notice[0] = '\0';
    if (o->editing) {
        edit_key(o, key);
        return;
    }
    switch (key) {
    case 'q':
    case 'Q':
        o->quit = true;
        break;
    case 'f':
    case '/':
        start_editing(o);
        break;
    case 'm':
        show(o, SQ_OBSERVE_MESSAGES);
        break;
    case 'c':
        show(o, SQ_OBSERVE_CONSUMERS);
        break;
    case '\t':
        show(o, o->view == SQ_OBSERVE_MESSAGES ? SQ_OBSERVE_CONSUMERS : SQ_OBSERVE_MESSAGES);
        break;
    case '\n':
    case '\r':
        if (o->view == SQ_OBSERVE_CONSUMERS)
            open_details(o);
        break;
    case 27:
    case 8:
    case 127:
    case SQ_OBSERVE_KEY_BACKSPACE:
        if (o->view == SQ_OBSERVE_DETAILS)
            show(o, SQ_OBSERVE_CONSUMERS);
        break;
    case 'r':
        o->refetch = true;
        break;
    case 'k':
    case SQ_OBSERVE_KEY_UP:
        move(o, -1);
        break;
    case 'j':
    case SQ_OBSERVE_KEY_DOWN:
        move(o, 1);
        break;
    case SQ_OBSERVE_KEY_PGUP:
        move(o, -page);
        break;
    case SQ_OBSERVE_KEY_PGDN:
        move(o, page);
        break;
    case SQ_OBSERVE_KEY_HOME:
        move(o, -MAX_LIMIT);
        break;
    case SQ_OBSERVE_KEY_END:
        move(o, MAX_LIMIT);
        break;
    default:
        break;
    }
}

/* ---- the screen -------------------------------------------------------------------------- */

/* The render's working state: the screen, a line being built, the fit flags. */
typedef struct painter {
    sq_observe_screen *scr;
    sq_buf b;
    unsigned utf;
    int rc;
} painter;

/* Makes line `row` the text built in p->b (then emptied). */
static void commit(painter *p, int row, sq_observe_attr attr)
{
    if (row >= 0 && row < p->scr->rows) {
        char *text = sq_arena_strndup(&p->scr->arena, p->b.data != NULL ? p->b.data : "", p->b.len);
        if (text == NULL)
            p->rc = SQ_ERR;
        else
            p->scr->lines[row] = (sq_observe_line){.text = text, .attr = attr};
    }
    sq_buf_reset(&p->b);
}

static void put(painter *p, const char *s, int width, unsigned flags)
{
    if (sq_observe_fit(&p->b, s, width, p->utf | flags) < 0)
        p->rc = SQ_ERR;
}

/* A line of `cols` columns: `left`, with `right` at the right edge when both fit, else `left`
 * cut. */
static void two_sided(painter *p, int row, int cols, const char *left, const char *right,
                      sq_observe_attr attr)
{
    int lw = sq_observe_width(left, p->utf);
    int rw = right != NULL ? sq_observe_width(right, p->utf) : 0;
    if (right != NULL && lw + GAP + rw <= cols) {
        put(p, left, cols - rw, SQ_OBSERVE_FIT_PAD);
        put(p, right, rw, 0);
    } else {
        put(p, left, cols, 0);
    }
    commit(p, row, attr);
}

/* One row of cells in the widths `w` (0: hidden); the last column shown runs to the edge. */
static void table_line(painter *p, const char *const *cells, const sq_observe_column *cols,
                       const int *w, size_t n)
{
    int used = 0, width = p->scr->cols;
    size_t last = n;
    for (size_t i = 0; i < n; i++)
        if (w[i] > 0)
            last = i;
    for (size_t i = 0; i < n && used < width; i++) {
        if (w[i] == 0)
            continue;
        if (used > 0) {
            put(p, "  ", width - used, 0);
            used += GAP;
        }
        int cw = i == last || w[i] > width - used ? width - used : w[i];
        put(p, cells[i], cw, cols[i].fit | (i == last ? 0 : SQ_OBSERVE_FIT_PAD));
        used += cw;
    }
}

#define MAX_COLS 8

/*
 * A table from line `row` on, at most `lines` lines: the headings, then rows from `first`
 * (the `selected` one highlighted, -1 for none), or `empty` when there are none. Returns the
 * lines used.
 */
static int table(painter *p, int row, int lines, const sq_observe_table *t,
                 const sq_observe_column *cols, size_t ncols, size_t first, long selected,
                 const char *empty)
{
    int want[MAX_COLS], w[MAX_COLS];
    const char *labels[MAX_COLS];
    if (lines <= 0)
        return 0;
    for (size_t c = 0; c < ncols; c++) {
        labels[c] = cols[c].label;
        want[c] = sq_observe_width(cols[c].label, p->utf);
        for (size_t r = 0; r < t->nrows; r++) {
            int cw = sq_observe_width(cell(t, r, c), p->utf);
            want[c] = cw > want[c] ? cw : want[c];
        }
    }
    sq_observe_columns(cols, want, ncols, p->scr->cols, w);
    table_line(p, labels, cols, w, ncols);
    commit(p, row, SQ_OBSERVE_HEADING);
    int used = 1;
    if (!t->loaded || t->nrows == 0) {
        if (used < lines) {
            put(p, t->loaded ? empty : "loading...", p->scr->cols, 0);
            commit(p, row + used++, SQ_OBSERVE_PLAIN);
        }
        return used;
    }
    for (size_t r = first; r < t->nrows && used < lines; r++, used++) {
        table_line(p, t->cells + r * t->ncols, cols, w, ncols);
        commit(p, row + used, (long)r == selected ? SQ_OBSERVE_SELECTED : SQ_OBSERVE_PLAIN);
    }
    return used;
}

static void tab_bar(painter *p, const sq_observe *o)
{
    static const char tabs[] = " Messages  Consumers";
    sq_observe_screen *scr = p->scr;
    sq_buf right = {0};
    int rc = sq_buf_printf(&right, "stream %s", o->stream);
    if (o->view == SQ_OBSERVE_MESSAGES)
        rc |= sq_buf_printf(&right, "  filter %s%s", *o->filter ? o->filter : ">",
                            o->has_pending ? " (applying)" : "");
    rc |= sq_buf_putc(&right, ' ');
    if (rc != SQ_OK)
        p->rc = SQ_ERR;
    sq_buf left = {0};
    if (sq_buf_puts(&left, tabs) != SQ_OK ||
        (o->view == SQ_OBSERVE_DETAILS && sq_buf_printf(&left, " > %s", o->consumer) != SQ_OK))
        p->rc = SQ_ERR;
    two_sided(p, 0, scr->cols, left.data != NULL ? left.data : "", right.data, SQ_OBSERVE_TITLE);
    /* The active tab stands out; the bar is at least SQ_OBSERVE_MIN_COLS wide, so both fit. */
    bool messages = o->view == SQ_OBSERVE_MESSAGES;
    scr->lines[0].mark = messages ? 1 : 11;
    scr->lines[0].mark_len = messages ? 8 : 9;
    sq_buf_free(&left);
    sq_buf_free(&right);
}

static void messages_view(painter *p, const sq_observe *o)
{
    const sq_observe_table *t = &o->tables[SQ_OBSERVE_SLOT_MESSAGES];
    char empty[SQ_OBSERVE_TEXT];
    if (*o->filter != '\0')
        snprintf(empty, sizeof empty, "no messages match %s", o->filter);
    else
        snprintf(empty, sizeof empty, "no messages in stream %s", o->stream);
    size_t first = o->scroll < t->nrows ? o->scroll : 0;
    table(p, 1, p->scr->rows - 2, t, message_cols, SQ_ARRAY_LEN(message_cols), first, -1, empty);
}

static void consumers_view(painter *p, const sq_observe *o)
{
    const sq_observe_table *t = &o->tables[SQ_OBSERVE_SLOT_CONSUMERS];
    size_t shown = (size_t)(p->scr->rows - CHROME_ROWS);
    size_t first = o->selected >= shown ? o->selected - shown + 1 : 0;
    char empty[SQ_OBSERVE_TEXT];
    snprintf(empty, sizeof empty, "no consumers in stream %s", o->stream);
    table(p, 1, p->scr->rows - 2, t, consumer_cols, SQ_ARRAY_LEN(consumer_cols), first,
          (long)o->selected, empty);
}

/* The consumer's settings and counts in one line, from its own answer or else the list's. */
static void consumer_summary(painter *p, const sq_observe *o, int row)
{
    const sq_observe_table *one = &o->tables[SQ_OBSERVE_SLOT_CONSUMER];
    const sq_observe_table *list = &o->tables[SQ_OBSERVE_SLOT_CONSUMERS];
    const sq_observe_table *t = NULL;
    size_t r = 0;
    if (one->nrows == 1) {
        t = one;
    } else {
        for (r = 0; r < list->nrows && t == NULL; r++)
            if (strcmp(cell(list, r, C_NAME), o->consumer) == 0)
                t = list;
        r -= t != NULL;
    }
    sq_buf line = {0};
    int rc = t == NULL
                 ? sq_buf_puts(&line, o->consumer)
                 : sq_buf_printf(&line,
                                 "%s  filter %s  available %s  leased %s  dead %s  "
                                 "ack-wait %s",
                                 o->consumer, cell(t, r, C_FILTER), cell(t, r, C_AVAILABLE),
                                 cell(t, r, C_LEASED), cell(t, r, C_DEAD), cell(t, r, C_ACK_WAIT));
    if (rc == SQ_OK && t == one)
        rc = sq_buf_printf(&line, "  max-ack-pending %s  max-deliver %s  deliver-policy %s",
                           cell(t, r, C_MAX_ACK_PENDING), cell(t, r, C_MAX_DELIVER),
                           cell(t, r, C_POLICY));
    if (rc != SQ_OK)
        p->rc = SQ_ERR;
    put(p, line.data != NULL ? line.data : "", p->scr->cols, 0);
    commit(p, row, SQ_OBSERVE_PLAIN);
    sq_buf_free(&line);
}

/* A section of the details: its title line, then its table. Returns the lines used. */
static int section(painter *p, int row, int lines, const char *title, const sq_observe_table *t,
                   const char *empty)
{
    if (lines <= 0)
        return 0;
    put(p, title, p->scr->cols, 0);
    commit(p, row, SQ_OBSERVE_HEADING);
    return 1 + table(p, row + 1, lines - 1, t, delivery_cols, SQ_ARRAY_LEN(delivery_cols), 0, -1,
                     empty);
}

/* The lines a section wants: title, headings, and its rows or the one "none" line. */
static int section_lines(const sq_observe_table *t)
{
    return 2 + (t->nrows > 0 ? (int)t->nrows : 1);
}

static void details_view(painter *p, const sq_observe *o)
{
    const sq_observe_table *leased = &o->tables[SQ_OBSERVE_SLOT_LEASED];
    const sq_observe_table *next = &o->tables[SQ_OBSERVE_SLOT_NEXT];
    int row = 1, lines = p->scr->rows - 2;
    consumer_summary(p, o, row++);
    lines--;
    /* Each section gets what it needs when both fit, else leased at least half. */
    int want = section_lines(leased), rest = section_lines(next);
    int first = want + rest <= lines ? want : (want < lines - rest ? want : lines - rest);
    if (first < (lines + 1) / 2)
        first = want < (lines + 1) / 2 ? want : (lines + 1) / 2;
    char title[96];
    snprintf(title, sizeof title, "LEASED (%zu)", leased->nrows);
    row += section(p, row, first, title, leased, "no leased messages");
    snprintf(title, sizeof title, "NEXT (%zu shown)", next->nrows);
    section(p, row, p->scr->rows - 1 - row, title, next, "no messages available");
}

static const char *hints(const sq_observe *o)
{
    switch (o->view) {
    case SQ_OBSERVE_MESSAGES:
        return "f filter  c consumers  q quit";
    case SQ_OBSERVE_CONSUMERS:
        return "Enter details  m messages  q quit";
    case SQ_OBSERVE_DETAILS:
        return "Esc back  m messages  q quit";
    }
    return "";
}

static void status_line(painter *p, const sq_observe *o)
{
    /* Not the screen's last cell: writing it scrolls some terminals, and curses then leaves it
     * blank. */
    int row = p->scr->rows - 1, cols = p->scr->cols - 1;
    char left[2 * SQ_OBSERVE_TEXT];
    sq_observe_attr attr = SQ_OBSERVE_ALERT;
    if (o->editing) {
        static const char prompt[] = "filter: ";
        int room = cols - (int)strlen(prompt) - 1; /* the cursor may sit after the text */
        size_t from = o->edit_cursor > (size_t)room ? o->edit_cursor - (size_t)room : 0;
        put(p, prompt, cols, 0);
        put(p, o->edit + from, cols - (int)strlen(prompt), 0);
        commit(p, row, SQ_OBSERVE_STATUS);
        p->scr->cursor_row = row;
        p->scr->cursor_col = (int)strlen(prompt) + (int)(o->edit_cursor - from);
        if (p->scr->cursor_col >= cols)
            p->scr->cursor_col = cols - 1;
        return;
    }
    const char *error = NULL;
    for (unsigned s = 0; s < SQ_OBSERVE_SLOT_COUNT && error == NULL; s++)
        if ((sq_observe_slots(o) & 1u << s) && o->errors[s][0] != '\0')
            error = o->errors[s];
    if (o->disconnected) {
        snprintf(left, sizeof left, "disconnected: %s; retrying", o->unreachable);
    } else if (o->notice[0] != '\0') {
        snprintf(left, sizeof left, "%s", o->notice);
    } else if (error != NULL) {
        snprintf(left, sizeof left, "error: %s", error);
    } else {
        attr = SQ_OBSERVE_STATUS;
        if (!o->answered)
            snprintf(left, sizeof left, "connecting to %s", o->server_url);
        else if (o->view == SQ_OBSERVE_MESSAGES)
            snprintf(left, sizeof left, "newest first, updated %s", o->updated);
        else if (o->view == SQ_OBSERVE_CONSUMERS)
            snprintf(left, sizeof left, "%zu consumers, updated %s",
                     o->tables[SQ_OBSERVE_SLOT_CONSUMERS].nrows, o->updated);
        else
            snprintf(left, sizeof left, "updated %s", o->updated);
    }
    two_sided(p, row, cols, left, hints(o), attr);
}

int sq_observe_render(const sq_observe *o, int rows, int cols, sq_observe_screen *scr)
{
    painter p = {.scr = scr, .utf = o->utf8 ? SQ_OBSERVE_FIT_UTF8 : 0};
    *scr = (sq_observe_screen){.rows = rows > 0 ? rows : 0,
                               .cols = cols > 0 ? cols : 0,
                               .cursor_row = -1,
                               .cursor_col = -1};
    scr->lines = sq_arena_calloc(&scr->arena, (size_t)scr->rows + 1, sizeof *scr->lines);
    if (scr->lines == NULL)
        return SQ_ERR;
    for (int r = 0; r < scr->rows; r++)
        scr->lines[r].text = "";
    if (scr->rows < SQ_OBSERVE_MIN_ROWS || scr->cols < SQ_OBSERVE_MIN_COLS) {
        put(&p, "terminal too small", scr->cols, 0);
        commit(&p, 0, SQ_OBSERVE_ALERT);
    } else {
        tab_bar(&p, o);
        if (o->view == SQ_OBSERVE_MESSAGES)
            messages_view(&p, o);
        else if (o->view == SQ_OBSERVE_CONSUMERS)
            consumers_view(&p, o);
        else
            details_view(&p, o);
        status_line(&p, o);
    }
    sq_buf_free(&p.b);
    return p.rc;
}

void sq_observe_screen_free(sq_observe_screen *scr)
{
    sq_arena_free(&scr->arena);
    *scr = (sq_observe_screen){0};
}
