/*
 * lrt.c - the Lambda Runtime API loop (see lrt.h).
 *
 * The Runtime API is plain HTTP/1.1 on a local address (on AWS too), and
 * a runtime talks to it one request at a time, so the client is a small
 * keep-alive HTTP client on one socket rather than libcurl: one
 * connection for the life of the process, the request head and body in
 * one sendmsg, the response read into one buffer that is reused by every
 * invocation (head and body side by side, so the context strings handed
 * to the handler point into it and cost no allocation). Bodies are framed
 * by Content-Length (what AWS and sfnd send); chunked bodies and bodies
 * delimited by the end of the connection are read too.
 *
 * What the API answers decides what we do: 200/202 carry on; 500 means the
 * runtime must exit (AWS restarts the sandbox); 400/403 on a post are
 * logged and the loop carries on (the invocation is already settled). A
 * connection that fails or closes before a whole answer arrived is
 * reconnected and the request retried a bounded number of times, because
 * a request that never reached the API did nothing.
 *
 * Must not: put a timeout on reading GET /next (the sandbox is frozen
 * between invocations), or close the connection while an invocation is
 * open (the local engine takes a hung-up long poll for a dying runtime).
 */
#define _GNU_SOURCE /* memmem */
#include "lrt.h"

#include "fjson.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_RETRIES 3
#define CONNECT_TIMEOUT_MS 5000
#define HEAD_MAX (1u << 20)        /* response head: the context headers are a few KB */
#define RX_INITIAL (2 * READ_CHUNK)
#define RX_KEEP (1u << 20)         /* a buffer grown past this is released after use */
#define READ_CHUNK 65536
#define PATH_BASE "/2018-06-01"
#define REQUEST_ID_MAX 512
#define TRACE_ENV "_X_AMZN_TRACE_ID="
#define TRACE_ENV_MAX 1024
#define FAST_DEPTH 64              /* nesting the direct JSON reader/writer handle */

/* Outcomes of one exchange, before they become LRT_ codes. */
enum { XR_OK = 0, XR_RETRY = -1, XR_FATAL = -2, XR_NOMEM = -3 };

/* The Lambda-Runtime-* headers of GET /next: offsets into rx (0 = absent;
 * offset 0 is the status line, never a header value). */
enum { H_REQUEST_ID, H_DEADLINE, H_ARN, H_TRACE, H_CLIENT_CONTEXT, H_COGNITO, H_TENANT, H_COUNT };

static const struct {
    const char *name;
    size_t len;
} next_header_names[H_COUNT] = {
#define HN(s) {s, sizeof(s) - 1}
    [H_REQUEST_ID] = HN("Lambda-Runtime-Aws-Request-Id"),
    [H_DEADLINE] = HN("Lambda-Runtime-Deadline-Ms"),
    [H_ARN] = HN("Lambda-Runtime-Invoked-Function-Arn"),
    [H_TRACE] = HN("Lambda-Runtime-Trace-Id"),
    [H_CLIENT_CONTEXT] = HN("Lambda-Runtime-Client-Context"),
    [H_COGNITO] = HN("Lambda-Runtime-Cognito-Identity"),
    [H_TENANT] = HN("Lambda-Runtime-Aws-Tenant-Id"),
#undef HN
};

/* The body to post, reused by every invocation; capped like the API. */
typedef struct txbuf {
    char *p;
    size_t len, cap;
    int toobig;          /* the dump went past LRT_MAX_PAYLOAD */
} txbuf;

typedef struct rt {
    int fd;                       /* -1 when not connected */
    char host[256], port[16];     /* from host:port */
    char hosthdr[300];            /* the Host header value */
    int max_retries;
    /* the last response: head at rx[0, head_len), body at rx[head_len, +body_len) */
    char *rx;
    size_t rxcap, rxlen, head_len, body_len;
    int status;                   /* HTTP status of the last response */
    int toobig;                   /* its body passed LRT_MAX_PAYLOAD and was discarded */
    size_t hdr[H_COUNT];          /* GET /next headers, offsets into rx */
    /* Bytes read past the last response (the answer to a pipelined
     * request): rx[carry_off, +carry_len), whose first byte was replaced
     * by the body's terminating NUL and is kept in carry_first. */
    size_t carry_off, carry_len;
    char carry_first;
    int next_sent;                /* GET /next already sent behind the last post */
    int last;                     /* this invocation is the last (max_invocations):
                                     no GET /next behind its post */
    txbuf tx;
    fjson_buf fj;                 /* the event reader's scratch */
    char request_id[REQUEST_ID_MAX];
} rt;

