/* Tests of the model of `sequin observe` (src/cli/observe_*.c): text cut to columns, columns
 * shared out, the requests of each view, answers, keys, and the screen at every size down to
 * nothing. The curses half is driven in a real terminal by test/integration/test_observe.c. */
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "sequin/observe.h"

#define UTF SQ_OBSERVE_FIT_UTF8

static char *fit(const char *s, int width, unsigned flags, int *cols)
{
    static char text[256];
    sq_buf b = {0};
    int n = sq_observe_fit(&b, s, width, flags);
    assert_true(n >= 0);
    if (cols != NULL)
        *cols = n;
    snprintf(text, sizeof text, "%s", b.data != NULL ? b.data : "");
    sq_buf_free(&b);
    return text;
}

static void test_fit(void **state)
{
    (void)state;
    int cols;
    assert_string_equal(fit("orders.us", 20, UTF, &cols), "orders.us");
    assert_int_equal(cols, 9);
    assert_string_equal(fit("orders.us", 20, UTF | SQ_OBSERVE_FIT_PAD, &cols),
                        "orders.us           ");
    assert_int_equal(cols, 20);
    assert_string_equal(fit("orders.us.cus_a", 8, UTF, &cols), "orders.\u2026");
    assert_int_equal(cols, 8);
    assert_string_equal(fit("orders.us.cus_a", 8, 0, NULL), "orders.~");
    assert_string_equal(fit("exactly8", 8, UTF, NULL), "exactly8");
    assert_string_equal(fit("anything", 0, UTF, &cols), "");
    assert_int_equal(cols, 0);
    assert_string_equal(fit("abc", -3, UTF, NULL), "");
    /* The end of a timestamp, without a mark. */
    assert_string_equal(fit("2024-05-01 12:00:01", 8, UTF | SQ_OBSERVE_FIT_TAIL, NULL), "12:00:01");
    /* A payload's newlines and tabs are spaces; broken UTF-8 is '?'. */
    assert_string_equal(fit("{\"a\":\n\t1}", 20, UTF, NULL), "{\"a\":  1}");
    assert_string_equal(fit("a\xff\xc3z", 20, UTF, NULL), "a??z");
    /* Without a UTF-8 terminal every non-ASCII character is one '?'. */
    assert_string_equal(fit("caf\xc3\xa9 \xe6\x97\xa5", 20, 0, &cols), "caf? ?");
    assert_int_equal(cols, 6);
    /* Double-width characters take two columns and are never split. */
    assert_int_equal(sq_observe_width("\xe6\x97\xa5\xe6\x9c\xac", UTF), 4);
    assert_string_equal(fit("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", 4, UTF, &cols),
                        "\xe6\x97\xa5\u2026");
    assert_int_equal(cols, 3);
    assert_string_equal(
        fit("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", 4, UTF | SQ_OBSERVE_FIT_PAD, &cols),
        "\xe6\x97\xa5\u2026 ");
    assert_int_equal(cols, 4);
    /* A combining accent takes no column. */
    assert_int_equal(sq_observe_width("e\xcc\x81", UTF), 1);
}

