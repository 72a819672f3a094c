/*
 * asl_exec.c - running one execution of a compiled machine.
 *
 * An execution is a tree of threads of control: the root runs the machine's
 * states; a Parallel state runs one child thread per branch, a Map one per
 * item. Threads wait on the outside world only (a task, a timer); every
 * wait has an id, and the caller answers through asl_exec_feed. The core
 * emits history events (in AWS's shapes, built lazily from small structs)
 * and commands. It must not read the clock, do I/O or call rand(): time and
 * task results come in with each input, random numbers from a seeded
 * stream, so a replay of the same inputs rebuilds the same execution.
 */
#include "asl_machine_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- history event types ------------------------------------------------ */
#define EVENT_TYPES(X)                                                                                \
    X(ExecutionStarted) X(ExecutionSucceeded) X(ExecutionFailed) X(ExecutionAborted)                  \
    X(ExecutionTimedOut) X(TaskStateEntered) X(TaskStateExited) X(PassStateEntered)                   \
    X(PassStateExited) X(ChoiceStateEntered) X(ChoiceStateExited) X(WaitStateEntered)                 \
    X(WaitStateExited) X(SucceedStateEntered) X(SucceedStateExited) X(FailStateEntered)               \
    X(ParallelStateEntered) X(ParallelStateExited) X(MapStateEntered) X(MapStateExited)               \
    X(TaskScheduled) X(TaskStarted) X(TaskSucceeded) X(TaskFailed) X(TaskTimedOut)                    \
    X(LambdaFunctionScheduled) X(LambdaFunctionStarted) X(LambdaFunctionSucceeded)                   \
    X(LambdaFunctionFailed) X(LambdaFunctionTimedOut) X(ActivityScheduled) X(ActivityStarted)        \
    X(ActivitySucceeded) X(ActivityFailed) X(ActivityTimedOut) X(TaskSubmitted)                       \
    X(ParallelStateStarted) X(ParallelStateSucceeded) X(ParallelStateFailed)                          \
    X(ParallelStateAborted) X(MapStateStarted) X(MapStateSucceeded) X(MapStateFailed)                 \
    X(MapStateAborted) X(MapIterationStarted) X(MapIterationSucceeded) X(MapIterationFailed)          \
    X(MapIterationAborted) X(MapRunStarted) X(MapRunSucceeded) X(MapRunFailed) X(TaskStateAborted)    \
    X(WaitStateAborted) X(ExecutionRedriven) X(EvaluationFailed)

enum {
#define X(n) E_##n,
    EVENT_TYPES(X)
#undef X
    E__COUNT
};

static const char *const event_names[] = {
#define X(n) #n,
    EVENT_TYPES(X)
#undef X
};

typedef struct ev {
    int type;
    int64_t ts;
    uint32_t prev;
    const state *st;   /* the state it belongs to, if any */
    json_t *a;         /* input/output/parameters payload */
    json_t *assigned;  /* StateExited: assigned variables */
    char *err, *cause;
    char *loc;         /* EvaluationFailed: the field */
    int64_t n;         /* map index / length */
    int64_t timeout_s, heartbeat_s;
} ev;

/* ---- threads and waits ---------------------------------------------------- */
enum phase { PH_READY = 0, PH_TASK, PH_WAIT, PH_BACKOFF, PH_CHILDREN, PH_DONE };

typedef struct thr thr;
struct thr {
    const prog *p;
    thr *parent;
    int slot;          /* branch or item index in the parent */
    int cur;           /* current state index */
    int phase;
    int silent;        /* distributed map iteration: no events in this history */
    json_t *input;     /* the state's raw input */
    json_t *eff;       /* effective input (after InputPath [+ Parameters]) */
    uint64_t wait_id;  /* task or timer awaited */
    uint64_t to_timer, hb_timer;
    int *rcount;
    int retry_count;
    /* the last context object made for this thread, kept while the state,
     * its entry and its attempt are the same (one per state otherwise) */
    json_t *ctx;
    const void *ctx_st;
    int64_t ctx_entered;
    int ctx_retry, ctx_redrive;
    int64_t entered_ms;
    uint32_t entered_id;
    uint32_t last;     /* previousEventId chain */
    size_t in_sz;      /* upper bound of the serialized size of input */
    /* children */
    thr **kids;
    int nkids, active, next_kid, done_kids, failed_kids;
    json_t *results;
    json_t *items;
    int max_conc;
    int tol_count;     /* -1: none */
    double tol_pct;    /* < 0: none */
    /* scope */
    json_t *vars;
    int map_idx;       /* iteration index, -1 if none */
    json_t *map_val;
    /* end */
    int fail_event;    /* Map/ParallelStateFailed, emitted unless retried */
    char *token;       /* .waitForTaskToken: the current task token */
    int jt_timeout, jt_heartbeat; /* JSONata TimeoutSeconds/HeartbeatSeconds */
    int ended, failed;
    json_t *out;
    char *err, *cause;
};

enum wait_kind { W_TASK = 1, W_WAIT, W_BACKOFF, W_TIMEOUT, W_HEARTBEAT, W_EXEC_TIMEOUT };

typedef struct wait {
    uint64_t id;
    int kind;
    thr *t;
    asl_cmd cmd;       /* the command that armed it (for asl_exec_pending) */
    json_t *payload;   /* owned */
    char *function;    /* owned */
    char *token;       /* owned */
    int started;       /* TaskStarted emitted */
} wait;

struct asl_exec {
    const asl_machine *m;
    asl_jbuf dd_text;   /* asl_exec_event_write_log: the last payload in full */
    size_t dd_id;       /* ... and its event id (0: none) */
    const json_t *dd_val; /* ... and its value, within asl_exec_events_write_log only */
    int dd_is_output;   /* the last batch ended with the output as that payload */
    char *arn, *name, *sm_arn, *sm_name, *role;
    int64_t start_ms;
    int redrive_count;
    /* the context object's parts that do not change from state to state,
     * made once (values are never modified in place: shared safely) */
    json_t *ctx_exec;   /* $$.Execution, for ctx_exec_redrive */
    int ctx_exec_redrive;
    json_t *ctx_sm;     /* $$.StateMachine */
    asl_rng rng;
    json_t *input;
    int64_t now;
    int status;
    int oom;            /* an event could not be recorded in the normal way:
                           the execution fails (States.Runtime) at once */
    json_t *output;
    char *error, *cause;
    int64_t stop_ms;
    uint64_t transitions;
    uint64_t next_id;
    thr *root;

    ev *evs; size_t nev, capev;
    wait *waits; size_t nwait, capwait;
    asl_cmd *cmds; size_t ncmd, capcmd;
    asl_cmd *pend; size_t capend;
    thr **runq; size_t rq_head, rq_len, rq_cap;
    thr **all; size_t nall, capall; /* every thread, freed at the end */
    uint64_t *unstarted; size_t nunstarted, capunstarted;
};

/* ---- small utilities ----------------------------------------------------- */
/* Tests: when > 0, the growth of the history that brings it to 0 fails,
 * as an out-of-memory would (asl_int.h). */
long asl__test_fail_grow;

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    /* first block just under 1 KiB: larger requests make glibc consolidate */
    size_t nc = *cap ? *cap * 2 : (elem < 960 ? 960 / elem : 1);
    while (nc < need)
        nc *= 2;
    void *np = realloc(*p, nc * elem);
    if (np == NULL)
        return -1;
    *p = np;
    *cap = nc;
    return 0;
}

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static char *xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

/* Serialized size of v, stopping early once above limit. */
static size_t jsize(const json_t *v, size_t limit);
static size_t jsize_str(const char *s, size_t n)
{
    /* bytes that print as more than themselves: '"', '\\' (2) and controls (6) */
    static unsigned char extra[256];
    static int ready;
    if (!ready) {
        for (int c = 0; c < 0x20; c++)
            extra[c] = 5;
        extra['"'] = extra['\\'] = 1;
        ready = 1;
    }
    size_t r = 2 + n;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n; i++)
        r += extra[p[i]];
    return r;
}
static size_t jsize(const json_t *v, size_t limit)
{
    size_t r = 0;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        size_t klen;
        json_t *x;
        r = 2;
        json_object_keylen_foreach((json_t *)v, k, klen, x) {
            r += jsize_str(k, klen) + 2 + jsize(x, limit);
            if (r > limit)
                return r;
        }
        return r;
    }
    case JSON_ARRAY: {
        r = 2;
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            r += jsize(x, limit) + 1;
            if (r > limit)
                return r;
        }
        return r;
    }
    case JSON_STRING:
        return jsize_str(json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
    case JSON_REAL:
        return 24;
    default:
        return 5;
    }
}

static int too_big(const json_t *v)
{
    return v != NULL && jsize(v, ASL_MAX_PAYLOAD) > ASL_MAX_PAYLOAD;
}

/* Serialized size, capped just above the payload limit. */
static size_t msize(const json_t *v)
{
    size_t n = v ? jsize(v, ASL_MAX_PAYLOAD) : 4;
    return n > ASL_MAX_PAYLOAD ? ASL_MAX_PAYLOAD + 1 : n;
}

/* An upper bound of the size of ResultPath's output, so that the document is
 * walked only when it might be over the limit (AWS-FACTS 3.8). */
static size_t out_bound(const asl_path *rp, int rnull, size_t in_sz, size_t res_sz)
{
    if (rnull)
        return in_sz;
    if (rp == NULL)
        return res_sz;
    return in_sz + res_sz + 2 * strlen(asl_path_text(rp)) + 16;
}

/* ---- events ---------------------------------------------------------------- */
#define EV_RESERVE 32

static ev *emit(asl_exec *x, thr *t, int type, const state *st)
{
    if (t && t->silent)
        return NULL;
    /* The history is the truth: an event is never dropped. The array is
     * grown while EV_RESERVE slots are still free, so when that fails (no
     * memory) the event, and the failure the execution then ends with,
     * still have room; run_queue fails the execution at once. */
    size_t need = x->nev + 1 + EV_RESERVE;
    int fail_now = need > x->capev && asl__test_fail_grow > 0 && --asl__test_fail_grow == 0;
    if (fail_now || grow((void **)&x->evs, &x->capev, need, sizeof *x->evs) != 0) {
        x->oom = 1;
        if (x->nev >= x->capev)
            return NULL; /* the reserve is spent: cannot happen in one step */
    }
    ev *e = &x->evs[x->nev++];
    memset(e, 0, sizeof *e);
    e->type = type;
    e->ts = x->now;
    e->st = st;
    uint32_t id = (uint32_t)x->nev;
    if (t) {
        e->prev = t->last;
        t->last = id;
    } else {
        e->prev = x->nev > 1 ? (uint32_t)(x->nev - 1) : 0;
    }
    return e;
}

static void ev_payload(ev *e, json_t *v)
{
    if (e)
        e->a = json_incref(v);
}

/* ---- variables and context -------------------------------------------------- */
static json_t *var_lookup(void *ud, const char *name)
{
    for (thr *t = ud; t; t = t->parent) {
        json_t *v = t->vars ? json_object_get(t->vars, name) : NULL;
        if (v)
            return v;
    }
    return NULL;
}

static void fmt_ts(int64_t ms, char *buf)
{
    asl_timestamp_format(ms, buf);
}

static json_t *make_context(asl_exec *x, thr *t, const state *st, int with_item, const char *token);

/* The context object ($$) for a state of thread t. Values are never
 * modified in place, so one made for this very state, entry and attempt is
 * shared (no task token, no Map item: those make it unique). Returns: new. */
static json_t *build_context(asl_exec *x, thr *t, const state *st, int with_item, const char *token)
{
    int cacheable = token == NULL && !(with_item && t->map_idx >= 0) && st != NULL;
    if (cacheable && t->ctx && t->ctx_st == st && t->ctx_entered == t->entered_ms &&
        t->ctx_retry == t->retry_count && t->ctx_redrive == x->redrive_count)
        return json_incref(t->ctx);
    json_t *c = make_context(x, t, st, with_item, token);
    if (cacheable && c) {
        json_decref(t->ctx);
        t->ctx = json_incref(c);
        t->ctx_st = st;
        t->ctx_entered = t->entered_ms;
        t->ctx_retry = t->retry_count;
        t->ctx_redrive = x->redrive_count;
    }
    return c;
}

static json_t *make_context(asl_exec *x, thr *t, const state *st, int with_item, const char *token)
{
    char ets[40];
    fmt_ts(t->entered_ms, ets);
    if (x->ctx_exec == NULL || x->ctx_exec_redrive != x->redrive_count) {
        char ts[40];
        fmt_ts(x->start_ms, ts);
        json_decref(x->ctx_exec);
        json_t *exe = json_object();
        json_object_set_new(exe, "Id", json_string(x->arn));
        json_object_set(exe, "Input", x->input);
        json_object_set_new(exe, "Name", json_string(x->name));
        json_object_set_new(exe, "RoleArn", json_string(x->role));
        json_object_set_new(exe, "StartTime", json_string(ts));
        json_object_set_new(exe, "RedriveCount", json_integer(x->redrive_count));
        x->ctx_exec = exe;
        x->ctx_exec_redrive = x->redrive_count;
    }
    if (x->ctx_sm == NULL) {
        x->ctx_sm = json_object();
        json_object_set_new(x->ctx_sm, "Id", json_string(x->sm_arn));
        json_object_set_new(x->ctx_sm, "Name", json_string(x->sm_name));
    }
    json_t *c = json_object();
    json_object_set(c, "Execution", x->ctx_exec);
    json_t *stj = json_object();
    json_object_set_new(stj, "EnteredTime", json_string(ets));
    json_object_set_new(stj, "Name", json_string(st ? st->name : ""));
    if (st && (st->type == ST_TASK || st->type == ST_PARALLEL || st->type == ST_MAP))
        json_object_set_new(stj, "RetryCount", json_integer(t->retry_count));
    json_object_set_new(c, "State", stj);
    json_object_set(c, "StateMachine", x->ctx_sm);
    if (token) {
        json_t *task = json_object();
        json_object_set_new(task, "Token", json_string(token));
        json_object_set_new(c, "Task", task);
    }
    if (with_item && t->map_idx >= 0) {
        json_t *item = json_object();
        json_object_set_new(item, "Index", json_integer(t->map_idx));
        json_object_set(item, "Value", t->map_val ? t->map_val : json_null());
        json_t *map = json_object();
        json_object_set_new(map, "Item", item);
        json_object_set_new(c, "Map", map);
    }
    return c;
}

