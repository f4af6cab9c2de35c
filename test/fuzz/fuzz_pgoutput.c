/* libFuzzer target for the pgoutput decoder: the input is decoded as a CopyData frame and as a
 * bare message; whatever decodes must lie inside the input and walk to its end without an error,
 * and the walks themselves must stay inside any bytes they are handed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sequin/pgoutput.h"

static const uint8_t *base;
static size_t base_len;

static void inside(const void *p, size_t len)
{
    const uint8_t *b = p;
    CHECK(b >= base && len <= base_len && (size_t)(b - base) <= base_len - len);
}

static void inside_str(sq_pgoutput_str s)
{
    inside(s.ptr, s.len + 1);
    CHECK(s.ptr[s.len] == '\0' && memchr(s.ptr, '\0', s.len) == NULL);
}

/*
 * Walks a tuple's values (columns 0) or a Relation's columns (1) to the end. A list from a
 * decode holds exactly `ncols` entries and walks without an error; any bytes at all walk to 1 or
 * -1 without leaving themselves.
 */
static void walk(const uint8_t *data, size_t len, uint16_t ncols, int columns, int decoded)
{
    sq_pgoutput_tuple t = {.ncols = ncols, .cols = data, .len = len};
    sq_pgoutput_columns c = {.ncols = ncols, .data = data, .len = len};
    sq_pgoutput_value v;
    sq_pgoutput_column col;
    char err[256] = "";
    size_t pos = 0, count = 0;
    int rc;

    inside(data, len);
    while ((rc = columns ? sq_pgoutput_column_next(&c, &pos, &col, err, sizeof err)
                         : sq_pgoutput_tuple_next(&t, &pos, &v, err, sizeof err)) == 0) {
        CHECK(++count <= len && pos <= len);
        if (columns)
            inside_str(col.name);
        else if (v.kind == SQ_VALUE_TEXT || v.kind == SQ_VALUE_BINARY)
            inside(v.data, v.len);
        else
            CHECK((v.kind == SQ_VALUE_NULL || v.kind == SQ_VALUE_UNCHANGED_TOAST) &&
                  v.data == NULL && v.len == 0);
    }
    if (decoded)
        CHECK(rc == 1 && count == ncols && pos == len);
    else
        CHECK(rc == 1 || (rc == -1 && err[0] != '\0'));
}

static void walk_tuple(const sq_pgoutput_tuple *t)
{
    walk(t->cols, t->len, t->ncols, 0, 1);
}

static void check_msg(const uint8_t *buf, size_t len)
{
    sq_pgoutput_msg m;
    char err[256] = "";

    if (sq_pgoutput_decode(buf, len, &m, err, sizeof err) != 0) {
        CHECK(err[0] != '\0');
        return;
    }
    CHECK(len > 0 && (uint8_t)m.kind == buf[0]);
    switch (m.kind) {
    case SQ_PGO_ORIGIN:
        inside_str(m.u.origin.name);
        break;
    case SQ_PGO_RELATION:
        inside_str(m.u.relation.nspname);
        inside_str(m.u.relation.relname);
        CHECK(strchr("dnfi", m.u.relation.replica_identity) != NULL);
        walk(m.u.relation.columns.data, m.u.relation.columns.len, m.u.relation.columns.ncols, 1, 1);
        break;
    case SQ_PGO_TYPE:
        inside_str(m.u.type.nspname);
        inside_str(m.u.type.typname);
        break;
    case SQ_PGO_INSERT:
        walk_tuple(&m.u.insert.new_tuple);
        break;
    case SQ_PGO_UPDATE:
        CHECK(m.u.update.old_kind == 0 || m.u.update.old_kind == 'K' || m.u.update.old_kind == 'O');
        if (m.u.update.old_kind != 0)
            walk_tuple(&m.u.update.old_tuple);
        walk_tuple(&m.u.update.new_tuple);
        break;
    case SQ_PGO_DELETE:
        CHECK(m.u.del.old_kind == 'K' || m.u.del.old_kind == 'O');
        walk_tuple(&m.u.del.old_tuple);
        break;
    case SQ_PGO_TRUNCATE:
        CHECK(m.u.truncate.nrelations <= len / 4);
        inside(m.u.truncate.relation_oids, (size_t)m.u.truncate.nrelations * 4);
        for (uint32_t i = 0; i < m.u.truncate.nrelations; i++)
            (void)sq_pgoutput_truncate_oid(&m, i);
        break;
    case SQ_PGO_MESSAGE:
        inside_str(m.u.message.prefix);
        inside(m.u.message.content, m.u.message.len);
        break;
    default:
        CHECK(m.kind == SQ_PGO_BEGIN || m.kind == SQ_PGO_COMMIT);
    }
}

/* An LSN's text: what parses formats back to text that parses to the same LSN. */
static void check_lsn(const uint8_t *data, size_t size)
{
    char text[32], again[SQ_LSN_TEXT_MAX];
    sq_lsn a, b;

    if (size >= sizeof text)
        return;
    memcpy(text, data, size);
    text[size] = '\0';
    if (sq_lsn_parse(text, &a) != 0)
        return;
    CHECK(sq_lsn_parse(sq_lsn_format(a, again), &b) == 0 && a == b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sq_pgoutput_frame f;
    char err[256] = "";

    base = data;
    base_len = size;
    if (sq_pgoutput_frame_decode(data, size, &f, err, sizeof err) == 0) {
        if (f.kind == SQ_FRAME_XLOGDATA) {
            CHECK(size >= 25 && f.data == data + 25 && f.len == size - 25);
            check_msg(f.data, f.len);
        } else {
            CHECK(f.kind == SQ_FRAME_KEEPALIVE && size == 18);
        }
    } else {
        CHECK(err[0] != '\0');
    }
    check_msg(data, size);
    walk(data, size, 0, 0, 0);
    walk(data, size, 0, 1, 0);
    check_lsn(data, size);
    return 0;
}
