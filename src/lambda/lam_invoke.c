/*
 * lam_invoke.c - the Lambda Invoke HTTP API (lam_http_invoke): POST
 * /2015-03-31/functions/{name}/invocations answered as AWS does, with the
 * invocation types RequestResponse, Event and DryRun and AWS's error bodies.
 *
 *  - RequestResponse: 200 with the function's answer (X-Amz-Function-Error:
 *    Unhandled on an error); X-Amz-Log-Type: Tail adds X-Amz-Log-Result,
 *    the last 4 KB of the invocation's log, base64; payloads up to 6 MB.
 *  - Event: 202 at once, the invocation queued on the function; one that
 *    fails is retried twice, after event_retry_ms and twice that (AWS: 1
 *    and 2 minutes), with the same request id, then dropped with a line in
 *    the function's log; payloads up to 256 KB.
 *  - DryRun: 204 once the function and the payload check out.
 *  - X-Amz-Client-Context (base64 JSON, up to 3583 bytes) reaches the
 *    runtime as Lambda-Runtime-Client-Context (the JSON text).
 *
 * Must not: know the processes or the Runtime API (it invokes through
 * lam__invoke like lam_invoke), block, keep an asynchronous invocation past
 * shutdown.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "lam_int.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lam__http_error(http_req *req, int status, const char *type, const char *msg)
{
    json_t *o = json_pack("{s:s,s:s}", "Type", status >= 500 ? "Service" : "User", "message", msg);
    char *b = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    char rid[37], headers[256];
    snprintf(rid, sizeof rid, "%s", "00000000-0000-4000-8000-000000000000");
    snprintf(headers, sizeof headers,
             "Content-Type: application/json\r\nx-amzn-ErrorType: %s\r\nx-amzn-RequestId: %s\r\n", type, rid);
    http_respond(req, status, headers, b ? b : "", b ? strlen(b) : 0);
    free(b);
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* s[0..n) in base64 into out (4 * ceil(n / 3) + 1 bytes). */
static void base64(const char *s, size_t n, char *out)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)u[i] << 16 | (i + 1 < n ? (unsigned)u[i + 1] << 8 : 0) |
                     (i + 2 < n ? u[i + 2] : 0);
        out[o++] = B64[v >> 18 & 63];
        out[o++] = B64[v >> 12 & 63];
        out[o++] = i + 1 < n ? B64[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? B64[v & 63] : '=';
    }
    out[o] = '\0';
}

/* base64 s into out (at most outlen - 1 bytes); its length, or -1 when s
 * is not base64. */
static long unbase64(const char *s, char *out, size_t outlen)
{
    unsigned acc = 0;
    int bits = 0;
    size_t o = 0;
    for (; *s && *s != '='; s++) {
        const char *c = strchr(B64, *s);
        if (c == NULL || *s == '\0')
            return -1;
        acc = acc << 6 | (unsigned)(c - B64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 >= outlen)
                return -1;
            out[o++] = (char)(acc >> bits & 0xff);
        }
    }
    while (*s == '=')
        s++;
    if (*s)
        return -1;
    out[o] = '\0';
    return (long)o;
}

static void http_invoke_done(void *ud, const lam_result *r)
{
    http_req *req = ud;
    char headers[256];
    if (r->status == LAM_SERVICE_ERROR) { /* not the function's: no FunctionError */
        char msg[1024];
        snprintf(msg, sizeof msg, "%.*s", (int)r->len, r->body);
        char *cut = strstr(msg, " (Service: AWSLambda;");
        if (cut)
            *cut = '\0';
        lam__http_error(req, 500, "ServiceException", msg);
        return;
    }
    char tail[LAM_TAIL * 4 / 3 + 8] = "";
    if (r->log_tail != NULL)
        base64(r->log_tail, r->log_tail_len, tail);
    char *h = NULL;
    if (asprintf(&h,
                 "Content-Type: application/json\r\nX-Amz-Executed-Version: $LATEST\r\n"
                 "x-amzn-RequestId: %s\r\n%s%s%s%s",
                 r->request_id, r->status == LAM_OK ? "" : "X-Amz-Function-Error: Unhandled\r\n",
                 r->log_tail ? "X-Amz-Log-Result: " : "", tail, r->log_tail ? "\r\n" : "") < 0)
        h = NULL;
    if (h == NULL) {
        snprintf(headers, sizeof headers, "Content-Type: application/json\r\nx-amzn-RequestId: %s\r\n%s",
                 r->request_id, r->status == LAM_OK ? "" : "X-Amz-Function-Error: Unhandled\r\n");
    }
    http_respond(req, 200, h ? h : headers, r->body, r->len);
    free(h);
}

