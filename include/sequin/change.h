/* A row change of a source table made into a stream message: its key (key formats, reversible
 * escaping of key tokens) and its data (the JSON shape of SPEC section 8, values mapped by type).
 */
#ifndef SEQUIN_CHANGE_H
#define SEQUIN_CHANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sequin/buf.h"
#include "sequin/common.h"
#include "sequin/json.h"
#include "sequin/pgoutput.h"

/*
 * Pure code: no I/O, no allocation but the output buffers'. The caller (the source process)
 * knows the table from the replication stream's Relation message and its primary key from the
 * catalog; it hands them here with each change.
 */

typedef enum sq_key_format {
    SQ_KEY_BASIC,          /* <source>.<schema>.<table>.<pk...> */
    SQ_KEY_WITH_OPERATION, /* <source>.<schema>.<table>.<insert|update|delete|read>.<pk...> */
} sq_key_format;

typedef enum sq_change_action {
    SQ_ACTION_INSERT,
    SQ_ACTION_UPDATE,
    SQ_ACTION_DELETE,
    SQ_ACTION_READ, /* a row read by backfill */
} sq_change_action;

/* "insert", "update", "delete", "read". */
const char *sq_change_action_name(sq_change_action a);

typedef struct sq_change_column {
    const char *name;
    uint32_t type_oid;
} sq_change_column;

typedef struct sq_change_table {
    const char *source; /* the source's name: the key's first token */
    const char *schema;
    const char *table;
    size_t ncols;
    const sq_change_column *cols;
    size_t nkeys;           /* columns of the primary key, 1 or more */
    const size_t *key_cols; /* their indexes into cols, in the key's order */
} sq_change_table;

typedef struct sq_change {
    sq_change_action action;
    /* ncols values each, in the table's column order, or NULL when the WAL carries none:
     * new_values for insert, update and read; old_values for delete, and for update when the
     * replica identity sends the old key ('K') or row ('O'). */
    const sq_pgoutput_value *new_values;
    const sq_pgoutput_value *old_values;
    char old_kind;          /* 0, 'K' or 'O' */
    sq_lsn commit_lsn;      /* 0 for read: metadata.commit_lsn is null then */
    int64_t commit_time_us; /* PostgreSQL epoch (2000-01-01 UTC), microseconds */
} sq_change;

/*
 * The message key. The source, schema and table names and each primary-key value become one
 * token each, escaped reversibly (sq_change_token_escape). The key values are the new row's, the
 * old row's for a delete; an update whose new tuple lacks one (an unchanged TOASTed key value)
 * takes it from the old tuple when there is one. The key is checked with sq_key_validate before
 * 0 is returned. -1 with a sentence in `err` naming the table when the key would break a key rule
 * (over 255 bytes, over 16 tokens), when a key column's value is missing (null or not sent), or
 * on ENOMEM; `out` is then as it was. Appends to `out`.
 * An update that changes the primary key moves the row to another key: the old one is this
 * function's result for the same change made a delete (action SQ_ACTION_DELETE, its old_values).
 */
SQ_WUR int sq_change_key(const sq_change_table *t, const sq_change *c, sq_key_format f, sq_buf *out,
                         char *err, size_t errlen);

/*
 * The message data, one JSON object:
 *   {"action":"insert|update|delete|read","data":{...},"changes":{...}|null,"deleted":bool,
 *    "metadata":{"source","schema","table","commit_lsn":"0/16B3748"|null,
 *                "commit_timestamp":"2026-12-07T19:40:50.123456Z"}}
 * data: the new row (insert, update, read) or the old values the WAL carries (delete: the whole
 * row under REPLICA IDENTITY FULL, else the key columns). changes (update only, else null): the
 * old values of the columns whose value changed, as far as the old tuple carries them ({} when it
 * carries none). deleted: true for delete.
 * An unchanged TOASTed value (not in the WAL) is taken from old_values when those hold it;
 * otherwise the column is left out of "data" and `*unresolved_toast` is set, so that the caller
 * can take it from the stream's current message. Under 'K' the old tuple's columns outside the
 * primary key are placeholders, not values: they are in neither "data" nor "changes".
 * metadata.commit_lsn is null when commit_lsn is 0. Appends to `out`; -1 only on ENOMEM, with
 * `out` as it was. `unresolved_toast` may be NULL.
 */
SQ_WUR int sq_change_data(const sq_change_table *t, const sq_change *c, sq_buf *out,
                          bool *unresolved_toast);

/*
 * One column value as JSON, by type OID: int2, int4, int8, oid, float4, float8, numeric as
 * numbers when their text is a JSON number, else as strings (NaN, Infinity, -Infinity); bool as
 * true/false ("t"/"f"; other text as a string); json and jsonb embedded as they are (as a string
 * if the text is not valid JSON, or nests deeper than the writer has room for); everything else
 * as a string of its text form: the writer replaces each byte that is not UTF-8 by U+FFFD, so
 * the output stays valid JSON. NULL as null. A binary value (the source asks for text) is a
 * string of its bytes, whatever its type. An unchanged TOASTed value has no JSON: -1 and nothing
 * written, the writer still usable. Otherwise the writer's result: -1 on ENOMEM or misuse.
 */
SQ_WUR int sq_change_value_json(sq_json_writer *w, uint32_t type_oid, const sq_pgoutput_value *v);

/*
 * Key token escaping: a byte outside printable ASCII (0x21-0x7E), or one of `.` `*` `>` `%`,
 * becomes `%XX` (two upper-case hex digits); the empty string becomes a lone `%` (which no other
 * string escapes to: not `%00`, which is the one-byte string NUL's). Every escaped token is a
 * valid key token and unescape(escape(s)) == s for every byte string s. Appends to `out`; -1 only
 * on ENOMEM.
 */
SQ_WUR int sq_change_token_escape(sq_buf *out, const char *s, size_t n);
/* The reverse, for tools and tests. Only what escaping produces is an escaped token (`%` and two
 * upper-case hex digits of a byte that must be escaped; other bytes as escaping leaves them), so
 * escape(unescape(t)) == t too. Appends to `out`; -1 with `out` as it was if `s` is not an
 * escaped token, or on ENOMEM. */
SQ_WUR int sq_change_token_unescape(sq_buf *out, const char *s, size_t n);

#endif
