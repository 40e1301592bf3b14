/* grpc_frame.c - see grpc_frame.h. */
#include "net/grpc_frame.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void grpc_frame_put_header(uint8_t out[GRPC_FRAME_HDR_LEN], uint32_t len)
{
    out[0] = 0; /* not compressed */
    out[1] = (uint8_t)(len >> 24);
    out[2] = (uint8_t)(len >> 16);
    out[3] = (uint8_t)(len >> 8);
    out[4] = (uint8_t)len;
}

int grpc_frame_encode(const uint8_t *msg, size_t len, uint8_t **out, size_t *out_len, struct enr_error *err)
{
    uint8_t *buf;

    if (len > UINT32_MAX)
        return err_set(err, -EMSGSIZE, "grpc message of %zu bytes is too large to frame", len);
    buf = malloc(len + GRPC_FRAME_HDR_LEN);
    if (buf == NULL)
        return err_set(err, -ENOMEM, "grpc frame: out of memory");
    grpc_frame_put_header(buf, (uint32_t)len);
    if (len > 0)
        memcpy(buf + GRPC_FRAME_HDR_LEN, msg, len);
    *out = buf;
    *out_len = len + GRPC_FRAME_HDR_LEN;
    return 0;
}

void grpc_frame_decoder_init(struct grpc_frame_decoder *d, size_t max)
{
    memset(d, 0, sizeof(*d));
    d->max = max ? max : GRPC_FRAME_MAX_DEFAULT;
}

void grpc_frame_decoder_cleanup(struct grpc_frame_decoder *d)
{
    if (d == NULL)
        return;
    free(d->msg);
    d->msg = NULL;
}

/* The current message is complete: hand it out and reset for the next. */
static int deliver(struct grpc_frame_decoder *d, grpc_frame_msg_cb cb, void *ud)
{
    static const uint8_t empty[1];
    int rc = cb(ud, d->msg ? d->msg : empty, d->msg_len);

    free(d->msg);
    d->msg = NULL;
    d->msg_len = d->msg_have = d->hdr_have = 0;
    return rc;
}

int grpc_frame_decoder_feed(struct grpc_frame_decoder *d, const uint8_t *data, size_t len, grpc_frame_msg_cb cb,
                            void *ud, struct enr_error *err)
{
    int rc;

    if (d->failed)
        return err_set(err, d->failed, "grpc frame: decoder already failed");
    while (len > 0) {
        if (d->hdr_have < GRPC_FRAME_HDR_LEN) {
            size_t n = GRPC_FRAME_HDR_LEN - d->hdr_have;
            if (n > len)
                n = len;
            memcpy(d->hdr + d->hdr_have, data, n);
            d->hdr_have += n;
            data += n;
            len -= n;
            if (d->hdr_have < GRPC_FRAME_HDR_LEN)
                break;
            if (d->hdr[0] != 0) {
                rc = err_set(err, -EPROTO, "grpc frame: compressed message (flag %u) but no compression was negotiated",
                             d->hdr[0]);
                goto fail;
            }
            d->msg_len = (size_t)d->hdr[1] << 24 | (size_t)d->hdr[2] << 16 | (size_t)d->hdr[3] << 8 | d->hdr[4];
            if (d->msg_len > d->max) {
                rc = err_set(err, -EMSGSIZE, "grpc frame: message of %zu bytes exceeds the limit of %zu",
                             d->msg_len, d->max);
                goto fail;
            }
            if (d->msg_len > 0 && (d->msg = malloc(d->msg_len)) == NULL) {
                rc = err_set(err, -ENOMEM, "grpc frame: out of memory for %zu bytes", d->msg_len);
                goto fail;
            }
            d->msg_have = 0;
        }
        if (d->msg_have < d->msg_len) {
            size_t n = d->msg_len - d->msg_have;
            if (n > len)
                n = len;
            memcpy(d->msg + d->msg_have, data, n);
            d->msg_have += n;
            data += n;
            len -= n;
            if (d->msg_have < d->msg_len)
                break;
        }
        if ((rc = deliver(d, cb, ud)) != 0) {
            if (err != NULL && err->code == 0)
                err_set(err, rc, "grpc frame: message handler failed");
            goto fail;
        }
    }
    return 0;
fail:
    d->failed = rc;
    return rc;
}

int grpc_frame_decoder_finish(struct grpc_frame_decoder *d, struct enr_error *err)
{
    if (d->failed)
        return err_set(err, d->failed, "grpc frame: decoder already failed");
    if (d->hdr_have == 0)
        return 0;
    if (d->hdr_have < GRPC_FRAME_HDR_LEN)
        return err_set(err, -EPROTO, "grpc frame: stream ended inside a message prefix (%zu of 5 bytes)",
                       d->hdr_have);
    return err_set(err, -EPROTO, "grpc frame: stream ended inside a message (%zu of %zu bytes)", d->msg_have,
                   d->msg_len);
}

void grpc_frame_status_init(struct grpc_frame_status *st)
{
    memset(st, 0, sizeof(*st));
}

void grpc_frame_status_cleanup(struct grpc_frame_status *st)
{
    if (st == NULL)
        return;
    free(st->message);
    st->message = NULL;
}

static bool name_is(const char *name, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(name, want, len) == 0;
}

int grpc_frame_status_header(struct grpc_frame_status *st, const char *name, size_t name_len, const char *value,
                             size_t value_len, struct enr_error *err)
{
    if (name_is(name, name_len, "grpc-status")) {
        int v = 0;
        if (value_len == 0 || value_len > 9)
            goto bad_status;
        for (size_t i = 0; i < value_len; i++) {
            if (value[i] < '0' || value[i] > '9')
                goto bad_status;
            v = v * 10 + (value[i] - '0');
        }
        st->have_status = true;
        st->status = v;
        return 0;
    bad_status:
        return err_set(err, -EPROTO, "grpc-status: not a number: \"%.*s\"", (int)(value_len > 32 ? 32 : value_len),
                       value);
    }
    if (name_is(name, name_len, "grpc-message")) {
        char *m = grpc_frame_percent_decode(value, value_len);
        if (m == NULL)
            return err_set(err, -ENOMEM, "grpc-message: out of memory");
        free(st->message);
        st->message = m;
    }
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *grpc_frame_percent_decode(const char *in, size_t len)
{
    char *out = malloc(len + 1);
    size_t o = 0;

    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (in[i] == '%' && i + 2 < len &&
            (hi = hexval(in[i + 1])) >= 0 && (lo = hexval(in[i + 2])) >= 0) {
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = in[i];
        }
    }
    out[o] = '\0';
    return out;
}

void grpc_frame_timeout_format(uint64_t ms, char out[GRPC_FRAME_TIMEOUT_LEN])
{
    /* The spec allows at most 8 digits; pick the finest unit that fits. */
    static const struct { uint64_t div; char unit; } units[] = {
        {1, 'm'}, {1000, 'S'}, {60000, 'M'}, {3600000, 'H'},
    };
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        /* Rounded up without ms + div - 1, which wraps near UINT64_MAX. */
        uint64_t v = ms / units[i].div + (ms % units[i].div != 0);
        if (v <= 99999999u || i == 3) {
            if (v > 99999999u)
                v = 99999999u;
            snprintf(out, GRPC_FRAME_TIMEOUT_LEN, "%" PRIu64 "%c", v, units[i].unit);
            return;
        }
    }
}
