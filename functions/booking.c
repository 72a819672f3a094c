/*
 * booking.c - the booking store's interface and its rules (booking.h);
 * the backends are booking_sqlite.c and booking_ddb.c.
 *
 * The rules are written once, here, as functions of the item as it is:
 * the SQLite backend applies them inside its write transaction, and the
 * DynamoDB backend states the same rules as condition expressions and
 * uses these to read a refused condition's answer (ALL_OLD).
 */
#include "booking_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#define DEFAULT_TTL_DAYS 30

static const char *const kind_names[] = {"HOTEL", "FLIGHT", "CAR"};
static const char *const outcome_names[] = {
    "BOOKED", "ALREADY_BOOKED", "CANCELLED", "NOTHING_BOOKED", "ALREADY_CANCELLED",
    "NOT_OWNER", "REFUSED",
};

const char *booking_kind_name(booking_kind kind)
{
    return (unsigned)kind < 3 ? kind_names[kind] : "?";
}

const char *booking_outcome_name(booking_outcome o)
{
    return (unsigned)o < sizeof outcome_names / sizeof outcome_names[0] ? outcome_names[o] : "?";
}

int booking_fail(booking_err *err, int code, const char *fmt, ...)
{
    if (err && !err->msg[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void booking_now_iso(char out[32])
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(tv.tv_usec / 1000));
}

int64_t booking_now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

uint64_t booking_rand(booking_store *s, uint64_t n)
{
    /* splitmix64: jitter only, not security */
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return n ? z % n : 0;
}

/* ---- the rules ----------------------------------------------------------- */

static const char *str(const json_t *rec, const char *key)
{
    const char *v = json_string_value(json_object_get(rec, key));
    return v ? v : "";
}

int booking_expired(const json_t *rec, long long now_s)
{
    json_t *e = json_object_get(rec, "expiresAt");
    return rec && strcmp(str(rec, "status"), "BOOKED") != 0 && json_is_integer(e) &&
           json_integer_value(e) <= now_s;
}

int booking_cancelled_by(const json_t *rec, const char *owner)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(rec, "cancelledBy"), i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), owner) == 0)
            return 1;
    }
    return 0;
}

int booking_decide_book(const json_t *rec, const char *owner, long long now_s)
{
    if (!rec || booking_expired(rec, now_s))
        return V_WRITE;
    if (booking_cancelled_by(rec, owner))
        return V_REFUSED;
    if (strcmp(str(rec, "status"), "BOOKED") == 0)
        return strcmp(str(rec, "owner"), owner) == 0 ? V_KEEP : V_CONFLICT;
    return V_WRITE; /* no status yet, or another execution's tombstone */
}

booking_outcome booking_decide_cancel(const json_t *rec, const char *owner, long long now_s)
{
    if (!rec || booking_expired(rec, now_s))
        return BOOKING_NOTHING_BOOKED;
    const char *st = str(rec, "status");
    if (strcmp(st, "BOOKED") == 0)
        return strcmp(str(rec, "owner"), owner) == 0 ? BOOKING_CANCELLED : BOOKING_NOT_OWNER;
    if (strcmp(st, "CANCELLED") == 0)
        return BOOKING_ALREADY_CANCELLED;
    return BOOKING_NOTHING_BOOKED;
}

/* rec's fields, or an empty item for (trip, kind) when rec is absent or
 * expired (an expired tombstone keeps nothing, not even its attempts). */
static json_t *base(const json_t *rec, const char *trip_id, const char *kind, long long now_s)
{
    if (rec && !booking_expired(rec, now_s))
        return json_deep_copy(rec);
    return json_pack("{s:s, s:s, s:n, s:n, s:n, s:n, s:n, s:i, s:[], s:n}", "tripId", trip_id,
                     "kind", kind, "status", "owner", "details", "bookedAt", "cancelledAt",
                     "cancelAttempts", 0, "cancelledBy", "expiresAt");
}

