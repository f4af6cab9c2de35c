/* The parts of a request target the handlers read: path segments percent-decoded, and a
 * query string walked parameter by parameter (include/sequin/http.h has the contracts). */
#include <string.h>

#include "sequin/http.h"
#include "sequin/text.h"

int sq_http_percent_decode(const char *in, size_t len, char *out, size_t *out_len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (in[i] != '%') {
            out[o++] = in[i];
            continue;
        }
        if (len - i < 3)
            return SQ_ERR;
        int hi = sq_hex_digit((unsigned char)in[i + 1]);
        int lo = sq_hex_digit((unsigned char)in[i + 2]);
        if (hi < 0 || lo < 0 || (hi | lo) == 0)
            return SQ_ERR;
        out[o++] = (char)(hi << 4 | lo);
        i += 2;
    }
    *out_len = o;
    return SQ_OK;
}

bool sq_http_query_next(sq_http_slice *query, sq_http_slice *name, sq_http_slice *value)
{
    while (query->len > 0) {
        const char *amp = memchr(query->p, '&', query->len);
        size_t n = amp ? (size_t)(amp - query->p) : query->len;
        const char *param = query->p;
        query->p += amp ? n + 1 : n;
        query->len -= amp ? n + 1 : n;
        if (n == 0)
            continue;
        const char *eq = memchr(param, '=', n);
        size_t name_len = eq ? (size_t)(eq - param) : n;
        *name = (sq_http_slice){param, name_len};
        *value = eq ? (sq_http_slice){eq + 1, n - name_len - 1} : (sq_http_slice){param + n, 0};
        return true;
    }
    return false;
}
