/*
 * fuzz_docker_event.c - Docker's /events stream: byte 0 picks where the
 * transport cuts the stream (fuzz.h), the rest is the stream.  Lines are
 * reassembled across cuts as docker_client.c does (a kept partial line plus
 * the chunk up to each '\n', bounded by DOCKER_CLIENT_MAX_LINE) and each
 * goes through docker_event_parse; every event it reports must be complete,
 * and the events seen must not depend on where the stream was cut.
 *
 * crash-time-overflow: a `time` whose nanoseconds overflow int64 (UBSan's
 * signed overflow once); its unit test is the "times" cases of
 * spec/c/test_docker_event.c.
 */
#include <string.h>

#include "docker/docker_event.h"
#include "fuzz.h"

#define LINE_MAX_BYTES (256 * 1024)

struct seen {
    uint64_t n, digest;
};

static void on_event(void *ud, const struct docker_event *ev)
{
    struct seen *s = ud;
    FUZZ_CHECK(ev->type != NULL && ev->action != NULL && ev->container_id != NULL);
    FUZZ_CHECK(ev->container_id[0] != '\0');
    FUZZ_CHECK(ev->time_nano >= 0);
    s->n++;
    for (const char *p = ev->container_id; *p; p++)
        s->digest = s->digest * 31 + (uint8_t)*p;
    s->digest = s->digest * 31 + strlen(ev->type) + strlen(ev->action) + (uint64_t)ev->time_nano;
}

/* Feeds the stream in chunks; returns 1 if it stopped on a bad line. */
static int feed(const uint8_t *data, size_t size, uint8_t seed, struct seen *s)
{
    static char line[LINE_MAX_BYTES];
    struct fuzz_cut cut;
    size_t have = 0, off = 0;
    int stopped = 0;

    fuzz_cut_init(&cut, seed);
    while (off < size && !stopped) {
        size_t n = fuzz_cut_next(&cut, size - off), start = 0;
        const char *p = (const char *)data + off;
        for (size_t i = 0; i < n && !stopped; i++) {
            struct enr_error err = {0};
            if (p[i] != '\n')
                continue;
            if (have + (i - start) > LINE_MAX_BYTES) {
                stopped = 1;
                break;
            }
            memcpy(line + have, p + start, i - start);
            have += i - start;
            if (docker_event_parse(line, have, "GET /events", on_event, s, &err) < 0) {
                FUZZ_CHECK(err.code < 0 && err.msg[0] != '\0');
                stopped = 1;
            }
            have = 0;
            start = i + 1;
        }
        if (!stopped && start < n) {
            if (have + (n - start) > LINE_MAX_BYTES)
                stopped = 1;
            else {
                memcpy(line + have, p + start, n - start);
                have += n - start;
            }
        }
        off += n;
    }
    return stopped;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct seen whole = {0}, cut = {0};
    int a, b;

    if (size < 1)
        return 0;
    a = feed(data + 1, size - 1, 0, &whole);
    b = feed(data + 1, size - 1, data[0], &cut);
    FUZZ_CHECK(a == b);
    FUZZ_CHECK(whole.n == cut.n && whole.digest == cut.digest);
    return 0;
}
