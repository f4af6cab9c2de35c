/* The RFC 8259 validator: the whole grammar checked over the raw bytes (numbers, literals,
 * escapes, surrogate pairs, UTF-8, nesting), where jsmn alone would accept `[ thanx ]`. */
#include "json_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "sequin/text.h"

/* The phrases of sq_json_error.what; tests and callers may compare against them. */
static const char E_EMPTY[] = "empty document";
static const char E_EOF[] = "unexpected end of input";
static const char E_TRAILING[] = "unexpected data after the document";
static const char E_VALUE[] = "expected a value";
static const char E_KEY[] = "expected a string key";
static const char E_COLON[] = "expected ':' after a key";
static const char E_ARRAY_SEP[] = "expected ',' or ']'";
static const char E_OBJECT_SEP[] = "expected ',' or '}'";
static const char E_NUMBER[] = "invalid number";
static const char E_LITERAL[] = "invalid literal";
static const char E_UNTERMINATED[] = "unterminated string";
static const char E_ESCAPE[] = "invalid escape";
static const char E_UESCAPE[] = "invalid \\u escape";
static const char E_SURROGATE[] = "unpaired surrogate";
static const char E_CONTROL[] = "control character in string";
static const char E_UTF8[] = "invalid UTF-8";
static const char E_DEPTH[] = "nesting too deep";
static const char E_BOM[] = "byte order mark";
static const char E_TOO_LARGE[] = "document too large";
static const char E_LIMIT[] = "invalid nesting limit";
const char sq_json_e_nomem[] = "out of memory";

int sq_json_fail(sq_json_error *err, const char *src, size_t len, size_t offset, const char *what)
{
    if (err == NULL)
        return SQ_ERR;
    err->what = what;
    err->offset = offset;
    if (what == E_TOO_LARGE) {
        /* Counting lines over gigabytes would only say what the offset already says. */
        err->line = 0;
        err->column = 0;
        snprintf(err->text, sizeof(err->text), "%s (%zu bytes, at most %zu)", what, len,
                 SQ_JSON_MAX_INPUT);
        return SQ_ERR;
    }
    size_t line = 1, line_start = 0;
    for (size_t i = 0; i < offset && i < len; i++) {
        if (src[i] == '\n') {
            line++;
            line_start = i + 1;
        }
    }
    err->line = line;
    err->column = offset - line_start + 1;
    snprintf(err->text, sizeof(err->text), "%s at byte %zu (line %zu, column %zu)", what, offset,
             line, err->column);
    return SQ_ERR;
}

/* ---- bytes -------------------------------------------------------------------------------- */

/* Bytes that, glued to a number or literal, mean the token itself is malformed ("01", "1.",
 * "nulll") rather than a separator being missing. */
static bool continues_token(unsigned char c)
{
    return sq_json_is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
           c == '+' || c == '-';
}

