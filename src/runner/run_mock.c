/*
 * run_mock.c - executions that run a mock configuration's test case (see
 * run_mock.h), and the runner's mock configuration (run.h).
 */
#include "run_mock.h"

#include "asl_mock.h"

#include <stdlib.h>
#include <string.h>

typedef struct count {
    char *state;
    unsigned n;      /* invocations numbered so far */
} count;

typedef struct issued {
    uint64_t task;
    const char *state; /* points into counts */
    unsigned n;
} issued;

struct run_mock_exec {
    char *machine, *test_case;
    count *c;
    size_t nc;
    issued *t;       /* issued, not yet dispatched (or answered in a replay) */
    size_t nt, capt;
};

run_mock_exec *run__mock_exec_new(const char *machine, const char *test_case)
{
    run_mock_exec *m = calloc(1, sizeof *m);
    if (m == NULL || (m->machine = strdup(machine)) == NULL ||
        (m->test_case = strdup(test_case)) == NULL) {
        run__mock_exec_free(m);
        return NULL;
    }
    return m;
}

void run__mock_exec_free(run_mock_exec *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nc; i++)
        free(m->c[i].state);
    free(m->c);
    free(m->t);
    free(m->machine);
    free(m->test_case);
    free(m);
}

const char *run__mock_test_case(const run_mock_exec *m)
{
    return m->test_case;
}

static count *count_of(run_mock_exec *m, const char *state)
{
    for (size_t i = 0; i < m->nc; i++)
        if (strcmp(m->c[i].state, state) == 0)
            return &m->c[i];
    count *nc = realloc(m->c, (m->nc + 1) * sizeof *nc);
    if (nc == NULL)
        return NULL;
    m->c = nc;
    char *s = strdup(state);
    if (s == NULL)
        return NULL;
    m->c[m->nc] = (count){.state = s, .n = 0};
    return &m->c[m->nc++];
}

static issued *find(run_mock_exec *m, uint64_t task)
{
    for (size_t i = 0; i < m->nt; i++)
        if (m->t[i].task == task)
            return &m->t[i];
    return NULL;
}

int run__mock_issue(run_mock_exec *m, const asl_cmd *cmds, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const asl_cmd *c = &cmds[i];
        if (c->kind != ASL_CMD_INVOKE || c->state == NULL || find(m, c->id))
            continue; /* a timer, or dispatched again after a replay */
        count *k = count_of(m, c->state);
        if (k == NULL)
            return -1;
        if (m->nt == m->capt) {
            size_t cap = m->capt ? m->capt * 2 : 8;
            issued *nt = realloc(m->t, cap * sizeof *nt);
            if (nt == NULL)
                return -1;
            m->t = nt;
            m->capt = cap;
        }
        m->t[m->nt++] = (issued){.task = c->id, .state = k->state, .n = k->n++};
    }
    return 0;
}

void run__mock_answered(run_mock_exec *m, uint64_t task)
{
    issued *t = find(m, task);
    if (t)
        *t = m->t[--m->nt];
}

int run__mock_invoke(run *r, rexec *e, dispatch *d)
{
    run_mock_exec *m = e->mock;
    issued *t = find(m, d->id);
    if (t == NULL)
        return 0;
    issued it = *t;
    *t = m->t[--m->nt];
    asl_mock_answer a;
    asl_cmd c = {.kind = ASL_CMD_INVOKE, .id = d->id, .resource = d->resource,
                 .function = d->function};
    if (asl_mock_answer_get(r->mock, m->machine, m->test_case, it.state, &c, it.n, &a) != SFN_OK) {
        run__exec_lose(r, e, "mock");
        return 1;
    }
    if (a.kind == ASL_MOCK_NONE)
        return 0;
    asl_input in = {.id = d->id, .now_ms = run__exec_now(e)};
    if (a.kind == ASL_MOCK_RETURN) {
        in.kind = ASL_IN_TASK_SUCCEEDED;
        in.result = a.result;
    } else {
        in.kind = ASL_IN_TASK_FAILED;
        in.error = a.error;
        in.cause = a.cause;
    }
    run__exec_feed(r, e, &in);
    json_decref(a.result);
    return 1;
}

/* ---- the runner's configuration (run.h) ---------------------------------- */
void run_mock_config(run *r, asl_mock *m)
{
    asl_mock_free(r->mock);
    r->mock = m;
}

int run_mock_loaded(const run *r)
{
    return r->mock != NULL;
}

int run_mock_has_case(const run *r, const char *machine, const char *test_case)
{
    return asl_mock_has_case(r->mock, machine, test_case);
}
