/* test_verarn.c - state machine ARN qualifiers (machine, version, alias,
 * and what is neither), AWS's alias name rule, and the routing choice by
 * weight (bounds, and the split of a uniform stream). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "rnd.h"
#include "verarn.h"

#define SM "arn:aws:states:us-east-1:123456789012:stateMachine:Trip"

static void test_parse_machine(void **state)
{
    (void)state;
    ver_arn v;
    assert_int_equal(ver_arn_parse(SM, &v), 0);
    assert_int_equal(v.kind, VER_ARN_MACHINE);
    assert_int_equal(v.base_len, strlen(SM));
    assert_string_equal(v.qual, "");
}

static void test_parse_version(void **state)
{
    (void)state;
    ver_arn v;
    assert_int_equal(ver_arn_parse(SM ":3", &v), 0);
    assert_int_equal(v.kind, VER_ARN_VERSION);
    assert_int_equal(v.version, 3);
    assert_int_equal(v.base_len, strlen(SM));
    assert_int_equal(ver_arn_parse(SM ":120", &v), 0);
    assert_int_equal(v.version, 120);
    /* no version 0, no leading zero, no empty qualifier */
    assert_int_equal(ver_arn_parse(SM ":0", &v), -1);
    assert_int_equal(ver_arn_parse(SM ":01", &v), -1);
    assert_int_equal(ver_arn_parse(SM ":", &v), -1);
    assert_int_equal(ver_arn_parse(SM ":99999999999999999999", &v), -1);
}

static void test_parse_alias(void **state)
{
    (void)state;
    ver_arn v;
    assert_int_equal(ver_arn_parse(SM ":prod", &v), 0);
    assert_int_equal(v.kind, VER_ARN_ALIAS);
    assert_string_equal(v.qual, "prod");
    assert_int_equal(v.base_len, strlen(SM));
    assert_int_equal(ver_arn_parse(SM ":v1.2-beta_3", &v), 0);
    assert_int_equal(v.kind, VER_ARN_ALIAS);
    assert_int_equal(ver_arn_parse(SM ":bad alias", &v), -1);
    assert_int_equal(ver_arn_parse(SM ":a:b", &v), -1);
}

static void test_parse_not_machine(void **state)
{
    (void)state;
    ver_arn v;
    assert_int_equal(ver_arn_parse("invalid_arn", &v), -1);
    assert_int_equal(
        ver_arn_parse("arn:aws:states:us-east-1:123456789012:execution:Trip:e1", &v), -1);
    assert_int_equal(ver_arn_parse("arn:aws:states:us-east-1:123456789012:stateMachine:", &v),
                     -1);
    assert_int_equal(ver_arn_parse("arn:aws:lambda:us-east-1:123456789012:stateMachine:X", &v),
                     -1);
}

static void test_alias_names(void **state)
{
    (void)state;
    assert_true(ver_alias_name_valid("prod"));
    assert_true(ver_alias_name_valid("AliasName-u0000002"));
    assert_true(ver_alias_name_valid("1a"));
    assert_true(ver_alias_name_valid("."));
    assert_false(ver_alias_name_valid("123"));
    assert_false(ver_alias_name_valid("INVALID ALIAS"));
    assert_false(ver_alias_name_valid("!INVALID"));
    assert_false(ver_alias_name_valid("ALIAS@"));
    assert_false(ver_alias_name_valid(""));
}

static void test_pick_bounds(void **state)
{
    (void)state;
    int one[] = {100};
    assert_int_equal(ver_pick(one, 1, 0.0), 0);
    assert_int_equal(ver_pick(one, 1, 0.999999), 0);
    int two[] = {70, 30};
    assert_int_equal(ver_pick(two, 2, 0.0), 0);
    assert_int_equal(ver_pick(two, 2, 0.6999), 0);
    assert_int_equal(ver_pick(two, 2, 0.70), 1);
    assert_int_equal(ver_pick(two, 2, 0.99999999), 1);
    int zero_first[] = {0, 100};
    assert_int_equal(ver_pick(zero_first, 2, 0.0), 1);
    int zero_last[] = {100, 0};
    assert_int_equal(ver_pick(zero_last, 2, 0.9999999), 0);
    assert_int_equal(ver_pick(one, 0, 0.5), -1);
}

static void test_pick_split(void **state)
{
    (void)state;
    sfn_rng r = {.s = 42};
    int w[] = {80, 20};
    int n[2] = {0, 0};
    for (int i = 0; i < 10000; i++)
        n[ver_pick(w, 2, sfn_rng_double(&r))]++;
    /* 8000 expected; 4 standard deviations is 160 */
    assert_in_range(n[0], 7840, 8160);
    assert_int_equal(n[0] + n[1], 10000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_machine), cmocka_unit_test(test_parse_version),
        cmocka_unit_test(test_parse_alias),   cmocka_unit_test(test_parse_not_machine),
        cmocka_unit_test(test_alias_names),   cmocka_unit_test(test_pick_bounds),
        cmocka_unit_test(test_pick_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
