/*
 * lam_rapi.c - the local Lambda's Runtime API, one listener per process (so
 * that what a process posts is attributed to exactly the invocation it
 * holds): GET /next parks until an invocation is handed over (lam__assign,
 * which arms its Timeout), POST /response and /error end it, POST
 * /init/error records why init failed for the exit that follows.
 *
 * Must not: block, start or kill processes (lam_pool.c), parse a successful
 * response (its body goes to the owner as posted).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "lam_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RAPI_PREFIX "/2018-06-01/runtime/"

/* ---- hand-over -------------------------------------------------------- */
/* Answer p's parked /next with v: the invocation starts now. */
void lam__assign(proc *p, inv *v)
{
    lam_function *f = p->fn;
    lam *l = f->l;
    http_req *req = p->next_req;
    p->next_req = NULL;
    http_req_set_cancel(req, NULL, NULL);
    lam__idle_del(p);
    p->cur = v;
    p->state = P_BUSY;
    l->st.invocations++;

    int64_t now_wall = ev_wall_ms();
    int64_t deadline = now_wall + (int64_t)f->timeout_s * 1000;
    uint64_t r1 = lam__rng_next(l), r2 = lam__rng_next(l);
    /* the client context (checked JSON, one line) rides along when given */
    char headers[1024 + LAM_CLIENT_CONTEXT_MAX];
    snprintf(headers, sizeof headers,
             "Content-Type: application/json\r\n"
             "Lambda-Runtime-Aws-Request-Id: %s\r\n"
             "Lambda-Runtime-Deadline-Ms: %lld\r\n"
             "Lambda-Runtime-Invoked-Function-Arn: %s\r\n"
             "Lambda-Runtime-Trace-Id: Root=1-%08llx-%08x%016llx;Parent=%016llx;Sampled=0\r\n"
             "%s%.*s%s",
             v->id, (long long)deadline, f->arn, (unsigned long long)(now_wall / 1000),
             (unsigned)(r1 >> 32), (unsigned long long)r2, (unsigned long long)(r1 ^ r2),
             v->client_context ? "Lambda-Runtime-Client-Context: " : "",
             LAM_CLIENT_CONTEXT_MAX, v->client_context ? v->client_context : "",
             v->client_context ? "\r\n" : "");
    lam__tail_start(v, p->pid);
    p->timer = ev_timer_add(l->loop, ev_now_ms() + (int64_t)f->timeout_s * 1000, lam__on_timeout, p);
    http_respond(req, 200, headers, v->payload, v->len);
    free(v->payload); /* the socket has it (or the server's buffer does) */
    v->payload = NULL;
    v->len = 0;
}

/* ---- Runtime API (one listener per process) --------------------------- */
static void next_cancelled(http_req *req, void *ud)
{
    proc *p = ud;
    /* The runtime hung up its long poll (it is probably exiting). */
    p->next_req = NULL;
    lam__idle_del(p);
    http_req_release(req);
}

static void rapi_error(http_req *req, int status, const char *type, const char *msg)
{
    char *b = lam__error_json(type, msg);
    http_respond(req, status, "Content-Type: application/json\r\n", b ? b : "", b ? strlen(b) : 0);
    free(b);
}

static const char ACCEPTED[] = "{\"status\":\"OK\"}";

