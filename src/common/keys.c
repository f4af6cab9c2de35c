/* Validation of message keys and consumer filters, and matching of keys against filters. */
#include "sequin/keys.h"

#include <string.h>

/*
 * The rules are checked in a fixed order, so a string that breaks several always names the
 * same one: emptiness, length, the character set, then the token structure. Two passes over
 * at most 255 bytes cost nothing and keep each rule's code simple.
 */
enum kind {
    KIND_KEY,
    KIND_FILTER
};

static const char *rule(enum kind k, const char *for_key, const char *for_filter)
{
    return k == KIND_KEY ? for_key : for_filter;
}

static int validate(enum kind k, const char *s, size_t len, const char **why)
{
    const char *err = NULL;

    if (len == 0) {
        err = rule(k, "a key must not be empty", "a filter must not be empty");
        goto fail;
    }
    if (len > SQ_KEY_MAX_BYTES) {
        err = rule(k, "a key is at most 255 bytes long", "a filter is at most 255 bytes long");
        goto fail;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c > 0x7e) {
            err = rule(k, "a key contains only printable ASCII characters (0x21-0x7E), no spaces",
                       "a filter contains only printable ASCII characters (0x21-0x7E), no "
                       "spaces");
            goto fail;
        }
    }
    if (k == KIND_KEY && (memchr(s, '*', len) != NULL || memchr(s, '>', len) != NULL)) {
        err = "a key must not contain '*' or '>' (wildcards belong in filters)";
        goto fail;
    }

    size_t tokens = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '.')
            continue;
        size_t tok_len = i - start;
        const char *tok = s + start;
        if (tok_len == 0) {
            err = rule(k, "a key has no empty token (no leading or trailing '.', no '..')",
                       "a filter has no empty token (no leading or trailing '.', no '..')");
            goto fail;
        }
        if (++tokens > SQ_KEY_MAX_TOKENS) {
            err = rule(k, "a key has at most 16 tokens separated by '.'",
                       "a filter has at most 16 tokens separated by '.'");
            goto fail;
        }
        /* Only filters get here with wildcards: a wildcard must be the whole token. */
        if (tok_len > 1 && (memchr(tok, '*', tok_len) || memchr(tok, '>', tok_len))) {
            err = "'*' and '>' must be whole tokens in a filter (e.g. 'orders.*', not "
                  "'orders.ab*')";
            goto fail;
        }
        if (tok_len == 1 && tok[0] == '>' && i != len) {
            err = "'>' is allowed only as the last token of a filter";
            goto fail;
        }
        start = i + 1;
    }
    return SQ_OK;

fail:
    if (why != NULL)
        *why = err;
    return SQ_ERR;
}

int sq_key_validate(const char *key, size_t len, const char **why)
{
    return validate(KIND_KEY, key, len, why);
}

int sq_filter_validate(const char *filter, size_t len, const char **why)
{
    return validate(KIND_FILTER, filter, len, why);
}

/* Length of the token starting at s[pos], within n bytes. */
static size_t token_len(const char *s, size_t n, size_t pos)
{
    const char *dot = memchr(s + pos, '.', n - pos);
    return dot ? (size_t)(dot - (s + pos)) : n - pos;
}

bool sq_filter_match(const char *filter, size_t flen, const char *key, size_t klen)
{
    size_t fi = 0, ki = 0;
    while (fi < flen && ki < klen) {
        size_t ft = token_len(filter, flen, fi);
        size_t kt = token_len(key, klen, ki);
        if (ft == 1 && filter[fi] == '>')
            return true; /* '>' takes this token and all after it: one or more */
        if (!(ft == 1 && filter[fi] == '*') && (ft != kt || memcmp(filter + fi, key + ki, ft)))
            return false;
        fi += ft + 1;
        ki += kt + 1;
    }
    /* Both must end together; "fi >= flen" also covers a trailing separator position. */
    return fi >= flen && ki >= klen;
}

bool sq_filter_is_literal(const char *filter, size_t len)
{
    return memchr(filter, '*', len) == NULL && memchr(filter, '>', len) == NULL;
}

bool sq_name_is_valid(const char *name, size_t len)
{
    if (len == 0 || len > SQ_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}
