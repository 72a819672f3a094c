/*
 * trip.c - what the six handlers share: reading and checking the trip
 * event, failure injection, and turning store results into the function's
 * output or error type (saga_fn.h lists the types).
 *
 * Every check and every injected failure happens before the store is
 * written, so a failed book has booked nothing. Must not decide anything
 * the store's atomic writes decide (booked/cancelled rules live there).
 */
#define _GNU_SOURCE /* strptime */
#include "saga_fn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#define TRIP_ID_MAX 256
#define FIELD_MAX 1024
#define OWNER_MAX 2048
/* The owner of bookings made by a direct invocation without executionId. */
#define DIRECT_OWNER "direct-invocation"

/* One kind's view of the trip event. */
typedef struct kind_spec {
    const char *book_step;     /* "BookHotel" */
    const char *cancel_step;   /* "CancelHotel" */
    const char *fail_book;     /* the injection flags */
    const char *fail_cancel;
    const char *crash_after;   /* test injection after the write (see below) */
    const char *hang_after;
    const char *hang_cancel;   /* test injection: the first N cancel attempts hang */
    const char *fields[4];     /* what a booking needs, in details order */
    int nfields;
    const char *from, *to;     /* the interval that must not run backwards */
} kind_spec;

static const kind_spec specs[3] = {
    [BOOKING_HOTEL] = {"BookHotel", "CancelHotel", "failBookHotel", "failCancelHotel",
                       "crashAfterBookHotel", "hangAfterBookHotel", "hangCancelHotel", {"hotel", "checkIn", "checkOut"}, 3, "checkIn", "checkOut"},
    [BOOKING_FLIGHT] = {"BookFlight", "CancelFlight", "failBookFlight", "failCancelFlight",
                        "crashAfterBookFlight", "hangAfterBookFlight", "hangCancelFlight", {"depart", "departAt", "arrive", "arriveAt"}, 4, "departAt", "arriveAt"},
    [BOOKING_CAR] = {"BookCar", "CancelCar", "failBookCar", "failCancelCar",
                     "crashAfterBookCar", "hangAfterBookCar", "hangCancelCar", {"car", "carFrom", "carTo"}, 3, "carFrom", "carTo"},
};

/* Parse an RFC 3339 timestamp ("2017-07-10T06:00:00.000Z", or with an
 * offset) to epoch seconds; -1 when malformed. */
static int parse_time(const char *s, long long *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p || tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1)
        return -1;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    long off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int hh, mm, n = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &hh, &mm, &n) != 2 || n != 5 || hh > 23 || mm > 59)
            return -1;
        off = (hh * 60L + mm) * 60L * (*p == '+' ? 1 : -1);
        p += 1 + n;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    *out = (long long)timegm(&tm) - off;
    return 0;
}

/* The trip id, or NULL when missing or malformed (why in *why). */
static const char *trip_id_of(const json_t *event, const char **why)
{
    const char *id = json_string_value(json_object_get(event, "tripId"));
    if (!json_is_object(event)) {
        *why = "the event is not a JSON object";
        return NULL;
    }
    if (!id) {
        *why = "tripId is missing or not a string";
        return NULL;
    }
    size_t n = strlen(id);
    if (n == 0 || n > TRIP_ID_MAX) {
        *why = "tripId must be 1 to 256 characters";
        return NULL;
    }
    for (const unsigned char *c = (const unsigned char *)id; *c; c++)
        if (*c < 0x20 || *c == 0x7f) {
            *why = "tripId contains control characters";
            return NULL;
        }
    return id;
}

/* The details a booking of this kind records; NULL with err set when the
 * event lacks them. Returns: new. */
