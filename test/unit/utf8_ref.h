/* Test helper: UTF-8 judged by decoded value (a code point below its length's minimum, a
 * surrogate or one above U+10FFFF is invalid), written apart from src/common's table of lead
 * and second bytes, so that the JSON module's tests and fuzzer have an independent judge. */
#ifndef SEQUIN_TEST_UTF8_REF_H
#define SEQUIN_TEST_UTF8_REF_H

#include <stddef.h>
#include <stdint.h>

/* The length of the valid UTF-8 sequence that starts `s` (n >= 1 bytes readable), or 0 when
 * the first byte does not begin one. */
static inline size_t utf8_ref_len(const unsigned char *s, size_t n)
{
    static const uint32_t min_cp[] = {0, 0x80, 0x800, 0x10000};
    unsigned char c = s[0];
    size_t more = c < 0x80             ? 0
                  : (c & 0xE0) == 0xC0 ? 1
                  : (c & 0xF0) == 0xE0 ? 2
                  : (c & 0xF8) == 0xF0 ? 3
                                       : 4;
    if (more == 4 || n <= more)
        return 0;
    uint32_t cp = more == 0 ? c : c & (0x7Fu >> (more + 1));
    for (size_t k = 1; k <= more; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[k] & 0x3Fu);
    }
    if (cp < min_cp[more] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return more + 1;
}

/* True if all `n` bytes at `s` are valid UTF-8. */
static inline int utf8_ref_valid(const unsigned char *s, size_t n)
{
    for (size_t i = 0, k; i < n; i += k) {
        k = utf8_ref_len(s + i, n - i);
        if (k == 0)
            return 0;
    }
    return 1;
}

/* Code point `cp` (not a surrogate, at most U+10FFFF) as UTF-8 in `out`; returns its length. */
static inline size_t utf8_ref_encode(uint32_t cp, char out[4])
{
    static const unsigned char lead[] = {0, 0xC0, 0xE0, 0xF0};
    size_t more = cp < 0x80 ? 0 : cp < 0x800 ? 1 : cp < 0x10000 ? 2 : 3;
    for (size_t k = more; k > 0; k--, cp >>= 6)
        out[k] = (char)(0x80 | (cp & 0x3F));
    out[0] = (char)(lead[more] | cp);
    return more + 1;
}

#endif
