/* Decoding of a logical replication connection's CopyData frames and pgoutput messages (protocol
 * version 1): every length checked against what remains, nothing allocated. */
#include "sequin/pgoutput.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "sequin/buf.h"
#include "sequin/text.h"

/* Seconds from 1970-01-01 to 2000-01-01 (PostgreSQL's epoch), 30 years with 7 leap days. */
#define PG_EPOCH_OFFSET_US ((int64_t)((30 * 365 + 7) * 86400LL) * 1000000)

char *sq_lsn_format(sq_lsn lsn, char out[SQ_LSN_TEXT_MAX])
{
    snprintf(out, SQ_LSN_TEXT_MAX, "%X/%X", (unsigned)(lsn >> 32), (unsigned)(lsn & 0xffffffffu));
    return out;
}

/* Parses 1 to 8 hex digits at *s, stopping at the first other byte; -1 if none or too many. */
static int lsn_half(const char **s, uint32_t *out)
{
    uint32_t v = 0;
    int n = 0;
    int d;
    while ((d = sq_hex_digit((unsigned char)**s)) >= 0) {
        if (++n > 8)
            return SQ_ERR;
        v = v << 4 | (uint32_t)d;
        (*s)++;
    }
    *out = v;
    return n > 0 ? SQ_OK : SQ_ERR;
}

