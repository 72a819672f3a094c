/*
 * booking.h - the trip booking store the saga functions share.
 *
 * One item per (tripId, kind), kind HOTEL | FLIGHT | CAR. An item is
 * BOOKED or CANCELLED (or has no status yet, when only a cancel attempt
 * was counted), and names its owner: the execution that booked it, or
 * whose cancel left the tombstone. The saga's rules live here, each
 * operation one atomic write (a transaction in SQLite, a conditional
 * UpdateItem in DynamoDB):
 *
 *   book by E      absent, no status, or CANCELLED by another execution
 *                    -> BOOKED, owner E (a tombstone of an earlier,
 *                       compensated execution does not block a new one)
 *                  BOOKED by E -> unchanged, success (idempotent)
 *                  BOOKED by another execution -> BOOKING_ECONFLICT
 *                  E ever cancelled this item -> BOOKING_ECANCELLED: a
 *                    booking that lands after its own compensation (a
 *                    timeout, a lost response) never resurrects it
 *   cancel by E    BOOKED by E -> CANCELLED (outcome CANCELLED)
 *                  absent or no status -> CANCELLED tombstone owned by E
 *                    (NOTHING_BOOKED), so a late book by E is refused
 *                  CANCELLED -> unchanged (ALREADY_CANCELLED)
 *                  BOOKED by another execution -> untouched (NOT_OWNER)
 *                  in every case E joins the item's cancelledBy set,
 *                  which is what refuses E's late book.
 *
 * Tombstones carry expiresAt (epoch seconds, DynamoDB's TTL attribute,
 * default 30 days, BOOKING_TOMBSTONE_TTL_DAYS): DynamoDB deletes them;
 * the SQLite store treats an expired tombstone as absent and deletes
 * expired rows as it writes. A BOOKED item never expires.
 *
 * Two backends, picked by the environment (booking_store_open_env):
 *   SFN_LOCAL_STORE_DIR set -> SQLite "$SFN_LOCAL_STORE_DIR/$BOOKINGS_TABLE.sqlite"
 *                              (WAL; several processes may write at once)
 *   otherwise               -> DynamoDB table $BOOKINGS_TABLE in $AWS_REGION, SigV4
 *                              (sigv4.h), credentials from AWS_ACCESS_KEY_ID /
 *                              AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, endpoint
 *                              $AWS_ENDPOINT_URL_DYNAMODB (or $AWS_ENDPOINT_URL) if set.
 *                              Throttling and 5xx are retried with jittered
 *                              back-off until the deadline (booking_store_set_deadline).
 * This module must not know about Lambda, Step Functions or failure
 * injection policy; it only counts cancel attempts for the functions.
 *
 * Threading: a store belongs to one thread. Ownership (jansson words):
 * arguments are borrowed; *record outputs are new references.
 */
#ifndef BOOKING_H
#define BOOKING_H

#include <jansson.h>
#include <stdint.h>

#define BOOKING_OK 0
#define BOOKING_ENOENT (-2)       /* no such item */
#define BOOKING_EIO (-5)          /* the store failed (I/O, HTTP, SQL, refused by AWS) */
#define BOOKING_ENOMEM (-12)
#define BOOKING_ECONFLICT (-16)   /* book refused: another execution holds the booking */
#define BOOKING_EINVAL (-22)      /* bad argument or environment */
#define BOOKING_ECANCELLED (-125) /* book refused: this execution already cancelled it */

typedef enum booking_kind { BOOKING_HOTEL = 0, BOOKING_FLIGHT = 1, BOOKING_CAR = 2 } booking_kind;

/* What an operation did (the functions report it as "outcome"). */
typedef enum booking_outcome {
    BOOKING_BOOKED = 0,        /* book: booked now */
    BOOKING_ALREADY_BOOKED,    /* book: this execution's booking was there (a retry) */
    BOOKING_CANCELLED,         /* cancel: this execution's booking is cancelled now */
    BOOKING_NOTHING_BOOKED,    /* cancel: nothing was booked; a tombstone records the cancel */
    BOOKING_ALREADY_CANCELLED, /* cancel: it was cancelled already */
    BOOKING_NOT_OWNER,         /* cancel: another execution holds it; left alone */
    BOOKING_REFUSED,           /* book: refused (ECONFLICT / ECANCELLED) */
} booking_outcome;

typedef struct booking_store booking_store;

/* Details of the first failure; no allocation (like json_error_t).
 * code: AWS's error code when DynamoDB refused ("AccessDeniedException"). */
typedef struct booking_err {
    char msg[384];
    char code[64];
} booking_err;

/* "HOTEL", "FLIGHT", "CAR". */
const char *booking_kind_name(booking_kind kind);
/* "BOOKED", "ALREADY_BOOKED", "CANCELLED", "NOTHING_BOOKED", ... */
const char *booking_outcome_name(booking_outcome o);

/* Open the backend the environment asks for (see above). */
int booking_store_open_env(booking_store **out, booking_err *err);
/* SQLite at path (created if missing; an older table gains the new columns). */
int booking_store_open_sqlite(const char *path, booking_store **out, booking_err *err);
/* DynamoDB: endpoint NULL = https://dynamodb.<region>.amazonaws.com; the
 * credentials are read from the environment at each request. */
int booking_store_open_dynamodb(const char *table, const char *region, const char *endpoint,
                                booking_store **out, booking_err *err);
void booking_store_free(booking_store *s); /* NULL is a no-op */

/* Retries stop in time for the caller to answer before deadline_ms (epoch
 * ms; 0: no deadline, a few tries). Set per invocation. */
void booking_store_set_deadline(booking_store *s, int64_t deadline_ms);
/* Tombstone lifetime in seconds (default: BOOKING_TOMBSTONE_TTL_DAYS or 30
 * days). Tests may set it to 0 or less: tombstones then expire at once. */
void booking_store_set_ttl(booking_store *s, long long seconds);

/* Book (trip_id, kind) for execution owner with details (an object of
 * strings). Returns 0 and the item in *record; BOOKING_ECONFLICT or
 * BOOKING_ECANCELLED (the item as it is in *record) when refused: nothing
 * is written. record and outcome may be NULL. */
int booking_book(booking_store *s, const char *trip_id, booking_kind kind, const char *owner,
                 const json_t *details, json_t **record, booking_outcome *outcome,
                 booking_err *err);

/* Cancel (trip_id, kind) for execution owner (rules above). Returns 0 and
 * the item after the cancel in *record. */
int booking_cancel(booking_store *s, const char *trip_id, booking_kind kind, const char *owner,
                   json_t **record, booking_outcome *outcome, booking_err *err);

/* Count one more cancel attempt on (trip_id, kind); *attempts gets the new
 * count (1 on the first call). Durable, so a retry in a fresh process sees it. */
int booking_count_cancel_attempt(booking_store *s, const char *trip_id, booking_kind kind,
                                 long *attempts, booking_err *err);

/* Read one item. BOOKING_ENOENT when absent (or an expired tombstone). */
int booking_get(booking_store *s, const char *trip_id, booking_kind kind, json_t **record,
                booking_err *err);

#endif /* BOOKING_H */
