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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Input layout: filter, a 0xFF byte, key. 0xFF can never be part of a valid either. */
    const char *s = (const char *)data;
    const uint8_t *sep = memchr(data, 0xff, size);
    size_t fn = sep ? (size_t)(sep - data) : size;
    const char *k = sep ? s + fn + 1 : s;
    size_t kn = sep ? size - fn - 1 : size;

    const char *why = NULL;
    int key_ok = sq_key_validate(s, size, &why) == SQ_OK;
    if (!key_ok && why == NULL)
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
