/*
 * asl_machine.c - compile a validated ASL definition into an immutable
 * asl_machine: states indexed, Next resolved to indices, paths, templates
 * and Choice rules compiled once. Executions only point at it. Each state
 * type is compiled once (compile_state); the fields JSONPath and JSONata
 * spell differently are behind one table per language (ql_compile).
 *
 * Validation with AWS's messages is asl_validate's job (asl_validate.c);
 * compile still refuses anything it cannot represent, never crashes.
 */
#include "asl_machine_int.h"
#include "asl_nomem.h"


#include <math.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cctx {
    asl_diags *diags;
    int failed;
    int oom;              /* an allocation failed: SFN_ENOMEM, not a bad definition */
} cctx;

static char *cdup(cctx *c, const char *s)
{
    char *d = strdup(s);
    if (d == NULL)
        c->oom = 1;
    return d;
}

static void *ccalloc(cctx *c, size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (p == NULL)
        c->oom = 1;
    return p;
}

static char *cndup(cctx *c, const char *s, size_t n)
{
    char *d = strndup(s, n);
    if (d == NULL)
        c->oom = 1;
    return d;
}

static void cfail(cctx *c, const char *loc, const char *fmt, const char *arg)
{
    if (c->failed)
        return;
    c->failed = 1;
    if (c->diags == NULL)
        return;
    if (c->diags->n < ASL_MAX_DIAGS) {
        asl_diag *d = &c->diags->d[c->diags->n++];
        snprintf(d->severity, sizeof d->severity, "ERROR");
        snprintf(d->code, sizeof d->code, "SCHEMA_VALIDATION_FAILED");
        snprintf(d->message, sizeof d->message, fmt, arg ? arg : "");
        snprintf(d->location, sizeof d->location, "%s", loc);
    }
}

static const char *sget(const json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static asl_path *cpath(cctx *c, const json_t *o, const char *k, int flags, int *is_null, const char *loc)
{
    json_t *v = json_object_get(o, k);
    if (is_null)
        *is_null = 0;
    if (v == NULL)
        return NULL;
    if (json_is_null(v)) {
        if (is_null)
            *is_null = 1;
        return NULL;
    }
    if (!json_is_string(v)) {
        cfail(c, loc, "The value for the field '%s' must be a STRING", k);
        return NULL;
    }
    asl_path *p = NULL;
    char err[256];
    if (asl_path_compile(json_string_value(v), flags, &p, err, sizeof err) != 0) {
        cfail(c, loc, "The value for the field '%s' must be a valid JSONPath", k);
        return NULL;
    }
    return p;
}

static asl_tmpl *ctmpl(cctx *c, const json_t *v, const char *field, const char *loc)
{
    if (v == NULL)
        return NULL;
    asl_tmpl *t = NULL;
    char err[512];
    if (asl_tmpl_compile(v, field, &t, err, sizeof err) != 0) {
        cfail(c, loc, "%s", err);
        return NULL;
    }
    return t;
}

/* A JSONata field: literal JSON whose "{% %}" strings are expressions. */
static asl_jtmpl *cj(cctx *c, const json_t *o, const char *key, const char *field, const char *loc)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL)
        return NULL;
    asl_jtmpl *t = NULL;
    char err[512];
    if (asl_jtmpl_compile_field(v, field ? field : key, &t, err, sizeof err) != 0) {
        cfail(c, loc, "%s", err);
        return NULL;
    }
    return t;
}

static int cint(const json_t *o, const char *k, int dflt)
{
    json_t *v = json_object_get(o, k);
    if (json_is_integer(v))
        return (int)json_integer_value(v);
    if (json_is_real(v))
        return (int)json_real_value(v);
    return dflt;
}

static double cnum(const json_t *o, const char *k, double dflt)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

static int resolve_next(cctx *c, const asl_names *names, const char *name, const char *loc)
{
    if (name == NULL)
        return -1;
    int i = (int)asl__names_get(names, name);
    if (i < 0)
        cfail(c, loc, "Missing 'Next' target: %s", name);
    return i;
}

