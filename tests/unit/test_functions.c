/*
 * test_functions.c - the six handlers, called directly, on a SQLite store
 * in a temp dir: the seed's event, failure injection, input checks, the
 * late booking after its cancel, and cancel retries counted in the store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "saga_fn.h"

static const char *SEED =
    "{\"tripId\": \"5c12d94a-ee6a-40d9-889b-1d49142248b7\", \"depart\": \"London\","
    " \"departAt\": \"2017-07-10T06:00:00.000Z\", \"arrive\": \"Dublin\","
    " \"arriveAt\": \"2017-07-12T08:00:00.000Z\", \"hotel\": \"holiday inn\","
    " \"checkIn\": \"2017-07-10T12:00:00.000Z\", \"checkOut\": \"2017-07-12T14:00:00.000Z\","
    " \"car\": \"Volvo\", \"carFrom\": \"2017-07-10T00:00:00.000Z\","
    " \"carTo\": \"2017-07-12T00:00:00.000Z\"}";

static char tmpdir[256];
static booking_store *store;
static const lrt_context ctx = {"req-1", 0, "arn:aws:lambda:us-east-1:123456789012:function:f",
                                "", "", "", ""};

static lrt_handler books[3] = {book_hotel_handler, book_flight_handler, book_car_handler};
static lrt_handler cancels[3] = {cancel_hotel_handler, cancel_flight_handler, cancel_car_handler};

static int setup(void **state)
{
    (void)state;
    booking_err err = {{0}, {0}};
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_functions.XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    /* through the environment, as a bootstrap opens it */
    setenv("SFN_LOCAL_STORE_DIR", tmpdir, 1);
    setenv("BOOKINGS_TABLE", "Bookings", 1);
    void *user = NULL;
    lrt_error lerr;
    if (saga_fn_init(&user, &lerr) < 0)
        return -1;
    store = user;
    (void)err;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    saga_fn_cleanup(store);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The seed event with a trip id of our own and extra fields (JSON text). */
static json_t *event(const char *trip, const char *extra_json)
{
    json_t *e = json_loads(SEED, 0, NULL);
    assert_non_null(e);
    json_object_set_new(e, "tripId", json_string(trip));
    if (extra_json) {
        json_t *x = json_loads(extra_json, 0, NULL);
        assert_non_null(x);
        json_object_update(e, x);
        json_decref(x);
    }
    return e;
}

static const char *status_of(const char *trip, booking_kind k)
{
    static char buf[32];
    json_t *rec = NULL;
    booking_err err = {{0}, {0}};
    int rc = booking_get(store, trip, k, &rec, &err);
    if (rc == BOOKING_ENOENT)
        return "ABSENT";
    assert_int_equal(rc, BOOKING_OK);
    const char *s = json_string_value(json_object_get(rec, "status"));
    snprintf(buf, sizeof buf, "%s", s ? s : "NONE");
    json_decref(rec);
    return buf;
}

static json_t *call(lrt_handler h, const json_t *ev, lrt_error *err)
{
    memset(err, 0, sizeof *err);
    return h(ev, &ctx, err, store);
}

static void test_seed_books_everything(void **state)
{
    (void)state;
    lrt_error err;
    json_t *ev = json_loads(SEED, 0, NULL);
    for (int k = 0; k < 3; k++) {
        json_t *r = call(books[k], ev, &err);
        assert_non_null(r);
        assert_string_equal(json_string_value(json_object_get(r, "status")), "BOOKED");
        assert_string_equal(json_string_value(json_object_get(r, "kind")),
                            booking_kind_name((booking_kind)k));
        assert_string_equal(json_string_value(json_object_get(r, "outcome")), "BOOKED");
        /* the output leaves out what the caller knows: its trip and itself */
        assert_null(json_object_get(r, "tripId"));
        assert_null(json_object_get(r, "owner"));
        assert_null(json_object_get(r, "cancelledAt"));
        assert_string_equal(status_of("5c12d94a-ee6a-40d9-889b-1d49142248b7", (booking_kind)k), "BOOKED");
        /* idempotent: the retry returns the same booking */
        json_t *again = call(books[k], ev, &err);
        assert_non_null(again);
        assert_true(json_equal(json_object_get(r, "bookedAt"), json_object_get(again, "bookedAt")));
        json_decref(again);
        json_decref(r);
    }
    json_t *r = call(book_flight_handler, ev, &err);
    json_t *d = json_object_get(r, "details");
    assert_string_equal(json_string_value(json_object_get(d, "depart")), "London");
    assert_string_equal(json_string_value(json_object_get(d, "arriveAt")), "2017-07-12T08:00:00.000Z");
    assert_null(json_object_get(d, "hotel"));
    json_decref(r);
    json_decref(ev);
}

