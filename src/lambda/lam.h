/*
 * lam.h - local Lambda: the functions of the template run as real
 * `bootstrap` processes that long-poll a local Runtime API, as on AWS.
 *
 * A registry of functions (name, ARN, bootstrap, environment, Timeout,
 * MemorySize); per function a pool of warm processes started on demand and
 * capped; each process gets its own Runtime API listener on 127.0.0.1 (its
 * own port), so whatever happens to an invocation (crash, timeout, exit) is
 * attributed to exactly the process that held it. Processes start without a
 * shell (posix_spawn) in a clean environment (only the AWS_LAMBDA_* and
 * friends that Lambda sets, plus the function's own Environment and its
 * overrides). Each process leads its own process group, and the group is
 * what gets killed (timeout, init timeout, exit, shutdown), so whatever a
 * bootstrap forks does not outlive it. Logs (log_dir) pass through sfnd and
 * are rotated per function (log_max_bytes).
 *
 * Also the Lambda API on AWS's routes (lam_http_route): ListFunctions,
 * GetFunction, GetFunctionConfiguration and Invoke (RequestResponse with
 * LogType Tail and a client context, Event with AWS's retries, DryRun).
 * Functions run as their Runtime wants (lam_runtimes_command): provided.*
 * bootstraps, Node.js and Python handlers through sfnd's runtime shims.
 *
 * Must not: know ASL or the store, block, run user code in-process.
 *
 * Threading: everything on the ev loop's thread.
 *
 * Errors: negative errno values; LAM_ENOTFOUND / LAM_ETOOLARGE for the two
 * refusals that AWS reports as ResourceNotFoundException /
 * RequestEntityTooLargeException.
 */
#ifndef SFN_LAM_H
#define SFN_LAM_H

#include <stddef.h>
#include <stdint.h>

#include "ev.h"
#include "sfn_err.h"
#include "http.h"

typedef struct lam lam;
typedef struct lam_function lam_function;

#define LAM_ENOTFOUND SFN_E_NOENT  /* no such function / qualifier (sfn_err.h) */
#define LAM_ETOOLARGE SFN_E_2BIG   /* payload > LAM_MAX_PAYLOAD */
#define LAM_MAX_PAYLOAD 6291456    /* Invoke request and response cap (6 MB) */
#define LAM_MAX_EVENT_PAYLOAD 262144 /* an asynchronous (Event) invocation's cap (256 KB) */
#define LAM_CLIENT_CONTEXT_MAX 3583  /* X-Amz-Client-Context, base64 (AWS's limit) */

typedef struct lam_opts {
    const char *region;        /* default: $AWS_REGION or "us-east-1" */
    const char *account;       /* default "123456789012" */
    int max_procs;             /* per function; 0 = 8 */
    int kill_grace_ms;         /* lam_shutdown: SIGTERM, then SIGKILL after; 0 = 2000 */
    const char *log_dir;       /* bootstrap stdout/stderr go to <log_dir>/<name>.log;
                                  NULL: to our stderr, each line prefixed "[name] " */
    int log_discard;           /* 1: to /dev/null (tests, benchmarks) */
    int64_t log_max_bytes;     /* log_dir mode: <name>.log moves to <name>.log.1 (the one
                                  old file kept) before passing this; 0 = 10 MiB */
    int init_timeout_ms;       /* a process that has not called GET /next this long after
                                  its start is killed (AWS: 10 s); 0 = the environment's
                                  SFND_LAMBDA_INIT_TIMEOUT_MS (tests), else 10000 */
    int64_t event_retry_ms;    /* an asynchronous (Event) invocation that fails is retried
                                  twice, after this and after twice this (AWS: 1 and 2
                                  minutes); 0 = 60000 */
} lam_opts;

/* How a function's process is started (lam_runtimes_command): exec is the
 * file executed (posix_spawn, no PATH search, no shell) with argv. */
typedef struct lam_command {
    char *exec;
    char **argv;               /* NULL-terminated, argv[0] included */
    char *execution_env;       /* AWS_EXECUTION_ENV ("AWS_Lambda_nodejs20.x"), or NULL */
    char *note;                /* a warning for the start-up message, or NULL */
} lam_command;

