/*
 * sfn_test.h - `sfn test`: a state machine's test cases, run in process on
 * the virtual clock (asl_drive.h), with a mock configuration in Step
 * Functions Local's format (asl_mock.h); no daemon, no real task.
 *
 *   sfn test FILE.json... [--junit OUT.xml]
 *
 * A test file (JSON; paths in it are relative to it):
 *   {"definition": "machine.asl.json", "stateMachineName": "M"}    or
 *   {"template": "template.yaml", "stateMachine": "<LogicalId or name>"}
 *   "mockConfig": "mock_config.json"     (the file sfnd --mock-config reads)
 *   "cases": [{"name": "...", "testCase": "<TestCases key>",
 *              "input": <JSON> | "inputFile": "event.json",
 *              "expect": {"status", "error", "cause" | "causeContains",
 *                         "output" | "outputContains" (a JSON subset),
 *                         "path": [states entered, in order],
 *                         "historyTypes": [every event type, in order] |
 *                         "historyContains": [types in this order, others
 *                                             may come between]}}]
 * A template machine gets its DefinitionSubstitutions as sfnd gives them
 * (src/template); a definition file's ${...} get placeholder Lambda ARNs
 * (as `sfn validate`). The machine's name is the key in StateMachines
 * (stateMachineName, default the file's name without .asl.json / .json).
 *
 * Every Task must be mocked by the case's test case: an unmocked one (or
 * a case without testCase that reaches a Task) fails with States.Runtime
 * saying so; `sfn test` runs no function and calls no service.
 *
 * Prints one line per case (PASS/FAIL, milliseconds) and, under a failed
 * one, what differed. Exit 0 when every case passed, 1 when one failed, 2
 * when a file could not be used.
 */
#ifndef SFN_TEST_H
#define SFN_TEST_H

#include <jansson.h>
#include <stdio.h>

#include "asl.h"

int sfn_test_main(int argc, char **argv);

/* Check x (ended) against expect (sfn_test_check.c): each difference is a
 * line written to diff. Returns the number of differences. */
int sfn_test_check(asl_exec *x, const json_t *expect, FILE *diff);

/* One case's outcome, for the report and JUnit XML. */
typedef struct sfn_test_case {
    char *suite, *name;
    double ms;
    int failures;
    char *diff; /* the difference lines */
} sfn_test_case;

/* Write JUnit XML of n cases to path. Returns 0, or -1 (errno). */
int sfn_test_junit(const char *path, const sfn_test_case *c, size_t n);

#endif
