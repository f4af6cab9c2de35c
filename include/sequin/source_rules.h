/* The rules of a postgres source's settings (SPEC section 8), in one place for the two readers
 * of them: the settings JSON (src/source/settings.c, which the store and the API hold) and the
 * config file's `sources:` (src/common/config.c), so that both accept exactly the same sources. */
#ifndef SEQUIN_SOURCE_RULES_H
#define SEQUIN_SOURCE_RULES_H

#include <stddef.h>

#include "sequin/buf.h"
#include "sequin/json.h"

/* The defaults of the settings that have one. */
#define SQ_SOURCE_DEFAULT_SLOT "sequin_slot"
#define SQ_SOURCE_DEFAULT_PUBLICATION "sequin_pub"
#define SQ_SOURCE_DEFAULT_KEY_FORMAT "basic"

/* Most tables one source may list. */
#define SQ_SOURCE_TABLES_MAX 256

/* The key formats' words, NULL-terminated, indexed by sq_key_format (sequin/change.h):
 * "basic", "with_operation". */
extern const char *const sq_source_rules_key_formats[];

/*
 * Each checks one setting's value, `len` bytes at `s`, and returns NULL when it is valid, or
 * else the rule it breaks as a static phrase that follows the setting's name in a message
 * ("slot \"X\" is not [a-z0-9_]+ (at most 63 characters)"):
 *   url          not empty;
 *   slot         [a-z0-9_]{1,63}, PostgreSQL's own rule for a replication slot's name;
 *   publication  [a-zA-Z0-9_]{1,63} (a PostgreSQL identifier that needs no quoting).
 */
const char *sq_source_rules_url(const char *s, size_t len);
const char *sq_source_rules_slot(const char *s, size_t len);
const char *sq_source_rules_publication(const char *s, size_t len);

/*
 * Checks table name `s` (`len` bytes), "schema.table" or "table" (schema public), each part
 * [a-zA-Z0-9_]{1,63}, as the next of a list whose tables so far are the `count` canonical
 * names at `tables`. A valid name's canonical form, "schema.table", goes to *canonical (in
 * `arena`), even when it is listed already. Returns NULL when the name is valid and new, or
 * the rule it breaks as a static phrase ("is listed twice"); on ENOMEM, "cannot be stored: out
 * of memory".
 */
const char *sq_source_rules_table(const char *s, size_t len, const char *const *tables,
                                  size_t count, sq_arena *arena, const char **canonical);

/*
 * Parses a source's settings JSON (`len` bytes, nested at most `depth` deep) into `doc` and
 * checks it is an object whose members are all among the `n` names at `known`: what both kinds'
 * settings readers (postgres, webhook) begin with. 0, or -1 with "settings: ..." in `err`
 * (`doc` may hold tokens either way: free it).
 */
SQ_WUR int sq_source_rules_settings_parse(sq_json *doc, const char *json, size_t len, int depth,
                                          const char *const *known, size_t n, char *err,
                                          size_t errlen);

#endif
