/* test_identity_file.c - identity file parsing against committed fixtures
 * (spec/fixtures/identity, made by make.sh) and the SSL_CTX it builds,
 * exercised by an in-memory TLS handshake with a server certificate from the
 * same CA. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "teleport/identity_file.h"
#include "test.h"

static char fixdir[1024];
static char tmpdir[64];

/* Copies a fixture into tmpdir with the given mode (git does not keep 0600). */
static const char *copy_fixture(const char *name, mode_t mode)
{
    static char dst[1200];
    char src[1200], buf[8192];
    snprintf(src, sizeof(src), "%s/%s", fixdir, name);
    snprintf(dst, sizeof(dst), "%s/%s", tmpdir, name);
    FILE *in = fopen(src, "rb");
    ASSERT_TRUE(in != NULL);
    unlink(dst);
    int fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_TRUE(fd >= 0);
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        ASSERT_EQ(write(fd, buf, n), (long long)n);
    fclose(in);
    close(fd);
    ASSERT_EQ(chmod(dst, mode), 0);
    return dst;
}

static void expect_error(const char *fixture, int code, const char *needle)
{
    struct enr_error err = {0};
    const char *path = copy_fixture(fixture, 0600);
    struct identity_file *id = identity_file_load(path, &err);
    if (id != NULL)
        fprintf(stderr, "fixture %s loaded but should fail\n", fixture);
    ASSERT_TRUE(id == NULL);
    ASSERT_EQ(err.code, code);
    ASSERT_CONTAINS(err.msg, path);
    ASSERT_CONTAINS(err.msg, needle);
}

static void test_valid_rsa(void)
{
    struct enr_error err = {0};
    struct identity_file *id = identity_file_load(copy_fixture("valid_rsa.identity", 0600), &err);
    if (id == NULL)
        fprintf(stderr, "%s\n", err.msg);
    ASSERT_TRUE(id != NULL);
    ASSERT_STREQ(identity_file_user(id), "enroller-bot");
    ASSERT_EQ(identity_file_n_roles(id), 2);
    ASSERT_STREQ(identity_file_role(id, 0), "editor");
    ASSERT_STREQ(identity_file_role(id, 1), "enroller");
    ASSERT_TRUE(identity_file_role(id, 2) == NULL);
    ASSERT_EQ(identity_file_not_before(id), 1704067200); /* 2024-01-01 */
    ASSERT_EQ(identity_file_not_after(id), 4859740800LL); /* 2124-01-01 */
    ASSERT_EQ(identity_file_n_tls_cas(id), 1);
    ASSERT_EQ(identity_file_n_ssh_cas(id), 1);
    ASSERT_TRUE(strncmp(identity_file_ssh_cert(id), "ssh-rsa-cert-v01@openssh.com AAAA", 33) == 0);
    ASSERT_STREQ(identity_file_cluster(id), "example.test"); /* the TLS CA's subject O */
    identity_file_free(id);
}

/* A tbot output directory made from the fixture's parts: key, tlscert and
 * teleport-host-ca.crt; a key readable by group is refused, a missing file
 * and a certificate that does not match the key are named. */
