/*
 * run_exec.c - executions and state machines (see run.h): start, stop, wait,
 * task tokens, redrive; and recovery, which rebuilds an execution from
 * its stored input log through the deterministic core.
 *
 * Must not: write outside the iteration's transaction (run__begin).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "arn.h"
#include "run_int.h"
#include "run_mock.h"
#include "store_ver.h"
#include "store_meta.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int run_sm_save(run *r, run_sm *sm, const char *definition)
{
    if (r->unavail || run__begin(r, NULL) != 0)
        return RUN_EUNAVAIL;
    if (definition && store_def_insert(r->st, sm->arn, definition, sm->type, &sm->def_id) !=
                          STORE_OK) {
        run__txn_fail(r, "definition insert", 0);
        return RUN_EUNAVAIL;
    }
    if (store_sm_put(r->st, sm) != STORE_OK) {
        run__txn_fail(r, "state machine update", 0);
        return RUN_EUNAVAIL;
    }
    /* deleted: its tags and configurations go with it (store_meta.c) */
    if (sm->deleted && store_meta_forget(r->st, sm->arn) != STORE_OK) {
        run__txn_fail(r, "state machine tags", 0);
        return RUN_EUNAVAIL;
    }
    return 0;
}

/* ---- executions ------------------------------------------------------------ */
static rexec *exec_new(run *r, const char *arn)
{
    rexec *e = calloc(1, sizeof *e);
    if (e == NULL || (e->arn = strdup(arn)) == NULL) {
        free(e);
        return NULL;
    }
    e->next_seq = 1;
    (void)r;
    return e;
}

/* "arn:aws:states:R:A:stateMachine:N" -> "arn:aws:states:R:A:<kind>:N:<name>" */
static char *exec_arn(run *r, const char *sm_arn, const char *name, int express)
{
    char u[37];
    if (express)
        run__uuid(r, u);
    return sfn_arn_execution(sm_arn, name, express ? u : NULL);
}

int run_exec_start(run *r, const run_start *s, run_done_cb *done, void *ud, char **arn_out,
                   int64_t *start_ms_out)
{
    const asl_machine *m;
    int rc = run_machine_get(r, s->sm->def_id, &m, NULL);
    if (rc == RUN_EDB || rc == RUN_ENOMEM)
        return RUN_EUNAVAIL; /* the store or memory failed us: try again later */
    if (rc != 0)
        return rc;
    if (!s->express && r->unavail)
        return RUN_EUNAVAIL;
    char *arn = exec_arn(r, s->sm->arn, s->name, s->express);
    if (arn == NULL)
        return RUN_ENOMEM;
    if (hmap_get(&r->execs, arn)) {
        free(arn);
        return RUN_EEXIST;
    }
    rexec *e = exec_new(r, arn);
    waiter *w = done ? calloc(1, sizeof *w) : NULL;
    if (e == NULL || (done && w == NULL)) {
        free(arn);
        free(w);
        if (e)
            run__exec_free(r, e);
        return RUN_ENOMEM;
    }
    e->express = s->express;
    if (s->test_case && (e->mock = run__mock_exec_new(s->sm->name, s->test_case)) == NULL) {
        free(arn);
        free(w);
        run__exec_free(r, e);
        return RUN_ENOMEM;
    }
    int64_t now = ev_wall_ms();
    e->last_now = now;
    uint64_t seed = run__rng(r);
    if (!s->express) {
        rc = run__begin(r, e) == 0 ? STORE_OK : STORE_EDB;
        store_exec row = {.arn = arn, .sm_arn = s->sm->arn, .name = (char *)s->name,
                          .input = (char *)s->input_text, .status = STORE_RUNNING,
                          .start_ms = now, .seed = seed, .def_id = s->sm->def_id};
        if (rc == STORE_OK)
            rc = store_exec_insert(r->st, &row);
        if (rc == STORE_OK && s->test_case)
            rc = store_exec_mock_set(r->st, row.id, s->test_case);
        if (rc == STORE_OK && (s->version_arn || s->alias_arn))
            rc = store_execver_put(r->st, row.id, s->version_arn, s->alias_arn);
        if (rc != STORE_OK) {
            if (rc != STORE_EEXIST)
                run__txn_fail(r, "execution insert", 0);
            free(arn);
            free(w);
            run__exec_free(r, e);
            return rc == STORE_EEXIST ? RUN_EEXIST : RUN_EUNAVAIL;
        }
        e->id = row.id;
        e->born = r->gen;
    }
    asl_exec_info info = {.execution_arn = arn, .execution_name = s->name,
                          .state_machine_arn = s->sm->arn, .state_machine_name = s->sm->name,
                          .role_arn = s->sm->role_arn, .start_ms = now, .seed = seed};
    e->x = asl_exec_start(m, &info, s->input);
    if (e->x == NULL || hmap_put(&r->execs, arn, e) != 0) {
        /* its row (if any) goes with the transaction */
        if (!s->express)
            run__txn_fail(r, "execution start", 1);
        free(arn);
        free(w);
        run__exec_free(r, e);
        return RUN_EUNAVAIL;
    }
    if (w) {
        w->cb = done;
        w->ud = ud;
        e->waiters = w;
    }
    r->stats.started++;
    if (!s->express && run__svc_has_rules(r->svc))
        run__svc_status(r->svc, arn, STORE_RUNNING);
    const asl_cmd *cmds;
    size_t n = asl_exec_cmds(e->x, &cmds);
    run__exec_after_step(r, e, cmds, n, NULL);
    *arn_out = arn;
    *start_ms_out = now;
    return 0;
}

