/* Messages: the batch upsert (SPEC 3). */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"
#include "sequin/sha256.h"

#define UPSERT_MAX 10000

int sq_store_upsert(sq_store *s, int stream, const sq_message_in *msgs, size_t n,
                    long long *published, char *err, size_t errlen)
{
    const char **ptrs = NULL;
    size_t *lens = NULL;
    unsigned char *digests = NULL;
    sq_buf keys = {0}, datas = {0}, hashes = {0};
    PGresult *r = NULL;
    int rc = SQ_ERR;

    if (n == 0 || n > UPSERT_MAX) {
        sq_store_fail(NULL, NULL, err, errlen, "a batch holds 1..%d messages, not %zu", UPSERT_MAX,
                      n);
        goto fail;
    }
    ptrs = malloc(n * sizeof *ptrs);
    lens = malloc(n * sizeof *lens);
    digests = malloc(n * SQ_SHA256_LEN);
    if (ptrs == NULL || lens == NULL || digests == NULL)
        goto nomem;
    for (size_t i = 0; i < n; i++)
        ptrs[i] = msgs[i].key, lens[i] = msgs[i].key_len;
    if (sq_store_binary_array(&keys, SQ_OID_TEXT, ptrs, lens, n) != SQ_OK)
        goto nomem;
    for (size_t i = 0; i < n; i++)
        ptrs[i] = msgs[i].data, lens[i] = msgs[i].data_len;
    if (sq_store_binary_array(&datas, SQ_OID_TEXT, ptrs, lens, n) != SQ_OK)
        goto nomem;
    /* The digest of the data decides "unchanged": computed here, in the worker, so the
     * database's CPU goes to the upsert itself. */
    for (size_t i = 0; i < n; i++) {
        sq_sha256(msgs[i].data, msgs[i].data_len, digests + SQ_SHA256_LEN * i);
        ptrs[i] = (const char *)digests + SQ_SHA256_LEN * i, lens[i] = SQ_SHA256_LEN;
    }
    if (sq_store_binary_array(&hashes, SQ_OID_BYTEA, ptrs, lens, n) != SQ_OK)
        goto nomem;

    uint32_t stream_be = htonl((uint32_t)stream);
    const char *values[4] = {(const char *)&stream_be, keys.data, datas.data, hashes.data};
    int lengths[4] = {4, (int)keys.len, (int)datas.len, (int)hashes.len};
    int formats[4] = {1, 1, 1, 1};
    r = PQexecPrepared(s->conn, "upsert", 4, values, lengths, formats, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        sq_store_fail(s, r, err, errlen, "upsert failed");
        goto fail;
    }
    *published = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    rc = SQ_OK;
    goto fail; /* the common release path */

nomem:
    sq_store_fail(NULL, NULL, err, errlen, "out of memory building the batch");
fail:
    PQclear(r);
    sq_buf_free(&hashes);
    sq_buf_free(&datas);
    sq_buf_free(&keys);
    free(digests);
    free(lens);
    free(ptrs);
    return rc;
}

int sq_store_message_delete(sq_store *s, int stream, const char *key, int *deleted, char *err,
                            size_t errlen)
{
    char stream_s[16];
    snprintf(stream_s, sizeof stream_s, "%d", stream);
    const char *values[2] = {stream_s, key};
    PGresult *r = PQexecPrepared(s->conn, "message_delete", 2, values, NULL, NULL, 0);
    int rc = SQ_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        rc = sq_store_fail(s, r, err, errlen, "deleting message \"%s\" failed", key);
    else
        *deleted = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return rc;
}
