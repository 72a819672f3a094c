/*
 * sfn - run or validate an Amazon States Language definition in-process.
 *
 *   sfn run DEFINITION.json [--input FILE|-] [--template template.yaml]
 *           [--history] [--clock virtual|real]
 *   sfn run --jsonl CASES.jsonl [--clock virtual|real] [--history]
 *   sfn validate DEFINITION.json
 *
 * The driver around the pure core: it feeds task results and timer expiries
 * back into the execution. With the virtual clock (the default) Waits and
 * retry back-off take no real time while the history's timestamps advance
 * as if they had. Task resources are resolved by sfn_tasks.c.
 */
#include "asl.h"
#include "asl_int.h"
#include "sfn_tasks.h"

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

/* ---- the driver -------------------------------------------------------- */
typedef struct pending {
    int kind;
    uint64_t id;
    int64_t due;
    char *resource, *function, *token;
    json_t *payload;
    int timeout_s;
} pending;

typedef struct driver {
    pending *p;
    size_t n, cap;
    int virtual_clock;
    sfn_tasks *tasks;
} driver;

static void take_cmds(driver *d, asl_exec *x)
{
    const asl_cmd *c;
    size_t n = asl_exec_cmds(x, &c);
    for (size_t i = 0; i < n; i++) {
        if (d->n == d->cap) {
            size_t nc = d->cap ? d->cap * 2 : 16;
            pending *np = realloc(d->p, nc * sizeof *np);
            if (np == NULL)
                return;
            d->p = np;
            d->cap = nc;
        }
        pending *p = &d->p[d->n++];
        memset(p, 0, sizeof *p);
        p->kind = c[i].kind;
        p->id = c[i].id;
        p->due = c[i].due_ms;
        p->timeout_s = c[i].timeout_s;
        if (c[i].kind == ASL_CMD_INVOKE) {
            p->resource = c[i].resource ? strdup(c[i].resource) : NULL;
            p->function = c[i].function ? strdup(c[i].function) : NULL;
            p->token = c[i].token ? strdup(c[i].token) : NULL;
            p->payload = json_incref(c[i].payload);
        }
    }
}

static void pending_clear(pending *p)
{
    free(p->resource);
    free(p->function);
    free(p->token);
    json_decref(p->payload);
}

static void pending_take(driver *d, size_t i, pending *out)
{
    *out = d->p[i];
    memmove(&d->p[i], &d->p[i + 1], (d->n - i - 1) * sizeof *d->p);
    d->n--;
}

