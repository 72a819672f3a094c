/*
 * run.h - the runner: step -> persist -> dispatch, and recovery.
 *
 * Each running execution is an asl_exec in memory. Every input fed to it
 * (task result, timer, heartbeat, stop) is appended to the store's input
 * log together with the history events it produced, inside the store
 * transaction of the current loop iteration; the loop's before-sleep hook
 * commits that transaction (group commit: many executions, one fsync) and
 * only then carries out what the steps asked for (invoke a function, arm a
 * timer) and runs the callbacks queued with run_after_commit (the API's
 * replies). After a crash, run_recover replays each RUNNING execution's
 * inputs through the deterministic core, which regenerates the same state,
 * and dispatches what it is waiting on again (tasks at least once, timers
 * at their original deadlines).
 *
 * EXPRESS executions live in memory only (as on AWS they keep no history
 * here); they are lost on a crash.
 *
 * Must not: parse HTTP, know the API's request shapes.
 * Threading: everything on the loop's thread.
 */
#ifndef SFN_RUN_H
#define SFN_RUN_H

#include <stdint.h>

#include "asl.h"
#include "asl_mock.h"
#include "ev.h"
#include "lam.h"
#include "store.h"

typedef struct run run;

/* The values are the error table's (src/util/sfn_err.h: sfn_strerror). */
#define RUN_EEXIST SFN_E_EXIST     /* an execution with that ARN exists */
#define RUN_ENOENT SFN_E_NOENT     /* no such running execution / task token */
#define RUN_EDB SFN_E_IO           /* the store failed */
#define RUN_ENOMEM SFN_E_NOMEM
#define RUN_EINVAL SFN_E_INVAL     /* definition does not compile */
#define RUN_ESHUTDOWN SFN_E_SHUTDOWN
#define RUN_EUNAVAIL SFN_E_UNAVAIL  /* the store takes no writes now (disk full, out of
                               memory): nothing changed, retry later */

typedef struct run_opts {
    ev_loop *loop;
    store *st;
    lam *lam;             /* NULL: every Lambda task fails as ResourceNotFound */
    const char *region;   /* for messages; default us-east-1 */
    const char *account;  /* default 123456789012 */
    double time_scale;    /* >= 1: timers (Wait, back-off, timeouts) fire this many
                             times sooner than their deadlines; 1 = real time */
    int quiet;            /* 1: no log lines on stderr */
    const char *data_dir; /* where the integrations write (sns/); NULL: "." */
    int probe_ms;         /* > 0: first retry of a store that took no writes
                             (default 250 ms; tests use less) */
    int64_t retention_ms; /* > 0: executions that ended longer ago than this
                             are removed with their history, in batches on
                             the loop (run.c, retention); 0: kept forever */
} run_opts;

/* Create the runner and install its before-sleep hook on the loop.
 * Returns NULL on ENOMEM. */
run *run_create(const run_opts *o);
/* Free everything in memory (nothing is written). Waiters get their
 * callback with RUN_ESHUTDOWN. */
void run_free(run *r);

/* Rebuild every RUNNING execution from the store and dispatch what it
 * waits on (after the recovery transaction commits). Returns the number of
 * executions recovered, or a negative code with a message in err. */
int run_recover(run *r, char *err, size_t errlen);

/* Queue cb to run after the current iteration's transaction is committed
 * (at once in the next before-sleep hook when nothing is pending). rc is 0
 * when it committed, RUN_EUNAVAIL when it could not and was rolled back
 * (what the caller wrote in it did not happen). */
int run_after_commit(run *r, void (*cb)(void *ud, int rc), void *ud);

