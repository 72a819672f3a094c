/*
 * asl_exec.c - running one execution of a compiled machine: start, feed,
 * and the walk from state to state.
 *
 * An execution is a tree of threads of control: the root runs the machine's
 * states; a Parallel state runs one child thread per branch, a Map one per
 * item (asl_par.c). Threads wait on the outside world only (a task, a
 * timer); every wait has an id, and the caller answers through
 * asl_exec_feed. Each state type is run once here, whatever its query
 * language: what JSONPath and JSONata compute differently is behind the
 * asl_ql table (asl_ql_path.c, asl_ql_jsonata.c). The core emits history
 * events (asl_hist.c) and commands. It must not read the clock, do I/O or
 * call rand(): time and task results come in with each input, random
 * numbers from a seeded stream, so a replay of the same inputs rebuilds the
 * same execution.
 */
#include "asl_exec_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small utilities ----------------------------------------------------- */
char *asl__xprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

char *asl__value_text(const json_t *v)
{
    return json_is_string(v) ? strdup(json_string_value(v)) : asl_json_text(v);
}

/* Serialized size of v, stopping early once above limit. */
static size_t jsize(const json_t *v, size_t limit);
static size_t jsize_str(const char *s, size_t n)
{
    /* bytes that print as more than themselves: '"', '\\' (2) and controls (6) */
    static unsigned char extra[256];
    static int ready;
    if (!ready) {
        for (int c = 0; c < 0x20; c++)
            extra[c] = 5;
        extra['"'] = extra['\\'] = 1;
        ready = 1;
    }
    size_t r = 2 + n;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n; i++)
        r += extra[p[i]];
    return r;
}
static size_t jsize(const json_t *v, size_t limit)
{
    size_t r = 0;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        size_t klen;
        json_t *x;
        r = 2;
        json_object_keylen_foreach((json_t *)v, k, klen, x) {
            r += jsize_str(k, klen) + 2 + jsize(x, limit);
            if (r > limit)
                return r;
        }
        return r;
    }
    case JSON_ARRAY: {
        r = 2;
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            r += jsize(x, limit) + 1;
            if (r > limit)
                return r;
        }
        return r;
    }
    case JSON_STRING:
        return jsize_str(json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
    case JSON_REAL:
        return 24;
    default:
        return 5;
    }
}

int asl__too_big(const json_t *v)
{
    return v != NULL && jsize(v, ASL_MAX_PAYLOAD) > ASL_MAX_PAYLOAD;
}

size_t asl__msize(const json_t *v)
{
    size_t n = v ? jsize(v, ASL_MAX_PAYLOAD) : 4;
    return n > ASL_MAX_PAYLOAD ? ASL_MAX_PAYLOAD + 1 : n;
}

/* ---- variables and context -------------------------------------------------- */
json_t *asl__var_lookup(void *ud, const char *name)
{
    for (thr *t = ud; t; t = t->parent) {
        json_t *v = t->vars ? json_object_get(t->vars, name) : NULL;
        if (v)
            return v;
    }
    return NULL;
}

void asl__vars_update(thr *t, json_t *vals)
{
    if (t->vars == NULL)
        t->vars = json_object();
    else if (t->vars->refcount > 1) {
        json_t *c = asl_json_copy(t->vars); /* copy on write */
        json_decref(t->vars);
        t->vars = c;
    }
    json_object_update(t->vars, vals);
}

static void fmt_ts(int64_t ms, char *buf)
{
    asl_timestamp_format(ms, buf);
}

static json_t *make_context(asl_exec *x, thr *t, const state *st, int with_item, const char *token);

/* Values are never modified in place, so one made for this very state,
 * entry and attempt is shared (no task token, no Map item: those make it
 * unique). */
json_t *asl__build_context(asl_exec *x, thr *t, const state *st, int with_item, const char *token)
{
    if (t->probe)
        return asl__probe_context(x, t, with_item, token);
    int cacheable = token == NULL && !(with_item && t->map_idx >= 0) && st != NULL;
    if (cacheable && t->ctx && t->ctx_st == st && t->ctx_entered == t->entered_ms &&
        t->ctx_retry == t->retry_count && t->ctx_redrive == x->redrive_count)
        return json_incref(t->ctx);
    json_t *c = make_context(x, t, st, with_item, token);
    if (cacheable && c) {
        json_decref(t->ctx);
        t->ctx = json_incref(c);
        t->ctx_st = st;
        t->ctx_entered = t->entered_ms;
        t->ctx_retry = t->retry_count;
        t->ctx_redrive = x->redrive_count;
    }
    return c;
}

static json_t *make_context(asl_exec *x, thr *t, const state *st, int with_item, const char *token)
{
    char ets[40];
    fmt_ts(t->entered_ms, ets);
    if (x->ctx_exec == NULL || x->ctx_exec_redrive != x->redrive_count) {
        char ts[40];
        fmt_ts(x->start_ms, ts);
        json_decref(x->ctx_exec);
        json_t *exe = json_object();
        json_object_set_new(exe, "Id", json_string(x->arn));
        json_object_set(exe, "Input", x->input);
        json_object_set_new(exe, "Name", json_string(x->name));
        json_object_set_new(exe, "RoleArn", json_string(x->role));
        json_object_set_new(exe, "StartTime", json_string(ts));
        json_object_set_new(exe, "RedriveCount", json_integer(x->redrive_count));
        x->ctx_exec = exe;
        x->ctx_exec_redrive = x->redrive_count;
    }
    if (x->ctx_sm == NULL) {
        x->ctx_sm = json_object();
        json_object_set_new(x->ctx_sm, "Id", json_string(x->sm_arn));
        json_object_set_new(x->ctx_sm, "Name", json_string(x->sm_name));
    }
    json_t *c = json_object();
    json_object_set(c, "Execution", x->ctx_exec);
    json_t *stj = json_object();
    json_object_set_new(stj, "EnteredTime", json_string(ets));
    json_object_set_new(stj, "Name", json_string(st ? st->name : ""));
    if (st && (st->type == ST_TASK || st->type == ST_PARALLEL || st->type == ST_MAP))
        json_object_set_new(stj, "RetryCount", json_integer(t->retry_count));
    json_object_set_new(c, "State", stj);
    json_object_set(c, "StateMachine", x->ctx_sm);
    if (token) {
        json_t *task = json_object();
        json_object_set_new(task, "Token", json_string(token));
        json_object_set_new(c, "Task", task);
    }
    if (with_item && t->map_idx >= 0) {
        json_t *item = json_object();
        json_object_set_new(item, "Index", json_integer(t->map_idx));
        json_object_set(item, "Value", t->map_val ? t->map_val : json_null());
        json_t *map = json_object();
        json_object_set_new(map, "Item", item);
        json_object_set_new(c, "Map", map);
    }
    return c;
}

