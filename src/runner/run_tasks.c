/*
 * run_tasks.c - the runner's service integrations and status events (see
 * run_tasks.h and docs/integrations.md).
 *
 * Errors are data, in the shape the AWS Java SDK gives Step Functions:
 * "<Service>.<Code>Exception" with the cause "<message> (Service: ...;
 * Status Code: ...; Error Code: ...; Request ID: ...; Proxy: null)".
 *
 * Must not: touch the Lambda path; block on anything but the sns line's
 * write and fdatasync (a low-rate integration: acceptable on the loop).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "arn.h"
#include "run_tasks.h"
#include "run_tasks_int.h"

#include "asl_path.h"
#include "evpattern.h"
#include "jtext.h"

static int pattern_is_light(const json_t *pattern);

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


/* the runner's logger (it knows whether to be quiet) */
#define logf_(s, ...) run__log((s)->r, __VA_ARGS__)

run_svc *run__svc_create(run *r, store *st, const char *data_dir, const char *region,
                         const char *account)
{
    run_svc *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->r = r;
    s->st = st;
    s->data_dir = strdup(data_dir ? data_dir : ".");
    s->region = strdup(region ? region : "us-east-1");
    s->account = strdup(account ? account : "123456789012");
    if (!s->data_dir || !s->region || !s->account) {
        run__svc_free(s);
        return NULL;
    }
    return s;
}

void run__svc_free(run_svc *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->ntopics; i++) {
        free(s->topics[i].name);
        free(s->topics[i].arn);
    }
    for (size_t i = 0; i < s->nrules; i++) {
        free(s->rules[i].sm_arn);
        free(s->rules[i].id);
        free(s->rules[i].bus);
        json_decref(s->rules[i].pattern);
        free(s->rules[i].input);
        asl_path_free(s->rules[i].input_path);
    }
    free(s->topics);
    run__msg_free(s);
    run__fwd_free(s);
    free(s->rules);
    free(s->data_dir);
    free(s->region);
    free(s->account);
    free(s);
}

int run__svc_has_rules(const run_svc *s)
{
    return s->nrules > 0;
}

/* The compact JSON text of line plus "\n" appended to <data>/<sub>/<file>.jsonl. */
int run__svc_append_json(run_svc *s, const char *sub, const char *file, json_t *line)
{
    char *text = jtext_dup(line);
    char why[512] = "";
    int rc = -1;
    if (text) {
        size_t n = strlen(text);
        char *nl = realloc(text, n + 2);
        if (nl) {
            text = nl;
            text[n] = '\n';
            text[n + 1] = '\0';
            rc = run__svc_append(s, sub, file, text, n + 1, why, sizeof why);
        }
    }
    free(text);
    if (rc != 0)
        logf_(s, "%s/%s.jsonl: %s", sub, file, why[0] ? why : "out of memory");
    return rc;
}

int run_topic_add(run *r, const char *name, const char *arn)
{
    run_svc *s = run__svc(r);
    /* SNS: up to 256 of A-Za-z0-9 - _ (and a .fifo suffix) */
    size_t n = strlen(name);
    if (n == 0 || n > 256 || strcmp(name, ".fifo") == 0)
        return RUN_EINVAL;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || (c == '.' && !strcmp(name + i, ".fifo"));
        if (!ok)
            return RUN_EINVAL;
    }
    return run__svc_named_add(&s->topics, &s->ntopics, name, arn);
}

int run__svc_named_add(svc_named **v, size_t *n, const char *name, const char *arn)
{
    svc_named *t = realloc(*v, (*n + 1) * sizeof *t);
    if (t == NULL)
        return RUN_ENOMEM;
    *v = t;
    t[*n].name = strdup(name);
    t[*n].arn = strdup(arn);
    if (!t[*n].name || !t[*n].arn) {
        free(t[*n].name);
        free(t[*n].arn);
        return RUN_ENOMEM;
    }
    (*n)++;
    return 0;
}

