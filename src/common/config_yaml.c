/* The YAML reader of the configuration file, the only user of libyaml: the document as a tree
 * of nodes that know their line and column, the errors that name those places, and the keys
 * of a mapping checked against the ones it accepts. */
#include "config_internal.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

/* Only five levels are meaningful (top, streams, stream, consumers, consumer); the cap keeps
 * a hostile file from building an arbitrarily deep tree. */
#define MAX_DEPTH 16

/* ---- errors ---------------------------------------------------------------------------- */

int sq_config_fail_at(sq_config_loader *ld, int line, int col, const char *fmt, ...)
{
    sq_config_error *e = ld->err;
    va_list ap;

    snprintf(e->file, sizeof e->file, "%s", ld->name);
    e->line = line;
    e->column = col;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

int sq_config_out_of_memory(sq_config_loader *ld)
{
    return sq_config_fail_at(ld, 0, 0, "out of memory");
}

const char *sq_config_quote(char *buf, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    buf[o++] = '"';
    for (size_t i = 0; i < len && i < SQ_CONFIG_QUOTE_MAX; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 15];
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o++] = '"';
    if (len > SQ_CONFIG_QUOTE_MAX) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

bool sq_config_is_null(const sq_config_node *n)
{
    if (n->kind != SQ_CONFIG_NODE_SCALAR || !n->plain)
        return false;
    return n->len == 0 || strcmp(n->text, "~") == 0 || strcmp(n->text, "null") == 0 ||
           strcmp(n->text, "Null") == 0 || strcmp(n->text, "NULL") == 0;
}

const char *sq_config_describe(char *buf, const sq_config_node *n)
{
    if (n->kind == SQ_CONFIG_NODE_MAP)
        return "a mapping";
    if (n->kind == SQ_CONFIG_NODE_SEQ)
        return "a sequence";
    if (n->plain && n->len == 0)
        return "nothing (null)";
    return sq_config_quote(buf, n->text, n->len);
}

/* ---- building the tree from libyaml events --------------------------------------------- */

static int syntax_error(sq_config_loader *ld, const yaml_parser_t *p)
{
    size_t line = p->problem_mark.line + 1;
    size_t col = p->problem_mark.column + 1;
    const char *problem = p->problem ? p->problem : "unknown error";

    if (p->error == YAML_MEMORY_ERROR)
        return sq_config_out_of_memory(ld);
    if (p->error == YAML_READER_ERROR) {
        /* The reader reports a byte offset, not a mark: count lines up to it. */
        size_t off = p->problem_offset < ld->len ? p->problem_offset : ld->len;
        line = 1;
        col = 1;
        for (size_t i = 0; i < off; i++) {
            if (ld->data[i] == '\n') {
                line++;
                col = 1;
            } else if (((unsigned char)ld->data[i] & 0xc0) != 0x80) {
                col++;
            }
        }
        if (p->problem_value >= 0)
            return sq_config_fail_at(
                ld, (int)line, (int)col,
                "invalid text: %s (0x%02x); the file must be UTF-8 without control "
                "characters",
                problem, (unsigned)p->problem_value);
        return sq_config_fail_at(ld, (int)line, (int)col, "invalid text: %s", problem);
    }

    /* `listen: [::1]:7376` is the likeliest syntax error of all: '[' opens a YAML list. */
    const char *hint = "";
    const char *s = ld->data;
    const char *end = ld->data + ld->len;
    for (size_t l = 1; l < line && s < end; l++) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        s = nl ? nl + 1 : end;
    }
    const char *eol = memchr(s, '\n', (size_t)(end - s));
    size_t linelen = eol ? (size_t)(eol - s) : (size_t)(end - s);
    if (memmem(s, linelen, "]:", 2) != NULL && memchr(s, '[', linelen) != NULL)
        hint = " (an IPv6 address must be quoted: \"[::1]:7376\")";
    /* `filter: *` and `{filter: >}` are the next likeliest: '*' starts a YAML alias, '>' a
     * folded block. */
    if (memmem(s, linelen, "filter:", 7) != NULL &&
        (memchr(s, '*', linelen) != NULL || memchr(s, '>', linelen) != NULL))
        hint = " (a filter with wildcards must be quoted: filter: \"orders.>\")";

    if (p->context != NULL)
        return sq_config_fail_at(ld, (int)line, (int)col,
                                 "YAML syntax error: %s %s that started at line %zu, column %zu%s",
                                 problem, p->context, p->context_mark.line + 1,
                                 p->context_mark.column + 1, hint);
    return sq_config_fail_at(ld, (int)line, (int)col, "YAML syntax error: %s%s", problem, hint);
}

