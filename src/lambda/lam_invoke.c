/*
 * lam_invoke.c - the Lambda Invoke HTTP API (lam_http_invoke): POST
 * /2015-03-31/functions/{name}/invocations answered as AWS does, with the
 * invocation types RequestResponse, Event and DryRun and AWS's error bodies.
 *
 * Must not: know the processes or the Runtime API (it invokes through
 * lam__invoke like lam_invoke), block.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "lam_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void http_error(http_req *req, int status, const char *type, const char *msg)
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
        http_error(req, 500, "ServiceException", msg);
        return;
    }
    snprintf(headers, sizeof headers,
             "Content-Type: application/json\r\nX-Amz-Executed-Version: $LATEST\r\n"
             "x-amzn-RequestId: %s\r\n%s",
             r->request_id, r->status == LAM_OK ? "" : "X-Amz-Function-Error: Unhandled\r\n");
    http_respond(req, 200, headers, r->body, r->len);
}

static void event_done(void *ud, const lam_result *r) {}

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

void lam_http_invoke(lam *l, http_req *req, const char *function)
{
    char name[512], qual[128], full[700], arn[600];
    pct_decode(function ? function : "", name, sizeof name);
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
        http_error(req, 404, "ResourceNotFoundException", msg);
        return;
    }
    size_t len;
    const char *body = http_req_body(req, &len);
    if (len > LAM_MAX_PAYLOAD) {
        http_error(req, 413, "RequestEntityTooLargeException",
                   "Request must be smaller than 6291456 bytes for the InvokeFunction operation");
        return;
    }
    if (len > 0) {
        json_error_t jerr;
        json_t *j = json_loadb(body, len, JSON_DECODE_ANY, &jerr);
        if (j == NULL) {
            char msg[300];
            snprintf(msg, sizeof msg, "Could not parse request body into json: %s", jerr.text);
            http_error(req, 400, "InvalidRequestContentException", msg);
            return;
        }
        json_decref(j);
    }
    const char *type = http_req_header(req, "X-Amz-Invocation-Type");
    if (type == NULL || strcmp(type, "RequestResponse") == 0) {
        int rc = lam__invoke(l, f, body, len, http_invoke_done, req, NULL, 1);
        if (rc < 0)
            http_error(req, 500, "ServiceException", "The local Lambda service is not accepting invocations");
        return;
    }
    if (strcmp(type, "Event") == 0) {
        char rid[37], headers[128];
        int rc = lam__invoke(l, f, body, len, event_done, NULL, rid, 0);
        if (rc < 0) {
            http_error(req, 500, "ServiceException", "The local Lambda service is not accepting invocations");
            return;
        }
        snprintf(headers, sizeof headers, "x-amzn-RequestId: %s\r\n", rid);
        http_respond(req, 202, headers, "", 0);
        return;
    }
    if (strcmp(type, "DryRun") == 0) {
        http_respond(req, 204, "x-amzn-RequestId: 00000000-0000-4000-8000-000000000000\r\n", "", 0);
        return;
    }
    http_error(req, 400, "InvalidParameterValueException",
               "1 validation error detected: Value at 'invocationType' failed to satisfy constraint: "
               "Member must satisfy enum value set: [Event, RequestResponse, DryRun]");
}
