/*
 * http.c - the HTTP/1.1 server on the ev loop (the parser is http_parse.c).
 *
 * One request per connection is "current" at a time: it is handed to the
 * handler and the next pipelined one is parsed only after it is answered,
 * which keeps responses in order without a response queue. While a request
 * is current the connection is still read, so a client that hangs up during
 * a long poll is noticed and reported (cancel callback).
 *
 * Few allocations and copies: a small request is copied out into the one
 * allocation that holds its http_req (the connection keeps its buffer); a
 * large one takes the connection's input buffer (the connection gets a
 * fresh one); http_respond writes head and body with one writev, copying
 * only what the socket did not take.
 *
 * Must not: block, call the handler re-entrantly from http_respond (a
 * pipelined next request is started from the loop instead).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "http.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define IN_MIN 4096
#define READ_AHEAD_CAP 65536 /* buffered bytes beyond a current request */

typedef struct conn conn;

struct http_server {
    ev_loop *loop;
    int lfd;
    int port;
    http_limits lim;
    http_handler *handler;
    void *ud;
    conn *conns;       /* doubly linked */
    size_t nconns;
    size_t npending;   /* requests handed out, not yet responded/released */
    int freeing;       /* http_server_free called, waiting for npending == 0 */
    int hold_pipelined;
};

struct conn {
    http_server *srv;
    int fd;
    char *in;
    size_t inlen, incap;
    char *out;          /* unsent response bytes */
    size_t outoff, outlen, outcap;
    http_req *cur;      /* the request the owner holds */
    uint64_t discard;   /* body bytes still to swallow after an early 413 */
    int close_after;    /* close once out is flushed (and discard done) */
    int in_handler;     /* inside process_input: do not free, do not recurse */
    int sent_continue;  /* 100 Continue already sent for the head in `in` */
    int mask;           /* current EV_ mask */
    ev_timer *kick;     /* deferred process_input for pipelined bytes */
    int hold;           /* out holds a response kept for the next one */
    conn *prev, *next;
};

struct http_req {
    http_server *srv;
    conn *c;            /* NULL once the client is gone */
    char *buf;          /* head + body + NUL: after the struct, or owned */
    int buf_owned;      /* 1: buf is a separate allocation */
    size_t headlen;
    size_t bodylen;
    const char *method, *path, *query;
    int nheaders;
    uint32_t hname[HTTP_MAX_HEADERS];
    uint32_t hvalue[HTTP_MAX_HEADERS];
    int keep_alive;
    int cancelled;
    http_cancel_cb *cancel;
    void *cancel_ud;
    void *data;
};

static void conn_close(conn *c);
static void process_input(conn *c);
static void conn_event(ev_loop *loop, int fd, int events, void *ud);

/* ---- small helpers ---------------------------------------------------- */
static void conn_set_mask(conn *c, int mask)
{
    if (mask == c->mask)
        return;
    c->mask = mask;
    ev_fd_watch(c->srv->loop, c->fd, mask, conn_event, c);
}

static void srv_maybe_free(http_server *srv)
{
    if (srv->freeing && srv->npending == 0 && srv->nconns == 0)
        free(srv);
}

static int out_append(conn *c, const char *p, size_t n)
{
    if (c->outoff > 0 && c->outoff == c->outlen)
        c->outoff = c->outlen = 0;
    if (c->outlen + n > c->outcap) {
        size_t cap = c->outcap ? c->outcap : 4096;
        while (cap < c->outlen + n)
            cap *= 2;
        char *o = realloc(c->out, cap);
        if (o == NULL)
            return -ENOMEM;
        c->out = o;
        c->outcap = cap;
    }
    memcpy(c->out + c->outlen, p, n);
    c->outlen += n;
    return 0;
}

/* Write what is buffered. Returns 0 (all or some written), -1 on error. */
static int out_flush(conn *c)
{
    while (c->outoff < c->outlen) {
        ssize_t w = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -1;
        }
        c->outoff += (size_t)w;
    }
    c->outoff = c->outlen = 0;
    return 0;
}

/* After output progress: decide the watch mask, or close. Returns 1 if
 * the connection was freed. */
