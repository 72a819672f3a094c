/*
 * run_tasks_msg.c - the messaging integrations recorded in local sinks:
 * arn:aws:states:::sqs:sendMessage[.waitForTaskToken] (one line in
 * <data>/sqs/<QueueName>.jsonl) and events:putEvents[.waitForTaskToken]
 * (one line per entry in <data>/events/<EventBusName>.jsonl, then the
 * rules of that bus, each match starting its machine). See
 * docs/integrations.md.
 *
 * Errors are AWS's, in the Java SDK's shape (run__svc_failf). Lines are
 * written and fdatasync'd before the task's success is fed back.
 *
 * Must not: touch the Lambda path; block on anything but the lines' writes.
 * Threading: the loop's thread.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "arn.h"
#include "run_tasks_int.h"

#include "b64.h"
#include "evpattern.h"
#include "jtext.h"
#include "md5.h"
#include "sha256.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SQS_MAX_BODY 262144
#define EB_MAX_ENTRIES 10

static int name_ok(const char *name, size_t max, int dots)
{
    size_t n = strlen(name);
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || (dots && c == '.');
        if (!ok)
            return 0;
    }
    return name[0] != '.';
}

int run_queue_add(run *r, const char *name, const char *arn, const char *url, int fifo,
                  int content_dedup)
{
    run_svc *s = run__svc(r);
    size_t n = strlen(name);
    int has_fifo = n > 5 && !strcmp(name + n - 5, ".fifo");
    if (!name_ok(name, 80, 0) && !(has_fifo && strchr(name, '.') == name + n - 5))
        return RUN_EINVAL;
    if (fifo != has_fifo)
        return RUN_EINVAL;
    svc_queue *q = realloc(s->queues, (s->nqueues + 1) * sizeof *q);
    if (q == NULL)
        return RUN_ENOMEM;
    s->queues = q;
    svc_queue *x = &q[s->nqueues];
    memset(x, 0, sizeof *x);
    x->name = strdup(name);
    x->arn = strdup(arn);
    x->url = strdup(url);
    x->fifo = fifo;
    x->content_dedup = content_dedup;
    if (!x->name || !x->arn || !x->url) {
        free(x->name);
        free(x->arn);
        free(x->url);
        return RUN_ENOMEM;
    }
    s->nqueues++;
    return 0;
}

int run_bus_add(run *r, const char *name, const char *arn)
{
    run_svc *s = run__svc(r);
    if (!name_ok(name, 256, 1) || !strcmp(name, "default"))
        return RUN_EINVAL;
    return run__svc_named_add(&s->buses, &s->nbuses, name, arn);
}

void run__msg_free(run_svc *s)
{
    for (size_t i = 0; i < s->nqueues; i++) {
        free(s->queues[i].name);
        free(s->queues[i].arn);
        free(s->queues[i].url);
        run__fifo_free(&s->queues[i]);
    }
    for (size_t i = 0; i < s->nbuses; i++) {
        free(s->buses[i].name);
        free(s->buses[i].arn);
    }
    free(s->queues);
    free(s->buses);
}

/* ---- sqs:sendMessage -------------------------------------------------------- */
#define SQS_FAIL(code, ...)                                                                \
    run__svc_failf(s, o, "SQS.AmazonSQSException", "AmazonSQS", 400, code, __VA_ARGS__)

/* The queue a QueueUrl names: .../<account>/<name> (any host, as the SDKs
 * accept a local endpoint's URL). */
static svc_queue *queue_of(run_svc *s, const char *url)
{
    const char *name = strrchr(url, '/');
    if (name == NULL || name == url)
        return NULL;
    const char *acct = name - 1;
    while (acct > url && *acct != '/')
        acct--;
    size_t al = (size_t)(name - acct - 1);
    if (*acct != '/' || al != strlen(s->account) || strncmp(acct + 1, s->account, al) != 0)
        return NULL;
    for (size_t i = 0; i < s->nqueues; i++)
        if (!strcmp(s->queues[i].name, name + 1))
            return &s->queues[i];
    return NULL;
}

