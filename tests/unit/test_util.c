/*
 * test_util.c - the shared basics of src/util: the hash map, the random
 * stream, UUID text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arn.h"
#include "b64.h"
#include "md5.h"
#include "booking.h"
#include "hmap.h"
#include "lrt.h"
#include "sfn_err.h"
#include "rnd.h"

static void test_hmap(void **state)
{
    (void)state;
    hmap m = {0};
    char key[32];
    static int vals[1000];
    for (int i = 0; i < 1000; i++) { /* past several doublings */
        snprintf(key, sizeof key, "k%d", i);
        vals[i] = i;
        assert_int_equal(hmap_put(&m, key, &vals[i]), 0);
    }
    assert_int_equal(m.n, 1000);
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        int *v = hmap_get(&m, key);
        assert_non_null(v);
        assert_int_equal(*v, i);
    }
    assert_null(hmap_get(&m, "nope"));
    assert_ptr_equal(hmap_del(&m, "k7"), &vals[7]);
    assert_null(hmap_get(&m, "k7"));
    assert_null(hmap_del(&m, "k7"));
    assert_int_equal(m.n, 999);
    hmap_cleanup(&m, NULL);
    assert_int_equal(m.n, 0);
    assert_null(hmap_get(&m, "k1"));
    /* FNV-1a, 64 bits */
    assert_true(hmap_hash("") == 14695981039346656037ULL);
    assert_true(hmap_hash("a") == 0xaf63dc4c8601ec8cULL);
}

static void test_rng(void **state)
{
    (void)state;
    /* splitmix64's reference stream from seed 0 */
    sfn_rng r = {0};
    assert_true(sfn_rng_next(&r) == 0xe220a8397b1dcdafULL);
    assert_true(sfn_rng_next(&r) == 0x6e789e6aa1b965f4ULL);
    sfn_rng a = {42}, b = {42};
    for (int i = 0; i < 100; i++) {
        double d = sfn_rng_double(&a);
        assert_true(d >= 0.0 && d < 1.0);
        assert_true(d == sfn_rng_double(&b)); /* a replay draws the same */
    }
    assert_true(sfn_rng_seed() != sfn_rng_seed());
}

static void test_uuids(void **state)
{
    (void)state;
    char u[37];
    sfn_uuid_text(0x0123456789abcdefULL, 0xfedcba9876543210ULL, u);
    assert_string_equal(u, "01234567-89ab-cdef-fedc-ba9876543210");
    sfn_rng r = {7};
    for (int i = 0; i < 50; i++) {
        sfn_uuid4(&r, u);
        assert_int_equal(strlen(u), 36);
        assert_int_equal(u[14], '4');
        assert_non_null(strchr("89ab", u[19]));
    }
    sfn_uuid7(&r, 0x0123456789abULL, u);
    assert_memory_equal(u, "01234567-89ab-7", 15);
    assert_non_null(strchr("89ab", u[19]));
}

/* RFC 1321's test suite, and the lengths around a block's padding edge */
static void test_md5(void **state)
{
    (void)state;
    char hex[33];
    sfn_md5_hex("", 0, hex);
    assert_string_equal(hex, "d41d8cd98f00b204e9800998ecf8427e");
    sfn_md5_hex("abc", 3, hex);
    assert_string_equal(hex, "900150983cd24fb0d6963f7d28e17f72");
    const char *d = "12345678901234567890123456789012345678901234567890123456789012345678901234567890";
    sfn_md5_hex(d, strlen(d), hex);
    assert_string_equal(hex, "57edf4a22be3c955ac49da2e2107b67a");
    char a[56];
    memset(a, 'a', sizeof a);
    sfn_md5_hex(a, 56, hex);
    assert_string_equal(hex, "3b0c8ac703f828b04c6c197006d17218");
}

