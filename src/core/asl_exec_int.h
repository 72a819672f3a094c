/*
 * asl_exec_int.h - the running execution's internals, shared by the files
 * that run it: asl_exec.c (start, feed, the walk from state to state),
 * asl_par.c (Parallel and Map), asl_hist.c (history events and their text),
 * and the two query languages, asl_ql_path.c (JSONPath) and
 * asl_ql_jsonata.c (JSONata). Included by those files only: nothing here is
 * API, and the rest of the core (compile, paths, JSONata) never sees it.
 */
#ifndef ASL_EXEC_INT_H
#define ASL_EXEC_INT_H

#include "asl_machine_int.h"

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
    X(WaitStateAborted) X(ExecutionRedriven) X(EvaluationFailed) X(ActivityScheduleFailed)

enum {
#define X(n) E_##n,
    EVENT_TYPES(X)
#undef X
    E__COUNT
};

/* One history event, small: its AWS shape is written from it on demand
 * (asl_hist.c). */
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
    int mrun;          /* a distributed Map: 1 + its index in x->mruns, 0: none */
    /* scope */
    json_t *vars;
    int map_idx;       /* iteration index, -1 if none */
    json_t *map_val;
    /* end */
    int fail_event;    /* Map/ParallelStateFailed, emitted unless retried */
    char *token;       /* .waitForTaskToken: the current task token */
    int jt_timeout, jt_heartbeat; /* JSONata TimeoutSeconds/HeartbeatSeconds */
    int probe;         /* the state under TestState (x->probe): asl_test.c */
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
    int submitted;     /* TaskSubmitted emitted */
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
    int stopping;       /* StopExecution is ending it: AWS records no
                           WaitStateAborted then */
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
    uint64_t timed_out[16]; /* the last tasks that timed out (asl_exec_task_timed_out) */
    unsigned ntimed_out;
    struct asl_probe *probe; /* TestState: asl_test.c; NULL for an execution */
    asl_map_run *mruns; size_t nmrun, capmrun; /* asl_maprun.c */
};

/* ---- small utilities ------------------------------------------------------ */
/* Make room for need elements of elem bytes. Returns 0, or -1 (no memory:
 * *p and *cap unchanged). */
static inline int asl__grow(void **p, size_t *cap, size_t need, size_t elem)
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

static inline char *asl__xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* malloc'd formatted text, or NULL (asl_exec.c). */
char *asl__xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* v as an error message shows it: a string as it is, anything else as JSON
 * text; malloc'd, NULL when out of memory (asl_exec.c). */
char *asl__value_text(const json_t *v);
/* Whether v serializes to more than ASL_MAX_PAYLOAD bytes. */
int asl__too_big(const json_t *v);
/* Serialized size of v, capped just above the payload limit. */
size_t asl__msize(const json_t *v);
/* An upper bound of the size of ResultPath's output, so that the document is
 * walked only when it might be over the limit (AWS-FACTS 3.8). */
static inline size_t asl__out_bound(const asl_path *rp, int rnull, size_t in_sz, size_t res_sz)
{
    if (rnull)
        return in_sz;
    if (rp == NULL)
        return res_sz;
    return in_sz + res_sz + 2 * strlen(asl_path_text(rp)) + 16;
}

static inline const state *asl__cur_state(const thr *t)
{
    return (t->cur >= 0 && t->cur < t->p->n) ? &t->p->s[t->cur] : NULL;
}

/* ---- history (asl_hist.c) --------------------------------------------------
 * asl__emit appends an event of thread t (NULL: the execution's own) and
 * returns it to be filled in, or NULL when t is silent or no memory is left
 * (then x->oom is set and the execution fails at the end of the step). */
ev *asl__emit(asl_exec *x, thr *t, int type, const state *st);
static inline void asl__ev_payload(ev *e, json_t *v)
{
    if (e)
        e->a = json_incref(v);
}

