/*
 * api.c - Step Functions API (AWS JSON 1.0) over the runner and the store,
 * and the HTTP router (see api.h).
 *
 * Requests are parsed strictly: a body that is not a JSON object is a
 * SerializationException, a member of the wrong JSON type too; a missing
 * required member or a broken constraint is a ValidationException in
 * Coral's words ("1 validation error detected: ..."); the semantic errors
 * (InvalidArn, StateMachineDoesNotExist, ...) carry AWS's messages.
 *
 * Must not: reply before the data a reply reports is committed (all
 * replies go through run_after_commit), change an execution except through
 * the runner.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "api.h"

#include "fjson.h"
#include "jtext.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define MAX_INPUT 262144      /* StartExecution input, SendTaskSuccess output */
#define MAX_DEFINITION 1048576
#define HISTORY_DEFAULT 100
#define HISTORY_MAX 1000
#define LIST_DEFAULT 100
#define LIST_MAX 1000

struct api {
    run *run;
    store *st;
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
};

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
} call;

/* ---- replies -------------------------------------------------------------- */
static char *unavail_body(const api *a)
{
    const char *why = NULL;
    run_available(a->run, &why);
    jtext b = {0};
    jtext_lit(&b, "{\"__type\":\"ServiceUnavailable\",\"message\":");
    char msg[512];
    snprintf(msg, sizeof msg,
             "The request has failed due to a temporary failure of the server (the local store "
             "takes no writes: %s); nothing was changed, retry later",
             why ? why : "the transaction could not commit");
    jtext_cstr(&b, msg);
    jtext_c(&b, '}');
    return jtext_take(&b);
}

/* rc: 0 when the transaction the reply reports committed, else it was
 * rolled back and the reply becomes a retryable 503 */
static void deliver(void *ud, int rc)
{
    call *c = ud;
    if (rc != 0) {
        free(c->body);
        c->body = unavail_body(c->a);
        c->status = 503;
    }
    const char *body = c->body ? c->body : "{\"__type\":\"ServiceUnavailable\"}";
    c->cb(c->ud, c->status, body, strlen(body));
    free(c->body);
    free(c->arn);
    free(c);
}

/* Queue the reply: it leaves after the current transaction commits. */
static void reply_text(call *c, int status, char *body /* taken */)
{
    c->status = status;
    c->body = body;
    if (run_after_commit(c->a->run, deliver, c) != 0)
        deliver(c, 0);
}

static void reply_json(call *c, json_t *j /* taken */)
{
    char *text = j ? jtext_dup(j) : NULL;
    json_decref(j);
    if (text == NULL) {
        reply_text(c, 500, strdup("{\"__type\":\"InternalFailure\",\"message\":\"out of memory\"}"));
        return;
    }
    reply_text(c, 200, text);
}

