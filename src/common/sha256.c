/* SHA-256 as FIPS 180-4 specifies it: message schedule, 64 rounds, big-endian length padding.
 * On x86-64 processors with the SHA extensions the rounds run on them (about ten times faster:
 * the data hash of every upserted message is taken here, in the worker); elsewhere, and when a
 * test asks, in portable C. */
#include "sequin/sha256.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define SQ_SHA_NI 1
#include <cpuid.h>
#include <immintrin.h>
#endif

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t rotr(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32 - n));
}

static void compress_portable(uint32_t s[8], const unsigned char *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 =
            h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    s[0] += a, s[1] += b, s[2] += c, s[3] += d, s[4] += e, s[5] += f, s[6] += g, s[7] += h;
}

#ifdef SQ_SHA_NI
/* The same 64 rounds with the SHA instructions. They keep the state as two registers, ABEF and
 * CDGH (A in the high lane), take two rounds per sha256rnds2, and compute four words of the
 * message schedule with sha256msg1 (W[t-16] + s0(W[t-15])), a shift of the previous words
 * (W[t-7]) and sha256msg2 (+ s1(W[t-2])). */
__attribute__((target("sha,sse4.1,ssse3"))) static void compress_sha_ni(uint32_t s[8],
                                                                        const unsigned char *p)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i dcba = _mm_loadu_si128((const __m128i *)&s[0]);
    __m128i hgfe = _mm_loadu_si128((const __m128i *)&s[4]);
    __m128i badc = _mm_shuffle_epi32(dcba, 0xB1);
    __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);
    __m128i abef = _mm_alignr_epi8(badc, efgh, 8);
    __m128i cdgh = _mm_blend_epi16(efgh, badc, 0xF0);
    const __m128i abef0 = abef, cdgh0 = cdgh;

    __m128i w[4];
    for (int g = 0; g < 4; g++)
        w[g] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * g)), bswap);
    for (int g = 0; g < 16; g++) {
        if (g >= 4) {
            __m128i x = _mm_sha256msg1_epu32(w[g & 3], w[(g + 1) & 3]);
            x = _mm_add_epi32(x, _mm_alignr_epi8(w[(g + 3) & 3], w[(g + 2) & 3], 4));
            w[g & 3] = _mm_sha256msg2_epu32(x, w[(g + 3) & 3]);
        }
        __m128i wk = _mm_add_epi32(w[g & 3], _mm_loadu_si128((const __m128i *)&K[4 * g]));
        cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
        abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0E));
    }
    abef = _mm_add_epi32(abef, abef0);
    cdgh = _mm_add_epi32(cdgh, cdgh0);

    __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
    __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
    _mm_storeu_si128((__m128i *)&s[0], _mm_blend_epi16(feba, dchg, 0xF0));
    _mm_storeu_si128((__m128i *)&s[4], _mm_alignr_epi8(dchg, feba, 8));
}

static bool cpu_has_sha_ni(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSSE3) || !(c & bit_SSE4_1))
        return false;
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & bit_SHA);
}
#endif

/* -1 until the first hash looks at the processor; then whether the SHA extensions are used. */
static int accelerated = -1;

bool sq_sha256_accelerate(bool wanted)
{
#ifdef SQ_SHA_NI
    accelerated = wanted && cpu_has_sha_ni();
#else
    (void)wanted;
    accelerated = 0;
#endif
    return accelerated;
}

static void compress(uint32_t s[8], const unsigned char *p)
{
    if (accelerated < 0)
        sq_sha256_accelerate(true);
#ifdef SQ_SHA_NI
    if (accelerated) {
        compress_sha_ni(s, p);
        return;
    }
#endif
    compress_portable(s, p);
}

void sq_sha256_init(sq_sha256_ctx *c)
{
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->state, iv, sizeof iv);
    c->bytes = 0;
    c->used = 0;
}

