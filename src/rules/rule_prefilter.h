/*
 * rule_prefilter.h - a rule's static pre-filter, checked in C before any of
 * its Lua runs:
 *
 *     return enroller.rule {
 *       name = "rabbitmq", ...,
 *       match_image = { "rabbitmq", "docker.io/library/rabbitmq" }, -- globs on c.image_name
 *       match_label = "enroller.network",           -- or a list: any one present
 *       match = function(c) ... end,                -- asked only when both pass
 *     }
 *
 * match_image patterns are fnmatch(3) globs without flags ('*' and '?' also
 * match '/', "[a-z]" sets, '\' quotes) on the image's repository: the tag
 * and digest are cut off as for `c.image_name` (base/image_ref.h).  A
 * pattern without a glob character is compared whole.  match_label names
 * label keys; the container must carry at least one of them, with any
 * value.  A rule that declares both needs both.  The schema
 * (lua/enroller/schema.lua) checks the fields at rule{}; the loader reads
 * them once per rule set.
 */
#ifndef ENR_RULE_PREFILTER_H
#define ENR_RULE_PREFILTER_H

#include <stddef.h>

#include <lua.h>

#include "base/error.h"
#include "model/container.h"

struct rule_prefilter_image {
    char *pattern;
    size_t len;
    int literal; /* no glob character: compared whole, without fnmatch */
};

struct rule_prefilter {
    struct rule_prefilter_image *images; /* match_image; none: any image */
    size_t n_images;
    char **labels;                       /* match_label; none: no label needed */
    size_t n_labels;
};

void rule_prefilter_init(struct rule_prefilter *pf);
void rule_prefilter_cleanup(struct rule_prefilter *pf);

/* Reads match_image and match_label from the rule table at idx into pf
 * (initialised, empty).  Runs its Lua calls under a
 * protected call.  0, or a negative code with err = "match_image[2]:
 * expected string, got number" (pf keeps what was read, for cleanup). */
int rule_prefilter_read(lua_State *L, int idx, struct rule_prefilter *pf, struct enr_error *err);

/* 1 when pf declares nothing or c passes it; 0 when c fails it, and then
 * why (if not NULL) holds one line: "image nginx not in match_image".
 * -ENOMEM when a glob's subject could not be copied. */
int rule_prefilter_check(const struct rule_prefilter *pf, const struct container *c, char *why, size_t whylen);

#endif