static int conn_after_write(conn *c)
{
    int pending_out = c->outoff < c->outlen && !c->hold;
    if (c->fd < 0 || (!pending_out && c->close_after && c->discard == 0)) {
        if (c->in_handler)
            return 0; /* whoever holds it closes when it unwinds */
        conn_close(c);
        return 1;
    }
    int mask = pending_out ? EV_WRITE : 0;
    /* Read unless a current request has already buffered enough ahead. */
    if (!(c->cur != NULL && c->inlen >= READ_AHEAD_CAP))
        mask |= EV_READ;
    conn_set_mask(c, mask);
    return 0;
}

/* ---- responding ------------------------------------------------------- */
static void req_free(http_req *req)
{
    http_server *srv = req->srv;
    if (req->buf_owned)
        free(req->buf);
    free(req);
    srv->npending--;
    srv_maybe_free(srv);
}

static void kick_cb(ev_loop *loop, ev_timer *t, void *ud)
{
    conn *c = ud;
    c->kick = NULL;
    process_input(c);
}

static int respond(http_req *req, int status, const char *headers, const char *body, size_t len)
{
    conn *c = req->c;
    if (c == NULL) {
        req_free(req);
        return -EPIPE;
    }
    assert(c->cur == req);
    c->cur = NULL;
    if (!req->keep_alive)
        c->close_after = 1;

    char small[1024];
    size_t hl = headers ? strlen(headers) : 0;
    size_t need = hl + 128;
    char *head = need <= sizeof small ? small : malloc(need);
    int rc = 0;
    if (head == NULL) {
        req_free(req);
        conn_close(c);
        return -ENOMEM;
    }
    int n = snprintf(head, need, "HTTP/1.1 %d %s\r\n%sContent-Length: %zu\r\n%s\r\n", status,
                     http_status_text(status), headers ? headers : "", len,
                     c->close_after ? "Connection: close\r\n" : "");
    size_t nh = (size_t)n;
    req_free(req);

    /* Hold this answer for the next one when the next request is already
     * here (hold_pipelined); send what was held with this one otherwise. */
    int was_held = c->hold;
    c->hold = c->srv->hold_pipelined && c->inlen > 0 && !c->close_after;
    size_t done = 0;
    if (c->outoff == c->outlen && !c->hold) { /* nothing queued: try to write it all now */
        struct iovec iov[2] = {{head, nh}, {(void *)body, len}};
        ssize_t w;
        do
            w = writev(c->fd, iov, len ? 2 : 1);
        while (w < 0 && errno == EINTR);
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            if (head != small)
                free(head);
            c->close_after = 1;
            c->outoff = c->outlen = 0;
            if (!c->in_handler)
                conn_close(c);
            return -EPIPE;
        }
        done = w > 0 ? (size_t)w : 0;
    }
    if (done < nh)
        rc = out_append(c, head + done, nh - done);
    if (rc == 0 && len > 0) {
        size_t bdone = done > nh ? done - nh : 0;
        if (bdone < len)
            rc = out_append(c, body + bdone, len - bdone);
    }
    if (head != small)
        free(head);
    if (rc == 0 && was_held && !c->hold && out_flush(c) < 0)
        rc = -EPIPE;
    if (rc < 0) {
        c->close_after = 1;
        c->outoff = c->outlen = 0;
        c->hold = 0;
    }
    if (conn_after_write(c))
        return rc;
    /* Pipelined bytes already here: start the next request from the loop,
     * never from inside the owner's call to http_respond. */
    if (!c->in_handler && c->inlen > 0 && !c->close_after && c->kick == NULL)
        c->kick = ev_timer_add(c->srv->loop, 0, kick_cb, c);
    return rc;
}

int http_respond(http_req *req, int status, const char *headers, const char *body, size_t len)
{
    return respond(req, status, headers, body, len);
}

int http_respond_take(http_req *req, int status, const char *headers, char *body, size_t len)
{
    int rc = respond(req, status, headers, body, len);
    free(body);
    return rc;
}

void http_req_release(http_req *req)
{
    conn *c = req->c;
    if (c != NULL) {
        c->cur = NULL;
        c->close_after = 1;
        c->outoff = c->outlen = 0;
        c->discard = 0;
        if (!c->in_handler)
            conn_close(c);
    }
    req_free(req);
}

/* An error found by the parser: answer, then close (after swallowing the
 * body of an over-large request, so the client reads our 413 instead of a
 * reset). */
