/*
 * run_avail.c - a store that cannot take writes (see run.h): the iteration's transaction
 * marked bad, rolled back, its executions set aside (lost, then reaped into
 * r->susp), writes refused until a probe write commits, then the set-aside
 * executions rebuilt; and retention, which deletes in the same transaction.
 *
 * Must not: write outside the iteration's transaction (the probe, which
 * runs only when none is open, excepted).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "run_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- when the store cannot take a write ------------------------------------
 * The store is the truth: nothing is acted on before it is committed. When
 * a write of this iteration's transaction fails (disk full, I/O error) or
 * memory runs out while one is made, the transaction is marked bad; at the
 * flush it is rolled back instead of committed (SQLite may have rolled it
 * back already), every execution it wrote for is set aside (lost, then
 * reaped into r->susp) and what was queued for it is dropped; the replies
 * queued with run_after_commit learn that it failed. Then writes are
 * refused until a probe write commits (run.h). */
#define PROBE_MAX_MS 5000


static void on_probe(ev_loop *loop, ev_timer *t, void *ud);

void run__set_unavailable(run *r)
{
    if (!r->unavail) {
        r->unavail = 1;
        r->probe_ms = r->probe_min_ms;
        /* printed even with --quiet: the service has stopped writing */
        fprintf(stderr,
                "sfnd: warning: the store takes no writes (%s); executions are set aside and "
                "writes refused until it does\n",
                r->why);
    }
    if (r->probe_timer == NULL && !r->draining)
        r->probe_timer = ev_timer_add(r->loop, ev_now_ms() + r->probe_ms, on_probe, r);
}

/* A write of the current transaction failed (oom: memory ran out making
 * it); later writes of the transaction are skipped. */
void run__txn_fail(run *r, const char *what, int oom)
{
    if (r->txn_bad)
        return;
    r->txn_bad = 1;
    snprintf(r->why, sizeof r->why, "%s: %s", what, oom ? "out of memory" : store_errmsg(r->st));
}

/* Set one execution aside: what it needs next (a timer, an invocation, a
 * write) cannot be made now. Its durable state is the store's. */
void run__exec_lose(run *r, rexec *e, const char *what)
{
    if (!e->lost) {
        e->lost = 1;
        r->nlost = 1;
    }
    if (!r->unavail)
        snprintf(r->why, sizeof r->why, "%s: out of memory", what);
    run__set_unavailable(r);
}

/* A step of e could not be written or its output made: for a Standard
 * execution the transaction fails, an Express one is lost. */
void run__step_fail(run *r, rexec *e, const char *what)
{
    if (e->express)
        run__exec_lose(r, e, what);
    else
        run__txn_fail(r, what, 1);
}

void run__txn_rolled_back(run *r)
{
    r->stats.rollbacks++;
    for (size_t i = 0; i < r->execs.nb; i++) {
        for (hent *h = r->execs.b[i]; h; h = h->next) {
            rexec *e = h->val;
            if (e->express || e->txn != r->gen)
                continue;
            if (e->born == r->gen)
                e->lost = 2;
            else if (!e->lost)
                e->lost = 1;
            r->nlost = 1;
        }
    }
    run__set_unavailable(r);
}

/* Take e (out of r->execs) aside: its waiters wait in r->susp for it to
 * be rebuilt, or learn now that it will not go on here (Express, or never
 * stored). */
static void set_aside(run *r, rexec *e)
{
    waiter *w = e->waiters;
    e->waiters = NULL;
    susp *s = NULL;
    if (!e->express && e->lost == 1 && (s = calloc(1, sizeof *s)) != NULL &&
        (s->arn = strdup(e->arn)) != NULL) {
        s->id = e->id;
        s->waiters = w;
        s->next = r->susp;
        r->susp = s;
        r->nsusp++;
    } else {
        if (s) {
            free(s);
            /* still RUNNING in the store: the next start resumes it */
            fprintf(stderr, "sfnd: warning: %s resumes at the next start (out of memory)\n",
                    e->arn);
        }
        for (waiter *nx; w; w = nx) {
            nx = w->next;
            w->cb(w->ud, RUN_EUNAVAIL, NULL);
            free(w);
        }
    }
    run__exec_free(r, e);
}

