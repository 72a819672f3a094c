/*
 * lam_int.h - the local Lambda's internals (src/lambda), shared by its
 * files; not part of its interface (lam.h).
 *
 *   lam.c         the registry, invocations (queue, ends), shutdown, stats:
 *                 the public entry points but the Invoke HTTP API
 *   lam_pool.c    processes: their environment, spawn, the per-function cap,
 *                 the idle list, Timeout and the init limit, exits
 *   lam_rapi.c    the Runtime API each process polls on its own port: the
 *                 hand-over on /next, /response, /error, /init/error
 *   lam_log.c     the processes' stdout/stderr: to our stderr, or to a file
 *                 per function rotated past log_max
 *   lam_invoke.c  the Lambda Invoke HTTP API (lam_http_invoke)
 *   lam_runtime.c the command that starts a function's process, per runtime
 *   lam_api.c     ListFunctions, GetFunction(Configuration), the router
 *
 * An invocation's life: queued on its function (FIFO) -> handed to a
 * process's parked GET /next -> ended by that process's POST /response or
 * /error, or by its Timeout (we SIGKILL the process), or by the process
 * dying. Because each process polls its own port, "which invocation did this
 * crash kill" is never a guess.
 *
 * The lam__ functions are for these files only. Threading: the ev loop's.
 */
#ifndef SFN_LAM_INT_H
#define SFN_LAM_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lam.h"

#define LOG_LINE_MAX 4096          /* a process's log buffer; a longer line goes out in pieces */
#define LAM_TAIL 4096              /* Invoke's LogType Tail: the last 4 KB of the log */

/* What an invocation asks for beyond its payload (lam__invoke). */
typedef struct lam__iopts {
    const char *client_context; /* JSON text for Lambda-Runtime-Client-Context, or NULL */
    int tail;                   /* keep the invocation's log for LogType Tail */
    const char *request_id;     /* reuse this id (an asynchronous retry), or NULL */
} lam__iopts;

typedef struct proc proc;
typedef struct inv inv;
typedef struct evt evt;

struct inv {
    lam_function *fn;
    char id[37];
    char *payload;
    size_t len;
    lam_invoke_cb *cb;
    void *ud;
    int http_owned;    /* ud is an http_req lam_http_invoke must answer */
    int64_t start_us;
    char *client_context; /* forwarded as Lambda-Runtime-Client-Context, or NULL */
    int want_tail;     /* keep its log (tail, up to 2 x LAM_TAIL, the last LAM_TAIL kept) */
    char *tail;
    size_t tail_len;
    pid_t pid;         /* the process that ran it, 0 until handed over */
    inv *next;         /* queue link */
};

enum proc_state { P_STARTING, P_IDLE, P_BUSY, P_BETWEEN, P_DYING };

struct proc {
    lam_function *fn;
    pid_t pid;
    http_server *rapi;
    enum proc_state state;
    http_req *next_req;    /* parked GET /next */
    inv *cur;              /* the invocation it holds */
    ev_timer *timer;       /* cur's Timeout */
    char *init_error;      /* body of POST /init/error */
    int reinit;            /* started again after an init that timed out: its
                              limit is the function's Timeout (AWS) */
    char last_id[37];      /* the invocation it ended last (a second result is 403) */
    int logfd;             /* read end of the stdout/stderr pipe, -1 if none */
    char *logbuf;
    size_t loglen;
    proc *prev, *next;     /* fn->procs */
    proc *idle_prev, *idle_next;
    int in_idle;
};

struct lam_function {
    lam *l;
    char *name, *arn, *bootstrap, *root, *handler;
    char *exec;            /* the file executed (bootstrap, or an interpreter) */
    char **argv;           /* its arguments, NULL-terminated */
    char *execution_env;   /* AWS_EXECUTION_ENV */
    char *runtime, *arch;  /* for GetFunction */
    int64_t added_ms;      /* LastModified: when it was registered */
    char revision[37];     /* RevisionId */
    long long code_size;   /* CodeSize: the bytes under root */
    char **env;            /* "K=V", the function's own (none reserved or overridden) */
    int nenv;
    char **ovr;            /* "K=V" that replace a default of spawn() or are added */
    int novr;
    int timeout_s, memory_mb;
    int logfd;             /* shared log file (log_dir / discard), -1 if per-proc pipes */
    proc *procs;
    proc *idle_head, *idle_tail;
    int nprocs, nstarting;
    int nbetween;          /* posted a result, /next not yet seen: about to be idle */
    inv *qhead, *qtail;
    int qlen;
    char *spawn_error;     /* why the last spawn failed (for the deferred failure) */
    int spawn_errno;       /* its errno: the bootstrap's fault, or the host's (retryable) */
    int64_t logsize;       /* bytes in <log_dir>/<name>.log (log_dir mode) */
    ev_timer *fail_timer;
    lam_function *next_fn;
};

