/*
 * test_http.c - the request parser (edge cases) and the server over a real
 * socket on 127.0.0.1: keep-alive, pipelining in order, asynchronous
 * responses, 413, 400, and a client that disconnects before the response.
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
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ev.h"
#include "http.h"

/* ---- parser ------------------------------------------------------------ */
static int parse(const char *s, http_parsed *p)
{
    return http_parse_request(s, strlen(s), NULL, p);
}

static void test_parse_ok(void **state)
{
    http_parsed p;
    const char *r = "POST /a/b?x=1&y=%24 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                    "X-Thing:   spaced value \t\r\n\r\nhello";
    int n = parse(r, &p);
    assert_int_equal(n, (int)(strstr(r, "hello") - r));
    assert_int_equal(p.method.len, 4);
    assert_memory_equal(r + p.path.off, "/a/b", 4);
    assert_int_equal(p.path.len, 4);
    assert_int_equal(p.query.len, 9);
    assert_memory_equal(r + p.query.off, "x=1&y=%24", 9);
    assert_int_equal(p.content_length, 5);
    assert_int_equal(p.nheaders, 3);
    assert_int_equal(p.hvalue[2].len, strlen("spaced value"));
    assert_memory_equal(r + p.hvalue[2].off, "spaced value", p.hvalue[2].len);
    assert_int_equal(p.keep_alive, 1);
    /* every proper prefix is "need more" */
    size_t head = (size_t)n;
    for (size_t k = 0; k < head; k++)
        assert_int_equal(http_parse_request(r, k, NULL, &p), 0);
}

static void test_parse_errors(void **state)
{
    http_parsed p;
    assert_int_equal(parse("GARBAGE\r\n\r\n", &p), -400);
    assert_int_equal(parse("GET /\nHost: x\n\n", &p), -400);             /* bare LF */
    assert_int_equal(parse("GET / HTTP/1.1\nHost: x\r\n\r\n", &p), -400); /* bare LF */
    assert_int_equal(parse("GET / HTTP/1.1\r\nHost : x\r\n\r\n", &p), -400);
    assert_int_equal(parse("GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", &p), -400); /* obs-fold */
    assert_int_equal(parse("GET  / HTTP/1.1\r\n\r\n", &p), -400);
    assert_int_equal(parse("GET x HTTP/1.1\r\n\r\n", &p), -400);
    assert_int_equal(parse("GET / HTTP/2.0\r\n\r\n", &p), -505);
    assert_int_equal(parse("GET / HTTX/1.1\r\n\r\n", &p), -400);
    assert_int_equal(parse("GET / HTTP/1.1\r\nA: b\0c\r\n\r\n", &p), 0); /* strlen cut: incomplete */
    assert_int_equal(http_parse_request("GET / HTTP/1.1\r\nA: b\0c\r\n\r\n", 26, NULL, &p), -400);
    assert_int_equal(parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &p), -411);
    assert_int_equal(parse("POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", &p), -400);
    assert_int_equal(parse("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", &p), -400);
    assert_int_equal(parse("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", &p), -400);
    assert_int_equal(parse("POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n", &p) > 0, 1);
    assert_int_equal(parse("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", &p), -413);
    assert_int_equal(parse("POST / HTTP/1.1\r\nExpect: magic\r\n\r\n", &p), -417);
    http_limits lim = {.max_head = 64, .max_body = 10};
    const char *big = "POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n";
    assert_int_equal(http_parse_request(big, strlen(big), &lim, &p), -413);
    char longhead[200];
    snprintf(longhead, sizeof longhead, "GET / HTTP/1.1\r\nX: %0100d\r\n\r\n", 0);
    assert_int_equal(http_parse_request(longhead, strlen(longhead), &lim, &p), -431);
    /* too many headers */
    char many[4096] = "GET / HTTP/1.1\r\n";
    for (int i = 0; i < HTTP_MAX_HEADERS + 1; i++)
        strcat(many, "A: b\r\n");
    strcat(many, "\r\n");
    assert_int_equal(parse(many, &p), -431);
}

