/*
 * ops_status_page.h - the status page a person opens at / of the ops
 * listener: the connections, the last sync and the identity's expiry, then
 * each container with the rule that matched and its resources (state, the
 * error message, the guard rail that holds it), then the recent rule reloads
 * and rule errors.
 *
 * Plain HTML and CSS (no script at all), readable on a phone: a viewport
 * meta and one card per container.  Every value from the snapshot is
 * HTML-escaped.
 */
#ifndef ENR_OPS_STATUS_PAGE_H
#define ENR_OPS_STATUS_PAGE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "ops/ops_snapshot.h"

#define OPS_STATUS_PAGE_CONTENT_TYPE "text/html; charset=utf-8"

/* Renders s (NULL: nothing published yet) as of now (unix seconds) into
 * *out (malloc'ed, NUL-terminated, *len bytes). */
int ops_status_page_render(const struct ops_snapshot *s, int64_t now, char **out, size_t *len,
                           struct enr_error *err);

#endif