static void reply_err(call *c, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The runner refused a write (RUN_EUNAVAIL): a retryable 503. */
static void reply_unavail(call *c)
{
    char *text = unavail_body(c->a);
    reply_text(c, 503, text ? text : strdup("{\"__type\":\"ServiceUnavailable\"}"));
}
static void reply_err(call *c, int status, const char *type, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    jtext b = {0};
    jtext_lit(&b, "{\"__type\":");
    jtext_cstr(&b, type);
    jtext_lit(&b, ",\"message\":");
    jtext_cstr(&b, msg);
    jtext_c(&b, '}');
    char *text = jtext_take(&b);
    if (text == NULL)
        text = strdup("{\"__type\":\"InternalFailure\"}");
    reply_text(c, status, text);
}

#define CLIENT(c, type, ...) reply_err((c), 400, (type), __VA_ARGS__)

/* ---- small helpers ---------------------------------------------------------- */
static uint64_t rng_next(api *a)
{
    uint64_t z = (a->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A generated execution name. AWS makes up a UUID; this one is of
 * version 7 (RFC 9562): 48 bits of Unix time in milliseconds, then 74
 * random bits. Names made up in turn sort in turn, so each new execution's
 * ARN goes to the end of the store's ARN index; a random (version 4) name
 * wrote a page of it in a random place for every start (bench). */
static void uuid7(api *a, char out[37])
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    uint64_t ms = (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
    uint64_t x = (ms << 16) | 0x7000u | (rng_next(a) & 0x0fffu);
    uint64_t y = rng_next(a);
    y = (y & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
    snprintf(out, 37, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(x >> 32),
             (unsigned)((x >> 16) & 0xffff), (unsigned)(x & 0xffff), (unsigned)(y >> 48),
             (unsigned long long)(y & 0xffffffffffffULL));
}

static json_t *ts(int64_t ms)
{
    return json_real((double)ms / 1000.0);
}

static const char *status_name(int s)
{
    static const char *const n[] = {"RUNNING", "SUCCEEDED", "FAILED",
                                    "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"};
    return s >= 0 && s <= STORE_PENDING_REDRIVE ? n[s] : "RUNNING";
}

static int status_from_name(const char *s)
{
    static const char *const n[] = {"RUNNING", "SUCCEEDED", "FAILED",
                                    "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"};
    for (int i = 0; i <= STORE_PENDING_REDRIVE; i++)
        if (!strcmp(s, n[i]))
            return i;
    return -1;
}

/* ---- strict members ----------------------------------------------------------- */
enum { T_STR = 1, T_INT, T_BOOL, T_OBJ, T_ARR };

static const char *type_word(int t)
{
    switch (t) {
    case T_STR: return "STRING_VALUE";
    case T_INT: return "INTEGER_VALUE";
    case T_BOOL: return "BOOLEAN_VALUE";
    case T_OBJ: return "STRUCTURE_VALUE";
    default: return "LIST_VALUE";
    }
}

static int type_ok(const json_t *v, int t)
{
    switch (t) {
    case T_STR: return json_is_string(v);
    case T_INT: return json_is_integer(v);
    case T_BOOL: return json_is_boolean(v);
    case T_OBJ: return json_is_object(v);
    default: return json_is_array(v);
    }
}

/* Fetch member `name`. Returns 0 with *out (borrowed, NULL if absent and
 * optional) or -1 after replying with the error. */
static int member(call *c, const json_t *req, const char *name, int type, int required,
                  json_t **out)
{
    json_t *v = json_object_get(req, name);
    *out = NULL;
    if (v == NULL || json_is_null(v)) {
        if (required) {
            CLIENT(c, "ValidationException",
                   "1 validation error detected: Value null at '%s' failed to satisfy "
                   "constraint: Member must not be null",
                   name);
            return -1;
        }
        return 0;
    }
    if (!type_ok(v, type)) {
        CLIENT(c, "SerializationException", "Unexpected value for '%s': expected %s", name,
               type_word(type));
        return -1;
    }
    *out = v;
    return 0;
}

static int str_member(call *c, const json_t *req, const char *name, int required, size_t maxlen,
                      const char **out)
{
    json_t *v;
    *out = NULL;
    if (member(c, req, name, T_STR, required, &v) != 0)
        return -1;
    if (v == NULL)
        return 0;
    size_t len = json_string_length(v);
    if (required && len == 0) {
        CLIENT(c, "ValidationException",
               "1 validation error detected: Value '' at '%s' failed to satisfy constraint: "
               "Member must have length greater than or equal to 1",
               name);
        return -1;
    }
    if (maxlen && len > maxlen) {
        CLIENT(c, "ValidationException",
               "1 validation error detected: Value at '%s' failed to satisfy constraint: "
               "Member must have length less than or equal to %zu",
               name, maxlen);
        return -1;
    }
    if (strlen(json_string_value(v)) != len) {
        CLIENT(c, "SerializationException", "'%s' contains a NUL character", name);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

static int int_member(call *c, const json_t *req, const char *name, long lo, long hi, long dflt,
                      long *out)
{
    json_t *v;
    *out = dflt;
    if (member(c, req, name, T_INT, 0, &v) != 0)
        return -1;
    if (v == NULL)
        return 0;
    json_int_t n = json_integer_value(v);
    if (n < lo || n > hi) {
        CLIENT(c, "ValidationException",
               "1 validation error detected: Value '%lld' at '%s' failed to satisfy constraint: "
               "Member must have value %s %ld",
               (long long)n, name, n < lo ? "greater than or equal to" : "less than or equal to",
               n < lo ? lo : hi);
        return -1;
    }
    *out = (long)n;
    return 0;
}

static int bool_member(call *c, const json_t *req, const char *name, int dflt, int *out)
{
    json_t *v;
    *out = dflt;
    if (member(c, req, name, T_BOOL, 0, &v) != 0)
        return -1;
    if (v)
        *out = json_is_true(v);
    return 0;
}

/* AWS's rule for state machine and execution names. */
/* "arn:aws:states:<region>:<account>:<kind>:..." Returns 0 or -1 (replied). */
static int check_arn(call *c, const char *arn, const char *kind1, const char *kind2)
{
    /* AWS refuses an ARN with a control character before looking it up;
     * the message shows the ARN with the characters escaped. */
    for (const unsigned char *q = (const unsigned char *)arn; *q; q++) {
        if (*q < 0x20 || *q == 0x7f) {
            jtext e = {0};
            for (const unsigned char *r = (const unsigned char *)arn; *r; r++) {
                char u[8];
                if (*r < 0x20 || *r == 0x7f) {
                    snprintf(u, sizeof u, "\\u%04x", *r);
                    jtext_raw(&e, u, strlen(u));
                } else {
                    jtext_c(&e, (char)*r);
                }
            }
            char *shown = jtext_take(&e);
            CLIENT(c, "InvalidArn", "Invalid Arn: 'Invalid characters in ARN: %s'",
                   shown ? shown : "");
            free(shown);
            return -1;
        }
    }
    if (strncmp(arn, "arn:", 4) != 0) {
        CLIENT(c, "InvalidArn", "Invalid Arn: 'Invalid ARN prefix: %s'", arn);
        return -1;
    }
    const char *p = arn;
    const char *f[7];
    int n = 0;
    f[n++] = p;
    while (n < 7 && (p = strchr(p, ':')) != NULL)
        f[n++] = ++p;
    if (n < 7 || strncmp(f[1], "aws:", 4) != 0 || strncmp(f[2], "states:", 7) != 0) {
        CLIENT(c, "InvalidArn", "Invalid Arn: 'Resource type not valid in this context: %s'",
               arn);
        return -1;
    }
    size_t kl = (size_t)(f[6] - f[5] - 1);
    int ok = (strlen(kind1) == kl && !strncmp(f[5], kind1, kl)) ||
             (kind2 && strlen(kind2) == kl && !strncmp(f[5], kind2, kl));
    if (!ok || f[6][0] == '\0') {
        CLIENT(c, "InvalidArn", "Invalid Arn: 'Resource type not valid in this context: %.*s'",
               (int)kl, f[5]);
        return -1;
    }
    return 0;
}

/* ---- JSON shapes ---------------------------------------------------------------- */
static json_t *logging_json(void)
{
    return json_pack("{s:s,s:b}", "level", "OFF", "includeExecutionData", 0);
}

static json_t *exec_json(const store_exec *x, int full)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:o}", "executionArn", x->arn, "stateMachineArn",
                          x->sm_arn, "name", x->name, "status", status_name(x->status),
                          "startDate", ts(x->start_ms));
    if (o == NULL)
        return NULL;
    if (x->stop_ms && x->status != STORE_RUNNING)
        json_object_set_new(o, "stopDate", ts(x->stop_ms));
    if (full) {
        json_object_set_new(o, "input", json_string(x->input));
        json_object_set_new(o, "inputDetails", json_pack("{s:b}", "included", 1));
        if (x->output) {
            json_object_set_new(o, "output", json_string(x->output));
            json_object_set_new(o, "outputDetails", json_pack("{s:b}", "included", 1));
        }
        if (x->error)
            json_object_set_new(o, "error", json_string(x->error));
        if (x->cause)
            json_object_set_new(o, "cause", json_string(x->cause));
        json_object_set_new(o, "redriveCount", json_integer(x->redrive_count));
        const char *rs = x->status == STORE_RUNNING || x->status == STORE_SUCCEEDED
                             ? "NOT_REDRIVABLE"
                             : "REDRIVABLE";
        json_object_set_new(o, "redriveStatus", json_string(rs));
        if (x->status == STORE_RUNNING || x->status == STORE_SUCCEEDED)
            json_object_set_new(
                o, "redriveStatusReason",
                json_string(x->status == STORE_RUNNING ? "Execution is RUNNING and cannot be redriven"
                                                       : "Execution is SUCCEEDED and cannot be redriven"));
        if (x->redrive_ms)
            json_object_set_new(o, "redriveDate", ts(x->redrive_ms));
    } else if (x->redrive_count) {
        json_object_set_new(o, "redriveCount", json_integer(x->redrive_count));
        if (x->redrive_ms)
            json_object_set_new(o, "redriveDate", ts(x->redrive_ms));
    }
    return o;
}

/* exec_json's object as text, written directly (StartExecution and
 * WaitExecution answer thousands of times a second). Same members, same
 * order. */
static void put_key(jtext *b, const char *k)
{
    jtext_c(b, ',');
    jtext_cstr(b, k);
    jtext_c(b, ':');
}

static char *exec_text(const store_exec *x, int full)
{
    jtext b = {0};
    jtext_lit(&b, "{\"executionArn\":");
    jtext_cstr(&b, x->arn);
    put_key(&b, "stateMachineArn");
    jtext_cstr(&b, x->sm_arn);
    put_key(&b, "name");
    jtext_cstr(&b, x->name);
    put_key(&b, "status");
    jtext_cstr(&b, status_name(x->status));
    put_key(&b, "startDate");
    jtext_ts(&b, x->start_ms);
    if (x->stop_ms && x->status != STORE_RUNNING) {
        put_key(&b, "stopDate");
        jtext_ts(&b, x->stop_ms);
    }
    if (full) {
        put_key(&b, "input");
        jtext_cstr(&b, x->input);
        jtext_lit(&b, ",\"inputDetails\":{\"included\":true}");
        if (x->output) {
            put_key(&b, "output");
            jtext_cstr(&b, x->output);
            jtext_lit(&b, ",\"outputDetails\":{\"included\":true}");
        }
        if (x->error) {
            put_key(&b, "error");
            jtext_cstr(&b, x->error);
        }
        if (x->cause) {
            put_key(&b, "cause");
            jtext_cstr(&b, x->cause);
        }
        put_key(&b, "redriveCount");
        jtext_int(&b, x->redrive_count);
        int nr = x->status == STORE_RUNNING || x->status == STORE_SUCCEEDED;
        put_key(&b, "redriveStatus");
        jtext_cstr(&b, nr ? "NOT_REDRIVABLE" : "REDRIVABLE");
        if (nr) {
            put_key(&b, "redriveStatusReason");
            jtext_cstr(&b, x->status == STORE_RUNNING ? "Execution is RUNNING and cannot be redriven"
                                                      : "Execution is SUCCEEDED and cannot be redriven");
        }
        if (x->redrive_ms) {
            put_key(&b, "redriveDate");
            jtext_ts(&b, x->redrive_ms);
        }
    } else if (x->redrive_count) {
        put_key(&b, "redriveCount");
        jtext_int(&b, x->redrive_count);
        if (x->redrive_ms) {
            put_key(&b, "redriveDate");
            jtext_ts(&b, x->redrive_ms);
        }
    }
    jtext_c(&b, '}');
    return jtext_take(&b);
}

static void reply_exec(call *c, const store_exec *x)
{
    char *text = exec_text(x, 1);
    if (text == NULL)
        reply_text(c, 500, strdup("{\"__type\":\"InternalFailure\",\"message\":\"out of memory\"}"));
    else
        reply_text(c, 200, text);
}

/* Look an execution up; replies ExecutionDoesNotExist when absent. */
static int find_exec(call *c, const char *arn, store_exec *x)
{
    if (check_arn(c, arn, "execution", "express") != 0)
        return -1;
    int rc = store_exec_get(c->a->st, arn, x);
    if (rc == STORE_ENOENT) {
        CLIENT(c, "ExecutionDoesNotExist", "Execution Does Not Exist: '%s'", arn);
        return -1;
    }
    if (rc != STORE_OK) {
        reply_err(c, 500, "InternalFailure", "store: %s", store_errmsg(c->a->st));
        return -1;
    }
    return 0;
}

static int find_sm(call *c, const char *arn, store_sm *sm)
{
    if (check_arn(c, arn, "stateMachine", NULL) != 0)
        return -1;
    int rc = store_sm_get(c->a->st, arn, sm);
    if (rc == STORE_OK && !sm->deleted)
        return 0;
    if (rc == STORE_OK)
        store_sm_cleanup(sm);
    if (rc == STORE_OK || rc == STORE_ENOENT) {
        CLIENT(c, "StateMachineDoesNotExist", "State Machine Does Not Exist: '%s'", arn);
        return -1;
    }
    reply_err(c, 500, "InternalFailure", "store: %s", store_errmsg(c->a->st));
    return -1;
}

/* Compile-check a definition; replies InvalidDefinition. */
static int check_definition(call *c, const char *text, int type)
{
    asl_machine *m = NULL;
    asl_diags d;
    memset(&d, 0, sizeof d);
    if (asl_machine_compile_text(text, strlen(text), type, &m, &d) != SFN_OK) {
        char cause[2048];
        asl_diags_cause(&d, cause, sizeof cause);
        CLIENT(c, "InvalidDefinition", "%s", cause);
        return -1;
    }
    asl_machine_free(m);
    return 0;
}

static int type_member(call *c, const json_t *req, int *type)
{
    const char *t;
    *type = 0;
    if (str_member(c, req, "type", 0, 0, &t) != 0)
        return -1;
    if (t == NULL || !strcmp(t, "STANDARD"))
        return 0;
    if (!strcmp(t, "EXPRESS")) {
        *type = 1;
        return 0;
    }
    CLIENT(c, "ValidationException",
           "1 validation error detected: Value '%s' at 'type' failed to satisfy constraint: "
           "Member must satisfy enum value set: [STANDARD, EXPRESS]",
           t);
    return -1;
}

/* ---- state machines ---------------------------------------------------------------- */
static void op_create_sm(call *c, json_t *req)
{
    api *a = c->a;
    const char *name, *def, *role;
    int type;
    if (str_member(c, req, "name", 1, 0, &name) || str_member(c, req, "definition", 1, MAX_DEFINITION, &def) ||
        str_member(c, req, "roleArn", 1, 256, &role) || type_member(c, req, &type))
        return;
    json_t *v;
    if (member(c, req, "loggingConfiguration", T_OBJ, 0, &v) ||
        member(c, req, "tracingConfiguration", T_OBJ, 0, &v) || member(c, req, "tags", T_ARR, 0, &v))
        return;
    if (!run_name_valid(name)) {
        CLIENT(c, "InvalidName", "Invalid Name: '%s'", name);
        return;
    }
    if (strncmp(role, "arn:", 4) != 0) {
        CLIENT(c, "InvalidArn", "Invalid Arn: 'Invalid ARN prefix: %s'", role);
        return;
    }
    if (check_definition(c, def, type) != 0)
        return;
    char arn[512];
    snprintf(arn, sizeof arn, "arn:aws:states:%s:%s:stateMachine:%s", a->region, a->account, name);
    store_sm old;
    if (store_sm_get(a->st, arn, &old) == STORE_OK) {
        int same = 0;
        if (!old.deleted) {
            char *odef = NULL;
            int otype;
            if (store_def_get(a->st, old.def_id, &odef, &otype) == STORE_OK)
                same = !strcmp(odef, def) && otype == type && old.role_arn &&
                       !strcmp(old.role_arn, role);
            free(odef);
            if (!same) {
                store_sm_cleanup(&old);
                CLIENT(c, "StateMachineAlreadyExists", "State Machine Already Exists: '%s'", arn);
                return;
            }
            /* identical request: idempotent, as on AWS */
            reply_json(c, json_pack("{s:s,s:o}", "stateMachineArn", arn, "creationDate",
                                    ts(old.created_ms)));
            store_sm_cleanup(&old);
            return;
        }
        store_sm_cleanup(&old);
    }
    int64_t now = ev_wall_ms();
    store_sm sm = {.arn = arn, .name = (char *)name, .role_arn = (char *)role, .type = type,
                   .created_ms = now, .updated_ms = now};
    if (run_sm_save(a->run, &sm, def) != 0) {
        reply_unavail(c);
        return;
    }
    reply_json(c, json_pack("{s:s,s:o}", "stateMachineArn", arn, "creationDate", ts(now)));
}

static void op_describe_sm(call *c, json_t *req)
{
    const char *arn;
    store_sm sm;
    if (str_member(c, req, "stateMachineArn", 1, 2048, &arn) || find_sm(c, arn, &sm))
        return;
    char *def = NULL;
    int type = 0;
    store_def_get(c->a->st, sm.def_id, &def, &type);
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:o}", "stateMachineArn", sm.arn,
                          "name", sm.name, "status", "ACTIVE", "definition", def ? def : "{}",
                          "roleArn", sm.role_arn ? sm.role_arn : "", "type",
                          sm.type ? "EXPRESS" : "STANDARD", "creationDate", ts(sm.created_ms),
                          "loggingConfiguration", logging_json(), "tracingConfiguration",
                          json_pack("{s:b}", "enabled", 0));
    free(def);
    store_sm_cleanup(&sm);
    reply_json(c, o);
}

typedef struct sm_list {
    json_t *arr;
    long skip, limit, seen;
    int more;
} sm_list;

static int sm_list_cb(void *ctx, const store_sm *sm)
{
    sm_list *l = ctx;
    if (l->seen++ < l->skip)
        return 0;
    if ((long)json_array_size(l->arr) == l->limit) {
        l->more = 1;
        return 1;
    }
    json_array_append_new(l->arr, json_pack("{s:s,s:s,s:s,s:o}", "stateMachineArn", sm->arn,
                                            "name", sm->name, "type",
                                            sm->type ? "EXPRESS" : "STANDARD", "creationDate",
                                            ts(sm->created_ms)));
    return 0;
}

/* nextToken: "<prefix><decimal>" */
static int parse_token(call *c, const char *tok, const char *prefix, long long *out)
{
    size_t pl = strlen(prefix);
    char *end;
    if (tok == NULL)
        return 0;
    if (strncmp(tok, prefix, pl) != 0 || tok[pl] < '0' || tok[pl] > '9' ||
        (*out = strtoll(tok + pl, &end, 10)) < 0 || *end != '\0') {
        CLIENT(c, "InvalidToken", "Invalid Token: '%s'", tok);
        return -1;
    }
    return 0;
}

/* GetExecutionHistory's nextToken: "EV<event id>.<tag>", the tag binding
 * it to its execution and direction, so a token used with another
 * execution or the other reverseOrder is refused (InvalidToken) instead of
 * paging from a wrong place. */
static uint32_t hist_token_tag(const char *arn, int reverse)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)arn; *p; p++)
        h = (h ^ *p) * 16777619u;
    h = (h ^ (reverse ? 'r' : 'f')) * 16777619u;
    return h;
}

