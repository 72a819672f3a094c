/*
 * console_graph.c - an ASL definition as an SVG graph through Graphviz's
 * dot (see console_graph.h): states as rounded boxes, Parallel and Map as
 * clusters with an entry and an exit point, Choice rules and Catch edges
 * labelled, a Start and an End.
 *
 * Must not: read the store, call the API, evaluate anything in the
 * definition (paths, JSONata); an unknown or malformed field is drawn as
 * far as it goes, never refused (validation is the core's job).
 */
#define _GNU_SOURCE
#include "console_graph.h"

#include <graphviz/cgraph.h>
#include <graphviz/gvc.h>
#include <graphviz/gvplugin.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct console_graph {
    GVC_t *gvc;
};

/* The only plugins: dot's layout and the core renderers (SVG). Loading
 * none on demand keeps out the pango text plugin, which reads freed memory
 * (Graphviz 2.42, textspan_size); text is measured with Graphviz's own
 * metrics instead, which is all a layout needs. */
extern gvplugin_library_t gvplugin_dot_layout_LTX_library;
extern gvplugin_library_t gvplugin_core_LTX_library;
static const lt_symlist_t builtins[] = {
    {"gvplugin_dot_layout_LTX_library", &gvplugin_dot_layout_LTX_library},
    {"gvplugin_core_LTX_library", &gvplugin_core_LTX_library},
    {0, 0},
};

#if defined(__SANITIZE_ADDRESS__)
/* Graphviz 2.42's dot layout leaks a few KB per layout, and its context
 * some more (gmalloc'd, never freed): not ours to fix, and a test build
 * of sfnd must still exit clean. LeakSanitizer reads this hook. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libgvc.so\nleak:libgvplugin_dot_layout.so\nleak:libcgraph.so\n";
}
#endif

console_graph *console_graph_create(void)
{
    return calloc(1, sizeof(console_graph)); /* the context comes with the first graph */
}

void console_graph_free(console_graph *g)
{
    if (g == NULL)
        return;
    if (g->gvc)
        gvFreeContext(g->gvc);
    free(g);
}

char *console_graph_id(char *buf, size_t cap, const char *name)
{
    static const char hx[] = "0123456789abcdef";
    size_t n = strlen(name), o = 0;
    if (cap < 4 + 2 * n) {
        if (cap > 0)
            buf[0] = '\0';
        return buf;
    }
    memcpy(buf, "st-", 3);
    o = 3;
    for (size_t i = 0; i < n; i++) {
        buf[o++] = hx[(unsigned char)name[i] >> 4];
        buf[o++] = hx[(unsigned char)name[i] & 15];
    }
    buf[o] = '\0';
    return buf;
}

/* ---- building the graph ---------------------------------------------------------------------- */
#define NAME_MAX_LEN 256 /* ASL caps a state's name at 80 characters */
#define ID_CAP (4 + 2 * NAME_MAX_LEN)

typedef struct build {
    Agraph_t *root;
} build;

static int is_container(const json_t *st)
{
    const char *t = json_string_value(json_object_get(st, "Type"));
    return t && (!strcmp(t, "Parallel") || !strcmp(t, "Map"));
}

static void set(void *obj, const char *k, const char *v)
{
    agsafeset(obj, (char *)k, (char *)v, "");
}

/* The node an edge into state `name` of `states` ends at (NULL: unknown). */
static Agnode_t *entry_of(build *b, const json_t *states, const char *name)
{
    char key[NAME_MAX_LEN + 8];
    const json_t *st = json_object_get(states, name);
    if (st == NULL || strlen(name) > NAME_MAX_LEN)
        return NULL;
    snprintf(key, sizeof key, is_container(st) ? "<in>%s" : "%s", name);
    return agnode(b->root, key, 0);
}

/* The node edges out of state `name` start at. */
static Agnode_t *exit_of(build *b, const json_t *st, const char *name)
{
    char key[NAME_MAX_LEN + 8];
    if (strlen(name) > NAME_MAX_LEN)
        return NULL;
    snprintf(key, sizeof key, is_container(st) ? "<out>%s" : "%s", name);
    return agnode(b->root, key, 0);
}

