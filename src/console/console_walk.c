/*
 * console_walk.c - an execution's history walked once (console_walk.h):
 * each event's state and context (top level, Map iteration, Parallel
 * branch), each state's counts over the execution and within each context,
 * and the fetching of the history through the API page by page.
 *
 * Must not: write; hold more than one page of events in JSON at a time.
 */
#define _GNU_SOURCE
#include "console_walk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE 1000
#define WF_EXIT 1     /* a StateExited */
#define WF_PARSTART 2 /* a ParallelStateStarted */

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static json_t *details_of(const json_t *ev)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)ev, k, v) {
        if (ends_with(k, "EventDetails") && json_is_object(v))
            return v;
    }
    return NULL;
}

/* ---- the definition ----------------------------------------------------------------------- */
static const json_t *scopes_of(const json_t *st, size_t i)
{
    const json_t *br = json_object_get(st, "Branches");
    if (json_is_array(br))
        return json_array_get(br, i);
    if (i > 0)
        return NULL;
    const json_t *it = json_object_get(st, "ItemProcessor");
    return it ? it : json_object_get(st, "Iterator");
}

const json_t *con_walk_find_state(const json_t *scope, const char *name)
{
    const json_t *states = json_object_get(scope, "States"), *st;
    const char *k;
    if ((st = json_object_get(states, name)) != NULL)
        return st;
    json_object_foreach((json_t *)states, k, st) {
        const json_t *sc, *hit;
        for (size_t i = 0; (sc = scopes_of(st, i)) != NULL; i++)
            if ((hit = con_walk_find_state(sc, name)) != NULL)
                return hit;
    }
    return NULL;
}

static void all_names(const json_t *scope, json_t *out)
{
    const char *k;
    const json_t *st, *sc;
    json_object_foreach(json_object_get(scope, "States"), k, st) {
        json_array_append_new(out, json_string(k));
        for (size_t i = 0; (sc = scopes_of(st, i)) != NULL; i++)
            all_names(sc, out);
    }
}

json_t *con_walk_members(const json_t *definition, const char *name)
{
    const json_t *st = con_walk_find_state(definition, name), *sc;
    const char *t = json_string_value(json_object_get(st, "Type"));
    if (t == NULL || (strcmp(t, "Map") && strcmp(t, "Parallel")))
        return NULL;
    json_t *out = json_array();
    for (size_t i = 0; out && (sc = scopes_of(st, i)) != NULL; i++)
        all_names(sc, out);
    return out;
}

/* Every Parallel branch's StartAt -> the branch's index. */
static void branch_starts(const json_t *scope, json_t *out)
{
    const char *k;
    const json_t *st, *sc;
    json_object_foreach(json_object_get(scope, "States"), k, st) {
        const char *t = json_string_value(json_object_get(st, "Type"));
        int par = t && !strcmp(t, "Parallel");
        for (size_t i = 0; (sc = scopes_of(st, i)) != NULL; i++) {
            const char *start = json_string_value(json_object_get(sc, "StartAt"));
            if (par && start)
                json_object_set_new(out, start, json_integer((json_int_t)i));
            branch_starts(sc, out);
        }
    }
}

/* ---- the walk ------------------------------------------------------------------------------ */
int con_walk_init(con_walk *w, const json_t *definition)
{
    w->states = json_object();
    w->names = json_array();
    w->branch_start = json_object();
    w->iter_keys = json_object();
    w->capctx = 16;
    w->ctxs = calloc(w->capctx, sizeof *w->ctxs);
    if (!w->states || !w->names || !w->branch_start || !w->iter_keys || !w->ctxs)
        return -1;
    w->nctx = 1;
    w->ctxs[0] = (con_ctx){.kind = CON_CTX_TOP, .parent = -1, .container = -1, .status = "running"};
    if (definition) {
        w->definition = json_incref((json_t *)definition);
        branch_starts(definition, w->branch_start);
    }
    return 0;
}

