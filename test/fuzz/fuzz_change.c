/* libFuzzer target for a row change made into a message: a table and a change built from the
 * input; the data must always be valid JSON, a key that is made must pass the key validator and
 * unescape back to its parts, and escaping must round-trip every byte string. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sequin/change.h"
#include "sequin/keys.h"

#define MAX_COLS 8

/* The input, read front to back; past its end every byte reads as 0. */
typedef struct reader {
    const uint8_t *p;
    size_t n;
} reader;

static uint8_t take_byte(reader *r)
{
    if (r->n == 0)
        return 0;
    r->n--;
    return *r->p++;
}

/* A length byte, then up to that many bytes. */
static const char *take_slice(reader *r, size_t *len)
{
    size_t want = take_byte(r);
    *len = want < r->n ? want : r->n;
    const char *s = (const char *)r->p;
    r->p += *len;
    r->n -= *len;
    return s;
}

/* A name as a C string: the slice up to its first NUL. */
static void take_name(reader *r, char *out, size_t cap)
{
    size_t len;
    const char *s = take_slice(r, &len);
    if (len >= cap)
        len = cap - 1;
    memcpy(out, s, len);
    out[len] = '\0';
}

static const uint32_t oids[] = {16, 20, 21, 23, 26, 114, 700, 701, 1700, 3802, 25, 2950};
static const sq_pgoutput_value_kind kinds[] = {SQ_VALUE_TEXT, SQ_VALUE_NULL,
                                               SQ_VALUE_UNCHANGED_TOAST, SQ_VALUE_BINARY};

static void take_values(reader *r, sq_pgoutput_value *vals, size_t ncols)
{
    for (size_t i = 0; i < ncols; i++) {
        uint8_t k = take_byte(r);
        vals[i].kind = kinds[k % 4];
        vals[i].data = NULL;
        vals[i].len = 0;
        if (vals[i].kind == SQ_VALUE_TEXT || vals[i].kind == SQ_VALUE_BINARY)
            vals[i].data = take_slice(r, &vals[i].len);
    }
}

/* escape then unescape gives the bytes back, the token is a key token, and unescaping a token
 * then escaping it again gives the token back. */
static void check_escape(const char *s, size_t n)
{
    sq_buf esc = {0}, back = {0}, again = {0};
    CHECK(sq_change_token_escape(&esc, s, n) == SQ_OK);
    CHECK(memchr(esc.data, '.', esc.len) == NULL);
    if (esc.len <= SQ_KEY_MAX_BYTES)
        CHECK(sq_key_validate(esc.data, esc.len, NULL) == SQ_OK);
    CHECK(sq_change_token_unescape(&back, esc.data, esc.len) == SQ_OK);
    CHECK(back.len == n && (n == 0 || memcmp(back.data, s, n) == 0));
    sq_buf_free(&back);
    /* The same input read as a token: if it is one, it is the escape of what it unescapes to. */
    if (sq_change_token_unescape(&back, s, n) == SQ_OK) {
        CHECK(sq_change_token_escape(&again, back.data, back.len) == SQ_OK);
        CHECK(again.len == n && memcmp(again.data, s, n) == 0);
    }
    sq_buf_free(&esc);
    sq_buf_free(&back);
    sq_buf_free(&again);
}

/* Each value alone, nested as deep as a byte says: the writer never fails, the output is JSON. */
static void check_value(reader *r, uint32_t oid, const sq_pgoutput_value *v)
{
    if (v->kind == SQ_VALUE_UNCHANGED_TOAST)
        return;
    int depth = 1 + take_byte(r) % SQ_JSON_WRITER_MAX_DEPTH;
    sq_buf out = {0};
    sq_json_writer w;
    sq_json_writer_init(&w, &out);
    for (int d = 0; d < depth; d++)
        CHECK(sq_json_write_begin_array(&w) == SQ_OK);
    CHECK(sq_change_value_json(&w, oid, v) == SQ_OK);
    for (int d = 0; d < depth; d++)
        CHECK(sq_json_write_end_array(&w) == SQ_OK);
    CHECK(sq_json_writer_finish(&w) == SQ_OK);
    CHECK(sq_json_validate(out.data, out.len, 0, NULL) == SQ_OK);
    sq_buf_free(&out);
}