static void test_parse_keepalive(void **state)
{
    http_parsed p;
    assert_true(parse("GET / HTTP/1.0\r\n\r\n", &p) > 0);
    assert_int_equal(p.keep_alive, 0);
    assert_true(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &p) > 0);
    assert_int_equal(p.keep_alive, 1);
    assert_true(parse("GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n", &p) > 0);
    assert_int_equal(p.keep_alive, 0);
    assert_true(parse("\r\nGET /x HTTP/1.1\r\n\r\n", &p) > 0); /* leading empty line */
    assert_int_equal(p.path.len, 2);
    assert_true(parse("POST / HTTP/1.1\r\nexpect: 100-continue\r\n\r\n", &p) > 0);
    assert_int_equal(p.expect_continue, 1);
}

/* ---- server ------------------------------------------------------------ */
static ev_loop *L;
static http_server *S;
static http_req *later[4];
static int nlater;
static int cancels;

static void on_cancel(http_req *req, void *ud)
{
    cancels++;
    assert_true(http_req_cancelled(req));
}

static void handler(http_req *req, void *ud)
{
    const char *path = http_req_path(req);
    if (strcmp(path, "/later") == 0) {
        http_req_set_cancel(req, on_cancel, NULL);
        later[nlater++] = req;
        return;
    }
    if (strcmp(path, "/drop") == 0) {
        http_req_release(req);
        return;
    }
    size_t blen;
    const char *body = http_req_body(req, &blen);
    char q[64] = "";
    http_req_query_param(req, "q", q, sizeof q);
    const char *h = http_req_header(req, "x-test");
    char out[512];
    int n = snprintf(out, sizeof out, "%s %s q=%s h=%s body=%.*s", http_req_method(req), path, q,
                     h ? h : "-", (int)blen, body);
    http_respond(req, 200, "Content-Type: text/plain\r\nX-Reply: yes\r\n", out, (size_t)n);
}

static int hold_pipelined;
static http_server_opts extra; /* timeouts, cap, error body for one test */

static size_t err_body(int status, char *buf, size_t cap, void *ud)
{
    (void)ud;
    int n = snprintf(buf, cap, "{\"__type\":\"E%d\"}", status);
    return (size_t)n < cap ? (size_t)n : 0;
}

static void setup_server(size_t max_body)
{
    L = ev_create();
    http_server_opts o = extra;
    o.port = 0;
    o.max_body = max_body;
    o.hold_pipelined = hold_pipelined;
    int err = 0;
    S = http_server_create(L, &o, handler, NULL, &err);
    assert_non_null(S);
    assert_true(http_server_port(S) > 0);
    nlater = 0;
    cancels = 0;
}

static void teardown_server(void)
{
    http_server_free(S);
    ev_free(L);
}

static int client_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)http_server_port(S))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static void send_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        assert_true(w > 0);
        s += w;
        n -= (size_t)w;
    }
}

/* Read one response (head + Content-Length body), driving the loop.
 * Returns the status, 0 on EOF before a response. */
static char rbuf[65536];
static size_t rlen;
static int read_response(int fd, char *body, size_t bodysz, int *closed)
{
    for (int spins = 0; spins < 2000; spins++) {
        char *e = memmem(rbuf, rlen, "\r\n\r\n", 4);
        if (e) {
            size_t hl = (size_t)(e + 4 - rbuf);
            char *cl = strcasestr(rbuf, "Content-Length: ");
            size_t n = cl && cl < e ? strtoul(cl + 16, NULL, 10) : 0;
            if (rlen >= hl + n) {
                int status = atoi(rbuf + 9);
                if (body) {
                    size_t k = n < bodysz - 1 ? n : bodysz - 1;
                    memcpy(body, rbuf + hl, k);
                    body[k] = 0;
                }
                memmove(rbuf, rbuf + hl + n, rlen - hl - n);
                rlen -= hl + n;
                return status;
            }
        }
        ev_run_once(L, 5);
        ssize_t r = recv(fd, rbuf + rlen, sizeof rbuf - rlen - 1, MSG_DONTWAIT);
        if (r == 0) {
            if (closed)
                *closed = 1;
            return 0;
        }
        if (r > 0) {
            rlen += (size_t)r;
            rbuf[rlen] = 0;
        }
    }
    return -1;
}

static void test_server_keepalive(void **state)
{
    setup_server(0);
    rlen = 0;
    int fd = client_connect();
    char body[512];
    const char *r1 = "POST /echo?q=a%20b HTTP/1.1\r\nHost: x\r\nX-Test: T1\r\nContent-Length: 3\r\n\r\nabc";
    send_all(fd, r1, strlen(r1));
    assert_int_equal(read_response(fd, body, sizeof body, NULL), 200);
    assert_string_equal(body, "POST /echo q=a b h=T1 body=abc");
    const char *r2 = "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(fd, r2, strlen(r2));
    assert_int_equal(read_response(fd, body, sizeof body, NULL), 200);
    assert_string_equal(body, "GET /echo q= h=- body=");
    assert_int_equal(http_server_connections(S), 1); /* same connection */
    close(fd);
    teardown_server();
}

