/*
 * run.c - the runner (see run.h): step -> persist -> dispatch; recovery.
 *
 * The one rule this file exists to keep: nothing an execution step decided
 * leaves the process (a Lambda invocation, a timer, a reply) before the
 * events of that step are committed. Steps write into the store's open
 * transaction; run_flush (the loop's before-sleep hook) commits, then runs
 * the queue of deferred actions. If a commit fails, the process exits: the
 * store is the truth and the next start recovers from it.
 *
 * Must not: block, parse HTTP, invent history (only the core makes events).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "run.h"

#include "fjson.h"
#include "jtext.h"
#include "run_tasks.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- a small string-keyed hash map ------------------------------------- */
typedef struct hent {
    char *key;
    void *val;
    struct hent *next;
} hent;

typedef struct hmap {
    hent **b;
    size_t nb, n;
} hmap;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void *hmap_get(const hmap *m, const char *key)
{
    if (m->nb == 0)
        return NULL;
    for (hent *e = m->b[hash_str(key) & (m->nb - 1)]; e; e = e->next)
        if (!strcmp(e->key, key))
            return e->val;
    return NULL;
}

static int hmap_put(hmap *m, const char *key, void *val)
{
    if (m->n + 1 > m->nb) {
        size_t nb = m->nb ? m->nb * 2 : 64;
        hent **b = calloc(nb, sizeof *b);
        if (b == NULL)
            return RUN_ENOMEM;
        for (size_t i = 0; i < m->nb; i++) {
            for (hent *e = m->b[i], *nx; e; e = nx) {
                nx = e->next;
                size_t j = hash_str(e->key) & (nb - 1);
                e->next = b[j];
                b[j] = e;
            }
        }
        free(m->b);
        m->b = b;
        m->nb = nb;
    }
    hent *e = malloc(sizeof *e);
    if (e == NULL || (e->key = strdup(key)) == NULL) {
        free(e);
        return RUN_ENOMEM;
    }
    size_t j = hash_str(key) & (m->nb - 1);
    e->val = val;
    e->next = m->b[j];
    m->b[j] = e;
    m->n++;
    return 0;
}

static void *hmap_del(hmap *m, const char *key)
{
    if (m->nb == 0)
        return NULL;
    for (hent **p = &m->b[hash_str(key) & (m->nb - 1)]; *p; p = &(*p)->next) {
        if (!strcmp((*p)->key, key)) {
            hent *e = *p;
            void *v = e->val;
            *p = e->next;
            free(e->key);
            free(e);
            m->n--;
            return v;
        }
    }
    return NULL;
}

static void hmap_cleanup(hmap *m, void (*free_val)(void *))
{
    for (size_t i = 0; i < m->nb; i++) {
        for (hent *e = m->b[i], *nx; e; e = nx) {
            nx = e->next;
            if (free_val)
                free_val(e->val);
            free(e->key);
            free(e);
        }
    }
    free(m->b);
    memset(m, 0, sizeof *m);
}

/* ---- types -------------------------------------------------------------- */
typedef struct tslot {        /* an armed timer of an execution */
    run *r;
    struct rexec *e;
    uint64_t id;
    int64_t due_ms;
    ev_timer *t;
    struct tslot *next;
} tslot;

typedef struct waiter {
    run_done_cb *cb;
    void *ud;
    struct waiter *next;
} waiter;

typedef struct rexec {
    int64_t id;               /* store rowid; 0 for EXPRESS */
    char *arn;
    asl_exec *x;
    int express;
    int done;                 /* terminal; finishing is queued */
    int64_t next_seq;         /* next input seq */
    size_t nev_saved;         /* events already in the store */
    int64_t last_now;         /* keeps fed times monotonic (time_scale) */
    char *out_text;           /* output as JSON text once it ended (NULL if none) */
    tslot *timers;
    char **tokens;            /* task tokens this execution waits on */
    size_t ntokens;
    waiter *waiters;
    uint64_t txn;             /* the last transaction (r->gen) that wrote for it */
    uint64_t born;            /* the transaction that inserted its row */
    int lost;                 /* set aside: reaped at the end of run_flush */
} rexec;

typedef struct susp {         /* an execution set aside (see run.h) */
    int64_t id;
    char *arn;
    waiter *waiters;
    struct susp *next;
} susp;

typedef struct tokref {
    char *arn;
    uint64_t task;
} tokref;

typedef struct action {
    void (*fn)(run *r, void *arg);
    void *arg;
} action;

typedef struct dispatch {     /* a command copied out of the core */
    char *arn;
    int kind;
    uint64_t id;
    char *function;
    char *resource;
    char *payload;
    char *token;
    int wait_for_token;
    int64_t due_ms;
} dispatch;

typedef struct inv {          /* one Lambda invocation in flight */
    run *r;
    char *arn;
    uint64_t task;
    int wait_for_token;
} inv;

typedef struct cb_item {
    void (*cb)(void *, int);
    void *ud;
} cb_item;

struct run {
    ev_loop *loop;
    store *st;
    lam *lam;
    char *region, *account;
    double scale;
    int quiet;
    hmap execs;               /* arn -> rexec */
    hmap tokens;              /* token -> tokref */
    hmap machines;            /* def id -> asl_machine */
    action *q;
    size_t nq, capq;
    uint64_t rng;
    int inflight;
    int draining, ignore_results;
    void (*drain_done)(void *);
    void *drain_ud;
    ev_timer *drain_timer;
    int64_t retention_ms;     /* 0: executions are kept forever */
    ev_timer *retain_timer;
    run_stats stats;
    /* Test hooks for the saga verification (tests/saga), read from the
     * environment at creation; all off by default:
     *   SFN_TEST_CRASH_AFTER_COMMIT=N   SIGKILL ourselves right after the
     *                                   Nth commit, before acting on it
     *   SFN_TEST_CRASH_BEFORE_COMMIT=N  SIGKILL at the Nth commit, before it
     *   SFN_TEST_DUPLICATE_INVOKES=1    invoke every Lambda task twice (at-
     *                                   least-once delivery; the second
     *                                   result is a late duplicate) */
    long crash_after, crash_before;
    int dup_invokes;
    long ncommits;
    run_svc *svc;             /* service integrations, status events (run_tasks.c) */
    /* the transaction of this iteration and what happens when it fails */
    uint64_t gen;             /* its number; bumped at each commit or rollback */
    int txn_bad;              /* a write in it failed: roll back, not commit */
    int flush_rc;             /* for act_cb: how the batch's transaction ended */
    int unavail;              /* the store takes no writes (run.h) */
    char why[256];            /* why, for logs and replies */
    int nlost;                /* executions marked lost, not yet reaped */
    susp *susp;               /* set aside, waiting for the store */
    int nsusp;
    ev_timer *probe_timer;
    int64_t probe_ms;         /* the back-off */
    jtext tb;                 /* reused for each step's events */
    fjson_buf fj;             /* the JSON reader's scratch (function results) */
};

