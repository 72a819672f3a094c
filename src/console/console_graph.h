/*
 * console_graph.h - a state machine's definition (ASL JSON) as an SVG graph,
 * laid out by Graphviz's dot (libgvc), top to bottom like AWS's console.
 *
 * Every state is a node (or, for Parallel and Map, a cluster holding its
 * branches or its iterator, with a small entry and exit point) whose SVG id
 * is console_graph_id(name): "st-" and the name's bytes in hex, so the
 * browser can find a state by name and colour it. Start and End are nodes
 * "st-start" and "st-end"; Catch edges are dashed, Choice edges labelled.
 *
 * Must not: read the store, call the API, or keep state between calls
 * other than the Graphviz context (made with the first graph, released by
 * console_graph_free).
 * Threading: one thread at a time (Graphviz is not thread-safe).
 */
#ifndef SFN_CONSOLE_GRAPH_H
#define SFN_CONSOLE_GRAPH_H

#include <stddef.h>

typedef struct console_graph console_graph;

console_graph *console_graph_create(void);
void console_graph_free(console_graph *g);

/* The SVG of `definition` (ASL JSON text): malloc'd, NUL-terminated, its
 * length in *len; NULL with a message in err when the definition is not
 * JSON with States, or Graphviz failed. */
char *console_graph_svg(console_graph *g, const char *definition, size_t *len, char *err,
                        size_t errlen);

/* "st-" + hex(name) into buf (cap >= 3 + 2 * strlen(name) + 1); returns buf. */
char *console_graph_id(char *buf, size_t cap, const char *name);

#endif
