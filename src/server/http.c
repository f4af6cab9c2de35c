/* HTTP/1.x request heads (the target cut into path and query) and chunked bodies: parsing
 * that never allocates and hands out slices of the caller's buffer; and status lines' phrases. */
#include "sequin/http.h"

#include <string.h>

#include "sequin/text.h"

/*
 * Resumability: both the head parser and the chunked decoder are byte-at-a-time state
 * machines whose whole state fits in their struct, so a call scans only the bytes that
 * arrived since the last one and every check (character classes and limits alike) fires on
 * the same byte whatever the split. Slices cannot live in that state because the caller's
 * buffer may move between calls; so the head parser works in two passes: the state machine
 * validates and finds the end of the head, and only once the head is complete does a second,
 * simple pass over the now known-good bytes cut it into slices and apply the rules that need
 * the whole head (Content-Length against Transfer-Encoding, keep-alive, Host).
 */

/* One enum for both machines: the field-section states are shared by headers and trailers. */
enum state {
    F_LINE_START, /* a header line or the empty line that ends the section */
    F_NAME,
    F_VALUE, /* after the colon, OWS included (trimmed by the second pass) */
    F_VALUE_LF,
    F_END_LF, /* the empty line's LF */
    R_START,  /* empty lines before the request line, or the method's first byte */
    R_START_LF,
    R_METHOD,
    R_TARGET_FIRST,
    R_TARGET,
    R_VERSION, /* p->index bytes of "HTTP/1.x" matched */
    R_VERSION_END,
    R_LF,
    R_DONE,
    C_SIZE_FIRST,
    C_SIZE,
    C_SIZE_BWS,  /* whitespace after the size or an extension: only a ';' may follow */
    C_EXT_START, /* after ';', before the extension's name */
    C_EXT_NAME,
    C_EXT_NAME_WS, /* whitespace after a name: '=' or ';' may follow */
    C_EXT_EQUALS,  /* after '=', before the value */
    C_EXT_TOKEN,
    C_EXT_QUOTED,
    C_EXT_ESCAPE, /* after a backslash in a quoted value */
    C_EXT_QUOTE_END,
    C_SIZE_LF,
    C_DATA,
    C_DATA_CR,
    C_DATA_LF,
    C_DONE,
};

static const char BARE_LF[] = "lines must end with CRLF, not a bare LF";
static const char BARE_CR[] = "a CR must be followed by LF";
static const char BAD_VERSION[] = "the HTTP version must be HTTP/1.0 or HTTP/1.1";
static const char BAD_TARGET[] =
    "the request target must be a path starting with '/' or an absolute http or https URI";

static int fail(sq_http_error *err, int status, const char *reason)
{
    err->status = status;
    err->reason = reason;
    return SQ_ERR;
}

/* tchar of RFC 9110 section 5.6.2: the bytes of methods and header names. */
static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* The byte `c` must be `want` (the second byte of a CRLF, usually); then the state moves on. */
static int expect_byte(unsigned char *st, unsigned char c, unsigned char want, unsigned char next,
                       const char *reason, sq_http_error *err)
{
    if (c != want)
        return fail(err, 400, reason);
    *st = next;
    return SQ_OK;
}

static bool is_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}

static unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* True if `s` equals the C string `lit`, ignoring ASCII case (never the locale's). */
static bool equals_ci(sq_http_slice s, const char *lit)
{
    size_t n = strlen(lit);
    if (s.len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)s.p[i]) != lower((unsigned char)lit[i]))
            return false;
    return true;
}

static sq_http_slice trim_ows(const char *p, size_t len)
{
    while (len > 0 && is_ows((unsigned char)p[0])) {
        p++;
        len--;
    }
    while (len > 0 && is_ows((unsigned char)p[len - 1]))
        len--;
    return (sq_http_slice){p, len};
}

/*
 * One byte of a field section (the headers of a head, the trailers of a chunked body).
 * Returns 0 to go on, 1 after the LF of the empty line that ends the section, -1 on error.
 * The limits are checked before the byte's class, so the byte over a limit always gets 431.
 */