/* Run the execution to its end. Returns 0. */
static int drive(driver *d, asl_exec *x, int64_t start)
{
    int64_t now = start;
    take_cmds(d, x);
    while (asl_exec_status(x) == ASL_RUNNING) {
        size_t pick = d->n;
        /* tasks first, in order; then the earliest timer */
        for (size_t i = 0; i < d->n; i++)
            if (d->p[i].kind == ASL_CMD_INVOKE) {
                pick = i;
                break;
            }
        if (pick == d->n) {
            for (size_t i = 0; i < d->n; i++)
                if (pick == d->n || d->p[i].due < d->p[pick].due)
                    pick = i;
        }
        if (pick == d->n)
            break; /* waiting on nothing we can provide (e.g. a task token) */
        pending p;
        int fed = 0;
        pending_take(d, pick, &p);
        asl_input in;
        memset(&in, 0, sizeof in);
        in.id = p.id;
        if (p.kind == ASL_CMD_TIMER) {
            if (p.due > now) {
                if (!d->virtual_clock) {
                    int64_t wait = p.due - wall_ms();
                    if (wait > 0)
                        usleep((useconds_t)(wait > 2000000 ? 2000000 : wait) * 1000);
                    if (p.due > wall_ms()) {
                        /* not yet: put it back */
                        d->p[d->n++] = p;
                        continue;
                    }
                }
                now = p.due;
            }
            in.kind = ASL_IN_TIMER;
            in.now_ms = d->virtual_clock ? now : wall_ms();
            fed = asl_exec_feed(x, &in) == SFN_OK;
        } else {
            sfn_task_result r;
            memset(&r, 0, sizeof r);
            if (p.token != NULL && p.function == NULL) {
                pending_clear(&p);
                continue; /* .waitForTaskToken with nobody to answer */
            }
            sfn_tasks_invoke(d->tasks, p.resource, p.function, p.payload, p.timeout_s, &r);
            if (!d->virtual_clock)
                now = wall_ms();
            else
                now += r.elapsed_ms;
            in.now_ms = now;
            if (r.error) {
                in.kind = ASL_IN_TASK_FAILED;
                in.error = r.error;
                in.cause = r.cause;
            } else {
                in.kind = ASL_IN_TASK_SUCCEEDED;
                in.result = r.result;
            }
            if (r.timed_out) {
                /* the task outlived its TimeoutSeconds: the core's own timer
                 * fires first; the late result is then ignored */
            } else {
                fed = asl_exec_feed(x, &in) == SFN_OK;
            }
            sfn_task_result_cleanup(&r);
        }
        pending_clear(&p);
        /* only a feed produces new commands (a stale timer or a task that
         * outlived its timeout produces none) */
        if (fed)
            take_cmds(d, x);
    }
    for (size_t i = 0; i < d->n; i++)
        pending_clear(&d->p[i]);
    d->n = 0;
    return 0;
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
    snprintf(smarn, sizeof smarn, "arn:aws:states:us-east-1:123456789012:stateMachine:%s", smname);
    snprintf(arn, sizeof arn, "arn:aws:states:us-east-1:123456789012:execution:%s:%s", smname, name);
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

static int cmd_run_jsonl(const char *path, int virtual_clock, int with_history, sfn_tasks *tasks)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "sfn: cannot open %s: %s\n", path, strerror(errno));
        return 2;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    driver d = {.virtual_clock = virtual_clock, .tasks = tasks};
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
                drive(&d, x, now);
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
    free(d.p);
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

static int cmd_run(const char *defpath, const char *inpath, int virtual_clock, int with_history, sfn_tasks *tasks)
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
    asl_machine *m = NULL;
    asl_diags diags;
    int rc = asl_machine_compile_text(sub, strlen(sub), ASL_STANDARD, &m, &diags);
    free(sub);
    if (rc != SFN_OK) {
        char cause[2048];
        asl_diags_cause(&diags, cause, sizeof cause);
        aws_error("InvalidDefinition", cause);
        return 2;
    }
    json_t *input = NULL;
    if (inpath) {
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
    driver d = {.virtual_clock = virtual_clock, .tasks = tasks};
    drive(&d, x, now);
    json_t *res = result_json(x, with_history);
    print_json(stdout, res);
    json_decref(res);
    free(d.p);
    asl_exec_free(x);
    asl_machine_free(m);
    return 0;
}

static int cmd_validate(const char *defpath)
{
    size_t len = 0;
    char *text = read_file(defpath, &len);
    if (text == NULL) {
        fprintf(stderr, "sfn: cannot read %s: %s\n", defpath, strerror(errno));
        return 2;
    }
    /* a DefinitionUri file's ${...} placeholders are filled with placeholder
     * ARNs, as SAM would fill them with real ones */
    char *sub = sfn_tasks_substitute(NULL, text);
    free(text);
    if (sub == NULL)
        return 1;
    asl_machine *m = NULL;
    asl_diags diags;
    int rc = asl_machine_compile_text(sub, strlen(sub), ASL_STANDARD, &m, &diags);
    free(sub);
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
            "       sfn validate DEFINITION.json\n");
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
    int rc;
    if (jsonl)
        rc = cmd_run_jsonl(jsonl, virtual_clock, history, tasks);
    else if (def)
        rc = cmd_run(def, input, virtual_clock, history, tasks);
    else {
        usage();
        rc = 2;
    }
    sfn_tasks_free(tasks);
    return rc;
}
