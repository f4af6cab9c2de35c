/* Bearer tokens (SPEC 4): whether an Authorization header carries one of the configured
 * tokens. */
#ifndef SEQUIN_AUTH_H
#define SEQUIN_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "sequin/config.h"

/*
 * Whether `header` (`len` bytes, the Authorization header's value; NULL with len 0 when the
 * request had none) is "Bearer TOKEN" with TOKEN one of `tokens`: the token's SHA-256 is
 * compared with every configured digest in constant time, so the time taken says nothing of
 * which digest or how much of one matched. With no tokens configured, every request passes.
 */
bool sq_auth_allows(const sq_config_token_list *tokens, const char *header, size_t len);

#endif