static void test_injected_book_failure_books_nothing(void **state)
{
    (void)state;
    lrt_error err;
    const char *flags[3] = {"{\"failBookHotel\": true}", "{\"failBookFlight\": true}",
                            "{\"failBookCar\": true}"};
    for (int k = 0; k < 3; k++) {
        char trip[32];
        snprintf(trip, sizeof trip, "fail-book-%d", k);
        json_t *ev = event(trip, flags[k]);
        assert_null(call(books[k], ev, &err));
        assert_string_equal(err.type, "BookingFailed");
        assert_non_null(strstr(err.message, trip));
        assert_string_equal(status_of(trip, (booking_kind)k), "ABSENT");
        /* the other kinds ignore this flag */
        json_t *r = call(books[(k + 1) % 3], ev, &err);
        assert_non_null(r);
        json_decref(r);
        json_decref(ev);
    }
    /* false is not a failure */
    json_t *ev = event("fail-book-false", "{\"failBookFlight\": false}");
    json_t *r = call(book_flight_handler, ev, &err);
    assert_non_null(r);
    json_decref(r);
    json_decref(ev);
}

static void test_invalid_trip(void **state)
{
    (void)state;
    lrt_error err;
    struct { lrt_handler h; const char *trip; const char *extra; const char *needle; } cases[] = {
        {book_hotel_handler, "bad-1", "{\"hotel\": 3}", "'hotel'"},
        {book_hotel_handler, "bad-2", "{\"checkIn\": \"tomorrow\"}", "ISO-8601"},
        {book_hotel_handler, "bad-3", "{\"checkOut\": \"2017-07-09T00:00:00Z\"}", "before"},
        {book_flight_handler, "bad-4", "{\"arrive\": \"\"}", "'arrive'"},
        {book_flight_handler, "bad-5", "{\"departAt\": \"2017-13-10T06:00:00.000Z\"}", "ISO-8601"},
        {book_car_handler, "bad-6", "{\"carTo\": \"2017-07-12T00:00:00.000+25:00\"}", "ISO-8601"},
        {book_car_handler, "bad-7", "{\"tripId\": 42}", "tripId"},
        {book_car_handler, "bad-8", "{\"tripId\": \"\"}", "tripId"},
        {book_car_handler, "bad-9", "{\"failBookCar\": true, \"car\": null}", "'car'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *ev = event(cases[i].trip, cases[i].extra);
        assert_null(call(cases[i].h, ev, &err));
        assert_string_equal(err.type, "InvalidTrip");
        if (!strstr(err.message, cases[i].needle))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.message, cases[i].needle);
        for (int k = 0; k < 3; k++)
            assert_string_equal(status_of(cases[i].trip, (booking_kind)k), "ABSENT");
        json_decref(ev);
    }
    /* offsets are fine when the interval holds */
    json_t *ev = event("ok-offset", "{\"carFrom\": \"2017-07-10T01:00:00+02:00\","
                                    " \"carTo\": \"2017-07-09T23:30:00Z\"}");
    json_t *r = call(book_car_handler, ev, &err);
    assert_non_null(r);
    json_decref(r);
    json_decref(ev);
    /* not an object */
    json_t *arr = json_array();
    assert_null(call(book_hotel_handler, arr, &err));
    assert_string_equal(err.type, "InvalidTrip");
    /* a cancel has nothing to undo without a trip id: it succeeds */
    r = call(cancel_hotel_handler, arr, &err);
    assert_non_null(r);
    assert_string_equal(json_string_value(json_object_get(r, "status")), "NOTHING_TO_CANCEL");
    json_decref(r);
    json_decref(arr);
}

static void test_cancel_after_book_and_idempotent(void **state)
{
    (void)state;
    lrt_error err;
    json_t *ev = event("cancel-1", NULL);
    for (int k = 0; k < 3; k++) {
        json_t *r = call(books[k], ev, &err);
        assert_non_null(r);
        json_decref(r);
    }
    for (int k = 2; k >= 0; k--) {
        for (int again = 0; again < 2; again++) {
            json_t *r = call(cancels[k], ev, &err);
            assert_non_null(r);
            assert_string_equal(json_string_value(json_object_get(r, "status")), "CANCELLED");
            assert_string_equal(json_string_value(json_object_get(r, "kind")),
                                booking_kind_name((booking_kind)k));
            json_decref(r);
        }
        assert_string_equal(status_of("cancel-1", (booking_kind)k), "CANCELLED");
    }
    json_decref(ev);
}