static void test_server_pipeline_async(void **state)
{
    setup_server(0);
    rlen = 0;
    int fd = client_connect();
    char body[512];
    const char *rs = "GET /echo?q=1 HTTP/1.1\r\n\r\n"
                     "GET /later HTTP/1.1\r\n\r\n"
                     "GET /echo?q=3 HTTP/1.1\r\n\r\n";
    send_all(fd, rs, strlen(rs));
    assert_int_equal(read_response(fd, body, sizeof body, NULL), 200);
    assert_string_equal(body, "GET /echo q=1 h=- body=");
    /* the third waits behind the second */
    for (int i = 0; i < 5; i++)
        ev_run_once(L, 2);
    assert_int_equal(nlater, 1);
    assert_int_equal(http_server_pending(S), 1);
    assert_int_equal(recv(fd, rbuf + rlen, 10, MSG_DONTWAIT), -1);
    assert_int_equal(http_respond(later[0], 201, NULL, "second", 6), 0);
    assert_int_equal(read_response(fd, body, sizeof body, NULL), 201);
    assert_string_equal(body, "second");
    assert_int_equal(read_response(fd, body, sizeof body, NULL), 200);
    assert_string_equal(body, "GET /echo q=3 h=- body=");
    close(fd);
    teardown_server();
}

/* Nothing arrives on fd while the loop runs a few turns. */
static void assert_quiet(int fd)
{
    for (int i = 0; i < 5; i++)
        ev_run_once(L, 2);
    char c;
    assert_int_equal(recv(fd, &c, 1, MSG_DONTWAIT), -1);
}

/* hold_pipelined: an answer whose next request is already in hand leaves
 * with the next answer, even a late one; alone, or followed by an
 * incomplete request, it leaves at once. */
static void test_server_hold_pipelined(void **state)
{
    hold_pipelined = 1;
    setup_server(0);
    hold_pipelined = 0;
    rlen = 0;
    int fd = client_connect();
    char body[512];
    const char *rs = "POST /echo HTTP/1.1\r\nContent-Length: 2\r\n\r\nok"
                     "GET /later HTTP/1.1\r\n\r\n";
    send_all(fd, rs, strlen(rs));
    assert_quiet(fd); /* the 200 waits for the long poll behind it */
    assert_int_equal(nlater, 1);
    assert_int_equal(http_respond(later[0], 201, NULL, "work", 4), 0);
    /* both in one read */
    char both[1024];
    ssize_t n = recv(fd, both, sizeof both - 1, MSG_DONTWAIT);
    assert_true(n > 0);
    both[n] = 0;
    assert_non_null(strstr(both, "HTTP/1.1 200"));
    assert_non_null(strstr(both, "HTTP/1.1 201"));
    assert_true(strstr(both, "HTTP/1.1 200") < strstr(both, "HTTP/1.1 201"));
    /* a lone request: answered at once */
    const char *r1 = "GET /echo?q=x HTTP/1.1\r\n\r\n";
    send_all(fd, r1, strlen(r1));
    assert_int_equal(read_response(fd, body, sizeof body, NULL), 200);
    assert_string_equal(body, "GET /echo q=x h=- body=");
    /* followed by the start of a request only: answered at once too */
    const char *r2 = "GET /echo?q=y HTTP/1.1\r\n\r\nGET /ech";
    send_all(fd, r2, strlen(r2));
    assert_int_equal(read_response(fd, body, sizeof body, NULL), 200);
    assert_string_equal(body, "GET /echo q=y h=- body=");
    const char *r3 = "o HTTP/1.1\r\n\r\n";
    send_all(fd, r3, strlen(r3));
    assert_int_equal(read_response(fd, body, sizeof body, NULL), 200);
    close(fd);
    teardown_server();
}

