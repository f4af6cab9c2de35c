/* `sequin observe` on a real terminal: the model (observe_model.c, observe_keys.c,
 * observe_screen.c, observe_text.c) takes the answers and keys and renders the screen that
 * curses draws, libcurl's multi interface keeps at most one request per slot in flight, and
 * one loop waits on both at most TICK_MS at a time, so keys, resizes and signals are handled
 * at once even while the server is slow or gone. */
#include "sequin/observe.h"

#include <curl/curl.h>
#include <curses.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS 100
/* A view asks again this long after an answer: "refreshed at least every second". */
#define REFRESH_MS 500
/* And this long after a request that got no answer (the server is down or restarting). */
#define RETRY_MS 1000
/* Short: an unreachable server should show as "disconnected" soon, not after the CLI's 10 s. */
#define CONNECT_MS 3000L
#define REQUEST_MS 10000L

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
    stop_signal = sig;
}

typedef struct transfer {
    CURL *easy;
    struct curl_slist *headers;
    sq_buf url;
    sq_buf body;
    char errbuf[CURL_ERROR_SIZE];
    bool busy;
    unsigned epoch; /* the model's epoch when the request was made */
    int64_t due_ms; /* when the slot asks again */
} transfer;

typedef struct driver {
    const sq_cli_target *t;
    sq_observe model;
    CURLM *multi;
    transfer slots[SQ_OBSERVE_SLOT_COUNT];
} driver;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int setup_transfers(driver *d)
{
    d->multi = curl_multi_init();
    if (d->multi == NULL)
        return SQ_ERR;
    for (size_t i = 0; i < SQ_OBSERVE_SLOT_COUNT; i++) {
        transfer *x = &d->slots[i];
        x->easy = curl_easy_init();
        if (x->easy == NULL ||
            sq_cli_curl_prepare(x->easy, d->t, false, &x->body, &x->headers, x->errbuf) != SQ_OK)
            return SQ_ERR;
        curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_MS);
        curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, REQUEST_MS);
        curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
    }
    return SQ_OK;
}

static void cleanup_transfers(driver *d)
{
    for (size_t i = 0; i < SQ_OBSERVE_SLOT_COUNT; i++) {
        transfer *x = &d->slots[i];
        if (x->busy)
            curl_multi_remove_handle(d->multi, x->easy);
        curl_easy_cleanup(x->easy);
        curl_slist_free_all(x->headers);
        sq_buf_free(&x->url);
        sq_buf_free(&x->body);
    }
    curl_multi_cleanup(d->multi);
}

/* Starts slot `s`'s request, dropping one still in flight (asked under an older epoch). */
static int start(driver *d, sq_observe_slot s, int rows)
{
    transfer *x = &d->slots[s];
    if (x->busy)
        curl_multi_remove_handle(d->multi, x->easy);
    x->busy = false;
    sq_buf_reset(&x->url);
    sq_buf_reset(&x->body);
    x->errbuf[0] = '\0';
    if (sq_buf_puts(&x->url, d->t->server_url) != SQ_OK ||
        sq_observe_path(&d->model, s, rows, &x->url) != SQ_OK)
        return SQ_ERR;
    curl_easy_setopt(x->easy, CURLOPT_URL, x->url.data);
    if (curl_multi_add_handle(d->multi, x->easy) != CURLM_OK)
        return SQ_ERR;
    x->busy = true;
    x->epoch = d->model.epoch;
    return SQ_OK;
}

/* Hands a finished request to the model. */
static void finished(driver *d, CURLMsg *msg, int64_t now)
{
    transfer *x = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
    if (x == NULL)
        return;
    sq_observe_slot s = (sq_observe_slot)(x - d->slots);
    CURLcode cc = msg->data.result; /* msg is invalid once the handle is removed */
    curl_multi_remove_handle(d->multi, x->easy);
    x->busy = false;
    if (cc == CURLE_OK) {
        long status = 0;
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
        sq_observe_answer(&d->model, s, x->epoch, status, x->body.data != NULL ? x->body.data : "",
                          x->body.len, time(NULL));
        x->due_ms = now + REFRESH_MS;
    } else {
        char why[SQ_OBSERVE_TEXT];
        sq_cli_curl_failure(x->easy, cc, x->errbuf, d->t, why, sizeof why);
        sq_observe_unreachable(&d->model, why);
        x->due_ms = now + RETRY_MS;
    }
}

static int map_key(int ch)
{
    switch (ch) {
    case KEY_UP:
        return SQ_OBSERVE_KEY_UP;
    case KEY_DOWN:
        return SQ_OBSERVE_KEY_DOWN;
    case KEY_LEFT:
        return SQ_OBSERVE_KEY_LEFT;
    case KEY_RIGHT:
        return SQ_OBSERVE_KEY_RIGHT;
    case KEY_PPAGE:
        return SQ_OBSERVE_KEY_PGUP;
    case KEY_NPAGE:
        return SQ_OBSERVE_KEY_PGDN;
    case KEY_HOME:
        return SQ_OBSERVE_KEY_HOME;
    case KEY_END:
        return SQ_OBSERVE_KEY_END;
    case KEY_BACKSPACE:
        return SQ_OBSERVE_KEY_BACKSPACE;
    case KEY_DC:
        return SQ_OBSERVE_KEY_DELETE;
    case KEY_ENTER:
        return '\n';
    default:
        return ch;
    }
}

static attr_t attr_of(sq_observe_attr a)
{
    switch (a) {
    case SQ_OBSERVE_TITLE:
    case SQ_OBSERVE_SELECTED:
    case SQ_OBSERVE_STATUS:
        return A_REVERSE;
    case SQ_OBSERVE_HEADING:
        return A_BOLD;
    case SQ_OBSERVE_ALERT:
        return A_REVERSE | A_BOLD;
    case SQ_OBSERVE_PLAIN:
        break;
    }
    return A_NORMAL;
}