typedef struct scope_buf {
    asl_scope sc;
    json_t *ctx;
} scope_buf;

static void scope_init(scope_buf *b, asl_exec *x, thr *t, const state *st, int with_item, const char *token)
{
    b->ctx = (st == NULL || st->uses_ctx || with_item) ? build_context(x, t, st, with_item, token) : NULL;
    b->sc.context = b->ctx;
    b->sc.var_lookup = var_lookup;
    b->sc.var_ud = t;
    b->sc.rng = &x->rng;
}

static void scope_cleanup(scope_buf *b)
{
    json_decref(b->ctx);
}

/* ---- errors ------------------------------------------------------------------ */
static char *runtime_cause(asl_exec *x, thr *t, const state *st, const char *msg)
{
    if (msg && strncmp(msg, "An error occurred while executing the state", 43) == 0)
        return strdup(msg);
    (void)x;
    return xprintf("An error occurred while executing the state '%s' (entered at the event id #%u). %s",
                   st ? st->name : "", t->entered_id, msg ? msg : "");
}

/* ---- forward declarations ---------------------------------------------------- */
static void thr_run(asl_exec *x, thr *t);
static void thr_fail(asl_exec *x, thr *t, const char *err, const char *cause);
static void thr_succeed(asl_exec *x, thr *t, json_t *out);
static void state_error(asl_exec *x, thr *t, const char *err, const char *cause);
static void state_exit(asl_exec *x, thr *t, json_t *out, int next, json_t *assigned, size_t out_sz);
static void abort_thr(asl_exec *x, thr *t);
static void jsonata_begin(asl_exec *x, thr *t);
static json_t *jstates(asl_exec *x, thr *t, const state *st, json_t *input, json_t *result, json_t *errout,
                       int with_item);
struct asl_jtmpl;
static int jeval(asl_exec *x, thr *t, const state *st, const struct asl_jtmpl *tm, json_t *states, json_t **out);
static void jsonata_work(asl_exec *x, thr *t);
struct catcher;
static void jsonata_catch(asl_exec *x, thr *t, const struct catcher *c, json_t *eo);

static void enqueue(asl_exec *x, thr *t)
{
    if (x->rq_len == x->rq_cap) {
        size_t nc = x->rq_cap ? x->rq_cap * 2 : 16;
        thr **nq = malloc(nc * sizeof *nq);
        if (nq == NULL)
            return;
        for (size_t i = 0; i < x->rq_len; i++)
            nq[i] = x->runq[(x->rq_head + i) % x->rq_cap];
        free(x->runq);
        x->runq = nq;
        x->rq_cap = nc;
        x->rq_head = 0;
    }
    x->runq[(x->rq_head + x->rq_len) % x->rq_cap] = t;
    x->rq_len++;
}

static thr *thr_new(asl_exec *x, const prog *p, thr *parent, int slot, json_t *input)
{
    thr *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    if (grow((void **)&x->all, &x->capall, x->nall + 1, sizeof *x->all) != 0) {
        free(t);
        return NULL;
    }
    x->all[x->nall++] = t;
    t->p = p;
    t->parent = parent;
    t->slot = slot;
    t->cur = p ? p->start : -1;
    t->input = json_incref(input);
    t->in_sz = msize(input);
    t->map_idx = -1;
    t->tol_count = -1;
    t->tol_pct = -1;
    if (parent) {
        t->last = parent->last;
        t->silent = parent->silent;
    }
    return t;
}

static void thr_reset_state(thr *t)
{
    json_decref(t->eff);
    t->eff = NULL;
    free(t->rcount);
    t->rcount = NULL;
    t->retry_count = 0;
    t->phase = PH_READY;
}

static void thr_free(thr *t)
{
    json_decref(t->ctx);
    free(t->token);
    json_decref(t->input);
    json_decref(t->eff);
    free(t->rcount);
    free(t->kids);
    json_decref(t->results);
    json_decref(t->items);
    json_decref(t->vars);
    json_decref(t->map_val);
    json_decref(t->out);
    free(t->err);
    free(t->cause);
    free(t);
}

/* ---- waits ------------------------------------------------------------------- */
static wait *wait_add(asl_exec *x, thr *t, int kind)
{
    if (grow((void **)&x->waits, &x->capwait, x->nwait + 1, sizeof *x->waits) != 0)
        return NULL;
    wait *w = &x->waits[x->nwait++];
    memset(w, 0, sizeof *w);
    w->id = ++x->next_id;
    w->kind = kind;
    w->t = t;
    return w;
}

static wait *wait_find(asl_exec *x, uint64_t id)
{
    for (size_t i = 0; i < x->nwait; i++)
        if (x->waits[i].id == id)
            return &x->waits[i];
    return NULL;
}

static void wait_remove(asl_exec *x, uint64_t id)
{
    for (size_t i = 0; i < x->nwait; i++) {
        if (x->waits[i].id == id) {
            json_decref(x->waits[i].payload);
            free(x->waits[i].function);
            free(x->waits[i].token);
            x->waits[i] = x->waits[x->nwait - 1];
            x->nwait--;
            return;
        }
    }
}

static void cmd_push(asl_exec *x, const asl_cmd *c)
{
    if (grow((void **)&x->cmds, &x->capcmd, x->ncmd + 1, sizeof *x->cmds) != 0)
        return;
    x->cmds[x->ncmd++] = *c;
}

static uint64_t timer_arm(asl_exec *x, thr *t, int kind, int64_t due)
{
    wait *w = wait_add(x, t, kind);
    if (w == NULL)
        return 0;
    w->cmd.kind = ASL_CMD_TIMER;
    w->cmd.id = w->id;
    w->cmd.due_ms = due;
    cmd_push(x, &w->cmd);
    return w->id;
}

/* Drop every wait of thread t (aborted or finished). */
static void waits_drop_thr(asl_exec *x, thr *t)
{
    for (size_t i = 0; i < x->nwait;) {
        if (x->waits[i].t == t)
            wait_remove(x, x->waits[i].id);
        else
            i++;
    }
}

/* ---- state helpers ----------------------------------------------------------- */
static const state *cur_state(thr *t)
{
    return (t->cur >= 0 && t->cur < t->p->n) ? &t->p->s[t->cur] : NULL;
}

static int ev_entered_type(int st)
{
    switch (st) {
    case ST_TASK: return E_TaskStateEntered;
    case ST_PASS: return E_PassStateEntered;
    case ST_CHOICE: return E_ChoiceStateEntered;
    case ST_WAIT: return E_WaitStateEntered;
    case ST_SUCCEED: return E_SucceedStateEntered;
    case ST_FAIL: return E_FailStateEntered;
    case ST_PARALLEL: return E_ParallelStateEntered;
    default: return E_MapStateEntered;
    }
}

static int ev_exited_type(int st)
{
    switch (st) {
    case ST_TASK: return E_TaskStateExited;
    case ST_PASS: return E_PassStateExited;
    case ST_CHOICE: return E_ChoiceStateExited;
    case ST_WAIT: return E_WaitStateExited;
    case ST_SUCCEED: return E_SucceedStateExited;
    case ST_PARALLEL: return E_ParallelStateExited;
    default: return E_MapStateExited;
    }
}

/* InputPath. Returns new ref or NULL with a runtime failure raised. */
static json_t *apply_input_path(asl_exec *x, thr *t, const state *st, scope_buf *sb)
{
    if (st->input_null)
        return json_object();
    if (st->input_path == NULL)
        return json_incref(t->input);
    json_t *out = NULL;
    if (asl_path_eval(st->input_path, t->input, &sb->sc, &out) != 0) {
        const char *cp = asl_path_normalized(st->input_path);
        char *msg = xprintf("Invalid path '%s' : No results for path: %s", asl_path_text(st->input_path),
                            cp ? cp : "");
        char *cause = runtime_cause(x, t, st, msg);
        thr_fail(x, t, "States.Runtime", cause);
        free(msg);
        free(cause);
        return NULL;
    }
    return out;
}

static json_t *apply_output_path(asl_exec *x, thr *t, const state *st, json_t *v, scope_buf *sb)
{
    if (st->output_null)
        return json_object();
    if (st->output_path == NULL)
        return json_incref(v);
    json_t *out = NULL;
    if (asl_path_eval(st->output_path, v, &sb->sc, &out) != 0) {
        const char *cp = asl_path_normalized(st->output_path);
        char *msg = xprintf("Invalid path '%s' : No results for path: %s", asl_path_text(st->output_path),
                            cp ? cp : "");
        char *cause = runtime_cause(x, t, st, msg);
        thr_fail(x, t, "States.Runtime", cause);
        free(msg);
        free(cause);
        return NULL;
    }
    return out;
}

/* Raise an ASL error coming out of a template/path evaluation. */
/* The field a JSONata failure names: "... for the field 'Output/x' ..." or
 * "The Timestamp field ...". Returns malloc'd text or NULL. */
static char *eval_location(const char *cause)
{
    const char *p;
    if (cause == NULL)
        return NULL;
    if ((p = strstr(cause, "specified for the field '")) != NULL) {
        p += strlen("specified for the field '");
        const char *q = strchr(p, '\'');
        return q ? strndup(p, (size_t)(q - p)) : NULL;
    }
    if (strncmp(cause, "The ", 4) == 0 && (p = strstr(cause + 4, " field ")) != NULL && !memchr(cause + 4, ' ', (size_t)(p - cause - 4)))
        return strndup(cause + 4, (size_t)(p - cause - 4));
    return NULL;
}

static void raise_err(asl_exec *x, thr *t, const state *st, asl_err *e, int catchable)
{
    const char *err = e->error ? e->error : "States.Runtime";
    char *cause = NULL;
    if (strcmp(err, "States.Runtime") == 0 || strcmp(err, "States.QueryEvaluationError") == 0)
        cause = runtime_cause(x, t, st, e->cause);
    else
        cause = xstrdup(e->cause);
    if (strcmp(err, "States.QueryEvaluationError") == 0) {
        /* AWS records where a JSONata evaluation failed before the failure
         * itself; a Map that fails so reports MapStateFailed as well */
        ev *f = emit(x, t, E_EvaluationFailed, st);
        if (f) {
            f->err = xstrdup(err);
            f->cause = xstrdup(cause);
            f->loc = eval_location(e->cause);
        }
        if (st && st->type == ST_MAP)
            t->fail_event = E_MapStateFailed;
    }
    if (catchable)
        state_error(x, t, err, cause);
    else
        thr_fail(x, t, err, cause);
    free(cause);
    asl_err_clear(e);
}

static json_t *eval_tmpl(asl_exec *x, thr *t, const state *st, const asl_tmpl *tm, json_t *in, scope_buf *sb,
                         int catchable)
{
    json_t *out = NULL;
    asl_err e = {0};
    if (asl_tmpl_eval(tm, in, &sb->sc, &out, &e) != 0) {
        raise_err(x, t, st, &e, catchable);
        return NULL;
    }
    return out;
}

/* ResultPath: merge result into the state input. */
static json_t *apply_result_path(asl_exec *x, thr *t, const state *st, const asl_path *rp, int rnull,
                                 json_t *result, int catchable)
{
    if (rnull)
        return json_incref(t->input);
    if (rp == NULL)
        return json_incref(result);
    json_t *out = NULL;
    asl_err e = {0};
    if (asl_path_set(rp, t->input, result, &out, &e) != 0) {
        raise_err(x, t, st, &e, catchable);
        return NULL;
    }
    return out;
}

/* Assign: evaluate against v, then publish into the thread's scope. On
 * success *assigned is the evaluated object (new) for the history event. */
static int do_assign(asl_exec *x, thr *t, const state *st, const asl_tmpl *tm, json_t *v, scope_buf *sb,
                     json_t **assigned)
{
    if (tm == NULL)
        return 0;
    json_t *vals = eval_tmpl(x, t, st, tm, v, sb, 0);
    if (vals == NULL)
        return -1;
    if (too_big(vals)) {
        thr_fail(x, t, "States.Runtime",
                 "The assigned variables exceed the maximum size of 256 KiB");
        json_decref(vals);
        return -1;
    }
    if (t->vars == NULL)
        t->vars = json_object();
    else if (t->vars->refcount > 1) {
        json_t *c = json_copy(t->vars);
        json_decref(t->vars);
        t->vars = c;
    }
    json_object_update(t->vars, vals);
    if (assigned)
        *assigned = vals;
    else
        json_decref(vals);
    return 0;
}

static void set_data_limit(asl_exec *x, thr *t, const state *st)
{
    char *cause = xprintf("The state/task '%s' returned a result with a size exceeding the maximum number of "
                          "bytes service limit.",
                          st->name);
    thr_fail(x, t, "States.DataLimitExceeded", cause);
    free(cause);
}