void con_walk_cleanup(con_walk *w)
{
    free(w->arn);
    free(w->role_arn);
    json_decref(w->execution);
    json_decref(w->definition);
    json_decref(w->branch_start);
    json_decref(w->states);
    json_decref(w->names);
    json_decref(w->iter_keys);
    free(w->step);
    free(w->ctx);
    free(w->child);
    free(w->flags);
    for (size_t i = 0; i < w->nctx; i++)
        json_decref(w->ctxs[i].states);
    free(w->ctxs);
}

static int grow(con_walk *w, size_t id)
{
    if (id < w->capstep)
        return 0;
    size_t cap = w->capstep ? w->capstep : 1024;
    while (cap <= id)
        cap *= 2;
    int *st = realloc(w->step, cap * sizeof *st);
    if (st == NULL)
        return -1;
    w->step = st;
    int *cx = realloc(w->ctx, cap * sizeof *cx);
    if (cx == NULL)
        return -1;
    w->ctx = cx;
    int *ch = realloc(w->child, cap * sizeof *ch);
    if (ch == NULL)
        return -1;
    w->child = ch;
    unsigned char *fl = realloc(w->flags, cap);
    if (fl == NULL)
        return -1;
    w->flags = fl;
    for (size_t i = w->capstep; i < cap; i++) {
        w->step[i] = -1;
        w->ctx[i] = 0;
        w->child[i] = -1;
        w->flags[i] = 0;
    }
    w->capstep = cap;
    return 0;
}

static int new_ctx(con_walk *w, int kind, int parent, int container, long long index)
{
    if (w->nctx == w->capctx) {
        con_ctx *n = realloc(w->ctxs, 2 * w->capctx * sizeof *n);
        if (n == NULL)
            return -1;
        w->ctxs = n;
        w->capctx *= 2;
    }
    json_t *states = json_object();
    if (states == NULL)
        return -1;
    w->ctxs[w->nctx] = (con_ctx){.kind = kind, .parent = parent, .container = container,
                                 .index = index, .status = "running", .states = states};
    return (int)w->nctx++;
}

static int state_index(con_walk *w, const char *name)
{
    const json_t *st = name ? json_object_get(w->states, name) : NULL;
    return st ? (int)json_integer_value(json_object_get(st, "index")) : -1;
}

/* The state an event belongs to: a StateEntered's own, else its
 * predecessor's (not across a StateExited). */
static int attribute(con_walk *w, long long prev, const char *type, const json_t *d)
{
    const char *name = json_string_value(json_object_get(d, "name"));
    if (ends_with(type, "StateExited"))
        return state_index(w, name);
    if (ends_with(type, "StateEntered")) {
        if (name == NULL)
            return -1;
        if (json_object_get(w->states, name) == NULL) {
            size_t tl = strlen(type) - strlen("StateEntered");
            json_t *st = json_pack("{s:s%,s:I,s:I,s:I,s:I}", "type", type, tl, "index",
                                   (json_int_t)json_array_size(w->names), "entered", (json_int_t)0,
                                   "exited", (json_int_t)0, "attempts", (json_int_t)0);
            if (st == NULL || json_object_set_new(w->states, name, st) != 0 ||
                json_array_append_new(w->names, json_string(name)) != 0)
                return -1;
        }
        return state_index(w, name);
    }
    if (prev <= 0 || (size_t)prev >= w->nstep || (w->flags[prev] & WF_EXIT))
        return -1;
    return w->step[prev];
}

static void set_payload(json_t *st, const char *key, const json_t *v, size_t cap)
{
    const char *t = json_string_value(v);
    if (t == NULL)
        return;
    size_t n = strlen(t);
    if (n > cap) {
        json_object_set_new(st, key, json_stringn(t, cap));
        json_object_set_new(st, "truncated", json_true());
    } else
        json_object_set_new(st, key, json_string(t));
}

static void bump(json_t *st, const char *key)
{
    json_object_set_new(st, key, json_integer(json_integer_value(json_object_get(st, key)) + 1));
}

