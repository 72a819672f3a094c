/*
 * asl_validate.c - the static checks CreateStateMachine performs on a
 * definition, with AWS's diagnostics (code, message, location).
 *
 * Two passes, as AWS reports them: first the schema (fields allowed and
 * required per state type and query language, value types, paths,
 * templates, Choice rules, Retry/Catch, resources); then, only when the
 * schema holds, the graph (transition targets, a terminal state,
 * reachability) of every scope (the machine, each Parallel branch, each
 * Map processor).
 *
 * Must not: do I/O, keep references into the definition, or recurse
 * without bound (nesting is capped; over the cap is a clean diagnostic).
 * It is deliberately lax where AWS's rule is not known: refusing a machine
 * AWS accepts is worse than accepting one it refuses.
 */
#include "asl_nomem.h"
#include "asl.h"
#include "asl_choice.h"
#include "asl_int.h"
#include "asl_path.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Machines nested in machines (Parallel branches, Map processors). */
#define VALIDATE_MAX_NESTING 32
/* Nesting of JSON walked for JSONata expression checks. */
#define VALIDATE_MAX_WALK 256
#define STATE_NAME_MAX 80
#define MAP_LABEL_MAX 40

typedef struct vctx {
    asl_diags *d;
    int type;   /* enum asl_machine_type */
    int nerr;   /* diagnostics raised, including those not stored */
    int top_ql; /* the machine's own QueryLanguage (enum qlang) */
} vctx;

enum scope_kind { SCOPE_TOP, SCOPE_BRANCH, SCOPE_PROCESSOR };
enum qlang { QL_JSONPATH = 0, QL_JSONATA = 1 };

__attribute__((format(printf, 4, 5))) static void diag(vctx *c, const char *code, const char *loc,
                                                        const char *fmt, ...)
{
    c->nerr++;
    if (c->d == NULL || c->d->n >= ASL_MAX_DIAGS)
        return;
    asl_diag *g = &c->d->d[c->d->n++];
    snprintf(g->severity, sizeof g->severity, "ERROR");
    snprintf(g->code, sizeof g->code, "%s", code);
    snprintf(g->location, sizeof g->location, "%s", loc ? loc : "");
    g->value_error = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->message, sizeof g->message, fmt, ap);
    va_end(ap);
}

#define SCHEMA "SCHEMA_VALIDATION_FAILED"

/* A diagnostic whose text came from another module as
 * "SCHEMA_VALIDATION_FAILED: <msg> at <loc>" (or a bare message). */
static void diag_text(vctx *c, const char *fallback_loc, const char *text)
{
    char code[48] = SCHEMA;
    const char *msg = text;
    const char *colon = strstr(text, ": ");
    if (colon != NULL && (size_t)(colon - text) < sizeof code) {
        int upper = colon > text;
        for (const char *p = text; p < colon; p++)
            if (!((*p >= 'A' && *p <= 'Z') || *p == '_'))
                upper = 0;
        if (upper) {
            memcpy(code, text, (size_t)(colon - text));
            code[colon - text] = '\0';
            msg = colon + 2;
        }
    }
    const char *at = NULL;
    for (const char *p = strstr(msg, " at /"); p != NULL; p = strstr(p + 1, " at /"))
        at = p;
    if (at != NULL) {
        diag(c, code, at + 4, "%.*s", (int)(at - msg), msg);
    } else {
        diag(c, code, fallback_loc, "%s", msg);
    }
}

static void sub_loc(char *out, size_t n, const char *loc, const char *field)
{
    snprintf(out, n, "%s/%s", loc, field);
}

/* ---- small type helpers ---------------------------------------------- */

static int is_nonneg_int(const json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) >= 0;
}

