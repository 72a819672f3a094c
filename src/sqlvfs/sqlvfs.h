/*
 * sqlvfs: an SQLite VFS that writes a transaction's write-ahead log frames
 * in one call (SQLite makes two per page). Used by sfnd's store and by the
 * functions' local bookings store. See sqlvfs.c for when the frames reach
 * the file (durability is unchanged).
 */
#ifndef SQLVFS_H
#define SQLVFS_H

#define SQLVFS_GATHER "sfn-gather"

/* Registers the VFS on first call (thread-safe; not as the default) and
 * returns its name for sqlite3_open_v2, or NULL when SQLite has no unix
 * VFS to build on (then open with the default). */
const char *sqlvfs_gather(void);

/* For tests: log writes SQLite made through this VFS, and writes that
 * reached the files, since the process started. */
void sqlvfs_gather_counts(long *seen, long *made);

#endif
