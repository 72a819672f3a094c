/*
 * asl_test.c - TestState (asl_test.h): one state run on its own in the
 * engine's walk, stopped where it would hand over to the next state.
 *
 * Holds: turning the request into a machine (a lone state is wrapped as
 * "StateName" with a Succeed state for each of its targets; a machine's
 * state is found at any depth), the checks AWS makes before running it,
 * the probe that the walk consults (asl_exec_int.h: the context object,
 * the mock standing for a task, a Map's iterations or a Parallel's
 * branches), driving the execution (mock answers, Waits passed at once,
 * a real task handed to the caller) and the response with its inspection
 * data. The mock's checks against the integration's response shape and
 * the context object's checks are asl_test_mock.c's.
 *
 * Must not: evaluate a state's fields itself (the walk and the query
 * languages do, asl_exec.c, asl_ql_*.c), do I/O, read the clock or draw
 * random numbers.
 */
#include "asl_test.h"

#include "asl_exec_int.h"
#include "asl_test_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SINGLE_NAME "StateName" /* AWS's name for a lone state (recorded contexts) */

struct asl_test {
    asl_machine *m;
    const prog *pg;       /* the scope of the state under test */
    int idx;              /* its index there */
    const state *st;
    json_t *stj;          /* its definition (borrowed from m's) */
    int level;
    json_t *input;
    json_t *vars;
    asl_probe probe;
    asl_exec *x;
    /* a task the caller runs */
    int pending;
    uint64_t task_id;
    const char *resource;
    char *function;
    json_t *payload;
    int timeout_s;
};