static char **cerrs(cctx *c, const json_t *arr, int *n)
{
    *n = 0;
    if (!json_is_array(arr))
        return NULL;
    size_t len = json_array_size(arr);
    char **e = ccalloc(c, len ? len : 1, sizeof *e);
    if (e == NULL) {
        c->oom = 1;
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        if ((e[*n] = cdup(c, s ? s : "")) == NULL)
            break;
        (*n)++;
    }
    return e;
}

static prog *compile_prog(cctx *c, const json_t *def, const char *loc, int depth, int jsonata);
static void prog_free(prog *p);

/* Which history events a Resource produces (AWS-FACTS 3.6). */
static void classify_resource(cctx *c, state *s)
{
    const char *r = s->resource;
    s->task_kind = TK_OTHER;
    if (strncmp(r, "arn:", 4) != 0)
        return;
    /* arn:partition:service:region:account:... */
    const char *p = r;
    int colons = 0;
    const char *svc = NULL, *rest = NULL;
    for (; *p; p++) {
        if (*p == ':') {
            colons++;
            if (colons == 2)
                svc = p + 1;
            if (colons == 5) {
                rest = p + 1;
                break;
            }
        }
    }
    if (svc == NULL)
        return;
    if (strncmp(svc, "lambda:", 7) == 0) {
        s->task_kind = TK_LAMBDA_ARN;
        return;
    }
    if (strncmp(svc, "states:", 7) == 0 && rest != NULL) {
        if (strncmp(rest, "activity:", 9) == 0) {
            s->task_kind = TK_ACTIVITY;
            return;
        }
        /* arn:aws:states:::service:action[.pattern] */
        const char *colon = strchr(rest, ':');
        if (colon == NULL)
            return;
        s->res_type = cndup(c, rest, (size_t)(colon - rest));
        s->res_name = cdup(c, colon + 1);
        if (s->res_type == NULL || s->res_name == NULL)
            return;
        if (strstr(colon + 1, ".waitForTaskToken") != NULL)
            s->wait_token = 1;
        if (strcmp(s->res_type, "lambda") == 0 && strncmp(colon + 1, "invoke", 6) == 0)
            s->task_kind = TK_LAMBDA_INVOKE;
    }
}

/* ---- the query language's fields ---------------------------------------------
 * Each state type is compiled once (compile_state); what JSONPath and
 * JSONata compile differently is behind this table, as the running side is
 * behind asl_ql (asl_exec_int.h). A JSONata field is a template whose
 * "{% %}" strings are expressions (cj); a JSONPath one a path (cpath), a
 * template with ".$" keys (ctmpl) or a literal.                            */
typedef struct ql_compile {
    /* every state: InputPath, OutputPath, ResultPath, Assign, ResultSelector;
     * JSONata: Output, Assign */
    void (*fields)(cctx *c, state *s, const json_t *js, const char *loc);
    /* Pass: Parameters, Result; JSONata: nothing more */
    void (*pass)(cctx *c, state *s, const json_t *js, const char *loc);
    /* Task, Parallel: Parameters; JSONata: Arguments */
    void (*args)(cctx *c, state *s, const json_t *js, const char *loc);
    /* Task: TimeoutSeconds(Path), HeartbeatSeconds(Path) */
    void (*task)(cctx *c, state *s, const json_t *js, const char *loc);
    /* Choice: room for n rules (Returns 0, or -1 out of memory), then rule i
     * with its Next (Returns 0, or -1: stop compiling the state) */
    int (*rules)(cctx *c, state *s, size_t n);
    int (*rule)(cctx *c, state *s, int i, const json_t *rule, const asl_names *names, const char *rloc);
    /* Wait: Seconds, Timestamp (SecondsPath, TimestampPath) */
    void (*wait)(cctx *c, state *s, const json_t *js, const char *loc);
    /* Fail: Error, Cause (ErrorPath, CausePath) */
    void (*fail)(cctx *c, state *s, const json_t *js, const char *loc);
    /* Map: the items, ItemSelector, MaxConcurrency, the tolerated failures */
    void (*map)(cctx *c, state *s, const json_t *js, const char *loc);
    /* a Catch's fields besides ErrorEquals, Next and ResultPath */
    void (*catcher)(cctx *c, catcher *ct, const json_t *k, const char *loc);
} ql_compile;

