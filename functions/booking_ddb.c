#define _GNU_SOURCE /* asprintf */
/*
 * booking_ddb.c - the booking store on DynamoDB (AWS JSON 1.0 over
 * libcurl, signed by sigv4.c). The rules of booking.h are stated as
 * condition expressions, so each decision is one atomic UpdateItem; when
 * a condition fails, DynamoDB returns the item as it was (ALL_OLD) and
 * booking.c's rules read it to say why.
 *
 * Transient failures (no connection, a timeout, 5xx, throttling) are
 * retried with full-jitter exponential back-off, stopping in time for the
 * function to answer before its deadline; what is left is
 * BOOKING_EIO, which the function reports as StoreUnavailable and the
 * state machine retries. A refusal by AWS (a bad signature, a missing
 * permission, no such table) is not retried: err->code carries AWS's code.
 */
#include "booking_int.h"
#include "sigv4.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HTTP_TIMEOUT_MS 2500L      /* one request */
#define HTTP_MAX_BODY (1u << 20)
#define RETRIES_NO_DEADLINE 4
#define BACKOFF_BASE_MS 25
#define BACKOFF_CAP_MS 1000
#define DEADLINE_MARGIN_MS 300     /* left for the function to answer */

struct booking_ddb {
    CURL *h;
    char *table, *region, *url;
    char host[256], path[256];
};

typedef struct dbuf {
    char *p;
    size_t len;
} dbuf;

static size_t on_http_body(char *data, size_t size, size_t n, void *ud)
{
    dbuf *b = ud;
    size_t len = size * n;
    if (b->len + len > HTTP_MAX_BODY)
        return 0;
    char *p = realloc(b->p, b->len + len + 1);
    if (!p)
        return 0;
    memcpy(p + b->len, data, len);
    b->p = p;
    b->len += len;
    b->p[b->len] = '\0';
    return len;
}

/* Debian's libcurl looks for its CA bundle where Debian keeps it; Amazon
 * Linux keeps it elsewhere, so name the first one that exists. */
static const char *ca_bundle(void)
{
    static const char *const paths[] = {
        "/etc/pki/tls/certs/ca-bundle.crt",     /* Amazon Linux, Fedora */
        "/etc/ssl/certs/ca-certificates.crt",   /* Debian, Ubuntu */
        "/etc/ssl/cert.pem",
    };
    const char *env = getenv("SSL_CERT_FILE");
    if (env && access(env, R_OK) == 0)
        return env;
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (access(paths[i], R_OK) == 0)
            return paths[i];
    return NULL;
}

int bddb_open(booking_store *s, const char *table, const char *region, const char *endpoint,
              booking_err *err)
{
    char url[512];
    if (endpoint && *endpoint)
        snprintf(url, sizeof url, "%s", endpoint);
    else
        snprintf(url, sizeof url, "https://dynamodb.%s.amazonaws.com/", region);
    struct booking_ddb *d = calloc(1, sizeof *d);
    if (!d)
        return booking_fail(err, BOOKING_ENOMEM, "out of memory");
    s->ddb = d;
    if (sigv4_split_url(url, d->host, sizeof d->host, d->path, sizeof d->path) < 0)
        return booking_fail(err, BOOKING_EINVAL, "bad DynamoDB endpoint '%s'", url);
    d->table = strdup(table);
    d->region = strdup(region);
    d->url = strdup(url);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(d->h = curl_easy_init()) ||
        !d->table || !d->region || !d->url)
        return booking_fail(err, BOOKING_ENOMEM, "cannot set up libcurl");
    return BOOKING_OK;
}

void bddb_free(booking_store *s)
{
    struct booking_ddb *d = s->ddb;
    if (!d)
        return;
    if (d->h) {
        curl_easy_cleanup(d->h);
        curl_global_cleanup();
    }
    free(d->table);
    free(d->region);
    free(d->url);
    free(d);
    s->ddb = NULL;
}

