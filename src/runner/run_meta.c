/*
 * run_meta.c - tags by resource ARN and a state machine's configurations
 * (run_meta.h): the store's tables behind the runner's transaction, and
 * the existence check of a taggable resource.
 *
 * Must not: shape replies or validate requests (the API does); write
 * outside the runner's transaction.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "run_int.h"
#include "run_meta.h"

#include <stdio.h>
#include <string.h>

static int from_store(int rc)
{
    return rc == STORE_OK ? 0 : rc == STORE_ENOENT ? RUN_ENOENT : RUN_EDB;
}

/* The resource kind of "arn:aws:states:<region>:<account>:<kind>:..." */
static int arn_kind(const char *arn, const char *kind)
{
    const char *p = arn;
    for (int i = 0; i < 5 && p; i++)
        if ((p = strchr(p, ':')) != NULL)
            p++;
    size_t kl = strlen(kind);
    return p && !strncmp(p, kind, kl) && p[kl] == ':';
}

int run_resource_exists(run *r, const char *arn)
{
    if (arn_kind(arn, "stateMachine")) {
        store_sm sm;
        int rc = store_sm_get(r->st, arn, &sm);
        if (rc != STORE_OK)
            return from_store(rc);
        int deleted = sm.deleted;
        store_sm_cleanup(&sm);
        return deleted ? RUN_ENOENT : 0;
    }
    if (arn_kind(arn, "activity")) {
        store_act a;
        int rc = store_act_get(r->st, arn, &a);
        if (rc != STORE_OK)
            return from_store(rc);
        store_act_cleanup(&a);
        return 0;
    }
    return RUN_ENOENT;
}

/* Open the iteration's transaction for a write, or say why not. */
static int begin(run *r)
{
    return r->unavail || run__begin(r, NULL) != 0 ? RUN_EUNAVAIL : 0;
}

static int wrote(run *r, int rc, const char *what)
{
    if (rc == STORE_OK)
        return 0;
    run__txn_fail(r, what, 0);
    return RUN_EUNAVAIL;
}

int run_tags_put(run *r, const char *arn, const run_tag *tags, size_t n)
{
    if (begin(r) != 0)
        return RUN_EUNAVAIL;
    return wrote(r, store_tags_put(r->st, arn, tags, n), "tags put");
}

int run_tags_remove(run *r, const char *arn, const char *const *keys, size_t n)
{
    if (begin(r) != 0)
        return RUN_EUNAVAIL;
    return wrote(r, store_tags_del(r->st, arn, keys, n), "tags remove");
}

int run_tags_each(run *r, const char *arn,
                  int (*cb)(void *ctx, const char *key, const char *value), void *ctx)
{
    int rc = store_tags_each(r->st, arn, cb, ctx);
    return rc == STORE_EDB ? RUN_EDB : rc;
}

int run_sm_conf_put(run *r, const char *arn, const run_sm_conf *c)
{
    if (begin(r) != 0)
        return RUN_EUNAVAIL;
    return wrote(r, store_sm_conf_put(r->st, arn, c), "state machine configuration");
}

int run_sm_conf_get(run *r, const char *arn, run_sm_conf *out)
{
    return from_store(store_sm_conf_get(r->st, arn, out));
}

void run_sm_conf_cleanup(run_sm_conf *c)
{
    store_sm_conf_cleanup(c);
}

int run_meta_forget(run *r, const char *arn)
{
    if (begin(r) != 0)
        return RUN_EUNAVAIL;
    return wrote(r, store_meta_forget(r->st, arn), "forget tags and configuration");
}

/* ---- map runs ------------------------------------------------------------------ */
int run_map_run_get(run *r, const char *arn, run_map_run *out)
{
    return from_store(store_map_run_get(r->st, arn, out));
}

void run_map_run_cleanup(run_map_run *m)
{
    store_map_run_cleanup(m);
}

int run_map_run_each(run *r, const char *exec_arn,
                     int (*cb)(void *ctx, const run_map_run *m), void *ctx)
{
    int rc = store_map_run_each(r->st, exec_arn, cb, ctx);
    return rc == STORE_EDB ? RUN_EDB : rc;
}

/* "...:mapRun:<machine>/<label>:<uuid>" -> "...:stateMachine:<machine>/<label>" */
static int map_run_sm_arn(const char *arn, char *buf, size_t cap)
{
    const char *k = strstr(arn, ":mapRun:"), *end = strrchr(arn, ':');
    if (k == NULL || end <= k + 7)
        return -1;
    int n = snprintf(buf, cap, "%.*s:stateMachine:%.*s", (int)(k - arn), arn,
                     (int)(end - (k + 8)), k + 8);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int save_one(run *r, rexec *e, const asl_map_run *mr)
{
    char arn[1024], sm[1024];
    if (asl_map_run_arn(e->x, mr, arn, sizeof arn) < 0 || map_run_sm_arn(arn, sm, sizeof sm))
        return 0; /* an ARN too long to name: not listed */
    store_map_run m = {.arn = arn, .exec_arn = e->arn, .sm_arn = sm,
                       .started_id = mr->started_id, .start_ms = mr->start_ms,
                       .stop_ms = mr->stop_ms, .status = mr->status,
                       .max_concurrency = mr->max_concurrency,
                       .tolerated_count = mr->tolerated_count, .tolerated_pct = mr->tolerated_pct,
                       .total = mr->total, .pending = mr->pending, .running = mr->running,
                       .succeeded = mr->succeeded, .failed = mr->failed, .aborted = mr->aborted};
    return store_map_run_put(r->st, &m);
}

void run__map_runs_save(run *r, rexec *e)
{
    const asl_map_run *mr;
    size_t n = asl_exec_map_runs(e->x, &mr);
    if (n == 0 || e->express || run__begin(r, e) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        uint64_t bit = i < 64 ? (uint64_t)1 << i : 0;
        if (e->mr_final & bit)
            continue; /* ended, and stored so: nothing changes any more */
        if (save_one(r, e, &mr[i]) != STORE_OK) {
            run__txn_fail(r, "map run", 0);
            return;
        }
        if (mr[i].status != ASL_RUNNING)
            e->mr_final |= bit;
    }
}

int run_map_run_update(run *r, const char *arn, json_t *changes)
{
    store_map_run m;
    int rc = store_map_run_get(r->st, arn, &m);
    if (rc != STORE_OK)
        return from_store(rc);
    rexec *e = hmap_get(&r->execs, m.exec_arn);
    if (begin(r) != 0) {
        store_map_run_cleanup(&m);
        return RUN_EUNAVAIL;
    }
    if (m.status == ASL_RUNNING && e && !e->done && !e->lost) {
        asl_input in = {.kind = ASL_IN_MAP_RUN_UPDATE, .id = (uint64_t)m.started_id,
                        .now_ms = run__exec_now(e), .result = changes};
        run__exec_feed(r, e, &in); /* the step saves the map run */
        store_map_run_cleanup(&m);
        return r->txn_bad ? RUN_EUNAVAIL : 0;
    }
    json_t *mc = json_object_get(changes, "maxConcurrency");
    json_t *tc = json_object_get(changes, "toleratedFailureCount");
    json_t *tp = json_object_get(changes, "toleratedFailurePercentage");
    if (json_is_integer(mc))
        m.max_concurrency = (int)json_integer_value(mc);
    if (json_is_integer(tc))
        m.tolerated_count = (int)json_integer_value(tc);
    if (json_is_number(tp))
        m.tolerated_pct = json_number_value(tp);
    rc = wrote(r, store_map_run_put(r->st, &m), "map run update");
    store_map_run_cleanup(&m);
    return rc;
}
