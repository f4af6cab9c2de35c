/* Test helper: reads a case file, the rows of a table-driven test kept as text in
 * test/unit/cases/, so that a request, a JSON document or a command line reads as it is sent,
 * without the quoting a C string adds. Include after <cmocka.h>.
 *
 * A record is a line that starts with a non-blank, with the lines below it that start with a
 * blank. Empty lines are skipped, and a '#' where a word would start comments out the rest of
 * the line. A record is split into words as a shell splits them: blanks separate words;
 * 'single quotes' keep every byte up to the next quote; "double quotes" read C's escapes
 * (\\ \" \' \$ \0 \a \b \f \n \r \t \v, and \xHH with exactly two hex digits), and a backslash
 * at the end of a line inside them joins the next line without its leading blanks; any other
 * byte stands for itself; pieces written next to each other make one word (key="a b" is the
 * word `key=a b`). A record that is one word NAME=VALUE, NAME in capitals, is no case: it
 * defines $NAME (or ${NAME}), which the words below it outside single quotes read as VALUE; a
 * test may define NAMEs for its file too (case_file_load_defs). */
#ifndef SEQUIN_TEST_CASE_FILE_H
#define SEQUIN_TEST_CASE_FILE_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sequin/buf.h"
#include "sequin/text.h"

/* A word's bytes, followed by a NUL that is not counted (a word may hold NULs of its own). */
typedef struct case_word {
    const char *p;
    size_t len;
} case_word;

/* A record: where it starts, as "NAME:LINE" for failure messages, and its words. */
typedef struct case_row {
    char where[96];
    size_t n;
    const case_word *w;
} case_row;

typedef struct case_file {
    case_row *rows;
    size_t n;
    case_word *words; /* every row's words, one row after another */
    char *bytes;      /* the words' bytes */
} case_file;

/* A name and what it stands for: a phrase a case file names (an error message, say), or a
 * definition that a test gives its case file. */
typedef struct case_name {
    const char *name;
    const char *phrase;
} case_name;

/* The reader's state while it splits a file. Words and definitions are offsets into `out`
 * until the end, as `out` moves when it grows. */
typedef struct case_split {
    const char *s;
    size_t len, i;
    int line;
    sq_buf out;
    size_t *word_at; /* each word's offset in out; its length is in words[] */
    size_t nwords, cap_words;
    size_t *first; /* each row's first word */
    size_t cap_rows;
    bool defining; /* the record being read is NAME=VALUE */
    struct {
        size_t at, name_len, value_len; /* "NAME=VALUE" at `at` in out */
    } defs[32];
    size_t ndefs;
} case_split;

/* Where test/unit/cases/NAME is: under $SQ_SRCDIR, which "make check" sets, or else under the
 * current directory. */
static inline void case_file_path(char *buf, size_t size, const char *name)
{
    const char *dir = getenv("SQ_SRCDIR");
    snprintf(buf, size, "%s/test/unit/cases/%s", dir != NULL && dir[0] != '\0' ? dir : ".", name);
}

static inline void case_put(case_split *p, const void *bytes, size_t n)
{
    if (sq_buf_append(&p->out, bytes, n) != 0)
        abort();
}

static inline bool case_name_byte(char c, bool first)
{
    return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (!first && c >= '0' && c <= '9');
}

/* Reads $NAME or ${NAME} at p->i (on the '$') and appends its value; a '$' that names nothing
 * stands for itself. Returns NULL, or what is wrong. */
static inline const char *case_expand(case_split *p)
{
    const char *s = p->s;
    size_t i = p->i + 1, from, to;
    bool braced = i < p->len && s[i] == '{';

    from = i + braced;
    for (to = from; to < p->len && case_name_byte(s[to], to == from); to++)
        ;
    if (to == from) {
        case_put(p, "$", 1);
        p->i++;
        return NULL;
    }
    if (braced && (to == p->len || s[to] != '}'))
        return "${ without its }";
    for (size_t d = p->ndefs; d-- > 0;) {
        const char *def = p->out.data + p->defs[d].at;
        if (p->defs[d].name_len == to - from && memcmp(def, s + from, to - from) == 0) {
            /* The value is copied from a place that may move: through an offset. */
            size_t at = p->defs[d].at + p->defs[d].name_len + 1, n = p->defs[d].value_len;
            if (sq_buf_reserve(&p->out, n) != 0)
                abort();
            case_put(p, p->out.data + at, n);
            p->i = to + braced;
            return NULL;
        }
    }
    return "a $NAME that no NAME=VALUE above defines";
}