static void md5_put(unsigned char *buf, size_t *n, const void *p, size_t len)
{
    unsigned char l[4] = {(unsigned char)(len >> 24), (unsigned char)(len >> 16),
                          (unsigned char)(len >> 8), (unsigned char)len};
    memcpy(buf + *n, l, 4);
    memcpy(buf + *n + 4, p, len);
    *n += 4 + len;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Check MessageAttributes and compute SQS's MD5OfMessageAttributes (names
 * sorted; each: name, type, transport byte, value, with 4-byte lengths).
 * Returns NULL (ok, md5 set) or the message of an InvalidParameterValue. */
static const char *sqs_attrs(const json_t *attrs, char md5[33], char *msg, size_t msglen)
{
    size_t na = json_object_size(attrs), total = 0, k = 0;
    if (na > 10)
        return "Number of message attributes [11] exceeds the allowed maximum [10].";
    const char *names[10];
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)attrs, key, v) {
        const char *dt = json_string_value(json_object_get(v, "DataType"));
        const json_t *sv = json_object_get(v, "StringValue");
        const json_t *bv = json_object_get(v, "BinaryValue");
        int bin = dt && !strncmp(dt, "Binary", 6);
        if (!json_is_object(v) || dt == NULL ||
            (strncmp(dt, "String", 6) && strncmp(dt, "Number", 6) && !bin)) {
            snprintf(msg, msglen, "The message attribute '%s' has an invalid message attribute "
                                  "type, the set of supported type prefixes is Binary, Number, "
                                  "and String.", key);
            return msg;
        }
        if (bin ? !json_is_string(bv) : !json_is_string(sv) || json_string_length(sv) == 0) {
            snprintf(msg, msglen, "The message attribute '%s' must contain non-empty message "
                                  "attribute value for message attribute type '%s'.", key, dt);
            return msg;
        }
        names[k++] = key;
        total += strlen(key) + strlen(dt) + 13 + json_string_length(bin ? bv : sv);
    }
    qsort(names, k, sizeof *names, cmp_str);
    unsigned char *buf = malloc(total + 1);
    if (buf == NULL)
        return "out of memory";
    size_t n = 0;
    for (size_t i = 0; i < k; i++) {
        v = json_object_get(attrs, names[i]);
        const char *dt = json_string_value(json_object_get(v, "DataType"));
        int bin = !strncmp(dt, "Binary", 6);
        md5_put(buf, &n, names[i], strlen(names[i]));
        md5_put(buf, &n, dt, strlen(dt));
        buf[n++] = bin ? 2 : 1;
        const json_t *val = json_object_get(v, bin ? "BinaryValue" : "StringValue");
        if (bin) {
            size_t bl = 0;
            unsigned char *b = sfn_b64_decode(json_string_value(val), json_string_length(val),
                                              SFN_B64_STRICT, &bl);
            if (b == NULL) {
                free(buf);
                snprintf(msg, msglen, "The message attribute '%s' has an invalid BinaryValue "
                                      "(not base64).", names[i]);
                return msg;
            }
            md5_put(buf, &n, b, bl);
            free(b);
        } else {
            md5_put(buf, &n, json_string_value(val), json_string_length(val));
        }
    }
    sfn_md5_hex(buf, n, md5);
    free(buf);
    return NULL;
}

/* The checks of SendMessage that come before the queue's own rules. */
static int sqs_args(run_svc *s, const json_t *p, run_svc_out *o, svc_queue **qp,
                    const json_t **bodyp)
{
    const json_t *ju = json_object_get(p, "QueueUrl");
    const json_t *jb = json_object_get(p, "MessageBody");
    if (!json_is_string(ju))
        return SQS_FAIL("MissingParameter", "The request must contain the parameter QueueUrl.");
    if (jb == NULL || json_is_null(jb) || (json_is_string(jb) && json_string_length(jb) == 0))
        return SQS_FAIL("MissingParameter",
                        "The request must contain the parameter MessageBody.");
    *qp = queue_of(s, json_string_value(ju));
    if (*qp == NULL)
        return run__svc_failf(s, o, "SQS.QueueDoesNotExistException", "AmazonSQS", 400,
                              "AWS.SimpleQueueService.NonExistentQueue",
                              "The specified queue does not exist for this wsdl version.");
    *bodyp = jb;
    return -1;
}

/* MessageGroupId, MessageDeduplicationId: 1 to 128 of a-z A-Z 0-9 and
 * punctuation (!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~). */