json_t *lrt_fail(lrt_error *err, const char *type, const char *fmt, ...)
{
    va_list ap;
    snprintf(err->type, sizeof err->type, "%s", type);
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return NULL;
}

int64_t lrt_context_remaining_ms(const lrt_context *ctx)
{
    struct timespec ts;
    if (ctx->deadline_ms <= 0)
        return INT64_MAX;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ctx->deadline_ms - ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* ---- the connection ------------------------------------------------------ */

static void conn_close(rt *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
}

/* Connect with a bounded wait (a local address answers at once or never). */
static int connect_one(const struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0)
        return -1;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        if (errno != EINPROGRESS)
            goto fail;
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int n;
        do
            n = poll(&pfd, 1, CONNECT_TIMEOUT_MS);
        while (n < 0 && errno == EINTR);
        if (n == 0)
            errno = ETIMEDOUT;
        if (n <= 0)
            goto fail;
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
            goto fail;
        if (soerr) {
            errno = soerr;
            goto fail;
        }
    }
    /* Blocking from here on: GET /next waits as long as it takes. */
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0)
        goto fail;
    if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
fail:;
    int e = errno;
    close(fd);
    errno = e;
    return -1;
}

/* Returns -1 with *why set when no address took the connection. */
static int conn_open(rt *r, const char **why)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int g = getaddrinfo(r->host, r->port, &hints, &res);
    if (g != 0) {
        *why = gai_strerror(g);
        return -1;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        r->fd = connect_one(ai);
        if (r->fd >= 0)
            break;
    }
    if (r->fd < 0)
        *why = strerror(errno);
    freeaddrinfo(res);
    return r->fd >= 0 ? 0 : -1;
}

