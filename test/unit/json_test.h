/* Test helper for the JSON module's tests: a document parsed from a copy that ends at a guard
 * page, and its tokens' text compared. Include after <cmocka.h>. */
#ifndef SEQUIN_TEST_JSON_TEST_H
#define SEQUIN_TEST_JSON_TEST_H

#include <string.h>

#include "guard.h"
#include "sequin/json.h"

/* Parses `len` bytes of `text` from a copy in `g` into `doc` with the default limits; fails the
 * test, naming the error, when they are refused. Release with parsed_free. */
static inline void parse_guarded(guarded *g, sq_json *doc, const char *text, size_t len)
{
    sq_json_error err;
    const char *in = guarded_copy(g, text, len);
    if (sq_json_parse(doc, in, len, 0, &err) != 0)
        fail_msg("<<%.*s>> refused: %s", (int)len, text, err.text);
}

static inline void parsed_free(guarded *g, sq_json *doc)
{
    sq_json_free(doc);
    guarded_free(g);
}

/* Token `tok` of `doc` exists and its JSON text is exactly `want`. */
static inline void assert_raw(const sq_json *doc, int tok, const char *want)
{
    const char *raw;
    size_t len;
    assert_int_equal(sq_json_raw(doc, tok, &raw, &len), 0);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(raw, want, len);
}

#endif
