/*
 * lam.c - local Lambda: function registry, warm process pools, one Runtime
 * API listener per process, invocation dispatch, timeouts, crash reports.
 *
 * An invocation's life: queued on its function (FIFO) -> handed to a
 * process's parked GET /next -> ended by that process's POST /response or
 * /error, or by its Timeout (we SIGKILL the process), or by the process
 * dying. Because each process polls its own port, "which invocation did this
 * crash kill" is never a guess.
 *
 * Must not: block (waitpid only in lam_free, after SIGKILL), run a shell,
 * leak sfnd's environment into a function, parse a successful response.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "lam.h"
#include "lam_env.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RAPI_PREFIX "/2018-06-01/runtime/"
/* A runtime's post up to this is read and judged by us, so that a response
 * past 6 MB ends as Function.ResponseSizeTooLarge (AWS) rather than as a
 * bare 413 from the HTTP layer that leaves the invocation to time out;
 * 64 MiB is what the HTTP layer still swallows after a 413. */
#define RAPI_MAX_BODY (64u * 1024 * 1024 - 1)
#define LOG_LINE_MAX 4096
#define LOG_READS_PER_WAKE 16      /* a runaway writer cannot hold the loop */
#define INIT_TIMEOUT_MS 10000      /* AWS: the init phase is limited to 10 s */
#define INIT_TIMEOUT_ENV "SFND_LAMBDA_INIT_TIMEOUT_MS"
#define LOG_MAX_BYTES (10 * 1024 * 1024)
/* A timer that fires this late ran after a stalled loop iteration: the
 * function's answer may be sitting unread in its socket. */
#define STALL_SLACK_MS 50

typedef struct proc proc;
typedef struct inv inv;

struct inv {
    lam_function *fn;
    char id[37];
    char *payload;
    size_t len;
    lam_invoke_cb *cb;
    void *ud;
    int http_owned;    /* ud is an http_req lam_http_invoke must answer */
    int64_t start_us;
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
    uint64_t rng[2];
    lam_stats st;
};