/* ---- errors ------------------------------------------------------------------ */
char *asl__runtime_cause(thr *t, const state *st, const char *msg)
{
    if (t->probe) /* TestState: there are no events to point at */
        return strdup(msg ? msg : "");
    if (msg && strncmp(msg, "An error occurred while executing the state", 43) == 0)
        return strdup(msg);
    return asl__xprintf("An error occurred while executing the state '%s' (entered at the event id #%u). %s",
                        st ? st->name : "", t->entered_id, msg ? msg : "");
}

void asl__runtime_fail(asl_exec *x, thr *t, const state *st, const char *msg)
{
    char *cause = asl__runtime_cause(t, st, msg);
    asl__thr_fail(x, t, "States.Runtime", cause);
    free(cause);
}

/* The field a JSONata failure names: "... for the field 'Output/x' ..." or
 * "The Timestamp field ...". Returns malloc'd text or NULL. */
static char *eval_location(const char *cause)
{
    const char *p;
    if (cause == NULL)
        return NULL;
    if ((p = strstr(cause, "specified for the field '")) != NULL) {
        p += strlen("specified for the field '");
        const char *q = strchr(p, '\'');
        return q ? strndup(p, (size_t)(q - p)) : NULL;
    }
    if (strncmp(cause, "The ", 4) == 0 && (p = strstr(cause + 4, " field ")) != NULL && !memchr(cause + 4, ' ', (size_t)(p - cause - 4)))
        return strndup(cause + 4, (size_t)(p - cause - 4));
    return NULL;
}

void asl__raise_err(asl_exec *x, thr *t, const state *st, asl_err *e, int catchable)
{
    const char *err = e->error ? e->error : "States.Runtime";
    char *cause = NULL;
    if (strcmp(err, "States.Runtime") == 0 || strcmp(err, "States.QueryEvaluationError") == 0)
        cause = asl__runtime_cause(t, st, e->cause);
    else
        cause = asl__xstrdup(e->cause);
    if (strcmp(err, "States.QueryEvaluationError") == 0) {
        /* AWS records where a JSONata evaluation failed before the failure
         * itself; a Map that fails so reports MapStateFailed as well */
        ev *f = asl__emit(x, t, E_EvaluationFailed, st);
        if (f) {
            f->err = asl__xstrdup(err);
            f->cause = asl__xstrdup(cause);
            f->loc = eval_location(e->cause);
        }
        if (st && st->type == ST_MAP)
            t->fail_event = E_MapStateFailed;
    }
    if (catchable)
        asl__state_error(x, t, err, cause);
    else
        asl__thr_fail(x, t, err, cause);
    free(cause);
    asl_err_clear(e);
}

void asl__set_data_limit(asl_exec *x, thr *t, const state *st)
{
    char *cause = asl__xprintf("The state/task '%s' returned a result with a size exceeding the maximum number of "
                               "bytes service limit.",
                               st->name);
    asl__thr_fail(x, t, "States.DataLimitExceeded", cause);
    free(cause);
}

/* ---- threads ------------------------------------------------------------------- */
static void thr_succeed(asl_exec *x, thr *t, json_t *out);

void asl__enqueue(asl_exec *x, thr *t)
{
    if (x->rq_len == x->rq_cap) {
        size_t nc = x->rq_cap ? x->rq_cap * 2 : 16;
        thr **nq = malloc(nc * sizeof *nq);
        if (nq == NULL) {
            x->oom = 1; /* never silent: run_queue fails the execution */
            return;
        }
        for (size_t i = 0; i < x->rq_len; i++)
            nq[i] = x->runq[(x->rq_head + i) % x->rq_cap];
        free(x->runq);
        x->runq = nq;
        x->rq_cap = nc;
        x->rq_head = 0;
    }
    x->runq[(x->rq_head + x->rq_len) % x->rq_cap] = t;
    x->rq_len++;
}

thr *asl__thr_new(asl_exec *x, const prog *p, thr *parent, int slot, json_t *input)
{
    thr *t = calloc(1, sizeof *t);
    if (t == NULL) {
        x->oom = 1;
        return NULL;
    }
    if (asl__grow((void **)&x->all, &x->capall, x->nall + 1, sizeof *x->all) != 0) {
        free(t);
        x->oom = 1;
        return NULL;
    }
    x->all[x->nall++] = t;
    t->p = p;
    t->parent = parent;
    t->slot = slot;
    t->cur = p ? p->start : -1;
    t->input = json_incref(input);
    t->in_sz = asl__msize(input);
    t->map_idx = -1;
    t->tol_count = -1;
    t->tol_pct = -1;
    if (parent) {
        t->last = parent->last;
        t->silent = parent->silent;
    }
    return t;
}

static void thr_reset_state(thr *t)
{
    json_decref(t->eff);
    t->eff = NULL;
    free(t->rcount);
    t->rcount = NULL;
    t->retry_count = 0;
    t->phase = PH_READY;
}

static void thr_free(thr *t)
{
    json_decref(t->ctx);
    free(t->token);
    json_decref(t->input);
    json_decref(t->eff);
    free(t->rcount);
    free(t->kids);
    json_decref(t->results);
    json_decref(t->items);
    json_decref(t->vars);
    json_decref(t->map_val);
    json_decref(t->out);
    free(t->err);
    free(t->cause);
    free(t);
}

/* ---- waits ------------------------------------------------------------------- */
static wait *wait_add(asl_exec *x, thr *t, int kind)
{
    if (asl__grow((void **)&x->waits, &x->capwait, x->nwait + 1, sizeof *x->waits) != 0) {
        x->oom = 1; /* never silent: run_queue fails the execution */
        return NULL;
    }
    wait *w = &x->waits[x->nwait++];
    memset(w, 0, sizeof *w);
    w->id = ++x->next_id;
    w->kind = kind;
    w->t = t;
    return w;
}

static wait *wait_find(asl_exec *x, uint64_t id)
{
    for (size_t i = 0; i < x->nwait; i++)
        if (x->waits[i].id == id)
            return &x->waits[i];
    return NULL;
}

