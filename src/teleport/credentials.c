/* credentials.c - see credentials.h. */
#include "teleport/credentials.h"

#include <errno.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"

#define DEFAULT_DEBOUNCE_MS 500

struct credentials {
    uv_loop_t *loop;
    char *source;     /* file or directory */
    char *watch_dir;  /* directory watched */
    char *base;       /* identity file's base name; NULL for tbot (any of its files) */
    bool tbot;
    unsigned debounce_ms;
    struct identity_file *id;
    SSL_CTX *ctx;
    unsigned generation;
    credentials_reload_cb on_reload;
    void *ud;
    uv_fs_event_t *ev;  /* heap: freed by the close callback */
    uv_timer_t *timer;
    uv_timer_t *expiry; /* heap: fires when 10% of the lifetime is left; watch mode only */
};

static void free_handle(uv_handle_t *h) { free(h); }

/* The expiry line: a warning once less than 10% of the certificate's
 * lifetime is left, else info. */
static void log_expiry(const struct credentials *cr, const struct identity_file *id)
{
    int64_t now = (int64_t)time(NULL);
    int64_t left = identity_file_not_after(id) - now;
    int64_t life = identity_file_not_after(id) - identity_file_not_before(id);
    if (life > 0 && left * 10 < life)
        log_warn(LOG_TELEPORT, "credentials %s: user %s, certificate expires in %lld s (less than 10%% of its %lld s lifetime left)",
                 cr->source, identity_file_user(id), (long long)left, (long long)life);
    else
        log_info(LOG_TELEPORT, "credentials %s: user %s, certificate valid for %lld more seconds", cr->source,
                 identity_file_user(id), (long long)left);
}

/* When the line turns into a warning: not_after - lifetime/10, plus a
 * second so the line is one (0: no such time ahead). */
static int64_t warn_at(const struct identity_file *id, int64_t now)
{
    int64_t na = identity_file_not_after(id), life = na - identity_file_not_before(id);
    int64_t at = na - life / 10 + 1;
    return life > 0 && at > now && na > at ? at : 0;
}

/* A daemon whose identity nobody renews is warned when less than 10% of the
 * lifetime is left, not only when the file is loaded.  The timer waits at
 * most a day at a time (a long lifetime re-arms it), so a clock step is
 * caught up with. */
static void on_expiry(uv_timer_t *t)
{
    struct credentials *cr = t->data;
    int64_t now = (int64_t)time(NULL), at = warn_at(cr->id, now);
    if (at == 0) {
        log_expiry(cr, cr->id);
        return;
    }
    uint64_t delay_s = (uint64_t)(at - now);
    uv_timer_start(cr->expiry, on_expiry, (delay_s > 86400 ? 86400 : delay_s) * 1000, 0);
}

static void schedule_expiry_warn(struct credentials *cr)
{
    if (cr->expiry == NULL)
        return;
    uv_timer_stop(cr->expiry);
    if (warn_at(cr->id, (int64_t)time(NULL)) != 0)
        on_expiry(cr->expiry); /* not due yet: arms the timer */
}

/* Loads and checks; logs the expiry.  On success the caller owns id and ctx. */
static int load(struct credentials *cr, struct identity_file **id, SSL_CTX **ctx, struct enr_error *err)
{
    *ctx = NULL;
    *id = cr->tbot ? identity_file_load_tbot(cr->source, err) : identity_file_load(cr->source, err);
    if (*id == NULL)
        return err->code ? err->code : -EINVAL;
    if ((*ctx = identity_file_ssl_ctx(*id, err)) == NULL) {
        identity_file_free(*id);
        *id = NULL;
        return err->code ? err->code : -EINVAL;
    }
    log_expiry(cr, *id);
    return 0;
}

int credentials_reload(struct credentials *cr, struct enr_error *err)
{
    struct identity_file *id;
    SSL_CTX *ctx;
    int rc = load(cr, &id, &ctx, err);
    if (rc < 0)
        return rc;
    identity_file_free(cr->id);
    SSL_CTX_free(cr->ctx);
    cr->id = id;
    cr->ctx = ctx;
    cr->generation++;
    schedule_expiry_warn(cr);
    if (cr->on_reload)
        cr->on_reload(cr->ud);
    return 0;
}

static void on_debounced(uv_timer_t *t)
{
    struct credentials *cr = t->data;
    struct enr_error err = {0};
    if (credentials_reload(cr, &err) < 0)
        log_warn(LOG_TELEPORT, "credentials changed but not reloaded (keeping the current ones): %s", err.msg);
    else
        log_info(LOG_TELEPORT, "credentials %s reloaded (generation %u)", cr->source, cr->generation);
}

