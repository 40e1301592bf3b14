/* test_docker_containers.c - docker/docker_containers: the archive an
 * agent's token and host id are uploaded in, read back with libarchive
 * (paths, modes 0400, owner root, contents). */
#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docker/docker_containers.h"
#include "test.h"

static void test_tar(void)
{
    const struct docker_containers_file files[] = {
        {"run/enroller/join-token", "0123456789abcdef0123456789abcdef", 32, 0400},
        {"var/lib/teleport/host_uuid", "11111111-2222-4333-8444-555555555555", 36, 0400},
    };
    struct enr_error err = {0};
    void *tar = NULL;
    size_t len = 0, n = 0;
    struct archive *a;
    struct archive_entry *e;
    char buf[64];

    ASSERT_EQ(docker_containers_tar(files, 2, &tar, &len, &err), 0);
    ASSERT_TRUE(len > 0 && len % 512 == 0);
    a = archive_read_new();
    archive_read_support_format_tar(a);
    ASSERT_EQ(archive_read_open_memory(a, tar, len), ARCHIVE_OK);
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        ASSERT_TRUE(n < 2);
        ASSERT_STREQ(archive_entry_pathname(e), files[n].path);
        ASSERT_EQ(archive_entry_perm(e), 0400);
        ASSERT_EQ(archive_entry_uid(e), 0);
        ASSERT_EQ((size_t)archive_entry_size(e), files[n].len);
        memset(buf, 0, sizeof(buf));
        ASSERT_EQ((size_t)archive_read_data(a, buf, sizeof(buf)), files[n].len);
        ASSERT_TRUE(memcmp(buf, files[n].data, files[n].len) == 0);
        n++;
    }
    ASSERT_EQ(n, 2);
    archive_read_free(a);
    free(tar);
}

int main(void)
{
    test_tar();
    printf("test_docker_containers: ok\n");
    return 0;
}
