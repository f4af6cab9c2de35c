/* SHA-256 (FIPS 180-4) and HMAC-SHA256: message digests for the data hash of messages, for auth
 * tokens and for signatures. */
#ifndef SEQUIN_SHA256_H
#define SEQUIN_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SQ_SHA256_LEN 32

/* Incremental hashing: init, any number of updates, final. The context holds no pointers. */
typedef struct sq_sha256_ctx {
    uint32_t state[8];
    uint64_t bytes;          /* total length so far */
    unsigned char block[64]; /* a partial block */
    size_t used;             /* bytes in `block` */
} sq_sha256_ctx;

void sq_sha256_init(sq_sha256_ctx *c);
void sq_sha256_update(sq_sha256_ctx *c, const void *data, size_t len);
/* Writes the digest; the context must be initialised again before reuse. */
void sq_sha256_final(sq_sha256_ctx *c, unsigned char out[SQ_SHA256_LEN]);

/* One call for a whole buffer. */
void sq_sha256(const void *data, size_t len, unsigned char out[SQ_SHA256_LEN]);

/* The rounds run on the processor's SHA extensions when it has them (x86-64), chosen at the
 * first hash. Tests call this with false to check the portable code; it returns whether the
 * extensions are in use after the call. */
bool sq_sha256_accelerate(bool wanted);

/* HMAC-SHA256 (RFC 2104) of `data` under `key`: what webhook senders sign bodies with, and
 * what push consumers sign theirs with. */
void sq_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                    unsigned char out[SQ_SHA256_LEN]);

/* The same in pieces: init with the key, any number of updates, final. */
typedef struct sq_hmac_sha256_ctx {
    unsigned char key[64]; /* the key, or its digest, zero-padded to a block */
    sq_sha256_ctx inner;
} sq_hmac_sha256_ctx;
void sq_hmac_sha256_init(sq_hmac_sha256_ctx *h, const void *key, size_t keylen);
void sq_hmac_sha256_update(sq_hmac_sha256_ctx *h, const void *data, size_t len);
void sq_hmac_sha256_final(sq_hmac_sha256_ctx *h, unsigned char out[SQ_SHA256_LEN]);

/* Whether two digests of `n` bytes are equal, in a time that does not depend on where they
 * differ (a signature check must not tell an attacker how much of a guess was right). */
bool sq_digest_equal(const unsigned char *a, const unsigned char *b, size_t n);

/* Lower-case hex of a digest into `hex` (65 bytes with the NUL). */
void sq_sha256_hex(const unsigned char digest[SQ_SHA256_LEN], char hex[2 * SQ_SHA256_LEN + 1]);

#endif