static void wait_remove(asl_exec *x, uint64_t id)
{
    for (size_t i = 0; i < x->nwait; i++) {
        if (x->waits[i].id == id) {
            json_decref(x->waits[i].payload);
            free(x->waits[i].function);
            free(x->waits[i].token);
            x->waits[i] = x->waits[x->nwait - 1];
            x->nwait--;
            return;
        }
    }
}

static void cmd_push(asl_exec *x, const asl_cmd *c)
{
    if (asl__grow((void **)&x->cmds, &x->capcmd, x->ncmd + 1, sizeof *x->cmds) != 0) {
        x->oom = 1;
        return;
    }
    x->cmds[x->ncmd++] = *c;
}

static uint64_t timer_arm(asl_exec *x, thr *t, int kind, int64_t due)
{
    wait *w = wait_add(x, t, kind);
    if (w == NULL)
        return 0;
    w->cmd.kind = ASL_CMD_TIMER;
    w->cmd.id = w->id;
    w->cmd.due_ms = due;
    cmd_push(x, &w->cmd);
    return w->id;
}

/* Drop every wait of thread t (aborted or finished). */
static void waits_drop_thr(asl_exec *x, thr *t)
{
    for (size_t i = 0; i < x->nwait;) {
        if (x->waits[i].t == t)
            wait_remove(x, x->waits[i].id);
        else
            i++;
    }
}

/* ---- state exit / next --------------------------------------------------------- */
void asl__state_exit(asl_exec *x, thr *t, json_t *out, int next, json_t *assigned, size_t out_sz)
{
    const state *st = asl__cur_state(t);
    if (t->probe) { /* TestState: the state's end is the test's */
        x->probe->left = 1;
        x->probe->out = json_incref(out);
        x->probe->next = next;
        next = -1;
    }
    ev *e = asl__emit(x, t, asl__ev_exited_type(st->type), st);
    if (e) {
        e->a = json_incref(out);
        e->assigned = assigned ? json_incref(assigned) : NULL;
    }
    x->transitions++;
    if (next < 0) {
        thr_succeed(x, t, out);
        return;
    }
    json_decref(t->input);
    t->input = json_incref(out);
    t->in_sz = out_sz;
    t->cur = next;
    thr_reset_state(t);
    asl__enqueue(x, t);
}

/* ---- error handling: Retry and Catch ------------------------------------------- */
static int err_matches(char **errs, int n, const char *err)
{
    if (err == NULL) { /* a failure without a name (a Fail state without
                          Error, from a Map iteration): only States.ALL */
        for (int i = 0; i < n; i++)
            if (strcmp(errs[i], "States.ALL") == 0)
                return 1;
        return 0;
    }
    /* States.Runtime is never caught (AWS docs); a task result over the
     * payload limit (States.DataLimitExceeded) is, by States.ALL too, as
     * AWS's recorded executions show */
    int terminal = strcmp(err, "States.Runtime") == 0;
    for (int i = 0; i < n; i++) {
        const char *e = errs[i];
        if (strcmp(e, err) == 0)
            return strcmp(err, "States.Runtime") != 0;
        if (terminal)
            continue;
        if (strcmp(e, "States.ALL") == 0)
            return 1;
        if (strcmp(e, "States.TaskFailed") == 0 && strcmp(err, "States.Timeout") != 0 &&
            strncmp(err, "States.", 7) != 0)
            return 1;
        if (strcmp(e, "States.TaskFailed") == 0 && strcmp(err, "States.Timeout") != 0 &&
            (strcmp(err, "States.HeartbeatTimeout") == 0 || strcmp(err, "States.Permissions") == 0 ||
             strcmp(err, "States.IntrinsicFailure") == 0 || strcmp(err, "States.BranchFailed") == 0))
            return 1;
    }
    return 0;
}

/* The first retrier matching err decides: back off and run the attempt
 * again (returns 1), or not (exhausted, none: 0). */
static int retry(asl_exec *x, thr *t, const state *st, const char *err)
{
    for (int i = 0; i < st->nretry; i++) {
        const retrier *r = &st->retry[i];
        if (!err_matches(r->errs, r->nerrs, err))
            continue;
        if (t->rcount == NULL) {
            t->rcount = calloc((size_t)st->nretry, sizeof *t->rcount);
            if (t->rcount && t->probe) /* TestState: the attempts behind it */
                t->rcount[i] = x->probe->retrier_count;
        }
        if (t->rcount == NULL)
            return 0;
        if (t->probe)
            x->probe->retry_index = i;
        if (t->rcount[i] >= r->max_attempts)
            return 0; /* the first matching retrier decides; exhausted: go to Catch */
        double delay = r->interval * pow(r->backoff, t->rcount[i]);
        if (r->max_delay > 0 && delay > r->max_delay)
            delay = r->max_delay;
        if (r->jitter_full)
            delay = asl_rng_double(&x->rng) * delay;
        if (t->probe) {
            x->probe->retriable = 1;
            x->probe->backoff_s = delay;
        }
        t->rcount[i]++;
        t->retry_count++;
        t->fail_event = 0;
        t->phase = PH_BACKOFF;
        t->wait_id = timer_arm(x, t, W_BACKOFF, x->now + (int64_t)llround(delay * 1000.0));
        return 1;
    }
    return 0;
}

void asl__state_error(asl_exec *x, thr *t, const char *err, const char *cause)
{
    const state *st = asl__cur_state(t);
    if (st == NULL || (st->type != ST_TASK && st->type != ST_PARALLEL && st->type != ST_MAP)) {
        asl__thr_fail(x, t, err, cause);
        return;
    }
    if (t->probe)
        asl__probe_error(x, err, cause);
    if (retry(x, t, st, err)) {
        if (t->probe) /* TestState: RETRIABLE; the attempt is not run again */
            asl__thr_fail(x, t, err, cause);
        return;
    }
    if (t->fail_event) {
        asl__emit(x, t, t->fail_event, st);
        t->fail_event = 0;
    }
    for (int i = 0; i < st->ncatch; i++) {
        const catcher *c = &st->catch[i];
        if (!err_matches(c->errs, c->nerrs, err))
            continue;
        if (t->probe)
            x->probe->catch_index = i;
        json_t *eo = json_object();
        json_object_set_new(eo, "Error", err ? json_string(err) : json_null());
        json_object_set_new(eo, "Cause", json_string(cause ? cause : ""));
        if (json_object_get(eo, "Cause") == NULL)
            json_object_set_new(eo, "Cause", json_string(""));
        ql_env env;
        asl__ql_env_init(&env, x, t, NULL, NULL, eo, 0);
        asl__ql_of(st)->leave_catch(&env, c, eo);
        asl__ql_env_cleanup(&env);
        json_decref(eo);
        return;
    }
    asl__thr_fail(x, t, err, cause);
}