int run_rule_add(run *r, const char *sm_arn, const char *rule_id, const char *bus,
                 const json_t *pattern, const char *input, const char *input_path, char *err,
                 size_t errlen)
{
    run_svc *s = run__svc(r);
    if (evpattern_check(pattern, err, errlen) != 0)
        return RUN_EINVAL;
    asl_path *ip = NULL;
    if (input_path && asl_path_compile(input_path, ASL_PATH_ANY, &ip, err, errlen) != 0)
        return RUN_EINVAL;
    svc_rule *ru = realloc(s->rules, (s->nrules + 1) * sizeof *ru);
    if (ru == NULL) {
        asl_path_free(ip);
        return RUN_ENOMEM;
    }
    s->rules = ru;
    svc_rule *x = &ru[s->nrules];
    memset(x, 0, sizeof *x);
    x->sm_arn = strdup(sm_arn);
    x->id = strdup(rule_id ? rule_id : "");
    x->bus = strdup(bus ? bus : "default");
    x->pattern = json_deep_copy(pattern);
    x->input = input ? strdup(input) : NULL;
    x->input_path = ip;
    if (!x->sm_arn || !x->id || !x->bus || !x->pattern || (input && !x->input)) {
        free(x->sm_arn);
        free(x->id);
        free(x->bus);
        json_decref(x->pattern);
        free(x->input);
        asl_path_free(ip);
        return RUN_ENOMEM;
    }
    x->light = pattern_is_light(pattern);
    x->status_events = !strcmp(x->bus, "default");
    s->nrules++;
    return 0;
}

int run_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 80)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p <= 0x20 || *p == 0x7f)
            return 0;
        if (strchr("<>{}[]?*\"#%\\^|~`$&,;:/", *p))
            return 0;
        if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0xa0)
            return 0; /* U+0080..U+00A0: C1 controls and NBSP */
    }
    return 1;
}

/* ---- small helpers ----------------------------------------------------------- */

/* A name derived from key, in the form of a UUID (RFC 9562 version 8,
 * "custom"): the same key always gives the same name. variant: 0x8 for
 * the children of startExecution tasks, 0xb for executions started by a
 * rule (the self-loop guard recognises those). */
void run__svc_derived_name(const char *key, int variant, char out[37])
{
    uint64_t a = 1469598103934665603ULL, b = 0x6c62272e07bb0142ULL;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        a = (a ^ *p) * 1099511628211ULL;
        b = (b ^ *p) * 0x100000001b3ULL;
        b ^= b >> 29;
    }
    a ^= a >> 31;
    a *= 0x9e3779b97f4a7c15ULL;
    b ^= b >> 33;
    b *= 0xbf58476d1ce4e5b9ULL;
    snprintf(out, 37, "%08x-%04x-8%03x-%x%03x-%012llx", (unsigned)(a >> 32),
             (unsigned)((a >> 16) & 0xffff), (unsigned)(a & 0xfff), (unsigned)variant,
             (unsigned)((b >> 48) & 0xfff), (unsigned long long)(b & 0xffffffffffffULL));
}

int run__svc_rule_derived(const char *name)
{
    return strlen(name) == 36 && name[14] == '8' && name[19] == 'b' && name[8] == '-' &&
           name[13] == '-' && name[18] == '-' && name[23] == '-';
}

void run__svc_iso_ms(int64_t ms, char out[32], int with_ms)
{
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    if (with_ms)
        snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
    else
        snprintf(out + n, 32 - n, "Z");
}

/* SdkHttpMetadata and SdkResponseMetadata, as the Java SDK reports a
 * response in a task's result. */
void run__svc_sdk_meta(json_t *o, const char *rid, const char *ctype, size_t len)
{
    char date[64], clen[24];
    time_t now = (time_t)(ev_wall_ms() / 1000);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    snprintf(clen, sizeof clen, "%zu", len);
    json_object_set_new(
        o, "SdkHttpMetadata",
        json_pack("{s:{s:[s],s:[s],s:[s],s:[s]},s:{s:s,s:s,s:s,s:s},s:i}", "AllHttpHeaders",
                  "x-amzn-RequestId", rid, "Content-Length", clen, "Date", date,
                  "Content-Type", ctype, "HttpHeaders", "Content-Length", clen,
                  "Content-Type", ctype, "Date", date, "x-amzn-RequestId", rid,
                  "HttpStatusCode", 200));
    json_object_set_new(o, "SdkResponseMetadata", json_pack("{s:s}", "RequestId", rid));
}

int run__svc_failf(run_svc *s, run_svc_out *o, const char *error, const char *service, int status,
                 const char *code, const char *fmt, ...)
{
    char msg[1536], rid[37];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    run__uuid(s->r, rid);
    snprintf(o->error, sizeof o->error, "%s", error);
    snprintf(o->cause, sizeof o->cause,
             "%s (Service: %s; Status Code: %d; Error Code: %s; Request ID: %s; Proxy: null)",
             msg, service, status, code, rid);
    return RUN_SVC_FAILED;
}

/* ---- sns:publish --------------------------------------------------------------- */
#define SNS_BAD(...) run__svc_failf(s, o, "SNS.InvalidParameterException", "Sns", 400, "InvalidParameter", __VA_ARGS__)