/* Reads the double-quoted piece whose quote is at p->i. Returns NULL, or what is wrong. */
static inline const char *case_quoted(case_split *p)
{
    static const char plain[] = "\\\\\"\"''$$0\0a\ab\bf\fn\nr\rt\tv\v";
    const char *s = p->s;

    for (p->i++;;) {
        if (p->i == p->len || s[p->i] == '\n')
            return "a double quote is not closed on its line";
        char c = s[p->i];
        if (c == '"') {
            p->i++;
            return NULL;
        }
        if (c == '$') {
            const char *why = case_expand(p);
            if (why != NULL)
                return why;
            continue;
        }
        p->i++;
        if (c != '\\') {
            case_put(p, &c, 1);
            continue;
        }
        if (p->i == p->len)
            return "a backslash ends the file";
        c = s[p->i++];
        if (c == '\n') {
            p->line++;
            while (p->i < p->len && (s[p->i] == ' ' || s[p->i] == '\t'))
                p->i++;
            continue;
        }
        if (c == 'x') {
            int hi = p->i < p->len ? sq_hex_digit((unsigned char)s[p->i]) : -1;
            int lo = p->i + 1 < p->len ? sq_hex_digit((unsigned char)s[p->i + 1]) : -1;
            if (hi < 0 || lo < 0)
                return "\\x needs two hex digits";
            char b = (char)(hi * 16 + lo);
            case_put(p, &b, 1);
            p->i += 2;
            continue;
        }
        if (c == '0' && p->i < p->len && s[p->i] >= '0' && s[p->i] <= '9')
            return "\\0 followed by a digit: write \\xHH";
        const char *e = NULL;
        for (size_t k = 0; k + 1 < sizeof plain && e == NULL; k += 2)
            e = plain[k] == c ? &plain[k + 1] : NULL;
        if (e == NULL)
            return "an escape that the case files do not have";
        case_put(p, e, 1);
    }
}

/* Reads the word that starts at p->i. Returns NULL, or what is wrong. */
static inline const char *case_word_read(case_split *p)
{
    const char *s = p->s;
    const char *why = NULL;

    while (p->i < p->len && s[p->i] != ' ' && s[p->i] != '\t' && s[p->i] != '\n' && !why) {
        if (s[p->i] == '\'') {
            const char *from = s + p->i + 1, *end = memchr(from, '\'', p->len - p->i - 1);
            const char *nl = memchr(from, '\n', p->len - p->i - 1);
            if (end == NULL || (nl != NULL && nl < end))
                return "a single quote is not closed on its line";
            case_put(p, from, (size_t)(end - from));
            p->i = (size_t)(end - s) + 1;
        } else if (s[p->i] == '"') {
            why = case_quoted(p);
        } else if (s[p->i] == '$') {
            why = case_expand(p);
        } else {
            case_put(p, s + p->i++, 1);
        }
    }
    return why;
}

/* Ends the record being read: a definition leaves the rows and becomes one. Returns NULL, or
 * what is wrong. */
static inline const char *case_record_end(case_split *p, case_file *f)
{
    if (!p->defining)
        return NULL;
    p->defining = false;
    f->n--;
    if (p->nwords - p->first[f->n] != 1)
        return "NAME=VALUE must be one word";
    if (p->ndefs == SQ_ARRAY_LEN(p->defs))
        return "too many definitions";
    /* The word stays in `out`, where the definition points. */
    p->nwords--;
    size_t at = p->word_at[p->nwords], len = f->words[p->nwords].len;
    size_t name_len = (size_t)((const char *)memchr(p->out.data + at, '=', len) - p->out.data - at);
    p->defs[p->ndefs].at = at;
    p->defs[p->ndefs].name_len = name_len;
    p->defs[p->ndefs].value_len = len - name_len - 1;
    p->ndefs++;
    return NULL;
}

/* Starts a record at p->i, at the start of a line. */
static inline void case_record_start(case_split *p, case_file *f, const char *name)
{
    if (f->n == p->cap_rows) {
        p->cap_rows = p->cap_rows ? 2 * p->cap_rows : 64;
        f->rows = realloc(f->rows, p->cap_rows * sizeof *f->rows);
        p->first = realloc(p->first, p->cap_rows * sizeof *p->first);
        if (f->rows == NULL || p->first == NULL)
            abort();
    }
    snprintf(f->rows[f->n].where, sizeof f->rows[f->n].where, "%s:%d", name, p->line);
    p->first[f->n++] = p->nwords;
    /* NAME=VALUE: capitals, digits and '_', then '='. */
    size_t k = p->i;
    while (k < p->len && (p->s[k] == '_' || (p->s[k] >= 'A' && p->s[k] <= 'Z') ||
                          (k > p->i && p->s[k] >= '0' && p->s[k] <= '9')))
        k++;
    p->defining = k > p->i && k < p->len && p->s[k] == '=';
}

