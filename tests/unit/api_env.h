/*
 * api_env.h - the API over a runner and a store on a file, in process (no
 * HTTP, no Lambda), for the API's unit tests (test_api.c, test_api_meta.c):
 * open, close, and one call pumped through the loop until its reply.
 */
#ifndef SFN_TEST_API_ENV_H
#define SFN_TEST_API_ENV_H

#include <jansson.h>

#include "api.h"

typedef struct env {
    ev_loop *loop;
    store *st;
    run *run;
    api *api;
    int deferred; /* 1: every reply must come after the call returns (after
                     the commit it reports), checked by env_call */
} env;

void env_open(env *e, const char *path);
void env_close(env *e);
/* One call (op: "Name" of AWSStepFunctions, or a whole target "X.Name";
 * body: JSON text); the loop runs until the reply (bounded). Returns the
 * body (the caller's) and the status in *status. */
json_t *env_call(env *e, const char *op, const char *body, int *status);
/* env_call that must answer 200; returns the body. */
json_t *env_ok(env *e, const char *op, const char *body);
/* env_call that must answer 400 with __type type and a message. */
void env_expect_err(env *e, const char *op, const char *body, const char *type);

#endif