static void test_columns(void **state)
{
    (void)state;
    const sq_observe_column cols[] = {
        {"SEQ", 20, 0, false, 0},
        {"KEY", 10, 0, false, 0},
        {"UPDATED", 8, 2, true, SQ_OBSERVE_FIT_TAIL},
        {"DATA", 6, 1, false, 0},
    };
    const int want[] = {3, 24, 19, 30};
    int w[4];
    /* Room for all: natural widths, the last takes the rest. */
    assert_int_equal(sq_observe_columns(cols, want, 4, 100, w), 4);
    assert_int_equal(w[0], 3);
    assert_int_equal(w[1], 24);
    assert_int_equal(w[2], 19);
    assert_int_equal(w[3], 100 - 3 - 24 - 19 - 6);
    /* Tighter: the key shrinks first (in order), UPDATED is all or its minimum. */
    assert_int_equal(sq_observe_columns(cols, want, 4, 40, w), 4);
    assert_int_equal(w[0], 3);
    assert_int_equal(w[1], 40 - 3 - 8 - 6 - 6);
    assert_int_equal(w[2], 8);
    assert_int_equal(w[3], 6);
    /* Tighter still: UPDATED goes (rank 2), then DATA (rank 1); SEQ and KEY stay. */
    assert_int_equal(sq_observe_columns(cols, want, 4, 25, w), 3);
    assert_int_equal(w[2], 0);
    assert_int_equal(w[0] + w[1] + w[3] + 4, 25);
    assert_int_equal(sq_observe_columns(cols, want, 4, 20, w), 2);
    assert_int_equal(w[0], 3);
    assert_int_equal(w[1], 15);
    assert_int_equal(w[2] + w[3], 0);
    /* Nothing left to hide: the minimums overflow and the caller cuts at the edge. */
    assert_int_equal(sq_observe_columns(cols, want, 4, 5, w), 2);
}

static sq_observe model;

static int setup(void **state)
{
    (void)state;
    sq_observe_init(&model, "default", "http://localhost:7376", true);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sq_observe_free(&model);
    return 0;
}

static const char *path_of(sq_observe_slot slot, int rows)
{
    static char text[512];
    sq_buf b = {0};
    assert_int_equal(sq_observe_path(&model, slot, rows, &b), SQ_OK);
    snprintf(text, sizeof text, "%s", b.data);
    sq_buf_free(&b);
    return text;
}

static void keys(const char *typed)
{
    for (; *typed != '\0'; typed++)
        sq_observe_key(&model, (unsigned char)*typed, 24);
}

static void answer(sq_observe_slot slot, long status, const char *body)
{
    sq_observe_answer(&model, slot, model.epoch, status, body, strlen(body), 0);
}

/* Fails unless `text` begins with `prefix`. */
static void starts(const char *text, const char *prefix)
{
    if (strncmp(text, prefix, strlen(prefix)) != 0)
        fail_msg("\"%s\" does not begin with \"%s\"", text, prefix);
}

/* Line `row` of the screen at `rows` x `cols`. */
static const char *line(int rows, int cols, int row)
{
    static char text[1024];
    sq_observe_screen scr = {0};
    assert_int_equal(sq_observe_render(&model, rows, cols, &scr), SQ_OK);
    assert_true(row < scr.rows);
    snprintf(text, sizeof text, "%s", scr.lines[row].text);
    sq_observe_screen_free(&scr);
    return text;
}

/* The whole screen, lines joined by '\n'. */
static const char *screen(int rows, int cols)
{
    static char text[8192];
    sq_observe_screen scr = {0};
    size_t n = 0;
    assert_int_equal(sq_observe_render(&model, rows, cols, &scr), SQ_OK);
    text[0] = '\0';
    for (int r = 0; r < scr.rows; r++)
        n += (size_t)snprintf(text + n, sizeof text - n, "%s\n", scr.lines[r].text);
    sq_observe_screen_free(&scr);
    return text;
}

static const char messages[] =
    "{\"data\":["
    "{\"key\":\"orders.us.cus_a.order_4\",\"stream_id\":\"s\",\"data\":\"{\\\"product\\\": "
    "\\\"Shirts\\\"}\",\"seq\":4,\"inserted_at\":\"2024-05-01T12:00:04.000001Z\","
    "\"updated_at\":\"2024-05-01T12:00:04.000001Z\"},"
    "{\"key\":\"orders.us.cus_c.order_3\",\"stream_id\":\"s\",\"data\":\"line\\nbreak\","
    "\"seq\":3,\"inserted_at\":\"2024-05-01T12:00:03Z\",\"updated_at\":\"2024-05-01T12:00:03Z\"}"
    "]}";