static int field_byte(unsigned char *st, size_t *bytes, size_t *count, const sq_http_limits *lim,
                      unsigned char c, sq_http_error *err)
{
    if (*st == F_END_LF)
        return c == '\n' ? 1 : fail(err, 400, BARE_CR);
    if (*st == F_LINE_START) {
        if (c == '\r') {
            *st = F_END_LF;
            return 0;
        }
        if (*count == lim->max_headers)
            return fail(err, 431, "the request has more header fields than the limit");
        (*count)++;
    }
    if (*bytes == lim->max_header_bytes)
        return fail(err, 431, "the header fields are larger than the limit");
    (*bytes)++;
    if (c == '\n' && *st != F_VALUE_LF)
        return fail(err, 400, BARE_LF);

    switch (*st) {
    case F_LINE_START:
        if (is_ows(c))
            return fail(err, 400,
                        "a header line must not start with whitespace (obsolete "
                        "line folding)");
        if (!is_tchar(c))
            return fail(err, 400, "a header name must be a token");
        *st = F_NAME;
        return 0;
    case F_NAME:
        if (is_tchar(c))
            return 0;
        if (c == ':') {
            *st = F_VALUE;
            return 0;
        }
        if (is_ows(c))
            return fail(err, 400, "no whitespace is allowed between a header name and its colon");
        if (c == '\r')
            return fail(err, 400, "a header line must have a colon");
        return fail(err, 400, "a header name must be a token");
    case F_VALUE:
        if (c == '\r') {
            *st = F_VALUE_LF;
            return 0;
        }
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return fail(err, 400, "a header value must not contain control characters");
        return 0;
    case F_VALUE_LF:
        return expect_byte(st, c, '\n', F_LINE_START, BARE_CR, err);
    default:
        return fail(err, 400, "internal error: bad field state");
    }
}

/* One byte of the request line (or of the empty lines before it). */
static int line_byte(sq_http_parser *p, unsigned char c, sq_http_error *err)
{
    if (p->state == R_LF)
        return expect_byte(&p->state, c, '\n', F_LINE_START, BARE_CR, err);
    if (p->state == R_VERSION_END) {
        if (c != '\r')
            return fail(err, 400, c == '\n' ? BARE_LF : BAD_VERSION);
        p->state = R_LF;
        return SQ_OK;
    }
    if (p->line_bytes == p->lim->max_request_line_bytes)
        return fail(err, 414, "the request line is longer than the limit");
    p->line_bytes++;
    if (c == '\n' && p->state != R_START_LF)
        return fail(err, 400, BARE_LF);

    switch (p->state) {
    case R_START:
        if (c == '\r') {
            if (p->empty_lines == SQ_HTTP_EMPTY_LINES_MAX)
                return fail(err, 400, "too many empty lines before the request line");
            p->empty_lines++;
            p->state = R_START_LF;
            return SQ_OK;
        }
        if (!is_tchar(c))
            return fail(err, 400, "a request must start with a method token");
        p->state = R_METHOD;
        return SQ_OK;
    case R_START_LF:
        return expect_byte(&p->state, c, '\n', R_START, BARE_CR, err);
    case R_METHOD:
        if (is_tchar(c))
            return SQ_OK;
        if (c != ' ')
            return fail(err, 400, "the method must be a token followed by one space");
        p->state = R_TARGET_FIRST;
        return SQ_OK;
    case R_TARGET_FIRST:
        /* A letter starts the absolute form's scheme, checked in full by split_target. */
        if (c != '/' && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
            return fail(err, 400, BAD_TARGET);
        p->state = R_TARGET;
        return SQ_OK;
    case R_TARGET:
        if (c > 0x20 && c < 0x7f)
            return SQ_OK;
        if (c != ' ')
            return fail(err, 400,
                        "the request target must be visible ASCII followed by one "
                        "space and the version");
        p->state = R_VERSION;
        p->index = 0;
        return SQ_OK;
    case R_VERSION:
        if (p->index < 7 ? c != (unsigned char)"HTTP/1."[p->index] : (c != '0' && c != '1'))
            return fail(err, 400, BAD_VERSION);
        if (++p->index == 8)
            p->state = R_VERSION_END;
        return SQ_OK;
    default:
        return fail(err, 400, "internal error: bad request-line state");
    }
}

/* Content-Length: 1*DIGIT that fits in 64 bits; else a static reason. */
static const char *parse_length(sq_http_slice v, uint64_t *out)
{
    uint64_t n = 0;
    if (v.len == 0)
        return "Content-Length must be a decimal number";
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.p[i];
        if (c < '0' || c > '9')
            return "Content-Length must be a decimal number";
        if (n > (UINT64_MAX - (c - '0')) / 10)
            return "Content-Length is too large a number";
        n = n * 10 + (c - '0');
    }
    *out = n;
    return NULL;
}

