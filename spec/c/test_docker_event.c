/*
 * test_docker_event.c - one /events line -> struct docker_event: Docker's
 * and Podman's spellings, skipped events, bad lines, and event times that
 * would overflow or lie far ahead (they set where the stream resumes).
 */
#include <errno.h>
#include <stdint.h>
#include <time.h>

#include "docker/docker_event.h"
#include "test.h"

struct seen {
    int n;
    char type[16], action[32], id[80];
    int64_t time_nano;
};

static void on_event(void *ud, const struct docker_event *ev)
{
    struct seen *s = ud;
    s->n++;
    snprintf(s->type, sizeof(s->type), "%s", ev->type);
    snprintf(s->action, sizeof(s->action), "%s", ev->action);
    snprintf(s->id, sizeof(s->id), "%s", ev->container_id);
    s->time_nano = ev->time_nano;
}

static struct seen parse(const char *line, int want_rc)
{
    struct seen s = {0};
    struct enr_error err = {0};
    ASSERT_EQ(docker_event_parse(line, strlen(line), "GET /events", on_event, &s, &err), want_rc);
    if (want_rc < 0)
        ASSERT_CONTAINS(err.msg, "GET /events: bad event line");
    return s;
}

int main(void)
{
    static const struct {
        const char *line;
        int n;
        const char *type, *action, *id;
        int64_t time_nano;
    } cases[] = {
        /* Docker */
        {"{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\"abc\"},\"timeNano\":1700000000000000001}",
         1, "container", "start", "abc", 1700000000000000001LL},
        {"{\"Type\":\"container\",\"Action\":\"health_status: healthy\",\"Actor\":{\"ID\":\"abc\"},\"time\":1700000000}\r",
         1, "container", "health_status: healthy", "abc", 1700000000000000000LL},
        {"{\"Type\":\"network\",\"Action\":\"connect\",\"Actor\":{\"ID\":\"net1\",\"Attributes\":{\"container\":\"abc\"}}}",
         1, "network", "connect", "abc", 0},
        /* a running container's new name (daemon/rename.go); Podman says "rename" too */
        {"{\"Type\":\"container\",\"Action\":\"rename\",\"Actor\":{\"ID\":\"abc\",\"Attributes\":"
         "{\"name\":\"new\",\"oldName\":\"/old\"}},\"timeNano\":1700000000000000002}",
         1, "container", "rename", "abc", 1700000000000000002LL},
        /* Podman: its names come out as Docker's; Actor.ID names the container of a network event */
        {"{\"Type\":\"container\",\"Action\":\"remove\",\"Actor\":{\"ID\":\"p1\"}}", 1, "container", "destroy", "p1", 0},
        {"{\"Type\":\"container\",\"Action\":\"died\",\"Actor\":{\"ID\":\"p1\"}}", 1, "container", "die", "p1", 0},
        {"{\"Type\":\"network\",\"Action\":\"disconnect\",\"Actor\":{\"ID\":\"p1\"}}", 1, "network", "disconnect", "p1", 0},
        /* skipped: other types and actions, no id, blank */
        {"{\"Type\":\"image\",\"Action\":\"pull\",\"Actor\":{\"ID\":\"x\"}}", 0, NULL, NULL, NULL, 0},
        {"{\"Type\":\"container\",\"Action\":\"exec_start: sh\",\"Actor\":{\"ID\":\"x\"}}", 0, NULL, NULL, NULL, 0},
        /* a signal changes no state; a process it ends sends die */
        {"{\"Type\":\"container\",\"Action\":\"kill\",\"Actor\":{\"ID\":\"x\"}}", 0, NULL, NULL, NULL, 0},
        {"{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{}}", 0, NULL, NULL, NULL, 0},
        {"   ", 0, NULL, NULL, NULL, 0},
        /* times: seconds that overflow int64 nanoseconds, negative, far future -> 0 */
        {"{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"t\"},\"time\":9223372036854775807}",
         1, "container", "die", "t", 0},
        {"{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"t\"},\"time\":-5}", 1, "container", "die", "t", 0},
        {"{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"t\"},\"timeNano\":9000000000000000000}",
         1, "container", "die", "t", 0},
        {"{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"t\"},\"time\":4102444800}", 1, "container", "die",
         "t", 0}, /* 2100-01-01 */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct seen s = parse(cases[i].line, 0);
        ASSERT_EQ(s.n, cases[i].n);
        if (cases[i].n == 0)
            continue;
        ASSERT_STREQ(s.type, cases[i].type);
        ASSERT_STREQ(s.action, cases[i].action);
        ASSERT_STREQ(s.id, cases[i].id);
        ASSERT_EQ(s.time_nano, cases[i].time_nano);
    }
    /* now is a plausible time and is kept */
    char line[200];
    long long now = (long long)time(NULL);
    snprintf(line, sizeof(line), "{\"Type\":\"container\",\"Action\":\"stop\",\"Actor\":{\"ID\":\"n\"},\"time\":%lld}", now);
    ASSERT_EQ(parse(line, 0).time_nano, now * 1000000000LL);
    /* not JSON, not an object */
    parse("{\"Type\":", -EPROTO);
    parse("[1,2]", -EPROTO);
    printf("ok\n");
    return 0;
}
