/*
 * sfnd_main.c - sfnd: the local Step Functions + Lambda service.
 *
 *   sfnd --template template.yaml [--data DIR] [--port 8083] [--host 127.0.0.1]
 *        [--time-scale N] [--max-procs N] [--quiet]
 *        [--parameter-overrides Key=Value [Key=Value ...]] [--env-vars env.json]
 *        [--allow-origin URL]... [--max-connections N] [--header-timeout S]
 *        [--idle-timeout S]
 *
 * Wires the pieces on one loop: store (DIR/sfnd.db), local Lambda (the
 * template's functions), runner (recovers what was running), API + HTTP.
 * Names: state machines and functions keep their template names (Name /
 * FunctionName) or else their logical IDs, in account 123456789012 and
 * $AWS_REGION (default us-east-1); the ARNs are printed at start-up.
 * --time-scale N (or $SFN_TIME_SCALE) makes Waits, retry back-off and
 * timeouts N times shorter (tests); the default is real time.
 * --retention DAYS (90, as AWS keeps closed executions; 0 = forever;
 * fractions allowed, for tests): executions that ended longer ago are
 * removed with their history, in small batches in the background.
 * --compress stores payloads deflated (about 4 KB per trip saga instead of
 * 19 KB, for about a quarter of the saga throughput: off by default).
 * --parameter-overrides (SAM CLI's option) sets template parameters: the
 * words up to the next --option, or one string "K=V K2=V2"; an unknown key
 * or a value outside AllowedValues stops the start. The template's SNS
 * topics and EventBridgeRule events are handed to the runner (see
 * docs/integrations.md).
 * --env-vars FILE (SAM CLI's option) sets functions' environment variables:
 * {"Parameters": {VAR: value}} for every function, {"<LogicalId>": {...}}
 * for one (it wins); they win over the template's and over sfnd's defaults
 * (AWS_ACCESS_KEY_ID, AWS_REGION, SFN_LOCAL_STORE_DIR, ...), and unlike SAM
 * CLI a variable the template does not declare is set too. A key naming no
 * function, a non-scalar value or a Runtime API variable stops the start
 * (src/template/tpl.h).
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
#include "ev.h"
#include "http.h"
#include "lam.h"
#include "run.h"
#include "store.h"
#include "tpl.h"

typedef struct sfnd {
    ev_loop *loop;
    http_server *srv;
    lam *lam;
    run *run;
    int stopping;
} sfnd;

static void usage(void)
{
    fprintf(stderr, "usage: sfnd --template template.yaml [--data DIR] [--port 8083] "
                    "[--host 127.0.0.1] [--time-scale N] [--max-procs N] [--quiet]\n"
                    "            [--parameter-overrides Key=Value [Key=Value ...]] "
                    "[--env-vars env.json]\n"
                    "            [--allow-origin URL]... [--max-connections N] "
                    "[--header-timeout S] [--idle-timeout S]\n"
                    "            [--retention DAYS] [--compress]\n"
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

static int mkdirs(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
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

int main(int argc, char **argv)
{
    const char *template = NULL, *data = "./.sfn", *host = "127.0.0.1", *env_file = NULL;
    int port = 8083, max_procs = 0, quiet = 0;
    const char **origins = NULL;
    size_t norigins = 0;
    long max_conns = 0;
    double header_timeout = 10, idle_timeout = 60; /* s; the body gets 60 s */
    double scale = 1.0;
    double retention_days = 90;
    int compress = 0; /* --compress: payloads stored deflated */
    char *overrides = NULL; /* the words of --parameter-overrides, joined by spaces */
    size_t olen = 0;
    const char *env_scale = getenv("SFN_TIME_SCALE");
    if (env_scale && *env_scale)
        scale = atof(env_scale);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--template") && v)
            template = argv[++i];
        else if (!strcmp(a, "--data") && v)
            data = argv[++i];
        else if (!strcmp(a, "--port") && v)
            port = atoi(argv[++i]);
        else if (!strcmp(a, "--host") && v)
            host = argv[++i];
        else if (!strcmp(a, "--time-scale") && v)
            scale = atof(argv[++i]);
        else if (!strcmp(a, "--max-procs") && v)
            max_procs = atoi(argv[++i]);
        else if (!strcmp(a, "--retention") && v) {
            char *end;
            retention_days = strtod(argv[++i], &end);
            if (*end != '\0' || end == argv[i] || !(retention_days >= 0))
                usage();
        }
        else if (!strcmp(a, "--quiet"))
            quiet = 1;
        else if (!strcmp(a, "--compress"))
            compress = 1;
        else if (!strcmp(a, "--env-vars") && v)
            env_file = argv[++i];
        else if (!strcmp(a, "--allow-origin") && v) {
            const char **no = realloc(origins, (norigins + 1) * sizeof *origins);
            if (no == NULL) {
                fprintf(stderr, "sfnd: out of memory\n");
                return 1;
            }
            origins = no;
            origins[norigins++] = argv[++i];
        }
        else if (!strcmp(a, "--max-connections") && v)
            max_conns = atol(argv[++i]);
        else if (!strcmp(a, "--header-timeout") && v)
            header_timeout = atof(argv[++i]);
        else if (!strcmp(a, "--idle-timeout") && v)
            idle_timeout = atof(argv[++i]);
        else if (!strcmp(a, "--parameter-overrides") && v) {
            while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
                const char *w = argv[++i];
                size_t wl = strlen(w);
                char *no = realloc(overrides, olen + wl + 2);
                if (no == NULL) {
                    fprintf(stderr, "sfnd: out of memory\n");
                    return 1;
                }
                overrides = no;
                if (olen)
                    overrides[olen++] = ' ';
                memcpy(overrides + olen, w, wl + 1);
                olen += wl;
            }
        }
        else
            usage();
    }
    if (template == NULL || port < 0 || port > 65535 || max_conns < 0 || header_timeout <= 0 ||
        idle_timeout <= 0 || header_timeout > 86400 || idle_timeout > 86400)
        usage();
    if (max_procs <= 0) {
        /* Locally the functions are CPU-bound (the SQLite store): one warm
         * process per core, plus one for the process that waits on I/O.
         * More only add context switches and lock waits (bench: 3 per
         * function on 2 cores gave the most executions/s; 8 was 10%
         * slower). --max-procs raises it for functions that wait. */
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        max_procs = ncpu < 1 ? 3 : ncpu + 1 > 8 ? 8 : (int)ncpu + 1;
    }
    if (scale < 1.0)
        scale = 1.0;
    signal(SIGPIPE, SIG_IGN);

    char tables[PATH_MAX + 16], logs[PATH_MAX + 16], dbpath[PATH_MAX + 16], datadir[PATH_MAX];
    if (mkdirs(data) != 0 || realpath(data, datadir) == NULL) {
        fprintf(stderr, "sfnd: %s: %s\n", data, strerror(errno));
        return 1;
    }
    snprintf(tables, sizeof tables, "%s/tables", datadir);
    snprintf(logs, sizeof logs, "%s/logs", datadir);
    snprintf(dbpath, sizeof dbpath, "%s/sfnd.db", datadir);
    if (mkdirs(tables) != 0 || mkdirs(logs) != 0) {
        fprintf(stderr, "sfnd: %s: %s\n", datadir, strerror(errno));
        return 1;
    }

    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    const char *bin_dir = n > 0 ? dirname(exe) : ".";

    const char *region = getenv("AWS_REGION");
    if (region == NULL || *region == '\0')
        region = "us-east-1";
    const char *account = "123456789012";

    char err[1024];
    json_t *env_vars = NULL;
    if (env_file != NULL) {
        json_error_t je;
        env_vars = json_load_file(env_file, JSON_REJECT_DUPLICATES, &je);
        if (env_vars == NULL) {
            fprintf(stderr, "sfnd: --env-vars %s:%d:%d: %s\n", env_file, je.line, je.column,
                    je.text);
            free(overrides);
            return 1;
        }
    }
    tpl_opts to = {.region = region, .account = account, .bin_dir = bin_dir, .store_dir = tables,
                   .parameter_overrides = overrides, .env_vars = env_vars};
    tpl *t = NULL;
    int lrc = tpl_load(template, &to, &t, err, sizeof err);
    free(overrides);
    json_decref(env_vars);
    if (lrc != 0) {
        fprintf(stderr, "sfnd: %s\n", err);
        return 1;
    }
    for (size_t i = 0; i < tpl_unsupported_count(t); i++)
        fprintf(stderr, "sfnd: resource %s is not provided locally\n", tpl_unsupported_at(t, i));

    store *st = NULL;
    if (store_open(dbpath, 1, &st, err, sizeof err) == STORE_OK) {
        store_set_compress(st, compress);
        if (store_no_shm(st))
            fprintf(stderr, "sfnd: warning: %s: no room for its shared-memory index (disk "
                            "full?): opened for this process alone; restart once there is room\n",
                    dbpath);
    } else {
        fprintf(stderr, "sfnd: %s\n", err);
        tpl_free(t);
        return 1;
    }
    sfnd s = {0};
    s.loop = ev_create();
    lam_opts lo = {.region = region, .account = account, .max_procs = max_procs, .log_dir = logs};
    s.lam = s.loop ? lam_create(s.loop, &lo) : NULL;
    if (s.lam == NULL) {
        fprintf(stderr, "sfnd: cannot create the loop or the local Lambda\n");
        return 1;
    }
    for (size_t i = 0; i < tpl_function_count(t); i++) {
        const tpl_function *f = tpl_function_at(t, i);
        if (f->bootstrap == NULL) {
            fprintf(stderr,
                    "sfnd: function %s: no bootstrap found (looked in %s/functions/%s/ and "
                    "build/%s/ next to the template); its tasks will fail\n",
                    f->logical_id, bin_dir, f->logical_id, f->logical_id);
            continue;
        }
        lam_function_def fd = {.name = f->name, .bootstrap = f->bootstrap, .handler = f->handler,
                               .env = f->env, .env_override = f->env_override,
                               .timeout_s = f->timeout_s,
                               .memory_mb = f->memory_mb};
        int rc = lam_function_add(s.lam, &fd);
        if (rc != 0) {
            fprintf(stderr, "sfnd: function %s: cannot register (%s)\n", f->name, strerror(-rc));
            continue;
        }
        printf("function      %-28s %s\n", f->logical_id, f->arn);
    }
    run_opts ro = {.loop = s.loop, .st = st, .lam = s.lam, .region = region, .account = account,
                   .time_scale = scale, .quiet = quiet, .data_dir = datadir};
    ro.retention_ms = (int64_t)(retention_days * 86400000.0);
    s.run = run_create(&ro);
    api_opts ao = {.run = s.run, .st = st, .loop = s.loop, .lam = s.lam, .region = region,
                   .account = account, .host = host, .port = port, .allow_origins = origins,
                   .nallow_origins = norigins};
    api *a = s.run ? api_create(&ao) : NULL;
    if (a == NULL) {
        fprintf(stderr, "sfnd: out of memory\n");
        return 1;
    }
    int status = 0;
    for (size_t i = 0; i < tpl_state_machine_count(t); i++) {
        const tpl_state_machine *m = tpl_state_machine_at(t, i);
        char *def = json_dumps(m->definition, JSON_INDENT(2));
        char *arn = NULL;
        int rc = def ? api_sm_from_template(a, m->name, def, m->type, m->role_arn, &arn, err,
                                            sizeof err)
                     : -ENOMEM;
        free(def);
        if (rc == -EAGAIN) {
            /* a full disk: serve what the store has (read-only until it
             * takes writes); the template's version is saved at a restart */
            fprintf(stderr, "sfnd: warning: state machine %s not updated from the template: %s\n",
                    m->logical_id, err);
            continue;
        }
        if (rc != 0) {
            fprintf(stderr, "sfnd: state machine %s: %s\n", m->logical_id, err);
            status = 1;
            goto out;
        }
        printf("state machine %-28s %s\n", m->logical_id, arn);
        free(arn);
    }
    for (size_t i = 0; i < tpl_topic_count(t); i++) {
        const tpl_topic *tp = tpl_topic_at(t, i);
        if (run_topic_add(s.run, tp->name, tp->arn) != 0) {
            fprintf(stderr, "sfnd: topic %s: invalid name '%s'\n", tp->logical_id, tp->name);
            status = 1;
            goto out;
        }
        printf("topic         %-28s %s (%s/sns/%s.jsonl)\n", tp->logical_id, tp->arn, datadir,
               tp->name);
    }
    for (size_t i = 0; i < tpl_state_machine_count(t); i++) {
        const tpl_state_machine *m = tpl_state_machine_at(t, i);
        for (size_t j = 0; j < m->nrules; j++) {
            const tpl_rule *ru = &m->rules[j];
            if (run_rule_add(s.run, m->arn, ru->id, ru->pattern, ru->input, ru->input_path, err,
                             sizeof err) != 0) {
                fprintf(stderr, "sfnd: state machine %s: event %s: %s\n", m->logical_id, ru->id,
                        err);
                status = 1;
                goto out;
            }
            printf("rule          %-28s starts %s\n", ru->id, m->logical_id);
        }
    }
    for (size_t i = 0; i < tpl_table_count(t); i++)
        printf("table         %-28s %s/%s.sqlite\n", tpl_table_at(t, i)->logical_id, tables,
               tpl_table_at(t, i)->name);
    run_flush(s.run);

    int recovered = run_recover(s.run, err, sizeof err);
    if (recovered < 0) {
        fprintf(stderr, "sfnd: recovery failed: %s\n", err);
        status = 1;
        goto out;
    }
    if (recovered > 0)
        printf("recovered %d running execution%s\n", recovered, recovered == 1 ? "" : "s");

    /* the Lambda Invoke route takes up to 6 MB (AWS's synchronous limit); a
     * larger body gets an AWS-shaped 413 from lam, and past this one from http */
    http_server_opts ho = {.host = host, .port = port, .max_body = LAM_MAX_PAYLOAD + 1024 * 1024,
                           .max_conns = (size_t)max_conns,
                           .header_timeout_ms = (int)(header_timeout * 1000),
                           .body_timeout_ms = 60000,
                           .idle_timeout_ms = (int)(idle_timeout * 1000),
                           .error_body = api_http_error_body,
                           .error_headers = API_HTTP_ERROR_HEADERS};
    int herr = 0;
    s.srv = http_server_create(s.loop, &ho, api_http_handle, a, &herr);
    if (s.srv == NULL) {
        fprintf(stderr, "sfnd: cannot listen on %s:%d: %s\n", host, port, strerror(-herr));
        status = 1;
        goto out;
    }
    api_set_port(a, http_server_port(s.srv));
    ev_signal_watch(s.loop, SIGTERM, on_signal, &s);
    ev_signal_watch(s.loop, SIGINT, on_signal, &s);
    char url[300];
    api_url_format(url, sizeof url, host, http_server_port(s.srv));
    if (!api_host_is_loopback(host))
        fprintf(stderr,
                "sfnd: WARNING: listening on %s, beyond loopback: anyone who can reach this "
                "address can start executions and invoke the functions (which run as you), with "
                "no authentication. Use --host 127.0.0.1 unless that is what you want.\n",
                url);
    printf("sfnd: listening on %s (data %s)\n", url, datadir);
    fflush(stdout);
    ev_run(s.loop);
    run_stats rs;
    run_stats_get(s.run, &rs);
    fprintf(stderr,
            "sfnd: stopped: %llu executions started, %llu finished here, %llu commits, "
            "%llu invocations, %llu inputs, %llu events\n",
            (unsigned long long)rs.started, (unsigned long long)rs.finished,
            (unsigned long long)rs.commits, (unsigned long long)rs.invokes,
            (unsigned long long)rs.inputs, (unsigned long long)rs.events);

out:
    free(origins);
    http_server_free(s.srv);
    run_free(s.run);
    api_free(a);
    lam_free(s.lam);
    ev_free(s.loop);
    store_close(st);
    tpl_free(t);
    return status;
}