/* One event into a state's counts. */
static void stat_event(json_t *st, const char *type, const json_t *d, const json_t *ts,
                       size_t cap, int payloads)
{
    if (ends_with(type, "StateEntered")) {
        bump(st, "entered");
        json_object_set(st, "enteredAt", (json_t *)ts);
        if (payloads)
            set_payload(st, "input", json_object_get(d, "input"), cap);
        json_object_del(st, "outcome");
    } else if (ends_with(type, "StateExited")) {
        bump(st, "exited");
        json_object_set(st, "exitedAt", (json_t *)ts);
        if (payloads)
            set_payload(st, "output", json_object_get(d, "output"), cap);
    } else if (ends_with(type, "Scheduled")) {
        bump(st, "attempts");
    } else if (!strncmp(type, "Execution", 9) || !strncmp(type, "MapIteration", 12)) {
        return;
    } else if (ends_with(type, "Failed") || ends_with(type, "TimedOut") ||
               ends_with(type, "Aborted")) {
        bump(st, "failures");
        json_object_set_new(st, "outcome", json_string("failed"));
        set_payload(st, "error", json_object_get(d, "error"), cap);
        set_payload(st, "cause", json_object_get(d, "cause"), cap);
    } else if (ends_with(type, "Succeeded")) {
        json_object_set_new(st, "outcome", json_string("ok"));
    }
}

/* The context of a MapIteration* event's iteration. */
static int iteration(con_walk *w, int parent, const json_t *d, int make)
{
    char key[96];
    int m = state_index(w, json_string_value(json_object_get(d, "name")));
    long long index = json_integer_value(json_object_get(d, "index"));
    snprintf(key, sizeof key, "%d:%d:%lld", parent, m, index);
    const json_t *hit = json_object_get(w->iter_keys, key);
    if (hit || !make)
        return hit ? (int)json_integer_value(hit) : -1;
    int c = new_ctx(w, CON_CTX_MAP, parent, m, index);
    if (c >= 0)
        json_object_set_new(w->iter_keys, key, json_integer(c));
    return c;
}

/* The context of event id (its state k known). */
static int context_of(con_walk *w, long long id, long long prev, const char *type,
                      const json_t *d)
{
    int ok = prev > 0 && (size_t)prev < w->nstep;
    int pc = ok ? w->ctx[prev] : 0;
    if (ends_with(type, "StateEntered") && ok) {
        if (w->child[prev] >= 0)
            return w->child[prev];
        if (w->flags[prev] & WF_PARSTART) {
            const json_t *b = json_object_get(w->branch_start,
                                              json_string_value(json_object_get(d, "name")));
            return new_ctx(w, CON_CTX_BRANCH, pc, w->step[prev], b ? json_integer_value(b) : -1);
        }
    } else if (!strcmp(type, "MapIterationStarted")) {
        int it = iteration(w, pc, d, 1);
        if (it < 0)
            return -1;
        w->child[id] = it;
    } else if (!strncmp(type, "MapIteration", 12)) {
        int it = iteration(w, pc, d, 0);
        if (it >= 0)
            w->ctxs[it].status = ends_with(type, "Succeeded") ? "succeeded"
                                 : ends_with(type, "Aborted") ? "aborted"
                                                              : "failed";
    }
    return pc;
}

static int keeps_states(const con_walk *w, int c)
{
    const con_ctx *x = &w->ctxs[c];
    if (x->kind == CON_CTX_BRANCH || (w->ctx_states_of && !strcmp(w->ctx_states_of, "*")))
        return 1;
    const char *name = json_string_value(json_array_get(w->names, (size_t)x->container));
    return w->ctx_states_of && name && !strcmp(name, w->ctx_states_of);
}

