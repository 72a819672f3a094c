/*
 * console_int.h - the console's internals (src/console), shared by its
 * files; not its interface (console.h).
 *
 *   console.c          routes, assets, the token, the graph endpoint, calls
 *                      into the API from C (con__api)
 *   console_summary.c  an execution's history walked once: each state's
 *                      outcome, attempts, data; each event's state
 *   console_walk.c     the history walk the execution endpoints share:
 *                      each event's state and context (Map iteration,
 *                      Parallel branch), counts per state and context
 *   console_iter.c     a container's iterations or branches, paged
 *   console_state.c    one state's visit: recorded data, retries, and the
 *                      data-flow steps recomputed by the core's TestState
 *   console_sse.c      live updates as server-sent events
 *   console_origin.c   a machine's template origin and its functions
 *   console_saga.c     the bookings an execution holds (read-only SQLite)
 *                      and the SNS alerts naming it
 *   console_assets.c   generated at build time from assets/ (embed.cmake)
 *
 * Must not: write; keep a request past console_free.
 */
#ifndef SFN_CONSOLE_INT_H
#define SFN_CONSOLE_INT_H

#include <jansson.h>
#include <stddef.h>

#include "console.h"
#include "console_graph.h"

typedef struct console_asset {
    const char *name; /* "index.html" */
    const char *type; /* "text/html; charset=utf-8" */
    const unsigned char *data;
    size_t len;
} console_asset;

extern const console_asset console_assets[];
extern const size_t console_nassets;

/* The asset `name`, or NULL. */
const console_asset *console_asset_find(const char *name);

typedef struct con_pending con_pending;

/* A console request waiting for API calls: the console keeps a list of
 * them so that console_free can release their requests. */
struct con_pending {
    con_pending *prev, *next;
    console *c;
    http_req *req; /* NULL once answered or gone */
    void (*on_reply)(con_pending *p, int status, const char *body, size_t len);
    void (*destroy)(con_pending *p); /* frees the owner's part of p */
};

struct console {
    api *a;
    ev_loop *loop;
    char *datadir;
    char token[33];
    console_graph *graph;
    con_pending pending; /* list head */
    struct svg_cache {
        unsigned long long key;
        char *svg;
        size_t len;
    } cache[16];
    unsigned cache_next;
    json_t *origins; /* machine ARN -> {template, logicalId, substitutions} */
};

/* Link p (on_reply, destroy and req set) and call the API with it; the
 * reply comes to p->on_reply. */
void con__link(console *c, con_pending *p);
void con__api(con_pending *p, const char *target, json_t *body /* taken */);
/* Answer p's request (if still there) and unlink/destroy p. */
void con__finish_json(con_pending *p, int status, json_t *j /* taken */);
void con__finish_err(con_pending *p, int status, const char *type, const char *msg);
/* Answer a request with JSON (taken) or an error. */
void con__respond_json(http_req *req, int status, json_t *j);
void con__respond_err(http_req *req, int status, const char *type, const char *msg);

/* GET /console/summary?executionArn= */
void con__summary(console *c, http_req *req, const char *arn);
/* GET /console/saga?executionArn= */
void con__saga(console *c, http_req *req, const char *arn);
/* GET /console/iterations?executionArn=&state=[&offset=&limit=&status=] */
void con__iter(console *c, http_req *req, const char *arn);
/* GET /console/state?executionArn=&state=[&container=&index=] */
void con__state(console *c, http_req *req, const char *arn);
/* GET /console/events?executionArn= (text/event-stream) */
void con__sse(console *c, http_req *req, const char *arn);
/* GET /console/origin?stateMachineArn= */
void con__origin(console *c, http_req *req, const char *arn);

/* The functions a definition resolves to (console_origin.c):
 * [{"arn", "name", "states"}], new. */
json_t *con__functions(const json_t *definition, const char *sm_arn);
/* Server-sent events (console_sse.c): is `type` an execution's last
 * event; the text of one answer (type NULL: idle), malloc'd. */
int con__sse_terminal(const char *type);
char *con__sse_text(long long id, const char *type, size_t *len);

#endif