static const char consumers[] =
    "{\"data\":["
    "{\"id\":\"i1\",\"name\":\"eu_orders\",\"filter_key_pattern\":\"orders.eu.>\","
    "\"ack_wait_ms\":1500,\"stats\":{\"available\":1,\"delivered\":0,\"dead\":0}},"
    "{\"id\":\"i2\",\"name\":\"us_orders\",\"filter_key_pattern\":\"orders.us.>\","
    "\"ack_wait_ms\":30000,\"max_ack_pending\":10000,\"max_deliver\":null,"
    "\"deliver_policy\":\"all\",\"stats\":{\"available\":0,\"delivered\":3,\"dead\":0}}"
    "]}";

static void test_messages(void **state)
{
    (void)state;
    assert_int_equal(sq_observe_slots(&model), 1u << SQ_OBSERVE_SLOT_MESSAGES);
    assert_true(model.refetch);
    /* 24 lines leave 21 rows: a page and the next one to scroll into. */
    assert_string_equal(path_of(SQ_OBSERVE_SLOT_MESSAGES, 24),
                        "/api/streams/default/messages?sort=seq_desc&limit=42");
    assert_string_equal(line(10, 80, 2), "loading...");
    assert_non_null(strstr(line(10, 80, 9), "connecting to http://localhost:7376"));
    answer(SQ_OBSERVE_SLOT_MESSAGES, 200, messages);
    assert_true(model.tables[SQ_OBSERVE_SLOT_MESSAGES].loaded);
    /* Newest first as the server sent them; times in local time (TZ=UTC here). */
    assert_string_equal(line(10, 80, 1), "SEQ  KEY                      UPDATED              DATA");
    assert_string_equal(line(10, 80, 2), "4    orders.us.cus_a.order_4  2024-05-01 12:00:04  "
                                         "{\"product\": \"Shirts\"}");
    assert_string_equal(line(10, 80, 3),
                        "3    orders.us.cus_c.order_3  2024-05-01 12:00:03  line break");
    assert_non_null(strstr(line(10, 80, 0), " Messages  Consumers"));
    assert_non_null(strstr(line(10, 80, 0), "stream default  filter >"));
    assert_non_null(strstr(line(10, 80, 9), "newest first, updated "));
    assert_non_null(strstr(line(10, 80, 9), "f filter  c consumers  s sources  q quit"));
    /* Narrow: the time alone, then no time, then key and seq only. */
    assert_string_equal(line(10, 40, 2), "4    orders.us.cus_a.\u2026  12:00:04  {\"pro\u2026");
    assert_string_equal(line(10, 30, 2), "4    orders.us.cus_a.\u2026  {\"pro\u2026");
    assert_string_equal(line(10, 20, 2), "4    orders.us.cus_\u2026");
    /* An empty answer. */
    answer(SQ_OBSERVE_SLOT_MESSAGES, 200, "{\"data\":[]}");
    assert_string_equal(line(10, 80, 2), "no messages in stream default");
    /* Scrolling asks for the rows below. */
    answer(SQ_OBSERVE_SLOT_MESSAGES, 200, messages);
    model.refetch = false;
    sq_observe_key(&model, SQ_OBSERVE_KEY_DOWN, 24);
    assert_int_equal(model.scroll, 1);
    assert_true(model.refetch);
    assert_string_equal(path_of(SQ_OBSERVE_SLOT_MESSAGES, 24),
                        "/api/streams/default/messages?sort=seq_desc&limit=43");
    assert_string_equal(line(10, 80, 2),
                        "3    orders.us.cus_c.order_3  2024-05-01 12:00:03  line break");
    sq_observe_key(&model, SQ_OBSERVE_KEY_DOWN, 24); /* no row below */
    assert_int_equal(model.scroll, 1);
    sq_observe_key(&model, SQ_OBSERVE_KEY_HOME, 24);
    assert_int_equal(model.scroll, 0);
}