long sq_json_hex4(const unsigned char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = sq_hex_digit(p[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* ---- the grammar check -------------------------------------------------------------------- */

/* A cursor over the input; the scanners below advance `pos` or report what/where. */
typedef struct scanner {
    const unsigned char *s;
    size_t len;
    size_t pos;
    const char *what;
    size_t where;
} scanner;

static int scan_fail(scanner *sc, const char *what, size_t where)
{
    sc->what = what;
    sc->where = where;
    return SQ_ERR;
}

/* number = [ "-" ] ( "0" / digit1-9 *digit ) [ "." 1*digit ] [ ("e"/"E") ["+"/"-"] 1*digit ] */
static int scan_number(scanner *sc)
{
    const unsigned char *s = sc->s;
    size_t len = sc->len, p = sc->pos;

    if (p < len && s[p] == '-')
        p++;
    if (p < len && s[p] == '0') {
        p++;
    } else if (p < len && s[p] >= '1' && s[p] <= '9') {
        while (p < len && sq_json_is_digit(s[p]))
            p++;
    } else {
        return scan_fail(sc, E_NUMBER, p);
    }
    if (p < len && s[p] == '.') {
        p++;
        if (p == len || !sq_json_is_digit(s[p]))
            return scan_fail(sc, E_NUMBER, p);
        while (p < len && sq_json_is_digit(s[p]))
            p++;
    }
    if (p < len && (s[p] == 'e' || s[p] == 'E')) {
        p++;
        if (p < len && (s[p] == '+' || s[p] == '-'))
            p++;
        if (p == len || !sq_json_is_digit(s[p]))
            return scan_fail(sc, E_NUMBER, p);
        while (p < len && sq_json_is_digit(s[p]))
            p++;
    }
    if (p < len && continues_token(s[p]))
        return scan_fail(sc, E_NUMBER, p);
    sc->pos = p;
    return SQ_OK;
}

/* true, false or null, spelled exactly and not running on into more letters. */
static int scan_literal(scanner *sc, sq_json_type *type)
{
    const char *word;
    switch (sc->s[sc->pos]) {
    case 't':
        word = "true";
        *type = SQ_JSON_TRUE;
        break;
    case 'f':
        word = "false";
        *type = SQ_JSON_FALSE;
        break;
    default:
        word = "null";
        *type = SQ_JSON_NULL;
        break;
    }
    size_t n = strlen(word), p = sc->pos;
    if (sc->len - p < n || memcmp(sc->s + p, word, n) != 0 ||
        (sc->len - p > n && continues_token(sc->s[p + n])))
        return scan_fail(sc, E_LITERAL, p);
    sc->pos = p + n;
    return SQ_OK;
}

/* One escape sequence at s[pos] == '\\'; `open` is the string's opening quote, for errors. */
static int scan_escape(scanner *sc, size_t open)
{
    const unsigned char *s = sc->s;
    size_t p = sc->pos;

    if (sc->len - p < 2)
        return scan_fail(sc, E_UNTERMINATED, open);
    switch (s[p + 1]) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
        sc->pos = p + 2;
        return SQ_OK;
    case 'u':
        break;
    default:
        return scan_fail(sc, E_ESCAPE, p);
    }

    long cp = sc->len - p >= 6 ? sq_json_hex4(s + p + 2) : -1;
    if (cp < 0)
        return scan_fail(sc, E_UESCAPE, p);
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return scan_fail(sc, E_SURROGATE, p);
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        /* A high surrogate is only half a character: the low half must follow at once. */
        long lo = -1;
        if (sc->len - p >= 12 && s[p + 6] == '\\' && s[p + 7] == 'u')
            lo = sq_json_hex4(s + p + 8);
        if (lo < 0xDC00 || lo > 0xDFFF)
            return scan_fail(sc, E_SURROGATE, p);
        sc->pos = p + 12;
        return SQ_OK;
    }
    sc->pos = p + 6;
    return SQ_OK;
}

/*
 * How many bytes from `s` on need no attention inside a string: none is '"', '\\', a control
 * character or the start of a multibyte character. Looks at whole 16-byte blocks only and
 * leaves the rest (and the byte it stopped at) to the byte-by-byte loop, which decides the
 * same way; string contents are most of a request body, so this is most of the scan.
 */
static size_t plain_run(const unsigned char *s, size_t n)
{
    size_t i = 0;
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);
    for (; n - i >= 16; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        /* signed: bytes >= 0x80 are negative, so "below space" catches them and controls */
        __m128i odd =
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                         _mm_cmplt_epi8(v, space));
        int mask = _mm_movemask_epi8(odd);
        if (mask != 0)
            return i + (size_t)__builtin_ctz((unsigned)mask);
    }
#else
    (void)s;
    (void)n;
#endif
    return i;
}

