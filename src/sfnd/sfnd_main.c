/*
 * sfnd_main.c - sfnd: the local Step Functions + Lambda service.
 *
 *   sfnd --template template.yaml [--data DIR] [--port 8083] [--host 127.0.0.1]
 *        [--time-scale N] [--max-procs N] [--quiet]
 *        [--parameter-overrides Key=Value [Key=Value ...]] [--env-vars env.json]
 *        [--allow-origin URL]... [--max-connections N] [--header-timeout S]
 *        [--idle-timeout S] [--runtime-mismatch=run] [--mock-config FILE]
 *        [--endpoint SERVICE=URL]...
 *   sfnd build --template template.yaml [--build-dir DIR] [LogicalId ...]
 *
 * Wires the pieces on one loop: store (DIR/sfnd.db), local Lambda (the
 * template's functions), runner (recovers what was running), API + HTTP.
 * Names: state machines and functions keep their template names (Name /
 * FunctionName) or else their logical IDs, in account 123456789012 and
 * $AWS_REGION (default us-east-1); the ARNs are printed at start-up.
 * --time-scale N (or $SFN_TIME_SCALE) makes Waits, retry back-off and
 * timeouts N times shorter (tests); the default is real time.
 * --mock-config FILE (or $SFN_MOCK_CONFIG; the option wins): a mock
 * configuration in Step Functions Local's format (src/core/asl_mock.h);
 * StartExecution / StartSyncExecution on <stateMachineArn>#<TestCaseName>
 * run that test case. The file is validated at start-up (sfnd does not
 * start with an invalid one) and read again at each start.
 * --retention DAYS (90, as AWS keeps closed executions; 0 = forever;
 * fractions allowed, for tests): executions that ended longer ago are
 * removed with their history, in small batches in the background.
 * Payloads are stored compressed (zstd with a dictionary of history-event
 * words: about 4 KB per trip saga instead of 19 KB); --no-compress stores
 * them as text (--compress, the default, is still accepted).
 * --parameter-overrides (SAM CLI's option) sets template parameters: the
 * words up to the next --option, or one string "K=V K2=V2"; an unknown key
 * or a value outside AllowedValues stops the start. The template's SNS
 * topics and EventBridgeRule events are handed to the runner (see
 * docs/integrations.md).
 * --endpoint SERVICE=URL (repeatable; or SFN_ENDPOINT_<SERVICE>) forwards
 * dynamodb:* and aws-sdk:SERVICE:* tasks there, SigV4-signed with the
 * functions' credentials (sfnd_endpoints.c, src/runner/run_tasks_fwd.c).
 * --env-vars FILE (SAM CLI's option) sets functions' environment variables:
 * {"Parameters": {VAR: value}} for every function, {"<LogicalId>": {...}}
 * for one (it wins); they win over the template's and over sfnd's defaults
 * (AWS_ACCESS_KEY_ID, AWS_REGION, SFN_LOCAL_STORE_DIR, ...), and unlike SAM
 * CLI a variable the template does not declare is set too. A key naming no
 * function, a non-scalar value or a Runtime API variable stops the start
 * (src/template/tpl.h).
 * Functions: found as sam build leaves them (src/template/tpl_code.c; the
 * start-up message lists where it looked for one it did not find), run as
 * their Runtime wants (src/lambda/lam_runtime.c: provided.* bootstraps,
 * Node.js and Python through the shims in <bin>/runtimes/); a Node.js or
 * Python major version other than this machine's refuses the function
 * unless --runtime-mismatch=run. `sfnd build` (sfnd_build.c) builds the
 * BuildMethod: makefile functions into .aws-sam/build/ as sam build does.
 * Private by default (api_http_check): a request whose Host does not name
 * the address served, with a foreign Origin (unless --allow-origin URL,
 * repeatable, names it) or a browser "simple" unsigned POST gets 403. A
 * --host beyond loopback is warned about loudly at start-up.
 * Connections: --header-timeout S (10) to send a request's head (the body
 * gets 60 s), --idle-timeout S (60) between keep-alive requests,
 * --max-connections N (1024, or half the fd limit) beyond which a new
 * connection gets 503 ServiceUnavailableException.
 * SIGTERM/SIGINT: stop accepting, let invocations in flight finish (5 s),
 * commit, stop the functions, exit 0. SIGKILL loses nothing committed.
 *
 * main runs the phases in turn, each a function: the command line
 * (options), the data directory (data_dirs), the template (load_template),
 * the store (open_store), the loop, the local Lambda and its functions,
 * the runner and the API (start_services), the template's state machines,
 * topics and rules (register_resources), recovery (recover), serving until
 * a signal (serve), and the release of everything (shut_down). A phase
 * that fails has said why on stderr and main exits 1.
 *
 * Must not: hold logic that tests cannot reach through the libraries.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "console.h"
#include "ev.h"
#include "http.h"
#include "lam.h"
#include "run.h"
#include "sfnd_build.h"
#include "store.h"
#include "sfnd_endpoints.h"
#include "tpl.h"

/* The command line. */
typedef struct sfnd_cfg {
    const char *template, *data, *host, *env_file, *mock_config;
    int port, max_procs, quiet;
    const char **origins;
    size_t norigins;
    long max_conns;
    double header_timeout, idle_timeout; /* s; the body gets 60 s */
    double scale;
    double retention_days;
    int compress;     /* enum store_compress: zstd unless --no-compress */
    int runtime_mismatch_run; /* --runtime-mismatch=run */
    char *overrides;  /* the words of --parameter-overrides, joined by spaces */
    size_t olen;
    sfnd_endpoints ep; /* --endpoint SERVICE=URL, and the credentials of --env-vars */
} sfnd_cfg;

