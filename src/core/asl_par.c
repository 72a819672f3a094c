/*
 * asl_par.c - the Parallel and Map states: one child thread per branch or
 * item, started up to MaxConcurrency at a time, their results gathered in
 * order, a failure tolerated (Map's ToleratedFailure*) or ending the state
 * with its siblings aborted. The child threads run the ordinary walk
 * (asl_exec.c); the fields of the Map (items, limits, ItemSelector) are the
 * query language's (asl_exec_int.h, asl_ql).
 *
 * It must not run states itself nor evaluate a field: it starts threads and
 * counts their ends.
 */
#include "asl_exec_int.h"

#include <stdlib.h>
#include <string.h>

static void kid_start(asl_exec *x, thr *t, int i)
{
    const state *st = asl__cur_state(t);
    thr *k = t->kids[i];
    if (st->type == ST_MAP && !st->distributed) {
        ev *e = asl__emit(x, t, E_MapIterationStarted, st);
        if (e)
            e->n = i;
        k->last = t->last;
    }
    asl__maprun_kid(x, t, MR_STARTED);
    t->active++;
    asl__enqueue(x, k);
}

void asl__children_more(asl_exec *x, thr *t)
{
    int limit = t->max_conc > 0 ? t->max_conc : t->nkids;
    while (t->next_kid < t->nkids && t->active < limit)
        kid_start(x, t, t->next_kid++);
}

static void children_start(asl_exec *x, thr *t)
{
    const state *st = asl__cur_state(t);
    int limit = t->max_conc > 0 ? t->max_conc : t->nkids;
    while (t->next_kid < t->nkids && t->active < limit)
        kid_start(x, t, t->next_kid++);
    if (t->nkids == 0) {
        /* nothing to run */
        if (st->type == ST_MAP) {
            if (st->distributed)
                asl__emit(x, t, E_MapRunSucceeded, st);
            asl__maprun_end(x, t, ASL_SUCCEEDED);
            asl__emit(x, t, E_MapStateSucceeded, st);
        } else {
            asl__emit(x, t, E_ParallelStateSucceeded, st);
        }
        json_t *res = json_incref(t->results);
        asl__state_finish(x, t, res, asl__msize(res));
        json_decref(res);
    }
}

void asl__children_free(thr *t)
{
    free(t->kids);
    t->kids = NULL;
    t->nkids = t->active = t->next_kid = t->done_kids = t->failed_kids = 0;
    json_decref(t->results);
    t->results = NULL;
}

void asl__abort_kids(asl_exec *x, thr *t, int except)
{
    const state *st = asl__cur_state(t);
    for (int i = 0; i < t->next_kid; i++) {
        thr *k = t->kids[i];
        if (i == except || k->ended)
            continue;
        /* AWS: MapIterationAborted, then the iteration's own abort event
         * (TaskStateAborted, ...), iteration by iteration (recorded) */
        if (st->type == ST_MAP && !st->distributed) {
            ev *e = asl__emit(x, t, E_MapIterationAborted, st);
            if (e)
                e->n = i;
        }
        asl__abort_thr(x, k);
        asl__maprun_kid(x, t, MR_ABORTED);
    }
}

/* A branch or iteration that failed in a Task state: when that failure ends
 * the Parallel or Map, AWS records the Task as aborted too (TaskFailed or
 * TaskTimedOut, then TaskStateAborted; recorded in test_parallel_catch_error
 * and test_service_lambda_map_timeout). */
static void failed_kid_aborted(asl_exec *x, thr *k)
{
    const state *ks = asl__cur_state(k);
    if (ks != NULL && ks->type == ST_TASK && k->kids == NULL)
        asl__emit(x, k, E_TaskStateAborted, ks);
}

void asl__kid_done(asl_exec *x, thr *k)
{
    thr *t = k->parent;
    const state *st = asl__cur_state(t);
    if (t->phase != PH_CHILDREN)
        return;
    t->active--;
    t->done_kids++;
    asl__maprun_kid(x, t, k->failed ? MR_FAILED : MR_SUCCEEDED);
    if (!k->failed) {
        if (st->type == ST_MAP && !st->distributed) {
            ev *e = asl__emit(x, t, E_MapIterationSucceeded, st);
            if (e)
                e->n = k->slot;
        }
        json_array_set(t->results, (size_t)k->slot, k->out ? k->out : json_null());
    } else {
        if (st->type == ST_MAP) {
            if (!st->distributed) {
                ev *e = asl__emit(x, t, E_MapIterationFailed, st);
                if (e)
                    e->n = k->slot;
            }
            t->failed_kids++;
            int tolerated = 0;
            if (t->tol_count >= 0 && t->failed_kids <= t->tol_count)
                tolerated = 1;
            if (t->tol_pct >= 0 && t->nkids > 0 && 100.0 * t->failed_kids / t->nkids <= t->tol_pct)
                tolerated = 1;
            if (!tolerated) {
                int has_tol = t->tol_count >= 0 || t->tol_pct >= 0;
                char *err = asl__xstrdup(has_tol ? "States.ExceedToleratedFailureThreshold" : k->err);
                char *cause = has_tol ? asl__xstrdup("The specified tolerated failure threshold was exceeded")
                                      : asl__xstrdup(k->cause);
                if (!st->distributed)
                    failed_kid_aborted(x, k);
                asl__abort_kids(x, t, k->slot);
                if (st->distributed) {
                    ev *re = asl__emit(x, t, E_MapRunFailed, st);
                    if (re) {
                        re->err = asl__xstrdup(err);
                        re->cause = asl__xstrdup(cause);
                    }
                }
                asl__maprun_end(x, t, ASL_FAILED);
                t->fail_event = E_MapStateFailed;
                asl__children_free(t);
                t->phase = PH_READY;
                /* the iteration's failure is the Map's, as it was: one
                 * without a name (a Fail state without Error) stays so */
                asl__state_error(x, t, err, cause);
                free(err);
                free(cause);
                return;
            }
            json_array_set(t->results, (size_t)k->slot, json_null());
        } else {
            char *err = asl__xstrdup(k->err), *cause = asl__xstrdup(k->cause);
            failed_kid_aborted(x, k);
            asl__abort_kids(x, t, k->slot);
            t->fail_event = E_ParallelStateFailed;
            asl__children_free(t);
            t->phase = PH_READY;
            asl__state_error(x, t, err ? err : "States.BranchFailed", cause);
            free(err);
            free(cause);
            return;
        }
    }
    if (t->done_kids == t->nkids) {
        if (st->type == ST_MAP) {
            if (st->distributed)
                asl__emit(x, t, E_MapRunSucceeded, st);
            asl__maprun_end(x, t, ASL_SUCCEEDED);
            asl__emit(x, t, E_MapStateSucceeded, st);
        } else {
            asl__emit(x, t, E_ParallelStateSucceeded, st);
        }
        json_t *res = json_incref(t->results);
        asl__children_free(t);
        t->phase = PH_READY;
        asl__state_finish(x, t, res, asl__msize(res));
        json_decref(res);
        return;
    }
    int limit = t->max_conc > 0 ? t->max_conc : t->nkids;
    while (t->next_kid < t->nkids && t->active < limit)
        kid_start(x, t, t->next_kid++);
}