/* ---- state exit / next --------------------------------------------------------- */
static void state_exit(asl_exec *x, thr *t, json_t *out, int next, json_t *assigned, size_t out_sz)
{
    const state *st = cur_state(t);
    ev *e = emit(x, t, ev_exited_type(st->type), st);
    if (e) {
        e->a = json_incref(out);
        e->assigned = assigned ? json_incref(assigned) : NULL;
    }
    x->transitions++;
    if (next < 0) {
        thr_succeed(x, t, out);
        return;
    }
    json_decref(t->input);
    t->input = json_incref(out);
    t->in_sz = out_sz;
    t->cur = next;
    thr_reset_state(t);
    enqueue(x, t);
}

/* ---- error handling: Retry and Catch ------------------------------------------- */
static int err_matches(char **errs, int n, const char *err)
{
    /* States.Runtime is never caught (AWS docs); a task result over the
     * payload limit (States.DataLimitExceeded) is, by States.ALL too, as
     * AWS's recorded executions show */
    int terminal = strcmp(err, "States.Runtime") == 0;
    for (int i = 0; i < n; i++) {
        const char *e = errs[i];
        if (strcmp(e, err) == 0)
            return strcmp(err, "States.Runtime") != 0;
        if (terminal)
            continue;
        if (strcmp(e, "States.ALL") == 0)
            return 1;
        if (strcmp(e, "States.TaskFailed") == 0 && strcmp(err, "States.Timeout") != 0 &&
            strncmp(err, "States.", 7) != 0)
            return 1;
        if (strcmp(e, "States.TaskFailed") == 0 && strcmp(err, "States.Timeout") != 0 &&
            (strcmp(err, "States.HeartbeatTimeout") == 0 || strcmp(err, "States.Permissions") == 0 ||
             strcmp(err, "States.IntrinsicFailure") == 0 || strcmp(err, "States.BranchFailed") == 0))
            return 1;
    }
    return 0;
}

static void state_error(asl_exec *x, thr *t, const char *err, const char *cause)
{
    const state *st = cur_state(t);
    if (st == NULL || (st->type != ST_TASK && st->type != ST_PARALLEL && st->type != ST_MAP)) {
        thr_fail(x, t, err, cause);
        return;
    }
    for (int i = 0; i < st->nretry; i++) {
        const retrier *r = &st->retry[i];
        if (!err_matches(r->errs, r->nerrs, err))
            continue;
        if (t->rcount == NULL)
            t->rcount = calloc((size_t)st->nretry, sizeof *t->rcount);
        if (t->rcount == NULL)
            break;
        if (t->rcount[i] >= r->max_attempts)
            break; /* the first matching retrier decides; exhausted: go to Catch */
        double delay = r->interval * pow(r->backoff, t->rcount[i]);
        if (r->max_delay > 0 && delay > r->max_delay)
            delay = r->max_delay;
        if (r->jitter_full)
            delay = asl_rng_double(&x->rng) * delay;
        t->rcount[i]++;
        t->retry_count++;
        t->fail_event = 0;
        t->phase = PH_BACKOFF;
        t->wait_id = timer_arm(x, t, W_BACKOFF, x->now + (int64_t)llround(delay * 1000.0));
        return;
    }
    if (t->fail_event) {
        emit(x, t, t->fail_event, st);
        t->fail_event = 0;
    }
    for (int i = 0; i < st->ncatch; i++) {
        const catcher *c = &st->catch[i];
        if (!err_matches(c->errs, c->nerrs, err))
            continue;
        json_t *eo = json_object();
        json_object_set_new(eo, "Error", json_string(err));
        json_object_set_new(eo, "Cause", json_string(cause ? cause : ""));
        if (json_object_get(eo, "Cause") == NULL)
            json_object_set_new(eo, "Cause", json_string(""));
        if (st->jsonata) {
            jsonata_catch(x, t, c, eo);
            json_decref(eo);
            return;
        }
        scope_buf sb;
        scope_init(&sb, x, t, st, 0, NULL);
        json_t *assigned = NULL;
        if (do_assign(x, t, st, c->assign, eo, &sb, &assigned) != 0) {
            scope_cleanup(&sb);
            json_decref(eo);
            return;
        }
        json_t *out = apply_result_path(x, t, st, c->result_path, c->result_null, eo, 0);
        size_t eo_sz = msize(eo);
        scope_cleanup(&sb);
        json_decref(eo);
        if (out == NULL) {
            json_decref(assigned);
            return;
        }
        size_t osz = out_bound(c->result_path, c->result_null, t->in_sz, eo_sz);
        if (osz > ASL_MAX_PAYLOAD && (osz = msize(out)) > ASL_MAX_PAYLOAD) {
            set_data_limit(x, t, st);
            json_decref(out);
            json_decref(assigned);
            return;
        }
        state_exit(x, t, out, c->next, assigned, osz);
        json_decref(out);
        json_decref(assigned);
        return;
    }
    thr_fail(x, t, err, cause);
}

/* ---- tasks ------------------------------------------------------------------- */
static int path_int(asl_exec *x, thr *t, const state *st, const asl_path *p, json_t *in, scope_buf *sb,
                    const char *field, int *out)
{
    json_t *v = NULL;
    if (asl_path_eval(p, in, &sb->sc, &v) != 0 || !json_is_integer(v) || json_integer_value(v) < 1) {
        char *msg = xprintf("The %s parameter does not reference a valid positive integer: %s", field,
                            asl_path_text(p));
        char *cause = runtime_cause(x, t, st, msg);
        thr_fail(x, t, "States.Runtime", cause);
        free(msg);
        free(cause);
        json_decref(v);
        return -1;
    }
    *out = (int)json_integer_value(v);
    json_decref(v);
    return 0;
}

static char *make_token(asl_exec *x, uint64_t id)
{
    uint64_t a = asl_rng_next(&x->rng), b = asl_rng_next(&x->rng);
    return xprintf("%016llx%016llx-%llu", (unsigned long long)a, (unsigned long long)b, (unsigned long long)id);
}

static void task_dispatch(asl_exec *x, thr *t)
{
    const state *st = cur_state(t);
    json_t *params = t->eff;
    wait *w = wait_add(x, t, W_TASK);
    if (w == NULL)
        return;
    int timeout = st->jsonata ? t->jt_timeout : st->timeout_s;
    int hb = st->jsonata ? t->jt_heartbeat : st->heartbeat_s;
    scope_buf sb;
    scope_init(&sb, x, t, st, 0, NULL);
    if (st->timeout_path && path_int(x, t, st, st->timeout_path, t->input, &sb, "TimeoutSecondsPath", &timeout))
        goto out;
    if (st->heartbeat_path &&
        path_int(x, t, st, st->heartbeat_path, t->input, &sb, "HeartbeatSecondsPath", &hb))
        goto out;
    w = wait_find(x, t->wait_id = w->id);
    w->cmd.kind = ASL_CMD_INVOKE;
    w->cmd.id = w->id;
    w->cmd.resource = st->resource;
    w->cmd.timeout_s = timeout;
    w->cmd.heartbeat_s = hb;
    w->cmd.wait_for_token = st->wait_token;
    if (st->task_kind == TK_LAMBDA_INVOKE) {
        const char *fn = json_string_value(json_object_get(params, "FunctionName"));
        w->function = xstrdup(fn);
        json_t *pl = json_object_get(params, "Payload");
        if (json_is_string(pl)) {
            /* a string Payload is the request body itself, not a JSON
             * string: "[]" invokes with [] (AWS's recorded executions) */
            char err[64];
            json_t *raw = asl_json_parse(json_string_value(pl), json_string_length(pl), err, sizeof err);
            w->payload = raw ? raw : json_incref(pl);
        } else {
            w->payload = pl ? json_incref(pl) : json_object();
        }
    } else {
        if (st->task_kind == TK_LAMBDA_ARN)
            w->function = xstrdup(st->resource);
        w->payload = json_incref(params);
    }
    if (st->wait_token)
        w->token = xstrdup(t->token); /* made before Parameters: $$.Task.Token */
    w->cmd.function = w->function;
    w->cmd.payload = w->payload;
    w->cmd.token = w->token;

    ev *e;
    if (st->task_kind == TK_LAMBDA_ARN) {
        e = emit(x, t, E_LambdaFunctionScheduled, st);
        ev_payload(e, params);
    } else if (st->task_kind == TK_ACTIVITY) {
        e = emit(x, t, E_ActivityScheduled, st);
        ev_payload(e, params);
    } else {
        e = emit(x, t, E_TaskScheduled, st);
        ev_payload(e, params);
    }
    if (e) {
        e->timeout_s = timeout;
        e->heartbeat_s = hb;
    }
    cmd_push(x, &w->cmd);
    if (grow((void **)&x->unstarted, &x->capunstarted, x->nunstarted + 1, sizeof *x->unstarted) == 0)
        x->unstarted[x->nunstarted++] = w->id;
    t->phase = PH_TASK;
    uint64_t task_id = w->id;
    if (timeout > 0) {
        t->to_timer = timer_arm(x, t, W_TIMEOUT, x->now + (int64_t)timeout * 1000);
        wait *tw = wait_find(x, t->to_timer);
        if (tw)
            tw->cmd.id = tw->id;
    }
    if (hb > 0)
        t->hb_timer = timer_arm(x, t, W_HEARTBEAT, x->now + (int64_t)hb * 1000);
    t->wait_id = task_id;
out:
    scope_cleanup(&sb);
}

static void task_started(asl_exec *x, wait *w)
{
    if (w->started)
        return;
    w->started = 1;
    thr *t = w->t;
    const state *st = cur_state(t);
    int type = st->task_kind == TK_LAMBDA_ARN ? E_LambdaFunctionStarted
               : st->task_kind == TK_ACTIVITY ? E_ActivityStarted
                                              : E_TaskStarted;
    emit(x, t, type, st);
}

static void task_timers_drop(asl_exec *x, thr *t)
{
    if (t->to_timer)
        wait_remove(x, t->to_timer);
    if (t->hb_timer)
        wait_remove(x, t->hb_timer);
    t->to_timer = t->hb_timer = 0;
}

static json_t *lambda_wrap(asl_exec *x, json_t *payload)
{
    char rid[40];
    uint64_t a = asl_rng_next(&x->rng), b = asl_rng_next(&x->rng);
    snprintf(rid, sizeof rid, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32), (unsigned)(a >> 16) & 0xffff,
             (unsigned)a & 0xfff, (unsigned)((b >> 48) & 0x3fff) | 0x8000,
             (unsigned long long)(b & 0xffffffffffffULL));
    char *text = asl_json_text(payload);
    size_t len = text ? strlen(text) : 0;
    free(text);
    char lenbuf[32], date[40];
    snprintf(lenbuf, sizeof lenbuf, "%zu", len);
    fmt_ts(x->now, date);
    char trace[96];
    uint64_t tr = asl_rng_next(&x->rng);
    snprintf(trace, sizeof trace, "Root=1-%08llx-%016llx%08x;Parent=%016llx;Sampled=0;Lineage=1:%08x:0",
             (unsigned long long)(x->now / 1000), (unsigned long long)a, (unsigned)(b >> 32),
             (unsigned long long)tr, (unsigned)(tr >> 40));
    json_t *hdr = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "Connection", "keep-alive", "Content-Length", lenbuf,
                            "Content-Type", "application/json", "Date", date, "X-Amz-Executed-Version", "$LATEST",
                            "X-Amzn-Trace-Id", trace, "x-amzn-Remapped-Content-Length", "0", "x-amzn-RequestId",
                            rid);
    json_t *all = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(hdr, k, v) json_object_set_new(all, k, json_pack("[O]", v));
    json_t *w = json_object();
    json_object_set_new(w, "ExecutedVersion", json_string("$LATEST"));
    json_object_set(w, "Payload", payload);
    json_t *meta = json_object();
    json_object_set_new(meta, "AllHttpHeaders", all);
    json_object_set_new(meta, "HttpHeaders", hdr);
    json_object_set_new(meta, "HttpStatusCode", json_integer(200));
    json_object_set_new(w, "SdkHttpMetadata", meta);
    json_object_set_new(w, "SdkResponseMetadata", json_pack("{s:s}", "RequestId", rid));
    json_object_set_new(w, "StatusCode", json_integer(200));
    return w;
}

/* A task's result arrived: ResultSelector, Assign, ResultPath, OutputPath. */
static void jsonata_finish(asl_exec *x, thr *t, json_t *result);

static void task_finish(asl_exec *x, thr *t, json_t *result, size_t res_sz)
{
    const state *st = cur_state(t);
    if (st->jsonata) {
        jsonata_finish(x, t, result);
        return;
    }
    scope_buf sb;
    scope_init(&sb, x, t, st, 0, NULL);
    json_t *res = json_incref(result), *out = NULL, *out2 = NULL, *assigned = NULL;
    if (st->result_selector) {
        json_t *r2 = eval_tmpl(x, t, st, st->result_selector, res, &sb, 0);
        json_decref(res);
        if ((res = r2) == NULL)
            goto done;
        res_sz = msize(res);
    }
    if (do_assign(x, t, st, st->assign, res, &sb, &assigned) != 0)
        goto done;
    if ((out = apply_result_path(x, t, st, st->result_path, st->result_null, res, 0)) == NULL)
        goto done;
    if ((out2 = apply_output_path(x, t, st, out, &sb)) == NULL)
        goto done;
    size_t osz = out_bound(st->result_path, st->result_null, t->in_sz, res_sz);
    if (osz > ASL_MAX_PAYLOAD && (osz = msize(out2)) > ASL_MAX_PAYLOAD) {
        set_data_limit(x, t, st);
        goto done;
    }
    state_exit(x, t, out2, st->next, assigned, osz);
done:
    json_decref(res);
    json_decref(out);
    json_decref(out2);
    json_decref(assigned);
    scope_cleanup(&sb);
}

