/*
 * asl.h - the Amazon States Language engine core.
 *
 * History is the truth: an execution is driven only by what its caller
 * feeds it (task results, timer expiries, stop requests), each input
 * carrying the time. The core answers with history events (exactly the
 * events GetExecutionHistory returns) and commands (invoke this task, wake
 * me at T). It does no I/O, reads no clock and draws random numbers only
 * from a stream seeded by its caller, so feeding the same inputs to a fresh
 * execution rebuilds the same state and the same events: that is how the
 * runner recovers after a crash.
 *
 * Threading: an asl_machine is immutable after compile and may be shared by
 * any number of executions and threads; an asl_exec belongs to one thread.
 *
 * Ownership (jansson words): json_t arguments are borrowed unless the name
 * ends in _new; a json_t returned is a new reference unless the function
 * name has _get.
 */
#ifndef ASL_H
#define ASL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "sfn_err.h"

/* ---- C-level status codes (the engine failed, not the ASL program); the
 * values are the error table's (src/util/sfn_err.h) ---------------------- */
#define SFN_OK SFN_E_OK
#define SFN_EINVAL SFN_E_INVAL   /* invalid definition / argument */
#define SFN_ENOMEM SFN_E_NOMEM
#define SFN_ESTATE SFN_E_STATE   /* call not valid in the execution's state */
#define SFN_ENOENT SFN_E_NOENT   /* unknown task/timer id */

typedef struct asl_machine asl_machine;
typedef struct asl_exec asl_exec;

/* ---- compiling a definition ------------------------------------------- */
enum asl_machine_type { ASL_STANDARD = 0, ASL_EXPRESS = 1 };

typedef struct asl_diag {
    char severity[8];  /* "ERROR" | "WARNING" */
    char code[48];     /* e.g. "SCHEMA_VALIDATION_FAILED" */
    char message[1024];/* AWS's text, e.g. "The field 'RoleArn' is required but was missing" */
    char location[512];/* JSON pointer, e.g. "/States/State0/Credentials" */
    int value_error;   /* CreateStateMachine words it "Error=ValueError Args=[...]
                          in definition '...'." (Map Label rules, as recorded) */
} asl_diag;

#define ASL_MAX_DIAGS 16
typedef struct asl_diags {
    int n;
    asl_diag d[ASL_MAX_DIAGS];
} asl_diags;

/* The text AWS puts after "Invalid State Machine Definition: " for the
 * first diagnostic, e.g. "'SCHEMA_VALIDATION_FAILED: ... at /States/X'".
 * buf gets the whole cause: "Invalid State Machine Definition: '...'". */
void asl_diags_cause(const asl_diags *d, char *buf, size_t len);

/* When text is not JSON for a reason AWS words in its own way (Jackson's
 * "Unrecognized token 'x': ...", "No content to map ..."), that message in
 * out and 1; else 0. */
int asl_json_error_aws(const char *text, size_t len, char *out, size_t outlen);
/* The same with the definition's text, which AWS quotes whole in the
 * causes of some refusals (asl_diag.value_error). */
void asl_diags_cause_text(const asl_diags *d, const char *definition, char *buf, size_t len);

/* Check a definition as CreateStateMachine does, without compiling it.
 * Returns 0 when valid, SFN_EINVAL with diagnostics otherwise. */
int asl_validate(const json_t *definition, int type, asl_diags *diags);

/* Validate and compile. Returns SFN_OK and *out, or SFN_EINVAL with diags. */
int asl_machine_compile(const json_t *definition, int type, asl_machine **out, asl_diags *diags);
/* Parse JSON text (bounded in size and depth) then compile. A parse error is
 * reported as AWS does (INVALID_JSON_DESCRIPTION). */
int asl_machine_compile_text(const char *text, size_t len, int type, asl_machine **out, asl_diags *diags);
void asl_machine_free(asl_machine *m);
/* Returns: borrowed: the definition as loaded. */
json_t *asl_machine_definition_get(const asl_machine *m);

/* ---- executions --------------------------------------------------------- */
typedef struct asl_exec_info {
    const char *execution_arn;
    const char *execution_name;
    const char *state_machine_arn;
    const char *state_machine_name;
    const char *role_arn;
    int64_t start_ms;   /* Execution.StartTime, epoch ms */
    uint64_t seed;      /* random stream for MathRandom, UUID, jitter */
    int redrive_count;
} asl_exec_info;

enum asl_status {
    ASL_RUNNING = 0,
    ASL_SUCCEEDED,
    ASL_FAILED,
    ASL_TIMED_OUT,
    ASL_ABORTED,
};
const char *asl_status_name(int status); /* "RUNNING", "SUCCEEDED", ... */

