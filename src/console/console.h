/*
 * console.h - the browser console of sfnd (issue 15), served on the API's
 * port: GET / (the page, with this process's console token), GET
 * /console/assets/<file> (CSS, JS built into the binary), GET
 * /console/graph.svg (a machine's definition laid out by Graphviz), GET
 * /console/summary (an execution's path: per-state outcome, events mapped to
 * their state, Map iterations and Parallel branches counted), GET
 * /console/iterations (a container's iterations or branches, paged), GET
 * /console/state (one state's visit: data-flow steps, retries), GET
 * /console/events (live updates, text/event-stream), GET /console/origin (a
 * machine's template origin and functions), GET /console/saga (the
 * bookings an execution holds and the SNS alerts that name it).
 *
 * The pages call the Step Functions API themselves (POST / with
 * X-Amz-Target), as the SDKs do. A same-origin browser POST (an Origin
 * naming the Host) of an operation that writes must carry the header
 * X-Sfnd-Console-Token with the token the page was served; without it the
 * console answers 403 before the API sees it. Every console route passes
 * api_http_check first (Host, Origin).
 *
 * Must not: write anything (it reads the API, the bookings tables read-only
 * and the SNS sink), block the loop for long, or serve a file from disk.
 * Threading: the loop's thread.
 */
#ifndef SFN_CONSOLE_H
#define SFN_CONSOLE_H

#include <jansson.h>

#include "api.h"
#include "ev.h"
#include "http.h"

typedef struct console console;

typedef struct console_opts {
    api *a;
    ev_loop *loop;
    const char *datadir; /* <data>: tables/ and sns/ are read from it */
} console_opts;

console *console_create(const console_opts *o);
/* Requests still waiting for the API are released. */
void console_free(console *c);

/* Route one request: 1 if the console took it (a console page, or a
 * browser write refused for a missing token), 0 to leave it to the API. */
int console_http_route(console *c, http_req *req);

/* Where the machine sm_arn came from (the template sfnd loaded): shown on
 * its page by GET /console/origin. substitutions (borrowed, may be NULL):
 * its DefinitionSubstitutions, evaluated. 0 or -1 (out of memory). */
int console_set_origin(console *c, const char *sm_arn, const char *template_path,
                       const char *logical_id, const json_t *substitutions);

/* The per-process token the page carries (32 hex digits). */
const char *console_token(const console *c);

/* 1 if X-Amz-Target names an operation that only reads (Describe*, List*,
 * Get*, ValidateStateMachineDefinition, Sfnd.WaitExecution). */
int console_target_reads(const char *target);

#endif
