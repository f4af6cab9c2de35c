/* What the files of observe's model share and nothing outside them may use: the constants of
 * the layout, the cells of each kind of row, and the model's small queries. */
#ifndef SEQUIN_OBSERVE_INTERNAL_H
#define SEQUIN_OBSERVE_INTERNAL_H

#include <stddef.h>

#include "sequin/observe.h"

/* Spaces between two columns of a table. */
#define SQ_OBSERVE_GAP 2
/* The API's largest page (SPEC 4: limit 1..10000). */
#define SQ_OBSERVE_MAX_LIMIT 10000
/* Lines that are not rows of the view: the tab bar, the column headings, the status line. */
#define SQ_OBSERVE_CHROME_ROWS 3

/* The cells of a message's row (SQ_OBSERVE_SLOT_MESSAGES), in this order: the fields read
 * (observe_model.c) and the columns shown (observe_screen.c) are both indexed by them. */
enum {
    SQ_OBSERVE_M_SEQ,
    SQ_OBSERVE_M_KEY,
    SQ_OBSERVE_M_UPDATED,
    SQ_OBSERVE_M_DATA,
    SQ_OBSERVE_M_COUNT
};

/* The cells of a delivery's row (SQ_OBSERVE_SLOT_LEASED and _NEXT), indexed the same way. */
enum {
    SQ_OBSERVE_D_SEQ,
    SQ_OBSERVE_D_KEY,
    SQ_OBSERVE_D_DELIVERIES,
    SQ_OBSERVE_D_VISIBLE_AT,
    SQ_OBSERVE_D_DATA,
    SQ_OBSERVE_D_COUNT
};

/* The cells of a consumer's row (SQ_OBSERVE_SLOT_CONSUMERS and _CONSUMER), in this order. */
enum {
    SQ_OBSERVE_C_NAME,
    SQ_OBSERVE_C_FILTER,
    SQ_OBSERVE_C_AVAILABLE,
    SQ_OBSERVE_C_LEASED,
    SQ_OBSERVE_C_DEAD,
    SQ_OBSERVE_C_ACK_WAIT,
    SQ_OBSERVE_C_MAX_ACK_PENDING,
    SQ_OBSERVE_C_MAX_DELIVER,
    SQ_OBSERVE_C_POLICY
};

/* The cells of a source's row (SQ_OBSERVE_SLOT_SOURCES), indexed the same way. */
enum {
    SQ_OBSERVE_S_NAME,
    SQ_OBSERVE_S_STATE,
    SQ_OBSERVE_S_LAG_BYTES,
    SQ_OBSERVE_S_LAG_SECONDS,
    SQ_OBSERVE_S_ROWS,
    SQ_OBSERVE_S_ERROR,
    SQ_OBSERVE_S_COUNT
};

/* The text of cell (`row`, `col`) of `t`, or "" outside the table. Valid as long as the table's
 * rows (until the slot's next answer is read). */
const char *sq_observe_cell(const sq_observe_table *t, size_t row, size_t col);

/* Drops a table's rows: it reads as never loaded. */
void sq_observe_table_clear(sq_observe_table *t);

/* The rows of a table that fit below the tab bar and the headings of a terminal of `rows`
 * lines, at least one. */
size_t sq_observe_page_rows(int rows);

/* The filter the messages are asked with: the one typed last if the server has not answered
 * it yet, else the one the rows were read with ("" for all keys). */
const char *sq_observe_wanted_filter(const sq_observe *o);

#endif
