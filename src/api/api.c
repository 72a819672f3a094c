/*
 * api.c - Step Functions API (AWS JSON 1.0) over the runner, and the HTTP
 * router (see api.h): api_call's parse and dispatch, the replies, the
 * strict request members and ARN checks every operation uses, who may call
 * (api_http_check), api_create / api_free. The operations are in api_sm.c,
 * api_exec.c and api_history.c (api_int.h).
 *
 * Requests are parsed strictly: a body that is not a JSON object is a
 * SerializationException, a member of the wrong JSON type too; a missing
 * required member or a broken constraint is a ValidationException in
 * Coral's words ("1 validation error detected: ..."); the semantic errors
 * (InvalidArn, StateMachineDoesNotExist, ...) carry AWS's messages.
 *
 * Must not: reply before the data a reply reports is committed (all
 * replies go through run_after_commit), change an execution except through
 * the runner, hold an operation's logic (its file does).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "api_int.h"

#include "jtext.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

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
    free(c->ver_arn);
    free(c->alias_arn);
    free(c);
}

/* Queue the reply: it leaves after the current transaction commits. */
void api__reply_text(call *c, int status, char *body /* taken */)
{
    c->status = status;
    c->body = body;
    if (run_after_commit(c->a->run, deliver, c) != 0)
        deliver(c, 0);
}

void api__reply_json(call *c, json_t *j /* taken */)
{
    char *text = j ? jtext_dup(j) : NULL;
    json_decref(j);
    if (text == NULL) {
        api__reply_text(c, 500,
                        strdup("{\"__type\":\"InternalFailure\",\"message\":\"out of memory\"}"));
        return;
    }
    api__reply_text(c, 200, text);
}

/* The runner refused a write (RUN_EUNAVAIL): a retryable 503. */
void api__reply_unavail(call *c)
{
    char *text = unavail_body(c->a);
    api__reply_text(c, 503, text ? text : strdup("{\"__type\":\"ServiceUnavailable\"}"));
}
void api__reply_err(call *c, int status, const char *type, const char *fmt, ...)
{
    /* the message whole (it may quote a long value), or cut at 2 KB when
     * memory runs out */
    char small[2048], *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    if (msg == NULL) {
        va_start(ap, fmt);
        vsnprintf(small, sizeof small, fmt, ap);
        va_end(ap);
    }
    jtext b = {0};
    jtext_lit(&b, "{\"__type\":");
    jtext_cstr(&b, type);
    jtext_lit(&b, ",\"message\":");
    jtext_cstr(&b, msg ? msg : small);
    jtext_c(&b, '}');
    free(msg);
    char *text = jtext_take(&b);
    if (text == NULL)
        text = strdup("{\"__type\":\"InternalFailure\"}");
    api__reply_text(c, status, text);
}

