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
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define IN_MIN 4096
#define READ_AHEAD_CAP 65536 /* buffered bytes beyond a current request */
#define LINGER_MS 2000       /* after an error answer: wait this long for the
                                client's EOF before closing (so it reads the
                                answer instead of a reset) */
#define ACCEPT_BACKOFF_MS 100 /* out of fds: stop accepting this long */

/* What a connection is waiting for; each phase has its own deadline. */
enum { PH_HEAD, PH_BODY, PH_BUSY, PH_IDLE, PH_CLOSING };

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
    int hdr_to, body_to, idle_to; /* ms, < 0: never */
    size_t max_conns;
    size_t nclosing;   /* connections lingering after a final answer */
    size_t (*error_body)(int status, char *buf, size_t cap, void *ud);
    void *error_ud;
    char *error_headers;
    ev_timer *sweep;   /* fires at the earliest connection deadline (or before) */
    ev_timer *backoff; /* accepting paused until it fires */
    http_server_stats stats;
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
    int phase;          /* PH_ */
    int lingering;      /* write side shut after the final answer */
    int64_t deadline;   /* ev_now_ms when the phase times out, 0 = never */
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

static void sweep_cb(ev_loop *loop, ev_timer *t, void *ud);

static void sweep_arm(http_server *srv, int64_t when)
{
    if (srv->sweep != NULL && ev_timer_deadline(srv->sweep) <= when)
        return;
    ev_timer_cancel(srv->loop, srv->sweep);
    srv->sweep = ev_timer_add(srv->loop, when, sweep_cb, srv);
}

/* Enter a phase; its deadline runs from now (re-entering keeps it). */
static void conn_phase(conn *c, int phase)
{
    http_server *srv = c->srv;
    if (c->phase == phase)
        return;
    c->phase = phase;
    int to = phase == PH_HEAD    ? srv->hdr_to
             : phase == PH_BODY  ? srv->body_to
             : phase == PH_IDLE  ? srv->idle_to
             : phase == PH_CLOSING ? LINGER_MS
                                 : -1;
    c->deadline = to < 0 ? 0 : ev_now_ms() + to;
    if (c->deadline)
        sweep_arm(srv, c->deadline);
}