typedef struct sfnd {
    ev_loop *loop;
    http_server *srv;
    lam *lam;
    run *run;
    int stopping;
    sfnd_cfg cfg;
    char tables[PATH_MAX + 16], logs[PATH_MAX + 16], dbpath[PATH_MAX + 16], datadir[PATH_MAX];
    char exe[PATH_MAX];
    const char *bin_dir;  /* the directory of exe */
    const char *region, *account;
    tpl *t;
    store *st;
    api *a;
    console *con; /* the browser console (src/console) */
    asl_mock *mock; /* --mock-config, until the runner takes it */
    char err[1024];
} sfnd;

static void usage(void)
{
    fprintf(stderr, "usage: sfnd --template template.yaml [--data DIR] [--port 8083] "
                    "[--host 127.0.0.1] [--time-scale N] [--max-procs N] [--quiet]\n"
                    "            [--parameter-overrides Key=Value [Key=Value ...]] "
                    "[--env-vars env.json]\n"
                    "            [--allow-origin URL]... [--max-connections N] "
                    "[--header-timeout S] [--idle-timeout S]\n"
                    "            [--retention DAYS] [--no-compress] [--runtime-mismatch=run]\n"
                    "            [--mock-config FILE]\n"
                    "            [--endpoint SERVICE=URL]...\n"
                    "       sfnd build --template template.yaml [--build-dir DIR] [LogicalId ...]\n"
                    "  --runtime-mismatch=run  run a nodejs<N>.x / python3.<M> function on this "
                    "machine's\n"
                    "                   node / python3 even when its version differs (refused by "
                    "default)\n"
                    "  --endpoint SERVICE=URL  forward dynamodb:* and aws-sdk:SERVICE:* tasks "
                    "there, signed\n"
                    "                   with the functions' credentials (repeatable; also "
                    "SFN_ENDPOINT_<SERVICE>=URL),\n"
                    "                   e.g. --endpoint dynamodb=http://127.0.0.1:8000\n"
                    "  --allow-origin URL  a browser origin (http://host:port) allowed to call "
                    "(repeatable);\n"
                    "                   by default cross-site browser requests are refused\n"
                    "  --env-vars FILE  JSON {\"Parameters\": {\"VAR\": \"value\"}, "
                    "\"<FunctionLogicalId>\": {...}}: environment\n"
                    "                   variables for every function / for one (it wins); they "
                    "win over the\n"
                    "                   template's and over sfnd's defaults (AWS_ACCESS_KEY_ID, "
                    "AWS_REGION,\n"
                    "                   SFN_LOCAL_STORE_DIR, ...)\n");
    exit(2);
}

static void on_lam_done(void *ud)
{
    sfnd *s = ud;
    ev_stop(s->loop);
}