/* Create an execution and run it until it waits on the outside world (a
 * task, a timer) or ends. input is borrowed. Events and commands of this
 * first step are then available (asl_exec_events_since, asl_exec_cmds).
 * Returns NULL on allocation failure. */
asl_exec *asl_exec_start(const asl_machine *m, const asl_exec_info *info, json_t *input);
void asl_exec_free(asl_exec *x);

/* Inputs from the outside world. Each carries the time it happened. The
 * values are stored in the input log (replayed at recovery): never
 * renumber one. */
enum asl_input_kind {
    ASL_IN_TASK_SUCCEEDED = 1, /* id = task id; result = the task's output */
    ASL_IN_TASK_FAILED,        /* id = task id; error, cause */
    ASL_IN_TIMER,              /* id = timer id: a Wait, a retry back-off,
                                  a task or heartbeat timeout, the machine's
                                  TimeoutSeconds; a stale id is ignored */
    ASL_IN_HEARTBEAT,          /* id = task id: SendTaskHeartbeat */
    ASL_IN_STOP,               /* StopExecution: error, cause (may be NULL) */
    ASL_IN_REDRIVE,            /* RedriveExecution of a FAILED, TIMED_OUT or
                                  ABORTED execution: it runs again from the
                                  state that failed (ExecutionRedriven) */
    ASL_IN_TASK_STARTED = 7,   /* id = task id of an activity: a worker took
                                  it (GetActivityTask); cause = the worker's
                                  name (may be NULL). ActivityStarted, once */
    ASL_IN_TASK_SCHEDULE_FAILED = 8, /* id = task id of an activity that could not
                                  be scheduled (it does not exist): error,
                                  cause. ActivityScheduleFailed, then the
                                  state's Retry/Catch as for a failure */
    ASL_IN_MAP_RUN_UPDATE = 10, /* UpdateMapRun: id = the map run's started_id;
                                  result = {maxConcurrency,
                                  toleratedFailureCount,
                                  toleratedFailurePercentage}, each optional */
    ASL_IN_TASK_SUBMITTED = 9, /* id = task id; result = the integration's
                                  response to the call that submitted a
                                  .waitForTaskToken (or .sync) task, which then
                                  goes on waiting (TaskSubmitted); once */
};

typedef struct asl_input {
    int kind;
    uint64_t id;
    int64_t now_ms;
    json_t *result;    /* borrowed */
    const char *error;
    const char *cause;
} asl_input;

/* Feed one input and run until the execution waits again or ends.
 * Returns SFN_OK, SFN_ENOENT for a task id that is not outstanding (a late
 * duplicate: ignored, nothing changes), SFN_ESTATE when the execution has
 * already ended (or, for ASL_IN_REDRIVE, is not in a redrivable state). */
int asl_exec_feed(asl_exec *x, const asl_input *in);

/* ---- commands: what the caller must do ----------------------------------- */
enum asl_cmd_kind {
    ASL_CMD_INVOKE = 1, /* run a task */
    ASL_CMD_TIMER,      /* feed ASL_IN_TIMER id at due_ms (or later) */
};

typedef struct asl_cmd {
    int kind;
    uint64_t id;           /* task id or timer id, unique in the execution */
    /* ASL_CMD_INVOKE */
    const char *resource;  /* the state's Resource, e.g. a Lambda ARN or
                              "arn:aws:states:::lambda:invoke" */
    const char *function;  /* the Lambda function to invoke (the Resource
                              itself, or Parameters.FunctionName), or NULL
                              for a resource that is not Lambda */
    json_t *payload;       /* borrowed: the event to invoke it with */
    const char *token;     /* task token for .waitForTaskToken, else NULL */
    int wait_for_token;    /* 1: the result comes via SendTaskSuccess */
    int timeout_s;         /* 0 = none (the core arms its own timer) */
    int heartbeat_s;       /* 0 = none */
    const char *state;     /* the Task state's name (mock configurations
                              name states: inside Parallel and Map too) */
    /* ASL_CMD_TIMER */
    int64_t due_ms;
} asl_cmd;

/* Commands produced by the last start/feed call; valid until the next call.
 * Returns their count. */
size_t asl_exec_cmds(const asl_exec *x, const asl_cmd **cmds);

/* Everything the execution is waiting on now (tasks in flight and armed
 * timers): after replaying an execution from its inputs, the caller
 * dispatches these again. Valid until the next call. */
size_t asl_exec_pending(asl_exec *x, const asl_cmd **cmds);