/* ---- tasks ------------------------------------------------------------------- */
/* The event type of a task's step, by how its Resource runs. */
static int task_event(const state *st, int lambda, int activity, int other)
{
    return st->task_kind == TK_LAMBDA_ARN ? lambda : st->task_kind == TK_ACTIVITY ? activity : other;
}

static char *make_token(asl_exec *x, uint64_t id)
{
    uint64_t a = asl_rng_next(&x->rng), b = asl_rng_next(&x->rng);
    return asl__xprintf("%016llx%016llx-%llu", (unsigned long long)a, (unsigned long long)b,
                        (unsigned long long)id);
}

/* What the task is invoked with: lambda:invoke's Payload, else params. */
static void task_payload(wait *w, const state *st, json_t *params)
{
    if (st->task_kind == TK_LAMBDA_INVOKE) {
        const char *fn = json_string_value(json_object_get(params, "FunctionName"));
        w->function = asl__xstrdup(fn);
        json_t *pl = json_object_get(params, "Payload");
        if (json_is_string(pl)) {
            /* a string Payload is the request body itself, not a JSON
             * string: "[]" invokes with [] (AWS's recorded executions) */
            char err[64];
            json_t *raw = asl_json_parse(json_string_value(pl), json_string_length(pl), err, sizeof err);
            w->payload = raw ? raw : json_incref(pl);
        } else {
            w->payload = pl ? json_incref(pl) : json_object();
        }
    } else {
        if (st->task_kind == TK_LAMBDA_ARN)
            w->function = asl__xstrdup(st->resource);
        w->payload = json_incref(params);
    }
}

/* Run the task with the effective input: its command, its Scheduled event,
 * its timers. */
static void task_dispatch(ql_env *env)
{
    asl_exec *x = env->x;
    thr *t = env->t;
    const state *st = env->st;
    json_t *params = t->eff;
    wait *w = wait_add(x, t, W_TASK);
    if (w == NULL)
        return;
    int timeout = 0, hb = 0;
    if (asl__ql_of(st)->task_limits(env, &timeout, &hb) != 0)
        return;
    w = wait_find(x, t->wait_id = w->id);
    w->cmd.kind = ASL_CMD_INVOKE;
    w->cmd.id = w->id;
    w->cmd.resource = st->resource;
    w->cmd.state = st->name;
    w->cmd.timeout_s = timeout;
    w->cmd.heartbeat_s = hb;
    w->cmd.wait_for_token = st->wait_token;
    task_payload(w, st, params);
    if (st->task_kind == TK_ACTIVITY)
        w->token = make_token(x, w->id); /* its worker's: one per attempt */
    else if (st->wait_token)
        w->token = asl__xstrdup(t->token); /* made before Parameters: $$.Task.Token */
    w->cmd.function = w->function;
    w->cmd.payload = w->payload;
    w->cmd.token = w->token;

    ev *e = asl__emit(x, t, task_event(st, E_LambdaFunctionScheduled, E_ActivityScheduled, E_TaskScheduled), st);
    asl__ev_payload(e, params);
    if (e) {
        e->timeout_s = timeout;
        e->heartbeat_s = hb;
    }
    cmd_push(x, &w->cmd);
    if (asl__grow((void **)&x->unstarted, &x->capunstarted, x->nunstarted + 1, sizeof *x->unstarted) == 0)
        x->unstarted[x->nunstarted++] = w->id;
    else
        x->oom = 1;
    t->phase = PH_TASK;
    uint64_t task_id = w->id;
    if (timeout > 0) {
        t->to_timer = timer_arm(x, t, W_TIMEOUT, x->now + (int64_t)timeout * 1000);
        wait *tw = wait_find(x, t->to_timer);
        if (tw)
            tw->cmd.id = tw->id;
    }
    if (hb > 0)
        t->hb_timer = timer_arm(x, t, W_HEARTBEAT, x->now + (int64_t)hb * 1000);
    t->wait_id = task_id;
}

/* worker: an activity's worker name (ActivityStarted), or NULL */
static void task_started_by(asl_exec *x, wait *w, const char *worker)
{
    if (w->started)
        return;
    w->started = 1;
    thr *t = w->t;
    const state *st = asl__cur_state(t);
    ev *e = asl__emit(x, t, task_event(st, E_LambdaFunctionStarted, E_ActivityStarted, E_TaskStarted), st);
    if (e && worker && st->task_kind == TK_ACTIVITY)
        e->cause = asl__xstrdup(worker);
}

static void task_started(asl_exec *x, wait *w)
{
    task_started_by(x, w, NULL);
}

static void task_timers_drop(asl_exec *x, thr *t)
{
    if (t->to_timer)
        wait_remove(x, t->to_timer);
    if (t->hb_timer)
        wait_remove(x, t->hb_timer);
    t->to_timer = t->hb_timer = 0;
}

static json_t *lambda_wrap(asl_exec *x, json_t *payload)
{
    char rid[40];
    uint64_t a = asl_rng_next(&x->rng), b = asl_rng_next(&x->rng);
    snprintf(rid, sizeof rid, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32), (unsigned)(a >> 16) & 0xffff,
             (unsigned)a & 0xfff, (unsigned)((b >> 48) & 0x3fff) | 0x8000,
             (unsigned long long)(b & 0xffffffffffffULL));
    char *text = asl_json_text(payload);
    size_t len = text ? strlen(text) : 0;
    free(text);
    char lenbuf[32], date[40];
    snprintf(lenbuf, sizeof lenbuf, "%zu", len);
    fmt_ts(x->now, date);
    char trace[96];
    uint64_t tr = asl_rng_next(&x->rng);
    snprintf(trace, sizeof trace, "Root=1-%08llx-%016llx%08x;Parent=%016llx;Sampled=0;Lineage=1:%08x:0",
             (unsigned long long)(x->now / 1000), (unsigned long long)a, (unsigned)(b >> 32),
             (unsigned long long)tr, (unsigned)(tr >> 40));
    json_t *hdr = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "Connection", "keep-alive", "Content-Length", lenbuf,
                            "Content-Type", "application/json", "Date", date, "X-Amz-Executed-Version", "$LATEST",
                            "X-Amzn-Trace-Id", trace, "x-amzn-Remapped-Content-Length", "0", "x-amzn-RequestId",
                            rid);
    json_t *all = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(hdr, k, v) json_object_set_new(all, k, json_pack("[O]", v));
    json_t *w = json_object();
    json_object_set_new(w, "ExecutedVersion", json_string("$LATEST"));
    json_object_set(w, "Payload", payload);
    json_t *meta = json_object();
    json_object_set_new(meta, "AllHttpHeaders", all);
    json_object_set_new(meta, "HttpHeaders", hdr);
    json_object_set_new(meta, "HttpStatusCode", json_integer(200));
    json_object_set_new(w, "SdkHttpMetadata", meta);
    json_object_set_new(w, "SdkResponseMetadata", json_pack("{s:s}", "RequestId", rid));
    json_object_set_new(w, "StatusCode", json_integer(200));
    return w;
}

