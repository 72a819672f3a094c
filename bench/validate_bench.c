/*
 * validate_bench.c - definition size against validation and compilation
 * time (issue 12: no request may stall the loop).
 *
 * Generates machines of 1k, 5k, 10k and 25k states in two shapes, a chain
 * of Pass states and a mix (Pass, Task with Retry/Catch, Choice with two
 * rules and a Default, Wait), plus the largest chain that fits in AWS's
 * 1 MB definition limit, and times what CreateStateMachine and
 * ValidateStateMachineDefinition do with the text: parse, validate
 * (asl_validate alone: ValidateStateMachineDefinition) and compile
 * (asl_machine_compile: validate + compile, CreateStateMachine). Prints one
 * line per machine and a JSON line each (stderr) for scripts:
 *   shape states bytes parse_ms validate_ms compile_ms total_ms us/state
 * Near-flat us/state is the goal; a quadratic step shows as us/state
 * growing with the state count.
 *
 *   out/bin/validate-bench [--reps N] [--states N]
 *
 * Must not: touch the disk or the network (definitions are generated).
 */
#include "asl.h"
#include "asl_json.h" /* asl_json_parse: what the API layer uses */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#include <stdarg.h>
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (w >= 0 && (size_t)w < b->cap - b->n) {
            b->n += (size_t)w;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (w >= 0 && cap - b->n <= (size_t)w)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
        b->p = p;
        b->cap = cap;
    }
}

/* A chain S0 -> S1 -> ... -> S(n-1) (End). */
static char *gen_chain(int n)
{
    sbuf b = {0};
    sb_printf(&b, "{\"Comment\":\"chain of %d Pass states\",\"StartAt\":\"State%06d\",\"States\":{", n, 0);
    for (int i = 0; i < n; i++) {
        if (i + 1 < n)
            sb_printf(&b, "%s\"State%06d\":{\"Type\":\"Pass\",\"Next\":\"State%06d\"}", i ? "," : "", i, i + 1);
        else
            sb_printf(&b, "%s\"State%06d\":{\"Type\":\"Pass\",\"End\":true}", i ? "," : "", i);
    }
    sb_printf(&b, "}}");
    return b.p;
}

/* Every fourth state: Pass with Parameters, Task with Retry and Catch to a
 * shared handler, Choice jumping ahead, Wait. The last state ends. */
static char *gen_mix(int n)
{
    sbuf b = {0};
    sb_printf(&b, "{\"Comment\":\"mix of %d states\",\"StartAt\":\"State%06d\",\"States\":{", n, 0);
    sb_printf(&b, "\"Handler\":{\"Type\":\"Fail\",\"Error\":\"Caught\",\"Cause\":\"a Catch\"}");
    for (int i = 0; i < n - 1; i++) {
        int next = i + 1 < n - 1 ? i + 1 : -1;
        char nx[64];
        if (next >= 0)
            snprintf(nx, sizeof nx, "\"Next\":\"State%06d\"", next);
        else
            snprintf(nx, sizeof nx, "\"End\":true");
        switch (i % 4) {
        case 0:
            sb_printf(&b, ",\"State%06d\":{\"Type\":\"Pass\",\"Parameters\":{\"i\":%d,\"x.$\":\"$.x\"},"
                          "\"ResultPath\":\"$.p\",%s}", i, i, nx);
            break;
        case 1:
            sb_printf(&b, ",\"State%06d\":{\"Type\":\"Task\",\"Resource\":"
                          "\"arn:aws:lambda:us-east-1:123456789012:function:f%d\",\"TimeoutSeconds\":5,"
                          "\"Retry\":[{\"ErrorEquals\":[\"States.Timeout\"],\"MaxAttempts\":2}],"
                          "\"Catch\":[{\"ErrorEquals\":[\"States.ALL\"],\"Next\":\"Handler\"}],%s}", i, i, nx);
            break;
        case 2:
            if (next < 0) {
                sb_printf(&b, ",\"State%06d\":{\"Type\":\"Succeed\"}", i);
                break;
            }
            sb_printf(&b, ",\"State%06d\":{\"Type\":\"Choice\",\"Choices\":["
                          "{\"Variable\":\"$.x\",\"NumericGreaterThan\":%d,\"Next\":\"State%06d\"},"
                          "{\"And\":[{\"Variable\":\"$.y\",\"IsPresent\":true},"
                          "{\"Variable\":\"$.y\",\"StringEquals\":\"s%d\"}],\"Next\":\"State%06d\"}],"
                          "\"Default\":\"State%06d\"}", i, i, next, i, next, next);
            break;
        default:
            sb_printf(&b, ",\"State%06d\":{\"Type\":\"Wait\",\"Seconds\":1,%s}", i, nx);
            break;
        }
    }
    sb_printf(&b, "}}");
    return b.p;
}

