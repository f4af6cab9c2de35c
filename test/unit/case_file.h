/* Test helper: reads a case file, the rows of a table-driven test kept as text in
 * test/unit/cases/, so that a request, a JSON document or a command line reads as it is sent,
 * without the quoting a C string adds. Include after <cmocka.h>.
 *
 * A record is a line that starts with a non-blank, with the lines below it that start with a
 * blank. Empty lines are skipped, and a '#' where a word would start comments out the rest of
 * the line. A record is split into words as a shell splits them: blanks separate words;
 * 'single quotes' keep every byte up to the next quote; "double quotes" read C's escapes
 * (\\ \" \' \0 \a \b \f \n \r \t \v, and \xHH with exactly two hex digits), and a backslash at
 * the end of a line inside them joins the next line without its leading blanks; any other byte
 * stands for itself; pieces written next to each other make one word (key="a b" is the word
 * `key=a b`). */
#ifndef SEQUIN_TEST_CASE_FILE_H
#define SEQUIN_TEST_CASE_FILE_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Where test/unit/cases/NAME is: under $SQ_SRCDIR, which "make check" sets, or else under the
 * current directory. */
static inline void case_file_path(char *buf, size_t size, const char *name)
{
    const char *dir = getenv("SQ_SRCDIR");
    snprintf(buf, size, "%s/test/unit/cases/%s", dir != NULL && dir[0] != '\0' ? dir : ".", name);
}

static inline int case_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes the double-quoted piece that starts after the quote at `*at`, appending its bytes at
 * `*out`; leaves `*at` after the closing quote and counts the lines it joins in `*line`. Returns
 * NULL, or what is wrong. */
static inline const char *case_quoted(const char *s, size_t len, size_t *at, char **out, int *line)
{
    static const char plain[] = "\\\\\"\"''0\0a\ab\bf\fn\nr\rt\tv\v";
    size_t i = *at;

    for (;;) {
        if (i == len || s[i] == '\n')
            return "a double quote is not closed on its line";
        char c = s[i++];
        if (c == '"')
            break;
        if (c != '\\') {
            *(*out)++ = c;
            continue;
        }
        if (i == len)
            return "a backslash ends the file";
        c = s[i++];
        if (c == '\n') {
            (*line)++;
            while (i < len && (s[i] == ' ' || s[i] == '\t'))
                i++;
            continue;
        }
        if (c == 'x') {
            int hi = i < len ? case_hex(s[i]) : -1, lo = i + 1 < len ? case_hex(s[i + 1]) : -1;
            if (hi < 0 || lo < 0)
                return "\\x needs two hex digits";
            *(*out)++ = (char)(hi * 16 + lo);
            i += 2;
            continue;
        }
        if (c == '0' && i < len && s[i] >= '0' && s[i] <= '9')
            return "\\0 followed by a digit: write \\xHH";
        const char *e = NULL;
        for (size_t k = 0; k + 1 < sizeof plain; k += 2) {
            if (plain[k] == c) {
                e = &plain[k + 1];
                break;
            }
        }
        if (e == NULL)
            return "an escape C does not have, or that the case files leave out";
        *(*out)++ = *e;
    }
    *at = i;
    return NULL;
}

/* Splits `len` bytes of file text into `f`; returns NULL, or what is wrong at line `*line`. */
static inline const char *case_file_split(case_file *f, const char *name, const char *s, size_t len,
                                          int *line)
{
    size_t cap_rows = 16, cap_words = 64, nwords = 0;
    size_t *first = malloc(cap_rows * sizeof *first); /* each row's first word */
    char *out;
    const char *why = NULL;

    f->rows = malloc(cap_rows * sizeof *f->rows);
    f->words = malloc(cap_words * sizeof *f->words);
    /* A word takes at most the bytes it is written with, and its NUL takes the blank after it
     * (or the one extra byte at the end). */
    f->bytes = out = malloc(len + 1);
    f->n = 0;
    if (first == NULL || f->rows == NULL || f->words == NULL || f->bytes == NULL)
        abort();

    *line = 1;
    for (size_t i = 0; i < len && why == NULL;) {
        bool at_line_start = i == 0 || s[i - 1] == '\n';
        char c = s[i];
        if (c == '\n') {
            (*line)++;
            i++;
            continue;
        }
        if (c == ' ' || c == '\t') {
            i++;
            continue;
        }
        if (c == '#') {
            while (i < len && s[i] != '\n')
                i++;
            continue;
        }
        if (at_line_start) {
            if (f->n == cap_rows) {
                cap_rows *= 2;
                f->rows = realloc(f->rows, cap_rows * sizeof *f->rows);
                first = realloc(first, cap_rows * sizeof *first);
                if (f->rows == NULL || first == NULL)
                    abort();
            }
            snprintf(f->rows[f->n].where, sizeof f->rows[f->n].where, "%s:%d", name, *line);
            first[f->n++] = nwords;
        } else if (f->n == 0) {
            why = "a continuation line before the first record";
            break;
        }
        if (nwords == cap_words) {
            cap_words *= 2;
            f->words = realloc(f->words, cap_words * sizeof *f->words);
            if (f->words == NULL)
                abort();
        }
        char *start = out;
        while (i < len && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && why == NULL) {
            if (s[i] == '\'') {
                const char *end = memchr(s + i + 1, '\'', len - i - 1);
                const char *nl = memchr(s + i + 1, '\n', len - i - 1);
                if (end == NULL || (nl != NULL && nl < end)) {
                    why = "a single quote is not closed on its line";
                    break;
                }
                memcpy(out, s + i + 1, (size_t)(end - s - i - 1));
                out += end - s - i - 1;
                i = (size_t)(end - s) + 1;
            } else if (s[i] == '"') {
                i++;
                why = case_quoted(s, len, &i, &out, line);
            } else {
                *out++ = s[i++];
            }
        }
        f->words[nwords++] = (case_word){start, (size_t)(out - start)};
        *out++ = '\0';
    }
    for (size_t r = 0; r < f->n; r++) {
        f->rows[r].w = f->words + first[r];
        f->rows[r].n = (r + 1 < f->n ? first[r + 1] : nwords) - first[r];
    }
    free(first);
    return why;
}

/* Reads test/unit/cases/NAME into `f`; fails the test when the file cannot be read or is not
 * written as above. Release with case_file_free. */
static inline void case_file_load(case_file *f, const char *name)
{
    char path[4096];
    case_file_path(path, sizeof path, name);
    FILE *in = fopen(path, "rb");
    if (in == NULL)
        fail_msg("%s: %s (make check sets SQ_SRCDIR to the source tree)", path, strerror(errno));
    size_t cap = 1 << 16, len = 0, got;
    char *text = malloc(cap);
    if (text == NULL)
        abort();
    while ((got = fread(text + len, 1, cap - len, in)) > 0) {
        len += got;
        if (len == cap && (text = realloc(text, cap *= 2)) == NULL)
            abort();
    }
    fclose(in);
    int line = 0;
    const char *why = case_file_split(f, name, text, len, &line);
    free(text);
    if (why != NULL)
        fail_msg("%s:%d: %s", path, line, why);
}

static inline void case_file_free(case_file *f)
{
    free(f->rows);
    free(f->words);
    free(f->bytes);
    *f = (case_file){0};
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

/* A name that a case file writes for a longer phrase (an error message, say). */
typedef struct case_name {
    const char *name;
    const char *phrase;
} case_name;

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
