/*
 * test_sqlvfs.c - the VFS that gathers a transaction's log frames: fewer
 * writes, and nothing else changes. A commit is in the file when it returns
 * (another connection, another process, a process that dies right after all
 * see it) under synchronous=NORMAL and FULL; processes writing at once
 * leave an intact database; with exclusive locking (no shared wal-index,
 * no barrier) frames are written as they come.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "sqlvfs.h"
#include "test_tmpdb.h"

static sqlite3 *open_db(const char *path, const char *vfs, const char *pragmas)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs) != SQLITE_OK)
        return NULL;
    sqlite3_busy_timeout(db, 10000);
    if (sqlite3_exec(db, pragmas, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS t(k INTEGER PRIMARY KEY, v TEXT)", NULL,
                     NULL, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

/* Rows k in [from, from+n), each a 3000-byte value, in one transaction. */
static int insert_rows(sqlite3 *db, int from, int n)
{
    static char val[3001];
    memset(val, 'v', 3000);
    sqlite3_stmt *st = NULL;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO t(k,v) VALUES(?,?)", -1, &st, NULL) != SQLITE_OK)
        return -1;
    for (int i = from; i < from + n; i++) {
        sqlite3_bind_int(st, 1, i);
        sqlite3_bind_text(st, 2, val, 3000, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) {
            sqlite3_finalize(st);
            return -1;
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* What another connection, through SQLite's own VFS, finds on file. */
static long count_rows(const char *path, const char *where)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long n = -1;
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM t %s", where);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static void check_mode(const char *pragmas)
{
    const char *vfs = sqlvfs_gather();
    assert_non_null(vfs);
    char path[] = "/tmp/test_sqlvfs_XXXXXX";
    tmp_db(path);
    sqlite3 *db = open_db(path, vfs, pragmas);
    assert_non_null(db);

    long seen0, made0, seen1, made1;
    sqlvfs_gather_counts(&seen0, &made0);
    assert_int_equal(insert_rows(db, 0, 30), 0); /* about 30 pages, 120 KB */
    sqlvfs_gather_counts(&seen1, &made1);
    assert_true(seen1 - seen0 >= 60); /* a header and a page per frame */
    assert_true(made1 - made0 >= 1);
    assert_true(made1 - made0 <= 2); /* 120 KB: one or two writes */
    assert_int_equal(count_rows(path, ""), 30); /* in the file at the commit */

    for (int i = 0; i < 50; i++) /* small commits, each seen at once */
        assert_int_equal(insert_rows(db, 100 + i, 1), 0);
    assert_int_equal(count_rows(path, "WHERE k>=100 AND k<150"), 50);
    assert_int_equal(insert_rows(db, 1000, 500), 0);  /* 1.5 MB, more than is gathered */
    assert_int_equal(insert_rows(db, 2000, 1200), 0); /* 3.6 MB, spills before the commit */
    assert_int_equal(count_rows(path, "WHERE k>=1000"), 1700);
    sqlite3_close(db);

    /* A process that dies right after its commit, with an open one. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        sqlite3 *c = open_db(path, vfs, pragmas);
        if (c == NULL || insert_rows(c, 5000, 20) != 0)
            _exit(2);
        if (sqlite3_exec(c, "BEGIN IMMEDIATE; INSERT INTO t(k,v) VALUES(6000,'x')", NULL, NULL,
                         NULL) != SQLITE_OK)
            _exit(3);
        _exit(0); /* as if killed: no commit, no close */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(count_rows(path, "WHERE k>=5000 AND k<5020"), 20);
    assert_int_equal(count_rows(path, "WHERE k=6000"), 0);
    unlink_db(path);
}

static void test_normal(void **state)
{
    (void)state;
    check_mode("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
}

static void test_full(void **state)
{
    (void)state;
    check_mode("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
}

/* Processes committing one row at a time into the same database, as the
 * function processes do: every row there, the database intact. */
static void test_processes(void **state)
{
    (void)state;
    const char *vfs = sqlvfs_gather();
    char path[] = "/tmp/test_sqlvfs_XXXXXX";
    tmp_db(path);
    const char *pragmas = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;";
    sqlite3 *db = open_db(path, vfs, pragmas);
    assert_non_null(db);
    sqlite3_close(db);
    enum { PROCS = 3, ROWS = 300 };
    pid_t pids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            sqlite3 *c = open_db(path, vfs, pragmas);
            if (c == NULL)
                _exit(2);
            for (int i = 0; i < ROWS; i++)
                if (insert_rows(c, p * 10000 + i, 1) != 0)
                    _exit(3);
            if (sqlite3_wal_checkpoint_v2(c, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL) !=
                    SQLITE_OK &&
                sqlite3_errcode(c) != SQLITE_BUSY)
                _exit(4);
            sqlite3_close(c);
            _exit(0);
        }
    }
    for (int p = 0; p < PROCS; p++) {
        int status = 0;
        assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    assert_int_equal(count_rows(path, ""), PROCS * ROWS);
    sqlite3 *chk = NULL;
    assert_int_equal(sqlite3_open_v2(path, &chk, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(chk, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    sqlite3_close(chk);
    unlink_db(path);
}

/* Exclusive locking keeps the wal-index in heap memory: no barrier would
 * flush gathered frames, so none are gathered. */
static void test_exclusive_writes_through(void **state)
{
    (void)state;
    const char *vfs = sqlvfs_gather();
    char path[] = "/tmp/test_sqlvfs_XXXXXX";
    tmp_db(path);
    sqlite3 *db = open_db(path, vfs,
                          "PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL;"
                          " PRAGMA synchronous=NORMAL;");
    assert_non_null(db);
    long seen0, made0, seen1, made1;
    sqlvfs_gather_counts(&seen0, &made0);
    assert_int_equal(insert_rows(db, 0, 20), 0);
    sqlvfs_gather_counts(&seen1, &made1);
    assert_true(seen1 - seen0 >= 40);
    assert_int_equal(made1 - made0, seen1 - seen0);
    sqlite3_close(db);
    assert_int_equal(count_rows(path, ""), 20);
    unlink_db(path);
}

/* A full disk under synchronous=NORMAL: nothing syncs after the frames,
 * so a write left for the wal-index barrier could not report it and the
 * commit would "succeed" with its frames nowhere. The frames' space is
 * reserved as they are written instead: the commit fails, rolls back, and
 * the database is whole; with room again it goes on. (The full disk is
 * SFN_TEST_FULL_FLAG, set in main before the VFS is registered.) */
static void test_full_disk_normal(void **state)
{
    (void)state;
    const char *flag = getenv("SFN_TEST_FULL_FLAG");
    const char *vfs = sqlvfs_gather();
    assert_non_null(vfs);
    char path[] = "/tmp/test_sqlvfs_XXXXXX";
    tmp_db(path);
    sqlite3 *db = open_db(path, vfs, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
    assert_non_null(db);
    assert_int_equal(insert_rows(db, 0, 5), 0);
    FILE *f = fopen(flag, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(insert_rows(db, 10, 5), -1); /* refused, not lost later */
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    unlink(flag);
    assert_int_equal(count_rows(path, ""), 5);
    assert_int_equal(insert_rows(db, 20, 5), 0);
    sqlite3_close(db);
    assert_int_equal(count_rows(path, ""), 10);
    assert_int_equal(count_rows(path, "WHERE k>=10 AND k<15"), 0);
    unlink_db(path);
}

int main(void)
{
    static char flag[64];
    snprintf(flag, sizeof flag, "/tmp/test_sqlvfs_full_%ld", (long)getpid());
    setenv("SFN_TEST_FULL_FLAG", flag, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_disk_normal),
        cmocka_unit_test(test_normal),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_processes),
        cmocka_unit_test(test_exclusive_writes_through),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