/* The key's tokens unescape to the source, schema and table names, then the operation. */
static void check_key(const sq_change_table *t, const sq_change *c, sq_key_format f,
                      const sq_buf *key)
{
    const char *want[4] = {t->source, t->schema, t->table, sq_change_action_name(c->action)};
    size_t nwant = f == SQ_KEY_WITH_OPERATION ? 4 : 3, ntok = 0, start = 0;
    CHECK(sq_key_validate(key->data, key->len, NULL) == SQ_OK);
    for (size_t i = 0; i <= key->len; i++) {
        if (i < key->len && key->data[i] != '.')
            continue;
        sq_buf back = {0};
        CHECK(sq_change_token_unescape(&back, key->data + start, i - start) == SQ_OK);
        if (ntok < nwant)
            CHECK(back.len == strlen(want[ntok]) && memcmp(back.data, want[ntok], back.len) == 0);
        sq_buf_free(&back);
        ntok++;
        start = i + 1;
    }
    CHECK(ntok == nwant + t->nkeys);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader r = {data, size};
    char schema[64], table[64], names[MAX_COLS][16];
    sq_change_column cols[MAX_COLS];
    size_t key_cols[MAX_COLS];
    sq_pgoutput_value new_values[MAX_COLS], old_values[MAX_COLS];

    check_escape((const char *)data, size);

    uint8_t flags = take_byte(&r);
    size_t ncols = 1 + take_byte(&r) % MAX_COLS;
    size_t nkeys = take_byte(&r) % (ncols + 1); /* 0 too: a table without a key is refused */
    take_name(&r, schema, sizeof(schema));
    take_name(&r, table, sizeof(table));
    for (size_t i = 0; i < ncols; i++) {
        take_name(&r, names[i], sizeof(names[i]));
        cols[i] =
            (sq_change_column){names[i], oids[take_byte(&r) % (sizeof(oids) / sizeof(oids[0]))]};
    }
    for (size_t i = 0; i < nkeys; i++)
        key_cols[i] = take_byte(&r) % ncols;
    take_values(&r, new_values, ncols);
    take_values(&r, old_values, ncols);
    sq_change_table t = {"src", schema, table, ncols, cols, nkeys, key_cols};
    static const char old_kinds[] = {0, 'K', 'O', 0};
    sq_change c = {
        .action = (sq_change_action)(flags & 3),
        .new_values = flags & 0x10 ? NULL : new_values,
        .old_values = flags & 0x20 ? NULL : old_values,
        .old_kind = old_kinds[(flags >> 2) & 3],
    };
    for (int i = 0; i < 8; i++) {
        c.commit_lsn = c.commit_lsn << 8 | take_byte(&r);
        c.commit_time_us = (int64_t)((uint64_t)c.commit_time_us << 8 | take_byte(&r));
    }
    sq_key_format f = flags & 0x40 ? SQ_KEY_WITH_OPERATION : SQ_KEY_BASIC;

    for (size_t i = 0; i < ncols; i++) {
        check_escape(new_values[i].data, new_values[i].len);
        check_value(&r, cols[i].type_oid, &new_values[i]);
        check_value(&r, cols[i].type_oid, &old_values[i]);
    }

    sq_buf out = {0};
    char err[256];
    if (sq_change_key(&t, &c, f, &out, err, sizeof(err)) == SQ_OK)
        check_key(&t, &c, f, &out);
    else
        CHECK(out.len == 0 && err[0] != '\0');
    sq_buf_free(&out);

    bool unresolved = false, toast = false;
    for (size_t i = 0; i < ncols; i++)
        toast |= (c.new_values != NULL && new_values[i].kind == SQ_VALUE_UNCHANGED_TOAST) ||
                 (c.old_values != NULL && old_values[i].kind == SQ_VALUE_UNCHANGED_TOAST);
    CHECK(sq_change_data(&t, &c, &out, &unresolved) == SQ_OK);
    CHECK(sq_json_validate(out.data, out.len, 0, NULL) == SQ_OK);
    CHECK(toast || !unresolved);
    sq_buf_free(&out);
    return 0;
}