static json_t *details_of(const json_t *event, const kind_spec *k, lrt_error *err)
{
    json_t *d = json_object();
    if (!d) {
        lrt_fail(err, "StoreUnavailable", "out of memory");
        return NULL;
    }
    for (int i = 0; i < k->nfields; i++) {
        const char *f = k->fields[i];
        const char *v = json_string_value(json_object_get(event, f));
        if (!v || !*v || strlen(v) > FIELD_MAX) {
            lrt_fail(err, "InvalidTrip", "%s: field '%s' is missing, empty or not a string",
                     k->book_step, f);
            goto bad;
        }
        json_object_set_new(d, f, json_string(v));
    }
    long long from, to;
    const char *a = json_string_value(json_object_get(d, k->from));
    const char *b = json_string_value(json_object_get(d, k->to));
    if (parse_time(a, &from) < 0 || parse_time(b, &to) < 0) {
        lrt_fail(err, "InvalidTrip", "%s: '%s' and '%s' must be ISO-8601 timestamps such as "
                 "2017-07-10T06:00:00.000Z", k->book_step, k->from, k->to);
        goto bad;
    }
    if (to < from) {
        lrt_fail(err, "InvalidTrip", "%s: '%s' (%s) is before '%s' (%s)", k->book_step, k->to, b,
                 k->from, a);
        goto bad;
    }
    return d;
bad:
    json_decref(d);
    return NULL;
}

/* true for JSON true or a non-zero number. */
static int truthy(const json_t *v)
{
    return json_is_true(v) || (json_is_integer(v) && json_integer_value(v) != 0) ||
           (json_is_real(v) && json_real_value(v) != 0.0);
}

static json_t *store_failed(lrt_error *err, const char *step, const booking_err *be)
{
    if (be->code[0])
        return lrt_fail(err, "StoreUnavailable", "%s: the booking store failed (%s): %s", step,
                        be->code, be->msg);
    return lrt_fail(err, "StoreUnavailable", "%s: the booking store failed: %s", step, be->msg);
}

/* The saga passes {"trip": <the caller's input>, "executionId": ...,
 * "redriveCount": n}; a direct invocation may pass the trip itself (the
 * seed's events), optionally with its own executionId. */
typedef struct call {
    const json_t *trip;
    const char *owner;
    long long redrive;
} call;

static int call_of(const json_t *event, call *c, const char **why)
{
    json_t *t = json_object_get(event, "trip");
    const json_t *eid = json_object_get(event, "executionId");
    c->trip = json_is_object(t) ? t : event;
    c->owner = json_string_value(eid);
    c->redrive = json_integer_value(json_object_get(event, "redriveCount"));
    if (json_is_object(t) && !c->owner) {
        *why = "executionId (the execution that owns the booking) is missing or not a string";
        return -1;
    }
    if (!c->owner)
        c->owner = DIRECT_OWNER;
    size_t n = strlen(c->owner);
    if (n == 0 || n > OWNER_MAX) {
        *why = "executionId must be 1 to 2048 characters";
        return -1;
    }
    return 0;
}

static int env_on(const char *name, int dflt)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return dflt;
    return !(strcmp(v, "off") == 0 || strcmp(v, "false") == 0 || strcmp(v, "0") == 0 ||
             strcmp(v, "no") == 0);
}

/* Failure injection (failBook*, failCancel*) is on unless the deployment
 * turned it off (FAULT_INJECTION=off, the template's FaultInjection
 * parameter). The crash and hang switches exist only in builds made for
 * tests (SAGA_TEST_HOOKS, never in the SAM build) and only when the
 * environment asks for them too (SAGA_TEST_HOOKS=on). */
int saga_fn_faults_enabled(void)
{
    return env_on("FAULT_INJECTION", 1);
}

int saga_fn_test_hooks_enabled(void)
{
#ifdef SAGA_TEST_HOOKS
    return env_on("SAGA_TEST_HOOKS", 0);
#else
    return 0;
#endif
}

/* A switch the deployment does not allow: the name of the first one set
 * in the trip, or NULL. Checked by every book, before anything is written,
 * so the saga's first step refuses the trip with nothing booked. */
static const char *refused_switch(const json_t *trip)
{
    int faults = saga_fn_faults_enabled(), hooks = saga_fn_test_hooks_enabled();
    for (int k = 0; k < 3; k++) {
        const kind_spec *s = &specs[k];
        if (!faults && (truthy(json_object_get(trip, s->fail_book)) ||
                        truthy(json_object_get(trip, s->fail_cancel))))
            return s->fail_book && truthy(json_object_get(trip, s->fail_book)) ? s->fail_book
                                                                               : s->fail_cancel;
        if (!hooks && truthy(json_object_get(trip, s->crash_after)))
            return s->crash_after;
        if (!hooks && truthy(json_object_get(trip, s->hang_after)))
            return s->hang_after;
        if (!hooks && truthy(json_object_get(trip, s->hang_cancel)))
            return s->hang_cancel;
    }
    return NULL;
}