static void jp_fields(cctx *c, state *s, const json_t *js, const char *loc)
{
    s->input_path = cpath(c, js, "InputPath", ASL_PATH_ANY, &s->input_null, loc);
    s->output_path = cpath(c, js, "OutputPath", ASL_PATH_ANY, &s->output_null, loc);
    s->result_path = cpath(c, js, "ResultPath", ASL_PATH_REFERENCE, &s->result_null, loc);
    s->assign = ctmpl(c, json_object_get(js, "Assign"), "Assign", loc);
    s->result_selector = ctmpl(c, json_object_get(js, "ResultSelector"), "ResultSelector", loc);
}

static void jp_pass(cctx *c, state *s, const json_t *js, const char *loc)
{
    s->parameters = ctmpl(c, json_object_get(js, "Parameters"), "Parameters", loc);
    s->result = json_incref(json_object_get(js, "Result"));
}

static void jp_args(cctx *c, state *s, const json_t *js, const char *loc)
{
    s->parameters = ctmpl(c, json_object_get(js, "Parameters"), "Parameters", loc);
}

static void jp_task(cctx *c, state *s, const json_t *js, const char *loc)
{
    s->timeout_s = cint(js, "TimeoutSeconds", 0);
    s->heartbeat_s = cint(js, "HeartbeatSeconds", 0);
    s->timeout_path = cpath(c, js, "TimeoutSecondsPath", ASL_PATH_ANY, NULL, loc);
    s->heartbeat_path = cpath(c, js, "HeartbeatSecondsPath", ASL_PATH_ANY, NULL, loc);
}

static int jp_rules(cctx *c, state *s, size_t n)
{
    s->rules = ccalloc(c, n, sizeof *s->rules);
    s->rule_assign = ccalloc(c, n, sizeof *s->rule_assign);
    return s->rules && s->rule_assign ? 0 : -1;
}

static int jp_rule(cctx *c, state *s, int i, const json_t *rule, const asl_names *names, const char *rloc)
{
    char err[1024];
    if (asl_choice_compile(rule, 1, rloc, &s->rules[i], err, sizeof err) != 0) {
        cfail(c, rloc, "%s", err);
        return -1;
    }
    s->rule_next[i] = resolve_next(c, names, sget(rule, "Next"), rloc);
    s->rule_assign[i] = ctmpl(c, json_object_get(rule, "Assign"), "Assign", rloc);
    return 0;
}

static void jp_wait(cctx *c, state *s, const json_t *js, const char *loc)
{
    json_t *v;
    if ((v = json_object_get(js, "Seconds")) != NULL) {
        s->wait_kind = 1;
        s->seconds = json_is_integer(v) ? json_integer_value(v) : (int64_t)json_number_value(v);
    } else if ((v = json_object_get(js, "Timestamp")) != NULL) {
        s->wait_kind = 2;
        if (!json_is_string(v) || asl_timestamp_parse(json_string_value(v), &s->ts_ms) != 0)
            cfail(c, loc, "String does not match RFC3339 timestamp", NULL);
    } else if (json_object_get(js, "SecondsPath")) {
        s->wait_kind = 3;
        s->wait_path = cpath(c, js, "SecondsPath", ASL_PATH_ANY, NULL, loc);
    } else if (json_object_get(js, "TimestampPath")) {
        s->wait_kind = 4;
        s->wait_path = cpath(c, js, "TimestampPath", ASL_PATH_ANY, NULL, loc);
    }
}

static void jp_fail(cctx *c, state *s, const json_t *js, const char *loc)
{
    const char *e = sget(js, "Error"), *ca = sget(js, "Cause");
    s->error = e ? cdup(c, e) : NULL;
    s->cause = ca ? cdup(c, ca) : NULL;
    /* each may be a path or an intrinsic returning a string (AWS's
     * Fail state: States.Format, States.JsonToString, ...) */
    const char *fields[2] = {"ErrorPath", "CausePath"};
    asl_path **paths[2] = {&s->error_path, &s->cause_path};
    asl_intrinsic **fns[2] = {&s->error_fn, &s->cause_fn};
    for (int i = 0; i < 2; i++) {
        const char *v = sget(js, fields[i]);
        char err[256];
        if (v && asl_is_intrinsic(v)) {
            if (asl_intrinsic_compile(v, fns[i], err, sizeof err) != 0)
                cfail(c, loc, "The value for the field '%s' must be a valid JSONPath or a valid "
                      "intrinsic function call", fields[i]);
        } else {
            *paths[i] = cpath(c, js, fields[i], ASL_PATH_ANY, NULL, loc);
        }
    }
}

