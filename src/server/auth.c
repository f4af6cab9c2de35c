/* Bearer tokens: an Authorization header checked against the configured SHA-256 digests. */
#include "sequin/auth.h"

#include <strings.h>

#include "sequin/sha256.h"

bool sq_auth_allows(const sq_config_token_list *tokens, const char *header, size_t len)
{
    unsigned char digest[SQ_SHA256_LEN];
    bool match = false;

    if (tokens->count == 0)
        return true;
    if (header == NULL || len < 8 || strncasecmp(header, "Bearer ", 7) != 0)
        return false;
    header += 7;
    len -= 7;
    while (len > 0 && *header == ' ') {
        header++;
        len--;
    }
    if (len == 0)
        return false;
    sq_sha256(header, len, digest);
    for (size_t i = 0; i < tokens->count; i++) {
        unsigned char diff = 0;
        for (size_t j = 0; j < SQ_SHA256_LEN; j++)
            diff |= (unsigned char)(digest[j] ^ tokens->items[i].sha256[j]);
        match |= diff == 0;
    }
    return match;
}
