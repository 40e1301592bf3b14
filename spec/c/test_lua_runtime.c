/*
 * test_lua_runtime.c - the sandbox: which libraries a state has, text-only
 * load, the package searcher, error messages from pcall, the instruction
 * budget and the memory cap.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <lauxlib.h>

#include "lua/lua_runtime.h"
#include "test.h"

/* Runs code as chunk "=t" with 1 result; returns rc, err filled. */
static int run(lua_State *L, const char *code, struct enr_error *err)
{
    int top = lua_gettop(L);
    if (luaL_loadbufferx(L, code, strlen(code), "=t", "t") != LUA_OK) {
        int rc = err_set(err, ENR_ERULE, "%s", lua_tostring(L, -1));
        lua_pop(L, 1);
        return rc;
    }
    int rc = lua_runtime_pcall(L, 0, 1, err);
    if (rc == 0)
        lua_pop(L, 1);
    ASSERT_EQ(lua_gettop(L), top);
    return rc;
}

/* Evaluates an expression to a string result. */
static void expect_value(lua_State *L, const char *code, const char *want)
{
    struct enr_error err = {0};
    ASSERT_EQ(luaL_loadbufferx(L, code, strlen(code), "=t", "t"), LUA_OK);
    if (lua_runtime_pcall(L, 0, 1, &err) < 0)
        fprintf(stderr, "%s: %s\n", code, err.msg);
    ASSERT_STREQ(luaL_tolstring(L, -1, NULL), want);
    lua_pop(L, 2);
}

static void test_libraries(void)
{
    struct enr_error err = {0};
    lua_State *L = lua_runtime_new(0, NULL, &err);
    ASSERT_TRUE(L != NULL);

    expect_value(L, "return type(io)", "nil");
    expect_value(L, "return type(os)", "nil");
    expect_value(L, "return type(debug)", "nil");
    expect_value(L, "return type(dofile)", "nil");
    expect_value(L, "return type(loadfile)", "nil");
    expect_value(L, "return type(string.dump)", "nil");
    expect_value(L, "return type(package.loadlib)", "nil");
    expect_value(L, "return package.cpath", "");
    expect_value(L, "return #package.searchers", "2");
    expect_value(L, "return string.format('%d', math.max(1, 2)) .. utf8.char(72) .. table.concat({'a','b'})",
                 "2Hab");
    expect_value(L, "return load('return 1 + 1')()", "2");
    expect_value(L, "return select(2, load(string.dump and '' or '\\27Lua'))",
                 "attempt to load a binary chunk (mode is 't')");
    expect_value(L, "return require('enroller.util').dns_name('A', 'B')", "a-b");
    expect_value(L, "return require('enroller.core').hash('abc')", "1a47e90b");
    expect_value(L, "return select(2, pcall(require, '..secret'))",
                 "module '..secret' not found:\n\tno field package.preload['..secret']\n\tno module '..secret' outside "
                 ENR_LUA_DIR);
    ASSERT_TRUE(run(L, "require('lfs')", &err) < 0);
    ASSERT_TRUE(strncmp(err.msg, "t:1: module 'lfs' not found:", 28) == 0);
    lua_runtime_free(L);
    lua_runtime_free(NULL);
}