/* The longest Pass chain whose text fits in AWS's 1 MB limit, with a
 * Comment per state to reach it with realistic name lengths. */
static char *gen_1mb(int *nstates)
{
    int n = 1000;
    for (;;) {
        char *t = gen_chain(n);
        size_t len = strlen(t);
        if (len > ASL_MAX_DEFINITION) {
            free(t);
            n = n * 99 / 100;
            t = gen_chain(n);
            *nstates = n;
            return t;
        }
        free(t);
        n = (int)((double)n * (double)ASL_MAX_DEFINITION / (double)len) + 1;
    }
}

/* A definition over AWS's 1 MB limit (the mix at 10k states and more) is
 * parsed with jansson directly, as asl_json_parse refuses it; what is timed
 * after the parse is the same. */
static json_t *parse(const char *text, size_t len, char *err, size_t errlen)
{
    if (len <= ASL_MAX_DEFINITION)
        return asl_json_parse(text, len, err, errlen);
    json_error_t je;
    json_t *v = json_loadb(text, len, 0, &je);
    if (v == NULL)
        snprintf(err, errlen, "%s", je.text);
    return v;
}

static void run(const char *shape, char *text, int nstates, int reps)
{
    size_t len = strlen(text);
    double best_parse = 1e18, best_val = 1e18, best_comp = 1e18;
    for (int r = 0; r < reps; r++) {
        char err[256];
        double t0 = now_ms();
        json_t *def = parse(text, len, err, sizeof err);
        double t1 = now_ms();
        if (def == NULL) {
            fprintf(stderr, "%s: parse failed: %s\n", shape, err);
            exit(1);
        }
        asl_diags d;
        if (asl_validate(def, ASL_STANDARD, &d) != 0) {
            char cause[2048];
            asl_diags_cause(&d, cause, sizeof cause);
            fprintf(stderr, "%s: invalid: %s\n", shape, cause);
            exit(1);
        }
        double t2 = now_ms();
        asl_machine *m = NULL;
        if (asl_machine_compile(def, ASL_STANDARD, &m, &d) != SFN_OK) {
            fprintf(stderr, "%s: compile failed\n", shape);
            exit(1);
        }
        double t3 = now_ms();
        asl_machine_free(m);
        json_decref(def);
        if (t1 - t0 < best_parse)
            best_parse = t1 - t0;
        if (t2 - t1 < best_val)
            best_val = t2 - t1;
        if (t3 - t2 < best_comp)
            best_comp = t3 - t2;
    }
    double total = best_parse + best_comp;
    printf("%-6s %6d %8zu%c %8.2f %11.2f %10.2f %8.2f %9.2f\n", shape, nstates, len,
           len > ASL_MAX_DEFINITION ? '*' : ' ', best_parse, best_val, best_comp, total, total * 1e3 / nstates);
    fflush(stdout);
    fprintf(stderr,
            "{\"shape\":\"%s\",\"states\":%d,\"bytes\":%zu,\"parse_ms\":%.3f,\"validate_ms\":%.3f,"
            "\"compile_ms\":%.3f,\"total_ms\":%.3f,\"us_per_state\":%.3f}\n",
            shape, nstates, len, best_parse, best_val, best_comp, total, total * 1e3 / nstates);
}

int main(int argc, char **argv)
{
    int reps = 3, only = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--states") == 0 && i + 1 < argc)
            only = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--reps N] [--states N]\n", argv[0]);
            return 2;
        }
    }
    static const int sizes[] = {1000, 5000, 10000, 25000};
    printf("compile = validate + compile (what CreateStateMachine does after the parse); total = parse + compile;\n"
           "* = over AWS's 1 MB definition limit (parsed with jansson directly)\n");
    printf("shape  states     bytes  parse_ms validate_ms compile_ms total_ms  us/state\n");
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        if (only && sizes[s] != only)
            continue;
        char *t = gen_chain(sizes[s]);
        run("chain", t, sizes[s], reps);
        free(t);
        t = gen_mix(sizes[s]);
        run("mix", t, sizes[s], reps);
        free(t);
    }
    if (!only) {
        int n = 0;
        char *t = gen_1mb(&n);
        run("1MB", t, n, reps);
        free(t);
    }
    return 0;
}