/* A new tree node at `mark`; reports ENOMEM itself (then NULL). */
static sq_config_node *new_node(sq_config_loader *ld, sq_config_node_kind kind,
                                const yaml_mark_t *mark)
{
    sq_config_node *n = sq_arena_calloc(&ld->tmp, 1, sizeof *n);
    if (n == NULL) {
        sq_config_out_of_memory(ld);
        return NULL;
    }
    n->kind = kind;
    n->line = (int)(mark->line + 1);
    n->col = (int)(mark->column + 1);
    return n;
}

static sq_config_node *new_scalar(sq_config_loader *ld, const yaml_event_t *ev)
{
    sq_config_node *n = new_node(ld, SQ_CONFIG_NODE_SCALAR, &ev->start_mark);
    if (n == NULL)
        return NULL;
    n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    n->len = ev->data.scalar.length;
    n->text = sq_arena_strndup(&ld->tmp, (const char *)ev->data.scalar.value, n->len);
    if (n->text == NULL) {
        sq_config_out_of_memory(ld);
        return NULL;
    }
    return n;
}

/* Anchors and tags are refused: aliases would let a small file expand into a huge tree (and
 * make a value mean two places at once for error messages), and no option needs a tag. */
static int refuse_anchor_tag(sq_config_loader *ld, const yaml_event_t *ev,
                             const yaml_char_t *anchor, const yaml_char_t *tag)
{
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    char q[SQ_CONFIG_QBUF];

    if (anchor != NULL)
        return sq_config_fail_at(ld, line, col,
                                 "anchors (&%.*s) are not supported in the config file",
                                 SQ_CONFIG_QUOTE_MAX, (const char *)anchor);
    if (tag != NULL)
        return sq_config_fail_at(ld, line, col, "tags (%s) are not supported in the config file",
                                 sq_config_quote(q, (const char *)tag, strlen((const char *)tag)));
    return 0;
}

int sq_config_yaml_parse(sq_config_loader *ld, sq_config_node **root)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    bool have_event = false;
    sq_config_node *stack[MAX_DEPTH];
    size_t depth = 0;
    int documents = 0;
    bool done = false;
    int rc = -1;

    *root = NULL;
    if (!yaml_parser_initialize(&parser))
        return sq_config_out_of_memory(ld);
    yaml_parser_set_input_string(&parser, (const unsigned char *)(ld->data ? ld->data : ""),
                                 ld->len);
    while (!done) {
        sq_config_node *n = NULL;
        if (!yaml_parser_parse(&parser, &ev)) {
            syntax_error(ld, &parser);
            goto fail;
        }
        have_event = true;
        int line = (int)ev.start_mark.line + 1, col = (int)ev.start_mark.column + 1;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++documents > 1) {
                sq_config_fail_at(
                    ld, line, col,
                    "a config file holds one YAML document, a second one starts here");
                goto fail;
            }
            break;
        case YAML_ALIAS_EVENT:
            sq_config_fail_at(ld, line, col, "aliases (*%.*s) are not supported in the config file",
                              SQ_CONFIG_QUOTE_MAX, (const char *)ev.data.alias.anchor);
            goto fail;
        case YAML_SCALAR_EVENT:
            if (refuse_anchor_tag(ld, &ev, ev.data.scalar.anchor, ev.data.scalar.tag))
                goto fail;
            if (memchr(ev.data.scalar.value, '\0', ev.data.scalar.length) != NULL) {
                sq_config_fail_at(ld, line, col,
                                  "a NUL character is not allowed in the config file");
                goto fail;
            }
            n = new_scalar(ld, &ev);
            if (n == NULL)
                goto fail;
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
            bool seq = ev.type == YAML_SEQUENCE_START_EVENT;
            if (refuse_anchor_tag(
                    ld, &ev, seq ? ev.data.sequence_start.anchor : ev.data.mapping_start.anchor,
                    seq ? ev.data.sequence_start.tag : ev.data.mapping_start.tag))
                goto fail;
            if (depth == MAX_DEPTH) {
                sq_config_fail_at(ld, line, col, "the config file nests deeper than %d levels",
                                  MAX_DEPTH);
                goto fail;
            }
            n = new_node(ld, seq ? SQ_CONFIG_NODE_SEQ : SQ_CONFIG_NODE_MAP, &ev.start_mark);
            if (n == NULL)
                goto fail;
            break;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--; /* libyaml only emits balanced events */
            break;
        default:
            break;
        }
        if (n != NULL) {
            if (depth == 0) {
                *root = n;
            } else {
                sq_config_node *parent = stack[depth - 1];
                if (parent->last != NULL)
                    parent->last->next = n;
                else
                    parent->child = n;
                parent->last = n;
                parent->count++;
            }
            if (n->kind != SQ_CONFIG_NODE_SCALAR)
                stack[depth++] = n;
        }
        yaml_event_delete(&ev);
        have_event = false;
    }
    rc = 0;
