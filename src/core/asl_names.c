/*
 * asl_names.c - a state name -> index map for one scope of a machine
 * (the States of the machine, a Parallel branch or a Map processor), so
 * that validation and compilation resolve each transition target in O(1)
 * instead of scanning every state (issue 12: a 20k-state definition took
 * seconds). Open addressing, FNV-1a; keys are borrowed from the definition.
 *
 * Must not: copy or own the keys, or do I/O.
 */
#include "asl_int.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

int asl__names_init(asl_names *s, size_t n)
{
    s->cap = 16;
    while (s->cap < n * 2)
        s->cap *= 2;
    s->keys = calloc(s->cap, sizeof *s->keys);
    s->idx = calloc(s->cap, sizeof *s->idx);
    if (s->keys == NULL || s->idx == NULL) {
        asl__names_cleanup(s);
        return -1;
    }
    return 0;
}

void asl__names_cleanup(asl_names *s)
{
    free(s->keys);
    free(s->idx);
    memset(s, 0, sizeof *s);
}

void asl__names_put(asl_names *s, const char *k, long i)
{
    size_t h = (size_t)hash_str(k) & (s->cap - 1);
    while (s->keys[h] != NULL) {
        if (strcmp(s->keys[h], k) == 0)
            return; /* the first index wins, as a scan from the start would find */
        h = (h + 1) & (s->cap - 1);
    }
    s->keys[h] = k;
    s->idx[h] = i;
}

long asl__names_get(const asl_names *s, const char *k)
{
    if (s->cap == 0)
        return -1;
    size_t h = (size_t)hash_str(k) & (s->cap - 1);
    while (s->keys[h] != NULL) {
        if (strcmp(s->keys[h], k) == 0)
            return s->idx[h];
        h = (h + 1) & (s->cap - 1);
    }
    return -1;
}
