/*
 * tpl_code.c - where a function's code is, found as `sam build` leaves it:
 * the function's CodeUri folder (relative to the template's directory, and
 * confined to it), the build outputs .aws-sam/build/<LogicalId>/ (sam
 * build's default) and build/<LogicalId>/ (the seed's `sam build -b
 * ./build`), and sfnd's own build of this project's functions
 * (<bin_dir>/functions/<LogicalId>/).
 *
 * A folder holds the function when it holds its entry point: an executable
 * `bootstrap` (provided.*, or no Runtime), the handler's module for Node.js
 * (`src/app.handler` -> src/app.js, .mjs or .cjs) and Python (`app.handler`
 * -> app.py, `pkg.mod.fn` or `pkg/mod.fn` -> pkg/mod.py or
 * pkg/mod/__init__.py). sfnd's own build wins; otherwise the newer of the
 * two build outputs, unless the CodeUri folder holds the function too and
 * has a file newer than that build (the build is stale: the sources run).
 * Every place looked at is kept, with why it did not qualify, for the
 * start-up message.
 *
 * Refused (f->code_error, the function is not run): a CodeUri leaving the
 * template's directory, lexically (`../x`, an absolute path elsewhere) or
 * through a symbolic link; a CodeUri in S3, a zip file, InlineCode,
 * PackageType Image; a handler leaving its folder; a runtime other than
 * provided.*, nodejs* and python3.*.
 *
 * Must not: run anything, read file contents (names and metadata only),
 * follow a CodeUri outside the project, walk a tree without bounds.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "tpl_int.h"

#include <dirent.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WALK_MAX_DEPTH 12
#define WALK_MAX_ENTRIES 20000
#define LOOKED_MAX 5

enum family { FAM_PROVIDED, FAM_NODE, FAM_PYTHON, FAM_OTHER };

static enum family family(const char *rt)
{
    if (rt == NULL || strncmp(rt, "provided", 8) == 0)
        return FAM_PROVIDED;
    if (strncmp(rt, "nodejs", 6) == 0)
        return FAM_NODE;
    if (strncmp(rt, "python3", 7) == 0)
        return FAM_PYTHON;
    return FAM_OTHER;
}

static int is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int is_file(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* The handler names a module inside its folder: no absolute path, no ".."
 * component. */
static int handler_inside(const char *h)
{
    if (h[0] == '/')
        return 0;
    for (const char *p = h; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return 0;
        p += n;
        if (*p == '/')
            p++;
    }
    return 1;
}

/* Does dir hold the function's entry point? 1, or 0 with why. */
static int has_entry(enum family fam, const char *dir, const char *handler, char *why,
                     size_t wl)
{
    char p[PATH_MAX];
    if (!is_dir(dir)) {
        snprintf(why, wl, "no such directory");
        return 0;
    }
    if (fam == FAM_PROVIDED) {
        snprintf(p, sizeof p, "%s/bootstrap", dir);
        if (access(p, X_OK) == 0 && is_file(p))
            return 1;
        snprintf(why, wl, is_file(p) ? "bootstrap is not executable" : "no bootstrap");
        return 0;
    }
    if (fam == FAM_NODE) {
        /* file.function: the module is up to the first '.' after the last '/' */
        const char *base = strrchr(handler, '/');
        const char *dot = strchr(base ? base + 1 : handler, '.');
        int ml = dot ? (int)(dot - handler) : 0;
        if (dot == NULL || dot[1] == '\0') {
            snprintf(why, wl, "Handler '%s' is not file.function", handler);
            return 0;
        }
        static const char *const ext[] = {".js", ".mjs", ".cjs"};
        for (int i = 0; i < 3; i++) {
            snprintf(p, sizeof p, "%s/%.*s%s", dir, ml, handler, ext[i]);
            if (is_file(p))
                return 1;
        }
        snprintf(why, wl, "no %.*s.js, .mjs or .cjs", ml, handler);
        return 0;
    }
    /* Python: module.function, the module's dots (or slashes) are folders */
    const char *dot = strrchr(handler, '.');
    if (dot == NULL || dot == handler || dot[1] == '\0') {
        snprintf(why, wl, "Handler '%s' is not module.function", handler);
        return 0;
    }
    char mod[PATH_MAX];
    snprintf(mod, sizeof mod, "%.*s", (int)(dot - handler), handler);
    for (char *c = mod; *c; c++)
        if (*c == '.')
            *c = '/';
    snprintf(p, sizeof p, "%s/%s.py", dir, mod);
    if (is_file(p))
        return 1;
    snprintf(p, sizeof p, "%s/%s/__init__.py", dir, mod);
    if (is_file(p))
        return 1;
    snprintf(why, wl, "no %s.py", mod);
    return 0;
}

