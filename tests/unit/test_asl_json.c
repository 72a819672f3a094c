/* test_asl_json.c - the JSON text writer's string escaping: the eight-
 * bytes-at-a-time path must escape exactly what the byte loop does, at
 * every position and length, and the output must parse back (jansson) to
 * the same string. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asl_json.h"

/* The escaping rule, one byte at a time, for ASCII input. */
static size_t reference(const char *s, size_t n, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    char *o = out;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *o++ = (char)c;
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\b': *o++ = 'b'; break;
        case '\t': *o++ = 't'; break;
        case '\n': *o++ = 'n'; break;
        case '\f': *o++ = 'f'; break;
        case '\r': *o++ = 'r'; break;
        default:
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o++ = '"';
    return (size_t)(o - out);
}

/* Every special ASCII byte at every offset of strings of length 1..40,
 * in plain text that is otherwise copied 8 bytes at a time. */
static void test_escape_positions(void **state)
{
    (void)state;
    static const char specials[] = {'"', '\\', '\n', '\t', 0x01, 0x1f, 0x7f, ' ', '~', '\0'};
    char in[64], want[64 * 6 + 2];
    for (size_t len = 1; len <= 40; len++) {
        for (size_t at = 0; at < len; at++) {
            for (size_t k = 0; k < sizeof specials; k++) {
                for (size_t i = 0; i < len; i++)
                    in[i] = (char)('a' + (i % 26));
                in[at] = specials[k];
                asl_jbuf b = {0};
                asl_jbuf_str(&b, in, len);
                size_t wn = reference(in, len, want);
                assert_int_equal(b.n, wn);
                assert_memory_equal(b.p, want, wn);
                json_error_t e;
                json_t *j = json_loadb(b.p, b.n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
                assert_non_null(j);
                assert_int_equal(json_string_length(j), len);
                assert_memory_equal(json_string_value(j), in, len);
                json_decref(j);
                asl_jbuf_cleanup(&b);
            }
        }
    }
}

/* UTF-8 after a run of plain bytes is copied; a broken sequence becomes
 * U+FFFD; both at chunk boundaries. */
static void test_escape_utf8(void **state)
{
    (void)state;
    asl_jbuf b = {0};
    asl_jbuf_str(&b, "abcdefg\xc3\xa9hijklmnop", 18);
    assert_string_equal(b.p, "\"abcdefg\xc3\xa9hijklmnop\"");
    asl_jbuf_reset(&b);
    asl_jbuf_str(&b, "abcdefgh\xffijklmnop", 17);
    assert_string_equal(b.p, "\"abcdefgh\xef\xbf\xbdijklmnop\"");
    asl_jbuf_cleanup(&b);
}

/* Random printable/control text round-trips through jansson. */
static void test_escape_random(void **state)
{
    (void)state;
    unsigned seed = 12345;
    char in[300];
    for (int round = 0; round < 2000; round++) {
        size_t len = (size_t)(rand_r(&seed) % 300);
        for (size_t i = 0; i < len; i++) {
            int r = rand_r(&seed) % 100;
            in[i] = r < 3 ? (char)(rand_r(&seed) % 0x20) : r < 8 ? '"' : r < 10 ? '\\'
                                                                  : (char)(0x20 + rand_r(&seed) % 0x5f);
        }
        asl_jbuf b = {0};
        asl_jbuf_str(&b, in, len);
        json_t *j = json_loadb(b.p, b.n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        assert_non_null(j);
        assert_int_equal(json_string_length(j), len);
        assert_memory_equal(json_string_value(j), in, len);
        json_decref(j);
        asl_jbuf_cleanup(&b);
    }
}

/* Milliseconds as seconds: the direct digits are what the general
 * shortest-digits writer gives, across the range and at its edges. */
static void test_ms_seconds(void **state)
{
    (void)state;
    int64_t edge[] = {0, 1, 999, 1000, 1700000000000LL, 1795754979042LL, 1795754979000LL,
                      1999999999999LL, 1000000000000LL, 999999999999LL, 9999999999999LL,
                      10000000000000LL, 1234567890120LL, -1795754979042LL};
    unsigned seed = 7;
    for (int i = 0; i < 200000 + (int)(sizeof edge / sizeof *edge); i++) {
        int64_t ms = i < (int)(sizeof edge / sizeof *edge)
                         ? edge[i]
                         : 1000000000000LL + ((int64_t)rand_r(&seed) << 16 ^ rand_r(&seed)) %
                                                 9000000000000LL;
        asl_jbuf a = {0}, b = {0};
        asl_jbuf_ms_seconds(&a, ms);
        asl_jbuf_real(&b, (double)ms / 1000.0);
        assert_string_equal(a.p, b.p);
        asl_jbuf_cleanup(&a);
        asl_jbuf_cleanup(&b);
    }
}

/* Doubles as Java's Double.toString writes them (AWS's Jackson). */
static void test_real_forms(void **state)
{
    (void)state;
    static const struct {
        double d;
        const char *want;
    } cases[] = {{1e-5, "1.0E-5"},     {1.5e10, "1.5E10"}, {1.23e22, "1.23E22"},
                 {-2.5e-7, "-2.5E-7"}, {0.001, "0.001"},   {1234567.0, "1234567.0"},
                 {1e7, "1.0E7"},       {0.5, "0.5"},       {1.795754979042e9, "1.795754979042E9"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        asl_jbuf b = {0};
        asl_jbuf_real(&b, cases[i].d);
        assert_string_equal(b.p, cases[i].want);
        asl_jbuf_cleanup(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_positions),
        cmocka_unit_test(test_escape_utf8),
        cmocka_unit_test(test_escape_random),
        cmocka_unit_test(test_ms_seconds),
        cmocka_unit_test(test_real_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
