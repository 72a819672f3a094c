/*
 * test_http_client.c - the loop's HTTP/1.1 client against a server this
 * test plays on the same loop: a Content-Length response, a chunked one
 * arriving in pieces (after a 100 Continue), a body delimited by the
 * close, connection refused (reported from the loop, not from send), the
 * deadline, a malformed answer, cancel.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ev.h"
#include "http_client.h"

typedef struct srv {
    int lfd, cfd;
    struct sockaddr_in addr;
    char req[4096];
    size_t req_len;
    const char *const *parts;  /* written one per loop turn once the request is in */
    size_t npart;
    int close_after;           /* close once every part is written */
} srv;

typedef struct got {
    int called, err, status;
    char body[4096];
    size_t body_len;
    char rid[64];
} got;

static void on_resp(void *ud, int err, const http_cresp *r)
{
    got *g = ud;
    g->called++;
    g->err = err;
    if (r) {
        g->status = r->status;
        memcpy(g->body, r->body, r->body_len + 1);
        g->body_len = r->body_len;
        if (!http_cresp_header(r, "x-amzn-requestid", g->rid, sizeof g->rid))
            g->rid[0] = '\0';
    }
}

static void srv_open(srv *s)
{
    memset(s, 0, sizeof *s);
    s->cfd = -1;
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(s->lfd >= 0);
    s->addr.sin_family = AF_INET;
    s->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&s->addr, sizeof s->addr), 0);
    socklen_t l = sizeof s->addr;
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&s->addr, &l), 0);
    assert_int_equal(listen(s->lfd, 4), 0);
}

/* one turn of the server: accept, read what came, then write a part */
static void srv_turn(srv *s)
{
    if (s->cfd < 0) {
        s->cfd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK);
        if (s->cfd < 0)
            return;
    }
    ssize_t n = read(s->cfd, s->req + s->req_len, sizeof s->req - 1 - s->req_len);
    if (n > 0)
        s->req_len += (size_t)n;
    s->req[s->req_len] = '\0';
    if (strstr(s->req, "\r\n\r\n") == NULL)
        return;
    if (s->npart) {
        assert_true(write(s->cfd, s->parts[0], strlen(s->parts[0])) >= 0);
        s->parts++;
        s->npart--;
    } else if (s->close_after && s->cfd >= 0) {
        close(s->cfd);
        s->cfd = -2;
    }
}

static void srv_close(srv *s)
{
    if (s->cfd >= 0)
        close(s->cfd);
    close(s->lfd);
}

static void run_until(ev_loop *l, srv *s, got *g, int turns)
{
    for (int i = 0; i < turns && !g->called; i++) {
        if (s)
            srv_turn(s);
        ev_run_once(l, 5);
    }
}

static const char REQ[] = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                          "Connection: close\r\n\r\n{}";

static void test_content_length(void **st)
{
    (void)st;
    ev_loop *l = ev_create();
    srv s;
    srv_open(&s);
    const char *parts[] = {"HTTP/1.1 200 OK\r\nx-amzn-RequestId: R1\r\nContent-Length: 11\r\n"
                           "\r\n{\"Item\":",
                           "{}}"};
    s.parts = parts;
    s.npart = 2;
    got g = {0};
    http_creq *q = http_client_send(l, (struct sockaddr *)&s.addr, sizeof s.addr, REQ,
                                    sizeof REQ - 1, 2000, on_resp, &g);
    assert_non_null(q);
    assert_int_equal(g.called, 0);
    run_until(l, &s, &g, 200);
    assert_int_equal(g.called, 1);
    assert_int_equal(g.err, 0);
    assert_int_equal(g.status, 200);
    assert_string_equal(g.body, "{\"Item\":{}}");
    assert_string_equal(g.rid, "R1");
    assert_string_equal(s.req, REQ); /* sent as given */
    srv_close(&s);
    ev_free(l);
}

