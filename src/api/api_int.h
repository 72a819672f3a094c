/*
 * api_int.h - the Step Functions API's internals (src/api), shared by its
 * files; not part of its interface (api.h).
 *
 *   api.c          api_call (parse, dispatch), the replies, the strict
 *                  request members and the ARN checks, the HTTP router and
 *                  who may call (api_http_check), api_create / api_free
 *   api_sm.c       state machines: Create, Describe, Update, Delete, List,
 *                  DescribeStateMachineForExecution,
 *                  ValidateStateMachineDefinition, api_sm_from_template
 *   api_exec.c     executions: Start, StartSync, Describe, List, Stop,
 *                  Redrive, SendTask{Success,Failure,Heartbeat},
 *                  Sfnd.WaitExecution
 *   api_act.c      activities: Create, Describe, List, Delete, GetActivityTask
 *   api_history.c  GetExecutionHistory: a page of the runner's history
 *                  iterator (run_history_*), its page tokens
 *   api_ver.c      versions and aliases: Publish/List/DeleteStateMachineVersion,
 *                  Create/Describe/Update/Delete/ListStateMachineAlias(es)
 *   api_ver_use.c  what the operations above ask of them (api__ver_*)
 *   api_ver_refs.c variableReferences of a definition
 *
 * A call's life: api_call parses the body into an object and runs one
 * api__op_ function, which answers exactly once through api__reply_*: the
 * reply leaves after the loop iteration's transaction commits (a rolled
 * back one turns it into a retryable 503). StartSyncExecution and
 * Sfnd.WaitExecution answer later, from the runner's callback.
 *
 * The api__ functions are for these files only. The ones taking a call
 * and returning int (members, ARN checks, look-ups) return 0, or -1 after
 * replying the error themselves. Include it after defining _GNU_SOURCE.
 * Threading: the loop's.
 */
#ifndef SFN_API_INT_H
#define SFN_API_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "ev_work.h"
#include "fjson.h"

#define MAX_INPUT 262144      /* StartExecution input, SendTaskSuccess output */
#define LIST_DEFAULT 100
#define LIST_MAX 1000

struct api {
    run *run;
    ev_loop *loop;
    lam *lam;
    char *region;
    char *account;
    uint64_t rng;
    fjson_buf fj;              /* the JSON reader's scratch */
    char *host;                /* listen address (api_http_check) */
    int port;
    char **origins;            /* allowed browser origins */
    size_t norigins;
    ev_work *work;             /* large definitions compile here (api_sm.c) */
};

/* A definition compiled off the loop for a call (api_sm.c): the op runs
 * again with it. */
typedef struct precompiled precompiled;

typedef struct call {
    api *a;
    api_reply_cb *cb;
    void *ud;
    int status;
    char *body;
    /* Sfnd.WaitExecution */
    ev_timer *timer;
    char *arn;
    int answered;
    int include_data;
    precompiled *pre;          /* set while an op runs again after its compile */
    char *ver_arn, *alias_arn; /* StartExecution through a version / alias (api_ver_use.c) */
    struct http_req *req;      /* the HTTP request (NULL: called in process), for
                                  a long poll to learn that its client went away */
} call;

/* An API timestamp: seconds since the epoch, milliseconds as the fraction. */
static inline json_t *ts(int64_t ms)
{
    return json_real((double)ms / 1000.0);
}

/* ---- api.c: replies ------------------------------------------------------ */
/* Queue the reply (body taken): it leaves after the current transaction
 * commits; then c is freed. */