/* A task's answer: its result, or its failure. */
static void task_answered(asl_exec *x, wait *w, const asl_input *in)
{
    thr *t = w->t;
    const state *st = asl__cur_state(t);
    if (in->kind != ASL_IN_TASK_SCHEDULE_FAILED)
        task_started(x, w);
    task_timers_drop(x, t);
    wait_remove(x, in->id);
    t->wait_id = 0;
    if (in->kind == ASL_IN_TASK_FAILED || in->kind == ASL_IN_TASK_SCHEDULE_FAILED) {
        int type = in->kind == ASL_IN_TASK_SCHEDULE_FAILED && st->task_kind == TK_ACTIVITY
                       ? E_ActivityScheduleFailed
                       : task_event(st, E_LambdaFunctionFailed, E_ActivityFailed, E_TaskFailed);
        ev *e = asl__emit(x, t, type, st);
        if (e) {
            e->err = asl__xstrdup(in->error);
            e->cause = asl__xstrdup(in->cause);
        }
        t->phase = PH_READY;
        asl__state_error(x, t, in->error ? in->error : "States.TaskFailed", in->cause);
        return;
    }
    json_t *res = in->result ? in->result : json_null();
    /* .waitForTaskToken: the result is what SendTaskSuccess sent, unwrapped */
    /* ... and a TestState mock is the integration's response itself */
    json_t *wrapped = st->task_kind == TK_LAMBDA_INVOKE && !st->wait_token && !(t->probe && x->probe->mocked)
                          ? lambda_wrap(x, res)
                          : json_incref(res);
    size_t wsz = asl__msize(wrapped);
    if (wsz > ASL_MAX_PAYLOAD) {
        /* recorded: the task fails with States.DataLimitExceeded
         * naming the resource ('lambda' for lambda:invoke) */
        char *cause = asl__xprintf("The state/task '%s' returned a result with a size exceeding the maximum "
                                   "number of bytes service limit.",
                                   st->res_type ? st->res_type : st->resource);
        ev *f = asl__emit(x, t, task_event(st, E_LambdaFunctionFailed, E_ActivityFailed, E_TaskFailed), st);
        if (f) {
            f->err = strdup("States.DataLimitExceeded");
            f->cause = asl__xstrdup(cause);
        }
        t->phase = PH_READY;
        asl__state_error(x, t, "States.DataLimitExceeded", cause);
        free(cause);
        json_decref(wrapped);
        return;
    }
    ev *e = asl__emit(x, t, task_event(st, E_LambdaFunctionSucceeded, E_ActivitySucceeded, E_TaskSucceeded), st);
    asl__ev_payload(e, wrapped);
    t->phase = PH_READY;
    asl__state_finish(x, t, wrapped, wsz);
    json_decref(wrapped);
}

/* The call that hands a .waitForTaskToken (or .sync) task over returned:
 * TaskSubmitted with that response (the Invoke response for lambda:invoke,
 * as AWS records it); the task goes on waiting for its token. */
static void task_submitted(asl_exec *x, wait *w, const asl_input *in)
{
    thr *t = w->t;
    const state *st = asl__cur_state(t);
    if (w->submitted || st == NULL || st->task_kind == TK_LAMBDA_ARN || st->task_kind == TK_ACTIVITY)
        return;
    task_started(x, w);
    w->submitted = 1;
    json_t *res = in->result ? in->result : json_null();
    json_t *out = st->task_kind == TK_LAMBDA_INVOKE ? lambda_wrap(x, res) : json_incref(res);
    ev *e = asl__emit(x, t, E_TaskSubmitted, st);
    asl__ev_payload(e, out);
    json_decref(out);
}

/* TimeoutSeconds or HeartbeatSeconds ran out. */
static void task_timed_out(asl_exec *x, thr *t, int kind)
{
    const state *st = asl__cur_state(t);
    wait *tw = wait_find(x, t->wait_id);
    if (tw)
        task_started(x, tw);
    /* an activity's heartbeat running out is a States.Timeout too */
    const char *err = kind == W_TIMEOUT || st->task_kind == TK_ACTIVITY ? "States.Timeout"
                                                                        : "States.HeartbeatTimeout";
    ev *e = asl__emit(x, t, task_event(st, E_LambdaFunctionTimedOut, E_ActivityTimedOut, E_TaskTimedOut), st);
    if (e)
        e->err = strdup(err);
    task_timers_drop(x, t); /* both: the one that fired is already gone */
    if (t->wait_id) {
        x->timed_out[x->ntimed_out++ % (sizeof x->timed_out / sizeof x->timed_out[0])] = t->wait_id;
        wait_remove(x, t->wait_id);
    }
    t->wait_id = 0;
    t->phase = PH_READY;
    asl__state_error(x, t, err, NULL);
}

/* ---- leaving with a result ------------------------------------------------------- */
void asl__state_finish(asl_exec *x, thr *t, json_t *result, size_t res_sz)
{
    ql_env env;
    asl__ql_env_init(&env, x, t, NULL, result, NULL, 0);
    asl__ql_of(env.st)->leave_result(&env, result, res_sz);
    asl__ql_env_cleanup(&env);
}

