/*
 * test_store_act.c - the store's activities: insert, a taken ARN, get,
 * paging in creation order, delete (twice), and that a rolled back insert
 * leaves nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

static int collect(void *ctx, const store_act *a)
{
    char *buf = ctx;
    strcat(buf, a->name);
    strcat(buf, ";");
    return 0;
}

static void test_act_rows(void **state)
{
    (void)state;
    store *s = NULL;
    char err[256];
    assert_int_equal(store_open(":memory:", 1, &s, err, sizeof err), STORE_OK);
    char arn[64], name[8];
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof name, "a%d", i);
        snprintf(arn, sizeof arn, "arn:act:%s", name);
        store_act a = {.arn = arn, .name = name, .created_ms = 100 + i};
        assert_int_equal(store_act_put(s, &a), STORE_OK);
    }
    store_act dup = {.arn = "arn:act:a0", .name = "a0", .created_ms = 1};
    assert_int_equal(store_act_put(s, &dup), STORE_EEXIST);
    store_act got;
    assert_int_equal(store_act_get(s, "arn:act:a0", &got), STORE_OK);
    assert_string_equal(got.name, "a0");
    assert_int_equal(got.created_ms, 100);
    store_act_cleanup(&got);
    assert_int_equal(store_act_get(s, "arn:act:a1", &got), STORE_OK);
    store_act_cleanup(&got);
    assert_int_equal(store_act_get(s, "arn:act:zz", &got), STORE_ENOENT);

    char buf[128] = "";
    int more = 0;
    assert_int_equal(store_act_list(s, 0, 2, collect, buf, &more), 0);
    assert_string_equal(buf, "a0;a1;");
    assert_int_equal(more, 1);
    buf[0] = '\0';
    assert_int_equal(store_act_list(s, 4, 2, collect, buf, &more), 0);
    assert_string_equal(buf, "a4;");
    assert_int_equal(more, 0);

    assert_int_equal(store_act_delete(s, "arn:act:a2"), STORE_OK);
    assert_int_equal(store_act_delete(s, "arn:act:a2"), STORE_OK);
    assert_int_equal(store_act_get(s, "arn:act:a2", &got), STORE_ENOENT);

    assert_int_equal(store_begin(s), STORE_OK);
    store_act tmp = {.arn = "arn:act:t", .name = "t", .created_ms = 9};
    assert_int_equal(store_act_put(s, &tmp), STORE_OK);
    store_rollback(s);
    assert_int_equal(store_act_get(s, "arn:act:t", &got), STORE_ENOENT);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_act_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