static void put(const char *text, size_t len, attr_t a)
{
    attrset(a);
    addnstr(text, (int)len);
}

static void draw(driver *d)
{
    sq_observe_screen scr = {0};
    int rows, cols;
    getmaxyx(stdscr, rows, cols);
    if (sq_observe_render(&d->model, rows, cols, &scr) != SQ_OK) {
        sq_observe_screen_free(&scr);
        return; /* out of memory: keep the last screen */
    }
    erase();
    for (int r = 0; r < scr.rows; r++) {
        const sq_observe_line *l = &scr.lines[r];
        attr_t a = attr_of(l->attr);
        size_t len = strlen(l->text), mark = l->mark < len ? l->mark : len;
        size_t mark_len = l->mark_len < len - mark ? l->mark_len : len - mark;
        move(r, 0);
        put(l->text, mark, a);
        put(l->text + mark, mark_len, A_BOLD);
        put(l->text + mark + mark_len, len - mark - mark_len, a);
        /* Bars run the whole width. */
        int y, x;
        getyx(stdscr, y, x);
        if (a != A_NORMAL && a != A_BOLD && y == r && x < cols)
            mvhline(r, x, ' ' | a, cols - x);
    }
    attrset(A_NORMAL);
    if (scr.cursor_row >= 0) {
        curs_set(1);
        move(scr.cursor_row, scr.cursor_col);
    } else {
        curs_set(0);
    }
    refresh();
    sq_observe_screen_free(&scr);
}

static void loop(driver *d)
{
    bool dirty = true;
    while (!d->model.quit && stop_signal == 0) {
        int64_t now = now_ms();
        int rows = getmaxy(stdscr), ch, running = 0, left = 0;
        if (d->model.refetch) {
            for (size_t i = 0; i < SQ_OBSERVE_SLOT_COUNT; i++)
                d->slots[i].due_ms = now;
            d->model.refetch = false;
        }
        unsigned want = sq_observe_slots(&d->model);
        for (unsigned s = 0; s < SQ_OBSERVE_SLOT_COUNT; s++) {
            transfer *x = &d->slots[s];
            bool due = !x->busy && now >= x->due_ms, stale = x->busy && x->epoch != d->model.epoch;
            if ((want & 1u << s) && (due || stale) && start(d, s, rows) != SQ_OK) {
                sq_observe_unreachable(&d->model, "out of memory");
                x->due_ms = now + RETRY_MS;
            }
        }
        curl_multi_perform(d->multi, &running);
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(d->multi, &left)) != NULL) {
            if (msg->msg == CURLMSG_DONE) {
                finished(d, msg, now_ms());
                dirty = true;
            }
        }
        while ((ch = getch()) != ERR) {
            if (ch != KEY_RESIZE) /* curses has the new size already: just draw again */
                sq_observe_key(&d->model, map_key(ch), rows);
            dirty = true;
        }
        if (d->model.quit)
            break;
        if (dirty)
            draw(d);
        dirty = false;
        /* Sleep until a key, an answer, the next slot due, or the tick. */
        int wait = d->model.refetch ? 0 : TICK_MS;
        now = now_ms();
        for (unsigned s = 0; s < SQ_OBSERVE_SLOT_COUNT; s++) {
            const transfer *x = &d->slots[s];
            if ((want & 1u << s) && !x->busy && x->due_ms - now < wait)
                wait = x->due_ms > now ? (int)(x->due_ms - now) : 0;
        }
        struct curl_waitfd input = {.fd = STDIN_FILENO, .events = CURL_WAIT_POLLIN};
        curl_multi_poll(d->multi, &input, 1, wait, NULL);
    }
}

int sq_observe_run(const sq_cli_target *t, const char *stream, char *err, size_t errlen)
{
    static const int stops[] = {SIGINT, SIGTERM, SIGHUP};
    struct sigaction sa = {.sa_handler = on_stop}, old[SQ_ARRAY_LEN(stops)];
    driver d = {.t = t};
    SCREEN *screen = NULL;
    int status = SQ_CLI_EXIT_SERVER;
    bool curl_up = false;

    /* Only the character set: LC_NUMERIC stays "C" for the JSON reader. */
    setlocale(LC_CTYPE, "");
    sq_observe_init(&d.model, stream, t->server_url, strcmp(nl_langinfo(CODESET), "UTF-8") == 0);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "cannot initialise libcurl");
        goto done;
    }
    curl_up = true;
    if (setup_transfers(&d) != SQ_OK) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    /* Ours before curses starts: it only catches signals still at their default, and ours
     * let the loop end and restore the terminal in one place. */
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < SQ_ARRAY_LEN(stops); i++)
        sigaction(stops[i], &sa, &old[i]);
    screen = newterm(NULL, stdout, stdin);
    if (screen == NULL) {
        const char *term = getenv("TERM");
        snprintf(err, errlen, "cannot drive this terminal (TERM=%s)", term != NULL ? term : "");
        goto restore;
    }
    cbreak();
    noecho();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    set_escdelay(25);
    loop(&d);
    status = stop_signal != 0 ? 128 + stop_signal : SQ_CLI_EXIT_OK;
    curs_set(1);
    endwin();
    /* Frees what newterm allocated (its terminal description too), so that a leak checker
     * sees nothing of curses at exit. */
    delscreen(screen);
restore:
    for (size_t i = 0; i < SQ_ARRAY_LEN(stops); i++)
        sigaction(stops[i], &old[i], NULL);
done:
    if (curl_up) {
        if (d.multi != NULL)
            cleanup_transfers(&d);
        curl_global_cleanup();
    }
    sq_observe_free(&d.model);
    return status;
}