/* ---- a store that cannot take writes --------------------------------------
 * When a commit fails (disk full, I/O error) or memory runs out while a
 * step is written, the transaction is rolled back and every execution it
 * held is set aside: dropped from memory (its function results and timers
 * are ignored), kept RUNNING in the store. The runner is then unavailable
 * for writes: run_exec_start (Standard), stop, redrive and task replies
 * return RUN_EUNAVAIL without changing anything, while reads and EXPRESS
 * executions go on. A probe write is tried with back-off (0.25 s doubling
 * to 5 s); once it commits, the set-aside executions are rebuilt from the
 * store and resume (their tasks invoked again, at least once, timers at
 * their deadlines). */
/* 1 when writes are taken; else 0 and *why (may be NULL) says why. */
int run_available(const run *r, const char **why);
/* Commit and run the after-commit queue until both are empty (the hook
 * calls this; tests and shutdown may too). */
void run_flush(run *r);

/* Compiled machine of a stored definition (cached, borrowed). Returns 0,
 * RUN_ENOENT, RUN_EINVAL with diags (when diags is not NULL). */
int run_machine_get(run *r, int64_t def_id, const asl_machine **out, asl_diags *diags);
/* Keep m (taken; may be NULL: nothing) as the compiled machine of stored
 * definition def_id, compiled elsewhere (off the loop). */
void run_machine_adopt(run *r, int64_t def_id, asl_machine *m);

/* ---- state machines ------------------------------------------------------ */
/* A state machine: the store's row (store_sm: arn, name, role_arn, type
 * 0 STANDARD / 1 EXPRESS, def_id, created_ms, updated_ms, from_template,
 * deleted). */
typedef store_sm run_sm;

/* Create, update or delete (sm->deleted) a state machine in the current
 * transaction: definition (NULL: keep sm->def_id) is stored as a new
 * revision whose id goes into sm->def_id, then the row. Returns 0 or
 * RUN_EUNAVAIL (nothing written; the reply must say so). */
int run_sm_save(run *r, run_sm *sm, const char *definition);

/* ---- reads (run_read.c) -------------------------------------------------
 * What the API reads, as the store has it (this iteration's writes
 * included). Nothing here writes or opens the transaction; each returns 0,
 * RUN_ENOENT (no such row), RUN_EDB (the store failed: run_store_errmsg
 * says why) or RUN_ENOMEM. */
/* The state machine arn, deleted ones too (sm->deleted). *out owns its
 * strings: release them with run_sm_cleanup (only after a 0). */
int run_sm_get(run *r, const char *arn, run_sm *out);
void run_sm_cleanup(run_sm *sm);
/* Definition def_id (any revision, the current one being sm->def_id):
 * *text malloc'd, the caller frees it (NULL unless 0); *type 0 STANDARD,
 * 1 EXPRESS. */
int run_sm_definition(run *r, int64_t def_id, char **text, int *type);
/* The state machines not deleted, by ARN: skips the first `skip`, then
 * calls cb for at most `limit` (<= 0: all), *sm borrowed during the call
 * only. *more is 1 when one more follows the last given. A nonzero
 * return from cb stops the walk and is returned. */
int run_sm_list(run *r, long skip, long limit, int (*cb)(void *ctx, const run_sm *sm), void *ctx,
                int *more);
/* The store's last error message (borrowed), for a reply after RUN_EDB. */
const char *run_store_errmsg(run *r);

/* ---- executions -------------------------------------------------------- */
typedef struct run_result {
    const char *arn;
    int status;           /* asl_status */
    const char *output;   /* JSON text or NULL */
    const char *error;
    const char *cause;
    int64_t start_ms;
    int64_t stop_ms;
} run_result;

/* An execution ended (or rc = RUN_ESHUTDOWN: the runner is going away and
 * the execution did not end). r is valid during the call only. */
typedef void run_done_cb(void *ud, int rc, const run_result *res);

