/* test_docker_libarchive.c - docker/docker_libarchive: libarchive is not
 * mapped until agent mode asks for it (the programs are not linked with
 * it), then loaded once, and the archive docker_containers_tar writes with
 * it is a ustar archive of the file given. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docker/docker_containers.h"
#include "docker/docker_libarchive.h"
#include "test.h"

/* Whether a mapping of this process names a file containing needle. */
static int mapped(const char *needle)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[4096];
    int found = 0;

    ASSERT_TRUE(f != NULL);
    while (!found && fgets(line, sizeof(line), f) != NULL)
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

static void test_loaded_on_first_use(void)
{
    struct enr_error err = {0};
    const struct docker_libarchive *l1, *l2;

    ASSERT_TRUE(!mapped("/libarchive.so"));
    ASSERT_TRUE(!mapped("/libxml2.so"));
    l1 = docker_libarchive_get(&err);
    ASSERT_TRUE(l1 != NULL);
    ASSERT_EQ(err.code, 0);
    ASSERT_TRUE(l1->archive_write_new != NULL && l1->archive_entry_free != NULL);
    ASSERT_TRUE(mapped("/libarchive.so"));
    l2 = docker_libarchive_get(&err);
    ASSERT_TRUE(l2 == l1);
}

static void test_tar_through_loaded_library(void)
{
    const struct docker_containers_file file = {"var/lib/teleport/host_uuid",
                                                "11111111-2222-4333-8444-555555555555", 36, 0400};
    struct enr_error err = {0};
    unsigned char *tar = NULL;
    void *out = NULL;
    size_t len = 0;

    ASSERT_EQ(docker_containers_tar(&file, 1, &out, &len, &err), 0);
    tar = out;
    /* one header block, one data block, then at least two zero blocks */
    ASSERT_TRUE(len >= 4 * 512 && len % 512 == 0);
    ASSERT_STREQ((const char *)tar, file.path);
    ASSERT_TRUE(memcmp(tar + 257, "ustar", 5) == 0);
    ASSERT_EQ(strtoul((const char *)tar + 100, NULL, 8), 0400);  /* mode */
    ASSERT_EQ(strtoul((const char *)tar + 124, NULL, 8), 36);    /* size */
    ASSERT_EQ(tar[156], '0');                                    /* a regular file */
    ASSERT_TRUE(memcmp(tar + 512, file.data, file.len) == 0);
    free(out);
}

int main(void)
{
    test_loaded_on_first_use();
    test_tar_through_loaded_library();
    printf("test_docker_libarchive: ok\n");
    return 0;
}