static void test_filter(void **state)
{
    (void)state;
    answer(SQ_OBSERVE_SLOT_MESSAGES, 200, messages);
    unsigned epoch = model.epoch;
    keys("forders.us.>");
    assert_true(model.editing);
    assert_string_equal(model.edit, "orders.us.>");
    assert_string_equal(line(10, 80, 9), "filter: orders.us.>");
    sq_observe_screen scr = {0};
    assert_int_equal(sq_observe_render(&model, 10, 80, &scr), SQ_OK);
    assert_int_equal(scr.cursor_row, 9);
    assert_int_equal(scr.cursor_col, 19);
    sq_observe_screen_free(&scr);
    keys("\n");
    assert_false(model.editing);
    assert_true(model.has_pending);
    assert_int_not_equal(model.epoch, epoch);
    /* Sent as typed, percent-encoded; shown as applying until the server answers. */
    assert_string_equal(path_of(SQ_OBSERVE_SLOT_MESSAGES, 24),
                        "/api/streams/default/messages?sort=seq_desc&limit=42&"
                        "key_pattern=orders.us.%3E");
    assert_non_null(strstr(line(10, 80, 0), "filter > (applying)"));
    /* An answer to the request before the change is stale. */
    sq_observe_answer(&model, SQ_OBSERVE_SLOT_MESSAGES, epoch, 200, "{\"data\":[]}", 11, 0);
    assert_int_equal(model.tables[SQ_OBSERVE_SLOT_MESSAGES].nrows, 2);
    answer(SQ_OBSERVE_SLOT_MESSAGES, 200, "{\"data\":[]}");
    assert_false(model.has_pending);
    assert_string_equal(model.filter, "orders.us.>");
    assert_non_null(strstr(line(10, 80, 0), "filter orders.us.>"));
    assert_string_equal(line(10, 80, 2), "no messages match orders.us.>");

    /* A filter the server refuses: its reason until the next key, the last good filter kept. */
    keys("f");
    assert_string_equal(model.edit, "orders.us.>");
    sq_observe_key(&model, 21, 24); /* Ctrl-U */
    keys("orders.ab*\r");
    assert_string_equal(model.pending, "orders.ab*");
    epoch = model.epoch;
    answer(SQ_OBSERVE_SLOT_MESSAGES, 400,
           "{\"summary\":\"key_pattern is not a valid filter: '*' and '>' must be whole tokens "
           "in a filter (e.g. 'orders.*', not 'orders.ab*')\"}");
    assert_false(model.has_pending);
    assert_string_equal(model.filter, "orders.us.>");
    assert_true(model.refetch);
    assert_int_not_equal(model.epoch, epoch);
    starts(line(10, 200, 9),
           "filter \"orders.ab*\" refused: key_pattern is not a valid filter: '*' "
           "and '>' must be whole tokens in a filter (e.g. 'orders.*', not "
           "'orders.ab*') (HTTP 400)");
    keys("r");
    assert_null(strstr(line(10, 200, 9), "refused"));

    /* Editing: cursor moves, deletes, Esc cancels, an empty filter means all keys. */
    keys("f");
    sq_observe_key(&model, SQ_OBSERVE_KEY_HOME, 24);
    sq_observe_key(&model, SQ_OBSERVE_KEY_DELETE, 24);
    sq_observe_key(&model, SQ_OBSERVE_KEY_END, 24);
    sq_observe_key(&model, SQ_OBSERVE_KEY_BACKSPACE, 24);
    sq_observe_key(&model, SQ_OBSERVE_KEY_LEFT, 24);
    keys("X");
    assert_string_equal(model.edit, "rders.usX.");
    keys("\x1b");
    assert_false(model.editing);
    assert_false(model.has_pending);
    assert_string_equal(model.filter, "orders.us.>");
    keys("f");
    sq_observe_key(&model, 21, 24);
    keys("\n");
    assert_true(model.has_pending);
    assert_string_equal(path_of(SQ_OBSERVE_SLOT_MESSAGES, 24),
                        "/api/streams/default/messages?sort=seq_desc&limit=42");
    answer(SQ_OBSERVE_SLOT_MESSAGES, 200, messages);
    assert_string_equal(model.filter, "");
    /* While typing, q is a letter, not quit. */
    keys("fq");
    assert_false(model.quit);
    keys("\x1bq");
    assert_true(model.quit);
}