/* ---- Parallel and Map ------------------------------------------------------------ */
static void kid_start(asl_exec *x, thr *t, int i)
{
    const state *st = cur_state(t);
    thr *k = t->kids[i];
    if (st->type == ST_MAP && !st->distributed) {
        ev *e = emit(x, t, E_MapIterationStarted, st);
        if (e)
            e->n = i;
        k->last = t->last;
    }
    t->active++;
    enqueue(x, k);
}

static void children_start(asl_exec *x, thr *t)
{
    const state *st = cur_state(t);
    int limit = t->max_conc > 0 ? t->max_conc : t->nkids;
    while (t->next_kid < t->nkids && t->active < limit)
        kid_start(x, t, t->next_kid++);
    if (t->nkids == 0) {
        /* nothing to run */
        if (st->type == ST_MAP) {
            if (st->distributed)
                emit(x, t, E_MapRunSucceeded, st);
            emit(x, t, E_MapStateSucceeded, st);
        } else {
            emit(x, t, E_ParallelStateSucceeded, st);
        }
        json_t *res = json_incref(t->results);
        task_finish(x, t, res, msize(res));
        json_decref(res);
    }
}

static void children_free(asl_exec *x, thr *t)
{
    (void)x;
    free(t->kids);
    t->kids = NULL;
    t->nkids = t->active = t->next_kid = t->done_kids = t->failed_kids = 0;
    json_decref(t->results);
    t->results = NULL;
}

static void abort_kids(asl_exec *x, thr *t, int except)
{
    const state *st = cur_state(t);
    for (int i = 0; i < t->next_kid; i++) {
        thr *k = t->kids[i];
        if (i == except || k->ended)
            continue;
        abort_thr(x, k);
        if (st->type == ST_MAP && !st->distributed) {
            ev *e = emit(x, t, E_MapIterationAborted, st);
            if (e)
                e->n = i;
        }
    }
}

static void kid_done(asl_exec *x, thr *k)
{
    thr *t = k->parent;
    const state *st = cur_state(t);
    if (t->phase != PH_CHILDREN)
        return;
    t->active--;
    t->done_kids++;
    if (!k->failed) {
        if (st->type == ST_MAP && !st->distributed) {
            ev *e = emit(x, t, E_MapIterationSucceeded, st);
            if (e)
                e->n = k->slot;
        }
        json_array_set(t->results, (size_t)k->slot, k->out ? k->out : json_null());
    } else {
        if (st->type == ST_MAP) {
            if (!st->distributed) {
                ev *e = emit(x, t, E_MapIterationFailed, st);
                if (e)
                    e->n = k->slot;
            }
            t->failed_kids++;
            int tolerated = 0;
            if (t->tol_count >= 0 && t->failed_kids <= t->tol_count)
                tolerated = 1;
            if (t->tol_pct >= 0 && t->nkids > 0 && 100.0 * t->failed_kids / t->nkids <= t->tol_pct)
                tolerated = 1;
            if (!tolerated) {
                int has_tol = t->tol_count >= 0 || t->tol_pct >= 0;
                char *err = xstrdup(has_tol ? "States.ExceedToleratedFailureThreshold" : k->err);
                char *cause = has_tol ? xstrdup("The specified tolerated failure threshold was exceeded")
                                      : xstrdup(k->cause);
                abort_kids(x, t, k->slot);
                if (st->distributed) {
                    ev *re = emit(x, t, E_MapRunFailed, st);
                    if (re) {
                        re->err = xstrdup(err);
                        re->cause = xstrdup(cause);
                    }
                }
                t->fail_event = E_MapStateFailed;
                children_free(x, t);
                t->phase = PH_READY;
                state_error(x, t, err ? err : "States.Runtime", cause);
                free(err);
                free(cause);
                return;
            }
            json_array_set(t->results, (size_t)k->slot, json_null());
        } else {
            char *err = xstrdup(k->err), *cause = xstrdup(k->cause);
            abort_kids(x, t, k->slot);
            t->fail_event = E_ParallelStateFailed;
            children_free(x, t);
            t->phase = PH_READY;
            state_error(x, t, err ? err : "States.BranchFailed", cause);
            free(err);
            free(cause);
            return;
        }
    }
    if (t->done_kids == t->nkids) {
        if (st->type == ST_MAP) {
            if (st->distributed)
                emit(x, t, E_MapRunSucceeded, st);
            emit(x, t, E_MapStateSucceeded, st);
        }
        json_t *res = json_incref(t->results);
        children_free(x, t);
        t->phase = PH_READY;
        task_finish(x, t, res, msize(res));
        json_decref(res);
        return;
    }
    int limit = t->max_conc > 0 ? t->max_conc : t->nkids;
    while (t->next_kid < t->nkids && t->active < limit)
        kid_start(x, t, t->next_kid++);
}

static void parallel_begin(asl_exec *x, thr *t)
{
    const state *st = cur_state(t);
    emit(x, t, E_ParallelStateStarted, st);
    t->nkids = st->nbranches;
    t->kids = calloc((size_t)t->nkids + 1, sizeof *t->kids);
    t->results = json_array();
    for (int i = 0; i < t->nkids; i++) {
        json_array_append_new(t->results, json_null());
        t->kids[i] = thr_new(x, st->branches[i], t, i, t->eff);
    }
    t->active = 0;
    t->next_kid = 0;
    t->max_conc = 0;
    t->phase = PH_CHILDREN;
    children_start(x, t);
}

static int map_int_path(asl_exec *x, thr *t, const state *st, const asl_path *p, scope_buf *sb, const char *field,
                        int *out, int allow_real)
{
    json_t *v = NULL;
    if (asl_path_eval(p, t->eff, &sb->sc, &v) != 0) {
        char *msg = xprintf("The %s field refers to value \"null\" which is not a valid integer: %s", field,
                            asl_path_text(p));
        char *cause = runtime_cause(x, t, st, msg);
        thr_fail(x, t, "States.Runtime", cause);
        free(msg);
        free(cause);
        return -1;
    }
    if (json_is_string(v)) {
        char *end = NULL;
        const char *sv = json_string_value(v);
        long long n = strtoll(sv, &end, 10);
        if (*sv && end && *end == 0) {
            *out = (int)n;
            json_decref(v);
            return 0;
        }
    }
    if (!json_is_integer(v) && !(allow_real && json_is_number(v))) {
        char *text = json_is_string(v) ? strdup(json_string_value(v)) : asl_json_text(v);
        char *msg = xprintf("The %s field refers to value \"%s\" which is not a valid integer: %s", field, text,
                            asl_path_text(p));
        char *cause = runtime_cause(x, t, st, msg);
        thr_fail(x, t, "States.Runtime", cause);
        free(text);
        free(msg);
        free(cause);
        json_decref(v);
        return -1;
    }
    *out = (int)json_number_value(v);
    json_decref(v);
    return 0;
}

/* Spawn one iteration per item (ItemSelector evaluated for each, with
 * $$.Map.Item / $states.context.Map.Item) and start them; items is taken.
 * On a selector failure the error is raised and nothing is started. */
static void map_spawn(asl_exec *x, thr *t, json_t *items)
{
    const state *st = cur_state(t);
    size_t n = json_array_size(items);
    t->nkids = (int)n;
    t->kids = calloc(n + 1, sizeof *t->kids);
    t->results = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_array_get(items, i);
        json_t *in = NULL;
        if (st->jsonata ? st->j_selector != NULL : st->parameters != NULL) {
            t->map_idx = (int)i;
            json_decref(t->map_val);
            t->map_val = json_incref(item);
            if (st->jsonata) {
                json_t *ist = jstates(x, t, st, t->input, NULL, NULL, 1);
                if (jeval(x, t, st, st->j_selector, ist, &in) != 0)
                    in = NULL;
                json_decref(ist);
            } else {
                scope_buf ib;
                scope_init(&ib, x, t, st, 1, NULL);
                in = eval_tmpl(x, t, st, st->parameters, t->eff, &ib, 0);
                scope_cleanup(&ib);
            }
            t->map_idx = -1;
            json_decref(t->map_val);
            t->map_val = NULL;
            if (in == NULL) {
                json_decref(items);
                return;
            }
        } else {
            in = json_incref(item);
        }
        json_array_append_new(t->results, json_null());
        thr *k = thr_new(x, st->iter, t, (int)i, in);
        json_decref(in);
        if (k == NULL)
            break;
        k->map_idx = (int)i;
        k->map_val = json_incref(item);
        if (st->distributed)
            k->silent = 1;
        t->kids[i] = k;
    }
    json_decref(t->items);
    t->items = items;
    t->phase = PH_CHILDREN;
    t->active = 0;
    t->next_kid = 0;
    children_start(x, t);
}

static void map_begin(asl_exec *x, thr *t)
{
    const state *st = cur_state(t);
    scope_buf sb;
    scope_init(&sb, x, t, st, 0, NULL);
    json_t *items = NULL;
    if (st->items_path) {
        if (asl_path_eval(st->items_path, t->eff, &sb.sc, &items) != 0) {
            const char *cp = asl_path_normalized(st->items_path);
            char *msg = xprintf("Invalid path '%s' : No results for path: %s", asl_path_text(st->items_path),
                                cp ? cp : "");
            char *cause = runtime_cause(x, t, st, msg);
            thr_fail(x, t, "States.Runtime", cause);
            free(msg);
            free(cause);
            goto out;
        }
    } else {
        items = json_incref(t->eff);
    }
    if (!json_is_array(items)) {
        char *text = asl_json_text(items);
        char *msg = xprintf("Invalid path '%s' : The input '%s' is not a JSON array",
                            st->items_path ? asl_path_text(st->items_path) : "$", text);
        /* AWS: "Map state input must be an array" family */
        char *cause = runtime_cause(x, t, st, msg);
        thr_fail(x, t, "States.Runtime", cause);
        free(text);
        free(msg);
        free(cause);
        json_decref(items);
        goto out;
    }
    t->max_conc = st->max_conc;
    if (st->max_conc_path &&
        map_int_path(x, t, st, st->max_conc_path, &sb, "MaxConcurrencyPath", &t->max_conc, 0) != 0) {
        json_decref(items);
        goto out;
    }
    {
        ev *e = emit(x, t, E_MapStateStarted, st);
        if (e)
            e->n = (int64_t)json_array_size(items);
    }
    t->tol_count = st->has_tol_count ? st->tol_count : -1;
    if (st->tol_count_path &&
        map_int_path(x, t, st, st->tol_count_path, &sb, "ToleratedFailureCountPath", &t->tol_count, 0) != 0) {
        json_decref(items);
        goto out;
    }
    if (t->tol_count < -1 || (st->tol_count_path && t->tol_count < 0)) {
        char *cause = runtime_cause(x, t, st, "ToleratedFailureCount cannot be negative.");
        thr_fail(x, t, "States.Runtime", cause);
        free(cause);
        json_decref(items);
        goto out;
    }
    t->tol_pct = st->has_tol_pct ? st->tol_pct : -1;
    if (st->tol_pct_path) {
        int pct = 0;
        if (map_int_path(x, t, st, st->tol_pct_path, &sb, "ToleratedFailurePercentagePath", &pct, 1) != 0) {
            json_decref(items);
            goto out;
        }
        t->tol_pct = pct;
    }
    if (st->distributed) {
        ev *e = emit(x, t, E_MapRunStarted, st);
        (void)e;
    }
    map_spawn(x, t, items);
out:
    scope_cleanup(&sb);
}

/* ---- Wait -------------------------------------------------------------------------- */
static void wait_begin(asl_exec *x, thr *t)
{
    const state *st = cur_state(t);
    int64_t due = x->now;
    if (st->wait_kind == 1) {
        due = x->now + st->seconds * 1000;
    } else if (st->wait_kind == 2) {
        due = st->ts_ms;
    } else if (st->wait_kind == 3 || st->wait_kind == 4) {
        scope_buf sb;
        scope_init(&sb, x, t, st, 0, NULL);
        json_t *v = NULL;
        const char *pt = asl_path_text(st->wait_path);
        char *msg = NULL;
        if (asl_path_eval(st->wait_path, t->eff, &sb.sc, &v) != 0) {
            msg = xprintf("The %s parameter does not reference an input value: %s",
                          st->wait_kind == 3 ? "SecondsPath" : "TimestampPath", pt);
        } else if (st->wait_kind == 3) {
            if (!json_is_integer(v)) {
                char *text = json_is_string(v) ? strdup(json_string_value(v)) : asl_json_text(v);
                msg = xprintf("The SecondsPath parameter cannot be parsed as a long value: %s == %s", pt, text);
                free(text);
            } else if (json_integer_value(v) < 0) {
                msg = xprintf("The SecondsPath parameter references a negative value: %s == %" JSON_INTEGER_FORMAT,
                              pt, json_integer_value(v));
            } else if (json_integer_value(v) > 99999999) {
                msg = strdup("Wait state delay is too long.");
            } else {
                due = x->now + json_integer_value(v) * 1000;
            }
        } else {
            int64_t ms = 0;
            if (!json_is_string(v) || asl_timestamp_parse(json_string_value(v), &ms) != 0) {
                char *text = json_is_string(v) ? strdup(json_string_value(v)) : asl_json_text(v);
                msg = xprintf("The TimestampPath parameter does not reference a valid ISO-8601 extended offset "
                              "date-time format string: %s == %s",
                              pt, text);
                free(text);
            } else if (ms - x->now > 99999999LL * 1000) {
                msg = strdup("Wait state delay is too long.");
            } else {
                due = ms;
            }
        }
        json_decref(v);
        scope_cleanup(&sb);
        if (msg) {
            char *cause = runtime_cause(x, t, st, msg);
            thr_fail(x, t, "States.Runtime", cause);
            free(cause);
            free(msg);
            return;
        }
    }
    if (st->wait_kind == 1 && st->seconds > 99999999) {
        char *cause = runtime_cause(x, t, st, "Wait state delay is too long.");
        thr_fail(x, t, "States.Runtime", cause);
        free(cause);
        return;
    }
    if (due < x->now)
        due = x->now;
    t->phase = PH_WAIT;
    t->wait_id = timer_arm(x, t, W_WAIT, due);
}

