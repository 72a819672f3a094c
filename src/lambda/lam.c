/*
 * lam.c - local Lambda: the function registry (names, ARNs, each function's
 * filtered environment and log file), invocations (their queue, request ids,
 * how they end), shutdown and stats; the public entry points of lam.h but
 * the Invoke HTTP API (lam_invoke.c). See lam_int.h for the other files.
 *
 * Must not: block (waitpid only in lam_free, after SIGKILL), start or talk
 * to a process itself (lam_pool.c, lam_rapi.c), parse a successful response.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "lam_int.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define INIT_TIMEOUT_MS 10000      /* AWS: the init phase is limited to 10 s */
#define INIT_TIMEOUT_ENV "SFND_LAMBDA_INIT_TIMEOUT_MS"
#define LOG_MAX_BYTES (10 * 1024 * 1024)

/* ---- small helpers ---------------------------------------------------- */
uint64_t lam__rng_next(lam *l)
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
    uint64_t a = lam__rng_next(l), b = lam__rng_next(l);
    a = (a & ~0xf000ull) | 0x4000ull;                          /* version 4 */
    b = (b & 0x3fffffffffffffffull) | 0x8000000000000000ull;   /* variant */
    snprintf(out, 37, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(a >> 32), (unsigned)(a >> 16) & 0xffff,
             (unsigned)a & 0xffff, (unsigned)(b >> 48), (unsigned long long)(b & 0xffffffffffffull));
}

static char *xstrdup(const char *s) { return s ? strdup(s) : NULL; }

/* {"errorType":type,"errorMessage":msg} as a new string. */
char *lam__error_json(const char *type, const char *msg)
{
    json_t *o = json_pack("{s:s,s:s}", "errorType", type, "errorMessage", msg);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

/* ---- the log tail (Invoke's LogType Tail) --------------------------------- */
void lam__tail_add(inv *v, const char *s, size_t n)
{
    if (!v->want_tail || n == 0)
        return;
    if (n > LAM_TAIL) {
        s += n - LAM_TAIL;
        n = LAM_TAIL;
    }
    if (v->tail == NULL && (v->tail = malloc(2 * LAM_TAIL)) == NULL)
        return; /* the tail is a courtesy: no memory, no tail */
    if (v->tail_len + n > 2 * LAM_TAIL) {
        size_t keep = LAM_TAIL - n;
        memmove(v->tail, v->tail + v->tail_len - keep, keep);
        v->tail_len = keep;
    }
    memcpy(v->tail + v->tail_len, s, n);
    v->tail_len += n;
}

void lam__tail_start(inv *v, pid_t pid)
{
    v->pid = pid;
    char line[128];
    int n = snprintf(line, sizeof line, "START RequestId: %s Version: $LATEST\n", v->id);
    lam__tail_add(v, line, (size_t)n);
}

/* The process's peak memory (VmHWM), in MB; 0 if unknown. */
static int peak_mb(pid_t pid)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    int fd = pid > 0 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *h = strstr(buf, "VmHWM:");
    return h ? (int)((atol(h + 6) + 1023) / 1024) : 0;
}

/* END and REPORT, as Lambda writes them; then r's tail is v's last 4 KB. */
static void tail_end(inv *v, lam_result *r)
{
    if (!v->want_tail)
        return;
    char line[400];
    double ms = (double)r->duration_us / 1000.0;
    int n = snprintf(line, sizeof line,
                     "END RequestId: %s\nREPORT RequestId: %s\tDuration: %.2f ms\tBilled "
                     "Duration: %lld ms\tMemory Size: %d MB\tMax Memory Used: %d MB\t%s\n",
                     v->id, v->id, ms, (long long)(r->duration_us + 999) / 1000,
                     v->fn->memory_mb, peak_mb(v->pid),
                     r->status == LAM_TIMEOUT ? "Status: timeout" : "");
    lam__tail_add(v, line, (size_t)n);
    size_t keep = v->tail_len > LAM_TAIL ? LAM_TAIL : v->tail_len;
    r->log_tail = v->tail ? v->tail + v->tail_len - keep : "";
    r->log_tail_len = v->tail ? keep : 0;
}

