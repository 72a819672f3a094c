/*
 * run_tasks_int.h - what run_tasks.c (sns, startExecution, status events
 * and rules) and run_tasks_msg.c (sqs:sendMessage, events:putEvents) share:
 * the integrations' state and their common helpers. Internal to those two
 * files.
 *
 * Threading: the loop's thread.
 */
#ifndef SFN_RUN_TASKS_INT_H
#define SFN_RUN_TASKS_INT_H

#include "asl_path.h"
#include "run_tasks.h"

#include <stddef.h>
#include <stdint.h>

/* A chain of executions that start each other and end at once (rules on
 * machines without tasks) recurses through run_exec_start: bound it. */
#define SVC_MAX_DEPTH 8

/* A resource known by name and ARN: an SNS topic, an event bus. */
typedef struct svc_named {
    char *name, *arn;
} svc_named;
typedef svc_named svc_topic;
typedef svc_named svc_bus;

typedef struct svc_dedup {   /* a FIFO message sent in the last 5 minutes */
    char id[129];             /* its MessageDeduplicationId (given, or the body's SHA-256) */
    char mid[37];             /* its MessageId */
    char seq[24];             /* its SequenceNumber */
    int64_t at_ms;            /* when it was sent */
} svc_dedup;

typedef struct svc_queue {
    char *name, *arn, *url;
    int fifo, content_dedup;
    uint64_t seq;             /* the last FIFO SequenceNumber given */
    svc_dedup *dedup;         /* FIFO: the deduplication window, oldest first */
    size_t ndedup, capdedup;
    int dedup_loaded;         /* the window was read back from the queue's file */
} svc_queue;

typedef struct svc_rule {
    char *sm_arn;             /* the machine it starts */
    char *id;
    char *bus;                /* its event bus: "default" sees status events */
    json_t *pattern;
    char *input;              /* JSON text or NULL */
    asl_path *input_path;     /* or NULL */
    int light;                /* the pattern looks only at what light_event has */
    int status_events;        /* on the default bus */
} svc_rule;

struct run_svc {
    run *r;
    store *st;
    char *data_dir;
    char *region, *account;
    svc_topic *topics;
    size_t ntopics;
    svc_queue *queues;
    size_t nqueues;
    svc_bus *buses;
    size_t nbuses;
    svc_rule *rules;
    size_t nrules;
    int depth;                /* status events being handled, nested */
    struct run_fwd *fwd;      /* endpoints and requests in flight (run_tasks_fwd.c) */
};

/* the runner's logger (it knows whether to be quiet) */
#define logf_(s, ...) run__log((s)->r, __VA_ARGS__)

/* ---- run_tasks.c ---- */
/* Fail the task as the Java SDK reports an AWS error: error, and the cause
 * "<msg> (Service: ...; Status Code: ...; Error Code: ...; Request ID: ...;
 * Proxy: null)". Returns RUN_SVC_FAILED. */
int run__svc_failf(run_svc *s, run_svc_out *o, const char *error, const char *service,
                   int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
/* Append line[0..n) to <data>/<sub>/<file>.jsonl and fdatasync it (the
 * directory 0700, the file 0600, a new name made durable). Returns 0, or
 * -1 with the reason in why. */
int run__svc_append(run_svc *s, const char *sub, const char *file, const char *line, size_t n,
                    char *why, size_t whylen);
/* SdkHttpMetadata and SdkResponseMetadata of a response, into o. */
void run__svc_sdk_meta(json_t *o, const char *rid, const char *ctype, size_t len);
/* Append {name, arn} (copied) to the array *v of *n. 0 or RUN_ENOMEM. */
int run__svc_named_add(svc_named **v, size_t *n, const char *name, const char *arn);
/* The compact JSON text of line plus "\n" appended to <data>/<sub>/<file>.jsonl
 * (a failure is logged). 0 or -1. */
int run__svc_append_json(run_svc *s, const char *sub, const char *file, json_t *line);
void run__svc_iso_ms(int64_t ms, char out[32], int with_ms);
/* A UUID-shaped name derived from key (variant 0x8: a task's child, 0xb:
 * an execution started by a rule). */
void run__svc_derived_name(const char *key, int variant, char out[37]);
int run__svc_rule_derived(const char *name);
/* Start rule ru's machine for event ev, once per (key, rule): key names
 * the event for good (execution, status and redrive; or task and entry).
 * src_*: the execution the event came from (the loop guard); what: for
 * the log line. */
void run__svc_rule_fire(run_svc *s, const svc_rule *ru, json_t *ev, const char *key,
                        const char *src_arn, const char *src_sm, const char *src_name,
                        const char *what);

/* ---- run_tasks_msg.c ---- */
/* sqs:sendMessage[.waitForTaskToken], events:putEvents[.waitForTaskToken]
 * (res: the resource after "arn:aws:states:::"); p the parameters, an
 * object. Returns RUN_SVC_*. RUN_SVC_UNKNOWN when res is neither. */
int run__msg_call(run_svc *s, const run_svc_task *t, const char *res, const json_t *p,
                  run_svc_out *o);
void run__msg_free(run_svc *s);

/* ---- run_tasks_fifo.c ---- */
/* SQS's deduplication interval. */
#define SQS_DEDUP_WINDOW_MS (5 * 60 * 1000)
/* The message of FIFO queue q sent with deduplication id `id` less than
 * 5 minutes before now_ms, or NULL. The first call for a queue reads the
 * window back from <data>/sqs/<name>.jsonl (a restart keeps it). */
const svc_dedup *run__fifo_seen(run_svc *s, svc_queue *q, const char *id, int64_t now_ms);
/* Remember a message just written. 0 or -1 (ENOMEM: then a duplicate
 * within the window would be written again). */
int run__fifo_remember(svc_queue *q, const char *id, const char *mid, const char *seq,
                       int64_t at_ms);
void run__fifo_free(svc_queue *q);

/* ---- run_tasks_fwd.c ---- */
/* dynamodb:putItem|getItem|deleteItem|updateItem and aws-sdk:SERVICE:ACTION
 * (res after "arn:aws:states:::"), sent to the service's endpoint. Returns
 * RUN_SVC_PENDING (the outcome comes through run__task_result),
 * RUN_SVC_FAILED (no endpoint, a service not spoken) or RUN_SVC_UNKNOWN. */
int run__fwd_call(run_svc *s, const run_svc_task *t, const char *res, const json_t *p,
                  run_svc_out *o);
/* Cancel the requests in flight, free the endpoints. */
void run__fwd_free(run_svc *s);

#endif