static void hist_token_make(char *buf, size_t cap, const char *arn, int reverse, long long next)
{
    snprintf(buf, cap, "EV%lld.%08x", next, hist_token_tag(arn, reverse));
}

/* Returns 0 (*from set; tok NULL leaves it) or -1 (replied). */
static int hist_token_parse(call *c, const char *tok, const char *arn, int reverse,
                            long long *from)
{
    if (tok == NULL)
        return 0;
    char *end;
    if (strncmp(tok, "EV", 2) != 0 || tok[2] < '0' || tok[2] > '9' ||
        (*from = strtoll(tok + 2, &end, 10)) < 0 || *end != '.' ||
        strtoul(end + 1, &end, 16) != hist_token_tag(arn, reverse) || *end != '\0') {
        CLIENT(c, "InvalidToken", "Invalid Token: 'Invalid token'");
        return -1;
    }
    return 0;
}

static void op_list_sms(call *c, json_t *req)
{
    long max;
    const char *tok;
    long long skip = 0;
    if (int_member(c, req, "maxResults", 0, LIST_MAX, 0, &max) ||
        str_member(c, req, "nextToken", 0, 1024, &tok) || parse_token(c, tok, "SM", &skip))
        return;
    sm_list l = {.arr = json_array(), .skip = (long)skip, .limit = max ? max : LIST_DEFAULT};
    store_sm_each(c->a->st, sm_list_cb, &l);
    json_t *o = json_pack("{s:o}", "stateMachines", l.arr);
    if (l.more)
        json_object_set_new(o, "nextToken", json_sprintf("SM%ld", l.skip + l.limit));
    reply_json(c, o);
}

