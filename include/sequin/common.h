/* Definitions every module shares: the return vocabulary and compiler attributes. */
#ifndef SEQUIN_COMMON_H
#define SEQUIN_COMMON_H

#include <stddef.h>

/*
 * One return vocabulary for the whole code base: 0 means success, -1 an error the caller
 * must handle, -2 "need more input" (resumable parsers only). Functions that return a
 * count or an index use negative values the same way and say so in their contract.
 */
#define SQ_OK 0
#define SQ_ERR (-1)
#define SQ_AGAIN (-2)

#define SQ_WUR __attribute__((warn_unused_result))
#define SQ_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define SQ_NORETURN __attribute__((noreturn))

#define SQ_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
