/*
 * asl_ql_path.c - the JSONPath query language of a running state: InputPath,
 * Parameters, ResultSelector, ResultPath, OutputPath, Assign and the *Path
 * fields (SecondsPath, ItemsPath, MaxConcurrencyPath, ...), evaluated over
 * the state's input with $$ (the context object) and the variables in
 * scope. It is one implementation of the asl_ql table (asl_exec_int.h); its
 * twin for JSONata is asl_ql_jsonata.c.
 *
 * It computes fields and leaves a state through asl__state_exit; it must not
 * walk from state to state, emit events (but through asl__raise_err) nor
 * arm timers. A JSONPath field that fails is not caught: the thread fails
 * with States.Runtime (AWS), except what Retry/Catch handle by their rules.
 */
#include "asl_exec_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* $$ and the variables, made the first time a field needs them. */
static const asl_scope *scope(ql_env *e)
{
    if (!e->scope_ready) {
        const state *st = e->st;
        e->ctx = (st == NULL || st->uses_ctx || e->with_item)
                     ? asl__build_context(e->x, e->t, st, e->with_item, e->token)
                     : NULL;
        e->sc.context = e->ctx;
        e->sc.var_lookup = asl__var_lookup;
        e->sc.var_ud = e->t;
        e->sc.rng = &e->x->rng;
        e->scope_ready = 1;
    }
    return &e->sc;
}

/* A path that selects nothing: the thread fails. */
static void no_results(ql_env *e, const asl_path *p)
{
    const char *cp = asl_path_normalized(p);
    char *msg = asl__xprintf("Invalid path '%s' : No results for path: %s", asl_path_text(p), cp ? cp : "");
    asl__runtime_fail(e->x, e->t, e->st, msg);
    free(msg);
}

static json_t *tmpl(ql_env *e, const asl_tmpl *tm, json_t *in)
{
    json_t *out = NULL;
    asl_err err = {0};
    if (asl_tmpl_eval(tm, in, scope(e), &out, &err) != 0) {
        asl__raise_err(e->x, e->t, e->st, &err, 0);
        return NULL;
    }
    return out;
}

/* InputPath. Returns: new, or NULL. */
static json_t *jp_input(ql_env *e)
{
    const state *st = e->st;
    json_t *out = NULL;
    if (st->input_null)
        out = json_object();
    else if (st->input_path == NULL)
        out = json_incref(e->t->input);
    else if (asl_path_eval(st->input_path, e->t->input, scope(e), &out) != 0) {
        no_results(e, st->input_path);
        return NULL;
    }
    asl__probe_note(e->t, e->x, PS_AFTER_INPUT_PATH, out);
    return out;
}

/* OutputPath over v. Returns: new, or NULL. */
static json_t *output_path(ql_env *e, json_t *v)
{
    const state *st = e->st;
    if (st->output_null)
        return json_object();
    if (st->output_path == NULL)
        return json_incref(v);
    json_t *out = NULL;
    if (asl_path_eval(st->output_path, v, scope(e), &out) != 0) {
        no_results(e, st->output_path);
        return NULL;
    }
    return out;
}

/* ResultPath: merge result into the state input. Returns: new, or NULL. */
static json_t *result_path(ql_env *e, const asl_path *rp, int rnull, json_t *result)
{
    if (rnull)
        return json_incref(e->t->input);
    if (rp == NULL)
        return json_incref(result);
    json_t *out = NULL;
    asl_err err = {0};
    if (asl_path_set(rp, e->t->input, result, &out, &err) != 0) {
        asl__raise_err(e->x, e->t, e->st, &err, 0);
        return NULL;
    }
    return out;
}

/* Assign: evaluate against v, then publish into the thread's scope. On
 * success *assigned is the evaluated object (new) for the history event. */