/* ---- asynchronous invocations ---------------------------------------------- */
struct evt {
    lam *l;
    lam_function *fn;
    char *payload;
    size_t len;
    char *client_context;
    int attempt;          /* 1, 2, 3 */
    char id[37];          /* the same request id on every attempt, as AWS keeps it */
    ev_timer *timer;      /* the wait before a retry */
    int inflight;         /* an invocation of it is queued or running (its ud is us) */
    evt *prev, *next;
};

static void evt_free(evt *e)
{
    lam *l = e->l;
    if (e->prev)
        e->prev->next = e->next;
    else
        l->evts = e->next;
    if (e->next)
        e->next->prev = e->prev;
    ev_timer_cancel(l->loop, e->timer);
    free(e->payload);
    free(e->client_context);
    free(e);
}

void lam__events_free(lam *l, int all)
{
    evt *next;
    for (evt *e = l->evts; e; e = next) {
        next = e->next;
        if (all || !e->inflight)
            evt_free(e);
    }
}

static void event_done(void *ud, const lam_result *r);

static int event_start(evt *e)
{
    lam__iopts o = {.client_context = e->client_context, .request_id = e->attempt > 1 ? e->id : NULL};
    int rc = lam__invoke(e->l, e->fn, e->payload, e->len, event_done, e,
                         e->attempt > 1 ? NULL : e->id, 0, &o);
    e->inflight = rc == 0;
    return rc;
}

static void event_retry(ev_loop *loop, ev_timer *t, void *ud)
{
    evt *e = ud;
    e->timer = NULL;
    e->attempt++;
    if (event_start(e) != 0)
        evt_free(e);
}

static void event_done(void *ud, const lam_result *r)
{
    evt *e = ud;
    lam *l = e->l;
    e->inflight = 0;
    if (r->status == LAM_OK || l->shutting) {
        evt_free(e);
        return;
    }
    char note[300];
    if (e->attempt < 3) {
        int64_t wait = l->event_retry_ms * e->attempt; /* 1 minute, then 2 */
        e->timer = ev_timer_add(l->loop, ev_now_ms() + wait, event_retry, e);
        if (e->timer != NULL) {
            snprintf(note, sizeof note,
                     "sfnd: asynchronous invocation %s failed (%s), attempt %d of 3: retried in "
                     "%lld ms",
                     e->id, r->error_type ? r->error_type : "error", e->attempt, (long long)wait);
            lam__log_note(e->fn, note);
            return;
        }
    }
    snprintf(note, sizeof note,
             "sfnd: asynchronous invocation %s failed (%s), attempt %d of 3: dropped", e->id,
             r->error_type ? r->error_type : "error", e->attempt);
    lam__log_note(e->fn, note);
    evt_free(e);
}

/* Queue an Event invocation; its id into rid. 0 or a negative errno. */
static int event_queue(lam *l, lam_function *f, const char *body, size_t len, const char *cc,
                       char rid[37])
{
    evt *e = calloc(1, sizeof *e);
    if (e == NULL)
        return -ENOMEM;
    e->l = l;
    e->fn = f;
    e->attempt = 1;
    e->len = len;
    e->payload = malloc(len + 1);
    e->client_context = cc ? strdup(cc) : NULL;
    if (e->payload == NULL || (cc && e->client_context == NULL)) {
        free(e->payload);
        free(e->client_context);
        free(e);
        return -ENOMEM;
    }
    memcpy(e->payload, body, len);
    e->next = l->evts;
    if (l->evts)
        l->evts->prev = e;
    l->evts = e;
    int rc = event_start(e);
    if (rc != 0) {
        evt_free(e);
        return rc;
    }
    memcpy(rid, e->id, 37);
    return 0;
}

static void pct_decode(const char *s, char *out, size_t outsz)
{
    size_t o = 0;
    for (; *s && o + 1 < outsz; s++) {
        unsigned v;
        if (*s == '%' && s[1] && s[2] && sscanf(s + 1, "%2x", &v) == 1) {
            out[o++] = (char)v;
            s += 2;
        } else {
            out[o++] = *s;
        }
    }
    out[o] = '\0';
}

lam_function *lam__http_function(lam *l, http_req *req, const char *segment)
{
    char name[512], qual[128], full[700], arn[600];
    pct_decode(segment ? segment : "", name, sizeof name);
    int hq = http_req_query_param(req, "Qualifier", qual, sizeof qual);
    if (hq >= 0)
        snprintf(full, sizeof full, "%s:%s", name, qual);
    else
        snprintf(full, sizeof full, "%s", name);
    lam_function *f = lam_function_find(l, full);
    if (f == NULL) {
        char msg[800];
        if (strncmp(name, "arn:", 4) == 0)
            snprintf(arn, sizeof arn, "%s", full);
        else
            lam_arn_format(l, full, arn, sizeof arn);
        snprintf(msg, sizeof msg, "Function not found: %s", arn);
        lam__http_error(req, 404, "ResourceNotFoundException", msg);
    }
    return f;
}

