/* Byte-level text helpers shared by the parsers and the logger: UTF-8 and hex digits. */
#ifndef SEQUIN_TEXT_H
#define SEQUIN_TEXT_H

#include <stddef.h>

/*
 * Length (1..4) of the well-formed UTF-8 sequence starting at p, of which at most `avail`
 * (>= 1) bytes are readable; 0 if the bytes there are not one. Well-formed means RFC 3629:
 * no overlong forms, no UTF-16 surrogates, nothing above U+10FFFF. An ASCII byte is a
 * sequence of length 1 (control characters included: that is the caller's policy).
 */
size_t sq_utf8_seq_len(const unsigned char *p, size_t avail);

/* The value 0..15 of a hex digit (either case), or -1. */
int sq_hex_digit(unsigned char c);

#endif