static int fifo_id_ok(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > 128)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x21 || (unsigned char)v[i] > 0x7e)
            return 0;
    return 1;
}

/* The answer SQS gives a send: MD5s, MessageId, FIFO's SequenceNumber. */
static json_t *send_result(const char *bmd5, const char *amd5, const char *mid, const char *seq)
{
    json_t *r = json_pack("{s:s,s:s}", "MD5OfMessageBody", bmd5, "MessageId", mid);
    if (r && amd5[0])
        json_object_set_new(r, "MD5OfMessageAttributes", json_string(amd5));
    if (r && seq[0])
        json_object_set_new(r, "SequenceNumber", json_string(seq));
    return r;
}

/* FIFO queue q: its deduplication id into dedup (given, or the body's
 * SHA-256); a message with that id in the last 5 minutes answers this
 * one (RUN_SVC_DONE with the first one's ids, or RUN_SVC_PENDING), and
 * nothing is written. -1: a new message. */
static int fifo_dedup(run_svc *s, const run_svc_task *t, svc_queue *q, const json_t *did,
                      const char *body, size_t bl, const char *bmd5, const char *amd5,
                      int64_t now_ms, char dedup[129], run_svc_out *o)
{
    if (did) {
        snprintf(dedup, 129, "%s", json_string_value(did));
    } else {
        unsigned char h[32];
        sfn_sha256(body, bl, h);
        for (int i = 0; i < 32; i++)
            snprintf(dedup + 2 * i, 3, "%02x", h[i]);
    }
    const svc_dedup *seen = run__fifo_seen(s, q, dedup, now_ms);
    if (seen == NULL)
        return -1;
    logf_(s, "sqs:sendMessage to %s: deduplicated (%s), MessageId %s", q->name, dedup,
          seen->mid);
    if (t->wait_for_token)
        return RUN_SVC_PENDING; /* the first message carries a token */
    char rid[37];
    run__uuid(s->r, rid);
    o->result = send_result(bmd5, amd5, seen->mid, seen->seq);
    run__svc_sdk_meta(o->result, rid, "text/xml", 378);
    return RUN_SVC_DONE;
}