static void test_consumers_and_details(void **state)
{
    (void)state;
    keys("c");
    assert_int_equal(model.view, SQ_OBSERVE_CONSUMERS);
    assert_int_equal(sq_observe_slots(&model), 1u << SQ_OBSERVE_SLOT_CONSUMERS);
    assert_string_equal(path_of(SQ_OBSERVE_SLOT_CONSUMERS, 24), "/api/streams/default/consumers");
    /* Before the server serves the route: its answer, in the status line. */
    answer(SQ_OBSERVE_SLOT_CONSUMERS, 503, "{\"summary\":\"not served yet\"}");
    starts(line(10, 80, 9), "error: not served yet (HTTP 503)  ");
    answer(SQ_OBSERVE_SLOT_CONSUMERS, 200, consumers);
    assert_string_equal(line(10, 80, 1),
                        "NAME       FILTER       AVAILABLE  LEASED  DEAD  ACK_WAIT");
    assert_string_equal(line(10, 80, 2), "eu_orders  orders.eu.>  1          0       0     1500ms");
    assert_string_equal(line(10, 80, 3), "us_orders  orders.us.>  0          3       0     30s");
    assert_non_null(strstr(line(10, 80, 9), "2 consumers"));
    sq_observe_screen scr = {0};
    assert_int_equal(sq_observe_render(&model, 10, 80, &scr), SQ_OK);
    assert_int_equal(scr.lines[2].attr, SQ_OBSERVE_SELECTED);
    assert_int_equal(scr.lines[3].attr, SQ_OBSERVE_PLAIN);
    /* The active tab is marked. */
    assert_int_equal(scr.lines[0].mark, 11);
    assert_int_equal(scr.lines[0].mark_len, 9);
    assert_memory_equal(scr.lines[0].text + 11, "Consumers", 9);
    sq_observe_screen_free(&scr);
    sq_observe_key(&model, SQ_OBSERVE_KEY_DOWN, 24);
    sq_observe_key(&model, SQ_OBSERVE_KEY_DOWN, 24);
    assert_int_equal(model.selected, 1);
    keys("\n");
    assert_int_equal(model.view, SQ_OBSERVE_DETAILS);
    assert_string_equal(model.consumer, "us_orders");
    assert_int_equal(sq_observe_slots(&model), 1u << SQ_OBSERVE_SLOT_CONSUMER |
                                                   1u << SQ_OBSERVE_SLOT_LEASED |
                                                   1u << SQ_OBSERVE_SLOT_NEXT);
    assert_string_equal(path_of(SQ_OBSERVE_SLOT_CONSUMER, 24),
                        "/api/streams/default/consumers/us_orders");
    assert_string_equal(path_of(SQ_OBSERVE_SLOT_LEASED, 24),
                        "/api/streams/default/consumers/us_orders/messages?state=delivered&"
                        "limit=21");
    assert_string_equal(path_of(SQ_OBSERVE_SLOT_NEXT, 24),
                        "/api/streams/default/consumers/us_orders/messages?state=available&"
                        "limit=21");
    /* Until its own answers come, the list's line for it. */
    assert_non_null(strstr(line(12, 100, 0), "Consumers > us_orders"));
    assert_string_equal(
        line(12, 100, 1),
        "us_orders  filter orders.us.>  available 0  leased 3  dead 0  ack-wait 30s");
    answer(SQ_OBSERVE_SLOT_CONSUMER, 200,
           "{\"id\":\"i2\",\"name\":\"us_orders\",\"filter_key_pattern\":\"orders.us.>\","
           "\"ack_wait_ms\":30000,\"max_ack_pending\":10000,\"max_deliver\":null,"
           "\"deliver_policy\":\"all\",\"stats\":{\"available\":0,\"delivered\":2,\"dead\":1}}");
    answer(SQ_OBSERVE_SLOT_LEASED, 200,
           "{\"data\":[{\"message\":{\"key\":\"orders.us.cus_a.order_1\",\"seq\":1,"
           "\"data\":\"d1\"},\"info\":{\"ack_id\":\"a1\",\"state\":\"delivered\","
           "\"deliver_count\":1,\"not_visible_until\":\"2024-05-01T12:00:31Z\"}},"
           "{\"message\":{\"key\":\"orders.us.cus_c.order_3\",\"seq\":3,\"data\":\"d3\"},"
           "\"info\":{\"ack_id\":\"a3\",\"state\":\"delivered\",\"deliver_count\":2,"
           "\"not_visible_until\":\"2024-05-01T12:00:33Z\"}}]}");
    answer(SQ_OBSERVE_SLOT_NEXT, 200, "{\"data\":[]}");
    assert_string_equal(screen(12, 100),
                        " Messages  Consumers > us_orders  Sources                             "
                        "               stream default \n"
                        "us_orders  filter orders.us.>  available 0  leased 2  dead 1  ack-wait "
                        "30s  max-ack-pending 10000  \u2026\n"
                        "LEASED (2)\n"
                        "SEQ  KEY                      DELIVERIES  VISIBLE_AT           DATA\n"
                        "1    orders.us.cus_a.order_1  1           2024-05-01 12:00:31  d1\n"
                        "3    orders.us.cus_c.order_3  2           2024-05-01 12:00:33  d3\n"
                        "NEXT (0 shown)\n"
                        "SEQ  KEY  DELIVERIES  VISIBLE_AT  DATA\n"
                        "no messages available\n"
                        "\n"
                        "\n"
                        "updated 00:00:00                                                      "
                        " Esc back  m messages  q quit\n");
    /* Esc goes back to the list, m to the messages. */
    keys("\x1b");
    assert_int_equal(model.view, SQ_OBSERVE_CONSUMERS);
    keys("m");
    assert_int_equal(model.view, SQ_OBSERVE_MESSAGES);
    keys("\t");
    assert_int_equal(model.view, SQ_OBSERVE_CONSUMERS);
}

