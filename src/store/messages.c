/* Messages: the batch upsert (SPEC 3). */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

#define UPSERT_MAX 10000

int sq_store_upsert(sq_store *s, int stream, const sq_message_in *msgs, size_t n,
                    long long *published, char *err, size_t errlen)
{
    const char **ptrs = NULL;
    size_t *lens = NULL;
    sq_buf keys = {0}, datas = {0};
    PGresult *r = NULL;
    int rc = SQ_ERR;

    if (n == 0 || n > UPSERT_MAX) {
        sq_store_fail(NULL, NULL, err, errlen, "a batch holds 1..%d messages, not %zu", UPSERT_MAX,
                      n);
        goto fail;
    }
    ptrs = malloc(n * sizeof *ptrs);
    lens = malloc(n * sizeof *lens);
    if (ptrs == NULL || lens == NULL)
        goto nomem;
    for (size_t i = 0; i < n; i++)
        ptrs[i] = msgs[i].key, lens[i] = msgs[i].key_len;
    if (sq_store_binary_array(&keys, SQ_OID_TEXT, ptrs, lens, n) != SQ_OK)
        goto nomem;
    for (size_t i = 0; i < n; i++)
        ptrs[i] = msgs[i].data, lens[i] = msgs[i].data_len;
    if (sq_store_binary_array(&datas, SQ_OID_TEXT, ptrs, lens, n) != SQ_OK)
        goto nomem;

    uint32_t stream_be = htonl((uint32_t)stream);
    const char *values[3] = {(const char *)&stream_be, keys.data, datas.data};
    int lengths[3] = {4, (int)keys.len, (int)datas.len};
    int formats[3] = {1, 1, 1};
    r = PQexecPrepared(s->conn, "upsert", 3, values, lengths, formats, 0);
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
    sq_buf_free(&datas);
    sq_buf_free(&keys);
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
