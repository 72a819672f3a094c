/*
 * http.h - a small HTTP/1.1 server on the ev loop, and its request parser.
 *
 * For the Step Functions / Lambda APIs and the per-process Lambda Runtime
 * API. Keep-alive, pipelining (requests of one connection are handed to the
 * handler one at a time, in order; the next one is parsed only after the
 * previous one is answered), strict parsing with bounded head and body.
 * Responses are ASYNCHRONOUS: the handler may answer at once or later
 * (long-poll /next, waiting for a function, persist-then-ack).
 *
 * Must not: block, spawn threads, know any route or any JSON. Chunked
 * request bodies are refused with 411 (no client of ours sends them).
 *
 * Threading: everything on the loop's thread.
 *
 * Request lifetime (the rule that keeps nothing dangling): every http_req
 * passed to the handler stays valid until the owner calls http_respond() or
 * http_req_release() on it, exactly once, even if the client disconnects in
 * between. A disconnect is reported once through the cancel callback (if
 * set); after it, http_respond() just frees the request.
 *
 * Errors: negative errno values.
 */
#ifndef SFN_HTTP_H
#define SFN_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "ev.h"

typedef struct http_server http_server;
typedef struct http_req http_req;

/* ---- the pure parser (no sockets; the fuzz target calls it) ---------- */
#define HTTP_MAX_HEADERS 64

typedef struct http_span {
    uint32_t off, len; /* into the parsed buffer */
} http_span;

typedef struct http_parsed {
    http_span method;                      /* OUT: "GET", "POST", ... (token) */
    http_span target;                      /* OUT: request-target as sent */
    http_span path;                        /* OUT: target up to '?' */
    http_span query;                       /* OUT: after '?' (len 0 if none) */
    int minor;                             /* OUT: HTTP/1.<minor> (0 or 1) */
    int nheaders;                          /* OUT */
    http_span hname[HTTP_MAX_HEADERS];     /* OUT: header names as sent */
    http_span hvalue[HTTP_MAX_HEADERS];    /* OUT: values, OWS trimmed */
    uint64_t content_length;               /* OUT: 0 if absent */
    int keep_alive;                        /* OUT: 1 unless "Connection: close"
                                              (or HTTP/1.0 without keep-alive) */
    int expect_continue;                   /* OUT: "Expect: 100-continue" */
} http_parsed;

typedef struct http_limits {
    size_t max_head; /* request line + headers + CRLFCRLF (default 16384) */
    size_t max_body; /* Content-Length bound (default 1 MiB) */
} http_limits;

/* Parse the head of one request at buf[0..len).
 * Returns the head length (> 0, up to and including the blank line) when
 * complete; 0 when more bytes are needed; or minus an HTTP status for a
 * request that must be refused: -400 (garbage, bad or duplicate
 * Content-Length, bare LF, bad token, NUL, obs-fold), -411 (Transfer-Encoding
 * present), -413 (Content-Length > max_body), -414 (target > 8 KiB),
 * -417 (an Expect other than 100-continue), -431 (head > max_head or more
 * than HTTP_MAX_HEADERS headers), -505 (not HTTP/1.0 or 1.1). The body (content_length bytes) follows the head.
 * lim NULL uses the defaults. Pure: reads buf only. */
int http_parse_request(const char *buf, size_t len, const http_limits *lim, http_parsed *out);

/* The standard reason phrase ("OK", "Not Found", ...; "" if unknown). */
const char *http_status_text(int status);

/* ---- the server -------------------------------------------------------- */
/* Called once per complete request. The owner must eventually call
 * http_respond() or http_req_release() on req (see lifetime above). */
typedef void http_handler(http_req *req, void *ud);
/* The client went away (or the server is being freed) before the response.
 * Called at most once; req is still valid; the owner still must respond or
 * release it (possibly from inside this callback). */
typedef void http_cancel_cb(http_req *req, void *ud);

