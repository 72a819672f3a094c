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
    /* activities: their code adds a case here */
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