/* Splits `len` bytes of file text into `f`; returns NULL, or what is wrong at line `*line`. */
static inline const char *case_file_split(case_file *f, const char *name, const char *s, size_t len,
                                          const case_name *defs, size_t ndefs, int *line)
{
    case_split p = {.s = s, .len = len, .line = 1};
    const char *why = NULL;

    *f = (case_file){0};
    if (ndefs > SQ_ARRAY_LEN(p.defs))
        return "too many definitions";
    for (; p.ndefs < ndefs; p.ndefs++) {
        p.defs[p.ndefs].at = p.out.len;
        p.defs[p.ndefs].name_len = strlen(defs[p.ndefs].name);
        p.defs[p.ndefs].value_len = strlen(defs[p.ndefs].phrase);
        case_put(&p, defs[p.ndefs].name, p.defs[p.ndefs].name_len);
        case_put(&p, "=", 1);
        case_put(&p, defs[p.ndefs].phrase, p.defs[p.ndefs].value_len);
    }
    while (p.i < len && why == NULL) {
        bool at_line_start = p.i == 0 || s[p.i - 1] == '\n';
        char c = s[p.i];
        if (c == '\n') {
            p.line++;
            p.i++;
        } else if (c == ' ' || c == '\t') {
            p.i++;
        } else if (c == '#') {
            while (p.i < len && s[p.i] != '\n')
                p.i++;
        } else if (!at_line_start && f->n == 0) {
            why = "a continuation line before the first record";
        } else {
            if (at_line_start && (why = case_record_end(&p, f)) == NULL)
                case_record_start(&p, f, name);
            if (p.nwords == p.cap_words) {
                p.cap_words = p.cap_words ? 2 * p.cap_words : 256;
                f->words = realloc(f->words, p.cap_words * sizeof *f->words);
                p.word_at = realloc(p.word_at, p.cap_words * sizeof *p.word_at);
                if (f->words == NULL || p.word_at == NULL)
                    abort();
            }
            size_t at = p.out.len;
            if (why == NULL)
                why = case_word_read(&p);
            p.word_at[p.nwords] = at;
            f->words[p.nwords++].len = p.out.len - at;
            case_put(&p, "", 1);
        }
    }
    if (why == NULL)
        why = case_record_end(&p, f);
    *line = p.line;
    f->bytes = p.out.data;
    for (size_t k = 0; k < p.nwords; k++)
        f->words[k].p = f->bytes + p.word_at[k];
    for (size_t r = 0; r < f->n; r++) {
        f->rows[r].w = f->words + p.first[r];
        f->rows[r].n = (r + 1 < f->n ? p.first[r + 1] : p.nwords) - p.first[r];
    }
    free(p.first);
    free(p.word_at);
    return why;
}

/* Reads test/unit/cases/NAME into `f`, with $NAME defined for each of the `ndefs` names of
 * `defs` (their phrases are the values); fails the test when the file cannot be read or is not
 * written as above. Release with case_file_free. */
static inline void case_file_load_defs(case_file *f, const char *name, const case_name *defs,
                                       size_t ndefs)
{
    char path[4096];
    case_file_path(path, sizeof path, name);
    FILE *in = fopen(path, "rb");
    if (in == NULL)
        fail_msg("%s: %s (make check sets SQ_SRCDIR to the source tree)", path, strerror(errno));
    sq_buf text = {0};
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, in)) > 0) {
        if (sq_buf_append(&text, chunk, got) != 0)
            abort();
    }
    fclose(in);
    int line = 0;
    const char *why = case_file_split(f, name, text.data, text.len, defs, ndefs, &line);
    sq_buf_free(&text);
    if (why != NULL)
        fail_msg("%s:%d: %s", path, line, why);
}

/* case_file_load_defs without definitions from the test. */
static inline void case_file_load(case_file *f, const char *name)
{
    case_file_load_defs(f, name, NULL, 0);
}

static inline void case_file_free(case_file *f)
{
    free(f->rows);
    free(f->words);
    free(f->bytes);
    *f = (case_file){0};
}

/* Reads test/unit/cases/NAME as case_file_load_defs does and calls `check` on each row, with
 * `ctx`; `check` says whether the row was one it checks (a file may hold rows of several
 * kinds, each test checking its own). Returns how many were. */
static inline size_t case_file_each(const char *name, const case_name *defs, size_t ndefs,
                                    bool (*check)(const case_row *r, void *ctx), void *ctx)
{
    case_file f;
    size_t checked = 0;
    case_file_load_defs(&f, name, defs, ndefs);
    for (size_t i = 0; i < f.n; i++)
        checked += check(&f.rows[i], ctx);
    case_file_free(&f);
    return checked;
}

/* Fails the test unless row `r` has from `min` to `max` words. */
static inline void case_words(const case_row *r, size_t min, size_t max)
{
    if (r->n < min || r->n > max)
        fail_msg("%s: %zu words, want %zu to %zu", r->where, r->n, min, max);
}

/* Word `i` of `r` as a decimal integer; fails the test when it is not one. */
static inline long case_long(const case_row *r, size_t i)
{
    char *end;
    errno = 0;
    long v = strtol(r->w[i].p, &end, 10);
    if (r->w[i].len == 0 || *end != '\0' || errno != 0)
        fail_msg("%s: word %zu \"%s\" is not a number", r->where, i + 1, r->w[i].p);
    return v;
}

/* The phrase that word `i` of `r` names in `names` (`n` of them); fails the test on a name that
 * is not there. */
static inline const char *case_phrase(const case_row *r, size_t i, const case_name *names, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        if (strcmp(names[k].name, r->w[i].p) == 0)
            return names[k].phrase;
    }
    fail_msg("%s: unknown name \"%s\"", r->where, r->w[i].p);
    return NULL;
}

#endif
