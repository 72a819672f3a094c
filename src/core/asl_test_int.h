/*
 * asl_test_int.h - TestState's internals (src/core/asl_test*.c), shared by
 * asl_test.c (the run and the response) and asl_test_mock.c (the checks of
 * a mock and of a context object, the TRACE view of an HTTP task).
 * Not API: asl_test.h is. Must not be included outside src/core/asl_test*.c.
 */
#ifndef ASL_TEST_INT_H
#define ASL_TEST_INT_H

#include <jansson.h>
#include <stddef.h>

/* The response shapes of the integrations, as compact JSON (generated:
 * asl_test_shapes.c, scripts/gen_mock_shapes.py). */
extern const char asl__mock_shapes[];

/* Check a mocked result against the response shape of the Task resource
 * (strict: required fields must be there too). A resource whose shape is
 * not known passes. Returns 0, or -1 with AWS's words in msg ("Field
 * 'StatusCode' must be a number"). */
int asl__mock_check(const char *resource, const json_t *result, int strict, char *msg, size_t len);

/* Check a context object given to TestState: its fields and their types;
 * token_ok: the state may have a Task token. Returns 0, or -1 with the
 * reason in msg. */
int asl__context_check(const json_t *ctx, int token_ok, char *msg, size_t len);

/* TRACE of an HTTP Task (arn:aws:states:::http:invoke): "request" from
 * its arguments and "response" from its result into inspection data id.
 * Other resources: nothing. */
void asl__http_trace(const char *resource, const json_t *args, const json_t *result, json_t *id);

#endif
