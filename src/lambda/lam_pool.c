/*
 * lam_pool.c - the local Lambda's processes: each one's environment (lam's
 * variables, the function's own, the overrides), its start (posix_spawn, no
 * shell, its own process group, its own Runtime API listener), the
 * per-function cap, the idle list, the Timeout and the init limit (the
 * group is SIGKILLed), and its exit (the invocation it held, or the one
 * that waited for its init, fails as AWS reports it).
 *
 * Must not: block (no waitpid: exits come from the loop's child watch), run
 * a shell, leak sfnd's environment into a function, answer the Runtime API
 * (lam_rapi.c).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "lam_int.h"
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A runtime's post up to this is read and judged by us, so that a response
 * past 6 MB ends as Function.ResponseSizeTooLarge (AWS) rather than as a
 * bare 413 from the HTTP layer that leaves the invocation to time out;
 * 64 MiB is what the HTTP layer still swallows after a 413. */
#define RAPI_MAX_BODY (64u * 1024 * 1024 - 1)
/* A timer that fires this late ran after a stalled loop iteration: the
 * function's answer may be sitting unread in its socket. */
#define STALL_SLACK_MS 50

/* Signal p's whole process group (spawn makes the bootstrap its leader), so
 * that what it forked goes with it; the pid alone if the group is gone. */
void lam__kill_group(pid_t pid, int sig)
{
    if (kill(-pid, sig) < 0 && errno == ESRCH)
        kill(pid, sig);
}

/* ---- idle list -------------------------------------------------------- */
void lam__idle_add(proc *p)
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

void lam__idle_del(proc *p)
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

/* ---- Timeout and init limit ------------------------------------------ */
void lam__on_timeout(ev_loop *loop, ev_timer *t, void *ud)
{
    proc *p = ud;
    p->timer = NULL;
    int64_t now = ev_now_ms();
    if (now - ev_timer_deadline(t) > STALL_SLACK_MS) {
        /* The loop was stalled (a long request on its thread): the answer
         * may have come in time and not been read yet. Judge after one
         * iteration that reads the fds first; timeouts measure the
         * function's time, not the loop's. */
        p->timer = ev_timer_add(loop, now, lam__on_timeout, p);
        if (p->timer != NULL)
            return;
    }
    inv *v = p->cur;
    p->cur = NULL;
    p->state = P_DYING;
    lam__kill_group(p->pid, SIGKILL);
    if (v) {
        char what[96];
        snprintf(what, sizeof what, "Task timed out after %d.00 seconds", p->fn->timeout_s);
        lam__finish_platform(v, LAM_TIMEOUT, "Sandbox.Timedout", what);
    }
}

static int spawn(lam_function *f, int reinit);

/* The runtime never asked for its first invocation within the init limit
 * (10 s): kill it. As AWS does, the init is tried once more for the
 * invocation that waits, within the function's Timeout; when that one
 * times out too, the invocation fails with Sandbox.Timedout ("Lambda
 * execution environment lifecycle", "Troubleshoot invocation issues in
 * Lambda"). */