static void on_drained(void *ud)
{
    sfnd *s = ud;
    lam_shutdown(s->lam, on_lam_done, s);
}

static void on_signal(ev_loop *loop, int signo, void *ud)
{
    (void)loop;
    sfnd *s = ud;
    if (s->stopping)
        return;
    s->stopping = 1;
    fprintf(stderr, "sfnd: signal %d: draining\n", signo);
    http_server_free(s->srv);
    s->srv = NULL;
    run_drain(s->run, 5000, on_drained, s);
}

/* ---- options ------------------------------------------------------------- */
/* --parameter-overrides: the words up to the next --option, appended to
 * c->overrides (*i: the option's index, moved to its last word). */
static int add_overrides(sfnd_cfg *c, int argc, char **argv, int *i)
{
    while (*i + 1 < argc && strncmp(argv[*i + 1], "--", 2) != 0) {
        const char *w = argv[++*i];
        size_t wl = strlen(w);
        char *no = realloc(c->overrides, c->olen + wl + 2);
        if (no == NULL) {
            fprintf(stderr, "sfnd: out of memory\n");
            return -1;
        }
        c->overrides = no;
        if (c->olen)
            c->overrides[c->olen++] = ' ';
        memcpy(c->overrides + c->olen, w, wl + 1);
        c->olen += wl;
    }
    return 0;
}

static int add_origin(sfnd_cfg *c, const char *origin)
{
    const char **no = realloc(c->origins, (c->norigins + 1) * sizeof *c->origins);
    if (no == NULL) {
        fprintf(stderr, "sfnd: out of memory\n");
        return -1;
    }
    c->origins = no;
    c->origins[c->norigins++] = origin;
    return 0;
}

/* The command line into c (a wrong one: usage, exit 2). Returns 0 or -1. */
static int options(sfnd_cfg *c, int argc, char **argv)
{
    *c = (sfnd_cfg){.data = "./.sfn", .host = "127.0.0.1", .port = 8083, .header_timeout = 10,
                    .idle_timeout = 60, .scale = 1.0, .retention_days = 90,
                    .compress = STORE_COMPRESS_ZSTD};
    const char *env_mock = getenv("SFN_MOCK_CONFIG");
    if (env_mock && *env_mock)
        c->mock_config = env_mock;
    const char *env_scale = getenv("SFN_TIME_SCALE");
    if (env_scale && *env_scale)
        c->scale = atof(env_scale);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--template") && v)
            c->template = argv[++i];
        else if (!strcmp(a, "--data") && v)
            c->data = argv[++i];
        else if (!strcmp(a, "--port") && v)
            c->port = atoi(argv[++i]);
        else if (!strcmp(a, "--host") && v)
            c->host = argv[++i];
        else if (!strcmp(a, "--time-scale") && v)
            c->scale = atof(argv[++i]);
        else if (!strcmp(a, "--max-procs") && v)
            c->max_procs = atoi(argv[++i]);
        else if (!strcmp(a, "--retention") && v) {
            char *end;
            c->retention_days = strtod(argv[++i], &end);
            if (*end != '\0' || end == argv[i] || !(c->retention_days >= 0))
                usage();
        }
        else if (!strcmp(a, "--quiet"))
            c->quiet = 1;
        else if (!strcmp(a, "--compress"))
            c->compress = STORE_COMPRESS_ZSTD;
        else if (!strcmp(a, "--no-compress"))
            c->compress = STORE_COMPRESS_OFF;
        else if (!strcmp(a, "--runtime-mismatch=run") || !strcmp(a, "--runtime-mismatch=refuse"))
            c->runtime_mismatch_run = a[19] == 'r' && a[20] == 'u';
        else if (!strcmp(a, "--runtime-mismatch") && v &&
                 (!strcmp(v, "run") || !strcmp(v, "refuse")))
            c->runtime_mismatch_run = !strcmp(argv[++i], "run");
        else if (!strcmp(a, "--env-vars") && v)
            c->env_file = argv[++i];
        else if (!strcmp(a, "--mock-config") && v)
            c->mock_config = argv[++i];
        else if (!strcmp(a, "--endpoint") && v) {
            if (sfnd_endpoints_add(&c->ep, argv[++i]) != 0)
                return -1;
        }
        else if (!strcmp(a, "--allow-origin") && v) {
            if (add_origin(c, argv[++i]) != 0)
                return -1;
        }
        else if (!strcmp(a, "--max-connections") && v)
            c->max_conns = atol(argv[++i]);
        else if (!strcmp(a, "--header-timeout") && v)
            c->header_timeout = atof(argv[++i]);
        else if (!strcmp(a, "--idle-timeout") && v)
            c->idle_timeout = atof(argv[++i]);
        else if (!strcmp(a, "--parameter-overrides") && v) {
            if (add_overrides(c, argc, argv, &i) != 0)
                return -1;
        }
        else
            usage();
    }
    if (c->template == NULL || c->port < 0 || c->port > 65535 || c->max_conns < 0 ||
        c->header_timeout <= 0 || c->idle_timeout <= 0 || c->header_timeout > 86400 ||
        c->idle_timeout > 86400)
        usage();
    if (c->max_procs <= 0) {
        /* Locally the functions are CPU-bound (the SQLite store): one warm
         * process per core, plus one for the process that waits on I/O.
         * More only add context switches and lock waits (bench: 3 per
         * function on 2 cores gave the most executions/s; 8 was 10%
         * slower). --max-procs raises it for functions that wait. */
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        c->max_procs = ncpu < 1 ? 3 : ncpu + 1 > 8 ? 8 : (int)ncpu + 1;
    }
    if (c->scale < 1.0)
        c->scale = 1.0;
    return 0;
}