static int is_jsonata_expr(const json_t *v)
{
    if (!json_is_string(v))
        return 0;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    return n >= 4 && strncmp(s, "{%", 2) == 0 && strcmp(s + n - 2, "%}") == 0;
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

static int in_list(const char *k, const char *const *list)
{
    for (; *list != NULL; list++)
        if (strcmp(k, *list) == 0)
            return 1;
    return 0;
}

/* ---- field tables ------------------------------------------------------
 * Fields each state type accepts (ASL spec; the per-type sets were measured
 * with ValidateStateMachineDefinition by others, see AWS-FACTS). Language
 * rules are checked first, so JSONPath-only fields appear here too.     */
static const char *const COMMON_FIELDS[] = {"Type", "Comment", "QueryLanguage", NULL};
static const char *const PASS_FIELDS[] = {"InputPath", "OutputPath", "Result", "ResultPath", "Parameters",
                                          "Output", "Assign", "Next", "End", NULL};
static const char *const TASK_FIELDS[] = {"InputPath", "OutputPath", "ResultPath", "Parameters", "Arguments",
                                          "Output", "Assign", "Resource", "Credentials", "ResultSelector",
                                          "Retry", "Catch", "TimeoutSeconds", "TimeoutSecondsPath",
                                          "HeartbeatSeconds", "HeartbeatSecondsPath", "Next", "End", NULL};
static const char *const WAIT_FIELDS[] = {"InputPath", "OutputPath", "Output", "Assign", "Seconds", "Timestamp",
                                          "SecondsPath", "TimestampPath", "Next", "End", NULL};
static const char *const PARALLEL_FIELDS[] = {"InputPath", "OutputPath", "ResultPath", "Parameters",
                                              "Arguments", "Output", "Assign", "ResultSelector", "Retry",
                                              "Catch", "Branches", "Next", "End", NULL};
static const char *const MAP_FIELDS[] = {"InputPath", "OutputPath", "ResultPath", "Parameters", "Output",
                                         "Assign", "ResultSelector", "Retry", "Catch", "ItemProcessor",
                                         "Iterator", "ItemsPath", "Items", "ItemSelector", "ItemReader",
                                         "ItemBatcher", "ResultWriter", "MaxConcurrency", "MaxConcurrencyPath",
                                         "ToleratedFailurePercentage", "ToleratedFailurePercentagePath",
                                         "ToleratedFailureCount", "ToleratedFailureCountPath", "Label", "Next",
                                         "End", NULL};
static const char *const CHOICE_FIELDS[] = {"InputPath", "OutputPath", "Output", "Assign", "Choices", "Default",
                                            NULL};
static const char *const SUCCEED_FIELDS[] = {"InputPath", "OutputPath", "Output", NULL};
static const char *const FAIL_FIELDS[] = {"Error", "Cause", "ErrorPath", "CausePath", NULL};

/* Fields that exist only in one query language (AWS-FACTS §3.2). */
static const char *const JSONPATH_ONLY[] = {"InputPath", "OutputPath", "ResultPath", "Parameters",
                                            "ResultSelector", "Result", "ItemsPath", "SecondsPath",
                                            "TimestampPath", "TimeoutSecondsPath", "HeartbeatSecondsPath",
                                            "ErrorPath", "CausePath", "MaxConcurrencyPath",
                                            "ToleratedFailurePercentagePath", "ToleratedFailureCountPath",
                                            NULL};
static const char *const JSONATA_ONLY[] = {"Arguments", "Output", "Items", NULL};

/* ---- Task resources ------------------------------------------------------ */

/* Optimised integrations whose API list we know; any other API of these
 * services is not recognised (e.g. dynamodb:query, recorded). */
static const char *const KNOWN_APIS[] = {
    "lambda:invoke", "sns:publish", "sqs:sendMessage", "dynamodb:getItem", "dynamodb:putItem",
    "dynamodb:updateItem", "dynamodb:deleteItem", "states:startExecution", "ecs:runTask", "batch:submitJob",
    "glue:startJobRun", "events:putEvents", "apigateway:invoke", "http:invoke", "mediaconvert:createJob",
    "databrew:startJobRun", "stepfunctions:startExecution", NULL};
static const char *const STRICT_SERVICES[] = {"lambda", "sns", "sqs", "dynamodb", "states", "ecs", "batch",
                                              "glue", "events", "apigateway", "http", "mediaconvert",
                                              "databrew", NULL};
/* Services whose many APIs we accept without listing them. */
static const char *const OPEN_SERVICES[] = {"sagemaker", "elasticmapreduce", "emr-serverless", "emr-containers",
                                            "eks", "bedrock", "athena", "codebuild", "redshift-data",
                                            "evidently", "glue-databrew", NULL};

static int all_digits(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* Split "arn:part:svc:region:acct:rest"; fields point into a copy. */
typedef struct arn_parts {
    char buf[512];
    char *part, *svc, *region, *acct, *rest;
} arn_parts;

static int arn_split(const char *s, arn_parts *a)
{
    if (strlen(s) >= sizeof a->buf || strncmp(s, "arn:", 4) != 0)
        return -1;
    strcpy(a->buf, s + 4);
    char *f[5];
    char *p = a->buf;
    for (int i = 0; i < 4; i++) {
        f[i] = p;
        p = strchr(p, ':');
        if (p == NULL)
            return -1;
        *p++ = '\0';
    }
    f[4] = p;
    a->part = f[0];
    a->svc = f[1];
    a->region = f[2];
    a->acct = f[3];
    a->rest = f[4];
    return 0;
}

/* Returns 1 when Step Functions would recognise the resource; *suffix gets
 * the integration pattern (".sync", ".sync:2", ".waitForTaskToken" or ""). */
static int resource_recognized(const char *res, const char **suffix)
{
    static const char *const PARTITIONS[] = {"aws", "aws-cn", "aws-us-gov", NULL};
    arn_parts a;
    *suffix = "";
    if (arn_split(res, &a) != 0 || !in_list(a.part, PARTITIONS))
        return 0;
    if (strcmp(a.svc, "lambda") == 0) {
        /* arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]; AWS takes
         * any region and account text here (a recorded TestState of
         * "arn:aws:lambda:your-region:your-account-id:function:..."), as
         * it takes any region */
        return a.region[0] != '\0' && a.acct[0] != '\0' && strncmp(a.rest, "function:", 9) == 0 &&
               a.rest[9] != '\0' && a.rest[9] != ':';
    }
    if (strcmp(a.svc, "states") != 0)
        return 0;
    if (a.region[0] != '\0' || a.acct[0] != '\0') {
        /* An activity: arn:aws:states:REGION:ACCOUNT:activity:NAME */
        return a.region[0] != '\0' && all_digits(a.acct, strlen(a.acct)) &&
               strncmp(a.rest, "activity:", 9) == 0 && a.rest[9] != '\0';
    }
    /* arn:aws:states:::SERVICE:API[.pattern] */
    char api[256];
    snprintf(api, sizeof api, "%s", a.rest);
    char *dot = strchr(api, '.');
    if (dot != NULL) {
        const char *sfx = res + strlen(res) - strlen(dot);
        if (strcmp(dot, ".sync") == 0 || strcmp(dot, ".sync:2") == 0 || strcmp(dot, ".waitForTaskToken") == 0)
            *suffix = sfx;
        else
            return 0;
        *dot = '\0';
    }
    char *colon = strchr(api, ':');
    if (colon == NULL || colon[1] == '\0')
        return 0;
    if (strncmp(api, "aws-sdk:", 8) == 0) {
        /* aws-sdk:SERVICE:ACTION */
        char *c2 = strchr(colon + 1, ':');
        return c2 != NULL && c2 > colon + 1 && c2[1] != '\0' && strchr(c2 + 1, ':') == NULL;
    }
    char svcname[64];
    snprintf(svcname, sizeof svcname, "%.*s", (int)(colon - api), api);
    if (in_list(svcname, STRICT_SERVICES))
        return in_list(api, KNOWN_APIS);
    return in_list(svcname, OPEN_SERVICES);
}

/* ---- paths and templates ---------------------------------------------- */

static void check_path_field(vctx *c, const json_t *st, const char *field, const char *loc, int flags,
                             int allow_null, int allow_intrinsic)
{
    const json_t *v = json_object_get(st, field);
    char floc[512];
    if (v == NULL)
        return;
    sub_loc(floc, sizeof floc, loc, field);
    if (json_is_null(v) && allow_null)
        return;
    if (!json_is_string(v)) {
        diag(c, SCHEMA, floc, "The value for the field '%s' must be a STRING", field);
        return;
    }
    char err[512] = "";
    const char *text = json_string_value(v);
    if (allow_intrinsic && asl_is_intrinsic(text)) {
        asl_intrinsic *f = NULL;
        if (asl_intrinsic_compile(text, &f, err, sizeof err) != 0)
            diag(c, SCHEMA, floc, "The value for the field '%s' must be a valid JSONPath or a valid intrinsic function call", field);
        asl_intrinsic_free(f);
        return;
    }
    asl_path *p = NULL;
    if (asl_path_compile(text, flags, &p, err, sizeof err) != 0) {
        if (flags == ASL_PATH_REFERENCE)
            diag(c, SCHEMA, floc, "The value for the field '%s' must be a valid ReferencePath", field);
        else
            diag(c, SCHEMA, floc, "The value for the field '%s' must be a valid JSONPath", field);
    }
    asl_path_free(p);
}

static void check_template(vctx *c, const json_t *tmpl, const char *field, const char *loc)
{
    if (tmpl == NULL)
        return;
    char err[1024] = "";
    asl_tmpl *t = NULL;
    if (asl_tmpl_compile(tmpl, field, &t, err, sizeof err) != 0)
        diag_text(c, loc, err[0] ? err : "Invalid payload template");
    asl_tmpl_free(t);
}

/* Assign keys name variables: a letter or underscore, then letters, digits,
 * underscores (AWS "Invalid variable name"). */
static void check_assign(vctx *c, const json_t *assign, const char *loc, int ql)
{
    char floc[512];
    if (assign == NULL)
        return;
    sub_loc(floc, sizeof floc, loc, "Assign");
    if (!json_is_object(assign)) {
        diag(c, SCHEMA, floc, "The value for the field 'Assign' must be an OBJECT");
        return;
    }
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)assign, key, val) {
        char name[256];
        snprintf(name, sizeof name, "%s", key);
        size_t n = strlen(name);
        if (ql == QL_JSONPATH && n >= 2 && strcmp(name + n - 2, ".$") == 0)
            name[n - 2] = '\0';
        int ok = name[0] != '\0' && !(name[0] >= '0' && name[0] <= '9');
        for (const char *p = name; *p && ok; p++)
            ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_';
        if (!ok) {
            diag(c, "INVALID_VARIABLE_NAME", floc,
                 "Invalid variable name '%s': the variable name contains invalid characters.", name);
        } else if (strcmp(name, "states") == 0) {
            diag(c, "RESERVED_VARIABLE_NAME", floc, "Cannot assign to reserved variable '$states'.");
        }
    }
    if (ql == QL_JSONPATH)
        check_template(c, assign, "Assign", floc);
}

