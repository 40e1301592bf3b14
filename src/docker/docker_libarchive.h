/*
 * docker_libarchive.h - libarchive, loaded on first use.
 *
 * Only agent mode writes archives (docker_containers_tar: the token and host
 * id uploaded into an agent container), so the program is not linked with
 * libarchive: linking it would map libarchive and its own dependencies
 * (libxml2, ICU, libstdc++, liblzma, liblz4, libbz2, libacl) into every
 * daemon and run their constructors, about 2 MiB of resident memory in a
 * daemon that never writes an archive (bench/rss_map.py).  The first call
 * dlopen()s the libarchive the build was configured with (its SONAME,
 * ENR_LIBARCHIVE_SONAME) and looks up the functions below; it stays loaded
 * for the life of the process.  Agent mode calls it when it starts, so a
 * missing libarchive is reported at start, not at the first agent.
 */
#ifndef ENR_DOCKER_LIBARCHIVE_H
#define ENR_DOCKER_LIBARCHIVE_H

#include <archive.h>
#include <archive_entry.h>

#include "base/error.h"

/* The libarchive functions enroller calls, each a member of the same name
 * and the header's type. */
#define DOCKER_LIBARCHIVE_FUNCS(X)                                                                                \
    X(archive_write_new)                                                                                          \
    X(archive_write_set_format_ustar)                                                                             \
    X(archive_write_add_filter_none)                                                                              \
    X(archive_write_set_bytes_in_last_block)                                                                      \
    X(archive_write_open_memory)                                                                                  \
    X(archive_write_header)                                                                                       \
    X(archive_write_data)                                                                                         \
    X(archive_write_close)                                                                                        \
    X(archive_write_free)                                                                                         \
    X(archive_error_string)                                                                                       \
    X(archive_entry_new)                                                                                          \
    X(archive_entry_clear)                                                                                        \
    X(archive_entry_set_pathname)                                                                                 \
    X(archive_entry_set_filetype)                                                                                 \
    X(archive_entry_set_perm)                                                                                     \
    X(archive_entry_set_size)                                                                                     \
    X(archive_entry_set_uid)                                                                                      \
    X(archive_entry_set_gid)                                                                                      \
    X(archive_entry_set_mtime)                                                                                    \
    X(archive_entry_free)

struct docker_libarchive {
#define DOCKER_LIBARCHIVE_MEMBER(f) __typeof__(f) *f;
    DOCKER_LIBARCHIVE_FUNCS(DOCKER_LIBARCHIVE_MEMBER)
#undef DOCKER_LIBARCHIVE_MEMBER
};

/* The loaded library's functions (static, never freed), or NULL with err
 * naming the library and why it could not be loaded.  Thread-safe; loads
 * once. */
const struct docker_libarchive *docker_libarchive_get(struct enr_error *err);

#endif
