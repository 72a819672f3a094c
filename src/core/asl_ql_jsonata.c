/*
 * asl_ql_jsonata.c - the JSONata query language of a running state
 * (AWS-FACTS 3.2): fields are templates whose "{% %}" strings are
 * expressions over $states ({input, context, result when there is one,
 * errorOutput in a Catch}) and the variables as they were when the state
 * was entered. Every evaluation error is States.QueryEvaluationError, which
 * Retry and Catch handle. It is one implementation of the asl_ql table
 * (asl_exec_int.h); its twin for JSONPath is asl_ql_path.c.
 *
 * It computes fields and leaves a state through asl__state_exit; it must not
 * walk from state to state, emit events (but through asl__raise_err) nor
 * arm timers. The expressions themselves are asl_jsonata's.
 */
#include "asl_exec_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* $states, made the first time a field needs it. Returns: borrowed. */
static json_t *states(ql_env *e)
{
    if (e->states == NULL) {
        json_t *o = json_object();
        json_object_set(o, "input", e->t->input ? e->t->input : json_null());
        if (e->result)
            json_object_set(o, "result", e->result);
        if (e->errout)
            json_object_set(o, "errorOutput", e->errout);
        json_object_set_new(o, "context", asl__build_context(e->x, e->t, e->st, e->with_item, e->t->token));
        e->states = o;
    }
    return e->states;
}

/* Evaluate tm; on failure raise the error (catchable) and return -1. */
static int jeval(ql_env *e, const asl_jtmpl *tm, json_t **out)
{
    asl_scope sc = {.context = NULL, .var_lookup = asl__var_lookup, .var_ud = e->t, .rng = &e->x->rng};
    asl_err err = {0};
    *out = NULL;
    if (asl_jtmpl_eval(tm, states(e), &sc, out, &err) != 0) {
        if (err.error == NULL)
            asl_err_set(&err, "States.QueryEvaluationError", "evaluation failed");
        asl__raise_err(e->x, e->t, e->st, &err, 1);
        return -1;
    }
    if (*out == NULL)
        *out = json_null();
    return 0;
}

/* Raise States.QueryEvaluationError with msg. */
static void query_error(ql_env *e, const char *msg, int catchable)
{
    asl_err err = {0};
    asl_err_set_str(&err, "States.QueryEvaluationError", msg);
    asl__raise_err(e->x, e->t, e->st, &err, catchable);
}

/* query_error for a field's value v; frees msg, text and v. Returns -1. */
static int query_fail(ql_env *e, char *msg, char *text, json_t *v, int catchable)
{
    query_error(e, msg, catchable);
    free(text);
    free(msg);
    json_decref(v);
    return -1;
}

/* A field that must be of one JSON type: AWS's message names the expression
 * when the field is one, else it is msg. */
static void type_error(ql_env *e, const asl_jtmpl *tm, const char *field, const char *type, json_t *v,
                       const char *msg, int catchable)
{
    asl_err err = {0};
    const asl_jsonata *ex = asl_jtmpl_expr(tm);
    if (ex)
        asl_jsonata_err_type(ex, field, type, v, &err);
    else
        asl_err_set_str(&err, "States.QueryEvaluationError", msg);
    asl__raise_err(e->x, e->t, e->st, &err, catchable);
}

/* An integer field (TimeoutSeconds, MaxConcurrency, ...). */
static int jeval_int(ql_env *e, const asl_jtmpl *tm, const char *field, int *out)
{
    json_t *v = NULL;
    if (jeval(e, tm, &v) != 0)
        return -1;
    if (!json_is_integer(v) && !(json_is_real(v) && json_real_value(v) == (double)(int64_t)json_real_value(v))) {
        char *text = asl_json_text(v);
        char *msg = asl__xprintf("The %s field must evaluate to an integer, but was: %s", field, text ? text : "?");
        return query_fail(e, msg, text, v, 1);
    }
    *out = (int)json_number_value(v);
    json_decref(v);
    return 0;
}

static int jassign(ql_env *e, const asl_jtmpl *tm, json_t **assigned)
{
    *assigned = NULL;
    if (tm == NULL)
        return 0;
    thr *t = e->t;
    json_t *vals = NULL;
    if (jeval(e, tm, &vals) != 0)
        return -1;
    if (!json_is_object(vals)) {
        json_decref(vals);
        return 0;
    }
    asl__vars_update(t, vals);
    *assigned = vals;
    return 0;
}

