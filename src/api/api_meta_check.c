/*
 * api_meta_check.c - AWS's checks of tags and of a state machine's
 * logging, tracing and encryption configurations (api_meta_check.h).
 *
 * What AWS documents and was recorded:
 *   - a Tag's key has 1..128 characters, its value 0..256, both of Unicode
 *     letters, digits, white space and _ . : / = + - @; at most 50 tags a
 *     resource (TooManyTags); keys starting with "aws:" are AWS's;
 *   - loggingConfiguration: level ALL | ERROR | FATAL | OFF (default OFF),
 *     includeExecutionData (default false), destinations: a level other
 *     than OFF needs exactly one, and more than one is refused at any level
 *     (InvalidLoggingConfiguration "Must specify exactly one Log
 *     Destination."); an empty object is the default; an OFF level with a
 *     destination keeps it; the destination is a CloudWatch Logs log group
 *     ARN;
 *   - tracingConfiguration: enabled (default false);
 *   - encryptionConfiguration: type AWS_OWNED_KEY | CUSTOMER_MANAGED_KMS_KEY
 *     (required); kmsKeyId (1..2048) only with, and required by, a
 *     customer managed key; kmsDataKeyReusePeriodSeconds 60..900 (default
 *     300 for a customer managed key).
 * There is no KMS here: a key id is kept, not checked with KMS.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "api_meta_check.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int fail(meta_err *e, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(meta_err *e, const char *type, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->type = type;
    return -1;
}

static int serial(meta_err *e, const char *where, const char *what)
{
    return fail(e, "SerializationException", "Unexpected value for '%s': expected %s", where,
                what);
}

/* Characters in UTF-8 (a tag's length is in characters). */
static size_t u8len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/* Unicode letters, digits, white space, _ . : / = + - @ (any non-ASCII
 * character is taken as a letter). */
static int tag_chars_ok(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p >= 0x80 || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
            (*p >= '0' && *p <= '9') || strchr(" \t_.:/=+-@", *p))
            continue;
        return 0;
    }
    return 1;
}

static int check_tag_str(const json_t *v, const char *where, size_t lo, size_t hi, meta_err *e)
{
    if (!json_is_string(v))
        return serial(e, where, "STRING_VALUE");
    const char *s = json_string_value(v);
    size_t n = u8len(s);
    if (n < lo)
        return fail(e, "ValidationException",
                    "1 validation error detected: Value '%s' at '%s' failed to satisfy "
                    "constraint: Member must have length greater than or equal to %zu",
                    s, where, lo);
    if (n > hi)
        return fail(e, "ValidationException",
                    "1 validation error detected: Value '%s' at '%s' failed to satisfy "
                    "constraint: Member must have length less than or equal to %zu",
                    s, where, hi);
    if (!tag_chars_ok(s))
        return fail(e, "ValidationException",
                    "1 validation error detected: Value '%s' at '%s' failed to satisfy "
                    "constraint: Member must satisfy regular expression pattern: "
                    "^[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*$",
                    s, where);
    return 0;
}

int meta_check_tags(const json_t *tags, const char *where, meta_err *e)
{
    if (!json_is_array(tags))
        return serial(e, where, "LIST_VALUE");
    size_t i;
    const json_t *t;
    json_array_foreach(tags, i, t) {
        char w[96];
        if (!json_is_object(t)) {
            snprintf(w, sizeof w, "%s.%zu.member", where, i + 1);
            return serial(e, w, "STRUCTURE_VALUE");
        }
        const json_t *k = json_object_get(t, "key"), *v = json_object_get(t, "value");
        snprintf(w, sizeof w, "%s.%zu.member.key", where, i + 1);
        if (k == NULL || json_is_null(k))
            return fail(e, "ValidationException",
                        "1 validation error detected: Value null at '%s' failed to satisfy "
                        "constraint: Member must not be null",
                        w);
        if (check_tag_str(k, w, 1, META_TAG_KEY_MAX, e) != 0)
            return -1;
        if (!strncasecmp(json_string_value(k), "aws:", 4))
            return fail(e, "ValidationException",
                        "Invalid tag key '%s': the 'aws:' prefix is reserved for AWS use",
                        json_string_value(k));
        snprintf(w, sizeof w, "%s.%zu.member.value", where, i + 1);
        if (v != NULL && !json_is_null(v) && check_tag_str(v, w, 0, META_TAG_VALUE_MAX, e) != 0)
            return -1;
    }
    return 0;
}

int meta_check_tag_keys(const json_t *keys, meta_err *e)
{
    if (!json_is_array(keys))
        return serial(e, "tagKeys", "LIST_VALUE");
    size_t i;
    const json_t *k;
    json_array_foreach(keys, i, k) {
        char w[64];
        snprintf(w, sizeof w, "tagKeys.%zu.member", i + 1);
        if (check_tag_str(k, w, 1, META_TAG_KEY_MAX, e) != 0)
            return -1;
    }
    return 0;
}

