/*
 * run_tasks.h - the runner's service integrations (internal to src/runner):
 * the Task resources that are not Lambda functions, and the EventBridge
 * execution status events with the template's rules.
 *
 *   arn:aws:states:::sns:publish[.waitForTaskToken]
 *       appends one JSON line to <data>/sns/<TopicName>.jsonl (fsync'd)
 *   arn:aws:states:::sqs:sendMessage[.waitForTaskToken],
 *   arn:aws:states:::events:putEvents[.waitForTaskToken]
 *       lines in <data>/sqs/<Queue>.jsonl, <data>/events/<Bus>.jsonl, the
 *       bus's rules fed (run_tasks_msg.c)
 *   arn:aws:states:::states:startExecution[.sync|.sync:2|.waitForTaskToken]
 *       starts the execution here, through run_exec_start
 *   status events (Standard executions: RUNNING, SUCCEEDED, FAILED,
 *   TIMED_OUT, ABORTED, and RUNNING again on a redrive) are matched
 *   against every rule; each match starts the rule's machine in the
 *   current transaction, under a name derived from (execution, status,
 *   redrive count, rule), so that a replay cannot start it twice.
 *
 * run.c routes a task here when the core gives it no function; it owns the
 * loop, the store transaction and the executions, and these functions call
 * back into it only through run.h and the run__ functions below.
 *
 * Must not: touch the Lambda path, block on anything but the sns line's
 * small write and fdatasync.
 * Threading: the loop's thread.
 */
#ifndef SFN_RUN_TASKS_H
#define SFN_RUN_TASKS_H

#include <jansson.h>
#include <stdint.h>

#include "run.h"

typedef struct run_svc run_svc;

/* Returns NULL on ENOMEM. data_dir: where sns/ goes (NULL: "."). */
run_svc *run__svc_create(run *r, store *st, const char *data_dir, const char *region,
                         const char *account);
void run__svc_free(run_svc *s);
/* Nonzero when some rule exists (status events are built only then). */
int run__svc_has_rules(const run_svc *s);

typedef struct run_svc_task {
    const char *exec_arn;     /* the execution the task belongs to */
    uint64_t task;            /* the core's task id */
    const char *resource;     /* the state's Resource */
    const char *payload;      /* JSON text: the task's effective parameters */
    int wait_for_token;       /* .waitForTaskToken: the result comes later */
    int timeout_s;            /* the state's TimeoutSeconds, 0 = none */
} run_svc_task;

enum {
    RUN_SVC_DONE = 0,         /* out->result holds the task's result */
    RUN_SVC_FAILED,           /* out->error / out->cause */
    RUN_SVC_PENDING,          /* the result comes later (token, .sync) */
    RUN_SVC_UNKNOWN,          /* not an integration this file provides */
};

typedef struct run_svc_out {
    json_t *result;           /* OUT: new, with RUN_SVC_DONE */
    char error[96];           /* OUT: with RUN_SVC_FAILED */
    char cause[2048];
} run_svc_out;

/* Carry out one service task. Returns RUN_SVC_*. */
int run__svc_call(run_svc *s, const run_svc_task *t, run_svc_out *out);

/* exec_arn (a Standard execution) just changed status to status (a
 * store_status): its store row, already written in the open transaction,
 * gives the event. Starts the machines of the matching rules in the same
 * transaction. A rule whose pattern looks only at fields the ARN and the
 * status give (source, detail-type, detail.status, detail.stateMachineArn,
 * ...) is tried on those first, so an execution that no rule wants costs
 * no store read and no event. */
void run__svc_status(run_svc *s, const char *exec_arn, int status);

/* ---- provided by run.c ---- */
run_svc *run__svc(run *r);
ev_loop *run__loop(run *r);
void run__uuid(run *r, char out[37]);
/* A line "sfnd: ..." on stderr unless the runner is quiet. */
void run__log(run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Feed a late result of task `task` of exec_arn (a .sync child ended):
 * ignored unless that task is still pending. error NULL: success with
 * result (borrowed). */
void run__task_result(run *r, const char *exec_arn, uint64_t task, json_t *result,
                      const char *error, const char *cause);

#endif