/* Output and Assign from one $states, then leave the state. The values of
 * both are computed before the variables change (Assign reads the old). */
static void jexit(ql_env *e, const asl_jtmpl *out_tm, const asl_jtmpl *asg_tm, json_t *dflt, int next)
{
    json_t *out = NULL, *assigned = NULL;
    if (out_tm && jeval(e, out_tm, &out) != 0)
        return;
    if (jassign(e, asg_tm, &assigned) != 0) {
        json_decref(out);
        return;
    }
    if (out == NULL)
        out = json_incref(dflt);
    size_t osz = asl__msize(out);
    if (osz > ASL_MAX_PAYLOAD)
        asl__set_data_limit(e->x, e->t, e->st);
    else
        asl__state_exit(e->x, e->t, out, next, assigned, osz);
    json_decref(out);
    json_decref(assigned);
}

/* The input itself: JSONata has no InputPath. */
static json_t *ja_input(ql_env *e)
{
    return json_incref(e->t->input);
}

/* At every attempt: a Task's TimeoutSeconds and HeartbeatSeconds, then
 * Arguments. */
static json_t *ja_args(ql_env *e, json_t *eff)
{
    const state *st = e->st;
    thr *t = e->t;
    (void)eff;
    t->jt_timeout = t->jt_heartbeat = 0;
    if (st->type == ST_TASK) {
        if (st->j_timeout && jeval_int(e, st->j_timeout, "TimeoutSeconds", &t->jt_timeout) != 0)
            return NULL;
        if (st->j_heartbeat && jeval_int(e, st->j_heartbeat, "HeartbeatSeconds", &t->jt_heartbeat) != 0)
            return NULL;
    }
    json_t *args = NULL;
    if (st->j_args == NULL)
        args = json_incref(t->input);
    else if (jeval(e, st->j_args, &args) != 0)
        return NULL;
    asl__probe_note(t, e->x, PS_AFTER_ARGUMENTS, args);
    return args;
}

/* As ja_args evaluated them. */
static int ja_task_limits(ql_env *e, int *timeout, int *heartbeat)
{
    *timeout = e->t->jt_timeout;
    *heartbeat = e->t->jt_heartbeat;
    return 0;
}

/* A JSONata Pass has no result of its own: Output decides. */
static int ja_pass_result(ql_env *e, json_t *eff, json_t **res, size_t *res_sz)
{
    (void)e;
    (void)eff;
    *res = NULL;
    *res_sz = 0;
    return 0;
}

static int ja_choose(ql_env *e, json_t *eff, int *which)
{
    const state *st = e->st;
    (void)eff;
    *which = -1;
    for (int i = 0; i < st->nchoices; i++) {
        json_t *v = NULL;
        if (st->rule_cond[i] == NULL)
            continue;
        if (jeval(e, st->rule_cond[i], &v) != 0)
            return -1;
        if (!json_is_boolean(v)) {
            type_error(e, st->rule_cond[i], "Condition", "boolean", v, "The Condition field must be a boolean", 0);
            json_decref(v);
            return -1;
        }
        int m = json_is_true(v);
        json_decref(v);
        if (m) {
            *which = i;
            return 0;
        }
    }
    return 0;
}

static int ja_wait_due(ql_env *e, int64_t *due)
{
    const state *st = e->st;
    int64_t now = e->x->now;
    *due = now;
    if (st->j_seconds) {
        int secs = 0;
        if (jeval_int(e, st->j_seconds, "Seconds", &secs) != 0)
            return -1;
        *due = now + (int64_t)secs * 1000;
    } else if (st->j_timestamp) {
        json_t *v = NULL;
        int64_t ms = 0;
        if (jeval(e, st->j_timestamp, &v) != 0)
            return -1;
        if (!json_is_string(v) || asl_timestamp_parse(json_string_value(v), &ms) != 0) {
            char *text = asl__value_text(v);
            char *msg = asl__xprintf("The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time "
                                     "format string: %s",
                                     text ? text : "?");
            return query_fail(e, msg, text, v, 0);
        }
        json_decref(v);
        *due = ms;
    }
    return 0;
}