static void test_tbot_dir(void)
{
    struct enr_error err = {0};
    char dir[] = "/tmp/enr-test-tbot-XXXXXX", path[256], *text = NULL;
    const char *root = getenv("ENR_SOURCE_DIR");
    size_t len = 0;
    FILE *f;
    ASSERT_TRUE(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/spec/fixtures/identity/valid_rsa.identity", root ? root : ".");
    f = fopen(path, "r");
    ASSERT_TRUE(f != NULL);
    ASSERT_TRUE(getdelim(&text, &len, '\0', f) > 0);
    fclose(f);
    /* Split: 1st PEM block = key, 2nd = client cert, the rest (from the 3rd BEGIN) = CA. */
    char *k_end = strstr(text, "-----END RSA PRIVATE KEY-----");
    ASSERT_TRUE(k_end != NULL);
    k_end += strlen("-----END RSA PRIVATE KEY-----");
    char *c_begin = strstr(k_end, "-----BEGIN CERTIFICATE-----");
    ASSERT_TRUE(c_begin != NULL);
    char *c_end = strstr(c_begin, "-----END CERTIFICATE-----") + strlen("-----END CERTIFICATE-----");
    char *a_begin = strstr(c_end, "-----BEGIN CERTIFICATE-----");
    ASSERT_TRUE(a_begin != NULL);
    const struct { const char *name; const char *p; size_t n; int mode; } parts[] = {
        {"key", text, (size_t)(k_end - text), 0600},
        {"tlscert", c_begin, (size_t)(c_end - c_begin), 0644},
        {"teleport-host-ca.crt", a_begin, strlen(a_begin), 0644},
    };
    snprintf(path, sizeof(path), "%s/tlscert", dir);
    struct identity_file *id = identity_file_load_tbot(dir, &err);
    ASSERT_TRUE(id == NULL);
    ASSERT_CONTAINS(err.msg, "/key: missing (no such file)");
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, parts[i].name);
        f = fopen(path, "w");
        ASSERT_TRUE(f != NULL);
        ASSERT_EQ(fwrite(parts[i].p, 1, parts[i].n, f), parts[i].n);
        fputc('\n', f);
        fclose(f);
        ASSERT_EQ(chmod(path, (mode_t)parts[i].mode), 0);
    }
    id = identity_file_load_tbot(dir, &err);
    if (id == NULL)
        fprintf(stderr, "%s\n", err.msg);
    ASSERT_TRUE(id != NULL);
    ASSERT_STREQ(identity_file_user(id), "enroller-bot");
    ASSERT_STREQ(identity_file_cluster(id), "example.test");
    identity_file_free(id);
    snprintf(path, sizeof(path), "%s/key", dir);
    ASSERT_EQ(chmod(path, 0640), 0);
    ASSERT_TRUE(identity_file_load_tbot(dir, &err) == NULL);
    ASSERT_CONTAINS(err.msg, "tbot key ");
    ASSERT_CONTAINS(err.msg, "/key: permissions 0640 are too open; want 0600");
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, parts[i].name);
        unlink(path);
    }
    rmdir(dir);
    free(text);
}

static void test_valid_ec(void)
{
    struct enr_error err = {0};
    const char *names[] = {"valid_ec.identity", "valid_ec_sec1.identity"};
    const char *users[] = {"alice", "bob"};
    for (int i = 0; i < 2; i++) {
        struct identity_file *id = identity_file_load(copy_fixture(names[i], 0600), &err);
        if (id == NULL)
            fprintf(stderr, "%s\n", err.msg);
        ASSERT_TRUE(id != NULL);
        ASSERT_STREQ(identity_file_user(id), users[i]);
        ASSERT_EQ(identity_file_n_roles(id), 1);
        ASSERT_STREQ(identity_file_role(id, 0), "access");
        ASSERT_TRUE(strncmp(identity_file_ssh_cert(id), "ecdsa-sha2-nistp256-cert-v01@openssh.com ", 41) == 0);
        identity_file_free(id);
    }
}