/* JSONata strings: a value opening with {% must close with %}. */
static void walk_jsonata(vctx *c, const json_t *v, const char *loc, int depth)
{
    if (depth > VALIDATE_MAX_WALK)
        return;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if (n >= 2 && strncmp(s, "{%", 2) == 0 && (n < 4 || strcmp(s + n - 2, "%}") != 0))
            diag(c, SCHEMA, loc, "JSONata string must start with {%% and end with %%}");
    } else if (json_is_object(v)) {
        const char *k;
        const json_t *x;
        json_object_foreach((json_t *)v, k, x) walk_jsonata(c, x, loc, depth + 1);
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            walk_jsonata(c, json_array_get(v, i), loc, depth + 1);
    }
}

/* ---- Retry and Catch ----------------------------------------------------- */

static void check_error_equals(vctx *c, const json_t *e, const char *eloc, int is_last)
{
    const json_t *ee = json_object_get(e, "ErrorEquals");
    char floc[512];
    if (ee == NULL) {
        diag(c, SCHEMA, eloc, "These fields are required: [ErrorEquals]");
        return;
    }
    sub_loc(floc, sizeof floc, eloc, "ErrorEquals");
    if (!json_is_array(ee)) {
        diag(c, SCHEMA, floc, "The value for the field 'ErrorEquals' must be an ARRAY");
        return;
    }
    if (json_array_size(ee) == 0) {
        diag(c, SCHEMA, floc, "Value cannot be empty");
        return;
    }
    int has_all = 0;
    for (size_t i = 0; i < json_array_size(ee); i++) {
        const json_t *s = json_array_get(ee, i);
        if (!json_is_string(s)) {
            diag(c, SCHEMA, floc, "The value for the field 'ErrorEquals' must be an ARRAY of STRING");
            return;
        }
        if (strcmp(json_string_value(s), "States.ALL") == 0)
            has_all = 1;
    }
    /* ASL spec: "States.ALL" must appear alone, in the last retrier/catcher. */
    if (has_all && (json_array_size(ee) > 1 || !is_last))
        diag(c, SCHEMA, floc, "States.ALL must appear alone and at end of list");
}

/* A Retry or Catch list: an ARRAY of OBJECTs with only the fields named (and
 * each language's own), each with its ErrorEquals; `each` checks the rest. */
typedef void (*handler_fn)(vctx *c, const json_t *e, const char *eloc, int ql);

static void check_handlers(vctx *c, const json_t *st, const char *loc, int ql, const char *field,
                           const char *const *fields, handler_fn each)
{
    const json_t *r = json_object_get(st, field);
    char floc[512], eloc[600];
    if (r == NULL)
        return;
    sub_loc(floc, sizeof floc, loc, field);
    if (!json_is_array(r)) {
        diag(c, SCHEMA, floc, "The value for the field '%s' must be an ARRAY", field);
        return;
    }
    for (size_t i = 0; i < json_array_size(r); i++) {
        const json_t *e = json_array_get(r, i);
        snprintf(eloc, sizeof eloc, "%s[%zu]", floc, i);
        if (!json_is_object(e)) {
            diag(c, SCHEMA, eloc, "Value should be an OBJECT");
            continue;
        }
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)e, k, v) {
            if (!in_list(k, fields))
                diag(c, SCHEMA, eloc, "Field '%s' is not supported", k);
            else if (ql == QL_JSONATA && strcmp(k, "ResultPath") == 0)
                diag(c, SCHEMA, eloc,
                     "The QueryLanguage is set to 'JSONata', but field '%s' is only supported for the 'JSONPath' QueryLanguage", k);
            else if (ql == QL_JSONPATH && strcmp(k, "Output") == 0)
                diag(c, SCHEMA, eloc,
                     "The QueryLanguage is set to 'JSONPath', but field '%s' is only supported for the 'JSONata' QueryLanguage", k);
        }
        check_error_equals(c, e, eloc, i + 1 == json_array_size(r));
        each(c, e, eloc, ql);
    }
}

static void check_retrier(vctx *c, const json_t *e, const char *eloc, int ql)
{
    (void)ql;
    const json_t *x;
    if ((x = json_object_get(e, "IntervalSeconds")) && !(json_is_integer(x) && json_integer_value(x) >= 1))
        diag(c, SCHEMA, eloc, "The value for the field 'IntervalSeconds' must be a positive INTEGER");
    if ((x = json_object_get(e, "MaxAttempts")) && !is_nonneg_int(x))
        diag(c, SCHEMA, eloc, "The value for the field 'MaxAttempts' must be a non-negative INTEGER");
    if ((x = json_object_get(e, "MaxDelaySeconds")) && !(json_is_integer(x) && json_integer_value(x) >= 1))
        diag(c, SCHEMA, eloc, "The value for the field 'MaxDelaySeconds' must be a positive INTEGER");
    if ((x = json_object_get(e, "BackoffRate")) && !(json_is_number(x) && json_number_value(x) >= 1.0))
        diag(c, SCHEMA, eloc, "The value for the field 'BackoffRate' must be a NUMBER >= 1.0");
    if ((x = json_object_get(e, "JitterStrategy")) &&
        !(json_is_string(x) && (strcmp(json_string_value(x), "FULL") == 0 || strcmp(json_string_value(x), "NONE") == 0)))
        diag(c, SCHEMA, eloc, "Value should be one of the following: [NONE, FULL]");
}

static void check_catcher(vctx *c, const json_t *e, const char *eloc, int ql)
{
    const json_t *next = json_object_get(e, "Next");
    if (next == NULL)
        diag(c, SCHEMA, eloc, "These fields are required: [Next]");
    else if (!json_is_string(next))
        diag(c, SCHEMA, eloc, "The value for the field 'Next' must be a STRING");
    if (ql == QL_JSONPATH)
        check_path_field(c, e, "ResultPath", eloc, ASL_PATH_REFERENCE, 1, 0);
    check_assign(c, json_object_get(e, "Assign"), eloc, ql);
    if (ql == QL_JSONATA && json_object_get(e, "Output"))
        walk_jsonata(c, json_object_get(e, "Output"), eloc, 0);
}

static void check_retry(vctx *c, const json_t *st, const char *loc)
{
    /* Retry has neither ResultPath nor Output, so the language checks in
     * check_handlers never fire for it: they are "not supported" first. */
    static const char *const RETRY_FIELDS[] = {"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate",
                                               "MaxDelaySeconds", "JitterStrategy", "Comment", NULL};
    check_handlers(c, st, loc, QL_JSONPATH, "Retry", RETRY_FIELDS, check_retrier);
}

static void check_catch(vctx *c, const json_t *st, const char *loc, int ql)
{
    static const char *const CATCH_FIELDS[] = {"ErrorEquals", "Next", "ResultPath", "Comment", "Assign", "Output",
                                               NULL};
    check_handlers(c, st, loc, ql, "Catch", CATCH_FIELDS, check_catcher);
}

/* ---- states -------------------------------------------------------------- */

static void validate_machine(vctx *c, const json_t *m, const char *loc, int kind, int ql, int depth);

static void exclusive(vctx *c, const json_t *st, const char *loc, const char *a, const char *b)
{
    if (json_object_get(st, a) != NULL && json_object_get(st, b) != NULL)
        diag(c, SCHEMA, loc, "There should only be one of the following fields: [%s, %s]", a, b);
}