int run__svc_append(run_svc *s, const char *sub, const char *file, const char *line, size_t n,
                    char *why, size_t whylen)
{
    char dir[4096], path[4400];
    snprintf(dir, sizeof dir, "%s/%s", s->data_dir, sub);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(why, whylen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof path, "%s/%s.jsonl", dir, file);
    int created = access(path, F_OK) != 0;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, line + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            snprintf(why, whylen, "%s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        off += (size_t)w;
    }
    if (fdatasync(fd) != 0) {
        snprintf(why, whylen, "%s: fdatasync: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    if (created) { /* the new file's name must be durable too */
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    return 0;
}

static int sns_publish(run_svc *s, const run_svc_task *t, const json_t *p, run_svc_out *o)
{
    const json_t *jt = json_object_get(p, "TopicArn");
    if (jt == NULL)
        jt = json_object_get(p, "TargetArn");
    if (jt == NULL)
        return SNS_BAD("Invalid parameter: TopicArn or TargetArn Reason: no value for required "
                       "parameter");
    if (!json_is_string(jt) || strncmp(json_string_value(jt), "arn:", 4) != 0)
        return SNS_BAD("Invalid parameter: TopicArn");
    const char *arn = json_string_value(jt);
    const json_t *jm = json_object_get(p, "Message");
    if (jm == NULL || json_is_null(jm))
        return SNS_BAD("Invalid parameter: Message Reason: no value for required parameter");
    const json_t *subj = json_object_get(p, "Subject");
    const json_t *attrs = json_object_get(p, "MessageAttributes");
    const json_t *gid = json_object_get(p, "MessageGroupId");
    const json_t *did = json_object_get(p, "MessageDeduplicationId");
    if (subj && !json_is_string(subj))
        return SNS_BAD("Invalid parameter: Subject");
    if (subj && json_string_length(subj) == 0)
        return SNS_BAD("Invalid parameter: Subject");
    if (attrs && !json_is_object(attrs))
        return SNS_BAD("Invalid parameter: MessageAttributes");
    if ((gid && !json_is_string(gid)) || (did && !json_is_string(did)))
        return SNS_BAD("Invalid parameter: %s", gid && !json_is_string(gid)
                                                    ? "MessageGroupId"
                                                    : "MessageDeduplicationId");
    const svc_topic *tp = NULL;
    for (size_t i = 0; i < s->ntopics && tp == NULL; i++)
        if (!strcmp(s->topics[i].arn, arn))
            tp = &s->topics[i];
    if (tp == NULL)
        return run__svc_failf(s, o, "SNS.NotFoundException", "Sns", 404, "NotFound",
                     "Topic does not exist");
    size_t tl = strlen(tp->name);
    int fifo = tl > 5 && !strcmp(tp->name + tl - 5, ".fifo");
    if (fifo && gid == NULL)
        return SNS_BAD("Invalid parameter: The MessageGroupId parameter is required for FIFO "
                       "topics");
    if (!fifo && gid)
        return SNS_BAD("Invalid parameter: MessageGroupId Reason: The request includes "
                       "MessageGroupId parameter that is not valid for this topic type");
    /* Step Functions sends a Message that is not a string as its JSON text */
    char *msg = json_is_string(jm) ? strdup(json_string_value(jm)) : jtext_dup(jm);
    if (msg == NULL)
        return run__svc_failf(s, o, "SNS.InternalErrorException", "Sns", 500, "InternalError",
                     "out of memory");
    if (msg[0] == '\0') {
        free(msg);
        return SNS_BAD("Invalid parameter: Empty message");
    }
    char mid[37], rid[37], ts[32];
    run__uuid(s->r, mid);
    run__uuid(s->r, rid);
    run__svc_iso_ms(ev_wall_ms(), ts, 1);
    json_t *line = json_object();
    json_object_set_new(line, "MessageId", json_string(mid));
    json_object_set_new(line, "TopicArn", json_string(tp->arn));
    if (subj)
        json_object_set(line, "Subject", (json_t *)subj);
    json_object_set_new(line, "Message", json_string(msg));
    if (attrs)
        json_object_set(line, "MessageAttributes", (json_t *)attrs);
    if (gid)
        json_object_set(line, "MessageGroupId", (json_t *)gid);
    if (did)
        json_object_set(line, "MessageDeduplicationId", (json_t *)did);
    json_object_set_new(line, "Timestamp", json_string(ts));
    json_object_set_new(line, "ExecutionArn", json_string(t->exec_arn));
    json_object_set_new(line, "Resource", json_string(t->resource));
    free(msg);
    int rc = run__svc_append_json(s, "sns", tp->name, line);
    json_decref(line);
    if (rc != 0) {
        return run__svc_failf(s, o, "SNS.InternalErrorException", "Sns", 500, "InternalError",
                     "Internal Error");
    }
    o->result = json_pack("{s:s}", "MessageId", mid);
    run__svc_sdk_meta(o->result, rid, "text/xml", 294);
    /* .waitForTaskToken: the message carries the token; the response is
     * the task's TaskSubmitted */
    return t->wait_for_token ? RUN_SVC_PENDING : RUN_SVC_DONE;
}

/* ---- states:startExecution ------------------------------------------------------ */
#define SFN_FAIL(err, status, code, ...)                                                   \
    run__svc_failf(s, o, "StepFunctions." err "Exception", "AWSStepFunctions", status, code, __VA_ARGS__)

typedef struct child_wait {     /* a .sync parent waiting on its child */
    run_svc *s;
    char *parent;
    uint64_t task;
    int v2;                     /* .sync:2: Output as JSON */
    char *name, *sm_arn, *input;
    int64_t start_ms;
} child_wait;

static void child_wait_free(child_wait *w)
{
    if (w == NULL)
        return;
    free(w->parent);
    free(w->name);
    free(w->sm_arn);
    free(w->input);
    free(w);
}

/* DescribeExecution's answer in the SDK's field names, as .sync returns it. */
static json_t *describe_json(run_svc *s, const child_wait *w, const run_result *res, int v2)
{
    json_t *o = json_object();
    json_object_set_new(o, "ExecutionArn", json_string(res->arn));
    json_t *in = NULL;
    if (v2) {
        json_error_t je;
        in = json_loads(w->input, JSON_DECODE_ANY, &je);
    }
    json_object_set_new(o, "Input", in ? in : json_string(w->input));
    json_object_set_new(o, "InputDetails", json_pack("{s:b}", "Included", 1));
    json_object_set_new(o, "Name", json_string(w->name));
    if (res->output) {
        json_t *out = NULL;
        if (v2) {
            json_error_t je;
            out = json_loads(res->output, JSON_DECODE_ANY, &je);
        }
        json_object_set_new(o, "Output", out ? out : json_string(res->output));
        json_object_set_new(o, "OutputDetails", json_pack("{s:b}", "Included", 1));
    }
    if (res->error)
        json_object_set_new(o, "Error", json_string(res->error));
    if (res->cause)
        json_object_set_new(o, "Cause", json_string(res->cause));
    json_object_set_new(o, "RedriveCount", json_integer(0));
    int redrivable = res->status != ASL_SUCCEEDED;
    json_object_set_new(o, "RedriveStatus",
                        json_string(redrivable ? "REDRIVABLE" : "NOT_REDRIVABLE"));
    if (!redrivable)
        json_object_set_new(o, "RedriveStatusReason",
                            json_string("Execution is SUCCEEDED and cannot be redriven"));
    json_object_set_new(o, "StartDate", json_integer(w->start_ms));
    json_object_set_new(o, "StateMachineArn", json_string(w->sm_arn));
    json_object_set_new(o, "Status", json_string(asl_status_name(res->status)));
    json_object_set_new(o, "StopDate", json_integer(res->stop_ms));
    char rid[37];
    run__uuid(s->r, rid);
    run__svc_sdk_meta(o, rid, "application/x-amz-json-1.0", 512);
    return o;
}

static void child_result(child_wait *w, const run_result *res)
{
    run_svc *s = w->s;
    json_t *d = describe_json(s, w, res, w->v2);
    if (res->status == ASL_SUCCEEDED) {
        run__task_result(s->r, w->parent, w->task, d, NULL, NULL);
    } else {
        /* the parent's task fails with the child's description as cause */
        char *cause = jtext_dup(d);
        run__task_result(s->r, w->parent, w->task, NULL, "States.TaskFailed",
                         cause ? cause : "");
        free(cause);
    }
    json_decref(d);
}

static void on_child_done(void *ud, int rc, const run_result *res)
{
    child_wait *w = ud;
    if (rc == 0)
        child_result(w, res);
    child_wait_free(w);
}

/* The child's state machine ARN and name: Name, or one derived from the
 * parent's task (name points into derived). Returns -1 to go on, or
 * RUN_SVC_FAILED with the error in o. */
static int child_args(run_svc *s, const run_svc_task *t, const json_t *p, run_svc_out *o,
                      const char **smarn, char derived[37], const char **name)
{
    const json_t *jarn = json_object_get(p, "StateMachineArn");
    if (!json_is_string(jarn))
        return SFN_FAIL("InvalidArn", 400, "InvalidArn",
                        "Invalid Arn: 'Resource type not valid in this context: null'");
    *smarn = json_string_value(jarn);
    if (strncmp(*smarn, "arn:aws:states:", 15) != 0 || strstr(*smarn, ":stateMachine:") == NULL)
        return SFN_FAIL("InvalidArn", 400, "InvalidArn", "Invalid Arn: '%s'", *smarn);
    const json_t *jn = json_object_get(p, "Name");
    if (jn && !json_is_string(jn))
        return SFN_FAIL("InvalidName", 400, "InvalidName", "Invalid Name: '%s'", "");
    *name = json_string_value(jn);
    if (*name && !run_name_valid(*name))
        return SFN_FAIL("InvalidName", 400, "InvalidName", "Invalid Name: '%s'", *name);
    if (*name == NULL) {
        /* at least once: a re-dispatched task must find the same child */
        char key[2100];
        snprintf(key, sizeof key, "%s#%llu", t->exec_arn, (unsigned long long)t->task);
        run__svc_derived_name(key, 0x8, derived);
        *name = derived;
    }
    return -1;
}

/* A .sync task re-dispatched after its child ended: the answer from the
 * child's row (old, named arn). Returns RUN_SVC_DONE or RUN_SVC_FAILED. */
static int child_ended(run_svc *s, const store_exec *old, const char *arn, int v2,
                       run_svc_out *o)
{
    child_wait w = {.s = s, .v2 = v2, .name = old->name, .sm_arn = old->sm_arn,
                    .input = old->input, .start_ms = old->start_ms};
    run_result rr = {.arn = arn, .status = old->status, .output = old->output,
                     .error = old->error, .cause = old->cause,
                     .start_ms = old->start_ms, .stop_ms = old->stop_ms};
    json_t *d = describe_json(s, &w, &rr, v2);
    if (old->status == STORE_SUCCEEDED) {
        o->result = d;
        return RUN_SVC_DONE;
    }
    char *cause = jtext_dup(d);
    json_decref(d);
    snprintf(o->error, sizeof o->error, "States.TaskFailed");
    snprintf(o->cause, sizeof o->cause, "%s", cause ? cause : "");
    free(cause);
    return RUN_SVC_FAILED;
}

/* StartExecution is idempotent for the same name and input (a Standard
 * machine sm): look the execution `name` up. Found, *existing is 1 and
 * *arn (malloc'd) and *start_ms are its. Returns -1 to go on, or the
 * task's answer: ExecutionAlreadyExists for another input, or the end of
 * a .sync child that has ended already. */
static int child_existing(run_svc *s, const store_sm *sm, const char *name, const char *input,
                          int sync, int v2, run_svc_out *o, char **arn, int64_t *start_ms,
                          int *existing)
{
    char *xarn = sfn_arn_execution(sm->arn, name, NULL);
    store_exec old;
    int rc = -1;
    if (xarn && store_exec_get(s->st, xarn, &old) == STORE_OK) {
        int same = !strcmp(old.input, input) && !strcmp(old.sm_arn, sm->arn);
        *existing = 1;
        int running = old.status == STORE_RUNNING;
        *start_ms = old.start_ms;
        *arn = xarn;
        xarn = NULL;
        if (!same) {
            store_exec_cleanup(&old);
            return SFN_FAIL("ExecutionAlreadyExists", 400, "ExecutionAlreadyExists",
                            "Execution Already Exists: '%s'", *arn);
        }
        if (sync && !running)
            rc = child_ended(s, &old, *arn, v2, o);
        store_exec_cleanup(&old);
    }
    free(xarn);
    return rc;
}

/* What a .sync parent keeps while its child runs; NULL when out of memory. */
static child_wait *child_wait_new(run_svc *s, const run_svc_task *t, int v2, const char *name,
                                  const char *sm_arn, const char *input)
{
    child_wait *w = calloc(1, sizeof *w);
    if (w) {
        w->s = s;
        w->parent = strdup(t->exec_arn);
        w->task = t->task;
        w->v2 = v2;
        w->name = strdup(name);
        w->sm_arn = strdup(sm_arn);
        w->input = strdup(input);
    }
    if (!w || !w->parent || !w->name || !w->sm_arn || !w->input) {
        child_wait_free(w);
        return NULL;
    }
    return w;
}

static int start_execution(run_svc *s, const run_svc_task *t, const json_t *p, run_svc_out *o)
{
    const char *res = t->resource;
    int sync = strstr(res, ":startExecution.sync") != NULL;
    int v2 = sync && strstr(res, ".sync:2") != NULL;
    const char *smarn = NULL, *name = NULL;
    char derived[37];
    int rc = child_args(s, t, p, o, &smarn, derived, &name);
    if (rc >= 0)
        return rc;
    const json_t *jin = json_object_get(p, "Input");
    char *input = jin == NULL        ? strdup("{}")
                  : json_is_string(jin) ? strdup(json_string_value(jin))
                                        : jtext_dup(jin);
    if (input == NULL)
        return SFN_FAIL("Internal", 500, "InternalFailure", "out of memory");
    rc = RUN_SVC_FAILED;
    json_error_t je;
    json_t *in = json_loads(input, JSON_DECODE_ANY, &je);
    store_sm sm;
    memset(&sm, 0, sizeof sm);
    char *arn = NULL;
    if (in == NULL) {
        rc = SFN_FAIL("InvalidExecutionInput", 400, "InvalidExecutionInput",
                      "Invalid State Machine Execution Input: '%s'", je.text);
        goto out;
    }
    if (store_sm_get(s->st, smarn, &sm) != STORE_OK || sm.deleted) {
        rc = SFN_FAIL("StateMachineDoesNotExist", 400, "StateMachineDoesNotExist",
                      "State Machine Does Not Exist: '%s'", smarn);
        goto out;
    }
    int64_t start_ms = 0;
    int existing = 0;
    if (sm.type == 0 && (rc = child_existing(s, &sm, name, input, sync, v2, o, &arn, &start_ms,
                                             &existing)) >= 0)
        goto out;
    child_wait *w = NULL;
    if (sync && (w = child_wait_new(s, t, v2, name, sm.arn, input)) == NULL) {
        rc = SFN_FAIL("Internal", 500, "InternalFailure", "out of memory");
        goto out;
    }
    if (!existing) {
        run_start st = {.sm = &sm, .name = name, .input_text = input, .input = in,
                        .express = sm.type == ASL_EXPRESS};
        int src = run_exec_start(s->r, &st, sync ? on_child_done : NULL, w, &arn, &start_ms);
        if (src == RUN_EEXIST) {
            child_wait_free(w);
            rc = SFN_FAIL("ExecutionAlreadyExists", 400, "ExecutionAlreadyExists",
                          "Execution Already Exists: '%s'", name);
            goto out;
        }
        if (src != 0) {
            child_wait_free(w);
            rc = SFN_FAIL("Internal", 500, "InternalFailure", "cannot start the execution: %s",
                          sfn_strerror(src));
            goto out;
        }
        if (w)
            w->start_ms = start_ms;
    } else if (sync) {
        w->start_ms = start_ms;
        if (run_exec_wait(s->r, arn, on_child_done, w) != 0) {
            child_wait_free(w);
            rc = SFN_FAIL("Internal", 500, "InternalFailure",
                          "the execution '%s' is not running here", arn);
            goto out;
        }
    }
    char rid[37];
    run__uuid(s->r, rid);
    o->result = json_pack("{s:s,s:I}", "ExecutionArn", arn, "StartDate", (json_int_t)start_ms);
    run__svc_sdk_meta(o->result, rid, "application/x-amz-json-1.0", 140);
    /* .sync / .waitForTaskToken: the response is the task's TaskSubmitted */
    rc = sync || t->wait_for_token ? RUN_SVC_PENDING : RUN_SVC_DONE;
out:
    free(arn);
    json_decref(in);
    free(input);
    store_sm_cleanup(&sm);
    return rc;
}

int run__svc_call(run_svc *s, const run_svc_task *t, run_svc_out *o)
{
    const char *res = t->resource ? t->resource : "";
    const char *pre = "arn:aws:states:::";
    if (strncmp(res, pre, strlen(pre)) != 0)
        return RUN_SVC_UNKNOWN;
    const char *svc = res + strlen(pre);
    int sns = !strcmp(svc, "sns:publish") || !strcmp(svc, "sns:publish.waitForTaskToken");
    int sfn = !strcmp(svc, "states:startExecution") ||
              !strcmp(svc, "states:startExecution.sync") ||
              !strcmp(svc, "states:startExecution.sync:2") ||
              !strcmp(svc, "states:startExecution.waitForTaskToken");
    int msg = !strncmp(svc, "sqs:", 4) || !strncmp(svc, "events:", 7);
    int fwd = !strncmp(svc, "dynamodb:", 9) || !strncmp(svc, "aws-sdk:", 8); /* run_tasks_fwd.c */
    if (!sns && !sfn && !msg && !fwd)
        return RUN_SVC_UNKNOWN;
    json_error_t je;
    json_t *p = json_loads(t->payload ? t->payload : "{}", JSON_DECODE_ANY, &je);
    int rc;
    if (!json_is_object(p))
        rc = run__svc_failf(s, o, "States.Runtime",
                            sns   ? "Sns"
                            : msg ? (svc[0] == 's' ? "AmazonSQS" : "AmazonEventBridge")
                            : fwd ? "AmazonDynamoDBv2"
                                  : "AWSStepFunctions",
                            400, "ValidationException", "The task's parameters must be an object");
    else if (fwd)
        rc = run__fwd_call(s, t, svc, p, o);
    else if (msg)
        rc = run__msg_call(s, t, svc, p, o);
    else
        rc = sns ? sns_publish(s, t, p, o) : start_execution(s, t, p, o);
    json_decref(p);
    return rc;
}

/* ---- execution status events ------------------------------------------------------ */

/* AWS's "Step Functions Execution Status Change" event for the row. */
/* ---- the cheap first look ------------------------------------------------ */

static int in_set(const char *k, const char *const *set)
{
    for (; *set; set++)
        if (!strcmp(k, *set))
            return 1;
    return 0;
}

/* Does pattern look only at fields light_event fills in (as the full
 * event would)? */
static int pattern_is_light(const json_t *pattern)
{
    static const char *const top[] = {"version", "detail-type", "source", "account", "region",
                                      "resources", "detail", NULL};
    static const char *const detail[] = {"executionArn", "stateMachineArn", "name", "status",
                                         NULL};
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)pattern, k, v) {
        if (!in_set(k, top))
            return 0;
        if (!strcmp(k, "detail")) {
            const char *dk;
            json_t *dv;
            if (!json_is_object(v))
                return 0;
            json_object_foreach(v, dk, dv) {
                if (!in_set(dk, detail))
                    return 0;
            }
        }
    }
    return 1;
}