/* POST /invocation/{id}/response or /error from p. */
static void rapi_result(proc *p, http_req *req, const char *id, int is_error)
{
    inv *v = p->cur;
    if (v == NULL || strcmp(id, v->id) != 0) {
        if (strcmp(id, p->last_id) == 0)
            rapi_error(req, 403, "InvalidStateTransition", "State transition is not allowed");
        else
            rapi_error(req, 400, "InvalidRequestID", "Invalid request ID");
        return;
    }
    size_t len;
    const char *body = http_req_body(req, &len);
    if (v->want_tail && p->logfd >= 0) {
        /* what the process wrote before it answered is in its pipe: read it
         * now, so that the tail has it; a line not ended yet goes too */
        lam__log_read(p->fn->l->loop, p, p->logfd, 0);
        if (p->loglen > 0) {
            lam__tail_add(v, p->logbuf, p->loglen);
            lam__tail_add(v, "\n", 1);
        }
    }
    p->cur = NULL;
    p->state = P_BETWEEN;
    p->fn->nbetween++;
    memcpy(p->last_id, v->id, sizeof p->last_id);
    ev_timer_cancel(p->fn->l->loop, p->timer);
    p->timer = NULL;
    if (len > LAM_MAX_PAYLOAD) {
        rapi_error(req, 413, "RequestEntityTooLarge", "Response payload size exceeded maximum allowed payload size (6291556 bytes).");
        char what[160];
        snprintf(what, sizeof what, "Response payload size (%zu bytes) exceeded maximum allowed payload size (6291556 bytes).", len);
        char *b = lam__error_json("Function.ResponseSizeTooLarge", what);
        lam__finish(v, LAM_TOO_LARGE, b, b ? strlen(b) : 0, "Function.ResponseSizeTooLarge");
        free(b);
        return;
    }
    if (!is_error) {
        /* The owner reads the body straight out of req (no copy), so the
         * runtime's 202 goes out after the callback. */
        lam__finish_ok(v, body, len);
        http_respond(req, 202, "Content-Type: application/json\r\n", ACCEPTED, sizeof ACCEPTED - 1);
        return;
    }
    /* An error: the body should be {"errorMessage","errorType",...}; keep it
     * as posted when it is, else build one from the header. */
    const char *htype = http_req_header(req, "Lambda-Runtime-Function-Error-Type");
    json_error_t jerr;
    json_t *o = json_loadb(body, len, 0, &jerr);
    const char *etype = NULL;
    if (json_is_object(o))
        etype = json_string_value(json_object_get(o, "errorType"));
    if (etype != NULL) {
        lam__finish(v, LAM_FUNCTION_ERROR, body, len, etype);
    } else {
        char *msg = strndup(body, len);
        const char *t = htype && *htype ? htype : "Runtime.Unknown";
        char *b = lam__error_json(t, msg ? msg : "");
        lam__finish(v, LAM_FUNCTION_ERROR, b, b ? strlen(b) : 0, t);
        free(b);
        free(msg);
    }
    json_decref(o);
    http_respond(req, 202, "Content-Type: application/json\r\n", ACCEPTED, sizeof ACCEPTED - 1);
}

void lam__rapi_handler(http_req *req, void *ud)
{
    proc *p = ud;
    const char *m = http_req_method(req);
    const char *path = http_req_path(req);
    if (strncmp(path, RAPI_PREFIX, sizeof RAPI_PREFIX - 1) != 0 || p->state == P_DYING) {
        rapi_error(req, 404, "NotFound", "Not found");
        return;
    }
    path += sizeof RAPI_PREFIX - 1;
    if (strcmp(path, "invocation/next") == 0) {
        if (strcmp(m, "GET") != 0) {
            rapi_error(req, 405, "MethodNotAllowed", "Method not allowed");
            return;
        }
        if (p->cur != NULL || p->next_req != NULL) {
            rapi_error(req, 403, "InvalidStateTransition", "State transition is not allowed");
            return;
        }
        lam_function *f = p->fn;
        if (p->state == P_STARTING) {
            f->nstarting--;
            ev_timer_cancel(f->l->loop, p->timer); /* the init limit */
            p->timer = NULL;
        } else if (p->state == P_BETWEEN)
            f->nbetween--;
        p->state = P_IDLE;
        p->next_req = req;
        inv *v = lam__q_pop(f);
        if (v) {
            lam__assign(p, v);
        } else {
            http_req_set_cancel(req, next_cancelled, p);
            lam__idle_add(p);
        }
        return;
    }
    if (strcmp(path, "init/error") == 0) {
        if (strcmp(m, "POST") != 0) {
            rapi_error(req, 405, "MethodNotAllowed", "Method not allowed");
            return;
        }
        if (p->state != P_STARTING) {
            rapi_error(req, 403, "InvalidStateTransition", "State transition is not allowed");
            return;
        }
        size_t len;
        const char *body = http_req_body(req, &len);
        free(p->init_error);
        p->init_error = strndup(body, len);
        http_respond(req, 202, "Content-Type: application/json\r\n", ACCEPTED, sizeof ACCEPTED - 1);
        return;
    }
    if (strncmp(path, "invocation/", 11) == 0) {
        const char *id = path + 11;
        const char *slash = strchr(id, '/');
        if (slash && slash - id < 64 && (strcmp(slash, "/response") == 0 || strcmp(slash, "/error") == 0)) {
            if (strcmp(m, "POST") != 0) {
                rapi_error(req, 405, "MethodNotAllowed", "Method not allowed");
                return;
            }
            char idbuf[64];
            memcpy(idbuf, id, (size_t)(slash - id));
            idbuf[slash - id] = '\0';
            rapi_result(p, req, idbuf, slash[1] == 'e');
            return;
        }
    }
    rapi_error(req, 404, "NotFound", "Not found");
}