static int64_t mtime_ns(const struct stat *sb)
{
    return (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
}

/* The newest modification time of the files under dir, bounded; hidden
 * entries, node_modules, __pycache__ and the folder skip (a build root
 * inside a CodeUri of ".") are left out. */
static void walk_newest(const char *dir, const char *skip, int depth, int *budget, int64_t *out)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && *budget > 0) {
        (*budget)--;
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "node_modules") ||
            !strcmp(e->d_name, "__pycache__"))
            continue;
        char p[PATH_MAX];
        if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= (int)sizeof p)
            continue;
        struct stat sb;
        if (stat(p, &sb) != 0)
            continue;
        if (S_ISREG(sb.st_mode) && mtime_ns(&sb) > *out)
            *out = mtime_ns(&sb);
        else if (S_ISDIR(sb.st_mode) && depth < WALK_MAX_DEPTH && (skip == NULL || strcmp(p, skip)))
            walk_newest(p, skip, depth + 1, budget, out);
    }
    closedir(d);
}

static int64_t newest(const char *dir, const char *skip)
{
    int budget = WALK_MAX_ENTRIES;
    int64_t t = 0;
    walk_newest(dir, skip, 0, &budget, &t);
    return t;
}

/* path with "." and ".." components and repeated slashes folded, lexically
 * (path is absolute). */
static void fold(const char *path, char *out, size_t outlen)
{
    size_t n = 0;
    out[0] = '\0';
    for (const char *p = path; *p;) {
        while (*p == '/')
            p++;
        size_t cl = strcspn(p, "/");
        if (cl == 0)
            break;
        if (cl == 1 && p[0] == '.') {
        } else if (cl == 2 && p[0] == '.' && p[1] == '.') {
            while (n > 0 && out[n - 1] != '/')
                n--;
            if (n > 0)
                n--;
            out[n] = '\0';
        } else if (n + cl + 2 < outlen) {
            out[n++] = '/';
            memcpy(out + n, p, cl);
            n += cl;
            out[n] = '\0';
        }
        p += cl;
    }
    if (n == 0)
        snprintf(out, outlen, "/");
}

static int under(const char *path, const char *root)
{
    size_t rl = strlen(root);
    if (rl == 1 && root[0] == '/')
        return 1;
    return strncmp(path, root, rl) == 0 && (path[rl] == '/' || path[rl] == '\0');
}

/* The CodeUri folder uri, absolute and inside root, into out; -1 with why
 * when it leaves root. A folder that does not exist is given lexically. */
static int confine(const char *root, const char *uri, char *out, size_t outlen, char *why,
                   size_t wl)
{
    char joined[PATH_MAX * 2], lex[PATH_MAX];
    snprintf(joined, sizeof joined, "%s%s%s", uri[0] == '/' ? "" : root, uri[0] == '/' ? "" : "/",
             uri);
    fold(joined, lex, sizeof lex);
    if (!under(lex, root)) {
        snprintf(why, wl, "CodeUri '%s' leads outside the project directory %s: refused", uri,
                 root);
        return -1;
    }
    char *real = realpath(lex, NULL);
    if (real != NULL && !under(real, root)) {
        snprintf(why, wl,
                 "CodeUri '%s' is a symbolic link to %s, outside the project directory %s: "
                 "refused",
                 uri, real, root);
        free(real);
        return -1;
    }
    snprintf(out, outlen, "%s", real ? real : lex);
    free(real);
    return 0;
}

/* Why f cannot run locally, before any folder is looked at; NULL if it may. */
static const char *refusal(tpl *t, const res *r, const tpl_function *f, const json_t *uri)
{
    const char *pt = json_string_value(json_object_get(r->props, "PackageType"));
    if (pt && strcmp(pt, "Zip") != 0)
        return keepf(t, "PackageType %s is not provided locally (a Zip function with CodeUri is)",
                     pt);
    if (family(f->runtime) == FAM_OTHER)
        return keepf(t, "Runtime %s is not provided locally (provided.*, nodejs* and python3.* "
                        "are)",
                     f->runtime);
    if (json_object_get(r->props, "InlineCode"))
        return keepf(t, "InlineCode is not provided locally (put the code in a CodeUri folder)");
    if (uri && !json_is_string(uri))
        return keepf(t, "CodeUri is an S3 location; sfnd runs local code (point CodeUri at a "
                        "folder of the project)");
    const char *u = json_string_value(uri);
    if (u && strncmp(u, "s3://", 5) == 0)
        return keepf(t, "CodeUri %s is in S3; sfnd runs local code (point CodeUri at a folder "
                        "of the project)",
                     u);
    if (f->handler == NULL)
        return keepf(t, "Runtime %s needs a Handler (file.function)", f->runtime);
    if (family(f->runtime) != FAM_PROVIDED && !handler_inside(f->handler))
        return keepf(t, "Handler '%s' leaves the function's folder: refused", f->handler);
    return NULL;
}