static void respond_error(conn *c, int status, uint64_t discard)
{
    char head[160];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status,
                     http_status_text(status));
    c->close_after = 1;
    c->discard = discard;
    c->hold = 0;
    if (out_append(c, head, (size_t)n) < 0 || out_flush(c) < 0) {
        c->outoff = c->outlen = 0;
        c->discard = 0;
    }
    c->inlen = 0;
    conn_after_write(c);
}

/* ---- requests --------------------------------------------------------- */
#define REQ_COPY_MAX 16384 /* smaller requests are copied out with their http_req */

static http_req *req_make(conn *c, const http_parsed *p, size_t headlen, size_t bodylen)
{
    size_t total = headlen + bodylen;
    size_t left = c->inlen - total;
    http_req *req;
    if (total <= REQ_COPY_MAX) {
        /* Small (the common case): one allocation holds the request and
         * its bytes; the connection keeps its buffer. */
        req = malloc(sizeof *req + total + 1);
        if (req == NULL)
            return NULL;
        memset(req, 0, sizeof *req);
        req->buf = (char *)(req + 1);
        memcpy(req->buf, c->in, total);
        memmove(c->in, c->in + total, left);
    } else {
        /* Large: the request takes the buffer, no copy of the body. */
        req = calloc(1, sizeof *req);
        if (req == NULL)
            return NULL;
        size_t cap = left + 1 > IN_MIN ? left + 1 : IN_MIN;
        char *fresh = malloc(cap);
        if (fresh == NULL) {
            free(req);
            return NULL;
        }
        memcpy(fresh, c->in + total, left);
        req->buf = c->in;
        req->buf_owned = 1;
        c->in = fresh;
        c->incap = cap;
    }
    c->inlen = left;
    c->sent_continue = 0;

    char *b = req->buf;
    b[total] = '\0'; /* room guaranteed: incap > total */
    req->srv = c->srv;
    req->c = c;
    req->headlen = headlen;
    req->bodylen = bodylen;
    req->keep_alive = p->keep_alive;
    /* NUL-terminate the pieces in place: each is followed by a delimiter
     * (SP, '?', ':' or CR) that we no longer need. */
    b[p->method.off + p->method.len] = '\0';
    req->method = b + p->method.off;
    b[p->path.off + p->path.len] = '\0';
    req->path = b + p->path.off;
    b[p->query.off + p->query.len] = '\0';
    req->query = b + p->query.off;
    req->nheaders = p->nheaders;
    for (int i = 0; i < p->nheaders; i++) {
        b[p->hname[i].off + p->hname[i].len] = '\0';
        b[p->hvalue[i].off + p->hvalue[i].len] = '\0';
        req->hname[i] = p->hname[i].off;
        req->hvalue[i] = p->hvalue[i].off;
    }
    return req;
}

/* Parse and dispatch as many complete requests as the buffer holds, one
 * at a time (the next only after the current one was answered). */
static void process_input(conn *c)
{
    http_server *srv = c->srv;
    c->in_handler++;
    while (c->fd >= 0 && c->cur == NULL && !c->close_after && c->inlen > 0) {
        http_parsed p;
        int rc = http_parse_request(c->in, c->inlen, &srv->lim, &p);
        if (rc == 0)
            break;
        if (rc < 0) {
            uint64_t discard = 0;
            if (rc == -413 && p.content_length < 64ull * 1024 * 1024) {
                /* Find the end of the head to swallow exactly the body. */
                char *e = memmem(c->in, c->inlen, "\r\n\r\n", 4);
                size_t have = e ? c->inlen - (size_t)(e + 4 - c->in) : 0;
                discard = have < p.content_length ? p.content_length - have : 0;
            }
            respond_error(c, -rc, discard);
            break;
        }
        size_t headlen = (size_t)rc, total = headlen + p.content_length;
        if (c->inlen < total) {
            if (c->incap < total + 1) {
                char *nb = realloc(c->in, total + 1);
                if (nb == NULL) {
                    respond_error(c, 500, 0);
                    break;
                }
                c->in = nb;
                c->incap = total + 1;
            }
            if (p.expect_continue && !c->sent_continue) {
                static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                c->sent_continue = 1;
                if (out_append(c, cont, sizeof cont - 1) == 0)
                    out_flush(c);
            }
            break;
        }
        http_req *req = req_make(c, &p, headlen, p.content_length);
        if (req == NULL) {
            respond_error(c, 500, 0);
            break;
        }
        c->cur = req;
        srv->npending++;
        srv->handler(req, srv->ud);
    }
    c->in_handler--;
    /* The request after a held answer is not complete yet: do not wait
     * for it to send the answer. */
    if (c->hold && c->cur == NULL && c->fd >= 0) {
        c->hold = 0;
        if (out_flush(c) < 0) {
            c->close_after = 1;
            c->outoff = c->outlen = 0;
        }
    }
    if (c->in_handler == 0)
        conn_after_write(c); /* closes it if it was closed meanwhile */
}