/* ---- entering a state ---------------------------------------------------------------- */
/* The part of a Task, Parallel or Map that a retry runs again. */
static void state_attempt(asl_exec *x, thr *t)
{
    const state *st = asl__cur_state(t);
    const asl_ql *q = asl__ql_of(st);
    ql_env env;
    asl__ql_env_init(&env, x, t, NULL, NULL, NULL, 0);
    if (st->type == ST_MAP) {
        asl__map_begin(&env);
        goto out;
    }
    if (q->args_each_attempt) {
        json_t *args = q->args(&env, t->eff);
        if (args == NULL)
            goto out;
        json_decref(t->eff);
        t->eff = args;
    }
    if (st->type == ST_TASK)
        task_dispatch(&env);
    else
        asl__parallel_begin(x, t);
out:
    asl__ql_env_cleanup(&env);
}

static void choice_begin(ql_env *env, json_t *eff)
{
    const state *st = env->st;
    int which = -1;
    if (asl__ql_of(st)->choose(env, eff, &which) != 0)
        return;
    if (which < 0 && st->default_next < 0) {
        asl__thr_fail(env->x, env->t, "States.NoChoiceMatched", "No Matches!");
        return;
    }
    asl__ql_of(st)->leave(env, eff, which, which >= 0 ? st->rule_next[which] : st->default_next);
}

static void wait_begin(ql_env *env)
{
    asl_exec *x = env->x;
    thr *t = env->t;
    int64_t due = x->now;
    if (asl__ql_of(env->st)->wait_due(env, &due) != 0)
        return;
    if (due < x->now)
        due = x->now;
    t->phase = PH_WAIT;
    t->wait_id = timer_arm(x, t, W_WAIT, due);
}

static void wait_finish(asl_exec *x, thr *t)
{
    ql_env env;
    asl__ql_env_init(&env, x, t, NULL, NULL, NULL, 0);
    asl__ql_of(env.st)->leave(&env, t->eff, -1, env.st->next);
    asl__ql_env_cleanup(&env);
}

static void fail_begin(ql_env *env)
{
    char *err = NULL, *cause = NULL;
    if (asl__ql_of(env->st)->fail_fields(env, &err, &cause) == 0) {
        env->x->transitions++;
        asl__thr_fail(env->x, env->t, err, cause);
    }
    free(err);
    free(cause);
}

/* The state's work on its effective input eff (taken). */
static void state_work(ql_env *env, json_t *eff)
{
    thr *t = env->t;
    const state *st = env->st;
    const asl_ql *q = asl__ql_of(st);
    switch (st->type) {
    case ST_PASS: {
        json_t *res = NULL;
        size_t res_sz = 0;
        if (q->pass_result(env, eff, &res, &res_sz) == 0)
            q->leave_result(env, res, res_sz);
        json_decref(res);
        json_decref(eff);
        break;
    }
    case ST_TASK:
    case ST_PARALLEL:
    case ST_MAP:
        /* JSONPath's Parameters once, here; JSONata's Arguments at every
         * attempt (state_attempt) */
        if (st->type != ST_MAP && !q->args_each_attempt) {
            json_t *p = q->args(env, eff);
            json_decref(eff);
            if (p == NULL)
                break;
            eff = p;
        }
        t->eff = eff;
        state_attempt(env->x, t);
        break;
    case ST_CHOICE:
        choice_begin(env, eff);
        json_decref(eff);
        break;
    case ST_WAIT:
        t->eff = eff;
        wait_begin(env);
        break;
    case ST_SUCCEED:
        q->leave(env, eff, -1, -1);
        json_decref(eff);
        break;
    default:
        json_decref(eff);
        break;
    }
}

static void state_begin(asl_exec *x, thr *t)
{
    const state *st = asl__cur_state(t);
    const char *token = NULL;
    if (st->type == ST_TASK && st->wait_token) {
        /* the token exists before Parameters are evaluated: they pass it on
         * through $$.Task.Token */
        free(t->token);
        t->token = make_token(x, x->next_id + 1);
        token = t->token;
    }
    ql_env env;
    asl__ql_env_init(&env, x, t, token, NULL, NULL, 0);
    if (st->type == ST_FAIL) {
        fail_begin(&env); /* no InputPath: Error and Cause see the raw input */
    } else {
        json_t *eff = asl__ql_of(st)->input(&env);
        if (eff != NULL)
            state_work(&env, eff);
    }
    asl__ql_env_cleanup(&env);
}

/* Run one thread until it waits or ends. */
static void thr_run(asl_exec *x, thr *t)
{
    if (t->ended || t->phase != PH_READY)
        return;
    const state *st = asl__cur_state(t);
    if (st == NULL) {
        asl__thr_fail(x, t, "States.Runtime", "Unknown state");
        return;
    }
    t->entered_ms = x->now;
    ev *e = asl__emit(x, t, asl__ev_entered_type(st->type), st);
    if (e) {
        e->a = json_incref(t->input);
        t->entered_id = (uint32_t)x->nev;
    }
    if (t->silent)
        t->entered_id = 0;
    state_begin(x, t);
}

/* ---- thread ends ---------------------------------------------------------------------- */
static void exec_end(asl_exec *x, int status, json_t *out, const char *err, const char *cause)
{
    x->status = status;
    x->stop_ms = x->now;
    x->output = json_incref(out);
    x->error = asl__xstrdup(err);
    x->cause = asl__xstrdup(cause);
}

static void exec_clear_waits(asl_exec *x)
{
    while (x->nwait > 0)
        wait_remove(x, x->waits[0].id);
}

static void thr_succeed(asl_exec *x, thr *t, json_t *out)
{
    t->ended = 1;
    t->phase = PH_DONE;
    t->out = json_incref(out);
    waits_drop_thr(x, t);
    if (t->parent == NULL) {
        ev *e = asl__emit(x, NULL, E_ExecutionSucceeded, NULL);
        if (e) {
            e->a = json_incref(out);
            e->prev = t->last;
        }
        exec_clear_waits(x);
        exec_end(x, ASL_SUCCEEDED, out, NULL, NULL);
        return;
    }
    asl__kid_done(x, t);
}

void asl__thr_fail(asl_exec *x, thr *t, const char *err, const char *cause)
{
    if (t->ended)
        return;
    t->ended = 1;
    t->failed = 1;
    t->phase = PH_DONE;
    t->err = asl__xstrdup(err);
    t->cause = asl__xstrdup(cause);
    waits_drop_thr(x, t);
    if (t->parent == NULL) {
        ev *e = asl__emit(x, NULL, E_ExecutionFailed, NULL);
        if (e) {
            e->err = asl__xstrdup(err);
            e->cause = asl__xstrdup(cause);
            e->prev = t->last;
        }
        exec_clear_waits(x);
        exec_end(x, ASL_FAILED, NULL, err, cause);
        return;
    }
    asl__kid_done(x, t);
}

