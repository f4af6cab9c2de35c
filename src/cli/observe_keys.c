/* The keys of `sequin observe`: moving between the tabs, the selection and the scroll
 * position, and typing a filter, each key a change of the model's state. */
#include "observe_internal.h"

#include <stdio.h>
#include <string.h>

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
    snprintf(o->consumer, sizeof o->consumer, "%s",
             sq_observe_cell(t, o->selected, SQ_OBSERVE_C_NAME));
    sq_observe_table_clear(&o->tables[SQ_OBSERVE_SLOT_CONSUMER]);
    sq_observe_table_clear(&o->tables[SQ_OBSERVE_SLOT_LEASED]);
    sq_observe_table_clear(&o->tables[SQ_OBSERVE_SLOT_NEXT]);
    show(o, SQ_OBSERVE_DETAILS);
}

static void apply_filter(sq_observe *o)
{
    o->editing = false;
    o->edit[o->edit_len] = '\0';
    if (strcmp(o->edit, sq_observe_wanted_filter(o)) == 0)
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
    snprintf(o->edit, sizeof o->edit, "%s", sq_observe_wanted_filter(o));
    o->edit_len = o->edit_cursor = strlen(o->edit);
}

/* Moves the scroll position (messages) or the selection (consumers, sources) by `delta`
 * rows. */
static void move(sq_observe *o, long delta)
{
    bool messages = o->view == SQ_OBSERVE_MESSAGES;
    size_t *at;
    sq_observe_slot slot;
    switch (o->view) {
    case SQ_OBSERVE_MESSAGES:
        at = &o->scroll, slot = SQ_OBSERVE_SLOT_MESSAGES;
        break;
    case SQ_OBSERVE_CONSUMERS:
        at = &o->selected, slot = SQ_OBSERVE_SLOT_CONSUMERS;
        break;
    case SQ_OBSERVE_SOURCES:
        at = &o->source_selected, slot = SQ_OBSERVE_SLOT_SOURCES;
        break;
    case SQ_OBSERVE_DETAILS:
    default:
        return;
    }
    size_t n = o->tables[slot].nrows;
    size_t to = delta < 0 ? (*at > (size_t)-delta ? *at - (size_t)-delta : 0) : *at + (size_t)delta;
    if (to >= n)
        to = n > 0 ? n - 1 : 0;
    if (to != *at && messages)
        o->refetch = true; /* a page beyond the rows at hand */
    *at = to;
}

void sq_observe_key(sq_observe *o, int key, int rows)
{
    long page = (long)sq_observe_page_rows(rows);
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
    case 's':
        show(o, SQ_OBSERVE_SOURCES);
        break;
    case '\t': /* the tabs in their order, round: a consumer's details count as Consumers */
        show(o, o->view == SQ_OBSERVE_MESSAGES  ? SQ_OBSERVE_CONSUMERS
                : o->view == SQ_OBSERVE_SOURCES ? SQ_OBSERVE_MESSAGES
                                                : SQ_OBSERVE_SOURCES);
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
        move(o, -SQ_OBSERVE_MAX_LIMIT);
        break;
    case SQ_OBSERVE_KEY_END:
        move(o, SQ_OBSERVE_MAX_LIMIT);
        break;
    default:
        break;
    }
}