/* The short name of a DynamoDB error: "...#ConditionalCheckFailedException". */
static const char *error_type(const json_t *resp)
{
    const char *t = json_string_value(json_object_get(resp, "__type"));
    if (!t)
        return "";
    const char *hash = strrchr(t, '#');
    return hash ? hash + 1 : t;
}

static const char *error_message(const json_t *resp)
{
    const char *m = json_string_value(json_object_get(resp, "message"));
    if (!m)
        m = json_string_value(json_object_get(resp, "Message"));
    return m ? m : "";
}

/* The text between <tag> and </tag> in xml, or NULL. Returns: new. */
static json_t *xml_text(const char *xml, const char *tag)
{
    char open[32], close[32];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *a = xml ? strstr(xml, open) : NULL;
    const char *b = a ? strstr(a, close) : NULL;
    return a && b ? json_stringn(a + strlen(open), (size_t)(b - a - strlen(open))) : NULL;
}

/* Authentication failures may come back as XML (<Error><Code>SignatureDoesNotMatch
 * </Code><Message>...</Message>): the same shape as a JSON error, so the
 * caller reports AWS's code either way. Returns: new, {} when neither. */
static json_t *xml_error(const char *body)
{
    json_t *o = json_object();
    json_t *code = xml_text(body, "Code"), *msg = xml_text(body, "Message");
    if (o && code)
        json_object_set_new(o, "__type", code);
    else
        json_decref(code);
    if (o && msg)
        json_object_set_new(o, "message", msg);
    else
        json_decref(msg);
    return o;
}

/* Worth another try: DynamoDB's throttling answers (400) and server errors. */
static int transient(long status, const char *type)
{
    return status >= 500 || status == 429 || !strcmp(type, "ThrottlingException") ||
           !strcmp(type, "ProvisionedThroughputExceededException") ||
           !strcmp(type, "RequestLimitExceeded") || !strcmp(type, "InternalServerError") ||
           !strcmp(type, "LimitExceededException") || !strcmp(type, "TransactionConflictException");
}

/* One signed POST. Returns 0 (with *status, *resp), or -1 with cerr set
 * when no HTTP answer came. */
static int post_once(booking_store *s, const char *op, const char *text, long timeout_ms,
                     long *status, json_t **resp, CURLcode *cerr, booking_err *err)
{
    struct booking_ddb *d = s->ddb;
    const char *ak = getenv("AWS_ACCESS_KEY_ID");
    const char *sk = getenv("AWS_SECRET_ACCESS_KEY");
    const char *token = getenv("AWS_SESSION_TOKEN");
    if (!ak || !*ak || !sk || !*sk)
        return booking_fail(err, BOOKING_EINVAL, "no AWS credentials in the environment");
    char target[96];
    snprintf(target, sizeof target, "DynamoDB_20120810.%s", op);
    sigv4_header hs[] = {{"Content-Type", "application/x-amz-json-1.0"}, {"X-Amz-Target", target}};
    sigv4_in in = {.method = "POST", .host = d->host, .path = d->path, .query = "",
                   .headers = hs, .nheaders = 2, .body = text, .body_len = strlen(text),
                   .region = d->region, .service = "dynamodb", .access_key = ak,
                   .secret_key = sk, .session_token = token, .now = time(NULL)};
    sigv4_out so;
    if (sigv4_sign(&in, &so) < 0)
        return booking_fail(err, BOOKING_EINVAL, "cannot sign the request (credentials too long?)");

    /* Exactly the headers that were signed, and no Expect: 100-continue
     * (curl adds one to larger bodies; the body is small and DynamoDB
     * does not need it). */
    char h_target[128], h_date[64], h_auth[1100];
    char *h_token = NULL;
    snprintf(h_target, sizeof h_target, "X-Amz-Target: %s", target);
    snprintf(h_date, sizeof h_date, "X-Amz-Date: %s", so.amz_date);
    snprintf(h_auth, sizeof h_auth, "Authorization: %s", so.authorization);
    struct curl_slist *hl = NULL, *t;
    const char *lines[] = {"Content-Type: application/x-amz-json-1.0", h_target, h_date, h_auth,
                           "Expect:"};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        if (!(t = curl_slist_append(hl, lines[i])))
            goto oom;
        hl = t;
    }
    if (token && *token) {
        if (asprintf(&h_token, "X-Amz-Security-Token: %s", token) < 0) {
            h_token = NULL;
            goto oom;
        }
        if (!(t = curl_slist_append(hl, h_token)))
            goto oom;
        hl = t;
    }
    dbuf body = {NULL, 0};
    CURL *h = d->h;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, d->url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(text));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_http_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 1000 ? timeout_ms : 1000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    const char *ca = ca_bundle();
    if (ca)
        curl_easy_setopt(h, CURLOPT_CAINFO, ca);
    *cerr = curl_easy_perform(h);
    *status = 0;
    int rc = -1;
    if (*cerr == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
        *resp = json_loadb(body.p ? body.p : "{}", body.len ? body.len : 2, 0, NULL);
        if (!*resp)
            *resp = xml_error(body.p); /* an XML error (a front end's), or a proxy's page */
        rc = *resp ? 0 : booking_fail(err, BOOKING_ENOMEM, "out of memory");
    }
    free(body.p);
    curl_slist_free_all(hl);
    free(h_token);
    return rc;
