/*
 * run_mock.h - executions that run a test case of a mock configuration
 * (asl_mock.h; internal to src/runner). Started on
 * <stateMachineArn>#<TestCaseName>, such an execution keeps the test case
 * name (in the store with its row: recovery runs it with the same mocks,
 * from the configuration re-read at start-up) and counts, per state name,
 * the invocations the core asks for: a mocked state's Nth invocation is
 * answered with the mocked response's entry N, in the runner, at dispatch,
 * and fed like any task's answer (logged as an input, so a replay does not
 * ask the mock again). Nothing leaves the process for a mocked task:
 * Lambda, any service integration, .sync (the Return is the job's final
 * result) and .waitForTaskToken (the Return is what SendTaskSuccess would
 * have sent; the token is made as for a real task and then not needed).
 *
 * An invocation's number is given when the core issues the command (and
 * again, in the same order, when an execution is replayed), so a task in
 * flight at a crash keeps its number when it is dispatched again.
 *
 * Threading: the loop's thread.
 */
#ifndef SFN_RUN_MOCK_H
#define SFN_RUN_MOCK_H

#include "run_int.h"

typedef struct run_mock_exec run_mock_exec;

/* NULL when out of memory. */
run_mock_exec *run__mock_exec_new(const char *machine, const char *test_case);
void run__mock_exec_free(run_mock_exec *m);
const char *run__mock_test_case(const run_mock_exec *m);
/* The core issued cmds: number each new Task invocation. Returns 0, or -1
 * when out of memory. */
int run__mock_issue(run_mock_exec *m, const asl_cmd *cmds, size_t n);
/* Replay fed the answer of task id: it will not be dispatched again. */
void run__mock_answered(run_mock_exec *m, uint64_t task);
/* Dispatch of d, a task of e (which runs a test case): 1 when the mock
 * answered it (fed already), 0 when the state is not mocked (the real task
 * runs). */
int run__mock_invoke(run *r, rexec *e, dispatch *d);

#endif