typedef struct run_start {
    const run_sm *sm;         /* the machine (its current definition is used) */
    const char *name;         /* execution name (validated by the caller) */
    const char *input_text;   /* the input as sent (kept verbatim) */
    json_t *input;            /* borrowed: the same, parsed */
    int express;              /* 1: in memory only, EXPRESS ARN */
    const char *test_case;    /* NULL, or the mock configuration's test case
                                 it runs (run_mock_has_case said yes) */
    const char *version_arn;  /* started through a version (sm: its snapshot), or NULL */
    const char *alias_arn;    /* started through an alias, or NULL */
} run_start;

/* Start an execution: its row and first events join the current
 * transaction. *arn_out (malloc'd) and *start_ms_out are set. done (may be
 * NULL) is called when it ends. Returns 0, RUN_EEXIST, RUN_EDB, RUN_EINVAL,
 * RUN_ENOMEM. */
int run_exec_start(run *r, const run_start *s, run_done_cb *done, void *ud, char **arn_out,
                   int64_t *start_ms_out);
/* Nonzero when arn is running in memory. */
int run_exec_running(run *r, const char *arn);
/* StopExecution: abort a running execution. *stop_ms gets its stop time.
 * Returns 0 or RUN_ENOENT (not running). */
int run_exec_stop(run *r, const char *arn, const char *error, const char *cause,
                  int64_t *stop_ms);
/* RedriveExecution: a FAILED, TIMED_OUT or ABORTED Standard execution runs
 * again from the state that failed, under the same ARN (the redrive is an
 * input in its log, so recovery replays it). Returns 0 with *redrive_ms, or
 * RUN_ENOENT / RUN_EINVAL with a message in err. */
int run_exec_redrive(run *r, const char *arn, int64_t *redrive_ms, char *err, size_t errlen);
/* Call done when arn ends. Returns 0, or RUN_ENOENT when it is not
 * running (done is not called). */
int run_exec_wait(run *r, const char *arn, run_done_cb *done, void *ud);

/* ---- execution reads (run_read.c; see "reads" above) ---------------------- */
/* An execution as stored: the store's row (store_exec: id, arn, sm_arn,
 * name, input, status (enum run_status), start_ms, stop_ms (0 while
 * running), def_id, output, error, cause, redrive_count, redrive_ms).
 * EXPRESS executions are in memory only: never found here. */
typedef store_exec run_exec_info;
enum run_status {
    RUN_RUNNING = STORE_RUNNING, /* the core's asl_status, then one more */
    RUN_SUCCEEDED = STORE_SUCCEEDED,
    RUN_FAILED = STORE_FAILED,
    RUN_TIMED_OUT = STORE_TIMED_OUT,
    RUN_ABORTED = STORE_ABORTED,
    RUN_PENDING_REDRIVE = STORE_PENDING_REDRIVE,
};
/* The execution arn: *out owns its strings, run_exec_info_cleanup (only
 * after a 0). */
int run_exec_get(run *r, const char *arn, run_exec_info *out);
void run_exec_info_cleanup(run_exec_info *x);
/* Executions of sm_arn newest first, status < 0 for any, starting after
 * the one whose id is `after` (0: from the newest), at most `limit`
 * (<= 0: all); cb gets each, *x borrowed during the call only, and a
 * nonzero return from it stops the walk and is returned. *next_after:
 * the id to pass as `after` for the next page when one follows, else 0. */
int run_exec_list(run *r, const char *sm_arn, int status, int64_t after, int limit,
                  int (*cb)(void *ctx, const run_exec_info *x), void *ctx, int64_t *next_after);

/* An execution's history, one event at a time, already in the API's form
 * (GetExecutionHistory's event object, data included), whatever form the
 * store keeps it in. Reading a page costs what the page holds, not what
 * the execution holds. Open, read and close within one call on the loop
 * (it holds a store cursor: one history open at a time). */
