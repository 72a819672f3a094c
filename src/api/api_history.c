/*
 * api_history.c - GetExecutionHistory: a page of an execution's events,
 * forwards or backwards, with a nextToken bound to the execution and the
 * direction.
 *
 * The events come from the runner's history iterator (run_history_*),
 * already in the API's form whatever the store keeps; a page costs what
 * it holds. includeExecutionData=false strips the payloads and their
 * details here.
 *
 * Must not: write anything (the history is read-only), reply except
 * through api__reply_*.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "api_int.h"

#include "jtext.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HISTORY_DEFAULT 100
#define HISTORY_MAX 1000

/* ---- page tokens ------------------------------------------------------------------ */
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

/* ---- the events ------------------------------------------------------------------- */
typedef struct hist {
    char *buf;
    size_t len, cap;
    int n, limit, strip;
    int64_t next;
} hist;

static int hist_add(hist *h, const char *text, size_t tl)
{
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

/* includeExecutionData=false: the payloads go, their details too */
static int hist_add_stripped(hist *h, const char *json, size_t len)
{
    json_error_t je;
    json_t *e = json_loadb(json, len, 0, &je);
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
    int rc = t ? hist_add(h, t, strlen(t)) : -1;
    free(t);
    return rc;
}

/* The page: at most h->limit events of the iterator, and the id of the
 * one after them in h->next. Returns 0, or -1 with the error replied. */
static int hist_page(call *c, hist *h, const char *arn, int reverse, long long from)
{
    run_history *it;
    int rc = run_history_open(c->a->run, arn, reverse, from, h->limit + 1, &it);
    if (rc == RUN_ENOENT) {
        CLIENT(c, "ExecutionDoesNotExist", "Execution Does Not Exist: '%s'", arn);
        return -1;
    }
    run_event ev;
    while (rc == 0 && (rc = run_history_next(it, &ev)) == 1) {
        if (h->n == h->limit) {
            h->next = ev.id;
            rc = 0;
            break;
        }
        rc = h->strip ? hist_add_stripped(h, ev.json, ev.len) : hist_add(h, ev.json, ev.len);
        h->n++;
    }
    run_history_close(it);
    if (rc < 0) {
        api__reply_err(c, 500, "InternalFailure", "store: %s", run_store_errmsg(c->a->run));
        return -1;
    }
    return 0;
}

void api__op_history(call *c, json_t *req)
{
    const char *arn, *tok;
    long max;
    int reverse, incl;
    long long from = 0;
    if (api__str_member(c, req, "executionArn", 1, 2048, &arn) ||
        api__int_member(c, req, "maxResults", 0, HISTORY_MAX, 0, &max) ||
        api__bool_member(c, req, "reverseOrder", 0, &reverse) ||
        api__bool_member(c, req, "includeExecutionData", 1, &incl) ||
        api__str_member(c, req, "nextToken", 0, 3096, &tok) ||
        hist_token_parse(c, tok, arn, reverse, &from))
        return;
    if (api__check_arn(c, arn, "execution", NULL))
        return;
    hist h = {.limit = max ? (int)max : HISTORY_DEFAULT, .strip = !incl};
    if (hist_page(c, &h, arn, reverse, from) != 0) {
        free(h.buf);
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
        api__reply_err(c, 500, "InternalFailure", "out of memory");
        return;
    }
    api__reply_text(c, 200, out);
}
