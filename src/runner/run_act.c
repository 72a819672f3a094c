/*
 * run_act.c - activities (see run.h, "activities"): the rows (through the
 * store, in the iteration's transaction), the tasks of executions waiting
 * for a worker, and the workers long-polling GetActivityTask.
 *
 * A Task state whose Resource is an activity ARN reaches run__act_schedule
 * (from run.c's dispatch, after its ActivityScheduled event is committed).
 * The task joins its activity's queue (FIFO) with its token, made by the
 * core like a .waitForTaskToken's (registered in r->tokens by the
 * dispatch, so SendTaskSuccess/Failure/Heartbeat find it). A worker polling
 * takes the oldest task: ActivityStarted (its workerName) is fed to the
 * execution and committed, and only then does the worker get the token and
 * the input. A worker that goes away before that (its connection closed)
 * takes nothing: the task goes back to the head of the queue.
 *
 * A task whose execution ended (stopped, timed out, failed elsewhere) or
 * that was answered or timed out is dropped when it comes to the head of
 * the queue: no worker ever gets it.
 *
 * Durability: the queue is memory only. After a restart, recovery replays
 * each execution and dispatches again what it waits on, so every activity
 * task not answered yet is queued again with the same token, also one a
 * worker had taken before the crash (at least once: that worker's answer
 * still counts, and a second worker may get it too; the first answer wins,
 * the other gets TaskDoesNotExist). Its ActivityStarted is not written twice.
 *
 * Threading: the loop's.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "arn.h"
#include "run_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct act_task {
    char *exec_arn;
    uint64_t task;
    char *token;
    char *input;
    struct act_task *next;
} act_task;

typedef struct act_q act_q;

struct run_act_poll {
    run *r;
    act_q *q;
    char *worker;
    ev_timer *timer;
    run_act_cb *cb;
    void *ud;
    act_task *task;           /* handed over, waiting for the commit */
    int cancelled;
    struct run_act_poll *next, *prev;
};

struct act_q {
    char *arn;
    act_task *head, *tail;
    run_act_poll *ph, *pt;    /* pollers waiting, oldest first */
    int npoll;
};

struct run_acts {
    hmap qs;                  /* activity ARN -> act_q */
    int poll_ms;
};

static void task_free(act_task *t)
{
    if (t == NULL)
        return;
    free(t->exec_arn);
    free(t->token);
    free(t->input);
    free(t);
}

static void poll_unlink(run_act_poll *p)
{
    act_q *q = p->q;
    q->npoll--;
    if (p->prev)
        p->prev->next = p->next;
    else if (q->ph == p)
        q->ph = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else if (q->pt == p)
        q->pt = p->prev;
    p->next = p->prev = NULL;
}

static void poll_free(run_act_poll *p)
{
    if (p->timer)
        ev_timer_cancel(p->r->loop, p->timer);
    free(p->worker);
    free(p);
}

static act_q *q_get(run *r, const char *arn)
{
    run_acts *a = r->acts;
    act_q *q = hmap_get(&a->qs, arn);
    if (q)
        return q;
    q = calloc(1, sizeof *q);
    if (q == NULL || (q->arn = strdup(arn)) == NULL || hmap_put(&a->qs, q->arn, q) != 0) {
        if (q)
            free(q->arn);
        free(q);
        return NULL;
    }
    return q;
}

int run__act_init(run *r)
{
    r->acts = calloc(1, sizeof *r->acts);
    if (r->acts == NULL)
        return RUN_ENOMEM;
    r->acts->poll_ms = 60000; /* AWS holds GetActivityTask up to 60 s */
    const char *t = getenv("SFN_TEST_ACTIVITY_POLL_MS");
    if (t && atoi(t) > 0)
        r->acts->poll_ms = atoi(t);
    return 0;
}

static void q_free(void *v)
{
    act_q *q = v;
    for (act_task *t = q->head, *nx; t; t = nx) {
        nx = t->next;
        task_free(t);
    }
    for (run_act_poll *p = q->ph, *nx; p; p = nx) {
        nx = p->next;
        poll_free(p);
    }
    free(q->arn);
    free(q);
}

void run__act_stop(run *r)
{
    if (r->acts == NULL)
        return;
    hmap *m = &r->acts->qs;
    for (size_t i = 0; i < m->nb; i++)
        for (hent *h = m->b[i]; h; h = h->next) {
            act_q *q = h->val;
            while (q->ph) {
                run_act_poll *p = q->ph;
                poll_unlink(p);
                p->cb(p->ud, RUN_ESHUTDOWN, NULL, NULL);
                poll_free(p);
            }
        }
}