static int ja_fail_fields(ql_env *e, char **err, char **cause)
{
    const state *st = e->st;
    json_t *ev_ = NULL, *cv = NULL;
    *err = *cause = NULL;
    if (st->j_error && jeval(e, st->j_error, &ev_) != 0)
        return -1;
    if (st->j_cause && jeval(e, st->j_cause, &cv) != 0) {
        json_decref(ev_);
        return -1;
    }
    /* the error's name and cause are strings (AWS: a Fail state's Error and
     * Cause expressions must evaluate to one) */
    if ((st->j_error && !json_is_string(ev_)) || (st->j_cause && !json_is_string(cv))) {
        int bad_err = st->j_error && !json_is_string(ev_);
        type_error(e, bad_err ? st->j_error : st->j_cause, bad_err ? "Error" : "Cause", "string",
                   bad_err ? ev_ : cv, bad_err ? "The Error field must be a string" : "The Cause field must be a string",
                   0);
        json_decref(ev_);
        json_decref(cv);
        return -1;
    }
    *err = json_is_string(ev_) ? strdup(json_string_value(ev_)) : NULL;
    *cause = json_is_string(cv) ? strdup(json_string_value(cv)) : NULL;
    json_decref(ev_);
    json_decref(cv);
    return 0;
}

/* Items, else the input: an array. */
static json_t *ja_map_items(ql_env *e)
{
    const state *st = e->st;
    json_t *items = NULL;
    if (st->j_items) {
        if (jeval(e, st->j_items, &items) != 0)
            return NULL;
        if (!json_is_array(items)) {
            type_error(e, st->j_items, "Items", "array", items, "The Items field must be an array", 1);
            json_decref(items);
            return NULL;
        }
        return items;
    }
    items = json_incref(e->t->input);
    if (!json_is_array(items)) {
        char *text = asl_json_text(items);
        char *msg = asl__xprintf("Map state input must be an array but was: %s", text ? text : "?");
        query_error(e, msg, 1);
        free(text);
        free(msg);
        json_decref(items);
        return NULL;
    }
    return items;
}

static int ja_map_limits(ql_env *e, int phase)
{
    const state *st = e->st;
    thr *t = e->t;
    int v = 0;
    if (phase == 0) {
        t->max_conc = 0;
        t->tol_count = -1;
        t->tol_pct = -1;
        if (st->j_max_conc) {
            if (jeval_int(e, st->j_max_conc, "MaxConcurrency", &v) != 0)
                return -1;
            t->max_conc = v;
        }
        return 0;
    }
    if (st->j_tol_count) {
        if (jeval_int(e, st->j_tol_count, "ToleratedFailureCount", &v) != 0)
            return -1;
        t->tol_count = v;
    }
    if (st->j_tol_pct) {
        if (jeval_int(e, st->j_tol_pct, "ToleratedFailurePercentage", &v) != 0)
            return -1;
        t->tol_pct = v;
    }
    return 0;
}

static int ja_has_selector(const state *st)
{
    return st->j_selector != NULL;
}

static json_t *ja_item_input(ql_env *e)
{
    json_t *in = NULL;
    if (jeval(e, e->st->j_selector, &in) != 0)
        return NULL;
    return in;
}

/* Output (default: the result; a Pass's: its input) and Assign. */
static void ja_leave_result(ql_env *e, json_t *result, size_t res_sz)
{
    (void)res_sz;
    asl__probe_note(e->t, e->x, PS_RESULT, result);
    jexit(e, e->st->j_output, e->st->j_assign, result ? result : e->t->input, e->st->next);
}

/* Output and Assign: a matched Choice rule's own, else the state's. */
static void ja_leave(ql_env *e, json_t *eff, int rule, int next)
{
    const state *st = e->st;
    (void)eff;
    const asl_jtmpl *o = rule >= 0 && st->rule_output[rule] ? st->rule_output[rule] : st->j_output;
    const asl_jtmpl *a = rule >= 0 && st->rule_jassign[rule] ? st->rule_jassign[rule] : st->j_assign;
    jexit(e, o, a, e->t->input, next);
}

/* The catcher's Output (default: the error output) and Assign. */
static void ja_leave_catch(ql_env *e, const catcher *c, json_t *eo)
{
    jexit(e, c->j_output, c->j_assign, eo, c->next);
}

const asl_ql asl__ql_jsonata = {
    .args_each_attempt = 1,
    .input = ja_input,
    .args = ja_args,
    .task_limits = ja_task_limits,
    .pass_result = ja_pass_result,
    .choose = ja_choose,
    .wait_due = ja_wait_due,
    .fail_fields = ja_fail_fields,
    .map_items = ja_map_items,
    .map_limits = ja_map_limits,
    .has_selector = ja_has_selector,
    .item_input = ja_item_input,
    .leave_result = ja_leave_result,
    .leave = ja_leave,
    .leave_catch = ja_leave_catch,
};
