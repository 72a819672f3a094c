/*
 * asl_drive.c - run an execution to its end in-process (see asl_drive.h).
 *
 * What is to be fed next is kept in one array of entries: task answers,
 * timers and the caller's inputs. Each carries the sequence number of the
 * command (or input) it came from, so ties break in the order things were
 * asked for, whatever the array's order (the last entry takes the place of
 * one removed). A slot keeps its error/cause buffer when it is freed, so
 * a driver that runs execution after execution stops allocating once it has
 * grown. Only the public API of the core is used (asl.h).
 */
#include "asl_drive.h"

#include <stdlib.h>
#include <string.h>

enum what { E_ANSWER = 1, E_TIMER, E_INPUT };

typedef struct entry {
    int what;
    uint64_t seq;
    /* E_TIMER, E_INPUT and a TIMED answer: when it is due. A SERIAL
     * answer: how long its task took. */
    int64_t due;
    /* kind 0: a SERIAL task that never answers (its time still passes);
     * result: a reference; error and cause point into text */
    asl_input in;
    char *text;  /* kept when the slot is freed */
    size_t cap;
} entry;

struct asl_drive {
    asl_drive_opts o;
    entry *e;
    size_t n;     /* entries in use: e[0..n) */
    size_t slots; /* e[0..slots) are initialised (text, cap) */
    uint64_t seq;
    int64_t now;
};

asl_drive *asl_drive_new(const asl_drive_opts *o)
{
    asl_drive *d = calloc(1, sizeof *d);
    if (d)
        d->o = *o;
    return d;
}

static void drop_all(asl_drive *d)
{
    for (size_t i = 0; i < d->n; i++) {
        json_decref(d->e[i].in.result);
        d->e[i].in.result = NULL;
    }
    d->n = 0;
    d->seq = 0;
}

void asl_drive_free(asl_drive *d)
{
    if (d == NULL)
        return;
    drop_all(d);
    for (size_t i = 0; i < d->slots; i++)
        free(d->e[i].text);
    free(d->e);
    free(d);
}

/* Room for one more entry at e[n]. Returns 0, or -1 when out of memory.
 * This and copy_strings are rare: kept out of add(), the path every timer
 * and answer takes (sfn-bench's figures are sensitive to its size). */
__attribute__((noinline)) static int grow(asl_drive *d)
{
    size_t ns = d->slots ? d->slots * 2 : 16;
    entry *ne = realloc(d->e, ns * sizeof *ne);
    if (ne == NULL)
        return -1;
    memset(ne + d->slots, 0, (ns - d->slots) * sizeof *ne);
    d->e = ne;
    d->slots = ns;
    return 0;
}

/* Copy in's error and cause into e's text. Returns 0, or -1 when out of
 * memory. */
__attribute__((noinline)) static int copy_strings(entry *e, const asl_input *in)
{
    size_t ne = in->error ? strlen(in->error) + 1 : 0, nc = in->cause ? strlen(in->cause) + 1 : 0;
    if (ne + nc > e->cap) {
        size_t cap = e->cap * 2 > ne + nc ? e->cap * 2 : ne + nc;
        char *t = realloc(e->text, cap);
        if (t == NULL)
            return -1;
        e->text = t;
        e->cap = cap;
    }
    e->in.error = in->error ? memcpy(e->text, in->error, ne) : NULL;
    e->in.cause = in->cause ? memcpy(e->text + ne, in->cause, nc) : NULL;
    return 0;
}

/* Add an entry for in, taking its result (a reference of the caller's,
 * dropped on failure). Returns SFN_OK or SFN_ENOMEM. */
static int add(asl_drive *d, int what, uint64_t seq, int64_t due, const asl_input *in)
{
    if (d->n == d->slots && grow(d) != 0) {
        json_decref(in->result);
        return SFN_ENOMEM;
    }
    entry *e = &d->e[d->n];
    e->what = what;
    e->seq = seq;
    e->due = due;
    e->in = *in;
    if ((in->error || in->cause) && copy_strings(e, in) != 0) {
        json_decref(in->result);
        return SFN_ENOMEM;
    }
    d->n++;
    return SFN_OK;
}

int asl_drive_at(asl_drive *d, int64_t at_ms, const asl_input *in)
{
    asl_input mine = *in;
    mine.result = json_incref(in->result);
    return add(d, E_INPUT, d->seq++, at_ms, &mine);
}

