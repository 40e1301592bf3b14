/*
 * fuzz_config.c - a config file through config_load: the input is written
 * as config.lua into a private directory (made once, with an empty rules/
 * beside it) and loaded.  The loader either returns a config or fails with
 * a negative code and one line that names the file.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "config.h"
#include "fuzz.h"

static char dir[64], path[128], rules[128];

static void cleanup_dir(void)
{
    unlink(path);
    rmdir(rules);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    log_set_level(LOG_LEVEL_ERROR);
    snprintf(dir, sizeof(dir), "/tmp/enr-fuzz-config.XXXXXX");
    FUZZ_CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/config.lua", dir);
    snprintf(rules, sizeof(rules), "%s/rules", dir);
    FUZZ_CHECK(mkdir(rules, 0700) == 0);
    atexit(cleanup_dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct enr_error err = {0};
    struct enr_config *cfg;
    int fd;

    if (size > 64 * 1024)
        return 0;
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(write(fd, data, size) == (ssize_t)size);
    close(fd);
    cfg = config_load(path, &err);
    if (cfg == NULL) {
        FUZZ_CHECK(err.code < 0 && err.msg[0] != '\0');
        FUZZ_CHECK(strstr(err.msg, "config.lua") != NULL && strchr(err.msg, '\n') == NULL);
    }
    config_free(cfg);
    return 0;
}
