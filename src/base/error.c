/* error.c - see error.h. */
#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void strip_newlines(char *s)
{
    for (; *s; s++)
        if (*s == '\n' || *s == '\r')
            *s = ' ';
}

int err_set(struct enr_error *err, int code, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return code;
    err->code = code;
    err->grpc_status = 0;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    strip_newlines(err->msg);
    return code;
}

int err_set_grpc(struct enr_error *err, int grpc_status, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return ENR_EGRPC;
    err->code = ENR_EGRPC;
    err->grpc_status = grpc_status;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    strip_newlines(err->msg);
    return ENR_EGRPC;
}

int err_wrap(struct enr_error *err, const char *fmt, ...)
{
    char prefix[ENR_ERROR_MSG_LEN], old[ENR_ERROR_MSG_LEN];
    va_list ap;

    if (err == NULL)
        return 0;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    /* Truncation is acceptable: the message stays one bounded line. */
    size_t n = strnlen(prefix, sizeof(err->msg) - 1);
    memcpy(err->msg, prefix, n);
    if (n + 2 < sizeof(err->msg)) {
        memcpy(err->msg + n, ": ", 2);
        n += 2;
    }
    size_t room = sizeof(err->msg) - 1 - n;
    size_t m = strnlen(old, room);
    memcpy(err->msg + n, old, m);
    err->msg[n + m] = '\0';
    strip_newlines(err->msg);
    return err->code;
}

void err_clear(struct enr_error *err)
{
    if (err == NULL)
        return;
    err->code = 0;
    err->grpc_status = 0;
    err->msg[0] = '\0';
}

const char *err_grpc_name(int status)
{
    static const char *const names[] = {
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
        "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
        "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
    };
    if (status < 0 || (size_t)status >= sizeof(names) / sizeof(names[0]))
        return "UNKNOWN";
    return names[status];
}
