/*
 * fuzz_identity.c - an identity file (`tctl auth sign --format=file`)
 * through identity_file_parse, checked against a fixed "now" inside the
 * test certificates' validity (spec/fixtures/identity: 2020..2120).  A
 * parsed identity must answer every accessor and give an SSL_CTX; a
 * refused one must say why.
 */
#include <string.h>

#include "fuzz.h"
#include "teleport/identity_file.h"

#define FUZZ_NOW 1893456000 /* 2030-01-01 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct enr_error err = {0};
    struct identity_file *id;
    SSL_CTX *ctx;

    if (size > IDENTITY_FILE_MAX_SIZE)
        return 0;
    id = identity_file_parse("fuzz.identity", (const char *)data, size, FUZZ_NOW, &err);
    if (id == NULL) {
        FUZZ_CHECK(err.code < 0 && err.msg[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(identity_file_user(id) != NULL);
    (void)identity_file_cluster(id);
    for (size_t i = 0; i < identity_file_n_roles(id); i++)
        FUZZ_CHECK(identity_file_role(id, i) != NULL);
    FUZZ_CHECK(identity_file_not_before(id) <= FUZZ_NOW && FUZZ_NOW <= identity_file_not_after(id));
    (void)identity_file_n_tls_cas(id), (void)identity_file_n_ssh_cas(id), (void)identity_file_ssh_cert(id);
    ctx = identity_file_ssl_ctx(id, &err);
    FUZZ_CHECK(ctx != NULL || (err.code < 0 && err.msg[0] != '\0'));
    SSL_CTX_free(ctx);
    identity_file_free(id);
    return 0;
}