typedef struct lam_function_def {
    const char *name;          /* FunctionName, e.g. "trip-BookHotelFunction-ABC" */
    const char *bootstrap;     /* path of the executable; its dir is LAMBDA_TASK_ROOT
                                  unless task_root says otherwise. May be NULL with cmd */
    const lam_command *cmd;    /* how to start it (copied); NULL: bootstrap, executed
                                  as it is */
    const char *task_root;     /* LAMBDA_TASK_ROOT and the process's working directory;
                                  NULL: the bootstrap's directory */
    const char *runtime;       /* Runtime (GetFunction's answer), or NULL */
    const char *architecture;  /* "x86_64" (default) or "arm64", for GetFunction */
    const char *handler;       /* _HANDLER (Handler:), default "bootstrap" */
    const char *const *env;    /* the function's Environment: "KEY=VALUE", NULL-terminated; may be NULL.
                                  The variables lam sets itself win over these (AWS refuses
                                  reserved keys in Environment; locally they are dropped) */
    const char *const *env_override; /* "KEY=VALUE", NULL-terminated, may be NULL: win over
                                  env and over lam's defaults (AWS_REGION, AWS_ACCESS_KEY_ID,
                                  AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, PATH, TZ, ...);
                                  a name of LAM_OWNED_ENV_NAMES (lam_env.h) or not
                                  [A-Za-z_][A-Za-z0-9_]* is -EINVAL (sfnd --env-vars) */
    int timeout_s;             /* Timeout; 0 = 3 (AWS default) */
    int memory_mb;             /* MemorySize; 0 = 128 */
} lam_function_def;

/* Create the local Lambda on loop. opts may be NULL. NULL on ENOMEM. */
lam *lam_create(ev_loop *loop, const lam_opts *opts);
/* Kill (SIGKILL) and reap every process at once, drop queued invocations
 * WITHOUT calling their callbacks, free everything. NULL is a no-op.
 * For a graceful stop call lam_shutdown first and run the loop until done. */
void lam_free(lam *l);
/* Graceful stop: no new invocations (lam_invoke returns -ESHUTDOWN),
 * SIGTERM to every process, SIGKILL after kill_grace_ms; when all have
 * exited, done(ud) is called from the loop. In-flight invocations end with
 * Runtime.ExitError as their process dies. */
void lam_shutdown(lam *l, void (*done)(void *ud), void *ud);

/* Register a function (all strings copied). Returns 0, -EEXIST (name
 * taken), -EINVAL (bad name / no bootstrap / an env_override lam owns),
 * -ENOMEM. Processes start only when invoked. */
int lam_function_add(lam *l, const lam_function_def *def);
/* Find a function by name, full or partial ARN ("123456789012:function:N",
 * "arn:aws:lambda:us-east-1:123456789012:function:N"), optionally with
 * ":$LATEST" qualifier. Returns borrowed, or NULL. */
lam_function *lam_function_find(lam *l, const char *name_or_arn);
const char *lam_function_name(const lam_function *f);
/* "arn:aws:lambda:<region>:<account>:function:<name>" */
const char *lam_function_arn(const lam_function *f);
/* Write the ARN a name would have (for error messages about unknown
 * functions): returns snprintf's value. */
int lam_arn_format(const lam *l, const char *name, char *buf, size_t len);

/* ---- runtimes (lam_runtime.c) ---------------------------------------- */
/* Which command runs a function of a runtime: provided.* bootstraps (a
 * script with the interpreter its #! names, #!/bin/sh on bash as Amazon
 * Linux does), nodejs<N>.x and python3.<M> through sfnd's shims with the
 * machine's node / python3 (refused when its version differs, unless
 * mismatch_run). Start-up only: probing an interpreter waits for it. */
typedef struct lam_runtimes lam_runtimes;
typedef struct lam_runtimes_opts {
    const char *shim_dir;      /* the folder of sfnd_node_runtime.js and
                                  sfnd_python_runtime.py (sfnd: <bin>/runtimes) */
    const char *path;          /* searched for node, python3, bash; NULL: $PATH */
    int mismatch_run;          /* 1: run a runtime whose version differs, with a note */
} lam_runtimes_opts;
lam_runtimes *lam_runtimes_create(const lam_runtimes_opts *o);
void lam_runtimes_free(lam_runtimes *r);
/* The command for a function of runtime (NULL: provided) whose bootstrap
 * (provided.* only) is given. Returns 0 and *out (lam_command_free it), or
 * a negative errno and why in err (*out empty). */
int lam_runtimes_command(lam_runtimes *r, const char *runtime, const char *bootstrap,
                         lam_command *out, char *err, size_t errlen);
void lam_command_free(lam_command *c);
/* name on path (':'-separated; a name with '/' is taken as is): 0 and the
 * executable's path in out, or -ENOENT. */
int lam_find_program(const char *path, const char *name, char *out, size_t outlen);

