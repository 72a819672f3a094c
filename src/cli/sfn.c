/*
 * sfn - run or validate an Amazon States Language definition in-process.
 *
 *   sfn run DEFINITION.json [--input FILE|-] [--template template.yaml]
 *           [--history] [--clock virtual|real]
 *   sfn run --jsonl CASES.jsonl [--clock virtual|real] [--history]
 *   sfn validate DEFINITION.json
 *   sfn test TESTS.json... [--junit OUT.xml]   (sfn_test.h)
 *
 * The core's own driver (asl_drive.h, one task at a time) feeds task
 * results and timer expiries back into the execution. With the virtual
 * clock (the default) Waits and retry back-off take no real time while the
 * history's timestamps advance as if they had. Task resources are resolved
 * by sfn_tasks.c.
 */
#include "arn.h"
#include "asl.h"
#include "asl_drive.h"
#include "asl_json.h"
#include "sfn_tasks.h"
#include "sfn_test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_INPUT_FILE (64 * 1024 * 1024)

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *read_all(FILE *f, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    if (buf == NULL)
        return NULL;
    for (;;) {
        if (n == cap) {
            if (cap >= MAX_INPUT_FILE) {
                free(buf);
                return NULL;
            }
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (nb == NULL) {
                free(buf);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        if (r == 0)
            break;
        n += r;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *s = read_all(f, len);
    if (f != stdin)
        fclose(f);
    return s;
}

/* ---- driving an execution (asl_drive): tasks through sfn_tasks ---------- */
typedef struct cli_run {
    sfn_tasks *tasks;
    asl_drive *drive;
    sfn_task_result r; /* the last answer: the driver copies its error and
                          cause when cli_task returns */
} cli_run;

/* A task, run now: the driver feeds its answer in turn (ASL_DRIVE_SERIAL). */
static void cli_task(void *ctx, const asl_cmd *c, int64_t now_ms, asl_drive_answer *a)
{
    cli_run *k = ctx;
    sfn_task_result_cleanup(&k->r);
    if (c->token != NULL && c->function == NULL)
        return; /* .waitForTaskToken with nobody to answer */
    sfn_tasks_invoke(k->tasks, c->resource, c->function, c->payload, c->timeout_s, &k->r);
    a->after_ms = k->r.elapsed_ms;
    if (k->r.timed_out)
        return; /* it outlived its TimeoutSeconds: the core's own timer fires
                   first; the late result is dropped */
    if (k->r.error) {
        a->kind = ASL_IN_TASK_FAILED;
        a->error = k->r.error;
        a->cause = k->r.cause;
    } else {
        a->kind = ASL_IN_TASK_SUCCEEDED;
        a->result_new = k->r.result;
        k->r.result = NULL;
    }
}

/* --clock real: wait (2 s at the most at a time) for until_ms. */
static int64_t real_clock(void *ctx, int64_t until_ms)
{
    int64_t wait = until_ms - wall_ms();
    if (wait > 0)
        usleep((useconds_t)(wait > 2000 ? 2000 : wait) * 1000);
    return wall_ms();
}

/* The driver of `sfn run`: one task at a time, the virtual clock unless
 * --clock real. Returns 0, or -1 when out of memory. */
static int cli_run_init(cli_run *k, sfn_tasks *tasks, int virtual_clock)
{
    memset(k, 0, sizeof *k);
    k->tasks = tasks;
    asl_drive_opts o = {.order = ASL_DRIVE_SERIAL,
                        .task = cli_task,
                        .clock = virtual_clock ? NULL : real_clock,
                        .ctx = k};
    k->drive = asl_drive_new(&o);
    return k->drive ? 0 : -1;
}

/* Run x, started at start, to its end (or until it waits on nobody). */
static void cli_drive(cli_run *k, asl_exec *x, int64_t start)
{
    asl_drive_run(k->drive, x, start);
    sfn_task_result_cleanup(&k->r);
}

static json_t *history_json(asl_exec *x)
{
    json_t *h = json_array();
    size_t n = asl_exec_event_count(x);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(h, asl_exec_event_json(x, i, 1));
    return h;
}

static json_t *result_json(asl_exec *x, int with_history)
{
    json_t *o = json_object();
    json_object_set_new(o, "status", json_string(asl_status_name(asl_exec_status(x))));
    json_t *out = asl_exec_output_get(x);
    json_object_set(o, "output", out ? out : json_null());
    const char *e = asl_exec_error(x), *c = asl_exec_cause(x);
    json_object_set_new(o, "error", e ? json_string(e) : json_null());
    json_object_set_new(o, "cause", c ? json_string(c) : json_null());
    if (with_history)
        json_object_set_new(o, "history", history_json(x));
    return o;
}

static void print_json(FILE *f, json_t *v)
{
    char *text = asl_json_text(v);
    fputs(text ? text : "null", f);
    fputc('\n', f);
    free(text);
}

static unsigned long long seq;

static asl_exec *start_exec(const asl_machine *m, json_t *input, int64_t now, const char *smname)
{
    char arn[256], smarn[256], name[64];
    seq++;
    snprintf(name, sizeof name, "exec-%08llx-%04llx", (unsigned long long)(now & 0xffffffff), seq);
    sfn_arn_states(smarn, sizeof smarn, "us-east-1", "123456789012", "stateMachine", smname);
    char *xarn = sfn_arn_execution(smarn, name, NULL);
    snprintf(arn, sizeof arn, "%s", xarn ? xarn : "");
    free(xarn);
    asl_exec_info info = {
        .execution_arn = arn,
        .execution_name = name,
        .state_machine_arn = smarn,
        .state_machine_name = smname,
        .role_arn = "arn:aws:iam::123456789012:role/sfn-local",
        .start_ms = now,
        .seed = (uint64_t)now * 2654435761u + seq,
    };
    return asl_exec_start(m, &info, input);
}

static json_t *invalid_result(const asl_diags *d)
{
    char cause[2048];
    asl_diags_cause(d, cause, sizeof cause);
    return json_pack("{s:s,s:n,s:s,s:s}", "status", "INVALID_DEFINITION", "output", "error", "InvalidDefinition",
                     "cause", cause);
}

static int cmd_run_jsonl(const char *path, int with_history, cli_run *k)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "sfn: cannot open %s: %s\n", path, strerror(errno));
        return 2;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        char err[256];
        json_t *c = asl_json_parse(line, (size_t)len, err, sizeof err);
        if (c == NULL)
            continue;
        json_t *id = json_object_get(c, "id");
        json_t *res = NULL;
        json_t *def = json_object_get(c, "definition");
        json_t *input = json_object_get(c, "input");
        if (json_is_string(def)) {
            json_t *pd = asl_json_parse(json_string_value(def), json_string_length(def), err, sizeof err);
            if (pd) {
                json_object_set_new(c, "definition", pd);
                def = pd;
            }
        }
        asl_machine *m = NULL;
        asl_diags diags;
        if (asl_machine_compile(def, ASL_STANDARD, &m, &diags) != SFN_OK) {
            res = invalid_result(&diags);
        } else {
            int64_t now = wall_ms();
            json_t *empty = json_object();
            asl_exec *x = start_exec(m, input ? input : empty, now, "sfn-run");
            json_decref(empty);
            if (x) {
                cli_drive(k, x, now);
                res = result_json(x, with_history);
                asl_exec_free(x);
            } else {
                res = json_pack("{s:s,s:n,s:s,s:s}", "status", "FAILED", "output", "error", "States.Runtime",
                                "cause", "out of memory");
            }
            asl_machine_free(m);
        }
        json_object_set(res, "id", id ? id : json_null());
        print_json(stdout, res);
        fflush(stdout);
        json_decref(res);
        json_decref(c);
    }
    free(line);
    if (f != stdin)
        fclose(f);
    return 0;
}