static void jp_map(cctx *c, state *s, const json_t *js, const char *loc)
{
    s->items_path = cpath(c, js, "ItemsPath", ASL_PATH_ANY, NULL, loc);
    json_t *sel = json_object_get(js, "ItemSelector");
    if (sel == NULL)
        sel = json_object_get(js, "Parameters");
    s->parameters = ctmpl(c, sel, "ItemSelector", loc);
    s->max_conc = cint(js, "MaxConcurrency", 0);
    s->max_conc_path = cpath(c, js, "MaxConcurrencyPath", ASL_PATH_ANY, NULL, loc);
    json_t *tc = json_object_get(js, "ToleratedFailureCount");
    if (tc) {
        s->has_tol_count = 1;
        s->tol_count = cint(js, "ToleratedFailureCount", 0);
    }
    s->tol_count_path = cpath(c, js, "ToleratedFailureCountPath", ASL_PATH_ANY, NULL, loc);
    if (json_object_get(js, "ToleratedFailurePercentage")) {
        s->has_tol_pct = 1;
        s->tol_pct = cnum(js, "ToleratedFailurePercentage", 0);
    }
    s->tol_pct_path = cpath(c, js, "ToleratedFailurePercentagePath", ASL_PATH_ANY, NULL, loc);
}

static void jp_catcher(cctx *c, catcher *ct, const json_t *k, const char *loc)
{
    ct->assign = ctmpl(c, json_object_get(k, "Assign"), "Assign", loc);
}

static const ql_compile ql_jsonpath = {
    .fields = jp_fields, .pass = jp_pass, .args = jp_args, .task = jp_task, .rules = jp_rules,
    .rule = jp_rule, .wait = jp_wait, .fail = jp_fail, .map = jp_map, .catcher = jp_catcher,
};

static void ja_fields(cctx *c, state *s, const json_t *js, const char *loc)
{
    s->j_output = cj(c, js, "Output", NULL, loc);
    s->j_assign = cj(c, js, "Assign", NULL, loc);
}

static void ja_pass(cctx *c, state *s, const json_t *js, const char *loc)
{
    (void)c, (void)s, (void)js, (void)loc;
}

static void ja_args(cctx *c, state *s, const json_t *js, const char *loc)
{
    s->j_args = cj(c, js, "Arguments", NULL, loc);
}

static void ja_task(cctx *c, state *s, const json_t *js, const char *loc)
{
    s->j_timeout = cj(c, js, "TimeoutSeconds", NULL, loc);
    s->j_heartbeat = cj(c, js, "HeartbeatSeconds", NULL, loc);
}

static int ja_rules(cctx *c, state *s, size_t n)
{
    s->rule_cond = ccalloc(c, n, sizeof *s->rule_cond);
    s->rule_output = ccalloc(c, n, sizeof *s->rule_output);
    s->rule_jassign = ccalloc(c, n, sizeof *s->rule_jassign);
    return s->rule_cond && s->rule_output && s->rule_jassign ? 0 : -1;
}

static int ja_rule(cctx *c, state *s, int i, const json_t *rule, const asl_names *names, const char *rloc)
{
    s->rule_next[i] = resolve_next(c, names, sget(rule, "Next"), rloc);
    s->rule_cond[i] = cj(c, rule, "Condition", NULL, rloc);
    s->rule_output[i] = cj(c, rule, "Output", NULL, rloc);
    s->rule_jassign[i] = cj(c, rule, "Assign", NULL, rloc);
    return 0;
}

static void ja_wait(cctx *c, state *s, const json_t *js, const char *loc)
{
    s->j_seconds = cj(c, js, "Seconds", NULL, loc);
    s->j_timestamp = cj(c, js, "Timestamp", NULL, loc);
}

static void ja_fail(cctx *c, state *s, const json_t *js, const char *loc)
{
    s->j_error = cj(c, js, "Error", NULL, loc);
    s->j_cause = cj(c, js, "Cause", NULL, loc);
}

