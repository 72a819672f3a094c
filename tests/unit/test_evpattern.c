/* test_evpattern.c - EventBridge pattern matching on Step Functions
 * execution status events: exact values, nested fields, prefix,
 * anything-but, exists, numeric, arrays in the event, and the patterns
 * the matcher refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "evpattern.h"

static const char *EVENT =
    "{\"version\":\"0\",\"id\":\"x\",\"detail-type\":\"Step Functions Execution Status Change\","
    "\"source\":\"aws.states\",\"account\":\"123456789012\",\"region\":\"us-east-1\","
    "\"resources\":[\"arn:aws:states:us-east-1:123456789012:execution:A:e1\"],"
    "\"detail\":{\"executionArn\":\"arn:aws:states:us-east-1:123456789012:execution:A:e1\","
    "\"stateMachineArn\":\"arn:aws:states:us-east-1:123456789012:stateMachine:A\","
    "\"name\":\"e1\",\"status\":\"ABORTED\",\"startDate\":1700000000000,\"stopDate\":null,"
    "\"redriveCount\":0,\"output\":null}}";

static int m(const char *pattern)
{
    json_error_t je;
    json_t *p = json_loads(pattern, 0, &je);
    json_t *e = json_loads(EVENT, 0, &je);
    assert_non_null(p);
    assert_non_null(e);
    int r = evpattern_match(p, e);
    json_decref(p);
    json_decref(e);
    return r;
}

static int chk(const char *pattern)
{
    json_error_t je;
    char err[128];
    json_t *p = json_loads(pattern, 0, &je);
    assert_non_null(p);
    int r = evpattern_check(p, err, sizeof err);
    json_decref(p);
    return r;
}

static void test_exact(void **state)
{
    (void)state;
    assert_true(m("{}"));
    assert_true(m("{\"source\":[\"aws.states\"]}"));
    assert_true(m("{\"source\":[\"aws.lambda\",\"aws.states\"]}"));
    assert_false(m("{\"source\":[\"aws.lambda\"]}"));
    /* every field must match */
    assert_false(m("{\"source\":[\"aws.states\"],\"detail-type\":[\"other\"]}"));
    /* nested */
    assert_true(m("{\"detail\":{\"status\":[\"ABORTED\",\"TIMED_OUT\"]}}"));
    assert_false(m("{\"detail\":{\"status\":[\"FAILED\"]}}"));
    assert_false(m("{\"detail\":{\"nothere\":[\"x\"]}}"));
    assert_false(m("{\"nothere\":{\"status\":[\"ABORTED\"]}}"));
    /* numbers by value, null and booleans */
    assert_true(m("{\"detail\":{\"startDate\":[1700000000000.0]}}"));
    assert_true(m("{\"detail\":{\"stopDate\":[null]}}"));
    assert_false(m("{\"detail\":{\"name\":[null]}}"));
    assert_false(m("{\"detail\":{\"redriveCount\":[false]}}"));
    /* an array in the event matches if any element does */
    assert_true(m("{\"resources\":[\"arn:aws:states:us-east-1:123456789012:execution:A:e1\"]}"));
    assert_true(m("{\"resources\":[{\"prefix\":\"arn:aws:states:us-east-1:123456789012:execution:A:\"}]}"));
    assert_false(m("{\"resources\":[\"x\"]}"));
}

static void test_filters(void **state)
{
    (void)state;
    assert_true(m("{\"detail\":{\"stateMachineArn\":[{\"prefix\":\"arn:aws:states:us-east-1:\"}]}}"));
    assert_false(m("{\"detail\":{\"stateMachineArn\":[{\"prefix\":\"arn:aws:lambda\"}]}}"));
    assert_true(m("{\"detail\":{\"name\":[{\"suffix\":\"1\"}]}}"));
    assert_true(m("{\"detail\":{\"status\":[{\"equals-ignore-case\":\"aborted\"}]}}"));
    assert_true(m("{\"detail\":{\"status\":[{\"anything-but\":\"SUCCEEDED\"}]}}"));
    assert_false(m("{\"detail\":{\"status\":[{\"anything-but\":[\"ABORTED\",\"FAILED\"]}]}}"));
    assert_true(m("{\"detail\":{\"status\":[{\"anything-but\":{\"prefix\":\"SUCC\"}}]}}"));
    assert_false(m("{\"detail\":{\"status\":[{\"anything-but\":{\"prefix\":\"AB\"}}]}}"));
    /* anything-but needs the field */
    assert_false(m("{\"detail\":{\"nothere\":[{\"anything-but\":\"x\"}]}}"));
    assert_true(m("{\"detail\":{\"error\":[{\"exists\":false}]}}"));
    assert_false(m("{\"detail\":{\"error\":[{\"exists\":true}]}}"));
    assert_true(m("{\"detail\":{\"name\":[{\"exists\":true}]}}"));
    assert_true(m("{\"detail\":{\"stopDate\":[{\"exists\":true}]}}"));
    assert_true(m("{\"detail\":{\"redriveCount\":[{\"numeric\":[\">=\",0,\"<\",1]}]}}"));
    assert_false(m("{\"detail\":{\"redriveCount\":[{\"numeric\":[\">\",0]}]}}"));
    /* alternatives mix values and filters */
    assert_true(m("{\"detail\":{\"status\":[\"FAILED\",{\"prefix\":\"ABO\"}]}}"));
}

static void test_check(void **state)
{
    (void)state;
    assert_int_equal(chk("{\"detail\":{\"status\":[\"A\",{\"prefix\":\"B\"}]}}"), 0);
    assert_int_equal(chk("{\"source\":\"aws.states\"}"), -1);        /* not an array */
    assert_int_equal(chk("{\"$or\":[{\"a\":[1]},{\"b\":[2]}]}"), -1);
    assert_int_equal(chk("{\"a\":[{\"wildcard\":\"x*\"}]}"), -1);
    assert_int_equal(chk("{\"a\":[{\"prefix\":1}]}"), -1);
    assert_int_equal(chk("{\"a\":[{\"exists\":\"yes\"}]}"), -1);
    assert_int_equal(chk("{\"a\":[{\"numeric\":[\"!\",1]}]}"), -1);
    assert_int_equal(chk("[1]"), -1);
    /* a refused pattern never matches */
    assert_false(m("{\"source\":\"aws.states\"}"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
