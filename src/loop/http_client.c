/*
 * http_client.c - one HTTP/1.1 request on the loop (see http_client.h).
 *
 * connect (non-blocking) -> write the request -> read until the response
 * is whole -> cb. One timer bounds all of it; an error found before the
 * first wait (socket() failing, a connect refused at once on loopback) is
 * reported from that timer armed at "now", so cb never runs inside
 * http_client_send.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "http_client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

struct http_creq {
    ev_loop *loop;
    int fd;
    int connected, reading;
    int err;               /* an error to report from the timer */
    char *out;
    size_t out_len, out_off;
    char *in;
    size_t in_len, in_cap;
    ev_timer *timer;
    http_creq_cb *cb;
    void *ud;
};

static void drop(http_creq *q)
{
    if (q->fd >= 0) {
        ev_fd_unwatch(q->loop, q->fd);
        close(q->fd);
    }
    if (q->timer)
        ev_timer_cancel(q->loop, q->timer);
    free(q->out);
    free(q->in);
    free(q);
}

static void finish(http_creq *q, int err, const http_cresp *resp)
{
    http_creq_cb *cb = q->cb;
    void *ud = q->ud;
    if (q->fd >= 0) {
        ev_fd_unwatch(q->loop, q->fd);
        close(q->fd);
        q->fd = -1;
    }
    if (q->timer) {
        ev_timer_cancel(q->loop, q->timer);
        q->timer = NULL;
    }
    cb(ud, err, resp);
    drop(q);
}

static void on_timer(ev_loop *loop, ev_timer *t, void *ud)
{
    (void)loop;
    (void)t;
    http_creq *q = ud;
    q->timer = NULL;
    finish(q, q->err ? q->err : -ETIMEDOUT, NULL);
}

/* Chunked body at p[0..n) decoded into out (at most n bytes). 1 whole,
 * 0 more to come, -1 malformed. */
static int dechunk(const char *p, size_t n, char *out, size_t *outlen)
{
    size_t i = 0, o = 0;
    for (;;) {
        const char *eol = memmem(p + i, n - i, "\r\n", 2);
        if (eol == NULL)
            return n - i > 64 ? -1 : 0;
        char *end;
        unsigned long sz = strtoul(p + i, &end, 16);
        if (end == p + i || (end < eol && *end != ';' && *end != ' '))
            return -1;
        i = (size_t)(eol - p) + 2;
        if (sz == 0) { /* trailers, then an empty line */
            for (;;) {
                const char *e2 = memmem(p + i, n - i, "\r\n", 2);
                if (e2 == NULL)
                    return 0;
                if (e2 == p + i) {
                    *outlen = o;
                    return 1;
                }
                i = (size_t)(e2 - p) + 2;
            }
        }
        if (sz > n || n - i < sz + 2)
            return 0;
        memcpy(out + o, p + i, sz);
        o += sz;
        i += sz;
        if (p[i] != '\r' || p[i + 1] != '\n')
            return -1;
        i += 2;
    }
}

static int header_in(const char *h, size_t n, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    const char *end = h + n;
    while (h < end) {
        const char *eol = memmem(h, (size_t)(end - h), "\r\n", 2);
        if (eol == NULL)
            eol = end;
        if ((size_t)(eol - h) > nl && h[nl] == ':' && strncasecmp(h, name, nl) == 0) {
            const char *v = h + nl + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = eol;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            size_t m = (size_t)(ve - v);
            if (outlen) {
                if (m >= outlen)
                    m = outlen - 1;
                memcpy(out, v, m);
                out[m] = '\0';
            }
            return 1;
        }
        h = eol + 2;
    }
    return 0;
}

int http_cresp_header(const http_cresp *resp, const char *name, char *out, size_t outlen)
{
    return header_in(resp->headers, resp->headers_len, name, out, outlen);
}