static void ja_map(cctx *c, state *s, const json_t *js, const char *loc)
{
    s->j_items = cj(c, js, "Items", NULL, loc);
    s->j_selector = cj(c, js, "ItemSelector", NULL, loc);
    s->j_max_conc = cj(c, js, "MaxConcurrency", NULL, loc);
    s->j_tol_count = cj(c, js, "ToleratedFailureCount", NULL, loc);
    s->j_tol_pct = cj(c, js, "ToleratedFailurePercentage", NULL, loc);
}

static void ja_catcher(cctx *c, catcher *ct, const json_t *k, const char *loc)
{
    ct->j_output = cj(c, k, "Output", NULL, loc);
    ct->j_assign = cj(c, k, "Assign", NULL, loc);
}

static const ql_compile ql_jsonata = {
    .fields = ja_fields, .pass = ja_pass, .args = ja_args, .task = ja_task, .rules = ja_rules,
    .rule = ja_rule, .wait = ja_wait, .fail = ja_fail, .map = ja_map, .catcher = ja_catcher,
};

static const ql_compile *ql_of(const state *s)
{
    return s->jsonata ? &ql_jsonata : &ql_jsonpath;
}

static void compile_retry_catch(cctx *c, state *s, const json_t *js, const asl_names *names, const char *loc)
{
    json_t *retry = json_object_get(js, "Retry");
    if (json_is_array(retry) && json_array_size(retry) > 0) {
        s->nretry = (int)json_array_size(retry);
        s->retry = ccalloc(c, (size_t)s->nretry, sizeof *s->retry);
        for (int i = 0; s->retry && i < s->nretry; i++) {
            json_t *r = json_array_get(retry, (size_t)i);
            retrier *rt = &s->retry[i];
            rt->errs = cerrs(c, json_object_get(r, "ErrorEquals"), &rt->nerrs);
            rt->interval = cnum(r, "IntervalSeconds", 1);
            rt->max_attempts = cint(r, "MaxAttempts", 3);
            rt->backoff = cnum(r, "BackoffRate", 2.0);
            rt->max_delay = cnum(r, "MaxDelaySeconds", 0);
            const char *j = sget(r, "JitterStrategy");
            rt->jitter_full = j && strcmp(j, "FULL") == 0;
        }
    }
    json_t *catch = json_object_get(js, "Catch");
    if (json_is_array(catch) && json_array_size(catch) > 0) {
        s->ncatch = (int)json_array_size(catch);
        s->catch = ccalloc(c, (size_t)s->ncatch, sizeof *s->catch);
        for (int i = 0; s->catch && i < s->ncatch; i++) {
            json_t *k = json_array_get(catch, (size_t)i);
            catcher *ct = &s->catch[i];
            ct->errs = cerrs(c, json_object_get(k, "ErrorEquals"), &ct->nerrs);
            ct->next = resolve_next(c, names, sget(k, "Next"), loc);
            ct->result_path = cpath(c, k, "ResultPath", ASL_PATH_REFERENCE, &ct->result_null, loc);
            ql_of(s)->catcher(c, ct, k, loc);
        }
    }
}

static void compile_choices(cctx *c, state *s, const json_t *js, const asl_names *names, const char *loc)
{
    const ql_compile *q = ql_of(s);
    json_t *ch = json_object_get(js, "Choices");
    s->nchoices = json_is_array(ch) ? (int)json_array_size(ch) : 0;
    size_t n = (size_t)s->nchoices + 1;
    s->rule_next = ccalloc(c, n, sizeof *s->rule_next);
    int room = q->rules(c, s, n) == 0 && s->rule_next != NULL;
    for (int i = 0; room && i < s->nchoices; i++) {
        json_t *rule = json_array_get(ch, (size_t)i);
        char rloc[600];
        snprintf(rloc, sizeof rloc, "%s/Choices/%d", loc, i);
        if (q->rule(c, s, i, rule, names, rloc) != 0)
            return;
    }
    const char *d = sget(js, "Default");
    if (d)
        s->default_next = resolve_next(c, names, d, loc);
}

/* Parallel's Branches and Map's ItemProcessor inherit the machine's
 * language (jsonata), not the state's. */