/* ---- the data directory and the template ------------------------------------ */
/* DIR and DIR/tables, DIR/logs; where the binary is; the region. */
static int data_dirs(sfnd *s)
{
    const char *data = s->cfg.data;
    if (sfnd_mkdir_p(data) != 0 || realpath(data, s->datadir) == NULL) {
        fprintf(stderr, "sfnd: %s: %s\n", data, strerror(errno));
        return -1;
    }
    snprintf(s->tables, sizeof s->tables, "%s/tables", s->datadir);
    snprintf(s->logs, sizeof s->logs, "%s/logs", s->datadir);
    snprintf(s->dbpath, sizeof s->dbpath, "%s/sfnd.db", s->datadir);
    if (sfnd_mkdir_p(s->tables) != 0 || sfnd_mkdir_p(s->logs) != 0) {
        fprintf(stderr, "sfnd: %s: %s\n", s->datadir, strerror(errno));
        return -1;
    }

    ssize_t n = readlink("/proc/self/exe", s->exe, sizeof s->exe - 1);
    s->exe[n > 0 ? n : 0] = '\0';
    s->bin_dir = n > 0 ? dirname(s->exe) : ".";

    s->region = getenv("AWS_REGION");
    if (s->region == NULL || *s->region == '\0')
        s->region = "us-east-1";
    s->account = "123456789012";
    return 0;
}

/* The template with --parameter-overrides and --env-vars into s->t. */
static int load_template(sfnd *s)
{
    json_t *env_vars = NULL;
    if (s->cfg.env_file != NULL) {
        json_error_t je;
        env_vars = json_load_file(s->cfg.env_file, JSON_REJECT_DUPLICATES, &je);
        if (env_vars == NULL) {
            fprintf(stderr, "sfnd: --env-vars %s:%d:%d: %s\n", s->cfg.env_file, je.line,
                    je.column, je.text);
            return -1;
        }
    }
    if (env_vars != NULL && sfnd_endpoints_creds(&s->cfg.ep, env_vars) != 0) {
        json_decref(env_vars);
        return -1;
    }
    tpl_opts to = {.region = s->region, .account = s->account, .bin_dir = s->bin_dir,
                   .store_dir = s->tables, .parameter_overrides = s->cfg.overrides,
                   .env_vars = env_vars};
    int lrc = tpl_load(s->cfg.template, &to, &s->t, s->err, sizeof s->err);
    free(s->cfg.overrides);
    s->cfg.overrides = NULL;
    json_decref(env_vars);
    if (lrc != 0) {
        fprintf(stderr, "sfnd: %s\n", s->err);
        return -1;
    }
    for (size_t i = 0; i < tpl_unsupported_count(s->t); i++)
        fprintf(stderr, "sfnd: resource %s is not provided locally\n",
                tpl_unsupported_at(s->t, i));
    return 0;
}