/* The fields of the status event that the execution's ARN and status
 * give, without reading the store: arn:aws:states:R:A:execution:SM:NAME. */
static json_t *light_event(run_svc *s, const char *exec_arn, int status)
{
    char sm[2200];
    const char *last = strrchr(exec_arn, ':');
    if (strstr(exec_arn, ":execution:") == NULL || sfn_arn_machine_of(exec_arn, sm, sizeof sm) < 0)
        return NULL;
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:[s], s:{s:s, s:s, s:s, s:s}}", "version", "0",
                     "detail-type", "Step Functions Execution Status Change", "source",
                     "aws.states", "account", s->account, "region", s->region, "resources",
                     exec_arn, "detail", "executionArn", exec_arn, "stateMachineArn", sm, "name",
                     last + 1, "status", asl_status_name(status));
}

static json_t *status_event(run_svc *s, const store_exec *x)
{
    const char *status = asl_status_name(x->status);
    int ended = x->status != STORE_RUNNING;
    char id[37], when[32];
    run__uuid(s->r, id);
    run__svc_iso_ms(ended ? x->stop_ms : x->redrive_ms ? x->redrive_ms : x->start_ms, when, 0);
    json_t *d = json_object();
    json_object_set_new(d, "executionArn", json_string(x->arn));
    json_object_set_new(d, "stateMachineArn", json_string(x->sm_arn));
    json_object_set_new(d, "name", json_string(x->name));
    json_object_set_new(d, "status", json_string(status));
    json_object_set_new(d, "startDate", json_integer(x->start_ms));
    json_object_set_new(d, "stopDate", ended ? json_integer(x->stop_ms) : json_null());
    json_object_set_new(d, "input", json_string(x->input));
    json_object_set_new(d, "output", x->output ? json_string(x->output) : json_null());
    json_object_set_new(d, "inputDetails", json_pack("{s:b}", "included", 1));
    json_object_set_new(d, "outputDetails",
                        x->output ? json_pack("{s:b}", "included", 1) : json_null());
    json_object_set_new(d, "error", x->error ? json_string(x->error) : json_null());
    json_object_set_new(d, "cause", x->cause ? json_string(x->cause) : json_null());
    json_object_set_new(d, "redriveCount", json_integer(x->redrive_count));
    json_object_set_new(d, "redriveDate",
                        x->redrive_ms ? json_integer(x->redrive_ms) : json_null());
    int redrivable = x->status == STORE_FAILED || x->status == STORE_TIMED_OUT ||
                     x->status == STORE_ABORTED;
    json_object_set_new(d, "redriveStatus",
                        json_string(redrivable ? "REDRIVABLE" : "NOT_REDRIVABLE"));
    json_object_set_new(d, "redriveStatusReason",
                        redrivable ? json_null()
                                   : json_sprintf("Execution is %s and cannot be redriven",
                                                  status));
    json_t *ev = json_object();
    json_object_set_new(ev, "version", json_string("0"));
    json_object_set_new(ev, "id", json_string(id));
    json_object_set_new(ev, "detail-type", json_string("Step Functions Execution Status Change"));
    json_object_set_new(ev, "source", json_string("aws.states"));
    json_object_set_new(ev, "account", json_string(s->account));
    json_object_set_new(ev, "time", json_string(when));
    json_object_set_new(ev, "region", json_string(s->region));
    json_object_set_new(ev, "resources", json_pack("[s]", x->arn));
    json_object_set_new(ev, "detail", d);
    return ev;
}

