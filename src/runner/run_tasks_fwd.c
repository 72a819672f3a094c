/*
 * run_tasks_fwd.c - dynamodb:* and aws-sdk:* tasks forwarded to an
 * endpoint the user names (sfnd --endpoint SERVICE=URL): DynamoDB Local,
 * moto, LocalStack. See run_tasks_fwd.h for the resources and
 * docs/integrations.md.
 *
 * The task's parameters are the request's body as the AWS JSON protocol
 * wants it (X-Amz-Target: <prefix>.<Action>), signed with SigV4 by
 * src/util/sigv4.c with the credentials sfnd gives its functions, sent by
 * src/loop/http_client.c on the loop: the request is written and read
 * without blocking, the task stays pending meanwhile (RUN_SVC_PENDING)
 * and its outcome comes back through run__task_result. A connection per
 * request: a local emulator, a few requests at a time.
 *
 * No endpoint for the service: States.Runtime naming the option. An
 * endpoint that does not answer: States.TaskFailed with the Java SDK's
 * "Unable to execute HTTP request" cause (what a Task gets when its call
 * never reaches the service). A task with TimeoutSeconds gets the core's
 * States.Timeout first: the request is given a second more.
 *
 * Must not: block (names are resolved when an endpoint is set, at
 * start-up); touch the Lambda path.
 * Threading: the loop's thread.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "run_tasks_fwd.h"
#include "run_tasks_int.h"

#include "http_client.h"
#include "jtext.h"
#include "lam_env.h"
#include "sigv4.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- what is forwarded, and how ------------------------------------------------ */

/* The SDK integration's services of the AWS JSON protocol. Query (sns,
 * sts, ...), REST (lambda, s3, ...) and EC2 protocols are not spoken. */
static const fwd_api APIS[] = {
    {"dynamodb", "dynamodb", "DynamoDB_20120810", "1.0", "DynamoDb"},
    {"sqs", "sqs", "AmazonSQS", "1.0", "Sqs"},
    {"sfn", "states", "AWSStepFunctions", "1.0", "Sfn"},
    {"kms", "kms", "TrentService", "1.1", "Kms"},
    {"secretsmanager", "secretsmanager", "secretsmanager", "1.1", "SecretsManager"},
    {"ssm", "ssm", "AmazonSSM", "1.1", "Ssm"},
    {"eventbridge", "events", "AWSEvents", "1.1", "EventBridge"},
    {"cloudwatchlogs", "logs", "Logs_20140328", "1.1", "CloudWatchLogs"},
    {"kinesis", "kinesis", "Kinesis_20131202", "1.1", "Kinesis"},
    {"firehose", "firehose", "Firehose_20150804", "1.1", "Firehose"},
    {"athena", "athena", "AmazonAthena", "1.1", "Athena"},
    {"glue", "glue", "AWSGlue", "1.1", "Glue"},
    {"ecs", "ecs", "AmazonEC2ContainerServiceV20141113", "1.1", "Ecs"},
};

static const char *const DDB_OPTIMIZED[] = {"putItem", "getItem", "deleteItem", "updateItem",
                                            NULL};

static int name_chars(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-')
            return 0;
    return 1;
}

int run__fwd_parse(const char *res, fwd_spec *sp, char *err, size_t errlen)
{
    memset(sp, 0, sizeof *sp);
    const char *act;
    size_t svclen;
    if (!strncmp(res, "dynamodb:", 9)) {
        act = res + 9;
        int i = 0;
        while (DDB_OPTIMIZED[i] && strcmp(DDB_OPTIMIZED[i], act) != 0)
            i++;
        if (DDB_OPTIMIZED[i] == NULL)
            return 0; /* dynamodb:query etc. are not optimized integrations */
        sp->optimized = 1;
        sp->api = &APIS[0];
        snprintf(sp->service, sizeof sp->service, "dynamodb");
    } else if (!strncmp(res, "aws-sdk:", 8)) {
        const char *svc = res + 8;
        const char *colon = strchr(svc, ':');
        if (colon == NULL)
            return 0;
        svclen = (size_t)(colon - svc);
        act = colon + 1;
        if (!name_chars(svc, svclen) || svclen >= sizeof sp->service)
            return 0;
        memcpy(sp->service, svc, svclen);
        sp->service[svclen] = '\0';
        for (size_t i = 0; i < sizeof APIS / sizeof APIS[0]; i++)
            if (!strcmp(APIS[i].name, sp->service))
                sp->api = &APIS[i];
        if (sp->api == NULL) {
            snprintf(err, errlen,
                     "The local engine forwards aws-sdk tasks of AWS JSON protocol services only "
                     "(dynamodb, sqs, sfn, kms, secretsmanager, ssm, eventbridge, cloudwatchlogs, "
                     "kinesis, firehose, athena, glue, ecs); '%s' is not one of them",
                     sp->service);
            return -1;
        }
    } else {
        return 0;
    }
    size_t n = strlen(act);
    const char *wft = ".waitForTaskToken";
    if (n > strlen(wft) && !strcmp(act + n - strlen(wft), wft)) {
        if (sp->optimized)
            return 0;
        sp->wait_for_token = 1;
        n -= strlen(wft);
    }
    if (n == 0 || n >= sizeof sp->action || !isalpha((unsigned char)act[0]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)act[i]))
            return 0;
    memcpy(sp->action, act, n);
    sp->action[n] = '\0';
    sp->action[0] = (char)toupper((unsigned char)sp->action[0]);
    return 1;
}