void run__act_free(run *r)
{
    if (r->acts == NULL)
        return;
    hmap_cleanup(&r->acts->qs, q_free);
    free(r->acts);
    r->acts = NULL;
}

/* ---- the rows ------------------------------------------------------------ */
int run_act_create(run *r, const char *name, char **arn_out, int64_t *created_ms, int *fresh)
{
    *arn_out = NULL;
    *fresh = 0;
    if (!run_name_valid(name))
        return RUN_EINVAL;
    char buf[512], *arn; /* a name is at most 80 characters */
    if (sfn_arn_states(buf, sizeof buf, r->region, r->account, "activity", name) < 0 ||
        (arn = strdup(buf)) == NULL)
        return RUN_ENOMEM;
    store_act old;
    int rc = store_act_get(r->st, arn, &old);
    if (rc == STORE_OK) {
        /* idempotent on the name: the first one's ARN and date (and tags) */
        *created_ms = old.created_ms;
        store_act_cleanup(&old);
        *arn_out = arn;
        return 0;
    }
    if (rc != STORE_ENOENT) {
        free(arn);
        return RUN_EDB;
    }
    if (r->unavail || run__begin(r, NULL) != 0) {
        free(arn);
        return RUN_EUNAVAIL;
    }
    store_act a = {.arn = arn, .name = (char *)name, .created_ms = ev_wall_ms()};
    if (store_act_put(r->st, &a) != STORE_OK) {
        run__txn_fail(r, "activity", 0);
        free(arn);
        return RUN_EUNAVAIL;
    }
    *created_ms = a.created_ms;
    *arn_out = arn;
    *fresh = 1;
    return 0;
}

int run_act_get(run *r, const char *arn, run_act *out)
{
    int rc = store_act_get(r->st, arn, out);
    return rc == STORE_OK ? 0 : rc == STORE_ENOENT ? RUN_ENOENT : RUN_EDB;
}

void run_act_cleanup(run_act *a)
{
    store_act_cleanup(a);
}

int run_act_list(run *r, long skip, long limit, int (*cb)(void *ctx, const run_act *a), void *ctx,
                 int *more)
{
    int rc = store_act_list(r->st, skip, limit, cb, ctx, more);
    return rc == STORE_EDB ? RUN_EDB : rc;
}

int run_act_delete(run *r, const char *arn)
{
    store_act old;
    int rc = store_act_get(r->st, arn, &old);
    if (rc == STORE_ENOENT)
        return 0; /* as AWS: deleting what is not there succeeds */
    if (rc != STORE_OK)
        return RUN_EDB;
    store_act_cleanup(&old);
    if (r->unavail || run__begin(r, NULL) != 0)
        return RUN_EUNAVAIL;
    if (store_act_delete(r->st, arn) != STORE_OK) {
        run__txn_fail(r, "activity", 0);
        return RUN_EUNAVAIL;
    }
    return 0;
}

int run_act_ensure(run *r, const char *name, const char *arn)
{
    store_act old;
    int rc = store_act_get(r->st, arn, &old);
    if (rc == STORE_OK) {
        store_act_cleanup(&old);
        return 0;
    }
    if (rc != STORE_ENOENT)
        return RUN_EDB;
    if (!run_name_valid(name))
        return RUN_EINVAL;
    if (r->unavail || run__begin(r, NULL) != 0)
        return RUN_EUNAVAIL;
    store_act a = {.arn = (char *)arn, .name = (char *)name, .created_ms = ev_wall_ms()};
    if (store_act_put(r->st, &a) != STORE_OK) {
        run__txn_fail(r, "activity", 0);
        return RUN_EUNAVAIL;
    }
    return 0;
}

/* ---- tasks and workers ------------------------------------------------------ */
/* Is t still a task its execution waits on? */
static rexec *task_live(run *r, const act_task *t)
{
    rexec *e = hmap_get(&r->execs, t->exec_arn);
    if (e == NULL || e->done || e->lost)
        return NULL;
    const asl_cmd *pend;
    size_t np = asl_exec_pending(e->x, &pend);
    for (size_t i = 0; i < np; i++)
        if (pend[i].kind == ASL_CMD_INVOKE && pend[i].id == t->task)
            return e;
    return NULL;
}

static void q_match(run *r, act_q *q);

static void handed(void *ud, int rc)
{
    run_act_poll *p = ud;
    run *r = p->r;
    act_q *q = p->q;
    act_task *t = p->task;
    p->task = NULL;
    if (p->timer) {
        ev_timer_cancel(r->loop, p->timer);
        p->timer = NULL;
    }
    if (p->cancelled || rc != 0) {
        /* the worker is gone (or the store took nothing): the task is
         * not swallowed; back to the head of the queue */
        t->next = q->head;
        q->head = t;
        if (q->tail == NULL)
            q->tail = t;
        if (!p->cancelled)
            p->cb(p->ud, rc, NULL, NULL);
        poll_free(p);
        q_match(r, q);
        return;
    }
    p->cb(p->ud, 0, t->token, t->input);
    task_free(t);
    poll_free(p);
}