/*
 * Takes the next element of a comma-separated list (RFC 9110 section 5.6.1) off the front of
 * `*rest`, without its OWS, into `*elem`. Every comma ends an element, so "" is one empty
 * element and "a," two; false once the last one was taken (`rest->p` is then NULL).
 */
static bool list_next(sq_http_slice *rest, sq_http_slice *elem)
{
    if (rest->p == NULL)
        return false;
    const char *comma = rest->len > 0 ? memchr(rest->p, ',', rest->len) : NULL;
    size_t n = comma ? (size_t)(comma - rest->p) : rest->len;
    *elem = trim_ows(rest->p, n);
    *rest = comma ? (sq_http_slice){comma + 1, rest->len - n - 1} : (sq_http_slice){NULL, 0};
    return true;
}

/* Sets *close / *keep for each "close" / "keep-alive" in a Connection list. */
static void scan_connection(sq_http_slice v, bool *close, bool *keep)
{
    for (sq_http_slice opt; list_next(&v, &opt);) {
        if (equals_ci(opt, "close"))
            *close = true;
        else if (equals_ci(opt, "keep-alive"))
            *keep = true;
    }
}

/* Transfer-Encoding, all its lines read as one list of codings (RFC 9110 section 5.3). */
struct codings {
    size_t count;        /* codings named so far */
    bool last_chunked;   /* the last one named is chunked */
    bool chunked_inside; /* chunked came before another coding */
};

static bool is_token(sq_http_slice s)
{
    for (size_t i = 0; i < s.len; i++)
        if (!is_tchar((unsigned char)s.p[i]))
            return false;
    return s.len > 0;
}

/* Adds the codings of one Transfer-Encoding line to `tc`. An empty element or one with
 * parameters is a 400: no coding we know takes parameters, and a lenient reading of this
 * header is how two parsers come to frame one body differently. */
static int scan_codings(sq_http_slice v, struct codings *tc, sq_http_error *err)
{
    for (sq_http_slice coding; list_next(&v, &coding);) {
        if (!is_token(coding))
            return fail(err, 400, "Transfer-Encoding must be a list of transfer coding names");
        tc->chunked_inside = tc->chunked_inside || tc->last_chunked;
        tc->last_chunked = equals_ci(coding, "chunked");
        tc->count++;
    }
    return SQ_OK;
}

/* unreserved and sub-delims of RFC 3986: the bytes of a host besides its %XX escapes. */
static bool is_host_char(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != '\0' && strchr("-._~!$&'()*+,;=", c) != NULL;
}

/*
 * An authority, of an absolute-form target or in a Host header: host [":" port] (RFC 3986
 * section 3.2; RFC 9110 section 7.2). No userinfo: RFC 9110 section 4.2.4 asks a recipient to
 * treat one as an error; and an http URI with an empty host is invalid (section 4.2.1). An IP
 * literal ("[::1]") is checked for its brackets and bytes only: the host is used for nothing
 * but this check.
 */