static void compile_branches(cctx *c, state *s, const json_t *js, const char *loc, int depth, int jsonata)
{
    json_t *br = json_object_get(js, "Branches");
    s->nbranches = json_is_array(br) ? (int)json_array_size(br) : 0;
    s->branches = ccalloc(c, (size_t)s->nbranches + 1, sizeof *s->branches);
    for (int i = 0; s->branches && i < s->nbranches; i++) {
        char bloc[600];
        snprintf(bloc, sizeof bloc, "%s/Branches/%d", loc, i);
        s->branches[i] = compile_prog(c, json_array_get(br, (size_t)i), bloc, depth + 1, jsonata);
    }
}

static void compile_iter(cctx *c, state *s, const json_t *js, const char *loc, int depth, int jsonata)
{
    json_t *ip = json_object_get(js, "ItemProcessor");
    if (ip == NULL)
        ip = json_object_get(js, "Iterator");
    /* a JSONata state's is named ItemProcessor in locations either way */
    char iloc[600];
    snprintf(iloc, sizeof iloc, "%s/%s", loc,
             s->jsonata || json_object_get(js, "ItemProcessor") ? "ItemProcessor" : "Iterator");
    s->iter = compile_prog(c, ip, iloc, depth + 1, jsonata);
    const char *mode = sget(json_object_get(ip, "ProcessorConfig"), "Mode");
    s->distributed = mode && strcmp(mode, "DISTRIBUTED") == 0;
}

/* Name, language, type, Next. Returns 0, or -1 (failed: cfail). */
static int compile_head(cctx *c, state *s, const char *name, const json_t *js, const asl_names *names,
                        const char *loc, int jsonata)
{
    s->name = cdup(c, name);
    const char *ql = sget(js, "QueryLanguage");
    s->jsonata = ql ? strcmp(ql, "JSONata") == 0 : jsonata;
    s->next = -1;
    s->default_next = -1;
    const char *type = sget(js, "Type");
    if (type == NULL) {
        cfail(c, loc, "The field 'Type' is required but was missing", NULL);
        return -1;
    }
    static const struct { const char *n; int t; } types[] = {
        {"Task", ST_TASK}, {"Pass", ST_PASS}, {"Choice", ST_CHOICE}, {"Wait", ST_WAIT},
        {"Succeed", ST_SUCCEED}, {"Fail", ST_FAIL}, {"Parallel", ST_PARALLEL}, {"Map", ST_MAP},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(type, types[i].n) == 0)
            s->type = types[i].t;
    if (s->type == 0) {
        cfail(c, loc, "Unknown state type: %s", type);
        return -1;
    }
    if (s->type != ST_CHOICE && s->type != ST_SUCCEED && s->type != ST_FAIL)
        s->next = resolve_next(c, names, sget(js, "Next"), loc);

    char *text = json_dumps(js, JSON_COMPACT);
    if (text == NULL) {
        c->oom = 1;
        return -1;
    }
    s->uses_ctx = strstr(text, "$$") != NULL;
    free(text);
    return 0;
}

static void compile_state(cctx *c, state *s, const char *name, const json_t *js, const asl_names *names,
                          const char *loc, int depth, int jsonata)
{
    if (compile_head(c, s, name, js, names, loc, jsonata) != 0)
        return;
    const ql_compile *q = ql_of(s);
    q->fields(c, s, js, loc);
    switch (s->type) {
    case ST_PASS:
        q->pass(c, s, js, loc);
        break;
    case ST_TASK: {
        const char *r = sget(js, "Resource");
        s->resource = cdup(c, r ? r : "");
        if (s->resource == NULL)
            break; /* c->oom: the compile fails */
        classify_resource(c, s);
        q->args(c, s, js, loc);
        q->task(c, s, js, loc);
        compile_retry_catch(c, s, js, names, loc);
        break;
    }
    case ST_CHOICE:
        compile_choices(c, s, js, names, loc);
        break;
    case ST_WAIT:
        q->wait(c, s, js, loc);
        break;
    case ST_FAIL:
        q->fail(c, s, js, loc);
        break;
    case ST_PARALLEL:
        compile_branches(c, s, js, loc, depth, jsonata);
        q->args(c, s, js, loc);
        compile_retry_catch(c, s, js, names, loc);
        break;
    case ST_MAP: {
        compile_iter(c, s, js, loc, depth, jsonata);
        q->map(c, s, js, loc);
        const char *label = sget(js, "Label");
        s->label = label ? cdup(c, label) : NULL;
        compile_retry_catch(c, s, js, names, loc);
        break;
    }
    default:
        break;
    }
}

