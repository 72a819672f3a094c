/*
 * sfnd_endpoints.c - sfnd's endpoints for forwarded tasks (see
 * sfnd_endpoints.h and src/runner/run_tasks_fwd.c).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sfnd_endpoints.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

int sfnd_endpoints_add(sfnd_endpoints *e, const char *spec)
{
    const char *eq = strchr(spec, '=');
    if (eq == NULL || eq == spec || eq[1] == '\0') {
        fprintf(stderr, "sfnd: --endpoint %s: SERVICE=URL expected, e.g. "
                        "--endpoint dynamodb=http://127.0.0.1:8000\n", spec);
        return -1;
    }
    const char **n = realloc(e->specs, (e->n + 1) * sizeof *n);
    if (n == NULL)
        return -1;
    e->specs = n;
    e->specs[e->n++] = spec;
    return 0;
}

static int dup_param(const json_t *params, const char *name, char **out)
{
    const char *v = json_string_value(json_object_get(params, name));
    if (v == NULL)
        return 0;
    free(*out);
    *out = strdup(v);
    return *out ? 0 : -1;
}

int sfnd_endpoints_creds(sfnd_endpoints *e, const json_t *env_vars)
{
    const json_t *p = json_object_get(env_vars, "Parameters");
    if (!json_is_object(p) || !json_object_get(p, "AWS_ACCESS_KEY_ID"))
        return 0;
    return dup_param(p, "AWS_ACCESS_KEY_ID", &e->ak) || dup_param(p, "AWS_SECRET_ACCESS_KEY", &e->sk) ||
                   dup_param(p, "AWS_SESSION_TOKEN", &e->token)
               ? -1
               : 0;
}

static int set_one(run *r, const char *svc, const char *url, const char *from, int quiet)
{
    char err[512];
    int rc = run_endpoint_set(r, svc, url, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "sfnd: %s %s=%s: %s\n", from, svc, url,
                rc == RUN_ENOMEM ? "out of memory" : err);
        return -1;
    }
    if (!quiet)
        printf("endpoint      %-28s %s (%s)\n", svc, url, from);
    return 0;
}

int sfnd_endpoints_apply(sfnd_endpoints *e, run *r, int quiet)
{
    const char *pre = "SFN_ENDPOINT_";
    for (char **env = environ; env && *env; env++) {
        if (strncmp(*env, pre, strlen(pre)) != 0)
            continue;
        const char *name = *env + strlen(pre), *eq = strchr(name, '=');
        char svc[64];
        size_t n = eq ? (size_t)(eq - name) : 0;
        if (n == 0 || n >= sizeof svc || eq[1] == '\0')
            continue;
        for (size_t i = 0; i < n; i++)
            svc[i] = name[i] == '_' ? '-' : (char)tolower((unsigned char)name[i]);
        svc[n] = '\0';
        if (set_one(r, svc, eq + 1, "SFN_ENDPOINT_*", quiet) != 0)
            return -1;
    }
    for (size_t i = 0; i < e->n; i++) {
        const char *eq = strchr(e->specs[i], '=');
        char svc[64];
        snprintf(svc, sizeof svc, "%.*s", (int)(eq - e->specs[i]), e->specs[i]);
        if (set_one(r, svc, eq + 1, "--endpoint", quiet) != 0)
            return -1;
    }
    if (e->ak && run_endpoint_credentials(r, e->ak, e->sk, e->token) != 0)
        return -1;
    return 0;
}

void sfnd_endpoints_free(sfnd_endpoints *e)
{
    free(e->specs);
    free(e->ak);
    free(e->sk);
    free(e->token);
    memset(e, 0, sizeof *e);
}
