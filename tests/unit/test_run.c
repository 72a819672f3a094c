/*
 * test_run.c - the runner (src/runner) in-process: a store on a temporary
 * file, the loop, no Lambda; and its behaviour when memory runs out.
 *
 * The allocation test works as SQLite's OOM tests do: for N = 1, 2, ...
 * the Nth allocation made by the runner, the store, the core and jansson
 * after the execution starts fails (once), and the execution must still
 * end right: SUCCEEDED with the expected output, or FAILED visibly
 * (States.Runtime from the core's sticky out-of-memory), or its start
 * refused with nothing stored. Never a crash, a leak (ASan), a stored
 * status that differs from what the waiter heard, an execution left
 * RUNNING. The loop ends at the first N that no allocation reaches: every
 * allocation of the path (about 500) was made to fail once.
 *
 * TEST_RUN_TRACE=N prints the stack of allocation N when it fails.
 *
 * The allocations are caught with the linker's --wrap (malloc, calloc,
 * realloc, strdup, strndup; see tests/unit/CMakeLists of src/runner) and
 * json_set_alloc_funcs for jansson.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <execinfo.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "asl.h"
#include "ev.h"
#include "oom.h"
#include "run.h"
#include "store.h"

/* ---- a runner on a fresh store ------------------------------------------ */
typedef struct fixture {
    char path[64];
    ev_loop *loop;
    store *st;
    run *r;
    store_sm sm;
} fixture;

/* Pass, Wait (a timer), Map, Parallel, Choice, Succeed. */
static const char machine[] =
    "{\"StartAt\":\"P\",\"States\":{"
    "\"P\":{\"Type\":\"Pass\",\"Result\":{\"xs\":[1,2,3]},\"ResultPath\":\"$.d\",\"Next\":\"W\"},"
    "\"W\":{\"Type\":\"Wait\",\"Seconds\":0,\"Next\":\"M\"},"
    "\"M\":{\"Type\":\"Map\",\"ItemsPath\":\"$.d.xs\",\"ResultPath\":\"$.m\",\"ItemProcessor\":{"
    "\"ProcessorConfig\":{\"Mode\":\"INLINE\"},\"StartAt\":\"I\",\"States\":{"
    "\"I\":{\"Type\":\"Pass\",\"Parameters\":{\"v.$\":\"$\"},\"End\":true}}},\"Next\":\"B\"},"
    "\"B\":{\"Type\":\"Parallel\",\"ResultPath\":\"$.b\",\"Branches\":["
    "{\"StartAt\":\"B1\",\"States\":{\"B1\":{\"Type\":\"Pass\",\"Result\":1,\"End\":true}}},"
    "{\"StartAt\":\"B2\",\"States\":{\"B2\":{\"Type\":\"Pass\",\"Result\":2,\"End\":true}}}],"
    "\"Next\":\"C\"},"
    "\"C\":{\"Type\":\"Choice\",\"Choices\":[{\"Variable\":\"$.b[1]\",\"NumericEquals\":2,"
    "\"Next\":\"S\"}],\"Default\":\"F\"},"
    "\"F\":{\"Type\":\"Fail\",\"Error\":\"Wrong\"},"
    "\"S\":{\"Type\":\"Succeed\"}}}";
static const char expected[] =
    "{\"in\":1,\"d\":{\"xs\":[1,2,3]},\"m\":[{\"v\":1},{\"v\":2},{\"v\":3}],\"b\":[1,2]}";

static void fixture_open(fixture *f)
{
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "/tmp/test_run_%ld.db", (long)getpid());
    unlink(f->path);
    char err[256];
    assert_int_equal(store_open(f->path, 1, &f->st, err, sizeof err), STORE_OK);
    f->loop = ev_create();
    assert_non_null(f->loop);
    run_opts o = {.loop = f->loop, .st = f->st, .quiet = 1, .probe_ms = 1};
    f->r = run_create(&o);
    assert_non_null(f->r);
    f->sm = (store_sm){.arn = "arn:aws:states:us-east-1:123456789012:stateMachine:M",
                       .name = "M", .role_arn = "arn:aws:iam::123456789012:role/r"};
    assert_int_equal(run_sm_save(f->r, &f->sm, machine), 0);
    run_flush(f->r);
}

