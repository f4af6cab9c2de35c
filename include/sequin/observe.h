/* `sequin observe`, the full-screen live view: its model, pure, no I/O (answers and keys in,
 * requests and screen lines out: observe_model.c for the requests and rows, observe_keys.c
 * for the keys, observe_screen.c for the screen, observe_text.c for text in columns), and the
 * terminal driver that runs it over curses and libcurl's multi interface (observe.c, linked
 * into sequin only). */
#ifndef SEQUIN_OBSERVE_H
#define SEQUIN_OBSERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "sequin/buf.h"
#include "sequin/cli.h"
#include "sequin/common.h"
#include "sequin/keys.h"

/* Below this size the view shows only "terminal too small". */
#define SQ_OBSERVE_MIN_ROWS 3
#define SQ_OBSERVE_MIN_COLS 20

typedef enum sq_observe_view {
    SQ_OBSERVE_MESSAGES,  /* the stream's messages, newest first */
    SQ_OBSERVE_CONSUMERS, /* the stream's consumers, one selected */
    SQ_OBSERVE_DETAILS,   /* one consumer: its leased and its next messages */
    SQ_OBSERVE_SOURCES,   /* every source: state, lag, rows streamed, error */
} sq_observe_view;

/* The requests behind the views (SPEC 4); the driver keeps at most one of each in flight. */
typedef enum sq_observe_slot {
    SQ_OBSERVE_SLOT_MESSAGES,  /* GET .../messages?sort=seq_desc&limit=N[&key_pattern=F] */
    SQ_OBSERVE_SLOT_CONSUMERS, /* GET .../consumers */
    SQ_OBSERVE_SLOT_CONSUMER,  /* GET .../consumers/C */
    SQ_OBSERVE_SLOT_LEASED,    /* GET .../consumers/C/messages?state=delivered&limit=N */
    SQ_OBSERVE_SLOT_NEXT,      /* GET .../consumers/C/messages?state=available&limit=N */
    SQ_OBSERVE_SLOT_SOURCES,   /* GET /api/sources */
    SQ_OBSERVE_SLOT_COUNT
} sq_observe_slot;

/* Keys other than bytes (printable ASCII, Enter '\n' or '\r', Esc 27, Tab, Ctrl-U 21, the
 * Backspace bytes 8 and 127, which stand for themselves). */
enum {
    SQ_OBSERVE_KEY_UP = 0x110000, /* above every Unicode code point */
    SQ_OBSERVE_KEY_DOWN,
    SQ_OBSERVE_KEY_LEFT,
    SQ_OBSERVE_KEY_RIGHT,
    SQ_OBSERVE_KEY_PGUP,
    SQ_OBSERVE_KEY_PGDN,
    SQ_OBSERVE_KEY_HOME,
    SQ_OBSERVE_KEY_END,
    SQ_OBSERVE_KEY_BACKSPACE,
    SQ_OBSERVE_KEY_DELETE,
};

/* The rows of one answer as text: nrows * ncols cells, row-major, in the table's arena. */
typedef struct sq_observe_table {
    sq_arena arena;
    const char **cells;
    size_t nrows, ncols;
    bool loaded; /* an answer has been read (possibly with no rows) */
} sq_observe_table;

#define SQ_OBSERVE_TEXT 320

/*
 * The state of the view. Fields are read by the driver and the tests; change them only
 * through the functions below (the driver clears `refetch` itself). `stream` and `server_url`
 * are borrowed and must outlive the model.
 */
typedef struct sq_observe {
    const char *stream;
    const char *server_url;
    bool utf8; /* the terminal shows UTF-8; otherwise non-ASCII bytes are drawn as '?' */
    sq_observe_view view;
    /* Bumped whenever what the view asks for changes (tab, filter, consumer): answers to
     * requests made under an older epoch are stale and only tell that the server is up. */
    unsigned epoch;
    bool refetch; /* the view wants fresh answers now rather than at the next refresh */
    bool quit;
    sq_observe_table tables[SQ_OBSERVE_SLOT_COUNT];
    char errors[SQ_OBSERVE_SLOT_COUNT][SQ_OBSERVE_TEXT]; /* the last error answer of a slot */
    /* Messages: the filter the rows were read with ("" for all keys), and the one typed last
     * while the server has not yet answered it. */
    char filter[SQ_KEY_MAX_BYTES + 1];
    char pending[SQ_KEY_MAX_BYTES + 1];
    bool has_pending;
    size_t scroll; /* messages: index of the first row shown */
    /* The filter being typed (`f`): ASCII only, so bytes and columns are the same. */
    bool editing;
    char edit[SQ_KEY_MAX_BYTES + 1];
    size_t edit_len, edit_cursor;
    size_t selected;                   /* consumers: the highlighted row */
    size_t source_selected;            /* sources: the highlighted row */
    char consumer[SQ_NAME_MAX + 1];    /* details: whose */
    bool answered;                     /* the server has answered at least once */
    bool disconnected;                 /* the last request got no answer at all */
    char unreachable[SQ_OBSERVE_TEXT]; /*   and why */
    char notice[2 * SQ_OBSERVE_TEXT];  /* shown until the next key (a refused filter) */
    char updated[16];                  /* local time of the last answer read, "12:00:01" */
} sq_observe;