struct lam {
    ev_loop *loop;
    char region[32], account[16];
    int max_procs, grace_ms;
    char *log_dir;
    int log_discard;
    int64_t log_max;       /* rotate a function's log past this */
    int init_timeout_ms;
    lam_function *fns;
    int shutting;
    void (*done)(void *);
    void *done_ud;
    ev_timer *grace_timer, *done_timer;
    evt *evts;             /* asynchronous invocations (lam_invoke.c) */
    int64_t event_retry_ms;
    uint64_t rng[2];
    lam_stats st;
};

/* ---- lam.c: invocations ----------------------------------------------- */
/* xorshift128+ over l->rng: request ids need uniqueness, not secrecy. */
uint64_t lam__rng_next(lam *l);
/* {"errorType":type,"errorMessage":msg} as a new string (NULL on ENOMEM). */
char *lam__error_json(const char *type, const char *msg);
/* End v: its callback with the result, then v is freed. */
void lam__finish(inv *v, lam_status status, const char *body, size_t len, const char *etype);
/* End v with its response body (LAM_OK). */
void lam__finish_ok(inv *v, const char *body, size_t len);
/* End v with a platform error {"errorType":type,"errorMessage":"RequestId: <id> Error: <what>"}. */
void lam__finish_platform(inv *v, lam_status status, const char *type, const char *what);
/* The oldest invocation waiting on f, taken off its queue; NULL if none. */
inv *lam__q_pop(lam_function *f);
/* Shutting down and no process left: call the done callback from the loop. */
void lam__check_done(lam *l);
/* lam_invoke on a found function; http_owned: ud is an http_req that
 * lam_free must release if the invocation never ends; o may be NULL. */
int lam__invoke(lam *l, lam_function *f, const char *payload, size_t len, lam_invoke_cb *cb,
                void *ud, char *request_id, int http_owned, const lam__iopts *o);
/* Append s[0..n) to v's log tail (when it keeps one). */
void lam__tail_add(inv *v, const char *s, size_t n);
/* The START line of v's tail (it was handed to process pid). */
void lam__tail_start(inv *v, pid_t pid);

/* ---- lam_invoke.c: the Invoke API, asynchronous invocations ---------------- */
/* An AWS REST-JSON error answer: x-amzn-ErrorType type, {"Type","message"}. */
void lam__http_error(http_req *req, int status, const char *type, const char *msg);
/* The function a path segment (percent-encoded name or ARN) and ?Qualifier=
 * name; NULL when answered 404 ResourceNotFoundException. */
lam_function *lam__http_function(lam *l, http_req *req, const char *segment);
/* Drop the asynchronous invocations waiting for a retry; all: the ones in
 * flight too (lam_free, which drops their invocations uncalled). */
void lam__events_free(lam *l, int all);

/* ---- lam_api.c ------------------------------------------------------------ */
/* CodeSize: the bytes under a function's folder (a bounded walk). */
long long lam__code_size(const char *root);

/* ---- lam_pool.c: processes -------------------------------------------- */
/* Signal pid's whole process group; the pid alone if the group is gone. */
void lam__kill_group(pid_t pid, int sig);
void lam__idle_add(proc *p);
void lam__idle_del(proc *p);
/* The ev timer callback of a busy process's Timeout (ud: the proc). */
void lam__on_timeout(ev_loop *loop, ev_timer *t, void *ud);
/* Start processes for f's waiting invocations, up to max_procs. */
void lam__maybe_spawn(lam_function *f);
/* Unlink and free p (its process already reaped or killed). */
void lam__proc_free(proc *p);
/* Is kv's name one a function's Environment cannot set (lam's own and its
 * defaults)? One not even an override can set (the Runtime API contract)? */
int lam__env_reserved(const char *kv);
int lam__env_owned(const char *kv);

/* ---- lam_rapi.c: the Runtime API -------------------------------------- */
/* Answer p's parked /next with v: the invocation starts now. */
void lam__assign(proc *p, inv *v);
/* The http handler of a process's Runtime API listener (ud: the proc). */
void lam__rapi_handler(http_req *req, void *ud);

/* ---- lam_log.c: the processes' output --------------------------------- */
/* <log_dir>/<name>.log<suffix> */
void lam__log_path(const lam_function *f, char *buf, size_t len, const char *suffix);
/* Read p's stdout/stderr pipe: at most max_reads reads (0 = until it would
 * block or ends; at its end the pipe is closed and p->logfd is -1). */
void lam__log_read(ev_loop *loop, proc *p, int fd, int max_reads);
/* The ev fd callback of a process's pipe (ud: the proc). */
void lam__on_log(ev_loop *loop, int fd, int events, void *ud);
/* A line of sfnd's own about f (an asynchronous invocation dropped...), where
 * f's processes' output goes. */
void lam__log_note(lam_function *f, const char *line);

#endif
