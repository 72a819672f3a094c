/*
 * asl_maprun.c - the map runs of an execution: one record per distributed
 * Map run (ItemProcessor.ProcessorConfig.Mode DISTRIBUTED), kept as its
 * iterations start and end (asl_par.c calls in), read by the runner
 * (asl_exec_map_runs) for ListMapRuns and DescribeMapRun, and changed by
 * UpdateMapRun (ASL_IN_MAP_RUN_UPDATE: the Map's concurrency and tolerated
 * failures). The iterations run inside this execution (silent threads, no
 * child executions): one iteration is one child execution in the counts.
 *
 * The record follows the deterministic walk, so a replay rebuilds it.
 * Must not: emit events (asl_par.c does), evaluate fields.
 */
#include "asl_exec_int.h"
#include "md5.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static asl_map_run *rec(asl_exec *x, const thr *t)
{
    return t && t->mrun > 0 && (size_t)t->mrun <= x->nmrun ? &x->mruns[t->mrun - 1] : NULL;
}

void asl__maprun_begin(asl_exec *x, thr *t, int64_t started_id, int total)
{
    const state *st = asl__cur_state(t);
    if (asl__grow((void **)&x->mruns, &x->capmrun, x->nmrun + 1, sizeof *x->mruns) != 0) {
        x->oom = 1; /* never silent: the execution fails */
        return;
    }
    asl_map_run *m = &x->mruns[x->nmrun++];
    *m = (asl_map_run){.started_id = started_id,
                       .state = st->name,
                       .label = st->label ? st->label : st->name,
                       .status = ASL_RUNNING,
                       .start_ms = x->now,
                       .max_concurrency = t->max_conc > 0 ? t->max_conc : 0,
                       .tolerated_count = t->tol_count > 0 ? t->tol_count : 0,
                       .tolerated_pct = t->tol_pct > 0 ? t->tol_pct : 0,
                       .total = total,
                       .pending = total};
    t->mrun = (int)x->nmrun;
}

void asl__maprun_kid(asl_exec *x, thr *t, int what)
{
    asl_map_run *m = rec(x, t);
    if (m == NULL || m->status != ASL_RUNNING)
        return;
    switch (what) {
    case MR_STARTED:
        m->pending--;
        m->running++;
        break;
    case MR_SUCCEEDED:
        m->running--;
        m->succeeded++;
        break;
    case MR_FAILED:
        m->running--;
        m->failed++;
        break;
    default: /* MR_ABORTED */
        m->running--;
        m->aborted++;
        break;
    }
}

void asl__maprun_end(asl_exec *x, thr *t, int status)
{
    asl_map_run *m = rec(x, t);
    if (m == NULL)
        return;
    if (m->status == ASL_RUNNING) {
        m->status = status;
        m->stop_ms = x->now;
        if (status != ASL_SUCCEEDED) { /* what never finished was aborted */
            m->aborted += m->running;
            m->running = 0;
        }
    }
    t->mrun = 0;
}

/* ASL_IN_MAP_RUN_UPDATE: the running map run named by in->id takes the
 * new limits; more iterations start when the concurrency grew. */
int asl__maprun_update(asl_exec *x, const asl_input *in)
{
    for (size_t j = 0; j < x->nall; j++) {
        thr *t = x->all[j];
        asl_map_run *m = rec(x, t);
        if (m == NULL || t->ended || m->started_id != (int64_t)in->id || m->status != ASL_RUNNING)
            continue;
        json_t *mc = json_object_get(in->result, "maxConcurrency");
        json_t *tc = json_object_get(in->result, "toleratedFailureCount");
        json_t *tp = json_object_get(in->result, "toleratedFailurePercentage");
        if (json_is_integer(mc))
            m->max_concurrency = t->max_conc = (int)json_integer_value(mc);
        if (json_is_integer(tc))
            m->tolerated_count = t->tol_count = (int)json_integer_value(tc);
        if (json_is_number(tp))
            m->tolerated_pct = t->tol_pct = json_number_value(tp);
        if (t->phase == PH_CHILDREN)
            asl__children_more(x, t);
        return SFN_OK;
    }
    return SFN_ENOENT;
}

size_t asl_exec_map_runs(const asl_exec *x, const asl_map_run **out)
{
    *out = x->mruns;
    return x->nmrun;
}

int asl_map_run_arn(const asl_exec *x, const asl_map_run *mr, char *buf, size_t cap)
{
    /* x->arn: arn:aws:states:<region>:<account>:execution:<machine>:<name> */
    const char *p = strstr(x->arn, ":execution:");
    if (p == NULL)
        p = strstr(x->arn, ":express:");
    if (p == NULL)
        return -1;
    char seed[1200], h[33];
    int sn = snprintf(seed, sizeof seed, "%s#%lld", x->arn, (long long)mr->started_id);
    sfn_md5_hex(seed, sn > 0 && (size_t)sn < sizeof seed ? (size_t)sn : strlen(seed), h);
    int n = snprintf(buf, cap, "%.*s:mapRun:%s/%s:%.8s-%.4s-4%.3s-8%.3s-%.12s", (int)(p - x->arn),
                     x->arn, x->sm_name ? x->sm_name : "", mr->label, h, h + 8, h + 13, h + 17,
                     h + 20);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}
