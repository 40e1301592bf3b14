/*
 * image_ref.c - see image_ref.h.
 */
#include "base/image_ref.h"

#include <string.h>

size_t image_ref_name_len(const char *image, const char **tag)
{
    const char *at = strchr(image, '@');
    size_t end = at != NULL ? (size_t)(at - image) : strlen(image);
    size_t slash = 0, colon = end;

    for (size_t i = 0; i < end; i++)
        if (image[i] == '/')
            slash = i;
    for (size_t i = slash; i < end; i++)
        if (image[i] == ':')
            colon = i;
    *tag = NULL;
    if (colon < end) {
        *tag = image + colon + 1;
        return colon;
    }
    return end;
}