static int assign(ql_env *e, const asl_tmpl *tm, json_t *v, json_t **assigned)
{
    if (tm == NULL)
        return 0;
    thr *t = e->t;
    json_t *vals = tmpl(e, tm, v);
    if (vals == NULL)
        return -1;
    if (asl__too_big(vals)) {
        asl__thr_fail(e->x, t, "States.Runtime", "The assigned variables exceed the maximum size of 256 KiB");
        json_decref(vals);
        return -1;
    }
    /* not yet in effect: the state's other fields (OutputPath, a Choice
     * rule's Assign) read the variables as they were on entry; commit()
     * applies the values as the state exits (AWS's variables docs) */
    if (assigned)
        *assigned = vals;
    else
        json_decref(vals);
    return 0;
}

/* The state's assignments take effect (as it exits). */
static void commit(ql_env *e, json_t *assigned)
{
    if (assigned != NULL)
        asl__vars_update(e->t, assigned);
}

/* Parameters. */
static json_t *jp_args(ql_env *e, json_t *eff)
{
    json_t *out = e->st->parameters ? tmpl(e, e->st->parameters, eff) : json_incref(eff);
    asl__probe_note(e->t, e->x, PS_AFTER_PARAMETERS, out);
    return out;
}

/* Fails the execution with msg for a field's value v; frees msg and v.
 * Returns -1. */
static int path_fail(ql_env *e, char *msg, json_t *v)
{
    asl__runtime_fail(e->x, e->t, e->st, msg);
    free(msg);
    json_decref(v);
    return -1;
}

/* TimeoutSecondsPath / HeartbeatSecondsPath: a positive integer. */
static int path_int(ql_env *e, const asl_path *p, const char *field, int *out)
{
    json_t *v = NULL;
    if (asl_path_eval(p, e->t->input, scope(e), &v) != 0 || !json_is_integer(v) || json_integer_value(v) < 1) {
        char *msg = asl__xprintf("The %s parameter does not reference a valid positive integer: %s", field,
                                 asl_path_text(p));
        return path_fail(e, msg, v);
    }
    *out = (int)json_integer_value(v);
    json_decref(v);
    return 0;
}

static int jp_task_limits(ql_env *e, int *timeout, int *heartbeat)
{
    const state *st = e->st;
    *timeout = st->timeout_s;
    *heartbeat = st->heartbeat_s;
    if (st->timeout_path && path_int(e, st->timeout_path, "TimeoutSecondsPath", timeout))
        return -1;
    if (st->heartbeat_path && path_int(e, st->heartbeat_path, "HeartbeatSecondsPath", heartbeat))
        return -1;
    return 0;
}

/* Pass: Parameters over eff, or Result in its place. */
static int jp_pass_result(ql_env *e, json_t *eff, json_t **res, size_t *res_sz)
{
    const state *st = e->st;
    json_t *r = json_incref(eff);
    size_t sz = e->t->in_sz;
    if (st->parameters) {
        json_t *p = tmpl(e, st->parameters, eff);
        json_decref(r);
        if (p == NULL)
            return -1;
        r = p;
        sz = asl__msize(r);
    }
    asl__probe_note(e->t, e->x, PS_AFTER_PARAMETERS, r);
    if (st->result) {
        json_decref(r);
        r = json_incref(st->result);
        sz = asl__msize(r);
    }
    *res = r;
    *res_sz = sz;
    return 0;
}

static int jp_choose(ql_env *e, json_t *eff, int *which)
{
    const state *st = e->st;
    *which = -1;
    for (int i = 0; i < st->nchoices; i++) {
        int matched = 0;
        asl_err err = {0};
        if (asl_choice_eval(st->rules[i], eff, scope(e), &matched, &err) != 0) {
            asl__raise_err(e->x, e->t, st, &err, 0);
            return -1;
        }
        if (matched) {
            *which = i;
            return 0;
        }
    }
    return 0;
}

/* SecondsPath / TimestampPath over the effective input. Returns the failure
 * message (malloc'd), or NULL with *due set. */
