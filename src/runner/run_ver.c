/*
 * run_ver.c - versions, aliases, revisions and DELETING (run_ver.h): the
 * API's reads and writes of them through the runner, and the end of a
 * DELETING machine when its last running execution ends
 * (run__ver_exec_ended, from run__exec_after_step) or at recovery.
 *
 * Must not: write outside the iteration's transaction (run__begin).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "arn.h"
#include "run_int.h"
#include "run_ver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int from_store(int rc)
{
    return rc == STORE_OK ? 0 : rc == STORE_ENOENT ? RUN_ENOENT : RUN_EDB;
}

/* ---- reads -------------------------------------------------------------------- */
int run_smx_get(run *r, const char *sm_arn, run_smx *out)
{
    int rc = from_store(store_smx_get(r->st, sm_arn, out));
    return rc == RUN_ENOENT ? 0 : rc;
}

int run_ver_get(run *r, const char *sm_arn, int64_t version, run_ver *out)
{
    return from_store(store_ver_get(r->st, sm_arn, version, out));
}

int run_ver_latest(run *r, const char *sm_arn, run_ver *out)
{
    return from_store(store_ver_latest(r->st, sm_arn, out));
}

int run_ver_list(run *r, const char *sm_arn, int64_t below, int limit,
                 int (*cb)(void *ctx, const run_ver *v), void *ctx, int *more)
{
    int rc = store_ver_list(r->st, sm_arn, below, limit, cb, ctx, more);
    return rc == STORE_EDB ? RUN_EDB : rc;
}

int run_alias_get(run *r, const char *arn, run_alias *out)
{
    return from_store(store_alias_get(r->st, arn, out));
}

int run_alias_list(run *r, const char *sm_arn, const char *after, int limit,
                   int (*cb)(void *ctx, const run_alias *a), void *ctx, int *more)
{
    int rc = store_alias_list(r->st, sm_arn, after, limit, cb, ctx, more);
    return rc == STORE_EDB ? RUN_EDB : rc;
}

int run_alias_routing_to(run *r, const char *version_arn, char **alias_arn)
{
    return from_store(store_alias_routing_to(r->st, version_arn, alias_arn));
}

int run_defrev_get(run *r, int64_t def_id, char **revision_id, char **role_arn)
{
    return from_store(store_defrev_get(r->st, def_id, revision_id, role_arn));
}

int run_execver_get(run *r, int64_t exec_id, char **version_arn, char **alias_arn)
{
    return from_store(store_execver_get(r->st, exec_id, version_arn, alias_arn));
}

static int stop_at_first(void *ctx, const store_exec *x)
{
    (void)x;
    *(int *)ctx = 1;
    return 1;
}

int run_sm_has_running(run *r, const char *sm_arn)
{
    int found = 0;
    int64_t next = 0;
    int rc = store_exec_list(r->st, sm_arn, STORE_RUNNING, 0, 1, stop_at_first, &found, &next);
    if (rc != STORE_OK && rc != 1)
        return RUN_EDB;
    return found;
}

/* ---- writes ------------------------------------------------------------------- */
static int begin(run *r)
{
    return r->unavail || run__begin(r, NULL) != 0 ? RUN_EUNAVAIL : 0;
}

static int fail(run *r, const char *what)
{
    run__txn_fail(r, what, 0);
    return RUN_EUNAVAIL;
}

int run_sm_save_rev(run *r, run_sm *sm, const char *definition, int new_revision,
                    char **revision_out)
{
    if (revision_out)
        *revision_out = NULL;
    if (begin(r) != 0)
        return RUN_EUNAVAIL;
    store_smx x;
    if (store_smx_get(r->st, sm->arn, &x) == STORE_EDB)
        return fail(r, "revision read");
    if (new_revision) {
        char u[37];
        run__uuid(r, u);
        free(x.revision_id);
        x.revision_id = strdup(u);
        if (x.revision_id == NULL) {
            run__txn_fail(r, "revision", 1);
            return RUN_EUNAVAIL;
        }
    }
    /* a role-only change is a revision of its own: a definition row of its
     * own too, so an execution knows the revision and role it ran with */
    char *def_copy = NULL;
    if (definition == NULL && new_revision) {
        int type;
        if (store_def_get(r->st, sm->def_id, &def_copy, &type) != STORE_OK) {
            store_smx_cleanup(&x);
            return fail(r, "definition read");
        }
        definition = def_copy;
    }
    int rc = run_sm_save(r, sm, definition);
    free(def_copy);
    if (rc == 0 && (store_smx_put(r->st, sm->arn, &x) != STORE_OK ||
                    store_defrev_put(r->st, sm->def_id, x.revision_id, sm->role_arn) != STORE_OK))
        rc = fail(r, "revision write");
    if (rc == 0 && revision_out && x.revision_id)
        *revision_out = strdup(x.revision_id);
    store_smx_cleanup(&x);
    return rc;
}