typedef struct run_history run_history;
typedef struct run_event {
    int64_t id;           /* the event's id, 1, 2, ... */
    const char *json;     /* its JSON object: len bytes, not NUL-terminated,
                           * borrowed until the next run_history_next or
                           * the close */
    size_t len;
} run_event;
/* The events of exec_arn in id order (reverse: newest first) from event
 * from_id on, inclusive (0: from the first, or reverse the last), at most
 * max of them (<= 0: all). *out to run_history_close. Returns 0, RUN_ENOENT
 * (no such execution), RUN_EDB, RUN_ENOMEM. */
int run_history_open(run *r, const char *exec_arn, int reverse, int64_t from_id, int max,
                     run_history **out);
/* Returns 1 with the next event in *ev, 0 at the end, RUN_EDB when the
 * store failed or an event could not be expanded (memory). */
int run_history_next(run_history *h, run_event *ev);
void run_history_close(run_history *h);

/* ---- .waitForTaskToken -------------------------------------------------- */
enum run_task_kind { RUN_TASK_SUCCESS = 1, RUN_TASK_FAILURE, RUN_TASK_HEARTBEAT };
#define RUN_ETIMEDOUT SFN_E_TIMEDOUT /* the token's task timed out */
/* Returns 0, RUN_ENOENT (no task waits on this token) or RUN_ETIMEDOUT (its
 * task timed out lately). output borrowed. */
int run_task_send(run *r, const char *token, int kind, json_t *output, const char *error,
                  const char *cause);

/* ---- activities (run_act.c) ---------------------------------------------
 * Rows in the store (arn, name, created_ms); the writes join the current
 * transaction like run_sm_save's (tags: run_meta.h's tag store). */
typedef store_act run_act;
/* CreateActivity: idempotent on the name (an existing one's ARN and date
 * are returned, *fresh 0; a new one: *fresh 1). *arn_out malloc'd.
 * Returns 0, RUN_EINVAL (not a valid name), RUN_EUNAVAIL, RUN_EDB,
 * RUN_ENOMEM. */
int run_act_create(run *r, const char *name, char **arn_out, int64_t *created_ms, int *fresh);
/* The template's activity: created unless it exists. */
int run_act_ensure(run *r, const char *name, const char *arn);
/* 0 (*out to run_act_cleanup), RUN_ENOENT, RUN_EDB. */
int run_act_get(run *r, const char *arn, run_act *out);
void run_act_cleanup(run_act *a);
/* Oldest first: skip, at most limit (<= 0: all); *more as run_sm_list's. */
int run_act_list(run *r, long skip, long limit, int (*cb)(void *ctx, const run_act *a), void *ctx,
                 int *more);
/* DeleteActivity: 0 (also when there was none), RUN_EUNAVAIL, RUN_EDB. */
int run_act_delete(run *r, const char *arn);
/* GetActivityTask: a worker waits (up to 60 s) for a task of activity arn.
 * cb is called once, from the loop, never from inside run_act_poll_start:
 * rc 0 with the task's token and input (JSON text), both NULL when none
 * came in time; RUN_EUNAVAIL (the store took no writes) or RUN_ESHUTDOWN.
 * The task is the worker's only once its ActivityStarted is committed.
 * Returns NULL on ENOMEM (cb not called). */
typedef void run_act_cb(void *ud, int rc, const char *token, const char *input);
typedef struct run_act_poll run_act_poll;
run_act_poll *run_act_poll_start(run *r, const char *arn, const char *worker, run_act_cb *cb,
                                 void *ud);
/* The workers waiting on activity arn now (AWS takes up to 1,000). */
int run_act_pollers(run *r, const char *arn);
/* The worker went away before cb: cb is not called, and a task already
 * picked for it goes back to the head of the queue. */
void run_act_poll_cancel(run_act_poll *p);

/* ---- service integrations (run_tasks.c; see docs/integrations.md) ------ */
/* An SNS topic that sns:publish tasks may name (from the template). name
 * must be a valid topic name (it names the file <data>/sns/<name>.jsonl).
 * Returns 0, RUN_EINVAL or RUN_ENOMEM. */