static char *wait_path_due(ql_env *e, int64_t *due)
{
    const state *st = e->st;
    int64_t now = e->x->now;
    json_t *v = NULL;
    const char *pt = asl_path_text(st->wait_path);
    char *msg = NULL;
    if (asl_path_eval(st->wait_path, e->t->eff, scope(e), &v) != 0) {
        msg = asl__xprintf("The %s parameter does not reference an input value: %s",
                           st->wait_kind == 3 ? "SecondsPath" : "TimestampPath", pt);
    } else if (st->wait_kind == 3) {
        if (!json_is_integer(v)) {
            char *text = asl__value_text(v);
            msg = asl__xprintf("The SecondsPath parameter cannot be parsed as a long value: %s == %s", pt, text);
            free(text);
        } else if (json_integer_value(v) < 0) {
            msg = asl__xprintf("The SecondsPath parameter references a negative value: %s == %" JSON_INTEGER_FORMAT,
                               pt, json_integer_value(v));
        } else if (json_integer_value(v) > 99999999) {
            msg = strdup("Wait state delay is too long.");
        } else {
            *due = now + json_integer_value(v) * 1000;
        }
    } else {
        int64_t ms = 0;
        if (!json_is_string(v) || asl_timestamp_parse(json_string_value(v), &ms) != 0) {
            char *text = asl__value_text(v);
            msg = asl__xprintf("The TimestampPath parameter does not reference a valid ISO-8601 extended offset "
                               "date-time format string: %s == %s",
                               pt, text);
            free(text);
        } else if (ms - now > 99999999LL * 1000) {
            msg = strdup("Wait state delay is too long.");
        } else {
            *due = ms;
        }
    }
    json_decref(v);
    return msg;
}

static int jp_wait_due(ql_env *e, int64_t *due)
{
    const state *st = e->st;
    *due = e->x->now;
    if (st->wait_kind == 1) {
        *due = e->x->now + st->seconds * 1000;
    } else if (st->wait_kind == 2) {
        *due = st->ts_ms;
    } else if (st->wait_kind == 3 || st->wait_kind == 4) {
        char *msg = wait_path_due(e, due);
        if (msg) {
            asl__runtime_fail(e->x, e->t, st, msg);
            free(msg);
            return -1;
        }
    }
    if (st->wait_kind == 1 && st->seconds > 99999999) {
        asl__runtime_fail(e->x, e->t, st, "Wait state delay is too long.");
        return -1;
    }
    return 0;
}

/* ErrorPath / CausePath: a path or an intrinsic over the raw input, giving
 * a string (AWS's Fail state). Returns 0, or -1 with the thread failed. */
static int fail_field(ql_env *e, const asl_path *path, const asl_intrinsic *fn, const char *field, char **dst)
{
    thr *t = e->t;
    const state *st = e->st;
    json_t *v = NULL;
    int rc = 0;
    if (fn != NULL) {
        asl_err ie = {0};
        if (asl_intrinsic_eval(fn, t->input, scope(e), &v, &ie) != 0 || !json_is_string(v)) {
            char *c = asl__runtime_cause(t, st, ie.cause ? ie.cause : "The intrinsic function must return a string");
            asl__thr_fail(e->x, t, ie.error ? ie.error : "States.Runtime", c);
            free(c);
            rc = -1;
        } else {
            free(*dst);
            *dst = strdup(json_string_value(v));
        }
        asl_err_clear(&ie);
    } else if (path != NULL) {
        if (asl_path_eval(path, t->input, scope(e), &v) != 0 || !json_is_string(v)) {
            char *text = asl_json_text(t->input);
            char *msg = asl__xprintf("The JSONPath '%s' specified for the field '%s' could not be found in the "
                                     "input '%s'",
                                     asl_path_text(path), field, text);
            asl__runtime_fail(e->x, t, st, msg);
            free(text);
            free(msg);
            rc = -1;
        } else {
            free(*dst);
            *dst = strdup(json_string_value(v));
        }
    }
    json_decref(v);
    return rc;
}

