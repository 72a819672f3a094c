/*
 * oom.h - failing allocations for the out-of-memory tests (test_run.c,
 * test_asl_oom.c), as SQLite's OOM tests do: arm with N, and the Nth
 * allocation after arming fails, once. A test binary linked with
 *   -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=strndup
 * and oom.c gets every libc allocation of the code under test (static
 * libraries included), and jansson's: the core installs an allocator for
 * it that calls malloc (asl_json.c).
 *
 * OOM_TRACE=N (or the test's own variable, see oom_init) prints the stack
 * of allocation N when it fails.
 */
#ifndef SFN_TEST_OOM_H
#define SFN_TEST_OOM_H

#include <stddef.h>

/* trace_env names the variable that holds N for the stack print (NULL:
 * OOM_TRACE). */
void oom_init(const char *trace_env);
/* The nth allocation from now fails (n < 0: none). */
void oom_arm(long n);
/* Stop failing. Returns 1 when the armed allocation was reached. */
int oom_disarm(void);

/* The real allocator, for what the test itself keeps across a run. */
void *__real_malloc(size_t n);
char *__real_strdup(const char *s);

#endif
