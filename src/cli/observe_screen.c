/* The screen of `sequin observe` as lines of text for any terminal size: the tab bar, the
 * table of the view cut to fit, and the status line. */
#include "observe_internal.h"

#include <stdio.h>
#include <string.h>

/* How each table shows: the columns of messages, consumers, deliveries and sources; column i
 * shows cell i, so each is indexed by the cells' names (observe_internal.h). */
static const sq_observe_column message_cols[SQ_OBSERVE_M_COUNT] = {
    [SQ_OBSERVE_M_SEQ] = {"SEQ", 20, 0, false, 0},
    [SQ_OBSERVE_M_KEY] = {"KEY", 16, 0, false, 0},
    [SQ_OBSERVE_M_UPDATED] = {"UPDATED", 8, 2, true, SQ_OBSERVE_FIT_TAIL},
    [SQ_OBSERVE_M_DATA] = {"DATA", 6, 1, false, 0},
};

/* A consumer's first six cells, SQ_OBSERVE_C_NAME to SQ_OBSERVE_C_ACK_WAIT. */
static const sq_observe_column consumer_cols[SQ_OBSERVE_C_ACK_WAIT + 1] = {
    [SQ_OBSERVE_C_NAME] = {"NAME", 12, 0, false, 0},
    [SQ_OBSERVE_C_FILTER] = {"FILTER", 10, 3, false, 0},
    [SQ_OBSERVE_C_AVAILABLE] = {"AVAILABLE", 20, 1, false, 0},
    [SQ_OBSERVE_C_LEASED] = {"LEASED", 20, 2, false, 0},
    [SQ_OBSERVE_C_DEAD] = {"DEAD", 20, 4, false, 0},
    [SQ_OBSERVE_C_ACK_WAIT] = {"ACK_WAIT", 20, 5, false, 0},
};

static const sq_observe_column delivery_cols[SQ_OBSERVE_D_COUNT] = {
    [SQ_OBSERVE_D_SEQ] = {"SEQ", 20, 0, false, 0},
    [SQ_OBSERVE_D_KEY] = {"KEY", 16, 0, false, 0},
    [SQ_OBSERVE_D_DELIVERIES] = {"DELIVERIES", 10, 3, false, 0},
    [SQ_OBSERVE_D_VISIBLE_AT] = {"VISIBLE_AT", 8, 2, true, SQ_OBSERVE_FIT_TAIL},
    [SQ_OBSERVE_D_DATA] = {"DATA", 6, 1, false, 0},
};

