/*
 * run_read.c - what the API reads (see run.h, "reads"): state machines,
 * their definitions, executions and their lists, and an execution's
 * history through an iterator that hides the stored form.
 *
 * The history is stored in the core's log form (asl_exec_event_write_log):
 * an event that repeats an earlier event's payload holds "@<id>" in its
 * place. The iterator walks the stored lines with the store's cursor
 * (store_events_*: an id range through the index, no copy) and expands
 * each line that holds a reference back to the API form: the payload it
 * names is the last one seen in full (reading forwards), or an event read
 * by id, once for all the events that name it (reading backwards, or a
 * page that starts after it). A page costs what it holds, not what the
 * execution holds.
 *
 * Must not: write (nothing here opens the transaction), shape replies.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "run_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- state machines ---------------------------------------------------------- */
static int from_store(int rc)
{
    return rc == STORE_OK ? 0 : rc == STORE_ENOENT ? RUN_ENOENT : RUN_EDB;
}

int run_sm_get(run *r, const char *arn, run_sm *out)
{
    return from_store(store_sm_get(r->st, arn, out));
}

void run_sm_cleanup(run_sm *sm)
{
    store_sm_cleanup(sm);
}

int run_sm_definition(run *r, int64_t def_id, char **text, int *type)
{
    *text = NULL;
    return from_store(store_def_get(r->st, def_id, text, type));
}

typedef struct sm_walk {
    long skip, limit, seen, given;
    int more, stopped;
    int (*cb)(void *ctx, const run_sm *sm);
    void *ctx;
} sm_walk;

static int sm_walk_cb(void *ctx, const store_sm *sm)
{
    sm_walk *w = ctx;
    if (w->seen++ < w->skip)
        return 0;
    if (w->limit > 0 && w->given == w->limit) {
        w->more = 1;
        return 1;
    }
    w->given++;
    int rc = w->cb(w->ctx, sm);
    w->stopped = rc != 0;
    return rc;
}

int run_sm_list(run *r, long skip, long limit, int (*cb)(void *ctx, const run_sm *sm), void *ctx,
                int *more)
{
    sm_walk w = {.skip = skip, .limit = limit, .cb = cb, .ctx = ctx};
    int rc = store_sm_each(r->st, sm_walk_cb, &w);
    *more = w.more;
    if (w.stopped)
        return rc;
    return w.more || rc == STORE_OK ? 0 : RUN_EDB;
}

/* ---- executions -------------------------------------------------------------- */
int run_exec_get(run *r, const char *arn, run_exec_info *out)
{
    return from_store(store_exec_get(r->st, arn, out));
}

void run_exec_info_cleanup(run_exec_info *x)
{
    store_exec_cleanup(x);
}

typedef struct exec_walk {
    int (*cb)(void *ctx, const run_exec_info *x);
    void *ctx;
    int stopped;
} exec_walk;

static int exec_walk_cb(void *ctx, const store_exec *x)
{
    exec_walk *w = ctx;
    int rc = w->cb(w->ctx, x);
    w->stopped = rc != 0;
    return rc;
}

int run_exec_list(run *r, const char *sm_arn, int status, int64_t after, int limit,
                  int (*cb)(void *ctx, const run_exec_info *x), void *ctx, int64_t *next_after)
{
    exec_walk w = {.cb = cb, .ctx = ctx};
    int rc = store_exec_list(r->st, sm_arn, status, after, limit, exec_walk_cb, &w, next_after);
    if (w.stopped)
        return rc;
    return rc == STORE_OK ? 0 : RUN_EDB;
}

const char *run_store_errmsg(run *r)
{
    return store_errmsg(r->st);
}

/* ---- the history iterator ---------------------------------------------------- */
struct run_history {
    run *r;
    int64_t exec_id;
    store_events *cur;        /* the store's cursor over the stored lines */
    int left;                 /* events still to give (-1: no bound) */
    /* expanding the log form: its @<id> tokens name an earlier payload */
    jtext line;               /* the event in the API form */
    int64_t lit_id;           /* the last payload seen in full, and its token */
    jtext lit;
    char *fetched;            /* an event read for its payload */
    int64_t fetched_id;       /* its id (0: none), so that the events that
                               * refer to one payload read it once */
};

static int hist_lookup(void *ctx, int64_t id, const char **tok, size_t *toklen)
{
    run_history *h = ctx;
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
        if (store_event_text(h->r->st, h->exec_id, id, &h->fetched) != STORE_OK)
            return -1;
        h->fetched_id = id;
    }
    return asl_event_log_payload(h->fetched, strlen(h->fetched), tok, toklen);
}

int run_history_open(run *r, const char *exec_arn, int reverse, int64_t from_id, int max,
                     run_history **out)
{
    *out = NULL;
    store_exec x;
    int rc = from_store(store_exec_get(r->st, exec_arn, &x));
    if (rc != 0)
        return rc;
    int64_t exec_id = x.id;
    store_exec_cleanup(&x);
    run_history *h = calloc(1, sizeof *h);
    if (h == NULL)
        return RUN_ENOMEM;
    h->r = r;
    h->exec_id = exec_id;
    h->left = max > 0 ? max : -1;
    int64_t lo = reverse ? 1 : (from_id > 0 ? from_id : 1);
    int64_t hi = reverse ? (from_id > 0 ? from_id : 0) : 0;
    if (store_events_open(r->st, exec_id, lo, hi, reverse, &h->cur) != STORE_OK) {
        free(h);
        return RUN_ENOMEM;
    }
    *out = h;
    return 0;
}

int run_history_next(run_history *h, run_event *ev)
{
    if (h->left == 0)
        return 0;
    int64_t id;
    const char *json;
    size_t jl;
    int rc = store_events_next(h->cur, &id, &json, &jl);
    if (rc <= 0)
        return rc == 0 ? 0 : RUN_EDB;
    if (memchr(json, '@', jl)) {
        jtext_reset(&h->line);
        if (asl_event_log_expand(json, jl, hist_lookup, h, &h->line) != SFN_OK)
            return RUN_EDB;
        json = h->line.p;
        jl = h->line.n;
    }
    const char *tok;
    size_t tl;
    if (asl_event_log_payload(json, jl, &tok, &tl) == 0) {
        h->lit_id = id;
        jtext_reset(&h->lit);
        jtext_raw(&h->lit, tok, tl);
    }
    if (h->left > 0)
        h->left--;
    ev->id = id;
    ev->json = json;
    ev->len = jl;
    return 1;
}

void run_history_close(run_history *h)
{
    if (h == NULL)
        return;
    store_events_close(h->cur);
    jtext_cleanup(&h->line);
    jtext_cleanup(&h->lit);
    free(h->fetched);
    free(h);
}