static int scan_string(scanner *sc)
{
    const unsigned char *s = sc->s;
    size_t open = sc->pos;

    sc->pos++;
    for (;;) {
        size_t p = sc->pos;
        p += plain_run(s + p, sc->len - p);
        sc->pos = p;
        if (p == sc->len)
            return scan_fail(sc, E_UNTERMINATED, open);
        unsigned char c = s[p];
        if (c == '"') {
            sc->pos = p + 1;
            return SQ_OK;
        }
        if (c == '\\') {
            if (scan_escape(sc, open) != SQ_OK)
                return SQ_ERR;
        } else if (c < 0x20) {
            return scan_fail(sc, E_CONTROL, p);
        } else if (c < 0x80) {
            sc->pos = p + 1;
        } else {
            size_t n = sq_utf8_seq_len(s + p, sc->len - p);
            if (n == 0)
                return scan_fail(sc, E_UTF8, p);
            sc->pos = p + n;
        }
    }
}

/* What the grammar check expects next. */
enum expect {
    EXPECT_VALUE,          /* at the top, after ':' and after ',' in an array */
    EXPECT_VALUE_OR_CLOSE, /* right after '[' */
    EXPECT_KEY,            /* after ',' in an object */
    EXPECT_KEY_OR_CLOSE,   /* right after '{' */
    EXPECT_COLON,
    EXPECT_COMMA_OR_CLOSE, /* after a value; at depth 0 only the end of input may follow */
};

/* One bit per open container (1 = object), so arrays and objects can be told apart when
 * closed without recursion. A level costs at least one byte of input, hence the bound. */
#define SMALL_STACK_BITS 1024

static bool stack_is_object(const uint64_t *bits, size_t level)
{
    return (bits[level / 64] >> (level % 64)) & 1u;
}

static void stack_set(uint64_t *bits, size_t level, bool object)
{
    uint64_t mask = (uint64_t)1 << (level % 64);
    if (object)
        bits[level / 64] |= mask;
    else
        bits[level / 64] &= ~mask;
}