static bool relevant(const struct credentials *cr, const char *filename)
{
    static const char *const tbot_files[] = {"key", "tlscert", "teleport-host-ca.crt"};
    if (filename == NULL)
        return true;
    if (!cr->tbot)
        return strcmp(filename, cr->base) == 0;
    for (size_t i = 0; i < sizeof(tbot_files) / sizeof(tbot_files[0]); i++)
        if (strcmp(filename, tbot_files[i]) == 0)
            return true;
    return false;
}

static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
    struct credentials *cr = h->data;
    (void)events;
    if (status < 0) {
        log_warn(LOG_TELEPORT, "credentials %s: watch failed: %s", cr->source, uv_strerror(status));
        return;
    }
    /* No logging here: a log file in the same directory would feed back. */
    if (relevant(cr, filename))
        uv_timer_start(cr->timer, on_debounced, cr->debounce_ms, 0);
}

struct credentials *credentials_new(uv_loop_t *loop, const struct credentials_config *cfg,
                                    credentials_reload_cb on_reload, void *ud, struct enr_error *err)
{
    struct credentials *cr = calloc(1, sizeof(*cr));
    char *tmp = NULL;
    int rc;

    if (cr == NULL) {
        err_set(err, -ENOMEM, "credentials: out of memory");
        return NULL;
    }
    cr->loop = loop;
    cr->on_reload = on_reload;
    cr->ud = ud;
    cr->debounce_ms = cfg->debounce_ms ? cfg->debounce_ms : DEFAULT_DEBOUNCE_MS;
    if ((cfg->identity_file != NULL) == (cfg->tbot_dir != NULL)) {
        err_set(err, -EINVAL, "teleport: set exactly one of identity and tbot_dir");
        goto fail;
    }
    cr->tbot = cfg->tbot_dir != NULL;
    if ((cr->source = strdup(cr->tbot ? cfg->tbot_dir : cfg->identity_file)) == NULL) {
        err_set(err, -ENOMEM, "credentials: out of memory");
        goto fail;
    }
    if (load(cr, &cr->id, &cr->ctx, err) < 0)
        goto fail;
    cr->generation = 1;
    if (!cfg->watch)
        return cr;
    if (cr->tbot) {
        cr->watch_dir = strdup(cr->source);
    } else if ((tmp = strdup(cr->source)) != NULL) {
        cr->watch_dir = strdup(dirname(tmp));
        strcpy(tmp, cr->source);
        cr->base = strdup(basename(tmp));
    }
    if (cr->watch_dir == NULL || (!cr->tbot && cr->base == NULL) || (cr->timer = malloc(sizeof(*cr->timer))) == NULL) {
        err_set(err, -ENOMEM, "credentials: out of memory");
        goto fail;
    }
    uv_timer_init(loop, cr->timer);
    cr->timer->data = cr;
    if ((cr->ev = malloc(sizeof(*cr->ev))) == NULL) {
        err_set(err, -ENOMEM, "credentials: out of memory");
        goto fail;
    }
    if ((cr->expiry = malloc(sizeof(*cr->expiry))) == NULL) {
        err_set(err, -ENOMEM, "credentials: out of memory");
        goto fail;
    }
    uv_timer_init(loop, cr->expiry);
    uv_unref((uv_handle_t *)cr->expiry); /* a pending warning keeps no loop running */
    cr->expiry->data = cr;
    schedule_expiry_warn(cr);
    uv_fs_event_init(loop, cr->ev);
    cr->ev->data = cr;
    if ((rc = uv_fs_event_start(cr->ev, on_fs_event, cr->watch_dir, 0)) < 0) {
        err_set(err, rc, "credentials %s: cannot watch %s: %s", cr->source, cr->watch_dir, uv_strerror(rc));
        goto fail;
    }
    free(tmp);
    return cr;
fail:
    free(tmp);
    credentials_free(cr);
    return NULL;
}

void credentials_free(struct credentials *cr)
{
    if (cr == NULL)
        return;
    if (cr->ev != NULL)
        uv_close((uv_handle_t *)cr->ev, free_handle);
    if (cr->timer != NULL)
        uv_close((uv_handle_t *)cr->timer, free_handle);
    if (cr->expiry != NULL)
        uv_close((uv_handle_t *)cr->expiry, free_handle);
    identity_file_free(cr->id);
    SSL_CTX_free(cr->ctx);
    free(cr->source);
    free(cr->watch_dir);
    free(cr->base);
    free(cr);
}

const struct identity_file *credentials_identity(const struct credentials *cr) { return cr->id; }
SSL_CTX *credentials_ssl_ctx(const struct credentials *cr) { return cr->ctx; }
const char *credentials_source(const struct credentials *cr) { return cr->source; }
unsigned credentials_generation(const struct credentials *cr) { return cr->generation; }
