/*
 * fake_listing.h - the listing side of a fake Auth Service for the Teleport
 * view's tests (test_teleport_view.c, test_teleport_view_pages.c): it takes
 * teleport_ops.list_pages calls, one listing at a time, and the test hands
 * the waiting listing its pages.  Not a test itself (CMake builds only
 * spec/c/test_*.c as tests).
 */
#ifndef ENR_FAKE_LISTING_H
#define ENR_FAKE_LISTING_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "model/resource.h"
#include "reconcile/clients.h"
#include "test.h"

struct fake_listing {
    teleport_page_cb cb;      /* the listing waiting for pages; NULL: none */
    void *ud;
    bool db;                  /* it lists databases (else apps) */
    int asked[2];             /* list_pages calls: [0] apps, [1] databases */
};

/* teleport_ops.list_pages: impl points at a struct fake_listing (or at a
 * fake whose first member is one). */
static inline int fake_listing_pages(void *impl, bool db, teleport_page_cb cb, void *ud, struct enr_error *err)
{
    struct fake_listing *f = impl;
    (void)err;
    ASSERT_TRUE(f->cb == NULL);   /* one listing at a time */
    f->cb = cb;
    f->ud = ud;
    f->db = db;
    f->asked[db]++;
    return 0;
}

/* Fills one listed resource from its word in a page's spec. */
typedef void (*fake_listing_make_cb)(struct resource *r, const char *word, bool db);

/* Hands the waiting listing of db (databases or apps) one page: a resource
 * per space-separated word of spec, filled by make; last: its final page.
 * The view may ask for the next listing from the callback. */
static inline void fake_listing_page(struct fake_listing *f, bool db, const char *spec, fake_listing_make_cb make,
                                     bool last)
{
    struct resource_list l;
    char buf[256], *save = NULL;
    teleport_page_cb cb = f->cb;
    void *ud = f->ud;

    ASSERT_TRUE(cb != NULL);
    ASSERT_EQ(f->db, db);
    if (last)
        f->cb = NULL;
    resource_list_init(&l);
    snprintf(buf, sizeof(buf), "%s", spec);
    for (char *w = strtok_r(buf, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save)) {
        struct resource *r = resource_list_push(&l);
        ASSERT_TRUE(r != NULL);
        make(r, w, db);
    }
    cb(ud, NULL, &l, last);
    resource_list_cleanup(&l);
}

/* The waiting listing of db fails with err (as a last call does). */
static inline void fake_listing_fail(struct fake_listing *f, bool db, const struct enr_error *err)
{
    teleport_page_cb cb = f->cb;

    ASSERT_TRUE(cb != NULL);
    ASSERT_EQ(f->db, db);
    f->cb = NULL;
    cb(f->ud, err, NULL, true);
}

#endif