int con_walk_event(con_walk *w, const json_t *ev)
{
    long long id = json_integer_value(json_object_get(ev, "id"));
    long long prev = json_integer_value(json_object_get(ev, "previousEventId"));
    const char *type = json_string_value(json_object_get(ev, "type"));
    if (id <= 0 || id > 100000000 || type == NULL)
        return 0;
    if (grow(w, (size_t)id) != 0)
        return -1;
    const json_t *d = details_of(ev);
    int k = attribute(w, prev, type, d);
    int c = context_of(w, id, prev, type, d);
    if (c < 0)
        return -1;
    w->step[id] = k;
    w->ctx[id] = c;
    w->flags[id] = (unsigned char)((ends_with(type, "StateExited") ? WF_EXIT : 0) |
                                   (!strcmp(type, "ParallelStateStarted") ? WF_PARSTART : 0));
    if ((size_t)id + 1 > w->nstep)
        w->nstep = (size_t)id + 1;
    if (w->on_event)
        w->on_event(w, ev, id, k, c);
    if (k < 0)
        return 0;
    const char *name = json_string_value(json_array_get(w->names, (size_t)k));
    json_t *st = json_object_get(w->states, name);
    const json_t *ts = json_object_get(ev, "timestamp");
    stat_event(st, type, d, ts, CON_PAYLOAD, 1);
    if (c > 0 && keeps_states(w, c)) {
        json_t *cs = json_object_get(w->ctxs[c].states, name);
        if (cs == NULL) {
            cs = json_pack("{s:O,s:I,s:I,s:I}", "type", json_object_get(st, "type"), "entered",
                           (json_int_t)0, "exited", (json_int_t)0, "attempts", (json_int_t)0);
            if (cs == NULL || json_object_set_new(w->ctxs[c].states, name, cs) != 0)
                return -1;
        }
        stat_event(cs, type, d, ts, w->keep_ctx_payloads ? CON_PAYLOAD : CON_CTX_PAYLOAD,
                   w->keep_ctx_payloads);
    }
    return 0;
}

/* Each state's status in `states`; the worst of them returned. */
static const char *statuses(json_t *states, int running)
{
    const char *name, *worst = "succeeded";
    json_t *st;
    json_object_foreach(states, name, st) {
        json_int_t in = json_integer_value(json_object_get(st, "entered"));
        json_int_t out = json_integer_value(json_object_get(st, "exited"));
        json_int_t att = json_integer_value(json_object_get(st, "attempts"));
        json_int_t fails = json_integer_value(json_object_get(st, "failures"));
        const char *type = json_string_value(json_object_get(st, "type"));
        const char *outcome = json_string_value(json_object_get(st, "outcome"));
        const char *status;
        if (in > out)
            status = running ? "running" : "failed";
        else if (type && !strcmp(type, "Fail"))
            status = "failed";
        else if (outcome && !strcmp(outcome, "failed"))
            status = "caught";
        else if (fails > 0)
            status = "retried";
        else
            status = "succeeded";
        json_object_set_new(st, "status", json_string(status));
        json_object_set_new(st, "retries", json_integer(att > 1 ? att - 1 : 0));
        if (!strcmp(status, "failed"))
            worst = "failed";
        else if (!strcmp(status, "running") && strcmp(worst, "failed"))
            worst = "running";
    }
    return worst;
}

void con_walk_end(con_walk *w)
{
    const char *exec = json_string_value(json_object_get(w->execution, "status"));
    int running = exec == NULL || !strcmp(exec, "RUNNING") || !strcmp(exec, "PENDING_REDRIVE");
    statuses(w->states, running);
    for (size_t i = 1; i < w->nctx; i++) {
        const char *worst = statuses(w->ctxs[i].states, running);
        if (w->ctxs[i].kind == CON_CTX_MAP && !strcmp(w->ctxs[i].status, "running") &&
            json_object_size(w->ctxs[i].states) == 0)
            w->ctxs[i].status = running ? "running" : "aborted"; /* no end event, no counts kept */
        else if (w->ctxs[i].kind == CON_CTX_BRANCH || !strcmp(w->ctxs[i].status, "running"))
            w->ctxs[i].status = !strcmp(worst, "running") || running ? worst
                                : !strcmp(worst, "failed")          ? "failed"
                                                                    : "succeeded";
    }
}

