/*
 * fuzz_docker_list.c - the answer to GET /containers/json through
 * docker_client_list_parse: it succeeds with n non-empty ids, or fails with
 * a negative code and a message.
 */
#include <string.h>

#include "base/log.h"
#include "docker/docker_client.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    log_set_level(LOG_LEVEL_ERROR);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct docker_client_list l = {0};
    struct enr_error err = {0};

    if (docker_client_list_parse((const char *)data, size, "GET /containers/json", &l, &err) == 0) {
        for (size_t i = 0; i < l.n; i++)
            FUZZ_CHECK(l.ids[i] != NULL && strlen(l.ids[i]) > 0);
    } else {
        FUZZ_CHECK(err.code < 0 && err.msg[0] != '\0');
        FUZZ_CHECK(l.root == NULL && l.ids == NULL && l.n == 0);
    }
    docker_client_list_cleanup(&l);
    return 0;
}
