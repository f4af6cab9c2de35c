/* The JSON reader over jsmn: a document validated first, tokenized by jsmn into our own tokens,
 * and read through typed getters and lookups that unescape strings (\u surrogate pairs too). */
#include "json_internal.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* jsmn is header-only; JSMN_STATIC keeps its two functions private to this file. */
#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>

static const char E_DISAGREE[] = "internal error: tokenizer disagrees with validator";

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

/* ---- tokens ------------------------------------------------------------------------------- */

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
            if (t->end == t->start || !sq_json_primitive_spans(src, t->start, t->end, &o->type) ||
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
    if (sq_json_limit(max_depth, &limit, err) != SQ_OK)
        return SQ_ERR;
    if (sq_json_check(src, len, limit, &ntokens, &root, err) != SQ_OK)
        return SQ_ERR;
    /* ntokens <= len <= SQ_JSON_MAX_INPUT, so it fits an int and the products below. */
    int n = (int)ntokens;

    doc->toks = malloc(ntokens * sizeof(*doc->toks));
    if (doc->toks == NULL) {
        what = sq_json_e_nomem;
        goto fail;
    }

    if (root != SQ_JSON_OBJECT && root != SQ_JSON_ARRAY && root != SQ_JSON_STRING) {
        /* In strict mode jsmn wants a delimiter after every primitive and reports "partial"
         * for a bare `1` that ends the input. The grammar check has read the whole document,
         * which is this one primitive between optional whitespace. */
        size_t start = 0, end = len;
        while (sq_json_is_ws((unsigned char)src[start]))
            start++;
        while (sq_json_is_ws((unsigned char)src[end - 1]))
            end--;
        sq_json_tok *t = &doc->toks[0];
        *t = (sq_json_tok){.start = (int)start, .end = (int)end, .parent = -1, .next = 1};
        if (n != 1 || !sq_json_primitive_spans(src, t->start, t->end, &t->type) || t->type != root)
            goto fail;
    } else {
        /* One pass into an array of exactly the grammar check's count: jsmn answers n only
         * if it finds that many tokens (more would not fit and fail, fewer are fewer). */
        jsmn_parser parser;
        jt = malloc(ntokens * sizeof(*jt));
        if (jt == NULL) {
            what = sq_json_e_nomem;
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
    return sq_json_fail(err, src, len, 0, what);
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
        long cp = avail >= 6 ? sq_json_hex4(s + pos + 2) : -1;
        size_t used = 6;
        if (cp < 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
            return SQ_ERR;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            long lo = -1;
            if (avail >= 12 && s[pos + 6] == '\\' && s[pos + 7] == 'u')
                lo = sq_json_hex4(s + pos + 8);
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

/* Bytes between a string token's quotes: unescaping never lengthens a string, so room for
 * these is room for every piece. */
static size_t escaped_len(const sq_json_tok *t)
{
    return (size_t)(t->end - t->start - 2);
}

/* Unescapes string token `t` into `dst` (escaped_len(t) bytes of room); the length goes to *n.
 * -1 on a malformed escape. */
static int unescape_into(const sq_json *doc, const sq_json_tok *t, char *dst, size_t *n)
{
    unescaper u;
    const char *piece;
    size_t plen;
    int rc;

    *n = 0;
    unescaper_init(&u, doc, t);
    while ((rc = unescape_next(&u, &piece, &plen)) > 0) {
        memcpy(dst + *n, piece, plen);
        *n += plen;
    }
    return rc < 0 ? SQ_ERR : SQ_OK;
}

int sq_json_get_str(const sq_json *doc, int tok, sq_buf *out)
{
    const sq_json_tok *t = tok_of_type(doc, tok, SQ_JSON_STRING);
    size_t n;

    if (t == NULL || sq_buf_reserve(out, escaped_len(t)) != SQ_OK)
        return SQ_ERR;
    int rc = unescape_into(doc, t, out->data + out->len, &n);
    if (rc == SQ_OK)
        out->len += n;
    out->data[out->len] = '\0';
    return rc;
}

int sq_json_get_str_arena(const sq_json *doc, int tok, sq_arena *a, const char **str, size_t *len)
{
    const sq_json_tok *t = tok_of_type(doc, tok, SQ_JSON_STRING);
    size_t n;

    if (t == NULL)
        return SQ_ERR;
    char *dst = sq_arena_alloc(a, escaped_len(t) + 1);
    if (dst == NULL || unescape_into(doc, t, dst, &n) != SQ_OK)
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
        if (!sq_json_is_digit(*p))
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
