/*
 * lam_runtime.c - how a function's process is started, per runtime
 * (lam_runtimes_command): the command line lam_pool.c executes with
 * posix_spawn, never through a shell.
 *
 *   provided.* (or no Runtime)  the bootstrap itself; a script runs with the
 *                               interpreter its #! line names (and its one
 *                               argument), executed directly. #!/bin/sh runs
 *                               on bash invoked as sh, as on Amazon Linux,
 *                               whose /bin/sh is bash (AWS's tutorial
 *                               bootstrap uses `set -euo pipefail`).
 *   nodejs<N>.x                 the machine's node with our Node.js shim
 *   python3.<M>                 python3.<M> if the PATH has it, else python3,
 *                               with our Python shim
 *
 * The shims (runtimes/sfnd_node_runtime.js, runtimes/sfnd_python_runtime.py)
 * speak the Runtime API to lam_rapi.c like AWS's runtime interface clients.
 * An interpreter is probed once (its real executable, so that a version
 * manager's wrapper script is not needed in the function's clean
 * environment, and its version); a major version (Node.js) or major.minor
 * (Python) other than the template's refuses the function, unless
 * mismatch_run is set (then a note says so).
 *
 * Must not: run a shell, give a probe more than PATH and HOME of sfnd's
 * environment, be called from the loop once it serves (a probe waits for
 * the interpreter, up to PROBE_TIMEOUT_MS: start-up only).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "lam_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROBE_TIMEOUT_MS 10000
#define PROBE_MAX 1024
#define NODE_SHIM "sfnd_node_runtime.js"
#define PYTHON_SHIM "sfnd_python_runtime.py"

extern char **environ;

typedef struct probe {
    char *prog;     /* as found on the PATH */
    char *exec;     /* its real executable */
    char *version;  /* "20.20.2", "3.11.7" */
    struct probe *next;
} probe;

struct lam_runtimes {
    char *shim_dir, *path, *home;
    int mismatch_run;
    probe *probes;
};

lam_runtimes *lam_runtimes_create(const lam_runtimes_opts *o)
{
    lam_runtimes *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    const char *path = o && o->path ? o->path : getenv("PATH");
    const char *home = getenv("HOME");
    r->path = strdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
    r->home = home ? strdup(home) : NULL;
    r->shim_dir = o && o->shim_dir ? strdup(o->shim_dir) : NULL;
    r->mismatch_run = o ? o->mismatch_run : 0;
    if (r->path == NULL || (home && r->home == NULL) ||
        (o && o->shim_dir && r->shim_dir == NULL)) {
        lam_runtimes_free(r);
        return NULL;
    }
    return r;
}

void lam_runtimes_free(lam_runtimes *r)
{
    if (r == NULL)
        return;
    while (r->probes) {
        probe *p = r->probes;
        r->probes = p->next;
        free(p->prog);
        free(p->exec);
        free(p->version);
        free(p);
    }
    free(r->shim_dir);
    free(r->path);
    free(r->home);
    free(r);
}

void lam_command_free(lam_command *c)
{
    if (c == NULL)
        return;
    free(c->exec);
    for (int i = 0; c->argv && c->argv[i]; i++)
        free(c->argv[i]);
    free(c->argv);
    free(c->execution_env);
    free(c->note);
    memset(c, 0, sizeof *c);
}

int lam_find_program(const char *path, const char *name, char *out, size_t outlen)
{
    if (strchr(name, '/')) {
        snprintf(out, outlen, "%s", name);
        return access(out, X_OK) == 0 ? 0 : -ENOENT;
    }
    for (const char *p = path ? path : ""; *p;) {
        size_t n = strcspn(p, ":");
        if (n > 0 && (size_t)snprintf(out, outlen, "%.*s/%s", (int)n, p, name) < outlen) {
            struct stat sb;
            if (stat(out, &sb) == 0 && S_ISREG(sb.st_mode) && access(out, X_OK) == 0)
                return 0;
        }
        p += n;
        if (*p == ':')
            p++;
    }
    return -ENOENT;
}

/* ---- the command --------------------------------------------------------- */
/* c->exec = exec, c->argv = the NULL-terminated args. -ENOMEM or 0. */
static int command_set(lam_command *c, const char *exec, const char *const *args)
{
    int n = 0;
    while (args[n])
        n++;
    c->exec = strdup(exec);
    c->argv = calloc((size_t)n + 1, sizeof *c->argv);
    if (c->exec == NULL || c->argv == NULL)
        return -ENOMEM;
    for (int i = 0; i < n; i++)
        if ((c->argv[i] = strdup(args[i])) == NULL)
            return -ENOMEM;
    return 0;
}