/* ---- small helpers ---------------------------------------------------- */
static uint64_t rng_next(lam *l)
{
    /* xorshift128+: request ids need uniqueness, not secrecy */
    uint64_t s1 = l->rng[0];
    const uint64_t s0 = l->rng[1];
    l->rng[0] = s0;
    s1 ^= s1 << 23;
    l->rng[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return l->rng[1] + s0;
}

static void make_uuid(lam *l, char out[37])
{
    uint64_t a = rng_next(l), b = rng_next(l);
    a = (a & ~0xf000ull) | 0x4000ull;                          /* version 4 */
    b = (b & 0x3fffffffffffffffull) | 0x8000000000000000ull;   /* variant */
    snprintf(out, 37, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(a >> 32), (unsigned)(a >> 16) & 0xffff,
             (unsigned)a & 0xffff, (unsigned)(b >> 48), (unsigned long long)(b & 0xffffffffffffull));
}

static char *xstrdup(const char *s) { return s ? strdup(s) : NULL; }

/* {"errorType":type,"errorMessage":msg} as a new string. */
static char *error_json(const char *type, const char *msg)
{
    json_t *o = json_pack("{s:s,s:s}", "errorType", type, "errorMessage", msg);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

static void finish(inv *v, lam_status status, const char *body, size_t len, const char *etype)
{
    lam_result r = {.status = status, .request_id = v->id, .body = body ? body : "", .len = len,
                    .error_type = etype, .duration_us = ev_now_us() - v->start_us};
    v->cb(v->ud, &r);
    free(v->payload);
    free(v);
}

/* End v with a platform error {"errorType":type,"errorMessage":"RequestId: <id> Error: <what>"}. */
static void finish_platform(inv *v, lam_status status, const char *type, const char *what)
{
    char msg[512];
    snprintf(msg, sizeof msg, "RequestId: %s Error: %s", v->id, what);
    char *body = error_json(type, msg);
    finish(v, status, body, body ? strlen(body) : 0, type);
    free(body);
}

/* Signal p's whole process group (spawn makes the bootstrap its leader), so
 * that what it forked goes with it; the pid alone if the group is gone. */
static void kill_group(pid_t pid, int sig)
{
    if (kill(-pid, sig) < 0 && errno == ESRCH)
        kill(pid, sig);
}

/* ---- queue and idle list --------------------------------------------- */
static void q_push(lam_function *f, inv *v)
{
    v->next = NULL;
    if (f->qtail)
        f->qtail->next = v;
    else
        f->qhead = v;
    f->qtail = v;
    f->qlen++;
}

static inv *q_pop(lam_function *f)
{
    inv *v = f->qhead;
    if (v) {
        f->qhead = v->next;
        if (!f->qhead)
            f->qtail = NULL;
        f->qlen--;
    }
    return v;
}

static void idle_add(proc *p)
{
    lam_function *f = p->fn;
    p->idle_next = NULL;
    p->idle_prev = f->idle_tail;
    if (f->idle_tail)
        f->idle_tail->idle_next = p;
    else
        f->idle_head = p;
    f->idle_tail = p;
    p->in_idle = 1;
}

static void idle_del(proc *p)
{
    if (!p->in_idle)
        return;
    lam_function *f = p->fn;
    if (p->idle_prev)
        p->idle_prev->idle_next = p->idle_next;
    else
        f->idle_head = p->idle_next;
    if (p->idle_next)
        p->idle_next->idle_prev = p->idle_prev;
    else
        f->idle_tail = p->idle_prev;
    p->in_idle = 0;
}

/* ---- dispatch --------------------------------------------------------- */
static void on_timeout(ev_loop *loop, ev_timer *t, void *ud);
static void maybe_spawn(lam_function *f);

/* Answer p's parked /next with v: the invocation starts now. */
static void assign(proc *p, inv *v)
{
    lam_function *f = p->fn;
    lam *l = f->l;
    http_req *req = p->next_req;
    p->next_req = NULL;
    http_req_set_cancel(req, NULL, NULL);
    idle_del(p);
    p->cur = v;
    p->state = P_BUSY;
    l->st.invocations++;

    int64_t now_wall = ev_wall_ms();
    int64_t deadline = now_wall + (int64_t)f->timeout_s * 1000;
    uint64_t r1 = rng_next(l), r2 = rng_next(l);
    char headers[1024];
    snprintf(headers, sizeof headers,
             "Content-Type: application/json\r\n"
             "Lambda-Runtime-Aws-Request-Id: %s\r\n"
             "Lambda-Runtime-Deadline-Ms: %lld\r\n"
             "Lambda-Runtime-Invoked-Function-Arn: %s\r\n"
             "Lambda-Runtime-Trace-Id: Root=1-%08llx-%08x%016llx;Parent=%016llx;Sampled=0\r\n",
             v->id, (long long)deadline, f->arn, (unsigned long long)(now_wall / 1000),
             (unsigned)(r1 >> 32), (unsigned long long)r2, (unsigned long long)(r1 ^ r2));
    p->timer = ev_timer_add(l->loop, ev_now_ms() + (int64_t)f->timeout_s * 1000, on_timeout, p);
    http_respond(req, 200, headers, v->payload, v->len);
    free(v->payload); /* the socket has it (or the server's buffer does) */
    v->payload = NULL;
    v->len = 0;
}

static void on_timeout(ev_loop *loop, ev_timer *t, void *ud)
{
    proc *p = ud;
    p->timer = NULL;
    int64_t now = ev_now_ms();
    if (now - ev_timer_deadline(t) > STALL_SLACK_MS) {
        /* The loop was stalled (a long request on its thread): the answer
         * may have come in time and not been read yet. Judge after one
         * iteration that reads the fds first; timeouts measure the
         * function's time, not the loop's. */
        p->timer = ev_timer_add(loop, now, on_timeout, p);
        if (p->timer != NULL)
            return;
    }
    inv *v = p->cur;
    p->cur = NULL;
    p->state = P_DYING;
    kill_group(p->pid, SIGKILL);
    if (v) {
        char what[96];
        snprintf(what, sizeof what, "Task timed out after %d.00 seconds", p->fn->timeout_s);
        finish_platform(v, LAM_TIMEOUT, "Sandbox.Timedout", what);
    }
}

/* The runtime never asked for its first invocation within the init limit:
 * kill it and fail the invocation that waits for it, as AWS reports an
 * init phase that timed out (Sandbox.Timedout, "Troubleshoot invocation
 * issues in Lambda"). */
static void on_init_timeout(ev_loop *loop, ev_timer *t, void *ud)
{
    proc *p = ud;
    lam_function *f = p->fn;
    p->timer = NULL;
    if (p->state != P_STARTING)
        return;
    p->state = P_DYING;
    f->nstarting--;
    kill_group(p->pid, SIGKILL);
    inv *v = q_pop(f);
    if (v) {
        char what[160];
        int ms = f->l->init_timeout_ms;
        snprintf(what, sizeof what,
                 "Runtime init timed out after %d.%02d seconds: the runtime never called "
                 "GET /runtime/invocation/next",
                 ms / 1000, (ms % 1000) / 10);
        finish_platform(v, LAM_INIT_ERROR, "Sandbox.Timedout", what);
    }
}

/* ---- Runtime API (one listener per process) --------------------------- */
static void next_cancelled(http_req *req, void *ud)
{
    proc *p = ud;
    /* The runtime hung up its long poll (it is probably exiting). */
    p->next_req = NULL;
    idle_del(p);
    http_req_release(req);
}

static void rapi_error(http_req *req, int status, const char *type, const char *msg)
{
    char *b = error_json(type, msg);
    http_respond(req, status, "Content-Type: application/json\r\n", b ? b : "", b ? strlen(b) : 0);
    free(b);
}

static const char ACCEPTED[] = "{\"status\":\"OK\"}";

/* POST /invocation/{id}/response or /error from p. */
static void rapi_result(proc *p, http_req *req, const char *id, int is_error)
{
    inv *v = p->cur;
    if (v == NULL || strcmp(id, v->id) != 0) {
        if (strcmp(id, p->last_id) == 0)
            rapi_error(req, 403, "InvalidStateTransition", "State transition is not allowed");
        else
            rapi_error(req, 400, "InvalidRequestID", "Invalid request ID");
        return;
    }
    size_t len;
    const char *body = http_req_body(req, &len);
    p->cur = NULL;
    p->state = P_BETWEEN;
    p->fn->nbetween++;
    memcpy(p->last_id, v->id, sizeof p->last_id);
    ev_timer_cancel(p->fn->l->loop, p->timer);
    p->timer = NULL;
    if (len > LAM_MAX_PAYLOAD) {
        rapi_error(req, 413, "RequestEntityTooLarge", "Response payload size exceeded maximum allowed payload size (6291556 bytes).");
        char what[160];
        snprintf(what, sizeof what, "Response payload size (%zu bytes) exceeded maximum allowed payload size (6291556 bytes).", len);
        char *b = error_json("Function.ResponseSizeTooLarge", what);
        finish(v, LAM_TOO_LARGE, b, b ? strlen(b) : 0, "Function.ResponseSizeTooLarge");
        free(b);
        return;
    }
    if (!is_error) {
        /* The owner reads the body straight out of req (no copy), so the
         * runtime's 202 goes out after the callback. */
        lam_result r = {.status = LAM_OK, .request_id = v->id, .body = body, .len = len,
                        .duration_us = ev_now_us() - v->start_us};
        v->cb(v->ud, &r);
        free(v->payload);
        free(v);
        http_respond(req, 202, "Content-Type: application/json\r\n", ACCEPTED, sizeof ACCEPTED - 1);
        return;
    }
    /* An error: the body should be {"errorMessage","errorType",...}; keep it
     * as posted when it is, else build one from the header. */
    const char *htype = http_req_header(req, "Lambda-Runtime-Function-Error-Type");
    json_error_t jerr;
    json_t *o = json_loadb(body, len, 0, &jerr);
    const char *etype = NULL;
    if (json_is_object(o))
        etype = json_string_value(json_object_get(o, "errorType"));
    if (etype != NULL) {
        finish(v, LAM_FUNCTION_ERROR, body, len, etype);
    } else {
        char *msg = strndup(body, len);
        const char *t = htype && *htype ? htype : "Runtime.Unknown";
        char *b = error_json(t, msg ? msg : "");
        finish(v, LAM_FUNCTION_ERROR, b, b ? strlen(b) : 0, t);
        free(b);
        free(msg);
    }
    json_decref(o);
    http_respond(req, 202, "Content-Type: application/json\r\n", ACCEPTED, sizeof ACCEPTED - 1);
}

static void rapi_handler(http_req *req, void *ud)
{
    proc *p = ud;
    const char *m = http_req_method(req);
    const char *path = http_req_path(req);
    if (strncmp(path, RAPI_PREFIX, sizeof RAPI_PREFIX - 1) != 0 || p->state == P_DYING) {
        rapi_error(req, 404, "NotFound", "Not found");
        return;
    }
    path += sizeof RAPI_PREFIX - 1;
    if (strcmp(path, "invocation/next") == 0) {
        if (strcmp(m, "GET") != 0) {
            rapi_error(req, 405, "MethodNotAllowed", "Method not allowed");
            return;
        }
        if (p->cur != NULL || p->next_req != NULL) {
            rapi_error(req, 403, "InvalidStateTransition", "State transition is not allowed");
            return;
        }
        lam_function *f = p->fn;
        if (p->state == P_STARTING) {
            f->nstarting--;
            ev_timer_cancel(f->l->loop, p->timer); /* the init limit */
            p->timer = NULL;
        } else if (p->state == P_BETWEEN)
            f->nbetween--;
        p->state = P_IDLE;
        p->next_req = req;
        inv *v = q_pop(f);
        if (v) {
            assign(p, v);
        } else {
            http_req_set_cancel(req, next_cancelled, p);
            idle_add(p);
        }
        return;
    }
    if (strcmp(path, "init/error") == 0) {
        if (strcmp(m, "POST") != 0) {
            rapi_error(req, 405, "MethodNotAllowed", "Method not allowed");
            return;
        }
        if (p->state != P_STARTING) {
            rapi_error(req, 403, "InvalidStateTransition", "State transition is not allowed");
            return;
        }
        size_t len;
        const char *body = http_req_body(req, &len);
        free(p->init_error);
        p->init_error = strndup(body, len);
        http_respond(req, 202, "Content-Type: application/json\r\n", ACCEPTED, sizeof ACCEPTED - 1);
        return;
    }
    if (strncmp(path, "invocation/", 11) == 0) {
        const char *id = path + 11;
        const char *slash = strchr(id, '/');
        if (slash && slash - id < 64 && (strcmp(slash, "/response") == 0 || strcmp(slash, "/error") == 0)) {
            if (strcmp(m, "POST") != 0) {
                rapi_error(req, 405, "MethodNotAllowed", "Method not allowed");
                return;
            }
            char idbuf[64];
            memcpy(idbuf, id, (size_t)(slash - id));
            idbuf[slash - id] = '\0';
            rapi_result(p, req, idbuf, slash[1] == 'e');
            return;
        }
    }
    rapi_error(req, 404, "NotFound", "Not found");
}

/* ---- logs ------------------------------------------------------------- */
static void log_flush_line(proc *p, const char *s, size_t n)
{
    char pre[300];
    int k = snprintf(pre, sizeof pre, "[%s] ", p->fn->name);
    /* one write per line keeps lines of different processes whole */
    char *line = malloc((size_t)k + n + 1);
    if (line == NULL)
        return;
    memcpy(line, pre, (size_t)k);
    memcpy(line + k, s, n);
    line[(size_t)k + n] = '\n';
    (void)!write(STDERR_FILENO, line, (size_t)k + n + 1);
    free(line);
}

/* The function's own log file (log_dir mode): <log_dir>/<name>.log, moved
 * to <name>.log.1 (the one old file kept) once it would pass log_max, so
 * one chatty invocation cannot fill the disk. */
static void log_path(const lam_function *f, char *buf, size_t len, const char *suffix)
{
    snprintf(buf, len, "%s/%s.log%s", f->l->log_dir, f->name, suffix);
}

static void log_write(lam_function *f, const char *s, size_t n)
{
    lam *l = f->l;
    if (f->logsize > 0 && f->logsize + (int64_t)n > l->log_max) {
        char cur[PATH_MAX], old[PATH_MAX];
        log_path(f, cur, sizeof cur, "");
        log_path(f, old, sizeof old, ".1");
        int fd = -1;
        if (rename(cur, old) == 0)
            fd = open(cur, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            close(f->logfd);
            f->logfd = fd;
            f->logsize = 0;
        } else {
            /* Cannot rotate: truncate in place rather than grow without bound. */
            if (ftruncate(f->logfd, 0) == 0)
                f->logsize = 0;
        }
    }
    while (n > 0 && f->logsize + (int64_t)n <= l->log_max + LOG_LINE_MAX) {
        ssize_t w = write(f->logfd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* disk full: the line is lost, the function is not */
        f->logsize += w;
        s += w;
        n -= (size_t)w;
    }
}

/* Lines [0, n) of p's buffer: to the function's file, or to our stderr with
 * "[name] " in front of each. */
static void log_emit(proc *p, size_t n, int whole)
{
    lam_function *f = p->fn;
    if (f->logfd >= 0) {
        log_write(f, p->logbuf, n);
        if (whole && n > 0 && p->logbuf[n - 1] != '\n')
            log_write(f, "\n", 1);
        return;
    }
    size_t st = 0;
    for (size_t i = 0; i < n; i++)
        if (p->logbuf[i] == '\n') {
            log_flush_line(p, p->logbuf + st, i - st);
            st = i + 1;
        }
    if (st < n)
        log_flush_line(p, p->logbuf + st, n - st);
}

/* Read p's stdout/stderr pipe: at most max_reads reads (0 = until it would
 * block or ends). */
static void log_read(ev_loop *loop, proc *p, int fd, int max_reads)
{
    for (int k = 0; max_reads <= 0 || k < max_reads; k++) {
        ssize_t r = read(fd, p->logbuf + p->loglen, LOG_LINE_MAX - p->loglen);
        if (r <= 0) {
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0 && errno == EAGAIN)
                return;
            if (p->loglen)
                log_emit(p, p->loglen, 1);
            p->loglen = 0;
            ev_fd_unwatch(loop, fd);
            close(fd);
            p->logfd = -1;
            return;
        }
        p->loglen += (size_t)r;
        /* whole lines go out; a partial one waits for its end (lines of
         * different processes stay whole), unless it fills the buffer */
        size_t st = p->loglen;
        while (st > 0 && p->logbuf[st - 1] != '\n')
            st--;
        if (st == 0 && p->loglen == LOG_LINE_MAX)
            st = p->loglen;
        if (st > 0)
            log_emit(p, st, 0);
        memmove(p->logbuf, p->logbuf + st, p->loglen - st);
        p->loglen -= st;
    }
}

static void on_log(ev_loop *loop, int fd, int events, void *ud)
{
    log_read(loop, ud, fd, LOG_READS_PER_WAKE);
}

/* ---- processes -------------------------------------------------------- */
static void on_exit_cb(ev_loop *loop, pid_t pid, int status, void *ud);

static int add_env(char **envp, int *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int add_env(char **envp, int *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vasprintf(&envp[*n], fmt, ap);
    va_end(ap);
    if (rc < 0) {
        envp[*n] = NULL;
        return -ENOMEM;
    }
    (*n)++;
    return 0;
}

/* What a function's Environment cannot set: lam's own and its defaults. */
static const char *const RESERVED[] = {
    LAM_OWNED_ENV_NAMES, "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_REGION", "AWS_DEFAULT_REGION",
    "AWS_EXECUTION_ENV", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", NULL};
/* What not even an override can set: the Runtime API contract. */
static const char *const OWNED[] = {LAM_OWNED_ENV_NAMES, NULL};
/* The entries spawn() sets before the function's own (with room to spare). */
#define ENV_FIXED 24

static int listed(const char *const *names, const char *kv)
{
    size_t n = strcspn(kv, "=");
    for (int i = 0; names[i]; i++)
        if (strlen(names[i]) == n && memcmp(names[i], kv, n) == 0)
            return 1;
    return 0;
}

static int reserved(const char *kv) { return listed(RESERVED, kv); }

/* kv replaces the entry of the same name, or is appended. */
static int set_env(char **envp, int *n, const char *kv)
{
    size_t k = strcspn(kv, "=") + 1; /* the '=' too */
    for (int i = 0; i < *n; i++)
        if (strncmp(envp[i], kv, k) == 0) {
            char *s = strdup(kv);
            if (s == NULL)
                return -ENOMEM;
            free(envp[i]);
            envp[i] = s;
            return 0;
        }
    return add_env(envp, n, "%s", kv);
}

/* Why spawning failed, for the invocation fail_head will fail. */
static void spawn_failed(lam_function *f, int e, const char *what)
{
    free(f->spawn_error);
    f->spawn_error = strdup(what);
    f->spawn_errno = e;
}

/* The bootstrap's own fault (AWS: Runtime.InvalidEntrypoint, not retried by
 * Step Functions); anything else (EMFILE, ENFILE, EAGAIN, ENOMEM...) is the
 * host's, a service error a retrier may retry. */
static int entrypoint_errno(int e)
{
    switch (e) {
    case ENOENT: case EACCES: case ENOEXEC: case ENOTDIR: case ELOOP: case ENAMETOOLONG:
    case EISDIR: case EPERM: case ELIBBAD:
        return 1;
    default:
        return 0;
    }
}

/* Start one process for f. Returns 0 or -errno; on failure f->spawn_error
 * says why (AWS's words). */
static int spawn(lam_function *f)
{
    lam *l = f->l;
    int rc = -ENOMEM;
    proc *p = calloc(1, sizeof *p);
    if (p == NULL)
        return -ENOMEM;
    p->fn = f;
    p->logfd = -1;
    http_server_opts so = {.host = "127.0.0.1", .port = 0, .max_body = RAPI_MAX_BODY,
                           .hold_pipelined = 1};
    p->rapi = http_server_create(l->loop, &so, rapi_handler, p, &rc);
    if (p->rapi == NULL) {
        char what[160];
        if (rc >= 0)
            rc = -ENOMEM;
        snprintf(what, sizeof what, "cannot open the Runtime API listener: %s", strerror(-rc));
        spawn_failed(f, -rc, what);
        goto fail_proc;
    }

    int n = 0, envmax = ENV_FIXED + f->nenv + f->novr;
    char **envp = calloc((size_t)envmax + 1, sizeof *envp);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    uint64_t s1 = rng_next(l), s2 = rng_next(l);
    rc = -ENOMEM;
    if (envp == NULL)
        goto fail_env;
    if (add_env(envp, &n, "AWS_LAMBDA_RUNTIME_API=127.0.0.1:%d", http_server_port(p->rapi)) ||
        add_env(envp, &n, "AWS_LAMBDA_FUNCTION_NAME=%s", f->name) ||
        add_env(envp, &n, "AWS_LAMBDA_FUNCTION_VERSION=$LATEST") ||
        add_env(envp, &n, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=%d", f->memory_mb) ||
        add_env(envp, &n, "AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/%s", f->name) ||
        add_env(envp, &n, "AWS_LAMBDA_LOG_STREAM_NAME=%04d/%02d/%02d/[$LATEST]%016llx%016llx",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, (unsigned long long)s1,
                (unsigned long long)s2) ||
        add_env(envp, &n, "AWS_LAMBDA_INITIALIZATION_TYPE=on-demand") ||
        add_env(envp, &n, "AWS_REGION=%s", l->region) ||
        add_env(envp, &n, "AWS_DEFAULT_REGION=%s", l->region) ||
        add_env(envp, &n, "AWS_EXECUTION_ENV=AWS_Lambda_provided.al2023") ||
        add_env(envp, &n, "_HANDLER=%s", f->handler) ||
        add_env(envp, &n, "LAMBDA_TASK_ROOT=%s", f->root) ||
        add_env(envp, &n, "LAMBDA_RUNTIME_DIR=/var/runtime") ||
        add_env(envp, &n, "TZ=:UTC") || add_env(envp, &n, "LANG=en_US.UTF-8") ||
        add_env(envp, &n, "PATH=/usr/local/bin:/usr/bin:/bin") ||
        add_env(envp, &n, "AWS_ACCESS_KEY_ID=AKIALOCALSFND0000000") ||
        add_env(envp, &n, "AWS_SECRET_ACCESS_KEY=localsfndlocalsfndlocalsfndlocalsfnd0000") ||
        add_env(envp, &n, "AWS_SESSION_TOKEN=local-sfnd-session-token"))
        goto fail_env;
    assert(n <= ENV_FIXED);
    for (int i = 0; i < f->nenv; i++)
        if (add_env(envp, &n, "%s", f->env[i]))
            goto fail_env;
    for (int i = 0; i < f->novr; i++)
        if (set_env(envp, &n, f->ovr[i]))
            goto fail_env;

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    int pipefd[2] = {-1, -1};
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (l->log_discard && f->logfd >= 0) {
        posix_spawn_file_actions_adddup2(&fa, f->logfd, 1);
        posix_spawn_file_actions_adddup2(&fa, f->logfd, 2);
    } else if (pipe2(pipefd, O_CLOEXEC) == 0) {
        posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
        posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
    }
    posix_spawn_file_actions_addchdir_np(&fa, f->root);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setpgroup(&at, 0); /* a terminal's ^C reaches sfnd only */
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    char *argv[] = {f->bootstrap, NULL};
    int e = posix_spawn(&p->pid, f->bootstrap, &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (pipefd[1] >= 0)
        close(pipefd[1]);
    if (e != 0) {
        char what[PATH_MAX + 96];
        snprintf(what, sizeof what, "fork/exec %s: %s", f->bootstrap, strerror(e));
        spawn_failed(f, e, what);
        if (pipefd[0] >= 0)
            close(pipefd[0]);
        rc = -e;
        goto fail_env;
    }
    if (pipefd[0] >= 0) {
        p->logbuf = malloc(LOG_LINE_MAX);
        fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
        if (p->logbuf && ev_fd_watch(l->loop, pipefd[0], EV_READ, on_log, p) == 0)
            p->logfd = pipefd[0];
        else
            close(pipefd[0]);
    }
    rc = ev_child_watch(l->loop, p->pid, on_exit_cb, p);
    assert(rc == 0); /* our own fresh, unreaped child */
    for (int i = 0; i < n; i++)
        free(envp[i]);
    free(envp);
    p->state = P_STARTING;
    p->timer = ev_timer_add(l->loop, ev_now_ms() + l->init_timeout_ms, on_init_timeout, p);
    p->next = f->procs;
    if (f->procs)
        f->procs->prev = p;
    f->procs = p;
    f->nprocs++;
    f->nstarting++;
    l->st.spawned++;
    l->st.procs++;
    return 0;

fail_env:
    if (rc == -ENOMEM && f->spawn_errno != ENOMEM)
        spawn_failed(f, ENOMEM, "out of memory");
    for (int i = 0; i < n; i++)
        free(envp[i]);
    free(envp);
    http_server_free(p->rapi);
fail_proc:
    free(p);
    return rc;
}

static void fail_head(ev_loop *loop, ev_timer *t, void *ud)
{
    lam_function *f = ud;
    f->fail_timer = NULL;
    inv *v = q_pop(f);
    const char *what = f->spawn_error ? f->spawn_error : "cannot start the runtime";
    if (v && entrypoint_errno(f->spawn_errno)) {
        finish_platform(v, LAM_INIT_ERROR, "Runtime.InvalidEntrypoint", what);
    } else if (v) {
        /* AWS SDK's words, as the runner words its own Lambda.* errors */
        char cause[PATH_MAX + 300];
        int n = snprintf(cause, sizeof cause,
                         "%s (Service: AWSLambda; Status Code: 500; Error Code: ServiceException; "
                         "Request ID: %s; Proxy: null)",
                         what, v->id);
        finish(v, LAM_SERVICE_ERROR, cause, n > 0 ? strlen(cause) : 0, "Lambda.ServiceException");
    }
    maybe_spawn(f);
}

/* Start processes while invocations wait that no starting process, nor one
 * that just posted its result (it is about to poll /next), will take. */
static void maybe_spawn(lam_function *f)
{
    lam *l = f->l;
    while (!l->shutting && f->qlen > f->nstarting + f->nbetween && f->nprocs < l->max_procs) {
        if (spawn(f) < 0) {
            /* Fail one waiting invocation from the loop, never from inside
             * lam_invoke; it retries spawning for the rest afterwards. */
            if (f->fail_timer == NULL)
                f->fail_timer = ev_timer_add(l->loop, 0, fail_head, f);
            return;
        }
    }
}

static void proc_free(proc *p)
{
    lam_function *f = p->fn;
    lam *l = f->l;
    idle_del(p);
    if (p->next_req) {
        http_req *r = p->next_req;
        p->next_req = NULL;
        http_req_set_cancel(r, NULL, NULL);
        http_req_release(r);
    }
    ev_timer_cancel(l->loop, p->timer);
    http_server_free(p->rapi);
    if (p->logfd >= 0) {
        log_read(l->loop, p, p->logfd, 0); /* drain what is left, closes at EOF */
        if (p->logfd >= 0) {
            ev_fd_unwatch(l->loop, p->logfd);
            close(p->logfd);
        }
    }
    if (p->prev)
        p->prev->next = p->next;
    else
        f->procs = p->next;
    if (p->next)
        p->next->prev = p->prev;
    f->nprocs--;
    if (p->state == P_STARTING)
        f->nstarting--;
    else if (p->state == P_BETWEEN)
        f->nbetween--;
    l->st.procs--;
    free(p->logbuf);
    free(p->init_error);
    free(p);
}

static void exit_text(int status, char *buf, size_t len)
{
    if (WIFEXITED(status)) {
        snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        const char *s = strsignal(WTERMSIG(status));
        snprintf(buf, len, "signal: %s", s ? s : "unknown");
        size_t k = strlen("signal: ");
        if (buf[k] >= 'A' && buf[k] <= 'Z')
            buf[k] = (char)(buf[k] + 32); /* Go's wording: "signal: killed" */
    } else {
        snprintf(buf, len, "status %d", status);
    }
}

static void check_done(lam *l);

static void on_exit_cb(ev_loop *loop, pid_t pid, int status, void *ud)
{
    proc *p = ud;
    lam_function *f = p->fn;
    lam *l = f->l;
    char st[64], what[128];
    /* What the bootstrap started dies with it (the group outlives its
     * leader; its id is not reused while the group exists). */
    kill(-pid, SIGKILL);
    exit_text(status, st, sizeof st);
    inv *v = p->cur;
    p->cur = NULL;
    int was_starting = p->state == P_STARTING;
    char *init_error = p->init_error;
    p->init_error = NULL;
    proc_free(p);
    if (v) {
        snprintf(what, sizeof what, "Runtime exited with error: %s", st);
        finish_platform(v, LAM_EXIT, "Runtime.ExitError", what);
    } else if (was_starting && (v = q_pop(f)) != NULL) {
        /* Died before its first /next: the invocation waiting for it fails
         * as AWS fails an invocation whose init failed. */
        json_t *o = init_error ? json_loads(init_error, 0, NULL) : NULL;
        const char *et = json_string_value(json_object_get(o, "errorType"));
        if (et != NULL) {
            finish(v, LAM_INIT_ERROR, init_error, strlen(init_error), et);
        } else {
            snprintf(what, sizeof what, "Runtime exited with error: %s", st);
            finish_platform(v, LAM_INIT_ERROR, init_error ? "Runtime.InitError" : "Runtime.ExitError", what);
        }
        json_decref(o);
    }
    free(init_error);
    maybe_spawn(f);
    check_done(l);
}

/* ---- public: registry ------------------------------------------------- */
lam *lam_create(ev_loop *loop, const lam_opts *opts)
{
    lam_opts o = opts ? *opts : (lam_opts){0};
    lam *l = calloc(1, sizeof *l);
    if (l == NULL)
        return NULL;
    l->loop = loop;
    const char *region = o.region ? o.region : getenv("AWS_REGION");
    snprintf(l->region, sizeof l->region, "%s", region && *region ? region : "us-east-1");
    snprintf(l->account, sizeof l->account, "%s", o.account ? o.account : "123456789012");
    l->max_procs = o.max_procs > 0 ? o.max_procs : 8;
    l->grace_ms = o.kill_grace_ms > 0 ? o.kill_grace_ms : 2000;
    l->log_dir = xstrdup(o.log_dir);
    l->log_discard = o.log_discard;
    l->log_max = o.log_max_bytes > 0 ? o.log_max_bytes : LOG_MAX_BYTES;
    l->init_timeout_ms = o.init_timeout_ms > 0 ? o.init_timeout_ms : INIT_TIMEOUT_MS;
    const char *it = getenv(INIT_TIMEOUT_ENV);
    if (o.init_timeout_ms <= 0 && it && atoi(it) > 0)
        l->init_timeout_ms = atoi(it);
    if (getrandom(l->rng, sizeof l->rng, 0) != (ssize_t)sizeof l->rng || (l->rng[0] | l->rng[1]) == 0) {
        l->rng[0] = (uint64_t)ev_now_us() ^ 0x9e3779b97f4a7c15ull;
        l->rng[1] = (uint64_t)getpid() * 0xbf58476d1ce4e5b9ull | 1;
    }
    return l;
}

static void fn_free(lam_function *f)
{
    for (int i = 0; i < f->nenv; i++)
        free(f->env[i]);
    free(f->env);
    for (int i = 0; i < f->novr; i++)
        free(f->ovr[i]);
    free(f->ovr);
    if (f->logfd >= 0)
        close(f->logfd);
    free(f->name);
    free(f->arn);
    free(f->bootstrap);
    free(f->root);
    free(f->handler);
    free(f->spawn_error);
    free(f);
}

static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 140)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_'))
            return 0;
    return 1;
}

/* [A-Za-z_][A-Za-z0-9_]*=... and not one of ours. */
static int override_ok(const char *kv)
{
    size_t n = strcspn(kv, "=");
    if (n == 0 || kv[n] != '=' || (kv[0] >= '0' && kv[0] <= '9') || listed(OWNED, kv))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((kv[i] >= 'a' && kv[i] <= 'z') || (kv[i] >= 'A' && kv[i] <= 'Z') ||
              (kv[i] >= '0' && kv[i] <= '9') || kv[i] == '_'))
            return 0;
    return 1;
}

/* Is kv's name set by one of the overrides? */
static int overridden(const char *const *ovr, const char *kv)
{
    size_t k = strcspn(kv, "=") + 1;
    for (; ovr && *ovr; ovr++)
        if (strncmp(*ovr, kv, k) == 0)
            return 1;
    return 0;
}

/* *dst = copies of src's entries (*n of them); with filter, only those
 * neither reserved nor set by ovr. */
static int env_copy(const char *const *src, int filter, const char *const *ovr, char ***dst,
                    int *n)
{
    int cap = 0;
    while (src && src[cap])
        cap++;
    *dst = calloc((size_t)cap + 1, sizeof **dst);
    if (*dst == NULL)
        return -ENOMEM;
    for (int i = 0; i < cap; i++) {
        if (filter && (reserved(src[i]) || overridden(ovr, src[i])))
            continue;
        if (((*dst)[*n] = strdup(src[i])) == NULL)
            return -ENOMEM;
        (*n)++;
    }
    return 0;
}

int lam_function_add(lam *l, const lam_function_def *d)
{
    if (d == NULL || d->name == NULL || !name_ok(d->name) || d->bootstrap == NULL || !*d->bootstrap)
        return -EINVAL;
    for (const char *const *e = d->env_override; e && *e; e++)
        if (!override_ok(*e))
            return -EINVAL;
    for (lam_function *g = l->fns; g; g = g->next_fn)
        if (strcmp(g->name, d->name) == 0)
            return -EEXIST;
    lam_function *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -ENOMEM;
    f->l = l;
    f->logfd = -1;
    f->timeout_s = d->timeout_s > 0 ? d->timeout_s : 3;
    f->memory_mb = d->memory_mb > 0 ? d->memory_mb : 128;
    char abs[PATH_MAX];
    const char *bs = realpath(d->bootstrap, abs) ? abs : d->bootstrap;
    f->name = strdup(d->name);
    f->bootstrap = strdup(bs);
    f->handler = strdup(d->handler ? d->handler : "bootstrap");
    char arn[300];
    lam_arn_format(l, d->name, arn, sizeof arn);
    f->arn = strdup(arn);
    if (f->name == NULL || f->bootstrap == NULL || f->handler == NULL || f->arn == NULL)
        goto fail;
    const char *slash = strrchr(f->bootstrap, '/');
    f->root = slash ? strndup(f->bootstrap, (size_t)(slash == f->bootstrap ? 1 : slash - f->bootstrap))
                    : strdup(".");
    if (f->root == NULL)
        goto fail;
    /* Filtered once here, so that spawn() only copies. */
    if (env_copy(d->env, 1, d->env_override, &f->env, &f->nenv) != 0 ||
        env_copy(d->env_override, 0, NULL, &f->ovr, &f->novr) != 0)
        goto fail;
    if (l->log_discard) {
        f->logfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    } else if (l->log_dir) {
        char path[PATH_MAX];
        log_path(f, path, sizeof path, "");
        f->logfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        struct stat sb;
        if (f->logfd >= 0 && fstat(f->logfd, &sb) == 0)
            f->logsize = sb.st_size;
    }
    f->next_fn = l->fns;
    l->fns = f;
    return 0;
fail:
    fn_free(f);
    return -ENOMEM;
}

int lam_arn_format(const lam *l, const char *name, char *buf, size_t len)
{
    return snprintf(buf, len, "arn:aws:lambda:%s:%s:function:%s", l->region, l->account, name);
}

static lam_function *find_name(lam *l, const char *name, size_t n)
{
    for (lam_function *f = l->fns; f; f = f->next_fn)
        if (strlen(f->name) == n && memcmp(f->name, name, n) == 0)
            return f;
    return NULL;
}

lam_function *lam_function_find(lam *l, const char *s)
{
    if (s == NULL)
        return NULL;
    /* Split on ':' into at most 8 parts. */
    const char *part[9];
    size_t plen[9];
    int np = 0;
    const char *p = s;
    for (;;) {
        const char *c = strchr(p, ':');
        if (np == 8)
            return NULL;
        part[np] = p;
        plen[np] = c ? (size_t)(c - p) : strlen(p);
        np++;
        if (!c)
            break;
        p = c + 1;
    }
#define PEQ(i, lit) (plen[i] == strlen(lit) && memcmp(part[i], lit, plen[i]) == 0)
    int name_at, nparts_base;
    if (PEQ(0, "arn")) {
        /* arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUAL] */
        if (np < 7 || !PEQ(1, "aws") || !PEQ(2, "lambda") || !PEQ(3, l->region) ||
            !PEQ(4, l->account) || !PEQ(5, "function"))
            return NULL;
        name_at = 6;
    } else if (np >= 3 && PEQ(1, "function")) {
        if (!PEQ(0, l->account)) /* ACCOUNT:function:NAME[:QUAL] */
            return NULL;
        name_at = 2;
    } else {
        name_at = 0; /* NAME[:QUAL] */
    }
    nparts_base = name_at + 1;
    if (np > nparts_base + 1)
        return NULL;
    if (np == nparts_base + 1 && !PEQ(nparts_base, "$LATEST"))
        return NULL; /* no versions or aliases locally */
#undef PEQ
    return find_name(l, part[name_at], plen[name_at]);
}

const char *lam_function_name(const lam_function *f) { return f->name; }
const char *lam_function_arn(const lam_function *f) { return f->arn; }

/* ---- public: invoking ------------------------------------------------- */
static int invoke_fn(lam *l, lam_function *f, const char *payload, size_t len, lam_invoke_cb *cb,
                     void *ud, char *request_id, int http_owned)
{
    if (l->shutting)
        return -ESHUTDOWN;
    if (len > LAM_MAX_PAYLOAD)
        return LAM_ETOOLARGE;
    inv *v = calloc(1, sizeof *v);
    if (v == NULL)
        return -ENOMEM;
    v->payload = malloc(len + 1);
    if (v->payload == NULL) {
        free(v);
        return -ENOMEM;
    }
    memcpy(v->payload, payload, len);
    v->payload[len] = '\0';
    v->len = len;
    v->fn = f;
    v->cb = cb;
    v->ud = ud;
    v->http_owned = http_owned;
    v->start_us = ev_now_us();
    make_uuid(l, v->id);
    if (request_id)
        memcpy(request_id, v->id, 37);
    /* The process idle the shortest time (LIFO): its caches are warm, and
     * under a light load the others stay asleep. */
    if (f->idle_tail) {
        assign(f->idle_tail, v);
        return 0;
    }
    l->st.queued++;
    q_push(f, v);
    maybe_spawn(f);
    return 0;
}

int lam_invoke(lam *l, const char *function, const char *payload, size_t len, lam_invoke_cb *cb,
               void *ud, char *request_id)
{
    lam_function *f = lam_function_find(l, function);
    if (f == NULL)
        return LAM_ENOTFOUND;
    return invoke_fn(l, f, payload, len, cb, ud, request_id, 0);
}

/* ---- public: the Invoke HTTP API -------------------------------------- */
static void http_error(http_req *req, int status, const char *type, const char *msg)
{
    json_t *o = json_pack("{s:s,s:s}", "Type", status >= 500 ? "Service" : "User", "message", msg);
    char *b = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    char rid[37], headers[256];
    snprintf(rid, sizeof rid, "%s", "00000000-0000-4000-8000-000000000000");
    snprintf(headers, sizeof headers,
             "Content-Type: application/json\r\nx-amzn-ErrorType: %s\r\nx-amzn-RequestId: %s\r\n", type, rid);
    http_respond(req, status, headers, b ? b : "", b ? strlen(b) : 0);
    free(b);
}

static void http_invoke_done(void *ud, const lam_result *r)
{
    http_req *req = ud;
    char headers[256];
    if (r->status == LAM_SERVICE_ERROR) { /* not the function's: no FunctionError */
        char msg[1024];
        snprintf(msg, sizeof msg, "%.*s", (int)r->len, r->body);
        char *cut = strstr(msg, " (Service: AWSLambda;");
        if (cut)
            *cut = '\0';
        http_error(req, 500, "ServiceException", msg);
        return;
    }
    snprintf(headers, sizeof headers,
             "Content-Type: application/json\r\nX-Amz-Executed-Version: $LATEST\r\n"
             "x-amzn-RequestId: %s\r\n%s",
             r->request_id, r->status == LAM_OK ? "" : "X-Amz-Function-Error: Unhandled\r\n");
    http_respond(req, 200, headers, r->body, r->len);
}

static void event_done(void *ud, const lam_result *r) {}

static void pct_decode(const char *s, char *out, size_t outsz)
{
    size_t o = 0;
    for (; *s && o + 1 < outsz; s++) {
        unsigned v;
        if (*s == '%' && s[1] && s[2] && sscanf(s + 1, "%2x", &v) == 1) {
            out[o++] = (char)v;
            s += 2;
        } else {
            out[o++] = *s;
        }
    }
    out[o] = '\0';
}

void lam_http_invoke(lam *l, http_req *req, const char *function)
{
    char name[512], qual[128], full[700], arn[600];
    pct_decode(function ? function : "", name, sizeof name);
    int hq = http_req_query_param(req, "Qualifier", qual, sizeof qual);
    if (hq >= 0)
        snprintf(full, sizeof full, "%s:%s", name, qual);
    else
        snprintf(full, sizeof full, "%s", name);
    lam_function *f = lam_function_find(l, full);
    if (f == NULL) {
        char msg[800];
        if (strncmp(name, "arn:", 4) == 0)
            snprintf(arn, sizeof arn, "%s", full);
        else
            lam_arn_format(l, full, arn, sizeof arn);
        snprintf(msg, sizeof msg, "Function not found: %s", arn);
        http_error(req, 404, "ResourceNotFoundException", msg);
        return;
    }
    size_t len;
    const char *body = http_req_body(req, &len);
    if (len > LAM_MAX_PAYLOAD) {
        http_error(req, 413, "RequestEntityTooLargeException",
                   "Request must be smaller than 6291456 bytes for the InvokeFunction operation");
        return;
    }
    if (len > 0) {
        json_error_t jerr;
        json_t *j = json_loadb(body, len, JSON_DECODE_ANY, &jerr);
        if (j == NULL) {
            char msg[300];
            snprintf(msg, sizeof msg, "Could not parse request body into json: %s", jerr.text);
            http_error(req, 400, "InvalidRequestContentException", msg);
            return;
        }
        json_decref(j);
    }
    const char *type = http_req_header(req, "X-Amz-Invocation-Type");
    if (type == NULL || strcmp(type, "RequestResponse") == 0) {
        int rc = invoke_fn(l, f, body, len, http_invoke_done, req, NULL, 1);
        if (rc < 0)
            http_error(req, 500, "ServiceException", "The local Lambda service is not accepting invocations");
        return;
    }
    if (strcmp(type, "Event") == 0) {
        char rid[37], headers[128];
        int rc = invoke_fn(l, f, body, len, event_done, NULL, rid, 0);
        if (rc < 0) {
            http_error(req, 500, "ServiceException", "The local Lambda service is not accepting invocations");
            return;
        }
        snprintf(headers, sizeof headers, "x-amzn-RequestId: %s\r\n", rid);
        http_respond(req, 202, headers, "", 0);
        return;
    }
    if (strcmp(type, "DryRun") == 0) {
        http_respond(req, 204, "x-amzn-RequestId: 00000000-0000-4000-8000-000000000000\r\n", "", 0);
        return;
    }
    http_error(req, 400, "InvalidParameterValueException",
               "1 validation error detected: Value at 'invocationType' failed to satisfy constraint: "
               "Member must satisfy enum value set: [Event, RequestResponse, DryRun]");
}

/* ---- shutdown --------------------------------------------------------- */
static void done_cb(ev_loop *loop, ev_timer *t, void *ud)
{
    lam *l = ud;
    l->done_timer = NULL;
    ev_timer_cancel(loop, l->grace_timer);
    l->grace_timer = NULL;
    if (l->done) {
        void (*d)(void *) = l->done;
        l->done = NULL;
        d(l->done_ud);
    }
}

static void check_done(lam *l)
{
    if (l->shutting && l->st.procs == 0 && l->done_timer == NULL && l->done != NULL)
        l->done_timer = ev_timer_add(l->loop, 0, done_cb, l);
}

static void grace_cb(ev_loop *loop, ev_timer *t, void *ud)
{
    lam *l = ud;
    l->grace_timer = NULL;
    for (lam_function *f = l->fns; f; f = f->next_fn)
        for (proc *p = f->procs; p; p = p->next)
            kill_group(p->pid, SIGKILL);
}

void lam_shutdown(lam *l, void (*done)(void *), void *ud)
{
    l->shutting = 1;
    l->done = done;
    l->done_ud = ud;
    for (lam_function *f = l->fns; f; f = f->next_fn) {
        inv *v;
        while ((v = q_pop(f)) != NULL)
            finish_platform(v, LAM_EXIT, "Runtime.ExitError", "Runtime exited with error: signal: terminated");
        for (proc *p = f->procs; p; p = p->next)
            kill_group(p->pid, SIGTERM);
    }
    if (l->grace_timer == NULL)
        l->grace_timer = ev_timer_add(l->loop, ev_now_ms() + l->grace_ms, grace_cb, l);
    check_done(l);
}

static void drop_inv(inv *v)
{
    if (v->http_owned)
        http_req_release(v->ud);
    free(v->payload);
    free(v);
}

void lam_free(lam *l)
{
    if (l == NULL)
        return;
    lam_function *next;
    for (lam_function *f = l->fns; f; f = next) {
        next = f->next_fn;
        for (proc *p = f->procs; p; p = p->next)
            kill_group(p->pid, SIGKILL);
        while (f->procs) {
            proc *p = f->procs;
            ev_child_unwatch(l->loop, p->pid);
            waitpid(p->pid, NULL, 0);
            inv *v = p->cur;
            p->cur = NULL;
            if (v)
                drop_inv(v);
            proc_free(p);
        }
        inv *v;
        while ((v = q_pop(f)) != NULL)
            drop_inv(v);
        ev_timer_cancel(l->loop, f->fail_timer);
        fn_free(f);
    }
    ev_timer_cancel(l->loop, l->grace_timer);
    ev_timer_cancel(l->loop, l->done_timer);
    free(l->log_dir);
    free(l);
}

void lam_stats_get(const lam *l, lam_stats *out)
{
    *out = l->st;
    out->busy = 0;
    for (lam_function *f = l->fns; f; f = f->next_fn)
        for (proc *p = f->procs; p; p = p->next)
            out->busy += p->state == P_BUSY;
}
