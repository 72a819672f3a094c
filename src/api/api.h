/*
 * api.h - the Step Functions API (AWS JSON 1.0) and the HTTP router of sfnd.
 *
 * POST / with X-Amz-Target: AWSStepFunctions.<Op> is parsed strictly and
 * dispatched to the runner, which makes every write and every read of the
 * store (run.h); POST
 * /2015-03-31/functions/{name}/invocations goes to lam_http_invoke. Errors
 * are AWS's JSON bodies {"__type": "...", "message": "..."} with status 400
 * (client errors) or 500. Every reply leaves after the commit of the loop
 * iteration that computed it (persist, then acknowledge).
 *
 * One extension for benchmarks and tests: target "Sfnd.WaitExecution"
 * {"executionArn", "timeoutSeconds"} answers like DescribeExecution once
 * the execution has ended (or at the timeout).
 *
 * Must not: call the store (src/store): reads and writes go through the
 * runner.
 * Threading: the loop's thread.
 */
#ifndef SFN_API_H
#define SFN_API_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "lam.h"
#include "run.h"

typedef struct api api;

typedef struct api_opts {
    run *run;
    ev_loop *loop;
    lam *lam;             /* may be NULL (no Lambda Invoke API) */
    const char *region;   /* default us-east-1 */
    const char *account;  /* default 123456789012 */
    /* Who may call (api_http_check): the address served and the browser
     * origins allowed besides the server's own. */
    const char *host;     /* the listen address, default 127.0.0.1 */
    int port;             /* the port served (api_set_port once bound) */
    const char *const *allow_origins; /* "http://app.example:3000", ... */
    size_t nallow_origins;
} api_opts;

api *api_create(const api_opts *o);
/* Requests still waiting (sync executions, WaitExecution) are released. */
void api_free(api *a);

/* The reply to one call: status and body (JSON, NUL-terminated) are valid
 * during the callback only. */
typedef void api_reply_cb(void *ud, int status, const char *body, size_t len);

/* Handle one Step Functions call: target is the X-Amz-Target value (may be
 * NULL), body the request body. cb is called exactly once, never before
 * the data it reports is committed (usually from the next before-sleep
 * hook, never from inside api_call). */
void api_call(api *a, const char *target, const char *body, size_t len, api_reply_cb *cb,
              void *ud);

/* The http_handler for http_server_create (ud = the api). Every request
 * first passes api_http_check; a refused one gets 403
 * AccessDeniedException. */
void api_http_handle(http_req *req, void *ud);

/* The port actually bound (with --port 0), for the Host check. */
void api_set_port(api *a, int port);

/* Private by default: may this request be served? Refuses (DNS rebinding,
 * cross-site browser requests):
 *  - a Host header that does not name the address served: 127.0.0.1,
 *    localhost, [::1] or the --host address, with the port served (any IP
 *    literal when the --host is a wildcard, 0.0.0.0 or ::); no Host is
 *    allowed (HTTP/1.0 tools);
 *  - an Origin header other than the server's own (http://<Host>) and
 *    the allowed ones;
 *  - a POST without an AWS SigV4 Authorization whose Content-Type is one
 *    a browser form or "simple" request can send (text/plain,
 *    application/x-www-form-urlencoded, multipart/form-data).
 * Any header may be NULL (absent). Returns 0, or 403 with the reason in msg. */
int api_http_check(const api *a, const char *method, const char *host, const char *origin,
                   const char *authorization, const char *content_type, char *msg,
                   size_t msglen);

/* http_server_opts.error_body: the server's own error answers (400, 408,
 * 413, 431, 503, ...) as AWS JSON errors, {"__type": ..., "message": ...},
 * which both the JSON 1.0 (Step Functions) and the REST-JSON (Lambda)
 * clients read. API_HTTP_ERROR_HEADERS goes in error_headers. */
size_t api_http_error_body(int status, char *buf, size_t cap, void *ud);
#define API_HTTP_ERROR_HEADERS "Content-Type: application/x-amz-json-1.0\r\n"

/* The base URL of an address for messages: http://127.0.0.1:8083,
 * http://[::1]:8083 (IPv6 in brackets). */
void api_url_format(char *buf, size_t cap, const char *host, int port);
/* 1 if host (a listen address) is a loopback address or "localhost". */
int api_host_is_loopback(const char *host);

/* Create or update the state machine `name` from the template at start-up.
 * definition: JSON text. Writes *arn_out (malloc'd). Returns 0, or a
 * negative code with AWS's message in err. */
int api_sm_from_template(api *a, const char *name, const char *definition, int type,
                         const char *role_arn, char **arn_out, char *err, size_t errlen);
/* The template's Logging and Tracing of the state machine arn (SAM's
 * PascalCase maps; NULL: absent, the default) checked as
 * CreateStateMachine's and stored (api_meta.c). Returns 0, -EINVAL with
 * AWS's message in err, or -EAGAIN (the store takes no writes). */
int api_sm_template_conf(api *a, const char *arn, const json_t *logging, const json_t *tracing,
                         char *err, size_t errlen);

#endif
