/*
 * booking_int.h - what booking.c (the interface and the rules) shares with
 * its two backends, booking_sqlite.c and booking_ddb.c. Not for the
 * handlers: they use booking.h.
 *
 * An item travels between the layers as a record, the JSON object that
 * booking.h hands out: {tripId, kind, status, owner, details, bookedAt,
 * cancelledAt, cancelAttempts, cancelledBy: [owners], expiresAt}.
 */
#ifndef BOOKING_INT_H
#define BOOKING_INT_H

#include "booking.h"

#include <stdint.h>
#include <time.h>

enum booking_backend { BACKEND_SQLITE, BACKEND_DYNAMODB };

struct booking_sqlite;
struct booking_ddb;

struct booking_store {
    enum booking_backend backend;
    int64_t deadline_ms;     /* 0: none */
    long long ttl_s;         /* tombstone lifetime */
    uint64_t rng;            /* back-off jitter */
    struct booking_sqlite *sql;
    struct booking_ddb *ddb;
};

/* What a book or a cancel must do to the item as it is (NULL: absent). */
enum booking_verdict {
    V_WRITE,      /* book: write BOOKED for the owner */
    V_KEEP,       /* book: the owner's booking is there already */
    V_CONFLICT,   /* book: another execution holds it */
    V_REFUSED,    /* book: the owner cancelled it before */
};
int booking_decide_book(const json_t *rec, const char *owner, long long now_s);
/* The outcome a cancel by owner has on rec (NULL: absent). */
booking_outcome booking_decide_cancel(const json_t *rec, const char *owner, long long now_s);
/* rec as it is after a book (V_WRITE) or a cancel by owner. Returns: new. */
json_t *booking_apply_book(const json_t *rec, const char *trip_id, const char *kind,
                           const char *owner, const json_t *details, const char *now_iso);
json_t *booking_apply_cancel(const json_t *rec, const char *trip_id, const char *kind,
                             const char *owner, const char *now_iso, long long expires_at);
/* An expired tombstone counts as absent. */
int booking_expired(const json_t *rec, long long now_s);
int booking_cancelled_by(const json_t *rec, const char *owner);

/* Set err (first failure wins) and return code. */
int booking_fail(booking_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* ISO-8601 UTC with milliseconds, like the trip's own timestamps. */
void booking_now_iso(char out[32]);
int64_t booking_now_ms(void);
/* Uniform in [0, n). */
uint64_t booking_rand(booking_store *s, uint64_t n);

/* Backends. trip/kind validated by the caller; kind is the name. */
int bsql_open(booking_store *s, const char *path, booking_err *err);
void bsql_free(booking_store *s);
int bsql_book(booking_store *s, const char *trip, const char *kind, const char *owner,
              const json_t *details, json_t **rec, booking_outcome *out, booking_err *err);
int bsql_cancel(booking_store *s, const char *trip, const char *kind, const char *owner,
                json_t **rec, booking_outcome *out, booking_err *err);
int bsql_count(booking_store *s, const char *trip, const char *kind, long *attempts,
               booking_err *err);
int bsql_get(booking_store *s, const char *trip, const char *kind, json_t **rec,
             booking_err *err);

int bddb_open(booking_store *s, const char *table, const char *region, const char *endpoint,
              booking_err *err);
void bddb_free(booking_store *s);
int bddb_book(booking_store *s, const char *trip, const char *kind, const char *owner,
              const json_t *details, json_t **rec, booking_outcome *out, booking_err *err);
int bddb_cancel(booking_store *s, const char *trip, const char *kind, const char *owner,
                json_t **rec, booking_outcome *out, booking_err *err);
int bddb_count(booking_store *s, const char *trip, const char *kind, long *attempts,
               booking_err *err);
int bddb_get(booking_store *s, const char *trip, const char *kind, json_t **rec,
             booking_err *err);

#endif