static void op_update_sm(call *c, json_t *req)
{
    api *a = c->a;
    const char *arn, *def, *role;
    json_t *logc, *trc;
    store_sm sm;
    if (str_member(c, req, "stateMachineArn", 1, 2048, &arn) ||
        str_member(c, req, "definition", 0, MAX_DEFINITION, &def) ||
        str_member(c, req, "roleArn", 0, 256, &role) ||
        member(c, req, "loggingConfiguration", T_OBJ, 0, &logc) ||
        member(c, req, "tracingConfiguration", T_OBJ, 0, &trc))
        return;
    if (!def && !role && !logc && !trc) {
        CLIENT(c, "MissingRequiredParameter",
               "Either the definition, the role ARN, the LoggingConfiguration, or the "
               "TracingConfiguration must be specified");
        return;
    }
    if (find_sm(c, arn, &sm))
        return;
    if (role && strncmp(role, "arn:", 4) != 0) {
        store_sm_cleanup(&sm);
        CLIENT(c, "InvalidArn", "Invalid Arn: 'Invalid ARN prefix: %s'", role);
        return;
    }
    if (def && check_definition(c, def, sm.type) != 0) {
        store_sm_cleanup(&sm);
        return;
    }
    int64_t now = ev_wall_ms();
    if (role) {
        free(sm.role_arn);
        sm.role_arn = strdup(role);
    }
    sm.updated_ms = now;
    if (run_sm_save(a->run, &sm, def) != 0)
        goto fail;
    json_t *o = json_pack("{s:o,s:s}", "updateDate", ts(now), "revisionId", "");
    json_object_set_new(o, "revisionId", json_sprintf("%lld", (long long)sm.def_id));
    store_sm_cleanup(&sm);
    reply_json(c, o);
    return;
fail:
    store_sm_cleanup(&sm);
    reply_unavail(c);
}

static void op_delete_sm(call *c, json_t *req)
{
    const char *arn;
    if (str_member(c, req, "stateMachineArn", 1, 2048, &arn) ||
        check_arn(c, arn, "stateMachine", NULL))
        return;
    store_sm sm;
    int rc = 0;
    if (store_sm_get(c->a->st, arn, &sm) == STORE_OK) {
        if (!sm.deleted) {
            sm.deleted = 1;
            rc = run_sm_save(c->a->run, &sm, NULL);
        }
        store_sm_cleanup(&sm);
    }
    if (rc != 0)
        reply_unavail(c);
    else
        reply_json(c, json_object());
}

static void op_validate(call *c, json_t *req)
{
    const char *def, *sev;
    long max;
    int type;
    if (str_member(c, req, "definition", 1, MAX_DEFINITION, &def) || type_member(c, req, &type) ||
        str_member(c, req, "severity", 0, 0, &sev) ||
        int_member(c, req, "maxResults", 0, 100, 0, &max))
        return;
    if (sev && strcmp(sev, "ERROR") && strcmp(sev, "WARNING")) {
        CLIENT(c, "ValidationException",
               "1 validation error detected: Value '%s' at 'severity' failed to satisfy "
               "constraint: Member must satisfy enum value set: [ERROR, WARNING]",
               sev);
        return;
    }
    asl_machine *m = NULL;
    asl_diags d;
    memset(&d, 0, sizeof d);
    int rc = asl_machine_compile_text(def, strlen(def), type, &m, &d);
    asl_machine_free(m);
    json_t *diags = json_array();
    int errors = 0, truncated = 0;
    for (int i = 0; i < d.n; i++) {
        int is_err = !strcmp(d.d[i].severity, "ERROR");
        errors += is_err;
        if (sev && !strcmp(sev, "ERROR") && !is_err)
            continue;
        if (max && (long)json_array_size(diags) >= max) {
            truncated = 1;
            continue;
        }
        json_array_append_new(diags, json_pack("{s:s,s:s,s:s,s:s}", "severity", d.d[i].severity,
                                               "code", d.d[i].code, "message", d.d[i].message,
                                               "location", d.d[i].location));
    }
    int fail = rc != SFN_OK || errors > 0;
    reply_json(c, json_pack("{s:s,s:o,s:b}", "result", fail ? "FAIL" : "OK", "diagnostics", diags,
                            "truncated", truncated));
}

/* ---- executions ------------------------------------------------------------------ */
static void sync_done(void *ud, int rc, const run_result *res);

static void op_start(call *c, json_t *req, int sync)
{
    api *a = c->a;
    const char *smarn, *name, *input, *trace, *incl;
    store_sm sm;
    if (str_member(c, req, "stateMachineArn", 1, 2048, &smarn) ||
        str_member(c, req, "name", 0, 0, &name) || str_member(c, req, "input", 0, MAX_INPUT, &input) ||
        str_member(c, req, "traceHeader", 0, 256, &trace) ||
        (sync && str_member(c, req, "includedData", 0, 0, &incl)))
        return;
    if (sync)
        c->include_data = incl == NULL || strcmp(incl, "METADATA_ONLY") != 0;
    if (name && strlen(name) > 80) {
        CLIENT(c, "ValidationException",
               "1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: "
               "Member must have length less than or equal to 80",
               name);
        return;
    }
    if (name && !run_name_valid(name)) {
        CLIENT(c, "InvalidName", "Invalid Name: '%s'", name);
        return;
    }
    if (find_sm(c, smarn, &sm))
        return;
    if (sync && sm.type != 1) {
        store_sm_cleanup(&sm);
        CLIENT(c, "StateMachineTypeNotSupported",
               "This operation is not supported by this type of state machine");
        return;
    }
    if (input == NULL)
        input = "{}";
    json_error_t je;
    json_t *in = fjson_loadb(input, strlen(input), JSON_DECODE_ANY, &je, &a->fj);
    if (in == NULL) {
        store_sm_cleanup(&sm);
        CLIENT(c, "InvalidExecutionInput", "Invalid State Machine Execution Input: '%s'", je.text);
        return;
    }
    char uuid[37];
    int named = name != NULL;
    if (name == NULL) {
        uuid7(a, uuid);
        name = uuid;
    }
    int express = sm.type == 1;
    /* (A name we made up is new: no need to look for it; the unique ARN
     * index would still refuse a collision.) */
    if (!express && named) {
        /* Name idempotency (AWS): the same name and input while it runs
         * returns the same execution; otherwise ExecutionAlreadyExists. */
        char *xarn = NULL;
        const char *p = strstr(sm.arn, ":stateMachine:");
        if (asprintf(&xarn, "%.*s:execution:%s:%s", (int)(p - sm.arn), sm.arn,
                     p + strlen(":stateMachine:"), name) < 0)
            xarn = NULL;
        store_exec old;
        if (xarn && store_exec_get(a->st, xarn, &old) == STORE_OK) {
            int same = old.status == STORE_RUNNING && !strcmp(old.input, input) &&
                       !strcmp(old.sm_arn, sm.arn);
            if (same)
                reply_json(c, json_pack("{s:s,s:o}", "executionArn", xarn, "startDate",
                                        ts(old.start_ms)));
            else
                CLIENT(c, "ExecutionAlreadyExists", "Execution Already Exists: '%s'", xarn);
            store_exec_cleanup(&old);
            free(xarn);
            json_decref(in);
            store_sm_cleanup(&sm);
            return;
        }
        free(xarn);
    }
    run_start s = {.sm = &sm, .name = name, .input_text = input, .input = in,
                   .express = express};
    char *arn = NULL;
    int64_t start_ms = 0;
    int rc = run_exec_start(a->run, &s, sync ? sync_done : NULL, c, &arn, &start_ms);
    json_decref(in);
    store_sm_cleanup(&sm);
    if (rc == RUN_EEXIST) {
        CLIENT(c, "ExecutionAlreadyExists", "Execution Already Exists: '%s'", name);
        return;
    }
    if (rc == RUN_EUNAVAIL) {
        reply_unavail(c);
        return;
    }
    if (rc != 0) {
        reply_err(c, 500, "InternalFailure", "cannot start the execution (%d)", rc);
        return;
    }
    if (sync) {
        /* answered by sync_done; keep what the reply needs */
        c->arn = arn;
        json_t *meta = json_pack("{s:s,s:s,s:s,s:o}", "executionArn", arn, "stateMachineArn",
                                 smarn, "name", name, "startDate", ts(start_ms));
        if (c->include_data)
            json_object_set_new(meta, "input", json_string(input));
        c->body = jtext_dup(meta);
        json_decref(meta);
        return;
    }
    jtext b = {0};
    jtext_lit(&b, "{\"executionArn\":");
    jtext_cstr(&b, arn);
    jtext_lit(&b, ",\"startDate\":");
    jtext_ts(&b, start_ms);
    jtext_c(&b, '}');
    free(arn);
    char *text = jtext_take(&b);
    if (text == NULL)
        reply_err(c, 500, "InternalFailure", "out of memory");
    else
        reply_text(c, 200, text);
}

