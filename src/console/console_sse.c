/*
 * console_sse.c - GET /console/events?executionArn=: live updates of an
 * execution page as server-sent events (text/event-stream).
 *
 * The request is held until the execution's history has an event newer
 * than the one the page last saw (the Last-Event-ID header EventSource
 * sends when it reconnects, or ?since=), or until the execution has ended,
 * or SSE_HOLD_MS: the tail of the history (GetExecutionHistory,
 * reverseOrder, one event: a page costs what it holds) is read every
 * SSE_POLL_MS meanwhile. The answer is one event and the end of the
 * stream, with a short retry: EventSource reconnects at once with the
 * new Last-Event-ID, so a stream of updates is a chain of short answers
 * (the HTTP server sends whole responses):
 *
 *   retry: 100
 *   id: <latest event id>
 *   event: update | end
 *   data: {"eventId": n, "type": "<its type>"}
 *
 * An idle answer carries only a comment and the retry (no id). A page
 * without EventSource, or whose stream fails, falls back to the
 * Sfnd.WaitExecution long-poll (console.js).
 *
 * Must not: write; keep its timer past its request (console_free).
 */
#define _GNU_SOURCE
#include "console_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SSE_POLL_MS 200
#define SSE_HOLD_MS 15000
#define SSE_HEADERS                                                                           \
    "Content-Type: text/event-stream; charset=utf-8\r\n"                                      \
    "Cache-Control: no-store\r\n"                                                             \
    "X-Content-Type-Options: nosniff\r\n"

typedef struct sse_req {
    con_pending p;
    char *arn;
    long long since;
    int64_t until;
    ev_timer *timer;
} sse_req;

int con__sse_terminal(const char *type)
{
    static const char *const ends[] = {"ExecutionSucceeded", "ExecutionFailed",
                                       "ExecutionAborted", "ExecutionTimedOut"};
    for (size_t i = 0; type && i < sizeof ends / sizeof ends[0]; i++)
        if (!strcmp(type, ends[i]))
            return 1;
    return 0;
}

/* The text of one answer: an update or end for event (id, type), or the
 * idle comment when type is NULL. */
char *con__sse_text(long long id, const char *type, size_t *len)
{
    char *out = NULL;
    int n;
    if (type == NULL)
        n = asprintf(&out, "retry: 100\n: no new event\n\n");
    else
        n = asprintf(&out, "retry: 100\nid: %lld\nevent: %s\ndata: {\"eventId\":%lld,\"type\":\"%s\"}\n\n",
                     id, con__sse_terminal(type) ? "end" : "update", id, type);
    if (n < 0)
        return NULL;
    *len = (size_t)n;
    return out;
}

static void sse_destroy(con_pending *p)
{
    sse_req *s = (sse_req *)p;
    if (s->timer)
        ev_timer_cancel(p->c->loop, s->timer);
    free(s->arn);
    free(s);
}

static void send_text(sse_req *s, long long id, const char *type)
{
    size_t len = 0;
    char *text = con__sse_text(id, type, &len);
    http_req *r = s->p.req;
    s->p.req = NULL;
    if (r) {
        http_req_set_cancel(r, NULL, NULL);
        if (text)
            http_respond_take(r, 200, SSE_HEADERS, text, len);
        else
            con__respond_err(r, 500, "InternalFailure", "out of memory");
    } else
        free(text);
    con__finish_json(&s->p, 200, NULL); /* unlinks and destroys (nothing left to answer) */
}

static void poll_tail(sse_req *s);

static void on_timer(ev_loop *loop, ev_timer *t, void *ud)
{
    (void)loop;
    (void)t;
    sse_req *s = ud;
    s->timer = NULL;
    if (s->p.req == NULL) {
        con__finish_json(&s->p, 200, NULL);
        return;
    }
    poll_tail(s);
}

static void tail_reply(con_pending *p, int status, const char *body, size_t len)
{
    sse_req *s = (sse_req *)p;
    json_t *j = json_loadb(body, len, 0, NULL);
    if (status != 200 || j == NULL) {
        con__finish_json(p, status == 200 ? 500 : status, j);
        return;
    }
    const json_t *ev = json_array_get(json_object_get(j, "events"), 0);
    long long id = json_integer_value(json_object_get(ev, "id"));
    const char *type = json_string_value(json_object_get(ev, "type"));
    if (type && (id > s->since || con__sse_terminal(type)))
        send_text(s, id, type);
    else if (ev_now_ms() >= s->until)
        send_text(s, 0, NULL);
    else
        s->timer = ev_timer_add(p->c->loop, ev_now_ms() + SSE_POLL_MS, on_timer, s);
    json_decref(j);
}

static void poll_tail(sse_req *s)
{
    con__api(&s->p, "AWSStepFunctions.GetExecutionHistory",
             json_pack("{s:s,s:i,s:b}", "executionArn", s->arn, "maxResults", 1, "reverseOrder",
                       1));
}

void con__sse(console *c, http_req *req, const char *arn)
{
    sse_req *s = calloc(1, sizeof *s);
    char since[32] = "";
    const char *last = http_req_header(req, "Last-Event-ID");
    if (s == NULL || (s->arn = strdup(arn)) == NULL) {
        free(s);
        con__respond_err(req, 500, "InternalFailure", "out of memory");
        return;
    }
    if (last == NULL && http_req_query_param(req, "since", since, sizeof since) > 0)
        last = since;
    s->since = last ? strtoll(last, NULL, 10) : 0;
    s->until = ev_now_ms() + SSE_HOLD_MS;
    s->p.req = req;
    s->p.on_reply = tail_reply;
    s->p.destroy = sse_destroy;
    con__link(c, &s->p);
    poll_tail(s);
}