static Agedge_t *edge(build *b, Agnode_t *t, Agnode_t *h, const char *label, int dashed)
{
    if (t == NULL || h == NULL)
        return NULL;
    Agedge_t *e = agedge(b->root, t, h, NULL, 1);
    if (e == NULL)
        return NULL;
    if (label && *label)
        set(e, "label", label);
    if (dashed) {
        set(e, "style", "dashed");
        set(e, "class", "catch");
    }
    return e;
}

static void build_scope(build *b, Agraph_t *sg, const json_t *scope, Agnode_t *end_node,
                        int depth);

/* A Parallel or Map state: a cluster with an entry and an exit point and
 * its branches (or its iterator) inside. */
static void build_container(build *b, Agraph_t *sg, const char *name, const json_t *st,
                            int depth)
{
    char id[ID_CAP], key[NAME_MAX_LEN + 8], cname[ID_CAP + 16];
    console_graph_id(id, sizeof id, name);
    snprintf(cname, sizeof cname, "cluster_%s", id);
    Agraph_t *cl = agsubg(sg, cname, 1);
    const char *type = json_string_value(json_object_get(st, "Type"));
    set(cl, "id", id);
    set(cl, "label", name);
    set(cl, "class", !strcmp(type, "Map") ? "state t-Map" : "state t-Parallel");
    set(cl, "style", "rounded,dashed");
    snprintf(key, sizeof key, "<in>%s", name);
    Agnode_t *in = agnode(cl, key, 1);
    snprintf(key, sizeof key, "<out>%s", name);
    Agnode_t *out = agnode(cl, key, 1);
    set(in, "shape", "point");
    set(out, "shape", "point");
    set(in, "class", "point");
    set(out, "class", "point");
    const json_t *branches = json_object_get(st, "Branches");
    json_t *one = NULL;
    if (!json_is_array(branches)) {
        const json_t *it = json_object_get(st, "ItemProcessor");
        if (it == NULL)
            it = json_object_get(st, "Iterator");
        one = json_array();
        if (one && json_is_object(it))
            json_array_append(one, (json_t *)it);
        branches = one;
    }
    size_t i;
    const json_t *br;
    json_array_foreach(branches, i, br) {
        char bname[ID_CAP + 32], label[32];
        snprintf(bname, sizeof bname, "cluster_%s_b%zu", id, i);
        Agraph_t *bsg = agsubg(cl, bname, 1);
        snprintf(label, sizeof label, one ? "Iterator" : "Branch %zu", i + 1);
        set(bsg, "label", label);
        char bid[ID_CAP + 16];
        snprintf(bid, sizeof bid, "%s-b%zu", id, i);
        set(bsg, "id", bid);
        set(bsg, "class", "branch");
        set(bsg, "style", "dotted");
        build_scope(b, bsg, br, out, depth + 1);
        const char *start = json_string_value(json_object_get(br, "StartAt"));
        if (start)
            edge(b, in, entry_of(b, json_object_get(br, "States"), start), NULL, 0);
    }
    json_decref(one);
}