static void conn_read(conn *c)
{
    for (;;) {
        if (c->cur != NULL && c->inlen >= READ_AHEAD_CAP)
            return;
        if (c->incap - c->inlen < 1024) {
            size_t cap = c->incap * 2;
            char *nb = realloc(c->in, cap);
            if (nb == NULL) {
                conn_close(c);
                return;
            }
            c->in = nb;
            c->incap = cap;
        }
        ssize_t r = recv(c->fd, c->in + c->inlen, c->incap - c->inlen - 1, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            conn_close(c);
            return;
        }
        if (r == 0) {
            conn_close(c);
            return;
        }
        if (c->discard > 0) {
            size_t d = (uint64_t)r < c->discard ? (size_t)r : (size_t)c->discard;
            c->discard -= d;
            continue;
        }
        if (c->close_after)
            continue; /* answered with an error: ignore the rest */
        c->inlen += (size_t)r;
        if ((size_t)r < c->incap - c->inlen)
            return; /* short read: the socket is drained */
    }
}

static void conn_event(ev_loop *loop, int fd, int events, void *ud)
{
    conn *c = ud;
    if (events & EV_WRITE) {
        if (out_flush(c) < 0) {
            conn_close(c);
            return;
        }
        if (conn_after_write(c))
            return;
    }
    if (events & EV_READ) {
        c->in_handler++; /* keep c allocated through conn_read's closes */
        conn_read(c);
        c->in_handler--;
        if (c->fd >= 0 && c->cur == NULL && c->inlen > 0)
            process_input(c);
        else
            conn_after_write(c);
    }
}

/* Close the socket; the memory goes when no callback is on the stack. */
static void conn_close(conn *c)
{
    http_server *srv = c->srv;
    if (c->fd >= 0) {
        ev_fd_unwatch(srv->loop, c->fd);
        close(c->fd);
        c->fd = -1;
        if (c->kick) {
            ev_timer_cancel(srv->loop, c->kick);
            c->kick = NULL;
        }
        http_req *req = c->cur;
        c->cur = NULL;
        if (req != NULL) {
            req->c = NULL;
            req->cancelled = 1;
            if (req->cancel)
                req->cancel(req, req->cancel_ud); /* may free req */
        }
    }
    if (c->in_handler)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->nconns--;
    free(c->in);
    free(c->out);
    free(c);
    srv_maybe_free(srv);
}

/* ---- accepting -------------------------------------------------------- */
static void on_accept(ev_loop *loop, int lfd, int events, void *ud)
{
    http_server *srv = ud;
    for (int k = 0; k < 64; k++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or EMFILE & co: try again on the next event */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn *c = calloc(1, sizeof *c);
        char *in = malloc(IN_MIN);
        if (c == NULL || in == NULL) {
            free(c);
            free(in);
            close(fd);
            continue;
        }
        c->srv = srv;
        c->fd = fd;
        c->in = in;
        c->incap = IN_MIN;
        c->next = srv->conns;
        if (srv->conns)
            srv->conns->prev = c;
        srv->conns = c;
        srv->nconns++;
        conn_set_mask(c, EV_READ);
    }
}

