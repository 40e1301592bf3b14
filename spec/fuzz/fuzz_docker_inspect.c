/*
 * fuzz_docker_inspect.c - the answer to GET /containers/{id}/json through
 * container_from_inspect: a container whose fields are all set, or NULL with
 * a negative code and a message.
 */
#include <string.h>

#include "base/log.h"
#include "fuzz.h"
#include "model/container.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    log_set_level(LOG_LEVEL_ERROR);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct enr_error err = {0};
    struct container *c = container_from_inspect((const char *)data, size, &err);

    if (c == NULL) {
        FUZZ_CHECK(err.code < 0 && err.msg[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(c->id != NULL && c->id[0] != '\0' && c->name != NULL);
    FUZZ_CHECK(c->n_networks == 0 || c->networks != NULL);
    FUZZ_CHECK(c->n_ports == 0 || c->ports != NULL);
    /* Same document, same snapshot hash. */
    struct container *again = container_from_inspect((const char *)data, size, &err);
    FUZZ_CHECK(again != NULL && again->hash == c->hash);
    container_free(again);
    container_free(c);
    return 0;
}
