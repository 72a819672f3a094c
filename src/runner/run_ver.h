/*
 * run_ver.h - versions, aliases, revisions and DELETING through the
 * runner (run_ver.c): the API's reads of them, and its writes, each in
 * the iteration's transaction (the reply leaves after the commit, as for
 * run_sm_save).
 *
 * Reads return 0, RUN_ENOENT, RUN_EDB; writes 0 or RUN_EUNAVAIL (nothing
 * written; the reply must say so). Structs as the store's (store_ver.h),
 * released with run_smx_cleanup, run_ver_cleanup, run_alias_cleanup.
 */
#ifndef SFN_RUN_VER_H
#define SFN_RUN_VER_H

#include "run.h"
#include "store_ver.h"
#include "verarn.h"

typedef store_smx run_smx;
typedef store_ver run_ver;
typedef store_alias run_alias;

static inline void run_smx_cleanup(run_smx *x) { store_smx_cleanup(x); }
static inline void run_ver_cleanup(run_ver *v) { store_ver_cleanup(v); }
static inline void run_alias_cleanup(run_alias *a) { store_alias_cleanup(a); }

/* ---- reads -------------------------------------------------------------- */
/* A machine's revision, version counter, DELETING (zeroed when it has no
 * row: 0 all the same). */
int run_smx_get(run *r, const char *sm_arn, run_smx *out);
int run_ver_get(run *r, const char *sm_arn, int64_t version, run_ver *out);
int run_ver_latest(run *r, const char *sm_arn, run_ver *out);
int run_ver_list(run *r, const char *sm_arn, int64_t below, int limit,
                 int (*cb)(void *ctx, const run_ver *v), void *ctx, int *more);
int run_alias_get(run *r, const char *arn, run_alias *out);
int run_alias_list(run *r, const char *sm_arn, const char *after, int limit,
                   int (*cb)(void *ctx, const run_alias *a), void *ctx, int *more);
/* *alias_arn: an alias routing to version_arn (malloc'd), NULL if none. */
int run_alias_routing_to(run *r, const char *version_arn, char **alias_arn);
/* The revision and role a stored definition was saved with (NULL: the
 * first revision / not recorded). */
int run_defrev_get(run *r, int64_t def_id, char **revision_id, char **role_arn);
/* The version and alias an execution started through (RUN_ENOENT: the
 * unqualified machine). */
int run_execver_get(run *r, int64_t exec_id, char **version_arn, char **alias_arn);
/* 1 when sm_arn has an execution RUNNING in the store, 0 when not, or RUN_EDB. */
int run_sm_has_running(run *r, const char *sm_arn);

/* ---- writes ------------------------------------------------------------- */
/* run_sm_save, and the revision: new_revision 1 gives the machine a new
 * revision id (a UUID; *revision_out, may be NULL, gets it malloc'd),
 * 0 keeps its revision (a creation: none). The stored definition row
 * (sm->def_id) records the revision and role. */
int run_sm_save_rev(run *r, run_sm *sm, const char *definition, int new_revision,
                    char **revision_out);
/* A new version of sm as it is now (its definition, role, type, revision),
 * numbered one above the last one ever given. */
int run_ver_publish(run *r, const run_sm *sm, const char *description, int64_t now_ms,
                    int64_t *version_out);
int run_ver_delete(run *r, const char *sm_arn, int64_t version);
int run_alias_put(run *r, const run_alias *a);
int run_alias_delete(run *r, const char *arn);
/* DeleteStateMachine: with RUNNING executions the machine is DELETING
 * (*deleting = 1) until the last one ends (run__ver_exec_ended), else it is
 * deleted now with its versions and aliases. */
int run_sm_delete(run *r, run_sm *sm, int *deleting);

/* The route an alias start takes: an index into weights (n of them), from
 * the runner's random stream. */
int run_ver_pick(run *r, const int *weights, int n);

#endif