void con_walk_ctx_label(const con_walk *w, int c, char *buf, size_t cap)
{
    char up[512] = "";
    if (cap == 0)
        return;
    buf[0] = '\0';
    if (c <= 0 || (size_t)c >= w->nctx)
        return;
    const con_ctx *x = &w->ctxs[c];
    if (x->parent > 0)
        con_walk_ctx_label(w, x->parent, up, sizeof up);
    const char *name = json_string_value(json_array_get(w->names, (size_t)x->container));
    if (x->kind == CON_CTX_MAP)
        snprintf(buf, cap, "%s%s%s[%lld]", up, *up ? " / " : "", name ? name : "?", x->index);
    else
        snprintf(buf, cap, "%s%s%s branch %lld", up, *up ? " / " : "", name ? name : "?",
                 x->index + 1);
}

/* ---- fetching through the API -------------------------------------------------------------- */
static void walk_destroy(con_pending *p)
{
    con_walk *w = (con_walk *)p;
    if (w->on_free)
        w->on_free(w);
    con_walk_cleanup(w);
    free(w);
}

static void next_page(con_walk *w, const char *token)
{
    json_t *body = json_pack("{s:s,s:i,s:b}", "executionArn", w->arn, "maxResults", PAGE,
                             "includeExecutionData", 1);
    if (body && token)
        json_object_set_new(body, "nextToken", json_string(token));
    con__api(&w->p, "AWSStepFunctions.GetExecutionHistory", body);
}

static void history_reply(con_pending *p, int status, const char *body, size_t len)
{
    con_walk *w = (con_walk *)p;
    json_t *j = status == 200 ? json_loadb(body, len, 0, NULL) : NULL;
    if (j == NULL) {
        con__finish_json(p, status == 200 ? 500 : status, json_loadb(body, len, 0, NULL));
        return;
    }
    size_t i;
    const json_t *ev;
    json_array_foreach(json_object_get(j, "events"), i, ev) {
        if (con_walk_event(w, ev) != 0) {
            json_decref(j);
            con__finish_err(p, 500, "InternalFailure", "out of memory");
            return;
        }
    }
    const char *tok = json_string_value(json_object_get(j, "nextToken"));
    if (tok)
        next_page(w, tok);
    else {
        con_walk_end(w);
        w->on_done(w);
    }
    json_decref(j);
}

static void definition_reply(con_pending *p, int status, const char *body, size_t len)
{
    con_walk *w = (con_walk *)p;
    json_t *j = json_loadb(body, len, 0, NULL);
    if (status != 200 || j == NULL) {
        con__finish_json(p, status == 200 ? 500 : status, j);
        return;
    }
    json_t *def = json_loads(json_string_value(json_object_get(j, "definition")) ?: "", 0, NULL);
    const char *role = json_string_value(json_object_get(j, "roleArn"));
    w->role_arn = role ? strdup(role) : NULL;
    json_decref(j);
    if (def) {
        w->definition = def;
        branch_starts(def, w->branch_start);
    }
    p->on_reply = history_reply;
    next_page(w, NULL);
}

static void describe_reply(con_pending *p, int status, const char *body, size_t len)
{
    con_walk *w = (con_walk *)p;
    json_t *j = json_loadb(body, len, 0, NULL);
    if (status != 200 || j == NULL) {
        con__finish_json(p, status == 200 ? 500 : status, j);
        return;
    }
    w->execution = j;
    p->on_reply = definition_reply;
    con__api(p, "AWSStepFunctions.DescribeStateMachineForExecution",
             json_pack("{s:s}", "executionArn", w->arn));
}

void con_walk_start(console *c, http_req *req, con_walk *w, const char *arn)
{
    w->p.req = req;
    w->p.on_reply = describe_reply;
    w->p.destroy = walk_destroy;
    if ((w->arn = strdup(arn)) == NULL || con_walk_init(w, NULL) != 0) {
        w->p.req = NULL;
        walk_destroy(&w->p);
        con__respond_err(req, 500, "InternalFailure", "out of memory");
        return;
    }
    con__link(c, &w->p);
    con__api(&w->p, "AWSStepFunctions.DescribeExecution", json_pack("{s:s}", "executionArn", arn));
}
