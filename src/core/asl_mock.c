/*
 * asl_mock.c - mock configuration files (see asl_mock.h): parse, validate,
 * answer a mocked state; the JSON subset matcher of `sfn test`.
 *
 * The configuration is kept as the parsed JSON: it is validated once, and
 * a lookup walks a test case's object and a mocked response's keys (a few
 * each), parsing the range keys again (cheap, and nothing to keep in step).
 */
#include "asl_mock.h"
#include "asl.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MOCK_FILE (64 * 1024 * 1024)
#define MAX_INDEX 1000000000u

struct asl_mock {
    json_t *root;
    char *name;
};

/* "N" or "N-M" (decimal, no sign, no spaces, N <= M <= MAX_INDEX).
 * Returns 0 with *lo, *hi, else -1. */
static int parse_range(const char *k, unsigned *lo, unsigned *hi)
{
    unsigned v[2] = {0, 0};
    int n = 0;
    const char *p = k;
    for (;;) {
        if (!isdigit((unsigned char)*p))
            return -1;
        unsigned long x = 0;
        while (isdigit((unsigned char)*p)) {
            x = x * 10 + (unsigned long)(*p++ - '0');
            if (x > MAX_INDEX)
                return -1;
        }
        v[n++] = (unsigned)x;
        if (*p == 0)
            break;
        if (*p != '-' || n == 2)
            return -1;
        p++;
    }
    *lo = v[0];
    *hi = n == 2 ? v[1] : v[0];
    return *lo <= *hi ? 0 : -1;
}

/* ---- paths and messages ------------------------------------------------ */
typedef struct vctx {
    const char *file;
    char *err;
    size_t errlen;
} vctx;

/* Append ".key" or "['key']" to path (a buffer of PATH_MAX_). */
#define PATH_MAX_ 512
static void path_add(char *path, const char *key)
{
    size_t n = strlen(path);
    int plain = isalpha((unsigned char)key[0]) || key[0] == '_';
    for (const char *p = key; plain && *p; p++)
        plain = isalnum((unsigned char)*p) || *p == '_';
    if (plain)
        snprintf(path + n, PATH_MAX_ - n, ".%s", key);
    else
        snprintf(path + n, PATH_MAX_ - n, "['%s']", key);
}

__attribute__((format(printf, 3, 4))) static int bad(vctx *v, const char *path, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(v->err, v->errlen, "%s: %s: %s", v->file, path, what);
    return SFN_EINVAL;
}

