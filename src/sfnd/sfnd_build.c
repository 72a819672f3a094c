/*
 * sfnd_build.c - `sfnd build`: build the template's functions whose
 * Metadata says BuildMethod: makefile, as `sam build` does, so that sfnd
 * finds them in .aws-sam/build/<LogicalId>/ (tpl_code.c).
 *
 *   sfnd build --template template.yaml [--build-dir DIR]
 *              [--parameter-overrides K=V ...] [LogicalId ...]
 *
 * For each such function (all of them, or the ones named): in its CodeUri
 * folder, `make --makefile <CodeUri>/Makefile build-<LogicalId>
 * ARTIFACTS_DIR=<DIR>/<LogicalId>` (DIR: <template's dir>/.aws-sam/build),
 * ARTIFACTS_DIR in the environment too, as SAM CLI passes it. make is
 * found on sfnd's PATH and executed directly (posix_spawn, no shell) with a
 * clean environment: PATH, HOME, TMPDIR (when set), LANG, ARTIFACTS_DIR.
 * Its output goes to ours. A provided.* function's build must leave an
 * executable bootstrap in ARTIFACTS_DIR. Other build methods are left to
 * `sam build` (said so); functions without one run from their CodeUri
 * folder and need no build. Exit status 0 when every build succeeded.
 *
 * Must not: run a shell, pass sfnd's environment on, write outside the
 * build directory (make runs the project's own Makefile: what it writes is
 * the project's business), start the service.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sfnd_build.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lam.h"
#include "tpl.h"

int sfnd_mkdir_p(const char *path)
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

static int wanted(const char *id, char **names, int nnames)
{
    if (nnames == 0)
        return 1;
    for (int i = 0; i < nnames; i++)
        if (!strcmp(names[i], id))
            return 1;
    return 0;
}

/* Run make for f into artifacts; 0 when it exited 0. */
static int run_make(const char *make, const tpl_function *f, const char *artifacts)
{
    char mk[PATH_MAX + 16], target[300], avar[PATH_MAX + 32];
    char penv[PATH_MAX + 8], henv[PATH_MAX + 8], tenv[PATH_MAX + 8], aenv[PATH_MAX + 16];
    snprintf(mk, sizeof mk, "%s/Makefile", f->code_uri);
    snprintf(target, sizeof target, "build-%s", f->logical_id);
    snprintf(avar, sizeof avar, "ARTIFACTS_DIR=%s", artifacts);
    const char *path = getenv("PATH"), *home = getenv("HOME"), *tmp = getenv("TMPDIR");
    snprintf(penv, sizeof penv, "PATH=%s", path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
    snprintf(henv, sizeof henv, "HOME=%s", home ? home : "/");
    snprintf(aenv, sizeof aenv, "ARTIFACTS_DIR=%s", artifacts);
    char *envp[6] = {penv, henv, aenv, "LANG=C.UTF-8", NULL, NULL};
    if (tmp && *tmp) {
        snprintf(tenv, sizeof tenv, "TMPDIR=%s", tmp);
        envp[4] = tenv;
    }
    char *argv[] = {"make", "--makefile", mk, target, avar, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addchdir_np(&fa, f->code_uri);
    pid_t pid;
    printf("sfnd build: %s: make --makefile %s %s %s (in %s)\n", f->logical_id, mk, target, avar,
           f->code_uri);
    fflush(stdout);
    int e = posix_spawn(&pid, make, &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    if (e != 0) {
        fprintf(stderr, "sfnd build: %s: cannot run %s: %s\n", f->logical_id, make, strerror(e));
        return -1;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "sfnd build: %s: make %s failed (%s %d)\n", f->logical_id, target,
                WIFEXITED(status) ? "exit status" : "signal",
                WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        return -1;
    }
    return 0;
}

/* Build f if it is built by make; 0 when built or nothing to do. */
static int build_one(const tpl_function *f, const char *make, const char *build_dir)
{
    if (f->build_method == NULL) {
        printf("sfnd build: %s: no BuildMethod: runs from its CodeUri folder%s%s\n",
               f->logical_id, f->code_dir ? " " : "", f->code_dir ? f->code_dir : "");
        return 0;
    }
    if (strcmp(f->build_method, "makefile") != 0) {
        printf("sfnd build: %s: BuildMethod %s is not built by sfnd (use sam build)\n",
               f->logical_id, f->build_method);
        return 0;
    }
    if (f->code_uri == NULL) {
        fprintf(stderr, "sfnd build: %s: %s\n", f->logical_id,
                f->code_error ? f->code_error : "no CodeUri folder");
        return -1;
    }
    if (make == NULL) {
        fprintf(stderr, "sfnd build: %s: `make` is not on the PATH\n", f->logical_id);
        return -1;
    }
    char artifacts[PATH_MAX], boot[PATH_MAX + 16];
    snprintf(artifacts, sizeof artifacts, "%s/%s", build_dir, f->logical_id);
    if (sfnd_mkdir_p(artifacts) != 0) {
        fprintf(stderr, "sfnd build: %s: %s: %s\n", f->logical_id, artifacts, strerror(errno));
        return -1;
    }
    if (run_make(make, f, artifacts) != 0)
        return -1;
    snprintf(boot, sizeof boot, "%s/bootstrap", artifacts);
    if ((f->runtime == NULL || !strncmp(f->runtime, "provided", 8)) && access(boot, X_OK) != 0) {
        fprintf(stderr, "sfnd build: %s: make build-%s left no executable bootstrap in %s\n",
                f->logical_id, f->logical_id, artifacts);
        return -1;
    }
    printf("sfnd build: %s: built in %s\n", f->logical_id, artifacts);
    return 0;
}

static void build_usage(void)
{
    fprintf(stderr, "usage: sfnd build --template template.yaml [--build-dir DIR] "
                    "[--parameter-overrides Key=Value ...] [LogicalId ...]\n");
    exit(2);
}

int sfnd_build_main(int argc, char **argv)
{
    const char *template = NULL, *build_dir = NULL;
    char overrides[4096] = "", **names = calloc((size_t)argc + 1, sizeof *names);
    int nnames = 0;
    if (names == NULL)
        return 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--template") && i + 1 < argc)
            template = argv[++i];
        else if ((!strcmp(argv[i], "--build-dir") || !strcmp(argv[i], "-b")) && i + 1 < argc)
            build_dir = argv[++i];
        else if (!strcmp(argv[i], "--parameter-overrides"))
            while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
                size_t ol = strlen(overrides);
                snprintf(overrides + ol, sizeof overrides - ol, "%s%s", ol ? " " : "", argv[++i]);
            }
        else if (argv[i][0] == '-')
            build_usage();
        else
            names[nnames++] = argv[i];
    }
    if (template == NULL)
        build_usage();
    char err[1024];
    tpl *t = NULL;
    tpl_opts to = {.parameter_overrides = overrides[0] ? overrides : NULL};
    if (tpl_load(template, &to, &t, err, sizeof err) != 0) {
        fprintf(stderr, "sfnd build: %s\n", err);
        free(names);
        return 1;
    }
    char dirbuf[PATH_MAX], make[PATH_MAX];
    if (build_dir == NULL) {
        snprintf(dirbuf, sizeof dirbuf, "%s/.aws-sam/build", tpl_dir(t));
        build_dir = dirbuf;
    } else if (realpath(build_dir, dirbuf) != NULL || (sfnd_mkdir_p(build_dir) == 0 &&
                                                        realpath(build_dir, dirbuf) != NULL)) {
        build_dir = dirbuf;
    }
    const char *path = getenv("PATH");
    int have_make = lam_find_program(path ? path : "/usr/bin:/bin", "make", make, sizeof make) == 0;
    int failed = 0, seen = 0;
    for (size_t i = 0; i < tpl_function_count(t); i++) {
        const tpl_function *f = tpl_function_at(t, i);
        if (!wanted(f->logical_id, names, nnames))
            continue;
        seen++;
        failed += build_one(f, have_make ? make : NULL, build_dir) != 0;
    }
    if (nnames > seen) {
        fprintf(stderr, "sfnd build: a name given is not a function of %s\n", template);
        failed++;
    }
    tpl_free(t);
    free(names);
    return failed ? 1 : 0;
}