static void check_transition(vctx *c, const json_t *st, const char *loc)
{
    const json_t *next = json_object_get(st, "Next");
    const json_t *end = json_object_get(st, "End");
    if (end != NULL && !json_is_boolean(end))
        diag(c, SCHEMA, loc, "The value for the field 'End' must be a BOOLEAN");
    if (next != NULL && !json_is_string(next))
        diag(c, SCHEMA, loc, "The value for the field 'Next' must be a STRING");
    if (next != NULL && json_is_true(end))
        diag(c, SCHEMA, loc, "There should only be one of the following fields: [Next, End]");
    else if (next == NULL && !json_is_true(end))
        diag(c, SCHEMA, loc, "This object should have only one of the following fields: [Next, End]");
}

/* The opening every check_<state> shares: the state's required member
 * `field` (else "These fields are required" at the state), of the JSON type
 * named (else "must be a/an TYPE" at the field), non-empty when an ARRAY
 * ("Value cannot be empty"). floc gets the field's location. NULL after a
 * diagnostic. */
static const json_t *required_member(vctx *c, const json_t *st, const char *loc, const char *field,
                                     json_type type, char *floc, size_t flen)
{
    const json_t *v = json_object_get(st, field);
    sub_loc(floc, flen, loc, field);
    if (v == NULL) {
        diag(c, SCHEMA, loc, "These fields are required: [%s]", field);
        return NULL;
    }
    if (json_typeof(v) != type) {
        diag(c, SCHEMA, floc, "The value for the field '%s' must be %s", field,
             type == JSON_ARRAY ? "an ARRAY" : type == JSON_OBJECT ? "an OBJECT" : "a STRING");
        return NULL;
    }
    if (type == JSON_ARRAY && json_array_size(v) == 0) {
        diag(c, SCHEMA, floc, "Value cannot be empty");
        return NULL;
    }
    return v;
}

static void check_task(vctx *c, const json_t *st, const char *loc, int ql)
{
    char floc[512];
    const json_t *res = required_member(c, st, loc, "Resource", JSON_STRING, floc, sizeof floc);
    if (res != NULL) {
        const char *sfx = "";
        const char *r = json_string_value(res);
        if (!resource_recognized(r, &sfx)) {
            diag(c, SCHEMA, floc,
                 "The resource provided %s is not recognized. The value is not a valid resource ARN, or the resource is not available in this region.",
                 r);
        } else if (c->type == ASL_EXPRESS && strncmp(sfx, ".sync", 5) == 0) {
            diag(c, SCHEMA, floc, "Express state machine does not support '.sync' service integration");
        } else if (c->type == ASL_EXPRESS && strcmp(sfx, ".waitForTaskToken") == 0) {
            /* AWS's text has a stray space before " at": kept. */
            diag(c, SCHEMA, floc, "Express state machine does not support '.waitForTaskToken' service integration ");
        } else if (c->type == ASL_EXPRESS && strncmp(r, "arn:", 4) == 0 && strstr(r, ":states:") &&
                   strstr(r, ":activity:")) {
            diag(c, SCHEMA, floc, "Express state machine does not support Activity ARN");
        }
    }
    exclusive(c, st, loc, "TimeoutSeconds", "TimeoutSecondsPath");
    exclusive(c, st, loc, "HeartbeatSeconds", "HeartbeatSecondsPath");
    const json_t *to = json_object_get(st, "TimeoutSeconds");
    const json_t *hb = json_object_get(st, "HeartbeatSeconds");
    if (to && !(json_is_integer(to) && json_integer_value(to) > 0) && !(ql == QL_JSONATA && is_jsonata_expr(to)))
        diag(c, SCHEMA, loc, "The value for the field 'TimeoutSeconds' must be a positive INTEGER");
    if (hb && !(json_is_integer(hb) && json_integer_value(hb) > 0) && !(ql == QL_JSONATA && is_jsonata_expr(hb)))
        diag(c, SCHEMA, loc, "The value for the field 'HeartbeatSeconds' must be a positive INTEGER");
    if (json_is_integer(to) && json_is_integer(hb) && json_integer_value(hb) >= json_integer_value(to))
        diag(c, SCHEMA, loc, "The value for the field 'HeartbeatSeconds' must be smaller than the value for the field 'TimeoutSeconds'");

    const json_t *cred = json_object_get(st, "Credentials");
    if (cred != NULL) {
        sub_loc(floc, sizeof floc, loc, "Credentials");
        if (!json_is_object(cred)) {
            diag(c, SCHEMA, floc, "The value for the field 'Credentials' must be an OBJECT");
        } else if (json_object_get(cred, "RoleArn") == NULL && json_object_get(cred, "RoleArn.$") == NULL) {
            diag(c, SCHEMA, floc, "The field 'RoleArn' is required but was missing");
        } else if (ql == QL_JSONPATH) {
            check_template(c, cred, "Credentials", floc);
        }
    }
}

static void check_wait(vctx *c, const json_t *st, const char *loc, int ql)
{
    static const char *const W[] = {"Seconds", "Timestamp", "SecondsPath", "TimestampPath"};
    int n = 0;
    for (int i = 0; i < 4; i++)
        n += json_object_get(st, W[i]) != NULL;
    if (n != 1) {
        diag(c, SCHEMA, loc, "There should only be one of the following fields: [Seconds, Timestamp, SecondsPath, TimestampPath]");
        return;
    }
    char floc[512];
    const json_t *s = json_object_get(st, "Seconds");
    if (s != NULL && !is_nonneg_int(s) && !(ql == QL_JSONATA && is_jsonata_expr(s))) {
        sub_loc(floc, sizeof floc, loc, "Seconds");
        diag(c, SCHEMA, floc, "The value for the field 'Seconds' must be a non-negative INTEGER");
    }
    const json_t *t = json_object_get(st, "Timestamp");
    if (t != NULL && !(ql == QL_JSONATA && is_jsonata_expr(t))) {
        sub_loc(floc, sizeof floc, loc, "Timestamp");
        if (!json_is_string(t) || asl_timestamp_parse(json_string_value(t), NULL) != 0)
            diag(c, SCHEMA, floc, "String does not match RFC3339 timestamp");
    }
    if (ql == QL_JSONPATH) {
        check_path_field(c, st, "SecondsPath", loc, ASL_PATH_ANY, 0, 0);
        check_path_field(c, st, "TimestampPath", loc, ASL_PATH_ANY, 0, 0);
    }
}