static const char sources[] =
    "{\"data\":["
    "{\"id\":\"s1\",\"name\":\"mydb\",\"kind\":\"postgres\",\"stream\":\"default\","
    "\"status\":{\"state\":\"streaming\",\"error\":null,\"lag_bytes\":56,"
    "\"lag_seconds\":1.34,\"rows_streamed\":1042}},"
    "{\"id\":\"s2\",\"name\":\"billing\",\"kind\":\"postgres\",\"stream\":\"default\","
    "\"status\":{\"state\":\"error\",\"error\":\"wal_level is replica, not logical\","
    "\"lag_bytes\":null,\"lag_seconds\":null,\"rows_streamed\":0}}"
    "]}";

/* The Sources tab: every source of the server (not the stream's alone), its state, lag,
 * rows and error; the tabs in turn with Tab. */
static void test_sources(void **state)
{
    (void)state;
    keys("s");
    assert_int_equal(model.view, SQ_OBSERVE_SOURCES);
    assert_true(model.refetch);
    assert_int_equal(sq_observe_slots(&model), 1u << SQ_OBSERVE_SLOT_SOURCES);
    assert_string_equal(path_of(SQ_OBSERVE_SLOT_SOURCES, 24), "/api/sources");
    assert_string_equal(line(10, 80, 2), "loading...");
    /* Before the server serves the route. */
    answer(SQ_OBSERVE_SLOT_SOURCES, 404, "{\"summary\":\"route not found\"}");
    starts(line(10, 80, 9), "error: route not found (HTTP 404)  ");
    answer(SQ_OBSERVE_SLOT_SOURCES, 200, "{\"data\":[]}");
    assert_string_equal(line(10, 80, 2), "no sources");
    answer(SQ_OBSERVE_SLOT_SOURCES, 200, sources);
    assert_string_equal(line(10, 80, 1), "NAME     STATE      LAG_BYTES  LAG_SECONDS  ROWS  ERROR");
    assert_string_equal(line(10, 80, 2), "mydb     streaming  56         1.3s         1042  -");
    assert_string_equal(line(10, 80, 3),
                        "billing  error      -          -            0     wal_level is replica, "
                        "not log\u2026");
    starts(line(10, 80, 9), "2 sources, updated ");
    assert_non_null(strstr(line(10, 80, 9), "m messages  c consumers  q quit"));
    sq_observe_screen scr = {0};
    assert_int_equal(sq_observe_render(&model, 10, 80, &scr), SQ_OK);
    assert_memory_equal(scr.lines[0].text, " Messages  Consumers  Sources", 29);
    assert_int_equal(scr.lines[0].mark, 22);
    assert_int_equal(scr.lines[0].mark_len, 7);
    assert_int_equal(scr.lines[2].attr, SQ_OBSERVE_SELECTED);
    sq_observe_screen_free(&scr);
    /* Narrower: the rows go first, then the lag in bytes; name and state stay. */
    assert_string_equal(line(10, 50, 1), "NAME     STATE      LAG_SECONDS  ERROR");
    assert_string_equal(line(10, 40, 1), "NAME     STATE      ERROR");
    assert_string_equal(line(10, 20, 3), "billing  error");
    /* The selection moves, and stays in the list when a source goes. */
    sq_observe_key(&model, SQ_OBSERVE_KEY_DOWN, 24);
    sq_observe_key(&model, SQ_OBSERVE_KEY_DOWN, 24);
    assert_int_equal(model.source_selected, 1);
    answer(SQ_OBSERVE_SLOT_SOURCES, 200,
           "{\"data\":[{\"name\":\"mydb\",\"status\":{\"state\":\"starting\"}}]}");
    assert_int_equal(model.source_selected, 0);
    starts(line(10, 80, 9), "1 source, updated ");
    /* Tab goes round the tabs; a consumer's details count as Consumers. */
    static const sq_observe_view round[] = {SQ_OBSERVE_MESSAGES, SQ_OBSERVE_CONSUMERS,
                                            SQ_OBSERVE_SOURCES};
    for (size_t i = 0; i < SQ_ARRAY_LEN(round); i++) {
        keys("\t");
        assert_int_equal(model.view, round[i]);
    }
    answer(SQ_OBSERVE_SLOT_CONSUMERS, 200, consumers);
    keys("c\n");
    assert_int_equal(model.view, SQ_OBSERVE_DETAILS);
    keys("\t");
    assert_int_equal(model.view, SQ_OBSERVE_SOURCES);
}

