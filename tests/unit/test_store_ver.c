/* test_store_ver.c - the tables of versions and aliases (store_ver.c):
 * versions round trip, newest first in pages, the latest, deletion; the
 * machine's revision, version counter and DELETING; a definition's
 * revision; aliases by name in pages and the alias routing to a version;
 * an execution's version and alias, removed with the execution by
 * retention; a data directory of an earlier build gains the tables and
 * keeps its rows across a reopen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "store_ver.h"
#include "test_tmpdb.h"

#define SM "arn:aws:states:us-east-1:1:stateMachine:m"

static store *open_mem(void)
{
    char err[256];
    store *s = NULL;
    assert_int_equal(store_open(":memory:", 1, &s, err, sizeof err), STORE_OK);
    return s;
}

static int ver_cb(void *ctx, const store_ver *v)
{
    int64_t *out = ctx;
    for (int i = 0; i < 8; i++)
        if (out[i] == 0) {
            out[i] = v->version;
            break;
        }
    return 0;
}

static void test_versions(void **state)
{
    (void)state;
    store *s = open_mem();
    store_ver v;
    assert_int_equal(store_ver_latest(s, SM, &v), STORE_ENOENT);
    for (int i = 1; i <= 3; i++) {
        store_ver w = {.sm_arn = SM, .version = i, .def_id = 10 + i, .role_arn = "role",
                       .type = 0, .revision_id = i == 1 ? NULL : "rev",
                       .description = i == 2 ? "two" : NULL, .created_ms = 100 + i};
        assert_int_equal(store_ver_put(s, &w), STORE_OK);
    }
    store_ver dup = {.sm_arn = SM, .version = 2, .def_id = 1, .created_ms = 1};
    assert_int_equal(store_ver_put(s, &dup), STORE_EEXIST);
    assert_int_equal(store_ver_get(s, SM, 2, &v), STORE_OK);
    assert_int_equal(v.def_id, 12);
    assert_string_equal(v.description, "two");
    assert_string_equal(v.revision_id, "rev");
    store_ver_cleanup(&v);
    assert_int_equal(store_ver_get(s, SM, 1, &v), STORE_OK);
    assert_null(v.revision_id);
    assert_null(v.description);
    store_ver_cleanup(&v);
    assert_int_equal(store_ver_latest(s, SM, &v), STORE_OK);
    assert_int_equal(v.version, 3);
    store_ver_cleanup(&v);
    int64_t got[8] = {0};
    int more = 0;
    assert_int_equal(store_ver_list(s, SM, 0, 2, ver_cb, got, &more), STORE_OK);
    assert_int_equal(got[0], 3);
    assert_int_equal(got[1], 2);
    assert_int_equal(got[2], 0);
    assert_int_equal(more, 1);
    memset(got, 0, sizeof got);
    assert_int_equal(store_ver_list(s, SM, 2, 2, ver_cb, got, &more), STORE_OK);
    assert_int_equal(got[0], 1);
    assert_int_equal(more, 0);
    assert_int_equal(store_ver_delete(s, SM, 3), STORE_OK);
    assert_int_equal(store_ver_latest(s, SM, &v), STORE_OK);
    assert_int_equal(v.version, 2);
    store_ver_cleanup(&v);
    assert_int_equal(store_ver_delete_all(s, SM), STORE_OK);
    assert_int_equal(store_ver_get(s, SM, 1, &v), STORE_ENOENT);
    store_close(s);
}

static int del_cb(void *ctx, const char *arn)
{
    (void)arn;
    (*(int *)ctx)++;
    return 0;
}

static void test_smx_and_defrev(void **state)
{
    (void)state;
    store *s = open_mem();
    store_smx x;
    assert_int_equal(store_smx_get(s, SM, &x), STORE_ENOENT);
    assert_null(x.revision_id);
    store_smx w = {.revision_id = "r1", .version_seq = 4, .deleting = 1};
    assert_int_equal(store_smx_put(s, SM, &w), STORE_OK);
    store_smx w2 = {.revision_id = NULL, .version_seq = 1, .deleting = 0};
    assert_int_equal(store_smx_put(s, SM "2", &w2), STORE_OK);
    assert_int_equal(store_smx_get(s, SM, &x), STORE_OK);
    assert_string_equal(x.revision_id, "r1");
    assert_int_equal(x.version_seq, 4);
    assert_int_equal(x.deleting, 1);
    store_smx_cleanup(&x);
    int n = 0;
    assert_int_equal(store_smx_each_deleting(s, del_cb, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(store_smx_del(s, SM), STORE_OK);
    assert_int_equal(store_smx_get(s, SM, &x), STORE_ENOENT);

    char *rev, *role;
    assert_int_equal(store_defrev_get(s, 5, &rev, &role), STORE_ENOENT);
    assert_int_equal(store_defrev_put(s, 5, NULL, "role"), STORE_OK);
    assert_int_equal(store_defrev_get(s, 5, &rev, &role), STORE_OK);
    assert_null(rev);
    assert_string_equal(role, "role");
    free(role);
    store_close(s);
}

static int alias_cb(void *ctx, const store_alias *a)
{
    char *names = ctx;
    strcat(names, a->name);
    strcat(names, ",");
    return 0;
}

static void test_aliases(void **state)
{
    (void)state;
    store *s = open_mem();
    const char *names[] = {"b", "a", "c"};
    for (int i = 0; i < 3; i++) {
        char arn[128], routing[256];
        snprintf(arn, sizeof arn, SM ":%s", names[i]);
        snprintf(routing, sizeof routing,
                 "[{\"stateMachineVersionArn\":\"" SM ":%d\",\"weight\":100}]", i + 1);
        store_alias a = {.arn = arn, .sm_arn = SM, .name = (char *)names[i],
                         .routing = routing, .created_ms = 1, .updated_ms = 2};
        assert_int_equal(store_alias_put(s, &a), STORE_OK);
    }
    char got[64] = "";
    int more = 0;
    assert_int_equal(store_alias_list(s, SM, NULL, 2, alias_cb, got, &more), STORE_OK);
    assert_string_equal(got, "a,b,");
    assert_int_equal(more, 1);
    got[0] = '\0';
    assert_int_equal(store_alias_list(s, SM, "b", 2, alias_cb, got, &more), STORE_OK);
    assert_string_equal(got, "c,");
    assert_int_equal(more, 0);
    char *arn = NULL;
    assert_int_equal(store_alias_routing_to(s, SM ":2", &arn), STORE_OK);
    assert_string_equal(arn, SM ":a");
    free(arn);
    /* ":1" is a prefix of ":12": the quoted match keeps them apart */
    assert_int_equal(store_alias_routing_to(s, SM ":12", &arn), STORE_OK);
    assert_null(arn);
    store_alias a;
    assert_int_equal(store_alias_get(s, SM ":c", &a), STORE_OK);
    assert_null(a.description);
    assert_int_equal(a.updated_ms, 2);
    store_alias_cleanup(&a);
    assert_int_equal(store_alias_delete(s, SM ":c"), STORE_OK);
    assert_int_equal(store_alias_get(s, SM ":c", &a), STORE_ENOENT);
    assert_int_equal(store_alias_delete_all(s, SM), STORE_OK);
    assert_int_equal(store_alias_get(s, SM ":a", &a), STORE_ENOENT);
    store_close(s);
}

