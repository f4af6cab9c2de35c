/* JSON for the whole code base: an RFC 8259 validator in front of jsmn, getters that stay
 * inside their token, and a writer that escapes and punctuates by itself. */
#include "sequin/json.h"
#include "sequin/text.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* jsmn is header-only; JSMN_STATIC keeps its two functions private to this file. */
#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>

/*
 * Our token, converted from jsmn's. Unlike jsmn, a string's span includes its quotes (so
 * start..end is always the value's JSON text), primitives are split into number/true/
 * false/null, and `next` lets iteration skip a subtree without walking it.
 */
struct sq_json_tok {
    sq_json_type type;
    int start;  /* first byte of the value's text */
    int end;    /* one past its last byte */
    int size;   /* elements or keys of a container; 1 for a key (its value); 0 otherwise */
    int parent; /* -1 for the root; a key is the parent of its value */
    int next;   /* first token after this token's subtree */
};

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
static const char E_NOMEM[] = "out of memory";
static const char E_DISAGREE[] = "internal error: tokenizer disagrees with validator";

static int set_error(sq_json_error *err, const char *src, size_t len, size_t offset,
                     const char *what)
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

static bool is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Bytes that, glued to a number or literal, mean the token itself is malformed ("01", "1.",
 * "nulll") rather than a separator being missing. */
static bool continues_token(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
           c == '+' || c == '-';
}

/* The four hex digits at p[0..3] (the caller guarantees they are readable), or -1. */
static long hex4(const unsigned char *p)
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