int run_ver_publish(run *r, const run_sm *sm, const char *description, int64_t now_ms,
                    int64_t *version_out)
{
    if (begin(r) != 0)
        return RUN_EUNAVAIL;
    store_smx x;
    if (store_smx_get(r->st, sm->arn, &x) == STORE_EDB)
        return fail(r, "version counter read");
    x.version_seq++;
    store_ver v = {.sm_arn = sm->arn, .version = x.version_seq, .def_id = sm->def_id,
                   .role_arn = sm->role_arn, .type = sm->type, .revision_id = x.revision_id,
                   .description = (char *)description, .created_ms = now_ms};
    int rc = 0;
    if (store_smx_put(r->st, sm->arn, &x) != STORE_OK || store_ver_put(r->st, &v) != STORE_OK)
        rc = fail(r, "version write");
    *version_out = x.version_seq;
    store_smx_cleanup(&x);
    return rc;
}

int run_ver_delete(run *r, const char *sm_arn, int64_t version)
{
    if (begin(r) != 0)
        return RUN_EUNAVAIL;
    return store_ver_delete(r->st, sm_arn, version) == STORE_OK ? 0 : fail(r, "version delete");
}

int run_alias_put(run *r, const run_alias *a)
{
    if (begin(r) != 0)
        return RUN_EUNAVAIL;
    return store_alias_put(r->st, a) == STORE_OK ? 0 : fail(r, "alias write");
}

int run_alias_delete(run *r, const char *arn)
{
    if (begin(r) != 0)
        return RUN_EUNAVAIL;
    return store_alias_delete(r->st, arn) == STORE_OK ? 0 : fail(r, "alias delete");
}

/* The machine is gone: its row marked deleted, its versions, aliases and
 * revision row removed (a machine made again under the name starts anew). */
static int sm_gone(run *r, run_sm *sm)
{
    sm->deleted = 1;
    if (run_sm_save(r, sm, NULL) != 0)
        return RUN_EUNAVAIL;
    if (store_ver_delete_all(r->st, sm->arn) != STORE_OK ||
        store_alias_delete_all(r->st, sm->arn) != STORE_OK ||
        store_smx_del(r->st, sm->arn) != STORE_OK)
        return fail(r, "state machine delete");
    return 0;
}

int run_sm_delete(run *r, run_sm *sm, int *deleting)
{
    *deleting = 0;
    if (begin(r) != 0)
        return RUN_EUNAVAIL;
    int running = run_sm_has_running(r, sm->arn);
    if (running < 0)
        return fail(r, "running executions read");
    if (!running)
        return sm_gone(r, sm);
    store_smx x;
    if (store_smx_get(r->st, sm->arn, &x) == STORE_EDB)
        return fail(r, "revision read");
    int rc = 0;
    if (!x.deleting) {
        x.deleting = 1;
        if (store_smx_put(r->st, sm->arn, &x) != STORE_OK)
            rc = fail(r, "deleting write");
        else
            r->ver_deleting++;
    }
    store_smx_cleanup(&x);
    *deleting = 1;
    return rc;
}

int run_ver_pick(run *r, const int *weights, int n)
{
    return ver_pick(weights, n, sfn_rng_double(&r->rng));
}

/* ---- the end of DELETING -------------------------------------------------------- */
/* sm_arn is DELETING: delete it if nothing of it runs any more. */
static int finish_deleting(void *ctx, const char *sm_arn)
{
    run *r = ctx;
    store_smx x;
    if (store_smx_get(r->st, sm_arn, &x) != STORE_OK)
        return 0;
    int deleting = x.deleting;
    store_smx_cleanup(&x);
    if (!deleting || run_sm_has_running(r, sm_arn) != 0)
        return 0;
    store_sm sm;
    if (store_sm_get(r->st, sm_arn, &sm) != STORE_OK)
        return 0;
    if (sm_gone(r, &sm) == 0 && r->ver_deleting > 0)
        r->ver_deleting--;
    store_sm_cleanup(&sm);
    return 0;
}

void run__ver_exec_ended(run *r, const char *exec_arn)
{
    if (r->ver_deleting <= 0)
        return;
    char sm_arn[2200];
    if (sfn_arn_machine_of(exec_arn, sm_arn, sizeof sm_arn) >= 0)
        finish_deleting(r, sm_arn);
}

static int count_deleting(void *ctx, const char *sm_arn)
{
    (void)sm_arn;
    ((run *)ctx)->ver_deleting++;
    return 0;
}

int run__ver_recover(run *r)
{
    r->ver_deleting = 0;
    if (store_smx_each_deleting(r->st, count_deleting, r) != STORE_OK)
        return RUN_EDB;
    if (r->ver_deleting == 0 || begin(r) != 0)
        return 0;
    return store_smx_each_deleting(r->st, finish_deleting, r) == STORE_OK ? 0 : RUN_EDB;
}
