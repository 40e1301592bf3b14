/* identity_file.c - see identity_file.h. */
#include "teleport/identity_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

struct identity_file {
    char *name;
    EVP_PKEY *key;
    X509 *cert;
    STACK_OF(X509) *cas;
    char *ssh_cert;
    size_t n_ssh_cas;
    char *user;
    char *cluster; /* subject O of the first TLS CA (Teleport's host CA), NULL if none */
    char **roles;
    size_t n_roles;
    int64_t not_before, not_after;
};

/* One PEM block found by the line scanner. */
struct pem_block {
    const char *start; /* the BEGIN line */
    size_t len;        /* through the END line */
    int line;
    char label[64];
};

#define MAX_BLOCKS 64

static const char *const ssh_cert_types[] = {
    "ssh-rsa-cert-v01@openssh.com",
    "ssh-dss-cert-v01@openssh.com",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384-cert-v01@openssh.com",
    "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    "ssh-ed25519-cert-v01@openssh.com",
    "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "sk-ssh-ed25519-cert-v01@openssh.com",
    "rsa-sha2-256-cert-v01@openssh.com",
    "rsa-sha2-512-cert-v01@openssh.com",
};

/* The last OpenSSL error as text (the queue is cleared). */
static const char *ssl_err(char *buf, size_t size)
{
    unsigned long e = ERR_peek_last_error();
    if (e == 0)
        snprintf(buf, size, "unknown error");
    else
        ERR_error_string_n(e, buf, size);
    ERR_clear_error();
    return buf;
}

void identity_file_free(struct identity_file *id)
{
    if (id == NULL)
        return;
    free(id->name);
    EVP_PKEY_free(id->key);
    X509_free(id->cert);
    sk_X509_pop_free(id->cas, X509_free);
    free(id->ssh_cert);
    free(id->user);
    free(id->cluster);
    for (size_t i = 0; i < id->n_roles; i++)
        free(id->roles[i]);
    free(id->roles);
    free(id);
}

static bool is_ssh_cert_type(const char *tok, size_t len)
{
    for (size_t i = 0; i < sizeof(ssh_cert_types) / sizeof(ssh_cert_types[0]); i++)
        if (strlen(ssh_cert_types[i]) == len && memcmp(ssh_cert_types[i], tok, len) == 0)
            return true;
    return false;
}

/* Trims spaces/tabs/CR on both ends of [*s, *s + *len). */
static void trim(const char **s, size_t *len)
{
    while (*len > 0 && (**s == ' ' || **s == '\t' || **s == '\r')) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t' || (*s)[*len - 1] == '\r'))
        (*len)--;
}

static bool starts(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(s, prefix, n) == 0;
}

/* Splits text into PEM blocks and picks up the SSH lines. */
static int scan(struct identity_file *id, const char *text, size_t len, struct pem_block *blocks, size_t *n_blocks,
                struct enr_error *err)
{
    const char *p = text, *end = text + len;
    struct pem_block *open = NULL;
    int lineno = 0;

    *n_blocks = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line = p, *next = nl ? nl + 1 : end;
        size_t llen = (size_t)((nl ? nl : end) - p);