/* ---- helpers ------------------------------------------------------------ */
void run__log(run *r, const char *fmt, ...)
{
    if (r->quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("sfnd: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
#define logf_ run__log

/* ---- when the store cannot take a write ------------------------------------
 * The store is the truth: nothing is acted on before it is committed. When
 * a write of this iteration's transaction fails (disk full, I/O error) or
 * memory runs out while one is made, the transaction is marked bad; at the
 * flush it is rolled back instead of committed (SQLite may have rolled it
 * back already), every execution it wrote for is set aside (lost, then
 * reaped into r->susp) and what was queued for it is dropped; the replies
 * queued with run_after_commit learn that it failed. Then writes are
 * refused until a probe write commits (run.h). */
#define PROBE_MIN_MS 250
#define PROBE_MAX_MS 5000

static void on_probe(ev_loop *loop, ev_timer *t, void *ud);

static void set_unavailable(run *r)
{
    if (!r->unavail) {
        r->unavail = 1;
        r->probe_ms = PROBE_MIN_MS;
        /* printed even with --quiet: the service has stopped writing */
        fprintf(stderr,
                "sfnd: warning: the store takes no writes (%s); executions are set aside and "
                "writes refused until it does\n",
                r->why);
    }
    if (r->probe_timer == NULL && !r->draining)
        r->probe_timer = ev_timer_add(r->loop, ev_now_ms() + r->probe_ms, on_probe, r);
}

/* A write of the current transaction failed (oom: memory ran out making
 * it); later writes of the transaction are skipped. */
static void txn_fail(run *r, const char *what, int oom)
{
    if (r->txn_bad)
        return;
    r->txn_bad = 1;
    snprintf(r->why, sizeof r->why, "%s: %s", what, oom ? "out of memory" : store_errmsg(r->st));
}

/* Set one execution aside: what it needs next (a timer, an invocation, a
 * write) cannot be made now. Its durable state is the store's. */
static void exec_lose(run *r, rexec *e, const char *what)
{
    if (!e->lost) {
        e->lost = 1;
        r->nlost = 1;
    }
    if (!r->unavail)
        snprintf(r->why, sizeof r->why, "%s: out of memory", what);
    set_unavailable(r);
}

/* A step of e could not be written or its output made: for a Standard
 * execution the transaction fails, an Express one is lost. */
static void step_fail(run *r, rexec *e, const char *what)
{
    if (e->express)
        exec_lose(r, e, what);
    else
        txn_fail(r, what, 1);
}

static uint64_t rng_next(run *r)
{
    uint64_t z = (r->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void uuid4(run *r, char out[37])
{
    uint64_t a = rng_next(r), b = rng_next(r);
    a = (a & 0xffffffffffff0fffULL) | 0x4000ULL;
    b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
    snprintf(out, 37, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(a >> 32),
             (unsigned)((a >> 16) & 0xffff), (unsigned)(a & 0xffff), (unsigned)(b >> 48),
             (unsigned long long)(b & 0xffffffffffffULL));
}

static int queue(run *r, void (*fn)(run *, void *), void *arg)
{
    if (r->nq == r->capq) {
        size_t cap = r->capq ? r->capq * 2 : 256;
        action *q = realloc(r->q, cap * sizeof *q);
        if (q == NULL)
            return RUN_ENOMEM;
        r->q = q;
        r->capq = cap;
    }
    r->q[r->nq].fn = fn;
    r->q[r->nq].arg = arg;
    r->nq++;
    return 0;
}

/* Open the iteration's transaction (if it is not) for writes made for e
 * (NULL: for no execution). Returns 0, or -1 when the transaction is bad:
 * write nothing. */
static int begin(run *r, rexec *e)
{
    if (!r->txn_bad && store_begin(r->st) != STORE_OK)
        txn_fail(r, "begin", 0);
    if (e)
        e->txn = r->gen;
    return r->txn_bad ? -1 : 0;
}

static int64_t exec_now(rexec *e)
{
    int64_t now = ev_wall_ms();
    if (now < e->last_now)
        now = e->last_now;
    e->last_now = now;
    return now;
}

/* JSON text in AWS's form (what the API returns is what we keep). */
static char *dumps(const json_t *j)
{
    return jtext_dup(j);
}

/* ---- execution lifetime -------------------------------------------------- */
static void exec_free(run *r, rexec *e)
{
    for (tslot *s = e->timers, *nx; s; s = nx) {
        nx = s->next;
        ev_timer_cancel(r->loop, s->t);
        free(s);
    }
    for (size_t i = 0; i < e->ntokens; i++) {
        tokref *t = hmap_del(&r->tokens, e->tokens[i]);
        if (t) {
            free(t->arn);
            free(t);
        }
        free(e->tokens[i]);
    }
    free(e->tokens);
    asl_exec_free(e->x);
    free(e->out_text);
    free(e->arn);
    free(e);
}

static void fill_result(rexec *e, run_result *res)
{
    int st = asl_exec_status(e->x);
    if (e->out_text == NULL && asl_exec_output_get(e->x) != NULL)
        e->out_text = dumps(asl_exec_output_get(e->x));
    res->arn = e->arn;
    res->status = st;
    res->output = e->out_text;
    res->error = asl_exec_error(e->x);
    res->cause = asl_exec_cause(e->x);
    res->start_ms = 0;
    res->stop_ms = asl_exec_stop_ms(e->x);
}

/* After commit: tell the waiters, forget the execution. */
static void act_finish(run *r, void *arg)
{
    char *arn = arg;
    rexec *e = hmap_get(&r->execs, arn);
    if (e == NULL || e->lost) {
        free(arn); /* set aside: it ends again once rebuilt */
        return;
    }
    hmap_del(&r->execs, arn);
    free(arn);
    run_result res;
    fill_result(e, &res);
    for (waiter *w = e->waiters, *nx; w; w = nx) {
        nx = w->next;
        w->cb(w->ud, 0, &res);
        free(w);
    }
    r->stats.finished++;
    exec_free(r, e);
}

static void dispatch_free(dispatch *d)
{
    free(d->arn);
    free(d->function);
    free(d->resource);
    free(d->payload);
    free(d->token);
    free(d);
}

static void act_dispatch(run *r, void *arg);

/* Write what the last start/feed produced, and queue its commands. in:
 * the input that caused the step (NULL: none), written in the row of the
 * step's events, or alone when the step made none. */
static void exec_after_step(run *r, rexec *e, const asl_cmd *cmds, size_t ncmds,
                            const store_input *in)
{
    size_t n = asl_exec_event_count(e->x);
    if (!e->express && n > e->nev_saved) {
        /* the step's events as one row, joined by '\n' */
        jtext *b = &r->tb;
        jtext_reset(b);
        if (begin(r, e) != 0) {
            /* the transaction failed: e is set aside at the flush */
        } else if (asl_exec_events_write_log(e->x, e->nev_saved, n, b) != SFN_OK) {
            txn_fail(r, "event encoding", 1); /* oom included */
        } else if (store_step_append(r->st, e->id, (int64_t)e->nev_saved + 1, (int64_t)n, b->p,
                                     b->n, in) != STORE_OK) {
            txn_fail(r, "event append", 0);
        }
        r->stats.events += n - e->nev_saved;
        if (b->cap > 1 << 20)
            jtext_cleanup(b); /* do not keep a huge buffer for ever */
    } else if (in && begin(r, e) == 0 && store_input_append(r->st, e->id, in) != STORE_OK) {
        txn_fail(r, "input append", 0);
    }
    e->nev_saved = n;
    int st = asl_exec_status(e->x);
    if (st != ASL_RUNNING && !e->done) {
        e->done = 1;
        json_t *out = asl_exec_output_get(e->x);
        free(e->out_text);
        const char *ot;
        size_t otn;
        /* the text the terminal event just carried, if it did, else made */
        if (out && asl_exec_output_log_text(e->x, &ot, &otn) == 0)
            e->out_text = strndup(ot, otn);
        else
            e->out_text = out ? dumps(out) : NULL;
        if (out && e->out_text == NULL)
            step_fail(r, e, "output encoding");
        if (!e->express && begin(r, e) == 0) {
            if (store_exec_set_status(r->st, e->id, st, asl_exec_stop_ms(e->x), e->out_text,
                                      asl_exec_error(e->x), asl_exec_cause(e->x)) != STORE_OK)
                txn_fail(r, "status update", 0);
            /* the rules' executions start in this same transaction */
            else if (run__svc_has_rules(r->svc))
                run__svc_status(r->svc, e->arn, st);
        }
        char *arn = strdup(e->arn);
        if (arn == NULL || queue(r, act_finish, arn) != 0) {
            free(arn);
            step_fail(r, e, "queue");
        }
        return;
    }
    for (size_t i = 0; i < ncmds; i++) {
        const asl_cmd *c = &cmds[i];
        dispatch *d = calloc(1, sizeof *d);
        if (d == NULL) {
            step_fail(r, e, "queue");
            return;
        }
        d->arn = strdup(e->arn);
        d->kind = c->kind;
        d->id = c->id;
        d->function = c->function ? strdup(c->function) : NULL;
        d->resource = c->resource ? strdup(c->resource) : NULL;
        d->payload = c->payload ? dumps(c->payload) : strdup("{}");
        d->token = c->token ? strdup(c->token) : NULL;
        d->wait_for_token = c->wait_for_token;
        d->due_ms = c->due_ms;
        if (d->arn == NULL || (c->function && d->function == NULL) ||
            (c->resource && d->resource == NULL) || d->payload == NULL ||
            (c->token && d->token == NULL) || queue(r, act_dispatch, d) != 0) {
            dispatch_free(d);
            step_fail(r, e, "queue");
            return;
        }
    }
}

/* Feed one input; log it (with its events) only if the core took it.
 * result_text: in->result as text when the caller has it (the text it
 * was parsed from: replay parses it back to the same value), else NULL. */
static void exec_feed_text(run *r, rexec *e, const asl_input *in, const char *result_text)
{
    if (e->done || e->lost)
        return;
    if (!e->express && r->unavail) {
        /* the store takes no writes: what came is dropped, the execution
         * set aside; it is rebuilt from the store and asks again */
        exec_lose(r, e, "feed");
        return;
    }
    int rc = asl_exec_feed(e->x, in);
    if (rc != SFN_OK)
        return; /* a late duplicate, a stale timer, or already ended */
    char *result = NULL;
    store_input si = {0};
    if (!e->express) {
        begin(r, e);
        result = in->result && result_text == NULL ? dumps(in->result) : NULL;
        if (in->result && result_text == NULL && result == NULL)
            txn_fail(r, "input encoding", 1);
        si = (store_input){.seq = e->next_seq, .kind = in->kind, .id = in->id,
                           .now_ms = in->now_ms, .result = result ? result : result_text,
                           .error = in->error, .cause = in->cause};
        e->next_seq++;
        r->stats.inputs++;
    }
    const asl_cmd *cmds;
    size_t n = asl_exec_cmds(e->x, &cmds);
    exec_after_step(r, e, cmds, n, e->express ? NULL : &si);
    free(result);
}

static void exec_feed(run *r, rexec *e, const asl_input *in)
{
    exec_feed_text(r, e, in, NULL);
}

/* ---- timers ------------------------------------------------------------- */
static void on_timer(ev_loop *loop, ev_timer *t, void *ud)
{
    (void)loop;
    (void)t;
    tslot *s = ud;
    rexec *e = s->e;
    run *r = s->r;
    for (tslot **p = &e->timers; *p; p = &(*p)->next) {
        if (*p == s) {
            *p = s->next;
            break;
        }
    }
    uint64_t id = s->id;
    int64_t due = s->due_ms;
    free(s);
    if (r->draining)
        return; /* stays pending in the store; re-armed at the next start */
    int64_t now = exec_now(e);
    if (now < due) {
        /* time_scale fired it early: to the execution, the deadline has come */
        now = due;
        e->last_now = due;
    }
    asl_input in = {.kind = ASL_IN_TIMER, .id = id, .now_ms = now};
    exec_feed(r, e, &in);
}

static void arm_timer(run *r, rexec *e, uint64_t id, int64_t due_ms)
{
    /* from the execution's clock, which a scaled timer may have moved
     * ahead of the wall clock (it fired early: to the execution, its
     * deadline had come); from the wall clock, every later timer would
     * also wait out that lead, scaled down only once */
    int64_t now = exec_now(e);
    int64_t delay = due_ms > now ? due_ms - now : 0;
    if (r->scale > 1.0)
        delay = (int64_t)((double)delay / r->scale);
    tslot *s = calloc(1, sizeof *s);
    if (s == NULL || (s->t = ev_timer_add(r->loop, ev_now_ms() + delay, on_timer, s)) == NULL) {
        free(s);
        exec_lose(r, e, "timer");
        return;
    }
    s->r = r;
    s->e = e;
    s->id = id;
    s->due_ms = due_ms;
    s->next = e->timers;
    e->timers = s;
}

/* ---- Lambda ------------------------------------------------------------- */
static void check_drain(run *r);

static void on_lambda(void *ud, const lam_result *res)
{
    inv *v = ud;
    run *r = v->r;
    r->inflight--;
    rexec *e = hmap_get(&r->execs, v->arn);
    if (e != NULL && !e->done && !r->ignore_results) {
        asl_input in = {.id = v->task, .now_ms = exec_now(e)};
        if (res->status == LAM_OK) {
            if (!v->wait_for_token) {
                json_error_t je;
                json_t *out = fjson_loadb(res->body, res->len, JSON_DECODE_ANY, &je, &r->fj);
                /* parsed: log the text as it came (replay parses it the
                 * same way); not JSON: the core gets it as a string */
                const char *text = out && strlen(res->body) == res->len ? res->body : NULL;
                if (out == NULL)
                    out = json_stringn(res->body, res->len);
                if (out == NULL)
                    out = json_null();
                in.kind = ASL_IN_TASK_SUCCEEDED;
                in.result = out;
                exec_feed_text(r, e, &in, text);
                json_decref(out);
            }
        } else {
            in.kind = ASL_IN_TASK_FAILED;
            in.error = res->error_type ? res->error_type : "Lambda.Unknown";
            in.cause = res->body ? res->body : "";
            exec_feed(r, e, &in);
        }
    }
    free(v->arn);
    free(v);
    check_drain(r);
}

static void fail_task(run *r, rexec *e, uint64_t task, const char *error, const char *cause)
{
    asl_input in = {.kind = ASL_IN_TASK_FAILED, .id = task, .now_ms = exec_now(e),
                    .error = error, .cause = cause};
    exec_feed(r, e, &in);
}

/* A Task whose resource is not a Lambda function: the integrations of
 * run_tasks.c, or the token's sender (an activity-like .waitForTaskToken),
 * or States.Runtime. */
static void invoke_service(run *r, rexec *e, dispatch *d)
{
    run_svc_task t = {.exec_arn = e->arn, .task = d->id, .resource = d->resource,
                      .payload = d->payload, .wait_for_token = d->wait_for_token};
    run_svc_out o = {0};
    switch (run__svc_call(r->svc, &t, &o)) {
    case RUN_SVC_DONE: {
        asl_input in = {.kind = ASL_IN_TASK_SUCCEEDED, .id = d->id, .now_ms = exec_now(e),
                        .result = o.result};
        exec_feed(r, e, &in);
        json_decref(o.result);
        return;
    }
    case RUN_SVC_FAILED:
        fail_task(r, e, d->id, o.error, o.cause);
        return;
    case RUN_SVC_PENDING:
        return;
    default:
        break;
    }
    if (d->wait_for_token)
        return; /* someone else delivers the token */
    char cause[512];
    snprintf(cause, sizeof cause, "The resource '%s' is not provided by the local engine",
             d->resource ? d->resource : "");
    fail_task(r, e, d->id, "States.Runtime", cause);
}

static void invoke(run *r, rexec *e, dispatch *d)
{
    if (d->function == NULL) {
        invoke_service(r, e, d);
        return;
    }
    inv *v = calloc(1, sizeof *v);
    if (v == NULL || (v->arn = strdup(e->arn)) == NULL) {
        free(v);
        exec_lose(r, e, "invoke");
        return;
    }
    v->r = r;
    v->task = d->id;
    v->wait_for_token = d->wait_for_token;
    char rid[37];
    int rc = r->lam ? lam_invoke(r->lam, d->function, d->payload, strlen(d->payload), on_lambda,
                                 v, rid)
                    : LAM_ENOTFOUND;
    if (rc == 0) {
        r->inflight++;
        r->stats.invokes++;
        if (r->dup_invokes) {
            inv *w = calloc(1, sizeof *w);
            if (w && (w->arn = strdup(e->arn)) != NULL) {
                *w = (inv){.r = r, .arn = w->arn, .task = d->id, .wait_for_token = d->wait_for_token};
                if (lam_invoke(r->lam, d->function, d->payload, strlen(d->payload), on_lambda, w, rid) == 0)
                    r->inflight++;
                else {
                    free(w->arn);
                    free(w);
                }
            } else {
                free(w);
            }
        }
        return;
    }
    free(v->arn);
    free(v);
    if (rc == -ESHUTDOWN)
        return; /* stays pending; re-invoked at the next start */
    char cause[1024], req[37], arn[512];
    uuid4(r, req);
    if (rc == LAM_ENOTFOUND) {
        if (strncmp(d->function, "arn:", 4) == 0 || r->lam == NULL)
            snprintf(arn, sizeof arn, "%s", d->function);
        else
            lam_arn_format(r->lam, d->function, arn, sizeof arn);
        /* AWS names the version it looked for: unqualified means $LATEST */
        int colons = 0;
        for (const char *p = arn; *p; p++)
            colons += *p == ':';
        if (colons == 6 && strlen(arn) + 9 < sizeof arn)
            strcat(arn, ":$LATEST");
        snprintf(cause, sizeof cause,
                 "Function not found: %s (Service: AWSLambda; Status Code: 404; Error Code: "
                 "ResourceNotFoundException; Request ID: %s; Proxy: null)",
                 arn, req);
        fail_task(r, e, d->id, "Lambda.ResourceNotFoundException", cause);
    } else if (rc == LAM_ETOOLARGE) {
        snprintf(cause, sizeof cause,
                 "Request must be smaller than 6291456 bytes for the InvokeFunction operation "
                 "(Service: AWSLambda; Status Code: 413; Error Code: "
                 "RequestEntityTooLargeException; Request ID: %s; Proxy: null)",
                 req);
        fail_task(r, e, d->id, "Lambda.RequestEntityTooLargeException", cause);
    } else {
        snprintf(cause, sizeof cause,
                 "Service error (Service: AWSLambda; Status Code: 500; Error Code: "
                 "ServiceException; Request ID: %s; Proxy: null)",
                 req);
        fail_task(r, e, d->id, "Lambda.ServiceException", cause);
    }
}

static void act_dispatch(run *r, void *arg)
{
    dispatch *d = arg;
    rexec *e = hmap_get(&r->execs, d->arn);
    if (e == NULL || e->done || e->lost || r->draining)
        goto out;
    if (d->kind == ASL_CMD_TIMER) {
        arm_timer(r, e, d->id, d->due_ms);
    } else if (d->kind == ASL_CMD_INVOKE) {
        if (d->token) {
            tokref *t = calloc(1, sizeof *t);
            char **nt = realloc(e->tokens, (e->ntokens + 1) * sizeof *nt);
            if (nt)
                e->tokens = nt;
            char *tok = strdup(d->token);
            if (t == NULL || nt == NULL || tok == NULL || (t->arn = strdup(e->arn)) == NULL) {
                free(t);
                free(tok);
                exec_lose(r, e, "token");
                goto out;
            }
            t->task = d->id;
            if (hmap_get(&r->tokens, d->token) == NULL &&
                hmap_put(&r->tokens, d->token, t) == 0) {
                e->tokens[e->ntokens++] = tok;
            } else {
                free(tok);
                free(t->arn);
                free(t);
            }
        }
        invoke(r, e, d);
    }
out:
    dispatch_free(d);
}

/* ---- retention ----------------------------------------------------------- */
/* Executions that ended more than retention_ms ago go, RETAIN_BATCH at a
 * time inside the iteration's transaction (the loop owns the writes: a
 * second writer would make the group commit wait on it), so each slice
 * costs the loop a few milliseconds at most. After a full batch the next
 * comes soon (a backlog drains at ~200 per RETAIN_BUSY_MS), else after
 * RETAIN_IDLE_MS. */
#define RETAIN_BATCH 200
#define RETAIN_BUSY_MS 50
#define RETAIN_IDLE_MS 1000

static void on_retention(ev_loop *loop, ev_timer *t, void *ud)
{
    (void)t;
    run *r = ud;
    r->retain_timer = NULL;
    if (r->draining)
        return;
    int n = 0;
    if (r->unavail) {
        /* deleting takes writes too; wait */
    } else if (begin(r, NULL) == 0 &&
               store_exec_expire(r->st, ev_wall_ms() - r->retention_ms, RETAIN_BATCH, &n) !=
                   STORE_OK) {
        /* SQLite may have rolled back all the transaction held */
        logf_(r, "retention: removing ended executions failed: %s (retried later)",
              store_errmsg(r->st));
        txn_fail(r, "retention", 0);
        n = 0;
    }
    r->stats.expired += (uint64_t)n;
    int64_t delay = n == RETAIN_BATCH ? RETAIN_BUSY_MS : RETAIN_IDLE_MS;
    r->retain_timer = ev_timer_add(loop, ev_now_ms() + delay, on_retention, r);
}

/* ---- the hook ------------------------------------------------------------ */
/* The transaction failed and is rolled back: the executions it wrote for
 * are set aside (2: its insert is undone, the execution never was). */
static void txn_rolled_back(run *r)
{
    r->stats.rollbacks++;
    for (size_t i = 0; i < r->execs.nb; i++) {
        for (hent *h = r->execs.b[i]; h; h = h->next) {
            rexec *e = h->val;
            if (e->express || e->txn != r->gen)
                continue;
            if (e->born == r->gen)
                e->lost = 2;
            else if (!e->lost)
                e->lost = 1;
            r->nlost = 1;
        }
    }
    set_unavailable(r);
}

/* Take e (out of r->execs) aside: its waiters wait in r->susp for it to
 * be rebuilt, or learn now that it will not go on here (Express, or never
 * stored). */
static void set_aside(run *r, rexec *e)
{
    waiter *w = e->waiters;
    e->waiters = NULL;
    susp *s = NULL;
    if (!e->express && e->lost == 1 && (s = calloc(1, sizeof *s)) != NULL &&
        (s->arn = strdup(e->arn)) != NULL) {
        s->id = e->id;
        s->waiters = w;
        s->next = r->susp;
        r->susp = s;
        r->nsusp++;
    } else {
        if (s) {
            free(s);
            /* still RUNNING in the store: the next start resumes it */
            fprintf(stderr, "sfnd: warning: %s resumes at the next start (out of memory)\n",
                    e->arn);
        }
        for (waiter *nx; w; w = nx) {
            nx = w->next;
            w->cb(w->ud, RUN_EUNAVAIL, NULL);
            free(w);
        }
    }
    exec_free(r, e);
}

static void reap_lost(run *r)
{
    r->nlost = 0;
    for (size_t i = 0; i < r->execs.nb; i++) {
        for (hent **p = &r->execs.b[i]; *p;) {
            hent *h = *p;
            rexec *e = h->val;
            if (!e->lost) {
                p = &h->next;
                continue;
            }
            *p = h->next;
            free(h->key);
            free(h);
            r->execs.n--;
            set_aside(r, e);
        }
    }
}

void run_flush(run *r)
{
    for (;;) {
        int rc = 0;
        if (store_in_txn(r->st) || r->txn_bad) {
            r->ncommits++;
            if (r->crash_before && r->ncommits == r->crash_before)
                kill(getpid(), SIGKILL);
            if (!r->txn_bad && store_commit(r->st) != STORE_OK)
                txn_fail(r, "commit", 0);
            if (r->txn_bad) {
                store_rollback(r->st);
                txn_rolled_back(r);
                rc = RUN_EUNAVAIL;
            } else {
                r->stats.commits++;
                if (r->crash_after && r->ncommits == r->crash_after)
                    kill(getpid(), SIGKILL);
            }
            r->gen++;
            r->txn_bad = 0;
        }
        if (r->nq == 0)
            break;
        action *q = r->q;
        size_t n = r->nq;
        r->q = NULL;
        r->nq = r->capq = 0;
        for (size_t i = 0; i < n; i++) {
            r->flush_rc = rc;
            q[i].fn(r, q[i].arg);
        }
        free(q);
    }
    if (r->nlost)
        reap_lost(r);
    if (r->unavail && r->probe_timer == NULL && !r->draining)
        set_unavailable(r); /* the probe timer could not be armed before */
}

/* Try a write; when it commits, rebuild the executions set aside. */
static int recover_one(run *r, int64_t id, rexec **out, char *err, size_t errlen);

static void resume_suspended(run *r)
{
    susp *l = r->susp;
    r->susp = NULL;
    r->nsusp = 0;
    int n = 0;
    for (susp *s = l, *nx; s; s = nx) {
        nx = s->next;
        char err[512] = "";
        rexec *e = NULL;
        int rc = r->unavail ? RUN_EUNAVAIL : recover_one(r, s->id, &e, err, sizeof err);
        if (rc == 0) {
            waiter **tail = &s->waiters;
            while (*tail)
                tail = &(*tail)->next;
            *tail = e->waiters;
            e->waiters = s->waiters;
            n++;
        } else if (rc == RUN_EINVAL) {
            logf_(r, "cannot resume %s: %s", s->arn, err);
            for (waiter *w = s->waiters, *wn; w; w = wn) {
                wn = w->next;
                w->cb(w->ud, RUN_EUNAVAIL, NULL);
                free(w);
            }
        } else {
            s->next = r->susp; /* memory or the store again: keep it */
            r->susp = s;
            r->nsusp++;
            if (!r->unavail) {
                snprintf(r->why, sizeof r->why, "resume: %s", err[0] ? err : "out of memory");
                set_unavailable(r);
            }
            continue;
        }
        free(s->arn);
        free(s);
    }
    if (n)
        fprintf(stderr, "sfnd: the store takes writes again: %d execution(s) resumed\n", n);
}

static void on_probe(ev_loop *loop, ev_timer *t, void *ud)
{
    (void)t;
    run *r = ud;
    r->probe_timer = NULL;
    if (r->draining || !r->unavail)
        return;
    if (store_in_txn(r->st) || store_probe(r->st) != STORE_OK) {
        r->probe_ms = r->probe_ms * 2 > PROBE_MAX_MS ? PROBE_MAX_MS : r->probe_ms * 2;
        r->probe_timer = ev_timer_add(loop, ev_now_ms() + r->probe_ms, on_probe, r);
        return;
    }
    r->unavail = 0;
    if (r->susp == NULL)
        fprintf(stderr, "sfnd: the store takes writes again\n");
    resume_suspended(r);
}

int run_available(const run *r, const char **why)
{
    if (why)
        *why = r->unavail ? r->why : NULL;
    return !r->unavail;
}

static void before_sleep(ev_loop *loop, void *ud)
{
    (void)loop;
    run_flush(ud);
}

static void act_cb(run *r, void *arg)
{
    cb_item *c = arg;
    c->cb(c->ud, r->flush_rc);
    free(c);
}

int run_after_commit(run *r, void (*cb)(void *ud, int rc), void *ud)
{
    cb_item *c = malloc(sizeof *c);
    if (c == NULL)
        return RUN_ENOMEM;
    c->cb = cb;
    c->ud = ud;
    if (queue(r, act_cb, c) != 0) {
        free(c);
        return RUN_ENOMEM;
    }
    return 0;
}

/* ---- create / free ------------------------------------------------------- */
run *run_create(const run_opts *o)
{
    run *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->loop = o->loop;
    r->st = o->st;
    r->lam = o->lam;
    r->region = strdup(o->region ? o->region : "us-east-1");
    r->account = strdup(o->account ? o->account : "123456789012");
    r->scale = o->time_scale >= 1.0 ? o->time_scale : 1.0;
    r->quiet = o->quiet;
    uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        uint64_t u;
        if (read(fd, &u, sizeof u) == (ssize_t)sizeof u)
            seed ^= u;
        close(fd);
    }
    r->rng = seed;
    r->gen = 1;
    r->svc = run__svc_create(r, r->st, o->data_dir, r->region, r->account);
    if (r->svc == NULL) {
        free(r->region);
        free(r->account);
        free(r);
        return NULL;
    }
    const char *h;
    if ((h = getenv("SFN_TEST_CRASH_AFTER_COMMIT")) != NULL)
        r->crash_after = strtol(h, NULL, 10);
    if ((h = getenv("SFN_TEST_CRASH_BEFORE_COMMIT")) != NULL)
        r->crash_before = strtol(h, NULL, 10);
    if ((h = getenv("SFN_TEST_DUPLICATE_INVOKES")) != NULL)
        r->dup_invokes = atoi(h) != 0;
    if (r->region == NULL || r->account == NULL) {
        free(r->region);
        free(r->account);
        free(r);
        return NULL;
    }
    ev_set_before_sleep(r->loop, before_sleep, r);
    r->retention_ms = o->retention_ms > 0 ? o->retention_ms : 0;
    if (r->retention_ms > 0)
        r->retain_timer = ev_timer_add(r->loop, ev_now_ms() + RETAIN_IDLE_MS, on_retention, r);
    return r;
}

static void free_machine(void *m)
{
    asl_machine_free(m);
}

static void free_tokref(void *p)
{
    tokref *t = p;
    free(t->arn);
    free(t);
}

void run_free(run *r)
{
    if (r == NULL)
        return;
    ev_set_before_sleep(r->loop, NULL, NULL);
    if (r->drain_timer)
        ev_timer_cancel(r->loop, r->drain_timer);
    if (r->retain_timer)
        ev_timer_cancel(r->loop, r->retain_timer);
    if (r->probe_timer)
        ev_timer_cancel(r->loop, r->probe_timer);
    for (susp *s = r->susp, *nx; s; s = nx) {
        nx = s->next;
        for (waiter *w = s->waiters, *wn; w; w = wn) {
            wn = w->next;
            w->cb(w->ud, RUN_ESHUTDOWN, NULL);
            free(w);
        }
        free(s->arn);
        free(s);
    }
    r->susp = NULL;
    /* Waiters learn that their execution will not end here; their
     * replies (queued below) and any reply still queued go out now: the
     * caller drained (committed) before freeing. */
    for (size_t i = 0; i < r->execs.nb; i++) {
        for (hent *h = r->execs.b[i]; h; h = h->next) {
            rexec *e = h->val;
            for (waiter *w = e->waiters, *nx; w; w = nx) {
                nx = w->next;
                w->cb(w->ud, RUN_ESHUTDOWN, NULL);
                free(w);
            }
            e->waiters = NULL;
        }
    }
    while (r->nq > 0) {
        action *q = r->q;
        size_t n = r->nq;
        r->q = NULL;
        r->nq = r->capq = 0;
        r->flush_rc = 0;
        for (size_t i = 0; i < n; i++) {
            if (q[i].fn == act_cb)
                act_cb(r, q[i].arg);
            else if (q[i].fn == act_dispatch)
                dispatch_free(q[i].arg);
            else
                free(q[i].arg); /* act_finish: its ARN */
        }
        free(q);
    }
    free(r->q);
    /* exec_free removes tokens from r->tokens; free execs first */
    for (size_t i = 0; i < r->execs.nb; i++)
        for (hent *h = r->execs.b[i]; h; h = h->next)
            exec_free(r, h->val);
    hmap_cleanup(&r->execs, NULL);
    hmap_cleanup(&r->tokens, free_tokref);
    hmap_cleanup(&r->machines, free_machine);
    run__svc_free(r->svc);
    jtext_cleanup(&r->tb);
    fjson_buf_free(&r->fj);
    free(r->region);
    free(r->account);
    free(r);
}

/* ---- machines ------------------------------------------------------------ */
int run_machine_get(run *r, int64_t def_id, const asl_machine **out, asl_diags *diags)
{
    char key[32];
    snprintf(key, sizeof key, "%lld", (long long)def_id);
    asl_machine *m = hmap_get(&r->machines, key);
    if (m) {
        *out = m;
        return 0;
    }
    char *text = NULL;
    int type = 0;
    int rc = store_def_get(r->st, def_id, &text, &type);
    if (rc == STORE_ENOENT)
        return RUN_ENOENT;
    if (rc != STORE_OK)
        return RUN_EDB;
    asl_diags d;
    rc = asl_machine_compile_text(text, strlen(text), type, &m, diags ? diags : &d);
    free(text);
    if (rc != SFN_OK)
        return RUN_EINVAL;
    if (hmap_put(&r->machines, key, m) != 0) {
        asl_machine_free(m);
        return RUN_ENOMEM;
    }
    *out = m;
    return 0;
}

int run_sm_save(run *r, store_sm *sm, const char *definition)
{
    if (r->unavail || begin(r, NULL) != 0)
        return RUN_EUNAVAIL;
    if (definition && store_def_insert(r->st, sm->arn, definition, sm->type, &sm->def_id) !=
                          STORE_OK) {
        txn_fail(r, "definition insert", 0);
        return RUN_EUNAVAIL;
    }
    if (store_sm_put(r->st, sm) != STORE_OK) {
        txn_fail(r, "state machine update", 0);
        return RUN_EUNAVAIL;
    }
    return 0;
}

/* ---- executions ------------------------------------------------------------ */
static rexec *exec_new(run *r, const char *arn)
{
    rexec *e = calloc(1, sizeof *e);
    if (e == NULL || (e->arn = strdup(arn)) == NULL) {
        free(e);
        return NULL;
    }
    e->next_seq = 1;
    (void)r;
    return e;
}

/* "arn:aws:states:R:A:stateMachine:N" -> "arn:aws:states:R:A:<kind>:N:<name>" */
static char *exec_arn(run *r, const char *sm_arn, const char *name, int express)
{
    const char *p = strstr(sm_arn, ":stateMachine:");
    if (p == NULL)
        return NULL;
    char *out = NULL;
    if (express) {
        char u[37];
        uuid4(r, u);
        if (asprintf(&out, "%.*s:express:%s:%s:%s", (int)(p - sm_arn), sm_arn,
                     p + strlen(":stateMachine:"), name, u) < 0)
            out = NULL;
    } else if (asprintf(&out, "%.*s:execution:%s:%s", (int)(p - sm_arn), sm_arn,
                        p + strlen(":stateMachine:"), name) < 0) {
        out = NULL;
    }
    return out;
}

int run_exec_start(run *r, const run_start *s, run_done_cb *done, void *ud, char **arn_out,
                   int64_t *start_ms_out)
{
    const asl_machine *m;
    int rc = run_machine_get(r, s->sm->def_id, &m, NULL);
    if (rc != 0)
        return rc;
    if (!s->express && r->unavail)
        return RUN_EUNAVAIL;
    char *arn = exec_arn(r, s->sm->arn, s->name, s->express);
    if (arn == NULL)
        return RUN_ENOMEM;
    if (hmap_get(&r->execs, arn)) {
        free(arn);
        return RUN_EEXIST;
    }
    rexec *e = exec_new(r, arn);
    waiter *w = done ? calloc(1, sizeof *w) : NULL;
    if (e == NULL || (done && w == NULL)) {
        free(arn);
        free(w);
        if (e)
            exec_free(r, e);
        return RUN_ENOMEM;
    }
    e->express = s->express;
    int64_t now = ev_wall_ms();
    e->last_now = now;
    uint64_t seed = rng_next(r);
    if (!s->express) {
        rc = begin(r, e) == 0 ? STORE_OK : STORE_EDB;
        store_exec row = {.arn = arn, .sm_arn = s->sm->arn, .name = (char *)s->name,
                          .input = (char *)s->input_text, .status = STORE_RUNNING,
                          .start_ms = now, .seed = seed, .def_id = s->sm->def_id};
        if (rc == STORE_OK)
            rc = store_exec_insert(r->st, &row);
        if (rc != STORE_OK) {
            if (rc != STORE_EEXIST)
                txn_fail(r, "execution insert", 0);
            free(arn);
            free(w);
            exec_free(r, e);
            return rc == STORE_EEXIST ? RUN_EEXIST : RUN_EUNAVAIL;
        }
        e->id = row.id;
        e->born = r->gen;
    }
    asl_exec_info info = {.execution_arn = arn, .execution_name = s->name,
                          .state_machine_arn = s->sm->arn, .state_machine_name = s->sm->name,
                          .role_arn = s->sm->role_arn, .start_ms = now, .seed = seed};
    e->x = asl_exec_start(m, &info, s->input);
    if (e->x == NULL || hmap_put(&r->execs, arn, e) != 0) {
        /* its row (if any) goes with the transaction */
        if (!s->express)
            txn_fail(r, "execution start", 1);
        free(arn);
        free(w);
        exec_free(r, e);
        return RUN_EUNAVAIL;
    }
    if (w) {
        w->cb = done;
        w->ud = ud;
        e->waiters = w;
    }
    r->stats.started++;
    if (!s->express && run__svc_has_rules(r->svc))
        run__svc_status(r->svc, arn, STORE_RUNNING);
    const asl_cmd *cmds;
    size_t n = asl_exec_cmds(e->x, &cmds);
    exec_after_step(r, e, cmds, n, NULL);
    *arn_out = arn;
    *start_ms_out = now;
    return 0;
}

int run_exec_running(run *r, const char *arn)
{
    rexec *e = hmap_get(&r->execs, arn);
    return e != NULL && !e->done;
}

int run_exec_stop(run *r, const char *arn, const char *error, const char *cause,
                  int64_t *stop_ms)
{
    rexec *e = hmap_get(&r->execs, arn);
    if (r->unavail && (e == NULL || !e->express))
        return RUN_EUNAVAIL;
    if (e == NULL || e->done)
        return RUN_ENOENT;
    asl_input in = {.kind = ASL_IN_STOP, .now_ms = exec_now(e), .error = error, .cause = cause};
    exec_feed(r, e, &in);
    *stop_ms = asl_exec_stop_ms(e->x);
    return 0;
}

int run_exec_wait(run *r, const char *arn, run_done_cb *done, void *ud)
{
    for (susp *s = r->susp; s; s = s->next) {
        if (!strcmp(s->arn, arn)) {
            waiter *w = calloc(1, sizeof *w);
            if (w == NULL)
                return RUN_ENOMEM;
            w->cb = done;
            w->ud = ud;
            w->next = s->waiters;
            s->waiters = w;
            return 0;
        }
    }
    rexec *e = hmap_get(&r->execs, arn);
    if (e == NULL)
        return RUN_ENOENT;
    waiter *w = calloc(1, sizeof *w);
    if (w == NULL)
        return RUN_ENOMEM;
    w->cb = done;
    w->ud = ud;
    w->next = e->waiters;
    e->waiters = w;
    return 0;
}

/* ---- for run_tasks.c ---------------------------------------------------------- */
run_svc *run__svc(run *r)
{
    return r->svc;
}

void run__uuid(run *r, char out[37])
{
    uuid4(r, out);
}

void run__task_result(run *r, const char *exec_arn, uint64_t task, json_t *result,
                      const char *error, const char *cause)
{
    rexec *e = hmap_get(&r->execs, exec_arn);
    if (e == NULL || e->done || r->ignore_results)
        return;
    const asl_cmd *pend;
    size_t np = asl_exec_pending(e->x, &pend), i;
    for (i = 0; i < np; i++)
        if (pend[i].kind == ASL_CMD_INVOKE && pend[i].id == task)
            break;
    if (i == np)
        return; /* timed out, aborted or already answered */
    asl_input in = {.kind = error ? ASL_IN_TASK_FAILED : ASL_IN_TASK_SUCCEEDED, .id = task,
                    .now_ms = exec_now(e), .result = error ? NULL : result, .error = error,
                    .cause = cause};
    exec_feed(r, e, &in);
}

int run_task_send(run *r, const char *token, int kind, json_t *output, const char *error,
                  const char *cause)
{
    if (r->unavail)
        return RUN_EUNAVAIL; /* its execution may be set aside: ask again */
    tokref *t = hmap_get(&r->tokens, token);
    if (t == NULL)
        return RUN_ENOENT;
    rexec *e = hmap_get(&r->execs, t->arn);
    if (e == NULL || e->done)
        return RUN_ENOENT;
    const asl_cmd *pend;
    size_t np = asl_exec_pending(e->x, &pend), i;
    for (i = 0; i < np; i++)
        if (pend[i].kind == ASL_CMD_INVOKE && pend[i].id == t->task)
            break;
    if (i == np)
        return RUN_ENOENT; /* timed out or already answered */
    asl_input in = {.id = t->task, .now_ms = exec_now(e), .result = output, .error = error,
                    .cause = cause};
    in.kind = kind == RUN_TASK_SUCCESS   ? ASL_IN_TASK_SUCCEEDED
              : kind == RUN_TASK_FAILURE ? ASL_IN_TASK_FAILED
                                         : ASL_IN_HEARTBEAT;
    exec_feed(r, e, &in);
    return 0;
}

/* ---- recovery ------------------------------------------------------------- */
typedef struct idlist {
    int64_t *ids;
    size_t n, cap;
} idlist;

static int collect_running(void *ctx, const store_exec *x)
{
    idlist *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        int64_t *ids = realloc(l->ids, cap * sizeof *ids);
        if (ids == NULL)
            return RUN_ENOMEM;
        l->ids = ids;
        l->cap = cap;
    }
    l->ids[l->n++] = x->id;
    return 0;
}

typedef struct replay_ctx {
    rexec *e;
    int64_t last_seq;
    int bad;
} replay_ctx;

static int replay_input(void *ctx, const store_input *si)
{
    replay_ctx *c = ctx;
    json_t *result = NULL;
    if (si->result) {
        json_error_t je;
        result = json_loads(si->result, JSON_DECODE_ANY, &je);
        if (result == NULL) {
            c->bad = 1;
            return 1;
        }
    }
    asl_input in = {.kind = si->kind, .id = si->id, .now_ms = si->now_ms, .result = result,
                    .error = si->error, .cause = si->cause};
    (void)asl_exec_feed(c->e->x, &in);
    if (si->now_ms > c->e->last_now)
        c->e->last_now = si->now_ms;
    json_decref(result);
    c->last_seq = si->seq;
    return 0;
}

/* Rebuild an execution in memory from its stored input log (the core is
 * deterministic: the same inputs give the same state and events). On
 * success *out is registered in r->execs. */
static int rebuild(run *r, int64_t id, rexec **out, char *err, size_t errlen)
{
    store_exec row;
    *out = NULL;
    if (store_exec_get_id(r->st, id, &row) != STORE_OK)
        return RUN_EDB;
    int rc = 0;
    store_sm sm;
    const asl_machine *m;
    json_t *input = NULL;
    rexec *e = NULL;
    memset(&sm, 0, sizeof sm);
    if (store_sm_get(r->st, row.sm_arn, &sm) != STORE_OK ||
        run_machine_get(r, row.def_id, &m, NULL) != 0) {
        snprintf(err, errlen, "%s: its state machine or definition is gone", row.arn);
        rc = RUN_EINVAL;
        goto out;
    }
    json_error_t je;
    input = json_loads(row.input, JSON_DECODE_ANY, &je);
    e = exec_new(r, row.arn);
    if (input == NULL || e == NULL) {
        snprintf(err, errlen, "%s: bad stored input", row.arn);
        rc = RUN_EINVAL;
        goto out;
    }
    e->id = row.id;
    e->last_now = row.start_ms;
    asl_exec_info info = {.execution_arn = row.arn, .execution_name = row.name,
                          .state_machine_arn = row.sm_arn, .state_machine_name = sm.name,
                          .role_arn = sm.role_arn, .start_ms = row.start_ms, .seed = row.seed,
                          .redrive_count = row.redrive_count};
    e->x = asl_exec_start(m, &info, input);
    if (e->x == NULL) {
        rc = RUN_ENOMEM;
        goto out;
    }
    replay_ctx c = {.e = e};
    if (store_input_each(r->st, row.id, replay_input, &c) < 0 || c.bad) {
        snprintf(err, errlen, "%s: cannot read its input log", row.arn);
        rc = RUN_EDB;
        goto out;
    }
    e->next_seq = c.last_seq + 1;
    int64_t stored = 0;
    store_event_max(r->st, row.id, &stored);
    size_t n = asl_exec_event_count(e->x);
    if ((size_t)stored > n) {
        /* The core replayed fewer events than were written: it is not
         * deterministic for this execution. Keep the stored history and
         * go on; never write an id twice. */
        logf_(r, "warning: %s: replay produced %zu events, store has %lld", row.arn, n,
              (long long)stored);
        e->nev_saved = n;
    } else {
        e->nev_saved = (size_t)stored;
    }
    if (hmap_put(&r->execs, row.arn, e) != 0) {
        rc = RUN_ENOMEM;
        goto out;
    }
    *out = e;
    e = NULL;
out:
    if (e)
        exec_free(r, e);
    json_decref(input);
    store_sm_cleanup(&sm);
    store_exec_cleanup(&row);
    return rc;
}

static int recover_one(run *r, int64_t id, rexec **out, char *err, size_t errlen)
{
    rexec *e;
    int rc = rebuild(r, id, &e, err, errlen);
    if (rc != 0)
        return rc;
    /* tasks in flight are invoked again (at least once), timers re-armed
     * at their absolute deadlines */
    const asl_cmd *pend;
    size_t np = asl_exec_pending(e->x, &pend);
    exec_after_step(r, e, pend, np, NULL);
    if (out)
        *out = e;
    return 0;
}

int run_exec_redrive(run *r, const char *arn, int64_t *redrive_ms, char *err, size_t errlen)
{
    if (r->unavail) {
        snprintf(err, errlen, "%s", r->why);
        return RUN_EUNAVAIL;
    }
    if (hmap_get(&r->execs, arn) != NULL) {
        snprintf(err, errlen, "Execution is still finishing");
        return RUN_EINVAL;
    }
    store_exec row;
    if (store_exec_get(r->st, arn, &row) != STORE_OK) {
        snprintf(err, errlen, "Execution does not exist");
        return RUN_ENOENT;
    }
    int64_t id = row.id;
    int count = row.redrive_count;
    int status = row.status;
    store_exec_cleanup(&row);
    if (status == STORE_RUNNING || status == STORE_SUCCEEDED) {
        snprintf(err, errlen, "Execution is %s and cannot be redriven",
                 status == STORE_RUNNING ? "RUNNING" : "SUCCEEDED");
        return RUN_EINVAL;
    }
    rexec *e;
    int rc = rebuild(r, id, &e, err, errlen);
    if (rc != 0)
        return rc;
    int64_t now = exec_now(e);
    if (begin(r, e) != 0 ||
        store_exec_set_status(r->st, id, STORE_RUNNING, 0, NULL, NULL, NULL) != STORE_OK ||
        store_exec_set_redrive(r->st, id, count + 1, now) != STORE_OK) {
        txn_fail(r, "redrive", 0);
        snprintf(err, errlen, "%s", r->why);
        hmap_del(&r->execs, arn); /* it stays as the store has it */
        exec_free(r, e);
        return RUN_EUNAVAIL;
    }
    e->done = 0;
    if (run__svc_has_rules(r->svc))
        run__svc_status(r->svc, arn, STORE_RUNNING); /* again, redriveCount + 1 */
    asl_input in = {.kind = ASL_IN_REDRIVE, .now_ms = now};
    exec_feed(r, e, &in);
    *redrive_ms = now;
    return 0;
}

int run_recover(run *r, char *err, size_t errlen)
{
    idlist l = {0};
    int rc = store_exec_each_running(r->st, collect_running, &l);
    if (rc != 0) {
        snprintf(err, errlen, "cannot list running executions: %s", store_errmsg(r->st));
        free(l.ids);
        return RUN_EDB;
    }
    int n = 0;
    for (size_t i = 0; i < l.n; i++) {
        char e[512] = "";
        rc = recover_one(r, l.ids[i], NULL, e, sizeof e);
        if (rc == 0) {
            n++;
        } else {
            logf_(r, "cannot recover execution %lld: %s", (long long)l.ids[i], e);
        }
    }
    free(l.ids);
    run_flush(r);
    return n;
}

/* ---- draining --------------------------------------------------------------- */
static void finish_drain(run *r)
{
    if (r->drain_timer) {
        ev_timer_cancel(r->loop, r->drain_timer);
        r->drain_timer = NULL;
    }
    r->ignore_results = 1;
    run_flush(r);
    void (*done)(void *) = r->drain_done;
    r->drain_done = NULL;
    if (done)
        done(r->drain_ud);
}

static void check_drain(run *r)
{
    if (r->draining && r->drain_done && r->inflight == 0)
        finish_drain(r);
}

static void on_drain_timeout(ev_loop *loop, ev_timer *t, void *ud)
{
    (void)loop;
    (void)t;
    run *r = ud;
    r->drain_timer = NULL;
    if (r->drain_done)
        finish_drain(r);
}

void run_drain(run *r, int grace_ms, void (*done)(void *ud), void *ud)
{
    r->draining = 1;
    if (r->retain_timer) {
        ev_timer_cancel(r->loop, r->retain_timer);
        r->retain_timer = NULL;
    }
    r->drain_done = done;
    r->drain_ud = ud;
    if (r->inflight == 0) {
        finish_drain(r);
        return;
    }
    r->drain_timer = ev_timer_add(r->loop, ev_now_ms() + grace_ms, on_drain_timeout, r);
}

void run_stats_get(const run *r, run_stats *out)
{
    *out = r->stats;
    out->running = (int)r->execs.n;
    out->suspended = r->nsusp;
    out->unavailable = r->unavail;
}