static void check_choice(vctx *c, const json_t *st, const char *loc, int ql)
{
    char floc[512], rloc[600];
    const json_t *ch = required_member(c, st, loc, "Choices", JSON_ARRAY, floc, sizeof floc);
    if (ch == NULL)
        return;
    const json_t *def = json_object_get(st, "Default");
    if (def != NULL && !json_is_string(def))
        diag(c, SCHEMA, loc, "The value for the field 'Default' must be a STRING");
    for (size_t i = 0; i < json_array_size(ch); i++) {
        const json_t *r = json_array_get(ch, i);
        snprintf(rloc, sizeof rloc, "%s[%zu]", floc, i);
        if (ql == QL_JSONATA) {
            static const char *const JR[] = {"Condition", "Next", "Comment", "Assign", "Output", NULL};
            if (!json_is_object(r)) {
                diag(c, SCHEMA, rloc, "Value should be an OBJECT");
                continue;
            }
            const char *k;
            const json_t *v;
            json_object_foreach((json_t *)r, k, v) {
                if (in_list(k, JR))
                    continue;
                if (strcmp(k, "Variable") == 0 || strcmp(k, "And") == 0 || strcmp(k, "Or") == 0 ||
                    strcmp(k, "Not") == 0)
                    diag(c, SCHEMA, rloc,
                         "The QueryLanguage is set to 'JSONata', but field '%s' is only supported for the 'JSONPath' QueryLanguage", k);
                else
                    diag(c, SCHEMA, rloc, "Field '%s' is not supported", k);
            }
            if (json_object_get(r, "Condition") == NULL)
                diag(c, SCHEMA, rloc, "These fields are required: [Condition]");
            if (json_object_get(r, "Next") == NULL)
                diag(c, SCHEMA, rloc, "These fields are required: [Next]");
            else if (!json_is_string(json_object_get(r, "Next")))
                diag(c, SCHEMA, rloc, "The value for the field 'Next' must be a STRING");
            walk_jsonata(c, r, rloc, 0);
            check_assign(c, json_object_get(r, "Assign"), rloc, ql);
            continue;
        }
        if (json_is_object(r) && json_object_get(r, "Condition") != NULL) {
            diag(c, SCHEMA, rloc,
                 "The QueryLanguage is set to 'JSONPath', but field 'Condition' is only supported for the 'JSONata' QueryLanguage");
            continue;
        }
        char err[1024] = "";
        asl_choice_rule *rule = NULL;
        if (asl_choice_compile(r, 1, rloc, &rule, err, sizeof err) != 0)
            diag_text(c, rloc, err[0] ? err : "Invalid Choice rule");
        asl_choice_free(rule);
        if (json_is_object(r))
            check_assign(c, json_object_get(r, "Assign"), rloc, ql);
    }
}

static void check_fail(vctx *c, const json_t *st, const char *loc, int ql)
{
    exclusive(c, st, loc, "Error", "ErrorPath");
    exclusive(c, st, loc, "Cause", "CausePath");
    const json_t *v;
    if ((v = json_object_get(st, "Error")) && !json_is_string(v))
        diag(c, SCHEMA, loc, "The value for the field 'Error' must be a STRING");
    if ((v = json_object_get(st, "Cause")) && !json_is_string(v))
        diag(c, SCHEMA, loc, "The value for the field 'Cause' must be a STRING");
    if (ql == QL_JSONPATH) {
        check_path_field(c, st, "ErrorPath", loc, ASL_PATH_ANY, 0, 1);
        check_path_field(c, st, "CausePath", loc, ASL_PATH_ANY, 0, 1);
    }
}

static void check_parallel(vctx *c, const json_t *st, const char *loc, int ql, int depth)
{
    char floc[512], bloc[600];
    const json_t *br = required_member(c, st, loc, "Branches", JSON_ARRAY, floc, sizeof floc);
    if (br == NULL)
        return;
    for (size_t i = 0; i < json_array_size(br); i++) {
        snprintf(bloc, sizeof bloc, "%s[%zu]", floc, i);
        validate_machine(c, json_array_get(br, i), bloc, SCOPE_BRANCH, ql, depth + 1);
    }
}

/* Python's repr() of a string, which AWS's Label refusals print: quoted
 * with ' (or " when only ' occurs), backslash escapes for \, the quote,
 * \t \n \r, and \xNN for the other C0/C1 controls and DEL. */
static void py_repr(const char *s, size_t n, char *out, size_t outlen)
{
    int sq = memchr(s, '\'', n) != NULL, dq = memchr(s, '"', n) != NULL;
    char q = sq && !dq ? '"' : '\'';
    size_t o = 0;
#define PUT(...) do { int w_ = snprintf(out + o, outlen - o, __VA_ARGS__); \
                      o = w_ > 0 && o + (size_t)w_ < outlen ? o + (size_t)w_ : outlen - 1; } while (0)
    if (outlen == 0)
        return;
    out[0] = '\0';
    PUT("%c", q);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\\' || ch == (unsigned char)q)
            PUT("\\%c", ch);
        else if (ch == '\t' || ch == '\n' || ch == '\r')
            PUT("\\%c", ch == '\t' ? 't' : ch == '\n' ? 'n' : 'r');
        else if (ch < 0x20 || ch == 0x7F)
            PUT("\\x%02x", ch);
        else if (ch == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 && (unsigned char)s[i + 1] <= 0xA0)
            PUT("\\x%02x", (unsigned char)s[++i]);
        else
            PUT("%c", ch);
    }
    PUT("%c", q);
#undef PUT
}

/* A Label refusal: AWS raises these as a ValueError of its own. */
static void label_error(vctx *c, const char *floc, const char *msg)
{
    int before = c->d ? c->d->n : 0;
    diag(c, SCHEMA, floc, "%s", msg);
    if (c->d != NULL && c->d->n > before)
        c->d->d[c->d->n - 1].value_error = 1;
}

/* Map Label: 1 to 40 characters, none of whitespace, brackets, wildcards,
 * the specials " # % \ ^ | ~ ` $ & , ; : / < > ' ?, or control characters
 * U+0000-001F and U+007F-009F (AWS Map state docs; validation cases). */
static void check_label(vctx *c, const json_t *label, const char *loc)
{
    char floc[512], msg[128], rep[32];
    sub_loc(floc, sizeof floc, loc, "Label");
    if (!json_is_string(label)) {
        diag(c, SCHEMA, floc, "The value for the field 'Label' must be a STRING");
        return;
    }
    const unsigned char *s = (const unsigned char *)json_string_value(label);
    size_t n = json_string_length(label), chars = 0;
    for (size_t i = 0; i < n; i++)
        chars += (s[i] & 0xC0) != 0x80;
    if (n == 0) {
        label_error(c, floc, "Label cannot be empty");
        return;
    }
    if (chars > MAP_LABEL_MAX) {
        snprintf(msg, sizeof msg, "Label cannot exceed %d characters", MAP_LABEL_MAX);
        label_error(c, floc, msg);
        return;
    }
    static const char BAD[] = " {}[]?*\"#%\\^|~`$&,;:/<>'";
    for (size_t i = 0; i < n; i++) {
        size_t len = 1;
        int bad = s[i] < 0x20 || s[i] == 0x7F || (s[i] < 0x80 && strchr(BAD, (int)s[i]) != NULL);
        if (s[i] == 0xC2 && i + 1 < n && s[i + 1] >= 0x80 && s[i + 1] <= 0x9F)
            bad = 1, len = 2; /* U+0080..U+009F */
        if (bad) {
            py_repr((const char *)s + i, len, rep, sizeof rep);
            snprintf(msg, sizeof msg, "Label contains invalid character: %s", rep);
            label_error(c, floc, msg);
            return;
        }
    }
}