void asl__parallel_begin(asl_exec *x, thr *t)
{
    const state *st = asl__cur_state(t);
    if (t->probe) { /* TestState: the mock stands for the branches */
        asl__probe_parallel(x, t);
        return;
    }
    asl__emit(x, t, E_ParallelStateStarted, st);
    t->nkids = st->nbranches;
    t->kids = calloc((size_t)t->nkids + 1, sizeof *t->kids);
    t->results = json_array();
    if (t->kids == NULL || t->results == NULL) {
        x->oom = 1; /* never silent: run_queue fails the execution */
        t->nkids = 0;
        return;
    }
    for (int i = 0; i < t->nkids; i++) {
        if (json_array_append_new(t->results, json_null()) != 0 ||
            (t->kids[i] = asl__thr_new(x, st->branches[i], t, i, t->eff)) == NULL) {
            x->oom = 1;
            t->nkids = i;
            return;
        }
    }
    t->active = 0;
    t->next_kid = 0;
    t->max_conc = 0;
    t->phase = PH_CHILDREN;
    children_start(x, t);
}

/* Spawn one iteration per item (ItemSelector evaluated for each, with
 * $$.Map.Item / $states.context.Map.Item) and start them; items is taken.
 * On a selector failure the error is raised and nothing is started. */
static void map_spawn(asl_exec *x, thr *t, json_t *items)
{
    const state *st = asl__cur_state(t);
    const asl_ql *q = asl__ql_of(st);
    int selects = q->has_selector(st);
    size_t n = json_array_size(items);
    t->nkids = (int)n;
    t->kids = calloc(n + 1, sizeof *t->kids);
    t->results = json_array();
    if (t->kids == NULL || t->results == NULL) {
        x->oom = 1; /* never silent: run_queue fails the execution */
        t->nkids = 0;
        json_decref(items);
        asl__maprun_end(x, t, ASL_FAILED);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_array_get(items, i);
        json_t *in = NULL;
        if (selects) {
            t->map_idx = (int)i;
            json_decref(t->map_val);
            t->map_val = json_incref(item);
            ql_env ie;
            asl__ql_env_init(&ie, x, t, NULL, NULL, NULL, 1);
            in = q->item_input(&ie);
            asl__ql_env_cleanup(&ie);
            t->map_idx = -1;
            json_decref(t->map_val);
            t->map_val = NULL;
            if (in == NULL) {
                json_decref(items);
                asl__maprun_end(x, t, ASL_FAILED);
                return;
            }
        } else {
            in = json_incref(item);
        }
        thr *k = json_array_append_new(t->results, json_null()) == 0
                     ? asl__thr_new(x, st->iter, t, (int)i, in)
                     : NULL;
        json_decref(in);
        if (k == NULL) {
            x->oom = 1;
            t->nkids = (int)i;
            break;
        }
        k->map_idx = (int)i;
        k->map_val = json_incref(item);
        if (st->distributed)
            k->silent = 1;
        t->kids[i] = k;
    }
    json_decref(t->items);
    t->items = items;
    t->phase = PH_CHILDREN;
    t->active = 0;
    t->next_kid = 0;
    children_start(x, t);
}

void asl__map_begin(ql_env *env)
{
    asl_exec *x = env->x;
    thr *t = env->t;
    const state *st = env->st;
    const asl_ql *q = asl__ql_of(st);
    /* TestState: an ItemReader's items are given (mapItemReaderData) */
    json_t *items = t->probe && x->probe->reader_items ? json_incref(x->probe->reader_items) : q->map_items(env);
    if (items == NULL)
        return;
    if (q->map_limits(env, 0) != 0)
        goto fail;
    ev *e = asl__emit(x, t, E_MapStateStarted, st);
    if (e)
        e->n = (int64_t)json_array_size(items);
    if (q->map_limits(env, 1) != 0)
        goto fail;
    if (t->probe) { /* TestState: the mock stands for the iterations */
        asl__probe_map(env, items);
        return;
    }
    if (st->distributed && asl__emit(x, t, E_MapRunStarted, st) != NULL)
        asl__maprun_begin(x, t, (int64_t)x->nev, (int)json_array_size(items));
    map_spawn(x, t, items);
    return;
fail:
    json_decref(items);
}