/* Give the oldest live tasks to the oldest waiting workers. */
static void q_match(run *r, act_q *q)
{
    while (q->ph && q->head && !r->unavail) {
        act_task *t = q->head;
        q->head = t->next;
        if (q->head == NULL)
            q->tail = NULL;
        t->next = NULL;
        rexec *e = task_live(r, t);
        if (e == NULL) {
            task_free(t); /* its execution ended, or it was answered */
            continue;
        }
        run_act_poll *p = q->ph;
        poll_unlink(p);
        if (run_after_commit(r, handed, p) != 0) {
            /* no memory to wait for the commit: both stay where they were */
            q->npoll++;
            p->next = q->ph;
            if (q->ph)
                q->ph->prev = p;
            else
                q->pt = p;
            q->ph = p;
            t->next = q->head;
            q->head = t;
            if (q->tail == NULL)
                q->tail = t;
            return;
        }
        p->task = t;
        asl_input in = {.kind = ASL_IN_TASK_STARTED, .id = t->task, .now_ms = run__exec_now(e),
                        .cause = p->worker};
        run__exec_feed(r, e, &in);
    }
}

void run__act_schedule(run *r, const char *exec_arn, uint64_t task, const char *resource,
                       const char *payload, const char *token)
{
    rexec *e = hmap_get(&r->execs, exec_arn);
    if (e == NULL)
        return;
    store_act a;
    int rc = store_act_get(r->st, resource, &a);
    if (rc == STORE_ENOENT) {
        char cause[1200];
        snprintf(cause, sizeof cause, "Activity Does Not Exist: '%s'", resource);
        asl_input in = {.kind = ASL_IN_TASK_SCHEDULE_FAILED, .id = task,
                        .now_ms = run__exec_now(e), .error = "ActivityDoesNotExist",
                        .cause = cause};
        run__exec_feed(r, e, &in);
        return;
    }
    if (rc == STORE_OK)
        store_act_cleanup(&a);
    act_q *q = q_get(r, resource);
    act_task *t = calloc(1, sizeof *t);
    if (q == NULL || t == NULL || (t->exec_arn = strdup(exec_arn)) == NULL ||
        (t->token = strdup(token ? token : "")) == NULL ||
        (t->input = strdup(payload ? payload : "{}")) == NULL) {
        task_free(t);
        run__exec_lose(r, e, "activity task");
        return;
    }
    t->task = task;
    for (act_task *o = q->head; o; o = o->next)
        if (!strcmp(o->token, t->token)) {
            task_free(t); /* already queued (dispatched again) */
            return;
        }
    if (q->tail)
        q->tail->next = t;
    else
        q->head = t;
    q->tail = t;
    q_match(r, q);
}

static void on_poll_timeout(ev_loop *loop, ev_timer *tm, void *ud)
{
    (void)loop;
    (void)tm;
    run_act_poll *p = ud;
    p->timer = NULL;
    poll_unlink(p);
    p->cb(p->ud, 0, NULL, NULL);
    poll_free(p);
}

int run_act_pollers(run *r, const char *arn)
{
    act_q *q = hmap_get(&r->acts->qs, arn);
    return q ? q->npoll : 0;
}

run_act_poll *run_act_poll_start(run *r, const char *arn, const char *worker, run_act_cb *cb,
                                 void *ud)
{
    act_q *q = q_get(r, arn);
    run_act_poll *p = calloc(1, sizeof *p);
    if (q == NULL || p == NULL || (worker && (p->worker = strdup(worker)) == NULL)) {
        free(p);
        return NULL;
    }
    p->r = r;
    p->q = q;
    p->cb = cb;
    p->ud = ud;
    p->timer = ev_timer_add(r->loop, ev_now_ms() + r->acts->poll_ms, on_poll_timeout, p);
    if (p->timer == NULL) {
        free(p->worker);
        free(p);
        return NULL;
    }
    p->prev = q->pt;
    if (q->pt)
        q->pt->next = p;
    else
        q->ph = p;
    q->pt = p;
    q->npoll++;
    q_match(r, q);
    return p;
}

void run_act_poll_cancel(run_act_poll *p)
{
    if (p->task) {
        p->cancelled = 1; /* handed() puts the task back */
        return;
    }
    poll_unlink(p);
    poll_free(p);
}