static int sqs_send(run_svc *s, const run_svc_task *t, const json_t *p, run_svc_out *o)
{
    svc_queue *q = NULL;
    const json_t *jb = NULL;
    int rc = sqs_args(s, p, o, &q, &jb);
    if (rc >= 0)
        return rc;
    const json_t *delay = json_object_get(p, "DelaySeconds");
    const json_t *attrs = json_object_get(p, "MessageAttributes");
    const json_t *gid = json_object_get(p, "MessageGroupId");
    const json_t *did = json_object_get(p, "MessageDeduplicationId");
    if (delay && (!json_is_integer(delay) || json_integer_value(delay) < 0 ||
                  json_integer_value(delay) > 900))
        return SQS_FAIL("InvalidParameterValue", "Value %s for parameter DelaySeconds is "
                        "invalid. Reason: must be >= 0 and <= 900.",
                        json_is_integer(delay) ? "out of range" : "not an integer");
    if (q->fifo && delay && json_integer_value(delay) != 0)
        return SQS_FAIL("InvalidParameterValue", "Value %lld for parameter DelaySeconds is "
                        "invalid. Reason: The request include parameter that is not valid for "
                        "this queue type.", (long long)json_integer_value(delay));
    if ((gid && !json_is_string(gid)) || (did && !json_is_string(did)))
        return SQS_FAIL("InvalidParameterValue", "Value for parameter %s is invalid.",
                        gid && !json_is_string(gid) ? "MessageGroupId"
                                                    : "MessageDeduplicationId");
    if (q->fifo && gid == NULL)
        return SQS_FAIL("MissingParameter",
                        "The request must contain the parameter MessageGroupId.");
    if ((gid && !fifo_id_ok(json_string_value(gid))) ||
        (did && !fifo_id_ok(json_string_value(did))))
        return SQS_FAIL("InvalidParameterValue", "Value %s for parameter %s is invalid. Reason: "
                        "It must be 1 to 128 characters of alphanumeric and punctuation.",
                        json_string_value(gid && !fifo_id_ok(json_string_value(gid)) ? gid : did),
                        gid && !fifo_id_ok(json_string_value(gid)) ? "MessageGroupId"
                                                                   : "MessageDeduplicationId");
    if (!q->fifo && did)
        return SQS_FAIL("InvalidParameterValue", "The request include parameter that is not "
                        "valid for this queue type");
    if (q->fifo && did == NULL && !q->content_dedup)
        return SQS_FAIL("InvalidParameterValue", "The queue should either have "
                        "ContentBasedDeduplication enabled or MessageDeduplicationId provided "
                        "explicitly");
    if (attrs && !json_is_object(attrs))
        return SQS_FAIL("InvalidParameterValue", "MessageAttributes must be a map.");
    char amd5[33] = "", amsg[512];
    const char *bad = attrs && json_object_size(attrs) ? sqs_attrs(attrs, amd5, amsg, sizeof amsg)
                                                       : NULL;
    if (bad)
        return SQS_FAIL("InvalidParameterValue", "%s", bad);
    /* Step Functions sends a MessageBody that is not a string as its JSON text */
    char *body = json_is_string(jb) ? strdup(json_string_value(jb)) : jtext_dup(jb);
    if (body == NULL)
        return SQS_FAIL("InternalError", "out of memory");
    size_t bl = strlen(body);
    if (bl > SQS_MAX_BODY) {
        free(body);
        return SQS_FAIL("InvalidParameterValue", "One or more parameters are invalid. Reason: "
                        "Message must be shorter than %d bytes.", SQS_MAX_BODY);
    }
    char mid[37], rid[37], ts[32], bmd5[33], seq[24] = "", dedup[129] = "";
    int64_t now_ms = ev_wall_ms();
    run__uuid(s->r, mid);
    run__uuid(s->r, rid);
    run__svc_iso_ms(now_ms, ts, 1);
    sfn_md5_hex(body, bl, bmd5);
    if (q->fifo) {
        rc = fifo_dedup(s, t, q, did, body, bl, bmd5, amd5, now_ms, dedup, o);
        if (rc >= 0) {
            free(body);
            return rc;
        }
    }
    if (q->fifo) {
        uint64_t now = (uint64_t)ev_wall_ms() * 1000000ULL;
        q->seq = q->seq >= now ? q->seq + 1 : now;
        snprintf(seq, sizeof seq, "%020llu", (unsigned long long)q->seq);
    }
    json_t *line = json_pack("{s:s,s:s,s:s,s:s,s:s}", "MessageId", mid, "QueueUrl", q->url,
                             "QueueArn", q->arn, "MessageBody", body, "MD5OfMessageBody", bmd5);
    free(body);
    if (amd5[0]) {
        json_object_set(line, "MessageAttributes", (json_t *)attrs);
        json_object_set_new(line, "MD5OfMessageAttributes", json_string(amd5));
    }
    if (delay)
        json_object_set(line, "DelaySeconds", (json_t *)delay);
    /* SQS's SentTimestamp (epoch ms, a string as its attributes are), and
     * when a receiver would first see it (DelaySeconds later) */
    json_object_set_new(line, "SentTimestamp", json_sprintf("%lld", (long long)now_ms));
    json_object_set_new(line, "DeliverAtMs",
                        json_integer(now_ms + (delay ? json_integer_value(delay) * 1000 : 0)));
    if (gid)
        json_object_set(line, "MessageGroupId", (json_t *)gid);
    if (dedup[0]) /* as SQS reports it: the given id or the content's hash */
        json_object_set_new(line, "MessageDeduplicationId", json_string(dedup));
    else if (did)
        json_object_set(line, "MessageDeduplicationId", (json_t *)did);
    if (seq[0])
        json_object_set_new(line, "SequenceNumber", json_string(seq));
    json_object_set_new(line, "Timestamp", json_string(ts));
    json_object_set_new(line, "ExecutionArn", json_string(t->exec_arn));
    json_object_set_new(line, "Resource", json_string(t->resource));
    rc = line ? run__svc_append_json(s, "sqs", q->name, line) : -1;
    json_decref(line);
    if (rc != 0)
        return run__svc_failf(s, o, "SQS.AmazonSQSException", "AmazonSQS", 500,
                              "InternalError", "We encountered an internal error. Please try "
                              "again.");
    if (dedup[0] && run__fifo_remember(q, dedup, mid, seq, now_ms) != 0)
        logf_(s, "sqs:sendMessage to %s: out of memory: %s is not deduplicated", q->name, dedup);
    o->result = send_result(bmd5, amd5, mid, seq);
    run__svc_sdk_meta(o->result, rid, "text/xml", 378);
    /* .waitForTaskToken: the response is the task's TaskSubmitted */
    return t->wait_for_token ? RUN_SVC_PENDING : RUN_SVC_DONE;
}

