/*
 * fuzz_docker_list.c - the answer to GET /containers/json through the
 * streaming parser (docker_list.c), fed in two pieces cut at a place its
 * last byte picks (nothing is consumed, so the seeds are plain answers): it succeeds with n non-empty ids, or fails with a negative
 * code and a one-line message; and the result (ids, hashes, or the error)
 * does not depend on where the body was cut.
 */
#include <string.h>

#include "base/log.h"
#include "docker/docker_list.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    log_set_level(LOG_LEVEL_ERROR);
    return 0;
}

static int parse(struct docker_list *l, const uint8_t *data, size_t size, size_t cut, struct enr_error *err)
{
    int rc;

    if (docker_list_init(l, "GET /containers/json", err) < 0)
        return err->code;
    if ((rc = docker_list_feed(l, (const char *)data, cut, err)) == 0 &&
        (rc = docker_list_feed(l, (const char *)data + cut, size - cut, err)) == 0)
        rc = docker_list_finish(l, err);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct docker_list whole, split;
    struct enr_error e1 = {0}, e2 = {0};
    size_t cut;
    int r1, r2;

    if (size == 0)
        return 0;
    cut = (size_t)data[size - 1] * 7919u % (size + 1);
    r1 = parse(&whole, data, size, size, &e1);
    r2 = parse(&split, data, size, cut, &e2);
    FUZZ_CHECK(r1 == r2);
    if (r1 == 0) {
        FUZZ_CHECK(whole.n == split.n);
        for (size_t i = 0; i < whole.n; i++) {
            FUZZ_CHECK(whole.ids[i] != NULL && strlen(whole.ids[i]) > 0);
            FUZZ_CHECK(strcmp(whole.ids[i], split.ids[i]) == 0);
            FUZZ_CHECK(whole.hashes[i] == split.hashes[i]);
        }
    } else {
        FUZZ_CHECK(r1 < 0 && e1.msg[0] != '\0' && strchr(e1.msg, '\n') == NULL);
    }
    docker_list_cleanup(&whole);
    docker_list_cleanup(&split);
    return 0;
}