/* --mock-config: validated before anything starts. */
static int load_mock(sfnd *s)
{
    if (s->cfg.mock_config == NULL)
        return 0;
    if (asl_mock_load(s->cfg.mock_config, &s->mock, s->err, sizeof s->err) != SFN_OK) {
        fprintf(stderr, "sfnd: invalid mock configuration: %s\n", s->err);
        return -1;
    }
    if (!s->cfg.quiet)
        fprintf(stderr, "sfnd: mock configuration %s: start executions on "
                        "<stateMachineArn>#<TestCaseName>\n", s->cfg.mock_config);
    return 0;
}

/* ---- the store, the loop, the functions, the runner, the API ---------------- */
static int open_store(sfnd *s)
{
    if (store_open(s->dbpath, 1, &s->st, s->err, sizeof s->err) != STORE_OK) {
        fprintf(stderr, "sfnd: %s\n", s->err);
        return -1;
    }
    store_set_compress(s->st, s->cfg.compress);
    if (store_no_shm(s->st))
        fprintf(stderr, "sfnd: warning: %s: no room for its shared-memory index (disk "
                        "full?): opened for this process alone; restart once there is room\n",
                s->dbpath);
    return 0;
}

/* Why f is not run: where sfnd looked, or why its code was refused. */
static void function_not_found(const sfnd *s, const tpl_function *f)
{
    if (f->code_error != NULL) {
        fprintf(stderr, "sfnd: function %s: %s; its tasks will fail\n", f->logical_id,
                f->code_error);
        return;
    }
    fprintf(stderr, "sfnd: function %s: not found; looked in:\n", f->logical_id);
    for (const char *const *l = f->looked; *l; l++)
        fprintf(stderr, "sfnd:     %s\n", *l);
    if (f->build_method != NULL)
        fprintf(stderr, "sfnd:   BuildMethod %s: build it with `%s/sfnd build --template %s`\n",
                f->build_method, s->bin_dir, s->cfg.template);
    fprintf(stderr, "sfnd:   its tasks will fail\n");
}

/* One function into the local Lambda, started as its runtime wants. */
static void register_function(sfnd *s, lam_runtimes *rts, const tpl_function *f)
{
    lam_command cmd;
    char why[1024];
    if (lam_runtimes_command(rts, f->runtime, f->bootstrap, &cmd, why, sizeof why) != 0) {
        fprintf(stderr, "sfnd: function %s: %s; its tasks will fail\n", f->logical_id, why);
        return;
    }
    if (cmd.note)
        fprintf(stderr, "sfnd: warning: function %s: %s\n", f->logical_id, cmd.note);
    lam_function_def fd = {.name = f->name, .bootstrap = f->bootstrap, .cmd = &cmd,
                           .task_root = f->code_dir, .runtime = f->runtime,
                           .architecture = f->architecture, .handler = f->handler,
                           .env = f->env, .env_override = f->env_override,
                           .timeout_s = f->timeout_s, .memory_mb = f->memory_mb};
    int rc = lam_function_add(s->lam, &fd);
    lam_command_free(&cmd);
    if (rc != 0) {
        fprintf(stderr, "sfnd: function %s: cannot register (%s)\n", f->name, strerror(-rc));
        return;
    }
    printf("function      %-28s %s (%s)\n", f->logical_id, f->arn, f->code_dir);
}

/* The template's functions into the local Lambda; one that cannot be is
 * skipped (its tasks will fail). */
static void register_functions(sfnd *s)
{
    char shims[PATH_MAX + 16];
    snprintf(shims, sizeof shims, "%s/runtimes", s->bin_dir);
    lam_runtimes_opts ro = {.shim_dir = shims, .mismatch_run = s->cfg.runtime_mismatch_run};
    lam_runtimes *rts = lam_runtimes_create(&ro);
    for (size_t i = 0; rts && i < tpl_function_count(s->t); i++) {
        const tpl_function *f = tpl_function_at(s->t, i);
        if (f->code_dir == NULL)
            function_not_found(s, f);
        else
            register_function(s, rts, f);
    }
    lam_runtimes_free(rts);
}