/* Note one place looked at. */
static void looked(tpl *t, const char **list, size_t *n, const char *dir, const char *label,
                   const char *why)
{
    if (*n < LOOKED_MAX)
        list[(*n)++] = keepf(t, "%s/ (%s: %s)", dir, label, why);
}

static const char *keep_real(tpl *t, const char *p)
{
    char *r = realpath(p, NULL);
    return keep(t, r ? r : strdup(p));
}

/* f->code_dir (and f->bootstrap for provided.*) from the places sam build
 * leaves code, the CodeUri folder and sfnd's own build. Returns 0, or
 * -ENOMEM; a function that cannot run has f->code_error or f->looked. */
int tpl__find_code(tpl *t, const tpl_opts *o, const res *r, tpl_function *f)
{
    const json_t *uri_v = json_object_get(r->props, "CodeUri");
    json_t *uri = uri_v ? tpl__eval(t, uri_v, 0) : NULL;
    if (t->err[0]) {
        json_decref(uri);
        return fail(t, "Resources.%s.CodeUri: %s", r->logical_id, t->err);
    }
    json_array_append_new(t->owned, uri);
    const char **list = calloc(LOOKED_MAX + 1, sizeof *list);
    if (list == NULL || keep(t, (char *)list) == NULL)
        return -ENOMEM;
    f->looked = list;
    if ((f->code_error = refusal(t, r, f, uri)) != NULL)
        return 0;

    enum family fam = family(f->runtime);
    char root[PATH_MAX], codeuri[PATH_MAX], why[PATH_MAX + 128], p[PATH_MAX];
    if (realpath(t->dir, root) == NULL)
        snprintf(root, sizeof root, "%s", t->dir);
    const char *u = uri ? json_string_value(uri) : ".";
    if (confine(root, u, codeuri, sizeof codeuri, why, sizeof why) != 0) {
        f->code_error = keepf(t, "%s", why);
        return 0;
    }
    f->code_uri = keep(t, strdup(codeuri));
    size_t n = 0;

    /* sfnd's own build of this project's functions (named only when it
     * has a folder for this one: other projects never see it) */
    if (o->bin_dir) {
        snprintf(p, sizeof p, "%s/functions/%s", o->bin_dir, r->logical_id);
        if (has_entry(fam, p, f->handler, why, sizeof why)) {
            f->code_dir = keep_real(t, p);
            goto found;
        }
        if (is_dir(p))
            looked(t, list, &n, p, "sfnd's build", why);
    }
    /* the two build outputs: the newer one */
    const char *builds[2] = {".aws-sam/build", "build"};
    char best[PATH_MAX] = "";
    int64_t best_t = -1;
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%s/%s", root, builds[i], r->logical_id);
        if (!has_entry(fam, p, f->handler, why, sizeof why)) {
            looked(t, list, &n, p, "sam build output", why);
            continue;
        }
        int64_t bt = newest(p, NULL);
        if (bt > best_t) {
            best_t = bt;
            snprintf(best, sizeof best, "%s", p);
        }
    }
    /* the CodeUri folder, unless a build at least as new holds the function */
    if (has_entry(fam, codeuri, f->handler, why, sizeof why)) {
        snprintf(p, sizeof p, "%s/build", root);
        if (best_t < 0 || newest(codeuri, p) > best_t) {
            f->code_dir = keep(t, strdup(codeuri));
            goto found;
        }
    } else {
        looked(t, list, &n, codeuri, "CodeUri", why);
    }
    if (best_t >= 0) {
        f->code_dir = keep_real(t, best);
        goto found;
    }
    return 0;
found:
    if (f->code_dir == NULL)
        return -ENOMEM;
    if (fam == FAM_PROVIDED) {
        snprintf(p, sizeof p, "%s/bootstrap", f->code_dir);
        f->bootstrap = keep_real(t, p);
    }
    return 0;
}