static bool valid_authority(sq_http_slice a)
{
    size_t i = 0;

    if (a.len > 0 && a.p[0] == '[') {
        for (i = 1; i < a.len && a.p[i] != ']'; i++) {
            unsigned char c = (unsigned char)a.p[i];
            if (!is_host_char(c) && c != ':' && c != '%')
                return false;
        }
        if (i == a.len || i == 1)
            return false;
        i++;
    } else {
        for (; i < a.len && a.p[i] != ':'; i++) {
            unsigned char c = (unsigned char)a.p[i];
            if (c != '%' && !is_host_char(c))
                return false;
            if (c == '%' && (a.len - i < 3 || sq_hex_digit((unsigned char)a.p[i + 1]) < 0 ||
                             sq_hex_digit((unsigned char)a.p[i + 2]) < 0))
                return false;
            i += c == '%' ? 2 : 0;
        }
        if (i == 0)
            return false;
    }
    if (i < a.len && a.p[i] != ':')
        return false;
    for (i++; i < a.len; i++)
        if (a.p[i] < '0' || a.p[i] > '9')
            return false;
    return true;
}

/* True if `s` starts with the C string `lit`, ignoring ASCII case. */
static bool starts_ci(sq_http_slice s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len >= n && equals_ci((sq_http_slice){s.p, n}, lit);
}

/*
 * Cuts req->target into path and query. The origin form ("/path?query") is cut at its first
 * '?'. The absolute form ("http://host:port/path?query"), which RFC 9112 section 3.2.2 says a
 * server must accept, has its scheme (http or https, in any case) and its authority checked;
 * *authority is then set to the latter, else to {NULL, 0}. An absolute form without a path
 * has the path "/": a slice of the '/' just before the authority, so that every slice of the
 * request stays inside the head.
 */
static int split_target(sq_http_request *req, sq_http_slice *authority, sq_http_error *err)
{
    sq_http_slice t = req->target;
    size_t at = 0, end;

    *authority = (sq_http_slice){NULL, 0};
    if (t.p[0] == '/') {
        sq_http_split_target(t, &req->path, &req->query);
        return SQ_OK;
    }
    if (starts_ci(t, "http://"))
        at = 7;
    else if (starts_ci(t, "https://"))
        at = 8;
    else
        return fail(err, 400, BAD_TARGET);
    for (end = at; end < t.len && t.p[end] != '/' && t.p[end] != '?'; end++)
        ;
    *authority = (sq_http_slice){t.p + at, end - at};
    if (!valid_authority(*authority))
        return fail(err, 400, "the authority of an absolute request target must be host[:port]");
    sq_http_split_target((sq_http_slice){t.p + end, t.len - end}, &req->path, &req->query);
    if (req->path.len == 0)
        req->path = (sq_http_slice){t.p + at - 1, 1};
    return SQ_OK;
}

/* Stores a header the server keeps at most one of; a second copy is a 400. */
static int keep_single(sq_http_slice *slot, sq_http_slice value, const char *dup_reason,
                       sq_http_error *err)
{
    if (slot->p != NULL)
        return fail(err, 400, dup_reason);
    *slot = value;
    return SQ_OK;
}

/*
 * The second pass, over a complete head that the state machine accepted: every line is
 * well-formed, so it only cuts slices, then applies the rules that need the whole head.
 */
