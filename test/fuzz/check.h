/* The fuzz targets' assertion: a broken invariant names itself on stderr, then aborts, so that
 * libFuzzer keeps the input that broke it and its log says which rule failed. */
#ifndef SEQUIN_FUZZ_CHECK_H
#define SEQUIN_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
