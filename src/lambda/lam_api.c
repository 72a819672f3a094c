/*
 * lam_api.c - the Lambda API's read side and its router (lam_http_route),
 * on AWS's routes and in AWS's JSON shapes (API reference "ListFunctions",
 * "GetFunction", "GetFunctionConfiguration"):
 *
 *   GET  /2015-03-31/functions/                        ListFunctions
 *   GET  /2015-03-31/functions/{name}                  GetFunction
 *   GET  /2015-03-31/functions/{name}/configuration    GetFunctionConfiguration
 *   POST /2015-03-31/functions/{name}/invocations      Invoke (lam_invoke.c)
 *
 * A function's configuration: FunctionName, FunctionArn, Runtime, Role,
 * Handler, CodeSize, Description, Timeout, MemorySize, LastModified (when
 * sfnd registered it), Version $LATEST, Environment {Variables} (the
 * template's and --env-vars', as configured, without the ones Lambda
 * sets), TracingConfig, RevisionId, PackageType Zip, Architectures,
 * EphemeralStorage, SnapStart, LoggingConfig; GetFunction and
 * GetFunctionConfiguration add State Active and LastUpdateStatus
 * Successful, as AWS leaves those out of ListFunctions. GetFunction's Code
 * is a file:// URL of the function's folder (there is no package).
 * ListFunctions: by name, MaxItems (1-10000, default 50) at a time after
 * Marker; NextMarker when more follow. No CodeSha256: there is no
 * deployment package to hash.
 *
 * Must not: change a function, block beyond the stat of its folder at
 * registration (lam_function_add), answer a path it does not own (404).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "lam_int.h"

#include <dirent.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define LIST_DEFAULT 50
#define LIST_MAX 10000
#define SIZE_WALK_MAX 10000

/* ---- registration-time facts ---------------------------------------------- */
static void walk_size(const char *dir, int depth, int *budget, long long *sum)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && *budget > 0) {
        (*budget)--;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char p[PATH_MAX];
        if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= (int)sizeof p)
            continue;
        struct stat sb;
        if (lstat(p, &sb) != 0)
            continue;
        if (S_ISREG(sb.st_mode))
            *sum += sb.st_size;
        else if (S_ISDIR(sb.st_mode) && depth < 8)
            walk_size(p, depth + 1, budget, sum);
    }
    closedir(d);
}

/* CodeSize: the bytes under the function's folder (bounded walk). */
long long lam__code_size(const char *root)
{
    int budget = SIZE_WALK_MAX;
    long long sum = 0;
    walk_size(root, 0, &budget, &sum);
    return sum;
}

/* ---- the configuration ------------------------------------------------------ */
static json_t *environment(const lam_function *f)
{
    json_t *vars = json_object();
    for (int i = 0; i < f->nenv; i++) {
        size_t k = strcspn(f->env[i], "=");
        char *name = strndup(f->env[i], k);
        if (name)
            json_object_set_new(vars, name, json_string(f->env[i] + k + (f->env[i][k] == '=')));
        free(name);
    }
    for (int i = 0; i < f->novr; i++) {
        size_t k = strcspn(f->ovr[i], "=");
        char *name = strndup(f->ovr[i], k);
        if (name)
            json_object_set_new(vars, name, json_string(f->ovr[i] + k + (f->ovr[i][k] == '=')));
        free(name);
    }
    return json_pack("{s:o}", "Variables", vars);
}