void run__reap_lost(run *r)
{
    r->nlost = 0;
    for (size_t i = 0; i < r->execs.nb; i++) {
        for (hent **p = &r->execs.b[i]; *p;) {
            hent *h = *p;
            rexec *e = h->val;
            if (!e->lost) {
                p = &h->next;
                continue;
            }
            *p = h->next;
            free(h->key);
            free(h);
            r->execs.n--;
            set_aside(r, e);
        }
    }
}


static void resume_suspended(run *r)
{
    susp *l = r->susp;
    r->susp = NULL;
    r->nsusp = 0;
    int n = 0;
    for (susp *s = l, *nx; s; s = nx) {
        nx = s->next;
        char err[512] = "";
        rexec *e = NULL;
        int rc = r->unavail ? RUN_EUNAVAIL : run__recover_one(r, s->id, &e, err, sizeof err);
        if (rc == 0) {
            waiter **tail = &s->waiters;
            while (*tail)
                tail = &(*tail)->next;
            *tail = e->waiters;
            e->waiters = s->waiters;
            n++;
        } else if (rc == RUN_EINVAL) {
            logf_(r, "cannot resume %s: %s", s->arn, err);
            for (waiter *w = s->waiters, *wn; w; w = wn) {
                wn = w->next;
                w->cb(w->ud, RUN_EUNAVAIL, NULL);
                free(w);
            }
        } else {
            s->next = r->susp; /* memory or the store again: keep it */
            r->susp = s;
            r->nsusp++;
            if (!r->unavail) {
                snprintf(r->why, sizeof r->why, "resume: %s", err[0] ? err : "out of memory");
                run__set_unavailable(r);
            }
            continue;
        }
        free(s->arn);
        free(s);
    }
    if (n)
        fprintf(stderr, "sfnd: the store takes writes again: %d execution(s) resumed\n", n);
}

static void on_probe(ev_loop *loop, ev_timer *t, void *ud)
{
    (void)t;
    run *r = ud;
    r->probe_timer = NULL;
    if (r->draining || !r->unavail)
        return;
    if (store_in_txn(r->st) || store_probe(r->st) != STORE_OK) {
        r->probe_ms = r->probe_ms * 2 > PROBE_MAX_MS ? PROBE_MAX_MS : r->probe_ms * 2;
        r->probe_timer = ev_timer_add(loop, ev_now_ms() + r->probe_ms, on_probe, r);
        return;
    }
    r->unavail = 0;
    if (r->susp == NULL)
        fprintf(stderr, "sfnd: the store takes writes again\n");
    resume_suspended(r);
}

int run_available(const run *r, const char **why)
{
    if (why)
        *why = r->unavail ? r->why : NULL;
    return !r->unavail;
}

/* ---- retention ----------------------------------------------------------- */
/* Executions that ended more than retention_ms ago go, RETAIN_BATCH at a
 * time inside the iteration's transaction (the loop owns the writes: a
 * second writer would make the group commit wait on it), so each slice
 * costs the loop a few milliseconds at most. After a full batch the next
 * comes soon (a backlog drains at ~200 per RETAIN_BUSY_MS), else after
 * RETAIN_IDLE_MS. */
#define RETAIN_BATCH 200
#define RETAIN_BUSY_MS 50

void run__on_retention(ev_loop *loop, ev_timer *t, void *ud)
{
    (void)t;
    run *r = ud;
    r->retain_timer = NULL;
    if (r->draining)
        return;
    int n = 0;
    if (r->unavail) {
        /* deleting takes writes too; wait */
    } else if (run__begin(r, NULL) == 0 &&
               store_exec_expire(r->st, ev_wall_ms() - r->retention_ms, RETAIN_BATCH, &n) !=
                   STORE_OK) {
        /* SQLite may have rolled back all the transaction held */
        logf_(r, "retention: removing ended executions failed: %s (retried later)",
              store_errmsg(r->st));
        run__txn_fail(r, "retention", 0);
        n = 0;
    }
    r->stats.expired += (uint64_t)n;
    int64_t delay = n == RETAIN_BATCH ? RETAIN_BUSY_MS : RETAIN_IDLE_MS;
    r->retain_timer = ev_timer_add(loop, ev_now_ms() + delay, run__on_retention, r);
}