static void sync_done(void *ud, int rc, const run_result *res)
{
    call *c = ud;
    json_error_t je;
    json_t *o = c->body ? json_loads(c->body, 0, &je) : NULL;
    free(c->body);
    c->body = NULL;
    if (rc == RUN_EUNAVAIL) {
        json_decref(o);
        reply_unavail(c);
        return;
    }
    if (rc != 0 || o == NULL) {
        json_decref(o);
        reply_err(c, 500, "ServiceUnavailable", "the service is shutting down");
        return;
    }
    json_object_set_new(o, "stopDate", ts(res->stop_ms));
    json_object_set_new(o, "status", json_string(asl_status_name(res->status)));
    if (c->include_data) {
        json_object_set_new(o, "inputDetails", json_pack("{s:b}", "included", 1));
        if (res->output) {
            json_object_set_new(o, "output", json_string(res->output));
            json_object_set_new(o, "outputDetails", json_pack("{s:b}", "included", 1));
        }
    }
    if (res->error)
        json_object_set_new(o, "error", json_string(res->error));
    if (res->cause)
        json_object_set_new(o, "cause", json_string(res->cause));
    double start = json_real_value(json_object_get(o, "startDate"));
    int64_t dur = res->stop_ms - (int64_t)(start * 1000.0 + 0.5);
    if (dur < 1)
        dur = 1;
    json_object_set_new(o, "billingDetails",
                        json_pack("{s:i,s:I}", "billedMemoryUsedInMB", 64,
                                  "billedDurationInMilliseconds",
                                  (json_int_t)((dur + 99) / 100 * 100)));
    reply_json(c, o);
}

static void op_describe_exec(call *c, json_t *req)
{
    const char *arn;
    store_exec x;
    if (str_member(c, req, "executionArn", 1, 2048, &arn) || find_exec(c, arn, &x))
        return;
    reply_exec(c, &x);
    store_exec_cleanup(&x);
}

typedef struct exec_list {
    json_t *arr;
} exec_list;

static int exec_list_cb(void *ctx, const store_exec *x)
{
    exec_list *l = ctx;
    json_array_append_new(l->arr, exec_json(x, 0));
    return 0;
}

static void op_list_execs(call *c, json_t *req)
{
    const char *smarn, *filter, *tok, *maprun, *redrive;
    long max;
    long long after = 0;
    if (str_member(c, req, "stateMachineArn", 0, 2048, &smarn) ||
        str_member(c, req, "statusFilter", 0, 0, &filter) ||
        int_member(c, req, "maxResults", 0, LIST_MAX, 0, &max) ||
        str_member(c, req, "nextToken", 0, 3096, &tok) ||
        str_member(c, req, "mapRunArn", 0, 2048, &maprun) ||
        str_member(c, req, "redriveFilter", 0, 0, &redrive) || parse_token(c, tok, "EX", &after))
        return;
    if (smarn == NULL && maprun == NULL) {
        CLIENT(c, "ValidationException", "Must provide a StateMachine ARN or MapRun ARN");
        return;
    }
    if (smarn == NULL) {
        CLIENT(c, "ResourceNotFound", "Resource not found: '%s'", maprun);
        return;
    }
    int status = -1;
    if (filter && (status = status_from_name(filter)) < 0) {
        CLIENT(c, "ValidationException",
               "1 validation error detected: Value '%s' at 'statusFilter' failed to satisfy "
               "constraint: Member must satisfy enum value set: [RUNNING, SUCCEEDED, FAILED, "
               "TIMED_OUT, ABORTED, PENDING_REDRIVE]",
               filter);
        return;
    }
    store_sm sm;
    if (check_arn(c, smarn, "stateMachine", NULL))
        return;
    int rc = store_sm_get(c->a->st, smarn, &sm);
    if (rc != STORE_OK) {
        CLIENT(c, "StateMachineDoesNotExist", "State Machine Does Not Exist: '%s'", smarn);
        return;
    }
    if (sm.type == 1) {
        store_sm_cleanup(&sm);
        CLIENT(c, "StateMachineTypeNotSupported",
               "This operation is not supported by this type of state machine");
        return;
    }
    store_sm_cleanup(&sm);
    exec_list l = {.arr = json_array()};
    int64_t next = 0;
    store_exec_list(c->a->st, smarn, status, after, max ? (int)max : LIST_DEFAULT, exec_list_cb,
                    &l, &next);
    json_t *o = json_pack("{s:o}", "executions", l.arr);
    if (next)
        json_object_set_new(o, "nextToken", json_sprintf("EX%lld", (long long)next));
    reply_json(c, o);
}

static void op_stop(call *c, json_t *req)
{
    const char *arn, *error, *cause;
    store_exec x;
    if (str_member(c, req, "executionArn", 1, 2048, &arn) ||
        str_member(c, req, "error", 0, 256, &error) || str_member(c, req, "cause", 0, 32768, &cause) ||
        find_exec(c, arn, &x))
        return;
    int64_t stop_ms = x.stop_ms;
    int rc = x.status == STORE_RUNNING ? run_exec_stop(c->a->run, arn, error, cause, &stop_ms) : 0;
    store_exec_cleanup(&x);
    if (rc == RUN_EUNAVAIL) {
        reply_unavail(c);
        return;
    }
    if (rc != 0)
        stop_ms = ev_wall_ms();
    reply_json(c, json_pack("{s:o}", "stopDate", ts(stop_ms)));
}

typedef struct hist {
    char *buf;
    size_t len, cap;
    int n, limit, strip;
    int64_t next;
    /* the stored lines are the log form (asl_exec_event_write_log): its
     * @<id> tokens name an earlier event's payload */
    store *st;
    int64_t exec_id;
    jtext line;               /* the line in the API form */
    int64_t lit_id;           /* the last payload seen in full, and its token */
    jtext lit;
    char *fetched;            /* an event read for its payload */
    int64_t fetched_id;       /* its id (0: none), so that the events that
                               * refer to one payload read it once */
} hist;

static int hist_lookup(void *ctx, int64_t id, const char **tok, size_t *toklen)
{
    hist *h = ctx;
    if (id == h->lit_id && h->lit.p) {
        *tok = h->lit.p;
        *toklen = h->lit.n;
        return 0;
    }
    /* reading backwards, or a page that starts after it: read that event
     * (by id, through the index: a row of a few events), once */
    if (h->fetched == NULL || h->fetched_id != id) {
        free(h->fetched);
        h->fetched = NULL;
        h->fetched_id = 0;
        if (store_event_text(h->st, h->exec_id, id, &h->fetched) != STORE_OK)
            return -1;
        h->fetched_id = id;
    }
    return asl_event_log_payload(h->fetched, strlen(h->fetched), tok, toklen);
}

static int hist_add(hist *h, const char *text)
{
    size_t tl = strlen(text);
    if (h->len + tl + 2 > h->cap) {
        size_t cap = (h->len + tl + 2) * 2;
        char *b = realloc(h->buf, cap);
        if (b == NULL)
            return -1;
        h->buf = b;
        h->cap = cap;
    }
    if (h->n > 0)
        h->buf[h->len++] = ',';
    memcpy(h->buf + h->len, text, tl);
    h->len += tl;
    h->buf[h->len] = '\0';
    return 0;
}

static int hist_cb(void *ctx, int64_t id, const char *type, const char *json)
{
    hist *h = ctx;
    (void)type;
    if (h->n == h->limit) {
        h->next = id;
        return 1;
    }
    size_t jl = strlen(json);
    const char *tok;
    size_t tl;
    if (memchr(json, '@', jl)) {
        jtext_reset(&h->line);
        if (asl_event_log_expand(json, jl, hist_lookup, h, &h->line) != SFN_OK)
            return -1;
        json = h->line.p;
        jl = h->line.n;
    }
    if (asl_event_log_payload(json, jl, &tok, &tl) == 0) {
        h->lit_id = id;
        jtext_reset(&h->lit);
        jtext_raw(&h->lit, tok, tl);
    }
    int rc;
    if (h->strip) {
        /* includeExecutionData=false: the payloads go, their details too */
        json_error_t je;
        json_t *e = json_loads(json, 0, &je);
        const char *k;
        json_t *v;
        json_object_foreach(e, k, v) {
            if (json_is_object(v)) {
                json_object_del(v, "input");
                json_object_del(v, "inputDetails");
                json_object_del(v, "output");
                json_object_del(v, "outputDetails");
                json_object_del(v, "assignedVariables");
                json_object_del(v, "assignedVariablesDetails");
            }
        }
        char *t = e ? jtext_dup(e) : NULL;
        json_decref(e);
        rc = t ? hist_add(h, t) : -1;
        free(t);
    } else {
        rc = hist_add(h, json);
    }
    h->n++;
    return rc;
}