int meta_check_tag_count(const json_t *have, const json_t *tags, const char *arn, meta_err *e)
{
    json_t *keys = have ? json_copy((json_t *)have) : json_object();
    size_t i;
    const json_t *t;
    json_array_foreach(tags, i, t)
        json_object_set_new(keys, json_string_value(json_object_get(t, "key")), json_null());
    size_t n = json_object_size(keys);
    json_decref(keys);
    if (n > META_MAX_TAGS)
        return fail(e, "TooManyTags",
                    "Too many tags: the resource '%s' would have %zu tags; at most %d are "
                    "allowed",
                    arn, n, META_MAX_TAGS);
    return 0;
}

/* ---- logging ------------------------------------------------------------------ */
json_t *meta_logging_default(void)
{
    return json_pack("{s:s,s:b}", "level", "OFF", "includeExecutionData", 0);
}

json_t *meta_tracing_default(void)
{
    return json_pack("{s:b}", "enabled", 0);
}

json_t *meta_encryption_default(void)
{
    return json_pack("{s:s}", "type", "AWS_OWNED_KEY");
}

static int invalid_logging(meta_err *e, const char *what)
{
    return fail(e, "InvalidLoggingConfiguration", "Invalid Logging Configuration: %s", what);
}

/* destinations[i].cloudWatchLogsLogGroup.logGroupArn: a log group ARN. */
static int check_destination(const json_t *d, size_t i, meta_err *e)
{
    char w[96];
    snprintf(w, sizeof w, "loggingConfiguration.destinations.%zu.member", i + 1);
    if (!json_is_object(d))
        return serial(e, w, "STRUCTURE_VALUE");
    const json_t *g = json_object_get(d, "cloudWatchLogsLogGroup");
    if (g != NULL && !json_is_null(g) && !json_is_object(g))
        return serial(e, "cloudWatchLogsLogGroup", "STRUCTURE_VALUE");
    const json_t *a = g ? json_object_get(g, "logGroupArn") : NULL;
    if (a != NULL && !json_is_null(a) && !json_is_string(a))
        return serial(e, "logGroupArn", "STRING_VALUE");
    const char *arn = a && json_is_string(a) ? json_string_value(a) : NULL;
    if (arn == NULL || arn[0] == '\0')
        return invalid_logging(e, "Must specify a CloudWatch Logs log group ARN in each Log "
                                  "Destination.");
    if (strlen(arn) > 256)
        return fail(e, "ValidationException",
                    "1 validation error detected: Value at '%s.cloudWatchLogsLogGroup."
                    "logGroupArn' failed to satisfy constraint: Member must have length less "
                    "than or equal to 256",
                    w);
    if (strncmp(arn, "arn:", 4) != 0 || strstr(arn, ":logs:") == NULL ||
        strstr(arn, ":log-group:") == NULL)
        return invalid_logging(e, "The CloudWatch Logs log group ARN is not valid.");
    return 0;
}

int meta_logging(const json_t *in, json_t **out, meta_err *e)
{
    *out = NULL;
    if (!json_is_object(in))
        return serial(e, "loggingConfiguration", "STRUCTURE_VALUE");
    const json_t *lv = json_object_get(in, "level");
    const json_t *inc = json_object_get(in, "includeExecutionData");
    const json_t *ds = json_object_get(in, "destinations");
    const char *level = "OFF";
    if (lv != NULL && !json_is_null(lv)) {
        if (!json_is_string(lv))
            return serial(e, "level", "STRING_VALUE");
        level = json_string_value(lv);
        if (strcmp(level, "ALL") && strcmp(level, "ERROR") && strcmp(level, "FATAL") &&
            strcmp(level, "OFF"))
            return fail(e, "ValidationException",
                        "1 validation error detected: Value '%s' at 'loggingConfiguration.level' "
                        "failed to satisfy constraint: Member must satisfy enum value set: [ALL, "
                        "ERROR, FATAL, OFF]",
                        level);
    }
    if (inc != NULL && !json_is_null(inc) && !json_is_boolean(inc))
        return serial(e, "includeExecutionData", "BOOLEAN_VALUE");
    size_t nd = 0;
    if (ds != NULL && !json_is_null(ds)) {
        if (!json_is_array(ds))
            return serial(e, "destinations", "LIST_VALUE");
        nd = json_array_size(ds);
    }
    if (nd > 1 || (nd == 0 && strcmp(level, "OFF") != 0))
        return invalid_logging(e, "Must specify exactly one Log Destination.");
    for (size_t i = 0; i < nd; i++)
        if (check_destination(json_array_get(ds, i), i, e) != 0)
            return -1;
    json_t *o = json_pack("{s:s,s:b}", "level", level, "includeExecutionData",
                          inc && json_is_true(inc));
    if (o && nd) {
        const char *arn = json_string_value(
            json_object_get(json_object_get(json_array_get(ds, 0), "cloudWatchLogsLogGroup"),
                            "logGroupArn"));
        json_object_set_new(o, "destinations",
                            json_pack("[{s:{s:s}}]", "cloudWatchLogsLogGroup", "logGroupArn", arn));
    }
    *out = o;
    return o ? 0 : fail(e, "InternalFailure", "out of memory");
}