        lineno++;
        trim(&line, &llen);
        if (open != NULL) {
            if (starts(line, llen, "-----END ")) {
                char want[96];
                snprintf(want, sizeof(want), "-----END %s-----", open->label);
                if (llen != strlen(want) || memcmp(line, want, llen) != 0)
                    return err_set(err, -EINVAL, "identity file %s:%d: PEM block \"%s\" from line %d ends with \"%.*s\"",
                                   id->name, lineno, open->label, open->line, (int)(llen > 64 ? 64 : llen), line);
                open->len = (size_t)(next - open->start);
                open = NULL;
            }
        } else if (starts(line, llen, "-----BEGIN ")) {
            const char *lab = line + 11;
            size_t lablen = llen - 11;
            if (lablen < 5 || memcmp(lab + lablen - 5, "-----", 5) != 0 || lablen - 5 >= sizeof(open->label))
                return err_set(err, -EINVAL, "identity file %s:%d: malformed PEM BEGIN line", id->name, lineno);
            if (*n_blocks == MAX_BLOCKS)
                return err_set(err, -EINVAL, "identity file %s:%d: more than %d PEM blocks", id->name, lineno,
                               MAX_BLOCKS);
            open = &blocks[(*n_blocks)++];
            open->start = line;
            open->line = lineno;
            memcpy(open->label, lab, lablen - 5);
            open->label[lablen - 5] = '\0';
        } else if (starts(line, llen, "@cert-authority")) {
            id->n_ssh_cas++;
        } else if (llen > 0) {
            const char *sp = memchr(line, ' ', llen);
            size_t toklen = sp ? (size_t)(sp - line) : llen;
            if (is_ssh_cert_type(line, toklen) && id->ssh_cert == NULL) {
                if ((id->ssh_cert = strndup(line, llen)) == NULL)
                    return err_set(err, -ENOMEM, "identity file %s: out of memory", id->name);
            }
        }
        p = next;
    }
    if (open != NULL)
        return err_set(err, -EINVAL, "identity file %s:%d: PEM block \"%s\" has no END line (truncated file?)",
                       id->name, open->line, open->label);
    return 0;
}

static int64_t asn1_to_unix(const ASN1_TIME *t)
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return INT64_MIN;
    return (int64_t)timegm(&tm);
}

static void fmt_time(int64_t t, char *buf, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, size, "%lld", (long long)t);
}

/* CN and O values from the subject. */
static int read_subject(struct identity_file *id, struct enr_error *err)
{
    X509_NAME *subj = X509_get_subject_name(id->cert);
    int n = X509_NAME_entry_count(subj);

    id->roles = calloc((size_t)(n > 0 ? n : 1), sizeof(char *));
    if (id->roles == NULL)
        return err_set(err, -ENOMEM, "identity file %s: out of memory", id->name);
    for (int i = 0; i < n; i++) {
        X509_NAME_ENTRY *e = X509_NAME_get_entry(subj, i);
        int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
        unsigned char *utf8 = NULL;
        if (nid != NID_commonName && nid != NID_organizationName)
            continue;
        if (ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e)) < 0)
            return err_set(err, -EINVAL, "identity file %s: unreadable certificate subject", id->name);
        char *s = strdup((char *)utf8);
        OPENSSL_free(utf8);
        if (s == NULL)
            return err_set(err, -ENOMEM, "identity file %s: out of memory", id->name);
        if (nid == NID_commonName && id->user == NULL)
            id->user = s;
        else if (nid == NID_organizationName)
            id->roles[id->n_roles++] = s;
        else
            free(s);
    }
    if (id->user == NULL)
        return err_set(err, -EINVAL, "identity file %s: TLS certificate has no subject CN (user name)", id->name);
    return 0;
}

/* Teleport's CAs are self-signed with subject CN = O = the cluster name
 * (lib/tlsca GenerateSelfSignedCAWithConfig); the stand-in's pki.py does
 * the same.  The first CA's O is taken. */
static int read_cluster(struct identity_file *id, struct enr_error *err)
{
    X509_NAME *subj = X509_get_subject_name(sk_X509_value(id->cas, 0));
    int i = X509_NAME_get_index_by_NID(subj, NID_organizationName, -1);
    unsigned char *utf8 = NULL;

    if (i < 0)
        return 0;
    if (ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i))) < 0)
        return err_set(err, -EINVAL, "identity file %s: unreadable TLS CA subject", id->name);
    id->cluster = strdup((char *)utf8);
    OPENSSL_free(utf8);
    if (id->cluster == NULL)
        return err_set(err, -ENOMEM, "identity file %s: out of memory", id->name);
    return 0;
}

