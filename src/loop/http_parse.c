/*
 * http_parse.c - the HTTP/1.1 request-head parser: a pure function over a
 * byte buffer, so the fuzz target can drive it without sockets.
 *
 * Strict on purpose (RFC 9112): CRLF line ends only, token methods and
 * header names, no whitespace before the colon, no obs-fold, one
 * Content-Length, no Transfer-Encoding (we do not take chunked bodies).
 * Refusing ambiguity here is what keeps request smuggling and fuzzed bodies
 * from reaching the API handlers.
 *
 * Must not: allocate, read past len, depend on NUL termination.
 */
#include "http.h"

#include <string.h>

#define DEFAULT_MAX_HEAD 16384
#define DEFAULT_MAX_BODY (1024 * 1024)
#define MAX_TARGET 8192

static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* field-vchar / SP / HTAB / obs-text */
static int is_fchar(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int span_ieq(const char *buf, http_span s, const char *lit)
{
    size_t n = strlen(lit);
    if (s.len != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char a = (unsigned char)buf[s.off + i], b = (unsigned char)lit[i];
        if (a >= 'A' && a <= 'Z')
            a = (unsigned char)(a + 32);
        if (a != b)
            return 0;
    }
    return 1;
}

/* Does the comma-separated header value contain token `tok`? */
static int value_has_token(const char *buf, http_span v, const char *tok)
{
    size_t i = 0, tl = strlen(tok);
    while (i < v.len) {
        while (i < v.len && (buf[v.off + i] == ' ' || buf[v.off + i] == '\t' || buf[v.off + i] == ','))
            i++;
        size_t st = i;
        while (i < v.len && buf[v.off + i] != ',')
            i++;
        size_t en = i;
        while (en > st && (buf[v.off + en - 1] == ' ' || buf[v.off + en - 1] == '\t'))
            en--;
        http_span s = {(uint32_t)(v.off + st), (uint32_t)(en - st)};
        if (en - st == tl && span_ieq(buf, s, tok))
            return 1;
    }
    return 0;
}

/* What http_parse_request's parts return besides 0 and -status. */
#define NEED_MORE 1

/* The request-line at b[*i..n): method SP request-target SP HTTP-version
 * CRLF into out; *i moves past it. Returns 0, NEED_MORE or -status. */
static int parse_request_line(const unsigned char *b, size_t n, size_t *ip, http_parsed *out)
{
    size_t i = *ip;
    /* method SP */
    size_t st = i;
    while (i < n && is_tchar(b[i]))
        i++;
    if (i == n)
        return NEED_MORE;
    if (b[i] != ' ' || i == st)
        return -400;
    out->method = (http_span){(uint32_t)st, (uint32_t)(i - st)};
    i++;

    /* request-target SP: origin-form ("/...") or "*" */
    st = i;
    size_t q = 0;
    while (i < n && b[i] > 0x20 && b[i] < 0x7f) {
        if (b[i] == '?' && q == 0)
            q = i;
        i++;
        if (i - st > MAX_TARGET)
            return -414;
    }
    if (i == n)
        return NEED_MORE;
    if (b[i] != ' ' || i == st)
        return -400;
    if (b[st] != '/' && !(i - st == 1 && b[st] == '*'))
        return -400;
    out->target = (http_span){(uint32_t)st, (uint32_t)(i - st)};
    if (q) {
        out->path = (http_span){(uint32_t)st, (uint32_t)(q - st)};
        out->query = (http_span){(uint32_t)(q + 1), (uint32_t)(i - q - 1)};
    } else {
        out->path = out->target;
        out->query = (http_span){(uint32_t)i, 0};
    }
    i++;

    /* HTTP-version CRLF */
    if (n - i < 10) {
        /* Check what we have is a prefix of "HTTP/d.d\r\n"-ish. */
        static const char pre[] = "HTTP/";
        for (size_t k = 0; k < n - i && k < 5; k++)
            if (b[i + k] != (unsigned char)pre[k])
                return -400;
        return NEED_MORE;
    }
    if (memcmp(b + i, "HTTP/", 5) != 0 || b[i + 5] < '0' || b[i + 5] > '9' || b[i + 6] != '.' ||
        b[i + 7] < '0' || b[i + 7] > '9' || b[i + 8] != '\r' || b[i + 9] != '\n')
        return -400;
    if (b[i + 5] != '1' || (b[i + 7] != '0' && b[i + 7] != '1'))
        return -505;
    out->minor = b[i + 7] - '0';
    *ip = i + 10;
    return 0;
}

/* What the headers seen so far said about framing and the connection. */
typedef struct head_state {
    int have_cl, conn_close, conn_keep;
} head_state;

/* The meaning of one header for the server: Content-Length (one value),
 * Transfer-Encoding (refused), Connection, Expect. Returns 0 or -status. */
static int header_apply(const char *buf, http_span name, http_span value, http_parsed *out,
                        head_state *hs)
{
    const unsigned char *b = (const unsigned char *)buf;
    if (span_ieq(buf, name, "content-length")) {
        if (value.len == 0 || value.len > 19)
            return value.len > 19 ? -413 : -400;
        uint64_t v = 0;
        for (uint32_t k = 0; k < value.len; k++) {
            unsigned char c = b[value.off + k];
            if (c < '0' || c > '9')
                return -400;
            v = v * 10 + (uint64_t)(c - '0');
        }
        if (hs->have_cl && v != out->content_length)
            return -400;
        hs->have_cl = 1;
        out->content_length = v;
    } else if (span_ieq(buf, name, "transfer-encoding")) {
        return -411;
    } else if (span_ieq(buf, name, "connection")) {
        if (value_has_token(buf, value, "close"))
            hs->conn_close = 1;
        if (value_has_token(buf, value, "keep-alive"))
            hs->conn_keep = 1;
    } else if (span_ieq(buf, name, "expect")) {
        if (span_ieq(buf, value, "100-continue"))
            out->expect_continue = 1;
        else
            return -417;
    }
    return 0;
}

int http_parse_request(const char *buf, size_t len, const http_limits *lim, http_parsed *out)
{
    size_t max_head = lim && lim->max_head ? lim->max_head : DEFAULT_MAX_HEAD;
    size_t max_body = lim && lim->max_body ? lim->max_body : DEFAULT_MAX_BODY;
    const unsigned char *b = (const unsigned char *)buf;
    size_t n = len < max_head ? len : max_head; /* never look past the bound */
    size_t i = 0, st;

    memset(out, 0, sizeof *out);
    /* RFC 9112 2.2: ignore at least one empty line before the request-line. */
    while (i + 1 < n && b[i] == '\r' && b[i + 1] == '\n')
        i += 2;

    int rc = parse_request_line(b, n, &i, out);
    if (rc == NEED_MORE)
        goto need_more;
    if (rc < 0)
        return rc;

    head_state hs = {0, 0, 0};
    for (;;) {
        if (i >= n)
            goto need_more;
        if (b[i] == '\r') {
            if (i + 1 >= n)
                goto need_more;
            if (b[i + 1] != '\n')
                return -400;
            i += 2;
            break; /* end of head */
        }
        if (b[i] == ' ' || b[i] == '\t')
            return -400; /* obs-fold, or whitespace before the first header */
        st = i;
        while (i < n && is_tchar(b[i]))
            i++;
        if (i == n)
            goto need_more;
        if (b[i] != ':' || i == st)
            return -400;
        http_span name = {(uint32_t)st, (uint32_t)(i - st)};
        i++;
        while (i < n && (b[i] == ' ' || b[i] == '\t'))
            i++;
        st = i;
        while (i < n && is_fchar(b[i]))
            i++;
        if (i + 1 >= n)
            goto need_more;
        if (b[i] != '\r' || b[i + 1] != '\n')
            return -400;
        size_t en = i;
        while (en > st && (b[en - 1] == ' ' || b[en - 1] == '\t'))
            en--;
        http_span value = {(uint32_t)st, (uint32_t)(en - st)};
        i += 2;

        if (out->nheaders == HTTP_MAX_HEADERS)
            return -431;
        out->hname[out->nheaders] = name;
        out->hvalue[out->nheaders] = value;
        out->nheaders++;
        if ((rc = header_apply(buf, name, value, out, &hs)) < 0)
            return rc;
    }
    if (out->content_length > max_body)
        return -413;
    out->keep_alive = !hs.conn_close && (out->minor == 1 || hs.conn_keep);
    return (int)i;

need_more:
    if (len >= max_head)
        return -431;
    return 0;
}

const char *http_status_text(int s)
{
    switch (s) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "";
    }
}