static void jsonata_wait_finish(asl_exec *x, thr *t);

static void wait_finish(asl_exec *x, thr *t)
{
    const state *st = cur_state(t);
    if (st->jsonata) {
        jsonata_wait_finish(x, t);
        return;
    }
    scope_buf sb;
    scope_init(&sb, x, t, st, 0, NULL);
    json_t *assigned = NULL;
    if (do_assign(x, t, st, st->assign, t->eff, &sb, &assigned) == 0) {
        json_t *out = apply_output_path(x, t, st, t->eff, &sb);
        if (out) {
            state_exit(x, t, out, st->next, assigned, t->in_sz);
            json_decref(out);
        }
    }
    json_decref(assigned);
    scope_cleanup(&sb);
}

/* ---- entering a state ---------------------------------------------------------------- */
static char *make_token(asl_exec *x, uint64_t id);

static void state_begin(asl_exec *x, thr *t)
{
    const state *st = cur_state(t);
    const char *token = NULL;
    if (st->type == ST_TASK && st->wait_token) {
        /* the token exists before Parameters are evaluated: they pass it on
         * through $$.Task.Token */
        free(t->token);
        t->token = make_token(x, x->next_id + 1);
        token = t->token;
    }
    if (st->jsonata) {
        jsonata_begin(x, t);
        return;
    }
    scope_buf sb;
    scope_init(&sb, x, t, st, 0, token);
    switch (st->type) {
    case ST_PASS: {
        json_t *eff = apply_input_path(x, t, st, &sb);
        if (eff == NULL)
            break;
        json_t *res = eff, *assigned = NULL, *out = NULL, *out2 = NULL;
        size_t res_sz = t->in_sz;
        if (st->parameters) {
            res = eval_tmpl(x, t, st, st->parameters, eff, &sb, 0);
            json_decref(eff);
            if (res == NULL)
                break;
            res_sz = msize(res);
        }
        if (st->result) {
            json_decref(res);
            res = json_incref(st->result);
            res_sz = msize(res);
        }
        if (do_assign(x, t, st, st->assign, res, &sb, &assigned) == 0 &&
            (out = apply_result_path(x, t, st, st->result_path, st->result_null, res, 0)) != NULL &&
            (out2 = apply_output_path(x, t, st, out, &sb)) != NULL) {
            size_t osz = out_bound(st->result_path, st->result_null, t->in_sz, res_sz);
            if (osz > ASL_MAX_PAYLOAD && (osz = msize(out2)) > ASL_MAX_PAYLOAD)
                set_data_limit(x, t, st);
            else
                state_exit(x, t, out2, st->next, assigned, osz);
        }
        json_decref(res);
        json_decref(out);
        json_decref(out2);
        json_decref(assigned);
        break;
    }
    case ST_TASK:
    case ST_PARALLEL: {
        json_t *eff = apply_input_path(x, t, st, &sb);
        if (eff == NULL)
            break;
        if (st->parameters) {
            json_t *p = eval_tmpl(x, t, st, st->parameters, eff, &sb, 0);
            json_decref(eff);
            if (p == NULL)
                break;
            eff = p;
        }
        t->eff = eff;
        if (st->type == ST_TASK)
            task_dispatch(x, t);
        else
            parallel_begin(x, t);
        break;
    }
    case ST_MAP: {
        json_t *eff = apply_input_path(x, t, st, &sb);
        if (eff == NULL)
            break;
        t->eff = eff;
        map_begin(x, t);
        break;
    }
    case ST_CHOICE: {
        json_t *eff = apply_input_path(x, t, st, &sb);
        if (eff == NULL)
            break;
        int next = -1, which = -1;
        for (int i = 0; i < st->nchoices; i++) {
            int matched = 0;
            asl_err e = {0};
            if (asl_choice_eval(st->rules[i], eff, &sb.sc, &matched, &e) != 0) {
                raise_err(x, t, st, &e, 0);
                json_decref(eff);
                goto out;
            }
            if (matched) {
                next = st->rule_next[i];
                which = i;
                break;
            }
        }
        if (which < 0) {
            if (st->default_next < 0) {
                thr_fail(x, t, "States.NoChoiceMatched",
                         "No Matches!");
                json_decref(eff);
                break;
            }
            next = st->default_next;
        }
        json_t *assigned = NULL, *a2 = NULL;
        if (do_assign(x, t, st, st->assign, eff, &sb, &assigned) != 0 ||
            (which >= 0 && do_assign(x, t, st, st->rule_assign[which], eff, &sb, &a2) != 0)) {
            json_decref(assigned);
            json_decref(eff);
            break;
        }
        if (a2) {
            if (assigned == NULL)
                assigned = a2;
            else {
                json_object_update(assigned, a2);
                json_decref(a2);
            }
        }
        json_t *out = apply_output_path(x, t, st, eff, &sb);
        if (out)
            state_exit(x, t, out, next, assigned, t->in_sz);
        json_decref(out);
        json_decref(assigned);
        json_decref(eff);
        break;
    }
    case ST_WAIT: {
        json_t *eff = apply_input_path(x, t, st, &sb);
        if (eff == NULL)
            break;
        t->eff = eff;
        wait_begin(x, t);
        break;
    }
    case ST_SUCCEED: {
        json_t *eff = apply_input_path(x, t, st, &sb);
        if (eff == NULL)
            break;
        json_t *out = apply_output_path(x, t, st, eff, &sb);
        if (out)
            state_exit(x, t, out, -1, NULL, t->in_sz);
        json_decref(out);
        json_decref(eff);
        break;
    }
    case ST_FAIL: {
        char *err = xstrdup(st->error), *cause = xstrdup(st->cause);
        const asl_path *paths[2] = {st->error_path, st->cause_path};
        const char *fields[2] = {"ErrorPath", "CausePath"};
        char **dst[2] = {&err, &cause};
        int bad = 0;
        const asl_intrinsic *fns[2] = {st->error_fn, st->cause_fn};
        for (int i = 0; i < 2 && !bad; i++) {
            if (fns[i] != NULL) {
                json_t *v = NULL;
                asl_err ie = {0};
                if (asl_intrinsic_eval(fns[i], t->input, &sb.sc, &v, &ie) != 0 || !json_is_string(v)) {
                    char *c = runtime_cause(x, t, st, ie.cause ? ie.cause
                                                               : "The intrinsic function must return a string");
                    thr_fail(x, t, ie.error ? ie.error : "States.Runtime", c);
                    free(c);
                    bad = 1;
                } else {
                    free(*dst[i]);
                    *dst[i] = strdup(json_string_value(v));
                }
                asl_err_clear(&ie);
                json_decref(v);
                continue;
            }
            if (paths[i] == NULL)
                continue;
            json_t *v = NULL;
            if (asl_path_eval(paths[i], t->input, &sb.sc, &v) != 0 || !json_is_string(v)) {
                char *text = asl_json_text(t->input);
                char *msg = xprintf("The JSONPath '%s' specified for the field '%s' could not be found in the input "
                                    "'%s'",
                                    asl_path_text(paths[i]), fields[i], text);
                char *c = runtime_cause(x, t, st, msg);
                thr_fail(x, t, "States.Runtime", c);
                free(text);
                free(msg);
                free(c);
                bad = 1;
            } else {
                free(*dst[i]);
                *dst[i] = strdup(json_string_value(v));
            }
            json_decref(v);
        }
        x->transitions++;
        if (!bad)
            thr_fail(x, t, err, cause);
        free(err);
        free(cause);
        break;
    }
    }
out:
    scope_cleanup(&sb);
}

/* ---- JSONata states (AWS-FACTS 3.2) ------------------------------------------------------
 * Fields are templates whose "{% %}" strings are expressions over $states
 * ({input, context, result when there is one, errorOutput in a Catch}) and
 * the variables as they were when the state was entered. Every evaluation
 * error is States.QueryEvaluationError, which Retry and Catch handle. */

static json_t *jstates(asl_exec *x, thr *t, const state *st, json_t *input, json_t *result, json_t *errout,
                       int with_item)
{
    json_t *o = json_object();
    json_object_set(o, "input", input ? input : json_null());
    if (result)
        json_object_set(o, "result", result);
    if (errout)
        json_object_set(o, "errorOutput", errout);
    json_object_set_new(o, "context", build_context(x, t, st, with_item, t->token));
    return o;
}

/* Evaluate tm; on failure raise the error (catchable) and return -1. */
static int jeval(asl_exec *x, thr *t, const state *st, const asl_jtmpl *tm, json_t *states, json_t **out)
{
    asl_scope sc = {.context = NULL, .var_lookup = var_lookup, .var_ud = t, .rng = &x->rng};
    asl_err e = {0};
    *out = NULL;
    if (asl_jtmpl_eval(tm, states, &sc, out, &e) != 0) {
        if (e.error == NULL)
            asl_err_set(&e, "States.QueryEvaluationError", "evaluation failed");
        raise_err(x, t, st, &e, 1);
        return -1;
    }
    if (*out == NULL)
        *out = json_null();
    return 0;
}

/* An integer field (TimeoutSeconds, MaxConcurrency, ...). */
static int jeval_int(asl_exec *x, thr *t, const state *st, const asl_jtmpl *tm, json_t *states,
                     const char *field, int *out)
{
    json_t *v = NULL;
    if (jeval(x, t, st, tm, states, &v) != 0)
        return -1;
    if (!json_is_integer(v) && !(json_is_real(v) && json_real_value(v) == (double)(int64_t)json_real_value(v))) {
        char *text = asl_json_text(v);
        char *msg = xprintf("The %s field must evaluate to an integer, but was: %s", field, text ? text : "?");
        asl_err e = {0};
        asl_err_set_str(&e, "States.QueryEvaluationError", msg);
        raise_err(x, t, st, &e, 1);
        free(text);
        free(msg);
        json_decref(v);
        return -1;
    }
    *out = (int)json_number_value(v);
    json_decref(v);
    return 0;
}

static int jassign(asl_exec *x, thr *t, const state *st, const asl_jtmpl *tm, json_t *states, json_t **assigned)
{
    *assigned = NULL;
    if (tm == NULL)
        return 0;
    json_t *vals = NULL;
    if (jeval(x, t, st, tm, states, &vals) != 0)
        return -1;
    if (!json_is_object(vals)) {
        json_decref(vals);
        return 0;
    }
    if (t->vars == NULL)
        t->vars = json_object();
    else if (t->vars->refcount > 1) {
        json_t *cp = json_copy(t->vars);
        json_decref(t->vars);
        t->vars = cp;
    }
    json_object_update(t->vars, vals);
    *assigned = vals;
    return 0;
}

/* Output and Assign from one $states, then leave the state. The values of
 * both are computed before the variables change (Assign reads the old). */
static void jsonata_exit(asl_exec *x, thr *t, const state *st, const asl_jtmpl *out_tm, const asl_jtmpl *asg_tm,
                         json_t *states, json_t *dflt, int next)
{
    json_t *out = NULL, *assigned = NULL;
    if (out_tm && jeval(x, t, st, out_tm, states, &out) != 0)
        return;
    if (jassign(x, t, st, asg_tm, states, &assigned) != 0) {
        json_decref(out);
        return;
    }
    if (out == NULL)
        out = json_incref(dflt);
    size_t osz = msize(out);
    if (osz > ASL_MAX_PAYLOAD)
        set_data_limit(x, t, st);
    else
        state_exit(x, t, out, next, assigned, osz);
    json_decref(out);
    json_decref(assigned);
}

static void jsonata_finish(asl_exec *x, thr *t, json_t *result)
{
    const state *st = cur_state(t);
    json_t *states = jstates(x, t, st, t->input, result, NULL, 0);
    jsonata_exit(x, t, st, st->j_output, st->j_assign, states, result, st->next);
    json_decref(states);
}

static void jsonata_catch(asl_exec *x, thr *t, const catcher *c, json_t *eo)
{
    const state *st = cur_state(t);
    json_t *states = jstates(x, t, st, t->input, NULL, eo, 0);
    jsonata_exit(x, t, st, c->j_output, c->j_assign, states, eo, c->next);
    json_decref(states);
}

static void jsonata_wait_finish(asl_exec *x, thr *t)
{
    const state *st = cur_state(t);
    json_t *states = jstates(x, t, st, t->input, NULL, NULL, 0);
    jsonata_exit(x, t, st, st->j_output, st->j_assign, states, t->input, st->next);
    json_decref(states);
}