/* The whole of RFC 8259 over the raw bytes, iteratively: a state, a depth and a bit stack. */
int sq_json_check(const char *src, size_t len, size_t limit, size_t *ntokens, sq_json_type *root,
                  sq_json_error *err)
{
    uint64_t small[SMALL_STACK_BITS / 64];
    uint64_t *bits = small;
    scanner sc = {.s = (const unsigned char *)src, .len = len};
    enum expect want = EXPECT_VALUE;
    size_t depth = 0, count = 0;
    int rc = SQ_ERR;

    if (len > SQ_JSON_MAX_INPUT)
        return sq_json_fail(err, src, len, SQ_JSON_MAX_INPUT, E_TOO_LARGE);
    if (len >= 3 && memcmp(src, "\xEF\xBB\xBF", 3) == 0)
        return sq_json_fail(err, src, len, 0, E_BOM);
    size_t need = limit < len ? limit : len;
    if (need > SMALL_STACK_BITS) {
        bits = calloc((need + 63) / 64, sizeof(*bits));
        if (bits == NULL)
            return sq_json_fail(err, src, len, 0, sq_json_e_nomem);
    }

    for (;;) {
        while (sc.pos < len && sq_json_is_ws(sc.s[sc.pos]))
            sc.pos++;
        if (sc.pos == len) {
            if (want == EXPECT_COMMA_OR_CLOSE && depth == 0)
                break;
            scan_fail(&sc, depth == 0 && want == EXPECT_VALUE ? E_EMPTY : E_EOF, len);
            goto fail;
        }

        unsigned char c = sc.s[sc.pos];
        bool in_object = depth > 0 && stack_is_object(bits, depth - 1);
        if ((c == ']' && (want == EXPECT_VALUE_OR_CLOSE ||
                          (want == EXPECT_COMMA_OR_CLOSE && depth > 0 && !in_object))) ||
            (c == '}' && (want == EXPECT_KEY_OR_CLOSE ||
                          (want == EXPECT_COMMA_OR_CLOSE && depth > 0 && in_object)))) {
            depth--;
            sc.pos++;
            want = EXPECT_COMMA_OR_CLOSE;
            continue;
        }

        switch (want) {
        case EXPECT_VALUE:
        case EXPECT_VALUE_OR_CLOSE: {
            sq_json_type type;
            if (c == '[' || c == '{') {
                if (depth == limit) {
                    scan_fail(&sc, E_DEPTH, sc.pos);
                    goto fail;
                }
                stack_set(bits, depth, c == '{');
                depth++;
                sc.pos++;
                type = c == '{' ? SQ_JSON_OBJECT : SQ_JSON_ARRAY;
                want = c == '{' ? EXPECT_KEY_OR_CLOSE : EXPECT_VALUE_OR_CLOSE;
            } else {
                if (c == '"') {
                    type = SQ_JSON_STRING;
                    if (scan_string(&sc) != SQ_OK)
                        goto fail;
                } else if (c == '-' || sq_json_is_digit(c)) {
                    type = SQ_JSON_NUMBER;
                    if (scan_number(&sc) != SQ_OK)
                        goto fail;
                } else if (c == 't' || c == 'f' || c == 'n') {
                    if (scan_literal(&sc, &type) != SQ_OK)
                        goto fail;
                } else {
                    scan_fail(&sc, E_VALUE, sc.pos);
                    goto fail;
                }
                want = EXPECT_COMMA_OR_CLOSE;
            }
            if (count == 0)
                *root = type;
            count++;
            break;
        }
        case EXPECT_KEY:
        case EXPECT_KEY_OR_CLOSE:
            if (c != '"') {
                scan_fail(&sc, E_KEY, sc.pos);
                goto fail;
            }
            if (scan_string(&sc) != SQ_OK)
                goto fail;
            count++;
            want = EXPECT_COLON;
            break;
        case EXPECT_COLON:
            if (c != ':') {
                scan_fail(&sc, E_COLON, sc.pos);
                goto fail;
            }
            sc.pos++;
            want = EXPECT_VALUE;
            break;
        case EXPECT_COMMA_OR_CLOSE:
            if (depth == 0) {
                scan_fail(&sc, E_TRAILING, sc.pos);
                goto fail;
            }
            if (c != ',') {
                scan_fail(&sc, in_object ? E_OBJECT_SEP : E_ARRAY_SEP, sc.pos);
                goto fail;
            }
            sc.pos++;
            want = in_object ? EXPECT_KEY : EXPECT_VALUE;
            break;
        }
    }
    *ntokens = count;
    rc = SQ_OK;

fail:
    if (rc != SQ_OK)
        sq_json_fail(err, src, len, sc.where, sc.what);
    if (bits != small)
        free(bits);
    return rc;
}

int sq_json_limit(int max_depth, size_t *limit, sq_json_error *err)
{
    if (max_depth < 0)
        return sq_json_fail(err, NULL, 0, 0, E_LIMIT);
    *limit = max_depth == 0 ? SQ_JSON_DEFAULT_MAX_DEPTH : (size_t)max_depth;
    return SQ_OK;
}

int sq_json_validate(const char *src, size_t len, int max_depth, sq_json_error *err)
{
    size_t limit, ntokens;
    sq_json_type root;
    if (sq_json_limit(max_depth, &limit, err) != SQ_OK)
        return SQ_ERR;
    return sq_json_check(src, len, limit, &ntokens, &root, err);
}

/* The reader's check of each primitive jsmn reports, with the scanners of the grammar check. */
bool sq_json_primitive_spans(const char *src, int start, int end, sq_json_type *type)
{
    scanner sc = {.s = (const unsigned char *)src, .len = (size_t)end, .pos = (size_t)start};
    unsigned char c = sc.s[start];
    int rc;
    if (c == 't' || c == 'f' || c == 'n') {
        rc = scan_literal(&sc, type);
    } else {
        *type = SQ_JSON_NUMBER;
        rc = scan_number(&sc);
    }
    return rc == SQ_OK && sc.pos == (size_t)end;
}
