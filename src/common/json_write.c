/* The streaming JSON writer: values appended to an sq_buf with the commas, colons and escapes
 * placed by the writer itself, so that what it completes is always valid JSON. Uses no jsmn. */
#include "json_internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sequin/text.h"

#define LEVEL_OBJECT 1u
#define LEVEL_NONEMPTY 2u

void sq_json_writer_init(sq_json_writer *w, sq_buf *out)
{
    memset(w, 0, sizeof(*w));
    w->out = out;
}

int sq_json_writer_finish(const sq_json_writer *w)
{
    return !w->failed && w->done && w->depth == 0 ? SQ_OK : SQ_ERR;
}

static int writer_fail(sq_json_writer *w)
{
    w->failed = true;
    return SQ_ERR;
}

/* Writes the comma that goes before every entry of the open container but its first. */
static int separate(sq_json_writer *w)
{
    unsigned char *level = &w->level[w->depth - 1];
    if ((*level & LEVEL_NONEMPTY) && sq_buf_putc(w->out, ',') != SQ_OK)
        return writer_fail(w);
    *level |= LEVEL_NONEMPTY;
    return SQ_OK;
}

/* Checks that a value may go here and writes the comma it needs. */
static int before_value(sq_json_writer *w)
{
    if (w->failed)
        return SQ_ERR;
    if (w->depth == 0)
        return w->done ? writer_fail(w) : SQ_OK;
    if (w->level[w->depth - 1] & LEVEL_OBJECT) {
        if (!w->want_value)
            return writer_fail(w);
        w->want_value = false; /* the key already wrote the comma */
        return SQ_OK;
    }
    return separate(w);
}

static int after_value(sq_json_writer *w, int rc)
{
    if (rc != SQ_OK)
        return writer_fail(w);
    if (w->depth == 0)
        w->done = true;
    return SQ_OK;
}

/* Appends s[0..n) as a JSON string with its quotes; see the header for the escaping rules. */
static int put_string(sq_buf *out, const char *str, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    /* The two-character escapes (RFC 8259, section 7); other control characters are \u00XX. */
    static const char short_escape['\\' + 1] = {
        ['"'] = '"',  ['\\'] = '\\', ['\b'] = 'b', ['\f'] = 'f',
        ['\n'] = 'n', ['\r'] = 'r',  ['\t'] = 't'};
    const unsigned char *s = (const unsigned char *)str;
    size_t run = 0, i = 0;

    if (sq_buf_reserve(out, n + 2) != SQ_OK || sq_buf_putc(out, '"') != SQ_OK)
        return SQ_ERR;
    while (i < n) {
        unsigned char c = s[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t k = sq_utf8_seq_len(s + i, n - i);
            if (k > 0) {
                i += k;
                continue;
            }
        }
        if (sq_buf_append(out, s + run, i - run) != SQ_OK)
            return SQ_ERR;

        char esc[8] = {'\\', 0};
        size_t elen = 2;
        if (c < sizeof short_escape && short_escape[c] != 0) {
            esc[1] = short_escape[c];
        } else if (c < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 0xF];
            elen = 6;
        } else {
            memcpy(esc, "\xEF\xBF\xBD", 3); /* U+FFFD for a byte that is not UTF-8 */
            elen = 3;
        }
        if (sq_buf_append(out, esc, elen) != SQ_OK)
            return SQ_ERR;
        run = ++i;
    }
    /* `run < n` keeps (NULL, 0) legal: no pointer arithmetic on a null string. */
    if (run < n && sq_buf_append(out, s + run, n - run) != SQ_OK)
        return SQ_ERR;
    return sq_buf_putc(out, '"');
}

static int writer_begin(sq_json_writer *w, bool object)
{
    if (before_value(w) != SQ_OK)
        return SQ_ERR;
    if (w->depth == SQ_JSON_WRITER_MAX_DEPTH)
        return writer_fail(w);
    if (sq_buf_putc(w->out, object ? '{' : '[') != SQ_OK)
        return writer_fail(w);
    w->level[w->depth++] = object ? LEVEL_OBJECT : 0;
    return SQ_OK;
}

