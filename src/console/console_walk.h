/*
 * console_walk.h - an execution's history walked once (console_walk.c),
 * shared by the console's execution endpoints: each event's state (the
 * state it belongs to) and its context (the top level, a Map iteration or
 * a Parallel branch), each state's counts over the whole execution and
 * within each context.
 *
 * Contexts follow previousEventId: an event is in its predecessor's
 * context, except a StateEntered that follows a MapIterationStarted (the
 * iteration's context: name and index from that event) or a
 * ParallelStateStarted (a new branch context; the branch is the one of the
 * definition whose StartAt the state is). MapIterationSucceeded, Failed
 * and Aborted name their iteration and set its status.
 *
 * con_walk_start fetches DescribeExecution, DescribeStateMachineForExecution
 * (the definition: branch starts, container members) and the history 1,000
 * events at a time through the API, then calls on_done; the owner answers
 * (con__finish_json) from it. con_walk_init/_event/_end are the same walk
 * without the API (unit tests).
 *
 * Must not: hold more than one page of events in JSON at a time; keep
 * payloads for contexts (only error/cause, cut at CON_CTX_PAYLOAD).
 */
#ifndef SFN_CONSOLE_WALK_H
#define SFN_CONSOLE_WALK_H

#include "console_int.h"

#define CON_PAYLOAD 16384   /* a state's input/output in the summary */
#define CON_CTX_PAYLOAD 1024 /* error/cause in a context */

enum { CON_CTX_TOP = 0, CON_CTX_MAP, CON_CTX_BRANCH };

typedef struct con_ctx {
    int kind;       /* CON_CTX_* */
    int parent;     /* context index; -1 for the top */
    int container;  /* the Map/Parallel state (index into names) */
    long long index; /* iteration index, branch index (0-based) */
    const char *status; /* "running", "succeeded", "failed", "aborted" (static) */
    json_t *states; /* name -> counts in this context */
} con_ctx;

typedef struct con_walk con_walk;
struct con_walk {
    con_pending p; /* first: a con_walk is a con_pending */
    char *arn;
    json_t *execution;    /* DescribeExecution's answer */
    json_t *definition;   /* the execution's definition, parsed (may be NULL) */
    char *role_arn;       /* its machine's role (DescribeStateMachineForExecution) */
    json_t *branch_start; /* state name -> its Parallel branch index */
    json_t *states;       /* name -> counts over the execution */
    json_t *names;        /* state index -> name */
    int *step;            /* event id -> state index, -1 */
    int *ctx;             /* event id -> context */
    int *child;           /* event id -> the iteration a MapIterationStarted opens, -1 */
    unsigned char *flags; /* event id -> WF_* */
    size_t nstep, capstep;
    con_ctx *ctxs;
    size_t nctx, capctx;
    json_t *iter_keys;    /* "parent:container:index" -> context */
    int keep_ctx_payloads; /* input/output kept in contexts too */
    /* per-state counts kept for Parallel branches and for the Map
     * iterations of this state only (NULL: none; "*": every one): a
     * 25,000-event Map's summary does not need them */
    const char *ctx_states_of;
    /* the owner's: one event seen (k: its state or -1; c: its context) */
    void (*on_event)(con_walk *w, const json_t *ev, long long id, int k, int c);
    void (*on_done)(con_walk *w); /* every event in: answer */
    void (*on_free)(con_walk *w); /* the owner's part (not w itself) */
};

/* Set up w (zeroed by the caller) for an execution of `definition`
 * (borrowed; may be NULL). 0 or -1 (out of memory). */
int con_walk_init(con_walk *w, const json_t *definition);
/* One history event (as GetExecutionHistory gives it). 0 or -1. */
int con_walk_event(con_walk *w, const json_t *ev);
/* Statuses, once every event is in (execution: DescribeExecution's). */
void con_walk_end(con_walk *w);
/* Frees what w holds (not w). */
void con_walk_cleanup(con_walk *w);

/* Fetch and walk the execution `arn` for request req; on_done then
 * answers. w is malloc'd by the caller (freed with its request). */
void con_walk_start(console *c, http_req *req, con_walk *w, const char *arn);

/* The names of the states inside container `name` of definition (every
 * depth), as a new array; NULL when name is not a Map or Parallel. */
json_t *con_walk_members(const json_t *definition, const char *name);
/* The state object `name` of a definition (any depth), or NULL. */
const json_t *con_walk_find_state(const json_t *definition, const char *name);

/* A context's label: "M[3]", "P branch 2", nested "M[1] / P branch 1". */
void con_walk_ctx_label(const con_walk *w, int c, char *buf, size_t cap);

/* From a finished walk (for the endpoints and the unit tests): the
 * summary's containers object; a page of a container's iterations or
 * branches (console_iter.c). New references. */
json_t *con__containers(const con_walk *w);
json_t *con__iterations(const con_walk *w, const char *state, const char *status, long offset,
                        long limit);

/* The data-flow steps of one visit of a state (console_state.c): what the
 * history recorded, the rest recomputed by the core's TestState; note
 * says what was recomputed or why nothing was. visit: {"input", "output",
 * "parameters", "result", "error", "cause", "attempts"}. New array. */
struct asl_exec_info;
json_t *con_dataflow(const char *definition, const char *state, const char *type,
                     const json_t *visit, const struct asl_exec_info *info, const char *context,
                     char *note, size_t cap);
/* The context object ($$) a visit saw, as far as the history tells (no
 * Map part: TestState refuses one): JSON text, malloc'd. */
char *con_context_object(const json_t *execution, const char *role_arn, const char *state,
                         const json_t *visit);

#endif
