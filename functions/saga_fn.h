/*
 * saga_fn.h - the six trip saga Lambda handlers and what they share.
 *
 * Each handler takes the trip event (the seed's camelCase keys, plus the
 * results the state machine keeps beside them) and books or cancels one
 * kind in the booking store. Handlers are plain C functions so tests call
 * them directly; each bootstrap is bootstrap_main.c compiled with its
 * handler's name. They must not know where they run: the store is picked
 * by the environment (booking.h).
 *
 * Error types (the errorType Step Functions matches):
 *   InvalidTrip       book: tripId or this kind's fields missing or malformed;
 *                     nothing is written
 *   BookingFailed     book: failure injected with failBookHotel/Flight/Car = true;
 *                     raised before anything is written
 *   BookingCancelled  book: this kind of this trip is already CANCELLED (a
 *                     late booking after its compensation); nothing is written
 *   CancelFailed      cancel: failure injected with failCancelHotel/Flight/Car
 *                     = N (fails the first N attempts of that trip's cancel, the
 *                     count kept in the store) or true (fails every attempt)
 *   StoreUnavailable  the store could not be reached or failed
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
json_t *saga_fn_book(const json_t *event, booking_kind kind, booking_store *store, lrt_error *err);
json_t *saga_fn_cancel(const json_t *event, booking_kind kind, booking_store *store, lrt_error *err);

/* lrt_main's init/cleanup: open the store from the environment. */
int saga_fn_init(void **user, lrt_error *err);
void saga_fn_cleanup(void *user);

#endif /* SAGA_FN_H */