/* ---- events:putEvents ---------------------------------------------------------- */
#define EB_FAIL(code, ...)                                                                 \
    run__svc_failf(s, o, "EventBridge.AmazonEventBridgeException", "AmazonEventBridge", 400, \
                   code, __VA_ARGS__)

/* The bus an entry names (a name or an ARN; none: default): its name, or NULL. */
static const char *bus_of(run_svc *s, const json_t *jb)
{
    if (jb == NULL)
        return "default";
    const char *v = json_string_value(jb);
    if (v == NULL)
        return NULL;
    const char *b = strstr(v, ":event-bus/");
    const char *name = b ? b + strlen(":event-bus/") : v;
    if (!strcmp(name, "default"))
        return "default";
    for (size_t i = 0; i < s->nbuses; i++)
        if (!strcmp(s->buses[i].name, name))
            return s->buses[i].name;
    return NULL;
}

/* The event EventBridge would deliver for entry e, or NULL with an
 * entry error (code, message). */
static json_t *eb_event(run_svc *s, const run_svc_task *t, const json_t *e, const char **bus,
                        const char **code, const char **msg)
{
    const json_t *src = json_object_get(e, "Source");
    const json_t *dt = json_object_get(e, "DetailType");
    const json_t *det = json_object_get(e, "Detail");
    const json_t *res = json_object_get(e, "Resources");
    *code = "InvalidArgument";
    if (!json_is_object(e))
        return *msg = "Entry must be an object.", NULL;
    if (!json_is_string(src) || json_string_length(src) == 0)
        return *msg = "Parameter Source is not valid. Reason: Source is a required argument.",
               NULL;
    if (!json_is_string(dt) || json_string_length(dt) == 0)
        return *msg = "Parameter DetailType is not valid. Reason: DetailType is a required "
                      "argument.",
               NULL;
    if (det == NULL)
        return *msg = "Parameter Detail is not valid. Reason: Detail is a required argument.",
               NULL;
    json_t *detail = NULL;
    if (json_is_string(det)) {
        json_error_t je;
        detail = json_loads(json_string_value(det), 0, &je);
    } else {
        detail = json_incref((json_t *)det);
    }
    if (!json_is_object(detail)) {
        json_decref(detail);
        *code = "MalformedDetail";
        return *msg = "Detail is malformed.", NULL;
    }
    if (res && !json_is_array(res)) {
        json_decref(detail);
        return *msg = "Parameter Resources is not valid.", NULL;
    }
    if ((*bus = bus_of(s, json_object_get(e, "EventBusName"))) == NULL) {
        json_decref(detail);
        *code = "ResourceNotFoundException";
        return *msg = "Event bus does not exist.", NULL;
    }
    char id[37], when[32];
    run__uuid(s->r, id);
    const json_t *jt = json_object_get(e, "Time");
    run__svc_iso_ms(ev_wall_ms(), when, 0);
    json_t *resources = res ? json_deep_copy(res) : json_array();
    /* Step Functions appends the execution's and its machine's ARNs */
    json_array_append_new(resources, json_string(t->exec_arn));
    char sm[2200];
    if (sfn_arn_machine_of(t->exec_arn, sm, sizeof sm) >= 0)
        json_array_append_new(resources, json_string(sm));
    return json_pack("{s:s,s:s,s:O,s:O,s:s,s:s,s:s,s:o,s:o}", "version", "0", "id", id,
                     "detail-type", dt, "source", src, "account", s->account, "time",
                     json_is_string(jt) ? json_string_value(jt) : when, "region", s->region,
                     "resources", resources, "detail", detail);
}

/* Record event ev of entry i on bus, then start the machines of the
 * bus's matching rules. Returns 0 or -1 (not written). */
