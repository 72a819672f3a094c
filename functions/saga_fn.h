/*
 * saga_fn.h - the six trip saga Lambda handlers and what they share.
 *
 * Each handler takes what the state machine passes,
 *   {"trip": <the caller's input: the seed's camelCase keys>,
 *    "executionId": <$$.Execution.Id, the owner of the bookings>,
 *    "redriveCount": <$$.Execution.RedriveCount>}
 * or, invoked directly, the trip itself (owner: its "executionId" if it has
 * one, else "direct-invocation"), and books or cancels one kind in the
 * booking store. The output is the item (booking.h's record) with
 * "outcome": BOOKED, ALREADY_BOOKED (book); CANCELLED, NOTHING_BOOKED,
 * ALREADY_CANCELLED, NOT_OWNER (cancel). Handlers are plain C functions so
 * tests call them directly; each bootstrap is bootstrap_main.c compiled
 * with its handler's name. They must not know where they run: the store is
 * picked by the environment (booking.h).
 *
 * Error types (the errorType Step Functions matches):
 *   InvalidTrip        book: tripId, executionId or this kind's fields missing
 *                      or malformed; nothing is written
 *   FaultInjectionDisabled  book: the trip sets a failure switch the
 *                      deployment does not allow (FAULT_INJECTION=off; crash
 *                      and hang switches outside test builds); checked by
 *                      every book before anything is written
 *   RedriveRefused     book: a redriven execution (redriveCount > 0) does not
 *                      book again; the saga compensates instead
 *   BookingFailed      book: failure injected with failBookHotel/Flight/Car = true;
 *                      raised before anything is written
 *   BookingConflict    book: another execution holds this kind of this trip
 *   BookingCancelled   book: this execution already cancelled this kind (a
 *                      late booking after its compensation); nothing is written
 *   CancelFailed       cancel: failure injected with failCancelHotel/Flight/Car
 *                      = N (fails the first N attempts of that trip's cancel, the
 *                      count kept in the store) or true (fails every attempt)
 *   StoreUnavailable   the store could not be reached, kept throttling until the
 *                      deadline, or refused the request (AWS's error code named)
 */
#ifndef SAGA_FN_H
#define SAGA_FN_H

#include "booking.h"
#include "lrt.h"

/* `user` is the booking_store (borrowed). Returns: new record, or NULL
 * with *err set. */
json_t *book_hotel_handler(const json_t *event, const lrt_context *ctx, lrt_error *err, void *user);
json_t *book_flight_handler(const json_t *event, const lrt_context *ctx, lrt_error *err, void *user);
json_t *book_car_handler(const json_t *event, const lrt_context *ctx, lrt_error *err, void *user);
json_t *cancel_hotel_handler(const json_t *event, const lrt_context *ctx, lrt_error *err, void *user);
json_t *cancel_flight_handler(const json_t *event, const lrt_context *ctx, lrt_error *err, void *user);
json_t *cancel_car_handler(const json_t *event, const lrt_context *ctx, lrt_error *err, void *user);

/* Shared by the handlers above. */
/* ctx may be NULL (no deadline). */
json_t *saga_fn_book(const json_t *event, booking_kind kind, const lrt_context *ctx,
                     booking_store *store, lrt_error *err);
json_t *saga_fn_cancel(const json_t *event, booking_kind kind, const lrt_context *ctx,
                       booking_store *store, lrt_error *err);

/* FAULT_INJECTION is not off / test hooks built in and SAGA_TEST_HOOKS=on. */
int saga_fn_faults_enabled(void);
int saga_fn_test_hooks_enabled(void);

/* lrt_main's init/cleanup: open the store from the environment. */
int saga_fn_init(void **user, lrt_error *err);
void saga_fn_cleanup(void *user);

#endif /* SAGA_FN_H */
