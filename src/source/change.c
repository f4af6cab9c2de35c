/* A decoded row change made into a stream message: the key (escaped tokens, checked by the key
 * validator) and the data (SPEC section 8's JSON, column values mapped by type). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sequin/change.h"
#include "sequin/keys.h"
#include "sequin/text.h"

/* Type OIDs of PostgreSQL's catalog (pg_type.dat): stable since they were assigned. */
enum {
    OID_BOOL = 16,
    OID_INT8 = 20,
    OID_INT2 = 21,
    OID_INT4 = 23,
    OID_OID = 26,
    OID_JSON = 114,
    OID_FLOAT4 = 700,
    OID_FLOAT8 = 701,
    OID_NUMERIC = 1700,
    OID_JSONB = 3802,
};

/* Seconds from the Unix epoch to PostgreSQL's (2000-01-01 00:00:00 UTC). */
#define PG_EPOCH_UNIX_S INT64_C(946684800)

static const char *const action_names[] = {
    [SQ_ACTION_INSERT] = "insert",
    [SQ_ACTION_UPDATE] = "update",
    [SQ_ACTION_DELETE] = "delete",
    [SQ_ACTION_READ] = "read",
};

const char *sq_change_action_name(sq_change_action a)
{
    if ((unsigned)a >= SQ_ARRAY_LEN(action_names))
        return "unknown";
    return action_names[a];
}

/* Drops what a failed call appended after `start` (and the terminator it may have overwritten),
 * so that a caller's buffer is as it was. Returns SQ_ERR for the failing path to return. */
static int drop_after(sq_buf *out, size_t start)
{
    if (out->data != NULL) {
        out->len = start;
        out->data[start] = '\0';
    }
    return SQ_ERR;
}

/* ---- key tokens ---------------------------------------------------------------------------- */

/* The bytes that stand for themselves in a token: what the key rules allow, minus '.', which
 * separates tokens, and '%', which starts an escape (so it must be escaped to stay reversible). */
static bool token_byte_plain(unsigned char c)
{
    return c >= 0x21 && c <= 0x7e && c != '.' && c != '*' && c != '>' && c != '%';
}

static const char hex_upper[] = "0123456789ABCDEF";

int sq_change_token_escape(sq_buf *out, const char *s, size_t n)
{
    /* A lone '%' is what no non-empty string escapes to ('%' always starts a pair). */
    if (n == 0)
        return sq_buf_putc(out, '%');
    if (n > SIZE_MAX / 3 || sq_buf_reserve(out, 3 * n) != SQ_OK)
        return SQ_ERR;
    char *p = out->data + out->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (token_byte_plain(c)) {
            *p++ = (char)c;
        } else {
            *p++ = '%';
            *p++ = hex_upper[c >> 4];
            *p++ = hex_upper[c & 15];
        }
    }
    out->len = (size_t)(p - out->data);
    out->data[out->len] = '\0';
    return SQ_OK;
}

/* An upper-case hex digit's value, or -1: lower case is refused so that every byte string has
 * exactly one escaped form. */
static int hex_upper_digit(unsigned char c)
{
    return c >= 'a' && c <= 'f' ? -1 : sq_hex_digit(c);
}

int sq_change_token_unescape(sq_buf *out, const char *s, size_t n)
{
    if (n == 1 && s[0] == '%')
        return sq_buf_append(out, "", 0);
    if (n == 0 || sq_buf_reserve(out, n) != SQ_OK)
        return SQ_ERR;
    /* Written past out->len and committed only at the end: a refusal leaves `out` as it was. */
    char *p = out->data + out->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c != '%') {
            if (!token_byte_plain(c))
                goto fail;
            *p++ = (char)c;
            continue;
        }
        if (n - i < 3)
            goto fail;
        int hi = hex_upper_digit((unsigned char)s[i + 1]);
        int lo = hex_upper_digit((unsigned char)s[i + 2]);
        /* Not a hex pair, or a byte that escaping leaves as it is: not an escaped token. */
        if (hi < 0 || lo < 0 || token_byte_plain((unsigned char)(hi << 4 | lo)))
            goto fail;
        *p++ = (char)(hi << 4 | lo);
        i += 2;
    }
    out->len = (size_t)(p - out->data);
    out->data[out->len] = '\0';
    return SQ_OK;

