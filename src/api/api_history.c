/*
 * api_history.c - GetExecutionHistory: a page of an execution's events,
 * forwards or backwards, with a nextToken bound to the execution and the
 * direction.
 *
 * The store keeps each event in the log form (asl_exec_event_write_log),
 * whose @<id> tokens name an earlier event's payload; a page is expanded
 * back to the API form here, reading an event it refers to by id (once).
 * includeExecutionData=false strips the payloads and their details.
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

void api__op_history(call *c, json_t *req)
{
    const char *arn, *tok;
    long max;
    int reverse, incl;
    long long from = 0;
    store_exec x;
    if (api__str_member(c, req, "executionArn", 1, 2048, &arn) ||
        api__int_member(c, req, "maxResults", 0, HISTORY_MAX, 0, &max) ||
        api__bool_member(c, req, "reverseOrder", 0, &reverse) ||
        api__bool_member(c, req, "includeExecutionData", 1, &incl) ||
        api__str_member(c, req, "nextToken", 0, 3096, &tok) ||
        hist_token_parse(c, tok, arn, reverse, &from))
        return;
    if (api__check_arn(c, arn, "execution", NULL) || api__find_exec(c, arn, &x))
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
        api__reply_err(c, 500, "InternalFailure", "store: %s", store_errmsg(c->a->st));
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