/* Send every byte of iov[0..n); -1 on a broken connection. */
static int send_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        size_t left = (size_t)w;
        while (n > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

/* ---- reading a response --------------------------------------------------- */

static int rx_reserve(rt *r, size_t need)
{
    if (need <= r->rxcap)
        return 0;
    size_t cap = r->rxcap ? r->rxcap : RX_INITIAL;
    while (cap < need)
        cap *= 2;
    char *p = realloc(r->rx, cap);
    if (!p)
        return -1;
    r->rx = p;
    r->rxcap = cap;
    return 0;
}

/* Read what the socket has (at least one byte) after rx[rxlen]. Returns
 * XR_OK, XR_RETRY (closed or broken; *eof says it was an orderly close) or
 * XR_NOMEM. */
static int rx_fill(rt *r, int *eof)
{
    if (rx_reserve(r, r->rxlen + READ_CHUNK + 1) < 0)
        return XR_NOMEM;
    for (;;) {
        ssize_t n = recv(r->fd, r->rx + r->rxlen, r->rxcap - r->rxlen - 1, 0);
        if (n > 0) {
            r->rxlen += (size_t)n;
            return XR_OK;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (eof)
            *eof = n == 0;
        return XR_RETRY;
    }
}

/* Drop rx[from, to): the bytes already consumed between the decoded body
 * and the unread rest. */
static void rx_cut(rt *r, size_t from, size_t *to)
{
    if (*to > from) {
        memmove(r->rx + from, r->rx + *to, r->rxlen - *to);
        r->rxlen -= *to - from;
        *to = from;
    }
}

/* Consume n body bytes at *src: appended at *dst, or discarded once the
 * body is too big (the connection stays usable: the rest is read and
 * dropped). */
static int body_take(rt *r, size_t *src, size_t *dst, size_t n)
{
    while (n > 0) {
        if (*src == r->rxlen) {
            rx_cut(r, *dst, src);
            int x = rx_fill(r, NULL);
            if (x < 0)
                return x;
        }
        size_t k = r->rxlen - *src;
        if (k > n)
            k = n;
        if (!r->toobig && *dst - r->head_len + k > LRT_MAX_PAYLOAD)
            r->toobig = 1;
        if (!r->toobig) {
            if (*dst != *src)
                memmove(r->rx + *dst, r->rx + *src, k);
            *dst += k;
        }
        *src += k;
        n -= k;
    }
    return XR_OK;
}

/* The next CRLF-terminated line at *src (chunk sizes, trailers). */
static int line_take(rt *r, size_t *src, size_t *dst, const char **line, size_t *len)
{
    for (;;) {
        const char *eol = memmem(r->rx + *src, r->rxlen - *src, "\r\n", 2);
        if (eol) {
            *line = r->rx + *src;
            *len = (size_t)(eol - *line);
            *src += *len + 2;
            return XR_OK;
        }
        if (r->rxlen - *src > 8192)
            return XR_FATAL;
        rx_cut(r, *dst, src);
        int x = rx_fill(r, NULL);
        if (x < 0)
            return x;
    }
}

static int body_chunked(rt *r, size_t *src, size_t *dst)
{
    for (;;) {
        const char *line;
        size_t len, size = 0;
        int x = line_take(r, src, dst, &line, &len);
        if (x < 0)
            return x;
        size_t i = 0;
        for (; i < len; i++) {
            int c = line[i], d;
            if (c >= '0' && c <= '9')
                d = c - '0';
            else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
                d = (c | 0x20) - 'a' + 10;
            else
                break;
            if (size > (SIZE_MAX >> 4))
                return XR_FATAL;
            size = size << 4 | (size_t)d;
        }
        if (i == 0 || (i < len && line[i] != ';' && line[i] != ' ' && line[i] != '\t'))
            return XR_FATAL;
        if (size == 0)
            break;
        if ((x = body_take(r, src, dst, size)) < 0 || (x = line_take(r, src, dst, &line, &len)) < 0)
            return x;
        if (len != 0)
            return XR_FATAL;
    }
    for (;;) { /* trailers, up to the empty line */
        const char *line;
        size_t len;
        int x = line_take(r, src, dst, &line, &len);
        if (x < 0)
            return x;
        if (len == 0)
            return XR_OK;
    }
}

/* Case-insensitive "name:" at the start of line; returns the trimmed value. */
static const char *header_value(char *line, char *end, const char *name, size_t nl, char **vend)
{
    if ((size_t)(end - line) <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0)
        return NULL;
    char *v = line + nl + 1;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *vend = end;
    return v;
}

static int has_token(const char *v, const char *vend, const char *tok)
{
    size_t tl = strlen(tok);
    for (const char *p = v; p + tl <= vend; p++)
        if (strncasecmp(p, tok, tl) == 0)
            return 1;
    return 0;
}

/* Read into rx up to the end of the head of a final response (an interim
 * 1xx is skipped), after what the last answer carried of this one; sets
 * head_len and status. Returns XR_OK or an error of read_response. */
static int read_head(rt *r)
{
    size_t scan = 0;
    int x;
    r->rxlen = r->head_len = r->body_len = 0;
    if (r->carry_len > 0) { /* the start of this answer came with the last one */
        r->rx[r->carry_off] = r->carry_first;
        memmove(r->rx, r->rx + r->carry_off, r->carry_len);
        r->rxlen = r->carry_len;
        r->carry_len = 0;
    }
    r->toobig = 0;
    memset(r->hdr, 0, sizeof r->hdr);
    if (rx_reserve(r, RX_INITIAL) < 0)
        return XR_NOMEM;
    for (;;) {
        char *end;
        while (!(end = memmem(r->rx + scan, r->rxlen - scan, "\r\n\r\n", 4))) {
            if (r->rxlen > HEAD_MAX)
                return XR_FATAL;
            scan = r->rxlen > 3 ? r->rxlen - 3 : 0;
            if ((x = rx_fill(r, NULL)) < 0)
                return x;
        }
        r->head_len = (size_t)(end - r->rx) + 4;
        /* The status line: "HTTP/1.x NNN ..." */
        if (r->head_len < 14 || memcmp(r->rx, "HTTP/1.", 7) != 0 || r->rx[8] != ' ')
            return XR_FATAL;
        const char *s = r->rx + 9;
        if (s[0] < '1' || s[0] > '5' || s[1] < '0' || s[1] > '9' || s[2] < '0' || s[2] > '9')
            return XR_FATAL;
        r->status = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
        if (r->status >= 200 || r->status == 101)
            return XR_OK;
        /* An interim 1xx: skip it, the real answer follows. */
        memmove(r->rx, r->rx + r->head_len, r->rxlen - r->head_len);
        r->rxlen -= r->head_len;
        r->head_len = 0;
        scan = 0;
    }
}

/* A body without a length: it runs to the end of the connection. */
static int body_to_eof(rt *r, size_t *src, size_t *dst)
{
    int x;
    for (;;) {
        if (*src < r->rxlen && (x = body_take(r, src, dst, r->rxlen - *src)) < 0)
            return x;
        rx_cut(r, *dst, src);
        int eof = 0;
        x = rx_fill(r, &eof);
        if (x == XR_RETRY && eof)
            return XR_OK;
        if (x < 0)
            return x;
    }
}

/* Read one whole response into rx. *keep is cleared when the connection
 * cannot carry another request. Returns XR_OK, XR_RETRY (the connection
 * broke before the answer was whole), XR_FATAL (not HTTP), XR_NOMEM. */
static int read_response(rt *r, int *keep)
{
    int x = read_head(r);
    if (x < 0)
        return x;
    int http10 = r->rx[7] == '0';
    int conn_close_hdr = 0, conn_keep_hdr = 0, chunked = 0, have_clen = 0;
    size_t clen = 0;

    /* Headers, NUL-terminated in place so the context can point at them. */
    char *line = (char *)memchr(r->rx, '\n', r->head_len) + 1;
    char *head_end = r->rx + r->head_len - 2;
    while (line < head_end) {
        char *eol = memchr(line, '\n', (size_t)(head_end - line));
        if (!eol)
            return XR_FATAL;
        char *lend = eol > line && eol[-1] == '\r' ? eol - 1 : eol;
        char *vend;
        const char *v;
        if ((v = header_value(line, lend, "Content-Length", 14, &vend))) {
            size_t n = 0;
            if (v == vend)
                return XR_FATAL;
            for (const char *p = v; p < vend; p++) {
                if (*p < '0' || *p > '9' || n > (SIZE_MAX - 9) / 10)
                    return XR_FATAL;
                n = n * 10 + (size_t)(*p - '0');
            }
            if (have_clen && n != clen)
                return XR_FATAL;
            clen = n;
            have_clen = 1;
        } else if ((v = header_value(line, lend, "Transfer-Encoding", 17, &vend))) {
            chunked = has_token(v, vend, "chunked");
        } else if ((v = header_value(line, lend, "Connection", 10, &vend))) {
            conn_close_hdr |= has_token(v, vend, "close");
            conn_keep_hdr |= has_token(v, vend, "keep-alive");
        } else if ((line[0] | 0x20) == 'l') {
            for (int i = 0; i < H_COUNT; i++) {
                v = header_value(line, lend, next_header_names[i].name, next_header_names[i].len,
                                 &vend);
                if (v) {
                    *vend = '\0';
                    r->hdr[i] = (size_t)(v - r->rx);
                    break;
                }
            }
        }
        line = eol + 1;
    }
    *keep = !(conn_close_hdr || (http10 && !conn_keep_hdr));

    size_t src = r->head_len, dst = r->head_len;
    if (r->status == 204 || r->status == 304 || (r->status >= 100 && r->status < 200)) {
        x = XR_OK;
    } else if (chunked) {
        x = body_chunked(r, &src, &dst);
    } else if (have_clen) {
        if (!r->toobig && clen <= LRT_MAX_PAYLOAD && rx_reserve(r, r->head_len + clen + 1) < 0)
            return XR_NOMEM;
        x = body_take(r, &src, &dst, clen);
    } else {
        *keep = 0; /* no length: the body runs to the end of the connection */
        x = body_to_eof(r, &src, &dst);
    }
    if (x < 0)
        return x;
    if (src != r->rxlen && r->next_sent && *keep && dst == src) {
        r->carry_off = src; /* the pipelined GET's answer, or its start */
        r->carry_len = r->rxlen - src;
        r->carry_first = r->rx[src];
    } else if (src != r->rxlen) {
        *keep = 0; /* bytes we never asked for: do not trust the stream */
    }
    r->body_len = dst - r->head_len;
    r->rx[dst] = '\0'; /* rx always has a spare byte past what was read */
    return XR_OK;
}

/* ---- requests -------------------------------------------------------------- */

#define NEXT_PATH "/runtime/invocation/next"
/* Posts smaller than this carry GET /next behind them (pipelined): the
 * API answers both, and the next event comes with the post's 202, one
 * wakeup instead of two. A bigger one could be refused (413) and is sent
 * alone. */
#define PIPELINE_MAX (1u << 20)

/* One request; body NULL means GET. Sets r->status. then_next: send
 * GET /next right behind this post (its answer is read by the next
 * rt_request for NEXT_PATH). */
static int rt_request(rt *r, const char *path, const char *body, size_t len,
                      const char *error_type, int then_next)
{
    static const char next_fmt[] = "GET " PATH_BASE NEXT_PATH " HTTP/1.1\r\nHost: %s\r\n\r\n";
    char nexthead[400];
    int nl = 0;
    if (then_next) {
        nl = snprintf(nexthead, sizeof nexthead, next_fmt, r->hosthdr);
        if (nl < 0 || (size_t)nl >= sizeof nexthead)
            then_next = 0, nl = 0;
    }
    /* The GET /next sent behind the last post: only its answer to read. */
    int skip_send = body == NULL && r->next_sent && r->fd >= 0;
    r->next_sent = 0;
    char head[1536];
    int hl;
    if (body) {
        char et[200] = "";
        if (error_type) {
            char v[128];
            snprintf(v, sizeof v, "%s", error_type);
            for (char *c = v; *c; c++) /* keep it one header line */
                if (*c == '\r' || *c == '\n')
                    *c = ' ';
            snprintf(et, sizeof et, "Lambda-Runtime-Function-Error-Type: %s\r\n", v);
        }
        hl = snprintf(head, sizeof head,
                      "POST " PATH_BASE "%s HTTP/1.1\r\nHost: %s\r\n"
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n",
                      path, r->hosthdr, len, et);
    } else {
        hl = snprintf(head, sizeof head, "GET " PATH_BASE "%s HTTP/1.1\r\nHost: %s\r\n\r\n", path,
                      r->hosthdr);
    }
    if (hl < 0 || (size_t)hl >= sizeof head)
        return LRT_EINVAL;

    for (int attempt = 0;; attempt++) {
        const char *why = NULL;
        int x = XR_RETRY, keep = 1;
        if (r->fd < 0 && conn_open(r, &why) < 0) {
            /* why says it */
        } else {
            struct iovec iov[3] = {{head, (size_t)hl}};
            int niov = 1;
            if (body && len)
                iov[niov++] = (struct iovec){(void *)body, len};
            if (nl > 0)
                iov[niov++] = (struct iovec){nexthead, (size_t)nl};
            r->next_sent = nl > 0;
            if (!skip_send && send_all(r->fd, iov, niov) < 0) {
                why = strerror(errno);
                r->next_sent = 0;
            } else {
                skip_send = 0;
                errno = 0;
                x = read_response(r, &keep);
                if (x != XR_OK || !keep) {
                    r->next_sent = 0;
                    r->carry_len = 0;
                }
                if (x == XR_RETRY)
                    why = errno ? strerror(errno) : "the connection closed before an answer";
            }
        }
        if (x == XR_OK) {
            if (!keep)
                conn_close(r);
            return r->toobig ? LRT_ETOOBIG : LRT_OK;
        }
        conn_close(r);
        r->next_sent = 0;
        r->carry_len = 0;
        skip_send = 0;
        if (x == XR_NOMEM)
            return LRT_ENOMEM;
        if (x == XR_FATAL) {
            fprintf(stderr, "lrt: %s %s: the answer is not HTTP/1.1\n", body ? "POST" : "GET", path);
            return LRT_EIO;
        }
        fprintf(stderr, "lrt: %s %s to %s: %s (attempt %d)\n", body ? "POST" : "GET", path,
                r->hosthdr, why ? why : "failed", attempt + 1);
        if (attempt >= r->max_retries)
            return LRT_EIO;
        /* A short, growing pause: the API is local and restarts fast. */
        struct timespec ts = {0, 10000000L * (attempt + 1)};
        nanosleep(&ts, NULL);
    }
}

static int rt_open(rt *r, const lrt_options *opts)
{
    const char *api = opts && opts->api ? opts->api : getenv("AWS_LAMBDA_RUNTIME_API");
    memset(r, 0, sizeof *r);
    r->fd = -1;
    if (!api || !*api) {
        fprintf(stderr, "lrt: AWS_LAMBDA_RUNTIME_API is not set\n");
        return LRT_EINVAL;
    }
    if ((size_t)snprintf(r->hosthdr, sizeof r->hosthdr, "%s", api) >= sizeof r->hosthdr ||
        strpbrk(api, "/\r\n \t"))
        return LRT_EINVAL;
    /* host:port, [v6]:port, or host (port 80) */
    const char *host = api, *colon;
    size_t hlen;
    if (api[0] == '[') {
        const char *rb = strchr(api, ']');
        if (!rb || (rb[1] && rb[1] != ':'))
            return LRT_EINVAL;
        host = api + 1;
        hlen = (size_t)(rb - host);
        colon = rb[1] ? rb + 1 : NULL;
    } else {
        colon = strrchr(api, ':');
        hlen = colon ? (size_t)(colon - api) : strlen(api);
    }
    const char *port = colon ? colon + 1 : "80";
    if (hlen == 0 || hlen >= sizeof r->host || !*port || strlen(port) >= sizeof r->port ||
        strspn(port, "0123456789") != strlen(port))
        return LRT_EINVAL;
    memcpy(r->host, host, hlen);
    r->host[hlen] = '\0';
    snprintf(r->port, sizeof r->port, "%s", port);
    r->max_retries = opts && opts->max_retries > 0 ? opts->max_retries : DEFAULT_RETRIES;
    return LRT_OK;
}

static void rt_close(rt *r)
{
    conn_close(r);
    free(r->rx);
    free(r->tx.p);
    fjson_buf_free(&r->fj);
    memset(r, 0, sizeof *r);
    r->fd = -1;
}

/* ---- posting results -------------------------------------------------------- */

/* What a post's status means for the loop. */
static int post_status(const char *what, int status)
{
    if (status == 202 || status == 200)
        return LRT_OK;
    if (status >= 500) {
        fprintf(stderr, "lrt: %s: the Runtime API answered %d: exiting\n", what, status);
        return LRT_EAPI;
    }
    fprintf(stderr, "lrt: %s: the Runtime API answered %d\n", what, status);
    return LRT_OK;
}

static int tx_append(const char *p, size_t n, void *ud)
{
    txbuf *t = ud;
    if (t->len + n > LRT_MAX_PAYLOAD) {
        t->toobig = 1;
        return -1;
    }
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *q = realloc(t->p, cap);
        if (!q)
            return -1;
        t->p = q;
        t->cap = cap;
    }
    memcpy(t->p + t->len, p, n);
    t->len += n;
    t->p[t->len] = '\0';
    return 0;
}

/* s[0, len) as a JSON string literal, escaped as jansson's encoder does
 * (so a result reads byte for byte as json_dumps would write it).
 * Invalid UTF-8 fails, or with `lossy` (error messages, which may be cut
 * inside a character) becomes U+FFFD, so the body is always JSON. */
static int tx_string(txbuf *t, const char *s, size_t len, int lossy)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    if (tx_append("\"", 1, t) < 0)
        return -1;
    while (p < end) {
        const unsigned char *run = p;
        for (;;) {
            while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
                p++;
            size_t n;
            if (p < end && *p >= 0x80 && (n = fjson_utf8_len(p, end)) > 0)
                p += n;
            else
                break;
        }
        if (p > run && tx_append((const char *)run, (size_t)(p - run), t) < 0)
            return -1;
        if (p >= end)
            break;
        char esc[8];
        size_t n = 2;
        esc[0] = '\\';
        switch (*p) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            if (*p < 0x20) {
                memcpy(esc + 1, "u00", 3);
                esc[4] = hex[*p >> 4];
                esc[5] = hex[*p & 15];
                n = 6;
            } else if (lossy) { /* a broken UTF-8 sequence */
                memcpy(esc, "\xef\xbf\xbd", 3);
                n = 3;
            } else {
                return -1;
            }
        }
        p++;
        if (tx_append(esc, n, t) < 0)
            return -1;
    }
    return tx_append("\"", 1, t);
}

