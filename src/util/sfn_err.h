/*
 * sfn_err.h - the one table of error codes: every module's codes (SFN_ of
 * the core, STORE_, RUN_, LAM_; LRT_ and the functions' BOOKING_ are built
 * standalone for SAM and are checked against it in test_util) are these
 * values, negative errno numbers, and sfn_errname / sfn_strerror give
 * their names and messages, so that no reply or log shows a raw number.
 *
 * To add a code: one line in SFN_ERROR_TABLE.
 */
#ifndef SFN_ERR_H
#define SFN_ERR_H

/* X(name, value, short name, message) */
#define SFN_ERROR_TABLE(X)                                                                   \
    X(SFN_E_OK, 0, "OK", "success")                                                          \
    X(SFN_E_STATE, -1, "ESTATE", "not valid in the current state")                           \
    X(SFN_E_NOENT, -2, "ENOENT", "no such item")                                             \
    X(SFN_E_IO, -5, "EIO", "the store failed")                                               \
    X(SFN_E_2BIG, -7, "E2BIG", "the payload is too large")                                   \
    X(SFN_E_UNAVAIL, -11, "EUNAVAIL", "the store takes no writes now; retry later")          \
    X(SFN_E_NOMEM, -12, "ENOMEM", "out of memory")                                           \
    X(SFN_E_CONFLICT, -16, "ECONFLICT", "another owner holds it")                            \
    X(SFN_E_EXIST, -17, "EEXIST", "it already exists")                                       \
    X(SFN_E_INVAL, -22, "EINVAL", "invalid argument or definition")                          \
    X(SFN_E_FBIG, -27, "EFBIG", "an event larger than the limit")                            \
    X(SFN_E_PROTO, -71, "EPROTO", "an unexpected answer")                                    \
    X(SFN_E_SHUTDOWN, -108, "ESHUTDOWN", "the service is shutting down")                     \
    X(SFN_E_TIMEDOUT, -110, "ETIMEDOUT", "it timed out")                                     \
    X(SFN_E_CANCELLED, -125, "ECANCELLED", "it was cancelled")

#define SFN_ERR_ENUM_(name, value, shortname, msg) name = value,
enum sfn_error { SFN_ERROR_TABLE(SFN_ERR_ENUM_) };
#undef SFN_ERR_ENUM_

/* "ENOMEM"; "E?" for a value not in the table. */
const char *sfn_errname(int code);
/* "out of memory"; "unknown error" for a value not in the table. */
const char *sfn_strerror(int code);

#endif
