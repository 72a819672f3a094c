/*
 * lrt.h - the Lambda Runtime API client every bootstrap links.
 *
 * A custom runtime (provided.al2023) is a loop: ask the Runtime API for the
 * next invocation, run the handler, post its result or its error. This
 * module is that loop and nothing else: it knows the Runtime API
 * (http://$AWS_LAMBDA_RUNTIME_API/2018-06-01, AWS "Using the Lambda runtime
 * API for custom runtimes"), spoken over one kept-alive HTTP/1.1 socket
 * (no libcurl: the API is plain HTTP on a local address, and the loop's
 * own cost is paid on every invocation). It must not know what a handler
 * does, keep state between invocations (beyond reusing its buffers), or
 * put a client timeout on GET /next (the sandbox is frozen between
 * invocations, so a timer there would fire for no reason).
 *
 * Threading: one runtime, one thread. The same sources run under AWS and
 * under the local engine `sfnd`, which serves the same API.
 *
 * Ownership (jansson words): the event handed to a handler is borrowed;
 * the handler returns a new reference that the runtime releases.
 */
#ifndef LRT_H
#define LRT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* C-level status codes; appended only, never reused. */
#define LRT_OK 0
#define LRT_EINVAL (-22)   /* bad argument or environment (no AWS_LAMBDA_RUNTIME_API) */
#define LRT_ENOMEM (-12)
#define LRT_EIO (-5)       /* the API could not be reached after the bounded retries */
#define LRT_EAPI (-71)     /* the API answered 500 (or another unexpected status): exit */
#define LRT_ETOOBIG (-27)  /* an event larger than LRT_MAX_PAYLOAD */

/* Payload cap of buffered invocations (6 MB) plus the RIE's headroom. */
#define LRT_MAX_PAYLOAD (6u * 1024u * 1024u + 100u)

/* The invocation context, from the headers of GET /next. Strings are
 * borrowed, valid during the handler call only; absent headers are "". */
typedef struct lrt_context {
    const char *request_id;           /* Lambda-Runtime-Aws-Request-Id */
    int64_t deadline_ms;              /* Lambda-Runtime-Deadline-Ms, epoch ms; 0 if absent */
    const char *invoked_function_arn; /* Lambda-Runtime-Invoked-Function-Arn */
    const char *trace_id;             /* Lambda-Runtime-Trace-Id, also exported as _X_AMZN_TRACE_ID */
    const char *client_context;       /* Lambda-Runtime-Client-Context (JSON text) */
    const char *cognito_identity;     /* Lambda-Runtime-Cognito-Identity (JSON text) */
    const char *tenant_id;            /* Lambda-Runtime-Aws-Tenant-Id */
} lrt_context;

/* A handler's failure: what Step Functions matches in Retry/Catch
 * ErrorEquals is `type` (the body's errorType). */
typedef struct lrt_error {
    char type[128];     /* e.g. "BookingFailed"; "" means unset */
    char message[1024];
} lrt_error;

/* Fill err (printf style); returns NULL so a handler can `return lrt_fail(...)`. */
json_t *lrt_fail(lrt_error *err, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The handler. event: borrowed. Returns: new, the result (any JSON value),
 * or NULL with *err filled (an unset type becomes "HandlerError"). */
typedef json_t *(*lrt_handler)(const json_t *event, const lrt_context *ctx,
                               lrt_error *err, void *user);

/* Milliseconds left before the deadline (negative when past; INT64_MAX when
 * no deadline was given). Reads the real clock. */
int64_t lrt_context_remaining_ms(const lrt_context *ctx);

typedef struct lrt_options {
    const char *api;       /* host:port; NULL = getenv("AWS_LAMBDA_RUNTIME_API") */
    int max_invocations;   /* stop after this many (tests); 0 = forever */
    int max_retries;       /* connection-level retries per request; 0 = default (3) */
} lrt_options;

/* Run the loop. opts may be NULL. Returns LRT_OK after max_invocations,
 * else a negative code when the runtime must exit (API 500, API gone);
 * a handler error never ends the loop. */
int lrt_run(lrt_handler handler, void *user, const lrt_options *opts);

/* Report a failed start-up (POST /runtime/init/error) and return. opts may
 * be NULL. Returns LRT_OK when the API accepted the report. The runtime
 * should exit non-zero afterwards. */
int lrt_init_error(const char *type, const char *message, const lrt_options *opts);

/* A whole bootstrap main: `init` (may be NULL) prepares *user, failing with
 * a type and message that go to /init/error. Returns the process exit code. */
typedef int (*lrt_init_fn)(void **user, lrt_error *err);
typedef void (*lrt_cleanup_fn)(void *user);
int lrt_main(lrt_handler handler, lrt_init_fn init, lrt_cleanup_fn cleanup);

#endif /* LRT_H */