oom:
    curl_slist_free_all(hl);
    free(h_token);
    return booking_fail(err, BOOKING_ENOMEM, "out of memory");
}

/* POST one operation, retrying what is transient. Returns 0 with *resp
 * (new) and *status for any HTTP answer that is final (2xx, or a 4xx the
 * caller reads, like ConditionalCheckFailedException); BOOKING_EIO when
 * every try failed or AWS refused the request itself. */
static int ddb_call(booking_store *s, const char *op, json_t *req, json_t **resp, long *status,
                    booking_err *err)
{
    char *text = json_dumps(req, JSON_COMPACT);
    if (!text)
        return booking_fail(err, BOOKING_ENOMEM, "out of memory");
    int rc = BOOKING_EIO;
    char last[256] = "";
    for (int attempt = 0;; attempt++) {
        long timeout = HTTP_TIMEOUT_MS;
        if (s->deadline_ms > 0) {
            int64_t left = s->deadline_ms - DEADLINE_MARGIN_MS - booking_now_ms();
            if (left < 100) {
                rc = booking_fail(err, BOOKING_EIO,
                                  "DynamoDB %s: gave up before the function's deadline after %d "
                                  "tries (%s)", op, attempt, last[0] ? last : "no time left");
                break;
            }
            if (left < timeout)
                timeout = (long)left;
        } else if (attempt > RETRIES_NO_DEADLINE) {
            rc = booking_fail(err, BOOKING_EIO, "DynamoDB %s: gave up after %d tries (%s)", op,
                              attempt, last);
            break;
        }
        CURLcode c = CURLE_OK;
        json_t *r = NULL;
        int prc = post_once(s, op, text, timeout, status, &r, &c, err);
        if (prc < 0 && c == CURLE_OK) {
            rc = prc; /* no credentials, no memory: trying again will not help */
            break;
        }
        const char *type = r ? error_type(r) : "";
        if (prc == 0 && !transient(*status, type)) {
            if (*status >= 400 && strcmp(type, "ConditionalCheckFailedException") != 0) {
                /* refused: a signature, a permission, a table, a request */
                snprintf(err->code, sizeof err->code, "%s", *type ? type : "HTTPError");
                rc = booking_fail(err, BOOKING_EIO, "DynamoDB %s refused (HTTP %ld %s): %s", op,
                                  *status, *type ? type : "error", error_message(r));
                json_decref(r);
                break;
            }
            *resp = r;
            rc = BOOKING_OK;
            break;
        }
        if (prc == 0) {
            snprintf(last, sizeof last, "HTTP %ld %s", *status, type);
            snprintf(err->code, sizeof err->code, "%s", *type ? type : "HTTPError");
        } else {
            snprintf(last, sizeof last, "%s", curl_easy_strerror(c));
        }
        json_decref(r);
        /* full jitter: a random wait up to base * 2^attempt, capped */
        uint64_t cap = (uint64_t)BACKOFF_BASE_MS << (attempt < 10 ? attempt : 10);
        if (cap > BACKOFF_CAP_MS)
            cap = BACKOFF_CAP_MS;
        uint64_t wait = booking_rand(s, cap + 1);
        if (s->deadline_ms > 0 &&
            booking_now_ms() + (int64_t)wait + 100 > s->deadline_ms - DEADLINE_MARGIN_MS)
            wait = 0; /* the loop's deadline check ends it */
        struct timespec ts = {(time_t)(wait / 1000), (long)(wait % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    free(text);
    return rc;
}

static json_t *key(const char *trip, const char *kind)
{
    return json_pack("{s:{s:s}, s:{s:s}}", "tripId", "S", trip, "kind", "S", kind);
}

/* An attribute-value map of strings from a JSON object of strings. */
static json_t *av_map(const json_t *details)
{
    json_t *m = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)details, k, v) {
        if (json_is_string(v))
            json_object_set_new(m, k, json_pack("{s:O}", "S", v));
    }
    return json_pack("{s:o}", "M", m);
}

/* An item (attribute values) to the record shape; NULL item: NULL. */
static json_t *record_of(const json_t *item)
{
    if (!json_is_object(item))
        return NULL;
    json_t *o = json_object();
    static const char *const names[] = {"tripId", "kind", "status", "owner", "bookedAt",
                                        "cancelledAt"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        json_t *s = json_object_get(json_object_get(item, names[i]), "S");
        json_object_set_new(o, names[i], s ? json_incref(s) : json_null());
    }
    json_t *m = json_object_get(json_object_get(item, "details"), "M");
    json_t *d = m ? json_object() : json_null();
    const char *k;
    json_t *v;
    if (m)
        json_object_foreach(m, k, v) {
            json_t *s = json_object_get(v, "S");
            if (s)
                json_object_set(d, k, s);
        }
    json_object_set_new(o, "details", d);
    const char *n = json_string_value(json_object_get(json_object_get(item, "cancelAttempts"), "N"));
    json_object_set_new(o, "cancelAttempts", json_integer(n ? strtoll(n, NULL, 10) : 0));
    json_t *ss = json_object_get(json_object_get(item, "cancelledBy"), "SS");
    json_object_set_new(o, "cancelledBy", json_is_array(ss) ? json_deep_copy(ss) : json_array());
    const char *e = json_string_value(json_object_get(json_object_get(item, "expiresAt"), "N"));
    json_object_set_new(o, "expiresAt", e ? json_integer(strtoll(e, NULL, 10)) : json_null());
    return o;
}

/* UpdateItem. Returns 0 with *item (Attributes as asked by rv, possibly
 * NULL), 1 when the condition failed (with *item the item as it was, or
 * NULL when absent), or a negative code. */
static int update(booking_store *s, const char *trip, const char *kind, const char *expr,
                  const char *cond, json_t *names, json_t *values, const char *rv, json_t **item,
                  booking_err *err)
{
    json_t *resp = NULL;
    long status = 0;
    *item = NULL;
    json_t *req = json_pack("{s:s, s:o, s:s, s:s}", "TableName", s->ddb->table, "Key",
                            key(trip, kind), "UpdateExpression", expr, "ReturnValues", rv);
    if (!req || !names || !values) {
        json_decref(req);
        return booking_fail(err, BOOKING_ENOMEM, "out of memory");
    }
    if (cond) {
        json_object_set_new(req, "ConditionExpression", json_string(cond));
        json_object_set_new(req, "ReturnValuesOnConditionCheckFailure", json_string("ALL_OLD"));
    }
    if (json_object_size(names))
        json_object_set(req, "ExpressionAttributeNames", names);
    json_object_set(req, "ExpressionAttributeValues", values);
    int rc = ddb_call(s, "UpdateItem", req, &resp, &status, err);
    json_decref(req);
    if (rc < 0)
        return rc;
    if (status == 200) {
        *item = record_of(json_object_get(resp, "Attributes"));
        rc = 0;
    } else if (!strcmp(error_type(resp), "ConditionalCheckFailedException")) {
        *item = record_of(json_object_get(resp, "Item"));
        rc = 1;
    } else {
        rc = booking_fail(err, BOOKING_EIO, "DynamoDB UpdateItem: HTTP %ld %s: %s", status,
                          error_type(resp), error_message(resp));
    }
    json_decref(resp);
    return rc;
}

int bddb_book(booking_store *s, const char *trip, const char *kind, const char *owner,
              const json_t *details, json_t **rec, booking_outcome *out, booking_err *err)
{
    char now[32];
    booking_now_iso(now);
    char nows[24];
    snprintf(nows, sizeof nows, "%lld", (long long)(booking_now_ms() / 1000));
    json_t *names = json_pack("{s:s, s:s, s:s, s:s}", "#s", "status", "#o", "owner", "#d",
                              "details", "#cb", "cancelledBy");
    json_t *values = json_pack("{s:{s:s}, s:{s:s}, s:{s:s}, s:o, s:{s:s}, s:{s:s}}", ":booked",
                               "S", "BOOKED", ":cancelled", "S", "CANCELLED", ":e", "S", owner,
                               ":d", av_map(details), ":now", "S", now, ":t", "N", nows);
    /* Write when nothing is booked (absent, no status, a tombstone) and
     * this owner never cancelled it; an expired tombstone counts as absent. */
    json_t *item = NULL;
    int rc = update(s, trip, kind,
                    "SET #s = :booked, #o = :e, #d = :d, bookedAt = :now"
                    " REMOVE cancelledAt, expiresAt",
                    "(attribute_not_exists(#s) OR #s = :cancelled OR expiresAt <= :t)"
                    " AND (NOT contains(#cb, :e) OR expiresAt <= :t)",
                    names, values, "ALL_NEW", &item, err);
    json_decref(names);
    json_decref(values);
    *rec = item;
    if (rc < 0)
        return rc;
    if (rc == 0) {
        *out = BOOKING_BOOKED;
        return BOOKING_OK;
    }
    switch (booking_decide_book(item, owner, booking_now_ms() / 1000)) {
    case V_KEEP:
        *out = BOOKING_ALREADY_BOOKED;
        return BOOKING_OK;
    case V_CONFLICT:
        *out = BOOKING_REFUSED;
        return BOOKING_ECONFLICT;
    case V_REFUSED:
        *out = BOOKING_REFUSED;
        return BOOKING_ECANCELLED;
    default:
        return booking_fail(err, BOOKING_EIO, "DynamoDB refused a booking the rules allow");
    }
}

int bddb_cancel(booking_store *s, const char *trip, const char *kind, const char *owner,
                json_t **rec, booking_outcome *out, booking_err *err)
{
    char now[32];
    booking_now_iso(now);
    long long now_s = booking_now_ms() / 1000;
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%lld", now_s + s->ttl_s);
    for (int round = 0; round < 3; round++) {
        /* Cancel unless another execution holds it booked. */
        json_t *names = json_pack("{s:s, s:s, s:s}", "#s", "status", "#o", "owner", "#cb",
                                  "cancelledBy");
        json_t *values = json_pack("{s:{s:s}, s:{s:s}, s:{s:s}, s:{s:[s]}, s:{s:s}, s:{s:s}}",
                                   ":cancelled", "S", "CANCELLED", ":booked", "S", "BOOKED", ":e",
                                   "S", owner, ":es", "SS", owner, ":now", "S", now, ":ttl", "N",
                                   ttl);
        json_t *old = NULL;
        int rc = update(s, trip, kind,
                        "SET #s = :cancelled, cancelledAt = if_not_exists(cancelledAt, :now),"
                        " #o = if_not_exists(#o, :e), expiresAt = :ttl ADD #cb :es",
                        "attribute_not_exists(#s) OR #s <> :booked OR #o = :e", names, values,
                        "ALL_OLD", &old, err);
        json_decref(names);
        if (rc == 0) {
            *out = booking_decide_cancel(old, owner, now_s);
            *rec = booking_apply_cancel(old, trip, kind, owner, now, now_s + s->ttl_s);
            json_decref(old);
            json_decref(values);
            return *rec ? BOOKING_OK : booking_fail(err, BOOKING_ENOMEM, "out of memory");
        }
        json_decref(old);
        if (rc < 0) {
            json_decref(values);
            return rc;
        }
        /* Another execution holds it: record the cancel and nothing else. */
        json_decref(values);
        /* (DynamoDB refuses values an expression does not use) */
        names = json_pack("{s:s, s:s, s:s}", "#s", "status", "#o", "owner", "#cb", "cancelledBy");
        values = json_pack("{s:{s:s}, s:{s:s}, s:{s:[s]}}", ":booked", "S", "BOOKED", ":e", "S",
                           owner, ":es", "SS", owner);
        json_t *item = NULL;
        rc = update(s, trip, kind, "ADD #cb :es", "#s = :booked AND #o <> :e", names, values,
                    "ALL_NEW", &item, err);
        json_decref(names);
        json_decref(values);
        if (rc == 0) {
            *out = BOOKING_NOT_OWNER;
            *rec = item;
            return BOOKING_OK;
        }
        json_decref(item);
        if (rc < 0)
            return rc;
        /* it changed between the two requests: decide again */
    }
    return booking_fail(err, BOOKING_EIO, "DynamoDB: the item kept changing under the cancel");
}

int bddb_count(booking_store *s, const char *trip, const char *kind, long *attempts,
               booking_err *err)
{
    json_t *item = NULL;
    json_t *names = json_object();
    json_t *values = json_pack("{s:{s:s}}", ":one", "N", "1");
    int rc = update(s, trip, kind, "ADD cancelAttempts :one", NULL, names, values, "ALL_NEW", &item,
                    err);
    json_decref(names);
    json_decref(values);
    if (rc == 0)
        *attempts = (long)json_integer_value(json_object_get(item, "cancelAttempts"));
    json_decref(item);
    return rc < 0 ? rc : BOOKING_OK;
}

int bddb_get(booking_store *s, const char *trip, const char *kind, json_t **rec,
             booking_err *err)
{
    json_t *resp = NULL;
    long status = 0;
    json_t *req = json_pack("{s:s, s:o, s:b}", "TableName", s->ddb->table, "Key", key(trip, kind),
                            "ConsistentRead", 1);
    if (!req)
        return booking_fail(err, BOOKING_ENOMEM, "out of memory");
    int rc = ddb_call(s, "GetItem", req, &resp, &status, err);
    json_decref(req);
    if (rc < 0)
        return rc;
    json_t *item = json_object_get(resp, "Item");
    if (status != 200)
        rc = booking_fail(err, BOOKING_EIO, "DynamoDB GetItem: HTTP %ld %s", status,
                          error_type(resp));
    else if (!item)
        rc = BOOKING_ENOENT;
    else
        *rec = record_of(item);
    json_decref(resp);
    return rc;
}