int meta_tracing(const json_t *in, json_t **out, meta_err *e)
{
    *out = NULL;
    if (!json_is_object(in))
        return serial(e, "tracingConfiguration", "STRUCTURE_VALUE");
    const json_t *en = json_object_get(in, "enabled");
    if (en != NULL && !json_is_null(en) && !json_is_boolean(en))
        return serial(e, "enabled", "BOOLEAN_VALUE");
    *out = json_pack("{s:b}", "enabled", en && json_is_true(en));
    return *out ? 0 : fail(e, "InternalFailure", "out of memory");
}

static int invalid_enc(meta_err *e, const char *what)
{
    return fail(e, "InvalidEncryptionConfiguration", "Invalid Encryption Configuration: %s",
                what);
}

int meta_encryption(const json_t *in, json_t **out, meta_err *e)
{
    *out = NULL;
    if (!json_is_object(in))
        return serial(e, "encryptionConfiguration", "STRUCTURE_VALUE");
    const json_t *ty = json_object_get(in, "type");
    const json_t *key = json_object_get(in, "kmsKeyId");
    const json_t *reuse = json_object_get(in, "kmsDataKeyReusePeriodSeconds");
    if (ty == NULL || json_is_null(ty))
        return fail(e, "ValidationException",
                    "1 validation error detected: Value null at 'encryptionConfiguration.type' "
                    "failed to satisfy constraint: Member must not be null");
    if (!json_is_string(ty))
        return serial(e, "type", "STRING_VALUE");
    if (key != NULL && !json_is_null(key) && !json_is_string(key))
        return serial(e, "kmsKeyId", "STRING_VALUE");
    if (reuse != NULL && !json_is_null(reuse) && !json_is_integer(reuse))
        return serial(e, "kmsDataKeyReusePeriodSeconds", "INTEGER_VALUE");
    const char *type = json_string_value(ty);
    int cmk = !strcmp(type, "CUSTOMER_MANAGED_KMS_KEY");
    if (!cmk && strcmp(type, "AWS_OWNED_KEY"))
        return fail(e, "ValidationException",
                    "1 validation error detected: Value '%s' at 'encryptionConfiguration.type' "
                    "failed to satisfy constraint: Member must satisfy enum value set: "
                    "[AWS_OWNED_KEY, CUSTOMER_MANAGED_KMS_KEY]",
                    type);
    const char *kid = key && json_is_string(key) ? json_string_value(key) : NULL;
    if (kid && (kid[0] == '\0' || strlen(kid) > 2048))
        return fail(e, "ValidationException",
                    "1 validation error detected: Value '%s' at "
                    "'encryptionConfiguration.kmsKeyId' failed to satisfy constraint: Member "
                    "must have length %s",
                    kid, kid[0] ? "less than or equal to 2048" : "greater than or equal to 1");
    json_int_t secs = reuse && json_is_integer(reuse) ? json_integer_value(reuse) : 0;
    if (reuse && json_is_integer(reuse) && (secs < 60 || secs > 900))
        return fail(e, "ValidationException",
                    "1 validation error detected: Value '%lld' at "
                    "'encryptionConfiguration.kmsDataKeyReusePeriodSeconds' failed to satisfy "
                    "constraint: Member must have value %s",
                    (long long)secs,
                    secs < 60 ? "greater than or equal to 60" : "less than or equal to 900");
    if (cmk && kid == NULL)
        return invalid_enc(e, "kmsKeyId is required when the type is CUSTOMER_MANAGED_KMS_KEY.");
    if (!cmk && (kid || (reuse && json_is_integer(reuse))))
        return invalid_enc(e, "kmsKeyId and kmsDataKeyReusePeriodSeconds are only allowed "
                              "when the type is CUSTOMER_MANAGED_KMS_KEY.");
    json_t *o = json_pack("{s:s}", "type", type);
    if (o && cmk) {
        json_object_set_new(o, "kmsKeyId", json_string(kid));
        json_object_set_new(o, "kmsDataKeyReusePeriodSeconds",
                            json_integer(reuse && json_is_integer(reuse) ? secs : 300));
    }
    *out = o;
    return o ? 0 : fail(e, "InternalFailure", "out of memory");
}