static void aws_error(const char *type, const char *msg)
{
    json_t *e = json_pack("{s:s,s:s}", "__type", type, "message", msg);
    print_json(stderr, e);
    json_decref(e);
}

/* Read the definition file, fill its ${...} placeholders
 * (sfn_tasks_substitute; tasks may be NULL) and compile it: *crc is the
 * compile's code, *m the machine when it is SFN_OK. Returns 0, or the exit
 * code when it got no further: 2 (unreadable), 1 (out of memory). */
static int load_definition(const char *defpath, const sfn_tasks *tasks, asl_machine **m, asl_diags *diags,
                           int *crc)
{
    size_t len = 0;
    char *text = read_file(defpath, &len);
    if (text == NULL) {
        fprintf(stderr, "sfn: cannot read %s: %s\n", defpath, strerror(errno));
        return 2;
    }
    char *sub = sfn_tasks_substitute(tasks, text);
    free(text);
    if (sub == NULL)
        return 1;
    *m = NULL;
    *crc = asl_machine_compile_text(sub, strlen(sub), ASL_STANDARD, m, diags);
    free(sub);
    return 0;
}

static int cmd_run(const char *defpath, const char *inpath, int with_history, cli_run *k)
{
    asl_machine *m = NULL;
    asl_diags diags;
    int crc, rc = load_definition(defpath, k->tasks, &m, &diags, &crc);
    if (rc != 0)
        return rc;
    if (crc != SFN_OK) {
        char cause[2048];
        asl_diags_cause(&diags, cause, sizeof cause);
        aws_error("InvalidDefinition", cause);
        return 2;
    }
    json_t *input = NULL;
    if (inpath) {
        size_t len = 0;
        char *in = read_file(inpath, &len);
        char err[256];
        if (in == NULL || len > ASL_MAX_PAYLOAD ||
            (input = asl_json_parse(in, len, err, sizeof err)) == NULL) {
            aws_error("InvalidExecutionInput",
                      in == NULL ? "cannot read the input"
                                 : len > ASL_MAX_PAYLOAD ? "Input is too large: the limit is 262144 bytes"
                                                         : "Invalid execution input: not valid JSON");
            free(in);
            asl_machine_free(m);
            return 2;
        }
        free(in);
    } else {
        input = json_object();
    }
    int64_t now = wall_ms();
    asl_exec *x = start_exec(m, input, now, "sfn-run");
    json_decref(input);
    if (x == NULL) {
        asl_machine_free(m);
        return 1;
    }
    cli_drive(k, x, now);
    json_t *res = result_json(x, with_history);
    print_json(stdout, res);
    json_decref(res);
    asl_exec_free(x);
    asl_machine_free(m);
    return 0;
}

