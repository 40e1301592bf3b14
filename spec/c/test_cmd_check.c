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
    char out[4096], want[1024], real[512], path[256];

    snprintf(tmp, sizeof(tmp), "/tmp/enr-test-cmd-check-XXXXXX");
    ASSERT_TRUE(mkdtemp(tmp) != NULL);
    snprintf(path, sizeof(path), "%s/rules", tmp);
    ASSERT_EQ(mkdir(path, 0700), 0);
    ASSERT_TRUE(realpath(tmp, real) != NULL);
    write_file("config.lua", "owner \"h1\"\nteleport { addr = \"auth:3025\", identity = \"i\" }\n"
                             "rules { dir = \"rules\" }\n");
    write_file("rules/a.lua", rule("low", 0));
    write_file("rules/b.lua", rule("high", 10));

    ASSERT_EQ(check(out, sizeof(out)), 0);
    snprintf(want, sizeof(want),
             "config %s/config.lua: ok (owner h1, teleport auth:3025)\n"
             "rule high (rules/b.lua, priority 10): ok\n"
             "rule low (rules/a.lua, priority 0): ok\n", real);
    ASSERT_STREQ(out, want);

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
    rmdir(tmp);
    printf("test_cmd_check: ok\n");
    return 0;
}
