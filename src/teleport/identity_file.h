/*
 * identity_file.h - a Teleport identity file (`tctl auth sign --format=file`,
 * or tbot's `identity` output) turned into what a TLS client needs.
 *
 *     struct identity_file *id = identity_file_load("/etc/enroller/identity", &err);
 *     SSL_CTX *ctx = identity_file_ssl_ctx(id, &err);  // mTLS, CA = identity's TLS CAs, ALPN h2
 *
 * Reader rules follow api/identityfile (Teleport's api/identityfile/identityfile.go): lines are
 * scanned in order; the first PEM block is the private key (RSA PKCS#1,
 * PKCS#8 or "EC PRIVATE KEY"), the second the TLS client certificate, every
 * later one a TLS CA; a line whose first token is an SSH certificate type is
 * the SSH certificate; "@cert-authority" lines are SSH CAs; anything else is
 * ignored.  enroller only speaks TLS, so a missing SSH certificate is not an
 * error here (the Go reader rejects it).
 *
 * Loading refuses a file readable or writable by group/others, as ssh does,
 * and checks that the key matches the certificate and that the certificate
 * is valid now.  Every error names the file and the problem.
 */
#ifndef ENR_IDENTITY_FILE_H
#define ENR_IDENTITY_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>

#include "base/error.h"

#define IDENTITY_FILE_MAX_SIZE (1024 * 1024)

struct identity_file;

/* Reads and validates path.  NULL with err on failure. */
struct identity_file *identity_file_load(const char *path, struct enr_error *err);
/* Reads a tbot (Machine ID) identity output directory (Teleport's
 * lib/tbot/config output names): DIR/key (must be 0600 or stricter), DIR/tlscert and
 * DIR/teleport-host-ca.crt, with the same checks as an identity file.
 * Errors name the file at fault. */
struct identity_file *identity_file_load_tbot(const char *dir, struct enr_error *err);
/* Parses text already in memory; name is used in messages only.  now is
 * the time the validity period is checked against (unix seconds). */
struct identity_file *identity_file_parse(const char *name, const char *text, size_t len, int64_t now,
                                          struct enr_error *err);
void identity_file_free(struct identity_file *id);

/* Subject CN of the TLS certificate: the Teleport user (or bot) name. */
const char *identity_file_user(const struct identity_file *id);
/* The cluster name: subject O of the first TLS CA (Teleport's host CA
 * has CN = O = cluster name).  NULL when the CA has no O. */
const char *identity_file_cluster(const struct identity_file *id);
/* Subject O values: the Teleport roles. */
size_t identity_file_n_roles(const struct identity_file *id);
const char *identity_file_role(const struct identity_file *id, size_t i);
/* Validity of the TLS certificate, unix seconds. */
int64_t identity_file_not_before(const struct identity_file *id);
int64_t identity_file_not_after(const struct identity_file *id);
/* Number of TLS CA certificates and of @cert-authority lines. */
size_t identity_file_n_tls_cas(const struct identity_file *id);
size_t identity_file_n_ssh_cas(const struct identity_file *id);
/* The SSH certificate line, NULL when the file has none. */
const char *identity_file_ssh_cert(const struct identity_file *id);

/* A new client SSL_CTX: TLS 1.2+, the identity's certificate and key, a
 * trust store holding only the identity's TLS CAs, peer verification on,
 * ALPN "h2".  The server name is checked per connection (SSL_set1_host).
 * Caller frees with SSL_CTX_free.  NULL with err on failure. */
SSL_CTX *identity_file_ssl_ctx(const struct identity_file *id, struct enr_error *err);

#endif
