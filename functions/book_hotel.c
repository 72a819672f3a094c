/* book_hotel.c - BookHotelFunction: books the trip's hotel (see saga_fn.h). */
#include "saga_fn.h"

json_t *book_hotel_handler(const json_t *event, const lrt_context *ctx, lrt_error *err, void *user)
{
    return saga_fn_book(event, BOOKING_HOTEL, ctx, user, err);
}
