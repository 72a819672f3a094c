/*
 * lam_bench.c - the cost of one invocation through the local Runtime API:
 *   lam_bench BOOTSTRAP [N] [CONCURRENCY] [MAX_PROCS]
 * keeps CONCURRENCY invocations of the fixture's echo in flight until N are
 * done; prints invocations/s, and the CPU µs per invocation of this process
 * (the loop side) and of everything (with the reaped function processes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "ev.h"
#include "lam.h"

static lam *L;
static ev_loop *loop;
static long n_total, n_started, n_done;
static const char payload[] = "{\"tripId\":\"abc-123\",\"depart\":\"London\",\"arrive\":\"Dublin\",\"hotel\":\"holiday inn\"}";

static void on_done(void *ud, const lam_result *r);

static void start_one(void)
{
    n_started++;
    if (lam_invoke(L, "echo", payload, sizeof payload - 1, on_done, NULL, NULL) != 0)
        abort();
}

static void on_done(void *ud, const lam_result *r)
{
    if (r->status != LAM_OK)
        abort();
    n_done++;
    if (n_started < n_total)
        start_one();
    if (n_done == n_total)
        ev_stop(loop);
}

static double cpu_us(int who)
{
    struct rusage ru;
    getrusage(who, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    n_total = argc > 2 ? atol(argv[2]) : 100000;
    int conc = argc > 3 ? atoi(argv[3]) : 8;
    int maxp = argc > 4 ? atoi(argv[4]) : 8;
    loop = ev_create();
    lam_opts o = {.max_procs = maxp, .log_discard = 1};
    L = lam_create(loop, &o);
    lam_function_def d = {.name = "echo", .bootstrap = argv[1], .handler = "echo", .timeout_s = 30};
    lam_function_add(L, &d);
    /* warm up the pool */
    long warm = n_total;
    n_total = 2000;
    for (int i = 0; i < conc; i++)
        start_one();
    ev_run(loop);
    n_total = warm;
    n_started = n_done = 0;
    double c0 = cpu_us(RUSAGE_SELF);
    int64_t t0 = ev_now_us();
    for (int i = 0; i < conc && i < n_total; i++)
        start_one();
    ev_run(loop);
    int64_t t1 = ev_now_us();
    double c1 = cpu_us(RUSAGE_SELF);
    lam_stats st;
    lam_stats_get(L, &st);
    lam_free(L);
    double call = cpu_us(RUSAGE_CHILDREN);
    printf("{\"n\":%ld,\"concurrency\":%d,\"procs\":%d,\"inv_per_s\":%.0f,\"loop_cpu_us_per_inv\":%.1f,"
           "\"children_cpu_us_per_inv_incl_warmup\":%.1f}\n",
           n_total, conc, st.procs, (double)n_total * 1e6 / (double)(t1 - t0), (c1 - c0) / (double)n_total,
           call / (double)(n_total + 2000));
    ev_free(loop);
    return 0;
}
