/*
 * test_cmd_check.c - `enroller check` on a config written into a temp dir:
 * good rules print the config line and one line per rule in evaluation
 * order; a broken rule file or a missing rules dir exits 1 with nothing on
 * the success stream.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/commands.h"
#include "test.h"

static char tmp[64];

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", tmp, name);
    FILE *f = fopen(path, "w");
    ASSERT_TRUE(f != NULL);
    fputs(text, f);
    fclose(f);
}

/* Runs cmd_check on tmp/config.lua; returns its exit code, stdout in out. */
static int check(char *out, size_t size)
{
    char path[256];
    struct enr_error err = {0};

    snprintf(path, sizeof(path), "%s/config.lua", tmp);
    struct enr_config *cfg = config_load(path, &err);
    if (cfg == NULL)
        fprintf(stderr, "config: %s\n", err.msg);
    ASSERT_TRUE(cfg != NULL);
    FILE *f = tmpfile();
    ASSERT_TRUE(f != NULL);
    int rc = cmd_check(cfg, ENR_LUA_DIR, f);
    rewind(f);
    size_t n = fread(out, 1, size - 1, f);
    out[n] = '\0';
    fclose(f);
    config_free(cfg);
    return rc;
}

/* Copies spec/fixtures/identity/fixture to tmp/name with mode. */
static void copy_identity(const char *fixture, const char *name, mode_t mode)
{
    const char *root = getenv("ENR_SOURCE_DIR");
    char src[512], dst[256], buf[8192];
    snprintf(src, sizeof(src), "%s/spec/fixtures/identity/%s", root ? root : ".", fixture);
    snprintf(dst, sizeof(dst), "%s/%s", tmp, name);
    FILE *in = fopen(src, "r");
    ASSERT_TRUE(in != NULL);
    size_t n = fread(buf, 1, sizeof(buf), in);
    fclose(in);
    unlink(dst);
    FILE *f = fopen(dst, "w");
    ASSERT_TRUE(f != NULL);
    ASSERT_EQ(fwrite(buf, 1, n, f), n);
    fclose(f);
    ASSERT_EQ(chmod(dst, mode), 0);
}

/* check with the identity at tmp/i: exit 1, nothing on the success stream,
 * and the one error line (stderr) holds needle. */
static void expect_identity_error(const char *needle)
{
    char out[4096], err[4096];
    struct test_stderr cap;
    test_stderr_begin(&cap);
    int rc = check(out, sizeof(out));
    size_t n = test_stderr_end(&cap, err, sizeof(err));
    ASSERT_EQ(rc, 1);
    ASSERT_STREQ(out, "");
    ASSERT_CONTAINS(err, needle);
    ASSERT_TRUE(strchr(err, '\n') == err + n - 1); /* one line */
}

static const char *rule(const char *name, int priority)
{
    static char text[512];
    snprintf(text, sizeof(text),
             "local enroller = require(\"enroller\")\n"
             "return enroller.rule {\n"
             "  name = \"%s\", description = \"a test rule\", priority = %d,\n"
             "  match = function(c) return false end,\n"
             "  apps = function(c) return {} end,\n"
             "}\n", name, priority);
    return text;
}

int main(void)
{
    char out[4096], want[2048], real[256], path[256];

    snprintf(tmp, sizeof(tmp), "/tmp/enr-test-cmd-check-XXXXXX");
    ASSERT_TRUE(mkdtemp(tmp) != NULL);
    snprintf(path, sizeof(path), "%s/rules", tmp);
    ASSERT_EQ(mkdir(path, 0700), 0);
    ASSERT_TRUE(realpath(tmp, real) != NULL);
    copy_identity("valid_rsa.identity", "i", 0600);
    write_file("config.lua", "owner \"h1\"\nteleport { addr = \"auth:3025\", identity = \"i\" }\n"
                             "rules { dir = \"rules\" }\n");
    write_file("rules/a.lua", rule("low", 0));
    write_file("rules/b.lua", rule("high", 10));

    ASSERT_EQ(check(out, sizeof(out)), 0);
    snprintf(want, sizeof(want),
             "config %s/config.lua: ok (owner h1, teleport auth:3025)\n"
             "identity %s/i: ok (user enroller-bot, expires 2124-01-01T00:00:00Z, in %lld s)\n"
             "rule high (rules/b.lua, priority 10): ok\n"
             "rule low (rules/a.lua, priority 0): ok\n", real, real, 0LL);
    /* the seconds left change while the test runs: compare around them */
    char *left = strstr(out, ", in "), *wleft = strstr(want, ", in ");
    ASSERT_TRUE(left != NULL && wleft != NULL);
    ASSERT_TRUE(strncmp(out, want, (size_t)(wleft - want)) == 0);
    ASSERT_STREQ(strchr(left, ')'), strchr(wleft, ')'));

    /* The identity: expired, not yet valid, too open, missing, unreadable. */
    copy_identity("expired.identity", "i", 0600);
    expect_identity_error("/i: certificate expired at");
    copy_identity("notyet.identity", "i", 0600);
    expect_identity_error("/i: certificate not yet valid");
    copy_identity("valid_rsa.identity", "i", 0644);
    expect_identity_error("/i: permissions 0644 are too open; want 0600");
    snprintf(path, sizeof(path), "%s/i", tmp);
    if (geteuid() != 0) { /* root reads a 0000 file anyway */
        copy_identity("valid_rsa.identity", "i", 0000);
        expect_identity_error("/i: unreadable");
    }
    unlink(path);
    expect_identity_error("/i: missing (no such file)");
    copy_identity("valid_rsa.identity", "i", 0600);

    write_file("rules/c.lua", "return 42\n");
    ASSERT_EQ(check(out, sizeof(out)), 1);
    ASSERT_STREQ(out, "");

    snprintf(path, sizeof(path), "%s/rules/c.lua", tmp);
    unlink(path);
    ASSERT_EQ(check(out, sizeof(out)), 0);
    /* the dir itself gone after the config loaded: still exit 1 */
    snprintf(path, sizeof(path), "%s/rules/a.lua", tmp);
    unlink(path);
    snprintf(path, sizeof(path), "%s/rules/b.lua", tmp);
    unlink(path);
    snprintf(path, sizeof(path), "%s/config.lua", tmp);
    struct enr_error err = {0};
    struct enr_config *cfg = config_load(path, &err);
    ASSERT_TRUE(cfg != NULL);
    snprintf(path, sizeof(path), "%s/rules", tmp);
    ASSERT_EQ(rmdir(path), 0);
    FILE *f = tmpfile();
    ASSERT_TRUE(f != NULL);
    ASSERT_EQ(cmd_check(cfg, ENR_LUA_DIR, f), 1);
    ASSERT_EQ(ftell(f), 0);
    fclose(f);
    config_free(cfg);

    snprintf(path, sizeof(path), "%s/config.lua", tmp);
    unlink(path);
    snprintf(path, sizeof(path), "%s/i", tmp);
    unlink(path);
    rmdir(tmp);
    printf("test_cmd_check: ok\n");
    return 0;
}