/* The loop, the local Lambda with the functions, the runner, the API. */
static int start_services(sfnd *s)
{
    const sfnd_cfg *c = &s->cfg;
    s->loop = ev_create();
    lam_opts lo = {.region = s->region, .account = s->account, .max_procs = c->max_procs,
                   .log_dir = s->logs, .event_retry_ms = (int64_t)(60000 / c->scale)};
    s->lam = s->loop ? lam_create(s->loop, &lo) : NULL;
    if (s->lam == NULL) {
        fprintf(stderr, "sfnd: cannot create the loop or the local Lambda\n");
        return -1;
    }
    register_functions(s);
    run_opts ro = {.loop = s->loop, .st = s->st, .lam = s->lam, .region = s->region,
                   .account = s->account, .time_scale = c->scale, .quiet = c->quiet,
                   .data_dir = s->datadir};
    ro.retention_ms = (int64_t)(c->retention_days * 86400000.0);
    s->run = run_create(&ro);
    if (s->run && s->mock) {
        run_mock_config(s->run, s->mock);
        s->mock = NULL;
    }
    api_opts ao = {.run = s->run, .loop = s->loop, .lam = s->lam, .region = s->region,
                   .account = s->account, .host = c->host, .port = c->port,
                   .allow_origins = c->origins, .nallow_origins = c->norigins};
    s->a = s->run ? api_create(&ao) : NULL;
    console_opts co = {.a = s->a, .loop = s->loop, .datadir = s->datadir};
    s->con = s->a ? console_create(&co) : NULL;
    if (s->a == NULL || s->con == NULL) {
        fprintf(stderr, "sfnd: out of memory\n");
        return -1;
    }
    return 0;
}

/* ---- the template's state machines, topics and rules ------------------------ */
static int register_machines(sfnd *s)
{
    for (size_t i = 0; i < tpl_state_machine_count(s->t); i++) {
        const tpl_state_machine *m = tpl_state_machine_at(s->t, i);
        char *def = json_dumps(m->definition, JSON_INDENT(2));
        char *arn = NULL;
        int rc = def ? api_sm_from_template(s->a, m->name, def, m->type, m->role_arn, &arn,
                                            s->err, sizeof s->err)
                     : -ENOMEM;
        free(def);
        if (rc == -EAGAIN) {
            /* a full disk: serve what the store has (read-only until it
             * takes writes); the template's version is saved at a restart */
            fprintf(stderr, "sfnd: warning: state machine %s not updated from the template: %s\n",
                    m->logical_id, s->err);
            continue;
        }
        if (rc == 0)
            rc = api_sm_template_conf(s->a, arn, m->logging, m->tracing, s->err, sizeof s->err);
        if (rc == -EAGAIN) {
            fprintf(stderr, "sfnd: warning: state machine %s: logging/tracing not updated: %s\n",
                    m->logical_id, s->err);
            rc = 0;
        }
        if (rc != 0) {
            fprintf(stderr, "sfnd: state machine %s: %s\n", m->logical_id, s->err);
            free(arn);
            return -1;
        }
        if (console_set_origin(s->con, arn, s->cfg.template, m->logical_id, m->substitutions))
            fprintf(stderr, "sfnd: state machine %s: out of memory\n", m->logical_id);
        printf("state machine %-28s %s\n", m->logical_id, arn);
        free(arn);
    }
    return 0;
}

static int register_topics(sfnd *s)
{
    for (size_t i = 0; i < tpl_topic_count(s->t); i++) {
        const tpl_topic *tp = tpl_topic_at(s->t, i);
        if (run_topic_add(s->run, tp->name, tp->arn) != 0) {
            fprintf(stderr, "sfnd: topic %s: invalid name '%s'\n", tp->logical_id, tp->name);
            return -1;
        }
        printf("topic         %-28s %s (%s/sns/%s.jsonl)\n", tp->logical_id, tp->arn,
               s->datadir, tp->name);
    }
    return 0;
}

/* The template's activities: created unless they exist (their workers may
 * poll as soon as sfnd serves). */
