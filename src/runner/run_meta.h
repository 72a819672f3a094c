/*
 * run_meta.h - the runner's side of tags and of a state machine's logging,
 * tracing and encryption configurations (run_meta.c): reads, and writes
 * that join the current transaction like every other (committed before
 * the reply that reports them, run_after_commit).
 *
 * Returns 0, RUN_ENOENT, RUN_EDB (a read failed: run_store_errmsg) or
 * RUN_EUNAVAIL (a write: the store takes no writes now; nothing changed).
 * Threading: the loop's.
 */
#ifndef SFN_RUN_META_H
#define SFN_RUN_META_H

#include <stddef.h>

#include "run.h"
#include "store_meta.h"

typedef store_tag run_tag;          /* {key, value}, borrowed */
typedef store_sm_conf run_sm_conf;  /* {logging, tracing, encryption}: JSON texts */

/* Does the taggable resource arn exist? 0, RUN_ENOENT, RUN_EDB. Knows
 * state machines (not deleted; a version or alias ARN is not one); other
 * kinds (activities) answer RUN_ENOENT until their code adds a case here. */
int run_resource_exists(run *r, const char *arn);

/* Tags of arn: add or overwrite, remove keys, walk (in the order they were
 * first added; cb's strings borrowed; a nonzero return stops the walk and
 * is returned). Nothing checks that arn exists: the caller does. */
int run_tags_put(run *r, const char *arn, const run_tag *tags, size_t n);
int run_tags_remove(run *r, const char *arn, const char *const *keys, size_t n);
int run_tags_each(run *r, const char *arn,
                  int (*cb)(void *ctx, const char *key, const char *value), void *ctx);

/* A state machine's configurations: replace all three; read them (*out
 * zeroed, then filled: RUN_ENOENT when none were stored, the defaults
 * apply); free what was read. */
int run_sm_conf_put(run *r, const char *arn, const run_sm_conf *c);
int run_sm_conf_get(run *r, const char *arn, run_sm_conf *out);
void run_sm_conf_cleanup(run_sm_conf *c);

/* Forget the tags and configurations of arn (deleted), in the current
 * transaction. */
int run_meta_forget(run *r, const char *arn);

/* ---- map runs ---------------------------------------------------------------
 * A distributed Map's runs (the core's asl_map_run, asl_maprun.c) are
 * saved after every step of a Standard execution that has any, in the
 * step's transaction: what ListMapRuns and DescribeMapRun read is what was
 * committed with the step's events. */
typedef store_map_run run_map_run;
int run_map_run_get(run *r, const char *arn, run_map_run *out);
void run_map_run_cleanup(run_map_run *m);
int run_map_run_each(run *r, const char *exec_arn,
                     int (*cb)(void *ctx, const run_map_run *m), void *ctx);
/* UpdateMapRun: changes {maxConcurrency, toleratedFailureCount,
 * toleratedFailurePercentage} (borrowed; each optional). A running map
 * run takes them as an input of its execution (logged, replayed at
 * recovery); an ended one keeps them in its record. Returns 0,
 * RUN_ENOENT, RUN_EDB or RUN_EUNAVAIL. */
int run_map_run_update(run *r, const char *arn, json_t *changes);

/* Internal (run.c): save the map runs of an execution after its step. */
struct rexec;
void run__map_runs_save(run *r, struct rexec *e);

#endif
