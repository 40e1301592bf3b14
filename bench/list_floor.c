/*
 * list_floor.c - the resync floor for bench/scale.py: the least a resync can
 * cost, one `GET /containers/json` of the same containers, parsed and hashed
 * per entry (docker_list.c), nothing else: no table, no rules, no planner,
 * no Teleport.
 *
 *   bench_list_floor /path/to/docker.sock ROUNDS
 *
 * Makes ROUNDS listings on one kept-alive connection (libcurl easy) and
 * prints "entries N cpu_ms_per_list X wall_ms_per_list Y cpu_ms_median Z"
 * (CPU: this process's user+sys from getrusage, after one warm-up listing;
 * the median of the rounds from CLOCK_PROCESS_CPUTIME_ID, which a noisy
 * neighbour moves less than the mean).
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "docker/docker_list.h"

struct round {
    struct docker_list list;
    struct enr_error err;
    int failed;
};

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    struct round *r = ud;
    size_t n = size * nmemb;
    if (docker_list_feed(&r->list, p, n, &r->err) < 0) {
        r->failed = 1;
        return 0;
    }
    return n;
}

static double process_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static double wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* One listing; the number of entries, or -1. */
static long list_once(CURL *easy)
{
    struct round r = {0};
    long n = -1, status = 0;
    CURLcode rc;

    if (docker_list_init(&r.list, "GET /containers/json", &r.err) < 0)
        goto fail;
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &r);
    rc = curl_easy_perform(easy);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK || status != 200) {
        fprintf(stderr, "list_floor: %s (HTTP %ld)\n", r.failed ? r.err.msg : curl_easy_strerror(rc), status);
        goto fail;
    }
    if (docker_list_finish(&r.list, &r.err) < 0) {
        fprintf(stderr, "list_floor: %s\n", r.err.msg);
        goto fail;
    }
    n = (long)r.list.n;
fail:
    docker_list_cleanup(&r.list);
    return n;
}

int main(int argc, char **argv)
{
    CURL *easy = NULL;
    int rounds, rc = 1;
    long n = -1;
    double c0, w0, *per = NULL;

    if (argc != 3 || (rounds = atoi(argv[2])) < 1) {
        fprintf(stderr, "usage: bench_list_floor DOCKER_SOCKET ROUNDS\n");
        return 2;
    }
    if ((per = calloc((size_t)rounds, sizeof(*per))) == NULL)
        goto fail;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || (easy = curl_easy_init()) == NULL)
        goto fail;
    curl_easy_setopt(easy, CURLOPT_UNIX_SOCKET_PATH, argv[1]);
    curl_easy_setopt(easy, CURLOPT_URL, "http://localhost/v1.41/containers/json");
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    if (list_once(easy) < 0)          /* warm-up: connection, first allocations */
        goto fail;
    c0 = cpu_ms();
    w0 = wall_ms();
    for (int i = 0; i < rounds; i++) {
        double t0 = process_cpu_ms();
        if ((n = list_once(easy)) < 0)
            goto fail;
        per[i] = process_cpu_ms() - t0;
    }
    printf("entries %ld cpu_ms_per_list %.3f wall_ms_per_list %.3f", n, (cpu_ms() - c0) / rounds,
           (wall_ms() - w0) / rounds);
    qsort(per, (size_t)rounds, sizeof(*per), cmp_double);
    printf(" cpu_ms_median %.3f\n", rounds % 2 ? per[rounds / 2] : (per[rounds / 2 - 1] + per[rounds / 2]) / 2);
    rc = 0;
fail:
    free(per);
    if (easy != NULL)
        curl_easy_cleanup(easy);
    curl_global_cleanup();
    return rc;
}