static void test_errors(void)
{
    struct enr_error err = {0};
    char path[1200];

    snprintf(path, sizeof(path), "%s/does-not-exist", tmpdir);
    ASSERT_TRUE(identity_file_load(path, &err) == NULL);
    ASSERT_EQ(err.code, -ENOENT);
    ASSERT_CONTAINS(err.msg, "does-not-exist: missing");

    const char *p = copy_fixture("valid_ec.identity", 0644);
    ASSERT_TRUE(identity_file_load(p, &err) == NULL);
    ASSERT_EQ(err.code, -EPERM);
    char want[1400];
    snprintf(want, sizeof(want), "identity file %s: permissions 0644 are too open; want 0600", p);
    ASSERT_STREQ(err.msg, want);
    p = copy_fixture("valid_ec.identity", 0640);
    ASSERT_TRUE(identity_file_load(p, &err) == NULL);
    ASSERT_CONTAINS(err.msg, "permissions 0640 are too open");

    /* unreadable: a directory */
    ASSERT_TRUE(identity_file_load(tmpdir, &err) == NULL);
    ASSERT_CONTAINS(err.msg, "not a regular file");

    expect_error("expired.identity", -EKEYEXPIRED,
                 "certificate expired at 2021-01-01T00:00:00Z (valid from 2020-01-01T00:00:00Z; now ");
    expect_error("notyet.identity", -EKEYREJECTED,
                 "certificate not yet valid (valid from 2120-01-01T00:00:00Z until 2121-01-01T00:00:00Z");
    expect_error("wrong_key.identity", -EINVAL, "private key does not match the TLS certificate");
    expect_error("no_ca.identity", -EINVAL, "no TLS CA certificate");
    expect_error("no_key.identity", -EINVAL, "no private key (the first PEM block must be one, found CERTIFICATE)");
    expect_error("truncated.identity", -EINVAL, ": PEM block \"CERTIFICATE\" has no END line (truncated file?)");
}

static void test_parse_in_memory(void)
{
    struct enr_error err = {0};
    /* Only a key: no TLS certificate. */
    FILE *f;
    char src[1200], text[8192];
    snprintf(src, sizeof(src), "%s/valid_ec.identity", fixdir);
    ASSERT_TRUE((f = fopen(src, "rb")) != NULL);
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    char *end = strstr(text, "-----END PRIVATE KEY-----");
    ASSERT_TRUE(end != NULL);
    size_t keylen = (size_t)(end - text) + strlen("-----END PRIVATE KEY-----\n");
    ASSERT_TRUE(identity_file_parse("mem", text, keylen, time(NULL), &err) == NULL);
    ASSERT_STREQ(err.msg, "identity file mem: no TLS certificate (expected a CERTIFICATE block after the key)");
    /* Garbage inside the key block. */
    char bad[8192];
    memcpy(bad, text, n + 1);
    char *b64 = strstr(bad, "-----BEGIN PRIVATE KEY-----\n") + 28;
    b64[0] = '!';
    b64[1] = '!';
    ASSERT_TRUE(identity_file_parse("mem", bad, n, time(NULL), &err) == NULL);
    ASSERT_CONTAINS(err.msg, "identity file mem:1: cannot parse private key: ");
    /* Valid at a chosen time, expired a century later. */
    struct identity_file *id = identity_file_parse("mem", text, n, 1800000000, &err);
    ASSERT_TRUE(id != NULL);
    identity_file_free(id);
    ASSERT_TRUE(identity_file_parse("mem", text, n, 4859740801LL, &err) == NULL);
    ASSERT_CONTAINS(err.msg, "certificate expired at 2124-01-01T00:00:00Z");
    /* Windows line endings and surrounding blanks are tolerated. */
    char crlf[16384];
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (text[i] == '\n')
            crlf[o++] = '\r';
        crlf[o++] = text[i];
    }
    id = identity_file_parse("crlf", crlf, o, time(NULL), &err);
    if (id == NULL)
        fprintf(stderr, "%s\n", err.msg);
    ASSERT_TRUE(id != NULL);
    identity_file_free(id);
}