static int refuse(asl_test_err *err, const char *type, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int refuse(asl_test_err *err, const char *type, const char *fmt, ...)
{
    va_list ap;
    snprintf(err->type, sizeof err->type, "%s", type);
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return SFN_EINVAL;
}

/* ---- the machine ----------------------------------------------------------------- */
static void add_target(json_t *states, const json_t *name)
{
    if (json_is_string(name) && strcmp(json_string_value(name), SINGLE_NAME) != 0 &&
        json_object_get(states, json_string_value(name)) == NULL)
        json_object_set_new(states, json_string_value(name), json_pack("{s:s}", "Type", "Succeed"));
}

/* A lone state as the machine {"StartAt": "StateName", ...}, each state it
 * may go to a Succeed state. Returns: new. */
static json_t *wrap_state(json_t *stj)
{
    json_t *states = json_object();
    json_object_set(states, SINGLE_NAME, stj);
    add_target(states, json_object_get(stj, "Next"));
    add_target(states, json_object_get(stj, "Default"));
    const char *lists[] = {"Choices", "Catch"};
    for (int l = 0; l < 2; l++) {
        size_t i;
        json_t *r;
        json_array_foreach(json_object_get(stj, lists[l]), i, r) add_target(states, json_object_get(r, "Next"));
    }
    return json_pack("{s:s,s:o}", "StartAt", SINGLE_NAME, "States", states);
}

/* The state `name` at any depth of scope p (whose definition is pj):
 * *pg, *idx and its definition *sj. Returns 1 when found. */
static int find_state(const prog *p, const json_t *pj, const char *name, const prog **pg, int *idx,
                      json_t **sj)
{
    json_t *states = json_object_get(pj, "States");
    for (int i = 0; i < p->n; i++) {
        const state *s = &p->s[i];
        json_t *js = json_object_get(states, s->name);
        if (strcmp(s->name, name) == 0) {
            *pg = p;
            *idx = i;
            *sj = js;
            return 1;
        }
        json_t *br = json_object_get(js, "Branches");
        for (int b = 0; b < s->nbranches; b++)
            if (find_state(s->branches[b], json_array_get(br, (size_t)b), name, pg, idx, sj))
                return 1;
        if (s->iter) {
            json_t *ij = json_object_get(js, "ItemProcessor");
            if (ij == NULL)
                ij = json_object_get(js, "Iterator");
            if (find_state(s->iter, ij, name, pg, idx, sj))
                return 1;
        }
    }
    return 0;
}

static int compile(asl_test *t, const asl_test_req *req, asl_test_err *err)
{
    char perr[256];
    json_t *def = asl_json_parse(req->definition, strlen(req->definition), perr, sizeof perr);
    if (def == NULL || !json_is_object(def)) {
        json_decref(def);
        return refuse(err, "InvalidDefinition",
                      "Invalid State Machine Definition: 'INVALID_JSON_DESCRIPTION: %s'",
                      def ? "The definition must be a JSON object" : perr);
    }
    json_t *mdef = req->state_name ? json_incref(def) : wrap_state(def);
    json_decref(def);
    asl_diags diags;
    int rc = asl_machine_compile(mdef, ASL_STANDARD, &t->m, &diags);
    json_decref(mdef);
    if (rc == SFN_ENOMEM)
        return rc;
    if (rc != SFN_OK) {
        char cause[2048];
        asl_diags_cause(&diags, cause, sizeof cause);
        return refuse(err, "InvalidDefinition", "%s", cause);
    }
    const char *name = req->state_name ? req->state_name : SINGLE_NAME;
    if (!find_state(t->m->root, asl_machine_definition_get(t->m), name, &t->pg, &t->idx, &t->stj))
        return refuse(err, "ValidationException", "State not found in definition");
    t->st = &t->pg->s[t->idx];
    return SFN_OK;
}

/* ---- the checks before running ---------------------------------------------------- */
static const char *type_name(int type)
{
    static const char *const n[] = {"", "Task", "Pass", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map"};
    return type > 0 && type <= ST_MAP ? n[type] : "";
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* The state and the mock go together as AWS requires. */
static int check_mock(asl_test *t, const asl_test_req *req, asl_test_err *err)
{
    const state *st = t->st;
    int kids = st->type == ST_MAP || st->type == ST_PARALLEL;
    if (req->has_mock && st->type != ST_TASK && !kids)
        return refuse(err, "ValidationException", "State type '%s' is not supported when a mock is specified",
                      type_name(st->type));
    if (req->has_mock && req->reveal_secrets)
        return refuse(err, "ValidationException", "TestState does not support RevealSecrets when a mock is specified.");
    if (!req->has_mock && kids)
        return refuse(err, "InvalidDefinition",
                      "TestState API does not support Map or Parallel states. Supported state types include: "
                      "[Task, Wait, Pass, Succeed, Fail, Choice]");
    if (!req->has_mock && st->type == ST_TASK &&
        (st->task_kind == TK_ACTIVITY || st->wait_token || ends_with(st->resource, ".sync") ||
         ends_with(st->resource, ".sync:2")))
        return refuse(err, "InvalidDefinition",
                      "TestState API supports activities and the '.sync' and '.waitForTaskToken' integration "
                      "patterns only when a mock is specified");
    if (!req->has_mock)
        return SFN_OK;
    if (req->has_mock_error) {
        t->probe.mock_error = strdup(req->mock_error ? req->mock_error : "");
        t->probe.mock_cause = strdup(req->mock_cause ? req->mock_cause : "");
        if (t->probe.mock_error == NULL || t->probe.mock_cause == NULL)
            return SFN_ENOMEM;
        return SFN_OK;
    }
    char perr[256];
    json_t *res = asl_json_parse(req->mock_result, strlen(req->mock_result), perr, sizeof perr);
    if (res == NULL)
        return refuse(err, "ValidationException", "Mocked result must be valid JSON");
    t->probe.mock_result = res;
    if (st->type == ST_MAP && json_object_get(t->stj, "ResultWriter") != NULL) {
        if (!json_is_object(res))
            return refuse(err, "ValidationException", "Mocked result must be a JSON object.");
    } else if (kids && !json_is_array(res)) {
        return refuse(err, "ValidationException", "Mocked result must be an array.");
    }
    if (st->type == ST_PARALLEL && json_array_size(res) != (size_t)st->nbranches)
        return refuse(err, "ValidationException",
                      "Mocked result must contain the same number of items as number of Parallel branches.");
    if (st->type == ST_TASK && req->field_validation != ASL_FVM_NONE) {
        char msg[512];
        if (asl__mock_check(st->resource, res, req->field_validation == ASL_FVM_STRICT, msg, sizeof msg) != 0)
            return refuse(err, "ValidationException", "Mock result schema validation error: %s", msg);
    }
    return SFN_OK;
}

static json_t *parse_member(const char *text, const char *what, const char *type, asl_test_err *err, int *rc)
{
    char perr[256];
    json_t *v = asl_json_parse(text, strlen(text), perr, sizeof perr);
    if (v == NULL)
        *rc = refuse(err, type, "Invalid %s: '%s'", what, perr);
    return v;
}

/* stateConfiguration against the state. */
static int check_config(asl_test *t, const asl_test_req *req, asl_test_err *err)
{
    const state *st = t->st;
    asl_probe *p = &t->probe;
    p->retrier_count = req->retrier_retry_count > 0 ? req->retrier_retry_count : 0;
    p->failure_count = req->map_iteration_failure_count > 0 ? req->map_iteration_failure_count : 0;
    if (req->error_caused_by_state) {
        const prog *pg;
        int idx;
        json_t *sj;
        int inside = 0;
        for (int b = 0; b < st->nbranches && !inside; b++)
            inside = find_state(st->branches[b], json_array_get(json_object_get(t->stj, "Branches"), (size_t)b),
                                req->error_caused_by_state, &pg, &idx, &sj);
        if (st->iter) {
            json_t *ij = json_object_get(t->stj, "ItemProcessor");
            inside = find_state(st->iter, ij ? ij : json_object_get(t->stj, "Iterator"), req->error_caused_by_state,
                                &pg, &idx, &sj);
        }
        if (!inside)
            return refuse(err, "ValidationException",
                          "errorCausedByState '%s' is not a state of the tested Map or Parallel state",
                          req->error_caused_by_state);
    }
    if (st->type == ST_MAP && json_object_get(t->stj, "ItemReader") != NULL && req->has_mock) {
        if (req->map_item_reader_data == NULL)
            return refuse(err, "ValidationException",
                          "mapItemReaderData is required to test a Map state that has an ItemReader");
        int rc = SFN_OK;
        p->reader_items = parse_member(req->map_item_reader_data, "mapItemReaderData", "ValidationException", err, &rc);
        if (rc != SFN_OK)
            return rc;
        if (!json_is_array(p->reader_items))
            return refuse(err, "ValidationException", "mapItemReaderData must be a JSON array of the items read");
    }
    return SFN_OK;
}

/* The context object the state sees: the one given, else one like AWS's. */
static int make_context(asl_test *t, const asl_test_req *req, asl_test_err *err)
{
    const state *st = t->st;
    if (req->context) {
        int rc = SFN_OK;
        json_t *c = parse_member(req->context, "context", "ValidationException", err, &rc);
        if (c == NULL)
            return rc;
        t->probe.ctx = c;
        char msg[512];
        int token_ok = st->type == ST_TASK && (st->wait_token || strstr(st->resource, ".sync") != NULL);
        if (asl__context_check(c, token_ok, msg, sizeof msg) != 0)
            return refuse(err, "ValidationException", "Invalid Context object provided: %s", msg);
        return SFN_OK;
    }
    const asl_exec_info *in = &req->info;
    char ts[40];
    asl_timestamp_format(in->start_ms, ts);
    json_t *exe = json_pack("{s:s,s:O,s:s,s:o,s:s}", "Id", in->execution_arn ? in->execution_arn : "", "Input",
                            t->input, "Name", in->execution_name ? in->execution_name : "", "RoleArn",
                            in->role_arn ? json_string(in->role_arn) : json_null(), "StartTime", ts);
    json_t *sm = json_pack("{s:s,s:s}", "Id", in->state_machine_arn ? in->state_machine_arn : "", "Name",
                           in->state_machine_name ? in->state_machine_name : "");
    json_t *stj = json_pack("{s:s,s:s}", "Name", SINGLE_NAME, "EnteredTime", ts);
    if (stj && (st->type == ST_TASK || st->type == ST_PARALLEL || st->type == ST_MAP))
        json_object_set_new(stj, "RetryCount", json_integer(t->probe.retrier_count));
    t->probe.ctx = json_pack("{s:o,s:o,s:o}", "Execution", exe, "StateMachine", sm, "State", stj);
    return t->probe.ctx ? SFN_OK : SFN_ENOMEM;
}

/* ---- driving ---------------------------------------------------------------------- */
static int wait_kind_of(const asl_exec *x, uint64_t id)
{
    for (size_t i = 0; i < x->nwait; i++)
        if (x->waits[i].id == id)
            return x->waits[i].kind;
    return 0;
}

/* Run until the state ends or waits on a task the caller runs: a mock
 * answers its task, a Wait passes at once (its time as if it had). */
static void drive(asl_test *t)
{
    asl_exec *x = t->x;
    while (asl_exec_status(x) == ASL_RUNNING) {
        const asl_cmd *cmds;
        size_t n = asl_exec_cmds(x, &cmds);
        asl_input in = {0};
        for (size_t i = 0; i < n && in.kind == 0; i++) {
            const asl_cmd *c = &cmds[i];
            if (c->kind == ASL_CMD_INVOKE && t->probe.mocked) {
                in = (asl_input){.kind = t->probe.mock_error ? ASL_IN_TASK_FAILED : ASL_IN_TASK_SUCCEEDED,
                                 .id = c->id, .now_ms = x->now, .result = t->probe.mock_result,
                                 .error = t->probe.mock_error, .cause = t->probe.mock_cause};
            } else if (c->kind == ASL_CMD_INVOKE) {
                t->pending = 1;
                t->task_id = c->id;
                t->resource = c->resource;
                free(t->function);
                t->function = c->function ? strdup(c->function) : NULL;
                json_decref(t->payload);
                t->payload = json_incref(c->payload);
                t->timeout_s = c->timeout_s;
                return;
            } else if (c->kind == ASL_CMD_TIMER && wait_kind_of(x, c->id) == W_WAIT) {
                in = (asl_input){.kind = ASL_IN_TIMER, .id = c->id, .now_ms = c->due_ms};
            }
        }
        if (in.kind == 0 || asl_exec_feed(x, &in) != SFN_OK)
            break;
    }
}

int asl_test_pending(const asl_test *t, const char **resource, const char **function, json_t **payload,
                     int *timeout_s)
{
    if (!t->pending)
        return 0;
    *resource = t->resource;
    *function = t->function;
    *payload = t->payload;
    *timeout_s = t->timeout_s;
    return 1;
}

void asl_test_feed(asl_test *t, json_t *result, const char *error, const char *cause, int64_t now_ms)
{
    if (!t->pending)
        return;
    t->pending = 0;
    asl_input in = {.kind = error ? ASL_IN_TASK_FAILED : ASL_IN_TASK_SUCCEEDED, .id = t->task_id,
                    .now_ms = now_ms, .result = result, .error = error, .cause = cause};
    asl_exec_feed(t->x, &in);
    drive(t);
}

void asl_test_timeout(asl_test *t, int64_t now_ms)
{
    if (!t->pending)
        return;
    thr *r = t->x->root;
    if (r && r->to_timer) { /* the Task's own TimeoutSeconds */
        t->pending = 0;
        asl_input in = {.kind = ASL_IN_TIMER, .id = r->to_timer, .now_ms = now_ms};
        asl_exec_feed(t->x, &in);
        drive(t);
        return;
    }
    asl_test_feed(t, NULL, "States.Timeout", "The state ran longer than TestState allows (5 minutes).", now_ms);
}

/* ---- the probe: what the walk asks ---------------------------------------------------- */
json_t *asl__probe_context(asl_exec *x, thr *t, int with_item, const char *token)
{
    json_t *base = x->probe->ctx;
    int item = with_item && t->map_idx >= 0 && json_is_object(base);
    int tok = token != NULL && json_is_object(base) && json_object_get(base, "Task") == NULL;
    if (!item && !tok)
        return json_incref(base);
    json_t *c = asl_json_copy(base);
    if (c == NULL)
        return NULL;
    if (item)
        json_object_set_new(c, "Map", json_pack("{s:{s:i,s:O}}", "Item", "Index", t->map_idx, "Value",
                                                t->map_val ? t->map_val : json_null()));
    if (tok)
        json_object_set_new(c, "Task", json_pack("{s:s}", "Token", token));
    return c;
}

void asl__probe_error(asl_exec *x, const char *err, const char *cause)
{
    asl_probe *p = x->probe;
    free(p->err);
    free(p->cause);
    p->err = asl__xstrdup(err);
    p->cause = asl__xstrdup(cause);
}

/* A Map's ItemSelector over each item: the array of the iterations'
 * inputs. Returns: new, or NULL (the error raised). */
static json_t *select_items(ql_env *env, json_t *items)
{
    thr *t = env->t;
    const asl_ql *q = asl__ql_of(env->st);
    json_t *all = json_array();
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item) {
        t->map_idx = (int)i;
        json_decref(t->map_val);
        t->map_val = json_incref(item);
        ql_env ie;
        asl__ql_env_init(&ie, env->x, t, NULL, NULL, NULL, 1);
        json_t *in = q->item_input(&ie);
        asl__ql_env_cleanup(&ie);
        t->map_idx = -1;
        json_decref(t->map_val);
        t->map_val = NULL;
        if (in == NULL) {
            json_decref(all);
            return NULL;
        }
        json_array_append_new(all, in);
    }
    return all;
}

static void mock_outcome(asl_exec *x, thr *t)
{
    asl_probe *p = x->probe;
    if (p->mock_error) {
        asl__state_error(x, t, p->mock_error, p->mock_cause);
        return;
    }
    json_t *res = p->mock_result;
    asl__state_finish(x, t, res, asl__msize(res));
}

void asl__probe_map(ql_env *env, json_t *items)
{
    asl_exec *x = env->x;
    thr *t = env->t;
    asl_probe *p = x->probe;
    p->map_seen = 1;
    p->max_conc = t->max_conc;
    p->tol_count = t->tol_count;
    p->tol_pct = t->tol_pct;
    size_t n = json_array_size(items);
    if (asl__ql_of(env->st)->has_selector(env->st)) {
        json_t *sel = select_items(env, items);
        json_decref(items);
        if (sel == NULL)
            return;
        asl__probe_note(t, x, PS_AFTER_ITEM_SELECTOR, sel);
        json_decref(sel);
    } else {
        json_decref(items);
    }
    if ((size_t)p->failure_count > n) {
        snprintf(p->apierr, sizeof p->apierr, "ValidationException");
        snprintf(p->apimsg, sizeof p->apimsg,
                 "Map iteration failure count must be less than or equal to the number of Map iterations");
        asl__thr_fail(x, t, "States.Runtime", p->apimsg);
        return;
    }
    /* the failed iterations against the tolerated ones, as asl_par.c */
    int has_tol = t->tol_count >= 0 || t->tol_pct >= 0;
    int tolerated = (t->tol_count >= 0 && p->failure_count <= t->tol_count) ||
                    (t->tol_pct >= 0 && n > 0 && 100.0 * p->failure_count / (double)n <= t->tol_pct);
    if (!p->mock_error && p->failure_count > 0 && has_tol && !tolerated) {
        asl__state_error(x, t, "States.ExceedToleratedFailureThreshold",
                         "The specified tolerated failure threshold was exceeded");
        return;
    }
    mock_outcome(x, t);
}

void asl__probe_parallel(asl_exec *x, thr *t)
{
    mock_outcome(x, t);
}

/* ---- starting --------------------------------------------------------------------- */
static int prepare(asl_test *t, const asl_test_req *req, asl_test_err *err)
{
    int rc = compile(t, req, err);
    if (rc == SFN_OK)
        rc = check_mock(t, req, err);
    if (rc != SFN_OK)
        return rc;
    t->input = req->input ? parse_member(req->input, "execution input", "InvalidExecutionInput", err, &rc)
                          : json_object();
    if (t->input == NULL)
        return rc == SFN_OK ? SFN_ENOMEM : rc;
    if (req->variables) {
        t->vars = parse_member(req->variables, "variables", "ValidationException", err, &rc);
        if (t->vars == NULL)
            return rc;
        if (!json_is_object(t->vars))
            return refuse(err, "ValidationException", "Invalid variables: a JSON object is required");
    }
    if ((rc = check_config(t, req, err)) != SFN_OK)
        return rc;
    return make_context(t, req, err);
}

int asl_test_start(const asl_test_req *req, asl_test **out, asl_test_err *err)
{
    *out = NULL;
    memset(err, 0, sizeof *err);
    asl_test *t = calloc(1, sizeof *t);
    if (t == NULL)
        return SFN_ENOMEM;
    t->level = req->level;
    t->probe.retry_index = t->probe.catch_index = -1;
    t->probe.mocked = req->has_mock;
    int rc = prepare(t, req, err);
    if (rc != SFN_OK) {
        asl_test_free(t);
        return rc;
    }
    t->x = asl__exec_start_probe(t->m, &req->info, t->input, &t->probe, t->pg, t->idx, t->vars);
    if (t->x == NULL) {
        asl_test_free(t);
        return SFN_ENOMEM;
    }
    drive(t);
    *out = t;
    return SFN_OK;
}

void asl_test_free(asl_test *t)
{
    if (t == NULL)
        return;
    asl_exec_free(t->x);
    asl_probe *p = &t->probe;
    json_decref(p->ctx);
    json_decref(p->mock_result);
    free(p->mock_error);
    free(p->mock_cause);
    json_decref(p->reader_items);
    for (int i = 0; i < PS__COUNT; i++)
        json_decref(p->seen[i]);
    json_decref(p->out);
    free(p->err);
    free(p->cause);
    free(t->function);
    json_decref(t->payload);
    json_decref(t->input);
    json_decref(t->vars);
    asl_machine_free(t->m);
    free(t);
}

/* ---- the response ------------------------------------------------------------------ */
static void put_text(json_t *o, const char *key, const json_t *v)
{
    char *text = v ? asl_json_text(v) : NULL;
    if (text)
        json_object_set_new(o, key, json_string(text));
    free(text);
}

static void put_seen(json_t *o, const asl_probe *p, const char *key, int what)
{
    put_text(o, key, p->seen[what]);
}

/* The data flow of a JSONPath state, as AWS shows it for each type. */
static void jsonpath_flow(const asl_test *t, json_t *id)
{
    const asl_probe *p = &t->probe;
    switch (t->st->type) {
    case ST_PASS:
        if (t->st->result == NULL) {
            put_seen(id, p, "afterInputPath", PS_AFTER_INPUT_PATH);
            put_seen(id, p, "afterParameters", PS_AFTER_PARAMETERS);
        } else {
            put_seen(id, p, "result", PS_RESULT);
        }
        break;
    case ST_TASK:
        put_seen(id, p, "afterInputPath", PS_AFTER_INPUT_PATH);
        put_seen(id, p, "afterParameters", PS_AFTER_PARAMETERS);
        put_seen(id, p, "result", PS_RESULT);
        break;
    case ST_MAP:
        put_seen(id, p, "afterInputPath", PS_AFTER_INPUT_PATH);
        put_seen(id, p, "afterItemsPath", PS_AFTER_ITEMS_PATH);
        put_seen(id, p, "afterItemSelector", PS_AFTER_ITEM_SELECTOR);
        break;
    case ST_FAIL: /* no InputPath: the input as it is */
        put_text(id, "afterInputPath", t->input);
        break;
    case ST_PARALLEL:
        break;
    default:
        put_seen(id, p, "afterInputPath", PS_AFTER_INPUT_PATH);
        break;
    }
    put_seen(id, p, "afterResultSelector", PS_AFTER_RESULT_SELECTOR);
    put_seen(id, p, "afterResultPath", PS_AFTER_RESULT_PATH);
}

static void error_details(const asl_test *t, json_t *id)
{
    const asl_probe *p = &t->probe;
    if (p->retry_index < 0 && p->catch_index < 0)
        return;
    json_t *d = json_object();
    if (p->catch_index >= 0 && p->left)
        json_object_set_new(d, "catchIndex", json_integer(p->catch_index));
    if (p->retry_index >= 0)
        json_object_set_new(d, "retryIndex", json_integer(p->retry_index));
    if (p->retriable)
        json_object_set_new(d, "retryBackoffIntervalSeconds", json_integer((json_int_t)floor(p->backoff_s)));
    if (json_object_size(d) > 0)
        json_object_set_new(id, "errorDetails", d);
    else
        json_decref(d);
}

static json_t *inspection(const asl_test *t)
{
    const asl_probe *p = &t->probe;
    const state *st = t->st;
    json_t *id = json_object();
    put_text(id, "input", t->input);
    if (!st->jsonata) {
        jsonpath_flow(t, id);
    } else if (st->type == ST_TASK) {
        put_seen(id, p, "afterArguments", PS_AFTER_ARGUMENTS);
        put_seen(id, p, "result", PS_RESULT);
    } else if (st->type == ST_MAP) {
        put_seen(id, p, "afterItemSelector", PS_AFTER_ITEM_SELECTOR);
    }
    if (st->type == ST_MAP && p->map_seen) {
        json_object_set_new(id, "maxConcurrency", json_integer(p->max_conc));
        if (p->tol_count >= 0)
            json_object_set_new(id, "toleratedFailureCount", json_integer(p->tol_count));
        if (p->tol_pct >= 0)
            json_object_set_new(id, "toleratedFailurePercentage", json_real(p->tol_pct));
    }
    const thr *r = t->x->root;
    if (r && json_object_size(r->vars) > 0)
        put_text(id, "variables", r->vars);
    error_details(t, id);
    if (t->level == ASL_TEST_TRACE && st->type == ST_TASK)
        asl__http_trace(st->resource, p->seen[st->jsonata ? PS_AFTER_ARGUMENTS : PS_AFTER_PARAMETERS],
                        p->seen[PS_RESULT], id);
    return id;
}

int asl_test_result(asl_test *t, json_t **resp, asl_test_err *err)
{
    const asl_probe *p = &t->probe;
    *resp = NULL;
    memset(err, 0, sizeof *err);
    if (p->apierr[0])
        return refuse(err, p->apierr, "%s", p->apimsg);
    json_t *r = json_object();
    if (r == NULL)
        return SFN_ENOMEM;
    const char *status, *e = NULL, *c = NULL;
    if (p->retriable) {
        status = "RETRIABLE";
        e = p->err, c = p->cause;
    } else if (p->left) {
        status = p->catch_index >= 0 ? "CAUGHT_ERROR" : "SUCCEEDED";
        if (p->catch_index >= 0)
            e = p->err, c = p->cause;
        put_text(r, "output", p->out);
        if (p->next >= 0)
            json_object_set_new(r, "nextState", json_string(t->pg->s[p->next].name));
    } else {
        status = "FAILED";
        e = asl_exec_error(t->x), c = asl_exec_cause(t->x);
    }
    json_object_set_new(r, "status", json_string(status));
    if (e)
        json_object_set_new(r, "error", json_string(e));
    if (c)
        json_object_set_new(r, "cause", json_string(c));
    if (t->level != ASL_TEST_INFO)
        json_object_set_new(r, "inspectionData", inspection(t));
    *resp = r;
    return SFN_OK;
}
