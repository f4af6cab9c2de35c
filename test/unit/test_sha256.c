/* SHA-256 against the FIPS 180-4 / NIST example vectors and against itself in pieces, with the
 * processor's SHA extensions (where it has them) and in portable C, and the two against each
 * other. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sequin/sha256.h"

static const struct {
    const char *input;
    size_t repeat; /* the input repeated this many times (1 for most) */
    const char *hex;
} vectors[] = {
    {"", 1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {"abc", 1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmn"
     "opqrsmnopqrstnopqrstu",
     1, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    {"a", 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
    /* The SPEC's example token digest: sha256("test"). */
    {"test", 1, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
};

static void check_vectors(void)
{
    for (size_t v = 0; v < sizeof vectors / sizeof vectors[0]; v++) {
        sq_sha256_ctx c;
        unsigned char digest[SQ_SHA256_LEN];
        char hex[65];
        sq_sha256_init(&c);
        for (size_t r = 0; r < vectors[v].repeat; r++)
            sq_sha256_update(&c, vectors[v].input, strlen(vectors[v].input));
        sq_sha256_final(&c, digest);
        sq_sha256_hex(digest, hex);
        assert_string_equal(hex, vectors[v].hex);
    }
}

/* Any split of the input into pieces gives the one-call digest (block boundaries 55/56/64). */
static void check_pieces(void)
{
    unsigned char data[300];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 7 + 3);
    for (size_t len = 0; len <= sizeof data; len++) {
        unsigned char whole[SQ_SHA256_LEN], pieces[SQ_SHA256_LEN];
        sq_sha256(data, len, whole);
        for (size_t cut = 0; cut <= len; cut += 13) {
            sq_sha256_ctx c;
            sq_sha256_init(&c);
            sq_sha256_update(&c, data, cut);
            sq_sha256_update(&c, data + cut, len - cut);
            sq_sha256_final(&c, pieces);
            assert_memory_equal(whole, pieces, SQ_SHA256_LEN);
        }
    }
}

/* Each check runs with the extensions (when the processor has them) and without. */
static void test_vectors(void **state)
{
    (void)state;
    sq_sha256_accelerate(true);
    check_vectors();
    sq_sha256_accelerate(false);
    check_vectors();
    sq_sha256_accelerate(true);
}

static void test_pieces(void **state)
{
    (void)state;
    sq_sha256_accelerate(true);
    check_pieces();
    sq_sha256_accelerate(false);
    check_pieces();
    sq_sha256_accelerate(true);
}

/* Both ways give one digest for pseudo-random inputs of every length up to four blocks. */
static void test_accelerated_agrees(void **state)
{
    (void)state;
    if (!sq_sha256_accelerate(true)) {
        print_message("no SHA extensions on this processor: only the portable code ran\n");
        return;
    }
    unsigned char data[257];
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < sizeof data; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        data[i] = (unsigned char)x;
    }
    for (size_t len = 0; len <= sizeof data; len++) {
        unsigned char fast[SQ_SHA256_LEN], slow[SQ_SHA256_LEN];
        sq_sha256_accelerate(true);
        sq_sha256(data, len, fast);
        sq_sha256_accelerate(false);
        sq_sha256(data, len, slow);
        assert_memory_equal(fast, slow, SQ_SHA256_LEN);
    }
    sq_sha256_accelerate(true);
}

/* RFC 4231's test cases 1, 2 and 6 (a key longer than a block), and the comparison. */
static void test_hmac(void **state)
{
    (void)state;
    unsigned char key1[20], key6[131], mac[SQ_SHA256_LEN];
    char hex[2 * SQ_SHA256_LEN + 1];
    memset(key1, 0x0b, sizeof key1);
    memset(key6, 0xaa, sizeof key6);
    const struct {
        const void *key;
        size_t keylen;
        const char *data, *want;
    } cases[] = {
        {key1, sizeof key1, "Hi There",
         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
        {"Jefe", 4, "what do ya want for nothing?",
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
        {key6, sizeof key6, "Test Using Larger Than Block-Size Key - Hash Key First",
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sq_hmac_sha256(cases[i].key, cases[i].keylen, cases[i].data, strlen(cases[i].data), mac);
        sq_sha256_hex(mac, hex);
        assert_string_equal(hex, cases[i].want);
    }
    unsigned char other[SQ_SHA256_LEN];
    memcpy(other, mac, sizeof other);
    assert_true(sq_digest_equal(mac, other, sizeof mac));
    other[SQ_SHA256_LEN - 1] ^= 1;
    assert_false(sq_digest_equal(mac, other, sizeof mac));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_pieces),
        cmocka_unit_test(test_accelerated_agrees),
        cmocka_unit_test(test_hmac),
    };
    return cmocka_run_group_tests_name("sha256", tests, NULL, NULL);
}
