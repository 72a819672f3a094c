/*
 * hmap.h - a string-keyed hash map (chained, power-of-two buckets; keys
 * copied, values borrowed).
 *
 * The struct is public so that a caller may walk the buckets (and unlink
 * while walking, as the runner does to reap executions); everything else
 * goes through the functions.
 *
 * Must not: own the values (hmap_cleanup frees them only through the
 * caller's function).
 * Threading: none; one thread at a time.
 */
#ifndef SFN_HMAP_H
#define SFN_HMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct hent {
    char *key;
    void *val;
    struct hent *next;
} hent;

typedef struct hmap {
    hent **b;
    size_t nb, n;
} hmap;

/* FNV-1a of a C string. */
uint64_t hmap_hash(const char *s);
/* The value under key, or NULL. */
void *hmap_get(const hmap *m, const char *key);
/* Add key (copied) -> val. A key already there is shadowed, not replaced:
 * callers check hmap_get first. Returns 0 or -12 (ENOMEM, nothing
 * changed). */
int hmap_put(hmap *m, const char *key, void *val);
/* Remove key; returns its value or NULL. */
void *hmap_del(hmap *m, const char *key);
/* Free every entry (free_val, when not NULL, on each value) and the buckets. */
void hmap_cleanup(hmap *m, void (*free_val)(void *));

#endif