/* Is the response in q->in whole? 1 (and cb called), 0 more, <0 error. */
static int try_parse(http_creq *q, int eof)
{
    for (;;) {
        char *hend = memmem(q->in, q->in_len, "\r\n\r\n", 4);
        if (hend == NULL)
            return eof ? -EPROTO : 0;
        int status = 0;
        if (q->in_len < 12 || strncmp(q->in, "HTTP/1.", 7) != 0 || q->in[8] != ' ')
            return -EPROTO;
        for (int i = 9; i < 12; i++) {
            if (q->in[i] < '0' || q->in[i] > '9')
                return -EPROTO;
            status = status * 10 + (q->in[i] - '0');
        }
        /* the status line's end: at hend itself when there are no headers */
        const char *hs = (const char *)memchr(q->in, '\n', (size_t)(hend + 2 - q->in)) + 1;
        size_t hlen = hs <= hend ? (size_t)(hend + 2 - hs) : 0;
        char *body = hend + 4;
        size_t have = q->in_len - (size_t)(body - q->in);
        if (status >= 100 && status < 200) { /* an interim response: skip it */
            memmove(q->in, body, have);
            q->in_len = have;
            continue;
        }
        http_cresp r = {.status = status, .headers = hs, .headers_len = hlen, .body = body};
        char v[64];
        if (status == 204 || status == 304) {
            r.body_len = 0;
        } else if (header_in(hs, hlen, "Transfer-Encoding", v, sizeof v) &&
                   strcasestr(v, "chunked")) {
            char *dec = malloc(have + 1);
            size_t dl = 0;
            if (dec == NULL)
                return -ENOMEM;
            int rc = dechunk(body, have, dec, &dl);
            if (rc <= 0) {
                free(dec);
                return rc < 0 || eof ? -EPROTO : 0;
            }
            memcpy(body, dec, dl); /* the decoded body is never longer */
            free(dec);
            r.body_len = dl;
        } else if (header_in(hs, hlen, "Content-Length", v, sizeof v)) {
            char *end;
            unsigned long long cl = strtoull(v, &end, 10);
            if (end == v || *end != '\0' || cl > HTTP_CLIENT_MAX_RESPONSE)
                return -EPROTO;
            if (have < cl)
                return eof ? -EPROTO : 0;
            r.body_len = (size_t)cl;
        } else {
            if (!eof)
                return 0; /* delimited by the close */
            r.body_len = have;
        }
        body[r.body_len] = '\0'; /* the buffer keeps one byte spare */
        finish(q, 0, &r);
        return 1;
    }
}

static void on_fd(ev_loop *loop, int fd, int events, void *ud)
{
    (void)events;
    http_creq *q = ud;
    if (!q->connected) {
        int e = 0;
        socklen_t el = sizeof e;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0)
            e = errno;
        if (e == EINPROGRESS || e == EALREADY)
            return;
        if (e != 0) {
            finish(q, -e, NULL);
            return;
        }
        q->connected = 1;
    }
    if (!q->reading) {
        while (q->out_off < q->out_len) {
            ssize_t w = send(fd, q->out + q->out_off, q->out_len - q->out_off, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return;
            if (w <= 0) {
                finish(q, w < 0 ? -errno : -ECONNRESET, NULL);
                return;
            }
            q->out_off += (size_t)w;
        }
        q->reading = 1;
        if (ev_fd_watch(loop, fd, EV_READ, on_fd, q) != 0) {
            finish(q, -ENOMEM, NULL);
            return;
        }
        return;
    }
    for (;;) {
        if (q->in_cap - q->in_len < 4096 + 1) {
            size_t cap = q->in_cap ? q->in_cap * 2 : 16384;
            if (cap > HTTP_CLIENT_MAX_RESPONSE + 65536) {
                finish(q, -EMSGSIZE, NULL);
                return;
            }
            char *n = realloc(q->in, cap);
            if (n == NULL) {
                finish(q, -ENOMEM, NULL);
                return;
            }
            q->in = n;
            q->in_cap = cap;
        }
        ssize_t n = read(fd, q->in + q->in_len, q->in_cap - q->in_len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0) {
            finish(q, -errno, NULL);
            return;
        }
        q->in_len += (size_t)n;
        int rc = try_parse(q, n == 0);
        if (rc < 0)
            finish(q, rc, NULL);
        if (rc != 0)
            return;
        if (n == 0) /* unreachable: try_parse ends an EOF either way */
            return;
    }
}

http_creq *http_client_send(ev_loop *loop, const struct sockaddr *addr, socklen_t alen,
                            const char *req, size_t len, int64_t timeout_ms, http_creq_cb *cb,
                            void *ud)
{
    http_creq *q = calloc(1, sizeof *q);
    if (q == NULL)
        return NULL;
    q->loop = loop;
    q->fd = -1;
    q->cb = cb;
    q->ud = ud;
    q->out = malloc(len ? len : 1);
    if (q->out == NULL) {
        free(q);
        return NULL;
    }
    memcpy(q->out, req, len);
    q->out_len = len;
    int64_t deadline = ev_now_ms() + (timeout_ms > 0 ? timeout_ms : 60000);
    q->fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (q->fd < 0) {
        q->err = -errno;
    } else if (connect(q->fd, addr, alen) != 0 && errno != EINPROGRESS) {
        q->err = -errno;
    } else if (ev_fd_watch(loop, q->fd, EV_WRITE, on_fd, q) != 0) {
        q->err = -ENOMEM;
    }
    if (q->err) { /* reported from the loop, not from here */
        if (q->fd >= 0) {
            ev_fd_unwatch(loop, q->fd);
            close(q->fd);
            q->fd = -1;
        }
        deadline = ev_now_ms();
    }
    q->timer = ev_timer_add(loop, deadline, on_timer, q);
    if (q->timer == NULL) {
        drop(q);
        return NULL;
    }
    return q;
}

void http_client_cancel(http_creq *q)
{
    if (q != NULL)
        drop(q);
}