char *run__fwd_request(const fwd_spec *sp, const char *host, const char *path,
                       const char *region, const fwd_creds *c, const char *body, size_t blen,
                       time_t now, size_t *len)
{
    char target[200], ctype[40];
    snprintf(target, sizeof target, "%s.%s", sp->api->target, sp->action);
    snprintf(ctype, sizeof ctype, "application/x-amz-json-%s", sp->api->json);
    sigv4_header hs[] = {{"Content-Type", ctype}, {"X-Amz-Target", target}};
    sigv4_in in = {.method = "POST", .host = host, .path = path, .query = "", .headers = hs,
                   .nheaders = 2, .body = body, .body_len = blen, .region = region,
                   .service = sp->api->signing, .access_key = c->access_key,
                   .secret_key = c->secret_key, .session_token = c->session_token, .now = now};
    sigv4_out so;
    if (sigv4_sign(&in, &so) != 0)
        return NULL;
    int tok = c->session_token && *c->session_token;
    char *head = NULL;
    int hn = asprintf(&head,
                      "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nX-Amz-Target: %s\r\n"
                      "X-Amz-Date: %s\r\n%s%s%sAuthorization: %s\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\nUser-Agent: sfnd\r\n\r\n",
                      path, host, ctype, target, so.amz_date, tok ? "X-Amz-Security-Token: " : "",
                      tok ? c->session_token : "", tok ? "\r\n" : "", so.authorization, blen);
    if (hn < 0)
        return NULL;
    char *req = realloc(head, (size_t)hn + blen + 1);
    if (req == NULL) {
        free(head);
        return NULL;
    }
    memcpy(req + hn, body, blen);
    req[(size_t)hn + blen] = '\0';
    *len = (size_t)hn + blen;
    return req;
}

/* The text of the first <name>...</name> in xml into out, if there is one. */
static void xml_elem(const char *xml, const char *name, char *out, size_t outlen)
{
    char open[40], close[40];
    snprintf(open, sizeof open, "<%s>", name);
    snprintf(close, sizeof close, "</%s>", name);
    const char *a = strstr(xml, open);
    const char *b = a ? strstr(a, close) : NULL;
    if (a && b && b > a + strlen(open))
        snprintf(out, outlen, "%.*s", (int)(b - a - strlen(open)), a + strlen(open));
}

void run__fwd_error_parse(const char *body, size_t blen, const char *type_header, char *code,
                          size_t codelen, char *msg, size_t msglen)
{
    snprintf(code, codelen, "UnknownError");
    msg[0] = '\0';
    json_error_t je;
    json_t *j = body && blen ? json_loadb(body, blen, 0, &je) : NULL;
    const char *type = json_string_value(json_object_get(j, "__type"));
    if (type == NULL)
        type = json_string_value(json_object_get(j, "code"));
    if (type && *type) {
        const char *h = strrchr(type, '#');
        snprintf(code, codelen, "%s", h ? h + 1 : type);
    } else if (type_header && *type_header) {
        snprintf(code, codelen, "%.*s", (int)strcspn(type_header, ":"), type_header);
    }
    const char *m = json_string_value(json_object_get(j, "message"));
    if (m == NULL)
        m = json_string_value(json_object_get(j, "Message"));
    if (m)
        snprintf(msg, msglen, "%s", m);
    json_decref(j);
    if (j == NULL && body && blen) { /* an XML error (<Code>, <Message>): some emulators' auth */
        xml_elem(body, "Code", code, codelen);
        xml_elem(body, "Message", msg, msglen);
    }
}