fail:
    return drop_after(out, out->len);
}

/* ---- the key ------------------------------------------------------------------------------- */

static bool has_value(const sq_pgoutput_value *vals, size_t col)
{
    return vals != NULL && (vals[col].kind == SQ_VALUE_TEXT || vals[col].kind == SQ_VALUE_BINARY);
}

/* The values that hold the key: the old row's for a delete, else the new row's; an update's new
 * tuple lacks a key value only when it is an unchanged TOASTed one, and then the old key (any
 * old tuple carries the key's columns) holds the same value. NULL if neither has it. */
static const sq_pgoutput_value *key_value(const sq_change *c, size_t col)
{
    const sq_pgoutput_value *vals = c->action == SQ_ACTION_DELETE ? c->old_values : c->new_values;
    if (has_value(vals, col))
        return &vals[col];
    if (c->action == SQ_ACTION_UPDATE && c->old_kind != 0 && has_value(c->old_values, col))
        return &c->old_values[col];
    return NULL;
}

/* Appends "." and the escaped token. */
static int put_token(sq_buf *out, const char *s, size_t n)
{
    if (sq_buf_putc(out, '.') != SQ_OK)
        return SQ_ERR;
    return sq_change_token_escape(out, s, n);
}

int sq_change_key(const sq_change_table *t, const sq_change *c, sq_key_format f, sq_buf *out,
                  char *err, size_t errlen)
{
    size_t start = out->len;
    const char *why = NULL;

    if (t->nkeys == 0) {
        sq_fail(err, errlen, "table %s.%s has no primary key, so its rows have no key", t->schema,
                t->table);
        goto fail;
    }
    int rc = sq_change_token_escape(out, t->source, strlen(t->source));
    rc |= put_token(out, t->schema, strlen(t->schema));
    rc |= put_token(out, t->table, strlen(t->table));
    if (f == SQ_KEY_WITH_OPERATION) {
        const char *op = sq_change_action_name(c->action);
        rc |= put_token(out, op, strlen(op));
    }
    for (size_t i = 0; i < t->nkeys && rc == SQ_OK; i++) {
        size_t col = t->key_cols[i];
        const sq_pgoutput_value *v = col < t->ncols ? key_value(c, col) : NULL;
        if (v == NULL) {
            sq_fail(err, errlen,
                    "the key column %s of table %s.%s has no value in this %s (null, or not in "
                    "the WAL)",
                    col < t->ncols ? t->cols[col].name : "?", t->schema, t->table,
                    sq_change_action_name(c->action));
            goto fail;
        }
        rc |= put_token(out, v->data, v->len);
    }
    if (rc != SQ_OK) {
        sq_fail(err, errlen, "out of memory making the key of a row of table %s.%s", t->schema,
                t->table);
        goto fail;
    }
    /* The escaping makes every token valid; what is left to break is the length and the count. */
    size_t len = out->len - start;
    if (sq_key_validate(out->data + start, len, &why) != SQ_OK) {
        sq_fail(err, errlen, "the key of a row of table %s.%s breaks a key rule (%s): %.*s%s",
                t->schema, t->table, why, (int)(len > 60 ? 60 : len), out->data + start,
                len > 60 ? "..." : "");
        goto fail;
    }
    return SQ_OK;

fail:
    return drop_after(out, start);
}

/* ---- column values ------------------------------------------------------------------------- */

/* True if the text is exactly one JSON number: it must begin like one and end with a digit (so
 * no whitespace around it), and the validator must accept it as a document. This refuses what
 * PostgreSQL prints for numbers that JSON has not: NaN, Infinity, -Infinity. */