static void inv_free(inv *v)
{
    free(v->payload);
    free(v->client_context);
    free(v->tail);
    free(v);
}

void lam__finish(inv *v, lam_status status, const char *body, size_t len, const char *etype)
{
    lam_result r = {.status = status, .request_id = v->id, .body = body ? body : "", .len = len,
                    .error_type = etype, .duration_us = ev_now_us() - v->start_us};
    tail_end(v, &r);
    v->cb(v->ud, &r);
    inv_free(v);
}

void lam__finish_ok(inv *v, const char *body, size_t len)
{
    lam_result r = {.status = LAM_OK, .request_id = v->id, .body = body, .len = len,
                    .duration_us = ev_now_us() - v->start_us};
    tail_end(v, &r);
    v->cb(v->ud, &r);
    inv_free(v);
}

/* End v with a platform error {"errorType":type,"errorMessage":"RequestId: <id> Error: <what>"}. */
void lam__finish_platform(inv *v, lam_status status, const char *type, const char *what)
{
    char msg[512];
    snprintf(msg, sizeof msg, "RequestId: %s Error: %s", v->id, what);
    char *body = lam__error_json(type, msg);
    lam__finish(v, status, body, body ? strlen(body) : 0, type);
    free(body);
}

/* ---- queue ------------------------------------------------------------ */
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

inv *lam__q_pop(lam_function *f)
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
    l->event_retry_ms = o.event_retry_ms > 0 ? o.event_retry_ms : 60000;
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
    free(f->exec);
    for (int i = 0; f->argv && f->argv[i]; i++)
        free(f->argv[i]);
    free(f->argv);
    free(f->execution_env);
    free(f->runtime);
    free(f->arch);
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
    if (n == 0 || kv[n] != '=' || (kv[0] >= '0' && kv[0] <= '9') || lam__env_owned(kv))
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
        if (filter && (lam__env_reserved(src[i]) || overridden(ovr, src[i])))
            continue;
        if (((*dst)[*n] = strdup(src[i])) == NULL)
            return -ENOMEM;
        (*n)++;
    }
    return 0;
}

/* f's command (d->cmd, or the bootstrap alone), AWS_EXECUTION_ENV, Runtime
 * and architecture. */
static int cmd_copy(lam_function *f, const lam_function_def *d)
{
    const lam_command *c = d->cmd;
    int n = 0;
    while (c && c->argv && c->argv[n])
        n++;
    f->exec = strdup(c ? c->exec : f->bootstrap);
    f->argv = calloc((size_t)(n ? n : 1) + 1, sizeof *f->argv);
    if (f->exec == NULL || f->argv == NULL)
        return -ENOMEM;
    for (int i = 0; i < n; i++)
        if ((f->argv[i] = strdup(c->argv[i])) == NULL)
            return -ENOMEM;
    if (n == 0 && (f->argv[0] = strdup(f->exec)) == NULL)
        return -ENOMEM;
    f->execution_env = strdup(c && c->execution_env ? c->execution_env
                                                    : "AWS_Lambda_provided.al2023");
    f->runtime = d->runtime ? strdup(d->runtime) : NULL;
    f->arch = strdup(d->architecture ? d->architecture : "x86_64");
    if (f->execution_env == NULL || (d->runtime && f->runtime == NULL) || f->arch == NULL)
        return -ENOMEM;
    return 0;
}