void run__fwd_error_name(const fwd_spec *sp, const char *code, char *out, size_t outlen)
{
    size_t n = strlen(code);
    const char *sfx = n >= 9 && !strcmp(code + n - 9, "Exception") ? "" : "Exception";
    snprintf(out, outlen, "%s.%s%s", sp->optimized ? "DynamoDB" : sp->api->err_name, code, sfx);
}

/* ---- endpoints and credentials ------------------------------------------------- */

typedef struct fwd_endpoint {
    char *service;            /* as given to --endpoint */
    char *url;
    char host[256];           /* the Host header */
    char path[512];
    struct sockaddr_storage addr;
    socklen_t alen;
} fwd_endpoint;

typedef struct fwd_call {     /* one request in flight */
    struct fwd_call *prev, *next;
    run_svc *s;
    http_creq *q;
    char *arn;
    uint64_t task;
    fwd_spec sp;
    char *url;
} fwd_call;

struct run_fwd {
    fwd_endpoint *eps;
    size_t neps;
    char *ak, *sk, *token;
    fwd_call *calls;
};

static struct run_fwd *fwd_of(run_svc *s)
{
    if (s->fwd != NULL)
        return s->fwd;
    struct run_fwd *f = calloc(1, sizeof *f);
    if (f == NULL)
        return NULL;
    f->ak = strdup(LAM_DEFAULT_ACCESS_KEY_ID);
    f->sk = strdup(LAM_DEFAULT_SECRET_ACCESS_KEY);
    f->token = strdup(LAM_DEFAULT_SESSION_TOKEN);
    if (!f->ak || !f->sk || !f->token) {
        free(f->ak);
        free(f->sk);
        free(f->token);
        free(f);
        return NULL;
    }
    return s->fwd = f;
}

void run__fwd_free(run_svc *s)
{
    struct run_fwd *f = s->fwd;
    if (f == NULL)
        return;
    while (f->calls) {
        fwd_call *c = f->calls;
        f->calls = c->next;
        http_client_cancel(c->q);
        free(c->arn);
        free(c->url);
        free(c);
    }
    for (size_t i = 0; i < f->neps; i++) {
        free(f->eps[i].service);
        free(f->eps[i].url);
    }
    free(f->eps);
    free(f->ak);
    free(f->sk);
    free(f->token);
    free(f);
    s->fwd = NULL;
}

/* url "http://host[:port][/path]" into ep (host resolved here, blocking:
 * called at start-up). 0, or -1 with why in err. */