static int jp_fail_fields(ql_env *e, char **err, char **cause)
{
    const state *st = e->st;
    *err = asl__xstrdup(st->error);
    *cause = asl__xstrdup(st->cause);
    if (fail_field(e, st->error_path, st->error_fn, "ErrorPath", err) == 0 &&
        fail_field(e, st->cause_path, st->cause_fn, "CausePath", cause) == 0)
        return 0;
    /* the state was entered and counts as a transition even so */
    e->x->transitions++;
    return -1;
}

/* ItemsPath over the effective input: an array. */
static json_t *jp_map_items(ql_env *e)
{
    const state *st = e->st;
    json_t *items = NULL;
    if (st->items_path) {
        if (asl_path_eval(st->items_path, e->t->eff, scope(e), &items) != 0) {
            no_results(e, st->items_path);
            return NULL;
        }
    } else {
        items = json_incref(e->t->eff);
    }
    if (!json_is_array(items)) {
        /* AWS's words (a recorded TestState): a path into the context
         * object is named from its root, "$$.x" as "$.x" */
        const char *pt = st->items_path ? asl_path_text(st->items_path) : "$";
        char *msg = asl__xprintf("Reference path \"%s\" must point to array.", pt + (pt[0] == '$' && pt[1] == '$'));
        asl__runtime_fail(e->x, e->t, st, msg);
        free(msg);
        json_decref(items);
        return NULL;
    }
    asl__probe_note(e->t, e->x, PS_AFTER_ITEMS_PATH, items);
    return items;
}

/* MaxConcurrencyPath and the ToleratedFailure*Path fields: an integer
 * (or its text; any number when allow_real). */
static int map_int_path(ql_env *e, const asl_path *p, const char *field, int *out, int allow_real)
{
    json_t *v = NULL;
    if (asl_path_eval(p, e->t->eff, scope(e), &v) != 0) {
        char *msg = asl__xprintf("The %s field refers to value \"null\" which is not a valid integer: %s", field,
                                 asl_path_text(p));
        asl__runtime_fail(e->x, e->t, e->st, msg);
        free(msg);
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
        char *text = asl__value_text(v);
        char *msg = asl__xprintf("The %s field refers to value \"%s\" which is not a valid integer: %s", field, text,
                                 asl_path_text(p));
        free(text);
        return path_fail(e, msg, v);
    }
    *out = (int)json_number_value(v);
    json_decref(v);
    return 0;
}

static int jp_map_limits(ql_env *e, int phase)
{
    const state *st = e->st;
    thr *t = e->t;
    if (phase == 0) {
        t->max_conc = st->max_conc;
        if (st->max_conc_path && map_int_path(e, st->max_conc_path, "MaxConcurrencyPath", &t->max_conc, 0) != 0)
            return -1;
        return 0;
    }
    t->tol_count = st->has_tol_count ? st->tol_count : -1;
    if (st->tol_count_path &&
        map_int_path(e, st->tol_count_path, "ToleratedFailureCountPath", &t->tol_count, 0) != 0)
        return -1;
    if (t->tol_count < -1 || (st->tol_count_path && t->tol_count < 0)) {
        asl__runtime_fail(e->x, t, st, "ToleratedFailureCount cannot be negative.");
        return -1;
    }
    t->tol_pct = st->has_tol_pct ? st->tol_pct : -1;
    if (st->tol_pct_path) {
        int pct = 0;
        if (map_int_path(e, st->tol_pct_path, "ToleratedFailurePercentagePath", &pct, 1) != 0)
            return -1;
        t->tol_pct = pct;
    }
    return 0;
}

static int jp_has_selector(const state *st)
{
    return st->parameters != NULL; /* ItemSelector (or Parameters) */
}

static json_t *jp_item_input(ql_env *e)
{
    return tmpl(e, e->st->parameters, e->t->eff);
}