static void test_disconnected(void **state)
{
    (void)state;
    answer(SQ_OBSERVE_SLOT_MESSAGES, 200, messages);
    sq_observe_unreachable(&model, "cannot reach http://localhost:7376: Connection refused");
    starts(line(10, 200, 9),
           "disconnected: cannot reach http://localhost:7376: Connection refused; "
           "retrying");
    /* The last rows stay. */
    assert_non_null(strstr(line(10, 80, 2), "orders.us.cus_a.order_4"));
    /* Any answer, even one of an older epoch, means the server is back. */
    sq_observe_answer(&model, SQ_OBSERVE_SLOT_MESSAGES, model.epoch + 7, 200, "{}", 2, 0);
    assert_false(model.disconnected);
    assert_null(strstr(line(10, 200, 9), "disconnected"));
    /* An answer that is not the API's. */
    answer(SQ_OBSERVE_SLOT_MESSAGES, 200, "<html>");
    starts(line(10, 80, 9), "error: unexpected answer: <html>  ");
    /* A list is read from its {"data": [...]} (SPEC 4), not guessed from a bare array. */
    answer(SQ_OBSERVE_SLOT_MESSAGES, 200, "[]");
    starts(line(10, 80, 9), "error: unexpected answer: []  ");
    answer(SQ_OBSERVE_SLOT_MESSAGES, 502, "Bad Gateway\n");
    starts(line(10, 80, 9), "error: HTTP 502: Bad Gateway   ");
}

