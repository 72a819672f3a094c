/* cancel_flight.c - CancelFlightFunction: the compensation of BookFlight (see saga_fn.h). */
#include "saga_fn.h"

json_t *cancel_flight_handler(const json_t *event, const lrt_context *ctx, lrt_error *err, void *user)
{
    return saga_fn_cancel(event, BOOKING_FLIGHT, ctx, user, err);
}
