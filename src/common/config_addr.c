/* Listen addresses and API tokens in the configuration file: host:port and [v6]:port parsed
 * and checked, token names checked and their SHA-256 digests read from hex. */
#include "config_internal.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sequin/sha256.h"
#include "sequin/text.h"

/* ---- listen ---------------------------------------------------------------------------- */

static bool is_hostname(const char *s, size_t len)
{
    size_t label = 0;

    if (len == 0 || len > 253)
        return false;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            if (label == 0 || label > 63 || s[i - 1] == '-' || s[i - label] == '-')
                return false;
            label = 0;
            continue;
        }
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-'))
            return false;
        label++;
    }
    return true;
}

const char *sq_config_parse_address(const char *s, size_t len, size_t *host_off, size_t *host_len,
                                    int *port, bool *v6)
{
    char buf[64];
    size_t p;

    *v6 = false;
    if (len == 0)
        return "it is empty";
    if (s[0] == '[') {
        const char *rb = memchr(s, ']', len);
        if (rb == NULL)
            return "the '[' of an IPv6 address is not closed by ']'";
        *host_off = 1;
        *host_len = (size_t)(rb - s) - 1;
        *v6 = true;
        if (*host_len == 0 || *host_len >= sizeof buf)
            return "the host in brackets is not an IPv6 address";
        memcpy(buf, s + 1, *host_len);
        buf[*host_len] = '\0';
        struct in6_addr a6;
        if (inet_pton(AF_INET6, buf, &a6) != 1)
            return "the host in brackets is not an IPv6 address";
        p = (size_t)(rb - s) + 1;
        if (p == len)
            return "it has no port (write [ADDRESS]:PORT, e.g. [::1]:7376)";
        if (s[p] != ':')
            return "']' must be followed by ':' and the port";
        p++;
    } else {
        size_t colon = len;
        for (size_t i = len; i > 0; i--) {
            if (s[i - 1] == ':') {
                colon = i - 1;
                break;
            }
        }
        if (colon == len)
            return "it has no port (write HOST:PORT, e.g. 127.0.0.1:7376)";
        if (memchr(s, ':', colon) != NULL)
            return "an IPv6 address must be written in brackets, e.g. [::1]:7376";
        if (colon == 0)
            return "it has no host (0.0.0.0:PORT listens on every IPv4 address)";
        *host_off = 0;
        *host_len = colon;
        bool numeric = true;
        for (size_t i = 0; i < colon; i++)
            numeric = numeric && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.');
        if (numeric) {
            struct in_addr a4;
            if (colon >= sizeof buf)
                return "the host is not a valid IPv4 address";
            memcpy(buf, s, colon);
            buf[colon] = '\0';
            if (inet_pton(AF_INET, buf, &a4) != 1)
                return "the host is not a valid IPv4 address";
        } else if (!is_hostname(s, colon)) {
            return "the host is not an IPv4 address, a hostname or a bracketed IPv6 address";
        }
        p = colon + 1;
    }
    if (len - p == 0 || len - p > 5 || s[p] == '0')
        return "the port must be an integer 1..65535";
    int v = 0;
    for (size_t i = p; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return "the port must be an integer 1..65535";
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > 65535)
        return "the port must be an integer 1..65535";
    *port = v;
    return NULL;
}

int sq_config_apply_listen(sq_config_loader *ld, const sq_config_option *opt,
                           const sq_config_node *v, void *base)
{
    sq_config_listen_list *list = sq_config_field(base, opt);
    char q[SQ_CONFIG_QBUF];
    const sq_config_node *first = v;
    size_t n = 1;

    if (v->kind == SQ_CONFIG_NODE_SEQ) {
        first = v->child;
        n = v->count;
    } else if (v->kind != SQ_CONFIG_NODE_SCALAR) {
        return sq_config_fail_node(ld, v, "\"%s\" must be host:port or a list of them, got %s",
                                   opt->name, sq_config_describe(q, v));
    }
    if (n == 0 || sq_config_is_null(v))
        return sq_config_fail_node(ld, v, "\"%s\" must name at least one host:port", opt->name);

    sq_config_listen *items = sq_arena_calloc(&ld->cfg->arena, n, sizeof *items);
    if (items == NULL)
        return sq_config_out_of_memory(ld);
    size_t i = 0;
    for (const sq_config_node *e = first; e != NULL && i < n; e = e->next, i++) {
        size_t off = 0, hlen = 0;
        int port = 0;
        bool v6 = false;
        const char *why;

        if (e->kind != SQ_CONFIG_NODE_SCALAR || sq_config_is_null(e))
            return sq_config_fail_node(ld, e, "each \"%s\" entry must be host:port, got %s",
                                       opt->name, sq_config_describe(q, e));
        why = sq_config_parse_address(e->text, e->len, &off, &hlen, &port, &v6);
        if (why != NULL)
            return sq_config_fail_node(ld, e, "\"%s\" address %s is invalid: %s", opt->name,
                                       sq_config_quote(q, e->text, e->len), why);
        items[i].address = sq_arena_strndup(&ld->cfg->arena, e->text, e->len);
        items[i].host = sq_arena_strndup(&ld->cfg->arena, e->text + off, hlen);
        if (items[i].address == NULL || items[i].host == NULL)
            return sq_config_out_of_memory(ld);
        items[i].port = port;
        items[i].ipv6 = v6;
        items[i].line = e->line;
        items[i].column = e->col;
        for (size_t j = 0; j < i; j++) {
            if (items[j].port == port && strcasecmp(items[j].host, items[i].host) == 0)
                return sq_config_fail_node(
                    ld, e, "duplicate \"%s\" address %s (first defined at line %d)", opt->name,
                    sq_config_quote(q, e->text, e->len), items[j].line);
        }
    }
    list->items = items;
    list->count = n;
    return 0;
}

