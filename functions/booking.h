/*
 * booking.h - the trip booking store the six saga functions share.
 *
 * One item per (tripId, kind), kind HOTEL | FLIGHT | CAR, status BOOKED or
 * CANCELLED (or none yet, when only a cancel attempt was counted). The
 * rules that make the saga safe live here, in one place, as single atomic
 * writes (a transaction in SQLite, a conditional UpdateItem in DynamoDB):
 *   - book is idempotent: booking a booked item is a no-op that succeeds;
 *   - book refuses an item already CANCELLED: a booking that lands after
 *     its own compensation (Task timeout, lost response) must not
 *     resurrect it;
 *   - cancel is idempotent and leaves a CANCELLED tombstone even when
 *     nothing was booked, so cancel and a late book commute.
 *
 * Two backends, picked by the environment (booking_store_open_env):
 *   SFN_LOCAL_STORE_DIR set -> SQLite file "$SFN_LOCAL_STORE_DIR/$BOOKINGS_TABLE.sqlite"
 *                              (WAL, busy timeout; several processes may write at once)
 *   otherwise               -> DynamoDB table $BOOKINGS_TABLE in $AWS_REGION, SigV4 via
 *                              libcurl, credentials from AWS_ACCESS_KEY_ID /
 *                              AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, endpoint
 *                              $AWS_ENDPOINT_URL_DYNAMODB (or $AWS_ENDPOINT_URL) if set.
 * This module must not know about Lambda, Step Functions or failure
 * injection policy; it only counts cancel attempts for the functions.
 *
 * Threading: a store belongs to one thread. Ownership (jansson words):
 * arguments are borrowed; *record outputs are new references.
 */
#ifndef BOOKING_H
#define BOOKING_H

#include <jansson.h>

#define BOOKING_OK 0
#define BOOKING_ENOENT (-2)       /* no such item */
#define BOOKING_EIO (-5)          /* the store failed (I/O, HTTP, SQL) */
#define BOOKING_ENOMEM (-12)
#define BOOKING_EINVAL (-22)      /* bad argument or environment */
#define BOOKING_ECANCELLED (-125) /* book refused: that kind is already CANCELLED */

typedef enum booking_kind { BOOKING_HOTEL = 0, BOOKING_FLIGHT = 1, BOOKING_CAR = 2 } booking_kind;

typedef struct booking_store booking_store;

/* Details of the first failure; no allocation (like json_error_t). */
typedef struct booking_err {
    char msg[256];
} booking_err;

/* "HOTEL", "FLIGHT", "CAR". */
const char *booking_kind_name(booking_kind kind);

/* Open the backend the environment asks for (see above). */
int booking_store_open_env(booking_store **out, booking_err *err);
/* SQLite at path (created if missing). */
int booking_store_open_sqlite(const char *path, booking_store **out, booking_err *err);
/* DynamoDB: endpoint NULL = https://dynamodb.<region>.amazonaws.com; the
 * credentials are read from the environment at each request. */
int booking_store_open_dynamodb(const char *table, const char *region, const char *endpoint,
                                booking_store **out, booking_err *err);
void booking_store_free(booking_store *s); /* NULL is a no-op */

/* Book (trip_id, kind) with details (an object of strings). Returns 0 and
 * the item (new or already there) in *record; BOOKING_ECANCELLED (and the
 * tombstone in *record) when the kind was cancelled: nothing is written.
 * record may be NULL. */
int booking_book(booking_store *s, const char *trip_id, booking_kind kind,
                 const json_t *details, json_t **record, booking_err *err);

/* Cancel (trip_id, kind): status CANCELLED whatever was there. */
int booking_cancel(booking_store *s, const char *trip_id, booking_kind kind,
                   json_t **record, booking_err *err);

/* Count one more cancel attempt on (trip_id, kind); *attempts gets the new
 * count (1 on the first call). Durable, so a retry in a fresh process sees it. */
int booking_count_cancel_attempt(booking_store *s, const char *trip_id, booking_kind kind,
                                 long *attempts, booking_err *err);

/* Read one item. BOOKING_ENOENT when absent. */
int booking_get(booking_store *s, const char *trip_id, booking_kind kind, json_t **record,
                booking_err *err);

#endif /* BOOKING_H */