static void fixture_close(fixture *f)
{
    run_free(f->r);
    store_close(f->st);
    ev_free(f->loop);
    char p[80];
    unlink(f->path);
    snprintf(p, sizeof p, "%s-wal", f->path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", f->path);
    unlink(p);
    snprintf(p, sizeof p, "%s-lock", f->path);
    unlink(p);
}

typedef struct outcome {
    int called, rc, status;
    char *output, *error, *cause;
} outcome;

static void on_done(void *ud, int rc, const run_result *res)
{
    outcome *o = ud;
    o->called = 1;
    o->rc = rc;
    if (rc == 0) {
        o->status = res->status;
        o->output = res->output ? __real_strdup(res->output) : NULL;
        o->error = res->error ? __real_strdup(res->error) : NULL;
        o->cause = res->cause ? __real_strdup(res->cause) : NULL;
    }
}

static void drive(fixture *f, outcome *o, int ms)
{
    int64_t end = ev_now_ms() + ms;
    while (!o->called && ev_now_ms() < end)
        ev_run_once(f->loop, 5);
    run_flush(f->r);
}

static int same_json(const char *a, const char *b)
{
    json_error_t je;
    json_t *x = json_loads(a, JSON_DECODE_ANY, &je), *y = json_loads(b, JSON_DECODE_ANY, &je);
    int eq = x && y && json_equal(x, y);
    json_decref(x);
    json_decref(y);
    return eq;
}

/* One execution with the Nth allocation failing (n < 0: none). Returns 1
 * when the failure was reached. */
static int one_run(long n, const char *name, int *refused, int *failed_visibly, int *stuck)
{
    fixture f;
    fixture_open(&f);
    outcome o = {0};
    json_t *in = json_pack("{s:i}", "in", 1);
    run_start s = {.sm = &f.sm, .name = name, .input_text = "{\"in\":1}", .input = in};
    char *arn = NULL;
    int64_t start_ms;
    oom_arm(n);
    int rc = run_exec_start(f.r, &s, on_done, &o, &arn, &start_ms);
    if (rc == 0) {
        run_flush(f.r);
        drive(&f, &o, 5000);
    }
    int hit = oom_disarm();
    json_decref(in);
    run_flush(f.r); /* a refused start's transaction ends (rolled back) */
    if (rc == 0 && !o.called)
        drive(&f, &o, 5000); /* set aside: resumed after the probe */
    char full[256];
    snprintf(full, sizeof full, "arn:aws:states:us-east-1:123456789012:execution:M:%s", name);
    store_exec x;
    int have = store_exec_get(f.st, full, &x) == STORE_OK;
    if (rc != 0 || (o.called && o.rc == RUN_EUNAVAIL)) {
        /* refused: nothing of it stored */
        if (have)
            fprintf(stderr, "N=%ld: refused (%d, %d) but stored\n", n, rc, o.rc);
        if (rc != 0 && rc != RUN_EUNAVAIL && rc != RUN_ENOMEM)
            fprintf(stderr, "N=%ld: start returned %d\n", n, rc);
        if (rc != 0)
            assert_true(rc == RUN_EUNAVAIL || rc == RUN_ENOMEM);
        assert_false(have);
        (*refused)++;
    } else {
        if (!o.called) {
            run_stats rs;
            run_stats_get(f.r, &rs);
            fprintf(stderr, "N=%ld: the execution never ended (running %d, set aside %d, "
                            "unavailable %d, stored status %d)\n",
                    n, rs.running, rs.suspended, rs.unavailable, have ? x.status : -1);
            (*stuck)++;
            goto out; /* liveness: counted and reported (see the note below) */
        }
        assert_int_equal(o.rc, 0);
        assert_true(have);
        assert_int_equal(x.status, o.status); /* the store says what the waiter heard */
        if (o.status == ASL_SUCCEEDED) {
            if (!same_json(o.output, expected))
                fprintf(stderr, "N=%ld: output %s\n", n, o.output);
            assert_true(same_json(o.output, expected));
        } else {
            /* the core ran out of memory: visible, not silent */
            if (o.status != ASL_FAILED || o.error == NULL || strcmp(o.error, "States.Runtime") != 0)
                fprintf(stderr, "N=%ld: status %d error %s cause %s\n", n, o.status,
                        o.error ? o.error : "-", o.cause ? o.cause : "-");
            assert_true(o.status == ASL_FAILED);
            if (o.error != NULL && strcmp(o.error, "States.Runtime") == 0)
                (*failed_visibly)++;
            else
                (*stuck)++; /* ended, but not as out of memory: reported below */
        }
    }
out:
    if (have)
        store_exec_cleanup(&x);
    free(arn);
    free(o.output);
    free(o.error);
    free(o.cause);
    fixture_close(&f);
    return hit;
}

static void test_runs(void **state)
{
    (void)state;
    int refused = 0, visibly = 0, stuck = 0;
    one_run(-1, "plain", &refused, &visibly, &stuck);
    assert_int_equal(refused + visibly + stuck, 0);
}

#define OOM_MAX 100000 /* a bound on the loop, far above the path (~500) */

static void test_out_of_memory_everywhere(void **state)
{
    (void)state;
    int refused = 0, visibly = 0, stuck = 0;
    long n;
    for (n = 1; n <= OOM_MAX; n++) {
        char name[32];
        snprintf(name, sizeof name, "oom-%ld", n);
        if (!one_run(n, name, &refused, &visibly, &stuck))
            break; /* no allocation left to fail */
    }
    fprintf(stderr, "out of memory at each of %ld allocations: %d starts refused, %d failed "
                    "visibly, %d left running or failed otherwise, the rest succeeded\n",
            n - 1, refused, visibly, stuck);
    assert_true(n > 50);     /* the path allocates; the wrap works */
    assert_true(n < OOM_MAX); /* and the loop ended on its own */
    assert_int_equal(stuck, 0);
}

int main(void)
{
    oom_init("TEST_RUN_TRACE");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runs),
        cmocka_unit_test(test_out_of_memory_everywhere),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
