/*
 * test_tmpdb.h - temporary SQLite database paths for the unit tests that
 * use files (test_store, test_sqlvfs). Include after cmocka.h.
 */
#ifndef TEST_TMPDB_H
#define TEST_TMPDB_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <sqlite3.h>

/* A path for a database file of a test's own, not created yet. */
static inline void tmp_db(char *path)
{
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
}

/* Remove the database and the files SQLite and the store keep beside it. */
static inline void unlink_db(const char *path)
{
    static const char *const sfx[] = {"", "-wal", "-shm", "-lock"};
    char p2[300];
    for (int i = 0; i < 4; i++) {
        snprintf(p2, sizeof p2, "%s%s", path, sfx[i]);
        unlink(p2);
    }
}

/* A new database at a temporary path, made by sql (a layout written by an
 * earlier version, say). */
static inline void legacy_db(char *path, const char *sql)
{
    sqlite3 *db = NULL;
    tmp_db(path);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

#endif
