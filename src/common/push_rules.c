/* The rules of a push consumer's endpoint: its URL, its headers and its signing secret, checked
 * alike wherever one comes in (the API, the config file, the CLI). */
#include "sequin/push_rules.h"

#include <string.h>
#include <strings.h>

const char *const sq_push_rules_kinds[] = {"pull", "push", NULL};

static bool printable(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return false;
    }
    return true;
}

/* True when `s` (`len` bytes) starts with `prefix`, in any case. */
static bool starts_with(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && strncasecmp(s, prefix, n) == 0;
}

/* The port after a host's colon: 1..65535, digits only. */
static bool port_ok(const char *s, size_t len)
{
    long v = 0;
    if (len == 0 || len > 5)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    return v >= 1 && v <= 65535;
}

const char *sq_push_rules_url(const char *s, size_t len)
{
    size_t scheme = starts_with(s, len, "http://") ? 7 : starts_with(s, len, "https://") ? 8 : 0;
    if (scheme == 0)
        return "must start with http:// or https://";
    if (len > SQ_PUSH_URL_MAX)
        return "is longer than 2048 bytes";
    if (!printable(s, len))
        return "must be printable ASCII without spaces (percent-encode the rest)";
    const char *host = s + scheme, *end = s + len;
    size_t auth = strcspn(host, "/?#");
    if (auth > (size_t)(end - host))
        auth = (size_t)(end - host);
    if (memchr(host, '@', auth) != NULL)
        return "must not hold a user or password (send credentials in a header)";
    const char *port = NULL;
    size_t host_len = auth;
    if (auth > 0 && host[0] == '[') {
        const char *close = memchr(host, ']', auth);
        if (close == NULL || close == host + 1)
            return "has a malformed [IPv6] host";
        size_t after = (size_t)(close + 1 - host);
        if (after < auth && host[after] != ':')
            return "has a malformed [IPv6] host";
        if (after < auth)
            port = host + after + 1;
        host_len = after;
    } else {
        const char *colon = memchr(host, ':', auth);
        if (colon != NULL) {
            port = colon + 1;
            host_len = (size_t)(colon - host);
        }
    }
    if (host_len == 0)
        return "has no host";
    if (port != NULL && !port_ok(port, (size_t)(host + auth - port)))
        return "has a port that is not 1..65535";
    return NULL;
}

const char *sq_push_rules_secret(const char *s, size_t len)
{
    if (len == 0 || len > SQ_PUSH_SECRET_MAX)
        return "must be 1 to 256 bytes";
    return printable(s, len) ? NULL : "must be printable ASCII without spaces";
}

const char *sq_push_rules_header(const char *name, size_t name_len, const char *value,
                                 size_t value_len)
{
    static const char *const reserved[] = {"host", "content-length", "content-type",
                                           "transfer-encoding", "connection"};
    if (name_len == 0 || name_len > SQ_PUSH_HEADER_NAME_MAX)
        return "header name must be 1 to 128 bytes";
    for (size_t i = 0; i < name_len; i++) {
        unsigned char ch = (unsigned char)name[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
        if (!ok)
            return "header name must be an HTTP token (letters, digits, !#$%&'*+-.^_`|~)";
    }
    for (size_t i = 0; i < SQ_ARRAY_LEN(reserved); i++) {
        if (name_len == strlen(reserved[i]) && strncasecmp(name, reserved[i], name_len) == 0)
            return "header is one the pusher writes itself (Host, Content-Length, Content-Type, "
                   "Transfer-Encoding, Connection)";
    }
    if (value_len > SQ_PUSH_HEADER_VALUE_MAX)
        return "header value is longer than 4096 bytes";
    for (size_t i = 0; i < value_len; i++) {
        unsigned char ch = (unsigned char)value[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return "header value must not hold CR, LF or other control characters";
    }
    return NULL;
}

const char *sq_push_rules_split_header(const char *line, size_t len, size_t *name_len,
                                       const char **value, size_t *value_len)
{
    const char *colon = memchr(line, ':', len);
    if (colon == NULL)
        return "header must be written \"Name: value\"";
    const char *v = colon + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *name_len = (size_t)(colon - line);
    *value = v;
    *value_len = (size_t)(end - v);
    return sq_push_rules_header(line, *name_len, v, *value_len);
}

int sq_push_rules_write_endpoint(sq_json_writer *w, const char *url, const char *const *headers,
                                 size_t n, const char *secret)
{
    int jr = sq_json_write_begin_object(w);
    jr |= sq_json_write_key(w, "url");
    jr |= sq_json_write_string(w, url);
    if (n > 0) {
        jr |= sq_json_write_key(w, "headers");
        jr |= sq_json_write_begin_object(w);
        for (size_t i = 0; i < n; i++) {
            size_t nl, vl;
            const char *v;
            if (sq_push_rules_split_header(headers[i], strlen(headers[i]), &nl, &v, &vl) != NULL)
                return SQ_ERR;
            jr |= sq_json_write_keyn(w, headers[i], nl);
            jr |= sq_json_write_stringn(w, v, vl);
        }
        jr |= sq_json_write_end_object(w);
    }
    if (secret != NULL) {
        jr |= sq_json_write_key(w, "signing_secret");
        jr |= sq_json_write_string(w, secret);
    }
    jr |= sq_json_write_end_object(w);
    return jr != 0 ? SQ_ERR : SQ_OK;
}