static void on_init_timeout(ev_loop *loop, ev_timer *t, void *ud)
{
    proc *p = ud;
    lam_function *f = p->fn;
    p->timer = NULL;
    if (p->state != P_STARTING)
        return;
    p->state = P_DYING;
    f->nstarting--;
    lam__kill_group(p->pid, SIGKILL);
    if (!p->reinit && f->qlen > f->nstarting + f->nbetween && !f->l->shutting &&
        spawn(f, 1) == 0)
        return; /* the waiting invocation goes to the new process */
    inv *v = lam__q_pop(f);
    if (v && p->reinit) {
        char what[96];
        snprintf(what, sizeof what, "Task timed out after %d.00 seconds", f->timeout_s);
        lam__finish_platform(v, LAM_TIMEOUT, "Sandbox.Timedout", what);
    } else if (v) {
        char what[160];
        int ms = f->l->init_timeout_ms;
        snprintf(what, sizeof what,
                 "Runtime init timed out after %d.%02d seconds: the runtime never called "
                 "GET /runtime/invocation/next",
                 ms / 1000, (ms % 1000) / 10);
        lam__finish_platform(v, LAM_INIT_ERROR, "Sandbox.Timedout", what);
    }
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
/* The entries proc_env() sets before the function's own (with room to spare). */
#define ENV_FIXED 24

static int listed(const char *const *names, const char *kv)
{
    size_t n = strcspn(kv, "=");
    for (int i = 0; names[i]; i++)
        if (strlen(names[i]) == n && memcmp(names[i], kv, n) == 0)
            return 1;
    return 0;
}

int lam__env_reserved(const char *kv) { return listed(RESERVED, kv); }
int lam__env_owned(const char *kv) { return listed(OWNED, kv); }

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

/* The environment of a process of f whose Runtime API listens on port:
 * lam's variables, the function's own Environment (filtered when it was
 * added), then the overrides. NULL on ENOMEM; *np: the number of entries. */
static char **proc_env(lam_function *f, int port, int *np)
{
    lam *l = f->l;
    int n = 0, envmax = ENV_FIXED + f->nenv + f->novr;
    char **envp = calloc((size_t)envmax + 1, sizeof *envp);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    uint64_t s1 = lam__rng_next(l), s2 = lam__rng_next(l);
    if (envp == NULL)
        return NULL;
    if (add_env(envp, &n, "AWS_LAMBDA_RUNTIME_API=127.0.0.1:%d", port) ||
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
        add_env(envp, &n, "AWS_EXECUTION_ENV=%s", f->execution_env) ||
        add_env(envp, &n, "_HANDLER=%s", f->handler) ||
        add_env(envp, &n, "LAMBDA_TASK_ROOT=%s", f->root) ||
        add_env(envp, &n, "LAMBDA_RUNTIME_DIR=/var/runtime") ||
        add_env(envp, &n, "TZ=:UTC") || add_env(envp, &n, "LANG=en_US.UTF-8") ||
        add_env(envp, &n, "PATH=/usr/local/bin:/usr/bin:/bin") ||
        add_env(envp, &n, "AWS_ACCESS_KEY_ID=" LAM_DEFAULT_ACCESS_KEY_ID) ||
        add_env(envp, &n, "AWS_SECRET_ACCESS_KEY=" LAM_DEFAULT_SECRET_ACCESS_KEY) ||
        add_env(envp, &n, "AWS_SESSION_TOKEN=" LAM_DEFAULT_SESSION_TOKEN))
        goto fail;
    assert(n <= ENV_FIXED);
    for (int i = 0; i < f->nenv; i++)
        if (add_env(envp, &n, "%s", f->env[i]))
            goto fail;
    for (int i = 0; i < f->novr; i++)
        if (set_env(envp, &n, f->ovr[i]))
            goto fail;
    *np = n;
    return envp;
fail:
    for (int i = 0; i < n; i++)
        free(envp[i]);
    free(envp);
    return NULL;
}

/* posix_spawn f's bootstrap as p->pid with envp, no shell: stdin /dev/null;
 * stdout and stderr to f's shared log (log_discard), else to a new pipe
 * whose read end goes to *logrd (-1: none); in f->root; leading its own
 * process group; no signal blocked or ignored. Returns 0 or an errno. */
static int proc_exec(lam_function *f, proc *p, char **envp, int *logrd)
{
    lam *l = f->l;
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
    int e = posix_spawn(&p->pid, f->exec, &fa, &at, f->argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (pipefd[1] >= 0)
        close(pipefd[1]);
    if (e != 0 && pipefd[0] >= 0) {
        close(pipefd[0]);
        pipefd[0] = -1;
    }
    *logrd = pipefd[0];
    return e;
}

/* Start one process for f. Returns 0 or -errno; on failure f->spawn_error
 * says why (AWS's words). */
static int spawn(lam_function *f, int reinit)
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
    p->rapi = http_server_create(l->loop, &so, lam__rapi_handler, p, &rc);
    if (p->rapi == NULL) {
        char what[160];
        if (rc >= 0)
            rc = -ENOMEM;
        snprintf(what, sizeof what, "cannot open the Runtime API listener: %s", strerror(-rc));
        spawn_failed(f, -rc, what);
        goto fail_proc;
    }

    int n = 0, logrd = -1;
    char **envp = proc_env(f, http_server_port(p->rapi), &n);
    rc = -ENOMEM;
    if (envp == NULL)
        goto fail_env;
    int e = proc_exec(f, p, envp, &logrd);
    if (e != 0) {
        char what[PATH_MAX + 96];
        snprintf(what, sizeof what, "fork/exec %s: %s", f->exec, strerror(e));
        spawn_failed(f, e, what);
        rc = -e;
        goto fail_env;
    }
    if (logrd >= 0) {
        p->logbuf = malloc(LOG_LINE_MAX);
        fcntl(logrd, F_SETFL, O_NONBLOCK);
        if (p->logbuf && ev_fd_watch(l->loop, logrd, EV_READ, lam__on_log, p) == 0)
            p->logfd = logrd;
        else
            close(logrd);
    }
    rc = ev_child_watch(l->loop, p->pid, on_exit_cb, p);
    assert(rc == 0); /* our own fresh, unreaped child */
    for (int i = 0; i < n; i++)
        free(envp[i]);
    free(envp);
    p->state = P_STARTING;
    p->reinit = reinit;
    int64_t limit = reinit ? (int64_t)f->timeout_s * 1000 : l->init_timeout_ms;
    p->timer = ev_timer_add(l->loop, ev_now_ms() + limit, on_init_timeout, p);
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
    inv *v = lam__q_pop(f);
    const char *what = f->spawn_error ? f->spawn_error : "cannot start the runtime";
    if (v && entrypoint_errno(f->spawn_errno)) {
        lam__finish_platform(v, LAM_INIT_ERROR, "Runtime.InvalidEntrypoint", what);
    } else if (v) {
        /* AWS SDK's words, as the runner words its own Lambda.* errors */
        char cause[PATH_MAX + 300];
        int n = snprintf(cause, sizeof cause,
                         "%s (Service: AWSLambda; Status Code: 500; Error Code: ServiceException; "
                         "Request ID: %s; Proxy: null)",
                         what, v->id);
        lam__finish(v, LAM_SERVICE_ERROR, cause, n > 0 ? strlen(cause) : 0, "Lambda.ServiceException");
    }
    lam__maybe_spawn(f);
}

/* Start processes while invocations wait that no starting process, nor one
 * that just posted its result (it is about to poll /next), will take. */
void lam__maybe_spawn(lam_function *f)
{
    lam *l = f->l;
    while (!l->shutting && f->qlen > f->nstarting + f->nbetween && f->nprocs < l->max_procs) {
        if (spawn(f, 0) < 0) {
            /* Fail one waiting invocation from the loop, never from inside
             * lam_invoke; it retries spawning for the rest afterwards. */
            if (f->fail_timer == NULL)
                f->fail_timer = ev_timer_add(l->loop, 0, fail_head, f);
            return;
        }
    }
}

void lam__proc_free(proc *p)
{
    lam_function *f = p->fn;
    lam *l = f->l;
    lam__idle_del(p);
    if (p->next_req) {
        http_req *r = p->next_req;
        p->next_req = NULL;
        http_req_set_cancel(r, NULL, NULL);
        http_req_release(r);
    }
    ev_timer_cancel(l->loop, p->timer);
    http_server_free(p->rapi);
    if (p->logfd >= 0) {
        lam__log_read(l->loop, p, p->logfd, 0); /* drain what is left, closes at EOF */
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
    lam__proc_free(p);
    if (v) {
        snprintf(what, sizeof what, "Runtime exited with error: %s", st);
        lam__finish_platform(v, LAM_EXIT, "Runtime.ExitError", what);
    } else if (was_starting && (v = lam__q_pop(f)) != NULL) {
        /* Died before its first /next: the invocation waiting for it fails
         * as AWS fails an invocation whose init failed. */
        json_t *o = init_error ? json_loads(init_error, 0, NULL) : NULL;
        const char *et = json_string_value(json_object_get(o, "errorType"));
        if (et != NULL) {
            lam__finish(v, LAM_INIT_ERROR, init_error, strlen(init_error), et);
        } else {
            snprintf(what, sizeof what, "Runtime exited with error: %s", st);
            lam__finish_platform(v, LAM_INIT_ERROR,
                                 init_error ? "Runtime.InitError" : "Runtime.ExitError", what);
        }
        json_decref(o);
    }
    free(init_error);
    lam__maybe_spawn(f);
    lam__check_done(l);
}
