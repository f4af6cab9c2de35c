/* Parameters in PostgreSQL's binary format: how batches travel as one parameter each, with no
 * quoting of their contents. Internal to src/store/. */
#ifndef SEQUIN_STORE_ENCODE_H
#define SEQUIN_STORE_ENCODE_H

#include <stddef.h>

#include "sequin/buf.h"
#include "sequin/common.h"
#include "sequin/store.h"

/* Type OIDs of the parameters we send (fixed in PostgreSQL's catalog). */
#define SQ_OID_BYTEA 17
#define SQ_OID_INT4 23
#define SQ_OID_TEXT 25
#define SQ_OID_UUID 2950
#define SQ_OID_BYTEA_ARRAY 1001
#define SQ_OID_INT4_ARRAY 1007
#define SQ_OID_TEXT_ARRAY 1009
#define SQ_OID_UUID_ARRAY 2951

/*
 * Appends a one-dimensional array of `n` elements of type `elem_oid` to `out`: element i is
 * `lens[i]` bytes at `elems[i]`, already in the element type's binary form. Returns 0, or -1
 * on ENOMEM or an element over 1 GB.
 */
SQ_WUR int sq_encode_array(sq_buf *out, unsigned elem_oid, const char *const *elems,
                           const size_t *lens, size_t n);

/* An int4[] of `n` values; the value of element i is the int at byte offset i * `stride`
 * from `first` (an array of ints has stride sizeof(int); a field of an array of structs, the
 * struct's size). 0, or -1 on ENOMEM. */
SQ_WUR int sq_encode_int4_array(sq_buf *out, const void *first, size_t stride, size_t n);

/*
 * A batch of messages as three arrays: their keys (text[]), their data (text[]) and the SHA-256
 * of each data (bytea[]), which decides "unchanged": computed here, by the caller's process, so
 * the database's CPU goes to the upsert itself. `n` may be 0. 0, or -1 on ENOMEM (the buffers
 * then hold garbage: free them).
 */
SQ_WUR int sq_encode_messages(const sq_message_in *msgs, size_t n, sq_buf *keys, sq_buf *datas,
                              sq_buf *hashes);

/* A UUID in text form (validated by the caller) to its 16 bytes: 0, or -1 when malformed. */
SQ_WUR int sq_encode_uuid(const char *text, unsigned char bytes[16]);

/* A 4-byte integer in network order, for a binary int4 parameter. */
void sq_encode_int4(int v, unsigned char out[4]);

#endif
