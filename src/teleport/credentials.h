/*
 * credentials.h - the TLS client credentials enroller presents to Teleport,
 * from an identity file or a tbot (Machine ID) output directory, reloaded
 * without a restart when the files change (certificate rotation).
 *
 *     struct credentials *cr = credentials_new(loop, &cfg, on_reload, ud, &err);
 *     SSL_CTX *ctx = credentials_ssl_ctx(cr);   // borrowed; new after a reload
 *
 * The directory holding the file(s) is watched (uv_fs_event; tbot and
 * `tctl auth sign` replace files by rename).  Changes are debounced, then
 * everything is re-read and checked; valid credentials replace the old ones
 * and on_reload runs; invalid ones (a half-written rotation, a wrong key,
 * an expired certificate) are refused with one log line and the current
 * credentials stay.  Each load logs the seconds to expiry and warns when
 * less than 10% of the certificate's lifetime remains.
 */
#ifndef ENR_CREDENTIALS_H
#define ENR_CREDENTIALS_H

#include <stdint.h>
#include <openssl/ssl.h>
#include <uv.h>

#include "base/error.h"
#include "teleport/identity_file.h"

struct credentials;

struct credentials_config {
    const char *identity_file; /* exactly one of these two */
    const char *tbot_dir;
    unsigned debounce_ms;      /* 0: 500 */
    int watch;                 /* 0: load once, no reloads */
};

typedef void (*credentials_reload_cb)(void *ud);

/* Loads (err names the file and the problem) and starts watching. */
struct credentials *credentials_new(uv_loop_t *loop, const struct credentials_config *cfg,
                                    credentials_reload_cb on_reload, void *ud, struct enr_error *err);
void credentials_free(struct credentials *cr);
const struct identity_file *credentials_identity(const struct credentials *cr);
/* The client context for the current credentials (ALPN is set per
 * connection).  Borrowed: take a reference to keep it past a reload. */
SSL_CTX *credentials_ssl_ctx(const struct credentials *cr);
/* The identity file or tbot directory. */
const char *credentials_source(const struct credentials *cr);
/* 1 after the first load, +1 on every accepted reload. */
unsigned credentials_generation(const struct credentials *cr);
/* Reloads now (what the watcher does after the debounce); 0 or the error
 * that kept the current credentials. */
int credentials_reload(struct credentials *cr, struct enr_error *err);

#endif