/* The result as json_dumps(JSON_COMPACT | JSON_ENCODE_ANY) writes it, for
 * what results are made of; -1 for anything else (reals, deep nesting,
 * bad strings) and the caller lets jansson do it (its encoder formats
 * through callbacks piece by piece and was a tenth of an invocation). */
static int tx_value(txbuf *t, const json_t *v, int depth)
{
    char num[32];
    if (depth > FAST_DEPTH)
        return -1;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        int first = 1;
        if (tx_append("{", 1, t) < 0)
            return -1;
        for (void *it = json_object_iter((json_t *)v); it;
             it = json_object_iter_next((json_t *)v, it), first = 0) {
            if ((!first && tx_append(",", 1, t) < 0) ||
                tx_string(t, json_object_iter_key(it), json_object_iter_key_len(it), 0) < 0 ||
                tx_append(":", 1, t) < 0 || tx_value(t, json_object_iter_value(it), depth + 1) < 0)
                return -1;
        }
        return tx_append("}", 1, t);
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *m;
        if (tx_append("[", 1, t) < 0)
            return -1;
        json_array_foreach(v, i, m) {
            if ((i > 0 && tx_append(",", 1, t) < 0) || tx_value(t, m, depth + 1) < 0)
                return -1;
        }
        return tx_append("]", 1, t);
    }
    case JSON_STRING:
        return tx_string(t, json_string_value(v), json_string_length(v), 0);
    case JSON_INTEGER: {
        int n = snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return tx_append(num, (size_t)n, t);
    }
    case JSON_TRUE:
        return tx_append("true", 4, t);
    case JSON_FALSE:
        return tx_append("false", 5, t);
    case JSON_NULL:
        return tx_append("null", 4, t);
    default:
        return -1;
    }
}