/* ---- auth.tokens ----------------------------------------------------------------------- */

bool sq_config_parse_sha256(const char *s, size_t len, unsigned char sha256[SQ_SHA256_LEN],
                            char hex[2 * SQ_SHA256_LEN + 1])
{
    if (len != 2 * SQ_SHA256_LEN)
        return false;
    for (size_t k = 0; k < len; k++) {
        if (sq_hex_digit((unsigned char)s[k]) < 0)
            return false;
    }
    for (size_t k = 0; k < SQ_SHA256_LEN; k++)
        sha256[k] = (unsigned char)(sq_hex_digit((unsigned char)s[2 * k]) << 4 |
                                    sq_hex_digit((unsigned char)s[2 * k + 1]));
    sq_sha256_hex(sha256, hex);
    return true;
}

int sq_config_apply_tokens(sq_config_loader *ld, const sq_config_option *opt,
                           const sq_config_node *v, void *base)
{
    static const sq_config_key keys[] = {{"name", NULL}, {"sha256", NULL}};
    sq_config_token_list *list = sq_config_field(base, opt);
    char q[SQ_CONFIG_QBUF], q2[SQ_CONFIG_QBUF], where[64];

    if (sq_config_is_null(v)) {
        list->items = NULL;
        list->count = 0;
        return 0;
    }
    if (v->kind != SQ_CONFIG_NODE_SEQ)
        return sq_config_fail_node(ld, v, "\"%s\" must be a list of {name, sha256}, got %s",
                                   opt->name, sq_config_describe(q, v));
    snprintf(where, sizeof where, "in a token of \"%s\"", opt->name);
    sq_config_token *items = sq_arena_calloc(&ld->cfg->arena, v->count, sizeof *items);
    int *lines = sq_arena_calloc(&ld->tmp, v->count, sizeof *lines);
    if (items == NULL || lines == NULL)
        return sq_config_out_of_memory(ld);

    size_t i = 0;
    for (const sq_config_node *e = v->child; e != NULL; e = e->next, i++) {
        const sq_config_node *vals[2];
        sq_config_token *t = &items[i];

        if (e->kind != SQ_CONFIG_NODE_MAP)
            return sq_config_fail_node(ld, e,
                                       "each entry of \"%s\" must be a mapping {name, sha256}, "
                                       "got %s",
                                       opt->name, sq_config_describe(q, e));
        if (sq_config_collect(ld, e, keys, 2, vals, where) != 0)
            return -1;
        for (size_t k = 0; k < 2; k++) {
            if (vals[k] == NULL)
                return sq_config_fail_node(ld, e,
                                           "a token of \"%s\" is missing the required key \"%s\"",
                                           opt->name, keys[k].name);
        }
        const sq_config_node *nm = vals[0], *dg = vals[1];
        bool name_ok = nm->kind == SQ_CONFIG_NODE_SCALAR && !sq_config_is_null(nm) && nm->len > 0 &&
                       nm->len <= SQ_CONFIG_TOKEN_NAME_MAX;
        for (size_t k = 0; name_ok && k < nm->len; k++)
            name_ok = nm->text[k] >= 0x20 && nm->text[k] <= 0x7e;
        if (!name_ok)
            return sq_config_fail_node(ld, nm,
                                       "the name of a token must be 1..%d printable ASCII "
                                       "characters, got %s",
                                       SQ_CONFIG_TOKEN_NAME_MAX, sq_config_describe(q, nm));
        lines[i] = nm->line;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(items[j].name, nm->text) == 0)
                return sq_config_fail_node(ld, nm,
                                           "duplicate token name %s (first defined at line %d)",
                                           sq_config_quote(q, nm->text, nm->len), lines[j]);
        }
        t->name = sq_arena_strndup(&ld->cfg->arena, nm->text, nm->len);
        if (t->name == NULL)
            return sq_config_out_of_memory(ld);

        if (dg->kind != SQ_CONFIG_NODE_SCALAR ||
            !sq_config_parse_sha256(dg->text, dg->len, t->sha256, t->sha256_hex))
            return sq_config_fail_node(ld, dg,
                                       "the sha256 of token %s must be exactly 64 hexadecimal "
                                       "digits (sequind --hash-token prints it), got %s",
                                       sq_config_quote(q, nm->text, nm->len),
                                       sq_config_describe(q2, dg));
        /* Two names for one secret would make the name logged for a request a coin toss. */
        for (size_t j = 0; j < i; j++) {
            if (memcmp(items[j].sha256, t->sha256, sizeof t->sha256) == 0)
                return sq_config_fail_node(
                    ld, dg, "token %s has the same sha256 as token \"%s\" (line %d)",
                    sq_config_quote(q, nm->text, nm->len), items[j].name, lines[j]);
        }
    }
    list->items = items;
    list->count = v->count;
    return 0;
}