/* The commands of the last start or feed: timers to keep, tasks to ask the
 * callback about. Returns SFN_OK or SFN_ENOMEM. */
static int take(asl_drive *d, asl_exec *x)
{
    const asl_cmd *c;
    size_t n = asl_exec_cmds(x, &c);
    for (size_t i = 0; i < n; i++) {
        uint64_t seq = d->seq++;
        asl_input in = {.id = c[i].id};
        int64_t due;
        int what;
        if (c[i].kind == ASL_CMD_TIMER) {
            in.kind = ASL_IN_TIMER;
            due = c[i].due_ms;
            what = E_TIMER;
        } else {
            asl_drive_answer a;
            memset(&a, 0, sizeof a);
            if (d->o.task)
                d->o.task(d->o.ctx, &c[i], d->now, &a);
            int64_t after = a.after_ms > 0 ? a.after_ms : 0;
            if (a.kind == 0 && (d->o.order == ASL_DRIVE_TIMED || after == 0)) {
                json_decref(a.result_new);
                continue; /* nothing will happen */
            }
            in.kind = a.kind;
            in.result = a.result_new;
            in.error = a.error;
            in.cause = a.cause;
            due = d->o.order == ASL_DRIVE_TIMED ? d->now + after : after;
            what = E_ANSWER;
        }
        if (add(d, what, seq, due, &in) != SFN_OK)
            return SFN_ENOMEM;
    }
    return SFN_OK;
}

/* The entry to feed next, or d->n when there is none. */
static size_t pick(const asl_drive *d)
{
    size_t best = d->n;
    if (d->o.order == ASL_DRIVE_SERIAL) {
        for (size_t i = 0; i < d->n; i++)
            if (d->e[i].what == E_ANSWER && (best == d->n || d->e[i].seq < d->e[best].seq))
                best = i;
        if (best < d->n)
            return best;
    }
    for (size_t i = 0; i < d->n; i++) {
        const entry *e = &d->e[i], *b = &d->e[best];
        if (best == d->n || e->due < b->due || (e->due == b->due && e->seq < b->seq))
            best = i;
    }
    return best;
}

/* Whether entry e is due: 1 with *at, the time it is fed at, or 0 when a
 * real clock has not reached it yet. */
static int is_due(asl_drive *d, const entry *e, int64_t *at)
{
    if (d->o.order == ASL_DRIVE_SERIAL && e->what == E_ANSWER) {
        *at = d->o.clock ? d->o.clock(d->o.ctx, d->now) : d->now + e->due;
        return 1;
    }
    *at = d->o.clock ? d->o.clock(d->o.ctx, e->due) : e->due;
    return *at >= e->due;
}

int asl_drive_run(asl_drive *d, asl_exec *x, int64_t start_ms)
{
    if (x == NULL) {
        drop_all(d);
        return SFN_EINVAL;
    }
    d->now = start_ms;
    size_t fed = 0;
    int rc = take(d, x);
    while (rc == SFN_OK && asl_exec_status(x) == ASL_RUNNING) {
        if (d->o.max_feeds && fed >= d->o.max_feeds)
            break;
        size_t i = pick(d);
        if (i == d->n)
            break; /* waiting on nothing anybody will answer */
        int64_t at;
        if (!is_due(d, &d->e[i], &at))
            continue;
        if (at > d->now)
            d->now = at;
        /* out of the array: the last entry takes its place, and its text
         * buffer (where in's error and cause are, intact until take()
         * below reuses the slot) goes to the freed slot e[n] */
        entry *e = &d->e[i], *last = &d->e[--d->n];
        asl_input in = e->in;
        char *text = e->text;
        size_t cap = e->cap;
        *e = *last;
        last->text = text;
        last->cap = cap;
        if (in.kind == 0) {
            json_decref(in.result);
            continue; /* a SERIAL task without an answer: its time passed */
        }
        in.now_ms = d->now;
        int r = asl_exec_feed(x, &in);
        fed++;
        if (d->o.fed)
            d->o.fed(d->o.ctx, &in, r);
        json_decref(in.result);
        rc = take(d, x);
    }
    drop_all(d);
    return rc != SFN_OK ? rc : asl_exec_status(x);
}