static void jsonata_map(asl_exec *x, thr *t, json_t *states)
{
    const state *st = cur_state(t);
    json_t *items = NULL;
    if (st->j_items) {
        if (jeval(x, t, st, st->j_items, states, &items) != 0)
            return;
        if (!json_is_array(items)) {
            asl_err e = {0};
            const asl_jsonata *ex = asl_jtmpl_expr(st->j_items);
            if (ex)
                asl_jsonata_err_type(ex, "Items", "array", items, &e);
            else
                asl_err_set_str(&e, "States.QueryEvaluationError", "The Items field must be an array");
            raise_err(x, t, st, &e, 1);
            json_decref(items);
            return;
        }
    } else {
        items = json_incref(t->input);
        if (!json_is_array(items)) {
            char *text = asl_json_text(items);
            char *msg = xprintf("Map state input must be an array but was: %s", text ? text : "?");
            asl_err e = {0};
            asl_err_set_str(&e, "States.QueryEvaluationError", msg);
            raise_err(x, t, st, &e, 1);
            free(text);
            free(msg);
            json_decref(items);
            return;
        }
    }
    t->max_conc = 0;
    t->tol_count = -1;
    t->tol_pct = -1;
    int v = 0;
    if (st->j_max_conc) {
        if (jeval_int(x, t, st, st->j_max_conc, states, "MaxConcurrency", &v) != 0)
            goto fail;
        t->max_conc = v;
    }
    {
        ev *e = emit(x, t, E_MapStateStarted, st);
        if (e)
            e->n = (int64_t)json_array_size(items);
    }
    if (st->j_tol_count) {
        if (jeval_int(x, t, st, st->j_tol_count, states, "ToleratedFailureCount", &v) != 0)
            goto fail;
        t->tol_count = v;
    }
    if (st->j_tol_pct) {
        if (jeval_int(x, t, st, st->j_tol_pct, states, "ToleratedFailurePercentage", &v) != 0)
            goto fail;
        t->tol_pct = v;
    }
    if (st->distributed)
        emit(x, t, E_MapRunStarted, st);
    map_spawn(x, t, items);
    return;
fail:
    json_decref(items);
}

/* The part of a Task, Parallel or Map that a retry runs again. */
static void jsonata_work(asl_exec *x, thr *t)
{
    const state *st = cur_state(t);
    json_t *states = jstates(x, t, st, t->input, NULL, NULL, 0);
    json_t *args = NULL;
    t->jt_timeout = t->jt_heartbeat = 0;
    if (st->type == ST_TASK) {
        if (st->j_timeout && jeval_int(x, t, st, st->j_timeout, states, "TimeoutSeconds", &t->jt_timeout) != 0)
            goto out;
        if (st->j_heartbeat &&
            jeval_int(x, t, st, st->j_heartbeat, states, "HeartbeatSeconds", &t->jt_heartbeat) != 0)
            goto out;
    }
    if (st->type == ST_MAP) {
        jsonata_map(x, t, states);
        goto out;
    }
    if (st->j_args) {
        if (jeval(x, t, st, st->j_args, states, &args) != 0)
            goto out;
    } else {
        args = json_incref(t->input);
    }
    json_decref(t->eff);
    t->eff = args;
    if (st->type == ST_TASK)
        task_dispatch(x, t);
    else
        parallel_begin(x, t);
out:
    json_decref(states);
}

static void jsonata_begin(asl_exec *x, thr *t)
{
    const state *st = cur_state(t);
    if (st->type == ST_TASK && st->wait_token) {
        free(t->token);
        t->token = make_token(x, x->next_id + 1);
    }
    if (st->type == ST_TASK || st->type == ST_PARALLEL || st->type == ST_MAP) {
        jsonata_work(x, t);
        return;
    }
    json_t *states = jstates(x, t, st, t->input, NULL, NULL, 0);
    switch (st->type) {
    case ST_PASS:
    case ST_SUCCEED:
        jsonata_exit(x, t, st, st->j_output, st->j_assign, states, t->input, st->type == ST_PASS ? st->next : -1);
        break;
    case ST_CHOICE: {
        int which = -1;
        for (int i = 0; i < st->nchoices; i++) {
            json_t *v = NULL;
            if (st->rule_cond[i] == NULL)
                continue;
            if (jeval(x, t, st, st->rule_cond[i], states, &v) != 0)
                goto out;
            if (!json_is_boolean(v)) {
                asl_err e = {0};
                const asl_jsonata *ex = asl_jtmpl_expr(st->rule_cond[i]);
                if (ex)
                    asl_jsonata_err_type(ex, "Condition", "boolean", v, &e);
                else
                    asl_err_set_str(&e, "States.QueryEvaluationError", "The Condition field must be a boolean");
                raise_err(x, t, st, &e, 0);
                json_decref(v);
                goto out;
            }
            int m = json_is_true(v);
            json_decref(v);
            if (m) {
                which = i;
                break;
            }
        }
        if (which < 0) {
            if (st->default_next < 0) {
                thr_fail(x, t, "States.NoChoiceMatched", "No Matches!");
                goto out;
            }
            jsonata_exit(x, t, st, st->j_output, st->j_assign, states, t->input, st->default_next);
        } else {
            const asl_jtmpl *o = st->rule_output[which] ? st->rule_output[which] : st->j_output;
            const asl_jtmpl *a = st->rule_jassign[which] ? st->rule_jassign[which] : st->j_assign;
            jsonata_exit(x, t, st, o, a, states, t->input, st->rule_next[which]);
        }
        break;
    }
    case ST_WAIT: {
        int64_t due = x->now;
        if (st->j_seconds) {
            int secs = 0;
            if (jeval_int(x, t, st, st->j_seconds, states, "Seconds", &secs) != 0)
                goto out;
            due = x->now + (int64_t)secs * 1000;
        } else if (st->j_timestamp) {
            json_t *v = NULL;
            int64_t ms = 0;
            if (jeval(x, t, st, st->j_timestamp, states, &v) != 0)
                goto out;
            if (!json_is_string(v) || asl_timestamp_parse(json_string_value(v), &ms) != 0) {
                char *text = json_is_string(v) ? strdup(json_string_value(v)) : asl_json_text(v);
                char *msg = xprintf("The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time "
                                    "format string: %s",
                                    text ? text : "?");
                asl_err e = {0};
                asl_err_set_str(&e, "States.QueryEvaluationError", msg);
                raise_err(x, t, st, &e, 0);
                free(text);
                free(msg);
                json_decref(v);
                goto out;
            }
            json_decref(v);
            due = ms;
        }
        if (due < x->now)
            due = x->now;
        t->phase = PH_WAIT;
        t->wait_id = timer_arm(x, t, W_WAIT, due);
        break;
    }
    case ST_FAIL: {
        json_t *ev_ = NULL, *cv = NULL;
        if (st->j_error && jeval(x, t, st, st->j_error, states, &ev_) != 0)
            goto out;
        if (st->j_cause && jeval(x, t, st, st->j_cause, states, &cv) != 0) {
            json_decref(ev_);
            goto out;
        }
        x->transitions++;
        thr_fail(x, t, json_is_string(ev_) ? json_string_value(ev_) : NULL,
                 json_is_string(cv) ? json_string_value(cv) : NULL);
        json_decref(ev_);
        json_decref(cv);
        break;
    }
    default:
        break;
    }
out:
    json_decref(states);
}

/* Run one thread until it waits or ends. */
static void thr_run(asl_exec *x, thr *t)
{
    if (t->ended || t->phase != PH_READY)
        return;
    const state *st = cur_state(t);
    if (st == NULL) {
        thr_fail(x, t, "States.Runtime", "Unknown state");
        return;
    }
    t->entered_ms = x->now;
    ev *e = emit(x, t, ev_entered_type(st->type), st);
    if (e) {
        e->a = json_incref(t->input);
        t->entered_id = (uint32_t)x->nev;
    }
    if (t->silent)
        t->entered_id = 0;
    state_begin(x, t);
}

/* ---- thread ends ---------------------------------------------------------------------- */
static void exec_end(asl_exec *x, int status, json_t *out, const char *err, const char *cause)
{
    x->status = status;
    x->stop_ms = x->now;
    x->output = json_incref(out);
    x->error = xstrdup(err);
    x->cause = xstrdup(cause);
}

static void exec_clear_waits(asl_exec *x)
{
    while (x->nwait > 0)
        wait_remove(x, x->waits[0].id);
}

static void thr_succeed(asl_exec *x, thr *t, json_t *out)
{
    t->ended = 1;
    t->phase = PH_DONE;
    t->out = json_incref(out);
    waits_drop_thr(x, t);
    if (t->parent == NULL) {
        ev *e = emit(x, NULL, E_ExecutionSucceeded, NULL);
        if (e) {
            e->a = json_incref(out);
            e->prev = t->last;
        }
        exec_clear_waits(x);
        exec_end(x, ASL_SUCCEEDED, out, NULL, NULL);
        return;
    }
    kid_done(x, t);
}

static void thr_fail(asl_exec *x, thr *t, const char *err, const char *cause)
{
    if (t->ended)
        return;
    t->ended = 1;
    t->failed = 1;
    t->phase = PH_DONE;
    t->err = xstrdup(err);
    t->cause = xstrdup(cause);
    waits_drop_thr(x, t);
    if (t->parent == NULL) {
        ev *e = emit(x, NULL, E_ExecutionFailed, NULL);
        if (e) {
            e->err = xstrdup(err);
            e->cause = xstrdup(cause);
            e->prev = t->last;
        }
        exec_clear_waits(x);
        exec_end(x, ASL_FAILED, NULL, err, cause);
        return;
    }
    kid_done(x, t);
}

/* Abort a thread and everything under it (StopExecution, a failed sibling). */
static void abort_thr(asl_exec *x, thr *t)
{
    if (t->ended)
        return;
    const state *st = cur_state(t);
    t->ended = 1;
    t->phase = PH_DONE;
    if (st) {
        if (t->kids) {
            abort_kids(x, t, -1);
            if (st->type == ST_MAP)
                emit(x, t, E_MapStateAborted, st);
            else if (st->type == ST_PARALLEL)
                emit(x, t, E_ParallelStateAborted, st);
        } else if (st->type == ST_TASK && t->wait_id) {
            emit(x, t, E_TaskStateAborted, st);
        } else if (st->type == ST_WAIT && t->wait_id) {
            emit(x, t, E_WaitStateAborted, st);
        }
    }
    waits_drop_thr(x, t);
}

/* ---- driving --------------------------------------------------------------------------- */
/* AWS: a Standard execution's history holds at most 25,000 events. */
#define ASL_MAX_EVENTS 25000

static void exec_terminate(asl_exec *x, int type, int status, const char *err, const char *cause);

static void run_queue(asl_exec *x)
{
    while (x->rq_len > 0 && x->status == ASL_RUNNING) {
        if (x->oom)
            break;
        if (x->nev >= ASL_MAX_EVENTS) {
            x->rq_len = 0;
            exec_terminate(x, E_ExecutionFailed, ASL_FAILED, "States.Runtime",
                           "The execution reached the maximum number of history events (25000).");
            return;
        }
        thr *t = x->runq[x->rq_head];
        x->rq_head = (x->rq_head + 1) % x->rq_cap;
        x->rq_len--;
        thr_run(x, t);
    }
    x->rq_len = 0;
    if (x->oom && x->status == ASL_RUNNING) {
        /* visibly failed, not silently short of events */
        exec_terminate(x, E_ExecutionFailed, ASL_FAILED, "States.Runtime",
                       "The local engine ran out of memory while recording this execution's "
                       "history; the execution is failed rather than left with events missing.");
        return;
    }
    /* Tasks dispatched in this step have started by now. */
    for (size_t i = 0; i < x->nunstarted; i++) {
        wait *w = wait_find(x, x->unstarted[i]);
        if (w && x->status == ASL_RUNNING)
            task_started(x, w);
    }
    x->nunstarted = 0;
}

asl_exec *asl_exec_start(const asl_machine *m, const asl_exec_info *info, json_t *input)
{
    asl_exec *x = calloc(1, sizeof *x);
    if (x == NULL)
        return NULL;
    x->m = m;
    x->arn = xstrdup(info->execution_arn ? info->execution_arn : "");
    x->name = xstrdup(info->execution_name ? info->execution_name : "");
    x->sm_arn = xstrdup(info->state_machine_arn ? info->state_machine_arn : "");
    x->sm_name = xstrdup(info->state_machine_name ? info->state_machine_name : "");
    x->role = xstrdup(info->role_arn ? info->role_arn : "");
    if (!x->arn || !x->name || !x->sm_arn || !x->sm_name || !x->role) {
        asl_exec_free(x);
        return NULL;
    }
    x->start_ms = info->start_ms;
    x->now = info->start_ms;
    x->redrive_count = info->redrive_count;
    x->rng.s = info->seed;
    x->input = json_incref(input ? input : json_object());
    x->status = ASL_RUNNING;

    ev *e = emit(x, NULL, E_ExecutionStarted, NULL);
    if (e) {
        e->a = json_incref(x->input);
        e->prev = 0;
    }
    x->root = thr_new(x, m->root, NULL, 0, x->input);
    if (x->root == NULL) {
        asl_exec_free(x);
        return NULL;
    }
    if (m->timeout_s > 0)
        timer_arm(x, x->root, W_EXEC_TIMEOUT, x->start_ms + (int64_t)m->timeout_s * 1000);
    enqueue(x, x->root);
    run_queue(x);
    return x;
}

static void exec_terminate(asl_exec *x, int type, int status, const char *err, const char *cause)
{
    abort_thr(x, x->root);
    ev *e = emit(x, NULL, type, NULL);
    if (e) {
        e->err = xstrdup(err);
        e->cause = xstrdup(cause);
    }
    exec_clear_waits(x);
    exec_end(x, status, NULL, err, cause);
}

/* Redrive: the root thread runs again from the state it failed in, with the
 * input it had there (AWS re-runs only what did not succeed). */
