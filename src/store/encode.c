/* Parameters in PostgreSQL's binary format: arrays, int4 and uuid values. */
#include "encode.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sequin/sha256.h"

static int put_be32(sq_buf *out, uint32_t v)
{
    uint32_t be = htonl(v);
    return sq_buf_append(out, &be, 4);
}

void sq_encode_int4(int v, unsigned char out[4])
{
    uint32_t be = htonl((uint32_t)v);
    memcpy(out, &be, 4);
}

/* An array's header: dimensions, has-nulls flag, element type; then size and lower bound. */
static int array_header(sq_buf *out, unsigned elem_oid, size_t n)
{
    if (n > INT32_MAX)
        return SQ_ERR;
    if (put_be32(out, 1) || put_be32(out, 0) || put_be32(out, elem_oid) ||
        put_be32(out, (uint32_t)n) || put_be32(out, 1))
        return SQ_ERR;
    return SQ_OK;
}

int sq_encode_array(sq_buf *out, unsigned elem_oid, const char *const *elems, const size_t *lens,
                    size_t n)
{
    if (array_header(out, elem_oid, n) != SQ_OK)
        return SQ_ERR;
    for (size_t i = 0; i < n; i++) {
        if (lens[i] > (1u << 30))
            return SQ_ERR;
        if (put_be32(out, (uint32_t)lens[i]) || sq_buf_append(out, elems[i], lens[i]))
            return SQ_ERR;
    }
    return SQ_OK;
}

int sq_encode_int4_array(sq_buf *out, const void *first, size_t stride, size_t n)
{
    if (array_header(out, SQ_OID_INT4, n) != SQ_OK)
        return SQ_ERR;
    for (size_t i = 0; i < n; i++) {
        int v;
        memcpy(&v, (const char *)first + i * stride, sizeof v);
        if (put_be32(out, 4) || put_be32(out, (uint32_t)v))
            return SQ_ERR;
    }
    return SQ_OK;
}

int sq_encode_uuid(const char *text, unsigned char bytes[16])
{
    size_t j = 0;
    for (size_t i = 0; text[i] != '\0' && j < 32; i++) {
        char c = text[i];
        int v = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (c == '-')
            continue;
        if (v < 0)
            return SQ_ERR;
        if (j % 2 == 0)
            bytes[j / 2] = (unsigned char)(v << 4);
        else
            bytes[j / 2] |= (unsigned char)v;
        j++;
    }
    return j == 32 ? SQ_OK : SQ_ERR;
}

int sq_encode_messages(const sq_message_in *msgs, size_t n, sq_buf *keys, sq_buf *datas,
                       sq_buf *hashes)
{
    /* calloc: an empty batch still gets (zeroed) arrays to point at. */
    const char **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    size_t *lens = calloc(n ? n : 1, sizeof *lens);
    unsigned char *digests = malloc((n ? n : 1) * SQ_SHA256_LEN);
    int rc = SQ_ERR;

    if (ptrs == NULL || lens == NULL || digests == NULL)
        goto done;
    for (size_t i = 0; i < n; i++)
        ptrs[i] = msgs[i].key, lens[i] = msgs[i].key_len;
    if (sq_encode_array(keys, SQ_OID_TEXT, ptrs, lens, n) != SQ_OK)
        goto done;
    for (size_t i = 0; i < n; i++)
        ptrs[i] = msgs[i].data, lens[i] = msgs[i].data_len;
    if (sq_encode_array(datas, SQ_OID_TEXT, ptrs, lens, n) != SQ_OK)
        goto done;
    for (size_t i = 0; i < n; i++) {
        sq_sha256(msgs[i].data, msgs[i].data_len, digests + SQ_SHA256_LEN * i);
        ptrs[i] = (const char *)digests + SQ_SHA256_LEN * i, lens[i] = SQ_SHA256_LEN;
    }
    rc = sq_encode_array(hashes, SQ_OID_BYTEA, ptrs, lens, n);
done:
    free(digests);
    free(lens);
    free(ptrs);
    return rc;
}