static void srv_maybe_free(http_server *srv)
{
    if (srv->freeing && srv->npending == 0 && srv->nconns == 0) {
        free(srv->error_headers);
        free(srv);
    }
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
    if (c->fd >= 0 && !pending_out && c->close_after && c->discard == 0 && !c->lingering &&
        c->cur == NULL && !c->srv->freeing) {
        /* The final answer is out: shut our side and wait (briefly) for
         * the client's EOF, so it reads the answer rather than a reset
         * caused by bytes it sent after it. */
        if (shutdown(c->fd, SHUT_WR) == 0) {
            c->lingering = 1;
            c->srv->nclosing++;
            conn_phase(c, PH_CLOSING);
        }
    }
    if (c->fd < 0 || (!pending_out && c->close_after && c->discard == 0 && !c->lingering)) {
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
    if (c->inlen == 0 && !c->close_after)
        conn_phase(c, PH_IDLE);
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
static size_t error_answer(http_server *srv, int status, char *buf, size_t cap)
{
    char body[512];
    size_t bl = srv->error_body ? srv->error_body(status, body, sizeof body, srv->error_ud) : 0;
    if (bl > sizeof body)
        bl = sizeof body;
    int n = snprintf(buf, cap, "HTTP/1.1 %d %s\r\n%sContent-Length: %zu\r\nConnection: close\r\n\r\n",
                     status, http_status_text(status),
                     bl && srv->error_headers ? srv->error_headers : "", bl);
    if (n < 0 || (size_t)n + bl > cap)
        return 0;
    memcpy(buf + n, body, bl);
    return (size_t)n + bl;
}

static void respond_error(conn *c, int status, uint64_t discard)
{
    char head[1024];
    size_t n = error_answer(c->srv, status, head, sizeof head);
    c->close_after = 1;
    c->discard = discard;
    c->hold = 0;
    if (out_append(c, head, n) < 0 || out_flush(c) < 0) {
        c->outoff = c->outlen = 0;
        c->discard = 0;
    }
    c->inlen = 0;
    /* flushing, swallowing and lingering all end within LINGER_MS */
    c->phase = -1;
    conn_phase(c, PH_CLOSING);
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
        if (rc == 0) {
            conn_phase(c, PH_HEAD);
            break;
        }
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
            conn_phase(c, PH_BODY);
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
        conn_phase(c, PH_BUSY);
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
    if (c->lingering)
        srv->nclosing--;
    free(c->in);
    free(c->out);
    free(c);
    srv_maybe_free(srv);
}

/* ---- timeouts ---------------------------------------------------------- */
static void sweep_cb(ev_loop *loop, ev_timer *t, void *ud)
{
    (void)loop;
    (void)t;
    http_server *srv = ud;
    srv->sweep = NULL;
    int64_t now = ev_now_ms(), next = 0;
    srv->nconns++; /* hold srv: closing may free connections */
    conn *nx;
    for (conn *c = srv->conns; c != NULL; c = nx) {
        nx = c->next;
        if (c->fd < 0 || c->deadline == 0)
            continue;
        if (c->deadline > now) {
            if (next == 0 || c->deadline < next)
                next = c->deadline;
            continue;
        }
        c->deadline = 0;
        srv->stats.timed_out++;
        if (c->phase == PH_BODY || (c->phase == PH_HEAD && c->inlen > 0)) {
            /* slowloris: a request started and not finished in time */
            respond_error(c, 408, 0); /* arms its own (closing) deadline */
        } else {
            /* idle keep-alive, a connection that never sent a byte, or the
             * lingering close of a client that does not close: silently */
            conn_close(c);
        }
    }
    srv->nconns--;
    if (next)
        sweep_arm(srv, next);
    srv_maybe_free(srv);
}

/* ---- accepting -------------------------------------------------------- */
/* One fd kept free for the whole process: when accept fails for lack of
 * fds it is released, to accept the waiting client and tell it 503 (and
 * close) instead of leaving it hanging in the backlog. Servers live on
 * the loop's thread, so a plain static serves them all. */
static int reserve_fd = -1;
static int reserve_users;

static void reserve_take(void)
{
    if (reserve_fd < 0)
        reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void on_accept(ev_loop *loop, int lfd, int events, void *ud);

static void backoff_cb(ev_loop *loop, ev_timer *t, void *ud)
{
    (void)t;
    http_server *srv = ud;
    srv->backoff = NULL;
    reserve_take();
    ev_fd_watch(loop, srv->lfd, EV_READ, on_accept, srv);
}

/* Out of fds (EMFILE, ENFILE) or kernel memory: the listener stays
 * readable, so polling it again at once would spin. Answer one waiting
 * client through the reserve fd and stop accepting for a while. */
static void accept_backoff(http_server *srv)
{
    srv->stats.accept_backoff++;
    if (reserve_fd >= 0) {
        close(reserve_fd);
        reserve_fd = -1;
        int fd = accept4(srv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            char buf[1024];
            size_t n = error_answer(srv, 503, buf, sizeof buf);
            if (send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
                /* the client is told by the close */
            }
            close(fd);
            srv->stats.rejected++;
        }
        reserve_take();
    }
    ev_fd_unwatch(srv->loop, srv->lfd);
    if (srv->backoff == NULL)
        srv->backoff = ev_timer_add(srv->loop, ev_now_ms() + ACCEPT_BACKOFF_MS, backoff_cb, srv);
}

static void on_accept(ev_loop *loop, int lfd, int events, void *ud)
{
    (void)loop;
    (void)events;
    http_server *srv = ud;
    for (int k = 0; k < 64; k++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                accept_backoff(srv);
            return; /* EAGAIN: drained */
        }
        /* Over the cap: 503 and close (lingering ones are not counted, up
         * to as many again; beyond that they are closed without a word). */
        int over = srv->nconns - srv->nclosing >= srv->max_conns;
        if (over && srv->nclosing >= srv->max_conns) {
            close(fd);
            srv->stats.rejected++;
            continue;
        }
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
        c->phase = -1;
        c->next = srv->conns;
        if (srv->conns)
            srv->conns->prev = c;
        srv->conns = c;
        srv->nconns++;
        if (over) {
            srv->stats.rejected++;
            conn_set_mask(c, EV_READ);
            c->in_handler++;
            respond_error(c, 503, 0);
            c->in_handler--;
            conn_after_write(c);
            continue;
        }
        srv->stats.accepted++;
        conn_phase(c, PH_HEAD);
        conn_set_mask(c, EV_READ);
    }
}

static size_t default_max_conns(void)
{
    struct rlimit rl;
    size_t n = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur / 2 < n)
        n = rl.rlim_cur / 2 > 16 ? (size_t)(rl.rlim_cur / 2) : 16;
    return n;
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
    srv->hdr_to = o.header_timeout_ms > 0 ? o.header_timeout_ms : -1;
    srv->body_to = o.body_timeout_ms > 0 ? o.body_timeout_ms : -1;
    srv->idle_to = o.idle_timeout_ms > 0 ? o.idle_timeout_ms : -1;
    srv->max_conns = o.max_conns ? o.max_conns : default_max_conns();
    srv->error_body = o.error_body;
    srv->error_ud = o.error_ud;
    srv->lfd = -1;
    if (o.error_headers && (srv->error_headers = strdup(o.error_headers)) == NULL) {
        rc = -ENOMEM;
        goto fail_srv;
    }

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
    reserve_users++;
    reserve_take();
    return srv;

fail_sock:
    close(srv->lfd);
fail_srv:
    free(srv->error_headers);
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
    ev_timer_cancel(srv->loop, srv->backoff);
    srv->backoff = NULL;
    ev_timer_cancel(srv->loop, srv->sweep);
    srv->sweep = NULL;
    if (--reserve_users == 0 && reserve_fd >= 0) {
        close(reserve_fd);
        reserve_fd = -1;
    }
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
void http_server_stats_get(const http_server *srv, http_server_stats *out) { *out = srv->stats; }

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