static int exec_redrive(asl_exec *x, const asl_input *in)
{
    thr *t = x->root;
    if (t == NULL || x->status == ASL_RUNNING || x->status == ASL_SUCCEEDED || cur_state(t) == NULL)
        return SFN_ESTATE;
    x->ncmd = 0;
    if (in->now_ms > x->now)
        x->now = in->now_ms;
    x->redrive_count++;
    ev *e = emit(x, NULL, E_ExecutionRedriven, NULL);
    if (e)
        e->n = x->redrive_count;
    x->status = ASL_RUNNING;
    json_decref(x->output);
    x->output = NULL;
    free(x->error);
    free(x->cause);
    x->error = x->cause = NULL;
    x->stop_ms = 0;
    t->ended = t->failed = 0;
    free(t->err);
    free(t->cause);
    t->err = t->cause = NULL;
    t->last = (uint32_t)x->nev;
    children_free(x, t);
    thr_reset_state(t);
    if (x->m->timeout_s > 0)
        timer_arm(x, t, W_EXEC_TIMEOUT, x->now + (int64_t)x->m->timeout_s * 1000);
    enqueue(x, t);
    run_queue(x);
    return SFN_OK;
}

int asl_exec_redrive_count(const asl_exec *x) { return x->redrive_count; }

int asl_exec_feed(asl_exec *x, const asl_input *in)
{
    if (in->kind == ASL_IN_REDRIVE)
        return exec_redrive(x, in);
    if (x->status != ASL_RUNNING)
        return SFN_ESTATE;
    x->ncmd = 0;
    if (in->now_ms > x->now)
        x->now = in->now_ms;
    if (in->kind == ASL_IN_STOP) {
        exec_terminate(x, E_ExecutionAborted, ASL_ABORTED, in->error, in->cause);
        return SFN_OK;
    }
    wait *w = wait_find(x, in->id);
    if (w == NULL)
        return SFN_ENOENT;
    thr *t = w->t;
    const state *st = cur_state(t);
    switch (in->kind) {
    case ASL_IN_TASK_SUCCEEDED:
    case ASL_IN_TASK_FAILED: {
        if (w->kind != W_TASK)
            return SFN_ENOENT;
        task_started(x, w);
        task_timers_drop(x, t);
        wait_remove(x, in->id);
        t->wait_id = 0;
        if (in->kind == ASL_IN_TASK_SUCCEEDED) {
            json_t *res = in->result ? in->result : json_null();
            /* .waitForTaskToken: the result is what SendTaskSuccess sent, unwrapped */
            json_t *wrapped = st->task_kind == TK_LAMBDA_INVOKE && !st->wait_token ? lambda_wrap(x, res) : json_incref(res);
            int type = st->task_kind == TK_LAMBDA_ARN ? E_LambdaFunctionSucceeded
                       : st->task_kind == TK_ACTIVITY ? E_ActivitySucceeded
                                                      : E_TaskSucceeded;
            size_t wsz = msize(wrapped);
            if (wsz > ASL_MAX_PAYLOAD) {
                /* recorded: the task fails with States.DataLimitExceeded
                 * naming the resource ('lambda' for lambda:invoke) */
                int ftype = st->task_kind == TK_LAMBDA_ARN ? E_LambdaFunctionFailed
                            : st->task_kind == TK_ACTIVITY ? E_ActivityFailed
                                                           : E_TaskFailed;
                char *cause = xprintf("The state/task '%s' returned a result with a size exceeding the maximum "
                                      "number of bytes service limit.",
                                      st->res_type ? st->res_type : st->resource);
                ev *f = emit(x, t, ftype, st);
                if (f) {
                    f->err = strdup("States.DataLimitExceeded");
                    f->cause = xstrdup(cause);
                }
                t->phase = PH_READY;
                state_error(x, t, "States.DataLimitExceeded", cause);
                free(cause);
                json_decref(wrapped);
                break;
            }
            ev *e = emit(x, t, type, st);
            ev_payload(e, wrapped);
            {
                t->phase = PH_READY;
                task_finish(x, t, wrapped, wsz);
            }
            json_decref(wrapped);
        } else {
            int type = st->task_kind == TK_LAMBDA_ARN ? E_LambdaFunctionFailed
                       : st->task_kind == TK_ACTIVITY ? E_ActivityFailed
                                                      : E_TaskFailed;
            ev *e = emit(x, t, type, st);
            if (e) {
                e->err = xstrdup(in->error);
                e->cause = xstrdup(in->cause);
            }
            t->phase = PH_READY;
            state_error(x, t, in->error ? in->error : "States.TaskFailed", in->cause);
        }
        break;
    }
    case ASL_IN_HEARTBEAT: {
        if (w->kind != W_TASK)
            return SFN_ENOENT;
        if (t->hb_timer) {
            wait_remove(x, t->hb_timer);
            t->hb_timer = timer_arm(x, t, W_HEARTBEAT, x->now + (int64_t)w->cmd.heartbeat_s * 1000);
        }
        break;
    }
    case ASL_IN_TIMER: {
        int kind = w->kind;
        wait_remove(x, in->id);
        switch (kind) {
        case W_WAIT:
            t->wait_id = 0;
            wait_finish(x, t);
            break;
        case W_BACKOFF:
            t->wait_id = 0;
            t->phase = PH_READY;
            if (st->jsonata)
                jsonata_work(x, t);
            else if (st->type == ST_TASK)
                task_dispatch(x, t);
            else if (st->type == ST_PARALLEL)
                parallel_begin(x, t);
            else
                map_begin(x, t);
            break;
        case W_TIMEOUT:
        case W_HEARTBEAT: {
            wait *tw = wait_find(x, t->wait_id);
            if (tw)
                task_started(x, tw);
            const char *err = kind == W_TIMEOUT ? "States.Timeout" : "States.HeartbeatTimeout";
            int type = st->task_kind == TK_LAMBDA_ARN ? E_LambdaFunctionTimedOut
                       : st->task_kind == TK_ACTIVITY ? E_ActivityTimedOut
                                                      : E_TaskTimedOut;
            ev *e = emit(x, t, type, st);
            if (e)
                e->err = strdup(err);
            t->to_timer = t->hb_timer = 0;
            task_timers_drop(x, t);
            if (t->wait_id)
                wait_remove(x, t->wait_id);
            t->wait_id = 0;
            t->phase = PH_READY;
            state_error(x, t, err, NULL);
            break;
        }
        case W_EXEC_TIMEOUT:
            exec_terminate(x, E_ExecutionTimedOut, ASL_TIMED_OUT, "States.Timeout", NULL);
            return SFN_OK;
        default:
            return SFN_ENOENT;
        }
        break;
    }
    default:
        return SFN_EINVAL;
    }
    run_queue(x);
    return SFN_OK;
}

size_t asl_exec_cmds(const asl_exec *x, const asl_cmd **cmds)
{
    *cmds = x->cmds;
    return x->status == ASL_RUNNING ? x->ncmd : 0;
}

size_t asl_exec_pending(asl_exec *x, const asl_cmd **cmds)
{
    if (grow((void **)&x->pend, &x->capend, x->nwait + 1, sizeof *x->pend) != 0) {
        *cmds = NULL;
        return 0;
    }
    for (size_t i = 0; i < x->nwait; i++)
        x->pend[i] = x->waits[i].cmd;
    *cmds = x->pend;
    return x->nwait;
}

void asl_exec_free(asl_exec *x)
{
    if (x == NULL)
        return;
    exec_clear_waits(x);
    asl_jbuf_cleanup(&x->dd_text);
    json_decref(x->ctx_exec);
    json_decref(x->ctx_sm);
    for (size_t i = 0; i < x->nall; i++)
        thr_free(x->all[i]);
    free(x->all);
    for (size_t i = 0; i < x->nev; i++) {
        json_decref(x->evs[i].a);
        json_decref(x->evs[i].assigned);
        free(x->evs[i].err);
        free(x->evs[i].cause);
        free(x->evs[i].loc);
    }
    free(x->evs);
    free(x->waits);
    free(x->cmds);
    free(x->pend);
    free(x->runq);
    free(x->unstarted);
    json_decref(x->input);
    json_decref(x->output);
    free(x->error);
    free(x->cause);
    free(x->arn);
    free(x->name);
    free(x->sm_arn);
    free(x->sm_name);
    free(x->role);
    free(x);
}

const char *asl_status_name(int status)
{
    static const char *const n[] = {"RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"};
    return status >= 0 && status <= ASL_ABORTED ? n[status] : "UNKNOWN";
}

int asl_exec_status(const asl_exec *x) { return x->status; }
json_t *asl_exec_output_get(const asl_exec *x) { return x->output; }
const char *asl_exec_error(const asl_exec *x) { return x->error; }
const char *asl_exec_cause(const asl_exec *x) { return x->cause; }
int64_t asl_exec_stop_ms(const asl_exec *x) { return x->stop_ms; }
uint64_t asl_exec_transitions(const asl_exec *x) { return x->transitions; }
size_t asl_exec_event_count(const asl_exec *x) { return x->nev; }

/* ---- the log form's @<id> tokens ---------------------------------------- */
/* End of the string token at p[0] == '"' within [p, end): just past its
 * closing quote, or NULL. */
