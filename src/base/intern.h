/*
 * intern.h - one table of shared, reference-counted strings.
 *
 * Label keys and values, container and app names, ids and URIs repeat: the
 * same owner label sits on every app, a container's id is a map key in
 * several tables and a label value on its app, and the desired app, the
 * Teleport view's copy and the last write hold the same strings.  Interned,
 * each distinct string is stored once; a copy is a reference count.
 *
 * An interned string is read-only and is released with intern_put exactly
 * once per intern_get or intern_ref.  The table belongs to one thread, the
 * loop's (the first to use it): a call from another aborts with one line.
 * A string nobody holds is wiped and freed at once, so nothing is left over
 * at exit and no secret that passed through lingers.
 */
#ifndef ENR_INTERN_H
#define ENR_INTERN_H

#include <stddef.h>

/* The shared copy of s (NULL means ""), its count raised; NULL on ENOMEM. */
const char *intern_get(const char *s);
/* The shared copy of the len bytes at s (no NUL inside); NULL on ENOMEM. */
const char *intern_getn(const char *s, size_t len);
/* Another reference to a string intern_get returned; returns it. */
const char *intern_ref(const char *s);
/* Drops one reference (NULL: nothing); the last one frees the string. */
void intern_put(const char *s);

/* Distinct strings held, and the bytes they take (entries and the table). */
void intern_stats(size_t *strings, size_t *bytes);

#endif