static size_t utf8_encode(uint32_t cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
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
        while (p < len && is_digit(s[p]))
            p++;
    } else {
        return scan_fail(sc, E_NUMBER, p);
    }
    if (p < len && s[p] == '.') {
        p++;
        if (p == len || !is_digit(s[p]))
            return scan_fail(sc, E_NUMBER, p);
        while (p < len && is_digit(s[p]))
            p++;
    }
    if (p < len && (s[p] == 'e' || s[p] == 'E')) {
        p++;
        if (p < len && (s[p] == '+' || s[p] == '-'))
            p++;
        if (p == len || !is_digit(s[p]))
            return scan_fail(sc, E_NUMBER, p);
        while (p < len && is_digit(s[p]))
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

    long cp = sc->len - p >= 6 ? hex4(s + p + 2) : -1;
    if (cp < 0)
        return scan_fail(sc, E_UESCAPE, p);
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return scan_fail(sc, E_SURROGATE, p);
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        /* A high surrogate is only half a character: the low half must follow at once. */
        long lo = -1;
        if (sc->len - p >= 12 && s[p + 6] == '\\' && s[p + 7] == 'u')
            lo = hex4(s + p + 8);
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

/*
 * The whole of RFC 8259 over the raw bytes, iteratively: a state, a depth and a bit stack.
 * On success stores the number of tokens jsmn must produce (one per value and one per key)
 * and the root's type.
 */
static int check_grammar(const char *src, size_t len, size_t limit, size_t *ntokens,
                         sq_json_type *root, sq_json_error *err)
{
    uint64_t small[SMALL_STACK_BITS / 64];
    uint64_t *bits = small;
    scanner sc = {.s = (const unsigned char *)src, .len = len};
    enum expect want = EXPECT_VALUE;
    size_t depth = 0, count = 0;
    int rc = SQ_ERR;

    if (len > SQ_JSON_MAX_INPUT)
        return set_error(err, src, len, SQ_JSON_MAX_INPUT, E_TOO_LARGE);
    if (len >= 3 && memcmp(src, "\xEF\xBB\xBF", 3) == 0)
        return set_error(err, src, len, 0, E_BOM);
    size_t need = limit < len ? limit : len;
    if (need > SMALL_STACK_BITS) {
        bits = calloc((need + 63) / 64, sizeof(*bits));
        if (bits == NULL)
            return set_error(err, src, len, 0, E_NOMEM);
    }

    for (;;) {
        while (sc.pos < len && is_ws(sc.s[sc.pos]))
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
                } else if (c == '-' || is_digit(c)) {
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
        set_error(err, src, len, sc.where, sc.what);
    if (bits != small)
        free(bits);
    return rc;
}

static int depth_limit(int max_depth, size_t *limit)
{
    if (max_depth < 0)
        return SQ_ERR;
    *limit = max_depth == 0 ? SQ_JSON_DEFAULT_MAX_DEPTH : (size_t)max_depth;
    return SQ_OK;
}

int sq_json_validate(const char *src, size_t len, int max_depth, sq_json_error *err)
{
    size_t limit, ntokens;
    sq_json_type root;
    if (depth_limit(max_depth, &limit) != SQ_OK)
        return set_error(err, src, 0, 0, E_LIMIT);
    return check_grammar(src, len, limit, &ntokens, &root, err);
}

/* ---- tokens ------------------------------------------------------------------------------- */

/* True if src[start..end) is exactly one primitive of the type its first byte announces. */
static bool primitive_spans(const char *src, int start, int end, sq_json_type *type)
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

static bool is_container(const sq_json_tok *t)
{
    return t->type == SQ_JSON_OBJECT || t->type == SQ_JSON_ARRAY;
}

/* jsmn makes a key the parent of its value, so a key is the one string with a child. */
static bool is_key(const sq_json_tok *t)
{
    return t->type == SQ_JSON_STRING && t->size == 1;
}

/* Keys and only keys under objects, a key's value right after it, spans inside the parent's.
 * Token i's parent comes before it and has been checked already. */
static bool placed_right(const sq_json_tok *out, int i)
{
    const sq_json_tok *t = &out[i], *p = &out[t->parent];
    switch (p->type) {
    case SQ_JSON_OBJECT:
        return is_key(t) && t->start > p->start && t->end < p->end;
    case SQ_JSON_ARRAY:
        return !is_key(t) && t->start > p->start && t->end < p->end;
    case SQ_JSON_STRING:
        return is_key(p) && t->parent == i - 1 && !is_key(t) && t->start >= p->end &&
               t->end < out[p->parent].end;
    default:
        return false;
    }
}

/*
 * Converts jsmn's tokens and checks that they describe the tree the grammar check accepted:
 * spans inside the input and inside their parent, the right bracket or quote at each end,
 * keys (and only keys) under objects with exactly one value each, and every container's
 * size equal to the children that name it as parent. Anything else means jsmn and the
 * grammar check disagree, which must never be papered over.
 */
static int convert_tokens(sq_json_tok *out, const jsmntok_t *jt, int n, const char *src, size_t len)
{
    for (int i = 0; i < n; i++) {
        const jsmntok_t *t = &jt[i];
        sq_json_tok *o = &out[i];
        if (t->start < 0 || t->end < t->start || (size_t)t->end > len)
            return SQ_ERR;
        if (i == 0 ? t->parent != -1 : t->parent < 0 || t->parent >= i)
            return SQ_ERR;
        o->start = t->start;
        o->end = t->end;
        o->size = t->size;
        o->parent = t->parent;
        o->next = i + 1;
        switch (t->type) {
        case JSMN_OBJECT:
        case JSMN_ARRAY:
            o->type = t->type == JSMN_OBJECT ? SQ_JSON_OBJECT : SQ_JSON_ARRAY;
            if (t->end - t->start < 2 || src[t->start] != (t->type == JSMN_OBJECT ? '{' : '[') ||
                src[t->end - 1] != (t->type == JSMN_OBJECT ? '}' : ']'))
                return SQ_ERR;
            break;
        case JSMN_STRING:
            /* jsmn's string spans exclude the quotes; ours include them. */
            if (t->start == 0 || (size_t)t->end == len || src[t->start - 1] != '"' ||
                src[t->end] != '"')
                return SQ_ERR;
            o->type = SQ_JSON_STRING;
            o->start = t->start - 1;
            o->end = t->end + 1;
            break;
        case JSMN_PRIMITIVE:
            if (t->end == t->start || !primitive_spans(src, t->start, t->end, &o->type) ||
                t->size != 0)
                return SQ_ERR;
            break;
        default:
            return SQ_ERR;
        }
    }

    /* Children follow their parent, so one backward pass settles every subtree's end. */
    for (int i = n - 1; i > 0; i--) {
        sq_json_tok *p = &out[out[i].parent];
        if (out[i].next > p->next)
            p->next = out[i].next;
    }

    for (int i = 0; i < n; i++) {
        const sq_json_tok *t = &out[i];
        if (i > 0 && !placed_right(out, i))
            return SQ_ERR;
        if (is_container(t) || is_key(t)) {
            int children = 0;
            for (int k = i + 1; k < t->next; k = out[k].next) {
                if (out[k].parent != i)
                    return SQ_ERR;
                children++;
            }
            if (children != t->size)
                return SQ_ERR;
        } else if (t->size != 0) {
            return SQ_ERR;
        }
    }
    return SQ_OK;
}

int sq_json_parse(sq_json *doc, const char *src, size_t len, int max_depth, sq_json_error *err)
{
    jsmntok_t *jt = NULL;
    size_t limit, ntokens;
    sq_json_type root = SQ_JSON_NULL;
    const char *what = E_DISAGREE;

    memset(doc, 0, sizeof(*doc));
    if (depth_limit(max_depth, &limit) != SQ_OK)
        return set_error(err, src, 0, 0, E_LIMIT);
    if (check_grammar(src, len, limit, &ntokens, &root, err) != SQ_OK)
        return SQ_ERR;
    /* ntokens <= len <= SQ_JSON_MAX_INPUT, so it fits an int and the products below. */
    int n = (int)ntokens;

    doc->toks = malloc(ntokens * sizeof(*doc->toks));
    if (doc->toks == NULL) {
        what = E_NOMEM;
        goto fail;
    }

    if (root != SQ_JSON_OBJECT && root != SQ_JSON_ARRAY && root != SQ_JSON_STRING) {
        /* In strict mode jsmn wants a delimiter after every primitive and reports "partial"
         * for a bare `1` that ends the input. The grammar check has read the whole document,
         * which is this one primitive between optional whitespace. */
        size_t start = 0, end = len;
        while (is_ws((unsigned char)src[start]))
            start++;
        while (is_ws((unsigned char)src[end - 1]))
            end--;
        sq_json_tok *t = &doc->toks[0];
        *t = (sq_json_tok){.start = (int)start, .end = (int)end, .parent = -1, .next = 1};
        if (n != 1 || !primitive_spans(src, t->start, t->end, &t->type) || t->type != root)
            goto fail;
    } else {
        /* One pass into an array of exactly the grammar check's count: jsmn answers n only
         * if it finds that many tokens (more would not fit and fail, fewer are fewer). */
        jsmn_parser parser;
        jt = malloc(ntokens * sizeof(*jt));
        if (jt == NULL) {
            what = E_NOMEM;
            goto fail;
        }
        jsmn_init(&parser);
        if (jsmn_parse(&parser, src, len, jt, (unsigned)n) != n)
            goto fail;
        if (convert_tokens(doc->toks, jt, n, src, len) != SQ_OK)
            goto fail;
        free(jt);
    }
    doc->src = src;
    doc->len = len;
    doc->ntoks = n;
    return SQ_OK;

fail:
    free(jt);
    sq_json_free(doc);
    return set_error(err, src, len, 0, what);
}

void sq_json_free(sq_json *doc)
{
    free(doc->toks);
    memset(doc, 0, sizeof(*doc));
}

/* ---- getters ------------------------------------------------------------------------------ */

static const sq_json_tok *tok_at(const sq_json *doc, int tok)
{
    if (doc == NULL || tok < 0 || tok >= doc->ntoks)
        return NULL;
    return &doc->toks[tok];
}

static const sq_json_tok *tok_of_type(const sq_json *doc, int tok, sq_json_type type)
{
    const sq_json_tok *t = tok_at(doc, tok);
    return t != NULL && t->type == type ? t : NULL;
}

int sq_json_type_of(const sq_json *doc, int tok)
{
    const sq_json_tok *t = tok_at(doc, tok);
    return t != NULL ? (int)t->type : SQ_ERR;
}

int sq_json_count(const sq_json *doc, int tok)
{
    const sq_json_tok *t = tok_at(doc, tok);
    return t != NULL && is_container(t) ? t->size : SQ_ERR;
}

int sq_json_first(const sq_json *doc, int tok)
{
    const sq_json_tok *t = tok_at(doc, tok);
    return t != NULL && is_container(t) && t->size > 0 ? tok + 1 : SQ_ERR;
}

int sq_json_next(const sq_json *doc, int tok)
{
    const sq_json_tok *t = tok_at(doc, tok);
    if (t == NULL || t->parent < 0)
        return SQ_ERR;
    /* A value under a key shares the key's subtree end, so it never has a sibling. */
    return t->next < doc->toks[t->parent].next ? t->next : SQ_ERR;
}

int sq_json_member_value(const sq_json *doc, int key)
{
    const sq_json_tok *t = tok_of_type(doc, key, SQ_JSON_STRING);
    if (t == NULL || t->parent < 0 || doc->toks[t->parent].type != SQ_JSON_OBJECT)
        return SQ_ERR;
    return key + 1;
}

/*
 * Decodes a string's escaped bytes piece by piece, so that copying and comparing need no
 * scratch buffer: a run without backslashes comes back as a slice of the input, an escape as
 * its UTF-8 encoding in `tmp`. Never reads outside [pos, end), validated input or not.
 */
typedef struct unescaper {
    const unsigned char *s;
    size_t pos;
    size_t end;
    char tmp[4];
} unescaper;

static void unescaper_init(unescaper *u, const sq_json *doc, const sq_json_tok *t)
{
    u->s = (const unsigned char *)doc->src;
    u->pos = (size_t)t->start + 1; /* inside the quotes */
    u->end = (size_t)t->end - 1;
}

/* 1 with the next piece in *p and *n, 0 at the end, -1 on a malformed escape. */
static int unescape_next(unescaper *u, const char **p, size_t *n)
{
    const unsigned char *s = u->s;
    size_t pos = u->pos, avail = u->end - pos;

    if (avail == 0)
        return 0;
    if (s[pos] != '\\') {
        const unsigned char *bs = memchr(s + pos, '\\', avail);
        *n = bs != NULL ? (size_t)(bs - (s + pos)) : avail;
        *p = (const char *)s + pos;
        u->pos = pos + *n;
        return 1;
    }
    if (avail < 2)
        return SQ_ERR;

    char c;
    switch (s[pos + 1]) {
    case '"':
    case '\\':
    case '/':
        c = (char)s[pos + 1];
        break;
    case 'b':
        c = '\b';
        break;
    case 'f':
        c = '\f';
        break;
    case 'n':
        c = '\n';
        break;
    case 'r':
        c = '\r';
        break;
    case 't':
        c = '\t';
        break;
    case 'u': {
        long cp = avail >= 6 ? hex4(s + pos + 2) : -1;
        size_t used = 6;
        if (cp < 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
            return SQ_ERR;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            long lo = -1;
            if (avail >= 12 && s[pos + 6] == '\\' && s[pos + 7] == 'u')
                lo = hex4(s + pos + 8);
            if (lo < 0xDC00 || lo > 0xDFFF)
                return SQ_ERR;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            used = 12;
        }
        *n = utf8_encode((uint32_t)cp, u->tmp);
        *p = u->tmp;
        u->pos = pos + used;
        return 1;
    }
    default:
        return SQ_ERR;
    }
    u->tmp[0] = c;
    *p = u->tmp;
    *n = 1;
    u->pos = pos + 2;
    return 1;
}

int sq_json_str_equals(const sq_json *doc, int tok, const void *s, size_t n)
{
    const sq_json_tok *t = tok_of_type(doc, tok, SQ_JSON_STRING);
    const char *want = s;
    unescaper u;
    const char *piece;
    size_t plen, done = 0;
    int rc;

    if (t == NULL)
        return SQ_ERR;
    unescaper_init(&u, doc, t);
    while ((rc = unescape_next(&u, &piece, &plen)) > 0) {
        if (plen > n - done || memcmp(piece, want + done, plen) != 0)
            return 0;
        done += plen;
    }
    if (rc < 0)
        return SQ_ERR;
    return done == n;
}

int sq_json_lookup(const sq_json *doc, int obj, const char *name, int *value)
{
    size_t n = strlen(name);
    int found = -1;

    if (tok_of_type(doc, obj, SQ_JSON_OBJECT) == NULL)
        return SQ_ERR;
    /* No early exit: a second match must be seen to be refused. */
    for (int k = sq_json_first(doc, obj); k >= 0; k = sq_json_next(doc, k)) {
        int eq = sq_json_str_equals(doc, k, name, n);
        if (eq < 0 || (eq == 1 && found >= 0))
            return SQ_ERR;
        if (eq == 1)
            found = k + 1;
    }
    *value = found;
    return SQ_OK;
}

int sq_json_get_str(const sq_json *doc, int tok, sq_buf *out)
{
    const sq_json_tok *t = tok_of_type(doc, tok, SQ_JSON_STRING);
    size_t mark = out->len;
    unescaper u;
    const char *piece;
    size_t plen;
    int rc;

    if (t == NULL)
        return SQ_ERR;
    unescaper_init(&u, doc, t);
    /* Unescaping never lengthens a string, so one reservation covers every piece. */
    if (sq_buf_reserve(out, u.end - u.pos) != SQ_OK)
        return SQ_ERR;
    while ((rc = unescape_next(&u, &piece, &plen)) > 0) {
        memcpy(out->data + out->len, piece, plen);
        out->len += plen;
    }
    if (rc < 0)
        out->len = mark;
    out->data[out->len] = '\0';
    return rc < 0 ? SQ_ERR : SQ_OK;
}

int sq_json_get_str_arena(const sq_json *doc, int tok, sq_arena *a, const char **str, size_t *len)
{
    const sq_json_tok *t = tok_of_type(doc, tok, SQ_JSON_STRING);
    unescaper u;
    const char *piece;
    size_t plen, n = 0;
    int rc;

    if (t == NULL)
        return SQ_ERR;
    unescaper_init(&u, doc, t);
    char *dst = sq_arena_alloc(a, u.end - u.pos + 1);
    if (dst == NULL)
        return SQ_ERR;
    while ((rc = unescape_next(&u, &piece, &plen)) > 0) {
        memcpy(dst + n, piece, plen);
        n += plen;
    }
    if (rc < 0)
        return SQ_ERR;
    dst[n] = '\0';
    *str = dst;
    if (len != NULL)
        *len = n;
    return SQ_OK;
}

/* The magnitude and sign of an integer-grammar number token; -1 for fractions, exponents
 * and magnitudes beyond 2^64 - 1. */
static int integer_parts(const sq_json *doc, int tok, bool *negative, uint64_t *magnitude)
{
    const sq_json_tok *t = tok_of_type(doc, tok, SQ_JSON_NUMBER);
    if (t == NULL)
        return SQ_ERR;
    const unsigned char *p = (const unsigned char *)doc->src + t->start;
    const unsigned char *end = (const unsigned char *)doc->src + t->end;
    bool neg = p < end && *p == '-';
    uint64_t v = 0;

    if (neg)
        p++;
    if (p == end)
        return SQ_ERR;
    for (; p < end; p++) {
        if (!is_digit(*p))
            return SQ_ERR;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return SQ_ERR;
        v = v * 10 + d;
    }
    *negative = neg;
    *magnitude = v;
    return SQ_OK;
}

int sq_json_get_int64(const sq_json *doc, int tok, int64_t *out)
{
    bool neg;
    uint64_t mag;
    if (integer_parts(doc, tok, &neg, &mag) != SQ_OK)
        return SQ_ERR;
    if (!neg) {
        if (mag > (uint64_t)INT64_MAX)
            return SQ_ERR;
        *out = (int64_t)mag;
    } else {
        if (mag > (uint64_t)INT64_MAX + 1)
            return SQ_ERR;
        /* -(INT64_MAX + 1) is representable but INT64_MAX + 1 is not: negate in two steps. */
        *out = mag == 0 ? 0 : -(int64_t)(mag - 1) - 1;
    }
    return SQ_OK;
}

int sq_json_get_uint64(const sq_json *doc, int tok, uint64_t *out)
{
    bool neg;
    uint64_t mag;
    if (integer_parts(doc, tok, &neg, &mag) != SQ_OK || (neg && mag != 0))
        return SQ_ERR;
    *out = mag;
    return SQ_OK;
}

int sq_json_get_double(const sq_json *doc, int tok, double *out)
{
    const sq_json_tok *t = tok_of_type(doc, tok, SQ_JSON_NUMBER);
    char small[64];
    char *copy = small;
    int rc = SQ_ERR;

    if (t == NULL)
        return SQ_ERR;
    /* strtod needs a terminator, and the input has none: the token may end the buffer. */
    size_t n = (size_t)(t->end - t->start);
    if (n >= sizeof(small)) {
        copy = malloc(n + 1);
        if (copy == NULL)
            return SQ_ERR;
    }
    memcpy(copy, doc->src + t->start, n);
    copy[n] = '\0';

    char *end;
    double v = strtod(copy, &end);
    if (end == copy + n && isfinite(v)) {
        *out = v;
        rc = SQ_OK;
    }
    if (copy != small)
        free(copy);
    return rc;
}

int sq_json_get_bool(const sq_json *doc, int tok, bool *out)
{
    const sq_json_tok *t = tok_at(doc, tok);
    if (t == NULL || (t->type != SQ_JSON_TRUE && t->type != SQ_JSON_FALSE))
        return SQ_ERR;
    *out = t->type == SQ_JSON_TRUE;
    return SQ_OK;
}

bool sq_json_is_null(const sq_json *doc, int tok)
{
    return tok_of_type(doc, tok, SQ_JSON_NULL) != NULL;
}

int sq_json_raw(const sq_json *doc, int tok, const char **text, size_t *len)
{
    const sq_json_tok *t = tok_at(doc, tok);
    if (t == NULL)
        return SQ_ERR;
    *text = doc->src + t->start;
    *len = (size_t)(t->end - t->start);
    return SQ_OK;
}

/* ---- writer ------------------------------------------------------------------------------- */

#define LEVEL_OBJECT 1u
#define LEVEL_NONEMPTY 2u

void sq_json_writer_init(sq_json_writer *w, sq_buf *out)
{
    memset(w, 0, sizeof(*w));
    w->out = out;
}

int sq_json_writer_finish(const sq_json_writer *w)
{
    return !w->failed && w->done && w->depth == 0 ? SQ_OK : SQ_ERR;
}

static int writer_fail(sq_json_writer *w)
{
    w->failed = true;
    return SQ_ERR;
}

/* Checks that a value may go here and writes the comma it needs. */
static int before_value(sq_json_writer *w)
{
    if (w->failed)
        return SQ_ERR;
    if (w->depth == 0)
        return w->done ? writer_fail(w) : SQ_OK;

    unsigned char *level = &w->level[w->depth - 1];
    if (*level & LEVEL_OBJECT) {
        if (!w->want_value)
            return writer_fail(w);
        w->want_value = false; /* the key already wrote the comma */
        return SQ_OK;
    }
    if ((*level & LEVEL_NONEMPTY) && sq_buf_putc(w->out, ',') != SQ_OK)
        return writer_fail(w);
    *level |= LEVEL_NONEMPTY;
    return SQ_OK;
}

static int after_value(sq_json_writer *w, int rc)
{
    if (rc != SQ_OK)
        return writer_fail(w);
    if (w->depth == 0)
        w->done = true;
    return SQ_OK;
}

/* Appends s[0..n) as a JSON string with its quotes; see the header for the escaping rules. */
static int put_string(sq_buf *out, const char *str, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    size_t run = 0, i = 0;

    if (sq_buf_reserve(out, n + 2) != SQ_OK || sq_buf_putc(out, '"') != SQ_OK)
        return SQ_ERR;
    while (i < n) {
        unsigned char c = s[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t k = sq_utf8_seq_len(s + i, n - i);
            if (k > 0) {
                i += k;
                continue;
            }
        }
        if (sq_buf_append(out, s + run, i - run) != SQ_OK)
            return SQ_ERR;

        char esc[8] = {'\\', 0};
        size_t elen = 2;
        switch (c) {
        case '"':
        case '\\':
            esc[1] = (char)c;
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            if (c < 0x20) {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 0xF];
                elen = 6;
            } else {
                memcpy(esc, "\xEF\xBF\xBD", 3); /* U+FFFD for a byte that is not UTF-8 */
                elen = 3;
            }
            break;
        }
        if (sq_buf_append(out, esc, elen) != SQ_OK)
            return SQ_ERR;
        run = ++i;
    }
    /* `run < n` keeps (NULL, 0) legal: no pointer arithmetic on a null string. */
    if (run < n && sq_buf_append(out, s + run, n - run) != SQ_OK)
        return SQ_ERR;
    return sq_buf_putc(out, '"');
}

static int writer_begin(sq_json_writer *w, bool object)
{
    if (before_value(w) != SQ_OK)
        return SQ_ERR;
    if (w->depth == SQ_JSON_WRITER_MAX_DEPTH)
        return writer_fail(w);
    if (sq_buf_putc(w->out, object ? '{' : '[') != SQ_OK)
        return writer_fail(w);
    w->level[w->depth++] = object ? LEVEL_OBJECT : 0;
    return SQ_OK;
}

static int writer_end(sq_json_writer *w, bool object)
{
    if (w->failed)
        return SQ_ERR;
    if (w->depth == 0 || (bool)(w->level[w->depth - 1] & LEVEL_OBJECT) != object || w->want_value)
        return writer_fail(w);
    w->depth--;
    return after_value(w, sq_buf_putc(w->out, object ? '}' : ']'));
}

int sq_json_write_begin_object(sq_json_writer *w)
{
    return writer_begin(w, true);
}

int sq_json_write_end_object(sq_json_writer *w)
{
    return writer_end(w, true);
}

int sq_json_write_begin_array(sq_json_writer *w)
{
    return writer_begin(w, false);
}

int sq_json_write_end_array(sq_json_writer *w)
{
    return writer_end(w, false);
}

int sq_json_write_keyn(sq_json_writer *w, const char *name, size_t n)
{
    if (w->failed)
        return SQ_ERR;
    if (w->depth == 0 || !(w->level[w->depth - 1] & LEVEL_OBJECT) || w->want_value)
        return writer_fail(w);
    unsigned char *level = &w->level[w->depth - 1];
    if ((*level & LEVEL_NONEMPTY) && sq_buf_putc(w->out, ',') != SQ_OK)
        return writer_fail(w);
    *level |= LEVEL_NONEMPTY;
    if (put_string(w->out, name, n) != SQ_OK || sq_buf_putc(w->out, ':') != SQ_OK)
        return writer_fail(w);
    w->want_value = true;
    return SQ_OK;
}

int sq_json_write_key(sq_json_writer *w, const char *name)
{
    return sq_json_write_keyn(w, name, strlen(name));
}

int sq_json_write_stringn(sq_json_writer *w, const char *s, size_t n)
{
    if (before_value(w) != SQ_OK)
        return SQ_ERR;
    return after_value(w, put_string(w->out, s, n));
}

int sq_json_write_string(sq_json_writer *w, const char *s)
{
    return sq_json_write_stringn(w, s, strlen(s));
}

int sq_json_write_int64(sq_json_writer *w, int64_t v)
{
    if (before_value(w) != SQ_OK)
        return SQ_ERR;
    return after_value(w, sq_buf_printf(w->out, "%" PRId64, v));
}

int sq_json_write_uint64(sq_json_writer *w, uint64_t v)
{
    if (before_value(w) != SQ_OK)
        return SQ_ERR;
    return after_value(w, sq_buf_printf(w->out, "%" PRIu64, v));
}

int sq_json_write_double(sq_json_writer *w, double v)
{
    char text[32];

    if (w->failed)
        return SQ_ERR;
    if (!isfinite(v))
        return writer_fail(w);
    if (before_value(w) != SQ_OK)
        return SQ_ERR;
    /* 17 significant digits always round-trip, but 0.1 would come out as
     * 0.10000000000000001; the first precision that reads back exactly is the friendliest. */
    for (int precision = 15; precision <= 17; precision++) {
        snprintf(text, sizeof(text), "%.*g", precision, v);
        if (strtod(text, NULL) == v)
            break;
    }
    return after_value(w, sq_buf_puts(w->out, text));
}

int sq_json_write_bool(sq_json_writer *w, bool v)
{
    if (before_value(w) != SQ_OK)
        return SQ_ERR;
    return after_value(w, sq_buf_puts(w->out, v ? "true" : "false"));
}

int sq_json_write_null(sq_json_writer *w)
{
    if (before_value(w) != SQ_OK)
        return SQ_ERR;
    return after_value(w, sq_buf_puts(w->out, "null"));
}

int sq_json_write_raw(sq_json_writer *w, const char *json, size_t n)
{
    size_t ntokens;
    sq_json_type root;

    if (w->failed)
        return SQ_ERR;
    /* The text's own nesting adds to ours; together they must stay parseable by default. */
    size_t room = (size_t)(SQ_JSON_DEFAULT_MAX_DEPTH - w->depth);
    if (check_grammar(json, n, room, &ntokens, &root, NULL) != SQ_OK)
        return writer_fail(w);
    if (before_value(w) != SQ_OK)
        return SQ_ERR;
    return after_value(w, sq_buf_append(w->out, json, n));
}