static void test_execver_and_retention(void **state)
{
    (void)state;
    store *s = open_mem();
    store_exec x = {.arn = "arn:aws:states:us-east-1:1:execution:m:e", .sm_arn = SM, .name = "e",
                    .input = "{}", .status = STORE_RUNNING, .start_ms = 1, .def_id = 1};
    assert_int_equal(store_exec_insert(s, &x), STORE_OK);
    assert_int_equal(store_execver_put(s, x.id, SM ":1", SM ":prod"), STORE_OK);
    char *va, *aa;
    assert_int_equal(store_execver_get(s, x.id, &va, &aa), STORE_OK);
    assert_string_equal(va, SM ":1");
    assert_string_equal(aa, SM ":prod");
    free(va);
    free(aa);
    assert_int_equal(store_execver_get(s, x.id + 1, &va, &aa), STORE_ENOENT);
    assert_int_equal(store_exec_set_status(s, x.id, STORE_SUCCEEDED, 5, "{}", NULL, NULL),
                     STORE_OK);
    int removed = 0;
    assert_int_equal(store_exec_expire(s, 100, 10, &removed), STORE_OK);
    assert_int_equal(removed, 1);
    assert_int_equal(store_execver_get(s, x.id, &va, &aa), STORE_ENOENT);
    store_close(s);
}

static void test_old_data_dir(void **state)
{
    (void)state;
    char path[] = "/tmp/test_store_ver_XXXXXX";
    /* an earlier build's state machine table alone */
    legacy_db(path, "CREATE TABLE state_machines(arn TEXT PRIMARY KEY, name TEXT NOT NULL,"
                    " role_arn TEXT, type INTEGER NOT NULL, def_id INTEGER NOT NULL,"
                    " created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,"
                    " from_template INTEGER NOT NULL DEFAULT 0,"
                    " deleted INTEGER NOT NULL DEFAULT 0);");
    char err[256];
    store *s = NULL;
    assert_int_equal(store_open(path, 1, &s, err, sizeof err), STORE_OK);
    store_ver w = {.sm_arn = SM, .version = 1, .def_id = 1, .created_ms = 9};
    assert_int_equal(store_ver_put(s, &w), STORE_OK);
    store_close(s);
    assert_int_equal(store_open(path, 1, &s, err, sizeof err), STORE_OK);
    store_ver v;
    assert_int_equal(store_ver_get(s, SM, 1, &v), STORE_OK);
    assert_int_equal(v.created_ms, 9);
    store_ver_cleanup(&v);
    store_close(s);
    unlink_db(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_smx_and_defrev),
        cmocka_unit_test(test_aliases),
        cmocka_unit_test(test_execver_and_retention),
        cmocka_unit_test(test_old_data_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