struct identity_file *identity_file_parse(const char *name, const char *text, size_t len, int64_t now,
                                          struct enr_error *err)
{
    struct pem_block blocks[MAX_BLOCKS];
    size_t n_blocks = 0;
    struct identity_file *id = calloc(1, sizeof(*id));
    BIO *bio = NULL;
    char ebuf[256], t1[32], t2[32], t3[32];

    if (id == NULL || (id->name = strdup(name)) == NULL || (id->cas = sk_X509_new_null()) == NULL) {
        err_set(err, -ENOMEM, "identity file %s: out of memory", name);
        goto fail;
    }
    if (scan(id, text, len, blocks, &n_blocks, err) < 0)
        goto fail;
    if (n_blocks == 0 || strstr(blocks[0].label, "PRIVATE KEY") == NULL) {
        err_set(err, -EINVAL, "identity file %s: no private key (the first PEM block must be one%s%s)", name,
                n_blocks ? ", found " : "", n_blocks ? blocks[0].label : "");
        goto fail;
    }
    bio = BIO_new_mem_buf(blocks[0].start, (int)blocks[0].len);
    if (bio == NULL || (id->key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) == NULL) {
        err_set(err, -EINVAL, "identity file %s:%d: cannot parse private key: %s", name, blocks[0].line,
                ssl_err(ebuf, sizeof(ebuf)));
        goto fail;
    }
    BIO_free(bio);
    bio = NULL;
    if (n_blocks < 2 || strcmp(blocks[1].label, "CERTIFICATE") != 0) {
        err_set(err, -EINVAL, "identity file %s: no TLS certificate (expected a CERTIFICATE block after the key)",
                name);
        goto fail;
    }
    for (size_t i = 1; i < n_blocks; i++) {
        X509 *x;
        if (strcmp(blocks[i].label, "CERTIFICATE") != 0) {
            err_set(err, -EINVAL, "identity file %s:%d: unexpected PEM block \"%s\" (want CERTIFICATE)", name,
                    blocks[i].line, blocks[i].label);
            goto fail;
        }
        bio = BIO_new_mem_buf(blocks[i].start, (int)blocks[i].len);
        if (bio == NULL || (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL) {
            err_set(err, -EINVAL, "identity file %s:%d: cannot parse %s: %s", name, blocks[i].line,
                    i == 1 ? "TLS certificate" : "TLS CA certificate", ssl_err(ebuf, sizeof(ebuf)));
            goto fail;
        }
        BIO_free(bio);
        bio = NULL;
        if (i == 1) {
            id->cert = x;
        } else if (sk_X509_push(id->cas, x) <= 0) {
            X509_free(x);
            err_set(err, -ENOMEM, "identity file %s: out of memory", name);
            goto fail;
        }
    }
    if (sk_X509_num(id->cas) == 0) {
        err_set(err, -EINVAL, "identity file %s: no TLS CA certificate (cannot verify the Auth server)", name);
        goto fail;
    }
    if (X509_check_private_key(id->cert, id->key) != 1) {
        ERR_clear_error();
        err_set(err, -EINVAL, "identity file %s: private key does not match the TLS certificate", name);
        goto fail;
    }
    id->not_before = asn1_to_unix(X509_get0_notBefore(id->cert));
    id->not_after = asn1_to_unix(X509_get0_notAfter(id->cert));
    if (id->not_before == INT64_MIN || id->not_after == INT64_MIN) {
        err_set(err, -EINVAL, "identity file %s: unreadable certificate validity dates", name);
        goto fail;
    }
    fmt_time(id->not_before, t1, sizeof(t1));
    fmt_time(id->not_after, t2, sizeof(t2));
    fmt_time(now, t3, sizeof(t3));
    if (now < id->not_before) {
        err_set(err, -EKEYREJECTED, "identity file %s: certificate not yet valid (valid from %s until %s; now %s)",
                name, t1, t2, t3);
        goto fail;
    }
    if (now > id->not_after) {
        err_set(err, -EKEYEXPIRED, "identity file %s: certificate expired at %s (valid from %s; now %s)", name, t2,
                t1, t3);
        goto fail;
    }
    if (read_subject(id, err) < 0 || read_cluster(id, err) < 0)
        goto fail;
    return id;
fail:
    BIO_free(bio);
    identity_file_free(id);
    return NULL;
}

/* Reads a whole credential file into a malloc'd NUL-terminated buffer.
 * private: refuse modes that let group or others read or write it. */
static int read_file(const char *path, const char *what, bool private, char **out, size_t *out_len,
                     struct enr_error *err)
{
    struct stat st;
    char *text = NULL;
    size_t have = 0;
    int rc = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        rc = err_set(err, -errno, "%s %s: %s", what, path, errno == ENOENT ? "missing (no such file)" : strerror(errno));
        goto fail;
    }
    if (fstat(fd, &st) < 0) {
        rc = err_set(err, -errno, "%s %s: unreadable: %s", what, path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = err_set(err, -EINVAL, "%s %s: not a regular file", what, path);
        goto fail;
    }
    if (private && (st.st_mode & 077)) {
        rc = err_set(err, -EPERM, "%s %s: permissions %04o are too open; want 0600", what, path,
                     (unsigned)(st.st_mode & 07777));
        goto fail;
    }
    if (st.st_size > IDENTITY_FILE_MAX_SIZE) {
        rc = err_set(err, -EFBIG, "%s %s: too large (%lld bytes)", what, path, (long long)st.st_size);
        goto fail;
    }
    if ((text = malloc((size_t)st.st_size + 1)) == NULL) {
        rc = err_set(err, -ENOMEM, "%s %s: out of memory", what, path);
        goto fail;
    }
    while (have < (size_t)st.st_size) {
        ssize_t n = read(fd, text + have, (size_t)st.st_size - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = err_set(err, -errno, "%s %s: unreadable: %s", what, path, strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        have += (size_t)n;
    }
    text[have] = '\0';
    *out = text;
    *out_len = have;
    text = NULL;
fail:
    if (fd >= 0)
        close(fd);
    if (text != NULL) {
        OPENSSL_cleanse(text, have);
        free(text);
    }
    return rc;
}

static void free_secret(char *text, size_t len)
{
    if (text != NULL) {
        OPENSSL_cleanse(text, len); /* it held the private key */
        free(text);
    }
}

struct identity_file *identity_file_load(const char *path, struct enr_error *err)
{
    struct identity_file *id = NULL;
    char *text = NULL;
    size_t len = 0;

    if (read_file(path, "identity file", true, &text, &len, err) == 0)
        id = identity_file_parse(path, text, len, (int64_t)time(NULL), err);
    free_secret(text, len);
    return id;
}

/* Counts PEM blocks with the given label in text. */
static size_t count_pem(const char *text, const char *label)
{
    char begin[96];
    size_t n = 0;
    snprintf(begin, sizeof(begin), "-----BEGIN %s-----", label);
    for (const char *p = strstr(text, begin); p != NULL; p = strstr(p + 1, begin))
        n++;
    return n;
}

struct identity_file *identity_file_load_tbot(const char *dir, struct enr_error *err)
{
    struct identity_file *id = NULL;
    char kpath[4096], cpath[4096], apath[4096], ebuf[256];
    char *key = NULL, *cert = NULL, *cas = NULL, *all = NULL;
    size_t klen = 0, clen = 0, alen = 0, len = 0;
    BIO *bio = NULL;
    EVP_PKEY *pk = NULL;

    snprintf(kpath, sizeof(kpath), "%s/key", dir);
    snprintf(cpath, sizeof(cpath), "%s/tlscert", dir);
    snprintf(apath, sizeof(apath), "%s/teleport-host-ca.crt", dir);
    if (read_file(kpath, "tbot key", true, &key, &klen, err) < 0 ||
        read_file(cpath, "tbot certificate", false, &cert, &clen, err) < 0 ||
        read_file(apath, "tbot host CA", false, &cas, &alen, err) < 0)
        goto fail;
    /* Check each file on its own first, so an error names the right one. */
    if ((bio = BIO_new_mem_buf(key, (int)klen)) == NULL || (pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) == NULL) {
        err_set(err, -EINVAL, "tbot key %s: cannot parse private key: %s", kpath, ssl_err(ebuf, sizeof(ebuf)));
        goto fail;
    }
    if (count_pem(cert, "CERTIFICATE") != 1) {
        err_set(err, -EINVAL, "tbot certificate %s: want exactly one CERTIFICATE block, found %zu", cpath,
                count_pem(cert, "CERTIFICATE"));
        goto fail;
    }
    if (count_pem(cas, "CERTIFICATE") == 0) {
        err_set(err, -EINVAL, "tbot host CA %s: no CERTIFICATE block (cannot verify the Auth server)", apath);
        goto fail;
    }
    /* The same layout as an identity file: key, certificate, CAs. */
    len = klen + clen + alen + 3;
    if ((all = malloc(len + 1)) == NULL) {
        err_set(err, -ENOMEM, "tbot directory %s: out of memory", dir);
        goto fail;
    }
    len = (size_t)snprintf(all, len + 1, "%s\n%s\n%s\n", key, cert, cas);
    id = identity_file_parse(cpath, all, len, (int64_t)time(NULL), err);
fail:
    EVP_PKEY_free(pk);
    BIO_free(bio);
    free_secret(key, klen);
    free_secret(all, len);
    free(cert);
    free(cas);
    return id;
}

const char *identity_file_cluster(const struct identity_file *id)
{
    return id->cluster;
}

const char *identity_file_user(const struct identity_file *id) { return id->user; }
size_t identity_file_n_roles(const struct identity_file *id) { return id->n_roles; }
const char *identity_file_role(const struct identity_file *id, size_t i) { return i < id->n_roles ? id->roles[i] : NULL; }
int64_t identity_file_not_before(const struct identity_file *id) { return id->not_before; }
int64_t identity_file_not_after(const struct identity_file *id) { return id->not_after; }
size_t identity_file_n_tls_cas(const struct identity_file *id) { return (size_t)sk_X509_num(id->cas); }
size_t identity_file_n_ssh_cas(const struct identity_file *id) { return id->n_ssh_cas; }
const char *identity_file_ssh_cert(const struct identity_file *id) { return id->ssh_cert; }

SSL_CTX *identity_file_ssl_ctx(const struct identity_file *id, struct enr_error *err)
{
    static const unsigned char alpn[] = "\x02h2";
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    X509_STORE *store;
    char ebuf[256];

    if (ctx == NULL) {
        err_set(err, -ENOMEM, "identity file %s: SSL_CTX_new: %s", id->name, ssl_err(ebuf, sizeof(ebuf)));
        goto fail;
    }
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 || SSL_CTX_use_certificate(ctx, id->cert) != 1 ||
        SSL_CTX_use_PrivateKey(ctx, id->key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        err_set(err, -EINVAL, "identity file %s: cannot use certificate and key: %s", id->name,
                ssl_err(ebuf, sizeof(ebuf)));
        goto fail;
    }
    store = SSL_CTX_get_cert_store(ctx);
    for (int i = 0; i < sk_X509_num(id->cas); i++) {
        if (X509_STORE_add_cert(store, sk_X509_value(id->cas, i)) != 1) {
            unsigned long e = ERR_peek_last_error();
            if (ERR_GET_REASON(e) == X509_R_CERT_ALREADY_IN_HASH_TABLE) {
                ERR_clear_error();
                continue;
            }
            err_set(err, -EINVAL, "identity file %s: cannot add TLS CA %d: %s", id->name, i + 1,
                    ssl_err(ebuf, sizeof(ebuf)));
            goto fail;
        }
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1) != 0) { /* 0 is success here */
        err_set(err, -EINVAL, "identity file %s: cannot set ALPN: %s", id->name, ssl_err(ebuf, sizeof(ebuf)));
        goto fail;
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}