/* The function's output: what the operation did and the item as it is now,
 * without what the caller knows already or what is empty (the trip id, its
 * own execution id as owner, null dates, no attempts, the cancelledBy set):
 * every byte of it is carried by each later state of the saga and written to
 * its history. */
static json_t *output_of(json_t *record, booking_outcome oc, const char *owner)
{
    if (!record)
        return NULL;
    json_object_del(record, "tripId");
    json_object_del(record, "cancelledBy");
    const char *o = json_string_value(json_object_get(record, "owner"));
    if (o && strcmp(o, owner) == 0)
        json_object_del(record, "owner");
    static const char *const maybe[] = {"details", "bookedAt", "cancelledAt", "expiresAt",
                                        "owner"};
    for (size_t i = 0; i < sizeof maybe / sizeof maybe[0]; i++)
        if (json_is_null(json_object_get(record, maybe[i])))
            json_object_del(record, maybe[i]);
    if (json_integer_value(json_object_get(record, "cancelAttempts")) == 0)
        json_object_del(record, "cancelAttempts");
    json_object_set_new(record, "outcome", json_string(booking_outcome_name(oc)));
    return record;
}

json_t *saga_fn_book(const json_t *event, booking_kind kind, const lrt_context *ctx,
                     booking_store *store, lrt_error *err)
{
    const kind_spec *k = &specs[kind];
    const char *why = NULL;
    call c;
    if (!json_is_object(event) || call_of(event, &c, &why) < 0)
        return lrt_fail(err, "InvalidTrip", "%s: %s", k->book_step,
                        why ? why : "the event is not a JSON object");
    const char *id = trip_id_of(c.trip, &why);
    if (!id)
        return lrt_fail(err, "InvalidTrip", "%s: %s", k->book_step, why);
    const char *sw = refused_switch(c.trip);
    if (sw)
        return lrt_fail(err, "FaultInjectionDisabled",
                        "%s refused trip %s: '%s' is not allowed in this deployment (%s)",
                        k->book_step, id, sw,
                        strncmp(sw, "fail", 4) == 0
                            ? "the template's FaultInjection parameter is off"
                            : "crash and hang switches exist only in test builds with "
                              "SAGA_TEST_HOOKS=on");
    if (c.redrive > 0)
        return lrt_fail(err, "RedriveRefused",
                        "%s refused for trip %s: a redriven saga does not book again (redrive "
                        "%lld); it compensates. Start a new execution to book the trip",
                        k->book_step, id, c.redrive);
    json_t *details = details_of(c.trip, k, err);
    if (!details)
        return NULL;
    /* Injected failure: before the write, so nothing is booked. */
    if (truthy(json_object_get(c.trip, k->fail_book))) {
        json_decref(details);
        return lrt_fail(err, "BookingFailed", "%s failed for trip %s (failure injected by %s)",
                        k->book_step, id, k->fail_book);
    }
    json_t *record = NULL;
    booking_err be = {{0}, {0}};
    booking_outcome oc = BOOKING_REFUSED;
    booking_store_set_deadline(store, ctx ? ctx->deadline_ms : 0);
    int rc = booking_book(store, id, kind, c.owner, details, &record, &oc, &be);
    json_decref(details);
    if (rc == BOOKING_ECANCELLED || rc == BOOKING_ECONFLICT) {
        const char *holder = json_string_value(json_object_get(record, "owner"));
        json_t *r = rc == BOOKING_ECANCELLED
                        ? lrt_fail(err, "BookingCancelled",
                                   "%s refused for trip %s: this execution already cancelled its "
                                   "%s booking (a booking after its compensation never lands)",
                                   k->book_step, id, booking_kind_name(kind))
                        : lrt_fail(err, "BookingConflict",
                                   "%s refused for trip %s: its %s booking belongs to another "
                                   "execution (%s)",
                                   k->book_step, id, booking_kind_name(kind),
                                   holder ? holder : "?");
        json_decref(record);
        return r;
    }
    if (rc < 0)
        return store_failed(err, k->book_step, &be);
#ifdef SAGA_TEST_HOOKS
    /* Test switches: the booking is in the store, then the invocation fails
     * the way a crash (crashAfterBookX: the process dies, Runtime.ExitError)
     * or a hang (hangAfterBookX: killed at the function's Timeout) looks
     * from outside. The state machine must still compensate it. */
    if (saga_fn_test_hooks_enabled()) {
        if (truthy(json_object_get(c.trip, k->crash_after)))
            kill(getpid(), SIGKILL);
        if (truthy(json_object_get(c.trip, k->hang_after)))
            for (;;)
                pause();
    }
#endif
    return output_of(record, oc, c.owner);
}

