/*
 * fuzz_tbot.c - a tbot (Machine ID) output directory through
 * identity_file_load_tbot.  The input holds the three files separated by
 * lines "--8<--": key, tlscert, teleport-host-ca.crt (a missing part is a
 * missing file).  They are written, key mode 0600, into a private
 * directory made once.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "teleport/identity_file.h"

static char dir[64];
static const char *const names[3] = {"key", "tlscert", "teleport-host-ca.crt"};

static void cleanup_dir(void)
{
    char path[128];
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    snprintf(dir, sizeof(dir), "/tmp/enr-fuzz-tbot.XXXXXX");
    FUZZ_CHECK(mkdtemp(dir) != NULL);
    atexit(cleanup_dir);
    return 0;
}

static void put(int i, const uint8_t *p, size_t n)
{
    char path[128];
    int fd;
    snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
    unlink(path);
    if (p == NULL)
        return;
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    FUZZ_CHECK(fd >= 0);
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        FUZZ_CHECK(w > 0);
        p += w, n -= (size_t)w;
    }
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char sep[] = "\n--8<--\n";
    const uint8_t *p = data, *end = data + size;
    struct enr_error err = {0};
    struct identity_file *id;

    if (size > 3 * IDENTITY_FILE_MAX_SIZE)
        return 0;
    for (int i = 0; i < 3; i++) {
        const uint8_t *cut = p ? memmem(p, (size_t)(end - p), sep, sizeof(sep) - 1) : NULL;
        if (p == NULL) {
            put(i, NULL, 0);
        } else if (cut == NULL || i == 2) {
            put(i, p, (size_t)(end - p));
            p = NULL;
        } else {
            put(i, p, (size_t)(cut - p));
            p = cut + sizeof(sep) - 1;
        }
    }
    id = identity_file_load_tbot(dir, &err);
    if (id == NULL)
        FUZZ_CHECK(err.code < 0 && err.msg[0] != '\0');
    identity_file_free(id);
    return 0;
}