/* The edges out of one state of a scope. */
static void state_edges(build *b, const json_t *states, const char *name, const json_t *st,
                        Agnode_t *end_node, int top)
{
    Agnode_t *from = exit_of(b, st, name);
    const char *type = json_string_value(json_object_get(st, "Type"));
    const char *next = json_string_value(json_object_get(st, "Next"));
    if (next)
        edge(b, from, entry_of(b, states, next), NULL, 0);
    if (type && !strcmp(type, "Choice")) {
        size_t i;
        const json_t *rule;
        json_array_foreach(json_object_get(st, "Choices"), i, rule) {
            char label[32];
            snprintf(label, sizeof label, "Rule %zu", i + 1);
            const char *n = json_string_value(json_object_get(rule, "Next"));
            if (n)
                edge(b, from, entry_of(b, states, n), label, 0);
        }
        const char *d = json_string_value(json_object_get(st, "Default"));
        if (d)
            edge(b, from, entry_of(b, states, d), "Default", 0);
    }
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(st, "Catch"), i, c) {
        char label[160] = "";
        size_t k;
        const json_t *e;
        json_array_foreach(json_object_get(c, "ErrorEquals"), k, e) {
            size_t l = strlen(label);
            if (l > 100) {
                snprintf(label + l, sizeof label - l, "%s...", k ? " " : "");
                break;
            }
            snprintf(label + l, sizeof label - l, "%s%s", k ? ", " : "",
                     json_string_value(e) ? json_string_value(e) : "?");
        }
        const char *n = json_string_value(json_object_get(c, "Next"));
        if (n)
            edge(b, from, entry_of(b, states, n), label, 1);
    }
    if (json_is_true(json_object_get(st, "End")) ||
        (type && (!strcmp(type, "Succeed") || (top && !strcmp(type, "Fail")))))
        edge(b, from, end_node, NULL, 0);
}

/* The states of a scope reached from StartAt without a Catch (Next,
 * Choices, Default), marked 1 in `normal`; the others are on an error
 * or compensation path. */
static void normal_path(const json_t *scope, json_t *normal)
{
    const json_t *states = json_object_get(scope, "States");
    const char *todo[1024];
    size_t n = 0;
    const char *sa = json_string_value(json_object_get(scope, "StartAt"));
    if (sa)
        todo[n++] = sa;
    while (n > 0) {
        const char *name = todo[--n];
        const json_t *st = json_object_get(states, name);
        if (st == NULL || json_object_get(normal, name))
            continue;
        json_object_set_new(normal, name, json_true());
        const char *next[3] = {json_string_value(json_object_get(st, "Next")),
                               json_string_value(json_object_get(st, "Default")), NULL};
        for (size_t i = 0; i < 2; i++)
            if (next[i] && n < 1024)
                todo[n++] = next[i];
        size_t i;
        const json_t *rule;
        json_array_foreach(json_object_get(st, "Choices"), i, rule) {
            const char *r = json_string_value(json_object_get(rule, "Next"));
            if (r && n < 1024)
                todo[n++] = r;
        }
    }
}

/* The states of one scope (the machine, a branch, an iterator) in sg:
 * nodes first, then their edges; a scope's end goes to end_node. */
static void build_scope(build *b, Agraph_t *sg, const json_t *scope, Agnode_t *end_node,
                        int depth)
{
    const json_t *states = json_object_get(scope, "States");
    const char *name;
    const json_t *st;
    if (!json_is_object(states) || depth > 32)
        return;
    json_t *normal = json_object();
    normal_path(scope, normal);
    json_object_foreach((json_t *)states, name, st) {
        if (strlen(name) > NAME_MAX_LEN || !json_is_object(st))
            continue;
        if (is_container(st)) {
            build_container(b, sg, name, st, depth);
            continue;
        }
        char id[ID_CAP], cls[96];
        const char *type = json_string_value(json_object_get(st, "Type"));
        Agnode_t *n = agnode(sg, (char *)name, 1);
        console_graph_id(id, sizeof id, name);
        snprintf(cls, sizeof cls, "state t-%.60s%s", type ? type : "unknown",
                 normal && !json_object_get(normal, name) ? " errpath" : "");
        set(n, "id", id);
        set(n, "class", cls);
        set(n, "label", name);
        if (type && !strcmp(type, "Choice"))
            set(n, "style", "rounded,filled,bold");
    }
    json_object_foreach((json_t *)states, name, st) {
        if (strlen(name) <= NAME_MAX_LEN && json_is_object(st))
            state_edges(b, states, name, st, end_node, depth == 0);
    }
    json_decref(normal);
}

