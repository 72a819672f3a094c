/* cancel_car.c - CancelCarFunction: the compensation of BookCar (see saga_fn.h). */
#include "saga_fn.h"

json_t *cancel_car_handler(const json_t *event, const lrt_context *ctx, lrt_error *err, void *user)
{
    return saga_fn_cancel(event, BOOKING_CAR, ctx, user, err);
}