static void check_map(vctx *c, const json_t *st, const char *loc, int ql, int depth)
{
    char floc[512];
    const json_t *ip = json_object_get(st, "ItemProcessor");
    const json_t *it = json_object_get(st, "Iterator");
    const char *pkey = ip ? "ItemProcessor" : "Iterator";
    const json_t *proc = ip ? ip : it;
    if (ip != NULL && it != NULL) {
        diag(c, SCHEMA, loc, "There should only be one of the following fields: [ItemProcessor, Iterator]");
        return;
    }
    if (proc == NULL) {
        diag(c, SCHEMA, loc, "These fields are required: [ItemProcessor]");
        return;
    }
    exclusive(c, st, loc, "Parameters", "ItemSelector");
    exclusive(c, st, loc, "MaxConcurrency", "MaxConcurrencyPath");
    exclusive(c, st, loc, "ToleratedFailurePercentage", "ToleratedFailurePercentagePath");
    exclusive(c, st, loc, "ToleratedFailureCount", "ToleratedFailureCountPath");
    exclusive(c, st, loc, "ItemsPath", "Items");
    const json_t *v;
    int expr_ok = ql == QL_JSONATA;
    if ((v = json_object_get(st, "MaxConcurrency")) && !is_nonneg_int(v) && !(expr_ok && is_jsonata_expr(v)))
        diag(c, SCHEMA, loc, "The value for the field 'MaxConcurrency' must be a non-negative INTEGER");
    if ((v = json_object_get(st, "ToleratedFailureCount")) && !is_nonneg_int(v) && !(expr_ok && is_jsonata_expr(v)))
        diag(c, SCHEMA, loc, "The value for the field 'ToleratedFailureCount' must be a non-negative INTEGER");
    if ((v = json_object_get(st, "ToleratedFailurePercentage")) &&
        !(json_is_number(v) && json_number_value(v) >= 0 && json_number_value(v) <= 100) &&
        !(expr_ok && is_jsonata_expr(v)))
        diag(c, SCHEMA, loc, "The value for the field 'ToleratedFailurePercentage' must be a NUMBER between 0 and 100");
    if ((v = json_object_get(st, "Label")) != NULL)
        check_label(c, v, loc);
    if (ql == QL_JSONPATH) {
        check_path_field(c, st, "ItemsPath", loc, ASL_PATH_ANY, 0, 0);
        check_path_field(c, st, "MaxConcurrencyPath", loc, ASL_PATH_ANY, 0, 0);
        check_path_field(c, st, "ToleratedFailurePercentagePath", loc, ASL_PATH_ANY, 0, 0);
        check_path_field(c, st, "ToleratedFailureCountPath", loc, ASL_PATH_ANY, 0, 0);
        sub_loc(floc, sizeof floc, loc, "ItemSelector");
        check_template(c, json_object_get(st, "ItemSelector"), "ItemSelector", floc);
    }

    sub_loc(floc, sizeof floc, loc, pkey);
    if (!json_is_object(proc)) {
        diag(c, SCHEMA, floc, "The value for the field '%s' must be an OBJECT", pkey);
        return;
    }
    const json_t *cfg = json_object_get(proc, "ProcessorConfig");
    if (cfg != NULL) {
        char cloc[600];
        snprintf(cloc, sizeof cloc, "%s/ProcessorConfig", floc);
        if (!json_is_object(cfg)) {
            diag(c, SCHEMA, cloc, "The value for the field 'ProcessorConfig' must be an OBJECT");
        } else {
            const json_t *mode = json_object_get(cfg, "Mode");
            const json_t *et = json_object_get(cfg, "ExecutionType");
            const char *ms = json_is_string(mode) ? json_string_value(mode) : "INLINE";
            const char *k;
            json_object_foreach((json_t *)cfg, k, v) {
                if (strcmp(k, "Mode") != 0 && strcmp(k, "ExecutionType") != 0)
                    diag(c, SCHEMA, cloc, "Field '%s' is not supported", k);
            }
            if (mode != NULL && !(json_is_string(mode) && (strcmp(ms, "INLINE") == 0 || strcmp(ms, "DISTRIBUTED") == 0)))
                diag(c, SCHEMA, cloc, "Value should be one of the following: [INLINE, DISTRIBUTED]");
            else if (strcmp(ms, "DISTRIBUTED") == 0 && et == NULL)
                diag(c, SCHEMA, cloc, "These fields are required: [ExecutionType]");
            else if (strcmp(ms, "INLINE") == 0 && et != NULL)
                diag(c, SCHEMA, cloc, "Field 'ExecutionType' is not supported");
            else if (et != NULL && !(json_is_string(et) && (strcmp(json_string_value(et), "STANDARD") == 0 ||
                                                             strcmp(json_string_value(et), "EXPRESS") == 0)))
                diag(c, SCHEMA, cloc, "Value should be one of the following: [STANDARD, EXPRESS]");
        }
    }
    validate_machine(c, proc, floc, SCOPE_PROCESSOR, ql, depth + 1);
}

static const char *const *type_fields(const char *t)
{
    if (strcmp(t, "Pass") == 0)
        return PASS_FIELDS;
    if (strcmp(t, "Task") == 0)
        return TASK_FIELDS;
    if (strcmp(t, "Wait") == 0)
        return WAIT_FIELDS;
    if (strcmp(t, "Parallel") == 0)
        return PARALLEL_FIELDS;
    if (strcmp(t, "Map") == 0)
        return MAP_FIELDS;
    if (strcmp(t, "Choice") == 0)
        return CHOICE_FIELDS;
    if (strcmp(t, "Succeed") == 0)
        return SUCCEED_FIELDS;
    if (strcmp(t, "Fail") == 0)
        return FAIL_FIELDS;
    return NULL;
}

/* Returns the state's effective query language. */
static int state_language(vctx *c, const json_t *st, const char *loc, int machine_ql)
{
    const json_t *q = json_object_get(st, "QueryLanguage");
    char floc[512];
    if (q == NULL)
        return machine_ql;
    sub_loc(floc, sizeof floc, loc, "QueryLanguage");
    if (!json_is_string(q) ||
        (strcmp(json_string_value(q), "JSONPath") != 0 && strcmp(json_string_value(q), "JSONata") != 0)) {
        diag(c, SCHEMA, floc, "Value should be one of the following: [JSONPath, JSONata]");
        /* Only the exact "JSONPath" resolves to JSONPath (floci #2968). */
        return QL_JSONATA;
    }
    if (strcmp(json_string_value(q), "JSONPath") == 0) {
        /* only a machine that is JSONata as a whole refuses it: a JSONPath
         * state inside a JSONata Map of a JSONPath machine is fine (recorded) */
        if (machine_ql == QL_JSONATA && c->top_ql == QL_JSONATA)
            diag(c, SCHEMA, loc, "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine");
        return QL_JSONPATH;
    }
    return QL_JSONATA;
}