static int extract(const sq_http_parser *p, const char *buf, sq_http_request *req,
                   sq_http_error *err)
{
    const char *s = buf, *end = buf + p->pos;
    bool have_length = false, close = false, keep = false, expect = false;
    struct codings tc = {0};
    sq_http_slice authority;

    memset(req, 0, sizeof *req);
    req->headers = p->headers;
    req->head_len = p->pos;
    while (*s == '\r')
        s += 2;
    const char *sp = memchr(s, ' ', (size_t)(end - s));
    req->method = (sq_http_slice){s, (size_t)(sp - s)};
    s = sp + 1;
    sp = memchr(s, ' ', (size_t)(end - s));
    req->target = (sq_http_slice){s, (size_t)(sp - s)};
    if (split_target(req, &authority, err) != SQ_OK)
        return SQ_ERR;
    req->minor_version = sp[8] - '0';
    s = sp + 11; /* " HTTP/1.x\r\n" */

    while (*s != '\r') {
        const char *colon = memchr(s, ':', (size_t)(end - s));
        const char *eol = memchr(colon, '\r', (size_t)(end - colon));
        sq_http_header *h = &p->headers[req->header_count++];
        h->name = (sq_http_slice){s, (size_t)(colon - s)};
        h->value = trim_ows(colon + 1, (size_t)(eol - colon - 1));
        s = eol + 2;

        if (equals_ci(h->name, "content-length")) {
            uint64_t n = 0;
            const char *why = parse_length(h->value, &n);
            if (why != NULL)
                return fail(err, 400, why);
            if (have_length && n != req->content_length)
                return fail(err, 400, "the request has conflicting Content-Length headers");
            have_length = true;
            req->content_length = n;
        } else if (equals_ci(h->name, "transfer-encoding")) {
            if (scan_codings(h->value, &tc, err) != SQ_OK)
                return SQ_ERR;
        } else if (equals_ci(h->name, "connection")) {
            scan_connection(h->value, &close, &keep);
        } else if (equals_ci(h->name, "expect")) {
            expect = expect || equals_ci(h->value, "100-continue");
        } else if (equals_ci(h->name, "host")) {
            if (keep_single(&req->host, h->value, "the request has more than one Host header",
                            err) != SQ_OK)
                return SQ_ERR;
            /* RFC 9112 section 3.2: an invalid Host is a 400, with the absolute form too
             * (section 3.2.2 ignores its value, not its syntax). An empty one is valid: the
             * client's word for a target URI without an authority (3.2), for which an origin
             * server may use its default (3.3), and sequind serves one site. */
            if (h->value.len > 0 && !valid_authority(h->value))
                return fail(err, 400, "the Host header must be host[:port]");
        } else if (equals_ci(h->name, "authorization")) {
            if (keep_single(&req->authorization, h->value,
                            "the request has more than one Authorization header", err) != SQ_OK)
                return SQ_ERR;
        } else if (equals_ci(h->name, "content-type")) {
            if (keep_single(&req->content_type, h->value,
                            "the request has more than one Content-Type header", err) != SQ_OK)
                return SQ_ERR;
        }
    }

    bool chunked = tc.count > 0;
    /* RFC 9112 section 6.3: without chunked last, a request's body has no known end. */
    if (chunked && (!tc.last_chunked || tc.chunked_inside))
        return fail(err, 400, "chunked must be the last Transfer-Encoding, and appear once");
    if (chunked && have_length)
        return fail(err, 400,
                    "a request must not have both Content-Length and "
                    "Transfer-Encoding");
    if (chunked && req->minor_version == 0)
        return fail(err, 400, "Transfer-Encoding is not allowed in an HTTP/1.0 request");
    if (req->minor_version == 1 && req->host.p == NULL)
        return fail(err, 400, "an HTTP/1.1 request must have a Host header");
    if (have_length && req->content_length > p->lim->max_body_bytes)
        return fail(err, 413, "the request body is larger than the limit");
    /* Framed well, but in a coding under chunked that we would have to decode: section 6.1. */
    if (tc.count > 1)
        return fail(err, 501, "no transfer coding other than chunked is implemented");
    if (authority.p != NULL)
        req->host = authority; /* RFC 9112 section 3.2.2: the Host header is ignored */

    req->body = chunked       ? SQ_HTTP_BODY_CHUNKED
                : have_length ? SQ_HTTP_BODY_LENGTH
                              : SQ_HTTP_BODY_NONE;
    req->keep_alive = req->minor_version == 1 ? !close : keep && !close;
    req->expect_continue = expect && req->minor_version == 1;
    return SQ_OK;
}

void sq_http_parser_init(sq_http_parser *p, const sq_http_limits *lim, sq_http_header *headers)
{
    memset(p, 0, sizeof *p);
    p->lim = lim;
    p->headers = headers;
    p->state = R_START;
}

int sq_http_parse_request(sq_http_parser *p, const char *buf, size_t len, sq_http_request *req,
                          sq_http_error *err)
{
    for (; p->state != R_DONE && p->pos < len; p->pos++) {
        unsigned char c = (unsigned char)buf[p->pos];
        if (p->state <= F_END_LF) {
            int rc = field_byte(&p->state, &p->field_bytes, &p->field_count, p->lim, c, err);
            if (rc < 0)
                return SQ_ERR;
            if (rc == 1)
                p->state = R_DONE;
        } else if (line_byte(p, c, err) != SQ_OK) {
            return SQ_ERR;
        }
    }
    if (p->state != R_DONE)
        return SQ_AGAIN;
    return extract(p, buf, req, err);
}