static void test_errors(void)
{
    struct enr_error err = {0};
    lua_State *L = lua_runtime_new(0, NULL, &err);
    char dir[] = "/tmp/enr-test-runtime-XXXXXX", path[64];

    ASSERT_TRUE(L != NULL);
    ASSERT_EQ(run(L, "local t = nil\nreturn t.x", &err), ENR_ERULE);
    ASSERT_STREQ(err.msg, "t:2: attempt to index a nil value (local 't')");
    ASSERT_EQ(run(L, "error(setmetatable({}, {__tostring = function() return 'obj' end}))", &err), ENR_ERULE);
    ASSERT_STREQ(err.msg, "obj");
    ASSERT_EQ(run(L, "error({})", &err), ENR_ERULE);
    ASSERT_STREQ(err.msg, "(error object is a table value)");

    ASSERT_TRUE(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/x.lua", dir);
    FILE *f = fopen(path, "w");
    ASSERT_TRUE(f != NULL);
    fputs("#!/usr/bin/env lua\nlocal a = 1\nreturn a + {}\n", f);
    fclose(f);
    ASSERT_EQ(lua_runtime_load_file(L, path, "rules/x.lua", &err), 0);
    ASSERT_EQ(lua_runtime_pcall(L, 0, 1, &err), ENR_ERULE);
    ASSERT_STREQ(err.msg, "rules/x.lua:3: attempt to perform arithmetic on a table value");
    ASSERT_EQ(lua_gettop(L), 0);
    unlink(path);
    ASSERT_EQ(lua_runtime_load_file(L, path, "rules/x.lua", &err), -ENOENT);
    ASSERT_STREQ(err.msg, "rules/x.lua: No such file or directory");
    rmdir(dir);
    lua_runtime_free(L);
}

static void test_budget(void)
{
    struct enr_error err = {0};
    lua_State *L = lua_runtime_new(0, NULL, &err);
    ASSERT_TRUE(L != NULL);

    lua_runtime_set_budget(L, 10000, "rule");
    ASSERT_EQ(run(L, "local n = 0\nwhile true do n = n + 1 end", &err), ENR_ERULE);
    ASSERT_STREQ(err.msg, "t:2: rule exceeded instruction budget");
    /* re-arming resets the count: a short run fits in the same budget */
    lua_runtime_set_budget(L, 10000, "rule");
    ASSERT_EQ(run(L, "local n = 0 for i = 1, 100 do n = n + i end return n", &err), 0);
    lua_runtime_set_budget(L, 0, NULL);
    ASSERT_EQ(run(L, "local n = 0 for i = 1, 100000 do n = n + i end return n", &err), 0);
    lua_runtime_free(L);
}

static void test_memory_cap(void)
{
    struct enr_error err = {0};
    lua_State *L = lua_runtime_new(1u << 20, NULL, &err);
    ASSERT_TRUE(L != NULL);
    size_t base = lua_runtime_mem_used(L);
    ASSERT_TRUE(base > 0 && base < (1u << 20));

    ASSERT_EQ(run(L, "return ('x'):rep(2 * 1024 * 1024)", &err), -ENOMEM);
    ASSERT_STREQ(err.msg, "memory limit of 1048576 bytes exceeded");
    ASSERT_EQ(run(L, "local t = {} for i = 1, 1e8 do t[i] = i end", &err), -ENOMEM);
    lua_gc(L, LUA_GCCOLLECT);
    ASSERT_TRUE(lua_runtime_mem_used(L) < base + 64 * 1024);
    ASSERT_EQ(run(L, "return ('x'):rep(1000)", &err), 0);
    lua_runtime_free(L);

    /* a cap too small for the libraries fails cleanly */
    L = lua_runtime_new(4096, NULL, &err);
    ASSERT_TRUE(L == NULL);
    ASSERT_EQ(err.code, -ENOMEM);
}

/* Only regular files of bounded size are read: a FIFO, a device behind a
 * symlink and a directory are refused at once (none of them blocks or is
 * read without end), and so is a file over the cap. */
static void test_file_kinds(void)
{
    char dir[] = "/tmp/enr-test-lrt-XXXXXX", p[300];
    struct enr_error err = {0};
    char *buf = NULL;
    size_t len = 0;
    ASSERT_TRUE(mkdtemp(dir) != NULL);

    snprintf(p, sizeof(p), "%s/fifo.lua", dir);
    ASSERT_EQ(mkfifo(p, 0600), 0);
    ASSERT_EQ(lua_runtime_read_file(p, "rules/fifo.lua", &buf, &len, &err), -EINVAL);
    ASSERT_STREQ(err.msg, "rules/fifo.lua: not a regular file");
    unlink(p);

    snprintf(p, sizeof(p), "%s/zero.lua", dir);
    ASSERT_EQ(symlink("/dev/zero", p), 0);
    ASSERT_EQ(lua_runtime_read_file(p, "rules/zero.lua", &buf, &len, &err), -EINVAL);
    ASSERT_STREQ(err.msg, "rules/zero.lua: not a regular file");
    unlink(p);

    ASSERT_EQ(lua_runtime_read_file(dir, "config.lua", &buf, &len, &err), -EINVAL);
    ASSERT_STREQ(err.msg, "config.lua: not a regular file");

    snprintf(p, sizeof(p), "%s/big.lua", dir);
    FILE *f = fopen(p, "w");
    ASSERT_TRUE(f != NULL);
    ASSERT_EQ(ftruncate(fileno(f), LUA_RUNTIME_MAX_FILE + 1), 0);
    fclose(f);
    ASSERT_EQ(lua_runtime_read_file(p, "rules/big.lua", &buf, &len, &err), -EFBIG);
    ASSERT_CONTAINS(err.msg, "rules/big.lua: 1048577 bytes; a rule or config file may have at most 1048576");

    f = fopen(p, "w");
    ASSERT_TRUE(f != NULL);
    fputs("return 1\n", f);
    fclose(f);
    ASSERT_EQ(lua_runtime_read_file(p, "rules/big.lua", &buf, &len, &err), 0);
    ASSERT_EQ(len, 9);
    ASSERT_STREQ(buf, "return 1\n");
    free(buf);
    unlink(p);
    rmdir(dir);
}

int main(void)
{
    test_libraries();
    test_errors();
    test_budget();
    test_memory_cap();
    test_file_kinds();
    printf("test_lua_runtime: ok\n");
    return 0;
}
