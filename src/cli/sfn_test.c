/*
 * sfn_test.c - `sfn test` (see sfn_test.h): load a test file, its machine
 * and mock configuration, run each case on the virtual clock, report.
 */
#include "sfn_test.h"

#include "asl_drive.h"
#include "asl_mock.h"
#include "sfn_tasks.h"
#include "tpl.h"

#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct count {
    char *state;
    unsigned n;
} count;

/* One test file: its machine, its mocks, the drive's task context. */
typedef struct suite {
    const char *file;
    char dir[4096];
    json_t *doc;
    asl_machine *m;
    char *machine;       /* the name mocks know it by */
    asl_mock *mock;
    /* the case being run */
    const char *test_case;
    count *c;
    size_t nc;
    asl_mock_answer ans; /* its strings live until the driver copied them */
    char err[1024];
} suite;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000 + (double)ts.tv_nsec / 1e6;
}

/* path relative to the test file's directory (an absolute one as is). */
static void rel(const suite *s, const char *path, char *out, size_t n)
{
    if (path[0] == '/')
        snprintf(out, n, "%s", path);
    else
        snprintf(out, n, "%s/%s", s->dir, path);
}

static unsigned next_invocation(suite *s, const char *state)
{
    for (size_t i = 0; i < s->nc; i++)
        if (strcmp(s->c[i].state, state) == 0)
            return s->c[i].n++;
    count *nc = realloc(s->c, (s->nc + 1) * sizeof *nc);
    char *st = strdup(state);
    if (nc == NULL || st == NULL) {
        free(st);
        if (nc)
            s->c = nc;
        return 0;
    }
    s->c = nc;
    s->c[s->nc++] = (count){.state = st, .n = 1};
    return 0;
}

static void reset_counts(suite *s)
{
    for (size_t i = 0; i < s->nc; i++)
        free(s->c[i].state);
    free(s->c);
    s->c = NULL;
    s->nc = 0;
}

/* The driver's task: the mock, or States.Runtime (no real task runs). */
static void test_task(void *ctx, const asl_cmd *c, int64_t now, asl_drive_answer *a)
{
    (void)now;
    suite *s = ctx;
    const char *state = c->state ? c->state : "";
    unsigned n = next_invocation(s, state);
    asl_mock_answer *m = &s->ans;
    if (s->test_case == NULL || s->mock == NULL) {
        memset(m, 0, sizeof *m);
        snprintf(m->buf, sizeof m->buf,
                 "sfn test runs no real task: state '%s' (%s) needs a mock, and this case names "
                 "no testCase%s",
                 state, c->resource ? c->resource : "", s->mock ? "" : " (the file has no mockConfig)");
        m->kind = ASL_MOCK_THROW;
        m->error = "States.Runtime";
        m->cause = m->buf;
    } else if (asl_mock_answer_get(s->mock, s->machine, s->test_case, state, c, n, m) !=
               SFN_OK) {
        a->kind = ASL_IN_TASK_FAILED;
        a->error = "States.Runtime";
        a->cause = "out of memory";
        return;
    } else if (m->kind == ASL_MOCK_NONE) {
        snprintf(m->buf, sizeof m->buf,
                 "sfn test runs no real task: state '%s' (%s) has no mock in test case '%s'", state,
                 c->resource ? c->resource : "", s->test_case);
        m->kind = ASL_MOCK_THROW;
        m->error = "States.Runtime";
        m->cause = m->buf;
    }
    if (m->kind == ASL_MOCK_RETURN) {
        a->kind = ASL_IN_TASK_SUCCEEDED;
        a->result_new = m->result;
        m->result = NULL;
    } else {
        a->kind = ASL_IN_TASK_FAILED;
        a->error = m->error;
        a->cause = m->cause;
    }
}

