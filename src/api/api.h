/*
 * api.h - the Step Functions API (AWS JSON 1.0) and the HTTP router of sfnd.
 *
 * POST / with X-Amz-Target: AWSStepFunctions.<Op> is parsed strictly and
 * dispatched to the runner and the store; POST
 * /2015-03-31/functions/{name}/invocations goes to lam_http_invoke. Errors
 * are AWS's JSON bodies {"__type": "...", "message": "..."} with status 400
 * (client errors) or 500. Every reply leaves after the commit of the loop
 * iteration that computed it (persist, then acknowledge).
 *
 * One extension for benchmarks and tests: target "Sfnd.WaitExecution"
 * {"executionArn", "timeoutSeconds"} answers like DescribeExecution once
 * the execution has ended (or at the timeout).
 *
 * Must not: touch executions except through the runner.
 * Threading: the loop's thread.
 */
#ifndef SFN_API_H
#define SFN_API_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "lam.h"
#include "run.h"
#include "store.h"

typedef struct api api;

typedef struct api_opts {
    run *run;
    store *st;
    ev_loop *loop;
    lam *lam;             /* may be NULL (no Lambda Invoke API) */
    const char *region;   /* default us-east-1 */
    const char *account;  /* default 123456789012 */
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

/* The http_handler for http_server_create (ud = the api). */
void api_http_handle(http_req *req, void *ud);

/* Create or update the state machine `name` from the template at start-up.
 * definition: JSON text. Writes *arn_out (malloc'd). Returns 0, or a
 * negative code with AWS's message in err. */
int api_sm_from_template(api *a, const char *name, const char *definition, int type,
                         const char *role_arn, char **arn_out, char *err, size_t errlen);

#endif
