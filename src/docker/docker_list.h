/*
 * docker_list.h - the `GET /containers/json` answer, parsed as it streams in.
 *
 * A resync only needs each container's id and a hash of its list entry, to
 * inspect the containers whose entry changed.  The parser (yajl, a streaming
 * JSON parser) is fed the body in whatever pieces libcurl delivers and
 * builds no tree: each entry is hashed token by token (FNV-1a over keys and
 * values with their types, in document order), leaving out the value of the
 * entry's "Status" key, which counts uptime ("Up 5 minutes") and changes on
 * its own.  Memory is the ids and hashes, whatever the size of the answer.
 *
 *     struct docker_list l;
 *     docker_list_init(&l, "GET /containers/json");
 *     while (piece) docker_list_feed(&l, p, n, &err);
 *     docker_list_finish(&l, &err);      ids/hashes/n now valid
 *     docker_list_cleanup(&l);
 */
#ifndef ENR_DOCKER_LIST_H
#define ENR_DOCKER_LIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

struct docker_list {
    char **ids;          /* owned, one per entry */
    uint64_t *hashes;
    size_t n, cap;

    /* parser state */
    void *yajl;          /* yajl_handle */
    const char *what;    /* for messages: "GET /containers/json" */
    unsigned depth;      /* 0 outside, 1 in the array, 2 in an entry, more inside it */
    unsigned skip_from;  /* > 0: skipping the "Status" value that started at this depth */
    bool want_id, want_status_skip;
    bool complete;       /* the array was closed */
    char *cur_id;        /* the Id of the entry being read, until it ends */
    uint64_t hash;       /* of the entry being read */
    int err_code;        /* first error, set by a callback */
    char err_msg[160];
};

/* what is borrowed for the parser's lifetime. */
int docker_list_init(struct docker_list *l, const char *what, struct enr_error *err);
/* -EPROTO with err on malformed input (the rest is not looked at). */
int docker_list_feed(struct docker_list *l, const char *p, size_t n, struct enr_error *err);
/* The end of the body: -EPROTO if it was not one complete JSON array. */
int docker_list_finish(struct docker_list *l, struct enr_error *err);
void docker_list_cleanup(struct docker_list *l);

#endif
