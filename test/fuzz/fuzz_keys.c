/* libFuzzer target for keys and filters: validation must be total, and matching must agree
 * with a slow reference matcher written independently here. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sequin/keys.h"

/* Splits s into tokens (pointers and lengths); returns the count, or -1 if over the cap. */
static int split(const char *s, size_t n, const char **tok, size_t *len, int cap)
{
    int count = 0;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            if (count == cap)
                return -1;
            tok[count] = s + start;
            len[count] = i - start;
            count++;
            start = i + 1;
        }
    }
    return count;
}

static int reference_match(const char *f, size_t fn, const char *k, size_t kn)
{
    const char *ft[32], *kt[32];
    size_t fl[32], kl[32];
    int nf = split(f, fn, ft, fl, 32), nk = split(k, kn, kt, kl, 32);
    if (nf < 0 || nk < 0)
        abort(); /* validated input never has more than 16 tokens */
    for (int i = 0; i < nf; i++) {
        if (fl[i] == 1 && ft[i][0] == '>')
            return i == nf - 1 && nk > i;
        if (i >= nk)
            return 0;
        if (fl[i] == 1 && ft[i][0] == '*')
            continue;
        if (fl[i] != kl[i] || memcmp(ft[i], kt[i], fl[i]) != 0)
            return 0;
    }
    return nf == nk;
}

/* SPEC section 2, written independently of keys.c: the validators must agree with it. */
static int reference_valid(const char *s, size_t n, int filter)
{
    const char *tok[32];
    size_t len[32];
    if (n == 0 || n > 255 || memchr(s, 0, n))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c > 0x7e || (!filter && (c == '*' || c == '>')))
            return 0;
    }
    int count = split(s, n, tok, len, 32);
    if (count < 0 || count > 16)
        return 0;
    for (int i = 0; i < count; i++) {
        if (len[i] == 0)
            return 0;
        int wild_alone = len[i] == 1 && (tok[i][0] == '*' || tok[i][0] == '>');
        if (!wild_alone && (memchr(tok[i], '*', len[i]) || memchr(tok[i], '>', len[i])))
            return 0;
        if (len[i] == 1 && tok[i][0] == '>' && i != count - 1)
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Input layout: filter, a 0xFF byte, key. 0xFF can never be part of a valid key or filter. */
    const char *s = (const char *)data;
    const uint8_t *sep = memchr(data, 0xff, size);
    size_t fn = sep ? (size_t)(sep - data) : size;
    const char *k = sep ? s + fn + 1 : s;
    size_t kn = sep ? size - fn - 1 : size;

    const char *why = NULL;
    int key_ok = sq_key_validate(s, size, &why) == SQ_OK;
    if (!key_ok && why == NULL)
        abort();
    if (key_ok != reference_valid(s, size, 0))
        abort();
    why = NULL;
    int filter_ok = sq_filter_validate(s, size, &why) == SQ_OK;
    if ((!filter_ok && why == NULL) || filter_ok != reference_valid(s, size, 1))
        abort();
    /* Every valid key is also a valid filter, and matches itself. */
    if (key_ok &&
        (sq_filter_validate(s, size, NULL) != SQ_OK || !sq_filter_match(s, size, s, size)))
        abort();

    if (sq_filter_validate(s, fn, NULL) == SQ_OK && sq_key_validate(k, kn, NULL) == SQ_OK) {
        if (sq_filter_match(s, fn, k, kn) != reference_match(s, fn, k, kn))
            abort();
    } else {
        (void)sq_filter_match(s, fn, k, kn); /* memory-safe on anything */
    }
    return 0;
}