static void validate_state(vctx *c, const char *name, const json_t *st, const char *loc, int machine_ql, int depth)
{
    if (utf8_chars(name) > STATE_NAME_MAX)
        diag(c, SCHEMA, loc, "State name exceeds the maximum length of %d characters", STATE_NAME_MAX);
    if (!json_is_object(st)) {
        diag(c, SCHEMA, loc, "Value should be an OBJECT");
        return;
    }
    const json_t *tj = json_object_get(st, "Type");
    char floc[512];
    if (tj == NULL) {
        diag(c, SCHEMA, loc, "These fields are required: [Type]");
        return;
    }
    const char *const *allowed = json_is_string(tj) ? type_fields(json_string_value(tj)) : NULL;
    if (allowed == NULL) {
        sub_loc(floc, sizeof floc, loc, "Type");
        diag(c, SCHEMA, floc,
             "The field 'Type' should have one of these values: [Task, Wait, Pass, Succeed, Fail, Choice, Parallel, Map]");
        return;
    }
    const char *type = json_string_value(tj);
    int ql = state_language(c, st, loc, machine_ql);
    int before = c->nerr;

    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)st, key, val) {
        if (ql == QL_JSONATA && in_list(key, JSONPATH_ONLY) && (in_list(key, allowed) || strcmp(key, "Result") == 0)) {
            diag(c, SCHEMA, loc,
                 "The QueryLanguage is set to 'JSONata', but field '%s' is only supported for the 'JSONPath' QueryLanguage", key);
        } else if (ql == QL_JSONPATH && in_list(key, JSONATA_ONLY) && in_list(key, allowed)) {
            diag(c, SCHEMA, loc,
                 "The QueryLanguage is set to 'JSONPath', but field '%s' is only supported for the 'JSONata' QueryLanguage", key);
        } else if (!in_list(key, COMMON_FIELDS) && !in_list(key, allowed)) {
            diag(c, SCHEMA, loc, "Field '%s' is not supported", key);
        }
    }
    if (c->nerr != before)
        return; /* field-level errors first; the rest would only echo them */

    if (strcmp(type, "Choice") != 0 && strcmp(type, "Succeed") != 0 && strcmp(type, "Fail") != 0)
        check_transition(c, st, loc);

    if (ql == QL_JSONPATH) {
        check_path_field(c, st, "InputPath", loc, ASL_PATH_ANY, 1, 0);
        check_path_field(c, st, "OutputPath", loc, ASL_PATH_ANY, 1, 0);
        check_path_field(c, st, "ResultPath", loc, ASL_PATH_REFERENCE, 1, 0);
        check_path_field(c, st, "TimeoutSecondsPath", loc, ASL_PATH_ANY, 0, 0);
        check_path_field(c, st, "HeartbeatSecondsPath", loc, ASL_PATH_ANY, 0, 0);
        sub_loc(floc, sizeof floc, loc, "Parameters");
        check_template(c, json_object_get(st, "Parameters"), "Parameters", floc);
        sub_loc(floc, sizeof floc, loc, "ResultSelector");
        check_template(c, json_object_get(st, "ResultSelector"), "ResultSelector", floc);
    } else {
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)st, k, v) {
            if (strcmp(k, "Choices") == 0 || strcmp(k, "Branches") == 0 || strcmp(k, "ItemProcessor") == 0 ||
                strcmp(k, "Iterator") == 0 || strcmp(k, "Catch") == 0)
                continue;
            sub_loc(floc, sizeof floc, loc, k);
            walk_jsonata(c, v, floc, 0);
        }
    }
    check_assign(c, json_object_get(st, "Assign"), loc, ql);

    if (strcmp(type, "Task") == 0) {
        check_task(c, st, loc, ql);
    } else if (strcmp(type, "Wait") == 0) {
        check_wait(c, st, loc, ql);
    } else if (strcmp(type, "Choice") == 0) {
        check_choice(c, st, loc, ql);
    } else if (strcmp(type, "Fail") == 0) {
        check_fail(c, st, loc, ql);
    } else if (strcmp(type, "Parallel") == 0) {
        check_parallel(c, st, loc, ql, depth);
    } else if (strcmp(type, "Map") == 0) {
        check_map(c, st, loc, ql, depth);
    }
    if (strcmp(type, "Task") == 0 || strcmp(type, "Parallel") == 0 || strcmp(type, "Map") == 0) {
        check_retry(c, st, loc);
        check_catch(c, st, loc, ql);
    }
}

static void validate_machine(vctx *c, const json_t *m, const char *loc, int kind, int ql, int depth)
{
    static const char *const TOP[] = {"StartAt", "States", "Comment", "Version", "TimeoutSeconds", "QueryLanguage",
                                      NULL};
    static const char *const BRANCH[] = {"StartAt", "States", "Comment", NULL};
    static const char *const PROC[] = {"StartAt", "States", "Comment", "ProcessorConfig", NULL};
    const char *here = loc[0] ? loc : "/";
    char floc[512];

    if (depth > VALIDATE_MAX_NESTING) {
        diag(c, SCHEMA, here, "Definition nested too deeply (limit %d)", VALIDATE_MAX_NESTING);
        return;
    }
    if (!json_is_object(m)) {
        diag(c, SCHEMA, here, "Value should be an OBJECT");
        return;
    }
    const char *const *allowed = kind == SCOPE_TOP ? TOP : kind == SCOPE_BRANCH ? BRANCH : PROC;
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)m, key, val) {
        if (!in_list(key, allowed))
            diag(c, SCHEMA, here, "Field '%s' is not supported", key);
    }
    const json_t *start = json_object_get(m, "StartAt");
    const json_t *states = json_object_get(m, "States");
    if (start == NULL || states == NULL) {
        diag(c, SCHEMA, here, "These fields are required: [%s%s%s]", start ? "" : "StartAt",
             !start && !states ? ", " : "", states ? "" : "States");
        return;
    }
    if (!json_is_string(start)) {
        sub_loc(floc, sizeof floc, loc, "StartAt");
        diag(c, SCHEMA, floc, "The value for the field 'StartAt' must be a STRING");
    }
    if (kind == SCOPE_TOP) {
        const json_t *q = json_object_get(m, "QueryLanguage");
        if (q != NULL) {
            if (json_is_string(q) && strcmp(json_string_value(q), "JSONata") == 0) {
                ql = c->top_ql = QL_JSONATA;
            } else if (!(json_is_string(q) && strcmp(json_string_value(q), "JSONPath") == 0)) {
                diag(c, SCHEMA, "/QueryLanguage", "Value should be one of the following: [JSONPath, JSONata]");
                ql = QL_JSONATA;
            }
        }
        const json_t *v = json_object_get(m, "Version");
        if (v != NULL && !(json_is_string(v) && strcmp(json_string_value(v), "1.0") == 0))
            diag(c, SCHEMA, "/Version", "Value should be one of the following: [1.0]");
        v = json_object_get(m, "TimeoutSeconds");
        if (v != NULL && !is_nonneg_int(v))
            diag(c, SCHEMA, "/TimeoutSeconds", "The value for the field 'TimeoutSeconds' must be a non-negative INTEGER");
    }
    sub_loc(floc, sizeof floc, loc, "States");
    if (!json_is_object(states)) {
        diag(c, SCHEMA, floc, "The value for the field 'States' must be an OBJECT");
        return;
    }
    if (json_object_size(states) == 0) {
        diag(c, SCHEMA, floc, "The field 'States' should be non-empty");
        return;
    }
    json_object_foreach((json_t *)states, key, val) {
        char sloc[512];
        snprintf(sloc, sizeof sloc, "%s/States/%s", loc, key);
        validate_state(c, key, val, sloc, ql, depth);
    }
}

/* ---- graph: targets, terminal state, reachability -------------------------- */

typedef struct edge_it {
    const json_t *st;
    int stage;  /* 0 Next, 1 Default, 2 Choices, 3 Catch, 4 done */
    size_t i;
} edge_it;

/* Next transition target of a state with the location AWS reports it at. */
static const char *edge_next(edge_it *it, const char *loc, char *eloc, size_t n)
{
    const json_t *v;
    for (;;) {
        switch (it->stage) {
        case 0:
            it->stage = 1;
            if ((v = json_object_get(it->st, "Next")) && json_is_string(v)) {
                snprintf(eloc, n, "%s/Next", loc);
                return json_string_value(v);
            }
            break;
        case 1:
            it->stage = 2;
            if ((v = json_object_get(it->st, "Default")) && json_is_string(v)) {
                snprintf(eloc, n, "%s/Default", loc);
                return json_string_value(v);
            }
            break;
        case 2:
        case 3: {
            const char *f = it->stage == 2 ? "Choices" : "Catch";
            const json_t *arr = json_object_get(it->st, f);
            while (json_is_array(arr) && it->i < json_array_size(arr)) {
                size_t i = it->i++;
                v = json_object_get(json_array_get(arr, i), "Next");
                if (json_is_string(v)) {
                    snprintf(eloc, n, "%s/%s[%zu]/Next", loc, f, i);
                    return json_string_value(v);
                }
            }
            it->stage++;
            it->i = 0;
            break;
        }
        default:
            return NULL;
        }
    }
}