/* Starts a model on the Messages tab with no filter. */
void sq_observe_init(sq_observe *o, const char *stream, const char *server_url, bool utf8);
void sq_observe_free(sq_observe *o);

/* The slots the current view needs, as a bit mask (1u << slot). */
unsigned sq_observe_slots(const sq_observe *o);

/*
 * Appends to `path` the path and query of `slot`'s request for a terminal of `rows` lines
 * (listings ask for what fits, plus a page to scroll into). 0, or -1 when out of memory.
 */
SQ_WUR int sq_observe_path(const sq_observe *o, sq_observe_slot slot, int rows, sq_buf *path);

/*
 * An answer of HTTP `status` to `slot`'s request made under `epoch`, read at wall time
 * `now`. A 2xx replaces the slot's rows; an error keeps them and remembers the server's
 * summary; a 400 to a new filter drops that filter and says why until the next key.
 */
void sq_observe_answer(sq_observe *o, sq_observe_slot slot, unsigned epoch, long status,
                       const char *body, size_t len, time_t now);

/* A request that got no answer: `why` is a sentence such as "cannot reach URL: ...". */
void sq_observe_unreachable(sq_observe *o, const char *why);

/* One key, for a terminal of `rows` lines (paging). */
void sq_observe_key(sq_observe *o, int key, int rows);

/* ---- the screen -------------------------------------------------------------------------- */

typedef enum sq_observe_attr {
    SQ_OBSERVE_PLAIN,
    SQ_OBSERVE_TITLE,    /* the tab bar */
    SQ_OBSERVE_HEADING,  /* column headings and section titles */
    SQ_OBSERVE_SELECTED, /* the highlighted consumer */
    SQ_OBSERVE_STATUS,   /* the status line */
    SQ_OBSERVE_ALERT,    /* the status line saying something went wrong */
} sq_observe_attr;

typedef struct sq_observe_line {
    const char *text; /* UTF-8, at most the screen's width in columns, no control bytes */
    sq_observe_attr attr;
    size_t mark, mark_len; /* bytes [mark, mark + mark_len) stand out (the active tab) */
} sq_observe_line;

typedef struct sq_observe_screen {
    int rows, cols;
    sq_observe_line *lines;     /* `rows` lines */
    int cursor_row, cursor_col; /* where the cursor shows (typing a filter), else -1 */
    sq_arena arena;             /* owns the lines */
} sq_observe_screen;

/*
 * Lays the view out for a terminal of `rows` x `cols` (any size, even 0 x 0): the tab bar, the
 * table of the view cut to fit, and the status line. `scr` must be zeroed or freed before.
 * 0, or -1 when out of memory. Release with sq_observe_screen_free.
 */
SQ_WUR int sq_observe_render(const sq_observe *o, int rows, int cols, sq_observe_screen *scr);
void sq_observe_screen_free(sq_observe_screen *scr);

/* ---- text in columns --------------------------------------------------------------------- */

/* How sq_observe_fit cuts and pads. */
enum {
    SQ_OBSERVE_FIT_UTF8 = 1, /* the terminal shows UTF-8 */
    SQ_OBSERVE_FIT_PAD = 2,  /* pad with spaces to exactly `width` columns */
    SQ_OBSERVE_FIT_TAIL = 4, /* keep the end, not the start, and mark no cut ("12:00:01") */
};

/*
 * Appends `s` as it shows in `width` terminal columns: control characters as spaces, bytes
 * that are not UTF-8 (or not ASCII without SQ_OBSERVE_FIT_UTF8) and unprintable characters
 * as '?', double-width characters as two columns; text that does not fit is cut and ends
 * with an ellipsis ("…", or "~" without UTF-8). Returns the columns written, or -1 when out
 * of memory.
 */
SQ_WUR int sq_observe_fit(sq_buf *out, const char *s, int width, unsigned flags);

/* The columns `s` takes as sq_observe_fit would draw it. */
int sq_observe_width(const char *s, unsigned flags);

/* One column of a table: what it needs and how it gives way. */
typedef struct sq_observe_column {
    const char *label;
    int min;      /* narrowest useful width (the label may be cut below its own width) */
    int drop;     /* 0: never hidden; else hidden before columns of a lower rank */
    bool whole;   /* widen from `min` only to the full natural width, nothing in between */
    unsigned fit; /* SQ_OBSERVE_FIT_TAIL for text whose end matters */
} sq_observe_column;

/*
 * Shares `width` columns between `n` columns two spaces apart, given each one's natural
 * width `want[i]`: columns are hidden by rank while their minimums do not fit, the others
 * get their minimum, then what is left in order up to their natural width; the last one
 * shown takes the rest. Writes each column's width to `out` (0: hidden) and returns how many
 * are shown.
 */
size_t sq_observe_columns(const sq_observe_column *cols, const int *want, size_t n, int width,
                          int *out);

/* ---- the driver (observe.c) ------------------------------------------------------------- */

/*
 * Runs the view of `stream` on the terminal of standard input and output until `q` or a
 * signal (INT, TERM, HUP), then restores the terminal. Returns the exit status: 0 after `q`,
 * 128 + the signal's number, or 1 with `err` set when the terminal or libcurl cannot start.
 */
int sq_observe_run(const sq_cli_target *t, const char *stream, char *err, size_t errlen);

#endif