static void test_late_booking_after_cancel(void **state)
{
    (void)state;
    lrt_error err;
    /* the compensation runs first (the booking timed out in the state
     * machine), and the original booking lands afterwards */
    json_t *ev = event("late-1", NULL);
    json_t *r = call(cancel_flight_handler, ev, &err);
    assert_non_null(r);
    assert_string_equal(json_string_value(json_object_get(r, "status")), "CANCELLED");
    json_decref(r);
    assert_null(call(book_flight_handler, ev, &err));
    assert_string_equal(err.type, "BookingCancelled");
    assert_string_equal(status_of("late-1", BOOKING_FLIGHT), "CANCELLED");
    /* other kinds of the same trip are unaffected */
    r = call(book_hotel_handler, ev, &err);
    assert_non_null(r);
    json_decref(r);
    json_decref(ev);
}

static void test_cancel_fails_n_times_then_succeeds(void **state)
{
    (void)state;
    lrt_error err;
    json_t *ev = event("retry-1", "{\"failCancelHotel\": 2}");
    json_t *r = call(book_hotel_handler, ev, &err);
    json_decref(r);
    for (int attempt = 1; attempt <= 2; attempt++) {
        assert_null(call(cancel_hotel_handler, ev, &err));
        assert_string_equal(err.type, "CancelFailed");
        assert_non_null(strstr(err.message, attempt == 1 ? "attempt 1 of 2" : "attempt 2 of 2"));
        assert_string_equal(status_of("retry-1", BOOKING_HOTEL), "BOOKED");
        /* each attempt may be a fresh process: reopen the store */
        saga_fn_cleanup(store);
        void *user = NULL;
        assert_int_equal(saga_fn_init(&user, &err), 0);
        store = user;
    }
    r = call(cancel_hotel_handler, ev, &err);
    assert_non_null(r);
    assert_string_equal(json_string_value(json_object_get(r, "status")), "CANCELLED");
    assert_int_equal(json_integer_value(json_object_get(r, "cancelAttempts")), 3);
    json_decref(r);
    /* the flag only concerns the hotel */
    r = call(cancel_flight_handler, ev, &err);
    assert_non_null(r);
    json_decref(r);
    json_decref(ev);

    /* true: every attempt fails, nothing is cancelled */
    ev = event("retry-2", "{\"failCancelCar\": true}");
    r = call(book_car_handler, ev, &err);
    json_decref(r);
    for (int i = 0; i < 4; i++) {
        assert_null(call(cancel_car_handler, ev, &err));
        assert_string_equal(err.type, "CancelFailed");
    }
    assert_string_equal(status_of("retry-2", BOOKING_CAR), "BOOKED");
    json_decref(ev);
}

/* The saga's shape: {"trip", "executionId", "redriveCount"}. */
static json_t *saga_event(const char *trip, const char *extra_json, const char *exec, int redrive)
{
    json_t *t = event(trip, extra_json);
    json_t *e = json_pack("{s:o, s:s, s:i}", "trip", t, "executionId", exec, "redriveCount", redrive);
    assert_non_null(e);
    return e;
}

#define EXEC_A "arn:aws:states:us-east-1:123456789012:execution:TripSagaStateMachine:a"
#define EXEC_B "arn:aws:states:us-east-1:123456789012:execution:TripSagaStateMachine:b"

static const char *str_of(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "(none)";
}

/* Bookings belong to the execution that made them: another execution of
 * the same trip is refused (BookingConflict) and its cancel leaves them
 * alone (outcome NOT_OWNER). */
static void test_bookings_owned_by_execution(void **state)
{
    (void)state;
    lrt_error err;
    json_t *a = saga_event("own-1", NULL, EXEC_A, 0);
    json_t *b = saga_event("own-1", "{\"hotel\": \"elsewhere\"}", EXEC_B, 0);
    json_t *r = call(book_hotel_handler, a, &err);
    assert_non_null(r);
    assert_string_equal(str_of(r, "outcome"), "BOOKED");
    json_decref(r);
    json_t *rec = NULL;
    booking_err be = {{0}, {0}};
    assert_int_equal(booking_get(store, "own-1", BOOKING_HOTEL, &rec, &be), BOOKING_OK);
    assert_string_equal(str_of(rec, "owner"), EXEC_A);
    json_decref(rec);
    r = call(book_hotel_handler, a, &err);
    assert_string_equal(str_of(r, "outcome"), "ALREADY_BOOKED");
    json_decref(r);
    assert_null(call(book_hotel_handler, b, &err));
    assert_string_equal(err.type, "BookingConflict");
    assert_non_null(strstr(err.message, EXEC_A));
    r = call(cancel_hotel_handler, b, &err);
    assert_non_null(r);
    assert_string_equal(str_of(r, "outcome"), "NOT_OWNER");
    assert_string_equal(str_of(r, "owner"), EXEC_A); /* another's: named */
    json_decref(r);
    assert_string_equal(status_of("own-1", BOOKING_HOTEL), "BOOKED");
    r = call(cancel_hotel_handler, a, &err);
    assert_string_equal(str_of(r, "outcome"), "CANCELLED");
    json_decref(r);
    /* the saga shape needs its execution id */
    json_t *bad = json_pack("{s:O}", "trip", json_object_get(a, "trip"));
    assert_null(call(book_car_handler, bad, &err));
    assert_string_equal(err.type, "InvalidTrip");
    assert_non_null(strstr(err.message, "executionId"));
    json_decref(bad);
    json_decref(a);
    json_decref(b);
}