int run_exec_running(run *r, const char *arn)
{
    rexec *e = hmap_get(&r->execs, arn);
    return e != NULL && !e->done;
}

int run_exec_stop(run *r, const char *arn, const char *error, const char *cause,
                  int64_t *stop_ms)
{
    rexec *e = hmap_get(&r->execs, arn);
    if (r->unavail && (e == NULL || !e->express))
        return RUN_EUNAVAIL;
    if (e == NULL || e->done)
        return RUN_ENOENT;
    asl_input in = {.kind = ASL_IN_STOP, .now_ms = run__exec_now(e), .error = error, .cause = cause};
    run__exec_feed(r, e, &in);
    *stop_ms = asl_exec_stop_ms(e->x);
    return 0;
}

int run_exec_wait(run *r, const char *arn, run_done_cb *done, void *ud)
{
    for (susp *s = r->susp; s; s = s->next) {
        if (!strcmp(s->arn, arn)) {
            waiter *w = calloc(1, sizeof *w);
            if (w == NULL)
                return RUN_ENOMEM;
            w->cb = done;
            w->ud = ud;
            w->next = s->waiters;
            s->waiters = w;
            return 0;
        }
    }
    rexec *e = hmap_get(&r->execs, arn);
    if (e == NULL)
        return RUN_ENOENT;
    waiter *w = calloc(1, sizeof *w);
    if (w == NULL)
        return RUN_ENOMEM;
    w->cb = done;
    w->ud = ud;
    w->next = e->waiters;
    e->waiters = w;
    return 0;
}

/* ---- for run_tasks.c ---------------------------------------------------------- */
run_svc *run__svc(run *r)
{
    return r->svc;
}

ev_loop *run__loop(run *r)
{
    return r->loop;
}

void run__task_result(run *r, const char *exec_arn, uint64_t task, json_t *result,
                      const char *error, const char *cause)
{
    rexec *e = hmap_get(&r->execs, exec_arn);
    if (e == NULL || e->done || r->ignore_results)
        return;
    const asl_cmd *pend;
    size_t np = asl_exec_pending(e->x, &pend), i;
    for (i = 0; i < np; i++)
        if (pend[i].kind == ASL_CMD_INVOKE && pend[i].id == task)
            break;
    if (i == np)
        return; /* timed out, aborted or already answered */
    asl_input in = {.kind = error ? ASL_IN_TASK_FAILED : ASL_IN_TASK_SUCCEEDED, .id = task,
                    .now_ms = run__exec_now(e), .result = error ? NULL : result, .error = error,
                    .cause = cause};
    run__exec_feed(r, e, &in);
}

int run_task_send(run *r, const char *token, int kind, json_t *output, const char *error,
                  const char *cause)
{
    if (r->unavail)
        return RUN_EUNAVAIL; /* its execution may be set aside: ask again */
    tokref *t = hmap_get(&r->tokens, token);
    if (t == NULL)
        return RUN_ENOENT;
    rexec *e = hmap_get(&r->execs, t->arn);
    if (e == NULL || e->done)
        return RUN_ENOENT;
    const asl_cmd *pend;
    size_t np = asl_exec_pending(e->x, &pend), i;
    for (i = 0; i < np; i++)
        if (pend[i].kind == ASL_CMD_INVOKE && pend[i].id == t->task)
            break;
    if (i == np) /* timed out or already answered */
        return asl_exec_task_timed_out(e->x, t->task) ? RUN_ETIMEDOUT : RUN_ENOENT;
    asl_input in = {.id = t->task, .now_ms = run__exec_now(e), .result = output, .error = error,
                    .cause = cause};
    in.kind = kind == RUN_TASK_SUCCESS   ? ASL_IN_TASK_SUCCEEDED
              : kind == RUN_TASK_FAILURE ? ASL_IN_TASK_FAILED
                                         : ASL_IN_HEARTBEAT;
    run__exec_feed(r, e, &in);
    return 0;
}

