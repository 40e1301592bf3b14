/*
 * docker_libarchive.c - see docker_libarchive.h.
 */
#include "docker/docker_libarchive.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

static struct docker_libarchive lib;
static char load_error[256];
static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int loaded;

static void load(void)
{
    /* RTLD_LOCAL: its symbols serve only the lookups below. */
    void *h = dlopen(ENR_LIBARCHIVE_SONAME, RTLD_NOW | RTLD_LOCAL);
    const char *missing = NULL;

    if (h == NULL) {
        const char *why = dlerror();
        snprintf(load_error, sizeof(load_error), "%s", why != NULL ? why : "dlopen failed");
        return;
    }
#define DOCKER_LIBARCHIVE_SYM(f)                                                                                  \
    if (missing == NULL && (lib.f = (__typeof__(f) *)dlsym(h, #f)) == NULL)                                       \
        missing = #f;
    DOCKER_LIBARCHIVE_FUNCS(DOCKER_LIBARCHIVE_SYM)
#undef DOCKER_LIBARCHIVE_SYM
    if (missing != NULL) {
        snprintf(load_error, sizeof(load_error), "%s has no %s", ENR_LIBARCHIVE_SONAME, missing);
        dlclose(h);
        return;
    }
    loaded = 1; /* h stays open for the life of the process */
}

const struct docker_libarchive *docker_libarchive_get(struct enr_error *err)
{
    pthread_once(&load_once, load);
    if (!loaded) {
        err_set(err, -ENOSYS, "libarchive (agent mode's archives) cannot be loaded: %s", load_error);
        return NULL;
    }
    return &lib;
}