const sq_http_header *sq_http_header_find(const sq_http_request *req, const char *name)
{
    for (size_t i = 0; i < req->header_count; i++)
        if (equals_ci(req->headers[i].name, name))
            return &req->headers[i];
    return NULL;
}

void sq_http_chunked_init(sq_http_chunked *d, const sq_http_limits *lim)
{
    memset(d, 0, sizeof *d);
    d->lim = lim;
    d->state = C_SIZE_FIRST;
}

/* True if a chunk-size line may end (with CR) in this state. */
static bool chunk_line_may_end(unsigned char st)
{
    return st == C_SIZE || st == C_EXT_NAME || st == C_EXT_TOKEN || st == C_EXT_QUOTE_END;
}

/*
 * One byte of a chunk extension: *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )
 * (RFC 9112 section 7.1.1). Extensions are skipped, but checked to the letter: a lenient
 * reading of them is one of the ways two parsers end up disagreeing on where a body ends.
 */
static int chunk_ext_byte(sq_http_chunked *d, unsigned char c, sq_http_error *err)
{
    bool ws = is_ows(c), tok = is_tchar(c);
    bool qtext = c == '\t' || (c >= 0x20 && c != 0x7f); /* obs-text included */

    switch (d->state) {
    case C_SIZE_BWS:
    case C_EXT_QUOTE_END:
        if (ws || c == ';') {
            d->state = ws ? C_SIZE_BWS : C_EXT_START;
            return SQ_OK;
        }
        break;
    case C_EXT_START:
        if (ws || tok) {
            d->state = ws ? C_EXT_START : C_EXT_NAME;
            return SQ_OK;
        }
        break;
    case C_EXT_NAME:
    case C_EXT_NAME_WS:
        if (tok && d->state == C_EXT_NAME)
            return SQ_OK;
        if (ws || c == '=' || c == ';') {
            d->state = ws ? C_EXT_NAME_WS : c == '=' ? C_EXT_EQUALS : C_EXT_START;
            return SQ_OK;
        }
        break;
    case C_EXT_EQUALS:
        if (ws || tok || c == '"') {
            d->state = ws ? C_EXT_EQUALS : tok ? C_EXT_TOKEN : C_EXT_QUOTED;
            return SQ_OK;
        }
        break;
    case C_EXT_TOKEN:
        if (tok)
            return SQ_OK;
        if (ws || c == ';') {
            d->state = ws ? C_SIZE_BWS : C_EXT_START;
            return SQ_OK;
        }
        break;
    case C_EXT_QUOTED:
        if (qtext) {
            d->state = c == '"' ? C_EXT_QUOTE_END : c == '\\' ? C_EXT_ESCAPE : C_EXT_QUOTED;
            return SQ_OK;
        }
        break;
    case C_EXT_ESCAPE:
        if (qtext) {
            d->state = C_EXT_QUOTED;
            return SQ_OK;
        }
        break;
    default:
        return fail(err, 400, "internal error: bad chunk-extension state");
    }
    if (c != '\r' && !qtext)
        return fail(err, 400, "a chunk extension must not contain control characters");
    return fail(err, 400,
                "a chunk extension must be ;name or ;name=value, the value a token "
                "or a quoted string");
}

