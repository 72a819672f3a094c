/*
 * store_meta.h - what the store keeps about a resource besides its row:
 * tags by resource ARN (state machines today, activities later: the store
 * does not care what the ARN names), and a state machine's logging,
 * tracing and encryption configurations (JSON text, as the API shapes
 * them). Part of the store (src/store); the runner is its only caller.
 *
 * Writes join the open transaction (store_begin) like every other write;
 * reads see it. Returns STORE_OK, STORE_ENOENT (no such row), STORE_EDB.
 * Threading: the loop's.
 */
#ifndef SFN_STORE_META_H
#define SFN_STORE_META_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Create the tables (store_open calls it after its own schema). */
int store__meta_schema(store *s, char *errbuf, size_t errlen);

/* ---- tags ----------------------------------------------------------------- */
typedef struct store_tag {
    const char *key;
    const char *value;
} store_tag;

/* Add or overwrite tags of arn (a key keeps its place in the order when
 * its value changes; new keys go last). */
int store_tags_put(store *s, const char *arn, const store_tag *tags, size_t n);
/* Remove the given keys of arn (absent keys are fine). */
int store_tags_del(store *s, const char *arn, const char *const *keys, size_t n);
/* The tags of arn in the order they were first added; cb's strings are
 * borrowed for the call; a nonzero return from cb stops the walk and is
 * returned. */
int store_tags_each(store *s, const char *arn,
                    int (*cb)(void *ctx, const char *key, const char *value), void *ctx);

/* ---- a state machine's configuration ---------------------------------- */
typedef struct store_sm_conf {
    char *logging;    /* JSON object text or NULL (the default) */
    char *tracing;
    char *encryption;
} store_sm_conf;

/* Insert or replace (all three written; NULL stores NULL). */
int store_sm_conf_put(store *s, const char *arn, const store_sm_conf *c);
/* STORE_ENOENT when none was stored: *out is zeroed either way first. */
int store_sm_conf_get(store *s, const char *arn, store_sm_conf *out);
void store_sm_conf_cleanup(store_sm_conf *c);

/* ---- map runs (a distributed Map's runs, as the runner last saw them) ---- */
typedef struct store_map_run {
    char *arn;            /* mapRunArn */
    char *exec_arn;       /* the execution it runs in */
    char *sm_arn;         /* "...:stateMachine:<machine>/<label>" */
    int64_t started_id;   /* its MapRunStarted event in the execution */
    int64_t start_ms, stop_ms;
    int status;           /* the core's asl_status */
    int max_concurrency, tolerated_count;
    double tolerated_pct;
    int total, pending, running, succeeded, failed, aborted;
} store_map_run;

/* Insert or replace the row of m->arn. */
int store_map_run_put(store *s, const store_map_run *m);
/* STORE_ENOENT when absent; *out to store_map_run_cleanup after OK. */
int store_map_run_get(store *s, const char *arn, store_map_run *out);
void store_map_run_cleanup(store_map_run *m);
/* The map runs of exec_arn in the order they started (*m borrowed for the
 * call); a nonzero return from cb stops the walk and is returned. */
int store_map_run_each(store *s, const char *exec_arn,
                       int (*cb)(void *ctx, const store_map_run *m), void *ctx);

/* Forget everything kept about arn (its resource was deleted). */
int store_meta_forget(store *s, const char *arn);

#endif
