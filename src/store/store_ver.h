/*
 * store_ver.h - what versions and aliases keep (store_ver.c): the
 * published versions of each state machine (immutable snapshots), its
 * aliases, each machine's revision and version counter and whether its
 * deletion waits on running executions (DELETING), the revision each
 * stored definition was saved as, and the version and alias an execution
 * was started through.
 *
 * Same rules as store.h: strings in structs filled by _get are owned
 * (release with the matching _cleanup); callbacks get borrowed ones. All
 * writes join the transaction the runner opened.
 */
#ifndef SFN_STORE_VER_H
#define SFN_STORE_VER_H

#include <stdint.h>

#include "store.h"

/* ---- a machine's revision, version counter, deletion ------------------- */
typedef struct store_smx {
    char *revision_id;    /* NULL until the first update (AWS: null) */
    int64_t version_seq;  /* the last version number given (never reused) */
    int deleting;         /* 1: DeleteStateMachine waits on running executions */
} store_smx;
/* STORE_ENOENT (and *out zeroed) when the machine has no row yet. */
int store_smx_get(store *s, const char *sm_arn, store_smx *out);
int store_smx_put(store *s, const char *sm_arn, const store_smx *x);
int store_smx_del(store *s, const char *sm_arn);
void store_smx_cleanup(store_smx *x);
/* Every machine with deleting = 1. */
int store_smx_each_deleting(store *s, int (*cb)(void *ctx, const char *sm_arn), void *ctx);

/* ---- the revision a definition row was saved as --------------------------- */
int store_defrev_put(store *s, int64_t def_id, const char *revision_id, const char *role_arn);
/* *revision_id, *role_arn malloc'd (NULL for NULL); STORE_ENOENT when absent. */
int store_defrev_get(store *s, int64_t def_id, char **revision_id, char **role_arn);

/* ---- versions ------------------------------------------------------------- */
typedef struct store_ver {
    char *sm_arn;
    int64_t version;      /* 1, 2, ... */
    int64_t def_id;
    char *role_arn;
    int type;
    char *revision_id;    /* NULL: the machine's first revision */
    char *description;
    int64_t created_ms;
} store_ver;
int store_ver_put(store *s, const store_ver *v);
int store_ver_get(store *s, const char *sm_arn, int64_t version, store_ver *out);
/* The newest version still there; STORE_ENOENT when none. */
int store_ver_latest(store *s, const char *sm_arn, store_ver *out);
int store_ver_delete(store *s, const char *sm_arn, int64_t version);
int store_ver_delete_all(store *s, const char *sm_arn);
/* Newest first, versions below `below` (<= 0: all), at most limit (<= 0:
 * all); *more is 1 when another follows the last given. */
int store_ver_list(store *s, const char *sm_arn, int64_t below, int limit,
                   int (*cb)(void *ctx, const store_ver *v), void *ctx, int *more);
void store_ver_cleanup(store_ver *v);

/* ---- aliases -------------------------------------------------------------- */
typedef struct store_alias {
    char *arn;
    char *sm_arn;
    char *name;
    char *description;    /* may be NULL */
    char *routing;        /* JSON text: [{"stateMachineVersionArn":..,"weight":..}] */
    int64_t created_ms;
    int64_t updated_ms;
} store_alias;
int store_alias_put(store *s, const store_alias *a);
int store_alias_get(store *s, const char *arn, store_alias *out);
int store_alias_delete(store *s, const char *arn);
int store_alias_delete_all(store *s, const char *sm_arn);
/* By name, after the alias named `after` (NULL: from the first). */
int store_alias_list(store *s, const char *sm_arn, const char *after, int limit,
                     int (*cb)(void *ctx, const store_alias *a), void *ctx, int *more);
/* The first alias whose routing names version_arn: *alias_arn malloc'd,
 * NULL when none. */
int store_alias_routing_to(store *s, const char *version_arn, char **alias_arn);
void store_alias_cleanup(store_alias *a);

/* ---- the version and alias an execution started through ------------------- */
int store_execver_put(store *s, int64_t exec_id, const char *version_arn, const char *alias_arn);
/* STORE_ENOENT when it started on the unqualified machine. */
int store_execver_get(store *s, int64_t exec_id, char **version_arn, char **alias_arn);

#endif