/* A provided.* bootstrap: a script runs with its #! interpreter. */
static int provided_command(lam_runtimes *r, const char *bootstrap, lam_command *c, char *err,
                            size_t errlen)
{
    char line[256] = "";
    int fd = open(bootstrap, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, line, sizeof line - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n < 2 || line[0] != '#' || line[1] != '!') {
        const char *args[] = {bootstrap, NULL};
        return command_set(c, bootstrap, args);
    }
    line[n] = '\0';
    line[strcspn(line, "\n")] = '\0';
    /* Linux: the interpreter, then everything after it as one argument */
    char *interp = line + 2 + strspn(line + 2, " \t");
    char *end = interp + strcspn(interp, " \t");
    char *arg = NULL;
    if (*end) {
        *end = '\0';
        arg = end + 1 + strspn(end + 1, " \t");
        size_t al = strlen(arg);
        while (al > 0 && (arg[al - 1] == ' ' || arg[al - 1] == '\t' || arg[al - 1] == '\r'))
            arg[--al] = '\0';
        if (al == 0)
            arg = NULL;
    }
    size_t il = strlen(interp);
    if (il > 0 && interp[il - 1] == '\r')
        interp[il - 1] = '\0';
    if (interp[0] != '/') {
        snprintf(err, errlen, "bootstrap %s: its #! line names '%s', not an absolute path",
                 bootstrap, interp);
        return -EINVAL;
    }
    char bash[PATH_MAX];
    if ((!strcmp(interp, "/bin/sh") || !strcmp(interp, "/usr/bin/sh")) && arg == NULL &&
        lam_find_program(r->path, "bash", bash, sizeof bash) == 0) {
        /* Amazon Linux's /bin/sh is bash: bash as sh (POSIX mode, pipefail) */
        const char *args[] = {"sh", bootstrap, NULL};
        return command_set(c, bash, args);
    }
    if (access(interp, X_OK) != 0) {
        snprintf(err, errlen, "bootstrap %s: its interpreter %s (#!) is not on this machine",
                 bootstrap, interp);
        return -ENOENT;
    }
    const char *args[] = {interp, arg ? arg : bootstrap, arg ? bootstrap : NULL, NULL};
    return command_set(c, interp, args);
}