static void test_server_errors(void **state)
{
    setup_server(100);
    char body[64];
    int closed = 0;
    /* 413: over max_body; the server swallows the body, answers and closes */
    rlen = 0;
    int fd = client_connect();
    char big[1200];
    int n = snprintf(big, sizeof big, "POST /echo HTTP/1.1\r\nContent-Length: 1000\r\n\r\n");
    memset(big + n, 'x', 1000);
    send_all(fd, big, (size_t)n + 1000);
    assert_int_equal(read_response(fd, body, sizeof body, NULL), 413);
    assert_int_equal(read_response(fd, body, sizeof body, &closed), 0);
    assert_int_equal(closed, 1);
    close(fd);
    /* 400 on garbage, then close */
    rlen = 0;
    closed = 0;
    fd = client_connect();
    send_all(fd, "HELLO\r\n\r\n", 9);
    assert_int_equal(read_response(fd, body, sizeof body, NULL), 400);
    assert_int_equal(read_response(fd, body, sizeof body, &closed), 0);
    assert_int_equal(closed, 1);
    close(fd);
    /* 411 for chunked */
    rlen = 0;
    fd = client_connect();
    const char *ch = "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    send_all(fd, ch, strlen(ch));
    assert_int_equal(read_response(fd, body, sizeof body, NULL), 411);
    close(fd);
    /* release without answering closes the connection */
    rlen = 0;
    closed = 0;
    fd = client_connect();
    send_all(fd, "GET /drop HTTP/1.1\r\n\r\n", 22);
    assert_int_equal(read_response(fd, body, sizeof body, &closed), 0);
    assert_int_equal(closed, 1);
    close(fd);
    for (int i = 0; i < 3; i++)
        ev_run_once(L, 1);
    assert_int_equal(http_server_connections(S), 0);
    assert_int_equal(http_server_pending(S), 0);
    teardown_server();
}

static void test_server_disconnect(void **state)
{
    setup_server(0);
    int fd = client_connect();
    send_all(fd, "GET /later HTTP/1.1\r\n\r\n", 23);
    for (int i = 0; i < 50 && nlater == 0; i++)
        ev_run_once(L, 2);
    assert_int_equal(nlater, 1);
    close(fd);
    for (int i = 0; i < 50 && cancels == 0; i++)
        ev_run_once(L, 2);
    assert_int_equal(cancels, 1);
    assert_true(http_req_cancelled(later[0]));
    assert_string_equal(http_req_path(later[0]), "/later"); /* still valid */
    assert_int_equal(http_server_pending(S), 1);
    assert_int_equal(http_respond(later[0], 200, NULL, "x", 1), -EPIPE);
    assert_int_equal(http_server_pending(S), 0);

    /* a request outstanding when the server is freed: cancelled, still valid */
    fd = client_connect();
    send_all(fd, "GET /later HTTP/1.1\r\n\r\n", 23);
    for (int i = 0; i < 50 && nlater == 1; i++)
        ev_run_once(L, 2);
    assert_int_equal(nlater, 2);
    http_server_free(S);
    assert_int_equal(cancels, 2);
    assert_int_equal(http_respond(later[1], 200, NULL, "x", 1), -EPIPE); /* frees the server too */
    close(fd);
    ev_free(L);
}

/* ---- protocol errors carry a body; timeouts; the connection cap; fds -- */
static void test_server_error_body(void **state)
{
    extra = (http_server_opts){.error_body = err_body,
                               .error_headers = "Content-Type: application/x-amz-json-1.0\r\n"};
    setup_server(100);
    char body[64];
    rlen = 0;
    int fd = client_connect();
    send_all(fd, "HELLO\r\n\r\n", strlen("HELLO\r\n\r\n"));
    assert_int_equal(read_response(fd, body, sizeof body, NULL), 400);
    assert_string_equal(body, "{\"__type\":\"E400\"}");
    close(fd);
    /* 431: too many headers */
    rlen = 0;
    fd = client_connect();
    char big[8192];
    size_t n = (size_t)snprintf(big, sizeof big, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < HTTP_MAX_HEADERS + 2; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "X-H%d: v\r\n", i);
    n += (size_t)snprintf(big + n, sizeof big - n, "\r\n");
    send_all(fd, big, n);
    assert_int_equal(read_response(fd, body, sizeof body, NULL), 431);
    assert_string_equal(body, "{\"__type\":\"E431\"}");
    close(fd);
    /* 413 */
    rlen = 0;
    fd = client_connect();
    n = (size_t)snprintf(big, sizeof big, "POST / HTTP/1.1\r\nContent-Length: 1000\r\n\r\n");
    memset(big + n, 'x', 1000);
    send_all(fd, big, n + 1000);
    assert_int_equal(read_response(fd, body, sizeof body, NULL), 413);
    assert_string_equal(body, "{\"__type\":\"E413\"}");
    close(fd);
    teardown_server();
    extra = (http_server_opts){0};
}