static int is_terminal(const json_t *st)
{
    const char *t = json_string_value(json_object_get(st, "Type"));
    return json_is_true(json_object_get(st, "End")) || (t && (strcmp(t, "Succeed") == 0 || strcmp(t, "Fail") == 0));
}

static void graph_machine(vctx *c, const json_t *m, const char *loc, int depth);

static void graph_children(vctx *c, const json_t *st, const char *sloc, int depth)
{
    char bloc[600];
    const json_t *br = json_object_get(st, "Branches");
    for (size_t i = 0; json_is_array(br) && i < json_array_size(br); i++) {
        snprintf(bloc, sizeof bloc, "%s/Branches[%zu]", sloc, i);
        graph_machine(c, json_array_get(br, i), bloc, depth + 1);
    }
    const json_t *ip = json_object_get(st, "ItemProcessor");
    if (ip != NULL) {
        snprintf(bloc, sizeof bloc, "%s/ItemProcessor", sloc);
        graph_machine(c, ip, bloc, depth + 1);
    }
    const json_t *it = json_object_get(st, "Iterator");
    if (it != NULL) {
        snprintf(bloc, sizeof bloc, "%s/Iterator", sloc);
        graph_machine(c, it, bloc, depth + 1);
    }
}

static void graph_machine(vctx *c, const json_t *m, const char *loc, int depth)
{
    const json_t *states = json_object_get(m, "States");
    const char *start = json_string_value(json_object_get(m, "StartAt"));
    size_t n = json_object_size(states);
    char sloc[512], eloc[600];
    const char *key;
    const json_t *st;
    if (depth > VALIDATE_MAX_NESTING || !json_is_object(states) || n == 0 || start == NULL)
        return;

    asl_names set = {0};
    const json_t **by_idx = calloc(n, sizeof *by_idx);
    const char **names = calloc(n, sizeof *names);
    size_t *queue = calloc(n, sizeof *queue);
    unsigned char *seen = calloc(n, 1);
    if (by_idx == NULL || names == NULL || queue == NULL || seen == NULL || asl__names_init(&set, n) != 0) {
        diag(c, SCHEMA, loc[0] ? loc : "/", "%s", ASL_NOMEM);
        goto free_all;
    }
    size_t i = 0;
    int has_terminal = 0;
    json_object_foreach((json_t *)states, key, st) {
        asl__names_put(&set, key, (long)i);
        by_idx[i] = st;
        names[i] = key;
        has_terminal |= is_terminal(st);
        i++;
    }

    /* Dangling targets: StartAt first, then every state's edges in order. */
    long s0 = asl__names_get(&set, start);
    if (s0 < 0) {
        snprintf(eloc, sizeof eloc, "%s/StartAt", loc);
        diag(c, "MISSING_TRANSITION_TARGET", eloc, "Missing 'Next' target: %s", start);
    }
    for (i = 0; i < n; i++) {
        snprintf(sloc, sizeof sloc, "%s/States/%s", loc, names[i]);
        edge_it it = {by_idx[i], 0, 0};
        const char *t;
        while ((t = edge_next(&it, sloc, eloc, sizeof eloc)) != NULL) {
            if (asl__names_get(&set, t) < 0)
                diag(c, "MISSING_TRANSITION_TARGET", eloc, "Missing 'Next' target: %s", t);
        }
    }
    if (!has_terminal) {
        /* AWS gives this one no location ("at null" in the cause); it
         * suppresses the reachability walk (floci #2786, measured). */
        diag(c, "MISSING_END_STATE", "", "Workflow has no terminal state");
    } else if (s0 >= 0) {
        size_t head = 0, tail = 0;
        queue[tail++] = (size_t)s0;
        seen[s0] = 1;
        while (head < tail) {
            size_t u = queue[head++];
            edge_it it = {by_idx[u], 0, 0};
            const char *t;
            while ((t = edge_next(&it, "", eloc, sizeof eloc)) != NULL) {
                long v = asl__names_get(&set, t);
                if (v >= 0 && !seen[v]) {
                    seen[v] = 1;
                    queue[tail++] = (size_t)v;
                }
            }
        }
        for (i = 0; i < n; i++) {
            if (!seen[i]) {
                snprintf(sloc, sizeof sloc, "%s/States/%s", loc, names[i]);
                diag(c, "MISSING_TRANSITION_TARGET", sloc, "State \"%s\" is not reachable.", names[i]);
            }
        }
    }
    for (i = 0; i < n; i++) {
        snprintf(sloc, sizeof sloc, "%s/States/%s", loc, names[i]);
        graph_children(c, by_idx[i], sloc, depth);
    }
free_all:
    asl__names_cleanup(&set);
    free(by_idx);
    free(names);
    free(queue);
    free(seen);
}

/* ---- public --------------------------------------------------------------- */

int asl_validate(const json_t *definition, int type, asl_diags *diags)
{
    unsigned long nomem = asl__nomem_count();
    vctx c = {diags, type, 0, QL_JSONPATH};
    if (diags != NULL)
        diags->n = 0;
    if (!json_is_object(definition)) {
        diag(&c, SCHEMA, "/", "Value should be an OBJECT");
        return SFN_EINVAL;
    }
    validate_machine(&c, definition, "", SCOPE_TOP, QL_JSONPATH, 0);
    if (c.nerr == 0)
        graph_machine(&c, definition, "", 0);
    if (c.nerr != 0 && asl__nomem_count() != nomem)
        return SFN_ENOMEM;
    return c.nerr == 0 ? 0 : SFN_EINVAL;
}

/* CreateStateMachine joins every diagnostic as "CODE: message at location"
 * with ", " (recorded in localstack #11978); a diagnostic without location
 * prints "at null". */
void asl_diags_cause_text(const asl_diags *d, const char *definition, char *buf, size_t len)
{
    if (d != NULL && d->n > 0 && d->d[0].value_error && definition != NULL && buf != NULL && len > 0) {
        const char *m = d->d[0].message;
        char args[1200];
        py_repr(m, strlen(m), args, sizeof args);
        snprintf(buf, len, "Error=ValueError Args=[%s] in definition '%s'.", args, definition);
        return;
    }
    asl_diags_cause(d, buf, len);
}

void asl_diags_cause(const asl_diags *d, char *buf, size_t len)
{
    if (buf == NULL || len == 0)
        return;
    size_t off = 0;
    int w = snprintf(buf, len, "Invalid State Machine Definition: '");
    off = w > 0 ? (size_t)w : 0;
    for (int i = 0; d != NULL && i < d->n && off < len; i++) {
        const asl_diag *g = &d->d[i];
        w = snprintf(buf + off, len - off, "%s%s: %s at %s", i ? ", " : "", g->code, g->message,
                     g->location[0] ? g->location : "null");
        off += w > 0 ? (size_t)w : 0;
    }
    if (off < len)
        snprintf(buf + off, len - off, "'");
}
