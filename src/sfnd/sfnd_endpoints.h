/*
 * sfnd_endpoints.h - where sfnd forwards dynamodb:* and aws-sdk:* tasks
 * (sfnd_endpoints.c): --endpoint SERVICE=URL (repeatable, wins) and
 * SFN_ENDPOINT_<SERVICE>=URL in sfnd's environment; signed with the
 * credentials the functions get (--env-vars Parameters' AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, else sfnd's local defaults).
 */
#ifndef SFND_ENDPOINTS_H
#define SFND_ENDPOINTS_H

#include <jansson.h>
#include <stddef.h>

#include "run.h"

typedef struct sfnd_endpoints {
    const char **specs;       /* "service=url" as given, borrowed from argv */
    size_t n;
    char *ak, *sk, *token;    /* from --env-vars Parameters, or NULL */
} sfnd_endpoints;

/* One --endpoint value. 0, or -1 (said on stderr). */
int sfnd_endpoints_add(sfnd_endpoints *e, const char *spec);
/* The credentials of an --env-vars file's Parameters, if it sets them. */
int sfnd_endpoints_creds(sfnd_endpoints *e, const json_t *env_vars);
/* Give the runner the environment's endpoints, then the options', and the
 * credentials; a line each on stdout unless quiet. 0, or -1 (said). */
int sfnd_endpoints_apply(sfnd_endpoints *e, run *r, int quiet);
void sfnd_endpoints_free(sfnd_endpoints *e);

#endif