/* Drive the loop for ms milliseconds. */
static void pump(int ms)
{
    int64_t end = ev_now_ms() + ms;
    while (ev_now_ms() < end)
        ev_run_once(L, 5);
}

/* Read until EOF (or give up after ms); returns 1 on EOF. */
static int wait_eof(int fd, int ms)
{
    int64_t end = ev_now_ms() + ms;
    char b[4096];
    while (ev_now_ms() < end) {
        ev_run_once(L, 5);
        ssize_t r = recv(fd, b, sizeof b, MSG_DONTWAIT);
        if (r == 0)
            return 1;
        if (r > 0 && rlen + (size_t)r < sizeof rbuf) {
            memcpy(rbuf + rlen, b, (size_t)r);
            rlen += (size_t)r;
            rbuf[rlen] = 0;
        }
    }
    return 0;
}

static void test_server_header_timeout(void **state)
{
    extra = (http_server_opts){.header_timeout_ms = 100, .body_timeout_ms = 150,
                               .idle_timeout_ms = 10000, .error_body = err_body};
    setup_server(0);
    /* slowloris: half a head, never finished */
    rlen = 0;
    int fd = client_connect();
    send_all(fd, "GET /echo HTTP/1.1\r\nX-A: 1\r\n", strlen("GET /echo HTTP/1.1\r\nX-A: 1\r\n"));
    pump(50);
    send_all(fd, "X-B: 2\r\n", strlen("X-B: 2\r\n")); /* trickling does not extend the deadline */
    assert_int_equal(wait_eof(fd, 1000), 1);
    assert_non_null(strstr(rbuf, "HTTP/1.1 408 "));
    assert_non_null(strstr(rbuf, "{\"__type\":\"E408\"}"));
    close(fd);
    /* a body that never completes */
    rlen = 0;
    fd = client_connect();
    send_all(fd, "POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", strlen("POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"));
    assert_int_equal(wait_eof(fd, 1000), 1);
    assert_non_null(strstr(rbuf, "HTTP/1.1 408 "));
    close(fd);
    /* a connection that never sends a byte */
    rlen = 0;
    fd = client_connect();
    assert_int_equal(wait_eof(fd, 1000), 1);
    close(fd);
    pump(20);
    http_server_stats st;
    http_server_stats_get(S, &st);
    assert_int_equal(st.timed_out, 3);
    assert_int_equal(http_server_connections(S), 0);
    teardown_server();
    extra = (http_server_opts){0};
}

static void test_server_idle_timeout(void **state)
{
    extra = (http_server_opts){.header_timeout_ms = 100, .idle_timeout_ms = 150};
    setup_server(0);
    rlen = 0;
    char body[128];
    int fd = client_connect();
    send_all(fd, "GET /echo HTTP/1.1\r\n\r\n", strlen("GET /echo HTTP/1.1\r\n\r\n"));
    assert_int_equal(read_response(fd, body, sizeof body, NULL), 200);
    /* a request the owner holds (a long poll) outlives every timeout */
    send_all(fd, "GET /later HTTP/1.1\r\n\r\n", strlen("GET /later HTTP/1.1\r\n\r\n"));
    pump(400);
    assert_int_equal(nlater, 1);
    assert_int_equal(cancels, 0);
    assert_int_equal(http_server_connections(S), 1);
    assert_int_equal(http_respond(later[0], 200, NULL, "late", 4), 0);
    assert_int_equal(read_response(fd, body, sizeof body, NULL), 200);
    assert_string_equal(body, "late");
    /* then idle: closed silently after idle_timeout_ms */
    int64_t t0 = ev_now_ms();
    rlen = 0;
    assert_int_equal(wait_eof(fd, 1000), 1);
    assert_true(ev_now_ms() - t0 >= 140);
    assert_int_equal(rlen, 0); /* no stray answer on an idle keep-alive connection */
    close(fd);
    pump(20);
    assert_int_equal(http_server_connections(S), 0);
    teardown_server();
    extra = (http_server_opts){0};
}

