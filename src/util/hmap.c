/*
 * hmap.c - the string-keyed hash map (see hmap.h).
 */
#include "hmap.h"

#include <stdlib.h>
#include <string.h>

uint64_t hmap_hash(const char *s)
{
    uint64_t h = 14695981039346656037ULL; /* FNV-1a offset basis */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

void *hmap_get(const hmap *m, const char *key)
{
    if (m->nb == 0)
        return NULL;
    for (hent *e = m->b[hmap_hash(key) & (m->nb - 1)]; e; e = e->next)
        if (!strcmp(e->key, key))
            return e->val;
    return NULL;
}

int hmap_put(hmap *m, const char *key, void *val)
{
    if (m->n + 1 > m->nb) {
        size_t nb = m->nb ? m->nb * 2 : 64;
        hent **b = calloc(nb, sizeof *b);
        if (b == NULL)
            return -12;
        for (size_t i = 0; i < m->nb; i++) {
            for (hent *e = m->b[i], *nx; e; e = nx) {
                nx = e->next;
                size_t j = hmap_hash(e->key) & (nb - 1);
                e->next = b[j];
                b[j] = e;
            }
        }
        free(m->b);
        m->b = b;
        m->nb = nb;
    }
    hent *e = malloc(sizeof *e);
    if (e == NULL || (e->key = strdup(key)) == NULL) {
        free(e);
        return -12;
    }
    size_t j = hmap_hash(key) & (m->nb - 1);
    e->val = val;
    e->next = m->b[j];
    m->b[j] = e;
    m->n++;
    return 0;
}

void *hmap_del(hmap *m, const char *key)
{
    if (m->nb == 0)
        return NULL;
    for (hent **p = &m->b[hmap_hash(key) & (m->nb - 1)]; *p; p = &(*p)->next) {
        if (!strcmp((*p)->key, key)) {
            hent *e = *p;
            void *v = e->val;
            *p = e->next;
            free(e->key);
            free(e);
            m->n--;
            return v;
        }
    }
    return NULL;
}

void hmap_cleanup(hmap *m, void (*free_val)(void *))
{
    for (size_t i = 0; i < m->nb; i++) {
        for (hent *e = m->b[i], *nx; e; e = nx) {
            nx = e->next;
            if (free_val)
                free_val(e->val);
            free(e->key);
            free(e);
        }
    }
    free(m->b);
    memset(m, 0, sizeof *m);
}