/* ResultSelector, Assign, ResultPath, OutputPath. */
static void jp_leave_result(ql_env *e, json_t *result, size_t res_sz)
{
    thr *t = e->t;
    const state *st = e->st;
    json_t *res = json_incref(result), *out = NULL, *out2 = NULL, *assigned = NULL;
    asl__probe_note(t, e->x, PS_RESULT, res);
    if (st->result_selector) {
        json_t *r2 = tmpl(e, st->result_selector, res);
        json_decref(res);
        if ((res = r2) == NULL)
            goto done;
        res_sz = asl__msize(res);
    }
    asl__probe_note(t, e->x, PS_AFTER_RESULT_SELECTOR, res);
    if (assign(e, st->assign, res, &assigned) != 0)
        goto done;
    if ((out = result_path(e, st->result_path, st->result_null, res)) == NULL)
        goto done;
    asl__probe_note(t, e->x, PS_AFTER_RESULT_PATH, out);
    if ((out2 = output_path(e, out)) == NULL)
        goto done;
    size_t osz = asl__out_bound(st->result_path, st->result_null, t->in_sz, res_sz);
    if (osz > ASL_MAX_PAYLOAD && (osz = asl__msize(out2)) > ASL_MAX_PAYLOAD) {
        asl__set_data_limit(e->x, t, st);
        goto done;
    }
    commit(e, assigned);
    asl__state_exit(e->x, t, out2, st->next, assigned, osz);
done:
    json_decref(res);
    json_decref(out);
    json_decref(out2);
    json_decref(assigned);
}

/* Assign (the state's, then the matched Choice rule's), OutputPath. */
static void jp_leave(ql_env *e, json_t *eff, int rule, int next)
{
    const state *st = e->st;
    json_t *assigned = NULL, *a2 = NULL;
    if (assign(e, st->assign, eff, &assigned) != 0 ||
        (rule >= 0 && assign(e, st->rule_assign[rule], eff, &a2) != 0)) {
        json_decref(assigned);
        return;
    }
    if (a2) {
        if (assigned == NULL)
            assigned = a2;
        else {
            json_object_update(assigned, a2);
            json_decref(a2);
        }
    }
    json_t *out = output_path(e, eff);
    if (out) {
        commit(e, assigned);
        asl__state_exit(e->x, e->t, out, next, assigned, e->t->in_sz);
    }
    json_decref(out);
    json_decref(assigned);
}

/* The catcher's Assign and ResultPath over the error output. */
static void jp_leave_catch(ql_env *e, const catcher *c, json_t *eo)
{
    thr *t = e->t;
    json_t *assigned = NULL;
    if (assign(e, c->assign, eo, &assigned) != 0)
        return;
    json_t *out = result_path(e, c->result_path, c->result_null, eo);
    size_t eo_sz = asl__msize(eo);
    if (out == NULL) {
        json_decref(assigned);
        return;
    }
    size_t osz = asl__out_bound(c->result_path, c->result_null, t->in_sz, eo_sz);
    if (osz > ASL_MAX_PAYLOAD && (osz = asl__msize(out)) > ASL_MAX_PAYLOAD) {
        asl__set_data_limit(e->x, t, e->st);
    } else {
        commit(e, assigned);
        asl__state_exit(e->x, t, out, c->next, assigned, osz);
    }
    json_decref(out);
    json_decref(assigned);
}

const asl_ql asl__ql_jsonpath = {
    .args_each_attempt = 0,
    .input = jp_input,
    .args = jp_args,
    .task_limits = jp_task_limits,
    .pass_result = jp_pass_result,
    .choose = jp_choose,
    .wait_due = jp_wait_due,
    .fail_fields = jp_fail_fields,
    .map_items = jp_map_items,
    .map_limits = jp_map_limits,
    .has_selector = jp_has_selector,
    .item_input = jp_item_input,
    .leave_result = jp_leave_result,
    .leave = jp_leave,
    .leave_catch = jp_leave_catch,
};