/* ---- results ---------------------------------------------------------- */
int asl_exec_status(const asl_exec *x);
int asl_exec_redrive_count(const asl_exec *x);
json_t *asl_exec_output_get(const asl_exec *x);   /* borrowed; NULL unless SUCCEEDED */
const char *asl_exec_error(const asl_exec *x);     /* NULL unless failed */
const char *asl_exec_cause(const asl_exec *x);
int64_t asl_exec_stop_ms(const asl_exec *x);       /* when it ended, 0 while running */
/* Number of state transitions so far (billing/metrics). */
uint64_t asl_exec_transitions(const asl_exec *x);
/* 1 when task id is one of the last 16 tasks that timed out (TimeoutSeconds
 * or HeartbeatSeconds): SendTask* answers TaskTimedOut rather than
 * TaskDoesNotExist. */
int asl_exec_task_timed_out(const asl_exec *x, uint64_t id);

/* ---- map runs (a distributed Map's iterations; asl_maprun.c) ------------ */
typedef struct asl_map_run {
    int64_t started_id;   /* the id of its MapRunStarted event: names it */
    const char *state;    /* the Map state's name (the machine's, borrowed) */
    const char *label;    /* its Label, else the state's name */
    int status;           /* ASL_RUNNING, ASL_SUCCEEDED, ASL_FAILED, ASL_ABORTED */
    int64_t start_ms, stop_ms;
    int max_concurrency;  /* 0: no limit */
    int tolerated_count;  /* 0 when none was given */
    double tolerated_pct;
    int total, pending, running, succeeded, failed, aborted;
} asl_map_run;
/* The execution's map runs in the order they started (*out valid until the
 * next feed). */
size_t asl_exec_map_runs(const asl_exec *x, const asl_map_run **out);
/* Its mapRunArn, "arn:aws:states:<region>:<account>:mapRun:<machine>/
 * <label>:<uuid>", the uuid made from the execution's ARN and started_id
 * (the same at every replay). Returns the length, or -1 when cap is too
 * small. */
int asl_map_run_arn(const asl_exec *x, const asl_map_run *mr, char *buf, size_t cap);

/* ---- history ------------------------------------------------------------ */
size_t asl_exec_event_count(const asl_exec *x);
/* Event i (0-based; its "id" is i+1) in GetExecutionHistory's shape:
 * {"id","previousEventId","timestamp" (epoch seconds, a number),"type",
 *  "<xxx>EventDetails":{...}}; payloads as JSON text as the API returns them
 * when include_data, left out otherwise. Returns: new. */
json_t *asl_exec_event_json(const asl_exec *x, size_t i, int include_data);
/* Append event i as that JSON text (compact, AWS's key order) to b: the
 * fast path for storing history. Returns SFN_OK, SFN_ENOENT, SFN_ENOMEM. */
struct asl_jbuf;
int asl_exec_event_write(const asl_exec *x, size_t i, int include_data, struct asl_jbuf *b);
/* The log form of the same, for a history store that writes each event
 * once, in order: a payload ("input"/"output") whose text equals the last
 * payload this execution wrote in full (by this call, since it was
 * created) is written as the bare token @<id> of that event instead of
 * the string (a state's input is often the last event's output, and its
 * task's input too). asl_exec_event_log_expand turns such a line back
 * into the API form. Returns as asl_exec_event_write. */
int asl_exec_event_write_log(asl_exec *x, size_t i, struct asl_jbuf *b);
/* Events [from, to) in the log form, joined by '\n': what one step made,
 * written in one go (no step in between). The same text as calling
 * asl_exec_event_write_log for each, but a payload that is the very value
 * of the last full one (a state's input is the previous state's output
 * object) is not serialised again to be compared. Returns as
 * asl_exec_event_write. */
int asl_exec_events_write_log(asl_exec *x, size_t from, size_t to, struct asl_jbuf *b);
/* When the last asl_exec_events_write_log call ended with the execution's
 * output as its last payload (the terminal event's), that output's JSON
 * text, as asl_json_text would make it: *p (not NUL-terminated, valid until
 * the next write call) and *n, returning 0. Else -1. */
int asl_exec_output_log_text(const asl_exec *x, const char **p, size_t *n);
/* A log-form event line back in the API form, appended to out: each @<id>
 * is replaced by the payload string token (quotes included, as in the
 * line) that lookup gives for event id. Returns SFN_OK, SFN_ENOENT (a
 * lookup failed), SFN_EINVAL, SFN_ENOMEM. */
int asl_event_log_expand(const char *line, size_t len,
                         int (*lookup)(void *ctx, int64_t id, const char **tok, size_t *toklen),
                         void *ctx, struct asl_jbuf *out);
/* The payload string token ("input" or "output", quotes included) of an
 * event line that holds its payload in full: *tok points into line.
 * Returns 0, or -1 when it has none. */
int asl_event_log_payload(const char *line, size_t len, const char **tok, size_t *toklen);
/* The event's type name, e.g. "TaskStateEntered". Returns: borrowed. */
const char *asl_exec_event_type(const asl_exec *x, size_t i);

#endif