/* ---- invoking ---------------------------------------------------------- */
typedef enum lam_status {
    LAM_OK = 0,           /* body: the function's response, as posted */
    LAM_FUNCTION_ERROR,   /* body: the error JSON the runtime posted to /error */
    LAM_TIMEOUT,          /* Sandbox.Timedout; the process group was killed. Measured
                             from the invocation's hand-over (its /next answered), and
                             never decided by a timer that fired late after a stalled
                             loop before the process's pending answer was read */
    LAM_EXIT,             /* Runtime.ExitError: the process died mid-invocation */
    LAM_INIT_ERROR,       /* init failed (posted /init/error, or died or could not start
                             before its first /next): Runtime.InitError / ExitError /
                             Runtime.InvalidEntrypoint (no such or no executable
                             bootstrap); Sandbox.Timedout when no /next came within the
                             init limit (the process group was killed) */
    LAM_TOO_LARGE,        /* Function.ResponseSizeTooLarge: response > 6 MB */
    LAM_SERVICE_ERROR,    /* Lambda.ServiceException: no process could be started for
                             a reason of the host's (fork/exec EMFILE, ENFILE, EAGAIN,
                             ENOMEM...), retryable; body: the AWS SDK-style cause text
                             "msg (Service: AWSLambda; Status Code: 500; ...)", not JSON.
                             The Invoke API answers it 500 ServiceException */
} lam_status;

typedef struct lam_result {
    lam_status status;
    const char *request_id;  /* the Lambda-Runtime-Aws-Request-Id (a UUID) */
    const char *body;        /* LAM_OK: the response; otherwise the error JSON
                                {"errorType","errorMessage",...}; NUL-terminated */
    size_t len;
    const char *error_type;  /* NULL for LAM_OK; else the body's errorType (e.g.
                                "BookingFailed", "Sandbox.Timedout") */
    int64_t duration_us;     /* dispatch to result */
    const char *log_tail;    /* the invocation's log when asked for (the Invoke API's
                                LogType Tail): START, the process's output, END,
                                REPORT, the last 4 KB; else NULL */
    size_t log_tail_len;
} lam_result;

/* The invocation ended. r and its strings are valid during the call only.
 * Every status except LAM_OK is what AWS's Invoke API reports with
 * X-Amz-Function-Error: Unhandled. */
typedef void lam_invoke_cb(void *ud, const lam_result *r);

/* Invoke a function (RequestResponse semantics) with payload[0..len) (copied).
 * Dispatched at once to an idle warm process, else a new process is started
 * (up to max_procs), else queued FIFO. cb is called exactly once from the
 * loop, never from inside lam_invoke. If request_id is not NULL it gets the
 * request id (37 bytes incl. NUL).
 * Returns 0, or (cb never called): LAM_ENOTFOUND, LAM_ETOOLARGE, -ESHUTDOWN,
 * -ENOMEM. */
int lam_invoke(lam *l, const char *function, const char *payload, size_t len,
               lam_invoke_cb *cb, void *ud, char *request_id);

/* ---- the Invoke HTTP API ---------------------------------------------- */
/* Serve POST /2015-03-31/functions/{function}/invocations on req (the
 * router matched the path and passes the {function} segment, still
 * percent-encoded or not). Handles X-Amz-Invocation-Type RequestResponse
 * (200 + result; function error: 200 + X-Amz-Function-Error: Unhandled;
 * X-Amz-Log-Type: Tail adds X-Amz-Log-Result, the last 4 KB of its log in
 * base64), Event (202; queued, retried twice on failure after
 * lam_opts.event_retry_ms and twice that, then dropped; payload > 256 KB
 * 413), DryRun (204); X-Amz-Client-Context (base64 JSON) reaches the
 * runtime as Lambda-Runtime-Client-Context; ?Qualifier= ($LATEST only);
 * unknown function 404 ResourceNotFoundException; payload > 6 MB 413
 * RequestEntityTooLargeException. Always answers req (now or later). */
void lam_http_invoke(lam *l, http_req *req, const char *function);

/* The Lambda API on its AWS routes (lam_api.c): GET /2015-03-31/functions/
 * (ListFunctions), GET .../functions/{name} (GetFunction), GET
 * .../functions/{name}/configuration (GetFunctionConfiguration), POST
 * .../functions/{name}/invocations (lam_http_invoke). Returns 1 when the
 * path is under /2015-03-31/functions (req answered, now or later: an
 * unknown operation there gets 404 UnknownOperationException), else 0
 * (req untouched). */
int lam_http_route(lam *l, http_req *req);

/* ---- stats ------------------------------------------------------------ */
typedef struct lam_stats {
    uint64_t invocations;     /* dispatched */
    uint64_t spawned;         /* processes started */
    uint64_t queued;          /* invocations that had to wait */
    int procs;                /* live processes now */
    int busy;                 /* of which running an invocation */
} lam_stats;
void lam_stats_get(const lam *l, lam_stats *out);

#endif