fail:
    if (have_event)
        yaml_event_delete(&ev);
    yaml_parser_delete(&parser);
    return rc;
}

/* ---- keys of a mapping ----------------------------------------------------------------- */

/* Edit distance, to suggest the key that was probably meant; long inputs are not compared. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t row[65];

    if (la > 64 || lb > 64)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

int sq_config_match_key(sq_config_loader *ld, const sq_config_node *k, const sq_config_key *allowed,
                        size_t n, int *seen, const char *where)
{
    char q[SQ_CONFIG_QBUF], q2[SQ_CONFIG_QBUF];

    if (k->kind != SQ_CONFIG_NODE_SCALAR)
        return sq_config_fail_node(ld, k, "a key must be a word, got %s %s",
                                   sq_config_describe(q, k), where);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(k->text, allowed[i].name) != 0)
            continue;
        if (seen[i] != 0)
            return sq_config_fail_node(ld, k, "duplicate key %s %s (first defined at line %d)",
                                       sq_config_quote(q, k->text, k->len), where, seen[i]);
        seen[i] = k->line;
        return (int)i;
    }

    const sq_config_option *dotted = sq_config_option_find(k->text);
    if (dotted != NULL && dotted->section != NULL)
        return sq_config_fail_node(ld, k, "unknown key %s %s (write it nested: %s: {%s: ...})",
                                   sq_config_quote(q, k->text, k->len), where, dotted->section,
                                   dotted->key);
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        size_t d = distance(k->text, allowed[i].name);
        size_t limit = strlen(allowed[i].name) / 3;
        if (d <= (limit < 1 ? 1 : limit) && d < best_d) {
            best = allowed[i].name;
            best_d = d;
        }
    }
    if (best != NULL)
        return sq_config_fail_node(ld, k, "unknown key %s %s (did you mean %s?)",
                                   sq_config_quote(q, k->text, k->len), where,
                                   sq_config_quote(q2, best, strlen(best)));
    return sq_config_fail_node(ld, k, "unknown key %s %s", sq_config_quote(q, k->text, k->len),
                               where);
}

int sq_config_collect(sq_config_loader *ld, const sq_config_node *m, const sq_config_key *allowed,
                      size_t n, const sq_config_node **vals, const char *where)
{
    int seen[SQ_CONFIG_KEYS_MAX] = {0};

    if (n > SQ_ARRAY_LEN(seen))
        return sq_config_fail_node(ld, m, "internal error: too many keys for %s", where);
    for (size_t i = 0; i < n; i++)
        vals[i] = NULL;
    for (const sq_config_node *k = m->child; k != NULL; k = k->next->next) {
        int idx = sq_config_match_key(ld, k, allowed, n, seen, where);
        if (idx < 0)
            return -1;
        vals[idx] = k->next;
    }
    return 0;
}