/* ---- recovery ------------------------------------------------------------- */
typedef struct idlist {
    int64_t *ids;
    size_t n, cap;
} idlist;

static int collect_running(void *ctx, const store_exec *x)
{
    idlist *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        int64_t *ids = realloc(l->ids, cap * sizeof *ids);
        if (ids == NULL)
            return RUN_ENOMEM;
        l->ids = ids;
        l->cap = cap;
    }
    l->ids[l->n++] = x->id;
    return 0;
}

typedef struct replay_ctx {
    rexec *e;
    int64_t last_seq;
    int bad;
} replay_ctx;

static int replay_input(void *ctx, const store_input *si)
{
    replay_ctx *c = ctx;
    json_t *result = NULL;
    if (si->result) {
        json_error_t je;
        result = json_loads(si->result, JSON_DECODE_ANY, &je);
        if (result == NULL) {
            c->bad = 1;
            return 1;
        }
    }
    asl_input in = {.kind = si->kind, .id = si->id, .now_ms = si->now_ms, .result = result,
                    .error = si->error, .cause = si->cause};
    int rc = asl_exec_feed(c->e->x, &in);
    if (c->e->mock && rc == SFN_OK) {
        /* number the invocations as they were numbered the first time */
        const asl_cmd *cmds;
        size_t n = asl_exec_cmds(c->e->x, &cmds);
        if (in.kind == ASL_IN_TASK_SUCCEEDED || in.kind == ASL_IN_TASK_FAILED)
            run__mock_answered(c->e->mock, in.id);
        if (run__mock_issue(c->e->mock, cmds, n) != 0)
            c->bad = 1;
    }
    if (si->now_ms > c->e->last_now)
        c->e->last_now = si->now_ms;
    json_decref(result);
    c->last_seq = si->seq;
    return 0;
}

/* Rebuild an execution in memory from its stored input log (the core is
 * deterministic: the same inputs give the same state and events). On
 * success *out is registered in r->execs. */
static int rebuild(run *r, int64_t id, rexec **out, char *err, size_t errlen)
{
    store_exec row;
    *out = NULL;
    if (store_exec_get_id(r->st, id, &row) != STORE_OK)
        return RUN_EDB;
    int rc = 0;
    store_sm sm;
    const asl_machine *m;
    json_t *input = NULL;
    rexec *e = NULL;
    memset(&sm, 0, sizeof sm);
    if (store_sm_get(r->st, row.sm_arn, &sm) != STORE_OK ||
        run_machine_get(r, row.def_id, &m, NULL) != 0) {
        snprintf(err, errlen, "%s: its state machine or definition is gone", row.arn);
        rc = RUN_EINVAL;
        goto out;
    }
    json_error_t je;
    input = json_loads(row.input, JSON_DECODE_ANY, &je);
    e = exec_new(r, row.arn);
    if (input == NULL || e == NULL) {
        snprintf(err, errlen, "%s: bad stored input", row.arn);
        rc = RUN_EINVAL;
        goto out;
    }
    e->id = row.id;
    e->last_now = row.start_ms;
    char *tcase = NULL;
    if (store_exec_mock_get(r->st, row.id, &tcase) != STORE_OK ||
        (tcase && (e->mock = run__mock_exec_new(sm.name, tcase)) == NULL)) {
        free(tcase);
        snprintf(err, errlen, "%s: cannot read its mock test case", row.arn);
        rc = RUN_EDB;
        goto out;
    }
    free(tcase);
    asl_exec_info info = {.execution_arn = row.arn, .execution_name = row.name,
                          .state_machine_arn = row.sm_arn, .state_machine_name = sm.name,
                          .role_arn = sm.role_arn, .start_ms = row.start_ms, .seed = row.seed,
                          .redrive_count = row.redrive_count};
    e->x = asl_exec_start(m, &info, input);
    if (e->x == NULL) {
        rc = RUN_ENOMEM;
        goto out;
    }
    if (e->mock) {
        const asl_cmd *cmds;
        size_t n = asl_exec_cmds(e->x, &cmds);
        if (run__mock_issue(e->mock, cmds, n) != 0) {
            rc = RUN_ENOMEM;
            goto out;
        }
    }
    replay_ctx c = {.e = e};
    if (store_input_each(r->st, row.id, replay_input, &c) < 0 || c.bad) {
        snprintf(err, errlen, "%s: cannot read its input log", row.arn);
        rc = RUN_EDB;
        goto out;
    }
    e->next_seq = c.last_seq + 1;
    int64_t stored = 0;
    store_event_max(r->st, row.id, &stored);
    size_t n = asl_exec_event_count(e->x);
    if ((size_t)stored > n) {
        /* The core replayed fewer events than were written: it is not
         * deterministic for this execution. Keep the stored history and
         * go on; never write an id twice. */
        logf_(r, "warning: %s: replay produced %zu events, store has %lld", row.arn, n,
              (long long)stored);
        e->nev_saved = n;
    } else {
        e->nev_saved = (size_t)stored;
    }
    if (hmap_put(&r->execs, row.arn, e) != 0) {
        rc = RUN_ENOMEM;
        goto out;
    }
    *out = e;
    e = NULL;
out:
    if (e)
        run__exec_free(r, e);
    json_decref(input);
    store_sm_cleanup(&sm);
    store_exec_cleanup(&row);
    return rc;
}

