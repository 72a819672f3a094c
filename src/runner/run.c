/*
 * run.c - the runner (see run.h): step -> persist -> dispatch; recovery.
 *
 * The one rule this file exists to keep: nothing an execution step decided
 * leaves the process (a Lambda invocation, a timer, a reply) before the
 * events of that step are committed. Steps write into the store's open
 * transaction; run_flush (the loop's before-sleep hook) commits, then runs
 * the queue of deferred actions. If a commit fails, the transaction is
 * rolled back and what it held set aside until the store takes writes
 * again (run_avail.c): the store is the truth.
 *
 * Must not: block, parse HTTP, invent history (only the core makes events).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "run_int.h"
#include "run_meta.h"
#include "run_mock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------ */
void run__log(run *r, const char *fmt, ...)
{
    if (r->quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("sfnd: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

uint64_t run__rng(run *r)
{
    return sfn_rng_next(&r->rng);
}

void run__uuid(run *r, char out[37])
{
    sfn_uuid4(&r->rng, out);
}

static int queue(run *r, void (*fn)(run *, void *), void *arg)
{
    if (r->nq == r->capq) {
        size_t cap = r->capq ? r->capq * 2 : 256;
        action *q = realloc(r->q, cap * sizeof *q);
        if (q == NULL)
            return RUN_ENOMEM;
        r->q = q;
        r->capq = cap;
    }
    r->q[r->nq].fn = fn;
    r->q[r->nq].arg = arg;
    r->nq++;
    return 0;
}

/* Open the iteration's transaction (if it is not) for writes made for e
 * (NULL: for no execution). Returns 0, or -1 when the transaction is bad:
 * write nothing. */
int run__begin(run *r, rexec *e)
{
    if (!r->txn_bad && store_begin(r->st) != STORE_OK)
        run__txn_fail(r, "run__begin", 0);
    if (e)
        e->txn = r->gen;
    return r->txn_bad ? -1 : 0;
}

int64_t run__exec_now(rexec *e)
{
    int64_t now = ev_wall_ms();
    if (now < e->last_now)
        now = e->last_now;
    e->last_now = now;
    return now;
}

/* JSON text in AWS's form (what the API returns is what we keep). */
char *run__dumps(const json_t *j)
{
    return jtext_dup(j);
}

static void act_dispatch(run *r, void *arg);
static void check_drain(run *r);

/* ---- execution lifetime -------------------------------------------------- */
void run__exec_free(run *r, rexec *e)
{
    for (tslot *s = e->timers, *nx; s; s = nx) {
        nx = s->next;
        ev_timer_cancel(r->loop, s->t);
        free(s);
    }
    for (size_t i = 0; i < e->ntokens; i++) {
        tokref *t = hmap_del(&r->tokens, e->tokens[i]);
        if (t) {
            free(t->arn);
            free(t);
        }
        free(e->tokens[i]);
    }
    free(e->tokens);
    asl_exec_free(e->x);
    run__mock_exec_free(e->mock);
    free(e->out_text);
    free(e->arn);
    free(e);
}

static void fill_result(rexec *e, run_result *res)
{
    int st = asl_exec_status(e->x);
    if (e->out_text == NULL && asl_exec_output_get(e->x) != NULL)
        e->out_text = run__dumps(asl_exec_output_get(e->x));
    res->arn = e->arn;
    res->status = st;
    res->output = e->out_text;
    res->error = asl_exec_error(e->x);
    res->cause = asl_exec_cause(e->x);
    res->start_ms = 0;
    res->stop_ms = asl_exec_stop_ms(e->x);
}

/* After commit: tell the waiters, forget the execution. */
static void act_finish(run *r, void *arg)
{
    char *arn = arg;
    rexec *e = hmap_get(&r->execs, arn);
    if (e == NULL || e->lost) {
        free(arn); /* set aside: it ends again once rebuilt */
        return;
    }
    hmap_del(&r->execs, arn);
    free(arn);
    run_result res;
    fill_result(e, &res);
    for (waiter *w = e->waiters, *nx; w; w = nx) {
        nx = w->next;
        w->cb(w->ud, 0, &res);
        free(w);
    }
    r->stats.finished++;
    run__exec_free(r, e);
}

static void dispatch_free(dispatch *d)
{
    free(d->arn);
    free(d->function);
    free(d->resource);
    free(d->payload);
    free(d->token);
    free(d);
}


/* Write what the last start/feed produced, and queue its commands. in:
 * the input that caused the step (NULL: none), written in the row of the
 * step's events, or alone when the step made none. */
void run__exec_after_step(run *r, rexec *e, const asl_cmd *cmds, size_t ncmds,
                            const store_input *in)
{
    size_t n = asl_exec_event_count(e->x);
    if (!e->express && n > e->nev_saved) {
        /* the step's events as one row, joined by '\n' */
        jtext *b = &r->tb;
        jtext_reset(b);
        if (run__begin(r, e) != 0) {
            /* the transaction failed: e is set aside at the flush */
        } else if (asl_exec_events_write_log(e->x, e->nev_saved, n, b) != SFN_OK) {
            run__txn_fail(r, "event encoding", 1); /* oom included */
        } else if (store_step_append(r->st, e->id, (int64_t)e->nev_saved + 1, (int64_t)n, b->p,
                                     b->n, in) != STORE_OK) {
            run__txn_fail(r, "event append", 0);
        }
        r->stats.events += n - e->nev_saved;
        if (b->cap > 1 << 20)
            jtext_cleanup(b); /* do not keep a huge buffer for ever */
    } else if (in && run__begin(r, e) == 0 && store_input_append(r->st, e->id, in) != STORE_OK) {
        run__txn_fail(r, "input append", 0);
    }
    e->nev_saved = n;
    if (!e->express)
        run__map_runs_save(r, e); /* run_meta.c: none, most of the time */
    int st = asl_exec_status(e->x);
    if (st != ASL_RUNNING && !e->done) {
        e->done = 1;
        json_t *out = asl_exec_output_get(e->x);
        free(e->out_text);
        const char *ot;
        size_t otn;
        /* the text the terminal event just carried, if it did, else made */
        if (out && asl_exec_output_log_text(e->x, &ot, &otn) == 0)
            e->out_text = strndup(ot, otn);
        else
            e->out_text = out ? run__dumps(out) : NULL;
        if (out && e->out_text == NULL)
            run__step_fail(r, e, "output encoding");
        if (!e->express && run__begin(r, e) == 0) {
            if (store_exec_set_status(r->st, e->id, st, asl_exec_stop_ms(e->x), e->out_text,
                                      asl_exec_error(e->x), asl_exec_cause(e->x)) != STORE_OK)
                run__txn_fail(r, "status update", 0);
            /* the rules' executions start in this same transaction */
            else if (run__svc_has_rules(r->svc))
                run__svc_status(r->svc, e->arn, st);
            run__ver_exec_ended(r, e->arn);
        }
        char *arn = strdup(e->arn);
        if (arn == NULL || queue(r, act_finish, arn) != 0) {
            free(arn);
            run__step_fail(r, e, "queue");
        }
        return;
    }
    if (e->mock && run__mock_issue(e->mock, cmds, ncmds) != 0) {
        run__step_fail(r, e, "mock");
        return;
    }
    for (size_t i = 0; i < ncmds; i++) {
        const asl_cmd *c = &cmds[i];
        dispatch *d = calloc(1, sizeof *d);
        if (d == NULL) {
            run__step_fail(r, e, "queue");
            return;
        }
        d->arn = strdup(e->arn);
        d->kind = c->kind;
        d->id = c->id;
        d->function = c->function ? strdup(c->function) : NULL;
        d->resource = c->resource ? strdup(c->resource) : NULL;
        d->payload = c->payload ? run__dumps(c->payload) : strdup("{}");
        d->token = c->token ? strdup(c->token) : NULL;
        d->wait_for_token = c->wait_for_token;
        d->timeout_s = c->timeout_s;
        d->due_ms = c->due_ms;
        if (d->arn == NULL || (c->function && d->function == NULL) ||
            (c->resource && d->resource == NULL) || d->payload == NULL ||
            (c->token && d->token == NULL) || queue(r, act_dispatch, d) != 0) {
            dispatch_free(d);
            run__step_fail(r, e, "queue");
            return;
        }
    }
}

/* Feed one input; log it (with its events) only if the core took it.
 * result_text: in->result as text when the caller has it (the text it
 * was parsed from: replay parses it back to the same value), else NULL. */
static void exec_feed_text(run *r, rexec *e, const asl_input *in, const char *result_text)
{
    if (e->done || e->lost)
        return;
    if (!e->express && r->unavail) {
        /* the store takes no writes: what came is dropped, the execution
         * set aside; it is rebuilt from the store and asks again */
        run__exec_lose(r, e, "feed");
        return;
    }
    int rc = asl_exec_feed(e->x, in);
    if (rc != SFN_OK)
        return; /* a late duplicate, a stale timer, or already ended */
    char *result = NULL;
    store_input si = {0};
    if (!e->express) {
        run__begin(r, e);
        result = in->result && result_text == NULL ? run__dumps(in->result) : NULL;
        if (in->result && result_text == NULL && result == NULL)
            run__txn_fail(r, "input encoding", 1);
        si = (store_input){.seq = e->next_seq, .kind = in->kind, .id = in->id,
                           .now_ms = in->now_ms, .result = result ? result : result_text,
                           .error = in->error, .cause = in->cause};
        e->next_seq++;
        r->stats.inputs++;
    }
    const asl_cmd *cmds;
    size_t n = asl_exec_cmds(e->x, &cmds);
    run__exec_after_step(r, e, cmds, n, e->express ? NULL : &si);
    free(result);
}

void run__exec_feed(run *r, rexec *e, const asl_input *in)
{
    exec_feed_text(r, e, in, NULL);
}

/* ---- timers ------------------------------------------------------------- */
static void on_timer(ev_loop *loop, ev_timer *t, void *ud)
{
    (void)loop;
    (void)t;
    tslot *s = ud;
    rexec *e = s->e;
    run *r = s->r;
    for (tslot **p = &e->timers; *p; p = &(*p)->next) {
        if (*p == s) {
            *p = s->next;
            break;
        }
    }
    uint64_t id = s->id;
    int64_t due = s->due_ms;
    free(s);
    if (r->draining)
        return; /* stays pending in the store; re-armed at the next start */
    int64_t now = run__exec_now(e);
    if (now < due) {
        /* time_scale fired it early: to the execution, the deadline has come */
        now = due;
        e->last_now = due;
    }
    asl_input in = {.kind = ASL_IN_TIMER, .id = id, .now_ms = now};
    run__exec_feed(r, e, &in);
}

static void arm_timer(run *r, rexec *e, uint64_t id, int64_t due_ms)
{
    /* from the execution's clock, which a scaled timer may have moved
     * ahead of the wall clock (it fired early: to the execution, its
     * deadline had come); from the wall clock, every later timer would
     * also wait out that lead, scaled down only once */
    int64_t now = run__exec_now(e);
    int64_t delay = due_ms > now ? due_ms - now : 0;
    if (r->scale > 1.0)
        delay = (int64_t)((double)delay / r->scale);
    tslot *s = calloc(1, sizeof *s);
    if (s == NULL || (s->t = ev_timer_add(r->loop, ev_now_ms() + delay, on_timer, s)) == NULL) {
        free(s);
        run__exec_lose(r, e, "timer");
        return;
    }
    s->r = r;
    s->e = e;
    s->id = id;
    s->due_ms = due_ms;
    s->next = e->timers;
    e->timers = s;
}

/* ---- Lambda ------------------------------------------------------------- */

json_t *run__lambda_answer(run *r, const lam_result *res, const char **error, const char **cause,
                           const char **text)
{
    *text = NULL;
    if (res->status != LAM_OK) {
        *error = res->error_type ? res->error_type : "Lambda.Unknown";
        *cause = res->body ? res->body : "";
        return NULL;
    }
    json_error_t je;
    json_t *out = fjson_loadb(res->body, res->len, JSON_DECODE_ANY, &je, &r->fj);
    /* parsed: the text as it came (a replay parses it the same way); not
     * JSON: the core gets it as a string */
    *text = out && strlen(res->body) == res->len ? res->body : NULL;
    if (out == NULL)
        out = json_stringn(res->body, res->len);
    if (out == NULL)
        out = json_null();
    return out;
}

static void on_lambda(void *ud, const lam_result *res)
{
    inv *v = ud;
    run *r = v->r;
    r->inflight--;
    rexec *e = hmap_get(&r->execs, v->arn);
    if (e != NULL && !e->done && !r->ignore_results && res->status == LAM_OK && v->wait_for_token) {
        /* .waitForTaskToken: the invocation hands the token over; what the
         * function returned is the task's TaskSubmitted */
        asl_input in = {.kind = ASL_IN_TASK_SUBMITTED, .id = v->task, .now_ms = run__exec_now(e)};
        const char *text;
        in.result = run__lambda_answer(r, res, &in.error, &in.cause, &text);
        if (in.result != NULL) {
            exec_feed_text(r, e, &in, text);
            json_decref(in.result);
        }
    } else if (e != NULL && !e->done && !r->ignore_results) {
        asl_input in = {.id = v->task, .now_ms = run__exec_now(e)};
        const char *text;
        json_t *out = run__lambda_answer(r, res, &in.error, &in.cause, &text);
        if (out != NULL) {
            in.kind = ASL_IN_TASK_SUCCEEDED;
            in.result = out;
            exec_feed_text(r, e, &in, text); /* logged as the text it came as */
            json_decref(out);
        } else {
            in.kind = ASL_IN_TASK_FAILED;
            run__exec_feed(r, e, &in);
        }
    }
    free(v->arn);
    free(v);
    check_drain(r);
}

static void fail_task(run *r, rexec *e, uint64_t task, const char *error, const char *cause)
{
    asl_input in = {.kind = ASL_IN_TASK_FAILED, .id = task, .now_ms = run__exec_now(e),
                    .error = error, .cause = cause};
    run__exec_feed(r, e, &in);
}

/* A Task whose resource is not a Lambda function: the integrations of
 * run_tasks.c, or the token's sender (an activity-like .waitForTaskToken),
 * or States.Runtime. */
static void invoke_service(run *r, rexec *e, dispatch *d)
{
    const char *res = d->resource ? d->resource : "";
    if (!strncmp(res, "arn:aws:states:", 15) && strstr(res, ":activity:")) {
        run__act_schedule(r, e->arn, d->id, res, d->payload, d->token); /* run_act.c */
        return;
    }
    run_svc_task t = {.exec_arn = e->arn, .task = d->id, .resource = d->resource,
                      .payload = d->payload, .wait_for_token = d->wait_for_token,
                      .timeout_s = d->timeout_s};
    run_svc_out o = {0};
    switch (run__svc_call(r->svc, &t, &o)) {
    case RUN_SVC_DONE: {
        asl_input in = {.kind = ASL_IN_TASK_SUCCEEDED, .id = d->id, .now_ms = run__exec_now(e),
                        .result = o.result};
        run__exec_feed(r, e, &in);
        json_decref(o.result);
        return;
    }
    case RUN_SVC_FAILED:
        fail_task(r, e, d->id, o.error, o.cause);
        return;
    case RUN_SVC_PENDING:
        if (o.result != NULL) { /* the submitting call's response */
            asl_input in = {.kind = ASL_IN_TASK_SUBMITTED, .id = d->id, .now_ms = run__exec_now(e),
                            .result = o.result};
            run__exec_feed(r, e, &in);
            json_decref(o.result);
        }
        return;
    default:
        break;
    }
    if (d->wait_for_token)
        return; /* someone else delivers the token */
    char cause[512];
    snprintf(cause, sizeof cause, "The resource '%s' is not provided by the local engine",
             d->resource ? d->resource : "");
    fail_task(r, e, d->id, "States.Runtime", cause);
}

static void invoke(run *r, rexec *e, dispatch *d)
{
    if (e->mock && run__mock_invoke(r, e, d))
        return; /* a mocked state: answered in the engine */
    if (d->function == NULL) {
        invoke_service(r, e, d);
        return;
    }
    inv *v = calloc(1, sizeof *v);
    if (v == NULL || (v->arn = strdup(e->arn)) == NULL) {
        free(v);
        run__exec_lose(r, e, "invoke");
        return;
    }
    v->r = r;
    v->task = d->id;
    v->wait_for_token = d->wait_for_token;
    char rid[37];
    int rc = r->lam ? lam_invoke(r->lam, d->function, d->payload, strlen(d->payload), on_lambda,
                                 v, rid)
                    : LAM_ENOTFOUND;
    if (rc == 0) {
        r->inflight++;
        r->stats.invokes++;
        if (r->dup_invokes) {
            inv *w = calloc(1, sizeof *w);
            if (w && (w->arn = strdup(e->arn)) != NULL) {
                *w = (inv){.r = r, .arn = w->arn, .task = d->id, .wait_for_token = d->wait_for_token};
                if (lam_invoke(r->lam, d->function, d->payload, strlen(d->payload), on_lambda, w, rid) == 0)
                    r->inflight++;
                else {
                    free(w->arn);
                    free(w);
                }
            } else {
                free(w);
            }
        }
        return;
    }
    free(v->arn);
    free(v);
    if (rc == -ESHUTDOWN)
        return; /* stays pending; re-invoked at the next start */
    char error[64], cause[1024];
    run__lambda_refusal(r, d->function, rc, error, sizeof error, cause, sizeof cause);
    fail_task(r, e, d->id, error, cause);
}

void run__lambda_refusal(run *r, const char *function, int rc, char *error, size_t elen, char *cause,
                         size_t clen)
{
    char req[37], arn[512];
    run__uuid(r, req);
    if (rc == LAM_ENOTFOUND) {
        if (strncmp(function, "arn:", 4) == 0 || r->lam == NULL)
            snprintf(arn, sizeof arn, "%s", function);
        else
            lam_arn_format(r->lam, function, arn, sizeof arn);
        /* AWS names the version it looked for: unqualified means $LATEST */
        int colons = 0;
        for (const char *p = arn; *p; p++)
            colons += *p == ':';
        if (colons == 6 && strlen(arn) + 9 < sizeof arn)
            strcat(arn, ":$LATEST");
        snprintf(cause, clen,
                 "Function not found: %s (Service: AWSLambda; Status Code: 404; Error Code: "
                 "ResourceNotFoundException; Request ID: %s; Proxy: null)",
                 arn, req);
        snprintf(error, elen, "Lambda.ResourceNotFoundException");
    } else if (rc == LAM_ETOOLARGE) {
        snprintf(cause, clen,
                 "Request must be smaller than 6291456 bytes for the InvokeFunction operation "
                 "(Service: AWSLambda; Status Code: 413; Error Code: "
                 "RequestEntityTooLargeException; Request ID: %s; Proxy: null)",
                 req);
        snprintf(error, elen, "Lambda.RequestEntityTooLargeException");
    } else {
        snprintf(cause, clen,
                 "Service error (Service: AWSLambda; Status Code: 500; Error Code: "
                 "ServiceException; Request ID: %s; Proxy: null)",
                 req);
        snprintf(error, elen, "Lambda.ServiceException");
    }
}

static void act_dispatch(run *r, void *arg)
{
    dispatch *d = arg;
    rexec *e = hmap_get(&r->execs, d->arn);
    if (e == NULL || e->done || e->lost || r->draining)
        goto out;
    if (d->kind == ASL_CMD_TIMER) {
        arm_timer(r, e, d->id, d->due_ms);
    } else if (d->kind == ASL_CMD_INVOKE) {
        if (d->token) {
            tokref *t = calloc(1, sizeof *t);
            char **nt = realloc(e->tokens, (e->ntokens + 1) * sizeof *nt);
            if (nt)
                e->tokens = nt;
            char *tok = strdup(d->token);
            if (t == NULL || nt == NULL || tok == NULL || (t->arn = strdup(e->arn)) == NULL) {
                free(t);
                free(tok);
                run__exec_lose(r, e, "token");
                goto out;
            }
            t->task = d->id;
            tokref *had = hmap_get(&r->tokens, d->token);
            if (had && !strcmp(had->arn, e->arn))
                had->task = d->id; /* a retry of the state: the same token, a new task */
            if (had == NULL && hmap_put(&r->tokens, d->token, t) == 0) {
                e->tokens[e->ntokens++] = tok;
            } else {
                free(tok);
                free(t->arn);
                free(t);
            }
        }
        invoke(r, e, d);
    }
out:
    dispatch_free(d);
}

/* ---- the hook ------------------------------------------------------------ */
/* The transaction failed and is rolled back: the executions it wrote for
 * are set aside (2: its insert is undone, the execution never was). */
void run_flush(run *r)
{
    for (;;) {
        int rc = 0;
        if (store_in_txn(r->st) || r->txn_bad) {
            r->ncommits++;
            if (r->crash_before && r->ncommits == r->crash_before)
                kill(getpid(), SIGKILL);
            if (!r->txn_bad && store_commit(r->st) != STORE_OK)
                run__txn_fail(r, "commit", 0);
            if (r->txn_bad) {
                store_rollback(r->st);
                run__txn_rolled_back(r);
                rc = RUN_EUNAVAIL;
            } else {
                r->stats.commits++;
                if (r->crash_after && r->ncommits == r->crash_after)
                    kill(getpid(), SIGKILL);
            }
            r->gen++;
            r->txn_bad = 0;
        }
        if (r->nq == 0)
            break;
        action *q = r->q;
        size_t n = r->nq;
        r->q = NULL;
        r->nq = r->capq = 0;
        for (size_t i = 0; i < n; i++) {
            r->flush_rc = rc;
            q[i].fn(r, q[i].arg);
        }
        free(q);
    }
    if (r->nlost)
        run__reap_lost(r);
    if (r->unavail && r->probe_timer == NULL && !r->draining)
        run__set_unavailable(r); /* the probe timer could not be armed before */
}

static void before_sleep(ev_loop *loop, void *ud)
{
    (void)loop;
    run_flush(ud);
}

static void act_cb(run *r, void *arg)
{
    cb_item *c = arg;
    c->cb(c->ud, r->flush_rc);
    free(c);
}

int run_after_commit(run *r, void (*cb)(void *ud, int rc), void *ud)
{
    cb_item *c = malloc(sizeof *c);
    if (c == NULL)
        return RUN_ENOMEM;
    c->cb = cb;
    c->ud = ud;
    if (queue(r, act_cb, c) != 0) {
        free(c);
        return RUN_ENOMEM;
    }
    return 0;
}

/* ---- create / free ------------------------------------------------------- */
run *run_create(const run_opts *o)
{
    run *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->loop = o->loop;
    r->st = o->st;
    r->lam = o->lam;
    r->region = strdup(o->region ? o->region : "us-east-1");
    r->account = strdup(o->account ? o->account : "123456789012");
    r->scale = o->time_scale >= 1.0 ? o->time_scale : 1.0;
    r->quiet = o->quiet;
    r->rng.s = sfn_rng_seed();
    r->gen = 1;
    r->probe_min_ms = o->probe_ms > 0 ? o->probe_ms : PROBE_MIN_MS;
    r->svc = run__svc_create(r, r->st, o->data_dir, r->region, r->account);
    if (r->svc == NULL || run__act_init(r) != 0) {
        run__svc_free(r->svc);
        free(r->acts);
        free(r->region);
        free(r->account);
        free(r);
        return NULL;
    }
    const char *h;
    if ((h = getenv("SFN_TEST_CRASH_AFTER_COMMIT")) != NULL)
        r->crash_after = strtol(h, NULL, 10);
    if ((h = getenv("SFN_TEST_CRASH_BEFORE_COMMIT")) != NULL)
        r->crash_before = strtol(h, NULL, 10);
    if ((h = getenv("SFN_TEST_DUPLICATE_INVOKES")) != NULL)
        r->dup_invokes = atoi(h) != 0;
    if (r->region == NULL || r->account == NULL) {
        free(r->region);
        free(r->account);
        free(r);
        return NULL;
    }
    ev_set_before_sleep(r->loop, before_sleep, r);
    r->retention_ms = o->retention_ms > 0 ? o->retention_ms : 0;
    if (r->retention_ms > 0)
        r->retain_timer = ev_timer_add(r->loop, ev_now_ms() + RETAIN_IDLE_MS, run__on_retention, r);
    return r;
}

static void free_machine(void *m)
{
    asl_machine_free(m);
}

static void free_tokref(void *p)
{
    tokref *t = p;
    free(t->arn);
    free(t);
}

void run_free(run *r)
{
    if (r == NULL)
        return;
    ev_set_before_sleep(r->loop, NULL, NULL);
    if (r->drain_timer)
        ev_timer_cancel(r->loop, r->drain_timer);
    if (r->retain_timer)
        ev_timer_cancel(r->loop, r->retain_timer);
    if (r->probe_timer)
        ev_timer_cancel(r->loop, r->probe_timer);
    for (susp *s = r->susp, *nx; s; s = nx) {
        nx = s->next;
        for (waiter *w = s->waiters, *wn; w; w = wn) {
            wn = w->next;
            w->cb(w->ud, RUN_ESHUTDOWN, NULL);
            free(w);
        }
        free(s->arn);
        free(s);
    }
    r->susp = NULL;
    /* Waiters learn that their execution will not end here; their
     * replies (queued below) and any reply still queued go out now: the
     * caller drained (committed) before freeing. */
    for (size_t i = 0; i < r->execs.nb; i++) {
        for (hent *h = r->execs.b[i]; h; h = h->next) {
            rexec *e = h->val;
            for (waiter *w = e->waiters, *nx; w; w = nx) {
                nx = w->next;
                w->cb(w->ud, RUN_ESHUTDOWN, NULL);
                free(w);
            }
            e->waiters = NULL;
        }
    }
    run__fn_cancel_all(r); /* TestState's invocations: their replies too */
    run__act_stop(r);      /* workers waiting on activities: their replies too */
    while (r->nq > 0) {
        action *q = r->q;
        size_t n = r->nq;
        r->q = NULL;
        r->nq = r->capq = 0;
        r->flush_rc = 0;
        for (size_t i = 0; i < n; i++) {
            if (q[i].fn == act_cb)
                act_cb(r, q[i].arg);
            else if (q[i].fn == act_dispatch)
                dispatch_free(q[i].arg);
            else
                free(q[i].arg); /* act_finish: its ARN */
        }
        free(q);
    }
    free(r->q);
    /* run__exec_free removes tokens from r->tokens; free execs first */
    for (size_t i = 0; i < r->execs.nb; i++)
        for (hent *h = r->execs.b[i]; h; h = h->next)
            run__exec_free(r, h->val);
    hmap_cleanup(&r->execs, NULL);
    hmap_cleanup(&r->tokens, free_tokref);
    hmap_cleanup(&r->machines, free_machine);
    run__act_free(r);
    run__svc_free(r->svc);
    asl_mock_free(r->mock);
    jtext_cleanup(&r->tb);
    fjson_buf_free(&r->fj);
    free(r->region);
    free(r->account);
    free(r);
}

/* ---- machines ------------------------------------------------------------ */
void run_machine_adopt(run *r, int64_t def_id, asl_machine *m)
{
    char key[32];
    snprintf(key, sizeof key, "%lld", (long long)def_id);
    if (m == NULL || hmap_get(&r->machines, key) != NULL || hmap_put(&r->machines, key, m) != 0)
        asl_machine_free(m); /* compiled again on first use */
}

int run_machine_get(run *r, int64_t def_id, const asl_machine **out, asl_diags *diags)
{
    char key[32];
    snprintf(key, sizeof key, "%lld", (long long)def_id);
    asl_machine *m = hmap_get(&r->machines, key);
    if (m) {
        *out = m;
        return 0;
    }
    char *text = NULL;
    int type = 0;
    int rc = store_def_get(r->st, def_id, &text, &type);
    if (rc == STORE_ENOENT)
        return RUN_ENOENT;
    if (rc != STORE_OK)
        return RUN_EDB;
    asl_diags d;
    rc = asl_machine_compile_text(text, strlen(text), type, &m, diags ? diags : &d);
    if (rc == SFN_EINVAL) {
        /* It compiled when it was stored: failing now is memory (jansson
         * reports an allocation that failed as a syntax error). Once more. */
        rc = asl_machine_compile_text(text, strlen(text), type, &m, diags ? diags : &d);
    }
    free(text);
    if (rc == SFN_ENOMEM)
        return RUN_ENOMEM;
    if (rc != SFN_OK)
        return RUN_EINVAL;
    if (hmap_put(&r->machines, key, m) != 0) {
        asl_machine_free(m);
        return RUN_ENOMEM;
    }
    *out = m;
    return 0;
}

/* ---- draining --------------------------------------------------------------- */
static void finish_drain(run *r)
{
    if (r->drain_timer) {
        ev_timer_cancel(r->loop, r->drain_timer);
        r->drain_timer = NULL;
    }
    r->ignore_results = 1;
    run_flush(r);
    void (*done)(void *) = r->drain_done;
    r->drain_done = NULL;
    if (done)
        done(r->drain_ud);
}

static void check_drain(run *r)
{
    if (r->draining && r->drain_done && r->inflight == 0)
        finish_drain(r);
}

static void on_drain_timeout(ev_loop *loop, ev_timer *t, void *ud)
{
    (void)loop;
    (void)t;
    run *r = ud;
    r->drain_timer = NULL;
    if (r->drain_done)
        finish_drain(r);
}

void run_drain(run *r, int grace_ms, void (*done)(void *ud), void *ud)
{
    r->draining = 1;
    if (r->retain_timer) {
        ev_timer_cancel(r->loop, r->retain_timer);
        r->retain_timer = NULL;
    }
    r->drain_done = done;
    r->drain_ud = ud;
    if (r->inflight == 0) {
        finish_drain(r);
        return;
    }
    r->drain_timer = ev_timer_add(r->loop, ev_now_ms() + grace_ms, on_drain_timeout, r);
}

void run_stats_get(const run *r, run_stats *out)
{
    *out = r->stats;
    out->running = (int)r->execs.n;
    out->suspended = r->nsusp;
    out->unavailable = r->unavail;
}
