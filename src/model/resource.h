/*
 * resource.h - one Teleport resource enroller manages (an app or a db),
 * in the shape both the rules (desired) and the Teleport client (owned) use.
 *
 * Only the fields enroller writes are here; the planner compares exactly
 * these (compare only what enroller manages).  The single strings and the
 * labels are interned (base/intern.h): set them with resource_set_str, never
 * write through them; a copy shares them.
 */
#ifndef ENR_RESOURCE_H
#define ENR_RESOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/kv.h"

enum resource_kind { RESOURCE_APP = 0, RESOURCE_DB = 1 };

struct resource_header { char *name; char *value; };

/* A list of owned strings. */
struct resource_strv { char **v; size_t n; };

/* Spec.TCPPorts: one port (end_port 0) or port..end_port inclusive. */
struct resource_port_range { uint32_t port; uint32_t end_port; };

/* Spec.CORS (types.CORSPolicy); all empty/false/0 means none. */
struct resource_cors {
    struct resource_strv allowed_origins;
    struct resource_strv allowed_methods;
    struct resource_strv allowed_headers;
    struct resource_strv exposed_headers;
    bool allow_credentials;
    uint32_t max_age;
};

/* The options rules rarely set, behind one pointer in struct resource so an
 * app without them does not carry their room (nor do its copies). */
struct resource_opts {
    char **rewrite_redirect;  /* Spec.Rewrite.Redirect */
    size_t n_rewrite_redirect;
    struct resource_header *rewrite_headers; /* Spec.Rewrite.Headers */
    size_t n_rewrite_headers;
    const char *rewrite_jwt_claims; /* Spec.Rewrite.JWTClaims ("" when none), interned */
    struct resource_strv required_apps;     /* Spec.RequiredAppNames */
    struct resource_cors cors;              /* Spec.CORS */
    struct resource_port_range *tcp_ports;  /* Spec.TCPPorts */
    size_t n_tcp_ports;
    bool use_any_proxy_public_addr;         /* Spec.UseAnyProxyPublicAddr */
};

struct resource {
    enum resource_kind kind;
    bool insecure_skip_verify;
    const char *name;         /* Metadata.Name */
    const char *description;  /* Metadata.Description ("" when none) */
    struct kv_list labels;    /* Metadata.Labels */
    const char *uri;          /* Spec.URI */
    const char *public_addr;  /* Spec.PublicAddr ("" when none) */
    const char *protocol;     /* databases only, "" for apps */
    int64_t expires;          /* Metadata.Expires, unix seconds, 0 = never */
    /* The rarely set options: NULL when none is set.  Read them with
     * resource_opts(), set them through resource_opts_mut(). */
    struct resource_opts *opts;

    /* Bookkeeping, never compared. */
    const char *revision;     /* Metadata.Revision from Teleport ("" for desired) */
    const char *rule;         /* rule that produced it (desired only, "" else) */
    const char *container_id; /* source container (desired only, "" else) */
};

struct resource_list {
    struct resource *items;
    size_t len;
    size_t cap;
};

/* Zeroes r and sets every string to an owned "" so it is always safe to free. */
int resource_init(struct resource *r);
void resource_cleanup(struct resource *r);
int resource_copy(struct resource *dst, const struct resource *src);
/* True when every field enroller manages is the same (labels Teleport adds
 * itself, teleport.dev/origin and teleport.internal/ labels, are not compared). */
bool resource_same_managed(const struct resource *a, const struct resource *b);
/* A hash of the managed fields (what resource_same_managed compares). */
uint64_t resource_managed_hash(const struct resource *r);
/* Replaces *field (an interned string field) with value interned (NULL means ""). */
int resource_set_str(const char **field, const char *value);
/* Appends a copy of s; -ENOMEM. */
int resource_strv_push(struct resource_strv *l, const char *s);
void resource_strv_cleanup(struct resource_strv *l);
/* r's options for reading: all empty when none is set (never NULL). */
const struct resource_opts *resource_opts(const struct resource *r);
/* r's options for setting, allocated on first use; NULL on ENOMEM. */
struct resource_opts *resource_opts_mut(struct resource *r);
/* Frees r's options if none of them is set (a writer that asked for them
 * and set nothing). */
void resource_opts_trim(struct resource *r);
/* True when the CORS policy has any field set (it is sent only then). */
bool resource_cors_set(const struct resource_cors *c);

void resource_list_init(struct resource_list *l);
void resource_list_cleanup(struct resource_list *l);
/* Appends a slot initialised by resource_init; returns it, NULL on ENOMEM. */
struct resource *resource_list_push(struct resource_list *l);
/* Moves *r into the list (r is left zeroed).  -ENOMEM on failure. */
int resource_list_take(struct resource_list *l, struct resource *r);

/* A counted resource, for one copy that several holders share (the
 * Teleport view and the record of the last write hold one between them).
 * Each holder releases it with resource_ref_put once; the last one frees
 * it.  Not for sharing between threads (the count is a plain integer). */
struct resource_ref {
    struct resource res;
    unsigned refs;
};

/* A counted copy of src (one reference); NULL on ENOMEM. */
struct resource_ref *resource_ref_new(const struct resource *src);
/* A counted resource that takes *src's contents (src is left zeroed; one
 * reference); NULL on ENOMEM (src is left as it was). */
struct resource_ref *resource_ref_take(struct resource *src);
/* One more reference to ref; returns it. */
struct resource_ref *resource_ref_hold(struct resource_ref *ref);
/* Drops one reference (NULL: nothing); the last one frees the resource. */
void resource_ref_put(struct resource_ref *ref);

#endif
