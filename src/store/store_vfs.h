/*
 * store_vfs: the SQLite VFS sfnd's store opens its database through (the
 * unix VFS, with a transaction's log frames written in one call at sync).
 * Internal to src/store.
 */
#ifndef STORE_VFS_H
#define STORE_VFS_H

#define STORE_VFS_NAME "sfnd-unix"

/* Registers the VFS on first call (thread-safe); returns its name for
 * sqlite3_open_v2, or NULL when SQLite has no unix VFS to build on. */
const char *store_vfs(void);

/* For tests: the writes SQLite made to logs through this VFS, and the
 * writes that reached the files. */
void store_vfs_counts(long *seen, long *made);

#endif