typedef struct http_server_opts {
    const char *host;  /* listen address, default "127.0.0.1" */
    int port;          /* 0 = pick a free port (see http_server_port) */
    size_t max_head;   /* 0 = 16384 */
    size_t max_body;   /* 0 = 1 MiB; larger bodies get 413 and a close */
    int backlog;       /* 0 = 511 */
    /* 1: a response answered while the next pipelined request's bytes are
     * already in hand is not sent alone but together with the response
     * to that next request, even one answered later (a long poll). For a
     * client that pipelines "post a result, then wait for work" (the
     * Runtime API): one wakeup instead of two. A next request that is not
     * complete releases the held bytes. */
    int hold_pipelined;
    /* Slow or idle clients, in ms (0 = never: a server whose clients
     * are its own, as the Runtime API's, where a function may compute for
     * minutes between requests). A connection that has not sent a
     * complete request head within header_timeout_ms of its first byte (or
     * of being accepted) gets 408 and is closed (slowloris); likewise a
     * body not complete within body_timeout_ms of its head. A connection
     * with no request in progress is closed silently after
     * idle_timeout_ms (keep-alive). A request handed to the handler is
     * never timed out here: the owner decides (long polls). sfnd's API
     * uses 10 s, 60 s and 60 s. */
    int header_timeout_ms;
    int body_timeout_ms;
    int idle_timeout_ms;
    /* Open connections beyond which a new one gets 503 and is closed
     * (0 = default: 1024, or half the soft RLIMIT_NOFILE if lower). */
    size_t max_conns;
    /* The body of the error answers the server makes itself (400, 408,
     * 411, 413, 414, 417, 431, 503, 505): write at most cap bytes into buf
     * and return the length (0: no body). NULL: no body. Called on the
     * loop's thread; must not block. */
    size_t (*error_body)(int status, char *buf, size_t cap, void *ud);
    void *error_ud;
    const char *error_headers; /* raw header lines sent with those answers
                                  ("Content-Type: ...\r\n"), or NULL */
} http_server_opts;

/* Listen and serve on the loop. Returns NULL on failure; *err (if not NULL)
 * gets -errno (-EADDRINUSE, -EINVAL for a bad host, ...). */
http_server *http_server_create(ev_loop *loop, const http_server_opts *opts,
                                http_handler *handler, void *ud, int *err);
/* Close the listener and every connection. Requests still owned by their
 * owners get their cancel callback and stay valid until responded or
 * released (they are freed then; the server memory itself is freed here
 * only when no request is outstanding, otherwise with the last one). */
void http_server_free(http_server *srv);
/* The bound port (useful with port 0). */
int http_server_port(const http_server *srv);
/* Number of open connections and of requests awaiting a response. */
size_t http_server_connections(const http_server *srv);
size_t http_server_pending(const http_server *srv);
/* Counters for tests and stats. */
typedef struct http_server_stats {
    uint64_t accepted;       /* connections accepted and served */
    uint64_t rejected;       /* answered 503 (over max_conns) or dropped (out of fds) */
    uint64_t timed_out;      /* closed by the header, body or idle timeout */
    uint64_t accept_backoff; /* times accepting was paused (EMFILE, ENFILE, ...) */
} http_server_stats;
void http_server_stats_get(const http_server *srv, http_server_stats *out);

/* ---- a request --------------------------------------------------------- */
/* Strings are NUL-terminated and valid as long as req. */
const char *http_req_method(const http_req *req);  /* "POST" */
const char *http_req_path(const http_req *req);    /* "/2015-03-31/functions/x/invocations" (not decoded) */
const char *http_req_query(const http_req *req);   /* "Qualifier=%24LATEST" or "" */
/* Header value by name, case-insensitive; the first one if repeated; NULL
 * if absent. */
const char *http_req_header(const http_req *req, const char *name);
/* Number of headers and the i-th name/value (for signing checks, logs). */
int http_req_header_count(const http_req *req);
void http_req_header_at(const http_req *req, int i, const char **name, const char **value);
/* The body (NUL-terminated for convenience; *len excludes the NUL). */
const char *http_req_body(const http_req *req, size_t *len);
/* Value of query parameter `name` (percent-decoded) into buf; returns its
 * length, or -1 if absent / -ENOSPC if buf too small. */
int http_req_query_param(const http_req *req, const char *name, char *buf, size_t bufsz);
/* The peer closed (or the server is closing); responding is now a no-op. */
int http_req_cancelled(const http_req *req);
/* Set the disconnect callback (NULL to clear). */
void http_req_set_cancel(http_req *req, http_cancel_cb *cb, void *ud);
/* An owner pointer the server never touches. */
void http_req_set_data(http_req *req, void *data);
void *http_req_get_data(const http_req *req);

/* Answer and free req. `headers` is NULL or raw header lines, each ending in
 * "\r\n" ("Content-Type: application/json\r\nX-Amz-Foo: 1\r\n"); the server
 * adds Content-Length, Date is not sent, Connection: close when closing.
 * body (len bytes) is copied. Returns 0, or -EPIPE if the client was gone
 * (req is freed either way). Never blocks: what the socket does not take
 * now is written when it becomes writable. */
int http_respond(http_req *req, int status, const char *headers, const char *body, size_t len);
/* Like http_respond but takes ownership of a malloc'd body (no copy). */
int http_respond_take(http_req *req, int status, const char *headers, char *body, size_t len);
/* Drop req without answering; if its connection is still open it is closed
 * (the client sees a reset/EOF). */
void http_req_release(http_req *req);

#endif
