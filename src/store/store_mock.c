/*
 * store_mock.c - the test case of the mock configuration an execution
 * runs (see store.h): one row in exec_mock, written in the transaction that
 * inserts the execution, read when it is rebuilt, removed with it.
 */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

int store_exec_mock_set(store *s, int64_t exec_id, const char *test_case)
{
    sqlite3_stmt *st = stmt(s, Q_MOCK_SET);
    sqlite3_bind_int64(st, 1, exec_id);
    bind_text(st, 2, test_case);
    return run_done(st);
}

int store_exec_mock_get(store *s, int64_t exec_id, char **test_case)
{
    *test_case = NULL;
    sqlite3_stmt *st = stmt(s, Q_MOCK_GET);
    sqlite3_bind_int64(st, 1, exec_id);
    int rc = sqlite3_step(st), out = STORE_OK;
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        if (t && (*test_case = strdup((const char *)t)) == NULL)
            out = STORE_EDB; /* out of memory: as a failed read */
    } else if (rc != SQLITE_DONE) {
        out = STORE_EDB;
    }
    sqlite3_reset(st);
    return out;
}