void run__svc_rule_fire(run_svc *s, const svc_rule *ru, json_t *ev, const char *key,
                        const char *src_arn, const char *src_sm, const char *src_name,
                        const char *what)
{
    if (!strcmp(ru->sm_arn, src_sm) && run__svc_rule_derived(src_name)) {
        logf_(s, "rule %s: %s was started by a rule of its own machine; not starting it again "
                 "(loop guard)",
              ru->id, src_arn);
        return;
    }
    if (s->depth > SVC_MAX_DEPTH) {
        logf_(s, "rule %s: executions that start each other nest too deep; not starting %s",
              ru->id, ru->sm_arn);
        return;
    }
    char *text = NULL;
    if (ru->input) {
        text = strdup(ru->input);
    } else if (ru->input_path) {
        json_t *v = NULL;
        if (asl_path_eval(ru->input_path, ev, NULL, &v) != 0) {
            logf_(s, "rule %s: InputPath %s matches nothing in the event of %s", ru->id,
                  asl_path_text(ru->input_path), src_arn);
            return;
        }
        text = jtext_dup(v);
        json_decref(v);
    } else {
        text = jtext_dup(ev);
    }
    json_error_t je;
    json_t *in = text ? json_loads(text, JSON_DECODE_ANY, &je) : NULL;
    store_sm sm;
    memset(&sm, 0, sizeof sm);
    if (in == NULL) {
        logf_(s, "rule %s: out of memory", ru->id);
        goto out;
    }
    if (store_sm_get(s->st, ru->sm_arn, &sm) != STORE_OK || sm.deleted) {
        logf_(s, "rule %s: state machine %s does not exist", ru->id, ru->sm_arn);
        goto out;
    }
    /* one start per (event, rule), whatever replays or re-dispatches */
    char k2[2600], name[37];
    snprintf(k2, sizeof k2, "%s#%s#%s", key, ru->sm_arn, ru->id);
    run__svc_derived_name(k2, 0xb, name);
    run_start st = {.sm = &sm, .name = name, .input_text = text, .input = in,
                    .express = sm.type == ASL_EXPRESS};
    char *arn = NULL;
    int64_t ms;
    int rc = run_exec_start(s->r, &st, NULL, NULL, &arn, &ms);
    if (rc == 0)
        logf_(s, "rule %s: %s %s started %s", ru->id, src_arn, what, arn);
    else if (rc != RUN_EEXIST)
        logf_(s, "rule %s: cannot start %s: %s", ru->id, ru->sm_arn, sfn_strerror(rc));
    free(arn);
out:
    store_sm_cleanup(&sm);
    json_decref(in);
    free(text);
}

