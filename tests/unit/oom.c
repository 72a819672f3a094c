/*
 * oom.c - failing allocations (see oom.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "oom.h"

#include <execinfo.h>
#include <stdlib.h>

void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

static long fail_at = -1; /* the allocation that fails, counted from arming */
static long seen;         /* allocations since arming */
static int fired;         /* fail_at was reached */
static long trace_at = -1;

static int fail_now(void)
{
    if (fail_at < 0)
        return 0;
    if (++seen == fail_at) {
        fired = 1;
        if (fail_at == trace_at) {
            void *bt[32];
            int k = backtrace(bt, 32);
            backtrace_symbols_fd(bt, k, 2);
        }
        return 1;
    }
    return 0;
}

void *__wrap_malloc(size_t n) { return fail_now() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t m) { return fail_now() ? NULL : __real_calloc(n, m); }
void *__wrap_realloc(void *p, size_t n) { return fail_now() ? NULL : __real_realloc(p, n); }
char *__wrap_strdup(const char *s) { return fail_now() ? NULL : __real_strdup(s); }
char *__wrap_strndup(const char *s, size_t n) { return fail_now() ? NULL : __real_strndup(s, n); }

void oom_init(const char *trace_env)
{
    /* jansson allocates through the core's allocator (asl_json.c), which
     * calls malloc: the wrap sees those too */
    const char *tr = getenv(trace_env ? trace_env : "OOM_TRACE");
    if (tr)
        trace_at = atol(tr);
}

void oom_arm(long n)
{
    seen = 0;
    fired = 0;
    fail_at = n;
}

int oom_disarm(void)
{
    fail_at = -1;
    return fired;
}