static void test_b64(void **state)
{
    (void)state;
    static const char *const v[][2] = {{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
                                       {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
                                       {"foobar", "Zm9vYmFy"}}; /* RFC 4648, section 10 */
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        size_t n;
        char *e = sfn_b64_encode((const unsigned char *)v[i][0], strlen(v[i][0]), &n);
        assert_string_equal(e, v[i][1]);
        assert_int_equal(n, strlen(v[i][1]));
        free(e);
        unsigned char *d = sfn_b64_decode(v[i][1], strlen(v[i][1]), SFN_B64_STRICT, &n);
        assert_non_null(d);
        assert_int_equal(n, strlen(v[i][0]));
        assert_memory_equal(d, v[i][0], n);
        free(d);
    }
    size_t n;
    assert_null(sfn_b64_decode("Zm9", 3, SFN_B64_STRICT, &n));      /* length */
    assert_null(sfn_b64_decode("Zg==Zg==", 8, SFN_B64_STRICT, &n)); /* padding inside */
    assert_null(sfn_b64_decode("Zm9v!A==", 8, SFN_B64_STRICT, &n)); /* outside the alphabet */
    unsigned char *d = sfn_b64_decode(" Zm9\nv YmE", 11, SFN_B64_LENIENT, &n);
    assert_non_null(d);
    assert_int_equal(n, 5);
    assert_memory_equal(d, "fooba", 5);
    free(d);
}

/* The codes of the parts built standalone for SAM (lrt, the functions'
 * booking store) are the table's values. */
_Static_assert(LRT_OK == SFN_E_OK && LRT_EINVAL == SFN_E_INVAL && LRT_ENOMEM == SFN_E_NOMEM &&
                   LRT_EIO == SFN_E_IO && LRT_EAPI == SFN_E_PROTO && LRT_ETOOBIG == SFN_E_FBIG,
               "lrt's codes");
_Static_assert(BOOKING_OK == SFN_E_OK && BOOKING_ENOENT == SFN_E_NOENT &&
                   BOOKING_EIO == SFN_E_IO && BOOKING_ENOMEM == SFN_E_NOMEM &&
                   BOOKING_ECONFLICT == SFN_E_CONFLICT && BOOKING_EINVAL == SFN_E_INVAL &&
                   BOOKING_ECANCELLED == SFN_E_CANCELLED,
               "the booking store's codes");

static void test_arns(void **state)
{
    (void)state;
    char b[256];
    assert_int_equal(sfn_arn_states(b, sizeof b, "eu-west-1", "123456789012", "stateMachine", "Trip"),
                     (int)strlen("arn:aws:states:eu-west-1:123456789012:stateMachine:Trip"));
    assert_string_equal(b, "arn:aws:states:eu-west-1:123456789012:stateMachine:Trip");
    char small[10];
    assert_int_equal(sfn_arn_states(small, sizeof small, "eu-west-1", "1", "activity", "A"), -1);

    char *x = sfn_arn_execution(b, "run-1", NULL);
    assert_string_equal(x, "arn:aws:states:eu-west-1:123456789012:execution:Trip:run-1");
    char m[256];
    assert_true(sfn_arn_machine_of(x, m, sizeof m) > 0);
    assert_string_equal(m, b);
    assert_int_equal(sfn_arn_machine_of(x, m, 20), -1);
    free(x);
    /* a version or alias qualifier is not part of the execution's ARN */
    x = sfn_arn_execution("arn:aws:states:r:1:stateMachine:Trip:prod", "e", NULL);
    assert_string_equal(x, "arn:aws:states:r:1:execution:Trip:e");
    free(x);
    x = sfn_arn_execution("arn:aws:states:r:1:stateMachine:Fast", "e", "0f0e");
    assert_string_equal(x, "arn:aws:states:r:1:express:Fast:e:0f0e");
    assert_true(sfn_arn_machine_of(x, m, sizeof m) > 0);
    assert_string_equal(m, "arn:aws:states:r:1:stateMachine:Fast");
    free(x);
    assert_null(sfn_arn_execution("arn:aws:states:r:1:activity:A", "e", NULL));
    assert_int_equal(sfn_arn_machine_of("arn:aws:states:r:1:stateMachine:Trip", m, sizeof m), -1);
    assert_int_equal(sfn_arn_machine_of("arn:aws:states:r:1:execution:Trip", m, sizeof m), -1);
    assert_int_equal(sfn_arn_machine_of("arn:aws:states:r:1:execution::x", m, sizeof m), -1);
}

static void test_errors(void **state)
{
    (void)state;
    assert_string_equal(sfn_errname(SFN_E_NOMEM), "ENOMEM");
    assert_string_equal(sfn_strerror(SFN_E_UNAVAIL), "the store takes no writes now; retry later");
    assert_string_equal(sfn_errname(-9999), "E?");
    assert_string_equal(sfn_strerror(-9999), "unknown error");
    /* every entry has a name and a message, no value twice */
#define CHECK_(name, value, shortname, msg)                                                        \
    assert_true(sfn_errname(value)[0] == 'E' || (value) == 0);                                     \
    assert_string_equal(sfn_strerror(value), msg);
    SFN_ERROR_TABLE(CHECK_)
#undef CHECK_
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hmap),
        cmocka_unit_test(test_rng),
        cmocka_unit_test(test_uuids),
        cmocka_unit_test(test_b64),
        cmocka_unit_test(test_md5),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_arns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
