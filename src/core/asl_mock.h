/*
 * asl_mock.h - mock configuration files in the format of Step Functions
 * Local ("Using mocked service integrations for testing in Step Functions
 * Local"), shared by sfnd (--mock-config, SFN_MOCK_CONFIG) and `sfn test`.
 *
 *   {"StateMachines": {"<machine name>": {"TestCases": {
 *        "<test case>": {"<state name>": "<mocked response name>", ...}}}},
 *    "MockedResponses": {"<mocked response name>": {
 *        "0": {"Return": <the integration's response>},
 *        "1-3": {"Throw": {"Error": "...", "Cause": "..."}}, ...}}}
 *
 * A state is named by its state name, wherever it is (inside Parallel
 * branches and Map iterations too). A mocked response is indexed by the
 * state's invocation number in the execution (0 first; every attempt
 * counts, retries included, and so does every entry into the state): a
 * key is one number or an inclusive range "N-M". An invocation no key
 * covers fails the execution with States.Runtime (AWS: "If you do not
 * specify a mocked response ... the state machine execution will fail").
 *
 * Return is the integration's response. For a Task that invokes a Lambda
 * function (its Resource is the function's ARN, or
 * arn:aws:states:::lambda:invoke) it is the Invoke response {"StatusCode",
 * "Payload", ...}: its Payload is what the function returned, and the state
 * gets it as from a real invocation (the Payload itself for a function
 * ARN; lambda:invoke's response with that Payload, as the engine shapes
 * it). For every other integration the whole Return is the service's
 * response. An activity cannot be mocked (States.Runtime, as Step
 * Functions Local says).
 *
 * Validation (asl_mock_parse) is strict: bad JSON, duplicate keys, an
 * unknown top-level member, a test case naming a mocked response that does
 * not exist, a key that is not "N" or "N-M" (N <= M), overlapping keys, an
 * entry without exactly one of Return/Throw, a Throw without string Error
 * and Cause. Each message is "<file>: <path in the JSON>: <what is wrong>".
 *
 * No I/O but asl_mock_load's read of the file.
 */
#ifndef ASL_MOCK_H
#define ASL_MOCK_H

#include <jansson.h>
#include <stddef.h>

#include "asl.h"

typedef struct asl_mock asl_mock;

/* Parse and validate text (name: the file's name, for messages). Returns
 * SFN_OK with *out, SFN_EINVAL with err set, or SFN_ENOMEM. */
int asl_mock_parse(const char *text, size_t len, const char *name, asl_mock **out, char *err,
                   size_t errlen);
/* asl_mock_parse of the file at path (an unreadable file is SFN_EINVAL). */
int asl_mock_load(const char *path, asl_mock **out, char *err, size_t errlen);
void asl_mock_free(asl_mock *m);
/* The file the configuration came from (asl_mock_parse's name). */
const char *asl_mock_name(const asl_mock *m);

/* Nonzero when machine has test case test_case. */
int asl_mock_has_case(const asl_mock *m, const char *machine, const char *test_case);

enum asl_mock_kind {
    ASL_MOCK_NONE = 0,   /* the state is not mocked in this test case */
    ASL_MOCK_RETURN,     /* result: the state's result (a new reference) */
    ASL_MOCK_THROW,      /* error, cause: the task fails with them */
};

typedef struct asl_mock_answer {
    int kind;             /* enum asl_mock_kind */
    json_t *result;       /* ASL_MOCK_RETURN: new reference */
    const char *error;    /* ASL_MOCK_THROW: borrowed (from the config, or buf) */
    const char *cause;
    char buf[768];        /* room for a States.Runtime cause */
} asl_mock_answer;

/* What state answers at its invocation n (0-based) in test_case of
 * machine; c is the core's command (its Resource, and whether it invokes a
 * Lambda function). A missing test case, an invocation no key covers and
 * an activity are ASL_MOCK_THROW of States.Runtime. Returns SFN_OK or
 * SFN_ENOMEM. */
int asl_mock_answer_get(const asl_mock *m, const char *machine, const char *test_case,
                        const char *state, const asl_cmd *c, unsigned n, asl_mock_answer *a);

/* Whether want is a JSON subset of got: objects by their members (got may
 * have more), arrays element by element (the same length), numbers by
 * value (1 and 1.0 are equal), the rest equal. Returns 1, or 0 with where
 * (if not NULL) set to the path of the first difference ("$.a[2].b"). */
int asl_json_subset(const json_t *want, const json_t *got, char *where, size_t wherelen);
/* The same, with *want_at and *got_at (each may be NULL) set to the values
 * that differ at where (*got_at NULL: got has nothing there). */
int asl_json_subset_diff(const json_t *want, const json_t *got, char *where, size_t wherelen,
                         const json_t **want_at, const json_t **got_at);

#endif
