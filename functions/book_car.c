/* book_car.c - BookCarFunction: books the trip's car (see saga_fn.h). */
#include "saga_fn.h"

json_t *book_car_handler(const json_t *event, const lrt_context *ctx, lrt_error *err, void *user)
{
    return saga_fn_book(event, BOOKING_CAR, ctx, user, err);
}