static void op_history(call *c, json_t *req)
{
    const char *arn, *tok;
    long max;
    int reverse, incl;
    long long from = 0;
    store_exec x;
    if (str_member(c, req, "executionArn", 1, 2048, &arn) ||
        int_member(c, req, "maxResults", 0, HISTORY_MAX, 0, &max) ||
        bool_member(c, req, "reverseOrder", 0, &reverse) ||
        bool_member(c, req, "includeExecutionData", 1, &incl) ||
        str_member(c, req, "nextToken", 0, 3096, &tok) ||
        hist_token_parse(c, tok, arn, reverse, &from))
        return;
    if (check_arn(c, arn, "execution", NULL) || find_exec(c, arn, &x))
        return;
    hist h = {.limit = max ? (int)max : HISTORY_DEFAULT, .strip = !incl, .st = c->a->st,
              .exec_id = x.id};
    int64_t lo = reverse ? 1 : (from ? from : 1);
    int64_t hi = reverse ? (from ? from : 0) : 0;
    int rc = store_event_each(c->a->st, x.id, lo, hi, reverse, h.limit + 1, hist_cb, &h);
    store_exec_cleanup(&x);
    jtext_cleanup(&h.line);
    jtext_cleanup(&h.lit);
    free(h.fetched);
    if (rc < 0) {
        free(h.buf);
        reply_err(c, 500, "InternalFailure", "store: %s", store_errmsg(c->a->st));
        return;
    }
    char *out = NULL;
    int n;
    char tokbuf[48];
    hist_token_make(tokbuf, sizeof tokbuf, arn, reverse, (long long)h.next);
    if (h.next)
        n = asprintf(&out, "{\"events\":[%s],\"nextToken\":\"%s\"}", h.buf ? h.buf : "",
                     tokbuf);
    else
        n = asprintf(&out, "{\"events\":[%s]}", h.buf ? h.buf : "");
    free(h.buf);
    if (n < 0)
        out = NULL;
    if (out == NULL) {
        reply_err(c, 500, "InternalFailure", "out of memory");
        return;
    }
    reply_text(c, 200, out);
}

static void op_describe_for_exec(call *c, json_t *req)
{
    const char *arn;
    store_exec x;
    if (str_member(c, req, "executionArn", 1, 2048, &arn) || find_exec(c, arn, &x))
        return;
    store_sm sm;
    char *def = NULL;
    int type;
    memset(&sm, 0, sizeof sm);
    store_sm_get(c->a->st, x.sm_arn, &sm);
    store_def_get(c->a->st, x.def_id, &def, &type);
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:o}", "stateMachineArn", x.sm_arn, "name",
                          sm.name ? sm.name : "", "definition", def ? def : "{}", "roleArn",
                          sm.role_arn ? sm.role_arn : "", "updateDate", ts(sm.updated_ms),
                          "loggingConfiguration", logging_json(), "tracingConfiguration",
                          json_pack("{s:b}", "enabled", 0));
    json_object_set_new(o, "revisionId", json_sprintf("%lld", (long long)x.def_id));
    free(def);
    store_sm_cleanup(&sm);
    store_exec_cleanup(&x);
    reply_json(c, o);
}

/* Tokens the core makes: 32 hex digits, '-', the task id. */
static int token_shape_ok(const char *t)
{
    size_t i;
    for (i = 0; i < 32; i++)
        if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'f')))
            return 0;
    if (t[i++] != '-' || t[i] == '\0')
        return 0;
    for (; t[i]; i++)
        if (t[i] < '0' || t[i] > '9')
            return 0;
    return 1;
}

static void op_task(call *c, json_t *req, int kind)
{
    const char *tok, *output = NULL, *error = NULL, *cause = NULL;
    if (str_member(c, req, "taskToken", 1, 2048, &tok))
        return;
    if (kind == RUN_TASK_SUCCESS && str_member(c, req, "output", 1, MAX_INPUT, &output))
        return;
    if (kind == RUN_TASK_FAILURE &&
        (str_member(c, req, "error", 0, 256, &error) || str_member(c, req, "cause", 0, 32768, &cause)))
        return;
    if (!token_shape_ok(tok)) {
        CLIENT(c, "InvalidToken", "Invalid Token: 'Invalid token'");
        return;
    }
    json_t *out = NULL;
    if (output) {
        json_error_t je;
        out = json_loads(output, JSON_DECODE_ANY, &je);
        if (out == NULL) {
            CLIENT(c, "InvalidOutput", "Invalid Output: '%s'", je.text);
            return;
        }
    }
    int rc = run_task_send(c->a->run, tok, kind, out, error, cause);
    json_decref(out);
    if (rc == RUN_EUNAVAIL) {
        reply_unavail(c);
        return;
    }
    if (rc != 0) {
        CLIENT(c, "TaskDoesNotExist", "Task Does Not Exist: 'Provided task does not exist anymore'");
        return;
    }
    reply_json(c, json_object());
}

static void op_redrive(call *c, json_t *req)
{
    const char *arn, *ctok;
    store_exec x;
    if (str_member(c, req, "executionArn", 1, 2048, &arn) ||
        str_member(c, req, "clientToken", 0, 64, &ctok) || find_exec(c, arn, &x))
        return;
    if (strstr(arn, ":express:")) {
        CLIENT(c, "ExecutionNotRedrivable", "Execution '%s' is an EXPRESS execution and cannot be redriven", arn);
    } else if (x.status == STORE_RUNNING || x.status == STORE_SUCCEEDED) {
        CLIENT(c, "ExecutionNotRedrivable", "Execution is %s and cannot be redriven",
               status_name(x.status));
    } else {
        char err[256] = "";
        int64_t when = 0;
        int rc = run_exec_redrive(c->a->run, arn, &when, err, sizeof err);
        if (rc == RUN_EUNAVAIL)
            reply_unavail(c);
        else if (rc != 0)
            CLIENT(c, "ExecutionNotRedrivable", "%s", err);
        else
            reply_json(c, json_pack("{s:o}", "redriveDate", ts(when)));
    }
    store_exec_cleanup(&x);
}

/* ---- Sfnd.WaitExecution ------------------------------------------------------------ */
static void wait_answer(call *c)
{
    store_exec x;
    c->answered = 1;
    if (c->timer) {
        ev_timer_cancel(c->a->loop, c->timer);
        c->timer = NULL;
    }
    if (store_exec_get(c->a->st, c->arn, &x) == STORE_OK) {
        reply_exec(c, &x);
        store_exec_cleanup(&x);
    } else {
        CLIENT(c, "ExecutionDoesNotExist", "Execution Does Not Exist: '%s'", c->arn);
    }
}

/* Timer and waiter both hold the call: the timer answers and leaves the
 * call to the waiter, which frees it (or answers first). */
static void wait_done(void *ud, int rc, const run_result *res)
{
    (void)res;
    call *c = ud;
    if (c->answered) {
        free(c->arn);
        free(c);
        return;
    }
    if (rc != 0) {
        c->answered = 1;
        if (c->timer)
            ev_timer_cancel(c->a->loop, c->timer);
        c->timer = NULL;
        reply_err(c, 500, "ServiceUnavailable", "the service is shutting down");
        return;
    }
    wait_answer(c);
}

static void wait_timeout(ev_loop *loop, ev_timer *t, void *ud)
{
    (void)loop;
    (void)t;
    call *c = ud;
    c->timer = NULL;
    /* answer through a copy: the waiter still holds c and frees it */
    call *copy = calloc(1, sizeof *copy);
    if (copy == NULL)
        return;
    copy->a = c->a;
    copy->cb = c->cb;
    copy->ud = c->ud;
    copy->arn = strdup(c->arn);
    c->answered = 1;
    if (copy->arn == NULL) {
        reply_err(copy, 500, "InternalFailure", "out of memory");
        return;
    }
    wait_answer(copy);
}