static int cmd_validate(const char *defpath)
{
    /* a DefinitionUri file's ${...} placeholders are filled with placeholder
     * ARNs, as SAM would fill them with real ones */
    asl_machine *m = NULL;
    asl_diags diags;
    int rc, exit_code = load_definition(defpath, NULL, &m, &diags, &rc);
    if (exit_code != 0)
        return exit_code;
    json_t *diag = json_array();
    for (int i = 0; rc != SFN_OK && i < diags.n; i++)
        json_array_append_new(diag, json_pack("{s:s,s:s,s:s,s:s}", "severity", diags.d[i].severity, "code",
                                              diags.d[i].code, "message", diags.d[i].message, "location",
                                              diags.d[i].location));
    json_t *o = json_pack("{s:s,s:o}", "result", rc == SFN_OK ? "OK" : "FAIL", "diagnostics", diag);
    print_json(stdout, o);
    json_decref(o);
    asl_machine_free(m);
    return rc == SFN_OK ? 0 : 1;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: sfn run DEFINITION.json [--input FILE|-] [--template template.yaml] [--history]\n"
            "               [--clock virtual|real]\n"
            "       sfn run --jsonl CASES.jsonl [--clock virtual|real] [--history]\n"
            "       sfn validate DEFINITION.json\n"
            "       sfn test TESTS.json... [--junit OUT.xml]\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage();
        return 2;
    }
    if (strcmp(argv[1], "validate") == 0) {
        if (argc != 3) {
            usage();
            return 2;
        }
        return cmd_validate(argv[2]);
    }
    if (strcmp(argv[1], "test") == 0)
        return sfn_test_main(argc - 2, argv + 2);
    if (strcmp(argv[1], "run") != 0) {
        usage();
        return 2;
    }
    const char *def = NULL, *input = NULL, *jsonl = NULL, *tpl = NULL;
    int history = 0, virtual_clock = 1;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--input") == 0 && i + 1 < argc)
            input = argv[++i];
        else if (strcmp(argv[i], "--jsonl") == 0 && i + 1 < argc)
            jsonl = argv[++i];
        else if (strcmp(argv[i], "--template") == 0 && i + 1 < argc)
            tpl = argv[++i];
        else if (strcmp(argv[i], "--history") == 0)
            history = 1;
        else if (strcmp(argv[i], "--clock") == 0 && i + 1 < argc) {
            const char *c = argv[++i];
            if (strcmp(c, "virtual") == 0)
                virtual_clock = 1;
            else if (strcmp(c, "real") == 0)
                virtual_clock = 0;
            else {
                usage();
                return 2;
            }
        } else if (argv[i][0] != '-' && def == NULL)
            def = argv[i];
        else {
            usage();
            return 2;
        }
    }
    sfn_tasks *tasks = sfn_tasks_create(tpl);
    if (tasks == NULL) {
        fprintf(stderr, "sfn: cannot load template %s\n", tpl ? tpl : "");
        return 2;
    }
    cli_run k;
    int rc;
    if (cli_run_init(&k, tasks, virtual_clock) != 0) {
        fprintf(stderr, "sfn: out of memory\n");
        rc = 1;
    } else if (jsonl)
        rc = cmd_run_jsonl(jsonl, history, &k);
    else if (def)
        rc = cmd_run(def, input, history, &k);
    else {
        usage();
        rc = 2;
    }
    asl_drive_free(k.drive);
    sfn_tasks_free(tasks);
    return rc;
}