/* Abort a thread and everything under it (StopExecution, a failed sibling). */
void asl__abort_thr(asl_exec *x, thr *t)
{
    if (t->ended)
        return;
    const state *st = asl__cur_state(t);
    t->ended = 1;
    t->phase = PH_DONE;
    if (st) {
        if (t->kids) {
            asl__maprun_end(x, t, ASL_ABORTED);
            asl__abort_kids(x, t, -1);
            if (st->type == ST_MAP)
                asl__emit(x, t, E_MapStateAborted, st);
            else if (st->type == ST_PARALLEL)
                asl__emit(x, t, E_ParallelStateAborted, st);
        } else if (st->type == ST_TASK && t->wait_id) {
            asl__emit(x, t, E_TaskStateAborted, st);
        } else if (st->type == ST_WAIT && t->wait_id && !x->stopping) {
            asl__emit(x, t, E_WaitStateAborted, st);
        }
    }
    waits_drop_thr(x, t);
}

/* ---- driving --------------------------------------------------------------------------- */
/* AWS: a Standard execution's history holds at most 25,000 events. */
#define ASL_MAX_EVENTS 25000

static void exec_terminate(asl_exec *x, int type, int status, const char *err, const char *cause);

static void run_queue(asl_exec *x)
{
    while (x->rq_len > 0 && x->status == ASL_RUNNING) {
        if (x->oom)
            break;
        if (x->nev >= ASL_MAX_EVENTS) {
            x->rq_len = 0;
            exec_terminate(x, E_ExecutionFailed, ASL_FAILED, "States.Runtime",
                           "The execution reached the maximum number of history events (25000).");
            return;
        }
        thr *t = x->runq[x->rq_head];
        x->rq_head = (x->rq_head + 1) % x->rq_cap;
        x->rq_len--;
        thr_run(x, t);
    }
    x->rq_len = 0;
    if (x->oom && x->status == ASL_RUNNING) {
        /* visibly failed, not silently short of events */
        exec_terminate(x, E_ExecutionFailed, ASL_FAILED, "States.Runtime",
                       "The local engine ran out of memory while recording this execution's "
                       "history; the execution is failed rather than left with events missing.");
        return;
    }
    /* Tasks dispatched in this step have started by now (an activity's
     * when a worker takes it: ASL_IN_TASK_STARTED). */
    for (size_t i = 0; i < x->nunstarted; i++) {
        wait *w = wait_find(x, x->unstarted[i]);
        if (w && x->status == ASL_RUNNING && asl__cur_state(w->t)->task_kind != TK_ACTIVITY)
            task_started(x, w);
    }
    x->nunstarted = 0;
}

/* A new execution with its ExecutionStarted event, no thread yet. */
static asl_exec *exec_new(const asl_machine *m, const asl_exec_info *info, json_t *input)
{
    asl_exec *x = calloc(1, sizeof *x);
    if (x == NULL)
        return NULL;
    x->m = m;
    x->arn = asl__xstrdup(info->execution_arn ? info->execution_arn : "");
    x->name = asl__xstrdup(info->execution_name ? info->execution_name : "");
    x->sm_arn = asl__xstrdup(info->state_machine_arn ? info->state_machine_arn : "");
    x->sm_name = asl__xstrdup(info->state_machine_name ? info->state_machine_name : "");
    x->role = asl__xstrdup(info->role_arn ? info->role_arn : "");
    if (!x->arn || !x->name || !x->sm_arn || !x->sm_name || !x->role) {
        asl_exec_free(x);
        return NULL;
    }
    x->start_ms = info->start_ms;
    x->now = info->start_ms;
    x->redrive_count = info->redrive_count;
    x->rng.s = info->seed;
    x->input = json_incref(input ? input : json_object());
    x->status = ASL_RUNNING;

    ev *e = asl__emit(x, NULL, E_ExecutionStarted, NULL);
    if (e) {
        e->a = json_incref(x->input);
        e->prev = 0;
    }
    return x;
}

asl_exec *asl_exec_start(const asl_machine *m, const asl_exec_info *info, json_t *input)
{
    asl_exec *x = exec_new(m, info, input);
    if (x == NULL)
        return NULL;
    x->root = asl__thr_new(x, m->root, NULL, 0, x->input);
    if (x->root == NULL) {
        asl_exec_free(x);
        return NULL;
    }
    if (m->timeout_s > 0)
        timer_arm(x, x->root, W_EXEC_TIMEOUT, x->start_ms + (int64_t)m->timeout_s * 1000);
    asl__enqueue(x, x->root);
    run_queue(x);
    return x;
}

asl_exec *asl__exec_start_probe(const asl_machine *m, const asl_exec_info *info, json_t *input, asl_probe *p,
                                const prog *pg, int idx, json_t *vars)
{
    asl_exec *x = exec_new(m, info, input);
    if (x == NULL)
        return NULL;
    x->probe = p;
    x->root = asl__thr_new(x, pg, NULL, 0, x->input);
    if (x->root == NULL || (vars && (x->root->vars = asl_json_copy(vars)) == NULL)) {
        asl_exec_free(x);
        return NULL;
    }
    x->root->cur = idx;
    x->root->probe = 1;
    x->root->retry_count = p->retrier_count;
    asl__enqueue(x, x->root);
    run_queue(x);
    return x;
}

static void exec_terminate(asl_exec *x, int type, int status, const char *err, const char *cause)
{
    x->stopping = type == E_ExecutionAborted;
    asl__abort_thr(x, x->root);
    ev *e = asl__emit(x, NULL, type, NULL);
    if (e) {
        e->err = asl__xstrdup(err);
        e->cause = asl__xstrdup(cause);
        if (type == E_ExecutionAborted)
            e->prev = 0; /* as AWS records a stopped execution's last event */
    }
    exec_clear_waits(x);
    exec_end(x, status, NULL, err, cause);
}

/* Redrive: the root thread runs again from the state it failed in, with the
 * input it had there (AWS re-runs only what did not succeed). */
