/*
 * grpc_frame.h - gRPC message framing over HTTP/2 DATA and the status that
 * arrives in trailers.
 *
 * A gRPC message on the wire is a 5-byte prefix (1 byte "compressed" flag,
 * 4 bytes big-endian length) followed by the protobuf bytes.  HTTP/2 DATA
 * frames cut that stream anywhere, so the decoder is fed arbitrary chunks
 * and hands out whole messages:
 *
 *     struct grpc_frame_decoder d;
 *     grpc_frame_decoder_init(&d, 0);            // 0: GRPC_FRAME_MAX_DEFAULT
 *     rc = grpc_frame_decoder_feed(&d, chunk, n, on_msg, ud, err);
 *     ...
 *     rc = grpc_frame_decoder_finish(&d, err);   // at END_STREAM
 *     grpc_frame_decoder_cleanup(&d);
 *
 * We never negotiate compression (no grpc-encoding header is sent), so a
 * message with the compressed flag set is a protocol error.
 */
#ifndef ENR_GRPC_FRAME_H
#define ENR_GRPC_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define GRPC_FRAME_HDR_LEN 5
#define GRPC_FRAME_MAX_DEFAULT (4u * 1024u * 1024u) /* grpc-go's default receive limit */
#define GRPC_FRAME_TIMEOUT_LEN 16                   /* buffer for grpc_frame_timeout_format */

/* gRPC status codes used by name in the code. */
enum {
    GRPC_STATUS_OK = 0,
    GRPC_STATUS_CANCELLED = 1,
    GRPC_STATUS_UNKNOWN = 2,
    GRPC_STATUS_INVALID_ARGUMENT = 3,
    GRPC_STATUS_DEADLINE_EXCEEDED = 4,
    GRPC_STATUS_NOT_FOUND = 5,
    GRPC_STATUS_ALREADY_EXISTS = 6,
    GRPC_STATUS_PERMISSION_DENIED = 7,
    GRPC_STATUS_RESOURCE_EXHAUSTED = 8,
    GRPC_STATUS_FAILED_PRECONDITION = 9,
    GRPC_STATUS_UNIMPLEMENTED = 12,
    GRPC_STATUS_INTERNAL = 13,
    GRPC_STATUS_UNAVAILABLE = 14,
    GRPC_STATUS_UNAUTHENTICATED = 16,
};

/* Writes the 5-byte prefix for an uncompressed message of len bytes. */
void grpc_frame_put_header(uint8_t out[GRPC_FRAME_HDR_LEN], uint32_t len);

/* Returns a malloc'd buffer holding prefix + msg in *out (length len + 5).
 * -EMSGSIZE when len does not fit in 32 bits, -ENOMEM. */
int grpc_frame_encode(const uint8_t *msg, size_t len, uint8_t **out, size_t *out_len, struct enr_error *err);

/* Called for each complete message; the bytes are valid only during the
 * call.  A non-zero return stops decoding and is returned by _feed. */
typedef int (*grpc_frame_msg_cb)(void *ud, const uint8_t *msg, size_t len);

struct grpc_frame_decoder {
    size_t max;                           /* largest accepted message */
    uint8_t hdr[GRPC_FRAME_HDR_LEN];
    size_t hdr_have;                      /* prefix bytes seen of the current message */
    uint8_t *msg;                         /* body being assembled */
    size_t msg_len, msg_have;
    int failed;                           /* sticky error code, 0 when healthy */
};

void grpc_frame_decoder_init(struct grpc_frame_decoder *d, size_t max);
void grpc_frame_decoder_cleanup(struct grpc_frame_decoder *d);
/* Consumes len bytes.  Errors (sticky): -EPROTO for a compressed message,
 * -EMSGSIZE for one over max, -ENOMEM, or the callback's non-zero value. */
int grpc_frame_decoder_feed(struct grpc_frame_decoder *d, const uint8_t *data, size_t len, grpc_frame_msg_cb cb,
                            void *ud, struct enr_error *err);
/* At end of stream: -EPROTO if a message was cut short. */
int grpc_frame_decoder_finish(struct grpc_frame_decoder *d, struct enr_error *err);

/* grpc-status / grpc-message as seen in trailers (or in the headers of a
 * trailers-only response). */
struct grpc_frame_status {
    bool have_status;
    int status;
    char *message; /* percent-decoded, malloc'd; NULL when absent */
};

void grpc_frame_status_init(struct grpc_frame_status *st);
void grpc_frame_status_cleanup(struct grpc_frame_status *st);
/* Looks at one header; ignores names other than grpc-status/grpc-message.
 * -EPROTO for a grpc-status that is not a decimal number, -ENOMEM. */
int grpc_frame_status_header(struct grpc_frame_status *st, const char *name, size_t name_len, const char *value,
                             size_t value_len, struct enr_error *err);

/* Percent-decodes grpc-message (RFC 3986 style %XX, anything else kept
 * as is; a malformed escape is kept literally, as grpc-go does).  Returns a
 * malloc'd NUL-terminated string or NULL on ENOMEM. */
char *grpc_frame_percent_decode(const char *in, size_t len);

/* Formats a grpc-timeout value: "1500m"; at most 8 digits, switching to
 * seconds / minutes / hours units for long timeouts (rounded up). */
void grpc_frame_timeout_format(uint64_t ms, char out[GRPC_FRAME_TIMEOUT_LEN]);

#endif