static bool is_json_number(const char *s, size_t n)
{
    if (n == 0 || !(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')))
        return false;
    if (!(s[n - 1] >= '0' && s[n - 1] <= '9'))
        return false;
    return sq_json_validate(s, n, 1, NULL) == SQ_OK;
}

static int write_number(sq_json_writer *w, const char *s, size_t n)
{
    if (is_json_number(s, n))
        return sq_json_write_raw(w, s, n);
    return sq_json_write_stringn(w, s, n);
}

/* bool's text output is "t" or "f"; anything else is not a bool's and stays text. */
static int write_bool(sq_json_writer *w, const char *s, size_t n)
{
    if (n == 1 && (s[0] == 't' || s[0] == 'f'))
        return sq_json_write_bool(w, s[0] == 't');
    return sq_json_write_stringn(w, s, n);
}

/* json keeps its input's text as it was typed (PostgreSQL's own parser accepted it); embedded
 * only if ours accepts it too and it nests no deeper than the writer has room for, since
 * sq_json_write_raw would fail the writer for good on either. The room is read from the writer's
 * depth: the same sum sq_json_write_raw checks. */
static int write_json(sq_json_writer *w, const char *s, size_t n)
{
    int room = SQ_JSON_DEFAULT_MAX_DEPTH - w->depth;
    if (room >= 1 && sq_json_validate(s, n, room, NULL) == SQ_OK)
        return sq_json_write_raw(w, s, n);
    return sq_json_write_stringn(w, s, n);
}

/* The types whose text has a JSON form of its own; every other type is written as a string. */
static const struct {
    uint32_t oid;
    int (*write)(sq_json_writer *w, const char *s, size_t n);
} typed_values[] = {
    {OID_INT2, write_number},    {OID_INT4, write_number},   {OID_INT8, write_number},
    {OID_OID, write_number},     {OID_FLOAT4, write_number}, {OID_FLOAT8, write_number},
    {OID_NUMERIC, write_number}, {OID_BOOL, write_bool},     {OID_JSON, write_json},
    {OID_JSONB, write_json},
};

int sq_change_value_json(sq_json_writer *w, uint32_t type_oid, const sq_pgoutput_value *v)
{
    switch (v->kind) {
    case SQ_VALUE_NULL:
        return sq_json_write_null(w);
    case SQ_VALUE_TEXT:
        for (size_t i = 0; i < SQ_ARRAY_LEN(typed_values); i++)
            if (typed_values[i].oid == type_oid)
                return typed_values[i].write(w, v->data, v->len);
        return sq_json_write_stringn(w, v->data, v->len);
    case SQ_VALUE_BINARY:
        return sq_json_write_stringn(w, v->data, v->len);
    case SQ_VALUE_UNCHANGED_TOAST:
        break;
    }
    return SQ_ERR;
}

/* ---- the data ------------------------------------------------------------------------------ */

static bool is_key_col(const sq_change_table *t, size_t col)
{
    for (size_t i = 0; i < t->nkeys; i++)
        if (t->key_cols[i] == col)
            return true;
    return false;
}

/* The row `vals` as an object: every column, or the key's alone when `key_only` (an old key
 * tuple's other columns are placeholders, not values). An unchanged TOASTed value comes from
 * `toast_from` when that holds it, else the column is left out and *unresolved set. */
static int write_row(sq_json_writer *w, const sq_change_table *t, const sq_pgoutput_value *vals,
                     bool key_only, const sq_pgoutput_value *toast_from, bool *unresolved)
{
    int rc = sq_json_write_begin_object(w);
    for (size_t i = 0; vals != NULL && i < t->ncols; i++) {
        const sq_pgoutput_value *v = &vals[i];
        if (key_only && !is_key_col(t, i))
            continue;
        if (v->kind == SQ_VALUE_UNCHANGED_TOAST) {
            if (toast_from == NULL || toast_from[i].kind == SQ_VALUE_UNCHANGED_TOAST) {
                *unresolved = true;
                continue;
            }
            v = &toast_from[i];
        }
        rc |= sq_json_write_key(w, t->cols[i].name);
        rc |= sq_change_value_json(w, t->cols[i].type_oid, v);
    }
    return rc | sq_json_write_end_object(w);
}

static bool same_value(const sq_pgoutput_value *a, const sq_pgoutput_value *b)
{
    return a->kind == b->kind && a->len == b->len &&
           (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* An update's "changes": the old values, as far as the old tuple carries them, that differ from
 * the new ones. Text is compared as sent, so a value rewritten in another spelling of the same
 * value (numeric 1.0 for 1.00) counts as changed. */
static int write_changes(sq_json_writer *w, const sq_change_table *t, const sq_change *c)
{
    int rc = sq_json_write_begin_object(w);
    bool carried = (c->old_kind == 'K' || c->old_kind == 'O') && c->old_values != NULL &&
                   c->new_values != NULL;
    for (size_t i = 0; carried && i < t->ncols; i++) {
        const sq_pgoutput_value *old = &c->old_values[i], *new = &c->new_values[i];
        if (c->old_kind == 'K' && !is_key_col(t, i))
            continue;
        if (old->kind == SQ_VALUE_UNCHANGED_TOAST || new->kind == SQ_VALUE_UNCHANGED_TOAST ||
            same_value(old, new))
            continue;
        rc |= sq_json_write_key(w, t->cols[i].name);
        rc |= sq_change_value_json(w, t->cols[i].type_oid, old);
    }
    return rc | sq_json_write_end_object(w);
}

static int write_str_field(sq_json_writer *w, const char *key, const char *value)
{
    int rc = sq_json_write_key(w, key);
    return rc | sq_json_write_string(w, value);
}

/* RFC 3339 in UTC with microseconds. Any int64 formats (years beyond 9999 with more digits);
 * null only where the C library cannot break the time down. */
static int write_timestamp(sq_json_writer *w, int64_t pg_us)
{
    int64_t secs = pg_us / 1000000, us = pg_us % 1000000;
    if (us < 0) {
        us += 1000000;
        secs -= 1;
    }
    time_t unix_s = (time_t)(secs + PG_EPOCH_UNIX_S);
    struct tm tm;
    char text[64];
    if (gmtime_r(&unix_s, &tm) == NULL)
        return sq_json_write_null(w);
    snprintf(text, sizeof(text), "%04lld-%02d-%02dT%02d:%02d:%02d.%06dZ",
             (long long)tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
             tm.tm_sec, (int)us);
    return sq_json_write_string(w, text);
}

static int write_metadata(sq_json_writer *w, const sq_change_table *t, const sq_change *c)
{
    char lsn[32];
    int rc = sq_json_write_begin_object(w);
    rc |= write_str_field(w, "source", t->source);
    rc |= write_str_field(w, "schema", t->schema);
    rc |= write_str_field(w, "table", t->table);
    rc |= sq_json_write_key(w, "commit_lsn");
    /* LSN 0 is PostgreSQL's InvalidXLogRecPtr: no commit is there (a backfill's read). */
    if (c->commit_lsn == 0) {
        rc |= sq_json_write_null(w);
    } else {
        snprintf(lsn, sizeof(lsn), "%" PRIX32 "/%" PRIX32, (uint32_t)(c->commit_lsn >> 32),
                 (uint32_t)c->commit_lsn);
        rc |= sq_json_write_string(w, lsn);
    }
    rc |= sq_json_write_key(w, "commit_timestamp");
    rc |= write_timestamp(w, c->commit_time_us);
    return rc | sq_json_write_end_object(w);
}

int sq_change_data(const sq_change_table *t, const sq_change *c, sq_buf *out,
                   bool *unresolved_toast)
{
    size_t start = out->len;
    bool unresolved = false;
    sq_json_writer w;

    sq_json_writer_init(&w, out);
    int rc = sq_json_write_begin_object(&w);
    rc |= write_str_field(&w, "action", sq_change_action_name(c->action));
    rc |= sq_json_write_key(&w, "data");
    if (c->action == SQ_ACTION_DELETE)
        rc |= write_row(&w, t, c->old_values, c->old_kind != 'O', NULL, &unresolved);
    else
        rc |= write_row(&w, t, c->new_values, false, c->old_kind == 'O' ? c->old_values : NULL,
                        &unresolved);
    rc |= sq_json_write_key(&w, "changes");
    rc |= c->action == SQ_ACTION_UPDATE ? write_changes(&w, t, c) : sq_json_write_null(&w);
    rc |= sq_json_write_key(&w, "deleted");
    rc |= sq_json_write_bool(&w, c->action == SQ_ACTION_DELETE);
    rc |= sq_json_write_key(&w, "metadata");
    rc |= write_metadata(&w, t, c);
    rc |= sq_json_write_end_object(&w);
    if (rc != SQ_OK || sq_json_writer_finish(&w) != SQ_OK)
        goto fail;
    if (unresolved_toast != NULL)
        *unresolved_toast = unresolved;
    return SQ_OK;

fail:
    return drop_after(out, start);
}