/* Server side for the handshake test: server.pem/key, client certs from ca.pem. */
static int alpn_select(SSL *s, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned inlen, void *arg)
{
    (void)s;
    const char *want = arg;
    for (unsigned i = 0; i < inlen; i += 1u + in[i]) {
        if (in[i] == strlen(want) && memcmp(in + i + 1, want, in[i]) == 0) {
            *out = in + i + 1;
            *outlen = in[i];
            return SSL_TLSEXT_ERR_OK;
        }
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static SSL_CTX *server_ctx(const char *alpn)
{
    char p[1200];
    SSL_CTX *s = SSL_CTX_new(TLS_server_method());
    ASSERT_TRUE(s != NULL);
    snprintf(p, sizeof(p), "%s/server.pem", fixdir);
    ASSERT_EQ(SSL_CTX_use_certificate_file(s, p, SSL_FILETYPE_PEM), 1);
    snprintf(p, sizeof(p), "%s/server.key", fixdir);
    ASSERT_EQ(SSL_CTX_use_PrivateKey_file(s, p, SSL_FILETYPE_PEM), 1);
    snprintf(p, sizeof(p), "%s/ca.pem", fixdir);
    ASSERT_EQ(SSL_CTX_load_verify_locations(s, p, NULL), 1);
    SSL_CTX_set_verify(s, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_alpn_select_cb(s, alpn_select, (void *)alpn);
    return s;
}

/* Runs a memory-BIO handshake; returns 1 when both ends completed. */
static int handshake(SSL_CTX *cctx, SSL_CTX *sctx, const char *host, char *alpn_out)
{
    SSL *c = SSL_new(cctx), *s = SSL_new(sctx);
    BIO *cb = NULL, *sb = NULL;
    int cdone = 0, sdone = 0, ok = 0;
    ASSERT_EQ(BIO_new_bio_pair(&cb, 0, &sb, 0), 1);
    SSL_set_bio(c, cb, cb);
    SSL_set_bio(s, sb, sb);
    SSL_set_tlsext_host_name(c, "teleport.cluster.local");
    SSL_set1_host(c, host);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    for (int i = 0; i < 20 && !(cdone && sdone); i++) {
        int rc;
        if (!cdone) {
            rc = SSL_do_handshake(c);
            if (rc == 1)
                cdone = 1;
            else if (SSL_get_error(c, rc) != SSL_ERROR_WANT_READ)
                break;
        }
        if (!sdone) {
            rc = SSL_do_handshake(s);
            if (rc == 1)
                sdone = 1;
            else if (SSL_get_error(s, rc) != SSL_ERROR_WANT_READ)
                break;
        }
    }
    if (cdone && sdone) {
        const unsigned char *a = NULL;
        unsigned alen = 0;
        SSL_get0_alpn_selected(c, &a, &alen);
        memcpy(alpn_out, a, alen);
        alpn_out[alen] = '\0';
        ok = SSL_get_verify_result(c) == X509_V_OK;
    }
    ERR_clear_error();
    SSL_free(c);
    SSL_free(s);
    return ok;
}

static void test_ssl_ctx(void)
{
    struct enr_error err = {0};
    struct identity_file *id = identity_file_load(copy_fixture("valid_rsa.identity", 0600), &err);
    ASSERT_TRUE(id != NULL);
    SSL_CTX *cctx = identity_file_ssl_ctx(id, &err);
    ASSERT_TRUE(cctx != NULL);
    ASSERT_EQ(SSL_CTX_get_min_proto_version(cctx), TLS1_2_VERSION);
    ASSERT_EQ(SSL_CTX_get_verify_mode(cctx), SSL_VERIFY_PEER);
    SSL_CTX *sctx = server_ctx("h2");
    char alpn[32] = "";
    ASSERT_EQ(handshake(cctx, sctx, "teleport.cluster.local", alpn), 1);
    ASSERT_STREQ(alpn, "h2");
    /* wrong name: verification fails */
    ASSERT_EQ(handshake(cctx, sctx, "auth.example.com", alpn), 0);
    SSL_CTX_free(sctx);
    /* A server that does not speak h2 refuses the handshake. */
    sctx = server_ctx("http/1.1");
    ASSERT_EQ(handshake(cctx, sctx, "teleport.cluster.local", alpn), 0);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    identity_file_free(id);
}

int main(void)
{
    const char *srcdir = getenv("ENR_SOURCE_DIR");
    snprintf(fixdir, sizeof(fixdir), "%s/spec/fixtures/identity", srcdir ? srcdir : ".");
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_identity_XXXXXX");
    ASSERT_TRUE(mkdtemp(tmpdir) != NULL);

    test_valid_rsa();
    test_tbot_dir();
    test_valid_ec();
    test_errors();
    test_parse_in_memory();
    test_ssl_ctx();

    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    ASSERT_EQ(system(cmd), 0);
    printf("test_identity_file: ok\n");
    return 0;
}