/* Fill r->tx with the result's JSON text. Returns 0, or -1 (t->toobig
 * says whether it was the size). */
static int result_dump(rt *r, const json_t *result)
{
    txbuf *t = &r->tx;
    t->len = 0;
    t->toobig = 0;
    if (tx_value(t, result, 0) == 0)
        return 0;
    if (t->toobig)
        return -1;
    t->len = 0;
    return json_dump_callback(result, tx_append, t, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* then_next: pipeline GET /next behind it (see PIPELINE_MAX). */
static int post_error(rt *r, const char *path, const char *type, const char *message,
                      int then_next)
{
    txbuf *t = &r->tx;
    t->len = 0;
    t->toobig = 0;
    /* the error shape the Runtime API documents */
    if (tx_append("{\"errorMessage\":", 16, t) < 0 || tx_string(t, message, strlen(message), 1) < 0 ||
        tx_append(",\"errorType\":", 13, t) < 0 || tx_string(t, type, strlen(type), 1) < 0 ||
        tx_append(",\"stackTrace\":[]}", 17, t) < 0)
        return LRT_ENOMEM;
    int rc = rt_request(r, path, t->p, t->len, type,
                        then_next && !r->last && t->len < PIPELINE_MAX);
    if (rc < 0 && rc != LRT_ETOOBIG) /* a post's answer body does not matter */
        return rc;
    return post_status(path, r->status);
}

static int post_result(rt *r, const char *id, json_t *result)
{
    char path[REQUEST_ID_MAX + 64];
    txbuf *t = &r->tx;
    int dumped = result_dump(r, result);
    if (dumped < 0 && t->toobig) {
        snprintf(path, sizeof path, "/runtime/invocation/%s/error", id);
        return post_error(r, path, "Function.ResponseSizeTooLarge",
                          "The response is larger than the 6 MB payload limit", 1);
    }
    if (dumped < 0)
        return LRT_ENOMEM;
    snprintf(path, sizeof path, "/runtime/invocation/%s/response", id);
    int rc = rt_request(r, path, t->p, t->len, NULL, !r->last && t->len < PIPELINE_MAX);
    if (rc < 0 && rc != LRT_ETOOBIG)
        return rc;
    if (r->status == 413) {
        snprintf(path, sizeof path, "/runtime/invocation/%s/error", id);
        return post_error(r, path, "Function.ResponseSizeTooLarge",
                          "The Runtime API refused the response as too large", 1);
    }
    return post_status("response", r->status);
}

/* ---- reading the event -------------------------------------------------------- */

/* The event as json_loadb(JSON_DECODE_ANY) would give it (fjson: the
 * direct reader, jansson for what it does not take). Returns: new, or
 * NULL with *jerr filled. */
static json_t *event_parse(rt *r, const char *text, size_t len, json_error_t *jerr)
{
    return fjson_loadb(text, len, JSON_DECODE_ANY, jerr, &r->fj);
}

/* ---- the loop ------------------------------------------------------------------ */

/* Tracing SDKs read the trace header from the environment. glibc's setenv
 * keeps every value it was ever given, so a fresh trace id per invocation
 * would grow the heap for good: the variable points at our own buffer. */
static char trace_env[sizeof TRACE_ENV + TRACE_ENV_MAX];

static void export_trace(const char *trace)
{
    size_t n = trace ? strlen(trace) : 0;
    if (n == 0) {
        unsetenv("_X_AMZN_TRACE_ID");
    } else if (n < TRACE_ENV_MAX) {
        memcpy(trace_env, TRACE_ENV, sizeof TRACE_ENV - 1);
        memcpy(trace_env + sizeof TRACE_ENV - 1, trace, n + 1);
        putenv(trace_env);
    } else {
        setenv("_X_AMZN_TRACE_ID", trace, 1);
    }
}

static const char *hdr_or_empty(const rt *r, int which)
{
    return r->hdr[which] ? r->rx + r->hdr[which] : "";
}

/* Run one invocation: GET /next, handler, post. */
static int run_one(rt *r, lrt_handler handler, void *user)
{
    char path[REQUEST_ID_MAX + 64];
    int rc = rt_request(r, NEXT_PATH, NULL, 0, NULL, 0);
    if (rc < 0 && rc != LRT_ETOOBIG)
        return rc;
    if (r->status != 200) {
        fprintf(stderr, "lrt: GET next: the Runtime API answered %d: exiting\n", r->status);
        return LRT_EAPI;
    }
    const char *id = hdr_or_empty(r, H_REQUEST_ID);
    if (!*id || strlen(id) >= sizeof r->request_id || strpbrk(id, "/?# \t")) {
        fprintf(stderr, "lrt: GET next: no usable Lambda-Runtime-Aws-Request-Id\n");
        return LRT_EAPI;
    }
    /* rx is overwritten by the post's answer: keep the id. */
    memcpy(r->request_id, id, strlen(id) + 1);
    snprintf(path, sizeof path, "/runtime/invocation/%s/error", r->request_id);
    if (rc == LRT_ETOOBIG)
        return post_error(r, path, "Runtime.PayloadTooLarge",
                          "The event is larger than the 6 MB payload limit", 1);

    const char *deadline = hdr_or_empty(r, H_DEADLINE);
    lrt_context ctx = {
        .request_id = r->request_id,
        .deadline_ms = *deadline ? strtoll(deadline, NULL, 10) : 0,
        .invoked_function_arn = hdr_or_empty(r, H_ARN),
        .trace_id = hdr_or_empty(r, H_TRACE),
        .client_context = hdr_or_empty(r, H_CLIENT_CONTEXT),
        .cognito_identity = hdr_or_empty(r, H_COGNITO),
        .tenant_id = hdr_or_empty(r, H_TENANT),
    };
    export_trace(ctx.trace_id);

    json_error_t jerr;
    json_t *event = event_parse(r, r->rx + r->head_len, r->body_len, &jerr);
    if (!event) {
        char msg[300];
        snprintf(msg, sizeof msg, "The event is not JSON: %s", jerr.text);
        return post_error(r, path, "Runtime.InvalidEvent", msg, 1);
    }
    lrt_error err = {{0}, {0}};
    json_t *result = handler(event, &ctx, &err, user);
    json_decref(event);
    if (result) {
        rc = post_result(r, r->request_id, result);
        json_decref(result);
        return rc;
    }
    if (!err.type[0])
        snprintf(err.type, sizeof err.type, "HandlerError");
    fprintf(stderr, "lrt: invocation %s failed: %s: %s\n", r->request_id, err.type, err.message);
    return post_error(r, path, err.type, err.message, 1);
}

/* A buffer a 6 MB event grew stays that big otherwise. rx may still hold
 * the start of the answer to the GET /next pipelined behind the last post
 * (carry_len bytes at carry_off): those move into the smaller buffer, or
 * rx is kept as it is for now. Releasing rx with them in it was issue 12's
 * crash: the next invocation read its carried bytes from a freed (NULL)
 * buffer after any 1 MiB event. */
static void trim_buffers(rt *r)
{
    if (r->rxcap > RX_KEEP && r->carry_len < RX_INITIAL) {
        char *p = malloc(RX_INITIAL);
        if (p) {
            if (r->carry_len > 0) {
                r->rx[r->carry_off] = r->carry_first;
                memcpy(p, r->rx + r->carry_off, r->carry_len);
                r->carry_off = 0;
                r->carry_first = p[0];
            }
            free(r->rx);
            r->rx = p;
            r->rxcap = RX_INITIAL;
            r->rxlen = r->carry_len;
        }
    }
    if (r->fj.scap > RX_KEEP) {
        fjson_buf_free(&r->fj);
    }
    if (r->tx.cap > RX_KEEP) {
        free(r->tx.p);
        r->tx.p = NULL;
        r->tx.cap = r->tx.len = 0;
    }
}

int lrt_run(lrt_handler handler, void *user, const lrt_options *opts)
{
    rt r;
    int rc = rt_open(&r, opts);
    if (rc < 0)
        return rc;
    int max = opts ? opts->max_invocations : 0;
    for (int n = 0; max <= 0 || n < max; n++) {
        r.last = max > 0 && n + 1 == max;
        rc = run_one(&r, handler, user);
        if (rc < 0)
            break;
        trim_buffers(&r);
    }
    rt_close(&r);
    return rc;
}

int lrt_init_error(const char *type, const char *message, const lrt_options *opts)
{
    rt r;
    int rc = rt_open(&r, opts);
    if (rc < 0)
        return rc;
    rc = post_error(&r, "/runtime/init/error", type, message, 0);
    rt_close(&r);
    return rc;
}

int lrt_main(lrt_handler handler, lrt_init_fn init, lrt_cleanup_fn cleanup)
{
    void *user = NULL;
    lrt_error err = {{0}, {0}};
    if (init && init(&user, &err) < 0) {
        if (!err.type[0])
            snprintf(err.type, sizeof err.type, "Runtime.InitError");
        fprintf(stderr, "lrt: init failed: %s: %s\n", err.type, err.message);
        lrt_init_error(err.type, err.message, NULL);
        return 1;
    }
    int rc = lrt_run(handler, user, NULL);
    if (cleanup)
        cleanup(user);
    return rc == LRT_OK ? 0 : 1;
}
