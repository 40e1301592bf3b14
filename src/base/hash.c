/* hash.c - see hash.h.
 *
 * xxHash (Debian's libxxhash-dev) is used header-only: XXH_INLINE_ALL
 * compiles its functions into this file, so nothing is linked at run time. */
#include "base/hash.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

uint64_t hash64(uint64_t h, const void *p, size_t n)
{
    return XXH3_64bits_withSeed(p, n, h);
}
