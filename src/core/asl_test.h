/*
 * asl_test.h - TestState: one state run on its own, as AWS's TestState API
 * runs it (API reference "TestState"; developer guide "Using TestState API
 * to test a state", with the 2025 mocks).
 *
 * The state is a definition of one state, or a state of a whole machine
 * (stateName, at any depth: Parallel branches, Map processors). It runs in
 * the engine's own walk (asl_exec.c), so its fields mean exactly what they
 * mean in an execution; the test stops where the state would hand over to
 * the next one and reports status (SUCCEEDED, FAILED, RETRIABLE,
 * CAUGHT_ERROR), output, error, cause, nextState and the inspection data of
 * the level asked for.
 *
 * A Task is answered by the mock, or else by the caller (asl_test_pending,
 * asl_test_feed): sfnd invokes the local Lambda function. Like the rest of
 * the core this does no I/O, reads no clock and draws no random numbers of
 * its own: the caller passes the names, ARNs and the time in.
 *
 * Must not: store anything or run a task itself (the caller does), nor
 * differ from an execution in what a state's fields compute.
 *
 * Ownership as in asl.h.
 */
#ifndef ASL_TEST_H
#define ASL_TEST_H

#include "asl.h"

enum asl_test_level { ASL_TEST_INFO = 0, ASL_TEST_DEBUG, ASL_TEST_TRACE };
enum asl_test_fvm { ASL_FVM_STRICT = 0, ASL_FVM_PRESENT, ASL_FVM_NONE };

/* A TestState request. Text members are JSON text as the API carries them
 * (NULL: absent). */
typedef struct asl_test_req {
    const char *definition;     /* a state, or a machine with state_name */
    const char *state_name;
    const char *input;          /* NULL: {} */
    const char *variables;      /* an object */
    const char *context;        /* an object: the context object to use */
    int level;                  /* ASL_TEST_* */
    int reveal_secrets;
    /* mock: result, or error output */
    int has_mock;
    const char *mock_result;
    int has_mock_error;
    const char *mock_error, *mock_cause;
    int field_validation;       /* ASL_FVM_* */
    /* stateConfiguration (-1 / NULL: absent) */
    int retrier_retry_count;
    const char *error_caused_by_state;
    int map_iteration_failure_count;
    const char *map_item_reader_data;
    /* the execution the state runs in: its ARN and name, its machine's,
     * the role (NULL: none), the time (start_ms) and the random seed */
    asl_exec_info info;
} asl_test_req;

/* A request refused as a whole: the API error to answer with. */
typedef struct asl_test_err {
    char type[48];      /* "ValidationException", "InvalidDefinition", ... */
    char message[1024];
} asl_test_err;

typedef struct asl_test asl_test;

/* Check the request and run the state until it ends or waits on a task the
 * caller must run. Returns SFN_OK with *out, SFN_EINVAL with *err (the
 * request is refused), or SFN_ENOMEM. */
int asl_test_start(const asl_test_req *req, asl_test **out, asl_test_err *err);

/* The task to run when the state waits on one (no mock): its Resource, the
 * Lambda function (NULL for a resource that is not one), the event, and
 * its TimeoutSeconds (0: none). Returns 1 when there is one, else 0. */
int asl_test_pending(const asl_test *t, const char **resource, const char **function, json_t **payload,
                     int *timeout_s);
/* The task's answer: result (borrowed; a Lambda function's response, parsed
 * as an execution gets it), or error and cause. now_ms: when it came. */
void asl_test_feed(asl_test *t, json_t *result, const char *error, const char *cause, int64_t now_ms);
/* The task ran out of time (TimeoutSeconds, or TestState's own limit):
 * States.Timeout. */
void asl_test_timeout(asl_test *t, int64_t now_ms);

/* The answer once nothing is pending: TestState's response object
 * ({"status", "output", "error", "cause", "nextState", "inspectionData"},
 * payloads as JSON text) as *resp (new), or an API error (*err) found
 * while running (e.g. more Map failures than iterations). Returns SFN_OK,
 * SFN_EINVAL (*err) or SFN_ENOMEM. */
int asl_test_result(asl_test *t, json_t **resp, asl_test_err *err);

void asl_test_free(asl_test *t);

#endif