/* X-Amz-Client-Context: base64 of a JSON object, into its JSON text (one
 * line, ASCII) in *out (NULL when absent). 0, or -1 when answered 400. */
static int client_context(http_req *req, char **out)
{
    *out = NULL;
    const char *h = http_req_header(req, "X-Amz-Client-Context");
    if (h == NULL || *h == '\0')
        return 0;
    if (strlen(h) > LAM_CLIENT_CONTEXT_MAX) {
        lam__http_error(req, 400, "InvalidParameterValueException",
                        "Client context must be 3583 bytes or less, base64-encoded");
        return -1;
    }
    char raw[LAM_CLIENT_CONTEXT_MAX];
    long n = unbase64(h, raw, sizeof raw);
    json_t *j = n >= 0 ? json_loadb(raw, (size_t)n, 0, NULL) : NULL;
    *out = json_is_object(j) ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(j);
    if (*out == NULL || strlen(*out) > LAM_CLIENT_CONTEXT_MAX) {
        free(*out);
        *out = NULL;
        lam__http_error(req, 400, "InvalidRequestContentException",
                        "Client context must be a valid Base64-encoded JSON object.");
        return -1;
    }
    return 0;
}

/* The payload: at most limit bytes, JSON. 0, or -1 when answered. */
static int payload_ok(http_req *req, const char *body, size_t len, size_t limit, int event)
{
    char msg[300];
    if (len > limit) {
        if (event)
            snprintf(msg, sizeof msg,
                     "%zu byte payload is too large for the Event invocation type (limit %zu "
                     "bytes)",
                     len, limit);
        else
            snprintf(msg, sizeof msg,
                     "Request must be smaller than %zu bytes for the InvokeFunction operation",
                     limit);
        lam__http_error(req, 413, "RequestEntityTooLargeException", msg);
        return -1;
    }
    if (len > 0) {
        json_error_t jerr;
        json_t *j = json_loadb(body, len, JSON_DECODE_ANY, &jerr);
        if (j == NULL) {
            snprintf(msg, sizeof msg, "Could not parse request body into json: %s", jerr.text);
            lam__http_error(req, 400, "InvalidRequestContentException", msg);
            return -1;
        }
        json_decref(j);
    }
    return 0;
}

void lam_http_invoke(lam *l, http_req *req, const char *function)
{
    lam_function *f = lam__http_function(l, req, function);
    if (f == NULL)
        return;
    const char *type = http_req_header(req, "X-Amz-Invocation-Type");
    int sync = type == NULL || strcmp(type, "RequestResponse") == 0;
    int event = type && strcmp(type, "Event") == 0;
    if (!sync && !event && strcmp(type, "DryRun") != 0) {
        lam__http_error(req, 400, "InvalidParameterValueException",
                        "1 validation error detected: Value at 'invocationType' failed to satisfy "
                        "constraint: Member must satisfy enum value set: [Event, "
                        "RequestResponse, DryRun]");
        return;
    }
    size_t len;
    const char *body = http_req_body(req, &len);
    char *cc = NULL;
    if (payload_ok(req, body, len, event ? LAM_MAX_EVENT_PAYLOAD : LAM_MAX_PAYLOAD, event) != 0 ||
        client_context(req, &cc) != 0)
        return;
    const char *lt = http_req_header(req, "X-Amz-Log-Type");
    int rc = 0;
    if (sync) {
        lam__iopts o = {.client_context = cc, .tail = lt && !strcmp(lt, "Tail")};
        rc = lam__invoke(l, f, body, len, http_invoke_done, req, NULL, 1, &o);
    } else if (event) {
        char rid[37], headers[128];
        rc = event_queue(l, f, body, len, cc, rid);
        if (rc == 0) {
            snprintf(headers, sizeof headers, "x-amzn-RequestId: %s\r\n", rid);
            http_respond(req, 202, headers, "", 0);
        }
    } else {
        http_respond(req, 204, "x-amzn-RequestId: 00000000-0000-4000-8000-000000000000\r\n", "",
                     0);
    }
    free(cc);
    if (rc < 0)
        lam__http_error(req, 500, "ServiceException",
                        "The local Lambda service is not accepting invocations");
}
