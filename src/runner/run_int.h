/*
 * run_int.h - the runner's insides, shared by its files (internal to
 * src/runner):
 *   run.c        the step: write, commit (run_flush), then dispatch
 *                (timers, Lambda, the integrations), and the runner's life
 *   run_exec.c   executions and state machines: start, stop, wait, task
 *                tokens, redrive, and recovery from the store
 *   run_avail.c  a store that cannot take writes (disk full, out of
 *                memory): roll back, set aside, probe, resume; retention
 *   run_read.c   the reads the API makes: state machines, definitions,
 *                executions, the history iterator (log form -> API form)
 *   run_tasks.c  the service integrations (run_tasks.h)
 *
 * Must not be included outside src/runner.
 */
#ifndef SFN_RUN_INT_H
#define SFN_RUN_INT_H

#include "run.h"

#include "fjson.h"
#include "hmap.h"
#include "rnd.h"
#include "jtext.h"
#include "run_tasks.h"

struct run_mock_exec;

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
    uint64_t mr_final;        /* map run i (< 64) stored in its final state */
    int64_t last_now;         /* keeps fed times monotonic (time_scale) */
    char *out_text;           /* output as JSON text once it ended (NULL if none) */
    tslot *timers;
    char **tokens;            /* task tokens this execution waits on */
    size_t ntokens;
    waiter *waiters;
    uint64_t txn;             /* the last transaction (r->gen) that wrote for it */
    uint64_t born;            /* the transaction that inserted its row */
    int lost;                 /* set aside: reaped at the end of run_flush */
    struct run_mock_exec *mock; /* its mock test case (run_mock.c), or NULL */
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
    int timeout_s;
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
    sfn_rng rng;
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
    asl_mock *mock;           /* the mock configuration (run_mock.c), or NULL */
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
    int probe_min_ms;         /* where it starts (run_opts.probe_ms) */
    jtext tb;                 /* reused for each step's events */
    fjson_buf fj;             /* the JSON reader's scratch (function results) */
    struct run_fn *fns;       /* functions invoked outside executions (run_fn.c) */
    int ver_deleting;         /* machines DELETING (run_ver.c) */
    struct run_acts *acts;    /* activity queues and their workers (run_act.c) */
};

#define logf_ run__log

/* The store keeps the core's statuses as they are: one order, checked. */
_Static_assert((int)STORE_RUNNING == (int)ASL_RUNNING &&
                   (int)STORE_SUCCEEDED == (int)ASL_SUCCEEDED &&
                   (int)STORE_FAILED == (int)ASL_FAILED &&
                   (int)STORE_TIMED_OUT == (int)ASL_TIMED_OUT &&
                   (int)STORE_ABORTED == (int)ASL_ABORTED,
               "enum store_status must follow enum asl_status");

/* ---- run.c ---------------------------------------------------------------- */
uint64_t run__rng(run *r);
/* Open the iteration's transaction (if it is not) for writes made for e
 * (NULL: for no execution). Returns 0, or -1 when the transaction is bad:
 * write nothing. */
int run__begin(run *r, rexec *e);
int64_t run__exec_now(rexec *e);
char *run__dumps(const json_t *j);
void run__exec_free(run *r, rexec *e);
/* Write what the last start/feed produced, and queue its commands. */
void run__exec_after_step(run *r, rexec *e, const asl_cmd *cmds, size_t ncmds,
                          const store_input *in);
void run__exec_feed(run *r, rexec *e, const asl_input *in);
/* A Lambda function's answer as a Task gets it: the result (new; a
 * response that is not JSON is a JSON string; *text: the response text
 * when it was JSON, else NULL), or NULL with *error (the errorType,
 * Lambda.Unknown without one) and *cause (the error body). */
json_t *run__lambda_answer(run *r, const lam_result *res, const char **error, const char **cause,
                           const char **text);
/* The error and cause a Task gets when lam_invoke refuses the call (rc),
 * in the words of AWS's Invoke API. */
void run__lambda_refusal(run *r, const char *function, int rc, char *error, size_t elen, char *cause,
                         size_t clen);

/* ---- run_ver.c ------------------------------------------------------------- */
/* An execution ended (its status written in the transaction): a DELETING
 * machine whose last running execution it was is deleted now. */
void run__ver_exec_ended(run *r, const char *exec_arn);
/* At recovery: count the DELETING machines, delete those with nothing
 * running. */
int run__ver_recover(run *r);

/* ---- run_fn.c --------------------------------------------------------------- */
/* run_free: every invocation still out is answered (shutting down). */
void run__fn_cancel_all(run *r);

/* ---- run_avail.c ------------------------------------------------------------ */
void run__set_unavailable(run *r);
/* A write of the current transaction failed (oom: memory ran out making
 * it); later writes of the transaction are skipped. */
void run__txn_fail(run *r, const char *what, int oom);
/* Set one execution aside: what it needs next cannot be made now. */
void run__exec_lose(run *r, rexec *e, const char *what);
/* A step of e could not be written or its output made. */
void run__step_fail(run *r, rexec *e, const char *what);
/* The transaction failed and was rolled back: mark what it held. */
void run__txn_rolled_back(run *r);
/* Take the lost executions out of memory (end of run_flush). */
void run__reap_lost(run *r);
void run__on_retention(ev_loop *loop, ev_timer *t, void *ud);
#define RETAIN_IDLE_MS 1000
#define PROBE_MIN_MS 250 /* the first retry of a store that took no writes */

/* ---- run_act.c -------------------------------------------------------------- */
typedef struct run_acts run_acts;
int run__act_init(run *r);
/* run_free: every worker still waiting is answered RUN_ESHUTDOWN (their
 * replies are queued); then, once the queue ran, run__act_free. */
void run__act_stop(run *r);
void run__act_free(run *r);
/* Dispatch of a Task whose Resource is an activity ARN (its ActivityScheduled
 * committed): queued for a worker, or ActivityScheduleFailed when the
 * activity does not exist. token: the task's (the core's). */
void run__act_schedule(run *r, const char *exec_arn, uint64_t task, const char *resource,
                       const char *payload, const char *token);

/* ---- run_exec.c ------------------------------------------------------------- */
/* Rebuild execution id from the store and dispatch what it waits on. */
int run__recover_one(run *r, int64_t id, rexec **out, char *err, size_t errlen);

#endif
