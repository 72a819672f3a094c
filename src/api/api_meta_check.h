/*
 * api_meta_check.h - the checks of tags and of a state machine's logging,
 * tracing and encryption configurations as AWS makes them, apart from the
 * calls (pure functions of the request's JSON; api_meta_check.c). The
 * operations (api_meta.c, api_sm.c) reply with the error they give.
 *
 * Each check returns 0, or -1 with e->type (AWS's error type) and e->msg
 * (its message) set.
 */
#ifndef SFN_API_META_CHECK_H
#define SFN_API_META_CHECK_H

#include <jansson.h>
#include <stddef.h>

#define META_MAX_TAGS 50        /* tags per resource (Step Functions quotas) */
#define META_TAG_KEY_MAX 128
#define META_TAG_VALUE_MAX 256

typedef struct meta_err {
    const char *type;
    char msg[1024];
} meta_err;

/* A list of Tag objects ({key, value}) at member `where` ("tags"): types,
 * key 1..128 and value 0..256 characters, AWS's character set, no "aws:"
 * prefix on a key. */
int meta_check_tags(const json_t *tags, const char *where, meta_err *e);
/* UntagResource's tagKeys: strings of 1..128 characters. */
int meta_check_tag_keys(const json_t *keys, meta_err *e);
/* The count of tags after adding `tags` (checked) to `have` existing keys
 * (a JSON object key -> value; NULL: none): TooManyTags above 50. */
int meta_check_tag_count(const json_t *have, const json_t *tags, const char *arn, meta_err *e);

/* A request's loggingConfiguration (an object; absent members take
 * AWS's defaults): *out gets the object DescribeStateMachine answers
 * ({level, includeExecutionData[, destinations]}), new. */
int meta_logging(const json_t *in, json_t **out, meta_err *e);
/* tracingConfiguration: *out {enabled}. */
int meta_tracing(const json_t *in, json_t **out, meta_err *e);
/* encryptionConfiguration: *out {type[, kmsKeyId, kmsDataKeyReusePeriodSeconds]}. */
int meta_encryption(const json_t *in, json_t **out, meta_err *e);

/* The defaults DescribeStateMachine answers when nothing was configured. */
json_t *meta_logging_default(void);
json_t *meta_tracing_default(void);
json_t *meta_encryption_default(void);

#endif
