/*
 * json_pick.h - parse a JSON document keeping only the members a caller
 * reads, into a jansson tree.
 *
 * A Docker inspect answer is about 5 KB, of which enroller reads a tenth;
 * building jansson's whole tree for it cost half of a first pass's CPU.
 * One pass checks the whole text and makes jansson values of the members
 * the pick names only; the rest is scanned, not tokenised (yajl's tokens
 * for it were 135,000 instructions a document).  The code that reads the
 * tree (and its type checks and messages) stays as it was.
 *
 * A pick is an array of members ending with {NULL}: `key` names an object
 * member ("*" any member); `children` NULL keeps the member's whole value,
 * otherwise the value is kept with only the members its children name.  A
 * value that is not an object where children are named is kept as its type
 * (an array without its elements), so a reader's "expected object, got
 * array" stays true.  The document is refused as jansson's loader refuses
 * it by default (spec/fuzz/fuzz_json_pick.c holds the two together):
 * malformed or truncated text, trailing data, invalid UTF-8 or a lone
 * surrogate, a \u0000 in a string or key (in kept and skipped parts
 * alike), nesting past 2048, a kept real past double's range.  Unlike
 * jansson: an integer past 64 bits is kept as a real, a number of 64
 * characters or more as 0.0, any value may stand at the top, and a NUL
 * byte anywhere is refused.
 */
#ifndef ENR_JSON_PICK_H
#define ENR_JSON_PICK_H

#include <jansson.h>
#include <stddef.h>

#include "base/error.h"

struct json_pick {
    const char *key;
    const struct json_pick *children;
};

/* The picked tree (the caller owns it, json_decref), or NULL and err set to
 * -EINVAL "<what>: bad JSON: <why>" (-ENOMEM when out of memory).  A NULL
 * pick keeps the whole document. */
json_t *json_pick_parse(const char *text, size_t len, const struct json_pick *pick, const char *what,
                        struct enr_error *err);

#endif