static int eb_deliver(run_svc *s, const run_svc_task *t, json_t *ev, const char *bus, size_t i)
{
    json_t *line = json_deep_copy(ev);
    json_object_set_new(line, "EventBusName", json_string(bus));
    json_object_set_new(line, "ExecutionArn", json_string(t->exec_arn));
    json_object_set_new(line, "Resource", json_string(t->resource));
    int rc = line ? run__svc_append_json(s, "events", bus, line) : -1;
    json_decref(line);
    if (rc != 0)
        return -1;
    char sm[2200] = "", key[2300];
    if (sfn_arn_machine_of(t->exec_arn, sm, sizeof sm) < 0)
        sm[0] = '\0';
    const char *last = strrchr(t->exec_arn, ':');
    /* the task id is the same when the task is dispatched again */
    snprintf(key, sizeof key, "%s#task%llu#entry%zu", t->exec_arn, (unsigned long long)t->task,
             i);
    s->depth++;
    for (size_t k = 0; k < s->nrules; k++)
        if (!strcmp(s->rules[k].bus, bus) && evpattern_match(s->rules[k].pattern, ev))
            run__svc_rule_fire(s, &s->rules[k], ev, key, t->exec_arn, sm,
                               last ? last + 1 : "", "events:putEvents");
    s->depth--;
    return 0;
}

static int put_events(run_svc *s, const run_svc_task *t, const json_t *p, run_svc_out *o)
{
    const json_t *entries = json_object_get(p, "Entries");
    if (!json_is_array(entries))
        return EB_FAIL("ValidationException", "1 validation error detected: Value null at "
                       "'entries' failed to satisfy constraint: Member must not be null");
    size_t n = json_array_size(entries);
    if (n == 0 || n > EB_MAX_ENTRIES)
        return EB_FAIL("ValidationException", "1 validation error detected: Value at 'entries' "
                       "failed to satisfy constraint: Member must have length %s",
                       n == 0 ? "greater than or equal to 1" : "less than or equal to 10");
    json_t *out = json_array();
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) {
        const char *bus = NULL, *code = NULL, *msg = NULL;
        json_t *ev = eb_event(s, t, json_array_get(entries, i), &bus, &code, &msg);
        if (ev && eb_deliver(s, t, ev, bus, i) != 0) {
            json_decref(ev);
            ev = NULL;
            code = "InternalFailure";
            msg = "Internal error.";
        }
        if (ev == NULL) {
            failed++;
            json_array_append_new(out, json_pack("{s:s,s:s}", "ErrorCode", code,
                                                 "ErrorMessage", msg));
            continue;
        }
        json_array_append_new(out, json_pack("{s:O}", "EventId", json_object_get(ev, "id")));
        json_decref(ev);
    }
    json_t *resp = json_pack("{s:o,s:I}", "Entries", out, "FailedEntryCount",
                             (json_int_t)failed);
    if (resp == NULL)
        return EB_FAIL("InternalFailure", "out of memory");
    if (failed) {
        /* the optimised integration fails the task on any failed entry */
        char *text = jtext_dup(resp);
        json_decref(resp);
        snprintf(o->error, sizeof o->error, "EventBridge.FailedEntry");
        snprintf(o->cause, sizeof o->cause, "%s", text ? text : "");
        free(text);
        return RUN_SVC_FAILED;
    }
    char rid[37];
    run__uuid(s->r, rid);
    run__svc_sdk_meta(resp, rid, "application/x-amz-json-1.1", 85);
    o->result = resp;
    /* .waitForTaskToken: the response is the task's TaskSubmitted */
    return t->wait_for_token ? RUN_SVC_PENDING : RUN_SVC_DONE;
}

int run__msg_call(run_svc *s, const run_svc_task *t, const char *res, const json_t *p,
                  run_svc_out *o)
{
    if (!strcmp(res, "sqs:sendMessage") || !strcmp(res, "sqs:sendMessage.waitForTaskToken"))
        return sqs_send(s, t, p, o);
    if (!strcmp(res, "events:putEvents") || !strcmp(res, "events:putEvents.waitForTaskToken"))
        return put_events(s, t, p, o);
    return RUN_SVC_UNKNOWN;
}