static const char *str_end(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

int asl_event_log_payload(const char *line, size_t len, const char **tok, size_t *toklen)
{
    const char *p = line, *end = line + len;
    while (p < end) {
        if (*p != '"') {
            p++;
            continue;
        }
        const char *e = str_end(p, end);
        if (e == NULL)
            return -1;
        size_t kl = (size_t)(e - p);
        if (e < end && *e == ':' && e + 1 < end && e[1] == '"' &&
            ((kl == 7 && memcmp(p, "\"input\"", 7) == 0) ||
             (kl == 8 && memcmp(p, "\"output\"", 8) == 0))) {
            const char *ve = str_end(e + 1, end);
            if (ve == NULL)
                return -1;
            *tok = e + 1;
            *toklen = (size_t)(ve - (e + 1));
            return 0;
        }
        p = e;
    }
    return -1;
}

int asl_event_log_expand(const char *line, size_t len,
                         int (*lookup)(void *ctx, int64_t id, const char **tok, size_t *toklen),
                         void *ctx, asl_jbuf *out)
{
    const char *p = line, *end = line + len, *copied = line;
    while (p < end) {
        if (*p == '"') {
            const char *e = str_end(p, end);
            if (e == NULL)
                break;
            p = e;
            continue;
        }
        if (*p != '@') {
            p++;
            continue;
        }
        /* @<digits>: outside every string, so ours */
        const char *d = p + 1;
        int64_t id = 0;
        while (d < end && *d >= '0' && *d <= '9' && id < ((int64_t)1 << 40))
            id = id * 10 + (*d++ - '0');
        if (d == p + 1)
            return SFN_EINVAL;
        const char *tok;
        size_t tl;
        if (lookup(ctx, id, &tok, &tl) != 0)
            return SFN_ENOENT;
        asl_jbuf_raw(out, copied, (size_t)(p - copied));
        asl_jbuf_raw(out, tok, tl);
        copied = p = d;
    }
    asl_jbuf_raw(out, copied, (size_t)(end - copied));
    return out->oom ? SFN_ENOMEM : SFN_OK;
}

const char *asl_exec_event_type(const asl_exec *x, size_t i)
{
    return i < x->nev ? event_names[x->evs[i].type] : NULL;
}

/* ---- history events as text ---------------------------------------------------------------
 * One writer for the GetExecutionHistory shape, straight from the event
 * structs: the runner stores this text and the API returns it; the json_t
 * form (asl_exec_event_json) is this text parsed. Keys in AWS's order. */

/* "key":"<payload as JSON text, escaped>","keyDetails":{"truncated":false} */
/* For the log form (asl_exec_event_write_log): the execution's last
 * payload written in full, which a later equal payload refers to. */
typedef struct dd_ref {
    asl_jbuf *text;   /* its JSON text, unescaped */
    size_t *id;       /* its event id (0: none yet) */
    size_t this_id;   /* the event being written */
    const json_t **val; /* its value, when the events are written in one go
                         * (asl_exec_events_write_log: no step in between, so
                         * the same value has the same text); else NULL */
} dd_ref;

static void w_payload(asl_jbuf *b, const char *key, const char *detkey, const json_t *v,
                      int include_data, dd_ref *dd)
{
    if (!include_data)
        return;
    /* One state's input is often the last event's too (ExecutionStarted,
     * TaskStateEntered and TaskScheduled; TaskStateExited and the next
     * TaskStateEntered). The log form refers to the execution's last full
     * payload; the API form reuses the escaped text of the thread's last
     * one. */
    static __thread asl_jbuf scratch, last, last_esc;
    asl_jbuf_c(b, ',');
    asl_jbuf_str(b, key, strlen(key));
    asl_jbuf_c(b, ':');
    if (dd && dd->val && v && *dd->val == v && *dd->id) {
        /* the last full payload's own value: its text, without writing it */
        asl_jbuf_c(b, '@');
        asl_jbuf_int(b, (int64_t)*dd->id);
        goto details;
    }
    asl_jbuf_reset(&scratch);
    asl_jbuf_value(&scratch, v ? v : json_null());
    const char *src = scratch.p ? scratch.p : "null";
    size_t n = scratch.p ? scratch.n : 4;
    asl_jbuf *mem = dd ? dd->text : &last;
    int same = mem->p && mem->n == n && !mem->oom && memcmp(mem->p, src, n) == 0;
    if (dd && same && *dd->id) {
        /* "@<id>": never JSON, so never mistaken for a payload, which is
         * always a string */
        asl_jbuf_c(b, '@');
        asl_jbuf_int(b, (int64_t)*dd->id);
        if (dd->val)
            *dd->val = v;
    } else if (!dd && same && !last_esc.oom) {
        asl_jbuf_raw(b, last_esc.p, last_esc.n);
    } else {
        size_t at = b->n;
        asl_jbuf_str(b, src, n);
        asl_jbuf_reset(mem);
        asl_jbuf_raw(mem, src, n);
        if (dd) {
            *dd->id = dd->this_id;
            if (dd->val)
                *dd->val = scratch.oom || mem->oom ? NULL : v;
        } else {
            asl_jbuf_reset(&last_esc);
            if (!b->oom)
                asl_jbuf_raw(&last_esc, b->p + at, b->n - at);
        }
    }
details:
    asl_jbuf_c(b, ',');
    asl_jbuf_str(b, detkey, strlen(detkey));
    asl_jbuf_raw(b, ":{\"truncated\":false}", 20);
}

static void w_kv(asl_jbuf *b, const char *key, const char *val)
{
    asl_jbuf_c(b, ',');
    asl_jbuf_str(b, key, strlen(key));
    asl_jbuf_c(b, ':');
    asl_jbuf_str(b, val, strlen(val));
}

static void w_ki(asl_jbuf *b, const char *key, int64_t v)
{
    asl_jbuf_c(b, ',');
    asl_jbuf_str(b, key, strlen(key));
    asl_jbuf_c(b, ':');
    asl_jbuf_int(b, v);
}

static void w_err(asl_jbuf *b, const ev *e)
{
    if (e->cause)
        w_kv(b, "cause", e->cause);
    if (e->err)
        w_kv(b, "error", e->err);
}

static const char *region_of(const char *arn, char *buf, size_t len)
{
    /* arn:aws:states:REGION:... */
    const char *p = arn;
    for (int i = 0; i < 3 && p; i++) {
        p = strchr(p, ':');
        if (p)
            p++;
    }
    if (p == NULL)
        return "us-east-1";
    const char *q = strchr(p, ':');
    size_t n = q ? (size_t)(q - p) : strlen(p);
    if (n == 0 || n >= len)
        return "us-east-1";
    memcpy(buf, p, n);
    buf[n] = 0;
    return buf;
}

static const char *res_name(const state *st)
{
    return st->res_name ? st->res_name : st->resource;
}

static const char *res_type(const state *st)
{
    return st->res_type ? st->res_type : "";
}

static int event_write(const asl_exec *x, size_t i, int include_data, asl_jbuf *b, dd_ref *dd);

int asl_exec_event_write(const asl_exec *x, size_t i, int include_data, asl_jbuf *b)
{
    return event_write(x, i, include_data, b, NULL);
}

int asl_exec_event_write_log(asl_exec *x, size_t i, asl_jbuf *b)
{
    x->dd_is_output = 0;
    dd_ref dd = {.text = &x->dd_text, .id = &x->dd_id, .this_id = i + 1};
    return event_write(x, i, 1, b, &dd);
}

int asl_exec_events_write_log(asl_exec *x, size_t from, size_t to, asl_jbuf *b)
{
    /* The value is known only for what this call writes: between two
     * calls a step may have built a new value where an old one was freed. */
    x->dd_val = NULL;
    x->dd_is_output = 0;
    for (size_t i = from; i < to; i++) {
        if (i > from)
            asl_jbuf_c(b, '\n');
        dd_ref dd = {.text = &x->dd_text, .id = &x->dd_id, .this_id = i + 1, .val = &x->dd_val};
        int rc = event_write(x, i, 1, b, &dd);
        if (rc != SFN_OK) {
            x->dd_val = NULL;
            return rc;
        }
    }
    /* dd_val is the last payload's value only if that payload went through
     * the memo (written, or referred to); the output must be the last
     * event's payload, not merely an earlier one */
    x->dd_is_output = x->dd_val != NULL && x->output != NULL && x->dd_val == x->output &&
                      to > from && to == x->nev && !x->dd_text.oom && x->dd_text.p != NULL &&
                      x->evs[to - 1].a == x->output;
    x->dd_val = NULL;
    return SFN_OK;
}

int asl_exec_output_log_text(const asl_exec *x, const char **p, size_t *n)
{
    if (!x->dd_is_output)
        return -1;
    *p = x->dd_text.p;
    *n = x->dd_text.n;
    return 0;
}

static int event_write(const asl_exec *x, size_t i, int include_data, asl_jbuf *b, dd_ref *dd)
{
    if (i >= x->nev)
        return SFN_ENOENT;
    const ev *e = &x->evs[i];
    const state *st = e->st;
    asl_jbuf_raw(b, "{\"id\":", 6);
    asl_jbuf_int(b, (int64_t)i + 1);
    asl_jbuf_raw(b, ",\"previousEventId\":", 19);
    asl_jbuf_int(b, e->prev);
    asl_jbuf_raw(b, ",\"timestamp\":", 13);
    asl_jbuf_ms_seconds(b, e->ts);
    w_kv(b, "type", event_names[e->type]);
    /* the details object, under its key; none for a few types */
    const char *dkey = NULL;
    switch (e->type) {
    case E_ExecutionStarted: dkey = "executionStartedEventDetails"; break;
    case E_ExecutionSucceeded: dkey = "executionSucceededEventDetails"; break;
    case E_ExecutionFailed: dkey = "executionFailedEventDetails"; break;
    case E_ExecutionAborted: dkey = "executionAbortedEventDetails"; break;
    case E_ExecutionTimedOut: dkey = "executionTimedOutEventDetails"; break;
    case E_ExecutionRedriven: dkey = "executionRedrivenEventDetails"; break;
    case E_TaskStateEntered: case E_PassStateEntered: case E_ChoiceStateEntered: case E_WaitStateEntered:
    case E_SucceedStateEntered: case E_FailStateEntered: case E_ParallelStateEntered: case E_MapStateEntered:
        dkey = "stateEnteredEventDetails";
        break;
    case E_TaskStateExited: case E_PassStateExited: case E_ChoiceStateExited: case E_WaitStateExited:
    case E_SucceedStateExited: case E_ParallelStateExited: case E_MapStateExited:
        dkey = "stateExitedEventDetails";
        break;
    case E_TaskScheduled: dkey = "taskScheduledEventDetails"; break;
    case E_TaskStarted: dkey = "taskStartedEventDetails"; break;
    case E_TaskSucceeded: dkey = "taskSucceededEventDetails"; break;
    case E_TaskFailed: dkey = "taskFailedEventDetails"; break;
    case E_TaskTimedOut: dkey = "taskTimedOutEventDetails"; break;
    case E_LambdaFunctionScheduled: dkey = "lambdaFunctionScheduledEventDetails"; break;
    case E_ActivityScheduled: dkey = "activityScheduledEventDetails"; break;
    case E_LambdaFunctionSucceeded: dkey = "lambdaFunctionSucceededEventDetails"; break;
    case E_ActivitySucceeded: dkey = "activitySucceededEventDetails"; break;
    case E_LambdaFunctionFailed: dkey = "lambdaFunctionFailedEventDetails"; break;
    case E_LambdaFunctionTimedOut: dkey = "lambdaFunctionTimedOutEventDetails"; break;
    case E_ActivityFailed: dkey = "activityFailedEventDetails"; break;
    case E_ActivityTimedOut: dkey = "activityTimedOutEventDetails"; break;
    case E_MapStateStarted: dkey = "mapStateStartedEventDetails"; break;
    case E_MapIterationStarted: dkey = "mapIterationStartedEventDetails"; break;
    case E_MapIterationSucceeded: dkey = "mapIterationSucceededEventDetails"; break;
    case E_MapIterationFailed: dkey = "mapIterationFailedEventDetails"; break;
    case E_MapIterationAborted: dkey = "mapIterationAbortedEventDetails"; break;
    case E_MapRunStarted: dkey = "mapRunStartedEventDetails"; break;
    case E_MapRunFailed: dkey = "mapRunFailedEventDetails"; break;
    case E_EvaluationFailed: dkey = "evaluationFailedEventDetails"; break;
    default: break;
    }
    if (dkey == NULL) {
        asl_jbuf_c(b, '}');
        return b->oom ? SFN_ENOMEM : SFN_OK;
    }
    asl_jbuf_c(b, ',');
    asl_jbuf_str(b, dkey, strlen(dkey));
    asl_jbuf_c(b, ':');
    /* Every member is written with a leading ','; the first one's becomes
     * the '{' (no '{' written now, nothing to move afterwards). */
    size_t open = b->n;
    switch (e->type) {
    case E_ExecutionStarted:
        w_payload(b, "input", "inputDetails", e->a, include_data, dd);
        w_kv(b, "roleArn", x->role);
        break;
    case E_ExecutionSucceeded:
        w_payload(b, "output", "outputDetails", e->a, include_data, dd);
        break;
    case E_ExecutionFailed: case E_ExecutionAborted: case E_ExecutionTimedOut: case E_LambdaFunctionFailed:
    case E_LambdaFunctionTimedOut: case E_ActivityFailed: case E_ActivityTimedOut: case E_MapRunFailed:
        w_err(b, e);
        break;
    case E_ExecutionRedriven:
        w_ki(b, "redriveCount", e->n);
        break;
    case E_EvaluationFailed:
        w_err(b, e);
        if (e->loc)
            w_kv(b, "location", e->loc);
        w_kv(b, "state", st ? st->name : "");
        break;
    case E_TaskStateEntered: case E_PassStateEntered: case E_ChoiceStateEntered: case E_WaitStateEntered:
    case E_SucceedStateEntered: case E_FailStateEntered: case E_ParallelStateEntered: case E_MapStateEntered:
        w_kv(b, "name", st->name);
        w_payload(b, "input", "inputDetails", e->a, include_data, dd);
        break;
    case E_TaskStateExited: case E_PassStateExited: case E_ChoiceStateExited: case E_WaitStateExited:
    case E_SucceedStateExited: case E_ParallelStateExited: case E_MapStateExited:
        w_kv(b, "name", st->name);
        w_payload(b, "output", "outputDetails", e->a, include_data, dd);
        if (e->assigned && include_data) {
            static __thread asl_jbuf scratch;
            asl_jbuf_raw(b, ",\"assignedVariables\":{", 22);
            const char *k;
            json_t *v;
            int first = 1;
            json_object_foreach(e->assigned, k, v) {
                if (!first)
                    asl_jbuf_c(b, ',');
                first = 0;
                asl_jbuf_reset(&scratch);
                asl_jbuf_value(&scratch, v);
                asl_jbuf_str(b, k, strlen(k));
                asl_jbuf_c(b, ':');
                asl_jbuf_str(b, scratch.p ? scratch.p : "null", scratch.p ? scratch.n : 4);
            }
            asl_jbuf_raw(b, "},\"assignedVariablesDetails\":{\"truncated\":false}", 48);
        }
        break;
    case E_TaskScheduled: {
        static __thread asl_jbuf scratch;
        char rb[64];
        asl_jbuf_reset(&scratch);
        asl_jbuf_value(&scratch, e->a);
        asl_jbuf_raw(b, ",\"parameters\":", 14);
        asl_jbuf_str(b, scratch.p ? scratch.p : "{}", scratch.p ? scratch.n : 2);
        w_kv(b, "region", region_of(x->sm_arn, rb, sizeof rb));
        w_kv(b, "resource", res_name(st));
        w_kv(b, "resourceType", res_type(st));
        if (e->timeout_s > 0)
            w_ki(b, "timeoutInSeconds", e->timeout_s);
        if (e->heartbeat_s > 0)
            w_ki(b, "heartbeatInSeconds", e->heartbeat_s);
        break;
    }
    case E_TaskStarted:
        w_kv(b, "resource", res_name(st));
        w_kv(b, "resourceType", res_type(st));
        break;
    case E_TaskSucceeded:
        w_payload(b, "output", "outputDetails", e->a, include_data, dd);
        w_kv(b, "resource", res_name(st));
        w_kv(b, "resourceType", res_type(st));
        break;
    case E_TaskFailed:
    case E_TaskTimedOut:
        w_err(b, e);
        w_kv(b, "resource", res_name(st));
        w_kv(b, "resourceType", res_type(st));
        break;
    case E_LambdaFunctionScheduled:
    case E_ActivityScheduled:
        w_payload(b, "input", "inputDetails", e->a, include_data, dd);
        w_kv(b, "resource", st->resource);
        if (e->timeout_s > 0)
            w_ki(b, "timeoutInSeconds", e->timeout_s);
        if (e->heartbeat_s > 0 && e->type == E_ActivityScheduled)
            w_ki(b, "heartbeatInSeconds", e->heartbeat_s);
        break;
    case E_LambdaFunctionSucceeded:
    case E_ActivitySucceeded:
        w_payload(b, "output", "outputDetails", e->a, include_data, dd);
        break;
    case E_MapStateStarted:
        w_ki(b, "length", e->n);
        break;
    case E_MapIterationStarted: case E_MapIterationSucceeded: case E_MapIterationFailed:
    case E_MapIterationAborted:
        w_ki(b, "index", e->n);
        w_kv(b, "name", st->name);
        break;
    case E_MapRunStarted: {
        char *arn = xprintf("%s/%s:%s", x->arn, st->label ? st->label : st->name, "map-run");
        w_kv(b, "mapRunArn", arn ? arn : "");
        free(arn);
        break;
    }
    default:
        break;
    }
    if (b->n > open && b->p[open] == ',')
        b->p[open] = '{';
    else if (!b->oom)
        asl_jbuf_c(b, '{');
    asl_jbuf_raw(b, "}}", 2);
    return b->oom ? SFN_ENOMEM : SFN_OK;
}

json_t *asl_exec_event_json(const asl_exec *x, size_t i, int include_data)
{
    asl_jbuf b = {0};
    if (asl_exec_event_write(x, i, include_data, &b) != SFN_OK) {
        asl_jbuf_cleanup(&b);
        return NULL;
    }
    char err[128];
    json_t *j = asl_json_parse(b.p, b.n, err, sizeof err);
    asl_jbuf_cleanup(&b);
    return j;
}