/* One byte of a chunk-size line or of the CRLF after chunk data. */
static int chunk_line_byte(sq_http_chunked *d, unsigned char c, sq_http_error *err)
{
    static const char BAD_END[] = "chunk data must be followed by CRLF";
    int digit = sq_hex_digit(c);

    switch (d->state) {
    case C_DATA_CR:
        return expect_byte(&d->state, c, '\r', C_DATA_LF, BAD_END, err);
    case C_DATA_LF:
        return expect_byte(&d->state, c, '\n', C_SIZE_FIRST, BAD_END, err);
    case C_SIZE_LF:
        if (c != '\n')
            return fail(err, 400, BARE_CR);
        d->line_bytes = 0;
        if (d->left == 0) {
            d->state = F_LINE_START; /* the last chunk: trailers follow */
            return SQ_OK;
        }
        if (d->left > d->lim->max_body_bytes - d->total)
            return fail(err, 413, "the request body is larger than the limit");
        d->total += d->left;
        d->state = C_DATA;
        return SQ_OK;
    default:
        break;
    }

    /* A byte of the size line itself, before its CR. */
    if (c == '\r' && chunk_line_may_end(d->state)) {
        d->state = C_SIZE_LF;
        return SQ_OK;
    }
    if (d->line_bytes == SQ_HTTP_CHUNK_LINE_MAX)
        return fail(err, 400, "a chunk-size line is longer than 4096 bytes");
    d->line_bytes++;
    if (c == '\n')
        return fail(err, 400, BARE_LF);
    switch (d->state) {
    case C_SIZE_FIRST:
        if (digit < 0)
            return fail(err, 400, "a chunk must start with its size in hexadecimal");
        d->left = (uint64_t)digit;
        d->state = C_SIZE;
        return SQ_OK;
    case C_SIZE:
        if (digit >= 0) {
            if (d->left > UINT64_MAX >> 4)
                return fail(err, 400, "a chunk size does not fit in 64 bits");
            d->left = d->left << 4 | (uint64_t)digit;
            return SQ_OK;
        }
        if (c != ';' && !is_ows(c))
            return fail(err, 400, "a chunk size must be hexadecimal digits only");
        d->state = c == ';' ? C_EXT_START : C_SIZE_BWS;
        return SQ_OK;
    default:
        return chunk_ext_byte(d, c, err);
    }
}

int sq_http_chunked_decode(sq_http_chunked *d, const char *src, size_t len, char *dst,
                           size_t *consumed, size_t *produced, sq_http_error *err)
{
    size_t in = 0, out = 0;
    int rc = SQ_AGAIN;

    while (in < len && d->state != C_DONE) {
        unsigned char c = (unsigned char)src[in];
        if (d->state == C_DATA) {
            /* The data is copied in runs; dst + out <= src + in, so memmove is safe. */
            size_t n = len - in;
            if (n > d->left)
                n = (size_t)d->left;
            memmove(dst + out, src + in, n);
            in += n;
            out += n;
            d->left -= n;
            if (d->left == 0)
                d->state = C_DATA_CR;
            continue;
        }
        if (d->state <= F_END_LF) {
            int r = field_byte(&d->state, &d->field_bytes, &d->field_count, d->lim, c, err);
            if (r < 0) {
                rc = SQ_ERR;
                goto done;
            }
            if (r == 1)
                d->state = C_DONE;
        } else if (chunk_line_byte(d, c, err) != SQ_OK) {
            rc = SQ_ERR;
            goto done;
        }
        in++;
    }
    if (d->state == C_DONE)
        rc = SQ_OK;

done:
    *consumed = in;
    *produced = out;
    return rc;
}

void sq_http_split_target(sq_http_slice target, sq_http_slice *path, sq_http_slice *query)
{
    const char *q = target.len > 0 ? memchr(target.p, '?', target.len) : NULL;
    if (q == NULL) {
        *path = target;
        *query = (sq_http_slice){target.p + target.len, 0};
        return;
    }
    *path = (sq_http_slice){target.p, (size_t)(q - target.p)};
    *query = (sq_http_slice){q + 1, target.len - path->len - 1};
}

/* RFC 9110 section 15's phrases of the statuses sequind answers with a response (the interim
 * "100 Continue" is a constant line of its own). A route that answers a new status adds its
 * row here. */
static const struct {
    int status;
    const char *text;
} status_texts[] = {
    {200, "OK"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {409, "Conflict"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {422, "Unprocessable Content"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {503, "Service Unavailable"},
};

const char *sq_http_status_text(int status)
{
    for (size_t i = 0; i < SQ_ARRAY_LEN(status_texts); i++)
        if (status_texts[i].status == status)
            return status_texts[i].text;
    return "";
}