int run_topic_add(run *r, const char *name, const char *arn);
/* An EventBridge rule of the template on bus (NULL: "default"): every
 * events:putEvents entry to that bus, and on the default bus every
 * execution status event, matching pattern (borrowed, copied) starts sm_arn with the event, or
 * with input (JSON text) or the result of input_path (JSONPath into the
 * event) instead. Returns 0, or RUN_EINVAL with a message in err (a pattern
 * or path this engine cannot evaluate), or RUN_ENOMEM. */
int run_rule_add(run *r, const char *sm_arn, const char *rule_id, const char *bus,
                 const json_t *pattern, const char *input, const char *input_path, char *err,
                 size_t errlen);
/* An SQS queue sqs:sendMessage tasks may name by url (from the template;
 * lines go to <data>/sqs/<name>.jsonl). Returns 0, RUN_EINVAL (a bad
 * name) or RUN_ENOMEM. */
int run_queue_add(run *r, const char *name, const char *arn, const char *url, int fifo,
                  int content_dedup);
/* An event bus (other than "default", always there) that events:putEvents
 * may name (lines go to <data>/events/<name>.jsonl). */
int run_bus_add(run *r, const char *name, const char *arn);
/* Forward dynamodb:* (putItem, getItem, deleteItem, updateItem) and
 * aws-sdk:SERVICE:* tasks of service (the resource's name: "dynamodb",
 * "sqs"; or the signing name: "states", "events", "logs") to url,
 * "http://host[:port][/path]" (run_tasks_fwd.c). The host is resolved
 * here, once (blocking: call at start-up). A second call for the same
 * service replaces the first. 0, RUN_EINVAL (why in err) or RUN_ENOMEM. */
int run_endpoint_set(run *r, const char *service, const char *url, char *err, size_t errlen);
/* The credentials forwarded tasks are signed with (default: the local
 * ones sfnd gives its functions, lam_env.h). 0 or RUN_ENOMEM. */
int run_endpoint_credentials(run *r, const char *access_key, const char *secret_key,
                             const char *session_token);
/* Nonzero when s is a valid execution name (StartExecution's rules). */
int run_name_valid(const char *s);

/* ---- a function outside executions ----------------------------------- */
/* Invoke a Lambda function as a Task would, outside any execution (sfnd's
 * TestState; nothing is stored): cb gets the function's result as the Task
 * would (result, borrowed), or the error and cause the Task would fail with
 * (result NULL). cb is called exactly once: from the loop, from inside this
 * call when the function cannot be invoked, or from run_free. */
typedef void run_fn_cb(void *ud, json_t *result, const char *error, const char *cause);
void run_invoke_function(run *r, const char *function, const char *payload, run_fn_cb *cb, void *ud);

/* ---- shutdown ---------------------------------------------------------- */
/* Stop dispatching new work; when the invocations in flight have ended (or
 * after grace_ms), commit, stop the functions and call done. Executions
 * stay RUNNING in the store and resume at the next start. */
void run_drain(run *r, int grace_ms, void (*done)(void *ud), void *ud);

typedef struct run_stats {
    uint64_t started, finished, commits, invokes, inputs, events;
    uint64_t expired;     /* executions removed by retention */
    uint64_t rollbacks;   /* transactions that could not commit */
    int running;
    int suspended;        /* executions set aside until the store takes writes */
    int unavailable;      /* 1: the store takes no writes now */
} run_stats;
void run_stats_get(const run *r, run_stats *out);

/* Mock configurations (run_mock.c, asl_mock.h): the one executions started
 * on <stateMachineArn>#<TestCaseName> use; r takes m (NULL: none), which
 * stays until run_free or the next call. */
void run_mock_config(run *r, asl_mock *m);
int run_mock_loaded(const run *r);
/* Nonzero when the configuration has test case test_case for the state
 * machine named machine. */
int run_mock_has_case(const run *r, const char *machine, const char *test_case);

#endif
