/* book_flight.c - BookFlightFunction: books the trip's flight (see saga_fn.h). */
#include "saga_fn.h"

json_t *book_flight_handler(const json_t *event, const lrt_context *ctx, lrt_error *err, void *user)
{
    return saga_fn_book(event, BOOKING_FLIGHT, ctx, user, err);
}