static prog *compile_prog(cctx *c, const json_t *def, const char *loc, int depth, int jsonata)
{
    if (depth > 64) {
        cfail(c, loc, "State machine nesting is too deep", NULL);
        return NULL;
    }
    json_t *states = json_object_get(def, "States");
    const char *start = sget(def, "StartAt");
    if (!json_is_object(states) || start == NULL) {
        cfail(c, loc[0] ? loc : "/", "These fields are required: [States, StartAt]", NULL);
        return NULL;
    }
    prog *p = ccalloc(c, 1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->n = (int)json_object_size(states);
    p->s = ccalloc(c, (size_t)p->n + 1, sizeof *p->s);
    if (p->s == NULL) {
        free(p);
        return NULL;
    }
    /* Every target is resolved through one map of the scope's names: a
     * scan per transition made compile quadratic in the state count. */
    asl_names names;
    if (asl__names_init(&names, (size_t)p->n) != 0) {
        c->oom = 1;
        free(p->s);
        free(p);
        return NULL;
    }
    const char *k;
    json_t *v;
    long n = 0;
    json_object_foreach(states, k, v) asl__names_put(&names, k, n++);
    p->start = (int)asl__names_get(&names, start);
    if (p->start < 0)
        cfail(c, loc[0] ? loc : "/", "Missing 'StartAt' target: %s", start);
    int i = 0;
    json_object_foreach(states, k, v) {
        char sloc[700];
        snprintf(sloc, sizeof sloc, "%s/States/%s", loc, k);
        compile_state(c, &p->s[i], k, v, &names, sloc, depth, jsonata);
        i++;
        if (c->failed)
            break;
    }
    asl__names_cleanup(&names);
    return p;
}

static void free_strs(char **s, int n)
{
    for (int i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

static void state_cleanup(state *s)
{
    free(s->name);
    asl_jtmpl *jt[] = {s->j_args, s->j_output, s->j_assign, s->j_items, s->j_selector, s->j_max_conc,
                       s->j_tol_count, s->j_tol_pct, s->j_seconds, s->j_timestamp, s->j_error, s->j_cause,
                       s->j_timeout, s->j_heartbeat};
    for (size_t i = 0; i < sizeof jt / sizeof jt[0]; i++)
        asl_jtmpl_free(jt[i]);
    for (int i = 0; i < s->nchoices; i++) {
        if (s->rule_cond)
            asl_jtmpl_free(s->rule_cond[i]);
        if (s->rule_output)
            asl_jtmpl_free(s->rule_output[i]);
        if (s->rule_jassign)
            asl_jtmpl_free(s->rule_jassign[i]);
    }
    free(s->rule_cond);
    free(s->rule_output);
    free(s->rule_jassign);
    asl_path_free(s->input_path);
    asl_path_free(s->output_path);
    asl_path_free(s->result_path);
    asl_tmpl_free(s->parameters);
    asl_tmpl_free(s->result_selector);
    asl_tmpl_free(s->assign);
    json_decref(s->result);
    free(s->resource);
    free(s->res_type);
    free(s->res_name);
    asl_path_free(s->timeout_path);
    asl_path_free(s->heartbeat_path);
    for (int i = 0; s->retry && i < s->nretry; i++)
        free_strs(s->retry[i].errs, s->retry[i].nerrs);
    free(s->retry);
    for (int i = 0; s->catch && i < s->ncatch; i++) {
        free_strs(s->catch[i].errs, s->catch[i].nerrs);
        asl_path_free(s->catch[i].result_path);
        asl_tmpl_free(s->catch[i].assign);
        asl_jtmpl_free(s->catch[i].j_output);
        asl_jtmpl_free(s->catch[i].j_assign);
    }
    free(s->catch);
    for (int i = 0; s->rules && i < s->nchoices; i++) {
        asl_choice_free(s->rules[i]);
        if (s->rule_assign)
            asl_tmpl_free(s->rule_assign[i]);
    }
    free(s->rules);
    free(s->rule_next);
    free(s->rule_assign);
    asl_path_free(s->wait_path);
    free(s->error);
    free(s->cause);
    asl_path_free(s->error_path);
    asl_path_free(s->cause_path);
    asl_intrinsic_free(s->error_fn);
    asl_intrinsic_free(s->cause_fn);
    for (int i = 0; s->branches && i < s->nbranches; i++)
        prog_free(s->branches[i]);
    free(s->branches);
    prog_free(s->iter);
    asl_path_free(s->items_path);
    json_decref(s->items);
    asl_path_free(s->max_conc_path);
    asl_path_free(s->tol_count_path);
    asl_path_free(s->tol_pct_path);
    free(s->label);
}

static void prog_free(prog *p)
{
    if (p == NULL)
        return;
    for (int i = 0; i < p->n; i++)
        state_cleanup(&p->s[i]);
    free(p->s);
    free(p);
}

static int compile(const json_t *definition, int type, asl_machine **out, asl_diags *diags);

int asl_machine_compile(const json_t *definition, int type, asl_machine **out, asl_diags *diags)
{
    unsigned long nomem = asl__nomem_count();
    int rc = compile(definition, type, out, diags);
    return rc == SFN_EINVAL && asl__nomem_count() != nomem ? SFN_ENOMEM : rc;
}

static int compile(const json_t *definition, int type, asl_machine **out, asl_diags *diags)
{
    asl_diags local;
    if (diags == NULL)
        diags = &local;
    memset(diags, 0, sizeof *diags);
    *out = NULL;
    if (!json_is_object(definition)) {
        cctx c = {diags, 0, 0};
        cfail(&c, "/", "The definition must be a JSON object", NULL);
        return SFN_EINVAL;
    }
    if (asl_validate(definition, type, diags) != 0)
        return SFN_EINVAL;
    asl_machine *m = calloc(1, sizeof *m);
    if (m == NULL)
        return SFN_ENOMEM;
    m->def = json_incref((json_t *)definition);
    m->type = type;
    m->timeout_s = cint(definition, "TimeoutSeconds", 0);
    const char *ql = sget(definition, "QueryLanguage");
    m->jsonata = ql && strcmp(ql, "JSONata") == 0;
    cctx c = {diags, 0, 0};
    m->root = compile_prog(&c, definition, "", 0, m->jsonata);
    if (c.oom) {
        asl_machine_free(m);
        memset(diags, 0, sizeof *diags);
        return SFN_ENOMEM;
    }
    if (c.failed || m->root == NULL) {
        asl_machine_free(m);
        return SFN_EINVAL;
    }
    *out = m;
    return SFN_OK;
}

int asl_machine_compile_text(const char *text, size_t len, int type, asl_machine **out, asl_diags *diags)
{
    char err[256];
    asl_diags local;
    if (diags == NULL)
        diags = &local;
    memset(diags, 0, sizeof *diags);
    *out = NULL;
    if (len > ASL_MAX_DEFINITION) {
        cctx c = {diags, 0, 0};
        cfail(&c, "/", "The definition is too large", NULL);
        return SFN_EINVAL;
    }
    json_t *def = asl_json_parse(text, len, err, sizeof err);
    if (def == NULL && errno == ENOMEM)
        return SFN_ENOMEM;
    if (def == NULL) {
        diags->n = 1;
        asl_diag *d = &diags->d[0];
        snprintf(d->severity, sizeof d->severity, "ERROR");
        snprintf(d->code, sizeof d->code, "INVALID_JSON_DESCRIPTION");
        /* in Jackson's words where AWS's are known (asl_json_error_aws) */
        if (!asl_json_error_aws(text, len, d->message, sizeof d->message))
            snprintf(d->message, sizeof d->message, "%s", err);
        d->location[0] = 0;
        return SFN_EINVAL;
    }
    int rc = asl_machine_compile(def, type, out, diags);
    json_decref(def);
    return rc;
}

void asl_machine_free(asl_machine *m)
{
    if (m == NULL)
        return;
    prog_free(m->root);
    json_decref(m->def);
    free(m);
}

json_t *asl_machine_definition_get(const asl_machine *m)
{
    return m->def;
}