void run__svc_status(run_svc *s, const char *exec_arn, int status)
{
    if (s->nrules == 0)
        return;
    json_t *light = NULL;
    int full = 0;
    for (size_t i = 0; i < s->nrules && !full; i++) {
        if (!s->rules[i].status_events)
            continue;
        if (!s->rules[i].light) {
            full = 1;
            break;
        }
        if (light == NULL && (light = light_event(s, exec_arn, status)) == NULL) {
            full = 1; /* an ARN we cannot take apart: look properly */
            break;
        }
        full = evpattern_match(s->rules[i].pattern, light);
    }
    json_decref(light);
    if (!full)
        return;
    store_exec x;
    if (store_exec_get(s->st, exec_arn, &x) != STORE_OK)
        return;
    json_t *ev = status_event(s, &x);
    s->depth++;
    char key[2300];
    snprintf(key, sizeof key, "%s#%d#%d", x.arn, x.status, x.redrive_count);
    for (size_t i = 0; ev && i < s->nrules; i++)
        if (s->rules[i].status_events && evpattern_match(s->rules[i].pattern, ev))
            run__svc_rule_fire(s, &s->rules[i], ev, key, x.arn, x.sm_arn, x.name,
                               asl_status_name(x.status));
    s->depth--;
    json_decref(ev);
    store_exec_cleanup(&x);
}