int run__recover_one(run *r, int64_t id, rexec **out, char *err, size_t errlen)
{
    rexec *e;
    int rc = rebuild(r, id, &e, err, errlen);
    if (rc != 0)
        return rc;
    /* tasks in flight are invoked again (at least once), timers re-armed
     * at their absolute deadlines */
    const asl_cmd *pend;
    size_t np = asl_exec_pending(e->x, &pend);
    run__exec_after_step(r, e, pend, np, NULL);
    if (out)
        *out = e;
    return 0;
}

int run_exec_redrive(run *r, const char *arn, int64_t *redrive_ms, char *err, size_t errlen)
{
    if (r->unavail) {
        snprintf(err, errlen, "%s", r->why);
        return RUN_EUNAVAIL;
    }
    if (hmap_get(&r->execs, arn) != NULL) {
        snprintf(err, errlen, "Execution is still finishing");
        return RUN_EINVAL;
    }
    store_exec row;
    if (store_exec_get(r->st, arn, &row) != STORE_OK) {
        snprintf(err, errlen, "Execution does not exist");
        return RUN_ENOENT;
    }
    int64_t id = row.id;
    int count = row.redrive_count;
    int status = row.status;
    store_exec_cleanup(&row);
    if (status == STORE_RUNNING || status == STORE_SUCCEEDED) {
        snprintf(err, errlen, "Execution is %s and cannot be redriven",
                 status == STORE_RUNNING ? "RUNNING" : "SUCCEEDED");
        return RUN_EINVAL;
    }
    rexec *e;
    int rc = rebuild(r, id, &e, err, errlen);
    if (rc != 0)
        return rc;
    int64_t now = run__exec_now(e);
    if (run__begin(r, e) != 0 ||
        store_exec_set_status(r->st, id, STORE_RUNNING, 0, NULL, NULL, NULL) != STORE_OK ||
        store_exec_set_redrive(r->st, id, count + 1, now) != STORE_OK) {
        run__txn_fail(r, "redrive", 0);
        snprintf(err, errlen, "%s", r->why);
        hmap_del(&r->execs, arn); /* it stays as the store has it */
        run__exec_free(r, e);
        return RUN_EUNAVAIL;
    }
    e->done = 0;
    if (run__svc_has_rules(r->svc))
        run__svc_status(r->svc, arn, STORE_RUNNING); /* again, redriveCount + 1 */
    asl_input in = {.kind = ASL_IN_REDRIVE, .now_ms = now};
    run__exec_feed(r, e, &in);
    *redrive_ms = now;
    return 0;
}

int run_recover(run *r, char *err, size_t errlen)
{
    idlist l = {0};
    int rc = store_exec_each_running(r->st, collect_running, &l);
    if (rc != 0) {
        snprintf(err, errlen, "cannot list running executions: %s", store_errmsg(r->st));
        free(l.ids);
        return RUN_EDB;
    }
    int n = 0;
    for (size_t i = 0; i < l.n; i++) {
        char e[512] = "";
        rc = run__recover_one(r, l.ids[i], NULL, e, sizeof e);
        if (rc == 0) {
            n++;
        } else {
            logf_(r, "cannot recover execution %lld: %s", (long long)l.ids[i], e);
        }
    }
    free(l.ids);
    if (run__ver_recover(r) != 0)
        logf_(r, "cannot finish the deletion of DELETING state machines: %s", store_errmsg(r->st));
    run_flush(r);
    return n;
}
