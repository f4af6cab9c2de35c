/* Text in terminal columns for `sequin observe`: a string cut or padded to a width as the
 * terminal will show it (UTF-8, double-width, unprintable bytes), and a table's width shared
 * out between its columns. */
#include "observe_internal.h"

#include <string.h>
#include <wchar.h>

#include "sequin/text.h"

/* One character as drawn: `len` bytes of the input, or a replacement, taking `cols` columns. */
typedef struct glyph {
    size_t len;
    char subst; /* '\0': draw the input bytes; else this ASCII byte instead */
    int cols;
} glyph;

static glyph next_glyph(const char *s, unsigned flags)
{
    const unsigned char *p = (const unsigned char *)s;
    if (*p < 0x20 || *p == 0x7F)
        return (glyph){1, ' ', 1}; /* a payload's newlines and tabs */
    if (*p < 0x80)
        return (glyph){1, '\0', 1};
    size_t n = sq_utf8_seq_len(p, strnlen(s, 4));
    if (n == 0)
        return (glyph){1, '?', 1};
    if (!(flags & SQ_OBSERVE_FIT_UTF8))
        return (glyph){n, '?', 1};
    wchar_t wc = (wchar_t)(n == 2   ? (p[0] & 0x1F) << 6 | (p[1] & 0x3F)
                           : n == 3 ? (p[0] & 0x0F) << 12 | (p[1] & 0x3F) << 6 | (p[2] & 0x3F)
                                    : (p[0] & 0x07) << 18 | (p[1] & 0x3F) << 12 |
                                          (p[2] & 0x3F) << 6 | (p[3] & 0x3F));
    int w = wcwidth(wc);
    if (w < 0)
        return (glyph){n, '?', 1};
    return (glyph){n, '\0', w};
}

int sq_observe_width(const char *s, unsigned flags)
{
    int w = 0;
    while (*s != '\0') {
        glyph g = next_glyph(s, flags);
        w += g.cols;
        s += g.len;
    }
    return w;
}

static int put_glyph(sq_buf *out, const char *s, glyph g)
{
    return g.subst != '\0' ? sq_buf_putc(out, g.subst) : sq_buf_append(out, s, g.len);
}

/* Appends the glyphs of `s` that fit in `width` columns; returns the columns used or -1. */
static int put_upto(sq_buf *out, const char *s, int width, unsigned flags)
{
    int used = 0;
    while (*s != '\0') {
        glyph g = next_glyph(s, flags);
        if (used + g.cols > width)
            break;
        if (put_glyph(out, s, g) != SQ_OK)
            return SQ_ERR;
        used += g.cols;
        s += g.len;
    }
    return used;
}

int sq_observe_fit(sq_buf *out, const char *s, int width, unsigned flags)
{
    if (width <= 0)
        return 0;
    int total = sq_observe_width(s, flags), used;
    if (total <= width) {
        used = put_upto(out, s, width, flags);
    } else if (flags & SQ_OBSERVE_FIT_TAIL) {
        /* Skip from the start until the rest fits. */
        while (*s != '\0' && total > width) {
            glyph g = next_glyph(s, flags);
            total -= g.cols;
            s += g.len;
        }
        used = put_upto(out, s, width, flags);
    } else {
        used = put_upto(out, s, width - 1, flags);
        if (used >= 0 && sq_buf_puts(out, (flags & SQ_OBSERVE_FIT_UTF8) ? "\u2026" : "~") != SQ_OK)
            return SQ_ERR;
        used = used < 0 ? used : used + 1;
    }
    if (used < 0)
        return SQ_ERR;
    if (flags & SQ_OBSERVE_FIT_PAD) {
        for (; used < width; used++)
            if (sq_buf_putc(out, ' ') != SQ_OK)
                return SQ_ERR;
    }
    return used;
}

size_t sq_observe_columns(const sq_observe_column *cols, const int *want, size_t n, int width,
                          int *out)
{
    size_t shown = n;
    int need = 0;
    for (size_t i = 0; i < n; i++) {
        out[i] = cols[i].min < want[i] ? cols[i].min : want[i];
        need += out[i] + (i > 0 ? SQ_OBSERVE_GAP : 0);
    }
    /* Hide columns, highest rank first, while their minimums do not fit. */
    while (need > width) {
        size_t victim = n;
        for (size_t i = 0; i < n; i++)
            if (out[i] > 0 && cols[i].drop > 0 && (victim == n || cols[i].drop > cols[victim].drop))
                victim = i;
        if (victim == n)
            break; /* nothing left to hide: the last column is cut at the edge */
        need -= out[victim] + SQ_OBSERVE_GAP;
        out[victim] = 0;
        shown--;
    }
    size_t last = n;
    for (size_t i = 0; i < n; i++)
        if (out[i] > 0)
            last = i;
    int left = width - need;
    for (size_t i = 0; i < n && left > 0; i++) {
        if (out[i] == 0 || i == last)
            continue;
        int extra = want[i] - out[i];
        if (extra > left)
            extra = cols[i].whole ? 0 : left;
        out[i] += extra;
        left -= extra;
    }
    if (last < n && left > 0)
        out[last] += left;
    return shown;
}