/* A redriven saga does not book again: it compensates. */
static void test_redrive_does_not_book(void **state)
{
    (void)state;
    lrt_error err;
    json_t *e = saga_event("redrive-1", NULL, EXEC_A, 1);
    assert_null(call(book_flight_handler, e, &err));
    assert_string_equal(err.type, "RedriveRefused");
    assert_string_equal(status_of("redrive-1", BOOKING_FLIGHT), "ABSENT");
    json_t *r = call(cancel_flight_handler, e, &err); /* compensations still run */
    assert_non_null(r);
    assert_string_equal(str_of(r, "outcome"), "NOTHING_BOOKED");
    json_decref(r);
    json_decref(e);
}

/* FAULT_INJECTION=off: any failure switch is refused by the first book,
 * before anything is written; cancels ignore them. Crash and hang switches
 * need SAGA_TEST_HOOKS=on as well. */
static void test_fault_injection_gate(void **state)
{
    (void)state;
    lrt_error err;
    setenv("FAULT_INJECTION", "off", 1);
    json_t *e = saga_event("gate-1", "{\"failBookFlight\": true, \"failCancelHotel\": true}",
                           EXEC_A, 0);
    assert_null(call(book_hotel_handler, e, &err));
    assert_string_equal(err.type, "FaultInjectionDisabled");
    assert_true(strstr(err.message, "failBookFlight") || strstr(err.message, "failCancelHotel"));
    assert_non_null(strstr(err.message, "FaultInjection parameter is off"));
    for (int k = 0; k < 3; k++)
        assert_string_equal(status_of("gate-1", (booking_kind)k), "ABSENT");
    json_t *r = call(cancel_hotel_handler, e, &err);
    assert_non_null(r);
    json_decref(r);
    json_decref(e);
    setenv("FAULT_INJECTION", "on", 1);
    unsetenv("SAGA_TEST_HOOKS");
    e = saga_event("gate-2", "{\"crashAfterBookCar\": true}", EXEC_A, 0);
    assert_null(call(book_hotel_handler, e, &err));
    assert_string_equal(err.type, "FaultInjectionDisabled");
    assert_non_null(strstr(err.message, "crashAfterBookCar"));
    assert_string_equal(status_of("gate-2", BOOKING_HOTEL), "ABSENT");
    json_decref(e);
    /* a switch set to false is no switch */
    e = saga_event("gate-3", "{\"crashAfterBookCar\": false, \"failBookCar\": false}", EXEC_A, 0);
    setenv("FAULT_INJECTION", "off", 1);
    r = call(book_hotel_handler, e, &err);
    assert_non_null(r);
    json_decref(r);
    json_decref(e);
    unsetenv("FAULT_INJECTION");
}

static void test_init_error_without_table(void **state)
{
    (void)state;
    void *user = NULL;
    lrt_error err;
    memset(&err, 0, sizeof err);
    unsetenv("BOOKINGS_TABLE");
    assert_int_equal(saga_fn_init(&user, &err), -1);
    assert_string_equal(err.type, "Runtime.InitError");
    assert_non_null(strstr(err.message, "BOOKINGS_TABLE"));
    setenv("BOOKINGS_TABLE", "Bookings", 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_books_everything),
        cmocka_unit_test(test_injected_book_failure_books_nothing),
        cmocka_unit_test(test_invalid_trip),
        cmocka_unit_test(test_cancel_after_book_and_idempotent),
        cmocka_unit_test(test_late_booking_after_cancel),
        cmocka_unit_test(test_cancel_fails_n_times_then_succeeds),
        cmocka_unit_test(test_bookings_owned_by_execution),
        cmocka_unit_test(test_redrive_does_not_book),
        cmocka_unit_test(test_fault_injection_gate),
        cmocka_unit_test(test_init_error_without_table),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