int sq_lsn_parse(const char *s, sq_lsn *out)
{
    uint32_t hi, lo;
    if (s == NULL || lsn_half(&s, &hi) != SQ_OK || *s++ != '/' || lsn_half(&s, &lo) != SQ_OK ||
        *s != '\0')
        return SQ_ERR;
    *out = (sq_lsn)hi << 32 | lo;
    return SQ_OK;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/*
 * A cursor over one frame, message, tuple or column list. `what` names it in every error
 * sentence, and `part` with `index` the piece being read when there are many alike ("new tuple
 * column", 3), so that a log line says which message was malformed and where.
 */
typedef struct reader {
    const uint8_t *p;
    size_t len;
    size_t pos;
    const char *what;
    const char *part; /* NULL: none */
    size_t index;
    char *err;
    size_t errlen;
} reader;

static reader reader_init(const uint8_t *p, size_t len, const char *what, char *err, size_t errlen)
{
    return (reader){.p = p, .len = len, .what = what, .err = err, .errlen = errlen};
}

SQ_PRINTF(2, 3) static int fail(reader *r, const char *fmt, ...)
{
    char sentence[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sentence, sizeof sentence, fmt, ap);
    va_end(ap);
    if (r->part != NULL)
        return sq_fail(r->err, r->errlen, "%s: %s %zu: %s", r->what, r->part, r->index, sentence);
    return sq_fail(r->err, r->errlen, "%s: %s", r->what, sentence);
}

/* Checks that `n` more bytes are there for `field`. */
static int need(reader *r, size_t n, const char *field)
{
    size_t left = r->len - r->pos;
    if (left < n)
        return fail(r, "cut short in %s (%zu of %zu bytes)", field, left, n);
    return SQ_OK;
}

/* Reads an n-byte big-endian integer (n is 1, 2, 4 or 8) into *out, an object of that size:
 * use it through GET, which takes n from the object. */
static int get_int(reader *r, const char *field, size_t n, void *out)
{
    uint64_t v = 0;
    if (need(r, n, field) != SQ_OK)
        return SQ_ERR;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | r->p[r->pos + i];
    r->pos += n;
    switch (n) {
    case 1:
        *(uint8_t *)out = (uint8_t)v;
        break;
    case 2:
        *(uint16_t *)out = (uint16_t)v;
        break;
    case 4:
        *(uint32_t *)out = (uint32_t)v;
        break;
    default:
        *(uint64_t *)out = v;
    }
    return SQ_OK;
}

/* The signed fields (times, the type modifier) are stored through their unsigned twins, which
 * C lets alias them. */
#define GET(r, field, out) get_int((r), (field), sizeof *(out), (out))

/* The Int32 count of the bytes that follow it: negative, or more than remain, is an error. */
static int get_count(reader *r, const char *field, size_t *out)
{
    uint32_t v;
    if (GET(r, field, &v) != SQ_OK)
        return SQ_ERR;
    if ((int32_t)v < 0)
        return fail(r, "%s is negative (%d)", field, (int32_t)v);
    if (v > r->len - r->pos)
        return fail(r, "%s %u exceeds the %zu bytes left", field, v, r->len - r->pos);
    *out = v;
    return SQ_OK;
}

/* A NUL-terminated string; the NUL must be inside what is read. */
static int get_str(reader *r, const char *field, sq_pgoutput_str *out)
{
    const uint8_t *start = r->p + r->pos;
    const uint8_t *nul = memchr(start, '\0', r->len - r->pos);
    if (nul == NULL)
        return fail(r, "%s has no NUL terminator", field);
    out->ptr = (const char *)start;
    out->len = (size_t)(nul - start);
    r->pos += out->len + 1;
    return SQ_OK;
}

static int get_end(reader *r)
{
    if (r->pos != r->len)
        return fail(r, "%zu trailing byte(s) after its end", r->len - r->pos);
    return SQ_OK;
}

/* ---- frames (PostgreSQL docs, "Streaming Replication Protocol") ---- */

int sq_pgoutput_frame_decode(const uint8_t *buf, size_t len, sq_pgoutput_frame *out, char *err,
                             size_t errlen)
{
    reader r = reader_init(buf, len, "CopyData frame", err, errlen);
    uint8_t kind, reply;

    memset(out, 0, sizeof *out);
    if (GET(&r, "the kind byte", &kind) != SQ_OK)
        return SQ_ERR;
    switch (kind) {
    case 'w':
        r.what = "XLogData frame";
        out->kind = SQ_FRAME_XLOGDATA;
        if (GET(&r, "the start LSN", &out->wal_start) != SQ_OK ||
            GET(&r, "the end of WAL", &out->wal_end) != SQ_OK ||
            GET(&r, "the send time", &out->send_time_us) != SQ_OK)
            return SQ_ERR;
        out->data = buf + r.pos;
        out->len = len - r.pos;
        return SQ_OK;
    case 'k':
        r.what = "keepalive frame";
        out->kind = SQ_FRAME_KEEPALIVE;
        if (GET(&r, "the end of WAL", &out->wal_end) != SQ_OK ||
            GET(&r, "the send time", &out->send_time_us) != SQ_OK ||
            GET(&r, "the reply flag", &reply) != SQ_OK || get_end(&r) != SQ_OK)
            return SQ_ERR;
        out->reply_requested = reply != 0;
        return SQ_OK;
    default:
        return fail(&r, "unknown kind 0x%02x (expected 'w' XLogData or 'k' keepalive)", kind);
    }
}

size_t sq_pgoutput_status_encode(uint8_t out[SQ_PGOUTPUT_STATUS_LEN], sq_lsn write, sq_lsn flush,
                                 sq_lsn apply, int64_t now_us, bool reply_requested)
{
    out[0] = 'r';
    put_be64(out + 1, write);
    put_be64(out + 9, flush);
    put_be64(out + 17, apply);
    put_be64(out + 25, (uint64_t)now_us);
    out[33] = reply_requested ? 1 : 0;
    return SQ_PGOUTPUT_STATUS_LEN;
}

int64_t sq_pgoutput_time_from_unix_us(int64_t unix_us)
{
    /* Saturates rather than overflows: such a clock is meaningless either way. */
    if (unix_us < INT64_MIN + PG_EPOCH_OFFSET_US)
        return INT64_MIN;
    return unix_us - PG_EPOCH_OFFSET_US;
}

/* ---- tuples and columns ---- */

/* One column value of a tuple; r->part and r->index name it. */
static int get_value(reader *r, sq_pgoutput_value *out)
{
    uint8_t kind;
    size_t len = 0;

    if (GET(r, "the kind byte", &kind) != SQ_OK)
        return SQ_ERR;
    switch (kind) {
    case SQ_VALUE_NULL:
    case SQ_VALUE_UNCHANGED_TOAST:
        out->data = NULL;
        break;
    case SQ_VALUE_TEXT:
    case SQ_VALUE_BINARY:
        if (get_count(r, "the length", &len) != SQ_OK)
            return SQ_ERR;
        out->data = (const char *)r->p + r->pos;
        r->pos += len;
        break;
    default:
        return fail(r, "unknown kind 0x%02x (expected 'n', 'u', 't' or 'b')", kind);
    }
    out->kind = (sq_pgoutput_value_kind)kind;
    out->len = len;
    return SQ_OK;
}

/* One column of a Relation message; r->part and r->index name it. */
static int get_column(reader *r, sq_pgoutput_column *out)
{
    uint8_t flags;

    if (GET(r, "the flags", &flags) != SQ_OK || get_str(r, "the name", &out->name) != SQ_OK ||
        GET(r, "the type OID", &out->type_oid) != SQ_OK ||
        GET(r, "the type modifier", &out->type_modifier) != SQ_OK)
        return SQ_ERR;
    out->is_key = (flags & 1) != 0;
    return SQ_OK;
}

/* A tuple's values and a Relation's columns are both a list: an Int16 count, then the entries.
 * One of `value` and `column` is given: it says which kind of entry is read, and receives it. */
static int get_entry(reader *r, sq_pgoutput_value *value, sq_pgoutput_column *column)
{
    return value != NULL ? get_value(r, value) : get_column(r, column);
}

/* Reads a list to its last entry, to find where it ends (`count` and `part` name its pieces in
 * errors); `*data` and `*len` are then its entries' bytes. */
static int get_list(reader *r, const char *count, const char *part, uint16_t *n,
                    const uint8_t **data, size_t *len, sq_pgoutput_value *value,
                    sq_pgoutput_column *column)
{
    if (GET(r, count, n) != SQ_OK)
        return SQ_ERR;
    size_t start = r->pos;
    r->part = part;
    for (uint16_t i = 0; i < *n; i++) {
        r->index = (size_t)i + 1;
        if (get_entry(r, value, column) != SQ_OK)
            return SQ_ERR;
    }
    r->part = NULL;
    *data = r->p + start;
    *len = r->pos - start;
    return SQ_OK;
}

/*
 * The walks start from a list that sq_pgoutput_decode has read once already, so that its bytes
 * hold exactly its count of entries: the end of the bytes is the end of the list. Lengths are
 * still checked against the bytes, so a list built any other way cannot lead a walk past its end.
 */
static int walk_next(reader *r, size_t *pos, const char *part, sq_pgoutput_value *value,
                     sq_pgoutput_column *column)
{
    if (*pos > r->len)
        return fail(r, "position %zu is past the %zu bytes", *pos, r->len);
    if (*pos == r->len)
        return 1;
    r->pos = *pos;
    r->part = part;
    r->index = *pos;
    if (get_entry(r, value, column) != SQ_OK)
        return SQ_ERR;
    *pos = r->pos;
    return SQ_OK;
}

int sq_pgoutput_tuple_next(const sq_pgoutput_tuple *t, size_t *pos, sq_pgoutput_value *out,
                           char *err, size_t errlen)
{
    reader r = reader_init(t->cols, t->len, "tuple", err, errlen);
    return walk_next(&r, pos, "value at byte", out, NULL);
}

int sq_pgoutput_column_next(const sq_pgoutput_columns *c, size_t *pos, sq_pgoutput_column *out,
                            char *err, size_t errlen)
{
    reader r = reader_init(c->data, c->len, "Relation columns", err, errlen);
    return walk_next(&r, pos, "column at byte", NULL, out);
}

/* How a tuple is named in errors: the new row, the old key ('K') or the old row ('O'). */
typedef struct tuple_names {
    const char *count;
    const char *column;
} tuple_names;

static const tuple_names new_names = {"the new tuple's column count", "new tuple column"};
static const tuple_names key_names = {"the old key's column count", "old key column"};
static const tuple_names row_names = {"the old tuple's column count", "old tuple column"};

static int get_tuple(reader *r, const tuple_names *names, sq_pgoutput_tuple *out)
{
    sq_pgoutput_value v;
    return get_list(r, names->count, names->column, &out->ncols, &out->cols, &out->len, &v, NULL);
}

/* The byte before a tuple: 'N', 'K' or 'O'. Returns how the tuple is named, or NULL (having
 * failed) if the byte is not one of `allowed`. */
static const tuple_names *get_tuple_kind(reader *r, const char *allowed, char *kind)
{
    uint8_t b;
    if (GET(r, "the tuple kind", &b) != SQ_OK)
        return NULL;
    if (b == 0 || strchr(allowed, b) == NULL) {
        fail(r, "unexpected tuple kind 0x%02x (expected one of \"%s\")", b, allowed);
        return NULL;
    }
    *kind = (char)b;
    return b == 'N' ? &new_names : b == 'K' ? &key_names : &row_names;
}

/* ---- messages (the docs' "Logical Replication Message Formats") ---- */

/*
 * A message is its fixed fields, read by the table below, then for some kinds a variable part
 * read by a function. A field is an integer of its member's size, or a string (size 0).
 */
#define MEMBER(member) offsetof(sq_pgoutput_msg, u.member)
#define INT(member) MEMBER(member), sizeof(((sq_pgoutput_msg *)0)->u.member)
#define STR(member) MEMBER(member), 0

/* The fixed fields of each kind, in their order on the wire and the kinds in the docs' order. */
static const struct field {
    char kind;
    size_t offset;
    size_t size;
    const char *name;
} fields[] = {
    {'B', INT(begin.final_lsn), "the final LSN"},
    {'B', INT(begin.commit_time), "the commit time"},
    {'B', INT(begin.xid), "the transaction id"},
    {'M', INT(message.flags), "the flags"},
    {'M', INT(message.lsn), "the LSN"},
    {'M', STR(message.prefix), "the prefix"},
    {'C', INT(commit.flags), "the flags"},
    {'C', INT(commit.commit_lsn), "the commit LSN"},
    {'C', INT(commit.end_lsn), "the end LSN"},
    {'C', INT(commit.commit_time), "the commit time"},
    {'O', INT(origin.lsn), "the LSN"},
    {'O', STR(origin.name), "the name"},
    {'R', INT(relation.oid), "the relation OID"},
    {'R', STR(relation.nspname), "the namespace"},
    {'R', STR(relation.relname), "the relation name"},
    {'Y', INT(type.oid), "the type OID"},
    {'Y', STR(type.nspname), "the namespace"},
    {'Y', STR(type.typname), "the type name"},
    {'I', INT(insert.relation_oid), "the relation OID"},
    {'U', INT(update.relation_oid), "the relation OID"},
    {'D', INT(del.relation_oid), "the relation OID"},
    {'T', INT(truncate.nrelations), "the relation count"},
    {'T', INT(truncate.options), "the options"},
};

static int get_fields(reader *r, sq_pgoutput_msg *m)
{
    for (size_t i = 0; i < SQ_ARRAY_LEN(fields); i++) {
        const struct field *f = &fields[i];
        void *at = (char *)m + f->offset;
        if (f->kind != (char)m->kind)
            continue;
        if ((f->size ? get_int(r, f->name, f->size, at) : get_str(r, f->name, at)) != SQ_OK)
            return SQ_ERR;
    }
    return SQ_OK;
}

static int rest_message(reader *r, sq_pgoutput_msg *m)
{
    if (get_count(r, "the content length", &m->u.message.len) != SQ_OK)
        return SQ_ERR;
    m->u.message.content = r->p + r->pos;
    r->pos += m->u.message.len;
    return SQ_OK;
}

static int rest_relation(reader *r, sq_pgoutput_msg *m)
{
    uint8_t ident;
    sq_pgoutput_column col;
    sq_pgoutput_columns *cols = &m->u.relation.columns;

    if (GET(r, "the replica identity", &ident) != SQ_OK)
        return SQ_ERR;
    /* The identity says what the old tuples of the relation's changes hold; one that a later
     * PostgreSQL might add is refused, like an unknown message kind, rather than guessed at. */
    if (ident == 0 || strchr("dnfi", ident) == NULL)
        return fail(r, "unknown replica identity 0x%02x (expected 'd', 'n', 'f' or 'i')", ident);
    m->u.relation.replica_identity = (char)ident;
    return get_list(r, "the column count", "column", &cols->ncols, &cols->data, &cols->len, NULL,
                    &col);
}

static int rest_insert(reader *r, sq_pgoutput_msg *m)
{
    const tuple_names *names;
    char kind;

    if ((names = get_tuple_kind(r, "N", &kind)) == NULL)
        return SQ_ERR;
    return get_tuple(r, names, &m->u.insert.new_tuple);
}

static int rest_update(reader *r, sq_pgoutput_msg *m)
{
    const tuple_names *names;
    char kind;

    if ((names = get_tuple_kind(r, "KON", &kind)) == NULL)
        return SQ_ERR;
    if (kind != 'N') {
        m->u.update.old_kind = kind;
        if (get_tuple(r, names, &m->u.update.old_tuple) != SQ_OK ||
            (names = get_tuple_kind(r, "N", &kind)) == NULL)
            return SQ_ERR;
    }
    return get_tuple(r, names, &m->u.update.new_tuple);
}

static int rest_delete(reader *r, sq_pgoutput_msg *m)
{
    const tuple_names *names;

    if ((names = get_tuple_kind(r, "KO", &m->u.del.old_kind)) == NULL)
        return SQ_ERR;
    return get_tuple(r, names, &m->u.del.old_tuple);
}

static int rest_truncate(reader *r, sq_pgoutput_msg *m)
{
    uint32_t n = m->u.truncate.nrelations;
    if (n > (r->len - r->pos) / 4)
        return fail(r, "%u relation OIDs do not fit in the %zu bytes left", n, r->len - r->pos);
    m->u.truncate.relation_oids = r->p + r->pos;
    r->pos += (size_t)n * 4;
    return SQ_OK;
}

/* The message kinds of protocol version 1, by their kind byte (all ASCII letters); any other
 * byte is refused. */
static const struct msg_kind {
    const char *name;
    int (*rest)(reader *r, sq_pgoutput_msg *m); /* NULL: the fixed fields are all */
} msg_kinds[128] = {
    [SQ_PGO_BEGIN] = {"Begin message", NULL},
    [SQ_PGO_MESSAGE] = {"logical decoding message", rest_message},
    [SQ_PGO_COMMIT] = {"Commit message", NULL},
    [SQ_PGO_ORIGIN] = {"Origin message", NULL},
    [SQ_PGO_RELATION] = {"Relation message", rest_relation},
    [SQ_PGO_TYPE] = {"Type message", NULL},
    [SQ_PGO_INSERT] = {"Insert message", rest_insert},
    [SQ_PGO_UPDATE] = {"Update message", rest_update},
    [SQ_PGO_DELETE] = {"Delete message", rest_delete},
    [SQ_PGO_TRUNCATE] = {"Truncate message", rest_truncate},
};

int sq_pgoutput_decode(const uint8_t *buf, size_t len, sq_pgoutput_msg *out, char *err,
                       size_t errlen)
{
    reader r = reader_init(buf, len, "pgoutput message", err, errlen);
    uint8_t kind;

    memset(out, 0, sizeof *out);
    if (GET(&r, "the kind byte", &kind) != SQ_OK)
        return SQ_ERR;
    if (kind >= SQ_ARRAY_LEN(msg_kinds) || msg_kinds[kind].name == NULL)
        return fail(&r, "unknown kind 0x%02x (protocol version 1 has no such message)", kind);
    const struct msg_kind *k = &msg_kinds[kind];
    r.what = k->name;
    out->kind = (sq_pgoutput_kind)kind;
    if (get_fields(&r, out) != SQ_OK || (k->rest != NULL && k->rest(&r, out) != SQ_OK) ||
        get_end(&r) != SQ_OK)
        return SQ_ERR;
    return SQ_OK;
}

uint32_t sq_pgoutput_truncate_oid(const sq_pgoutput_msg *m, uint32_t i)
{
    return be32(m->u.truncate.relation_oids + (size_t)i * 4);
}