static int writer_end(sq_json_writer *w, bool object)
{
    if (w->failed)
        return SQ_ERR;
    if (w->depth == 0 || (bool)(w->level[w->depth - 1] & LEVEL_OBJECT) != object || w->want_value)
        return writer_fail(w);
    w->depth--;
    return after_value(w, sq_buf_putc(w->out, object ? '}' : ']'));
}

int sq_json_write_begin_object(sq_json_writer *w)
{
    return writer_begin(w, true);
}

int sq_json_write_end_object(sq_json_writer *w)
{
    return writer_end(w, true);
}

int sq_json_write_begin_array(sq_json_writer *w)
{
    return writer_begin(w, false);
}

int sq_json_write_end_array(sq_json_writer *w)
{
    return writer_end(w, false);
}

int sq_json_write_keyn(sq_json_writer *w, const char *name, size_t n)
{
    if (w->failed)
        return SQ_ERR;
    if (w->depth == 0 || !(w->level[w->depth - 1] & LEVEL_OBJECT) || w->want_value)
        return writer_fail(w);
    if (separate(w) != SQ_OK)
        return SQ_ERR;
    if (put_string(w->out, name, n) != SQ_OK || sq_buf_putc(w->out, ':') != SQ_OK)
        return writer_fail(w);
    w->want_value = true;
    return SQ_OK;
}

int sq_json_write_key(sq_json_writer *w, const char *name)
{
    return sq_json_write_keyn(w, name, strlen(name));
}

int sq_json_write_stringn(sq_json_writer *w, const char *s, size_t n)
{
    if (before_value(w) != SQ_OK)
        return SQ_ERR;
    return after_value(w, put_string(w->out, s, n));
}

int sq_json_write_string(sq_json_writer *w, const char *s)
{
    return sq_json_write_stringn(w, s, strlen(s));
}

int sq_json_write_int64(sq_json_writer *w, int64_t v)
{
    if (before_value(w) != SQ_OK)
        return SQ_ERR;
    return after_value(w, sq_buf_printf(w->out, "%" PRId64, v));
}

int sq_json_write_uint64(sq_json_writer *w, uint64_t v)
{
    if (before_value(w) != SQ_OK)
        return SQ_ERR;
    return after_value(w, sq_buf_printf(w->out, "%" PRIu64, v));
}

int sq_json_write_double(sq_json_writer *w, double v)
{
    char text[32];

    if (w->failed)
        return SQ_ERR;
    if (!isfinite(v))
        return writer_fail(w);
    if (before_value(w) != SQ_OK)
        return SQ_ERR;
    /* 17 significant digits always round-trip, but 0.1 would come out as
     * 0.10000000000000001; the first precision that reads back exactly is the friendliest. */
    for (int precision = 15; precision <= 17; precision++) {
        snprintf(text, sizeof(text), "%.*g", precision, v);
        if (strtod(text, NULL) == v)
            break;
    }
    return after_value(w, sq_buf_puts(w->out, text));
}

int sq_json_write_bool(sq_json_writer *w, bool v)
{
    if (before_value(w) != SQ_OK)
        return SQ_ERR;
    return after_value(w, sq_buf_puts(w->out, v ? "true" : "false"));
}

int sq_json_write_null(sq_json_writer *w)
{
    if (before_value(w) != SQ_OK)
        return SQ_ERR;
    return after_value(w, sq_buf_puts(w->out, "null"));
}

int sq_json_write_raw(sq_json_writer *w, const char *json, size_t n)
{
    size_t ntokens;
    sq_json_type root;

    if (w->failed)
        return SQ_ERR;
    /* The text's own nesting adds to ours; together they must stay parseable by default. */
    size_t room = (size_t)(SQ_JSON_DEFAULT_MAX_DEPTH - w->depth);
    if (sq_json_check(json, n, room, &ntokens, &root, NULL) != SQ_OK)
        return writer_fail(w);
    if (before_value(w) != SQ_OK)
        return SQ_ERR;
    return after_value(w, sq_buf_append(w->out, json, n));
}