json_t *saga_fn_cancel(const json_t *event, booking_kind kind, const lrt_context *ctx,
                       booking_store *store, lrt_error *err)
{
    const kind_spec *k = &specs[kind];
    const char *why = NULL;
    call c;
    const char *id = NULL;
    if (json_is_object(event) && call_of(event, &c, &why) == 0)
        id = trip_id_of(c.trip, &why);
    else if (!why)
        why = "the event is not a JSON object";
    booking_err be = {{0}, {0}};
    if (!id) {
        /* No book can have written anything without a valid trip id and
         * owner (book checks them first), so there is nothing to undo: a
         * compensation must succeed as a no-op rather than fail forever. */
        return json_pack("{s:n, s:s, s:s, s:s, s:s}", "tripId", "kind", booking_kind_name(kind),
                         "status", "NOTHING_TO_CANCEL", "outcome", "NOTHING_TO_CANCEL", "reason",
                         why);
    }
    booking_store_set_deadline(store, ctx ? ctx->deadline_ms : 0);
#ifdef SAGA_TEST_HOOKS
    /* Test switch: hangCancelX = N, the first N attempts (counted in the
     * store, like failCancelX) hang until the task times out. */
    json_t *hang = json_object_get(c.trip, k->hang_cancel);
    if (saga_fn_test_hooks_enabled() && json_is_integer(hang) && json_integer_value(hang) > 0) {
        long attempts = 0;
        if (booking_count_cancel_attempt(store, id, kind, &attempts, &be) < 0)
            return store_failed(err, k->cancel_step, &be);
        if (attempts <= json_integer_value(hang))
            for (;;)
                pause();
    }
#endif
    json_t *inject = json_object_get(c.trip, k->fail_cancel);
    if (saga_fn_faults_enabled() &&
        (json_is_true(inject) || (json_is_integer(inject) && json_integer_value(inject) > 0))) {
        long attempts = 0;
        if (booking_count_cancel_attempt(store, id, kind, &attempts, &be) < 0)
            return store_failed(err, k->cancel_step, &be);
        if (json_is_true(inject))
            return lrt_fail(err, "CancelFailed",
                            "%s failed for trip %s (failure injected by %s=true, attempt %ld)",
                            k->cancel_step, id, k->fail_cancel, attempts);
        if (attempts <= json_integer_value(inject))
            return lrt_fail(err, "CancelFailed",
                            "%s failed transiently for trip %s (failure injected by %s, "
                            "attempt %ld of %lld failing)",
                            k->cancel_step, id, k->fail_cancel, attempts,
                            (long long)json_integer_value(inject));
    }
    json_t *record = NULL;
    booking_outcome oc = BOOKING_NOTHING_BOOKED;
    if (booking_cancel(store, id, kind, c.owner, &record, &oc, &be) < 0)
        return store_failed(err, k->cancel_step, &be);
    return output_of(record, oc, c.owner);
}

int saga_fn_init(void **user, lrt_error *err)
{
    booking_store *s = NULL;
    booking_err be = {{0}, {0}};
    if (booking_store_open_env(&s, &be) < 0) {
        lrt_fail(err, "Runtime.InitError", "cannot open the booking store: %s", be.msg);
        return -1;
    }
    *user = s;
    return 0;
}

void saga_fn_cleanup(void *user)
{
    booking_store_free(user);
}