void api__reply_text(call *c, int status, char *body);
/* j (taken) as the 200 reply; a 500 InternalFailure without memory. */
void api__reply_json(call *c, json_t *j);
/* {"__type": type, "message": the formatted message} with status. */
void api__reply_err(call *c, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The runner refused a write (RUN_EUNAVAIL): a retryable 503. */
void api__reply_unavail(call *c);

#define CLIENT(c, type, ...) api__reply_err((c), 400, (type), __VA_ARGS__)

/* ---- api.c: strict members and look-ups ---------------------------------- */
enum { T_STR = 1, T_INT, T_BOOL, T_OBJ, T_ARR };

/* Member `name` of type T_*: *out borrowed, NULL if absent and optional. */
int api__member(call *c, const json_t *req, const char *name, int type, int required,
                json_t **out);
/* A string member: not empty when required, at most maxlen (0: any), no NUL. */
int api__str_member(call *c, const json_t *req, const char *name, int required,
                    size_t maxlen, const char **out);
/* An integer member in [lo, hi]; dflt when absent. */
int api__int_member(call *c, const json_t *req, const char *name, long lo, long hi,
                    long dflt, long *out);
/* A boolean member; dflt when absent. */
int api__bool_member(call *c, const json_t *req, const char *name, int dflt, int *out);
/* "arn:aws:states:<region>:<account>:<kind1 or kind2>:..." (kind2 may be NULL). */
int api__check_arn(call *c, const char *arn, const char *kind1, const char *kind2);
/* Look an execution up (*x to run_exec_info_cleanup); ExecutionDoesNotExist
 * when absent. */
int api__find_exec(call *c, const char *arn, run_exec_info *x);
/* Look a state machine up, not deleted (*sm to run_sm_cleanup);
 * StateMachineDoesNotExist when absent. */
int api__find_sm(call *c, const char *arn, run_sm *sm);
/* A list's nextToken "<prefix><decimal>" into *out (tok NULL leaves it). */
int api__parse_token(call *c, const char *tok, const char *prefix, long long *out);

/* ---- the operations: req is the request object, borrowed ----------------- */
/* api_sm.c */
void api__op_create_sm(call *c, json_t *req);
void api__op_describe_sm(call *c, json_t *req);
void api__op_list_sms(call *c, json_t *req);
void api__op_update_sm(call *c, json_t *req);
void api__op_delete_sm(call *c, json_t *req);
void api__op_validate(call *c, json_t *req);
void api__op_describe_for_exec(call *c, json_t *req);
/* api_exec.c */
void api__op_start_async(call *c, json_t *req);
void api__op_start_sync(call *c, json_t *req);
void api__op_describe_exec(call *c, json_t *req);
void api__op_list_execs(call *c, json_t *req);
void api__op_stop(call *c, json_t *req);
void api__op_task_success(call *c, json_t *req);
void api__op_task_failure(call *c, json_t *req);
void api__op_task_heartbeat(call *c, json_t *req);
void api__op_redrive(call *c, json_t *req);
void api__op_wait(call *c, json_t *req);
/* api_history.c */
void api__op_history(call *c, json_t *req);
/* api_test.c */
void api__op_test_state(call *c, json_t *req);
/* api_ver.c: versions and aliases */
void api__op_publish_version(call *c, json_t *req);
void api__op_list_versions(call *c, json_t *req);
void api__op_delete_version(call *c, json_t *req);
void api__op_create_alias(call *c, json_t *req);
void api__op_describe_alias(call *c, json_t *req);
void api__op_update_alias(call *c, json_t *req);
void api__op_delete_alias(call *c, json_t *req);
void api__op_list_aliases(call *c, json_t *req);

/* ---- api_ver.c, api_ver_use.c, api_ver_refs.c: what the other operations
 * ask of versions and aliases ------------------------------------------------- */
/* "publish" and "versionDescription" members (-1: replied). */
int api__ver_publish_members(call *c, const json_t *req, int *publish, const char **description);
/* Publish sm as it is now (or give back the newest version when it holds
 * the current revision): 0 with *version, *created_ms; -1: replied. */
int api__ver_publish(call *c, const run_sm *sm, const char *description, int64_t *version,
                     int64_t *created_ms);
/* The machine a start on arn runs (unqualified, a version, an alias's
 * pick: *sm holds that version's definition, role and type, sm->arn the
 * unqualified ARN), and c->ver_arn, c->alias_arn (malloc'd or NULL). 0,
 * or -1 after replying (StateMachineDoesNotExist, StateMachineDeleting). */
int api__ver_sm_for_start(call *c, const char *arn, run_sm *sm);
/* DescribeStateMachine of a version ARN: 1 when arn is one (answered), 0
 * when it is not (the caller answers). */
int api__ver_describe(call *c, const char *arn);
/* revisionId (when the machine has one) and status DELETING into o. */
void api__ver_sm_keys(call *c, const char *sm_arn, json_t *o);
/* DescribeStateMachineForExecution: the revisionId and role the
 * execution's definition row was saved with. */
void api__ver_for_exec_keys(call *c, int64_t def_id, json_t *o);
/* An execution's reply text (taken) with its stateMachineVersionArn and
 * stateMachineAliasArn when it started through them. */
char *api__ver_exec_text(call *c, int64_t exec_id, char *text);
/* The same keys into o (may be NULL); returns 1 when filter (a version or
 * alias ARN; NULL: any) is what the execution started through, else 0. */
int api__ver_exec_keys(call *c, int64_t exec_id, json_t *o, const char *filter);
/* 1 with *base (malloc'd, the unqualified ARN) when arn is a version or
 * alias ARN, else 0. */
int api__ver_list_target(const char *arn, char **base);
/* "variableReferences" into o: the variables each state of definition
 * (text) refers to, when any does (api_ver_refs.c). */
void api__ver_variable_refs(json_t *o, const char *definition);
/* api_act.c */
void api__op_create_activity(call *c, json_t *req);
void api__op_describe_activity(call *c, json_t *req);
void api__op_list_activities(call *c, json_t *req);
void api__op_delete_activity(call *c, json_t *req);
void api__op_get_activity_task(call *c, json_t *req);
/* api_meta.c: tags, and a state machine's logging, tracing and encryption
 * configurations */
void api__op_tag_resource(call *c, json_t *req);
void api__op_untag_resource(call *c, json_t *req);
void api__op_list_tags(call *c, json_t *req);
typedef struct store_sm_conf run_sm_conf_t;
/* The request's loggingConfiguration, tracingConfiguration and
 * encryptionConfiguration checked, each replacing base_arn's (NULL: the
 * defaults) when given: *out (run_sm_conf_cleanup). 0, or -1 replied. */
int api__sm_conf_req(call *c, const json_t *req, const char *base_arn, run_sm_conf_t *out);
/* A create request's tags (CreateStateMachine, CreateActivity) checked.
 * 0, or -1 replied. */
int api__tags_req(call *c, const json_t *req);
/* Store req's tags for arn in the current transaction. 0 or RUN_EUNAVAIL. */
int api__tags_save(call *c, const char *arn, const json_t *req);
/* Store conf and req's tags (req may be NULL) for arn in the current
 * transaction (fresh: forget what an earlier machine of that ARN had).
 * 0 or RUN_EUNAVAIL. */
int api__sm_meta_save(call *c, const char *arn, const run_sm_conf_t *conf, const json_t *req,
                      int fresh);
/* Add loggingConfiguration, tracingConfiguration, encryptionConfiguration
 * of arn to a DescribeStateMachine answer o. */
void api__sm_conf_describe(call *c, const char *arn, json_t *o);
/* api_maprun.c: ListMapRuns, DescribeMapRun, UpdateMapRun */
void api__op_list_map_runs(call *c, json_t *req);
void api__op_describe_map_run(call *c, json_t *req);
void api__op_update_map_run(call *c, json_t *req);
/* The map run arn checked and found (*m: run_map_run_cleanup); 0, or -1
 * replied (InvalidArn, ResourceNotFound). */
struct store_map_run;
int api__find_map_run(call *c, const char *arn, struct store_map_run *m);

#endif