/* AWS's FunctionConfiguration; full adds State and LastUpdateStatus. */
static json_t *configuration(const lam *l, const lam_function *f, int full)
{
    char role[300], modified[40], group[300];
    snprintf(role, sizeof role, "arn:aws:iam::%s:role/%s-role", l->account, f->name);
    snprintf(group, sizeof group, "/aws/lambda/%s", f->name);
    time_t secs = (time_t)(f->added_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(modified, sizeof modified, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(modified + strlen(modified), sizeof modified - strlen(modified), ".%03d+0000",
             (int)(f->added_ms % 1000));
    json_t *c = json_pack(
        "{s:s,s:s,s:s,s:s,s:I,s:s,s:i,s:i,s:s,s:s,s:o,s:{s:s},s:s,s:s,s:[s],s:{s:i},"
        "s:{s:s,s:s},s:{s:s,s:s}}",
        "FunctionName", f->name, "FunctionArn", f->arn, "Role", role, "Handler", f->handler,
        "CodeSize", (json_int_t)f->code_size, "Description", "", "Timeout", f->timeout_s,
        "MemorySize", f->memory_mb, "LastModified", modified, "Version", "$LATEST",
        "Environment", environment(f), "TracingConfig", "Mode", "PassThrough", "RevisionId",
        f->revision, "PackageType", "Zip", "Architectures", f->arch, "EphemeralStorage", "Size",
        512, "SnapStart", "ApplyOn", "None", "OptimizationStatus", "Off", "LoggingConfig",
        "LogFormat", "Text", "LogGroup", group);
    if (c == NULL)
        return NULL;
    if (f->runtime)
        json_object_set_new(c, "Runtime", json_string(f->runtime));
    if (full) {
        json_object_set_new(c, "State", json_string("Active"));
        json_object_set_new(c, "LastUpdateStatus", json_string("Successful"));
    }
    return c;
}

static void reply(http_req *req, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (text == NULL) {
        lam__http_error(req, 500, "ServiceException", "out of memory");
        return;
    }
    http_respond_take(req, 200,
                      "Content-Type: application/json\r\n"
                      "x-amzn-RequestId: 00000000-0000-4000-8000-000000000000\r\n",
                      text, strlen(text));
}

/* ---- the routes ------------------------------------------------------------ */
static int by_name(const void *a, const void *b)
{
    return strcmp((*(lam_function *const *)a)->name, (*(lam_function *const *)b)->name);
}

static void list_functions(lam *l, http_req *req)
{
    char buf[64], marker[256] = "";
    long max = LIST_DEFAULT;
    if (http_req_query_param(req, "MaxItems", buf, sizeof buf) >= 0) {
        char *end;
        max = strtol(buf, &end, 10);
        if (*end || max < 1 || max > LIST_MAX) {
            lam__http_error(req, 400, "InvalidParameterValueException",
                            "1 validation error detected: Value at 'maxItems' failed to satisfy "
                            "constraint: Member must have value between 1 and 10000");
            return;
        }
    }
    http_req_query_param(req, "Marker", marker, sizeof marker);
    size_t n = 0;
    for (lam_function *f = l->fns; f; f = f->next_fn)
        n++;
    lam_function **all = calloc(n + 1, sizeof *all);
    json_t *fns = json_array(), *out = json_object();
    if (all == NULL || fns == NULL || out == NULL) {
        free(all);
        json_decref(fns);
        json_decref(out);
        lam__http_error(req, 500, "ServiceException", "out of memory");
        return;
    }
    n = 0;
    for (lam_function *f = l->fns; f; f = f->next_fn)
        all[n++] = f;
    qsort(all, n, sizeof *all, by_name);
    size_t i = 0;
    while (marker[0] && i < n && strcmp(all[i]->name, marker) <= 0)
        i++; /* the marker is the last name of the page before */
    long k = 0;
    for (; i < n && k < max; i++, k++)
        json_array_append_new(fns, configuration(l, all[i], 0));
    json_object_set_new(out, "Functions", fns);
    if (i < n && k > 0)
        json_object_set_new(out, "NextMarker", json_string(all[i - 1]->name));
    free(all);
    reply(req, out);
}

static void get_function(lam *l, http_req *req, lam_function *f, int config_only)
{
    json_t *c = configuration(l, f, 1);
    if (config_only || c == NULL) {
        reply(req, c);
        return;
    }
    char url[PATH_MAX + 16];
    snprintf(url, sizeof url, "file://%s", f->root);
    reply(req, json_pack("{s:o,s:{s:s,s:s},s:{}}", "Configuration", c, "Code", "RepositoryType",
                         "S3", "Location", url, "Tags"));
}

int lam_http_route(lam *l, http_req *req)
{
    static const char pfx[] = "/2015-03-31/functions";
    const char *path = http_req_path(req);
    if (strncmp(path, pfx, sizeof pfx - 1) != 0 ||
        (path[sizeof pfx - 1] != '/' && path[sizeof pfx - 1] != '\0'))
        return 0;
    const char *method = http_req_method(req);
    const char *rest = path + sizeof pfx - 1;
    if (*rest == '/')
        rest++;
    char seg[512], tail[64];
    size_t sl = strcspn(rest, "/");
    const char *after = rest + sl;
    if (sl >= sizeof seg || strlen(after) >= sizeof tail) {
        lam__http_error(req, 404, "ResourceNotFoundException", "Function not found");
        return 1;
    }
    memcpy(seg, rest, sl);
    seg[sl] = '\0';
    snprintf(tail, sizeof tail, "%s", after);
    int get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    if (sl == 0 && get) {
        list_functions(l, req);
        return 1;
    }
    if (sl > 0 && post && !strcmp(tail, "/invocations")) {
        lam_http_invoke(l, req, seg);
        return 1;
    }
    if (sl > 0 && get && (!strcmp(tail, "") || !strcmp(tail, "/") ||
                          !strcmp(tail, "/configuration"))) {
        lam_function *f = lam__http_function(l, req, seg);
        if (f)
            get_function(l, req, f, !strcmp(tail, "/configuration"));
        return 1;
    }
    static const char nf[] =
        "{\"__type\":\"UnknownOperationException\",\"message\":\"No such Lambda operation "
        "locally (ListFunctions, GetFunction, GetFunctionConfiguration and Invoke are "
        "provided)\"}";
    http_respond(req, 404,
                 "Content-Type: application/json\r\nx-amzn-ErrorType: UnknownOperationException\r\n",
                 nf, sizeof nf - 1);
    return 1;
}