/* ---- strict members ----------------------------------------------------------- */
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
int api__member(call *c, const json_t *req, const char *name, int type, int required,
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

int api__str_member(call *c, const json_t *req, const char *name, int required,
                    size_t maxlen, const char **out)
{
    json_t *v;
    *out = NULL;
    if (api__member(c, req, name, T_STR, required, &v) != 0)
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
        /* AWS shows the value, except for the members its API marks
         * sensitive (payloads, definitions, errors and causes) */
        static const char *const hidden[] = {"definition", "input", "output", "error", "cause"};
        int show = 1;
        for (size_t i = 0; i < sizeof hidden / sizeof *hidden; i++)
            show &= strcmp(name, hidden[i]) != 0;
        if (show)
            CLIENT(c, "ValidationException",
                   "1 validation error detected: Value '%s' at '%s' failed to satisfy "
                   "constraint: Member must have length less than or equal to %zu",
                   json_string_value(v), name, maxlen);
        else
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

int api__int_member(call *c, const json_t *req, const char *name, long lo, long hi,
                    long dflt, long *out)
{
    json_t *v;
    *out = dflt;
    if (api__member(c, req, name, T_INT, 0, &v) != 0)
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

int api__bool_member(call *c, const json_t *req, const char *name, int dflt, int *out)
{
    json_t *v;
    *out = dflt;
    if (api__member(c, req, name, T_BOOL, 0, &v) != 0)
        return -1;
    if (v)
        *out = json_is_true(v);
    return 0;
}

/* AWS's rule for state machine and execution names. */
/* "arn:aws:states:<region>:<account>:<kind>:..." Returns 0 or -1 (replied). */
int api__check_arn(call *c, const char *arn, const char *kind1, const char *kind2)
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
/* Look an execution up; replies ExecutionDoesNotExist when absent. */
int api__find_exec(call *c, const char *arn, run_exec_info *x)
{
    if (api__check_arn(c, arn, "execution", "express") != 0)
        return -1;
    int rc = run_exec_get(c->a->run, arn, x);
    if (rc == RUN_ENOENT) {
        CLIENT(c, "ExecutionDoesNotExist", "Execution Does Not Exist: '%s'", arn);
        return -1;
    }
    if (rc != 0) {
        api__reply_err(c, 500, "InternalFailure", "store: %s", run_store_errmsg(c->a->run));
        return -1;
    }
    return 0;
}

int api__find_sm(call *c, const char *arn, run_sm *sm)
{
    if (api__check_arn(c, arn, "stateMachine", NULL) != 0)
        return -1;
    int rc = run_sm_get(c->a->run, arn, sm);
    if (rc == 0 && !sm->deleted)
        return 0;
    if (rc == 0)
        run_sm_cleanup(sm);
    if (rc == 0 || rc == RUN_ENOENT) {
        CLIENT(c, "StateMachineDoesNotExist", "State Machine Does Not Exist: '%s'", arn);
        return -1;
    }
    api__reply_err(c, 500, "InternalFailure", "store: %s", run_store_errmsg(c->a->run));
    return -1;
}

/* nextToken: "<prefix><decimal>" */
int api__parse_token(call *c, const char *tok, const char *prefix, long long *out)
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

/* ---- dispatch ------------------------------------------------------------------------ */
typedef struct op {
    const char *name;
    void (*fn)(call *c, json_t *req);
} op;

static const op ops[] = {
    {"CreateStateMachine", api__op_create_sm},
    {"DescribeStateMachine", api__op_describe_sm},
    {"ListStateMachines", api__op_list_sms},
    {"UpdateStateMachine", api__op_update_sm},
    {"DeleteStateMachine", api__op_delete_sm},
    {"StartExecution", api__op_start_async},
    {"StartSyncExecution", api__op_start_sync},
    {"DescribeExecution", api__op_describe_exec},
    {"ListExecutions", api__op_list_execs},
    {"StopExecution", api__op_stop},
    {"GetExecutionHistory", api__op_history},
    {"DescribeStateMachineForExecution", api__op_describe_for_exec},
    {"ValidateStateMachineDefinition", api__op_validate},
    {"SendTaskSuccess", api__op_task_success},
    {"SendTaskFailure", api__op_task_failure},
    {"SendTaskHeartbeat", api__op_task_heartbeat},
    {"RedriveExecution", api__op_redrive},
    {"TestState", api__op_test_state},
    {"PublishStateMachineVersion", api__op_publish_version},
    {"ListStateMachineVersions", api__op_list_versions},
    {"DeleteStateMachineVersion", api__op_delete_version},
    {"CreateStateMachineAlias", api__op_create_alias},
    {"DescribeStateMachineAlias", api__op_describe_alias},
    {"UpdateStateMachineAlias", api__op_update_alias},
    {"DeleteStateMachineAlias", api__op_delete_alias},
    {"ListStateMachineAliases", api__op_list_aliases},
    {"CreateActivity", api__op_create_activity},
    {"DescribeActivity", api__op_describe_activity},
    {"ListActivities", api__op_list_activities},
    {"DeleteActivity", api__op_delete_activity},
    {"GetActivityTask", api__op_get_activity_task},
    {"TagResource", api__op_tag_resource},
    {"UntagResource", api__op_untag_resource},
    {"ListTagsForResource", api__op_list_tags},
    {"ListMapRuns", api__op_list_map_runs},
    {"DescribeMapRun", api__op_describe_map_run},
    {"UpdateMapRun", api__op_update_map_run},
};

static void call_run(api *a, const char *target, const char *body, size_t len, api_reply_cb *cb,
                     void *ud, http_req *hreq)
{
    call *c = calloc(1, sizeof *c);
    if (c == NULL) {
        cb(ud, 500, "{\"__type\":\"InternalFailure\"}", 27);
        return;
    }
    c->a = a;
    c->cb = cb;
    c->ud = ud;
    c->req = hreq;
    void (*fn)(call *, json_t *) = NULL;
    const char *opname = NULL;
    static const char pfx[] = "AWSStepFunctions.";
    if (target && !strncmp(target, pfx, sizeof pfx - 1))
        opname = target + sizeof pfx - 1;
    for (size_t i = 0; opname && i < sizeof ops / sizeof ops[0]; i++)
        if (!strcmp(ops[i].name, opname))
            fn = ops[i].fn;
    if (target && !strcmp(target, "Sfnd.WaitExecution"))
        fn = api__op_wait;
    if (fn == NULL) {
        api__reply_err(c, 400, "UnknownOperationException", "%s",
                       target ? "The requested operation is not recognized by the service"
                              : "Missing X-Amz-Target header");
        return;
    }
    json_t *req;
    json_error_t je;
    if (len == 0) {
        req = json_object();
    } else {
        /* CreateActivity answers a name with a NUL as any invalid name
         * (InvalidName): it must get that far */
        size_t flags = fn == api__op_create_activity ? JSON_ALLOW_NUL : 0;
        req = fjson_loadb(body, len, flags, &je, &a->fj);
        if (req == NULL) {
            api__reply_err(c, 400, "SerializationException", "Malformed request body: %s",
                           je.text);
            return;
        }
        if (!json_is_object(req)) {
            json_decref(req);
            api__reply_err(c, 400, "SerializationException",
                           "Start of structure or map found where not expected");
            return;
        }
    }
    fn(c, req);
    json_decref(req);
}

void api_call(api *a, const char *target, const char *body, size_t len, api_reply_cb *cb, void *ud)
{
    call_run(a, target, body, len, cb, ud, NULL);
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
    /* the SDKs' host prefix of TestState and StartSyncExecution ("sync-";
     * "test-" too), where a resolver maps the prefixed name here */
    if (!strncasecmp(name, "sync-", 5) || !strncasecmp(name, "test-", 5))
        memmove(name, name + 5, strlen(name + 5) + 1);
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
        call_run(a, http_req_header(req, "X-Amz-Target"), body, len, http_reply, req, req);
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

/* ---- lifetime ------------------------------------------------------------------------------ */
api *api_create(const api_opts *o)
{
    api *a = calloc(1, sizeof *a);
    if (a == NULL)
        return NULL;
    a->run = o->run;
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
    a->work = a->loop ? ev_work_create(a->loop) : NULL; /* NULL: compile on the loop */
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
    ev_work_free(a->work);
    free(a->region);
    free(a->account);
    free(a->host);
    for (size_t i = 0; i < a->norigins; i++)
        free(a->origins[i]);
    free(a->origins);
    fjson_buf_free(&a->fj);
    free(a);
}