static void test_server_max_conns(void **state)
{
    extra = (http_server_opts){.max_conns = 2, .error_body = err_body};
    setup_server(0);
    char body[128];
    int a = client_connect(), b = client_connect();
    pump(20);
    assert_int_equal(http_server_connections(S), 2);
    rlen = 0;
    int c = client_connect();
    send_all(c, "GET /echo HTTP/1.1\r\n\r\n", strlen("GET /echo HTTP/1.1\r\n\r\n"));
    assert_int_equal(read_response(c, body, sizeof body, NULL), 503);
    assert_string_equal(body, "{\"__type\":\"E503\"}");
    assert_int_equal(wait_eof(c, 1000), 1);
    close(c);
    /* the two admitted ones still work; one leaving makes room */
    rlen = 0;
    send_all(a, "GET /echo HTTP/1.1\r\n\r\n", strlen("GET /echo HTTP/1.1\r\n\r\n"));
    assert_int_equal(read_response(a, body, sizeof body, NULL), 200);
    close(b);
    pump(50);
    rlen = 0;
    c = client_connect();
    send_all(c, "GET /echo HTTP/1.1\r\n\r\n", strlen("GET /echo HTTP/1.1\r\n\r\n"));
    assert_int_equal(read_response(c, body, sizeof body, NULL), 200);
    http_server_stats st;
    http_server_stats_get(S, &st);
    assert_int_equal(st.rejected, 1);
    close(a);
    close(c);
    teardown_server();
    extra = (http_server_opts){0};
}

/* Out of fds: accept fails with EMFILE while the listener stays readable.
 * The loop must not spin on it, the waiting client must not hang, and
 * serving resumes by itself once fds are free. */
static void test_server_emfile(void **state)
{
    struct rlimit old, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    extra = (http_server_opts){.error_body = err_body};
    setup_server(0);
    int c1 = socket(AF_INET, SOCK_STREAM, 0), c2 = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c1 >= 0 && c2 >= 0);
    int top = c2;
    for (int i = 0; i < 64; i++) { /* the highest fd in use, roughly */
        int d = dup(0);
        if (d > top)
            top = d;
        close(d);
    }
    low = old;
    low.rlim_cur = (rlim_t)top + 8;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    int fill[64], nfill = 0;
    for (;;) {
        int d = open("/dev/null", O_RDONLY);
        if (d < 0)
            break;
        assert_true(nfill < 64);
        fill[nfill++] = d;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)http_server_port(S))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(c1, (struct sockaddr *)&sa, sizeof sa), 0);
    send_all(c1, "GET /echo HTTP/1.1\r\n\r\n", strlen("GET /echo HTTP/1.1\r\n\r\n"));
    /* 300 ms of loop: a spinning accept runs its callback thousands of times */
    int calls = 0;
    int64_t end = ev_now_ms() + 300;
    while (ev_now_ms() < end)
        calls += ev_run_once(L, 50);
    assert_true(calls < 30);
    http_server_stats st;
    http_server_stats_get(S, &st);
    assert_true(st.accept_backoff >= 1);
    /* the waiting client was told (503 through the reserve fd), not left hanging */
    char b[512];
    ssize_t r = recv(c1, b, sizeof b - 1, MSG_DONTWAIT);
    assert_true(r > 0);
    b[r] = 0;
    assert_non_null(strstr(b, "HTTP/1.1 503 "));
    close(c1);
    /* fds come back: served again without help */
    for (int i = 0; i < nfill; i++)
        close(fill[i]);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    assert_int_equal(connect(c2, (struct sockaddr *)&sa, sizeof sa), 0);
    send_all(c2, "GET /echo HTTP/1.1\r\n\r\n", strlen("GET /echo HTTP/1.1\r\n\r\n"));
    rlen = 0;
    assert_int_equal(read_response(c2, b, sizeof b, NULL), 200);
    close(c2);
    teardown_server();
    extra = (http_server_opts){0};
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ok),          cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_keepalive),   cmocka_unit_test(test_server_keepalive),
        cmocka_unit_test(test_server_pipeline_async), cmocka_unit_test(test_server_errors),
        cmocka_unit_test(test_server_disconnect), cmocka_unit_test(test_server_hold_pipelined),
        cmocka_unit_test(test_server_error_body), cmocka_unit_test(test_server_header_timeout),
        cmocka_unit_test(test_server_idle_timeout), cmocka_unit_test(test_server_max_conns),
        cmocka_unit_test(test_server_emfile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