static void op_wait(call *c, json_t *req)
{
    const char *arn;
    long timeout;
    store_exec x;
    if (str_member(c, req, "executionArn", 1, 2048, &arn) ||
        int_member(c, req, "timeoutSeconds", 0, 3600, 60, &timeout))
        return;
    /* running in memory: it exists (no store lookup on the hot path) */
    if (!run_exec_running(c->a->run, arn)) {
        if (find_exec(c, arn, &x))
            return;
        store_exec_cleanup(&x);
    }
    c->arn = strdup(arn);
    if (c->arn == NULL || run_exec_wait(c->a->run, arn, wait_done, c) != 0) {
        wait_answer(c);
        return;
    }
    c->timer = ev_timer_add(c->a->loop, ev_now_ms() + timeout * 1000, wait_timeout, c);
}

/* ---- dispatch ------------------------------------------------------------------------ */
typedef struct op {
    const char *name;
    void (*fn)(call *c, json_t *req);
} op;

static void op_start_async(call *c, json_t *req) { op_start(c, req, 0); }
static void op_start_sync(call *c, json_t *req) { op_start(c, req, 1); }
static void op_task_success(call *c, json_t *req) { op_task(c, req, RUN_TASK_SUCCESS); }
static void op_task_failure(call *c, json_t *req) { op_task(c, req, RUN_TASK_FAILURE); }
static void op_task_heartbeat(call *c, json_t *req) { op_task(c, req, RUN_TASK_HEARTBEAT); }

static const op ops[] = {
    {"CreateStateMachine", op_create_sm},
    {"DescribeStateMachine", op_describe_sm},
    {"ListStateMachines", op_list_sms},
    {"UpdateStateMachine", op_update_sm},
    {"DeleteStateMachine", op_delete_sm},
    {"StartExecution", op_start_async},
    {"StartSyncExecution", op_start_sync},
    {"DescribeExecution", op_describe_exec},
    {"ListExecutions", op_list_execs},
    {"StopExecution", op_stop},
    {"GetExecutionHistory", op_history},
    {"DescribeStateMachineForExecution", op_describe_for_exec},
    {"ValidateStateMachineDefinition", op_validate},
    {"SendTaskSuccess", op_task_success},
    {"SendTaskFailure", op_task_failure},
    {"SendTaskHeartbeat", op_task_heartbeat},
    {"RedriveExecution", op_redrive},
};

void api_call(api *a, const char *target, const char *body, size_t len, api_reply_cb *cb, void *ud)
{
    call *c = calloc(1, sizeof *c);
    if (c == NULL) {
        cb(ud, 500, "{\"__type\":\"InternalFailure\"}", 27);
        return;
    }
    c->a = a;
    c->cb = cb;
    c->ud = ud;
    void (*fn)(call *, json_t *) = NULL;
    const char *opname = NULL;
    static const char pfx[] = "AWSStepFunctions.";
    if (target && !strncmp(target, pfx, sizeof pfx - 1))
        opname = target + sizeof pfx - 1;
    for (size_t i = 0; opname && i < sizeof ops / sizeof ops[0]; i++)
        if (!strcmp(ops[i].name, opname))
            fn = ops[i].fn;
    if (target && !strcmp(target, "Sfnd.WaitExecution"))
        fn = op_wait;
    if (fn == NULL) {
        reply_err(c, 400, "UnknownOperationException", "%s",
                  target ? "The requested operation is not recognized by the service"
                         : "Missing X-Amz-Target header");
        return;
    }
    json_t *req;
    json_error_t je;
    if (len == 0) {
        req = json_object();
    } else {
        req = fjson_loadb(body, len, 0, &je, &a->fj);
        if (req == NULL) {
            reply_err(c, 400, "SerializationException", "Malformed request body: %s", je.text);
            return;
        }
        if (!json_is_object(req)) {
            json_decref(req);
            reply_err(c, 400, "SerializationException",
                      "Start of structure or map found where not expected");
            return;
        }
    }
    fn(c, req);
    json_decref(req);
}

/* ---- HTTP ------------------------------------------------------------------------------- */
static void http_reply(void *ud, int status, const char *body, size_t len)
{
    http_req *req = ud;
    char hdr[160];
    char rid[37];
    static uint64_t n;
    n++;
    snprintf(rid, sizeof rid, "00000000-0000-4000-8000-%012llx", (unsigned long long)n);
    snprintf(hdr, sizeof hdr,
             "Content-Type: application/x-amz-json-1.0\r\nx-amzn-RequestId: %s\r\n", rid);
    http_respond(req, status, hdr, body, len);
}

/* ---- who may call ---------------------------------------------------------------------- */
int api_host_is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (strcasecmp(host, "localhost") == 0)
        return 1;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return 0;
}

void api_url_format(char *buf, size_t cap, const char *host, int port)
{
    snprintf(buf, cap, strchr(host, ':') ? "http://[%s]:%d" : "http://%s:%d", host, port);
}

static int is_wildcard(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return a4.s_addr == htonl(INADDR_ANY);
    return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_UNSPECIFIED(&a6);
}

/* Does a Host header value name this server? */
static int host_ok(const api *a, const char *hv)
{
    char name[256];
    const char *colon;
    size_t nl;
    if (hv[0] == '[') {
        const char *rb = strchr(hv, ']');
        if (rb == NULL)
            return 0;
        nl = (size_t)(rb - hv - 1);
        if (nl >= sizeof name)
            return 0;
        memcpy(name, hv + 1, nl);
        name[nl] = '\0';
        colon = rb[1] == ':' ? rb + 1 : rb[1] == '\0' ? NULL : rb; /* rb: garbage after ']' */
        if (colon == rb)
            return 0;
        struct in6_addr a6;
        if (inet_pton(AF_INET6, name, &a6) != 1)
            return 0;
    } else {
        colon = strchr(hv, ':');
        if (colon && strchr(colon + 1, ':'))
            return 0;
        nl = colon ? (size_t)(colon - hv) : strlen(hv);
        if (nl >= sizeof name)
            return 0;
        memcpy(name, hv, nl);
        name[nl] = '\0';
    }
    long port = 80;
    if (colon) {
        char *end;
        if (!isdigit((unsigned char)colon[1]))
            return 0;
        port = strtol(colon + 1, &end, 10);
        if (*end != '\0')
            return 0;
    }
    if (port != a->port)
        return 0;
    if (!strcmp(name, "127.0.0.1") || !strcasecmp(name, "localhost") || !strcmp(name, "::1"))
        return 1;
    if (!strcasecmp(name, a->host))
        return 1;
    if (is_wildcard(a->host)) {
        /* Serving every address: any address literal is fine (a DNS
         * rebinding attack needs a name). */
        struct in_addr a4;
        struct in6_addr a6;
        return hv[0] == '[' ? inet_pton(AF_INET6, name, &a6) == 1
                            : inet_pton(AF_INET, name, &a4) == 1;
    }
    return 0;
}

int api_http_check(const api *a, const char *method, const char *host, const char *origin,
                   const char *authorization, const char *content_type, char *msg, size_t msglen)
{
    char own[300];
    if (host != NULL && !host_ok(a, host)) {
        api_url_format(own, sizeof own, a->host, a->port);
        snprintf(msg, msglen,
                 "Host '%.200s' does not name this server (%s); refused (DNS rebinding)", host,
                 own);
        return 403;
    }
    if (origin != NULL) {
        int ok = host != NULL && !strncasecmp(origin, "http://", 7) &&
                 !strcasecmp(origin + 7, host);
        for (size_t i = 0; !ok && i < a->norigins; i++)
            ok = !strcasecmp(origin, a->origins[i]);
        if (!ok) {
            snprintf(msg, msglen,
                     "Cross-origin request from '%.200s' refused (start sfnd with --allow-origin "
                     "to allow an origin)",
                     origin);
            return 403;
        }
    }
    if (!strcmp(method, "POST") && (authorization == NULL || strncmp(authorization, "AWS4-", 5))) {
        static const char *const simple[] = {"text/plain", "application/x-www-form-urlencoded",
                                             "multipart/form-data"};
        const char *ct = content_type ? content_type : "";
        while (*ct == ' ' || *ct == '\t')
            ct++;
        size_t tl = strcspn(ct, "; \t");
        for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++) {
            if (tl == strlen(simple[i]) && !strncasecmp(ct, simple[i], tl)) {
                snprintf(msg, msglen,
                         "Unsigned request with Content-Type '%s' refused (a browser form or "
                         "simple request); send an AWS SigV4 Authorization header or a JSON "
                         "Content-Type",
                         simple[i]);
                return 403;
            }
        }
    }
    return 0;
}