static void test_chunked_after_continue(void **st)
{
    (void)st;
    ev_loop *l = ev_create();
    srv s;
    srv_open(&s);
    const char *parts[] = {"HTTP/1.1 100 Continue\r\n\r\n",
                           "HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
                           "lo\r\n6;ext=1\r\n world\r\n0\r\n\r\n"};
    s.parts = parts;
    s.npart = 3;
    got g = {0};
    assert_non_null(http_client_send(l, (struct sockaddr *)&s.addr, sizeof s.addr, REQ,
                                     sizeof REQ - 1, 2000, on_resp, &g));
    run_until(l, &s, &g, 200);
    assert_int_equal(g.called, 1);
    assert_int_equal(g.err, 0);
    assert_int_equal(g.status, 400);
    assert_string_equal(g.body, "hello world");
    assert_int_equal(g.body_len, 11);
    srv_close(&s);
    ev_free(l);
}

static void test_close_delimited_and_malformed(void **st)
{
    (void)st;
    ev_loop *l = ev_create();
    srv s;
    srv_open(&s);
    const char *parts[] = {"HTTP/1.0 200 OK\r\n\r\nuntil the end"};
    s.parts = parts;
    s.npart = 1;
    s.close_after = 1;
    got g = {0};
    assert_non_null(http_client_send(l, (struct sockaddr *)&s.addr, sizeof s.addr, REQ,
                                     sizeof REQ - 1, 2000, on_resp, &g));
    run_until(l, &s, &g, 200);
    assert_int_equal(g.err, 0);
    assert_string_equal(g.body, "until the end");
    srv_close(&s);

    srv_open(&s);
    const char *bad[] = {"SSH-2.0-OpenSSH\r\n\r\n"};
    s.parts = bad;
    s.npart = 1;
    memset(&g, 0, sizeof g);
    assert_non_null(http_client_send(l, (struct sockaddr *)&s.addr, sizeof s.addr, REQ,
                                     sizeof REQ - 1, 2000, on_resp, &g));
    run_until(l, &s, &g, 200);
    assert_int_equal(g.called, 1);
    assert_int_equal(g.err, -EPROTO);
    srv_close(&s);
    ev_free(l);
}

static void test_refused_timeout_cancel(void **st)
{
    (void)st;
    ev_loop *l = ev_create();
    srv s;
    srv_open(&s);
    struct sockaddr_in dead = s.addr;
    srv_close(&s); /* nobody listens there now */
    got g = {0};
    assert_non_null(http_client_send(l, (struct sockaddr *)&dead, sizeof dead, REQ,
                                     sizeof REQ - 1, 2000, on_resp, &g));
    assert_int_equal(g.called, 0); /* never from inside send */
    run_until(l, NULL, &g, 200);
    assert_int_equal(g.called, 1);
    assert_int_equal(g.err, -ECONNREFUSED);

    /* accepted, never answered: the deadline */
    srv_open(&s);
    memset(&g, 0, sizeof g);
    int64_t t0 = ev_now_ms();
    assert_non_null(http_client_send(l, (struct sockaddr *)&s.addr, sizeof s.addr, REQ,
                                     sizeof REQ - 1, 60, on_resp, &g));
    run_until(l, &s, &g, 400);
    assert_int_equal(g.called, 1);
    assert_int_equal(g.err, -ETIMEDOUT);
    assert_true(ev_now_ms() - t0 >= 60);

    /* cancelled: no callback, no timer left */
    memset(&g, 0, sizeof g);
    http_creq *q = http_client_send(l, (struct sockaddr *)&s.addr, sizeof s.addr, REQ,
                                    sizeof REQ - 1, 50, on_resp, &g);
    assert_non_null(q);
    ev_run_once(l, 0);
    http_client_cancel(q);
    assert_int_equal(ev_timer_count(l), 0);
    for (int i = 0; i < 20; i++)
        ev_run_once(l, 5);
    assert_int_equal(g.called, 0);
    srv_close(&s);
    ev_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_length),
        cmocka_unit_test(test_chunked_after_continue),
        cmocka_unit_test(test_close_delimited_and_malformed),
        cmocka_unit_test(test_refused_timeout_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