static int register_activities(sfnd *s)
{
    for (size_t i = 0; i < tpl_activity_count(s->t); i++) {
        const tpl_activity *a = tpl_activity_at(s->t, i);
        int rc = run_act_ensure(s->run, a->name, a->arn);
        if (rc == RUN_EINVAL) {
            fprintf(stderr, "sfnd: activity %s: invalid name '%s'\n", a->logical_id, a->name);
            return -1;
        }
        if (rc != 0)
            fprintf(stderr, "sfnd: warning: activity %s not created: %s\n", a->logical_id,
                    sfn_strerror(rc));
        else
            printf("activity      %-28s %s\n", a->logical_id, a->arn);
    }
    return 0;
}

static int register_rules(sfnd *s)
{
    for (size_t i = 0; i < tpl_state_machine_count(s->t); i++) {
        const tpl_state_machine *m = tpl_state_machine_at(s->t, i);
        for (size_t j = 0; j < m->nrules; j++) {
            const tpl_rule *ru = &m->rules[j];
            if (run_rule_add(s->run, m->arn, ru->id, ru->bus, ru->pattern, ru->input, ru->input_path,
                             s->err, sizeof s->err) != 0) {
                fprintf(stderr, "sfnd: state machine %s: event %s: %s\n", m->logical_id, ru->id,
                        s->err);
                return -1;
            }
            printf("rule          %-28s starts %s\n", ru->id, m->logical_id);
        }
    }
    for (size_t i = 0; i < tpl_evtarget_count(s->t); i++) {
        const tpl_evtarget *e = tpl_evtarget_at(s->t, i);
        if (run_rule_add(s->run, e->sm_arn, e->rule.id, e->rule.bus, e->rule.pattern,
                         e->rule.input, e->rule.input_path, s->err, sizeof s->err) != 0) {
            fprintf(stderr, "sfnd: rule %s: %s\n", e->rule.id, s->err);
            return -1;
        }
        printf("rule          %-28s starts %s (bus %s)\n", e->rule.id, e->sm_arn, e->rule.bus);
    }
    return 0;
}

/* The template's SQS queues and event buses (events:putEvents sinks). */
static int register_queues(sfnd *s)
{
    for (size_t i = 0; i < tpl_queue_count(s->t); i++) {
        const tpl_queue *q = tpl_queue_at(s->t, i);
        if (run_queue_add(s->run, q->name, q->arn, q->url, q->fifo, q->content_dedup) != 0) {
            fprintf(stderr, "sfnd: queue %s: invalid name '%s'\n", q->logical_id, q->name);
            return -1;
        }
        printf("queue         %-28s %s (%s/sqs/%s.jsonl)\n", q->logical_id, q->url, s->datadir,
               q->name);
    }
    for (size_t i = 0; i < tpl_bus_count(s->t); i++) {
        const tpl_bus *b = tpl_bus_at(s->t, i);
        if (run_bus_add(s->run, b->name, b->arn) != 0) {
            fprintf(stderr, "sfnd: event bus %s: invalid name '%s'\n", b->logical_id, b->name);
            return -1;
        }
        printf("event bus     %-28s %s (%s/events/%s.jsonl)\n", b->logical_id, b->arn,
               s->datadir, b->name);
    }
    return 0;
}

/* State machines, topics, rules; the tables are listed; then committed. */
static int register_resources(sfnd *s)
{
    if (register_machines(s) != 0 || register_activities(s) != 0 || register_topics(s) != 0 ||
        register_queues(s) != 0 || register_rules(s) != 0 ||
        sfnd_endpoints_apply(&s->cfg.ep, s->run, s->cfg.quiet) != 0)
        return -1;
    for (size_t i = 0; i < tpl_table_count(s->t); i++)
        printf("table         %-28s %s/%s.sqlite\n", tpl_table_at(s->t, i)->logical_id,
               s->tables, tpl_table_at(s->t, i)->name);
    run_flush(s->run);
    return 0;
}

/* ---- recovery, serving, shutdown -------------------------------------------- */
/* The executions that were running when sfnd last stopped go on. */
static int recover(sfnd *s)
{
    int recovered = run_recover(s->run, s->err, sizeof s->err);
    if (recovered < 0) {
        fprintf(stderr, "sfnd: recovery failed: %s\n", s->err);
        return -1;
    }
    if (recovered > 0)
        printf("recovered %d running execution%s\n", recovered, recovered == 1 ? "" : "s");
    return 0;
}