void sq_sha256_update(sq_sha256_ctx *c, const void *data, size_t len)
{
    const unsigned char *p = data;
    c->bytes += len;
    if (c->used > 0) {
        size_t take = 64 - c->used < len ? 64 - c->used : len;
        memcpy(c->block + c->used, p, take);
        c->used += take, p += take, len -= take;
        if (c->used < 64)
            return;
        compress(c->state, c->block);
        c->used = 0;
    }
    for (; len >= 64; p += 64, len -= 64)
        compress(c->state, p);
    memcpy(c->block, p, len);
    c->used = len;
}

void sq_sha256_final(sq_sha256_ctx *c, unsigned char out[SQ_SHA256_LEN])
{
    uint64_t bits = c->bytes * 8;
    /* 0x80, zeros up to 56 mod 64, then the length in bits, big-endian. */
    c->block[c->used++] = 0x80;
    if (c->used > 56) {
        memset(c->block + c->used, 0, 64 - c->used);
        compress(c->state, c->block);
        c->used = 0;
    }
    memset(c->block + c->used, 0, 56 - c->used);
    for (int i = 0; i < 8; i++)
        c->block[56 + i] = (unsigned char)(bits >> (56 - 8 * i));
    compress(c->state, c->block);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (unsigned char)(c->state[i] >> 24);
        out[4 * i + 1] = (unsigned char)(c->state[i] >> 16);
        out[4 * i + 2] = (unsigned char)(c->state[i] >> 8);
        out[4 * i + 3] = (unsigned char)c->state[i];
    }
}

void sq_sha256(const void *data, size_t len, unsigned char out[SQ_SHA256_LEN])
{
    sq_sha256_ctx c;
    sq_sha256_init(&c);
    sq_sha256_update(&c, data, len);
    sq_sha256_final(&c, out);
}

void sq_sha256_hex(const unsigned char digest[SQ_SHA256_LEN], char hex[2 * SQ_SHA256_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < SQ_SHA256_LEN; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[2 * SQ_SHA256_LEN] = '\0';
}

/* RFC 2104: H((K ^ opad) || H((K ^ ipad) || m)), a key longer than a block hashed first. */
void sq_hmac_sha256_init(sq_hmac_sha256_ctx *h, const void *key, size_t keylen)
{
    unsigned char pad[64];
    memset(h->key, 0, sizeof h->key);
    if (keylen > sizeof h->key)
        sq_sha256(key, keylen, h->key);
    else if (keylen > 0)
        memcpy(h->key, key, keylen);
    for (int i = 0; i < 64; i++)
        pad[i] = h->key[i] ^ 0x36;
    sq_sha256_init(&h->inner);
    sq_sha256_update(&h->inner, pad, sizeof pad);
}

void sq_hmac_sha256_update(sq_hmac_sha256_ctx *h, const void *data, size_t len)
{
    sq_sha256_update(&h->inner, data, len);
}

void sq_hmac_sha256_final(sq_hmac_sha256_ctx *h, unsigned char out[SQ_SHA256_LEN])
{
    unsigned char pad[64], inner[SQ_SHA256_LEN];
    sq_sha256_ctx outer;
    sq_sha256_final(&h->inner, inner);
    for (int i = 0; i < 64; i++)
        pad[i] = h->key[i] ^ 0x5c;
    sq_sha256_init(&outer);
    sq_sha256_update(&outer, pad, sizeof pad);
    sq_sha256_update(&outer, inner, sizeof inner);
    sq_sha256_final(&outer, out);
}

void sq_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                    unsigned char out[SQ_SHA256_LEN])
{
    sq_hmac_sha256_ctx h;
    sq_hmac_sha256_init(&h, key, keylen);
    sq_hmac_sha256_update(&h, data, len);
    sq_hmac_sha256_final(&h, out);
}

bool sq_digest_equal(const unsigned char *a, const unsigned char *b, size_t n)
{
    unsigned char diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= a[i] ^ b[i];
    return diff == 0;
}