/* A source's lag is what one watches it for; its error says the most when it has one. */
static const sq_observe_column source_cols[SQ_OBSERVE_S_COUNT] = {
    [SQ_OBSERVE_S_NAME] = {"NAME", 12, 0, false, 0},
    [SQ_OBSERVE_S_STATE] = {"STATE", 11, 0, false, 0},
    [SQ_OBSERVE_S_LAG_BYTES] = {"LAG_BYTES", 20, 3, false, 0},
    [SQ_OBSERVE_S_LAG_SECONDS] = {"LAG_SECONDS", 20, 2, false, 0},
    [SQ_OBSERVE_S_ROWS] = {"ROWS", 20, 4, false, 0},
    [SQ_OBSERVE_S_ERROR] = {"ERROR", 10, 1, false, 0},
};

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
    if (right != NULL && lw + SQ_OBSERVE_GAP + rw <= cols) {
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
            used += SQ_OBSERVE_GAP;
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
            int cw = sq_observe_width(sq_observe_cell(t, r, c), p->utf);
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
    sq_observe_screen *scr = p->scr;
    sq_buf right = {0};
    int rc = sq_buf_printf(&right, "stream %s", o->stream);
    if (o->view == SQ_OBSERVE_MESSAGES)
        rc |= sq_buf_printf(&right, "  filter %s%s", *o->filter ? o->filter : ">",
                            o->has_pending ? " (applying)" : "");
    rc |= sq_buf_putc(&right, ' ');
    if (rc != SQ_OK)
        p->rc = SQ_ERR;
    /* A consumer's details show under its tab, before the next one. */
    sq_buf left = {0};
    rc = sq_buf_puts(&left, " Messages  Consumers");
    if (o->view == SQ_OBSERVE_DETAILS)
        rc |= sq_buf_printf(&left, " > %s", o->consumer);
    rc |= sq_buf_puts(&left, "  ");
    size_t sources = left.len;
    if ((rc | sq_buf_puts(&left, "Sources")) != SQ_OK)
        p->rc = SQ_ERR;
    two_sided(p, 0, scr->cols, left.data != NULL ? left.data : "", right.data, SQ_OBSERVE_TITLE);
    /* The active tab stands out, when the bar is wide enough to show all of its name. */
    static const char *const names[] = {"Messages", "Consumers", "Sources"};
    size_t tab = o->view == SQ_OBSERVE_MESSAGES ? 0 : o->view == SQ_OBSERVE_SOURCES ? 2 : 1;
    size_t mark = tab == 0 ? 1 : tab == 1 ? 11 : sources, len = strlen(names[tab]);
    const char *text = scr->lines[0].text;
    if (strlen(text) >= mark + len && memcmp(text + mark, names[tab], len) == 0) {
        scr->lines[0].mark = mark;
        scr->lines[0].mark_len = len;
    }
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

/* A list with one row selected, scrolled so that the selection shows. */
static void list_view(painter *p, const sq_observe_table *t, const sq_observe_column *cols,
                      size_t ncols, size_t selected, const char *empty)
{
    size_t shown = (size_t)(p->scr->rows - SQ_OBSERVE_CHROME_ROWS);
    size_t first = selected >= shown ? selected - shown + 1 : 0;
    table(p, 1, p->scr->rows - 2, t, cols, ncols, first, (long)selected, empty);
}

static void consumers_view(painter *p, const sq_observe *o)
{
    char empty[SQ_OBSERVE_TEXT];
    snprintf(empty, sizeof empty, "no consumers in stream %s", o->stream);
    list_view(p, &o->tables[SQ_OBSERVE_SLOT_CONSUMERS], consumer_cols, SQ_ARRAY_LEN(consumer_cols),
              o->selected, empty);
}

static void sources_view(painter *p, const sq_observe *o)
{
    list_view(p, &o->tables[SQ_OBSERVE_SLOT_SOURCES], source_cols, SQ_ARRAY_LEN(source_cols),
              o->source_selected, "no sources");
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
            if (strcmp(sq_observe_cell(list, r, SQ_OBSERVE_C_NAME), o->consumer) == 0)
                t = list;
        r -= t != NULL;
    }
    sq_buf line = {0};
    int rc = t == NULL ? sq_buf_puts(&line, o->consumer)
                       : sq_buf_printf(&line,
                                       "%s  filter %s  available %s  leased %s  dead %s  "
                                       "ack-wait %s",
                                       o->consumer, sq_observe_cell(t, r, SQ_OBSERVE_C_FILTER),
                                       sq_observe_cell(t, r, SQ_OBSERVE_C_AVAILABLE),
                                       sq_observe_cell(t, r, SQ_OBSERVE_C_LEASED),
                                       sq_observe_cell(t, r, SQ_OBSERVE_C_DEAD),
                                       sq_observe_cell(t, r, SQ_OBSERVE_C_ACK_WAIT));
    if (rc == SQ_OK && t == one)
        rc = sq_buf_printf(&line, "  max-ack-pending %s  max-deliver %s  deliver-policy %s",
                           sq_observe_cell(t, r, SQ_OBSERVE_C_MAX_ACK_PENDING),
                           sq_observe_cell(t, r, SQ_OBSERVE_C_MAX_DELIVER),
                           sq_observe_cell(t, r, SQ_OBSERVE_C_POLICY));
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
        return "f filter  c consumers  s sources  q quit";
    case SQ_OBSERVE_CONSUMERS:
        return "Enter details  m messages  s sources  q quit";
    case SQ_OBSERVE_DETAILS:
        return "Esc back  m messages  q quit";
    case SQ_OBSERVE_SOURCES:
        return "m messages  c consumers  q quit";
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
        else if (o->view == SQ_OBSERVE_SOURCES)
            snprintf(left, sizeof left, "%zu source%s, updated %s",
                     o->tables[SQ_OBSERVE_SLOT_SOURCES].nrows,
                     o->tables[SQ_OBSERVE_SLOT_SOURCES].nrows == 1 ? "" : "s", o->updated);
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
        else if (o->view == SQ_OBSERVE_SOURCES)
            sources_view(&p, o);
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
