/*
 * image_ref.h - the parts of a Docker image reference as the user wrote it
 * ("host:5000/team/rmq:3-management@sha256:..."): the repository
 * ("host:5000/team/rmq") and the tag ("3-management").  One definition for
 * the rules' `c.image_name`/`c.tag` (lua/lua_container.c) and the rules'
 * match_image pre-filter (rules/rule_prefilter.c).
 */
#ifndef ENR_IMAGE_REF_H
#define ENR_IMAGE_REF_H

#include <stddef.h>

/* Length of the repository part of image: a digest ("@...") or the last ':'
 * after the last '/' ends it ("host:5000/rmq:3" -> "host:5000/rmq").  *tag
 * points at the tag's first byte (it runs to the '@' or the end), or is
 * NULL when no tag was written. */
size_t image_ref_name_len(const char *image, const char **tag);

#endif
