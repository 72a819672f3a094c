/*
 * run_tasks_fwd.h - the forwarded tasks' pure parts (run_tasks_fwd.c),
 * apart so that tests/unit/test_fwd.c can check them without a server:
 * which resources are forwarded and how, the signed HTTP request, and the
 * error names.
 *
 *   arn:aws:states:::dynamodb:putItem|getItem|deleteItem|updateItem
 *       the optimized integration: errors "DynamoDB.<Code>", the result
 *       is DynamoDB's answer plus SdkHttpMetadata/SdkResponseMetadata
 *   arn:aws:states:::aws-sdk:SERVICE:ACTION[.waitForTaskToken]
 *       the SDK integration, for services of the AWS JSON protocol (1.0
 *       and 1.1; the table in run_tasks_fwd.c): errors "<Service>.<Code>"
 *       with the service in the SDK's PascalCase and "Exception" always at
 *       the end, the result as the service answered
 *
 * Threading: any (nothing here keeps state).
 */
#ifndef SFN_RUN_TASKS_FWD_H
#define SFN_RUN_TASKS_FWD_H

#include <stddef.h>
#include <time.h>

typedef struct fwd_api {
    const char *name;         /* the resource's service: "dynamodb", "sfn" */
    const char *signing;      /* SigV4's service name: "dynamodb", "states" */
    const char *target;       /* X-Amz-Target's prefix: "DynamoDB_20120810" */
    const char *json;         /* "1.0" or "1.1" */
    const char *err_name;     /* the SDK integration's error prefix: "DynamoDb" */
} fwd_api;

typedef struct fwd_spec {
    const fwd_api *api;
    int optimized;            /* dynamodb:* (not aws-sdk:dynamodb:*) */
    int wait_for_token;
    char service[64];         /* as the resource names it */
    char action[96];          /* "PutItem" */
} fwd_spec;

/* res: the resource after "arn:aws:states:::". 1: forwarded, sp filled;
 * 0: not a resource forwarded here; -1: an aws-sdk resource this engine
 * cannot forward (why in err, for States.Runtime). */
int run__fwd_parse(const char *res, fwd_spec *sp, char *err, size_t errlen);

typedef struct fwd_creds {
    const char *access_key, *secret_key, *session_token;
} fwd_creds;

/* The whole HTTP/1.1 request (head and body), signed with SigV4 at now,
 * malloc'd, its length in *len. host: the Host header; path: the URL's
 * path ("/"). NULL on a bad argument or ENOMEM. */
char *run__fwd_request(const fwd_spec *sp, const char *host, const char *path,
                       const char *region, const fwd_creds *c, const char *body, size_t blen,
                       time_t now, size_t *len);

/* The AWS error code and message of an error response: body's "__type"
 * (after its '#') or the x-amzn-ErrorType header (before its ':'), and
 * "message"/"Message". code "UnknownError" when none. */
void run__fwd_error_parse(const char *body, size_t blen, const char *type_header, char *code,
                          size_t codelen, char *msg, size_t msglen);

/* The States error name for code: "DynamoDB.ConditionalCheckFailedException"
 * (optimized), "DynamoDb.ConditionalCheckFailedException" (aws-sdk). */
void run__fwd_error_name(const fwd_spec *sp, const char *code, char *out, size_t outlen);

#endif