static const char *type_name(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* ---- validation -------------------------------------------------------- */
typedef struct range {
    unsigned lo, hi;
    const char *key;
} range;

static int cmp_range(const void *a, const void *b)
{
    const range *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static int check_entry(vctx *v, char *path, const json_t *e)
{
    if (!json_is_object(e))
        return bad(v, path, "must be an object with Return or Throw, not %s", type_name(e));
    const json_t *ret = json_object_get(e, "Return"), *thr = json_object_get(e, "Throw");
    const char *k;
    json_t *val;
    json_object_foreach((json_t *)e, k, val) {
        if (strcmp(k, "Return") != 0 && strcmp(k, "Throw") != 0) {
            path_add(path, k);
            return bad(v, path, "unknown field (an invocation's response has Return or Throw)");
        }
    }
    if ((ret == NULL) == (thr == NULL))
        return bad(v, path, ret ? "has both Return and Throw: give one" : "needs Return or Throw");
    if (ret)
        return SFN_OK;
    path_add(path, "Throw");
    if (!json_is_object(thr))
        return bad(v, path, "must be an object with Error and Cause, not %s", type_name(thr));
    json_object_foreach((json_t *)thr, k, val) {
        size_t n = strlen(path);
        path_add(path, k);
        if (strcmp(k, "Error") != 0 && strcmp(k, "Cause") != 0)
            return bad(v, path, "unknown field (Throw has Error and Cause)");
        if (!json_is_string(val))
            return bad(v, path, "must be a string, not %s", type_name(val));
        path[n] = 0;
    }
    if (!json_object_get(thr, "Error"))
        return bad(v, path, "needs Error (a string)");
    if (!json_object_get(thr, "Cause"))
        return bad(v, path, "needs Cause (a string)");
    return SFN_OK;
}

static int check_response(vctx *v, char *path, const json_t *resp)
{
    if (!json_is_object(resp))
        return bad(v, path, "must be an object of invocation numbers (\"0\", \"1-3\"), not %s",
                   type_name(resp));
    size_t n = json_object_size(resp), i = 0;
    range *rs = calloc(n ? n : 1, sizeof *rs);
    if (rs == NULL)
        return SFN_ENOMEM;
    int rc = SFN_OK;
    const char *k;
    json_t *e;
    size_t base = strlen(path);
    json_object_foreach((json_t *)resp, k, e) {
        path[base] = 0;
        path_add(path, k);
        if (parse_range(k, &rs[i].lo, &rs[i].hi) != 0) {
            rc = bad(v, path, "not an invocation number or range: give \"N\" or \"N-M\" with "
                              "N <= M (0 is the first invocation)");
            break;
        }
        rs[i++].key = k;
        if ((rc = check_entry(v, path, e)) != SFN_OK)
            break;
    }
    if (rc == SFN_OK && n > 1) {
        qsort(rs, n, sizeof *rs, cmp_range);
        for (i = 1; i < n; i++) {
            if (rs[i].lo <= rs[i - 1].hi) {
                path[base] = 0;
                path_add(path, rs[i].key);
                rc = bad(v, path, "overlaps \"%s\": an invocation has one response", rs[i - 1].key);
                break;
            }
        }
    }
    free(rs);
    return rc;
}

static int check_case(vctx *v, char *path, const json_t *tc, const json_t *responses)
{
    if (!json_is_object(tc))
        return bad(v, path, "must be an object of state name to mocked response name, not %s",
                   type_name(tc));
    const char *state;
    json_t *name;
    size_t base = strlen(path);
    json_object_foreach((json_t *)tc, state, name) {
        path[base] = 0;
        path_add(path, state);
        if (!json_is_string(name))
            return bad(v, path, "must be the name of a mocked response (a string), not %s",
                       type_name(name));
        if (!json_is_object(responses) || json_object_get(responses, json_string_value(name)) == NULL)
            return bad(v, path, "mocked response \"%s\" is not in MockedResponses",
                       json_string_value(name));
    }
    return SFN_OK;
}

static int check_machines(vctx *v, const json_t *sms, const json_t *responses)
{
    char path[PATH_MAX_] = "$.StateMachines";
    if (!json_is_object(sms))
        return bad(v, path, "must be an object of state machine names, not %s", type_name(sms));
    const char *smname, *k, *cname;
    json_t *sm, *val, *tc;
    json_object_foreach((json_t *)sms, smname, sm) {
        snprintf(path, sizeof path, "$.StateMachines");
        path_add(path, smname);
        if (!json_is_object(sm))
            return bad(v, path, "must be an object with TestCases, not %s", type_name(sm));
        json_object_foreach(sm, k, val) {
            if (strcmp(k, "TestCases") != 0) {
                path_add(path, k);
                return bad(v, path, "unknown field (a state machine has TestCases)");
            }
        }
        json_t *tcs = json_object_get(sm, "TestCases");
        if (tcs == NULL)
            return bad(v, path, "needs TestCases");
        path_add(path, "TestCases");
        if (!json_is_object(tcs))
            return bad(v, path, "must be an object of test cases, not %s", type_name(tcs));
        size_t base = strlen(path);
        json_object_foreach(tcs, cname, tc) {
            path[base] = 0;
            path_add(path, cname);
            int rc = check_case(v, path, tc, responses);
            if (rc != SFN_OK)
                return rc;
        }
    }
    return SFN_OK;
}

static int validate(vctx *v, const json_t *root)
{
    if (!json_is_object(root))
        return bad(v, "$", "must be an object with StateMachines and MockedResponses, not %s",
                   type_name(root));
    const char *k;
    json_t *val;
    json_object_foreach((json_t *)root, k, val) {
        if (strcmp(k, "StateMachines") != 0 && strcmp(k, "MockedResponses") != 0) {
            char path[PATH_MAX_] = "$";
            path_add(path, k);
            return bad(v, path, "unknown field (the top level has StateMachines and MockedResponses)");
        }
    }
    const json_t *responses = json_object_get(root, "MockedResponses");
    if (responses) {
        char path[PATH_MAX_] = "$.MockedResponses";
        if (!json_is_object(responses))
            return bad(v, path, "must be an object of mocked responses, not %s", type_name(responses));
        const char *name;
        json_t *resp;
        json_object_foreach((json_t *)responses, name, resp) {
            snprintf(path, sizeof path, "$.MockedResponses");
            path_add(path, name);
            int rc = check_response(v, path, resp);
            if (rc != SFN_OK)
                return rc;
        }
    }
    const json_t *sms = json_object_get(root, "StateMachines");
    if (sms == NULL)
        return bad(v, "$", "needs StateMachines");
    return check_machines(v, sms, responses);
}

int asl_mock_parse(const char *text, size_t len, const char *name, asl_mock **out, char *err,
                   size_t errlen)
{
    *out = NULL;
    vctx v = {.file = name ? name : "mock configuration", .err = err, .errlen = errlen};
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        snprintf(err, errlen, "%s: line %d, column %d: not valid JSON: %s", v.file, je.line,
                 je.column, je.text);
        return SFN_EINVAL;
    }
    int rc = validate(&v, root);
    asl_mock *m = rc == SFN_OK ? calloc(1, sizeof *m) : NULL;
    if (rc == SFN_OK && (m == NULL || (m->name = strdup(v.file)) == NULL)) {
        free(m);
        m = NULL;
        rc = SFN_ENOMEM;
        snprintf(err, errlen, "%s: out of memory", v.file);
    }
    if (rc != SFN_OK) {
        json_decref(root);
        return rc;
    }
    m->root = root;
    *out = m;
    return SFN_OK;
}

int asl_mock_load(const char *path, asl_mock **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot read the mock configuration: %s", path, strerror(errno));
        return SFN_EINVAL;
    }
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    int rc = buf ? SFN_OK : SFN_ENOMEM;
    while (rc == SFN_OK) {
        if (n == cap) {
            char *nb = cap < MAX_MOCK_FILE ? realloc(buf, cap * 2) : NULL;
            if (nb == NULL) {
                rc = cap < MAX_MOCK_FILE ? SFN_ENOMEM : SFN_EINVAL;
                snprintf(err, errlen, "%s: %s", path,
                         rc == SFN_ENOMEM ? "out of memory" : "larger than 64 MB");
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        if (r == 0)
            break;
        n += r;
    }
    if (rc == SFN_OK && ferror(f)) {
        snprintf(err, errlen, "%s: cannot read the mock configuration: %s", path, strerror(errno));
        rc = SFN_EINVAL;
    }
    fclose(f);
    if (rc == SFN_OK)
        rc = asl_mock_parse(buf, n, path, out, err, errlen);
    free(buf);
    return rc;
}

void asl_mock_free(asl_mock *m)
{
    if (m == NULL)
        return;
    json_decref(m->root);
    free(m->name);
    free(m);
}

const char *asl_mock_name(const asl_mock *m)
{
    return m->name;
}

static json_t *case_get(const asl_mock *m, const char *machine, const char *test_case)
{
    json_t *sm = json_object_get(json_object_get(m->root, "StateMachines"), machine);
    return json_object_get(json_object_get(sm, "TestCases"), test_case);
}

int asl_mock_has_case(const asl_mock *m, const char *machine, const char *test_case)
{
    return m && machine && test_case && case_get(m, machine, test_case) != NULL;
}

/* ---- answers ----------------------------------------------------------- */
static void runtime(asl_mock_answer *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void runtime(asl_mock_answer *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->buf, sizeof a->buf, fmt, ap);
    va_end(ap);
    a->kind = ASL_MOCK_THROW;
    a->error = "States.Runtime";
    a->cause = a->buf;
}

static int is_activity(const char *resource)
{
    return resource && strncmp(resource, "arn:aws:states:", 15) == 0 && strstr(resource, ":activity:");
}

int asl_mock_answer_get(const asl_mock *m, const char *machine, const char *test_case,
                        const char *state, const asl_cmd *c, unsigned n, asl_mock_answer *a)
{
    const char *resource = c->resource;
    memset(a, 0, sizeof *a);
    json_t *tc = m ? case_get(m, machine, test_case) : NULL;
    if (tc == NULL) {
        runtime(a, "Test case '%s' of state machine '%s' is not in the mock configuration file",
                test_case ? test_case : "", machine ? machine : "");
        return SFN_OK;
    }
    const char *rname = json_string_value(json_object_get(tc, state ? state : ""));
    if (rname == NULL)
        return SFN_OK; /* not mocked: the real task runs */
    if (is_activity(resource)) {
        runtime(a, "Activity state cannot be mocked. Please remove mocks mapped for all activity "
                   "state in the mock config file.");
        return SFN_OK;
    }
    json_t *resp = json_object_get(json_object_get(m->root, "MockedResponses"), rname);
    const char *k;
    json_t *e, *hit = NULL;
    json_object_foreach(resp, k, e) {
        unsigned lo, hi;
        if (parse_range(k, &lo, &hi) == 0 && n >= lo && n <= hi) {
            hit = e;
            break;
        }
    }
    if (hit == NULL) {
        runtime(a, "No mocked response for invocation %u of state '%s': mocked response '%s' of "
                   "test case '%s' does not cover it",
                n, state, rname, test_case);
        return SFN_OK;
    }
    json_t *ret = json_object_get(hit, "Return");
    if (ret == NULL) {
        json_t *thr = json_object_get(hit, "Throw");
        a->kind = ASL_MOCK_THROW;
        a->error = json_string_value(json_object_get(thr, "Error"));
        a->cause = json_string_value(json_object_get(thr, "Cause"));
        return SFN_OK;
    }
    if (c->function) {
        /* the Invoke response: the function's output is its Payload */
        if (!json_is_object(ret) || json_object_get(ret, "Payload") == NULL) {
            runtime(a, "Mocked response '%s' for state '%s' invokes a Lambda function: its Return "
                       "must be the Invoke response, with the function's output in Payload",
                    rname, state);
            return SFN_OK;
        }
        ret = json_object_get(ret, "Payload");
    }
    a->result = json_deep_copy(ret);
    if (a->result == NULL)
        return SFN_ENOMEM;
    a->kind = ASL_MOCK_RETURN;
    return SFN_OK;
}

/* ---- JSON subset --------------------------------------------------------- */
typedef struct sub {
    char *where;
    size_t wl;
    const json_t *w_at, *g_at; /* where they differ */
} sub;

static int subset_at(sub *c, const json_t *want, const json_t *got, size_t at)
{
    c->w_at = want;
    c->g_at = got;
    if (got == NULL)
        return 0;
    if (json_is_number(want) && json_is_number(got))
        return json_number_value(want) == json_number_value(got);
    if (json_typeof(want) != json_typeof(got))
        return 0;
    if (json_is_object(want)) {
        const char *k;
        json_t *w;
        json_object_foreach((json_t *)want, k, w) {
            if (c->where && at < c->wl) {
                char p[PATH_MAX_] = "";
                path_add(p, k);
                snprintf(c->where + at, c->wl - at, "%s", p);
            }
            size_t nat = c->where ? strlen(c->where) : 0;
            if (!subset_at(c, w, json_object_get(got, k), nat))
                return 0;
        }
        return 1;
    }
    if (json_is_array(want)) {
        if (json_array_size(want) != json_array_size(got))
            return 0;
        for (size_t i = 0; i < json_array_size(want); i++) {
            if (c->where && at < c->wl)
                snprintf(c->where + at, c->wl - at, "[%zu]", i);
            size_t nat = c->where ? strlen(c->where) : 0;
            if (!subset_at(c, json_array_get(want, i), json_array_get(got, i), nat))
                return 0;
        }
        return 1;
    }
    return json_equal((json_t *)want, (json_t *)got);
}

int asl_json_subset_diff(const json_t *want, const json_t *got, char *where, size_t wherelen,
                         const json_t **want_at, const json_t **got_at)
{
    sub c = {.where = where && wherelen ? where : NULL, .wl = wherelen};
    if (c.where)
        snprintf(where, wherelen, "$");
    int ok = want && got ? subset_at(&c, want, got, c.where ? strlen(c.where) : 0) : want == got;
    if (ok && c.where)
        snprintf(where, wherelen, "$");
    if (want_at)
        *want_at = ok ? NULL : c.w_at ? c.w_at : want;
    if (got_at)
        *got_at = ok ? NULL : c.w_at ? c.g_at : got;
    return ok;
}

int asl_json_subset(const json_t *want, const json_t *got, char *where, size_t wherelen)
{
    return asl_json_subset_diff(want, got, where, wherelen, NULL, NULL);
}