static void graph_defaults(Agraph_t *g)
{
    agattr(g, AGRAPH, "rankdir", "TB");
    agattr(g, AGRAPH, "nodesep", "0.3");
    agattr(g, AGRAPH, "ranksep", "0.35");
    agattr(g, AGRAPH, "fontname", "Helvetica");
    agattr(g, AGRAPH, "fontsize", "10");
    agattr(g, AGRAPH, "id", "");
    agattr(g, AGRAPH, "label", "");
    agattr(g, AGRAPH, "class", "");
    agattr(g, AGRAPH, "style", "");
    agattr(g, AGNODE, "shape", "box");
    agattr(g, AGNODE, "style", "rounded,filled");
    agattr(g, AGNODE, "fillcolor", "white");
    agattr(g, AGNODE, "fontname", "Helvetica");
    agattr(g, AGNODE, "fontsize", "11");
    agattr(g, AGNODE, "height", "0.35");
    agattr(g, AGNODE, "width", "0.3");
    agattr(g, AGNODE, "margin", "0.12,0.04");
    agattr(g, AGNODE, "id", "");
    agattr(g, AGNODE, "class", "");
    agattr(g, AGNODE, "label", "\\N");
    agattr(g, AGEDGE, "fontname", "Helvetica");
    agattr(g, AGEDGE, "fontsize", "9");
    agattr(g, AGEDGE, "arrowsize", "0.6");
    agattr(g, AGEDGE, "label", "");
    agattr(g, AGEDGE, "style", "");
    agattr(g, AGEDGE, "class", "");
}

/* Everything before "<svg" (the XML prolog, the doctype, a comment) goes:
 * the browser inlines the rest. */
static char *svg_only(const char *data, unsigned int dlen, size_t *len)
{
    const char *s = memmem(data, dlen, "<svg", 4);
    if (s == NULL)
        return NULL;
    size_t n = dlen - (size_t)(s - data);
    char *out = malloc(n + 1);
    if (out == NULL)
        return NULL;
    memcpy(out, s, n);
    out[n] = '\0';
    *len = n;
    return out;
}

char *console_graph_svg(console_graph *cg, const char *definition, size_t *len, char *err,
                        size_t errlen)
{
    json_error_t je;
    if (cg->gvc == NULL && (cg->gvc = gvContextPlugins(builtins, 0)) == NULL) {
        snprintf(err, errlen, "no Graphviz context");
        return NULL;
    }
    json_t *def = json_loads(definition, 0, &je);
    if (def == NULL || !json_is_object(json_object_get(def, "States"))) {
        snprintf(err, errlen, "the definition is not JSON with States");
        json_decref(def);
        return NULL;
    }
    Agraph_t *g = agopen("asl", Agdirected, NULL);
    if (g == NULL) {
        json_decref(def);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    graph_defaults(g);
    build b = {.root = g};
    Agnode_t *start = agnode(g, "<start>", 1), *end = agnode(g, "<end>", 1);
    set(start, "id", "st-start");
    set(end, "id", "st-end");
    set(start, "label", "Start");
    set(end, "label", "End");
    set(start, "shape", "oval");
    set(end, "shape", "oval");
    set(start, "class", "terminal");
    set(end, "class", "terminal");
    build_scope(&b, g, def, end, 0);
    const char *sa = json_string_value(json_object_get(def, "StartAt"));
    if (sa)
        edge(&b, start, entry_of(&b, json_object_get(def, "States"), sa), NULL, 0);
    char *out = NULL;
    if (gvLayout(cg->gvc, g, "dot") != 0) {
        snprintf(err, errlen, "Graphviz could not lay the graph out");
    } else {
        char *data = NULL;
        unsigned int dlen = 0;
        if (gvRenderData(cg->gvc, g, "svg", &data, &dlen) != 0 || data == NULL)
            snprintf(err, errlen, "Graphviz could not render SVG");
        else if ((out = svg_only(data, dlen, len)) == NULL)
            snprintf(err, errlen, "Graphviz's SVG has no <svg>");
        if (data)
            gvFreeRenderData(data);
        gvFreeLayout(cg->gvc, g);
    }
    agclose(g);
    json_decref(def);
    return out;
}
