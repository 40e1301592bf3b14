/*
 * error.h - one-line error messages that travel with return codes.
 *
 * A fallible function returns int: 0 is success, a negative value is an
 * errno-style code.  Detail goes into a caller-owned struct enr_error, filled
 * by err_set(), which returns the code so callers can write
 *
 *     return err_set(err, -EINVAL, "teleport.addr: expected string");
 *
 * Messages are one line, no trailing newline, and name the operation and the
 * object ("GET /containers/json: HTTP 500: ...").  err may be NULL.
 */
#ifndef ENR_ERROR_H
#define ENR_ERROR_H

#include <stddef.h>

#define ENR_ERROR_MSG_LEN 512

/* Codes beyond errno's range. */
enum {
    ENR_EGRPC = -1000,   /* the server answered with a non-OK gRPC status */
    ENR_ENOTFOUND = -1001, /* the object does not exist (404, NOT_FOUND) */
    ENR_ERULE = -1002,   /* a rule or config file raised */
};

struct enr_error {
    int code;            /* 0 or the negative code last set */
    int grpc_status;     /* gRPC status code when code == ENR_EGRPC, else 0 */
    char msg[ENR_ERROR_MSG_LEN];
};

/* Fills err (if not NULL) with code and a formatted one-line message; returns code. */
int err_set(struct enr_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like err_set but also records a gRPC status. */
int err_set_grpc(struct enr_error *err, int grpc_status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "context: " to the message already in err; returns err->code. */
int err_wrap(struct enr_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void err_clear(struct enr_error *err);

/* Name of a gRPC status code ("NOT_FOUND"), "UNKNOWN" when out of range. */
const char *err_grpc_name(int status);

#endif