/* The Lambda API's routes go to the local Lambda once they pass the API's
 * check (a refused request goes to api_http_handle, which answers 403);
 * everything else to the API. */
static void http_handle(http_req *req, void *ud)
{
    sfnd *s = ud;
    char msg[512];
    if (console_http_route(s->con, req))
        return;
    if (strncmp(http_req_path(req), "/2015-03-31/functions", 21) == 0 &&
        api_http_check(s->a, http_req_method(req), http_req_header(req, "Host"),
                       http_req_header(req, "Origin"), http_req_header(req, "Authorization"),
                       http_req_header(req, "Content-Type"), msg, sizeof msg) == 0 &&
        lam_http_route(s->lam, req))
        return;
    api_http_handle(req, s->a);
}

/* Listen, and run the loop until a signal has drained it. */
static int serve(sfnd *s)
{
    const sfnd_cfg *c = &s->cfg;
    /* the Lambda Invoke route takes up to 6 MB (AWS's synchronous limit); a
     * larger body gets an AWS-shaped 413 from lam, and past this one from http */
    http_server_opts ho = {.host = c->host, .port = c->port,
                           .max_body = LAM_MAX_PAYLOAD + 1024 * 1024,
                           .max_conns = (size_t)c->max_conns,
                           .header_timeout_ms = (int)(c->header_timeout * 1000),
                           .body_timeout_ms = 60000,
                           .idle_timeout_ms = (int)(c->idle_timeout * 1000),
                           .error_body = api_http_error_body,
                           .error_headers = API_HTTP_ERROR_HEADERS};
    int herr = 0;
    s->srv = http_server_create(s->loop, &ho, http_handle, s, &herr);
    if (s->srv == NULL) {
        fprintf(stderr, "sfnd: cannot listen on %s:%d: %s\n", c->host, c->port, strerror(-herr));
        return -1;
    }
    api_set_port(s->a, http_server_port(s->srv));
    ev_signal_watch(s->loop, SIGTERM, on_signal, s);
    ev_signal_watch(s->loop, SIGINT, on_signal, s);
    char url[300];
    api_url_format(url, sizeof url, c->host, http_server_port(s->srv));
    if (!api_host_is_loopback(c->host))
        fprintf(stderr,
                "sfnd: WARNING: listening on %s, beyond loopback: anyone who can reach this "
                "address can start executions and invoke the functions (which run as you), with "
                "no authentication. Use --host 127.0.0.1 unless that is what you want.\n",
                url);
    printf("sfnd: listening on %s (data %s)\n", url, s->datadir);
    printf("sfnd: console at %s/\n", url);
    fflush(stdout);
    ev_run(s->loop);
    run_stats rs;
    run_stats_get(s->run, &rs);
    fprintf(stderr,
            "sfnd: stopped: %llu executions started, %llu finished here, %llu commits, "
            "%llu invocations, %llu inputs, %llu events\n",
            (unsigned long long)rs.started, (unsigned long long)rs.finished,
            (unsigned long long)rs.commits, (unsigned long long)rs.invokes,
            (unsigned long long)rs.inputs, (unsigned long long)rs.events);
    return 0;
}

/* Free what the phases made (any of it may be NULL). */
static void shut_down(sfnd *s)
{
    free(s->cfg.overrides);
    free(s->cfg.origins);
    sfnd_endpoints_free(&s->cfg.ep);
    http_server_free(s->srv);
    run_free(s->run);
    api_free(s->a);
    console_free(s->con); /* after the API: no reply can come to it after this */
    lam_free(s->lam);
    ev_free(s->loop);
    store_close(s->st);
    tpl_free(s->t);
    asl_mock_free(s->mock);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "build"))
        return sfnd_build_main(argc - 1, argv + 1);
    sfnd s = {0};
    int status;
    if (options(&s.cfg, argc, argv) != 0)
        status = 1;
    else {
        signal(SIGPIPE, SIG_IGN);
        status = load_mock(&s) != 0 || data_dirs(&s) != 0 || load_template(&s) != 0 ||
                 open_store(&s) != 0 ||
                 start_services(&s) != 0 || register_resources(&s) != 0 || recover(&s) != 0 ||
                 serve(&s) != 0;
    }
    shut_down(&s);
    return status;
}