size_t api_http_error_body(int status, char *buf, size_t cap, void *ud)
{
    (void)ud;
    const char *type, *msg;
    switch (status) {
    case 400: type = "BadRequestException"; msg = "Malformed HTTP request"; break;
    case 408: type = "RequestTimeoutException"; msg = "The request was not received in time"; break;
    case 411: type = "LengthRequiredException"; msg = "Content-Length is required (chunked request bodies are not supported)"; break;
    case 413: type = "RequestEntityTooLargeException"; msg = "Request must be smaller than the service's limit"; break;
    case 414: type = "BadRequestException"; msg = "The request target is too long"; break;
    case 417: type = "BadRequestException"; msg = "Unsupported Expect header"; break;
    case 431: type = "RequestHeaderFieldsTooLargeException"; msg = "The request's headers are too large"; break;
    case 503: type = "ServiceUnavailableException"; msg = "The service has too many open connections; retry later"; break;
    case 505: type = "BadRequestException"; msg = "HTTP version not supported"; break;
    default: type = "InternalFailure"; msg = "Internal failure"; break;
    }
    int n = snprintf(buf, cap, "{\"__type\":\"%s\",\"message\":\"%s\"}", type, msg);
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

#define API_MAX_REQUEST (2u * 1024 * 1024) /* a Step Functions request body */

void api_set_port(api *a, int port) { a->port = port; }

void api_http_handle(http_req *req, void *ud)
{
    api *a = ud;
    const char *method = http_req_method(req);
    const char *path = http_req_path(req);
    char msg[512];
    if (api_http_check(a, method, http_req_header(req, "Host"), http_req_header(req, "Origin"),
                       http_req_header(req, "Authorization"),
                       http_req_header(req, "Content-Type"), msg, sizeof msg) != 0) {
        jtext b = {0};
        jtext_lit(&b, "{\"__type\":\"AccessDeniedException\",\"message\":");
        jtext_cstr(&b, msg);
        jtext_c(&b, '}');
        char *text = jtext_take(&b);
        if (text == NULL) {
            http_req_release(req);
            return;
        }
        http_respond_take(req, 403,
                          "Content-Type: application/x-amz-json-1.0\r\n"
                          "x-amzn-ErrorType: AccessDeniedException\r\n",
                          text, strlen(text));
        return;
    }
    static const char lpfx[] = "/2015-03-31/functions/";
    static const char lsfx[] = "/invocations";
    size_t plen = strlen(path);
    if (!strcmp(path, "/") && !strcmp(method, "POST")) {
        size_t len;
        const char *body = http_req_body(req, &len);
        if (len > API_MAX_REQUEST) {
            /* the server takes Lambda's 6 MB payloads; Step Functions
             * requests stay bounded as before (a 1 MB definition, escaped,
             * fits) */
            char eb[256];
            size_t n = api_http_error_body(413, eb, sizeof eb, a);
            http_respond(req, 413,
                         "Content-Type: application/x-amz-json-1.0\r\n"
                         "x-amzn-ErrorType: RequestEntityTooLargeException\r\n",
                         eb, n);
            return;
        }
        api_call(a, http_req_header(req, "X-Amz-Target"), body, len, http_reply, req);
        return;
    }
    if (!strncmp(path, lpfx, sizeof lpfx - 1) && plen > sizeof lpfx - 1 + sizeof lsfx - 1 &&
        !strcmp(path + plen - (sizeof lsfx - 1), lsfx) && a->lam) {
        size_t nl = plen - (sizeof lpfx - 1) - (sizeof lsfx - 1);
        char name[512];
        if (nl < sizeof name && strcmp(method, "POST") == 0) {
            memcpy(name, path + sizeof lpfx - 1, nl);
            name[nl] = '\0';
            lam_http_invoke(a->lam, req, name);
            return;
        }
    }
    if (!strcmp(path, "/health") && !strcmp(method, "GET")) {
        /* 200 while reads are served; "degraded" when writes are not */
        const char *why = NULL;
        if (run_available(a->run, &why)) {
            http_respond(req, 200, "Content-Type: application/json\r\n", "{\"status\":\"ok\"}",
                         15);
            return;
        }
        jtext b = {0};
        jtext_lit(&b, "{\"status\":\"degraded\",\"writes\":");
        jtext_cstr(&b, why);
        jtext_c(&b, '}');
        http_respond(req, 200, "Content-Type: application/json\r\n", b.p ? b.p : "{}",
                     b.p ? b.n : 2);
        jtext_cleanup(&b);
        return;
    }
    static const char nf[] =
        "{\"__type\":\"UnknownOperationException\",\"message\":\"No such route\"}";
    http_respond(req, 404, "Content-Type: application/x-amz-json-1.0\r\n", nf, sizeof nf - 1);
}

/* ---- lifetime and the template ------------------------------------------------------------ */
api *api_create(const api_opts *o)
{
    api *a = calloc(1, sizeof *a);
    if (a == NULL)
        return NULL;
    a->run = o->run;
    a->st = o->st;
    a->loop = o->loop;
    a->lam = o->lam;
    a->region = strdup(o->region ? o->region : "us-east-1");
    a->account = strdup(o->account ? o->account : "123456789012");
    a->host = strdup(o->host ? o->host : "127.0.0.1");
    a->port = o->port;
    a->origins = o->nallow_origins ? calloc(o->nallow_origins, sizeof *a->origins) : NULL;
    for (size_t i = 0; a->origins && i < o->nallow_origins; i++) {
        size_t l = strlen(o->allow_origins[i]);
        while (l > 0 && o->allow_origins[i][l - 1] == '/') /* an Origin has no path */
            l--;
        if ((a->origins[a->norigins] = strndup(o->allow_origins[i], l)) != NULL)
            a->norigins++;
    }
    a->rng = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        uint64_t u;
        if (read(fd, &u, sizeof u) == (ssize_t)sizeof u)
            a->rng ^= u;
        close(fd);
    }
    if (a->region == NULL || a->account == NULL || a->host == NULL ||
        a->norigins != o->nallow_origins) {
        api_free(a);
        return NULL;
    }
    return a;
}

void api_free(api *a)
{
    if (a == NULL)
        return;
    free(a->region);
    free(a->account);
    free(a->host);
    for (size_t i = 0; i < a->norigins; i++)
        free(a->origins[i]);
    free(a->origins);
    fjson_buf_free(&a->fj);
    free(a);
}

int api_sm_from_template(api *a, const char *name, const char *definition, int type,
                         const char *role_arn, char **arn_out, char *err, size_t errlen)
{
    asl_machine *m = NULL;
    asl_diags d;
    memset(&d, 0, sizeof d);
    if (asl_machine_compile_text(definition, strlen(definition), type, &m, &d) != SFN_OK) {
        asl_diags_cause(&d, err, errlen);
        return -EINVAL;
    }
    asl_machine_free(m);
    char *arn = NULL;
    if (asprintf(&arn, "arn:aws:states:%s:%s:stateMachine:%s", a->region, a->account, name) < 0)
        return -ENOMEM;
    store_sm old;
    int have = store_sm_get(a->st, arn, &old) == STORE_OK;
    int same = 0;
    if (have && !old.deleted) {
        char *odef = NULL;
        int otype;
        if (store_def_get(a->st, old.def_id, &odef, &otype) == STORE_OK)
            same = !strcmp(odef, definition) && otype == type && old.role_arn &&
                   !strcmp(old.role_arn, role_arn);
        free(odef);
    }
    int rc = 0;
    if (!same) {
        int64_t now = ev_wall_ms();
        store_sm sm = {.arn = arn, .name = (char *)name, .role_arn = (char *)role_arn,
                       .type = type, .created_ms = have ? old.created_ms : now,
                       .updated_ms = now, .from_template = 1};
        if (run_sm_save(a->run, &sm, definition) != 0) {
            const char *why = NULL;
            run_available(a->run, &why);
            snprintf(err, errlen, "store: %s", why ? why : "the write failed");
            rc = -EAGAIN;
        }
    }
    if (have)
        store_sm_cleanup(&old);
    if (rc == 0)
        *arn_out = arn;
    else
        free(arn);
    return rc;
}