/* ---- probing an interpreter ---------------------------------------------- */
/* Run prog with args (env PATH and HOME only), its stdout into out. */
static int run_probe(lam_runtimes *r, const char *prog, const char *const *args, char *out,
                     size_t outlen)
{
    char penv[PATH_MAX + 8], henv[PATH_MAX + 8];
    snprintf(penv, sizeof penv, "PATH=%s", r->path);
    snprintf(henv, sizeof henv, "HOME=%s", r->home ? r->home : "/");
    char *envp[] = {penv, henv, NULL};
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0)
        return -errno;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int e = posix_spawn(&pid, prog, &fa, NULL, (char *const *)args, envp);
    posix_spawn_file_actions_destroy(&fa);
    close(pfd[1]);
    if (e != 0) {
        close(pfd[0]);
        return -e;
    }
    size_t len = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long left = PROBE_TIMEOUT_MS - ((t1.tv_sec - t0.tv_sec) * 1000 +
                                        (t1.tv_nsec - t0.tv_nsec) / 1000000);
        struct pollfd pf = {.fd = pfd[0], .events = POLLIN};
        if (left <= 0 || poll(&pf, 1, (int)left) == 0) {
            kill(pid, SIGKILL);
            len = 0;
            break;
        }
        ssize_t k = read(pfd[0], out + len, outlen - 1 - len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0 || (len += (size_t)k) >= outlen - 1)
            break;
    }
    close(pfd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    out[len] = '\0';
    return len > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* The probe of the program name found on the PATH (cached); NULL with err. */
static probe *probe_get(lam_runtimes *r, const char *name, const char *code, char *err,
                        size_t errlen)
{
    char prog[PATH_MAX];
    if (lam_find_program(r->path, name, prog, sizeof prog) != 0) {
        snprintf(err, errlen, "`%s` is not on the PATH (%s)", name, r->path);
        return NULL;
    }
    for (probe *p = r->probes; p; p = p->next)
        if (!strcmp(p->prog, prog))
            return p;
    char out[PROBE_MAX];
    const char *args[] = {prog, !strncmp(name, "node", 4) ? "-e" : "-c", code, NULL};
    if (run_probe(r, prog, args, out, sizeof out) != 0) {
        snprintf(err, errlen, "%s did not tell its version", prog);
        return NULL;
    }
    char *nl = strchr(out, '\n');
    probe *p = calloc(1, sizeof *p);
    if (nl == NULL || p == NULL) {
        free(p);
        snprintf(err, errlen, "%s did not tell its version", prog);
        return NULL;
    }
    *nl = '\0';
    p->prog = strdup(prog);
    p->exec = strdup(out[0] == '/' ? out : prog);
    p->version = strndup(nl + 1, strcspn(nl + 1, "\r\n"));
    if (!p->prog || !p->exec || !p->version) {
        free(p->prog);
        free(p->exec);
        free(p->version);
        free(p);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->next = r->probes;
    r->probes = p;
    return p;
}

static const char NODE_PROBE[] =
    "process.stdout.write(process.execPath + '\\n' + process.versions.node + '\\n')";
static const char PYTHON_PROBE[] =
    "import sys; print(sys.executable); print('%d.%d.%d' % tuple(sys.version_info[:3]))";

/* nodejs<N>.x or python3.<M>: the interpreter with our shim. */
static int shim_command(lam_runtimes *r, const char *runtime, int node, lam_command *c,
                        char *err, size_t errlen)
{
    /* the version the template asks for: "20" or "3.11" */
    char want[32];
    const char *v = runtime + 6; /* after "nodejs" or "python" */
    snprintf(want, sizeof want, "%.*s", (int)strspn(v, "0123456789."), v);
    size_t wl = strlen(want);
    if (wl > 0 && want[wl - 1] == '.')
        want[wl - 1] = '\0';
    char shim[PATH_MAX];
    snprintf(shim, sizeof shim, "%s/%s", r->shim_dir ? r->shim_dir : "",
             node ? NODE_SHIM : PYTHON_SHIM);
    if (r->shim_dir == NULL || access(shim, R_OK) != 0) {
        snprintf(err, errlen, "Runtime %s: sfnd's runtime shim %s is missing (it is installed "
                              "next to sfnd by the build)",
                 runtime, shim);
        return -ENOENT;
    }
    char perr[PATH_MAX + 64], versioned[48];
    probe *p = NULL;
    if (!node) { /* python3.12 on the PATH beats python3 */
        snprintf(versioned, sizeof versioned, "python%s", want);
        char tmp[PATH_MAX];
        if (lam_find_program(r->path, versioned, tmp, sizeof tmp) == 0)
            p = probe_get(r, versioned, PYTHON_PROBE, perr, sizeof perr);
    }
    if (p == NULL)
        p = probe_get(r, node ? "node" : "python3", node ? NODE_PROBE : PYTHON_PROBE, perr,
                      sizeof perr);
    if (p == NULL) {
        snprintf(err, errlen, "Runtime %s needs %s on this machine: %s", runtime,
                 node ? "Node.js" : "Python 3", perr);
        return -ENOENT;
    }
    /* the same major (Node.js) or major.minor (Python) */
    size_t vl = strlen(want);
    if (strncmp(p->version, want, vl) != 0 || (p->version[vl] != '.' && p->version[vl] != '\0')) {
        char have[32]; /* the machine's major (Node.js) or major.minor (Python) */
        snprintf(have, sizeof have, "%s", p->version);
        char *cut = strchr(have, '.');
        if (cut && !node)
            cut = strchr(cut + 1, '.');
        if (cut)
            *cut = '\0';
        if (!r->mismatch_run) {
            snprintf(err, errlen,
                     "Runtime %s, but this machine's %s is %s (%s): install %s %s, or start sfnd "
                     "with --runtime-mismatch=run to run it on %s %s anyway",
                     runtime, node ? "node" : "python", p->version, p->prog,
                     node ? "Node.js" : "Python", want, node ? "Node.js" : "Python", have);
            return -EINVAL;
        }
        if (asprintf(&c->note, "Runtime %s runs on this machine's %s %s (--runtime-mismatch=run)",
                     runtime, node ? "node" : "python", p->version) < 0)
            c->note = NULL;
    }
    if (asprintf(&c->execution_env, "AWS_Lambda_%s", runtime) < 0)
        return -ENOMEM;
    const char *nargs[] = {p->exec, shim, NULL};
    const char *pargs[] = {p->exec, "-B", shim, NULL};
    return command_set(c, p->exec, node ? nargs : pargs);
}

int lam_runtimes_command(lam_runtimes *r, const char *runtime, const char *bootstrap,
                         lam_command *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    int rc;
    if (runtime == NULL || strncmp(runtime, "provided", 8) == 0) {
        if (bootstrap == NULL) {
            snprintf(err, errlen, "no bootstrap");
            return -EINVAL;
        }
        rc = provided_command(r, bootstrap, out, err, errlen);
    } else if (strncmp(runtime, "nodejs", 6) == 0 && runtime[6] >= '1' && runtime[6] <= '9') {
        rc = shim_command(r, runtime, 1, out, err, errlen);
    } else if (strncmp(runtime, "python3.", 8) == 0 && runtime[8] >= '0' && runtime[8] <= '9') {
        rc = shim_command(r, runtime, 0, out, err, errlen);
    } else {
        snprintf(err, errlen, "Runtime %s is not provided locally (provided.*, nodejs* and "
                              "python3.* are)",
                 runtime);
        rc = -EINVAL;
    }
    if (rc == -ENOMEM)
        snprintf(err, errlen, "out of memory");
    if (rc != 0)
        lam_command_free(out);
    return rc;
}
