/* What the pieces of the config loader share and nothing outside them may use, but for
 * test_config_addr.c, which calls the address and digest parsers (sq_config_parse_address,
 * sq_config_parse_sha256) on their own: the YAML document as a tree of placed nodes, the
 * loader's state, and the errors that name a place. */
#ifndef SEQUIN_CONFIG_INTERNAL_H
#define SEQUIN_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "sequin/buf.h"
#include "sequin/common.h"
#include "sequin/config.h"
#include "sequin/sha256.h"

/*
 * Bounds of the option tables, for the loader's arrays on the stack: the top-level table has
 * at most SQ_CONFIG_OPTIONS_MAX rows, and any mapping below it (a consumer, a token, a
 * stream) at most SQ_CONFIG_KEYS_MAX keys. config_options.c checks both at compile time.
 */
#define SQ_CONFIG_OPTIONS_MAX 32
#define SQ_CONFIG_KEYS_MAX 16

/* Longest user text quoted back in an error message, and the buffer sq_config_quote needs. */
#define SQ_CONFIG_QUOTE_MAX 60
#define SQ_CONFIG_QBUF (SQ_CONFIG_QUOTE_MAX * 4 + 8)

typedef enum sq_config_node_kind {
    SQ_CONFIG_NODE_SCALAR,
    SQ_CONFIG_NODE_SEQ,
    SQ_CONFIG_NODE_MAP,
} sq_config_node_kind;

/*
 * libyaml's events turned into a tree, because several checks need to look ahead (a stream's
 * name may come after its consumers) and back (duplicates name the first definition's line).
 * A mapping's children alternate key, value.
 */
typedef struct sq_config_node {
    sq_config_node_kind kind;
    bool plain; /* a scalar written without quotes: only those can be numbers, booleans, null */
    int line;   /* 1-based */
    int col;
    const char *text; /* scalar, NUL-terminated and free of NUL bytes */
    size_t len;
    size_t count; /* children */
    struct sq_config_node *child;
    struct sq_config_node *last;
    struct sq_config_node *next;
} sq_config_node;

/* One load in progress: the text being applied, where errors go, what is being built. */
typedef struct sq_config_loader {
    const char *name; /* for error messages */
    const char *data; /* the text being parsed, to place libyaml's reader errors */
    size_t len;
    sq_config_error *err;
    sq_config *cfg;
    sq_arena tmp;                        /* the tree of the document being applied */
    int pos_line[SQ_CONFIG_OPTIONS_MAX]; /* where the file set each option (0: it did not) */
    int pos_col[SQ_CONFIG_OPTIONS_MAX];
} sq_config_loader;

/* A key a mapping accepts; `opt` is NULL for sections and for keys handled by hand. */
typedef struct sq_config_key {
    const char *name;
    const sq_config_option *opt;
} sq_config_key;

/* ---- config_yaml.c: the document and its placed errors -------------------------------------- */

/* Parses ld->data (ld->len bytes) into a tree in ld->tmp. 0 with *root NULL for a text without
 * a document; -1 with ld->err filled (syntax, anchors, aliases, tags, NUL, nesting, ENOMEM). */
SQ_WUR int sq_config_yaml_parse(sq_config_loader *ld, sq_config_node **root);

/* Fills ld->err with ld->name, the place (0, 0 for none) and the message; returns -1. */
SQ_PRINTF(4, 5)
int sq_config_fail_at(sq_config_loader *ld, int line, int col, const char *fmt, ...);
#define sq_config_fail_node(ld, n, ...) sq_config_fail_at((ld), (n)->line, (n)->col, __VA_ARGS__)

/* sq_config_fail_at with no place and "out of memory"; returns -1. */
int sq_config_out_of_memory(sq_config_loader *ld);

/* Writes `s` double-quoted and escaped, shortened past SQ_CONFIG_QUOTE_MAX characters, so that
 * any bytes from the file can be shown in a one-line message. Returns buf (SQ_CONFIG_QBUF
 * bytes). */
const char *sq_config_quote(char *buf, const char *s, size_t len);

/* True for a plain scalar YAML reads as null: empty, "~", "null", "Null", "NULL". */
bool sq_config_is_null(const sq_config_node *n);

/* What a node is, for "got ..." at the end of a message; may use buf (SQ_CONFIG_QBUF bytes). */
const char *sq_config_describe(char *buf, const sq_config_node *n);

/*
 * Returns the index in `allowed` of the key node `k`, or -1 after reporting an unknown key
 * (with the key probably meant), a duplicate (seen[] holds the line of each key met so far, 0
 * if none) or a non-scalar key. `where` ends the messages: "in a stream".
 */
int sq_config_match_key(sq_config_loader *ld, const sq_config_node *k, const sq_config_key *allowed,
                        size_t n, int *seen, const char *where);

/* Checks every key of mapping `m` (n <= SQ_CONFIG_KEYS_MAX) and stores each value node in
 * vals[] (NULL if absent). 0, or -1 with ld->err filled. */
SQ_WUR int sq_config_collect(sq_config_loader *ld, const sq_config_node *m,
                             const sq_config_key *allowed, size_t n, const sq_config_node **vals,
                             const char *where);

/* ---- config_addr.c: listen addresses and tokens ---------------------------------------------- */

/*
 * Splits "host:port" or "[v6]:port" (`len` bytes at `s`) into the host (offset and length in
 * s, without brackets) and the port 1..65535, *v6 telling whether the host was bracketed.
 * Returns NULL, or the rule the address breaks as a static phrase ("it has no port (...)").
 */
const char *sq_config_parse_address(const char *s, size_t len, size_t *host_off, size_t *host_len,
                                    int *port, bool *v6);

/* Reads a token's digest: exactly 64 hexadecimal digits (`len` bytes at `s`, either case) into
 * the 32 bytes and the lower-case hex of sq_config_token. False, writing nothing, otherwise. */
bool sq_config_parse_sha256(const char *s, size_t len, unsigned char sha256[SQ_SHA256_LEN],
                            char hex[2 * SQ_SHA256_LEN + 1]);

/* Stores option `opt` (SQ_CONFIG_LISTEN, SQ_CONFIG_TOKENS) from node `v` into `base`, in
 * ld->cfg's arena. 0, or -1 with ld->err filled. */
SQ_WUR int sq_config_apply_listen(sq_config_loader *ld, const sq_config_option *opt,
                                  const sq_config_node *v, void *base);
SQ_WUR int sq_config_apply_tokens(sq_config_loader *ld, const sq_config_option *opt,
                                  const sq_config_node *v, void *base);

/* ---- config_options.c: the table ----------------------------------------------------------- */

/* Appends the built-in defaults as a YAML document generated from the table. 0, or -1 on
 * ENOMEM. */
SQ_WUR int sq_config_defaults_text(sq_buf *b);

/* Where option `opt` lands in `base` (an sq_config, or an sq_config_consumer for the consumer
 * keys). */
static inline void *sq_config_field(void *base, const sq_config_option *opt)
{
    return (char *)base + opt->offset;
}

#endif
