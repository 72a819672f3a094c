/* cancel_hotel.c - CancelHotelFunction: the compensation of BookHotel (see saga_fn.h). */
#include "saga_fn.h"

json_t *cancel_hotel_handler(const json_t *event, const lrt_context *ctx, lrt_error *err, void *user)
{
    return saga_fn_cancel(event, BOOKING_HOTEL, ctx, user, err);
}