static int endpoint_parse(const char *url, fwd_endpoint *ep, char *err, size_t errlen)
{
    if (strncmp(url, "http://", 7) != 0) {
        snprintf(err, errlen, "%s: only http:// URLs are supported (a local endpoint: "
                 "DynamoDB Local, moto, LocalStack)", url);
        return -1;
    }
    if (sigv4_split_url(url, ep->host, sizeof ep->host, ep->path, sizeof ep->path) != 0 ||
        strchr(url + 7, '?') || strchr(url + 7, '#') || strchr(url + 7, '@')) {
        snprintf(err, errlen, "%s: not a URL of the form http://host[:port][/path]", url);
        return -1;
    }
    char name[256], port[16] = "80";
    const char *h = ep->host, *colon;
    if (h[0] == '[') { /* [v6]:port */
        const char *rb = strchr(h, ']');
        if (rb == NULL || (size_t)(rb - h - 1) >= sizeof name) {
            snprintf(err, errlen, "%s: bad host", url);
            return -1;
        }
        snprintf(name, sizeof name, "%.*s", (int)(rb - h - 1), h + 1);
        colon = rb[1] == ':' ? rb + 1 : NULL;
    } else {
        colon = strrchr(h, ':');
        snprintf(name, sizeof name, "%.*s", (int)(colon ? (size_t)(colon - h) : strlen(h)), h);
    }
    if (colon) {
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (*end != '\0' || p <= 0 || p > 65535) {
            snprintf(err, errlen, "%s: bad port", url);
            return -1;
        }
        snprintf(port, sizeof port, "%ld", p);
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    int rc = getaddrinfo(name, port, &hints, &ai);
    if (rc != 0 || ai == NULL) {
        snprintf(err, errlen, "%s: cannot resolve %s: %s", url, name, gai_strerror(rc));
        return -1;
    }
    memcpy(&ep->addr, ai->ai_addr, ai->ai_addrlen);
    ep->alen = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

int run_endpoint_set(run *r, const char *service, const char *url, char *err, size_t errlen)
{
    struct run_fwd *f = fwd_of(run__svc(r));
    if (f == NULL)
        return RUN_ENOMEM;
    size_t sl = strlen(service);
    if (sl == 0 || sl >= 64 || !name_chars(service, sl)) {
        snprintf(err, errlen, "'%s': a service name (dynamodb, sqs, ...) is expected", service);
        return RUN_EINVAL;
    }
    fwd_endpoint ep = {0};
    if (endpoint_parse(url, &ep, err, errlen) != 0)
        return RUN_EINVAL;
    ep.service = strdup(service);
    ep.url = strdup(url);
    if (ep.service == NULL || ep.url == NULL) {
        free(ep.service);
        free(ep.url);
        return RUN_ENOMEM;
    }
    for (char *p = ep.service; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    for (size_t i = 0; i < f->neps; i++)
        if (!strcmp(f->eps[i].service, ep.service)) { /* the later one wins */
            free(f->eps[i].service);
            free(f->eps[i].url);
            f->eps[i] = ep;
            return 0;
        }
    fwd_endpoint *n = realloc(f->eps, (f->neps + 1) * sizeof *n);
    if (n == NULL) {
        free(ep.service);
        free(ep.url);
        return RUN_ENOMEM;
    }
    f->eps = n;
    f->eps[f->neps++] = ep;
    return 0;
}

int run_endpoint_credentials(run *r, const char *access_key, const char *secret_key,
                             const char *session_token)
{
    struct run_fwd *f = fwd_of(run__svc(r));
    if (f == NULL)
        return RUN_ENOMEM;
    char *a = strdup(access_key ? access_key : ""), *k = strdup(secret_key ? secret_key : ""),
         *t = strdup(session_token ? session_token : "");
    if (!a || !k || !t) {
        free(a);
        free(k);
        free(t);
        return RUN_ENOMEM;
    }
    free(f->ak);
    free(f->sk);
    free(f->token);
    f->ak = a;
    f->sk = k;
    f->token = t;
    return 0;
}

static const fwd_endpoint *endpoint_for(struct run_fwd *f, const fwd_spec *sp)
{
    for (size_t i = 0; f && i < f->neps; i++)
        if (!strcmp(f->eps[i].service, sp->service))
            return &f->eps[i];
    for (size_t i = 0; f && i < f->neps; i++) /* the signing name: "states", "events", "logs" */
        if (!strcmp(f->eps[i].service, sp->api->signing))
            return &f->eps[i];
    return NULL;
}

/* ---- the call ------------------------------------------------------------------------ */

static void call_unlink(struct run_fwd *f, fwd_call *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        f->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
}

/* A 2xx answer: the task's result. NULL on a body that is not a JSON object. */
static json_t *success_result(const fwd_call *c, const http_cresp *resp, const char *rid)
{
    json_error_t je;
    json_t *j = resp->body_len ? json_loadb(resp->body, resp->body_len, 0, &je) : json_object();
    if (!json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    if (c->sp.optimized) { /* as the Java SDK reports it to Step Functions */
        char ct[80];
        if (!http_cresp_header(resp, "Content-Type", ct, sizeof ct))
            snprintf(ct, sizeof ct, "application/x-amz-json-1.0");
        run__svc_sdk_meta(j, rid, ct, resp->body_len);
    }
    return j;
}

static void on_response(void *ud, int err, const http_cresp *resp)
{
    fwd_call *c = ud;
    run_svc *s = c->s;
    call_unlink(s->fwd, c);
    run *r = s->r;
    char cause[2048], error[128], rid[128] = "";
    if (err != 0) {
        snprintf(cause, sizeof cause,
                 "Unable to execute HTTP request: %s (the %s endpoint %s given by --endpoint "
                 "%s=URL)",
                 err == -ETIMEDOUT ? "Read timed out" : strerror(-err), c->sp.service, c->url,
                 c->sp.service);
        logf_(s, "%s: %s", c->arn, cause);
        run__task_result(r, c->arn, c->task, NULL, "States.TaskFailed", cause);
    } else {
        if (!http_cresp_header(resp, "x-amzn-RequestId", rid, sizeof rid))
            run__uuid(r, rid);
        if (resp->status >= 200 && resp->status < 300) {
            json_t *j = success_result(c, resp, rid);
            if (j == NULL)
                run__task_result(r, c->arn, c->task, NULL, "States.TaskFailed",
                                 "The endpoint's answer is not a JSON object");
            else if (!c->sp.wait_for_token)
                run__task_result(r, c->arn, c->task, j, NULL, NULL);
            json_decref(j);
        } else {
            char code[128], msg[1024], th[160] = "";
            http_cresp_header(resp, "x-amzn-ErrorType", th, sizeof th);
            run__fwd_error_parse(resp->body, resp->body_len, th, code, sizeof code, msg,
                                 sizeof msg);
            run__fwd_error_name(&c->sp, code, error, sizeof error);
            if (c->sp.optimized) /* the Java SDK v1's form */
                snprintf(cause, sizeof cause,
                         "%s (Service: AmazonDynamoDBv2; Status Code: %d; Error Code: %s; "
                         "Request ID: %s; Proxy: null)",
                         msg, resp->status, code, rid);
            else /* the Java SDK v2's form */
                snprintf(cause, sizeof cause, "%s (Service: %s, Status Code: %d, Request ID: %s)",
                         msg, c->sp.api->err_name, resp->status, rid);
            run__task_result(r, c->arn, c->task, NULL, error, cause);
        }
    }
    free(c->arn);
    free(c->url);
    free(c);
}

int run__fwd_call(run_svc *s, const run_svc_task *t, const char *res, const json_t *p,
                  run_svc_out *o)
{
    fwd_spec sp;
    char why[512];
    int k = run__fwd_parse(res, &sp, why, sizeof why);
    if (k == 0)
        return RUN_SVC_UNKNOWN;
    if (k < 0) {
        snprintf(o->error, sizeof o->error, "States.Runtime");
        snprintf(o->cause, sizeof o->cause, "%s", why);
        return RUN_SVC_FAILED;
    }
    struct run_fwd *f = s->fwd;
    const fwd_endpoint *ep = endpoint_for(f, &sp);
    if (ep == NULL) {
        char up[64];
        size_t i = 0;
        for (; sp.service[i] && i < sizeof up - 1; i++)
            up[i] = sp.service[i] == '-' ? '_' : (char)toupper((unsigned char)sp.service[i]);
        up[i] = '\0';
        snprintf(o->error, sizeof o->error, "States.Runtime");
        snprintf(o->cause, sizeof o->cause,
                 "The resource 'arn:aws:states:::%s' is forwarded to an endpoint you name, and "
                 "none is set for %s: start sfnd with --endpoint %s=URL (e.g. "
                 "http://127.0.0.1:8000 for DynamoDB Local), or set SFN_ENDPOINT_%s",
                 res, sp.service, sp.service, up);
        return RUN_SVC_FAILED;
    }
    char *body = jtext_dup(p);
    fwd_creds cr = {f->ak, f->sk, f->token};
    size_t len = 0;
    char *req = body ? run__fwd_request(&sp, ep->host, ep->path, s->region, &cr, body,
                                        strlen(body), (time_t)(ev_wall_ms() / 1000), &len)
                     : NULL;
    free(body);
    fwd_call *c = req ? calloc(1, sizeof *c) : NULL;
    if (c) {
        c->s = s;
        c->task = t->task;
        c->sp = sp;
        c->arn = strdup(t->exec_arn);
        c->url = strdup(ep->url);
    }
    int64_t tmo = t->timeout_s > 0 ? (int64_t)t->timeout_s * 1000 + 1000 : 60000;
    if (c && c->arn && c->url)
        c->q = http_client_send(run__loop(s->r), (const struct sockaddr *)&ep->addr, ep->alen,
                                req, len, tmo, on_response, c);
    free(req);
    if (c == NULL || c->q == NULL) {
        if (c) {
            free(c->arn);
            free(c->url);
            free(c);
        }
        snprintf(o->error, sizeof o->error, "States.Runtime");
        snprintf(o->cause, sizeof o->cause,
                 "Cannot build the request for '%s' (out of memory, or the credentials are "
                 "empty or too long)", res);
        return RUN_SVC_FAILED;
    }
    c->next = f->calls;
    if (f->calls)
        f->calls->prev = c;
    f->calls = c;
    return RUN_SVC_PENDING;
}