http_server *http_server_create(ev_loop *loop, const http_server_opts *opts, http_handler *handler,
                                void *ud, int *err)
{
    http_server_opts o = opts ? *opts : (http_server_opts){0};
    int rc = 0;
    http_server *srv = calloc(1, sizeof *srv);
    if (srv == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    srv->loop = loop;
    srv->handler = handler;
    srv->ud = ud;
    srv->lim.max_head = o.max_head ? o.max_head : 16384;
    srv->lim.max_body = o.max_body ? o.max_body : 1024 * 1024;
    srv->hold_pipelined = o.hold_pipelined;

    const char *host = o.host ? o.host : "127.0.0.1";
    if (strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)o.port);
        sl = sizeof *s4;
    } else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)o.port);
        sl = sizeof *s6;
    } else {
        rc = -EINVAL;
        goto fail_srv;
    }
    srv->lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (srv->lfd < 0) {
        rc = -errno;
        goto fail_srv;
    }
    int one = 1;
    setsockopt(srv->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(srv->lfd, (struct sockaddr *)&ss, sl) < 0 ||
        listen(srv->lfd, o.backlog ? o.backlog : 511) < 0) {
        rc = -errno;
        goto fail_sock;
    }
    sl = sizeof ss;
    if (getsockname(srv->lfd, (struct sockaddr *)&ss, &sl) < 0) {
        rc = -errno;
        goto fail_sock;
    }
    srv->port = ntohs(ss.ss_family == AF_INET ? s4->sin_port : s6->sin6_port);
    rc = ev_fd_watch(loop, srv->lfd, EV_READ, on_accept, srv);
    if (rc < 0)
        goto fail_sock;
    return srv;

fail_sock:
    close(srv->lfd);
fail_srv:
    free(srv);
fail:
    if (err)
        *err = rc;
    return NULL;
}

void http_server_free(http_server *srv)
{
    if (srv == NULL)
        return;
    ev_fd_unwatch(srv->loop, srv->lfd);
    close(srv->lfd);
    srv->freeing = 1;
    srv->nconns++; /* hold srv while closing connections */
    conn *next;
    for (conn *c = srv->conns; c != NULL; c = next) {
        next = c->next;
        conn_close(c);
    }
    srv->nconns--;
    srv_maybe_free(srv);
}

int http_server_port(const http_server *srv) { return srv->port; }
size_t http_server_connections(const http_server *srv) { return srv->nconns; }
size_t http_server_pending(const http_server *srv) { return srv->npending; }

/* ---- request accessors ------------------------------------------------ */
const char *http_req_method(const http_req *r) { return r->method; }
const char *http_req_path(const http_req *r) { return r->path; }
const char *http_req_query(const http_req *r) { return r->query; }

const char *http_req_header(const http_req *r, const char *name)
{
    for (int i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->buf + r->hname[i], name) == 0)
            return r->buf + r->hvalue[i];
    return NULL;
}

int http_req_header_count(const http_req *r) { return r->nheaders; }

void http_req_header_at(const http_req *r, int i, const char **name, const char **value)
{
    *name = r->buf + r->hname[i];
    *value = r->buf + r->hvalue[i];
}

const char *http_req_body(const http_req *r, size_t *len)
{
    if (len)
        *len = r->bodylen;
    return r->buf + r->headlen;
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

int http_req_query_param(const http_req *r, const char *name, char *buf, size_t bufsz)
{
    size_t nl = strlen(name);
    const char *q = r->query;
    while (*q) {
        const char *amp = strchr(q, '&');
        const char *end = amp ? amp : q + strlen(q);
        const char *eq = memchr(q, '=', (size_t)(end - q));
        const char *kend = eq ? eq : end;
        if ((size_t)(kend - q) == nl && memcmp(q, name, nl) == 0) {
            size_t o = 0;
            for (const char *p = eq ? eq + 1 : end; p < end; p++) {
                int ch = (unsigned char)*p;
                if (ch == '%' && end - p >= 3 && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
                    ch = hexval(p[1]) * 16 + hexval(p[2]);
                    p += 2;
                } else if (ch == '+') {
                    ch = ' ';
                }
                if (o + 1 >= bufsz)
                    return -ENOSPC;
                buf[o++] = (char)ch;
            }
            if (bufsz == 0)
                return -ENOSPC;
            buf[o] = '\0';
            return (int)o;
        }
        if (!amp)
            break;
        q = amp + 1;
    }
    return -1;
}

int http_req_cancelled(const http_req *r) { return r->cancelled; }

void http_req_set_cancel(http_req *r, http_cancel_cb *cb, void *ud)
{
    r->cancel = cb;
    r->cancel_ud = ud;
}

void http_req_set_data(http_req *r, void *data) { r->data = data; }
void *http_req_get_data(const http_req *r) { return r->data; }