int lam_function_add(lam *l, const lam_function_def *d)
{
    if (d == NULL || d->name == NULL || !name_ok(d->name))
        return -EINVAL;
    if ((d->bootstrap == NULL || !*d->bootstrap) &&
        (d->cmd == NULL || d->cmd->exec == NULL || d->task_root == NULL))
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
    const char *bs = d->bootstrap && *d->bootstrap ? d->bootstrap : d->cmd->exec;
    if (realpath(bs, abs))
        bs = abs;
    f->name = strdup(d->name);
    f->bootstrap = strdup(bs);
    f->handler = strdup(d->handler ? d->handler : "bootstrap");
    char arn[300];
    lam_arn_format(l, d->name, arn, sizeof arn);
    f->arn = strdup(arn);
    if (f->name == NULL || f->bootstrap == NULL || f->handler == NULL || f->arn == NULL)
        goto fail;
    const char *slash = strrchr(f->bootstrap, '/');
    if (d->task_root)
        f->root = strdup(d->task_root);
    else
        f->root = slash ? strndup(f->bootstrap,
                                  (size_t)(slash == f->bootstrap ? 1 : slash - f->bootstrap))
                        : strdup(".");
    if (f->root == NULL || cmd_copy(f, d) != 0)
        goto fail;
    f->added_ms = ev_wall_ms();
    make_uuid(l, f->revision);
    f->code_size = lam__code_size(f->root);
    /* Filtered once here, so that spawn() only copies. */
    if (env_copy(d->env, 1, d->env_override, &f->env, &f->nenv) != 0 ||
        env_copy(d->env_override, 0, NULL, &f->ovr, &f->novr) != 0)
        goto fail;
    if (l->log_discard) {
        f->logfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    } else if (l->log_dir) {
        char path[PATH_MAX];
        lam__log_path(f, path, sizeof path, "");
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
int lam__invoke(lam *l, lam_function *f, const char *payload, size_t len, lam_invoke_cb *cb,
                void *ud, char *request_id, int http_owned, const lam__iopts *o)
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
    v->want_tail = o && o->tail;
    if (o && o->client_context && (v->client_context = strdup(o->client_context)) == NULL) {
        inv_free(v);
        return -ENOMEM;
    }
    if (o && o->request_id)
        snprintf(v->id, sizeof v->id, "%s", o->request_id);
    else
        make_uuid(l, v->id);
    if (request_id)
        memcpy(request_id, v->id, 37);
    /* The process idle the shortest time (LIFO): its caches are warm, and
     * under a light load the others stay asleep. */
    if (f->idle_tail) {
        lam__assign(f->idle_tail, v);
        return 0;
    }
    l->st.queued++;
    q_push(f, v);
    lam__maybe_spawn(f);
    return 0;
}

int lam_invoke(lam *l, const char *function, const char *payload, size_t len, lam_invoke_cb *cb,
               void *ud, char *request_id)
{
    lam_function *f = lam_function_find(l, function);
    if (f == NULL)
        return LAM_ENOTFOUND;
    return lam__invoke(l, f, payload, len, cb, ud, request_id, 0, NULL);
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

void lam__check_done(lam *l)
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
            lam__kill_group(p->pid, SIGKILL);
}

void lam_shutdown(lam *l, void (*done)(void *), void *ud)
{
    l->shutting = 1;
    l->done = done;
    l->done_ud = ud;
    lam__events_free(l, 0); /* asynchronous invocations waiting to be retried */
    for (lam_function *f = l->fns; f; f = f->next_fn) {
        inv *v;
        while ((v = lam__q_pop(f)) != NULL)
            lam__finish_platform(v, LAM_EXIT, "Runtime.ExitError",
                                 "Runtime exited with error: signal: terminated");
        for (proc *p = f->procs; p; p = p->next)
            lam__kill_group(p->pid, SIGTERM);
    }
    if (l->grace_timer == NULL)
        l->grace_timer = ev_timer_add(l->loop, ev_now_ms() + l->grace_ms, grace_cb, l);
    lam__check_done(l);
}

static void drop_inv(inv *v)
{
    if (v->http_owned)
        http_req_release(v->ud);
    inv_free(v);
}

void lam_free(lam *l)
{
    if (l == NULL)
        return;
    lam_function *next;
    for (lam_function *f = l->fns; f; f = next) {
        next = f->next_fn;
        for (proc *p = f->procs; p; p = p->next)
            lam__kill_group(p->pid, SIGKILL);
        while (f->procs) {
            proc *p = f->procs;
            ev_child_unwatch(l->loop, p->pid);
            waitpid(p->pid, NULL, 0);
            inv *v = p->cur;
            p->cur = NULL;
            if (v)
                drop_inv(v);
            lam__proc_free(p);
        }
        inv *v;
        while ((v = lam__q_pop(f)) != NULL)
            drop_inv(v);
        ev_timer_cancel(l->loop, f->fail_timer);
        fn_free(f);
    }
    lam__events_free(l, 1);
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
