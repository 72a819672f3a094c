/*
 * http_client.h - one HTTP/1.1 request to a server, on the loop: a
 * non-blocking connect, the request written as given, the response read
 * to its end (Content-Length, chunked, or the connection's close), under a
 * deadline. For the runner's forwarded tasks (src/runner/run_tasks_fwd.c):
 * a few requests at a time to a local emulator, so one connection per
 * request ("Connection: close"), no pooling, no TLS.
 *
 * The address is resolved by the caller beforehand (getaddrinfo blocks:
 * the runner resolves an endpoint once, when it is configured).
 *
 * Must not: block; call back before http_client_send has returned.
 * Threading: the loop's thread.
 */
#ifndef SFN_HTTP_CLIENT_H
#define SFN_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ev.h"

typedef struct http_creq http_creq;

typedef struct http_cresp {
    int status;            /* 200, 400, ... */
    const char *headers;   /* the header lines, "Name: value\r\n" each */
    size_t headers_len;
    const char *body;      /* decoded (chunks joined), NUL-terminated */
    size_t body_len;
} http_cresp;

/* err 0: resp is the response (valid during the call). Otherwise resp is
 * NULL and err is -ECONNREFUSED, -ETIMEDOUT (the deadline passed),
 * -EPROTO (not an HTTP/1.x response), -EMSGSIZE (beyond the limit),
 * -ECONNRESET, -ENOMEM or another -errno. */
typedef void http_creq_cb(void *ud, int err, const http_cresp *resp);

/* Largest response accepted (head and body). */
#define HTTP_CLIENT_MAX_RESPONSE (16u << 20)

/* Send req[0..len) (a complete request, with "Connection: close") to addr,
 * and call cb once with the outcome, unless http_client_cancel comes
 * first. timeout_ms: for all of it. NULL on ENOMEM (nothing happens). */
http_creq *http_client_send(ev_loop *loop, const struct sockaddr *addr, socklen_t alen,
                            const char *req, size_t len, int64_t timeout_ms, http_creq_cb *cb,
                            void *ud);
/* Drop a request in flight: cb is not called. Not inside its own cb. */
void http_client_cancel(http_creq *q);

/* The value of header name (case-insensitive) in resp, copied into out
 * (truncated to outlen-1). 1 found, 0 not. */
int http_cresp_header(const http_cresp *resp, const char *name, char *out, size_t outlen);

#endif