static int exec_redrive(asl_exec *x, const asl_input *in)
{
    thr *t = x->root;
    if (t == NULL || x->status == ASL_RUNNING || x->status == ASL_SUCCEEDED || asl__cur_state(t) == NULL)
        return SFN_ESTATE;
    x->ncmd = 0;
    if (in->now_ms > x->now)
        x->now = in->now_ms;
    x->redrive_count++;
    ev *e = asl__emit(x, NULL, E_ExecutionRedriven, NULL);
    if (e)
        e->n = x->redrive_count;
    x->status = ASL_RUNNING;
    json_decref(x->output);
    x->output = NULL;
    free(x->error);
    free(x->cause);
    x->error = x->cause = NULL;
    x->stop_ms = 0;
    t->ended = t->failed = 0;
    free(t->err);
    free(t->cause);
    t->err = t->cause = NULL;
    t->last = (uint32_t)x->nev;
    asl__children_free(t);
    thr_reset_state(t);
    if (x->m->timeout_s > 0)
        timer_arm(x, t, W_EXEC_TIMEOUT, x->now + (int64_t)x->m->timeout_s * 1000);
    asl__enqueue(x, t);
    run_queue(x);
    return SFN_OK;
}

int asl_exec_redrive_count(const asl_exec *x) { return x->redrive_count; }

/* A timer fired. Returns 0 (the queue runs next), 1 when it ended the
 * execution, or SFN_ENOENT. */
static int timer_fired(asl_exec *x, wait *w, uint64_t id)
{
    thr *t = w->t;
    int kind = w->kind;
    wait_remove(x, id);
    switch (kind) {
    case W_WAIT:
        t->wait_id = 0;
        wait_finish(x, t);
        return 0;
    case W_BACKOFF:
        t->wait_id = 0;
        t->phase = PH_READY;
        state_attempt(x, t);
        return 0;
    case W_TIMEOUT:
    case W_HEARTBEAT:
        task_timed_out(x, t, kind);
        return 0;
    case W_EXEC_TIMEOUT:
        exec_terminate(x, E_ExecutionTimedOut, ASL_TIMED_OUT, "States.Timeout", NULL);
        return 1;
    default:
        return SFN_ENOENT;
    }
}

int asl_exec_feed(asl_exec *x, const asl_input *in)
{
    if (in->kind == ASL_IN_REDRIVE)
        return exec_redrive(x, in);
    if (x->status != ASL_RUNNING)
        return SFN_ESTATE;
    x->ncmd = 0;
    if (in->now_ms > x->now)
        x->now = in->now_ms;
    if (in->kind == ASL_IN_STOP) {
        exec_terminate(x, E_ExecutionAborted, ASL_ABORTED, in->error, in->cause);
        return SFN_OK;
    }
    if (in->kind == ASL_IN_MAP_RUN_UPDATE) {
        int rc = asl__maprun_update(x, in);
        if (rc == SFN_OK)
            run_queue(x);
        return rc;
    }
    wait *w = wait_find(x, in->id);
    if (w == NULL)
        return SFN_ENOENT;
    thr *t = w->t;
    switch (in->kind) {
    case ASL_IN_TASK_SUCCEEDED:
    case ASL_IN_TASK_FAILED:
    case ASL_IN_TASK_SCHEDULE_FAILED:
        if (w->kind != W_TASK)
            return SFN_ENOENT;
        task_answered(x, w, in);
        break;
    case ASL_IN_TASK_STARTED:
        if (w->kind != W_TASK)
            return SFN_ENOENT;
        task_started_by(x, w, in->cause);
        break;
    case ASL_IN_TASK_SUBMITTED:
        if (w->kind != W_TASK)
            return SFN_ENOENT;
        task_submitted(x, w, in);
        break;
    case ASL_IN_HEARTBEAT:
        if (w->kind != W_TASK)
            return SFN_ENOENT;
        if (t->hb_timer) {
            wait_remove(x, t->hb_timer);
            t->hb_timer = timer_arm(x, t, W_HEARTBEAT, x->now + (int64_t)w->cmd.heartbeat_s * 1000);
        }
        break;
    case ASL_IN_TIMER: {
        int rc = timer_fired(x, w, in->id);
        if (rc != 0)
            return rc > 0 ? SFN_OK : rc;
        break;
    }
    default:
        return SFN_EINVAL;
    }
    run_queue(x);
    return SFN_OK;
}

size_t asl_exec_cmds(const asl_exec *x, const asl_cmd **cmds)
{
    *cmds = x->cmds;
    return x->status == ASL_RUNNING ? x->ncmd : 0;
}

size_t asl_exec_pending(asl_exec *x, const asl_cmd **cmds)
{
    if (asl__grow((void **)&x->pend, &x->capend, x->nwait + 1, sizeof *x->pend) != 0) {
        *cmds = NULL;
        return 0;
    }
    for (size_t i = 0; i < x->nwait; i++)
        x->pend[i] = x->waits[i].cmd;
    *cmds = x->pend;
    return x->nwait;
}

void asl_exec_free(asl_exec *x)
{
    if (x == NULL)
        return;
    exec_clear_waits(x);
    asl_jbuf_cleanup(&x->dd_text);
    json_decref(x->ctx_exec);
    json_decref(x->ctx_sm);
    for (size_t i = 0; i < x->nall; i++)
        thr_free(x->all[i]);
    free(x->all);
    asl__events_free(x);
    free(x->waits);
    free(x->cmds);
    free(x->pend);
    free(x->runq);
    free(x->unstarted);
    free(x->mruns);
    json_decref(x->input);
    json_decref(x->output);
    free(x->error);
    free(x->cause);
    free(x->arn);
    free(x->name);
    free(x->sm_arn);
    free(x->sm_name);
    free(x->role);
    free(x);
}

const char *asl_status_name(int status)
{
    static const char *const n[] = {"RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"};
    return status >= 0 && status <= ASL_ABORTED ? n[status] : "UNKNOWN";
}

int asl_exec_status(const asl_exec *x) { return x->status; }
json_t *asl_exec_output_get(const asl_exec *x) { return x->output; }
const char *asl_exec_error(const asl_exec *x) { return x->error; }
const char *asl_exec_cause(const asl_exec *x) { return x->cause; }
int64_t asl_exec_stop_ms(const asl_exec *x) { return x->stop_ms; }
uint64_t asl_exec_transitions(const asl_exec *x) { return x->transitions; }

int asl_exec_task_timed_out(const asl_exec *x, uint64_t id)
{
    size_t cap = sizeof x->timed_out / sizeof x->timed_out[0];
    size_t n = x->ntimed_out < cap ? x->ntimed_out : cap;
    for (size_t i = 0; i < n; i++)
        if (x->timed_out[i] == id)
            return 1;
    return 0;
}