/* The StateEntered / StateExited event type of a state type. */
static inline int asl__ev_entered_type(int st_type)
{
    switch (st_type) {
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

static inline int asl__ev_exited_type(int st_type)
{
    switch (st_type) {
    case ST_TASK: return E_TaskStateExited;
    case ST_PASS: return E_PassStateExited;
    case ST_CHOICE: return E_ChoiceStateExited;
    case ST_WAIT: return E_WaitStateExited;
    case ST_SUCCEED: return E_SucceedStateExited;
    case ST_PARALLEL: return E_ParallelStateExited;
    default: return E_MapStateExited;
    }
}

/* Free every event (asl_exec_free). */
void asl__events_free(asl_exec *x);

/* ---- the walk (asl_exec.c) ------------------------------------------------ */
void asl__enqueue(asl_exec *x, thr *t);
/* A thread for prog p (NULL: none) under parent. Returns: NULL when out of
 * memory. input is borrowed. */
thr *asl__thr_new(asl_exec *x, const prog *p, thr *parent, int slot, json_t *input);
void asl__thr_fail(asl_exec *x, thr *t, const char *err, const char *cause);
void asl__abort_thr(asl_exec *x, thr *t);
/* The current state failed: Retry, else Catch, else the thread fails. */
void asl__state_error(asl_exec *x, thr *t, const char *err, const char *cause);
/* Leave the current state with out (borrowed) for next (-1: the end). */
void asl__state_exit(asl_exec *x, thr *t, json_t *out, int next, json_t *assigned, size_t out_sz);
/* A Task's, Parallel's or Map's result arrived (borrowed). */
void asl__state_finish(asl_exec *x, thr *t, json_t *result, size_t res_sz);
/* Fail with States.DataLimitExceeded for the state's output. */
void asl__set_data_limit(asl_exec *x, thr *t, const state *st);
/* "An error occurred while executing the state '...' ...": malloc'd. */
char *asl__runtime_cause(thr *t, const state *st, const char *msg);
/* Fail the thread with States.Runtime and the cause made of msg. */
void asl__runtime_fail(asl_exec *x, thr *t, const state *st, const char *msg);
/* Raise an ASL error coming out of an evaluation: to Retry/Catch when
 * catchable, else the thread fails. e is cleared. */
void asl__raise_err(asl_exec *x, thr *t, const state *st, asl_err *e, int catchable);
/* The variables a thread sees ($name), for asl_scope.var_lookup. */
json_t *asl__var_lookup(void *ud, const char *name);
/* Assign: publish the object vals (borrowed) into the thread's scope. */
void asl__vars_update(thr *t, json_t *vals);
/* The context object ($$) for a state of thread t. Returns: new. */
json_t *asl__build_context(asl_exec *x, thr *t, const state *st, int with_item, const char *token);

/* ---- Parallel and Map (asl_par.c) ----------------------------------------- */
struct ql_env;
void asl__parallel_begin(asl_exec *x, thr *t);
/* An attempt of a Map: its items and limits from env, then its iterations. */
void asl__map_begin(struct ql_env *env);
/* A child thread ended (succeeded or failed). */
void asl__kid_done(asl_exec *x, thr *k);
/* Abort every started child but the one at except (-1: none). */
void asl__abort_kids(asl_exec *x, thr *t, int except);
void asl__children_free(thr *t);
void asl__children_more(asl_exec *x, thr *t);
/* asl_maprun.c: a distributed Map's map run record, kept as its iterations
 * start and end (t: the Map's thread; no-ops when it has none) */
void asl__maprun_begin(asl_exec *x, thr *t, int64_t started_id, int total);
void asl__maprun_kid(asl_exec *x, thr *t, int what); /* MR_* below */
void asl__maprun_end(asl_exec *x, thr *t, int status);
int asl__maprun_update(asl_exec *x, const asl_input *in);
enum { MR_STARTED = 1, MR_SUCCEEDED, MR_FAILED, MR_ABORTED };

/* ---- the query language -----------------------------------------------------
 * A state's fields are JSONPath (InputPath, Parameters, ResultSelector,
 * ResultPath, OutputPath, Assign and the *Path fields) or JSONata ("{% %}"
 * templates over $states: Arguments, Output, Assign and the rest). The state
 * types are run once, in asl_exec.c and asl_par.c; what the two languages
 * compute differently is behind this one table of operations (asl_ql_path.c,
 * asl_ql_jsonata.c). An operation that fails has raised its failure already
 * (the thread failed, or the error went to Retry/Catch) and returns -1 or
 * NULL: the caller only stops.
 *
 * A ql_env is what the fields see at one moment (the state's entry, an
 * attempt, a result, a Catch, one Map item): the context object ($$) or
 * $states is made the first time a field needs it.                         */
typedef struct ql_env {
    asl_exec *x;
    thr *t;
    const state *st;
    const char *token;  /* JSONPath: $$.Task.Token, on entering the state */
    json_t *result;     /* JSONata: $states.result (borrowed), or NULL */
    json_t *errout;     /* JSONata: $states.errorOutput (borrowed), or NULL */
    int with_item;      /* $$.Map.Item: a Map's ItemSelector */
    int scope_ready;    /* JSONPath: sc made */
    asl_scope sc;       /* JSONPath: $$ and the variables */
    json_t *ctx;        /* JSONPath: $$ (owned), or NULL */
    json_t *states;     /* JSONata: $states (owned), or NULL */
} ql_env;

static inline void asl__ql_env_init(ql_env *e, asl_exec *x, thr *t, const char *token, json_t *result,
                                    json_t *errout, int with_item)
{
    e->x = x;
    e->t = t;
    e->st = asl__cur_state(t);
    e->token = token;
    e->result = result;
    e->errout = errout;
    e->with_item = with_item;
    e->scope_ready = 0; /* sc is set with it */
    e->ctx = NULL;
    e->states = NULL;
}

static inline void asl__ql_env_cleanup(ql_env *e)
{
    json_decref(e->ctx);
    json_decref(e->states);
}

typedef struct asl_ql {
    /* Task, Parallel: Parameters are evaluated once, on entering the state
     * (JSONPath); Arguments at every attempt, a retry's included (JSONata). */
    int args_each_attempt;
    /* The state's input as its fields see it: InputPath; JSONata: the input.
     * Returns: new, or NULL. */
    json_t *(*input)(ql_env *e);
    /* Task, Parallel: what it is given: Parameters over eff; JSONata: a
     * Task's TimeoutSeconds and HeartbeatSeconds, then Arguments. Returns:
     * new, or NULL. */
    json_t *(*args)(ql_env *e, json_t *eff);
    /* Task: this attempt's timeout and heartbeat in seconds (0: none), once
     * its task has an id. Returns 0 or -1. */
    int (*task_limits)(ql_env *e, int *timeout, int *heartbeat);
    /* Pass: its result from eff (Parameters, Result; OUT: *res new, *res_sz
     * its size bound); JSONata has none (*res NULL). Returns 0 or -1. */
    int (*pass_result)(ql_env *e, json_t *eff, json_t **res, size_t *res_sz);
    /* Choice: the first rule that matches eff (OUT: *which, -1 for none).
     * Returns 0 or -1. */
    int (*choose)(ql_env *e, json_t *eff, int *which);
    /* Wait: when it ends (OUT: *due, ms). Returns 0 or -1. */
    int (*wait_due)(ql_env *e, int64_t *due);
    /* Fail: its Error and Cause (OUT: malloc'd, or NULL). Returns 0 or -1. */
    int (*fail_fields)(ql_env *e, char **err, char **cause);
    /* Map: its items (Returns: new, or NULL); MaxConcurrency (phase 0,
     * before MapStateStarted) and the tolerated failures (phase 1) into the
     * thread (Returns 0 or -1); whether it has an ItemSelector; one
     * iteration's input, env made with_item (Returns: new, or NULL). */
    json_t *(*map_items)(ql_env *e);
    int (*map_limits)(ql_env *e, int phase);
    int (*has_selector)(const state *st);
    json_t *(*item_input)(ql_env *e);
    /* Leaving the state: with a result (Task, Parallel, Map; a Pass's, NULL
     * in JSONata); without one, eff passing on (Choice with the rule that
     * matched or -1, Wait, Succeed); or through Catch c with the error
     * output eo. */
    void (*leave_result)(ql_env *e, json_t *result, size_t res_sz);
    void (*leave)(ql_env *e, json_t *eff, int rule, int next);
    void (*leave_catch)(ql_env *e, const catcher *c, json_t *eo);
} asl_ql;

/* ---- TestState (asl_test.c) ------------------------------------------------
 * asl_test_start runs one state in an execution of its own: the thread that
 * runs it has t->probe set and x->probe says what TestState changes. The
 * walk is the one above; these are its only departures:
 *  - the fields see the probe's context object ($$, $states.context);
 *  - a runtime failure's cause is the bare message (no event ids);
 *  - leaving the state ends the execution, with the output and the next
 *    state recorded (asl__state_exit);
 *  - a Retry that would run the attempt again stops it (RETRIABLE), its
 *    retrier having retrierRetryCount attempts behind it;
 *  - a mock answers the task, its result being the integration's own
 *    (no Lambda response wrapper), and stands for a Map's or a Parallel's
 *    children (asl__probe_map, asl__probe_parallel);
 *  - each step of the data flow is noted for the inspection data. */
enum probe_seen {
    PS_AFTER_INPUT_PATH = 0, PS_AFTER_PARAMETERS, PS_AFTER_ARGUMENTS, PS_RESULT,
    PS_AFTER_RESULT_SELECTOR, PS_AFTER_RESULT_PATH, PS_AFTER_ITEMS_PATH, PS_AFTER_ITEM_SELECTOR,
    PS__COUNT
};

typedef struct asl_probe {
    json_t *ctx;           /* the context object every field sees (owned) */
    int mocked;            /* a mock answers the task */
    json_t *mock_result;   /* the mocked result (owned), or NULL */
    char *mock_error, *mock_cause; /* the mocked error output, or NULL */
    int retrier_count;     /* stateConfiguration.retrierRetryCount */
    int failure_count;     /* stateConfiguration.mapIterationFailureCount */
    json_t *reader_items;  /* a Map's items from mapItemReaderData (owned), or NULL */
    json_t *seen[PS__COUNT]; /* the data flow, step by step (owned) */
    /* how the state ended */
    int left;              /* it left: out for next (-1: none) */
    json_t *out;
    int next;
    int retry_index;       /* the retrier that matched, -1: none */
    int retriable;         /* ... and would run the attempt again after backoff_s */
    double backoff_s;
    int catch_index;       /* the catcher that took the error, -1: none */
    char *err, *cause;     /* the last error the state raised */
    int map_seen;          /* a Map's limits as evaluated */
    int max_conc, tol_count;
    double tol_pct;
    char apierr[48];       /* a request check that fails while running: the */
    char apimsg[256];      /* API error to answer instead ("" : none) */
} asl_probe;

static inline void asl__probe_note(thr *t, asl_exec *x, int what, json_t *v)
{
    if (t->probe && v) {
        json_decref(x->probe->seen[what]);
        x->probe->seen[what] = json_incref(v);
    }
}
/* $$ for the probe thread. Returns: new. */
json_t *asl__probe_context(asl_exec *x, thr *t, int with_item, const char *token);
/* The state failed with err (before Retry and Catch decide). */
void asl__probe_error(asl_exec *x, const char *err, const char *cause);
/* A Map's items and limits are known (env's thread is the probe's); items
 * is taken: the mock stands for the iterations. */
void asl__probe_map(struct ql_env *env, json_t *items);
void asl__probe_parallel(asl_exec *x, thr *t);
/* Start an execution that runs state idx of prog pg with vars (borrowed,
 * may be NULL) in scope, under probe p (the caller's, kept until freed). */
asl_exec *asl__exec_start_probe(const asl_machine *m, const asl_exec_info *info, json_t *input, asl_probe *p,
                                const prog *pg, int idx, json_t *vars);

extern const asl_ql asl__ql_jsonpath;
extern const asl_ql asl__ql_jsonata;

static inline const asl_ql *asl__ql_of(const state *st)
{
    return st->jsonata ? &asl__ql_jsonata : &asl__ql_jsonpath;
}

#endif