/* ---- loading ------------------------------------------------------------------ */
static int compile(suite *s, const char *text, const char *what)
{
    asl_diags diags;
    if (asl_machine_compile_text(text, strlen(text), ASL_STANDARD, &s->m, &diags) == SFN_OK)
        return 0;
    char cause[2048];
    asl_diags_cause(&diags, cause, sizeof cause);
    snprintf(s->err, sizeof s->err, "%s: invalid definition: %s", what, cause);
    return -1;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 65536, n = 0;
    char *b = malloc(cap + 1);
    for (size_t r; b && (r = fread(b + n, 1, cap - n, f)) > 0;) {
        n += r;
        if (n == cap) {
            char *nb = cap < (64u << 20) ? realloc(b, cap * 2 + 1) : NULL;
            if (nb == NULL) {
                free(b);
                b = NULL;
                break;
            }
            b = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (b)
        b[n] = 0;
    return b;
}

static int load_definition_file(suite *s, const char *def)
{
    char path[4096];
    rel(s, def, path, sizeof path);
    char *text = slurp(path);
    if (text == NULL) {
        snprintf(s->err, sizeof s->err, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    char *sub = sfn_tasks_substitute(NULL, text);
    free(text);
    int rc = sub ? compile(s, sub, path) : -1;
    free(sub);
    const char *name = json_string_value(json_object_get(s->doc, "stateMachineName"));
    char base[256];
    if (name == NULL) {
        const char *b = strrchr(def, '/') ? strrchr(def, '/') + 1 : def;
        snprintf(base, sizeof base, "%s", b);
        char *dot = strstr(base, ".asl.json");
        if (dot == NULL)
            dot = strstr(base, ".json");
        if (dot)
            *dot = 0;
        name = base;
    }
    s->machine = strdup(name);
    return rc;
}

static int load_template_machine(suite *s, const char *tplfile, const char *which)
{
    char path[4096];
    rel(s, tplfile, path, sizeof path);
    tpl *t = NULL;
    tpl_opts to = {0};
    if (tpl_load(path, &to, &t, s->err, sizeof s->err) != 0)
        return -1;
    int rc = -1;
    for (size_t i = 0; i < tpl_state_machine_count(t); i++) {
        const tpl_state_machine *m = tpl_state_machine_at(t, i);
        if (strcmp(m->logical_id, which) != 0 && strcmp(m->name, which) != 0)
            continue;
        char *def = json_dumps(m->definition, 0);
        char what[4200];
        snprintf(what, sizeof what, "%s: %s", path, which);
        rc = def ? compile(s, def, what) : -1;
        free(def);
        s->machine = strdup(m->name);
        break;
    }
    if (rc != 0 && s->m == NULL && s->err[0] == 0)
        snprintf(s->err, sizeof s->err, "%s: no state machine %s", path, which);
    tpl_free(t);
    return rc;
}

static int load_suite(suite *s, const char *file)
{
    memset(s, 0, sizeof *s);
    s->file = file;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", file);
    snprintf(s->dir, sizeof s->dir, "%s", dirname(tmp));
    json_error_t je;
    s->doc = json_load_file(file, JSON_REJECT_DUPLICATES, &je);
    if (s->doc == NULL) {
        snprintf(s->err, sizeof s->err, "%s: line %d, column %d: %s", file, je.line, je.column, je.text);
        return -1;
    }
    const char *def = json_string_value(json_object_get(s->doc, "definition"));
    const char *tplf = json_string_value(json_object_get(s->doc, "template"));
    const char *which = json_string_value(json_object_get(s->doc, "stateMachine"));
    const char *mock = json_string_value(json_object_get(s->doc, "mockConfig"));
    if (!json_is_array(json_object_get(s->doc, "cases")) || (def == NULL) == (tplf == NULL) ||
        (tplf && which == NULL)) {
        snprintf(s->err, sizeof s->err,
                 "%s: a test file has \"cases\" (an array) and either \"definition\" or "
                 "\"template\" with \"stateMachine\"", file);
        return -1;
    }
    if ((def ? load_definition_file(s, def) : load_template_machine(s, tplf, which)) != 0)
        return -1;
    if (mock) {
        char path[4096];
        rel(s, mock, path, sizeof path);
        if (asl_mock_load(path, &s->mock, s->err, sizeof s->err) != SFN_OK)
            return -1;
    }
    return 0;
}

static void free_suite(suite *s)
{
    reset_counts(s);
    asl_machine_free(s->m);
    asl_mock_free(s->mock);
    json_decref(s->doc);
    free(s->machine);
}

/* ---- running --------------------------------------------------------------------- */
static json_t *case_input(suite *s, const json_t *c, FILE *d)
{
    const char *file = json_string_value(json_object_get(c, "inputFile"));
    if (file == NULL) {
        json_t *in = json_object_get(c, "input");
        return in ? json_incref(in) : json_object();
    }
    char path[4096];
    rel(s, file, path, sizeof path);
    json_error_t je;
    json_t *in = json_load_file(path, JSON_DECODE_ANY, &je);
    if (in == NULL)
        fprintf(d, "    inputFile %s: %s\n", path, je.text);
    return in;
}

static int run_case(suite *s, asl_drive *drv, const json_t *c, int idx, sfn_test_case *out)
{
    const char *name = json_string_value(json_object_get(c, "name"));
    char dflt[32];
    snprintf(dflt, sizeof dflt, "case %d", idx + 1);
    size_t dlen = 0;
    FILE *d = open_memstream(&out->diff, &dlen);
    if (d == NULL)
        return -1;
    out->suite = strdup(s->file);
    out->name = strdup(name ? name : dflt);
    s->test_case = json_string_value(json_object_get(c, "testCase"));
    reset_counts(s);
    double t0 = now_ms();
    json_t *in = case_input(s, c, d);
    if (s->test_case && !asl_mock_has_case(s->mock, s->machine, s->test_case)) {
        fprintf(d, "    testCase: '%s' is not a test case of state machine '%s' in the mock "
                   "configuration\n", s->test_case, s->machine);
        out->failures++;
    } else if (in != NULL) {
        int64_t start = 1767225600000LL; /* 2026-01-01: the virtual clock's start */
        char arn[512], smarn[512], xname[64];
        snprintf(xname, sizeof xname, "test-%d", idx + 1);
        snprintf(smarn, sizeof smarn, "arn:aws:states:us-east-1:123456789012:stateMachine:%s", s->machine);
        snprintf(arn, sizeof arn, "arn:aws:states:us-east-1:123456789012:execution:%s:%s", s->machine, xname);
        asl_exec_info info = {.execution_arn = arn, .execution_name = xname, .state_machine_arn = smarn,
                              .state_machine_name = s->machine,
                              .role_arn = "arn:aws:iam::123456789012:role/sfn-test",
                              .start_ms = start, .seed = (uint64_t)idx + 1};
        asl_exec *x = asl_exec_start(s->m, &info, in);
        if (x == NULL || asl_drive_run(drv, x, start) == SFN_ENOMEM) {
            fprintf(d, "    out of memory\n");
            out->failures++;
        } else if (asl_exec_status(x) == ASL_RUNNING) {
            fprintf(d, "    the execution is left waiting (a task nobody answers)\n");
            out->failures++;
        } else {
            const json_t *exp = json_object_get(c, "expect");
            if (json_is_object(exp))
                out->failures += sfn_test_check(x, exp, d);
            else if (exp != NULL) {
                fprintf(d, "    expect: must be an object\n");
                out->failures++;
            }
        }
        asl_exec_free(x);
    } else {
        out->failures++;
    }
    json_decref(in);
    out->ms = now_ms() - t0;
    fclose(d);
    return 0;
}

static void print_case(const sfn_test_case *c)
{
    printf("%s  %-44s %8.2f ms\n", c->failures ? "FAIL" : "PASS", c->name, c->ms);
    if (c->failures && c->diff)
        fputs(c->diff, stdout);
}

int sfn_test_main(int argc, char **argv)
{
    const char *junit = NULL;
    sfn_test_case *cases = NULL;
    size_t ncases = 0, failed = 0, nfiles = 0;
    int rc = 0;
    double t0 = now_ms();
    for (int i = 0; i < argc && rc == 0; i++) {
        if (strcmp(argv[i], "--junit") == 0 && i + 1 < argc) {
            junit = argv[++i];
            continue;
        }
        suite s;
        nfiles++;
        if (load_suite(&s, argv[i]) != 0) {
            fprintf(stderr, "sfn test: %s\n", s.err);
            free_suite(&s);
            rc = 2;
            break;
        }
        asl_drive_opts o = {.order = ASL_DRIVE_SERIAL, .task = test_task, .ctx = &s};
        asl_drive *drv = asl_drive_new(&o);
        const json_t *list = json_object_get(s.doc, "cases");
        printf("%s (%s, %zu cases)\n", argv[i], s.machine, json_array_size(list));
        for (size_t k = 0; drv && k < json_array_size(list); k++) {
            sfn_test_case *nc = realloc(cases, (ncases + 1) * sizeof *nc);
            if (nc == NULL)
                break;
            cases = nc;
            memset(&cases[ncases], 0, sizeof *cases);
            if (run_case(&s, drv, json_array_get(list, k), (int)k, &cases[ncases]) != 0)
                break;
            failed += cases[ncases].failures > 0;
            print_case(&cases[ncases++]);
        }
        asl_drive_free(drv);
        free_suite(&s);
    }
    if (rc == 0 && nfiles == 0) {
        fprintf(stderr, "usage: sfn test FILE.json... [--junit OUT.xml]\n");
        rc = 2;
    }
    if (rc == 0) {
        printf("%zu cases, %zu passed, %zu failed in %.1f ms\n", ncases, ncases - failed, failed,
               now_ms() - t0);
        if (junit && sfn_test_junit(junit, cases, ncases) != 0) {
            fprintf(stderr, "sfn test: %s: %s\n", junit, strerror(errno));
            rc = 2;
        } else {
            rc = failed ? 1 : 0;
        }
    }
    for (size_t i = 0; i < ncases; i++) {
        free(cases[i].suite);
        free(cases[i].name);
        free(cases[i].diff);
    }
    free(cases);
    return rc;
}