/* Every view at every size from nothing to 90 x 14: no line wider than the screen, and below
 * the minimum only the notice. */
static void test_every_size(void **state)
{
    (void)state;
    sq_observe views[5];
    for (int v = 0; v < 5; v++) {
        sq_observe *o = &views[v];
        sq_observe_init(o, "a_long_stream_name", "http://localhost:7376", v != 3);
        sq_observe_answer(o, SQ_OBSERVE_SLOT_MESSAGES, 0, 200, messages, strlen(messages), 0);
        sq_observe_answer(o, SQ_OBSERVE_SLOT_CONSUMERS, 0, 200, consumers, strlen(consumers), 0);
        sq_observe_answer(o, SQ_OBSERVE_SLOT_SOURCES, 0, 200, sources, strlen(sources), 0);
        if (v == 1)
            sq_observe_key(o, 'c', 10);
        if (v == 2) {
            sq_observe_key(o, 'c', 10);
            sq_observe_key(o, '\n', 10);
        }
        if (v == 3)
            sq_observe_key(o, 'f', 10);
        if (v == 4)
            sq_observe_key(o, 's', 10);
    }
    for (int v = 0; v < 5; v++) {
        for (int rows = -1; rows <= 14; rows++) {
            for (int cols = -1; cols <= 90; cols++) {
                sq_observe_screen scr = {0};
                assert_int_equal(sq_observe_render(&views[v], rows, cols, &scr), SQ_OK);
                for (int r = 0; r < scr.rows; r++) {
                    const sq_observe_line *l = &scr.lines[r];
                    unsigned flags = views[v].utf8 ? SQ_OBSERVE_FIT_UTF8 : 0;
                    if (sq_observe_width(l->text, flags) > (cols > 0 ? cols : 0))
                        fail_msg("view %d at %dx%d: line %d too wide: \"%s\"", v, rows, cols, r,
                                 l->text);
                    assert_true(l->mark + l->mark_len <= strlen(l->text));
                }
                /* "terminal too small", or as much of it as fits before the ellipsis. */
                if (rows >= 1 && cols >= 1 &&
                    (rows < SQ_OBSERVE_MIN_ROWS || cols < SQ_OBSERVE_MIN_COLS)) {
                    size_t n = cols >= 18 ? 18 : (size_t)cols - 1;
                    assert_memory_equal(scr.lines[0].text, "terminal too small", n);
                }
                if (scr.cursor_row >= 0)
                    assert_true(scr.cursor_row < rows && scr.cursor_col < cols);
                sq_observe_screen_free(&scr);
            }
        }
    }
    for (int v = 0; v < 5; v++)
        sq_observe_free(&views[v]);
}

int main(void)
{
    /* Known columns for wide characters, and times in UTC. */
    if (setlocale(LC_CTYPE, "C.UTF-8") == NULL) {
        fprintf(stderr, "the C.UTF-8 locale is missing\n");
        return 1;
    }
    setenv("TZ", "UTC", 1);
    tzset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fit),
        cmocka_unit_test(test_columns),
        cmocka_unit_test_setup_teardown(test_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_consumers_and_details, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sources, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disconnected, setup, teardown),
        cmocka_unit_test(test_every_size),
    };
    return cmocka_run_group_tests_name("observe", tests, NULL, NULL);
}
