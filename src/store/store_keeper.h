/*
 * store_keeper: a thread of sfnd that keeps the write-ahead logs of the
 * local tables (the SQLite files the function processes write) short, so
 * that no function invocation waits for a checkpoint. See store_keeper.c.
 */
#ifndef STORE_KEEPER_H
#define STORE_KEEPER_H

#include <stddef.h>

typedef struct store_keeper store_keeper;

/* Starts the thread over the table files at paths[0..n) (borrowed: they
 * are copied), one pass every tick_ms. A file that does not exist yet is
 * looked for again at each pass, never created. NULL when out of memory
 * or threads. */
store_keeper *store_keeper_start(const char *const *paths, size_t n, int tick_ms);

/* Stops the thread and frees everything; NULL is a no-op. */
void store_keeper_stop(store_keeper *k);

/* For tests: the passes made, and the logs left ready to restart. */
void store_keeper_counts(store_keeper *k, long *passes, long *restarts);

#endif
