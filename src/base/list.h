/*
 * list.h - the one intrusive doubly-linked list: a `struct list` member in
 * each element and one as the head (a circular list with a sentinel, as in
 * Linux's list.h and nghttp2's queue).  Removal is O(1) and needs no head.
 *
 *   struct job { struct list node; ... };
 *   struct list jobs;  list_init(&jobs);
 *   list_push_back(&jobs, &j->node);
 *   while (!list_empty(&jobs)) {
 *       struct job *j = LIST_ENTRY(jobs.next, struct job, node);
 *       list_remove(&j->node);
 *   }
 */
#ifndef ENR_LIST_H
#define ENR_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct list {
    struct list *prev, *next;
};

/* The element that holds node as its member `member`. */
#define LIST_ENTRY(node, type, member) ((type *)(void *)((char *)(node) - offsetof(type, member)))

static inline void list_init(struct list *l)
{
    l->prev = l->next = l;
}

static inline bool list_empty(const struct list *head)
{
    return head->next == head;
}

static inline void list_push_front(struct list *head, struct list *n)
{
    n->prev = head;
    n->next = head->next;
    head->next->prev = n;
    head->next = n;
}

static inline void list_push_back(struct list *head, struct list *n)
{
    n->next = head;
    n->prev = head->prev;
    head->prev->next = n;
    head->prev = n;
}

/* Unlinks n and leaves it linked to itself, so a second removal is harmless. */
static inline void list_remove(struct list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    list_init(n);
}

#endif