json_t *booking_apply_book(const json_t *rec, const char *trip_id, const char *kind,
                           const char *owner, const json_t *details, const char *now_iso)
{
    json_t *o = base(rec, trip_id, kind, booking_now_ms() / 1000);
    if (!o)
        return NULL;
    json_t *d = json_deep_copy(details);
    if (!d || json_object_set_new(o, "status", json_string("BOOKED")) ||
        json_object_set_new(o, "owner", json_string(owner)) || json_object_set_new(o, "details", d) ||
        json_object_set_new(o, "bookedAt", json_string(now_iso)) ||
        json_object_set_new(o, "cancelledAt", json_null()) ||
        json_object_set_new(o, "expiresAt", json_null())) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *booking_apply_cancel(const json_t *rec, const char *trip_id, const char *kind,
                             const char *owner, const char *now_iso, long long expires_at)
{
    long long now_s = booking_now_ms() / 1000;
    booking_outcome oc = booking_decide_cancel(rec, owner, now_s);
    json_t *o = base(rec, trip_id, kind, now_s);
    if (!o)
        return NULL;
    json_t *cb = json_object_get(o, "cancelledBy");
    if (!json_is_array(cb)) {
        cb = json_array();
        json_object_set_new(o, "cancelledBy", cb);
    }
    if (!cb || (!booking_cancelled_by(o, owner) && json_array_append_new(cb, json_string(owner)))) {
        json_decref(o);
        return NULL;
    }
    if (oc == BOOKING_NOT_OWNER)
        return o; /* only the cancel is recorded */
    int bad = json_object_set_new(o, "status", json_string("CANCELLED")) ||
              json_object_set_new(o, "expiresAt", json_integer(expires_at));
    if (!json_is_string(json_object_get(o, "owner")))
        bad |= json_object_set_new(o, "owner", json_string(owner));
    if (!json_is_string(json_object_get(o, "cancelledAt")))
        bad |= json_object_set_new(o, "cancelledAt", json_string(now_iso));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- the interface ------------------------------------------------------- */

static booking_store *store_new(enum booking_backend b)
{
    booking_store *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->backend = b;
    s->ttl_s = DEFAULT_TTL_DAYS * 86400LL;
    const char *days = getenv("BOOKING_TOMBSTONE_TTL_DAYS");
    if (days && *days) {
        char *end;
        long long d = strtoll(days, &end, 10);
        if (*end == '\0' && d > 0 && d < 100000)
            s->ttl_s = d * 86400LL;
    }
    s->rng = (uint64_t)booking_now_ms() ^ ((uint64_t)getpid() << 32);
    return s;
}

int booking_store_open_sqlite(const char *path, booking_store **out, booking_err *err)
{
    booking_store *s = store_new(BACKEND_SQLITE);
    if (!s)
        return booking_fail(err, BOOKING_ENOMEM, "out of memory");
    int rc = bsql_open(s, path, err);
    if (rc < 0) {
        booking_store_free(s);
        return rc;
    }
    *out = s;
    return BOOKING_OK;
}

int booking_store_open_dynamodb(const char *table, const char *region, const char *endpoint,
                                booking_store **out, booking_err *err)
{
    if (!table || !*table || !region || !*region)
        return booking_fail(err, BOOKING_EINVAL, "DynamoDB needs a table name and a region");
    booking_store *s = store_new(BACKEND_DYNAMODB);
    if (!s)
        return booking_fail(err, BOOKING_ENOMEM, "out of memory");
    int rc = bddb_open(s, table, region, endpoint, err);
    if (rc < 0) {
        booking_store_free(s);
        return rc;
    }
    *out = s;
    return BOOKING_OK;
}

int booking_store_open_env(booking_store **out, booking_err *err)
{
    const char *table = getenv("BOOKINGS_TABLE");
    const char *dir = getenv("SFN_LOCAL_STORE_DIR");
    if (!table || !*table)
        return booking_fail(err, BOOKING_EINVAL, "BOOKINGS_TABLE is not set");
    if (dir && *dir) {
        char path[4096];
        if (strchr(table, '/'))
            return booking_fail(err, BOOKING_EINVAL, "BOOKINGS_TABLE must not contain '/'");
        if ((size_t)snprintf(path, sizeof path, "%s/%s.sqlite", dir, table) >= sizeof path)
            return booking_fail(err, BOOKING_EINVAL, "SFN_LOCAL_STORE_DIR is too long");
        return booking_store_open_sqlite(path, out, err);
    }
    const char *region = getenv("AWS_REGION");
    if (!region || !*region)
        region = getenv("AWS_DEFAULT_REGION");
    const char *endpoint = getenv("AWS_ENDPOINT_URL_DYNAMODB");
    if (!endpoint || !*endpoint)
        endpoint = getenv("AWS_ENDPOINT_URL");
    return booking_store_open_dynamodb(table, region, endpoint, out, err);
}

void booking_store_free(booking_store *s)
{
    if (!s)
        return;
    bsql_free(s);
    bddb_free(s);
    free(s);
}

void booking_store_set_deadline(booking_store *s, int64_t deadline_ms)
{
    if (s)
        s->deadline_ms = deadline_ms;
}

void booking_store_set_ttl(booking_store *s, long long seconds)
{
    if (s)
        s->ttl_s = seconds;
}

static int check_args(const char *trip_id, booking_kind kind, booking_err *err)
{
    if (!trip_id || !*trip_id || (unsigned)kind > BOOKING_CAR)
        return booking_fail(err, BOOKING_EINVAL, "a booking needs a trip id and a kind");
    return BOOKING_OK;
}

static int check_owner(const char *owner, booking_err *err)
{
    if (!owner || !*owner || strlen(owner) > 2048)
        return booking_fail(err, BOOKING_EINVAL, "a booking needs its owner (an execution id)");
    return BOOKING_OK;
}

int booking_book(booking_store *s, const char *trip_id, booking_kind kind, const char *owner,
                 const json_t *details, json_t **record, booking_outcome *outcome,
                 booking_err *err)
{
    json_t *rec = NULL;
    booking_outcome oc = BOOKING_REFUSED;
    int rc = check_args(trip_id, kind, err);
    if (rc == 0)
        rc = check_owner(owner, err);
    if (rc < 0)
        return rc;
    if (!json_is_object(details))
        return booking_fail(err, BOOKING_EINVAL, "booking details must be an object");
    const char *kn = booking_kind_name(kind);
    rc = s->backend == BACKEND_SQLITE ? bsql_book(s, trip_id, kn, owner, details, &rec, &oc, err)
                                      : bddb_book(s, trip_id, kn, owner, details, &rec, &oc, err);
    if (rc == BOOKING_ECANCELLED)
        booking_fail(err, rc, "the %s booking of trip %s was already cancelled by this execution",
                     kn, trip_id);
    else if (rc == BOOKING_ECONFLICT)
        booking_fail(err, rc, "the %s booking of trip %s belongs to another execution (%s)", kn,
                     trip_id, json_string_value(json_object_get(rec, "owner"))
                                  ? json_string_value(json_object_get(rec, "owner"))
                                  : "?");
    if (outcome)
        *outcome = oc;
    if (record)
        *record = rec;
    else
        json_decref(rec);
    return rc;
}

int booking_cancel(booking_store *s, const char *trip_id, booking_kind kind, const char *owner,
                   json_t **record, booking_outcome *outcome, booking_err *err)
{
    json_t *rec = NULL;
    booking_outcome oc = BOOKING_NOTHING_BOOKED;
    int rc = check_args(trip_id, kind, err);
    if (rc == 0)
        rc = check_owner(owner, err);
    if (rc < 0)
        return rc;
    const char *kn = booking_kind_name(kind);
    rc = s->backend == BACKEND_SQLITE ? bsql_cancel(s, trip_id, kn, owner, &rec, &oc, err)
                                      : bddb_cancel(s, trip_id, kn, owner, &rec, &oc, err);
    if (outcome)
        *outcome = oc;
    if (record)
        *record = rec;
    else
        json_decref(rec);
    return rc;
}

int booking_count_cancel_attempt(booking_store *s, const char *trip_id, booking_kind kind,
                                 long *attempts, booking_err *err)
{
    int rc = check_args(trip_id, kind, err);
    if (rc < 0)
        return rc;
    const char *kn = booking_kind_name(kind);
    return s->backend == BACKEND_SQLITE ? bsql_count(s, trip_id, kn, attempts, err)
                                        : bddb_count(s, trip_id, kn, attempts, err);
}

int booking_get(booking_store *s, const char *trip_id, booking_kind kind, json_t **record,
                booking_err *err)
{
    int rc = check_args(trip_id, kind, err);
    if (rc < 0)
        return rc;
    const char *kn = booking_kind_name(kind);
    json_t *rec = NULL;
    rc = s->backend == BACKEND_SQLITE ? bsql_get(s, trip_id, kn, &rec, err)
                                      : bddb_get(s, trip_id, kn, &rec, err);
    if (rc == BOOKING_OK && booking_expired(rec, booking_now_ms() / 1000)) {
        json_decref(rec);
        return BOOKING_ENOENT;
    }
    if (record)
        *record = rec;
    else
        json_decref(rec);
    return rc;
}
